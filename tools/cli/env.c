/* env.c: `cmksim env` — what a client needs to talk to a running `cmksim serve`: the CA bundle,
 * the CONNECT proxy, the endpoints, hosts-file lines, the default credentials, and the
 * environment variables the Azure SDKs, az and curl read (as `export` lines with --export).
 * It reads DIR/serve.json, which serve writes once it listens. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void env_usage(FILE *out)
{
    fprintf(out,
            "usage: cmksim env [--data DIR] [--export | -o json]\n\n"
            "Prints the settings a client needs for the cmksim serving DIR (default $CMKSIM_DATA,\n"
            "else ./%s).\n\n"
            "  --export   only `export NAME=value` lines, for eval in a shell\n"
            "  -o json    the whole description as JSON\n\n"
            "example:\n  eval \"$(cmksim env --export)\"\n  az login --service-principal "
            "-u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\"\n",
            CLI_DEFAULT_DATA);
}

static const char *str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

static void print_exports(json_t *j)
{
    const char *ca = str(j, "ca");
    printf("export HTTPS_PROXY=http://%s\n", str(j, "proxy"));
    printf("export https_proxy=http://%s\n", str(j, "proxy"));
    printf("export NODE_EXTRA_CA_CERTS=%s\n", ca);
    printf("export REQUESTS_CA_BUNDLE=%s\n", ca);
    printf("export CURL_CA_BUNDLE=%s\n", ca);
    json_t *d = json_object_get(j, "defaults");
    if (d) {
        printf("export AZURE_TENANT_ID=%s\n", str(d, "tenantId"));
        printf("export AZURE_SUBSCRIPTION_ID=%s\n", str(d, "subscriptionId"));
        printf("export AZURE_CLIENT_ID=%s\n", str(d, "clientId"));
        printf("export AZURE_CLIENT_SECRET=%s\n", str(d, "clientSecret"));
    }
    json_t *mi = json_object_get(j, "managedIdentity");
    if (mi) {
        printf("export IDENTITY_ENDPOINT=%s\n", str(mi, "endpoint"));
        printf("export IDENTITY_HEADER=%s\n", str(mi, "header"));
    }
}

int cli_env(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"export", no_argument, NULL, 'e'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = getenv("CMKSIM_DATA"), *output = "text";
    if (data == NULL || *data == '\0')
        data = CLI_DEFAULT_DATA;
    int exports = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'e':
            exports = 1;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            env_usage(stdout);
            return CLI_EX_OK;
        default:
            return cli_usage_error("env", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("env", "unexpected argument '%s'", argv[optind]);
    if (strcmp(output, "text") && strcmp(output, "json"))
        return cli_usage_error("env", "-o wants text or json, not '%s'", output);

    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/serve.json", data);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL) {
        fprintf(stderr,
                "cmksim env: no running cmksim found in %s (%s).\n"
                "Start one with `cmksim serve --data %s` (or `make serve`).\n",
                data, je.text, data);
        return CLI_EX_FAIL;
    }
    if (!strcmp(output, "json")) {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
    } else if (exports) {
        print_exports(j);
    } else {
        const char *suffix = str(j, "suffix");
        printf("cmksim (pid %lld) serving state %s\n\n",
               (long long)json_integer_value(json_object_get(j, "pid")), data);
        printf("CA bundle      %s\n", str(j, "ca"));
        printf("HTTPS          https://%s  (every host below, chosen by SNI/Host)\n",
               str(j, "https"));
        printf("CONNECT proxy  http://%s  (keeps the cloud's own URLs)\n\n", str(j, "proxy"));
        printf("Endpoints (cloud names through the proxy, local names direct):\n");
        printf("  management   https://management.azure.com      https://management.%s\n", suffix);
        printf("  login        https://login.microsoftonline.com https://login.%s\n", suffix);
        printf("  vaults       https://NAME.vault.azure.net      https://NAME.vault.%s\n", suffix);
        printf("  managed HSMs https://NAME.managedhsm.azure.net https://NAME.managedhsm.%s\n",
               suffix);
        printf("  PostgreSQL   NAME.postgres.database.azure.com  NAME.postgres.%s\n\n", suffix);
        printf("hosts-file lines (only for local names your resolver does not map):\n");
        printf("  127.0.0.1 management.%s login.%s\n\n", suffix, suffix);
        json_t *d = json_object_get(j, "defaults");
        if (d) {
            printf("Default tenant        %s\n", str(d, "tenantId"));
            printf("Default subscription  %s\n", str(d, "subscriptionId"));
            printf("Admin principal       client id %s, secret %s\n\n", str(d, "clientId"),
                   str(d, "clientSecret"));
        }
        printf("Environment for the Azure SDKs, az and curl (eval \"$(cmksim env --export)\"):\n");
        print_exports(j);
    }
    json_decref(j);
    return CLI_EX_OK;
}
