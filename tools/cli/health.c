/* health.c: `cmksim health SERVER` — a PostgreSQL flexible server's state, key status and
 * resource health (R10), read through the same ARM routes the portal and az use:
 * the server resource and {id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"

#define SERVER_TYPE "Microsoft.DBforPostgreSQL/flexibleServers"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cmksim health SERVER\n"
            "       (common options: --data DIR, -o json|table, --debug)\n\n"
            "The server's state (Ready, Inaccessible...), the status of its primary and geo\n"
            "backup keys, and its resource health (Available, Unavailable, Degraded) with the\n"
            "summary naming the key problem.\n\n"
            "examples:\n"
            "  cmksim health pg1\n"
            "  cmksim health pg1 -o json | jq -r .state\n");
}

static const struct cli_column cols[] = {
    {"Server", "name"},
    {"State", "state"},
    {"Health", "availabilityState"},
    {"Summary", "summary"},
    {"Encryption", "encryption"},
    {"Key", "primaryKeyURI"},
    {"Key status", "primaryEncryptionKeyStatus"},
    {"Geo key status", "geoBackupEncryptionKeyStatus"},
    {"Identity", "primaryUserAssignedIdentityId"},
    {"Location", "location"},
    {"Id", "id"},
    {NULL, NULL},
};

int cli_health(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc = cli_ctx_init(&ctx, "health", &argc, argv);
    if (rc != 0)
        return rc;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EX_OK;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("health", "unknown option '%s'", argv[i]);
        } else if (name == NULL) {
            name = argv[i];
        } else {
            return cli_usage_error("health", "unexpected argument '%s'", argv[i]);
        }
    }
    if (name == NULL)
        return cli_usage_error("health", "which SERVER?");
    char id[1024], url[1400];
    /* every return from here closes the context: it holds the cached tokens */
    if ((rc = cli_find_resource(&ctx, SERVER_TYPE, name, id, sizeof(id))) != 0) {
        cli_ctx_close(&ctx);
        return rc;
    }
    json_t *srv = NULL, *health = NULL;
    snprintf(url, sizeof(url), CLI_MGMT "%s?api-version=2022-12-01", id);
    if ((rc = cli_call(&ctx, "mgmt", "GET", url, NULL, &srv)) != 0) {
        cli_ctx_close(&ctx);
        return rc;
    }
    snprintf(url, sizeof(url),
             CLI_MGMT "%s/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
                      "?api-version=2023-07-01-preview",
             id);
    if ((rc = cli_call(&ctx, "mgmt", "GET", url, NULL, &health)) != 0) {
        json_decref(srv);
        cli_ctx_close(&ctx);
        return rc;
    }
    json_t *p = json_object_get(srv, "properties");
    json_t *de = json_object_get(p, "dataEncryption");
    json_t *hp = json_object_get(health, "properties");
    json_t *out = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "name",
        json_object_get(srv, "name"), "id", json_object_get(srv, "id"), "location",
        json_object_get(srv, "location"), "state", json_object_get(p, "state"), "availabilityState",
        json_object_get(hp, "availabilityState"), "summary", json_object_get(hp, "summary"),
        "reasonType", json_object_get(hp, "reasonType"), "encryption", json_object_get(de, "type"),
        "primaryKeyURI", json_object_get(de, "primaryKeyURI"), "primaryEncryptionKeyStatus",
        json_object_get(de, "primaryEncryptionKeyStatus"), "geoBackupEncryptionKeyStatus",
        json_object_get(de, "geoBackupEncryptionKeyStatus"), "primaryUserAssignedIdentityId",
        json_object_get(de, "primaryUserAssignedIdentityId"), "occurredTime",
        json_object_get(hp, "occuredTime"));
    cli_output(&ctx, out, cols);
    json_decref(out);
    json_decref(srv);
    json_decref(health);
    cli_ctx_close(&ctx);
    return CLI_EX_OK;
}
