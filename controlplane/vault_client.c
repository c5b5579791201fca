/* vault_client.c: how the service reaches its customers' vaults and managed HSMs.
 *
 * Only through the router, like a real service over the network: an in-process request with
 * the bearer token of the server's user-assigned identity (cp_identity_token, cached here until
 * shortly before it expires) and the origin of a trusted Azure service. The answer is taken
 * apart into a cause (permission revoked, firewall, identity deleted, tenant, key disabled,
 * expired, not yet valid, deleted, vault deleted, unreachable), so the monitor and the
 * validation name the real reason. An injected outage (cp_fault_vault_unreachable) makes a
 * vault unreachable without touching it: the request is never sent, as when the network fails.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/router.h"
#include "identity.h"
#include "server_int.h"

#define KV_API       "api-version=7.5"
#define TOKEN_MARGIN (10 * CMK_MINUTE)
#define WRAP_ALG     "RSA-OAEP-256"

/* ---- causes ---- */

static const struct {
    const char *name;
    enum cp_cause_class cls;
} causes[] = {
    [CP_CAUSE_NONE] = {"", CP_CLASS_KEY},
    [CP_CAUSE_PERMISSION] = {"PermissionRevoked", CP_CLASS_REVOCATION},
    [CP_CAUSE_FIREWALL] = {"FirewallBlocked", CP_CLASS_REVOCATION},
    [CP_CAUSE_IDENTITY] = {"IdentityDeleted", CP_CLASS_REVOCATION},
    [CP_CAUSE_TENANT] = {"TenantMismatch", CP_CLASS_REVOCATION},
    [CP_CAUSE_KEY_DISABLED] = {"KeyDisabled", CP_CLASS_KEY},
    [CP_CAUSE_KEY_EXPIRED] = {"KeyExpired", CP_CLASS_KEY},
    [CP_CAUSE_KEY_NOT_YET_VALID] = {"KeyNotYetValid", CP_CLASS_KEY},
    [CP_CAUSE_KEY_DELETED] = {"KeyDeleted", CP_CLASS_KEY},
    [CP_CAUSE_VAULT_DELETED] = {"VaultDeleted", CP_CLASS_KEY},
    [CP_CAUSE_KEY_UNSUPPORTED] = {"KeyUnsupported", CP_CLASS_KEY},
    [CP_CAUSE_UNREACHABLE] = {"VaultUnreachable", CP_CLASS_OUTAGE},
    [CP_CAUSE_UNKNOWN] = {"KeyAccessFailed", CP_CLASS_KEY},
};

const char *cp__cause_name(enum cp_cause c)
{
    return (unsigned)c <= CP_CAUSE_UNKNOWN ? causes[c].name : "KeyAccessFailed";
}

enum cp_cause_class cp__cause_class(enum cp_cause c)
{
    return (unsigned)c <= CP_CAUSE_UNKNOWN ? causes[c].cls : CP_CLASS_KEY;
}

/* ---- key URIs ---- */

int cp__key_ref_parse(struct cp_servers *s, const char *uri, struct cp_key_ref *out,
                      struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = uri && strncasecmp(uri, "https://", 8) == 0 ? uri + 8 : NULL;
    size_t hl = p ? strcspn(p, "/") : 0;
    if (p == NULL || hl == 0 || hl >= sizeof(out->host))
        goto bad;
    snprintf(out->host, sizeof(out->host), "%.*s", (int)hl, p);
    out->kind = cmk_hosts_classify(&s->rt->hosts, out->host, out->vault, sizeof(out->vault));
    if (out->kind != CMK_HOST_VAULT && out->kind != CMK_HOST_HSM)
        goto bad;
    p += hl;
    if (strncasecmp(p, "/keys/", 6) != 0)
        goto bad;
    p += 6;
    size_t kl = strcspn(p, "/?#");
    if (kl == 0 || kl >= sizeof(out->key))
        goto bad;
    snprintf(out->key, sizeof(out->key), "%.*s", (int)kl, p);
    p += kl;
    if (*p == '/') {
        p++;
        size_t vl = strcspn(p, "/?#");
        if (vl >= sizeof(out->version))
            goto bad;
        snprintf(out->version, sizeof(out->version), "%.*s", (int)vl, p);
        p += vl;
        if (*p == '/')
            p++;
    }
    if (*p != '\0')
        goto bad;
    snprintf(out->arm_type, sizeof(out->arm_type), "%s",
             out->kind == CMK_HOST_HSM ? "Microsoft.KeyVault/managedHSMs"
                                       : "Microsoft.KeyVault/vaults");
    snprintf(out->audience, sizeof(out->audience), "%s",
             out->kind == CMK_HOST_HSM ? "https://managedhsm.azure.net"
                                       : "https://vault.azure.net");
    return 0;
bad:
    return cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultInvalidKeyUri",
                       "The key URI '%.300s' is not valid. Expected "
                       "'https://{vault}.vault.azure.net/keys/{key}[/{version}]' or "
                       "'https://{hsm}.managedhsm.azure.net/keys/{key}[/{version}]'.",
                       uri ? uri : "");
}

/* ---- faults ---- */

static void label_of(const char *vault, char *out, size_t n)
{
    size_t l = strcspn(vault, ".:");
    if (l >= n)
        l = n - 1;
    for (size_t i = 0; i < l; i++)
        out[i] = (char)(vault[i] >= 'A' && vault[i] <= 'Z' ? vault[i] + 32 : vault[i]);
    out[l] = '\0';
}

int cp_fault_vault_unreachable(struct cmk_runtime *rt, const char *vault, cmk_time_t until)
{
    struct cp_servers *s = cp_servers_of(rt);
    if (s == NULL || vault == NULL || vault[0] == '\0')
        return CMK_EINVAL;
    char label[128];
    label_of(vault, label, sizeof(label));
    cmk_time_t now = cmk_clock_now(&rt->clock);
    for (size_t i = 0; i < s->nfaults; i++) {
        if (strcmp(s->faults[i].vault, label) == 0) {
            if (until <= now)
                s->faults[i] = s->faults[--s->nfaults];
            else
                s->faults[i].until = until;
            return 0;
        }
    }
    if (until <= now)
        return 0;
    if (s->nfaults >= SRV_MAX_FAULTS)
        return CMK_ELIMIT;
    snprintf(s->faults[s->nfaults].vault, sizeof(s->faults[0].vault), "%s", label);
    s->faults[s->nfaults].until = until;
    s->nfaults++;
    return 0;
}

int cp__fault_active(struct cp_servers *s, const char *vault)
{
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    for (size_t i = 0; i < s->nfaults; i++)
        if (strcasecmp(s->faults[i].vault, vault) == 0 && s->faults[i].until > now)
            return 1;
    return 0;
}

/* ---- tokens ---- */

void cp__token_forget(struct cp_servers *s, const char *identity_id)
{
    for (size_t i = 0; i < s->ntokens;) {
        if (strcasecmp(s->tokens[i].identity, identity_id) == 0) {
            free(s->tokens[i].token);
            s->tokens[i] = s->tokens[--s->ntokens];
        } else {
            i++;
        }
    }
}

int cp_server_vault_token(struct cp_servers *s, const char *identity_id, const char *key_uri,
                          char **token, struct cmk_err *err)
{
    struct cp_key_ref k;
    *token = NULL;
    int rc = cp__key_ref_parse(s, key_uri, &k, err);
    if (rc != 0)
        return rc;
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    size_t slot = s->ntokens;
    for (size_t i = 0; i < s->ntokens; i++) {
        if (strcasecmp(s->tokens[i].identity, identity_id) == 0 &&
            strcmp(s->tokens[i].audience, k.audience) == 0) {
            if (s->tokens[i].exp - TOKEN_MARGIN > now) {
                *token = cmk_xstrdup(s->tokens[i].token);
                return 0;
            }
            slot = i;
        }
    }
    char *t = NULL;
    rc = cp_identity_token(s->rt, identity_id, k.audience, &t, err);
    if (rc != 0)
        return rc;
    if (slot == s->ntokens) {
        if (s->ntokens == SRV_MAX_TOKENS) {
            slot = 0; /* evict the oldest entry */
            free(s->tokens[0].token);
        } else {
            s->ntokens++;
        }
    } else {
        free(s->tokens[slot].token);
    }
    snprintf(s->tokens[slot].identity, sizeof(s->tokens[slot].identity), "%s", identity_id);
    snprintf(s->tokens[slot].audience, sizeof(s->tokens[slot].audience), "%s", k.audience);
    s->tokens[slot].token = cmk_xstrdup(t);
    s->tokens[slot].exp = now + CP_IDENTITY_TOKEN_LIFETIME;
    *token = t;
    return 0;
}

/* ---- requests ---- */

void cp__vault_reply_close(struct cp_vault_reply *r)
{
    if (r == NULL)
        return;
    json_decref(r->body);
    r->body = NULL;
}

int cp__vault_call(struct cp_servers *s, const struct cp_key_ref *k, const char *identity_id,
                   const char *method, const char *path, const json_t *body,
                   struct cp_vault_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (cp__fault_active(s, k->vault)) {
        snprintf(out->code, sizeof(out->code), "VaultUnreachable");
        snprintf(out->message, sizeof(out->message),
                 "The connection to '%s' failed: the host is unreachable.", k->host);
        return CMK_EUNAVAIL;
    }
    char uri[512], *token = NULL;
    snprintf(uri, sizeof(uri), "https://%s/keys/%s", k->host, k->key);
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cp_server_vault_token(s, identity_id, uri, &token, &err) != 0) {
        snprintf(out->code, sizeof(out->code), "IdentityNotFound");
        snprintf(out->inner, sizeof(out->inner), "%s", err.code);
        snprintf(out->message, sizeof(out->message), "%.500s", err.message);
        return CMK_EAUTH;
    }
    char url[1024];
    snprintf(url, sizeof(url), "https://%s%s", k->host, path);
    struct cmk_origin origin = {.kind = CMK_ORIGIN_TRUSTED_SERVICE};
    snprintf(origin.addr, sizeof(origin.addr), "%s", CP_SERVICE_ADDR);
    snprintf(origin.service, sizeof(origin.service), "%s", CP_SERVICE_NAME);
    struct cmk_request req;
    struct cmk_response res;
    cmk_response_init(&res);
    if (cmk_request_init(&req, method, url, &origin) != 0) {
        free(token);
        cmk_request_close(&req);
        cmk_response_close(&res);
        snprintf(out->code, sizeof(out->code), "BadRequest");
        return CMK_EINVAL;
    }
    size_t tl = strlen(token) + 8;
    char *auth = cmk_xmalloc(tl);
    snprintf(auth, tl, "Bearer %s", token);
    cmk_request_add_header(&req, "authorization", auth);
    cmk_request_add_header(&req, "user-agent", "Microsoft.DBforPostgreSQL/cmksim");
    OPENSSL_cleanse(auth, tl);
    free(auth);
    free(token);
    if (body)
        cmk_request_set_json(&req, body);
    cmk_router_dispatch(&s->rt->router, &req, &res);
    cmk_request_close(&req);
    out->status = res.status;
    out->body = cmk_response_json_body(&res);
    /* An unwrapped key travels in this body: wipe the raw bytes before the memory goes. */
    if (res.body.data)
        OPENSSL_cleanse(res.body.data, res.body.len);
    cmk_response_close(&res);
    if (out->status >= 200 && out->status < 300)
        return 0;
    json_t *e = json_object_get(out->body, "error");
    snprintf(out->code, sizeof(out->code), "%s", cp__str(e, "code"));
    snprintf(out->message, sizeof(out->message), "%s", cp__str(e, "message"));
    snprintf(out->inner, sizeof(out->inner), "%s",
             cp__str(json_object_get(e, "innererror"), "code"));
    if (out->status == 401)
        cp__token_forget(s, identity_id);
    return out->status == 404 ? CMK_ENOTFOUND : CMK_EDENIED;
}

int cp__is_permission_denied(const struct cp_vault_reply *r)
{
    return r->status == 403 &&
           (strcasecmp(r->inner, "ForbiddenByPolicy") == 0 ||
            strcasecmp(r->inner, "ForbiddenByRbac") == 0 || r->inner[0] == '\0');
}

enum cp_cause cp__classify(const struct cp_vault_reply *r)
{
    switch (r->status) {
    case 0:
        return strcmp(r->code, "IdentityNotFound") == 0 ? CP_CAUSE_IDENTITY : CP_CAUSE_UNREACHABLE;
    case 401:
        if (strcasecmp(r->inner, "InvalidIssuer") == 0)
            return CP_CAUSE_TENANT;
        return CP_CAUSE_IDENTITY;
    case 403:
        if (strcasecmp(r->inner, "ForbiddenByFirewall") == 0 ||
            strcasecmp(r->inner, "ForbiddenByConnection") == 0)
            return CP_CAUSE_FIREWALL;
        if (strcasecmp(r->inner, "KeyDisabled") == 0)
            return CP_CAUSE_KEY_DISABLED;
        if (strcasecmp(r->inner, "KeyExpired") == 0)
            return CP_CAUSE_KEY_EXPIRED;
        if (strcasecmp(r->inner, "KeyNotYetValid") == 0)
            return CP_CAUSE_KEY_NOT_YET_VALID;
        if (strcasecmp(r->inner, "KeyOperationForbidden") == 0)
            return CP_CAUSE_KEY_UNSUPPORTED;
        return CP_CAUSE_PERMISSION;
    case 404:
        return strcasecmp(r->code, "KeyNotFound") == 0 ? CP_CAUSE_KEY_DELETED
                                                       : CP_CAUSE_VAULT_DELETED;
    case 429:
        return CP_CAUSE_UNREACHABLE;
    default:
        return r->status >= 500 ? CP_CAUSE_UNREACHABLE : CP_CAUSE_UNKNOWN;
    }
}

void cp__key_info_from(const json_t *body, struct cp_key_info *out)
{
    memset(out, 0, sizeof(*out));
    json_t *key = json_object_get(body, "key");
    json_t *attr = json_object_get(body, "attributes");
    snprintf(out->kid, sizeof(out->kid), "%s", cp__str(key, "kid"));
    snprintf(out->kty, sizeof(out->kty), "%s", cp__str(key, "kty"));
    const char *n = cp__str(key, "n");
    size_t len = 0;
    unsigned char *mod = n[0] ? cmk_b64_decode(n, strlen(n), &len) : NULL;
    size_t skip = 0;
    while (skip < len && mod[skip] == 0)
        skip++;
    out->bits = mod ? (int)((len - skip) * 8) : 0;
    free(mod);
    json_t *en = json_object_get(attr, "enabled");
    out->enabled = en == NULL || json_is_true(en);
    json_t *nbf = json_object_get(attr, "nbf"), *exp = json_object_get(attr, "exp");
    out->nbf = json_is_integer(nbf) ? (cmk_time_t)json_integer_value(nbf) * CMK_SECOND : 0;
    out->exp = json_is_integer(exp) ? (cmk_time_t)json_integer_value(exp) * CMK_SECOND : 0;
}

/* "/keys/{key}/{version}/{op}?api-version" for a kid (or the ref's own version). */
static int op_path(struct cp_servers *s, const struct cp_key_ref *k, const char *kid,
                   const char *op, char *out, size_t n)
{
    struct cp_key_ref kk;
    const char *version = k->version;
    if (kid && kid[0]) {
        if (cp__key_ref_parse(s, kid, &kk, NULL) != 0)
            return CMK_EINVAL;
        version = kk.version;
    }
    snprintf(out, n, "/keys/%s/%s/%s?" KV_API, k->key, version, op);
    return 0;
}

int cp__key_wrap_probe(struct cp_servers *s, const struct cp_key_ref *k, const char *kid,
                       const char *identity_id, char **wrapped, struct cp_vault_reply *reply)
{
    *wrapped = NULL;
    char path[512];
    memset(reply, 0, sizeof(*reply));
    if (op_path(s, k, kid, "wrapkey", path, sizeof(path)) != 0) {
        snprintf(reply->code, sizeof(reply->code), "BadParameter");
        return CMK_EINVAL;
    }
    unsigned char dek[32];
    if (RAND_bytes(dek, sizeof(dek)) != 1)
        return CMK_ECRYPTO;
    char *v = cmk_b64_encode(dek, sizeof(dek), 1);
    OPENSSL_cleanse(dek, sizeof(dek));
    json_t *body = json_pack("{s:s, s:s}", "alg", WRAP_ALG, "value", v);
    OPENSSL_cleanse(v, strlen(v));
    free(v);
    int rc = cp__vault_call(s, k, identity_id, "POST", path, body, reply);
    json_t *val = json_object_get(body, "value");
    OPENSSL_cleanse((char *)json_string_value(val), json_string_length(val));
    json_decref(body);
    if (rc == 0) {
        const char *w = cp__str(reply->body, "value");
        if (w[0] == '\0')
            return CMK_EINVAL;
        *wrapped = cmk_xstrdup(w);
    }
    return rc;
}

int cp__key_unwrap(struct cp_servers *s, const struct cp_key_ref *k, const char *kid,
                   const char *identity_id, const char *wrapped, const char *alg,
                   struct cp_vault_reply *reply)
{
    char path[512];
    memset(reply, 0, sizeof(*reply));
    if (op_path(s, k, kid, "unwrapkey", path, sizeof(path)) != 0) {
        snprintf(reply->code, sizeof(reply->code), "BadParameter");
        return CMK_EINVAL;
    }
    json_t *body = json_pack("{s:s, s:s}", "alg", alg && alg[0] ? alg : WRAP_ALG, "value", wrapped);
    int rc = cp__vault_call(s, k, identity_id, "POST", path, body, reply);
    json_decref(body);
    json_t *val = json_object_get(reply->body, "value");
    if (json_is_string(val))
        OPENSSL_cleanse((char *)json_string_value(val), json_string_length(val));
    return rc;
}

/* ---- sentences ---- */

void cp__cause_sentence(enum cp_cause c, const struct cp_key_ref *k, const char *key_uri,
                        const char *identity_id, const struct cp_vault_reply *r, char *out,
                        size_t n)
{
    const char *vault = k ? k->vault : "";
    const char *what = k && k->kind == CMK_HOST_HSM ? "managed HSM" : "key vault";
    switch (c) {
    case CP_CAUSE_NONE:
        snprintf(out, n, "%s", "");
        break;
    case CP_CAUSE_PERMISSION:
        snprintf(out, n,
                 "The user assigned managed identity '%s' is not permitted to use key '%s': %s",
                 identity_id, key_uri, r && r->message[0] ? r->message : "access denied.");
        break;
    case CP_CAUSE_FIREWALL:
        snprintf(out, n,
                 "The %s '%s' refused the service at its firewall (public network access "
                 "or network rules without 'Allow trusted Microsoft services').",
                 what, vault);
        break;
    case CP_CAUSE_IDENTITY:
        snprintf(out, n,
                 "The user assigned managed identity '%s' used to access key '%s' no longer "
                 "exists.",
                 identity_id, key_uri);
        break;
    case CP_CAUSE_TENANT:
        snprintf(out, n, "The %s '%s' is not in the tenant of the server.", what, vault);
        break;
    case CP_CAUSE_KEY_DISABLED:
        snprintf(out, n, "The key '%s' is disabled.", key_uri);
        break;
    case CP_CAUSE_KEY_EXPIRED:
        snprintf(out, n, "The key '%s' has expired.", key_uri);
        break;
    case CP_CAUSE_KEY_NOT_YET_VALID:
        snprintf(out, n, "The key '%s' is not active yet (its activation date is in the future).",
                 key_uri);
        break;
    case CP_CAUSE_KEY_DELETED:
        snprintf(out, n, "The key '%s' was deleted.", key_uri);
        break;
    case CP_CAUSE_VAULT_DELETED:
        snprintf(out, n, "The %s '%s' holding key '%s' was deleted.", what, vault, key_uri);
        break;
    case CP_CAUSE_KEY_UNSUPPORTED:
        snprintf(out, n, "The key '%s' is not an RSA 2048 key usable for wrapKey/unwrapKey.",
                 key_uri);
        break;
    case CP_CAUSE_UNREACHABLE:
        snprintf(out, n, "The %s '%s' cannot be reached%s%s", what, vault,
                 r && r->message[0] ? ": " : ".", r && r->message[0] ? r->message : "");
        break;
    default:
        snprintf(out, n, "Access to key '%s' failed: %s", key_uri,
                 r && r->message[0] ? r->message : "unknown error.");
        break;
    }
}

/* ---- the monitor's check of one key ---- */

static void fail(struct cp_key_check *out, enum cp_cause c, const struct cp_key_ref *k,
                 const char *uri, const char *identity, const struct cp_vault_reply *r)
{
    out->cause = c;
    cp__cause_sentence(c, k, uri, identity, r, out->message, sizeof(out->message));
}

void cp__key_check(struct cp_servers *s, const char *key_uri, const char *identity_id,
                   const char *blob_kid, const char *blob, const char *alg,
                   struct cp_key_check *out)
{
    memset(out, 0, sizeof(*out));
    struct cp_key_ref k;
    struct cmk_err err;
    if (cp__key_ref_parse(s, key_uri, &k, &err) != 0) {
        out->cause = CP_CAUSE_UNKNOWN;
        snprintf(out->message, sizeof(out->message), "%.500s", err.message);
        return;
    }
    struct cp_vault_reply r;
    char path[512];
    if (k.version[0])
        snprintf(path, sizeof(path), "/keys/%s/%s?" KV_API, k.key, k.version);
    else
        snprintf(path, sizeof(path), "/keys/%s?" KV_API, k.key);
    if (cp__vault_call(s, &k, identity_id, "GET", path, NULL, &r) != 0) {
        fail(out, cp__classify(&r), &k, key_uri, identity_id, &r);
        cp__vault_reply_close(&r);
        return;
    }
    cp__key_info_from(r.body, &out->info);
    cp__vault_reply_close(&r);
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    if (!out->info.enabled)
        return fail(out, CP_CAUSE_KEY_DISABLED, &k, key_uri, identity_id, NULL);
    if (out->info.exp && out->info.exp <= now)
        return fail(out, CP_CAUSE_KEY_EXPIRED, &k, key_uri, identity_id, NULL);
    if (out->info.nbf && out->info.nbf > now)
        return fail(out, CP_CAUSE_KEY_NOT_YET_VALID, &k, key_uri, identity_id, NULL);
    if (strncmp(out->info.kty, "RSA", 3) != 0 || out->info.bits != 2048)
        return fail(out, CP_CAUSE_KEY_UNSUPPORTED, &k, key_uri, identity_id, NULL);
    char *probe = NULL;
    int rc = 0;
    /* A DEK wrapped by another key (the key before a key change, until the data plane has
     * re-wrapped) says nothing about this key: probe this key with a fresh wrap instead. */
    struct cp_key_ref bk;
    if (blob && blob_kid && blob_kid[0] &&
        (cp__key_ref_parse(s, blob_kid, &bk, NULL) != 0 || strcasecmp(bk.host, k.host) != 0 ||
         strcasecmp(bk.key, k.key) != 0))
        blob = NULL;
    if (blob == NULL || blob[0] == '\0') {
        rc = cp__key_wrap_probe(s, &k, out->info.kid, identity_id, &probe, &r);
        if (rc != 0) {
            fail(out, cp__classify(&r), &k, key_uri, identity_id, &r);
            cp__vault_reply_close(&r);
            return;
        }
        cp__vault_reply_close(&r);
        blob = probe;
        blob_kid = out->info.kid;
        alg = WRAP_ALG;
    }
    rc = cp__key_unwrap(s, &k, blob_kid && blob_kid[0] ? blob_kid : out->info.kid, identity_id,
                        blob, alg, &r);
    if (rc != 0)
        fail(out, cp__classify(&r), &k, key_uri, identity_id, &r);
    cp__vault_reply_close(&r);
    free(probe);
}
