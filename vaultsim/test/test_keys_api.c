/* test_keys_api.c: the keys data plane as a client sees it, through the in-process door of the
 * router (the same path as HTTPS): every route with the service's shapes, and every refusal
 * path of the pipeline in its order: no token (challenge), bad/expired/wrong-audience token,
 * wrong tenant, firewall (with and without the trusted-services bypass, public access off),
 * api-version, missing access-policy permission, throttling with Retry-After; the audit log of
 * all of it; and no acknowledged write lost to kill -9. */
#include <signal.h>
#include <sys/wait.h>

#include "vs_test.h"

#define RG  "rg"
#define V   "https://kv1.vault.azure.net"
#define API "api-version=7.5"

struct ctx {
    struct t_env env;
    char *mgmt, *admin, *server, *nobody;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    t_env_new(&c->env, "keys");
    c->mgmt = t_token(&c->env, T_TENANT, T_ADMIN, "https://management.azure.com/");
    c->admin = t_token(&c->env, T_TENANT, T_ADMIN, "https://vault.azure.net");
    c->server = t_token(&c->env, T_TENANT, T_SERVER, "https://vault.azure.net/");
    c->nobody = t_token(&c->env, T_TENANT, T_NOBODY, "https://vault.azure.net");
    t_group(&c->env, c->mgmt, RG);
    t_vault_basic(&c->env, c->mgmt, RG, "kv1", "");
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    free(c->mgmt);
    free(c->admin);
    free(c->server);
    free(c->nobody);
    t_env_free(&c->env);
    free(c);
    return 0;
}

static struct t_res call(struct ctx *c, const char *method, const char *path, const char *auth,
                         const char *body)
{
    char url[1024];
    snprintf(url, sizeof(url), V "%s%s" API, path, strchr(path, '?') ? "&" : "?");
    return t_req(&c->env, method, url, auth, body);
}

static void expect(struct t_res r, int status, const char *code)
{
    if (r.status != status || (code && strcmp(t_code(&r), code) != 0))
        fail_msg("expected %d %s, got %d %s", status, code ? code : "", r.status, r.body);
    t_res_free(&r);
}

static char *field(const struct t_res *r, const char *a, const char *b)
{
    json_t *v = json_object_get(r->json, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v) ? strdup(json_string_value(v)) : NULL;
}

/* ---- the pipeline's refusals --------------------------------------------------------------- */

static void test_token_challenge(void **state)
{
    struct ctx *c = *state;
    /* no token: 401 and the challenge, even with a malformed body */
    struct t_res r = t_req_full(&c->env, "POST", V "/keys/k/create?" API, NULL, "{not json", NULL,
                                "www-authenticate");
    assert_int_equal(r.status, 401);
    assert_string_equal(t_code(&r), "Unauthorized");
    assert_string_equal(r.header,
                        "Bearer authorization=\"https://login.microsoftonline.com/" T_TENANT
                        "\", resource=\"https://vault.azure.net\"");
    assert_non_null(strstr(t_message(&r), "AKV10000"));
    t_res_free(&r);
    /* the local host family gets the local login and resource */
    r = t_req_full(&c->env, "GET", "https://kv1.vault.localhost:8443/keys?" API, NULL, NULL, NULL,
                   "www-authenticate");
    assert_int_equal(r.status, 401);
    assert_string_equal(r.header, "Bearer authorization=\"https://login.localhost:8443/" T_TENANT
                                  "\", resource=\"https://vault.localhost\"");
    t_res_free(&r);
    /* and accepts a token for it */
    char *local = t_token(&c->env, T_TENANT, T_ADMIN, "https://vault.localhost");
    r = t_req(&c->env, "GET", "https://kv1.vault.localhost:8443/keys?" API, local, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    free(local);
    /* garbage, another audience, expired */
    expect(call(c, "GET", "/keys", "Bearer abc.def.ghi", NULL), 401, "Unauthorized");
    expect(call(c, "GET", "/keys", c->mgmt, NULL), 401, "Unauthorized");
    r = call(c, "GET", "/keys", c->mgmt, NULL);
    assert_non_null(strstr(t_message(&r), "AKV10022"));
    t_res_free(&r);
    char *old = t_token(&c->env, T_TENANT, T_ADMIN, "https://vault.azure.net");
    cmk_clock_advance(&c->env.rt.clock, 2 * CMK_HOUR);
    expect(call(c, "GET", "/keys", old, NULL), 401, "Unauthorized");
    free(old);
}

static void test_tenant(void **state)
{
    struct ctx *c = *state;
    char *other = t_token(&c->env, T_OTHER_TENANT, T_ADMIN, "https://vault.azure.net");
    struct t_res r =
        t_req_full(&c->env, "GET", V "/keys?" API, other, NULL, NULL, "www-authenticate");
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(t_message(&r), "AKV10032: Invalid issuer. Expected one of "
                                          "https://sts.windows.net/" T_TENANT "/"));
    assert_non_null(strstr(r.header, T_TENANT));
    t_res_free(&r);
    free(other);
}

static void test_api_version(void **state)
{
    struct ctx *c = *state;
    static const char *const ok[] = {"7.0", "7.3", "7.4-preview.1", "7.6", "2025-07-01", NULL};
    for (int i = 0; ok[i]; i++) {
        char url[256];
        snprintf(url, sizeof(url), V "/keys?api-version=%s", ok[i]);
        expect(t_req(&c->env, "GET", url, c->admin, NULL), 200, NULL);
    }
    struct t_res r = t_req(&c->env, "GET", V "/keys?api-version=7.9", c->admin, NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(t_code(&r), "BadParameter");
    assert_string_equal(t_message(&r), "The specified version (7.9) is not recognized. Consider "
                                       "using the latest supported version (2025-07-01).");
    t_res_free(&r);
    expect(t_req(&c->env, "GET", V "/keys", c->admin, NULL), 400, "BadParameter");
}

static void set_vault(struct ctx *c, const char *extra)
{
    t_vault_basic(&c->env, c->mgmt, RG, "kv1", extra);
}

static void test_firewall(void **state)
{
    struct ctx *c = *state;
    expect(call(c, "POST", "/keys/fw/create", c->admin, "{\"kty\":\"RSA\"}"), 200, NULL);
    set_vault(c, ",\"networkAcls\":{\"defaultAction\":\"Deny\",\"bypass\":\"AzureServices\","
                 "\"ipRules\":[{\"value\":\"192.168.1.0/24\"}]}");
    struct t_res r = call(c, "GET", "/keys/fw", c->admin, NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(t_inner(&r), "ForbiddenByFirewall");
    assert_non_null(strstr(t_message(&r), "Client address is not authorized and caller is not a "
                                          "trusted service.\r\nClient address: 10.0.0.1\r\n"));
    assert_non_null(strstr(t_message(&r), "Vault: kv1;location=eastus"));
    t_res_free(&r);
    /* an address in the rules */
    struct cmk_origin in = {.kind = CMK_ORIGIN_NETWORK, .addr = "192.168.1.77"};
    r = t_req_full(&c->env, "GET", V "/keys/fw?" API, c->admin, NULL, &in, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    /* a trusted service, with the bypass */
    struct cmk_origin trusted = {.kind = CMK_ORIGIN_TRUSTED_SERVICE,
                                 .addr = "52.1.2.3",
                                 .service = "Microsoft.DBforPostgreSQL"};
    r = t_req_full(&c->env, "GET", V "/keys/fw?" API, c->server, NULL, &trusted, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    /* without the bypass */
    set_vault(c, ",\"networkAcls\":{\"defaultAction\":\"Deny\",\"bypass\":\"None\"}");
    r = t_req_full(&c->env, "GET", V "/keys/fw?" API, c->server, NULL, &trusted, NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(t_inner(&r), "ForbiddenByFirewall");
    t_res_free(&r);
    /* public network access off: only trusted services with the bypass */
    set_vault(c, ",\"publicNetworkAccess\":\"Disabled\"");
    r = t_req_full(&c->env, "GET", V "/keys/fw?" API, c->admin, NULL, &in, NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(t_inner(&r), "ForbiddenByConnection");
    assert_non_null(strstr(t_message(&r), "Public network access is disabled"));
    t_res_free(&r);
    r = t_req_full(&c->env, "GET", V "/keys/fw?" API, c->server, NULL, &trusted, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    set_vault(c, "");
    expect(call(c, "GET", "/keys/fw", c->admin, NULL), 200, NULL);
}

static void test_permissions(void **state)
{
    struct ctx *c = *state;
    expect(call(c, "POST", "/keys/p/create", c->admin, "{\"kty\":\"RSA\"}"), 200, NULL);
    struct t_res r = call(c, "POST", "/keys/p2/create", c->server, "{\"kty\":\"RSA\"}");
    assert_int_equal(r.status, 403);
    assert_string_equal(t_code(&r), "Forbidden");
    assert_string_equal(t_inner(&r), "ForbiddenByPolicy");
    assert_non_null(strstr(t_message(&r), "does not have keys create permission on key vault "
                                          "'kv1;location=eastus'"));
    assert_non_null(strstr(t_message(&r), "oid=" T_SERVER));
    t_res_free(&r);
    expect(call(c, "GET", "/keys/p", c->server, NULL), 200, NULL);
    expect(call(c, "GET", "/keys/p", c->nobody, NULL), 403, "Forbidden");
    expect(call(c, "GET", "/keys", c->server, NULL), 403, "Forbidden"); /* no list */
    expect(call(c, "DELETE", "/keys/p", c->server, NULL), 403, "Forbidden");
    /* permission checks come before the body is looked at */
    expect(call(c, "POST", "/keys/p/sign", c->server, "{broken"), 403, "Forbidden");
}

static void test_throttling(void **state)
{
    struct ctx *c = *state;
    char a[512], props[2048];
    t_policy(a, sizeof(a), T_ADMIN, "\"all\"");
    snprintf(props, sizeof(props),
             "\"tenantId\":\"" T_TENANT "\",\"sku\":{\"family\":\"A\",\"name\":\"standard\"},"
             "\"accessPolicies\":[%s]",
             a);
    char url[512], body[4096];
    t_vault_url(url, sizeof(url), RG, "slow", NULL);
    snprintf(body, sizeof(body),
             "{\"location\":\"eastus\",\"tags\":{\"cmksim-throttle\":\"3/10s\"},"
             "\"properties\":{%s}}",
             props);
    expect(t_req(&c->env, "PUT", url, c->mgmt, body), 201, NULL);
    for (int i = 0; i < 3; i++)
        expect(t_req(&c->env, "GET", "https://slow.vault.azure.net/keys?" API, c->admin, NULL), 200,
               NULL);
    struct t_res r = t_req_full(&c->env, "GET", "https://slow.vault.azure.net/keys?" API, c->admin,
                                NULL, NULL, "retry-after");
    assert_int_equal(r.status, 429);
    assert_string_equal(t_code(&r), "Throttled");
    assert_string_equal(r.header, "4");
    t_res_free(&r);
    cmk_clock_advance(&c->env.rt.clock, 4 * CMK_SECOND);
    expect(t_req(&c->env, "GET", "https://slow.vault.azure.net/keys?" API, c->admin, NULL), 200,
           NULL);
    /* another vault is not affected */
    expect(call(c, "GET", "/keys", c->admin, NULL), 200, NULL);
}

static void test_unknown(void **state)
{
    struct ctx *c = *state;
    expect(t_req(&c->env, "GET", "https://nope.vault.azure.net/keys?" API, c->admin, NULL), 404,
           NULL);
    expect(call(c, "GET", "/secrets/x", c->admin, NULL), 404, "NotFound");
    expect(call(c, "DELETE", "/keys", c->admin, NULL), 405, NULL);
}

/* ---- the routes ----------------------------------------------------------------------------- */

static void test_key_routes(void **state)
{
    struct ctx *c = *state;
    struct t_res r = t_req_full(&c->env, "POST", V "/keys/main/create?" API, c->admin,
                                "{\"kty\":\"RSA\",\"key_size\":2048,\"tags\":{\"a\":\"b\"},"
                                "\"attributes\":{\"enabled\":true}}",
                                NULL, "x-ms-keyvault-region");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.header, "eastus");
    char *kid = field(&r, "key", "kid");
    assert_true(strncmp(kid, V "/keys/main/", strlen(V "/keys/main/")) == 0);
    json_t *attrs = json_object_get(r.json, "attributes");
    assert_string_equal(json_string_value(json_object_get(attrs, "recoveryLevel")),
                        "Recoverable+Purgeable");
    assert_int_equal(json_integer_value(json_object_get(attrs, "recoverableDays")), 90);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "tags"), "a")),
                        "b");
    assert_null(json_object_get(json_object_get(r.json, "key"), "d"));
    t_res_free(&r);
    const char *version = kid + strlen(V "/keys/main/");
    /* get: latest (with the trailing slash the SDK sends), by version */
    r = call(c, "GET", "/keys/main/", c->server, NULL);
    assert_int_equal(r.status, 200);
    char *kid2 = field(&r, "key", "kid");
    assert_string_equal(kid2, kid);
    free(kid2);
    t_res_free(&r);
    char path[256];
    snprintf(path, sizeof(path), "/keys/main/%s", version);
    expect(call(c, "GET", path, c->server, NULL), 200, NULL);
    expect(call(c, "GET", "/keys/main/0123456789abcdef0123456789abcdef", c->server, NULL), 404,
           "KeyNotFound");
    /* bad bodies */
    expect(call(c, "POST", "/keys/bad/create", c->admin, "{\"kty\":\"DSA\"}"), 400, "BadParameter");
    expect(call(c, "POST", "/keys/bad/create", c->admin, "[]"), 400, "BadParameter");
    expect(call(c, "POST", "/keys/bad/create", c->admin, "{\"kty\":\"RSA\",\"key_size\":512}"), 400,
           "BadParameter");
    expect(call(c, "POST", "/keys/bad_name/create", c->admin, "{\"kty\":\"RSA\"}"), 400,
           "BadParameter");
    expect(call(c, "POST", "/keys/bad/create", c->admin,
                "{\"kty\":\"EC\",\"attributes\":{\"exp\":\"tomorrow\"}}"),
           400, "BadParameter");

    /* wrap / unwrap: versionless with an empty segment and without it, and by version */
    const char *dek = "AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8";
    char body[16384];
    snprintf(body, sizeof(body), "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}", dek);
    r = call(c, "POST", "/keys/main//wrapkey", c->server, body);
    assert_int_equal(r.status, 200);
    char *wrapped = field(&r, "value", NULL);
    char *wkid = field(&r, "kid", NULL);
    assert_string_equal(wkid, kid);
    free(wkid);
    t_res_free(&r);
    snprintf(body, sizeof(body), "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}", wrapped);
    r = call(c, "POST", "/keys/main/unwrapkey", c->server, body);
    assert_int_equal(r.status, 200);
    char *plain = field(&r, "value", NULL);
    assert_string_equal(plain, dek);
    free(plain);
    t_res_free(&r);
    snprintf(path, sizeof(path), "/keys/main/%s/unwrapkey", version);
    expect(call(c, "POST", path, c->server, body), 200, NULL);
    expect(call(c, "POST", "/keys/main/unwrapkey", c->server, "{\"alg\":\"RSA-OAEP-256\"}"), 400,
           "BadParameter");
    expect(call(c, "POST", "/keys/main/unwrapkey", c->server,
                "{\"alg\":\"RSA-OAEP-256\",\"value\":\"***\"}"),
           400, "BadParameter");
    expect(call(c, "POST", "/keys/main/unwrapkey", c->server,
                "{\"alg\":\"ROT13\",\"value\":\"AAAA\"}"),
           400, "BadParameter");
    /* encrypt/decrypt and sign/verify by the admin */
    r = call(c, "POST", "/keys/main/encrypt", c->admin,
             "{\"alg\":\"RSA1_5\",\"value\":\"aGVsbG8\"}");
    char *ct = field(&r, "value", NULL);
    t_res_free(&r);
    snprintf(body, sizeof(body), "{\"alg\":\"RSA1_5\",\"value\":\"%s\"}", ct);
    r = call(c, "POST", "/keys/main/decrypt", c->admin, body);
    plain = field(&r, "value", NULL);
    assert_string_equal(plain, "aGVsbG8");
    free(plain);
    free(ct);
    t_res_free(&r);
    r = call(c, "POST", "/keys/main/sign", c->admin,
             "{\"alg\":\"PS256\",\"value\":\""
             "AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8\"}");
    char *sig = field(&r, "value", NULL);
    t_res_free(&r);
    snprintf(body, sizeof(body), "{\"alg\":\"PS256\",\"digest\":\"%s\",\"value\":\"%s\"}", dek,
             sig);
    r = call(c, "POST", "/keys/main/verify", c->admin, body);
    assert_true(json_is_true(json_object_get(r.json, "value")));
    t_res_free(&r);
    free(sig);

    /* update: disable, then unwrap is refused, then enable */
    expect(call(c, "PATCH", "/keys/main/", c->admin, "{\"attributes\":{\"enabled\":false}}"), 200,
           NULL);
    snprintf(body, sizeof(body), "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}", wrapped);
    r = call(c, "POST", "/keys/main//unwrapkey", c->server, body);
    assert_int_equal(r.status, 403);
    assert_string_equal(t_inner(&r), "KeyDisabled");
    t_res_free(&r);
    expect(call(c, "GET", "/keys/main", c->server, NULL), 403, "Forbidden");
    snprintf(path, sizeof(path), "/keys/main/%s", version);
    r = call(c, "PATCH", path, c->admin, "{\"attributes\":{\"enabled\":true},\"tags\":{}}");
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "tags"));
    t_res_free(&r);
    free(wrapped);

    /* rotate, versions, rotation policy */
    expect(call(c, "POST", "/keys/main/rotate", c->admin, NULL), 200, NULL);
    r = call(c, "GET", "/keys/main/versions", c->admin, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 2);
    t_res_free(&r);
    r = call(c, "PUT", "/keys/main/rotationpolicy", c->admin,
             "{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P30D\"},\"action\":{"
             "\"type\":\"Rotate\"}}],\"attributes\":{\"expiryTime\":\"P60D\"}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "attributes"), "expiryTime")),
        "P60D");
    t_res_free(&r);
    r = call(c, "GET", "/keys/main/rotationpolicy", c->admin, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")),
                        V "/keys/main/rotationpolicy");
    t_res_free(&r);
    expect(call(c, "PUT", "/keys/main/rotationpolicy", c->admin,
                "{\"attributes\":{\"expiryTime\":\"P1D\"}}"),
           400, "BadParameter");

    /* import a JWK (EC P-256 with private part) */
    const char *ecjwk = "{\"key\":{\"kty\":\"EC\",\"crv\":\"P-256\","
                        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                        "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}}";
    r = call(c, "PUT", "/keys/imported", c->admin, ecjwk);
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(json_object_get(r.json, "key"), "d"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "key"), "x")),
                        "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU");
    t_res_free(&r);
    expect(call(c, "PUT", "/keys/imported2", c->admin, "{\"key\":{\"kty\":\"EC\"}}"), 400,
           "BadParameter");

    /* list pages: follow nextLink */
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/keys/page%d/create", i);
        expect(call(c, "POST", path, c->admin, "{\"kty\":\"EC\"}"), 200, NULL);
    }
    int seen = 0;
    char next[1024];
    snprintf(next, sizeof(next), V "/keys?maxresults=2&" API);
    for (int pages = 0; next[0] && pages < 10; pages++) {
        r = t_req(&c->env, "GET", next, c->admin, NULL);
        assert_int_equal(r.status, 200);
        seen += (int)json_array_size(json_object_get(r.json, "value"));
        const char *nl = json_string_value(json_object_get(r.json, "nextLink"));
        snprintf(next, sizeof(next), "%s", nl ? nl : "");
        json_t *item = json_array_get(json_object_get(r.json, "value"), 0);
        assert_null(
            strchr(json_string_value(json_object_get(item, "kid")) + strlen(V "/keys/"), '/'));
        t_res_free(&r);
    }
    assert_int_equal(seen, 5); /* main, imported, page0..2 */
    expect(call(c, "GET", "/keys?maxresults=26", c->admin, NULL), 400, "BadParameter");

    /* backup, delete, restore refused while deleted, purge, restore */
    r = call(c, "POST", "/keys/main/backup", c->admin, NULL);
    assert_int_equal(r.status, 200);
    char *blob = field(&r, "value", NULL);
    t_res_free(&r);
    r = call(c, "DELETE", "/keys/main", c->admin, NULL);
    assert_int_equal(r.status, 200);
    char *rid = field(&r, "recoveryId", NULL);
    assert_string_equal(rid, V "/deletedkeys/main");
    free(rid);
    assert_non_null(json_object_get(r.json, "scheduledPurgeDate"));
    t_res_free(&r);
    expect(call(c, "GET", "/keys/main", c->admin, NULL), 404, "KeyNotFound");
    r = call(c, "POST", "/keys/main/create", c->admin, "{\"kty\":\"RSA\"}");
    assert_int_equal(r.status, 409);
    assert_string_equal(t_inner(&r), "ObjectIsDeletedButRecoverable");
    t_res_free(&r);
    r = call(c, "GET", "/deletedkeys", c->admin, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    t_res_free(&r);
    expect(call(c, "GET", "/deletedkeys/main", c->admin, NULL), 200, NULL);
    expect(call(c, "POST", "/deletedkeys/main/recover", c->admin, NULL), 200, NULL);
    expect(call(c, "GET", "/keys/main", c->admin, NULL), 200, NULL);
    expect(call(c, "DELETE", "/keys/main", c->admin, NULL), 200, NULL);
    expect(call(c, "DELETE", "/deletedkeys/main", c->admin, NULL), 204, NULL);
    expect(call(c, "GET", "/deletedkeys/main", c->admin, NULL), 404, "KeyNotFound");
    snprintf(body, sizeof(body), "{\"value\":\"%s\"}", blob);
    r = call(c, "POST", "/keys/restore", c->admin, body);
    assert_int_equal(r.status, 200);
    kid2 = field(&r, "key", "kid");
    assert_non_null(strstr(kid2, "/keys/main/"));
    free(kid2);
    t_res_free(&r);
    expect(call(c, "POST", "/keys/restore", c->admin, body), 409, "Conflict");
    expect(call(c, "POST", "/keys/restore", c->admin, "{\"value\":\"AAAA\"}"), 400, "BadParameter");
    free(blob);

    /* random bytes, release */
    r = call(c, "POST", "/rng", c->nobody, "{\"count\":16}");
    assert_int_equal(r.status, 200);
    char *rnd = field(&r, "value", NULL);
    assert_int_equal(strlen(rnd), 22);
    free(rnd);
    t_res_free(&r);
    expect(call(c, "POST", "/rng", c->admin, "{\"count\":129}"), 400, "BadParameter");
    expect(call(c, "POST", "/keys/main/release", c->admin, "{\"target\":\"x\"}"), 403, "Forbidden");
    free(kid);
}

static void test_audit_every_request(void **state)
{
    struct ctx *c = *state;
    expect(call(c, "POST", "/keys/a/create", c->admin, "{\"kty\":\"EC\"}"), 200, NULL);
    expect(call(c, "GET", "/keys/a", NULL, NULL), 401, NULL);
    expect(call(c, "GET", "/keys/a", c->nobody, NULL), 403, NULL);
    expect(call(c, "GET", "/keys/zz", c->admin, NULL), 404, NULL);
    struct cmk_buf out;
    cmk_buf_init(&out);
    int64_t last = 0;
    struct cmk_err err;
    assert_int_equal(vs_vaults_audit_read(c->env.vs, "KV1", 0, &out, &last, &err), 0);
    int lines = 0;
    for (char *p = out.data; p && *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
    assert_non_null(strstr(out.data, "\"resultSignature\":\"Unauthorized\""));
    assert_non_null(strstr(out.data, "\"resultSignature\":\"Forbidden\""));
    assert_non_null(strstr(out.data, "\"innerErrorCode\":\"ForbiddenByPolicy\""));
    assert_non_null(strstr(out.data, "\"resultSignature\":\"NotFound\""));
    assert_non_null(strstr(out.data, "\"callerIpAddress\":\"10.0.0.1\""));
    cmk_buf_close(&out);
}

/* ---- kill -9 ------------------------------------------------------------------------------ */

static void test_sigkill(void **state)
{
    struct ctx *c = *state;
    t_close(&c->env);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        t_open(&c->env);
        char *mgmt = t_token(&c->env, T_TENANT, T_ADMIN, "https://management.azure.com/");
        char *admin = t_token(&c->env, T_TENANT, T_ADMIN, "https://vault.azure.net");
        char a[512], body[1024], url[512];
        /* a policy for NOBODY: acknowledged, so it must survive */
        t_policy(a, sizeof(a), T_NOBODY, "\"get\"");
        snprintf(body, sizeof(body), "{\"properties\":{\"accessPolicies\":[%s]}}", a);
        t_vault_url(url, sizeof(url), RG, "kv1", "/accessPolicies/add");
        struct t_res r = t_req(&c->env, "PUT", url, mgmt, body);
        if (r.status == 200 && write(fds[1], "policy\n", 7) != 7)
            _exit(3);
        t_res_free(&r);
        for (int i = 0;; i++) {
            char name[128], line[80];
            snprintf(name, sizeof(name), V "/keys/k%d/create?" API, i);
            r = t_req(&c->env, "POST", name, admin, "{\"kty\":\"EC\"}");
            if (r.status != 200)
                _exit(2);
            t_res_free(&r);
            int n = snprintf(line, sizeof(line), "k%d\n", i);
            if (write(fds[1], line, (size_t)n) != n)
                _exit(3);
        }
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char acked[64][16];
    int n = 0, policy = 0;
    char line[64];
    while (n < 12 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "policy") == 0)
            policy = 1;
        else
            snprintf(acked[n++], sizeof(acked[0]), "%.15s", line);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    fclose(f);
    assert_true(WIFSIGNALED(status));
    assert_true(policy);
    t_open(&c->env);
    free(c->nobody);
    free(c->admin);
    c->nobody = t_token(&c->env, T_TENANT, T_NOBODY, "https://vault.azure.net");
    c->admin = t_token(&c->env, T_TENANT, T_ADMIN, "https://vault.azure.net");
    for (int i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/keys/%.15s", acked[i]);
        expect(call(c, "GET", path, c->nobody, NULL), 200, NULL); /* the policy is there too */
    }
    expect(call(c, "POST", "/keys/after/create", c->admin, "{\"kty\":\"EC\"}"), 200, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_challenge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firewall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_every_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
