/* fuzz_keyjson.c: arbitrary JSON bodies through the router into vaultsim, with a valid token,
 * as a client would send them: key create, import, update, wrap/unwrap, encrypt/decrypt,
 * sign/verify, rotation policy, restore, random bytes, and the management side's vault PUT,
 * PATCH and access policy add. The first input byte picks the route; the rest is the body.
 *
 * Checks: every answer is one of the statuses the service gives for bad input (never a 5xx),
 * an error answer is the service's envelope, and a success is JSON. The state (a runtime on the
 * virtual clock in a temporary directory, one vault with one RSA key) is built once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arm.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/runtime.h"
#include "vaultsim/vault.h"

#define SUB    CMK_ARM_DEFAULT_SUBSCRIPTION
#define TENANT CMK_ARM_DEFAULT_TENANT
#define OID    "aaaaaaaa-0000-0000-0000-00000000f022"

static struct {
    int ready;
    char dir[64];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct cmk_arm *arm;
    struct vs_vaults *vs;
    char mgmt[4096], vault[4096];
} S;

static void bearer(const char *aud, char *out, size_t n)
{
    struct cmk_principal p;
    memset(&p, 0, sizeof(p));
    snprintf(p.tid, sizeof(p.tid), "%s", TENANT);
    snprintf(p.oid, sizeof(p.oid), "%s", OID);
    snprintf(p.appid, sizeof(p.appid), "%s", OID);
    snprintf(p.aud, sizeof(p.aud), "%s", aud);
    snprintf(p.iss, sizeof(p.iss), "https://sts.windows.net/%s/", TENANT);
    p.iat = p.nbf = cmk_clock_now(&S.rt.clock);
    p.exp = p.iat + 1000 * CMK_DAY;
    char *tok = NULL;
    if (cmk_auth_issue(S.rt.auth, &p, &tok, NULL) != 0)
        abort();
    snprintf(out, n, "Bearer %s", tok);
    free(tok);
}

static int dispatch(const char *method, const char *url, const char *auth, const void *body,
                    size_t len, struct cmk_response *res)
{
    struct cmk_request req;
    struct cmk_origin o = {.kind = CMK_ORIGIN_NETWORK, .addr = "10.1.2.3"};
    cmk_request_init(&req, method, url, &o);
    cmk_request_add_header(&req, "authorization", auth);
    cmk_request_add_header(&req, "content-type", "application/json");
    if (body)
        cmk_request_set_body(&req, body, len);
    cmk_response_init(res);
    cmk_router_dispatch(&S.rt.router, &req, res);
    cmk_request_close(&req);
    return res->status;
}

static void must(const char *method, const char *url, const char *auth, const char *body)
{
    struct cmk_response res;
    int st = dispatch(method, url, auth, body, body ? strlen(body) : 0, &res);
    cmk_response_close(&res);
    if (st >= 300)
        abort();
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", S.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_keyjson: cannot remove %s\n", S.dir);
}

static void init(void)
{
    snprintf(S.dir, sizeof(S.dir), "/tmp/cmk-fuzz-keyjson-XXXXXX");
    if (mkdtemp(S.dir) == NULL)
        abort();
    atexit(cleanup);
    uv_loop_init(&S.loop);
    struct cmk_runtime_opts o = {
        .data_dir = S.dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 1, .in_memory = 1};
    struct cmk_err err;
    if (cmk_runtime_open(&S.rt, &S.loop, &o, &err) != 0 || cmk_arm_open(&S.arm, &S.rt, &err) != 0 ||
        vs_vaults_open(&S.vs, &S.rt, &err) != 0)
        abort();
    cmk_log_setup(&S.rt.clock, stderr, CMK_LOG_OFF);
    bearer("https://management.azure.com/", S.mgmt, sizeof(S.mgmt));
    bearer("https://vault.azure.net", S.vault, sizeof(S.vault));
    must("PUT",
         "https://management.azure.com/subscriptions/" SUB
         "/resourcegroups/fz?api-version=2021-04-01",
         S.mgmt, "{\"location\":\"eastus\"}");
    static const char vault[] =
        "{\"location\":\"eastus\",\"properties\":{\"tenantId\":\"" TENANT "\",\"sku\":{\"family\":"
        "\"A\",\"name\":\"premium\"},\"accessPolicies\":[{\"tenantId\":\"" TENANT
        "\",\"objectId\":\"" OID "\",\"permissions\":{\"keys\":[\"all\"]}}]}}";
    must("PUT",
         "https://management.azure.com/subscriptions/" SUB "/resourceGroups/fz/providers/"
         "Microsoft.KeyVault/vaults/fuzzkv?api-version=2025-05-01",
         S.mgmt, vault);
    must("PUT",
         "https://management.azure.com/subscriptions/" SUB "/resourceGroups/fz/providers/"
         "Microsoft.KeyVault/vaults/fuzzarm?api-version=2025-05-01",
         S.mgmt, vault);
    must("POST", "https://fuzzkv.vault.azure.net/keys/k/create?api-version=7.5", S.vault,
         "{\"kty\":\"RSA\"}");
    must("POST", "https://fuzzkv.vault.azure.net/keys/e/create?api-version=7.5", S.vault,
         "{\"kty\":\"EC\"}");
    S.ready = 1;
}

static const struct {
    const char *method, *url;
    int mgmt;
} routes[] = {
    {"POST", "https://fuzzkv.vault.azure.net/keys/new/create?api-version=7.5", 0},
    {"PUT", "https://fuzzkv.vault.azure.net/keys/imp?api-version=7.5", 0},
    {"PATCH", "https://fuzzkv.vault.azure.net/keys/k/?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/keys/k//wrapkey?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/keys/k/unwrapkey?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/keys/k/encrypt?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/keys/k/decrypt?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/keys/k/sign?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/keys/e/verify?api-version=7.5", 0},
    {"PUT", "https://fuzzkv.vault.azure.net/keys/k/rotationpolicy?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/keys/restore?api-version=7.5", 0},
    {"POST", "https://fuzzkv.vault.azure.net/rng?api-version=7.5", 0},
    {"PUT",
     "https://management.azure.com/subscriptions/" SUB "/resourceGroups/fz/providers/"
     "Microsoft.KeyVault/vaults/fuzzarm?api-version=2025-05-01",
     1},
    {"PATCH",
     "https://management.azure.com/subscriptions/" SUB "/resourceGroups/fz/providers/"
     "Microsoft.KeyVault/vaults/fuzzarm?api-version=2025-05-01",
     1},
    {"PUT",
     "https://management.azure.com/subscriptions/" SUB "/resourceGroups/fz/providers/"
     "Microsoft.KeyVault/vaults/fuzzarm/accessPolicies/add?api-version=2025-05-01",
     1},
    {"POST",
     "https://management.azure.com/subscriptions/" SUB
     "/providers/Microsoft.KeyVault/checkNameAvailability?api-version=2025-05-01",
     1},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!S.ready)
        init();
    if (size < 1)
        return 0;
    size_t r = data[0] % (sizeof(routes) / sizeof(routes[0]));
    /* Key generation is slow; big keys are not what is being fuzzed here. */
    if (r == 0 && (memmem(data, size, "4096", 4) || memmem(data, size, "3072", 4)))
        return 0;
    struct cmk_response res;
    int st = dispatch(routes[r].method, routes[r].url, routes[r].mgmt ? S.mgmt : S.vault, data + 1,
                      size - 1, &res);
    json_t *body = cmk_response_json_body(&res);
    if (st >= 500 || st < 200)
        abort();
    if (st >= 400) {
        json_t *e = json_object_get(body, "error");
        if (!json_is_string(json_object_get(e, "code")) ||
            !json_is_string(json_object_get(e, "message")))
            abort();
    } else if (st != 204 && body == NULL) {
        abort();
    }
    json_decref(body);
    cmk_response_close(&res);
    return 0;
}
