/* test_router.c: host classification, route matching and the in-process door. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/router.h"

static struct cmk_hosts hosts;

static void echo(struct cmk_request *req, struct cmk_response *res, void *data)
{
    json_t *j = json_object();
    json_object_set_new(j, "route", json_string(req->route));
    json_object_set_new(j, "tag", json_string((const char *)data));
    for (size_t i = 0; i < req->nparams; i++)
        json_object_set_new(j, req->param_names[i], json_string(req->param_values[i]));
    json_object_set_new(j, "label", json_string(req->host_label));
    const char *v = cmk_request_query(req, "api-version");
    if (v)
        json_object_set_new(j, "api", json_string(v));
    cmk_response_json(res, 200, j);
}

static json_t *call(struct cmk_router *r, const char *method, const char *url, int *status)
{
    struct cmk_request req;
    struct cmk_response res;
    assert_int_equal(cmk_request_init(&req, method, url, NULL), 0);
    cmk_response_init(&res);
    cmk_router_dispatch(r, &req, &res);
    *status = res.status;
    json_t *j = cmk_response_json_body(&res);
    cmk_request_close(&req);
    cmk_response_close(&res);
    return j;
}

static void test_hosts(void **state)
{
    char label[64];
    assert_int_equal(cmk_hosts_classify(&hosts, "management.azure.com", label, sizeof label),
                     CMK_HOST_MGMT);
    assert_int_equal(cmk_hosts_classify(&hosts, "Management.Azure.COM:443", label, sizeof label),
                     CMK_HOST_MGMT);
    assert_int_equal(cmk_hosts_classify(&hosts, "127.0.0.1:8443", label, sizeof label),
                     CMK_HOST_MGMT);
    assert_int_equal(cmk_hosts_classify(&hosts, "login.microsoftonline.com", NULL, 0),
                     CMK_HOST_LOGIN);
    assert_int_equal(cmk_hosts_classify(&hosts, "login.localhost", NULL, 0), CMK_HOST_LOGIN);
    assert_int_equal(cmk_hosts_classify(&hosts, "MyVault.vault.azure.net", label, sizeof label),
                     CMK_HOST_VAULT);
    assert_string_equal(label, "myvault");
    assert_int_equal(cmk_hosts_classify(&hosts, "kv1.vault.localhost:8443", label, sizeof label),
                     CMK_HOST_VAULT);
    assert_string_equal(label, "kv1");
    assert_int_equal(cmk_hosts_classify(&hosts, "h.managedhsm.azure.net", label, sizeof label),
                     CMK_HOST_HSM);
    assert_int_equal(
        cmk_hosts_classify(&hosts, "srv1.postgres.database.azure.com", label, sizeof label),
        CMK_HOST_PG);
    assert_string_equal(label, "srv1");
    /* Not ours: never served, never proxied. */
    assert_int_equal(cmk_hosts_classify(&hosts, "example.com", label, sizeof label),
                     CMK_HOST_UNKNOWN);
    assert_int_equal(cmk_hosts_classify(&hosts, "vault.azure.net", label, sizeof label),
                     CMK_HOST_UNKNOWN);
    assert_int_equal(cmk_hosts_classify(&hosts, "a.b.vault.azure.net", label, sizeof label),
                     CMK_HOST_UNKNOWN);
    assert_int_equal(cmk_hosts_classify(&hosts, "evil.vault.azure.net.example.com", NULL, 0),
                     CMK_HOST_UNKNOWN);
    char name[256];
    cmk_hosts_name(&hosts, CMK_HOST_VAULT, "kv1", 1, name, sizeof name);
    assert_string_equal(name, "kv1.vault.azure.net");
    cmk_hosts_name(&hosts, CMK_HOST_VAULT, "kv1", 0, name, sizeof name);
    assert_string_equal(name, "kv1.vault.localhost");
}

static void test_matching(void **state)
{
    struct cmk_router r;
    cmk_router_init(&r, &hosts);
    static const struct cmk_route vault_routes[] = {
        {"GET", "/keys/{name}/{version}", echo},
        {"GET", "/keys/{name}", echo},
        {"POST", "/keys/{name}/{version}/wrapkey", echo},
        {"GET", "/keys/{name}/versions", echo},
        {NULL, NULL, NULL},
    };
    cmk_router_add_table(&r, CMK_HOST_VAULT, vault_routes, "vault");
    cmk_router_add(&r, CMK_HOST_MGMT, "*", "/subscriptions/{sub}/resourceGroups/{rg}/{rest*}", echo,
                   "arm");

    int status;
    json_t *j = call(&r, "GET", "https://kv.vault.azure.net/keys/k1?api-version=7.5", &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "route")), "/keys/{name}");
    assert_string_equal(json_string_value(json_object_get(j, "{name}")), "k1");
    assert_string_equal(json_string_value(json_object_get(j, "api")), "7.5");
    assert_string_equal(json_string_value(json_object_get(j, "label")), "kv");
    json_decref(j);

    /* The literal "versions" beats the {version} capture. */
    j = call(&r, "GET", "https://kv.vault.azure.net/keys/k1/versions", &status);
    assert_string_equal(json_string_value(json_object_get(j, "route")), "/keys/{name}/versions");
    json_decref(j);

    /* "/keys/k1//wrapkey": the empty segment is the version (latest). */
    j = call(&r, "POST", "https://kv.vault.azure.net/keys/k1//wrapkey?api-version=7.4", &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "{version}")), "");
    json_decref(j);

    /* Case-insensitive literals; "{rest*}" takes the remainder, decoded. */
    j = call(&r, "PUT",
             "https://management.azure.com/SUBSCRIPTIONS/s1/resourcegroups/rg%201/providers/"
             "Microsoft.KeyVault/vaults/v1",
             &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "{rg}")), "rg 1");
    assert_string_equal(json_string_value(json_object_get(j, "{rest*}")),
                        "providers/Microsoft.KeyVault/vaults/v1");
    json_decref(j);

    /* "//subscriptions/..." (what the SDKs send for a {resourceId} path) is the same route on
     * the management host, with the query intact. */
    j = call(&r, "GET",
             "https://management.azure.com//subscriptions/s1/resourceGroups/rg1/providers/"
             "Microsoft.KeyVault/vaults/v1?api-version=2026-02-01",
             &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "{rg}")), "rg1");
    assert_string_equal(json_string_value(json_object_get(j, "api")), "2026-02-01");
    json_decref(j);

    /* Wrong method on a known path: 405 in the envelope; unknown path: 404; unknown host. */
    j = call(&r, "DELETE", "https://kv.vault.azure.net/keys/k1/versions", &status);
    assert_int_equal(status, 405);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "MethodNotAllowed");
    json_decref(j);
    j = call(&r, "GET", "https://kv.vault.azure.net/secrets/s", &status);
    assert_int_equal(status, 404);
    assert_non_null(json_object_get(json_object_get(j, "error"), "message"));
    json_decref(j);
    j = call(&r, "GET", "https://example.com/", &status);
    assert_int_equal(status, 404);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "HostNotFound");
    json_decref(j);
    cmk_router_close(&r);
}

static void test_request_helpers(void **state)
{
    struct cmk_request req;
    struct cmk_origin o = {.kind = CMK_ORIGIN_TRUSTED_SERVICE,
                           .addr = "10.0.0.5",
                           .service = "Microsoft.DBforPostgreSQL"};
    assert_int_equal(cmk_request_init(&req, "POST",
                                      "https://kv.vault.azure.net/keys/a%2Fb?x=1+2&"
                                      "API-Version=7.5&flag",
                                      &o),
                     0);
    assert_string_equal(req.path, "/keys/a/b");
    assert_string_equal(cmk_request_query(&req, "x"), "1 2");
    assert_string_equal(cmk_request_query(&req, "api-version"), "7.5");
    assert_string_equal(cmk_request_query(&req, "flag"), "");
    assert_string_equal(req.host, "kv.vault.azure.net");
    assert_int_equal(req.origin.kind, CMK_ORIGIN_TRUSTED_SERVICE);

    struct cmk_err err;
    assert_null(cmk_request_json(&req, &err));
    assert_int_equal(err.status, 400);
    cmk_request_set_body(&req, "{\"a\":1,\"a\":2}", 13);
    assert_null(cmk_request_json(&req, &err)); /* duplicate keys refused */
    cmk_request_set_body(&req, "[1]", 3);
    assert_null(cmk_request_json(&req, &err));
    cmk_request_set_body(&req, "{\"value\":\"x\"}", 13);
    assert_non_null(cmk_request_json(&req, &err));
    cmk_request_close(&req);

    assert_int_equal(cmk_request_init(&req, "GET", "https://kv.vault.azure.net/bad%zz", NULL),
                     CMK_EPARSE);
    cmk_request_close(&req);
}

static void test_error_envelope(void **state)
{
    struct cmk_response res;
    struct cmk_err err;
    cmk_response_init(&res);
    cmk_err_set(&err, CMK_EDENIED, 403, "Forbidden", "Caller is not authorized: %s", "wrapKey");
    cmk_err_inner(&err, "ForbiddenByPolicy");
    cmk_response_error(&res, &err);
    assert_int_equal(res.status, 403);
    assert_string_equal(res.body.data, "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is "
                                       "not authorized: wrapKey\",\"innererror\":{\"code\":"
                                       "\"ForbiddenByPolicy\"}}}");
    assert_string_equal(cmk_response_get_header(&res, "content-type"),
                        "application/json; charset=utf-8");
    cmk_response_close(&res);
}

int main(void)
{
    cmk_hosts_init(&hosts, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_request_helpers),
        cmocka_unit_test(test_error_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
