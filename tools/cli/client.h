/* client.h: the client side of the cmksim command line (key, hsm, clock, fault, audit, health,
 * psql): a small HTTPS client and what every client subcommand shares.
 *
 * The CLI is a client of a running `cmksim serve` like any other, with no back door: it reads
 * DIR/serve.json for the HTTPS address and the CA, gets tokens from the emulated login service
 * with the client-credentials flow (AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID, or
 * the admin principal serve.json names), and calls the routes real clients call, by their
 * cloud host names: it connects to serve's HTTPS listener and sends the name as SNI and Host
 * (as curl --resolve does), verifying the certificate against the emulator's CA.
 *
 * Output: a table on a terminal (or with -o table), JSON with -o json (the default when stdout
 * is not a terminal). A service error prints "cmksim CMD: CODE: message (HTTP status)" on
 * stderr and the command exits 1.
 *
 * Ownership: struct cli_reply owns its body and parsed JSON (cli_reply_close). Strings handed
 * back through char ** are malloc'd for the caller. No service code is linked into these
 * functions' paths; they only speak HTTPS.
 */
#ifndef CMK_CLI_CLIENT_H
#define CMK_CLI_CLIENT_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

#include "common/buf.h"

/* What every client subcommand knows: the running serve and how to authenticate. */
struct cli_ctx {
    const char *cmd; /* "key show", for messages */
    char data[PATH_MAX];
    char https_addr[64];
    int https_port;
    char ca[PATH_MAX];
    char suffix[128];
    int pg_port;
    char tenant[64], sub[64], client_id[64], secret[256];
    int json;                                   /* -o json */
    int verbose;                                /* --debug: each request on stderr */
    char *mgmt_token, *vault_token, *hsm_token; /* cached per process */
};

struct cli_reply {
    int status;
    struct cmk_buf head; /* raw header block */
    struct cmk_buf body;
    json_t *json; /* parsed body, or NULL */
};

/* The common options every client subcommand takes, parsed out of argv (which is compacted to
 * the remaining arguments): --data DIR, -o/--output json|table, --debug. Returns 0, or
 * CLI_EX_USAGE after printing the reason. */
int cli_ctx_init(struct cli_ctx *ctx, const char *cmd, int *argc, char **argv);
void cli_ctx_close(struct cli_ctx *ctx);
/* Read DIR/serve.json once (address, CA, suffix, credentials); 0, or CLI_EX_FAIL after
 * printing that no cmksim runs there. The functions below call it themselves. */
int cli_ctx_load(struct cli_ctx *ctx);

/* One HTTPS request to url ("https://kv.vault.azure.net/keys?api-version=7.5"; any host cmksim
 * serves, cloud or local name). body may be NULL. bearer: a token or NULL. 0 when an HTTP
 * answer arrived (any status), else -1 after printing the network/TLS problem. */
int cli_http(struct cli_ctx *ctx, const char *method, const char *url, const char *content_type,
             const void *body, size_t len, const char *bearer, struct cli_reply *out);
void cli_reply_close(struct cli_reply *r);
/* A response header's value (case-insensitive) into out; 0 if present. */
int cli_reply_header(const struct cli_reply *r, const char *name, char *out, size_t n);

/* A bearer token for resource "mgmt", "vault" or "hsm" (cached). NULL after printing why. */
const char *cli_token(struct cli_ctx *ctx, const char *resource);

/* Call with a token for resource and a JSON body (may be NULL; not stolen). On a 2xx answer
 * returns 0 with *out set (the parsed body, new reference, may be NULL for an empty body); on
 * an error answer prints the service's code and message and returns CLI_EX_FAIL. */
int cli_call(struct cli_ctx *ctx, const char *resource, const char *method, const char *url,
             const json_t *body, json_t **out);
/* Print an error answer: "cmksim CMD: CODE: message (HTTP 404)". Returns CLI_EX_FAIL. */
int cli_print_error(struct cli_ctx *ctx, const struct cli_reply *r);
/* Print "cmksim CMD: message" on stderr and return CLI_EX_FAIL. */
int cli_fail(struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Output: JSON pretty-printed, or a table of rows (an array of objects) with the given
 * columns: {"Header", "json.path"} ... terminated by {NULL}. A path reads nested members with
 * dots ("attributes.enabled"); numbers that are "...Ms"/epoch seconds are shown as is. */
struct cli_column {
    const char *header;
    const char *path;
};
void cli_print_json(const json_t *j);
void cli_print_table(const json_t *rows, const struct cli_column *cols);
/* One object as "Field  value" lines (a table of one row, vertically). */
void cli_print_object(const json_t *obj, const struct cli_column *cols);
/* Print j per ctx: JSON, or table/object with cols. */
void cli_output(struct cli_ctx *ctx, const json_t *j, const struct cli_column *cols);
/* The value at a dotted path, or NULL. */
json_t *cli_json_path(const json_t *j, const char *path);

/* Key Vault / Managed HSM addressing: "myvault", "https://myvault.vault.azure.net/",
 * "myhsm.managedhsm.azure.net", a local name... into the base URL ("https://myvault.vault.azure.
 * net") and which resource's token it needs ("vault" or "hsm"). hsm: the name is an HSM. */
int cli_vault_base(struct cli_ctx *ctx, const char *vault, int hsm, char *base, size_t n,
                   const char **resource);
/* The management base "https://management.azure.com". */
#define CLI_MGMT "https://management.azure.com"

/* Percent-encode one path segment or query value into out. */
void cli_url_escape(const char *in, char *out, size_t n);

/* Read a whole file (binary); malloc'd, caller frees. NULL after printing why. */
unsigned char *cli_read_file(struct cli_ctx *ctx, const char *path, size_t *len);
/* Write data to path with mode 0600. 0 or CLI_EX_FAIL after printing why. */
int cli_write_file(struct cli_ctx *ctx, const char *path, const void *data, size_t len);

/* Find an ARM resource of type (e.g. "Microsoft.DBforPostgreSQL/flexibleServers") by name in
 * the subscription through the resources list API; its id into id. CLI_EX_FAIL if none. */
int cli_find_resource(struct cli_ctx *ctx, const char *type, const char *name, char *id, size_t n);

#endif
