/* vaultserver.c: the server bench/vault/run measures until `cmksim serve` carries vaultsim.
 * It stands up what serve stands up for a vault, and nothing else: a runtime on the real
 * clock over --dir, the emulator CA, the ARM core, the Key Vault service, and the TLS listener
 * (127.0.0.1, port 0, one loop thread; unwrapKey's RSA work on libuv's thread pool through the
 * router's deferred responses). Through the in-process door it creates a resource
 * group, vault "bench" (access policy: all key permissions for the bench principal) and an
 * RSA-2048 key "kek", wraps one 32-byte DEK, and issues a vault token for the principal.
 *
 * It prints one line: "tls_port=N ca=PATH token=JWT wrapped=B64URL kid=URL", then serves until
 * SIGTERM/SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arm.h"
#include "common/auth.h"
#include "common/http.h"
#include "common/log.h"
#include "common/runtime.h"
#include "vaultsim/vault.h"

#define PRINCIPAL "bbbbbbbb-0000-0000-0000-00000000bec4"

struct app {
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct cmk_arm *arm;
    struct vs_vaults *vs;
    struct cmk_http_server *https;
    uv_signal_t sigterm, sigint;
};

static char *issue(struct app *a, const char *aud)
{
    struct cmk_principal p;
    memset(&p, 0, sizeof(p));
    snprintf(p.tid, sizeof(p.tid), "%s", CMK_ARM_DEFAULT_TENANT);
    snprintf(p.oid, sizeof(p.oid), "%s", PRINCIPAL);
    snprintf(p.appid, sizeof(p.appid), "%s", PRINCIPAL);
    snprintf(p.aud, sizeof(p.aud), "%s", aud);
    snprintf(p.iss, sizeof(p.iss), "https://sts.windows.net/%s/", CMK_ARM_DEFAULT_TENANT);
    cmk_time_t now = cmk_clock_now(&a->rt.clock);
    p.iat = p.nbf = now;
    p.exp = now + 24 * CMK_HOUR;
    char *tok = NULL;
    struct cmk_err err;
    if (cmk_auth_issue(a->rt.auth, &p, &tok, &err) != 0) {
        fprintf(stderr, "vaultserver: token: %s\n", err.message);
        exit(1);
    }
    return tok;
}

static json_t *call(struct app *a, const char *method, const char *url, const char *token,
                    const char *body)
{
    struct cmk_request req;
    struct cmk_origin o = {.kind = CMK_ORIGIN_INPROC, .addr = "127.0.0.1"};
    cmk_request_init(&req, method, url, &o);
    char auth[4096];
    snprintf(auth, sizeof(auth), "Bearer %s", token);
    cmk_request_add_header(&req, "authorization", auth);
    if (body)
        cmk_request_set_body(&req, body, strlen(body));
    struct cmk_response res;
    cmk_response_init(&res);
    cmk_router_dispatch(&a->rt.router, &req, &res);
    if (res.status >= 300) {
        fprintf(stderr, "vaultserver: %s %s: %d %.*s\n", method, url, res.status, (int)res.body.len,
                res.body.data);
        exit(1);
    }
    json_t *j = cmk_response_json_body(&res);
    cmk_response_close(&res);
    cmk_request_close(&req);
    return j;
}

static void on_stopped(void *arg)
{
    struct app *a = arg;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct app *a = h->data;
    uv_signal_stop(&a->sigterm);
    uv_signal_stop(&a->sigint);
    cmk_http_stop(a->https, on_stopped, a);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
    if (dir == NULL) {
        fprintf(stderr, "usage: vaultserver --dir DIR\n");
        return 64;
    }
    static struct app a;
    uv_loop_init(&a.loop);
    struct cmk_runtime_opts o = {.data_dir = dir, .clock_mode = CMK_CLOCK_REAL, .seed = 1};
    struct cmk_err err;
    if (cmk_runtime_open(&a.rt, &a.loop, &o, &err) != 0 || cmk_runtime_open_tls(&a.rt, &err) != 0 ||
        cmk_arm_open(&a.arm, &a.rt, &err) != 0 || vs_vaults_open(&a.vs, &a.rt, &err) != 0) {
        fprintf(stderr, "vaultserver: %s\n", err.message);
        return 1;
    }
    cmk_log_setup(&a.rt.clock, stderr, CMK_LOG_WARN);
    char *mgmt = issue(&a, "https://management.azure.com/");
    char *vault = issue(&a, "https://vault.azure.net");
    json_decref(call(&a, "PUT",
                     "https://management.azure.com/subscriptions/" CMK_ARM_DEFAULT_SUBSCRIPTION
                     "/resourcegroups/bench?api-version=2021-04-01",
                     mgmt, "{\"location\":\"eastus\"}"));
    json_decref(
        call(&a, "PUT",
             "https://management.azure.com/subscriptions/" CMK_ARM_DEFAULT_SUBSCRIPTION
             "/resourceGroups/bench/providers/Microsoft.KeyVault/vaults/bench"
             "?api-version=2025-05-01",
             mgmt,
             "{\"location\":\"eastus\",\"properties\":{\"tenantId\":\"" CMK_ARM_DEFAULT_TENANT
             "\",\"sku\":{\"family\":\"A\",\"name\":\"standard\"},\"accessPolicies\":[{"
             "\"tenantId\":\"" CMK_ARM_DEFAULT_TENANT "\",\"objectId\":\"" PRINCIPAL
             "\",\"permissions\":{\"keys\":[\"all\"]}}]}}"));
    json_t *k = call(&a, "POST", "https://bench.vault.azure.net/keys/kek/create?api-version=7.5",
                     vault, "{\"kty\":\"RSA\",\"key_size\":2048}");
    char kid[512];
    snprintf(kid, sizeof(kid), "%s",
             json_string_value(json_object_get(json_object_get(k, "key"), "kid")));
    json_decref(k);
    json_t *w =
        call(&a, "POST", "https://bench.vault.azure.net/keys/kek//wrapkey?api-version=7.5", vault,
             "{\"alg\":\"RSA-OAEP-256\",\"value\":"
             "\"AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8\"}");
    vs_vaults_set_throttle(a.vs, 0, 0);
    struct cmk_http_config hc = {
        .addr = "127.0.0.1", .port = 0, .tls = cmk_tls_server_ctx(a.rt.tls)};
    if (cmk_http_start(&a.https, &a.loop, &a.rt.clock, &a.rt.router, &hc, &err) != 0) {
        fprintf(stderr, "vaultserver: listen: %s\n", err.message);
        return 1;
    }
    printf("tls_port=%d ca=%s token=%s wrapped=%s kid=%s\n", cmk_http_port(a.https),
           cmk_tls_ca_path(a.rt.tls), vault, json_string_value(json_object_get(w, "value")), kid);
    fflush(stdout);
    json_decref(w);
    free(mgmt);
    free(vault);
    uv_signal_init(&a.loop, &a.sigterm);
    uv_signal_init(&a.loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    vs_vaults_free(a.vs);
    cmk_arm_free(a.arm);
    cmk_runtime_close(&a.rt);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    return 0;
}
