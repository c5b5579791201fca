/* test_arm.c: the ARM core as a client sees it, through the in-process door of the router:
 * tokens, subscriptions and tenants, resource groups, a fake provider's resources (PUT, GET,
 * PATCH, LIST with paging, DELETE, case-insensitive ids, ARM's 404 codes), long-running
 * operations completing on the virtual clock, resource group deletion through the providers,
 * the activity log in the shape `az monitor activity-log list` reads, and persistence: the
 * runtime reopened on the same directory still has the resources and resumes the pending
 * operation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arm.h"
#include "common/auth.h"
#include "common/runtime.h"

#define SUB          CMK_ARM_DEFAULT_SUBSCRIPTION
#define MGMT         "https://management.azure.com"
#define API          "api-version=2024-01-01"
#define OTHER_TENANT "22222222-2222-2222-2222-222222222222"
#define OTHER_SUB    "00000000-0000-0000-0000-000000000002"

static char base[64];
static uv_loop_t loop;
static struct cmk_runtime rt;
static struct cmk_arm *arm;
static char *token;       /* management token of the default tenant */
static int deletes_seen;  /* provider delete callbacks run */
static int activity_seen; /* listener calls */

/* ---- the fake provider: Microsoft.Fake/widgets (+ child parts) ---- */

static const char *const widget_versions[] = {"2024-01-01", "2025-01-01", NULL};

static int widget_put(struct cmk_arm_call *call, json_t *body,
                      const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err)
{
    json_t *props = json_object_get(body, "properties");
    json_t *size = json_object_get(props, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 1 || json_integer_value(size) > 10)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidWidgetSize",
                           "The widget size must be an integer from 1 to 10.");
    json_t *doc = json_deep_copy(body);
    json_t *p = json_object_get(doc, "properties");
    json_object_set_new(p, "secret", json_string("hidden"));
    if (json_is_true(json_object_get(props, "slow"))) {
        json_object_set_new(p, "provisioningState", json_string("Creating"));
        json_t *data = json_pack("{s:b}", "fail", json_is_true(json_object_get(props, "fail")));
        int rc = cmk_arm_op_start(call, "fake.create", 5 * CMK_MINUTE, data, 0, err);
        json_decref(data);
        if (rc != 0) {
            json_decref(doc);
            return rc;
        }
    } else {
        json_object_set_new(p, "provisioningState", json_string("Succeeded"));
    }
    (void)existing;
    *out = doc;
    return 0;
}

static json_t *widget_render(struct cmk_arm *a, const struct cmk_arm_resource *r, void *data)
{
    json_t *doc = json_deep_copy(r->doc);
    json_t *p = json_object_get(doc, "properties");
    json_object_del(p, "secret");
    json_object_set_new(p, "rendered", json_true());
    return doc;
}

static int widget_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                         struct cmk_err *err)
{
    deletes_seen++;
    json_t *p = json_object_get(r->doc, "properties");
    if (json_is_true(json_object_get(p, "locked")))
        return cmk_err_set(err, CMK_ECONFLICT, 409, "WidgetLocked", "The widget is locked.");
    if (json_is_true(json_object_get(p, "slowDelete")) && !call->cascade) {
        json_t *doc = json_deep_copy(r->doc);
        json_object_set_new(json_object_get(doc, "properties"), "provisioningState",
                            json_string("Deleting"));
        int rc = cmk_arm_resource_put(call->arm, r->id, doc, call->caller_name, err);
        json_decref(doc);
        if (rc == 0)
            rc = cmk_arm_op_start(call, "fake.delete", 2 * CMK_MINUTE, NULL, 0, err);
        return rc;
    }
    return 0;
}

static const struct cmk_arm_provider widgets = {
    .type = "Microsoft.Fake/widgets",
    .api_versions = widget_versions,
    .put = widget_put,
    .render = widget_render,
    .del = widget_delete,
};

static const struct cmk_arm_provider parts = {
    .type = "Microsoft.Fake/widgets/parts", .api_versions = NULL, /* any */
};

static int create_complete(struct cmk_arm *a, const struct cmk_arm_op *op, void *data,
                           struct cmk_err *err)
{
    if (json_is_true(json_object_get(op->data, "fail")))
        return cmk_err_set(err, CMK_EUNAVAIL, 400, "WidgetFactoryDown",
                           "The widget could not be built.");
    struct cmk_arm_resource r;
    int rc = cmk_arm_resource_get(a, op->resource_id, &r, err);
    if (rc != 0)
        return rc;
    json_object_set_new(json_object_get(r.doc, "properties"), "provisioningState",
                        json_string("Succeeded"));
    rc = cmk_arm_resource_put(a, r.id, r.doc, op->caller, err);
    cmk_arm_resource_close(&r);
    return rc;
}

static int noop_complete(struct cmk_arm *a, const struct cmk_arm_op *op, void *data,
                         struct cmk_err *err)
{
    return 0;
}

static int start_complete(struct cmk_arm *a, const struct cmk_arm_op *op, void *data,
                          struct cmk_err *err)
{
    struct cmk_arm_resource r;
    int rc = cmk_arm_resource_get(a, op->resource_id, &r, err);
    if (rc != 0)
        return rc;
    json_object_set_new(json_object_get(r.doc, "properties"), "state", json_string("Started"));
    rc = cmk_arm_resource_put(a, r.id, r.doc, op->caller, err);
    cmk_arm_resource_close(&r);
    return rc;
}

static const struct cmk_arm_op_kind create_kind = {"fake.create", create_complete, NULL};
static const struct cmk_arm_op_kind delete_kind = {"fake.delete", noop_complete, NULL};
static const struct cmk_arm_op_kind start_kind = {"fake.start", start_complete, NULL};

/* POST .../widgets/{name}/start: a provider route on the core's helpers. */
static void h_start(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm_call call;
    struct cmk_err err;
    if (cmk_arm_call_begin(data, req, res, "Microsoft.Fake/widgets", CMK_ARM_CALL_EXISTING,
                           &call) == 0) {
        assert_string_equal(call.location, "eastus");
        assert_string_equal(call.rest, "start");
        if (cmk_arm_op_start(&call, "fake.start", CMK_MINUTE, NULL, 0, &err) == 0)
            cmk_arm_respond_accepted(&call, 202, NULL);
        else
            cmk_arm_respond_error(&call, &err);
    }
    cmk_arm_call_end(&call);
}

/* POST /subscriptions/{s}/providers/Microsoft.Fake/locations/{loc}/deletedWidgets/{n}/purge:
 * a scope route (no resource group), long-running like Key Vault's purge. */
static void h_purge(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm_call call;
    struct cmk_err err;
    if (cmk_arm_call_begin(data, req, res, "Microsoft.Fake/widgets", CMK_ARM_CALL_NO_ID, &call) ==
        0) {
        assert_string_equal(call.rid.ns, "Microsoft.Fake");
        assert_string_equal(call.location, "westus2");
        if (cmk_arm_op_start(&call, "fake.delete", 30 * CMK_SECOND, NULL, 0, &err) == 0)
            cmk_arm_respond_accepted(&call, 202, NULL);
        else
            cmk_arm_respond_error(&call, &err);
    }
    cmk_arm_call_end(&call);
}

static void on_activity(void *data, const json_t *entry)
{
    activity_seen++;
}

/* ---- harness ---- */

static char *issue(const char *tid, const char *aud, cmk_time_t exp_in)
{
    struct cmk_principal c;
    memset(&c, 0, sizeof(c));
    snprintf(c.tid, sizeof(c.tid), "%s", tid);
    snprintf(c.oid, sizeof(c.oid), "aaaaaaaa-0000-0000-0000-000000000001");
    snprintf(c.appid, sizeof(c.appid), "bbbbbbbb-0000-0000-0000-000000000001");
    snprintf(c.aud, sizeof(c.aud), "%s", aud);
    snprintf(c.iss, sizeof(c.iss), "https://sts.windows.net/%s/", tid);
    snprintf(c.idtyp, sizeof(c.idtyp), "app");
    cmk_time_t now = cmk_clock_now(&rt.clock);
    c.iat = c.nbf = now - CMK_MINUTE;
    c.exp = now + exp_in;
    char *t = NULL;
    struct cmk_err err;
    assert_int_equal(cmk_auth_issue(rt.auth, &c, &t, &err), 0);
    return t;
}

/* start: where the virtual clock starts (0: the runtime's default). */
static void open_all(cmk_time_t start)
{
    uv_loop_init(&loop);
    struct cmk_runtime_opts o = {
        .data_dir = base, .clock_mode = CMK_CLOCK_VIRTUAL, .clock_start = start, .seed = 7};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&rt, &loop, &o, &err) != 0)
        fail_msg("runtime: %s", err.message);
    if (cmk_arm_open(&arm, &rt, &err) != 0)
        fail_msg("arm: %s", err.message);
    assert_ptr_equal(rt.arm, arm);
    cmk_arm_provider_register(arm, &widgets);
    cmk_arm_provider_register(arm, &parts);
    cmk_arm_op_kind_register(arm, &create_kind);
    cmk_arm_op_kind_register(arm, &delete_kind);
    cmk_arm_op_kind_register(arm, &start_kind);
    cmk_router_add(&rt.router, CMK_HOST_MGMT, "POST",
                   "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Fake/widgets/{name}/"
                   "start",
                   h_start, arm);
    cmk_router_add(&rt.router, CMK_HOST_MGMT, "POST",
                   "/subscriptions/{s}/providers/Microsoft.Fake/locations/{loc}/deletedWidgets/"
                   "{name}/purge",
                   h_purge, arm);
    assert_int_equal(cmk_arm_activity_listen(arm, on_activity, NULL), 0);
    free(token);
    token = issue(CMK_ARM_DEFAULT_TENANT, "https://management.azure.com/", CMK_HOUR);
}

static void close_all(void)
{
    cmk_arm_free(arm);
    arm = NULL;
    assert_null(rt.arm);
    cmk_runtime_close(&rt);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static int setup(void **state)
{
    snprintf(base, sizeof(base), "/tmp/cmk-test-arm-XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    open_all(0);
    return 0;
}

static int teardown(void **state)
{
    close_all();
    free(token);
    token = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    return system(cmd) == 0 ? 0 : -1;
}

struct reply {
    int status;
    json_t *body;
    char location[1200];
    char async[1200];
    char www[1400];
    char retry[16];
};

static void reply_close(struct reply *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

/* One request through the in-process door; auth: a token, "" for none. */
static struct reply call_with(const char *method, const char *url, const char *body,
                              const char *auth)
{
    struct cmk_request req;
    struct cmk_response res;
    struct reply out;
    memset(&out, 0, sizeof(out));
    assert_int_equal(cmk_request_init(&req, method, url, NULL), 0);
    if (auth && auth[0]) {
        char h[4096];
        snprintf(h, sizeof(h), "Bearer %s", auth);
        cmk_request_add_header(&req, "authorization", h);
    }
    if (body) {
        cmk_request_set_body(&req, body, strlen(body));
        cmk_request_add_header(&req, "content-type", "application/json");
    }
    cmk_response_init(&res);
    cmk_router_dispatch(&rt.router, &req, &res);
    out.status = res.status;
    out.body = cmk_response_json_body(&res);
    const char *h;
    if ((h = cmk_response_get_header(&res, "Location")))
        snprintf(out.location, sizeof(out.location), "%s", h);
    if ((h = cmk_response_get_header(&res, "Azure-AsyncOperation")))
        snprintf(out.async, sizeof(out.async), "%s", h);
    if ((h = cmk_response_get_header(&res, "WWW-Authenticate")))
        snprintf(out.www, sizeof(out.www), "%s", h);
    if ((h = cmk_response_get_header(&res, "Retry-After")))
        snprintf(out.retry, sizeof(out.retry), "%s", h);
    cmk_request_close(&req);
    cmk_response_close(&res);
    return out;
}

static struct reply call(const char *method, const char *url, const char *body)
{
    return call_with(method, url, body, token);
}

static const char *str(const json_t *j, const char *path)
{
    /* "a.b.c" */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const json_t *cur = j;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur;
         k = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, k);
    return json_string_value(cur) ? json_string_value(cur) : "";
}

static void expect_error(struct reply *r, int status, const char *code)
{
    if (r->status != status || strcmp(str(r->body, "error.code"), code) != 0) {
        char *s = r->body ? json_dumps(r->body, 0) : NULL;
        fail_msg("expected %d %s, got %d %s", status, code, r->status, s ? s : "(no body)");
    }
    reply_close(r);
}

static void make_group(const char *rg)
{
    char url[256];
    snprintf(url, sizeof(url),
             MGMT "/subscriptions/" SUB "/resourcegroups/%s?api-version=2021-04-01", rg);
    struct reply r = call("PUT", url, "{\"location\":\"eastus\"}");
    assert_true(r.status == 201 || r.status == 200);
    reply_close(&r);
}

/* ---- tests ---- */

static void test_ids(void **state)
{
    struct cmk_arm_id id;
    char out[CMK_ARM_ID_MAX], type[CMK_ARM_TYPE_MAX];
    assert_int_equal(cmk_arm_id_parse("/subscriptions/S1/resourcegroups/Rg/providers/"
                                      "Microsoft.DBforPostgreSQL/flexibleServers/srv/databases/db",
                                      &id, NULL),
                     0);
    assert_string_equal(id.sub, "S1");
    assert_string_equal(id.rg, "Rg");
    assert_int_equal(id.depth, 2);
    cmk_arm_id_format(&id, out, sizeof(out));
    assert_string_equal(out, "/subscriptions/S1/resourceGroups/Rg/providers/"
                             "Microsoft.DBforPostgreSQL/flexibleServers/srv/databases/db");
    cmk_arm_id_type(&id, type, sizeof(type));
    assert_string_equal(type, "Microsoft.DBforPostgreSQL/flexibleServers/databases");
    assert_string_equal(cmk_arm_id_name(&id), "db");
    struct cmk_arm_id parent;
    assert_int_equal(cmk_arm_id_parent(&id, &parent), 0);
    cmk_arm_id_format(&parent, out, sizeof(out));
    assert_string_equal(out, "/subscriptions/S1/resourceGroups/Rg/providers/"
                             "Microsoft.DBforPostgreSQL/flexibleServers/srv");
    assert_int_equal(cmk_arm_id_parent(&parent, &id), CMK_ENOTFOUND);
    assert_true(cmk_arm_id_equal("/subscriptions/a/resourceGroups/B/", "/SUBSCRIPTIONS/A/"
                                                                       "resourcegroups/b"));
    assert_false(cmk_arm_id_equal("/subscriptions/a/resourceGroups/B", "/subscriptions/a"));
    struct cmk_err err;
    assert_int_equal(
        cmk_arm_id_parse("/subscriptions/s/resourceGroups/r/providers/ns/t", &id, &err),
        CMK_EINVAL);
    assert_string_equal(err.code, "InvalidResourceId");
    assert_int_equal(cmk_arm_id_parse("subscriptions/s", &id, NULL), CMK_EINVAL);
    assert_int_equal(cmk_arm_id_parse("/subscriptions/s/resourceGroups/r", &id, NULL), 0);
    assert_int_equal(id.depth, 0);

    char loc[64];
    assert_int_equal(cmk_arm_location_normalize("East US 2", loc, sizeof(loc), NULL, NULL), 0);
    assert_string_equal(loc, "eastus2");
    assert_string_equal(cmk_arm_location_pair("eastus2"), "centralus");
    assert_string_equal(cmk_arm_location_display("WESTEUROPE"), "West Europe");
    assert_int_equal(cmk_arm_location_normalize("mars", loc, sizeof(loc), "X/y", &err),
                     CMK_ENOTFOUND);
    assert_string_equal(err.code, "LocationNotAvailableForResourceType");
}

static void test_auth(void **state)
{
    struct reply r = call_with("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL, "");
    assert_int_equal(r.status, 401);
    assert_string_equal(str(r.body, "error.code"), "AuthenticationFailed");
    assert_non_null(strstr(r.www, "Bearer authorization_uri=\"https://login.microsoftonline.com/"
                                  "common\", error=\"invalid_token\", error_description=\""));
    reply_close(&r);

    r = call_with("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL, "not.a.token");
    expect_error(&r, 401, "InvalidAuthenticationToken");

    char *vault = issue(CMK_ARM_DEFAULT_TENANT, "https://vault.azure.net", CMK_HOUR);
    r = call_with("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL, vault);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(str(r.body, "error.message"), "'https://vault.azure.net'"));
    expect_error(&r, 401, "InvalidAuthenticationTokenAudience");
    free(vault);

    char *old = issue(CMK_ARM_DEFAULT_TENANT, "https://management.core.windows.net/", CMK_HOUR);
    r = call_with("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL, old);
    assert_int_equal(r.status, 200); /* the classic audience is accepted */
    reply_close(&r);
    cmk_clock_advance(&rt.clock, 2 * CMK_HOUR);
    r = call_with("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL, old);
    expect_error(&r, 401, "ExpiredAuthenticationToken");
    free(old);
    free(token);
    token = issue(CMK_ARM_DEFAULT_TENANT, "https://management.azure.com", CMK_HOUR);

    char *local = issue(CMK_ARM_DEFAULT_TENANT, "https://management.localhost/", CMK_HOUR);
    r = call_with("GET",
                  "https://management.localhost/subscriptions/" SUB "?api-version=2022-12-01", NULL,
                  local);
    assert_int_equal(r.status, 200);
    reply_close(&r);
    free(local);

    /* A token of another tenant cannot use the default subscription. */
    struct cmk_err err;
    assert_int_equal(cmk_arm_tenant_add(arm, OTHER_TENANT, "other", "other.example", &err), 0);
    char *foreign = issue(OTHER_TENANT, "https://management.azure.com/", CMK_HOUR);
    r = call_with("GET", MGMT "/subscriptions/" SUB "/resourcegroups?api-version=2021-04-01", NULL,
                  foreign);
    expect_error(&r, 401, "InvalidAuthenticationTokenTenant");
    r = call_with("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL, foreign);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.body, "value")), 0);
    reply_close(&r);
    assert_int_equal(cmk_arm_subscription_add(arm, OTHER_SUB, OTHER_TENANT, "theirs", &err), 0);
    r = call_with("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL, foreign);
    assert_int_equal(json_array_size(json_object_get(r.body, "value")), 1);
    assert_string_equal(str(json_array_get(json_object_get(r.body, "value"), 0), "tenantId"),
                        OTHER_TENANT);
    reply_close(&r);
    free(foreign);
}

static void test_subscriptions(void **state)
{
    struct reply r = call("GET", MGMT "/subscriptions?api-version=2022-12-01", NULL);
    assert_int_equal(r.status, 200);
    json_t *s = json_array_get(json_object_get(r.body, "value"), 0);
    assert_string_equal(str(s, "subscriptionId"), SUB);
    assert_string_equal(str(s, "id"), "/subscriptions/" SUB);
    assert_string_equal(str(s, "tenantId"), CMK_ARM_DEFAULT_TENANT);
    assert_string_equal(str(s, "state"), "Enabled");
    assert_string_equal(str(s, "displayName"), CMK_ARM_DEFAULT_SUBSCRIPTION_NAME);
    reply_close(&r);

    r = call("GET", MGMT "/subscriptions/" SUB "?api-version=2022-12-01", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "subscriptionId"), SUB);
    reply_close(&r);

    r = call("GET", MGMT "/tenants?api-version=2022-12-01", NULL);
    assert_int_equal(r.status, 200);
    s = json_array_get(json_object_get(r.body, "value"), 0);
    assert_string_equal(str(s, "tenantId"), CMK_ARM_DEFAULT_TENANT);
    assert_string_equal(str(s, "defaultDomain"), CMK_ARM_DEFAULT_TENANT_DOMAIN);
    reply_close(&r);

    r = call("GET",
             MGMT "/subscriptions/99999999-9999-9999-9999-999999999999?api-version=2022-12-01",
             NULL);
    expect_error(&r, 404, "SubscriptionNotFound");
    r = call("GET", MGMT "/subscriptions/not-a-guid/resourcegroups?api-version=2021-04-01", NULL);
    expect_error(&r, 400, "InvalidSubscriptionId");
    r = call("GET", MGMT "/subscriptions/" SUB, NULL);
    expect_error(&r, 400, "MissingApiVersionParameter");

    r = call("GET", MGMT "/subscriptions/" SUB "/locations?api-version=2022-12-01", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(json_object_get(r.body, "value")) > 10);
    reply_close(&r);

    r = call("GET", MGMT "/subscriptions/" SUB "/providers/microsoft.fake?api-version=2021-04-01",
             NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "namespace"), "Microsoft.Fake");
    assert_string_equal(str(r.body, "registrationState"), "Registered");
    reply_close(&r);
    r = call("GET", MGMT "/subscriptions/" SUB "/providers/Microsoft.Nope?api-version=2021-04-01",
             NULL);
    expect_error(&r, 404, "InvalidResourceNamespace");

    r = call("GET", MGMT "/nothing/here?api-version=1", NULL);
    assert_int_equal(r.status, 404);
    reply_close(&r);
}

static void test_groups(void **state)
{
    struct reply r =
        call("PUT", MGMT "/subscriptions/" SUB "/resourcegroups/My-RG?api-version=2021-04-01",
             "{\"location\":\"East US\",\"tags\":{\"env\":\"test\"}}");
    assert_int_equal(r.status, 201);
    assert_string_equal(str(r.body, "id"), "/subscriptions/" SUB "/resourceGroups/My-RG");
    assert_string_equal(str(r.body, "location"), "eastus");
    assert_string_equal(str(r.body, "type"), "Microsoft.Resources/resourceGroups");
    assert_string_equal(str(r.body, "properties.provisioningState"), "Succeeded");
    assert_string_equal(str(r.body, "tags.env"), "test");
    reply_close(&r);

    r = call("PUT", MGMT "/subscriptions/" SUB "/resourceGroups/my-rg?api-version=2021-04-01",
             "{\"location\":\"eastus\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "name"), "My-RG"); /* casing as created */
    reply_close(&r);

    r = call("GET", MGMT "/subscriptions/" SUB "/RESOURCEGROUPS/MY-RG?api-version=2021-04-01",
             NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "name"), "My-RG");
    reply_close(&r);

    r = call("HEAD", MGMT "/subscriptions/" SUB "/resourcegroups/my-rg?api-version=2021-04-01",
             NULL);
    assert_int_equal(r.status, 204);
    reply_close(&r);
    r = call("HEAD", MGMT "/subscriptions/" SUB "/resourcegroups/none?api-version=2021-04-01",
             NULL);
    assert_int_equal(r.status, 404);
    reply_close(&r);
    r = call("GET", MGMT "/subscriptions/" SUB "/resourcegroups/none?api-version=2021-04-01", NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(str(r.body, "error.message"), "Resource group 'none' could not be found.");
    expect_error(&r, 404, "ResourceGroupNotFound");

    r = call("PUT", MGMT "/subscriptions/" SUB "/resourcegroups/my-rg?api-version=2021-04-01",
             "{\"location\":\"westus\"}");
    expect_error(&r, 409, "InvalidResourceGroupLocation");
    r = call("PUT", MGMT "/subscriptions/" SUB "/resourcegroups/bad!name?api-version=2021-04-01",
             "{\"location\":\"westus\"}");
    expect_error(&r, 400, "InvalidResourceGroup");
    r = call("PUT", MGMT "/subscriptions/" SUB "/resourcegroups/nol?api-version=2021-04-01", "{}");
    expect_error(&r, 400, "LocationRequired");
    r = call("PUT", MGMT "/subscriptions/" SUB "/resourcegroups/nol?api-version=2021-04-01",
             "{not json");
    expect_error(&r, 400, "InvalidRequestContent");

    r = call("PATCH", MGMT "/subscriptions/" SUB "/resourcegroups/my-rg?api-version=2021-04-01",
             "{\"tags\":{\"team\":\"a\"}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "tags.team"), "a");
    reply_close(&r);

    make_group("second");
    r = call("GET", MGMT "/subscriptions/" SUB "/resourcegroups?api-version=2021-04-01", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(json_object_get(r.body, "value")) >= 2);
    reply_close(&r);
}

#define W(rg, name)                                                                                \
    MGMT "/subscriptions/" SUB "/resourceGroups/" rg "/providers/Microsoft.Fake/widgets/" name

static void test_resources(void **state)
{
    make_group("Res-RG");
    struct reply r = call("PUT", W("Res-RG", "Widget1") "?" API,
                          "{\"location\":\"West Europe\",\"tags\":{\"a\":\"1\"},"
                          "\"properties\":{\"size\":3},\"id\":\"ignored\"}");
    assert_int_equal(r.status, 201);
    assert_string_equal(str(r.body, "id"), "/subscriptions/" SUB "/resourceGroups/Res-RG/providers/"
                                           "Microsoft.Fake/widgets/Widget1");
    assert_string_equal(str(r.body, "name"), "Widget1");
    assert_string_equal(str(r.body, "type"), "Microsoft.Fake/widgets");
    assert_string_equal(str(r.body, "location"), "westeurope");
    assert_true(json_is_true(json_object_get(json_object_get(r.body, "properties"), "rendered")));
    assert_null(json_object_get(json_object_get(r.body, "properties"), "secret"));
    assert_string_equal(str(r.body, "systemData.createdBy"),
                        "bbbbbbbb-0000-0000-0000-000000000001");
    reply_close(&r);

    /* Any casing of the path reaches the same resource; its casing stays as created. */
    r = call("GET",
             MGMT "/SUBSCRIPTIONS/" SUB "/RESOURCEGROUPS/res-rg/PROVIDERS/microsoft.fake/WIDGETS/"
                  "widget1?" API,
             NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "name"), "Widget1");
    assert_string_equal(str(r.body, "id"), "/subscriptions/" SUB "/resourceGroups/Res-RG/providers/"
                                           "Microsoft.Fake/widgets/Widget1");
    reply_close(&r);
    r = call("PUT", W("res-rg", "WIDGET1") "?" API,
             "{\"location\":\"westeurope\",\"properties\":{\"size\":4}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "name"), "Widget1");
    reply_close(&r);

    /* Validation is the provider's; codes are ARM's where the core decides. */
    r = call("PUT", W("Res-RG", "w2") "?" API, "{\"location\":\"eastus\",\"properties\":{}}");
    expect_error(&r, 400, "InvalidWidgetSize");
    r = call("PUT", W("Res-RG", "w2") "?" API, "{\"properties\":{\"size\":1}}");
    expect_error(&r, 400, "LocationRequired");
    r = call("PUT", W("Res-RG", "Widget1") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":1}}");
    expect_error(&r, 400, "InvalidResourceLocation");
    r = call("PUT", W("Res-RG", "w2") "?api-version=1999-01-01",
             "{\"location\":\"eastus\",\"properties\":{\"size\":1}}");
    expect_error(&r, 400, "NoRegisteredProviderFound");
    r = call("PUT", W("Res-RG", "w2"), "{\"location\":\"eastus\",\"properties\":{\"size\":1}}");
    expect_error(&r, 400, "MissingApiVersionParameter");
    r = call("PUT", W("No-RG", "w2") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":1}}");
    expect_error(&r, 404, "ResourceGroupNotFound");
    r = call("GET",
             MGMT "/subscriptions/" SUB "/resourceGroups/Res-RG/providers/Microsoft.Fake/"
                  "gadgets/g?" API,
             NULL);
    expect_error(&r, 400, "InvalidResourceType");

    r = call("GET", W("Res-RG", "missing") "?" API, NULL);
    assert_string_equal(str(r.body, "error.message"),
                        "The Resource 'Microsoft.Fake/widgets/missing' under resource group "
                        "'Res-RG' was not found. For more details please go to "
                        "https://aka.ms/ARMResourceNotFoundFix");
    expect_error(&r, 404, "ResourceNotFound");
    r = call("HEAD", W("Res-RG", "missing") "?" API, NULL);
    assert_int_equal(r.status, 404);
    reply_close(&r);

    /* PATCH merges; tags are replaced as a whole. */
    r = call("PATCH", W("Res-RG", "widget1") "?" API,
             "{\"tags\":{\"b\":\"2\"},\"properties\":{\"color\":\"red\"}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "tags.b"), "2");
    assert_string_equal(str(r.body, "tags.a"), "");
    assert_string_equal(str(r.body, "properties.color"), "red");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.body, "properties"), "size")), 4);
    reply_close(&r);
    r = call("PATCH", W("Res-RG", "widget1") "?" API, "{\"properties\":{\"size\":99}}");
    expect_error(&r, 400, "InvalidWidgetSize");

    /* Child resources need their parent. */
    r = call("PUT", W("Res-RG", "Widget1") "/parts/p1?api-version=2099-01-01",
             "{\"properties\":{\"n\":1}}");
    assert_int_equal(r.status, 201);
    assert_string_equal(str(r.body, "type"), "Microsoft.Fake/widgets/parts");
    assert_string_equal(str(r.body, "properties.provisioningState"), "Succeeded");
    reply_close(&r);
    r = call("PUT", W("Res-RG", "ghost") "/parts/p1?" API, "{\"properties\":{}}");
    expect_error(&r, 404, "ParentResourceNotFound");
    r = call("GET", W("Res-RG", "widget1") "/parts?" API, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.body, "value")), 1);
    reply_close(&r);

    /* Lists, with paging. */
    for (int i = 0; i < 4; i++) {
        char url[512];
        snprintf(url, sizeof(url), W("Res-RG", "more%d") "?" API, i);
        r = call("PUT", url, "{\"location\":\"westeurope\",\"properties\":{\"size\":2}}");
        assert_int_equal(r.status, 201);
        reply_close(&r);
    }
    cmk_arm_set_page_size(arm, 2);
    int total = 0, pages = 0;
    char next[2048];
    snprintf(next, sizeof(next), "%s",
             MGMT "/subscriptions/" SUB "/providers/Microsoft.Fake/widgets?" API);
    while (next[0]) {
        r = call("GET", next, NULL);
        assert_int_equal(r.status, 200);
        total += (int)json_array_size(json_object_get(r.body, "value"));
        pages++;
        snprintf(next, sizeof(next), "%s", str(r.body, "nextLink"));
        if (next[0])
            assert_non_null(strstr(next, "api-version=2024-01-01"));
        reply_close(&r);
    }
    cmk_arm_set_page_size(arm, 100);
    assert_int_equal(total, 5);
    assert_int_equal(pages, 3);
    r = call("GET",
             MGMT "/subscriptions/" SUB "/resourceGroups/res-rg/providers/Microsoft.Fake/"
                  "widgets?" API,
             NULL);
    assert_int_equal(json_array_size(json_object_get(r.body, "value")), 5);
    reply_close(&r);

    /* The generic resources list, as `az keyvault list` calls it. */
    r = call("GET",
             MGMT "/subscriptions/" SUB
                  "/resources?$filter=resourceType%20eq%20%27Microsoft.Fake%2F"
                  "widgets%27&api-version=2015-11-01",
             NULL);
    assert_int_equal(r.status, 200);
    json_t *v = json_object_get(r.body, "value");
    assert_int_equal(json_array_size(v), 5); /* children are not listed */
    assert_string_equal(str(json_array_get(v, 0), "type"), "Microsoft.Fake/widgets");
    assert_string_equal(str(json_array_get(v, 0), "location"), "westeurope");
    reply_close(&r);
    r = call("GET",
             MGMT "/subscriptions/" SUB "/resourceGroups/Res-RG/resources?$filter=name%20eq%20"
                  "%27more2%27&api-version=2015-11-01",
             NULL);
    assert_int_equal(json_array_size(json_object_get(r.body, "value")), 1);
    reply_close(&r);
    r = call("GET", MGMT "/subscriptions/" SUB "/resources?$filter=bogus(&api-version=2015-11-01",
             NULL);
    expect_error(&r, 400, "InvalidFilterInQueryString");

    /* In-process helpers see the same rows. */
    struct cmk_arm_resource res;
    assert_int_equal(cmk_arm_resource_find(arm, "microsoft.fake/widgets", "WIDGET1", &res), 0);
    assert_string_equal(res.rg, "Res-RG");
    cmk_arm_resource_close(&res);

    /* DELETE: 200, then 204 for what is gone; children go with the parent. */
    r = call("DELETE", W("Res-RG", "widget1") "?" API, NULL);
    assert_int_equal(r.status, 200);
    reply_close(&r);
    r = call("GET", W("Res-RG", "Widget1") "/parts/p1?" API, NULL);
    expect_error(&r, 404, "ResourceNotFound");
    r = call("DELETE", W("Res-RG", "widget1") "?" API, NULL);
    assert_int_equal(r.status, 204);
    reply_close(&r);

    r = call("PUT", W("Res-RG", "locked") "?" API,
             "{\"location\":\"westeurope\",\"properties\":{\"size\":2,\"locked\":true}}");
    reply_close(&r);
    r = call("DELETE", W("Res-RG", "locked") "?" API, NULL);
    expect_error(&r, 409, "WidgetLocked");
    r = call("GET", W("Res-RG", "locked") "?" API, NULL);
    assert_int_equal(r.status, 200);
    reply_close(&r);
}

static void test_lro(void **state)
{
    make_group("lro");
    struct reply r = call("PUT", W("lro", "slow") "?" API,
                          "{\"location\":\"eastus\",\"properties\":{\"size\":2,\"slow\":true}}");
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.async, MGMT "/subscriptions/" SUB "/providers/Microsoft.Fake/"
                                         "locations/eastus/azureAsyncOperation/"));
    assert_non_null(strstr(r.async, "?api-version=2024-01-01"));
    assert_non_null(strstr(r.location, "/operationResults/"));
    assert_string_equal(r.retry, "10");
    char async[1200], location[1200];
    snprintf(async, sizeof(async), "%s", r.async);
    snprintf(location, sizeof(location), "%s", r.location);
    reply_close(&r);

    r = call("GET", W("lro", "slow") "?" API, NULL);
    assert_string_equal(str(r.body, "properties.provisioningState"), "Creating");
    reply_close(&r);
    r = call("GET", async, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "status"), "InProgress");
    char t0[40], t5[40];
    cmk_time_format(cmk_clock_now(&rt.clock), t0, sizeof(t0));
    cmk_time_format(cmk_clock_now(&rt.clock) + 5 * CMK_MINUTE, t5, sizeof(t5));
    assert_string_equal(str(r.body, "startTime"), t0);
    reply_close(&r);
    r = call("GET", location, NULL);
    assert_int_equal(r.status, 202);
    reply_close(&r);
    r = call("PUT", W("lro", "slow") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":3}}");
    expect_error(&r, 409, "AnotherOperationInProgress");

    cmk_clock_advance(&rt.clock, 4 * CMK_MINUTE);
    r = call("GET", async, NULL);
    assert_string_equal(str(r.body, "status"), "InProgress");
    reply_close(&r);
    cmk_clock_advance(&rt.clock, CMK_MINUTE);
    r = call("GET", async, NULL);
    assert_string_equal(str(r.body, "status"), "Succeeded");
    assert_string_equal(str(r.body, "endTime"), t5);
    reply_close(&r);
    r = call("GET", location, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "properties.provisioningState"), "Succeeded");
    reply_close(&r);

    /* A create that fails leaves no resource behind. */
    r = call("PUT", W("lro", "doomed") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":2,\"slow\":true,\"fail\":true}}");
    assert_int_equal(r.status, 202);
    snprintf(async, sizeof(async), "%s", r.async);
    snprintf(location, sizeof(location), "%s", r.location);
    reply_close(&r);
    cmk_clock_advance(&rt.clock, 5 * CMK_MINUTE);
    r = call("GET", async, NULL);
    assert_string_equal(str(r.body, "status"), "Failed");
    assert_string_equal(str(r.body, "error.code"), "WidgetFactoryDown");
    reply_close(&r);
    r = call("GET", location, NULL);
    expect_error(&r, 400, "WidgetFactoryDown");
    r = call("GET", W("lro", "doomed") "?" API, NULL);
    expect_error(&r, 404, "ResourceNotFound");

    /* A provider route (an action) starting an operation. */
    r = call("POST", W("lro", "SLOW") "/start?" API, NULL);
    assert_int_equal(r.status, 202);
    snprintf(async, sizeof(async), "%s", r.async);
    reply_close(&r);
    r = call("POST", W("lro", "nope") "/start?" API, NULL);
    expect_error(&r, 404, "ResourceNotFound");
    cmk_clock_advance(&rt.clock, CMK_MINUTE);
    r = call("GET", W("lro", "slow") "?" API, NULL);
    assert_string_equal(str(r.body, "properties.state"), "Started");
    reply_close(&r);

    /* A scope route's operation lives under its namespace and location. */
    r = call("POST",
             MGMT "/subscriptions/" SUB "/providers/Microsoft.Fake/locations/West%20US%202/"
                  "deletedWidgets/gone/purge?" API,
             NULL);
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.async, "/providers/Microsoft.Fake/locations/westus2/"
                                    "azureAsyncOperation/"));
    assert_string_equal(r.retry, "10");
    snprintf(async, sizeof(async), "%s", r.async);
    reply_close(&r);
    cmk_clock_advance(&rt.clock, 30 * CMK_SECOND);
    r = call("GET", async, NULL);
    assert_string_equal(str(r.body, "status"), "Succeeded");
    reply_close(&r);

    /* A slow delete keeps the row until its operation ends. */
    r = call("PUT", W("lro", "sd") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":2,\"slowDelete\":true}}");
    reply_close(&r);
    r = call("DELETE", W("lro", "sd") "?" API, NULL);
    assert_int_equal(r.status, 202);
    snprintf(location, sizeof(location), "%s", r.location);
    reply_close(&r);
    r = call("GET", W("lro", "sd") "?" API, NULL);
    assert_string_equal(str(r.body, "properties.provisioningState"), "Deleting");
    reply_close(&r);
    cmk_clock_advance(&rt.clock, 2 * CMK_MINUTE);
    r = call("GET", location, NULL);
    assert_int_equal(r.status, 200);
    reply_close(&r);
    r = call("GET", W("lro", "sd") "?" API, NULL);
    expect_error(&r, 404, "ResourceNotFound");
}

static void test_group_delete(void **state)
{
    make_group("doomed-rg");
    struct reply r;
    for (int i = 0; i < 3; i++) {
        char url[512];
        snprintf(url, sizeof(url), W("doomed-rg", "w%d") "?" API, i);
        r = call("PUT", url, "{\"location\":\"eastus\",\"properties\":{\"size\":2}}");
        assert_int_equal(r.status, 201);
        reply_close(&r);
    }
    int before = deletes_seen;
    r = call("DELETE",
             MGMT "/subscriptions/" SUB "/resourcegroups/DOOMED-RG?api-version=2021-04-01", NULL);
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.location, MGMT "/subscriptions/" SUB "/operationresults/"));
    assert_string_equal(r.async, "");
    char location[1200];
    snprintf(location, sizeof(location), "%s", r.location);
    reply_close(&r);
    r = call("GET", MGMT "/subscriptions/" SUB "/resourcegroups/doomed-rg?api-version=2021-04-01",
             NULL);
    assert_string_equal(str(r.body, "properties.provisioningState"), "Deleting");
    reply_close(&r);
    r = call("PUT", W("doomed-rg", "late") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":2}}");
    expect_error(&r, 409, "ResourceGroupBeingDeleted");
    r = call("GET", location, NULL);
    assert_int_equal(r.status, 202);
    reply_close(&r);

    cmk_clock_run_until(&rt.clock, cmk_clock_now(&rt.clock));
    assert_int_equal(deletes_seen - before, 3);
    r = call("GET", location, NULL);
    assert_int_equal(r.status, 200);
    reply_close(&r);
    r = call("GET", MGMT "/subscriptions/" SUB "/resourcegroups/doomed-rg?api-version=2021-04-01",
             NULL);
    expect_error(&r, 404, "ResourceGroupNotFound");
    r = call("GET", W("doomed-rg", "w0") "?" API, NULL);
    expect_error(&r, 404, "ResourceGroupNotFound");
    r = call("DELETE",
             MGMT "/subscriptions/" SUB "/resourcegroups/doomed-rg?api-version=2021-04-01", NULL);
    expect_error(&r, 404, "ResourceGroupNotFound");
}

static void test_activity(void **state)
{
    make_group("act");
    int seen = activity_seen;
    struct reply r = call("PUT", W("act", "a1") "?" API,
                          "{\"location\":\"eastus\",\"properties\":{\"size\":2}}");
    reply_close(&r);
    r = call("PUT", W("act", "a2") "?" API, "{\"location\":\"eastus\",\"properties\":{}}");
    reply_close(&r);
    assert_int_equal(activity_seen - seen, 4); /* Started + outcome, twice */

    struct cmk_err err;
    struct cmk_arm_event ev = {
        .resource_id = "/subscriptions/" SUB "/resourceGroups/act/providers/Microsoft.Fake/"
                       "widgets/a1",
        .operation = "Microsoft.Fake/widgets/keyAccessFailure",
        .status = "Failed",
        .level = "Error",
        .caller = "key monitor",
        .description = "The key could not be unwrapped.",
    };
    assert_int_equal(cmk_arm_activity(arm, &ev, &err), 0);
    assert_int_equal(activity_seen - seen, 5);

    char now[40], url[1024];
    cmk_time_format(cmk_clock_now(&rt.clock) - CMK_HOUR, now, sizeof(now));
    snprintf(url, sizeof(url),
             MGMT "/subscriptions/" SUB "/providers/microsoft.insights/eventtypes/management/"
                  "values?api-version=2015-04-01&$filter=eventTimestamp%%20ge%%20%%27%s%%27%%20"
                  "and%%20resourceGroupName%%20eq%%20%%27act%%27",
             now);
    r = call("GET", url, NULL);
    assert_int_equal(r.status, 200);
    json_t *v = json_object_get(r.body, "value");
    assert_int_equal(json_array_size(v), 7); /* the group's PUT, then the widgets' */
    json_t *e = json_array_get(v, 0);        /* newest first */
    assert_string_equal(str(e, "operationName.value"), "Microsoft.Fake/widgets/keyAccessFailure");
    assert_string_equal(str(e, "level"), "Error");
    assert_string_equal(str(e, "caller"), "key monitor");
    e = json_array_get(v, 1);
    assert_string_equal(str(e, "status.value"), "Failed");
    assert_string_equal(str(e, "subStatus.value"), "BadRequest");
    assert_non_null(strstr(str(e, "properties.statusMessage"), "InvalidWidgetSize"));
    e = json_array_get(v, 3);
    assert_string_equal(str(e, "status.value"), "Succeeded");
    assert_string_equal(str(e, "subStatus.localizedValue"), "Created (HTTP Status Code: 201)");
    assert_string_equal(str(e, "operationName.value"), "Microsoft.Fake/widgets/write");
    assert_string_equal(str(e, "caller"), "bbbbbbbb-0000-0000-0000-000000000001");
    assert_string_equal(str(e, "tenantId"), CMK_ARM_DEFAULT_TENANT);
    assert_string_equal(str(e, "eventTimestamp"), str(json_array_get(v, 4), "eventTimestamp"));
    const char *corr = str(e, "correlationId");
    assert_int_equal(strlen(corr), 36);
    assert_string_equal(str(json_array_get(v, 4), "correlationId"), corr);
    assert_string_equal(str(json_array_get(v, 4), "status.value"), "Started");
    reply_close(&r);

    /* The group write is logged too, and filters compose. */
    snprintf(url, sizeof(url),
             MGMT "/subscriptions/" SUB "/providers/Microsoft.Insights/eventtypes/management/"
                  "values?api-version=2015-04-01&$filter=eventTimestamp%%20ge%%20%s%%20and%%20"
                  "resourceUri%%20eq%%20%%27/subscriptions/" SUB "/resourceGroups/act%%27",
             now);
    r = call("GET", url, NULL);
    v = json_object_get(r.body, "value");
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(str(json_array_get(v, 0), "operationName.value"),
                        "Microsoft.Resources/subscriptions/resourceGroups/write");
    reply_close(&r);
    r = call("GET",
             MGMT "/subscriptions/" SUB "/providers/Microsoft.Insights/eventtypes/management/"
                  "values?api-version=2015-04-01&$filter=nonsense%20eq%20%27x%27",
             NULL);
    expect_error(&r, 400, "BadRequest");

    json_t *all = cmk_arm_activity_list(arm, SUB, "status eq 'Failed' and level eq 'Error'", &err);
    assert_non_null(all);
    assert_true(json_array_size(all) >= 2);
    json_decref(all);
}

static void test_persistence(void **state)
{
    make_group("keep");
    struct reply r = call("PUT", W("keep", "Sturdy") "?" API,
                          "{\"location\":\"eastus\",\"properties\":{\"size\":5}}");
    assert_int_equal(r.status, 201);
    reply_close(&r);
    r = call("PUT", W("keep", "pending") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":5,\"slow\":true}}");
    assert_int_equal(r.status, 202);
    char async[1200];
    snprintf(async, sizeof(async), "%s", r.async);
    const char *op = strrchr(async, '/') + 1;
    char op_id[40];
    snprintf(op_id, sizeof(op_id), "%.36s", op);
    reply_close(&r);
    cmk_time_t started = cmk_clock_now(&rt.clock);

    /* Restart (as after kill -9: nothing is flushed at close that was not already durable),
     * with the clock going on from where it was. */
    close_all();
    open_all(started);
    cmk_clock_run_until(&rt.clock, started + CMK_MINUTE);

    r = call("GET", W("KEEP", "sturdy") "?" API, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.body, "name"), "Sturdy");
    reply_close(&r);
    r = call("GET", async, NULL);
    assert_string_equal(str(r.body, "status"), "InProgress");
    reply_close(&r);
    r = call("GET", W("keep", "pending") "?" API, NULL);
    assert_string_equal(str(r.body, "properties.provisioningState"), "Creating");
    reply_close(&r);

    cmk_clock_run_until(&rt.clock, started + 5 * CMK_MINUTE);
    r = call("GET", async, NULL);
    assert_string_equal(str(r.body, "status"), "Succeeded");
    reply_close(&r);
    r = call("GET", W("keep", "pending") "?" API, NULL);
    assert_string_equal(str(r.body, "properties.provisioningState"), "Succeeded");
    reply_close(&r);

    /* Ids drawn after the restart do not repeat those drawn before. */
    r = call("PUT", W("keep", "again") "?" API,
             "{\"location\":\"eastus\",\"properties\":{\"size\":5,\"slow\":true}}");
    assert_int_equal(r.status, 202);
    assert_null(strstr(r.async, op_id));
    reply_close(&r);
    assert_int_equal(cmk_arm_op_fail_orphans(arm), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),           cmocka_unit_test(test_auth),
        cmocka_unit_test(test_subscriptions), cmocka_unit_test(test_groups),
        cmocka_unit_test(test_resources),     cmocka_unit_test(test_lro),
        cmocka_unit_test(test_group_delete),  cmocka_unit_test(test_activity),
        cmocka_unit_test(test_persistence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
