/* audit.c: `cmksim audit show VAULT` — a vault's (or managed HSM's) audit log (R17: who, what,
 * result), read through the management routes GET /_cmksim/vaults/{v}/audit and
 * /_cmksim/managedHSMs/{hsm}/audit of a running `cmksim serve` with the caller's management
 * token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: cmksim audit show VAULT [--hsm] [--after SEQ] [--top N]\n"
                 "       (common options: --data DIR, -o json|table, --debug)\n\n"
                 "Every key operation on the vault, allowed or refused, oldest first: when, what,\n"
                 "the result, the caller (application or managed identity) and its address.\n\n"
                 "  --hsm         VAULT is a managed HSM (implied by NAME.managedhsm.azure.net)\n"
                 "  --after SEQ   only events after sequence number SEQ (the 'Seq' column)\n"
                 "  --top N       at most the last N events\n\n"
                 "examples:\n"
                 "  cmksim audit show kv1\n"
                 "  cmksim audit show hsm1.managedhsm.azure.net --top 20\n"
                 "  cmksim audit show kv1 -o json | jq 'select(.resultType==\"Failure\")'\n");
}

static const struct cli_column cols[] = {
    {"Seq", "seq"},
    {"Time", "time"},
    {"Operation", "operationName"},
    {"Result", "resultSignature"},
    {"Caller", "identity.claim.appid"},
    {"From", "callerIpAddress"},
    {"Error", "properties.errorCode"},
    {"Key", "properties.id"},
    {NULL, NULL},
};

int cli_audit(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc = cli_ctx_init(&ctx, "audit", &argc, argv);
    if (rc != 0)
        return rc;
    const char *sub = NULL, *vault = NULL, *after = NULL;
    long top = 0;
    int hsm = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EX_OK;
        } else if (!strcmp(argv[i], "--hsm")) {
            hsm = 1;
        } else if (!strcmp(argv[i], "--after") && i + 1 < argc) {
            after = argv[++i];
        } else if (!strcmp(argv[i], "--top") && i + 1 < argc) {
            char *end;
            top = strtol(argv[++i], &end, 10);
            if (*end || top <= 0)
                return cli_usage_error("audit", "--top wants a positive number");
        } else if (argv[i][0] == '-') {
            return cli_usage_error("audit", "unknown or incomplete option '%s'", argv[i]);
        } else if (sub == NULL) {
            sub = argv[i];
        } else if (vault == NULL) {
            vault = argv[i];
        } else {
            return cli_usage_error("audit", "unexpected argument '%s'", argv[i]);
        }
    }
    if (sub == NULL || strcmp(sub, "show") != 0 || vault == NULL)
        return cli_usage_error("audit", "usage: cmksim audit show VAULT");
    char name[128], ename[256], url[600];
    snprintf(name, sizeof(name), "%s", vault + (strncmp(vault, "https://", 8) ? 0 : 8));
    if (strstr(name, ".managedhsm."))
        hsm = 1;
    name[strcspn(name, "./:")] = '\0';
    cli_url_escape(name, ename, sizeof(ename));
    snprintf(url, sizeof(url), CLI_MGMT "/_cmksim/%s/%s/audit%s%s", hsm ? "managedHSMs" : "vaults",
             ename, after ? "?after=" : "", after ? after : "");
    /* every return from here closes the context: it holds the cached token */
    const char *tok = cli_token(&ctx, "mgmt");
    if (tok == NULL) {
        cli_ctx_close(&ctx);
        return CLI_EX_FAIL;
    }
    struct cli_reply r;
    if (cli_http(&ctx, "GET", url, NULL, NULL, 0, tok, &r) != 0) {
        cli_reply_close(&r);
        cli_ctx_close(&ctx);
        return CLI_EX_FAIL;
    }
    if (r.status >= 300) {
        rc = cli_print_error(&ctx, &r);
        cli_reply_close(&r);
        cli_ctx_close(&ctx);
        return rc;
    }
    /* application/x-ndjson: one event per line */
    json_t *events = json_array();
    size_t off = 0;
    while (off < r.body.len) {
        size_t len = strcspn(r.body.data + off, "\n");
        json_t *e = len ? json_loadb(r.body.data + off, len, 0, NULL) : NULL;
        if (e)
            json_array_append_new(events, e);
        off += len + 1;
    }
    cli_reply_close(&r);
    while (top > 0 && json_array_size(events) > (size_t)top)
        json_array_remove(events, 0);
    cli_output(&ctx, events, cols);
    json_decref(events);
    cli_ctx_close(&ctx);
    return CLI_EX_OK;
}
