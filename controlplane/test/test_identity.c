/* test_identity.c: the identity service as its clients see it, through the in-process door of
 * the router, on a runtime with the virtual clock: client-credentials tokens (v2 and v1) and
 * every AAD error path, OpenID metadata, instance discovery and keys, the App Service-style
 * managed identity endpoint, user-assigned identities on the ARM core (create, get, list,
 * update, delete) with their tokens failing after delete, the in-process token API, service
 * principals in other tenants, and all of it surviving a reopen of the state directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arm.h"
#include "common/auth.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/runtime.h"
#include "controlplane/identity.h"

#define LOGIN   "https://login.microsoftonline.com"
#define MGMT    "https://management.azure.com"
#define SUB     CP_IDENTITY_DEFAULT_SUBSCRIPTION
#define TENANT  CP_IDENTITY_DEFAULT_TENANT
#define ADMIN   CP_IDENTITY_ADMIN_CLIENT_ID
#define SECRET  CP_IDENTITY_ADMIN_SECRET
#define MI_API  "api-version=2023-01-31"
#define RG_PATH "/subscriptions/" SUB "/resourcegroups/rg1"
#define MI_PATH                                                                                    \
    "/subscriptions/" SUB "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/"               \
    "userAssignedIdentities"

static char base[64];
static uv_loop_t loop;
static struct cmk_runtime rt;
static struct cmk_arm *arm;
static struct cp_identity *ids;
static const char *const vault_aud[] = {"https://vault.azure.net", NULL};

static void open_all(void)
{
    uv_loop_init(&loop);
    struct cmk_runtime_opts o = {
        .data_dir = base, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 7, .suffix = "localhost"};
    struct cmk_err err;
    int rc = cmk_runtime_open(&rt, &loop, &o, &err);
    if (rc != 0)
        fail_msg("runtime: %s", err.message);
    rc = cmk_arm_open(&arm, &rt, &err);
    if (rc != 0)
        fail_msg("arm: %s", err.message);
    rc = cp_identity_init(&ids, &rt, &err);
    if (rc != 0)
        fail_msg("identity: %s", err.message);
}

static void close_all(void)
{
    cp_identity_free(ids);
    cmk_arm_free(arm);
    cmk_runtime_close(&rt);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ids = NULL;
    arm = NULL;
}

static int setup(void **state)
{
    snprintf(base, sizeof(base), "/tmp/cmk-test-identity-XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    cmk_log_setup(NULL, stderr, CMK_LOG_WARN);
    open_all();
    return 0;
}

static int teardown(void **state)
{
    close_all();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- requests through the in-process door ---- */

struct answer {
    int status;
    json_t *body; /* NULL if not JSON */
};

static struct answer call(const char *method, const char *url, const char *body,
                          const char *const *headers)
{
    struct cmk_request req;
    struct cmk_response res;
    assert_int_equal(cmk_request_init(&req, method, url, NULL), 0);
    for (size_t i = 0; headers && headers[i]; i += 2)
        cmk_request_add_header(&req, headers[i], headers[i + 1]);
    if (body != NULL) {
        cmk_request_set_body(&req, body, strlen(body));
        cmk_request_add_header(&req, "content-type", "application/x-www-form-urlencoded");
    }
    cmk_response_init(&res);
    cmk_router_dispatch(&rt.router, &req, &res);
    struct answer a = {res.status, cmk_response_json_body(&res)};
    cmk_response_close(&res);
    cmk_request_close(&req);
    return a;
}

static struct answer call_json(const char *method, const char *url, const char *token,
                               const char *json)
{
    struct cmk_request req;
    struct cmk_response res;
    assert_int_equal(cmk_request_init(&req, method, url, NULL), 0);
    char auth[4096];
    snprintf(auth, sizeof(auth), "Bearer %s", token);
    cmk_request_add_header(&req, "authorization", auth);
    if (json != NULL) {
        cmk_request_set_body(&req, json, strlen(json));
        cmk_request_add_header(&req, "content-type", "application/json");
    }
    cmk_response_init(&res);
    cmk_router_dispatch(&rt.router, &req, &res);
    struct answer a = {res.status, cmk_response_json_body(&res)};
    cmk_response_close(&res);
    cmk_request_close(&req);
    return a;
}

static const char *str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

/* POST the client-credentials form to the v2 endpoint of tenant. */
static struct answer token_v2(const char *tenant, const char *form)
{
    char url[256];
    snprintf(url, sizeof(url), LOGIN "/%s/oauth2/v2.0/token", tenant);
    return call("POST", url, form, NULL);
}

static char *admin_token(const char *scope)
{
    char form[512];
    snprintf(form, sizeof(form),
             "grant_type=client_credentials&client_id=" ADMIN "&client_secret=%s&scope=%s", SECRET,
             scope);
    struct answer a = token_v2(TENANT, form);
    assert_int_equal(a.status, 200);
    char *t = strdup(str(a.body, "access_token"));
    json_decref(a.body);
    return t;
}

static const char *verify(const char *token, const char *const *aud, struct cmk_principal *p)
{
    static struct cmk_err err;
    char h[4096];
    snprintf(h, sizeof(h), "Bearer %s", token);
    memset(&err, 0, sizeof(err));
    return cmk_auth_verify(rt.auth, h, cmk_clock_now(&rt.clock), aud, p, &err) == 0 ? ""
                                                                                    : err.inner;
}

/* The AAD error body: error, AADSTS code first in the description, the code in error_codes,
 * ids and timestamp present. */
static void assert_aad_error(struct answer a, int status, const char *error, int code)
{
    assert_int_equal(a.status, status);
    assert_non_null(a.body);
    assert_string_equal(str(a.body, "error"), error);
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "AADSTS%d: ", code);
    assert_memory_equal(str(a.body, "error_description"), prefix, strlen(prefix));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(a.body, "error_codes"), 0)),
                     code);
    assert_int_equal(strlen(str(a.body, "trace_id")), 36);
    assert_int_equal(strlen(str(a.body, "correlation_id")), 36);
    const char *ts = str(a.body, "timestamp"); /* "2026-01-01 00:00:00Z" */
    assert_int_equal(strlen(ts), 20);
    assert_memory_equal(ts, "2026-01-01 ", 11);
    assert_int_equal(ts[19], 'Z');
    json_decref(a.body);
}

/* ---- client credentials ---- */

static void test_client_credentials(void **state)
{
    struct answer a =
        token_v2(TENANT, "grant_type=client_credentials&client_id=" ADMIN "&client_secret=" SECRET
                         "&scope=https%3A%2F%2Fvault.azure.net%2F.default");
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "token_type"), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(a.body, "expires_in")), 3600);
    assert_int_equal(json_integer_value(json_object_get(a.body, "ext_expires_in")), 3600);
    struct cmk_principal p;
    assert_string_equal(verify(str(a.body, "access_token"), vault_aud, &p), "");
    assert_string_equal(p.tid, TENANT);
    assert_string_equal(p.appid, ADMIN);
    assert_string_equal(p.oid, CP_IDENTITY_ADMIN_OBJECT_ID);
    assert_string_equal(p.aud, "https://vault.azure.net");
    assert_string_equal(p.iss, "https://sts.windows.net/" TENANT "/");
    assert_string_equal(p.idtyp, "app");
    assert_int_equal(p.exp - p.iat, CMK_HOUR);
    json_decref(a.body);

    /* The tenant by its domain, the az-style double-slash scope, client_secret_basic. */
    static const char *const basic[] = {
        "authorization",
        "Basic YWQwMDAwMDAtYzBkZS00MDAwLTgwMDAtMDAwMDAwMDAwMDAxOmNta3NpbX5hZG1pbi5zZWNyZXQtZm9y"
        "LWxvY2FsLXVzZS1vbmx5",
        NULL};
    a = call("POST", LOGIN "/" CP_IDENTITY_DEFAULT_DOMAIN "/oauth2/v2.0/token",
             "grant_type=client_credentials&scope=https://management.core.windows.net//.default "
             "offline_access openid profile",
             basic);
    assert_int_equal(a.status, 200);
    static const char *const arm_aud[] = {"https://management.core.windows.net/", NULL};
    assert_string_equal(verify(str(a.body, "access_token"), arm_aud, &p), "");
    assert_string_equal(p.aud, "https://management.core.windows.net/");
    json_decref(a.body);

    /* v1: resource=, numbers as strings, resource echoed. */
    a = call("POST", LOGIN "/" TENANT "/oauth2/token",
             "grant_type=client_credentials&client_id=" ADMIN "&client_secret=" SECRET
             "&resource=https%3A%2F%2Fmanagement.azure.com%2F",
             NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "expires_in"), "3600");
    assert_string_equal(str(a.body, "resource"), "https://management.azure.com/");
    assert_string_equal(str(a.body, "expires_on"), "1767229200");
    assert_string_equal(str(a.body, "not_before"), "1767225600");
    json_decref(a.body);

    /* A local-suffix resource is an audience too. */
    a = token_v2(TENANT, "grant_type=client_credentials&client_id=" ADMIN "&client_secret=" SECRET
                         "&scope=https://vault.localhost/.default");
    assert_int_equal(a.status, 200);
    json_decref(a.body);
}

static void test_client_credentials_errors(void **state)
{
    const char *ok =
        "&client_id=" ADMIN "&client_secret=" SECRET "&scope=https://vault.azure.net/.default";
    char form[512];
    snprintf(form, sizeof(form), "grant_type=client_credentials%s", ok);
    assert_aad_error(token_v2("00000000-dead-4000-8000-000000000000", form), 400, "invalid_request",
                     90002);
    assert_aad_error(token_v2("nosuch.onmicrosoft.com", form), 400, "invalid_request", 90002);
    assert_aad_error(token_v2("common", form), 400, "invalid_request", 50059);
    assert_aad_error(token_v2(TENANT, ok + 1), 400, "invalid_request", 900144);
    snprintf(form, sizeof(form), "grant_type=password%s", ok);
    assert_aad_error(token_v2(TENANT, form), 400, "unsupported_grant_type", 70003);
    assert_aad_error(token_v2(TENANT, "grant_type=client_credentials&client_secret=x&scope="
                                      "https://vault.azure.net/.default"),
                     400, "invalid_request", 900144);
    assert_aad_error(
        token_v2(TENANT, "grant_type=client_credentials&client_id=" ADMIN "&client_secret=" SECRET),
        400, "invalid_request", 900144);
    assert_aad_error(token_v2(TENANT,
                              "grant_type=client_credentials&client_id=" ADMIN
                              "&client_secret=" SECRET "&scope=https://vault.azure.net/keys.read"),
                     400, "invalid_scope", 1002012);
    assert_aad_error(token_v2(TENANT,
                              "grant_type=client_credentials&client_id=" ADMIN
                              "&client_secret=" SECRET "&scope=https://vault.azure.net/.default+"
                              "https://management.azure.com/.default"),
                     400, "invalid_scope", 28000);
    assert_aad_error(token_v2(TENANT, "grant_type=client_credentials&client_id=0f0f0f0f-0000-4000-"
                                      "8000-000000000000&client_secret=x&scope=https://"
                                      "vault.azure.net/.default"),
                     400, "unauthorized_client", 700016);
    assert_aad_error(token_v2(TENANT, "grant_type=client_credentials&client_id=" ADMIN
                                      "&scope=https://vault.azure.net/.default"),
                     401, "invalid_client", 7000218);
    assert_aad_error(token_v2(TENANT, "grant_type=client_credentials&client_id=" ADMIN
                                      "&client_secret=wrong-secret&scope=https://"
                                      "vault.azure.net/.default"),
                     401, "invalid_client", 7000215);
    assert_aad_error(token_v2(TENANT, "grant_type=client_credentials&client_id=" ADMIN
                                      "&client_secret=" SECRET
                                      "&scope=https://unknown.example.com/.default"),
                     400, "invalid_resource", 500011);
    assert_aad_error(token_v2(TENANT, "grant_type=client_credentials&client_id=%zz"), 400,
                     "invalid_request", 90014);
    assert_aad_error(call("GET", LOGIN "/" TENANT "/oauth2/v2.0/token", NULL, NULL), 400,
                     "invalid_request", 900561);
    assert_aad_error(call("POST", LOGIN "/" TENANT "/oauth2/token",
                          "grant_type=client_credentials&client_id=" ADMIN "&client_secret=" SECRET,
                          NULL),
                     400, "invalid_request", 900144);

    /* The caller's client-request-id comes back as the correlation id; the secret never
     * appears in an answer. */
    static const char *const cri[] = {"client-request-id", "12345678-1234-4234-8234-123456789abc",
                                      NULL};
    struct answer a = call("POST", LOGIN "/" TENANT "/oauth2/v2.0/token",
                           "grant_type=client_credentials&client_id=" ADMIN
                           "&client_secret=wrong-secret-value&scope=https://vault.azure.net/"
                           ".default",
                           cri);
    assert_string_equal(str(a.body, "correlation_id"), "12345678-1234-4234-8234-123456789abc");
    char *dump = json_dumps(a.body, 0);
    assert_null(strstr(dump, "wrong-secret-value"));
    free(dump);
    json_decref(a.body);
}

static void test_token_expiry_on_clock(void **state)
{
    char *t = admin_token("https://vault.azure.net/.default");
    assert_string_equal(verify(t, vault_aud, NULL), "");
    static const char *const other[] = {"https://management.azure.com", NULL};
    assert_string_equal(verify(t, other, NULL), "InvalidAudience");
    cmk_clock_advance(&rt.clock, CMK_HOUR + 4 * CMK_MINUTE);
    assert_string_equal(verify(t, vault_aud, NULL), ""); /* within the 5 minutes of skew */
    cmk_clock_advance(&rt.clock, 2 * CMK_MINUTE);
    assert_string_equal(verify(t, vault_aud, NULL), "TokenExpired");
    free(t);
}

/* ---- metadata ---- */

static void test_openid_metadata(void **state)
{
    struct answer a =
        call("GET", LOGIN "/" TENANT "/v2.0/.well-known/openid-configuration", NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "issuer"), LOGIN "/" TENANT "/v2.0");
    assert_string_equal(str(a.body, "token_endpoint"), LOGIN "/" TENANT "/oauth2/v2.0/token");
    assert_string_equal(str(a.body, "authorization_endpoint"),
                        LOGIN "/" TENANT "/oauth2/v2.0/authorize");
    assert_string_equal(str(a.body, "jwks_uri"), LOGIN "/" TENANT "/discovery/v2.0/keys");
    assert_string_equal(str(a.body, "end_session_endpoint"),
                        LOGIN "/" TENANT "/oauth2/v2.0/logout");
    json_decref(a.body);

    /* By domain: endpoints name the tenant id. Through a local host with a port: that host. */
    a = call("GET",
             "https://login.localhost:8443/" CP_IDENTITY_DEFAULT_DOMAIN
             "/v2.0/.well-known/openid-configuration",
             NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "token_endpoint"),
                        "https://login.localhost:8443/" TENANT "/oauth2/v2.0/token");
    json_decref(a.body);

    a = call("GET", LOGIN "/organizations/v2.0/.well-known/openid-configuration", NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "issuer"), LOGIN "/{tenantid}/v2.0");
    assert_string_equal(str(a.body, "token_endpoint"), LOGIN "/organizations/oauth2/v2.0/token");
    json_decref(a.body);

    a = call("GET", LOGIN "/common/.well-known/openid-configuration", NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "issuer"), "https://sts.windows.net/{tenantid}/");
    assert_string_equal(str(a.body, "token_endpoint"), LOGIN "/common/oauth2/token");
    json_decref(a.body);

    assert_aad_error(
        call("GET", LOGIN "/nosuch.example/v2.0/.well-known/openid-configuration", NULL, NULL), 400,
        "invalid_tenant", 90002);

    a = call("GET", LOGIN "/" TENANT "/discovery/v2.0/keys", NULL, NULL);
    assert_int_equal(a.status, 200);
    json_t *k = json_array_get(json_object_get(a.body, "keys"), 0);
    assert_string_equal(str(k, "kid"), cmk_auth_kid(rt.auth));
    assert_string_equal(str(k, "kty"), "RSA");
    json_decref(a.body);
}

static void test_instance_discovery(void **state)
{
    struct answer a =
        call("GET",
             LOGIN "/common/discovery/instance?api-version=1.1&authorization_"
                   "endpoint=https://login.microsoftonline.com/" TENANT "/oauth2/v2.0/authorize",
             NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "tenant_discovery_endpoint"),
                        LOGIN "/" TENANT "/v2.0/.well-known/openid-configuration");
    json_t *md = json_object_get(a.body, "metadata");
    assert_true(json_array_size(md) >= 2);
    json_t *cloud = json_array_get(md, 0);
    assert_string_equal(str(cloud, "preferred_network"), "login.microsoftonline.com");
    assert_string_equal(str(cloud, "preferred_cache"), "login.windows.net");
    assert_string_equal(json_string_value(json_array_get(json_object_get(cloud, "aliases"), 0)),
                        "login.microsoftonline.com");
    json_t *loc = json_array_get(md, 1);
    assert_string_equal(str(loc, "preferred_network"), "login.localhost");
    json_decref(a.body);

    /* A local authority with a port: discovery points back at it, and names it an alias. */
    a = call("GET",
             LOGIN
             "/common/discovery/instance?api-version=1.1&authorization_endpoint="
             "https%3A%2F%2Flogin.localhost%3A8443%2Forganizations%2Foauth2%2Fv2.0%2Fauthorize",
             NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "tenant_discovery_endpoint"),
                        "https://login.localhost:8443/organizations/v2.0/.well-known/"
                        "openid-configuration");
    md = json_object_get(a.body, "metadata");
    assert_string_equal(str(json_array_get(md, 2), "preferred_network"), "login.localhost:8443");
    json_decref(a.body);

    assert_aad_error(call("GET",
                          LOGIN "/common/discovery/instance?api-version=1.1&authorization_"
                                "endpoint=https://evil.example.com/t/oauth2/v2.0/authorize",
                          NULL, NULL),
                     400, "invalid_instance", 50049);
    assert_aad_error(call("GET", LOGIN "/common/discovery/instance?api-version=1.1", NULL, NULL),
                     400, "invalid_request", 90014);
}

/* ---- managed identities ---- */

static void ensure_group(const char *token)
{
    struct answer a = call_json("PUT", MGMT RG_PATH "?api-version=2021-04-01", token,
                                "{\"location\":\"westeurope\"}");
    assert_true(a.status == 200 || a.status == 201);
    json_decref(a.body);
}

static struct answer msi(const char *query, const char *header)
{
    char url[1200];
    snprintf(url, sizeof(url), MGMT "/msi/token?%s", query);
    const char *const h[] = {"x-identity-header", header, NULL};
    return call("GET", url, NULL, header ? h : NULL);
}

static void test_identity_lifecycle(void **state)
{
    char *arm_token = admin_token("https://management.azure.com/.default");
    ensure_group(arm_token);

    struct answer a = call_json("PUT", MGMT MI_PATH "/id-one?" MI_API, arm_token,
                                "{\"location\":\"West Europe\",\"tags\":{\"env\":\"test\"}}");
    assert_int_equal(a.status, 201);
    assert_string_equal(str(a.body, "name"), "id-one");
    assert_string_equal(str(a.body, "type"), "Microsoft.ManagedIdentity/userAssignedIdentities");
    assert_string_equal(str(a.body, "location"), "westeurope");
    json_t *props = json_object_get(a.body, "properties");
    assert_string_equal(str(props, "tenantId"), TENANT);
    char principal[37], client[37];
    snprintf(principal, sizeof(principal), "%s", str(props, "principalId"));
    snprintf(client, sizeof(client), "%s", str(props, "clientId"));
    assert_int_equal(strlen(principal), 36);
    assert_int_equal(strlen(client), 36);
    assert_string_not_equal(principal, client);
    json_decref(a.body);

    /* Update: tags change, ids stay. A new location is refused. */
    a = call_json("PUT", MGMT MI_PATH "/id-one?" MI_API, arm_token,
                  "{\"location\":\"westeurope\",\"tags\":{\"env\":\"prod\"}}");
    assert_int_equal(a.status, 200);
    assert_string_equal(str(json_object_get(a.body, "properties"), "principalId"), principal);
    assert_string_equal(str(json_object_get(a.body, "tags"), "env"), "prod");
    json_decref(a.body);
    a = call_json("PUT", MGMT MI_PATH "/id-one?" MI_API, arm_token, "{\"location\":\"eastus\"}");
    assert_int_equal(a.status, 400);
    json_decref(a.body);
    a = call_json("PUT", MGMT MI_PATH "/x?" MI_API, arm_token, "{\"location\":\"eastus\"}");
    assert_int_equal(a.status, 400); /* name too short */
    json_decref(a.body);

    a = call_json("PATCH", MGMT MI_PATH "/id-one?" MI_API, arm_token,
                  "{\"tags\":{\"team\":\"db\"},\"properties\":{\"principalId\":\"forged\"}}");
    assert_int_equal(a.status, 200);
    assert_string_equal(str(json_object_get(a.body, "properties"), "principalId"), principal);
    assert_string_equal(str(json_object_get(a.body, "tags"), "team"), "db");
    json_decref(a.body);

    a = call_json("PUT", MGMT MI_PATH "/id-two?" MI_API, arm_token, "{\"location\":\"eastus\"}");
    assert_int_equal(a.status, 201);
    json_decref(a.body);

    /* GET, LIST by group and by subscription. */
    a = call_json("GET", MGMT MI_PATH "/id-one?" MI_API, arm_token, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(json_object_get(a.body, "properties"), "clientId"), client);
    json_decref(a.body);
    a = call_json("GET", MGMT MI_PATH "?" MI_API, arm_token, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_array_size(json_object_get(a.body, "value")), 2);
    json_decref(a.body);
    a = call_json("GET",
                  MGMT "/subscriptions/" SUB
                       "/providers/Microsoft.ManagedIdentity/userAssignedIdentities?" MI_API,
                  arm_token, NULL);
    assert_int_equal(a.status, 200);
    assert_true(json_array_size(json_object_get(a.body, "value")) >= 2);
    json_decref(a.body);

    /* The managed identity endpoint: header required, by client id, object id or resource id. */
    const char *hdr = cp_identity_msi_header(ids);
    char q[1024];
    snprintf(q, sizeof(q), "resource=https://vault.azure.net&api-version=2019-08-01&client_id=%s",
             client);
    a = msi(q, NULL);
    assert_int_equal(a.status, 401);
    json_decref(a.body);
    a = msi(q, "0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(a.status, 401);
    json_decref(a.body);
    a = msi(q, hdr);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "token_type"), "Bearer");
    assert_string_equal(str(a.body, "resource"), "https://vault.azure.net");
    assert_string_equal(str(a.body, "client_id"), client);
    assert_string_equal(str(a.body, "expires_on"), "1767229200");
    char *mi_token = strdup(str(a.body, "access_token"));
    json_decref(a.body);
    struct cmk_principal p;
    assert_string_equal(verify(mi_token, vault_aud, &p), "");
    assert_string_equal(p.oid, principal);
    assert_string_equal(p.appid, client);
    assert_string_equal(p.idtyp, "mi");
    assert_string_equal(p.mirid, MI_PATH "/id-one");

    snprintf(q, sizeof(q), "resource=https://vault.azure.net&api-version=2019-08-01&object_id=%s",
             principal);
    a = msi(q, hdr);
    assert_int_equal(a.status, 200);
    json_decref(a.body);
    a = msi("resource=https://vault.azure.net&api-version=2019-08-01&mi_res_id=" MI_PATH "/id-one",
            hdr);
    assert_int_equal(a.status, 200);
    json_decref(a.body);
    a = msi("resource=https://vault.azure.net&api-version=2019-08-01", hdr); /* no selector */
    assert_int_equal(a.status, 400);
    assert_string_equal(str(a.body, "message"), "Unable to load the proper Managed Identity.");
    json_decref(a.body);
    snprintf(q, sizeof(q), "resource=https://vault.azure.net&api-version=2017-09-01&client_id=%s",
             client);
    a = msi(q, hdr);
    assert_int_equal(a.status, 400);
    json_decref(a.body);
    snprintf(q, sizeof(q), "resource=https://nope.example&api-version=2019-08-01&client_id=%s",
             client);
    a = msi(q, hdr);
    assert_int_equal(a.status, 400);
    json_decref(a.body);

    /* The in-process door for services acting as the identity. */
    char *t2 = NULL;
    struct cmk_err err;
    assert_int_equal(
        cp_identity_token(&rt, MI_PATH "/id-one", "https://vault.azure.net/.default", &t2, &err),
        0);
    assert_string_equal(verify(t2, vault_aud, &p), "");
    assert_string_equal(p.oid, principal);
    free(t2);
    assert_int_equal(cp_identity_token(&rt, client, "https://vault.azure.net", &t2, &err), 0);
    free(t2);
    assert_int_equal(cp_identity_token(&rt, ADMIN, "https://vault.azure.net", &t2, &err),
                     CMK_ENOTFOUND); /* a service principal is not a managed identity */
    assert_int_equal(err.status, 400);

    /* Delete: 200, then 404; its tokens stop working; the endpoint refuses it. */
    a = call_json("DELETE", MGMT MI_PATH "/id-one?" MI_API, arm_token, NULL);
    assert_true(a.status == 200 || a.status == 204);
    json_decref(a.body);
    a = call_json("GET", MGMT MI_PATH "/id-one?" MI_API, arm_token, NULL);
    assert_int_equal(a.status, 404);
    json_decref(a.body);
    assert_string_equal(verify(mi_token, vault_aud, NULL), "UnknownPrincipal");
    snprintf(q, sizeof(q), "resource=https://vault.azure.net&api-version=2019-08-01&client_id=%s",
             client);
    a = msi(q, hdr);
    assert_int_equal(a.status, 400);
    json_decref(a.body);
    assert_int_equal(cp_identity_token(&rt, client, "https://vault.azure.net", &t2, &err),
                     CMK_ENOTFOUND);

    /* Re-created under the same name: a new principal, which the old token is not. */
    a = call_json("PUT", MGMT MI_PATH "/id-one?" MI_API, arm_token,
                  "{\"location\":\"westeurope\"}");
    assert_int_equal(a.status, 201);
    assert_string_not_equal(str(json_object_get(a.body, "properties"), "principalId"), principal);
    json_decref(a.body);
    assert_string_equal(verify(mi_token, vault_aud, NULL), "UnknownPrincipal");
    free(mi_token);
    free(arm_token);
}

static void test_c_api_identity(void **state)
{
    struct cp_managed_identity mi;
    struct cmk_err err;
    int created = 0;
    json_t *tags = json_pack("{s:s}", "owner", "scenario");
    assert_int_equal(cp_identity_mi_put(ids, SUB, "rg1", "from-c", "eastus", NULL, tags, NULL, &mi,
                                        &created, &err),
                     0);
    json_decref(tags);
    assert_int_equal(created, 1);
    assert_string_equal(mi.p.tenant, TENANT);
    json_t *j = cp_identity_mi_json(&mi);
    assert_string_equal(str(json_object_get(j, "tags"), "owner"), "scenario");
    json_decref(j);
    /* Visible through ARM. */
    char *arm_token = admin_token("https://management.azure.com/.default");
    struct answer a = call_json("GET", MGMT MI_PATH "/from-c?" MI_API, arm_token, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(json_object_get(a.body, "properties"), "principalId"), mi.p.object_id);
    json_decref(a.body);
    cp_managed_identity_close(&mi);
    assert_int_equal(cp_identity_mi_put(ids, SUB, "no-such-group", "from-c", "eastus", NULL, NULL,
                                        NULL, NULL, NULL, &err),
                     CMK_ENOTFOUND);
    assert_int_equal(cp_identity_mi_delete(ids, SUB, "rg1", "from-c", &err), 0);
    assert_int_equal(cp_identity_mi_delete(ids, SUB, "rg1", "from-c", &err), CMK_ENOTFOUND);
    a = call_json("GET", MGMT MI_PATH "/from-c?" MI_API, arm_token, NULL);
    assert_int_equal(a.status, 404);
    json_decref(a.body);
    free(arm_token);
}

static void test_service_principals_and_tenants(void **state)
{
    char tid[37];
    struct cmk_err err;
    assert_int_equal(cp_identity_tenant_create(ids, NULL, "fabrikam.onmicrosoft.com", tid, &err),
                     0);
    assert_int_equal(cp_identity_tenant_create(ids, tid, "other.onmicrosoft.com", NULL, &err),
                     CMK_EEXIST);
    assert_int_equal(cmk_arm_tenant_exists(arm, tid), 1);
    struct cp_principal sp;
    char *secret = NULL;
    assert_int_equal(cp_identity_sp_create(ids, tid, "fabrikam-app", NULL, &sp, &secret, &err), 0);
    assert_non_null(secret);
    assert_int_equal(strlen(secret), 40);
    char form[512];
    snprintf(form, sizeof(form),
             "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=https://"
             "vault.azure.net/.default",
             sp.client_id, secret);
    struct answer a = token_v2("fabrikam.onmicrosoft.com", form);
    assert_int_equal(a.status, 200);
    struct cmk_principal p;
    char *t = strdup(str(a.body, "access_token"));
    assert_string_equal(verify(t, vault_aud, &p), "");
    assert_string_equal(p.tid, tid);
    json_decref(a.body);
    /* Not known in the default tenant. */
    assert_aad_error(token_v2(TENANT, form), 400, "unauthorized_client", 700016);
    /* Only a hash of the secret is stored. */
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(rt.db,
                                        "SELECT count(*) FROM identity_principals WHERE "
                                        "instr(CAST(secret_hash AS TEXT), ?1) > 0",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, secret, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 0);
    sqlite3_finalize(s);
    /* Deleting the principal ends its tokens and its sign-ins. */
    assert_int_equal(cp_identity_sp_delete(ids, sp.client_id, &err), 0);
    assert_string_equal(verify(t, vault_aud, NULL), "UnknownPrincipal");
    assert_aad_error(token_v2("fabrikam.onmicrosoft.com", form), 400, "unauthorized_client",
                     700016);
    free(t);
    free(secret);
    /* A chosen secret; a too-short one is refused. */
    assert_int_equal(cp_identity_sp_create(ids, NULL, "x", "short", &sp, NULL, &err), CMK_EINVAL);
    assert_int_equal(cp_identity_sp_create(ids, NULL, "ops", "a-chosen-secret", &sp, NULL, &err),
                     0);
    char *t3 = NULL;
    assert_int_equal(cp_identity_sp_token(&rt, sp.client_id, "https://vault.azure.net", &t3, &err),
                     0);
    free(t3);
}

static void test_persistence(void **state)
{
    char *arm_token = admin_token("https://management.azure.com/.default");
    struct answer a = call_json("PUT", MGMT MI_PATH "/keeper?" MI_API, arm_token,
                                "{\"location\":\"westeurope\"}");
    assert_int_equal(a.status, 201);
    char principal[37];
    snprintf(principal, sizeof(principal), "%s",
             str(json_object_get(a.body, "properties"), "principalId"));
    json_decref(a.body);
    char *mi_token = NULL;
    struct cmk_err err;
    assert_int_equal(
        cp_identity_token(&rt, MI_PATH "/keeper", "https://vault.azure.net", &mi_token, &err), 0);
    char header[65];
    snprintf(header, sizeof(header), "%s", cp_identity_msi_header(ids));
    free(arm_token);

    close_all();
    struct stat st;
    char path[160];
    snprintf(path, sizeof(path), "%s/keys/identity-header", base);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    open_all();

    /* The same header secret, identity, admin; tokens of before the restart still verify. */
    assert_string_equal(cp_identity_msi_header(ids), header);
    struct cp_managed_identity mi;
    assert_int_equal(cp_identity_mi_get(&rt, MI_PATH "/keeper", &mi, &err), 0);
    assert_string_equal(mi.p.object_id, principal);
    cp_managed_identity_close(&mi);
    assert_string_equal(verify(mi_token, vault_aud, NULL), "");
    free(mi_token);
    arm_token = admin_token("https://management.azure.com/.default");
    /* Ids after a reopen with the same seed never repeat earlier ones. */
    a = call_json("PUT", MGMT MI_PATH "/after-restart?" MI_API, arm_token,
                  "{\"location\":\"westeurope\"}");
    assert_int_equal(a.status, 201);
    const char *np = str(json_object_get(a.body, "properties"), "principalId");
    assert_int_not_equal(cp_identity_mi_get(&rt, np, &mi, &err), CMK_ENOTFOUND);
    cp_managed_identity_close(&mi);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(rt.db,
                                        "SELECT count(*), count(DISTINCT oid), "
                                        "count(DISTINCT client_id) FROM identity_principals",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), sqlite3_column_int(s, 1));
    assert_int_equal(sqlite3_column_int(s, 0), sqlite3_column_int(s, 2));
    sqlite3_finalize(s);
    json_decref(a.body);
    free(arm_token);
}

static void test_group_delete_removes_identities(void **state)
{
    char *arm_token = admin_token("https://management.azure.com/.default");
    struct answer a = call_json("PUT",
                                MGMT "/subscriptions/" SUB "/resourcegroups/rg-gone?"
                                     "api-version=2021-04-01",
                                arm_token, "{\"location\":\"eastus\"}");
    assert_true(a.status == 200 || a.status == 201);
    json_decref(a.body);
    a = call_json("PUT",
                  MGMT "/subscriptions/" SUB "/resourceGroups/rg-gone/providers/"
                       "Microsoft.ManagedIdentity/userAssignedIdentities/doomed?" MI_API,
                  arm_token, "{\"location\":\"eastus\"}");
    assert_int_equal(a.status, 201);
    char client[37];
    snprintf(client, sizeof(client), "%s", str(json_object_get(a.body, "properties"), "clientId"));
    json_decref(a.body);
    char *t = NULL;
    struct cmk_err err;
    assert_int_equal(cp_identity_token(&rt, client, "https://vault.azure.net", &t, &err), 0);
    a = call_json("DELETE",
                  MGMT "/subscriptions/" SUB "/resourcegroups/rg-gone?"
                       "api-version=2021-04-01",
                  arm_token, NULL);
    assert_true(a.status == 200 || a.status == 202);
    json_decref(a.body);
    cmk_clock_advance(&rt.clock, CMK_SECOND); /* the group deletion completes on the clock */
    struct cp_managed_identity mi;
    assert_int_equal(cp_identity_mi_get(&rt, client, &mi, &err), CMK_ENOTFOUND);
    assert_string_equal(verify(t, vault_aud, NULL), "UnknownPrincipal");
    free(t);
    free(arm_token);
}

static void test_defaults(void **state)
{
    struct cp_identity_defaults d;
    cp_identity_defaults(&d);
    assert_string_equal(d.tenant_id, CMK_ARM_DEFAULT_TENANT);
    assert_string_equal(d.subscription_id, CMK_ARM_DEFAULT_SUBSCRIPTION);
    assert_string_equal(d.admin_client_id, ADMIN);
    assert_string_equal(d.admin_client_secret, SECRET);
    json_t *j = json_object();
    cp_identity_describe(ids, j);
    assert_string_equal(str(json_object_get(j, "defaults"), "clientSecret"), SECRET);
    assert_string_equal(str(json_object_get(j, "managedIdentity"), "header"),
                        cp_identity_msi_header(ids));
    assert_int_equal(strlen(cp_identity_msi_header(ids)), 64);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_client_credentials),
        cmocka_unit_test(test_client_credentials_errors),
        cmocka_unit_test(test_openid_metadata),
        cmocka_unit_test(test_instance_discovery),
        cmocka_unit_test(test_identity_lifecycle),
        cmocka_unit_test(test_c_api_identity),
        cmocka_unit_test(test_service_principals_and_tenants),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_group_delete_removes_identities),
        /* last: it moves the clock */
        cmocka_unit_test(test_token_expiry_on_clock),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
