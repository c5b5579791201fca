/* main.c: the cmksim command line. Dispatches to one function per subcommand (cli.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMKSIM_VERSION "0.1.0"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"serve", cli_serve, "run every emulated service (HTTPS, CONNECT proxy, PostgreSQL)"},
    {"run", cli_run, "replay scenarios on a virtual clock: run FILE.yaml --timeline"},
    {"env", cli_env, "print what a client needs: CA, proxy, endpoints, credentials"},
    {"key", cli_key, "Key Vault keys: create, show, list, set, rotate, delete, import, wrap..."},
    {"hsm", cli_hsm, "Managed HSM: activate (security domain), local role assignments"},
    {"clock", cli_clock, "the emulator's clock: show, advance 30m, speed 60"},
    {"fault", cli_fault, "inject faults: vault-outage VAULT --for 20m"},
    {"audit", cli_audit, "a vault's audit log: audit show VAULT"},
    {"health", cli_health, "a server's state, key status and resource health"},
    {"psql", cli_psql, "run psql against an emulated server (TLS, CA, login)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: cmksim COMMAND [OPTIONS]\n\n"
                 "A local emulator of PostgreSQL flexible servers encrypted with a\n"
                 "customer-managed key, with Key Vault, Managed HSM and ARM around them.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n\n", "version", "print the version");
    fprintf(out,
            "`cmksim COMMAND --help` describes a command. The client commands talk to a\n"
            "running `cmksim serve` (found through --data DIR, default ./%s, or\n"
            "$CMKSIM_DATA) over HTTPS like any other client; -o json for scripts.\n\n"
            "examples:\n"
            "  cmksim serve --data /tmp/sandbox &\n"
            "  export CMKSIM_DATA=/tmp/sandbox\n"
            "  cmksim key create kv1 cmk --size 2048\n"
            "  cmksim clock advance 30m\n"
            "  cmksim health pg1\n",
            CLI_DEFAULT_DATA);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cmksim %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `cmksim %s --help`)\n", cmd);
    return CLI_EX_USAGE;
}

int cli_parse_listen(const char *s, char *addr, size_t addrsz, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *ps = colon ? colon + 1 : s;
    char *end;
    long p = strtol(ps, &end, 10);
    if (*ps == '\0' || *end != '\0' || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    if (colon && colon != s)
        snprintf(addr, addrsz, "%.*s", (int)(colon - s), s);
    else
        snprintf(addr, addrsz, "127.0.0.1");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EX_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_EX_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("cmksim %s\n", CMKSIM_VERSION);
        return CLI_EX_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cmksim: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return CLI_EX_USAGE;
}
