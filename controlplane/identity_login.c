/* identity_login.c: the login host (login.microsoftonline.com and login.<suffix>): the OAuth2
 * client-credentials token endpoints (v2 with scope, v1 with resource), the OpenID Connect
 * metadata, instance discovery and the key set that MSAL (@azure/msal-node behind
 * @azure/identity, msal-python behind az) fetch before they ask for a token.
 *
 * Answers follow Entra ID: success bodies {token_type, expires_in, ext_expires_in,
 * access_token} (v1 adds expires_on, not_before, resource, all as strings); errors
 * {error, error_description "AADSTSnnnn: ...", error_codes, timestamp, trace_id,
 * correlation_id, error_uri} with 400, or 401 for invalid_client. Endpoints in the metadata
 * name the host (and port) the request came in on, so a client that reached us as
 * login.<suffix>:PORT keeps talking to login.<suffix>:PORT.
 */
#include "identity_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/auth.h"
#include "common/b64.h"
#include "common/buf.h"
#include "common/log.h"

#define FORM_MAX_BODY   65536
#define FORM_MAX_FIELDS 64
#define CLOUD_LOGIN     "login.microsoftonline.com"

struct form {
    struct cmk_header f[FORM_MAX_FIELDS];
    size_t n;
};

static void form_close(struct form *fm)
{
    for (size_t i = 0; i < fm->n; i++) {
        if (fm->f[i].value != NULL) /* may hold a client secret */
            OPENSSL_cleanse(fm->f[i].value, strlen(fm->f[i].value));
        free(fm->f[i].name);
        free(fm->f[i].value);
    }
    fm->n = 0;
}

/* application/x-www-form-urlencoded; the first occurrence of a name wins. */
static int form_parse(struct form *fm, const char *body, size_t len)
{
    fm->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        if (j > i) {
            if (fm->n == FORM_MAX_FIELDS)
                return -1;
            const char *eq = memchr(body + i, '=', j - i);
            size_t nl = eq ? (size_t)(eq - (body + i)) : j - i;
            char *name = cmk_xstrndup(body + i, nl);
            char *value = eq ? cmk_xstrndup(eq + 1, j - i - nl - 1) : cmk_xstrdup("");
            fm->f[fm->n].name = name;
            fm->f[fm->n].value = value;
            fm->n++;
            if (cmk_url_decode(name, strlen(name), 1) < 0 ||
                cmk_url_decode(value, strlen(value), 1) < 0)
                return -1;
        }
        i = j + 1;
    }
    return 0;
}

static const char *form_get(const struct form *fm, const char *name)
{
    for (size_t i = 0; i < fm->n; i++)
        if (strcmp(fm->f[i].name, name) == 0)
            return fm->f[i].value;
    return NULL;
}

/* ---- common answers ---- */

/* The host (and port) the client used, for endpoints in metadata; the cloud name if the
 * Host header is absent or odd. */
static void request_host(const struct cmk_request *req, char *out, size_t n)
{
    const char *h = cmk_request_header(req, "host");
    if (h == NULL || *h == '\0')
        h = req->host;
    size_t len = h ? strlen(h) : 0;
    int ok = len > 0 && len < n && len < 200;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':'))
            ok = 0;
    }
    if (!ok) {
        snprintf(out, n, "%s", CLOUD_LOGIN);
        return;
    }
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    if (len > 4 && strcmp(out + len - 4, ":443") == 0) /* the default port is not named */
        out[len - 4] = '\0';
}

static void no_cache(struct cmk_response *res)
{
    cmk_response_header(res, "Cache-Control", "no-store, no-cache");
    cmk_response_header(res, "Pragma", "no-cache");
}

static int is_guid36(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-'
                                                      : !isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static void aad_error(struct cp_identity *ids, struct cmk_request *req, struct cmk_response *res,
                      int status, const char *error, int code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void aad_error(struct cp_identity *ids, struct cmk_request *req, struct cmk_response *res,
                      int status, const char *error, int code, const char *fmt, ...)
{
    char msg[1024], trace[37], corr[37], ts[48], when[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cmk_rng_guid(&ids->trace_rng, trace);
    const char *cri = cmk_request_header(req, "client-request-id");
    if (is_guid36(cri))
        snprintf(corr, sizeof(corr), "%s", cri);
    else
        cmk_rng_guid(&ids->trace_rng, corr);
    /* Entra's "2026-01-01 00:00:00Z": ISO time without the T and the milliseconds. */
    cmk_time_format(cmk_clock_now(&ids->rt->clock), when, sizeof(when));
    snprintf(ts, sizeof(ts), "%.10s %.8sZ", when, when + 11);
    struct cmk_buf d;
    cmk_buf_init(&d);
    cmk_buf_printf(&d, "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code,
                   msg, trace, corr, ts);
    char uri[96];
    snprintf(uri, sizeof(uri), "https://%s/error?code=%d", CLOUD_LOGIN, code);
    json_t *j = json_pack("{s:s, s:s, s:[i], s:s, s:s, s:s, s:s}", "error", error,
                          "error_description", d.data, "error_codes", code, "timestamp", ts,
                          "trace_id", trace, "correlation_id", corr, "error_uri", uri);
    cmk_buf_close(&d);
    no_cache(res);
    cmk_response_header(res, "x-ms-request-id", trace);
    cmk_response_json(res, status, j);
}

/* Tenant in the path: an id or domain of ours. "common" and friends are names of the
 * multi-tenant endpoints; *multi tells the caller. 0 if found. */
static int resolve_tenant(struct cp_identity *ids, const char *name, char *tid, int *multi)
{
    *multi = 0;
    tid[0] = '\0';
    if (name == NULL)
        return -1;
    if (!strcasecmp(name, "common") || !strcasecmp(name, "organizations") ||
        !strcasecmp(name, "consumers")) {
        *multi = 1;
        return 0;
    }
    return cp_identity_tenant_find(ids->rt, name, tid, NULL) == 0 ? 0 : -1;
}

static void tenant_not_found(struct cp_identity *ids, struct cmk_request *req,
                             struct cmk_response *res, const char *error, const char *name)
{
    aad_error(ids, req, res, 400, error, 90002,
              "Tenant '%.100s' not found. Check to make sure you have the correct tenant ID and "
              "are signing into the correct cloud. Check with your subscription administrator, "
              "this may happen if there are no active subscriptions for the tenant.",
              name ? name : "");
}

/* ---- the token endpoints ---- */

/* From the v2 scope list, the one resource asked for (".default" of one resource). OIDC
 * scopes that MSAL may add are ignored. Returns 0, or the AADSTS code of the complaint. */
static int scope_resource(const char *scope, char *out, size_t n)
{
    char *copy = cmk_xstrdup(scope);
    int rc = 0, found = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (!strcmp(tok, "openid") || !strcmp(tok, "profile") || !strcmp(tok, "offline_access") ||
            !strcmp(tok, "email"))
            continue;
        size_t l = strlen(tok);
        if (l <= 9 || strcasecmp(tok + l - 9, "/.default") != 0) {
            snprintf(out, n, "%s", tok);
            rc = 1002012;
            break;
        }
        if (found && strcasecmp(out, tok) != 0) {
            rc = 28000;
            break;
        }
        snprintf(out, n, "%s", tok);
        found = 1;
    }
    free(copy);
    if (rc == 0 && !found) {
        snprintf(out, n, "%s", scope);
        rc = 1002012;
    }
    return rc;
}

/* "Basic base64(urlenc(id):urlenc(secret))" (client_secret_basic). */
static int basic_credentials(const struct cmk_request *req, char **id, char **secret)
{
    const char *h = cmk_request_header(req, "authorization");
    *id = *secret = NULL;
    if (h == NULL || strncasecmp(h, "Basic ", 6) != 0 || strlen(h) > 2048)
        return -1;
    size_t n = 0;
    unsigned char *raw = cmk_b64_decode(h + 6, strlen(h + 6), &n);
    if (raw == NULL)
        return -1;
    char *s = cmk_xstrndup((const char *)raw, n);
    OPENSSL_cleanse(raw, n);
    free(raw);
    char *colon = strchr(s, ':');
    if (colon == NULL || strlen(s) != n) {
        OPENSSL_cleanse(s, n);
        free(s);
        return -1;
    }
    *colon = '\0';
    *id = cmk_xstrdup(s);
    *secret = cmk_xstrdup(colon + 1);
    OPENSSL_cleanse(s, n);
    free(s);
    if (cmk_url_decode(*id, strlen(*id), 1) < 0 || cmk_url_decode(*secret, strlen(*secret), 1) < 0)
        return -1;
    return 0;
}

static void token_endpoint(struct cmk_request *req, struct cmk_response *res, void *data, int v1)
{
    struct cp_identity *ids = data;
    const char *tname = cmk_request_param(req, "tenant");
    char tid[37], host[256], aud[256], resource[512];
    int multi;
    struct form fm = {.n = 0};
    char *basic_id = NULL, *basic_secret = NULL;
    request_host(req, host, sizeof(host));

    if (resolve_tenant(ids, tname, tid, &multi) != 0) {
        tenant_not_found(ids, req, res, "invalid_request", tname);
        goto done;
    }
    if (req->body.len > FORM_MAX_BODY ||
        form_parse(&fm, req->body.data ? req->body.data : "", req->body.len) != 0) {
        aad_error(ids, req, res, 400, "invalid_request", 90014,
                  "The request body is malformed or too large.");
        goto done;
    }
    const char *grant = form_get(&fm, "grant_type");
    if (grant == NULL || *grant == '\0') {
        aad_error(ids, req, res, 400, "invalid_request", 900144,
                  "The request body must contain the following parameter: 'grant_type'.");
        goto done;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        aad_error(ids, req, res, 400, "unsupported_grant_type", 70003,
                  "The app requested an unsupported grant type '%.64s'.", grant);
        goto done;
    }
    const char *client_id = form_get(&fm, "client_id");
    const char *secret = form_get(&fm, "client_secret");
    if ((client_id == NULL || secret == NULL) &&
        basic_credentials(req, &basic_id, &basic_secret) == 0) {
        if (client_id == NULL)
            client_id = basic_id;
        if (secret == NULL)
            secret = basic_secret;
    }
    if (client_id == NULL || *client_id == '\0') {
        aad_error(ids, req, res, 400, "invalid_request", 900144,
                  "The request body must contain the following parameter: 'client_id'.");
        goto done;
    }
    const char *what = v1 ? form_get(&fm, "resource") : form_get(&fm, "scope");
    if (what == NULL || *what == '\0') {
        aad_error(ids, req, res, 400, "invalid_request", 900144,
                  "The request body must contain the following parameter: '%s'.",
                  v1 ? "resource" : "scope");
        goto done;
    }
    if (v1) {
        snprintf(resource, sizeof(resource), "%s", what);
    } else {
        int code = scope_resource(what, resource, sizeof(resource));
        if (code == 28000) {
            aad_error(ids, req, res, 400, "invalid_scope", 28000,
                      "Provided value for the input parameter scope is not valid because it "
                      "contains more than one resource. Scope %.200s is not valid.",
                      what);
            goto done;
        }
        if (code != 0) {
            aad_error(ids, req, res, 400, "invalid_scope", 1002012,
                      "The provided value for scope %.200s is not valid. Client credential "
                      "flows must have a scope value with /.default suffixed to the resource "
                      "identifier (application ID URI).",
                      resource);
            goto done;
        }
    }
    if (multi) {
        aad_error(ids, req, res, 400, "invalid_request", 50059,
                  "No tenant-identifying information found in either the request or implied by "
                  "any provided credentials.");
        goto done;
    }
    struct cp_principal p;
    if (cp__identity_principal_find(ids->rt, client_id, &p) != 0 || strcmp(p.kind, "sp") != 0 ||
        strcmp(p.client_id, client_id) != 0 || strcasecmp(p.tenant, tid) != 0) {
        aad_error(ids, req, res, 400, "unauthorized_client", 700016,
                  "Application with identifier '%.64s' was not found in the directory '%s'. This "
                  "can happen if the application has not been installed by the administrator of "
                  "the tenant or consented to by any user in the tenant. You may have sent your "
                  "authentication request to the wrong tenant.",
                  client_id, tname);
        goto done;
    }
    if (secret == NULL || *secret == '\0') {
        aad_error(ids, req, res, 401, "invalid_client", 7000218,
                  "The request body must contain the following parameter: 'client_assertion' or "
                  "'client_secret'.");
        goto done;
    }
    if (!cp__identity_secret_ok(ids->rt, p.client_id, secret)) {
        aad_error(ids, req, res, 401, "invalid_client", 7000215,
                  "Invalid client secret provided. Ensure the secret being sent in the request is "
                  "the client secret value, not the client secret ID, for a secret added to app "
                  "'%s'.",
                  p.client_id);
        goto done;
    }
    if (cp__identity_audience(&ids->rt->hosts, resource, aud, sizeof(aud)) != 0) {
        aad_error(ids, req, res, 400, "invalid_resource", 500011,
                  "The resource principal named %.200s was not found in the tenant named %s. "
                  "This can happen if the application has not been installed by the "
                  "administrator of the tenant or consented to by any user in the tenant. You "
                  "might have sent your authentication request to the wrong tenant.",
                  resource, tname);
        goto done;
    }
    char *token = NULL;
    cmk_time_t exp = 0;
    struct cmk_err err;
    if (cp__identity_issue(ids->rt, &p, aud, host, &token, &exp, &err) != 0) {
        aad_error(ids, req, res, 500, "server_error", 90033, "%s", err.message);
        goto done;
    }
    cmk_time_t now = cmk_clock_now(&ids->rt->clock);
    /* expires_in is wall seconds (the client's cache runs on its own clock). */
    double speed = cmk_clock_speed(&ids->rt->clock);
    long long in = (long long)((double)(exp - now) / CMK_SECOND / (speed > 0 ? speed : 1));
    json_t *j;
    if (v1) {
        char sin[24], son[24], snb[24];
        snprintf(sin, sizeof(sin), "%lld", in);
        snprintf(son, sizeof(son), "%lld", (long long)(exp / CMK_SECOND));
        snprintf(snb, sizeof(snb), "%lld", (long long)(now / CMK_SECOND));
        j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "token_type", "Bearer", "expires_in",
                      sin, "ext_expires_in", sin, "expires_on", son, "not_before", snb, "resource",
                      resource, "access_token", token);
    } else {
        j = json_pack("{s:s, s:I, s:I, s:s}", "token_type", "Bearer", "expires_in", (json_int_t)in,
                      "ext_expires_in", (json_int_t)in, "access_token", token);
    }
    free(token);
    no_cache(res);
    const char *cri = cmk_request_header(req, "client-request-id");
    if (is_guid36(cri))
        cmk_response_header(res, "client-request-id", cri);
    cmk_info("identity", "token issued to app %s (tenant %s) for %s", p.client_id, p.tenant, aud);
    cmk_response_json(res, 200, j);
done:
    form_close(&fm);
    if (basic_secret != NULL)
        OPENSSL_cleanse(basic_secret, strlen(basic_secret));
    free(basic_id);
    free(basic_secret);
}

static void token_v2(struct cmk_request *req, struct cmk_response *res, void *data)
{
    token_endpoint(req, res, data, 0);
}

static void token_v1(struct cmk_request *req, struct cmk_response *res, void *data)
{
    token_endpoint(req, res, data, 1);
}

static void token_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    aad_error(data, req, res, 400, "invalid_request", 900561,
              "The endpoint only accepts POST, OPTIONS requests. Received a %s request.",
              req->method);
}

/* ---- metadata ---- */

static void openid_configuration(struct cmk_request *req, struct cmk_response *res, void *data,
                                 int v1)
{
    struct cp_identity *ids = data;
    const char *tname = cmk_request_param(req, "tenant");
    char tid[37], host[256];
    int multi;
    if (resolve_tenant(ids, tname, tid, &multi) != 0) {
        tenant_not_found(ids, req, res, "invalid_tenant", tname);
        return;
    }
    request_host(req, host, sizeof(host));
    /* Endpoints name the tenant as asked for (or its id), the issuer the tenant id. */
    const char *seg = multi ? tname : tid;
    const char *itid = multi ? "{tenantid}" : tid;
    const char *ver = v1 ? "" : "/v2.0";
    char base[512], issuer[512], jwks[512], ep[6][600];
    snprintf(base, sizeof(base), "https://%s/%s", host, seg);
    if (v1)
        snprintf(issuer, sizeof(issuer), "https://sts.windows.net/%s/", itid);
    else
        snprintf(issuer, sizeof(issuer), "https://%s/%s/v2.0", host, itid);
    snprintf(jwks, sizeof(jwks), "https://%s/%s/discovery%s/keys", host, v1 ? "common" : seg, ver);
    snprintf(ep[0], sizeof(ep[0]), "%s/oauth2%s/token", base, ver);
    snprintf(ep[1], sizeof(ep[1]), "%s/oauth2%s/authorize", base, ver);
    snprintf(ep[2], sizeof(ep[2]), "%s/oauth2%s/devicecode", base, ver);
    snprintf(ep[3], sizeof(ep[3]), "%s/oauth2%s/logout", base, ver);
    snprintf(ep[4], sizeof(ep[4]), "%s/kerberos", base);
    json_t *j = json_pack(
        "{s:s, s:[s,s,s], s:s, s:[s,s,s], s:[s], s:[s], s:[s,s,s,s], s:s, s:b, s:s, s:s, "
        "s:s, s:b, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "token_endpoint", ep[0], "token_endpoint_auth_methods_supported", "client_secret_post",
        "private_key_jwt", "client_secret_basic", "jwks_uri", jwks, "response_modes_supported",
        "query", "fragment", "form_post", "subject_types_supported", "pairwise",
        "id_token_signing_alg_values_supported", "RS256", "response_types_supported", "code",
        "id_token", "code id_token", "id_token token", "issuer", issuer,
        "request_uri_parameter_supported", 0, "authorization_endpoint", ep[1],
        "device_authorization_endpoint", ep[2], "end_session_endpoint", ep[3],
        "http_logout_supported", 1, "frontchannel_logout_supported", 1, "kerberos_endpoint", ep[4],
        "tenant_region_scope", "EU", "cloud_instance_name", "microsoftonline.com",
        "cloud_graph_host_name", "graph.windows.net", "msgraph_host", "graph.microsoft.com",
        "rbac_url", "https://pas.windows.net", "userinfo_endpoint",
        "https://graph.microsoft.com/oidc/userinfo");
    if (!v1)
        json_object_set_new(j, "scopes_supported",
                            json_pack("[s,s,s,s]", "openid", "profile", "email", "offline_access"));
    cmk_response_header(res, "Access-Control-Allow-Origin", "*");
    cmk_response_json(res, 200, j);
}

static void oidc_v2(struct cmk_request *req, struct cmk_response *res, void *data)
{
    openid_configuration(req, res, data, 0);
}

static void oidc_v1(struct cmk_request *req, struct cmk_response *res, void *data)
{
    openid_configuration(req, res, data, 1);
}

static const char *const cloud_aliases[] = {CLOUD_LOGIN, "login.windows.net", "login.microsoft.com",
                                            "sts.windows.net", NULL};

/* GET /common/discovery/instance?api-version=1.1&authorization_endpoint=https://H/T/oauth2/... */
static void instance_discovery(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    const char *ae = cmk_request_query(req, "authorization_endpoint");
    if (ae == NULL || *ae == '\0') {
        aad_error(ids, req, res, 400, "invalid_request", 90014,
                  "The required field 'authorization_endpoint' is missing from the request.");
        return;
    }
    char host[256], tenant[128];
    const char *p = strncasecmp(ae, "https://", 8) == 0 ? ae + 8 : NULL;
    size_t hl = p ? strcspn(p, "/?#") : 0;
    size_t tl = p && p[hl] == '/' ? strcspn(p + hl + 1, "/?#") : 0;
    if (p == NULL || hl == 0 || hl >= sizeof(host) || tl == 0 || tl >= sizeof(tenant)) {
        aad_error(ids, req, res, 400, "invalid_instance", 50049, "Unknown or invalid instance.");
        return;
    }
    for (size_t i = 0; i < hl; i++)
        host[i] = (char)tolower((unsigned char)p[i]);
    host[hl] = '\0';
    memcpy(tenant, p + hl + 1, tl);
    tenant[tl] = '\0';
    int ours = cmk_hosts_classify(&ids->rt->hosts, host, NULL, 0) == CMK_HOST_LOGIN;
    int alias = 0;
    for (size_t i = 0; cloud_aliases[i]; i++)
        alias |= strcasecmp(host, cloud_aliases[i]) == 0;
    if (!ours && !alias) {
        aad_error(ids, req, res, 400, "invalid_instance", 50049, "Unknown or invalid instance.");
        return;
    }
    char tde[512], local[160];
    snprintf(tde, sizeof(tde), "https://%s/%s%s/.well-known/openid-configuration",
             ours ? host : CLOUD_LOGIN, tenant, strstr(ae, "/oauth2/v2.0/") ? "/v2.0" : "");
    cmk_hosts_name(&ids->rt->hosts, CMK_HOST_LOGIN, NULL, 0, local, sizeof(local));
    json_t *aliases = json_array();
    for (size_t i = 0; cloud_aliases[i]; i++)
        json_array_append_new(aliases, json_string(cloud_aliases[i]));
    json_t *md = json_pack("[{s:s, s:s, s:o}]", "preferred_network", CLOUD_LOGIN, "preferred_cache",
                           "login.windows.net", "aliases", aliases);
    /* The local login host is its own cloud: MSAL must keep sending to it, not to the real
     * preferred_network. A port, if the client used one, is part of MSAL's host key. */
    json_array_append_new(md, json_pack("{s:s, s:s, s:[s]}", "preferred_network", local,
                                        "preferred_cache", local, "aliases", local));
    if (ours && strcmp(host, local) != 0 && strcasecmp(host, CLOUD_LOGIN) != 0)
        json_array_append_new(md, json_pack("{s:s, s:s, s:[s]}", "preferred_network", host,
                                            "preferred_cache", host, "aliases", host));
    const char *apiv = cmk_request_query(req, "api-version");
    json_t *j = json_pack("{s:s, s:s, s:o}", "tenant_discovery_endpoint", tde, "api-version",
                          apiv && *apiv && strlen(apiv) < 16 ? apiv : "1.1", "metadata", md);
    cmk_response_json(res, 200, j);
}

static void keys(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    const char *tname = cmk_request_param(req, "tenant");
    char tid[37];
    int multi;
    if (tname != NULL && resolve_tenant(ids, tname, tid, &multi) != 0) {
        tenant_not_found(ids, req, res, "invalid_tenant", tname);
        return;
    }
    cmk_response_header(res, "Access-Control-Allow-Origin", "*");
    cmk_response_json(res, 200, cmk_auth_jwks(ids->rt->auth));
}

static const struct cmk_route login_routes[] = {
    {"POST", "/{tenant}/oauth2/v2.0/token", token_v2},
    {"GET", "/{tenant}/oauth2/v2.0/token", token_get},
    {"POST", "/{tenant}/oauth2/token", token_v1},
    {"GET", "/{tenant}/oauth2/token", token_get},
    {"GET", "/{tenant}/v2.0/.well-known/openid-configuration", oidc_v2},
    {"GET", "/{tenant}/.well-known/openid-configuration", oidc_v1},
    {"GET", "/common/discovery/instance", instance_discovery},
    {"GET", "/{tenant}/discovery/instance", instance_discovery},
    {"GET", "/{tenant}/discovery/v2.0/keys", keys},
    {"GET", "/{tenant}/discovery/keys", keys},
    {"GET", "/discovery/keys", keys},
    {NULL, NULL, NULL},
};

void cp__identity_login_routes(struct cp_identity *ids)
{
    cmk_router_add_table(&ids->rt->router, CMK_HOST_LOGIN, login_routes, ids);
}
