/* psql.c: `cmksim psql SERVER` — start psql against an emulated server with the right host
 * name (for SNI routing and certificate checks), address, port, CA and login, like the
 * portal's "Connect" blade. The server's administrator login comes from its ARM resource; the
 * password from --password or PGPASSWORD (else psql asks). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"

#define SERVER_TYPE "Microsoft.DBforPostgreSQL/flexibleServers"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cmksim psql SERVER [-U USER] [-d DATABASE] [--password PASSWORD] [--print]\n"
            "                   [-- PSQL-ARGS...]\n"
            "       (common options: --data DIR, --debug)\n\n"
            "Runs psql connected to SERVER over TLS verified against the emulator's CA\n"
            "(sslmode=verify-full), as the server's administrator unless -U is given.\n"
            "The password comes from --password or PGPASSWORD; otherwise psql prompts.\n\n"
            "  --print   print the libpq connection string instead of running psql\n\n"
            "examples:\n"
            "  PGPASSWORD=... cmksim psql pg1\n"
            "  cmksim psql pg1 -d appdb -- -c 'select now()'\n"
            "  psql \"$(cmksim psql pg1 --print)\"\n");
}

int cli_psql(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc = cli_ctx_init(&ctx, "psql", &argc, argv);
    if (rc != 0)
        return rc;
    const char *name = NULL, *user = NULL, *db = "postgres", *password = NULL;
    int print = 0, rest = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            rest = i + 1;
            break;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EX_OK;
        } else if (!strcmp(argv[i], "-U") && i + 1 < argc) {
            user = argv[++i];
        } else if (!strcmp(argv[i], "-d") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--password") && i + 1 < argc) {
            password = argv[++i];
        } else if (!strcmp(argv[i], "--print")) {
            print = 1;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("psql", "unknown or incomplete option '%s'", argv[i]);
        } else if (name == NULL) {
            name = argv[i];
        } else {
            return cli_usage_error("psql", "unexpected argument '%s' (psql's own go after --)",
                                   argv[i]);
        }
    }
    if (name == NULL)
        return cli_usage_error("psql", "which SERVER?");
    char id[1024], url[1200];
    /* every return from here closes the context: it holds the cached tokens */
    if ((rc = cli_find_resource(&ctx, SERVER_TYPE, name, id, sizeof(id))) != 0) {
        cli_ctx_close(&ctx);
        return rc;
    }
    json_t *srv = NULL;
    snprintf(url, sizeof(url), CLI_MGMT "%s?api-version=2022-12-01", id);
    if ((rc = cli_call(&ctx, "mgmt", "GET", url, NULL, &srv)) != 0) {
        cli_ctx_close(&ctx);
        return rc;
    }
    const char *admin = json_string_value(
        json_object_get(json_object_get(srv, "properties"), "administratorLogin"));
    const char *canon = json_string_value(json_object_get(srv, "name"));
    char login[128], host[256];
    snprintf(login, sizeof(login), "%s", user ? user : admin ? admin : "postgres");
    snprintf(host, sizeof(host), "%s.postgres.%s", canon ? canon : name, ctx.suffix);
    json_decref(srv);
    if (ctx.pg_port <= 0) {
        rc = cli_fail(&ctx, "this cmksim serves no PostgreSQL endpoint (no \"postgres\" "
                            "address in serve.json)");
        cli_ctx_close(&ctx);
        return rc;
    }
    char conninfo[PATH_MAX + 1024];
    snprintf(conninfo, sizeof(conninfo),
             "host=%s hostaddr=%s port=%d dbname=%s user=%s sslmode=verify-full "
             "sslrootcert=%s",
             host, ctx.https_addr, ctx.pg_port, db, login, ctx.ca);
    if (print) {
        printf("%s\n", conninfo);
        cli_ctx_close(&ctx);
        return CLI_EX_OK;
    }
    if (password)
        setenv("PGPASSWORD", password, 1);
    char **args = cmk_xcalloc((size_t)(argc - rest) + 3, sizeof(char *));
    size_t n = 0;
    args[n++] = "psql";
    args[n++] = conninfo;
    for (int i = rest; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    cli_ctx_close(&ctx);
    fflush(NULL);
    execvp("psql", args);
    fprintf(stderr, "cmksim psql: cannot run psql: %s (install postgresql-client)\n",
            strerror(errno));
    free(args);
    return CLI_EX_FAIL;
}
