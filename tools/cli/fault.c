/* fault.c: `cmksim fault vault-outage|list|clear` — inject an outage of a vault or managed HSM
 * as the PostgreSQL service sees it (the vault is unreachable, distinct from a revocation),
 * through /_cmksim/faults of a running `cmksim serve` (manage.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cmksim fault vault-outage VAULT --for DURATION\n"
            "       cmksim fault list\n"
            "       cmksim fault clear VAULT\n"
            "       (common options: --data DIR, -o json|table, --debug)\n\n"
            "Make a vault (or managed HSM) unreachable from the PostgreSQL service for a while:\n"
            "the key monitor's calls fail as in a network outage (the default profile tolerates\n"
            "20 minutes, then denies connections and turns the server Inaccessible). Clients\n"
            "other than the service still reach the vault.\n\n"
            "examples:\n"
            "  cmksim fault vault-outage kv1 --for 20m\n"
            "  cmksim fault vault-outage kv1.vault.azure.net --for 2h\n"
            "  cmksim fault list\n"
            "  cmksim fault clear kv1\n");
}

static const struct cli_column cols[] = {
    {"Kind", "kind"},
    {"Vault", "vault"},
    {"Until", "until"},
    {NULL, NULL},
};

int cli_fault(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc = cli_ctx_init(&ctx, "fault", &argc, argv);
    if (rc != 0)
        return rc;
    const char *sub = NULL, *vault = NULL, *dur = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EX_OK;
        } else if (!strcmp(argv[i], "--for")) {
            if (++i >= argc)
                return cli_usage_error("fault", "--for wants a DURATION (e.g. 20m)");
            dur = argv[i];
        } else if (argv[i][0] == '-') {
            return cli_usage_error("fault", "unknown option '%s'", argv[i]);
        } else if (sub == NULL) {
            sub = argv[i];
        } else if (vault == NULL) {
            vault = argv[i];
        } else {
            return cli_usage_error("fault", "unexpected argument '%s'", argv[i]);
        }
    }
    if (sub == NULL) {
        usage(stderr);
        return CLI_EX_USAGE;
    }
    json_t *out = NULL, *body = NULL;
    char url[512];
    if (!strcmp(sub, "vault-outage")) {
        if (vault == NULL || dur == NULL)
            return cli_usage_error("fault", "vault-outage wants VAULT and --for DURATION");
        body = json_pack("{s:s, s:s, s:s}", "kind", "vault-outage", "vault", vault, "for", dur);
        rc = cli_call(&ctx, "mgmt", "POST", CLI_MGMT "/_cmksim/faults", body, &out);
    } else if (!strcmp(sub, "list")) {
        if (vault)
            return cli_usage_error("fault", "unexpected argument '%s'", vault);
        rc = cli_call(&ctx, "mgmt", "GET", CLI_MGMT "/_cmksim/faults", NULL, &out);
        if (rc == 0) {
            json_t *v = json_incref(json_object_get(out, "value"));
            json_decref(out);
            out = v;
        }
    } else if (!strcmp(sub, "clear")) {
        if (vault == NULL)
            return cli_usage_error("fault", "clear wants the VAULT whose outage ends");
        char ev[256];
        cli_url_escape(vault, ev, sizeof(ev));
        snprintf(url, sizeof(url), CLI_MGMT "/_cmksim/faults/vault-outage/%s", ev);
        rc = cli_call(&ctx, "mgmt", "DELETE", url, NULL, &out);
    } else {
        return cli_usage_error("fault", "unknown fault '%s' (vault-outage, list, clear)", sub);
    }
    json_decref(body);
    if (rc == 0)
        cli_output(&ctx, out, cols);
    json_decref(out);
    cli_ctx_close(&ctx);
    return rc;
}
