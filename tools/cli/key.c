/* key.c: `cmksim key ...` — the Key Vault keys data plane from the command line, for what
 * Debian's az cannot do (its `az keyvault key` commands fail: a packaging gap, see
 * tools/README.md). Every subcommand is one or a few calls of the Key Vault REST API
 * (api-version 7.5) on https://VAULT.vault.azure.net (or an HSM's host) with a token of the
 * vault audience, exactly as any SDK would make them. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common/b64.h"
#include "common/clock.h"
#include "key_int.h"

#define KV_API "api-version=7.5"

struct kargs {
    const char *sub;
    const char *pos[3];
    int npos;
    const char *version, *kty, *size, *curve, *ops, *expires, *not_before, *enabled, *tags;
    const char *file, *password, *value, *alg;
    int disabled, deleted, hsm, protect;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cmksim key SUBCOMMAND VAULT [NAME] [OPTIONS]\n"
            "       (common options: --data DIR, -o json|table, --debug)\n\n"
            "VAULT is a vault name (kv1), its URL (https://kv1.vault.azure.net) or a managed\n"
            "HSM's host (myhsm.managedhsm.azure.net; or a name with --hsm).\n\n"
            "  create VAULT NAME [--kty RSA|RSA-HSM|EC|EC-HSM|oct-HSM] [--size 2048|3072|4096]\n"
            "                    [--curve P-256] [--ops wrapKey,unwrapKey,...] [--expires TIME]\n"
            "                    [--not-before TIME] [--disabled] [--tags k=v,k2=v2]\n"
            "  show VAULT NAME [--version V]\n"
            "  list VAULT [--deleted]           keys (or soft-deleted keys with purge dates)\n"
            "  versions VAULT NAME\n"
            "  set VAULT NAME [--version V] [--enabled true|false] [--expires TIME|none]\n"
            "                 [--not-before TIME|none] [--ops ...] [--tags k=v]\n"
            "  rotate VAULT NAME                a new version\n"
            "  delete VAULT NAME                soft-delete (see list --deleted)\n"
            "  recover VAULT NAME               undo a soft-delete\n"
            "  purge VAULT NAME                 delete a soft-deleted key for good\n"
            "  backup VAULT NAME --file F       a protected blob (restores into this emulator)\n"
            "  restore VAULT --file F\n"
            "  import VAULT NAME --file F [--password P] [--protection hsm]\n"
            "                 F: .json (JWK), .pfx/.p12 (PKCS#12), .pem/.key, .byok\n"
            "  wrap VAULT NAME --value B64URL [--alg RSA-OAEP-256] [--version V]\n"
            "  unwrap VAULT NAME --value B64URL [--alg RSA-OAEP-256] [--version V]\n\n"
            "TIME: a date in UTC, 2026-12-31 or 2026-12-31T12:00:00Z.\n\n"
            "examples:\n"
            "  cmksim key create kv1 cmk --kty RSA --size 2048 --ops wrapKey,unwrapKey\n"
            "  cmksim key show kv1 cmk -o json | jq -r .key.kid\n"
            "  cmksim key set kv1 cmk --enabled false\n"
            "  cmksim key delete kv1 cmk && cmksim key list kv1 --deleted\n"
            "  cmksim key recover kv1 cmk\n"
            "  cmksim key import kv1 imported --file key.pfx --password secret\n"
            "  cmksim key wrap kv1 cmk --value \"$(head -c32 /dev/urandom | basenc "
            "--base64url)\"\n");
}

/* ---- arguments ---- */

static int parse(int argc, char **argv, struct kargs *a)
{
    memset(a, 0, sizeof(*a));
    struct {
        const char *flag;
        const char **dst;
    } valued[] = {
        {"--version", &a->version},
        {"--kty", &a->kty},
        {"--size", &a->size},
        {"--curve", &a->curve},
        {"--ops", &a->ops},
        {"--expires", &a->expires},
        {"--not-before", &a->not_before},
        {"--enabled", &a->enabled},
        {"--tags", &a->tags},
        {"--file", &a->file},
        {"--password", &a->password},
        {"--value", &a->value},
        {"--alg", &a->alg},
    };
    const char *protection = NULL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h"))
            return 1;
        if (!strcmp(s, "--disabled")) {
            a->disabled = 1;
            continue;
        }
        if (!strcmp(s, "--deleted")) {
            a->deleted = 1;
            continue;
        }
        if (!strcmp(s, "--hsm")) {
            a->hsm = 1;
            continue;
        }
        if (!strcmp(s, "--protection")) {
            if (i + 1 >= argc)
                return cli_usage_error("key", "--protection wants software or hsm");
            protection = argv[++i];
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
            if (!strcmp(s, valued[k].flag))
                break;
        if (k < sizeof(valued) / sizeof(valued[0])) {
            if (i + 1 >= argc)
                return cli_usage_error("key", "%s wants a value", s);
            *valued[k].dst = argv[++i];
            continue;
        }
        if (s[0] == '-' && s[1] != '\0')
            return cli_usage_error("key", "unknown option '%s'", s);
        if (a->sub == NULL)
            a->sub = s;
        else if (a->npos < 3)
            a->pos[a->npos++] = s;
        else
            return cli_usage_error("key", "unexpected argument '%s'", s);
    }
    if (protection) {
        if (!strcmp(protection, "hsm"))
            a->protect = 1;
        else if (strcmp(protection, "software") != 0)
            return cli_usage_error("key", "--protection wants software or hsm");
    }
    return 0;
}

static int epoch_of(const char *s, json_int_t *out)
{
    cmk_time_t t;
    if (cmk_time_parse(s, &t) != 0)
        return -1;
    *out = (json_int_t)(t / CMK_SECOND);
    return 0;
}

/* "a,b,c" -> ["a","b","c"] */
static json_t *list_of(const char *s)
{
    json_t *arr = json_array();
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_string(t));
    return arr;
}

/* "k=v,k2=v2" -> {"k":"v",...}; NULL if malformed */
static json_t *tags_of(const char *s)
{
    json_t *o = json_object();
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (eq == NULL || eq == t) {
            json_decref(o);
            return NULL;
        }
        *eq = '\0';
        json_object_set_new(o, t, json_string(eq + 1));
    }
    return o;
}

/* attributes {enabled, exp, nbf} from the options; err: a usage error was printed */
static json_t *attributes_of(const struct kargs *a, int *err)
{
    json_t *attrs = json_object();
    *err = 0;
    if (a->disabled)
        json_object_set_new(attrs, "enabled", json_false());
    if (a->enabled) {
        if (strcmp(a->enabled, "true") && strcmp(a->enabled, "false")) {
            *err = cli_usage_error("key", "--enabled wants true or false");
            return attrs;
        }
        json_object_set_new(attrs, "enabled", json_boolean(!strcmp(a->enabled, "true")));
    }
    struct {
        const char *val, *member, *flag;
    } times[] = {{a->expires, "exp", "--expires"}, {a->not_before, "nbf", "--not-before"}};
    for (size_t i = 0; i < 2; i++) {
        if (times[i].val == NULL)
            continue;
        json_int_t t;
        if (!strcmp(times[i].val, "none") || !strcmp(times[i].val, "never"))
            json_object_set_new(attrs, times[i].member, json_null());
        else if (epoch_of(times[i].val, &t) == 0)
            json_object_set_new(attrs, times[i].member, json_integer(t));
        else
            *err = cli_usage_error("key", "%s wants a date such as 2026-12-31T00:00:00Z",
                                   times[i].flag);
    }
    return attrs;
}

/* ---- output ---- */

static void iso(json_t *secs, char *out, size_t n)
{
    out[0] = '\0';
    if (json_is_integer(secs))
        cmk_time_format((cmk_time_t)json_integer_value(secs) * CMK_SECOND, out, n);
}

/* name and version from a kid ".../keys/NAME/VERSION" */
static void kid_parts(const char *kid, char *name, size_t nn, char *ver, size_t vn)
{
    name[0] = ver[0] = '\0';
    const char *k = kid ? strstr(kid, "/keys/") : NULL;
    if (k == NULL)
        k = kid ? strstr(kid, "/deletedkeys/") : NULL;
    if (k == NULL)
        return;
    k = strchr(k + 1, '/') + 1;
    size_t len = strcspn(k, "/?");
    snprintf(name, nn, "%.*s", (int)len, k);
    if (k[len] == '/')
        snprintf(ver, vn, "%.*s", (int)strcspn(k + len + 1, "/?"), k + len + 1);
}

/* A key bundle (or a list item, or a deleted bundle) as one flat row for tables. */
static json_t *flat(const json_t *b)
{
    const json_t *key = json_object_get(b, "key");
    const json_t *attrs = json_object_get(b, "attributes");
    const char *kid = json_string_value(json_object_get(key ? key : b, key ? "kid" : "kid"));
    if (kid == NULL)
        kid = json_string_value(json_object_get(b, "recoveryId"));
    char name[128], ver[64], created[40], updated[40], exp[40], nbf[40], del[40], purge[40];
    kid_parts(kid, name, sizeof(name), ver, sizeof(ver));
    iso(json_object_get(attrs, "created"), created, sizeof(created));
    iso(json_object_get(attrs, "updated"), updated, sizeof(updated));
    iso(json_object_get(attrs, "exp"), exp, sizeof(exp));
    iso(json_object_get(attrs, "nbf"), nbf, sizeof(nbf));
    iso(json_object_get(b, "deletedDate"), del, sizeof(del));
    iso(json_object_get(b, "scheduledPurgeDate"), purge, sizeof(purge));
    json_t *row =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "version", ver,
                  "created", created, "updated", updated, "expires", exp, "notBefore", nbf,
                  "deleted", del, "purgeDate", purge, "kid", kid ? kid : "");
    json_object_set(row, "enabled", json_object_get(attrs, "enabled"));
    json_object_set(row, "recoveryLevel", json_object_get(attrs, "recoveryLevel"));
    if (key) {
        json_object_set(row, "kty", json_object_get(key, "kty"));
        json_object_set(row, "ops", json_object_get(key, "key_ops"));
        const char *n = json_string_value(json_object_get(key, "n"));
        if (n)
            json_object_set_new(row, "size", json_integer((json_int_t)(strlen(n) * 6 / 8 * 8)));
        else
            json_object_set(row, "size", json_object_get(key, "crv"));
    }
    return row;
}

static const struct cli_column key_cols[] = {
    {"Name", "name"},
    {"Version", "version"},
    {"Type", "kty"},
    {"Size", "size"},
    {"Enabled", "enabled"},
    {"Operations", "ops"},
    {"Created", "created"},
    {"Expires", "expires"},
    {"Not before", "notBefore"},
    {"Recovery level", "recoveryLevel"},
    {"Kid", "kid"},
    {NULL, NULL},
};
static const struct cli_column list_cols[] = {
    {"Name", "name"},       {"Enabled", "enabled"}, {"Created", "created"},
    {"Updated", "updated"}, {"Expires", "expires"}, {NULL, NULL},
};
static const struct cli_column version_cols[] = {
    {"Version", "version"}, {"Enabled", "enabled"},      {"Created", "created"},
    {"Expires", "expires"}, {"Not before", "notBefore"}, {NULL, NULL},
};
static const struct cli_column deleted_cols[] = {
    {"Name", "name"},
    {"Deleted", "deleted"},
    {"Purge date", "purgeDate"},
    {"Enabled", "enabled"},
    {"Recovery level", "recoveryLevel"},
    {NULL, NULL},
};

static void show(struct cli_ctx *ctx, const json_t *j, const struct cli_column *cols)
{
    if (ctx->json) {
        cli_print_json(j);
        return;
    }
    if (json_is_array(j)) {
        json_t *rows = json_array(), *x;
        size_t i;
        json_array_foreach(j, i, x) json_array_append_new(rows, flat(x));
        cli_print_table(rows, cols);
        json_decref(rows);
    } else {
        json_t *row = flat(j);
        cli_print_object(row, cols);
        json_decref(row);
    }
}

/* ---- calls ---- */

struct kctx {
    struct cli_ctx *ctx;
    char base[300];
    const char *resource;
};

static void key_url(struct kctx *k, char *out, size_t n, const char *prefix, const char *name,
                    const char *version, const char *action)
{
    char en[300] = "", ev[200] = "";
    if (name)
        cli_url_escape(name, en, sizeof(en));
    if (version)
        cli_url_escape(version, ev, sizeof(ev));
    snprintf(out, n, "%s/%s%s%s%s%s%s%s?" KV_API, k->base, prefix, name ? "/" : "", en,
             version ? "/" : "", ev, action ? "/" : "", action ? action : "");
}

static int call(struct kctx *k, const char *method, const char *url, const json_t *body,
                json_t **out)
{
    return cli_call(k->ctx, k->resource, method, url, body, out);
}

/* GET a paged list (value + nextLink) into one array. */
static int get_all(struct kctx *k, const char *url, json_t **out)
{
    json_t *all = json_array();
    char next[2048];
    snprintf(next, sizeof(next), "%s", url);
    for (int pages = 0; next[0] && pages < 1000; pages++) {
        json_t *page;
        int rc = call(k, "GET", next, NULL, &page);
        if (rc != 0) {
            json_decref(all);
            return rc;
        }
        json_array_extend(all, json_object_get(page, "value"));
        const char *nl = json_string_value(json_object_get(page, "nextLink"));
        snprintf(next, sizeof(next), "%s", nl ? nl : "");
        json_decref(page);
    }
    *out = all;
    return 0;
}

static int need(struct kargs *a, int n, const char *what)
{
    if (a->npos != n)
        return cli_usage_error("key", "%s wants %s", a->sub, what);
    return 0;
}

static int run(struct cli_ctx *ctx, struct kargs *a)
{
    static const char *const subs[] = {"create",  "show",   "list",    "versions", "set",
                                       "rotate",  "delete", "recover", "purge",    "backup",
                                       "restore", "import", "wrap",    "unwrap",   NULL};
    size_t s;
    for (s = 0; subs[s] && strcmp(subs[s], a->sub); s++)
        ;
    if (subs[s] == NULL)
        return cli_usage_error("key", "unknown subcommand '%s'", a->sub);
    if (a->npos < 1)
        return cli_usage_error("key", "%s wants the VAULT first", a->sub);
    struct kctx k = {.ctx = ctx};
    int rc = cli_vault_base(ctx, a->pos[0], a->hsm, k.base, sizeof(k.base), &k.resource);
    if (rc != 0)
        return rc;
    const char *name = a->npos > 1 ? a->pos[1] : NULL;
    char url[1024];
    json_t *out = NULL, *body = NULL;
    int err = 0;

    if (!strcmp(a->sub, "create")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        const char *kty = a->kty ? a->kty : !strcmp(k.resource, "hsm") ? "RSA-HSM" : "RSA";
        body = json_pack("{s:s}", "kty", kty);
        if (!strncmp(kty, "RSA", 3) || !strncmp(kty, "oct", 3)) {
            long size = a->size ? strtol(a->size, NULL, 10) : !strncmp(kty, "oct", 3) ? 256 : 2048;
            json_object_set_new(body, "key_size", json_integer(size));
        } else if (a->curve) {
            json_object_set_new(body, "crv", json_string(a->curve));
        }
        if (a->ops)
            json_object_set_new(body, "key_ops", list_of(a->ops));
        json_object_set_new(body, "attributes", attributes_of(a, &err));
        if (a->tags && (json_object_set_new(body, "tags", tags_of(a->tags)),
                        json_object_get(body, "tags") == NULL))
            err = cli_usage_error("key", "--tags wants k=v[,k2=v2]");
        if (err) {
            json_decref(body);
            return err;
        }
        key_url(&k, url, sizeof(url), "keys", name, NULL, "create");
        rc = call(&k, "POST", url, body, &out);
        if (rc == 0)
            show(ctx, out, key_cols);
    } else if (!strcmp(a->sub, "show")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        key_url(&k, url, sizeof(url), "keys", name, a->version, NULL);
        rc = call(&k, "GET", url, NULL, &out);
        if (rc == 0)
            show(ctx, out, key_cols);
    } else if (!strcmp(a->sub, "list")) {
        if ((rc = need(a, 1, "VAULT")) != 0)
            return rc;
        key_url(&k, url, sizeof(url), a->deleted ? "deletedkeys" : "keys", NULL, NULL, NULL);
        rc = get_all(&k, url, &out);
        if (rc == 0)
            show(ctx, out, a->deleted ? deleted_cols : list_cols);
    } else if (!strcmp(a->sub, "versions")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        key_url(&k, url, sizeof(url), "keys", name, NULL, "versions");
        rc = get_all(&k, url, &out);
        if (rc == 0)
            show(ctx, out, version_cols);
    } else if (!strcmp(a->sub, "set")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        body = json_object();
        json_t *attrs = attributes_of(a, &err);
        if (json_object_size(attrs))
            json_object_set(body, "attributes", attrs);
        json_decref(attrs);
        if (a->ops)
            json_object_set_new(body, "key_ops", list_of(a->ops));
        if (a->tags) {
            json_t *t = tags_of(a->tags);
            if (t == NULL)
                err = cli_usage_error("key", "--tags wants k=v[,k2=v2]");
            else
                json_object_set_new(body, "tags", t);
        }
        if (!err && json_object_size(body) == 0)
            err = cli_usage_error("key", "set wants something to change (--enabled, "
                                         "--expires, --not-before, --ops, --tags)");
        if (err) {
            json_decref(body);
            return err;
        }
        key_url(&k, url, sizeof(url), "keys", name, a->version, NULL);
        rc = call(&k, "PATCH", url, body, &out);
        if (rc == 0)
            show(ctx, out, key_cols);
    } else if (!strcmp(a->sub, "rotate")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        key_url(&k, url, sizeof(url), "keys", name, NULL, "rotate");
        rc = call(&k, "POST", url, NULL, &out);
        if (rc == 0)
            show(ctx, out, key_cols);
    } else if (!strcmp(a->sub, "delete")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        key_url(&k, url, sizeof(url), "keys", name, NULL, NULL);
        rc = call(&k, "DELETE", url, NULL, &out);
        if (rc == 0)
            show(ctx, out, deleted_cols);
    } else if (!strcmp(a->sub, "recover")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        key_url(&k, url, sizeof(url), "deletedkeys", name, NULL, "recover");
        rc = call(&k, "POST", url, NULL, &out);
        if (rc == 0)
            show(ctx, out, key_cols);
    } else if (!strcmp(a->sub, "purge")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        key_url(&k, url, sizeof(url), "deletedkeys", name, NULL, NULL);
        rc = call(&k, "DELETE", url, NULL, NULL);
        if (rc == 0) {
            json_t *r = json_pack("{s:s, s:b}", "name", name, "purged", 1);
            cli_output(
                ctx, r,
                (const struct cli_column[]){{"Name", "name"}, {"Purged", "purged"}, {NULL, NULL}});
            json_decref(r);
        }
    } else if (!strcmp(a->sub, "backup")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        if (a->file == NULL)
            return cli_usage_error("key", "backup wants --file FILE");
        key_url(&k, url, sizeof(url), "keys", name, NULL, "backup");
        rc = call(&k, "POST", url, NULL, &out);
        const char *v = rc == 0 ? json_string_value(json_object_get(out, "value")) : NULL;
        if (rc == 0 && v == NULL)
            rc = cli_fail(ctx, "the backup answer has no value");
        if (rc == 0) {
            size_t len = 0;
            unsigned char *blob = cmk_b64_decode(v, strlen(v), &len);
            rc = blob ? cli_write_file(ctx, a->file, blob, len)
                      : cli_fail(ctx, "the backup value is not base64url");
            free(blob);
            if (rc == 0) {
                json_t *r = json_pack("{s:s, s:s, s:I}", "name", name, "file", a->file, "bytes",
                                      (json_int_t)len);
                cli_output(
                    ctx, r,
                    (const struct cli_column[]){
                        {"Name", "name"}, {"File", "file"}, {"Bytes", "bytes"}, {NULL, NULL}});
                json_decref(r);
            }
        }
    } else if (!strcmp(a->sub, "restore")) {
        if ((rc = need(a, 1, "VAULT (and --file FILE)")) != 0)
            return rc;
        if (a->file == NULL)
            return cli_usage_error("key", "restore wants --file FILE");
        size_t len = 0;
        unsigned char *blob = cli_read_file(ctx, a->file, &len);
        if (blob == NULL)
            return CLI_EX_FAIL;
        char *v = cmk_b64_encode(blob, len, 1);
        free(blob);
        body = json_pack("{s:s}", "value", v);
        free(v);
        snprintf(url, sizeof(url), "%s/keys/restore?" KV_API, k.base);
        rc = call(&k, "POST", url, body, &out);
        if (rc == 0)
            show(ctx, out, key_cols);
    } else if (!strcmp(a->sub, "import")) {
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        if (a->file == NULL)
            return cli_usage_error("key", "import wants --file FILE");
        json_t *attrs = attributes_of(a, &err);
        if (err) {
            json_decref(attrs);
            return err;
        }
        json_t *jwk = cli_key_read_file(ctx, a->file, a->password, a->protect);
        if (jwk == NULL) {
            json_decref(attrs);
            return CLI_EX_FAIL;
        }
        if (a->ops)
            json_object_set_new(jwk, "key_ops", list_of(a->ops));
        body = json_pack("{s:o, s:o}", "key", jwk, "attributes", attrs);
        if (a->protect)
            json_object_set_new(body, "hsm", json_true());
        key_url(&k, url, sizeof(url), "keys", name, NULL, NULL);
        rc = call(&k, "PUT", url, body, &out);
        cli_key_wipe(body);
        body = NULL;
        if (rc == 0)
            show(ctx, out, key_cols);
    } else { /* wrap, unwrap */
        if ((rc = need(a, 2, "VAULT NAME")) != 0)
            return rc;
        if (a->value == NULL)
            return cli_usage_error("key", "%s wants --value BASE64URL", a->sub);
        body = json_pack("{s:s, s:s}", "alg", a->alg ? a->alg : "RSA-OAEP-256", "value", a->value);
        key_url(&k, url, sizeof(url), "keys", name, a->version,
                !strcmp(a->sub, "wrap") ? "wrapkey" : "unwrapkey");
        rc = call(&k, "POST", url, body, &out);
        if (rc == 0)
            cli_output(
                ctx, out,
                (const struct cli_column[]){{"Kid", "kid"}, {"Value", "value"}, {NULL, NULL}});
        if (out && !strcmp(a->sub, "unwrap")) { /* the plaintext key */
            cli_key_wipe(out);
            out = NULL;
        }
    }
    json_decref(body);
    json_decref(out);
    return rc;
}

int cli_key(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc = cli_ctx_init(&ctx, "key", &argc, argv);
    if (rc != 0)
        return rc;
    struct kargs a;
    rc = parse(argc, argv, &a);
    if (rc == 1) {
        usage(stdout);
        return CLI_EX_OK;
    }
    if (rc != 0)
        return rc;
    if (a.sub == NULL) {
        usage(stderr);
        return CLI_EX_USAGE;
    }
    rc = run(&ctx, &a);
    cli_ctx_close(&ctx);
    return rc;
}
