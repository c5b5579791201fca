/* request.c: the runner's requests, through the router's in-process door (router.h), with
 * the bearer token a real client would hold: the administrator of the tenant (a service
 * principal, client-credentials token) or the identity named by `as` (a managed identity's
 * token, as IMDS hands it out). Tokens are cached per principal and audience until shortly
 * before they expire, like the SDKs do, so an identity deleted later still presents a token
 * that the service then refuses for the real reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arm.h"
#include "common/log.h"
#include "controlplane/identity.h"
#include "scenarios/runner_int.h"

#define AUD_MGMT  "https://management.azure.com/"
#define AUD_VAULT "https://vault.azure.net"
#define AUD_HSM   "https://managedhsm.azure.net"

void sc__http_close(struct sc_http *h)
{
    if (h == NULL)
        return;
    json_decref(h->body);
    h->body = NULL;
}

static int token_for(struct sc_world *w, const struct sc_ident *caller, const struct sc_tenant *t,
                     const char *aud, char **tok, struct cmk_err *err)
{
    char who[600];
    const char *ref;
    int sp;
    if (caller) {
        ref = caller->sp ? caller->client_id : caller->id;
        sp = caller->sp;
    } else {
        ref = t->admin_client;
        sp = 1;
    }
    sc__fmt(who, sizeof(who), "%s|%s", ref, aud);
    cmk_time_t now = sc__now(w);
    for (size_t i = 0; i < w->n_tokens; i++) {
        struct sc_token *k = w->tokens[i];
        if (strcmp(k->who, who) == 0) {
            if (k->expires > now) {
                *tok = cmk_xstrdup(k->token);
                return 0;
            }
            free(k->token);
            k->token = NULL;
        }
    }
    int rc = sp ? cp_identity_sp_token(&w->rt, ref, aud, tok, err)
                : cp_identity_token(&w->rt, ref, aud, tok, err);
    if (rc != 0)
        return rc;
    struct sc_token *k = NULL;
    for (size_t i = 0; i < w->n_tokens && k == NULL; i++)
        if (strcmp(w->tokens[i]->who, who) == 0)
            k = w->tokens[i];
    if (k == NULL) {
        k = cmk_xcalloc(1, sizeof(*k));
        k->who = cmk_xstrdup(who);
        w->tokens = cmk_xrealloc(w->tokens, (w->n_tokens + 1) * sizeof(*w->tokens));
        w->tokens[w->n_tokens++] = k;
    }
    k->token = cmk_xstrdup(*tok);
    k->expires = now + 50 * CMK_MINUTE;
    return 0;
}

static void read_error(struct sc_http *h)
{
    json_t *e = json_object_get(h->body, "error");
    const char *s = json_string_value(json_object_get(e, "code"));
    sc__fmt(h->code, sizeof(h->code), "%s", s ? s : "");
    s = json_string_value(json_object_get(json_object_get(e, "innererror"), "code"));
    sc__fmt(h->inner, sizeof(h->inner), "%s", s ? s : "");
    s = json_string_value(json_object_get(e, "message"));
    sc__fmt(h->message, sizeof(h->message), "%s", s ? s : "");
}

static int dispatch(struct sc_world *w, const char *method, const char *url, const json_t *body,
                    const char *token, const struct cmk_origin *origin, struct sc_http *out)
{
    struct cmk_request req;
    struct cmk_response res;
    memset(out, 0, sizeof(*out));
    if (cmk_request_init(&req, method, url, origin) != 0) {
        out->status = 400;
        sc__fmt(out->code, sizeof(out->code), "BadRequest");
        sc__fmt(out->message, sizeof(out->message), "malformed URL %s", url);
        return 0;
    }
    if (token) {
        size_t n = strlen(token) + 8;
        char *auth = cmk_xmalloc(n);
        sc__fmt(auth, n, "Bearer %s", token);
        cmk_request_add_header(&req, "authorization", auth);
        free(auth);
    }
    cmk_request_add_header(&req, "user-agent", "cmksim-scenario/1");
    if (body)
        cmk_request_set_json(&req, body);
    cmk_response_init(&res);
    cmk_router_dispatch(&w->rt.router, &req, &res);
    out->status = res.status;
    out->body = cmk_response_json_body(&res);
    if (out->status >= 400)
        read_error(out);
    cmk_request_close(&req);
    cmk_response_close(&res);
    w->res->events++;
    return 0;
}

int sc__mgmt(struct sc_world *w, const char *method, const char *path, const json_t *body,
             const struct sc_ident *caller, const struct sc_tenant *t, struct sc_http *out)
{
    if (t == NULL)
        t = caller && caller->tenant ? caller->tenant : sc__tenant(w, SC_DEFAULT_TENANT);
    char *tok = NULL;
    struct cmk_err err;
    cmk_err_clear(&err);
    memset(out, 0, sizeof(*out));
    if (token_for(w, caller, t, AUD_MGMT, &tok, &err) != 0) {
        out->status = err.status ? err.status : 401;
        sc__fmt(out->code, sizeof(out->code), "%s", err.code[0] ? err.code : "TokenUnavailable");
        sc__fmt(out->message, sizeof(out->message), "no token for %s: %s",
                caller ? caller->name : "the administrator", err.message);
        return 0;
    }
    size_t n = strlen(path) + 64;
    char *url = cmk_xmalloc(n);
    sc__fmt(url, n, "https://management.azure.com%s", path);
    struct cmk_origin o = {
        .kind = CMK_ORIGIN_INPROC, .addr = SC_ADMIN_ADDR, .service = "cmksim-scenario"};
    int rc = dispatch(w, method, url, body, tok, &o, out);
    free(url);
    free(tok);
    return rc;
}

void sc__store_url(const struct sc_store *s, char *out, size_t n)
{
    sc__fmt(out, n, "https://%s.%s", s->name, s->hsm ? "managedhsm.azure.net" : "vault.azure.net");
}

int sc__keys(struct sc_world *w, const struct sc_store *store, const char *method, const char *path,
             const json_t *body, const struct sc_ident *caller, const char *from,
             struct sc_http *out)
{
    char *tok = NULL;
    struct cmk_err err;
    cmk_err_clear(&err);
    memset(out, 0, sizeof(*out));
    const struct sc_tenant *t = caller && caller->tenant ? caller->tenant : store->tenant;
    if (token_for(w, caller, t, store->hsm ? AUD_HSM : AUD_VAULT, &tok, &err) != 0) {
        out->status = err.status ? err.status : 401;
        sc__fmt(out->code, sizeof(out->code), "%s", err.code[0] ? err.code : "TokenUnavailable");
        sc__fmt(out->message, sizeof(out->message), "no token for %s: %s",
                caller ? caller->name : "the administrator", err.message);
        return 0;
    }
    char base[256];
    sc__store_url(store, base, sizeof(base));
    const char *sep = strchr(path, '?') ? "&" : "?";
    size_t n = strlen(base) + strlen(path) + 48;
    char *url = cmk_xmalloc(n);
    sc__fmt(url, n, "%s%s%sapi-version=%s", base, path, sep, SC_API_KEYS);
    struct cmk_origin o = {.kind = CMK_ORIGIN_INPROC, .service = "cmksim-scenario"};
    sc__fmt(o.addr, sizeof(o.addr), "%s", from ? from : SC_ADMIN_ADDR);
    int rc = dispatch(w, method, url, body, tok, &o, out);
    free(url);
    free(tok);
    return rc;
}

int sc__ensure_rg(struct sc_world *w, struct sc_tenant *t, const char *rg, const char *location,
                  struct sc_http *out)
{
    char key[200];
    sc__fmt(key, sizeof(key), "%s/%s", t->sub, rg);
    for (size_t i = 0; i < w->n_rgs; i++)
        if (strcasecmp(w->rgs[i], key) == 0)
            return 0;
    char path[300];
    sc__fmt(path, sizeof(path), "/subscriptions/%s/resourcegroups/%s?api-version=%s", t->sub, rg,
            SC_API_RG);
    json_t *b = json_pack("{s:s}", "location", location);
    sc__mgmt(w, "PUT", path, b, NULL, t, out);
    json_decref(b);
    if (out->status != 200 && out->status != 201)
        return 1;
    sc__http_close(out);
    w->rgs = cmk_xrealloc(w->rgs, (w->n_rgs + 1) * sizeof(*w->rgs));
    w->rgs[w->n_rgs++] = cmk_xstrdup(key);
    return 0;
}

void sc__http_summary(const char *method, const char *path, const struct sc_http *h, char *out,
                      size_t n)
{
    /* The path without the subscription and api-version: ".../vaults/kv1/accessPolicies/add" */
    const char *p = path;
    const char *prov = strstr(path, "/providers/");
    if (prov)
        p = prov + 10;
    char shown[300];
    sc__fmt(shown, sizeof(shown), "%s", p);
    char *q = strchr(shown, '?');
    if (q)
        *q = '\0';
    if (h->status >= 400)
        sc__fmt(out, n, "%s %s -> %d %s%s%s", method, shown, h->status, h->code,
                h->inner[0] ? "/" : "", h->inner);
    else
        sc__fmt(out, n, "%s %s -> %d", method, shown, h->status);
}
