/* vs_test_base.h: what the tests of both key store flavours share (header-only): vaultsim's
 * (vs_test.h) and hsmsim's (hsmsim/test/hsm_test.h). A runtime on the virtual clock in a
 * temporary state directory with the ARM core on it, the token-signing and root keys made once
 * per executable, bearer tokens from cmk_auth_issue, and requests through the in-process door
 * of the router, answered exactly as over HTTPS.
 *
 * The flavour's header defines T_DIR_PREFIX ("cmk-vs") and struct t_env with at least
 *     char dir[128]; uv_loop_t loop; struct cmk_runtime rt; struct cmk_arm *arm;
 * (after including common/runtime.h and common/arm.h), then includes this file, then defines
 * t_open (t_runtime_open, then its service) and t_close (its service, then t_runtime_close),
 * which t_env_new and t_env_free call. */
#ifndef VS_TEST_BASE_H
#define VS_TEST_BASE_H

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
#include "common/b64.h"
#include "common/rootkey.h"
#include "common/runtime.h"

#define T_TENANT       CMK_ARM_DEFAULT_TENANT
#define T_SUB          CMK_ARM_DEFAULT_SUBSCRIPTION
#define T_OTHER_TENANT "22222222-2222-2222-2222-222222222222"
#define T_MGMT         "https://management.azure.com"

static inline void t_fail_err(const char *what, const struct cmk_err *err)
{
    fail_msg("%s: %d %s %s", what, err->status, err->code, err->message);
}

/* Generating the token-signing key (RSA-2048, auth.h: DIR/keys/token-signing.key) and the root
 * key for every fresh state directory costs seconds on a loaded machine; the tests of one
 * executable share one pair, made once in a template directory and copied (mode 0600). */
static char t_template[64];

static void t_template_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t_template);
    if (t_template[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", t_template);
}

static inline void t_seed_keys(const char *dir)
{
    if (t_template[0] == '\0') {
        snprintf(t_template, sizeof(t_template), "/tmp/" T_DIR_PREFIX "-template-XXXXXX");
        if (mkdtemp(t_template) == NULL)
            fail_msg("mkdtemp");
        atexit(t_template_cleanup);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct cmk_runtime rt;
        struct cmk_runtime_opts o = {.data_dir = t_template, .clock_mode = CMK_CLOCK_VIRTUAL};
        struct cmk_err err;
        if (cmk_runtime_open(&rt, &loop, &o, &err) != 0)
            t_fail_err("template runtime", &err);
        struct cmk_rootkey rk;
        if (cmk_rootkey_load(&rk, t_template, &err) != 0)
            t_fail_err("template root key", &err);
        cmk_rootkey_wipe(&rk);
        cmk_runtime_close(&rt);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p -m 700 %s/keys && cp -p %s/keys/token-signing.key %s/keys/root.key %s/keys/",
             dir, t_template, t_template, dir);
    if (system(cmd) != 0)
        fail_msg("cannot seed %s", dir);
}

/* Open (or reopen) the runtime over env->dir, and the ARM core on it. */
static inline void t_runtime_open(struct t_env *env)
{
    uv_loop_init(&env->loop);
    struct cmk_runtime_opts o = {.data_dir = env->dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 7};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&env->rt, &env->loop, &o, &err) != 0)
        t_fail_err("runtime", &err);
    if (cmk_arm_open(&env->arm, &env->rt, &err) != 0)
        t_fail_err("arm", &err);
}

/* Close them (the flavour's service first). */
static inline void t_runtime_close(struct t_env *env)
{
    cmk_arm_free(env->arm);
    env->arm = NULL;
    cmk_runtime_close(&env->rt);
    uv_run(&env->loop, UV_RUN_DEFAULT);
    uv_loop_close(&env->loop);
}

/* The flavour's: open (or reopen) the runtime over env->dir with the service; close them. */
static inline void t_open(struct t_env *env);
static inline void t_close(struct t_env *env);

/* A fresh state directory /tmp/<T_DIR_PREFIX>-<name>-XXXXXX with the shared keys, opened. */
static inline void t_env_new(struct t_env *env, const char *name)
{
    memset(env, 0, sizeof(*env));
    snprintf(env->dir, sizeof(env->dir), "/tmp/" T_DIR_PREFIX "-%s-XXXXXX", name);
    if (mkdtemp(env->dir) == NULL)
        fail_msg("mkdtemp");
    t_seed_keys(env->dir);
    t_open(env);
}

static inline void t_env_free(struct t_env *env)
{
    t_close(env);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", env->dir);
}

/* A token for oid of tenant tid with audience aud, valid an hour from the clock's now:
 * "Bearer ..." (caller frees). */
static inline char *t_token(struct t_env *env, const char *tid, const char *oid, const char *aud)
{
    struct cmk_principal p;
    memset(&p, 0, sizeof(p));
    snprintf(p.tid, sizeof(p.tid), "%s", tid);
    snprintf(p.oid, sizeof(p.oid), "%s", oid);
    snprintf(p.appid, sizeof(p.appid), "%s", oid);
    snprintf(p.aud, sizeof(p.aud), "%s", aud);
    snprintf(p.iss, sizeof(p.iss), "https://sts.windows.net/%s/", tid);
    snprintf(p.idtyp, sizeof(p.idtyp), "app");
    cmk_time_t now = cmk_clock_now(&env->rt.clock);
    p.iat = p.nbf = now;
    p.exp = now + CMK_HOUR;
    char *tok = NULL;
    struct cmk_err err;
    if (cmk_auth_issue(env->rt.auth, &p, &tok, &err) != 0)
        t_fail_err("issue", &err);
    size_t n = strlen(tok) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", tok);
    free(tok);
    return h;
}

struct t_res {
    int status;
    json_t *json;      /* parsed body, or NULL */
    char body[16384];  /* the body as text (truncated) */
    char header[1024]; /* the header asked for, if any */
};

static inline void t_res_free(struct t_res *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* One request through the in-process door. auth: "Bearer ..." or NULL; body: JSON text or NULL;
 * origin NULL: a network caller at 10.0.0.1; want_header: a response header to copy. */
static inline struct t_res t_req_full(struct t_env *env, const char *method, const char *url,
                                      const char *auth, const char *body,
                                      const struct cmk_origin *origin, const char *want_header)
{
    struct cmk_request req;
    struct cmk_origin o = {.kind = CMK_ORIGIN_NETWORK};
    snprintf(o.addr, sizeof(o.addr), "10.0.0.1");
    if (cmk_request_init(&req, method, url, origin ? origin : &o) != 0)
        fail_msg("bad url %s", url);
    if (auth)
        cmk_request_add_header(&req, "authorization", auth);
    if (body) {
        cmk_request_set_body(&req, body, strlen(body));
        cmk_request_add_header(&req, "content-type", "application/json");
    }
    struct cmk_response res;
    cmk_response_init(&res);
    cmk_router_dispatch(&env->rt.router, &req, &res);
    struct t_res r;
    memset(&r, 0, sizeof(r));
    r.status = res.status;
    r.json = cmk_response_json_body(&res);
    snprintf(r.body, sizeof(r.body), "%.*s", (int)res.body.len, res.body.data ? res.body.data : "");
    if (want_header) {
        const char *h = cmk_response_get_header(&res, want_header);
        snprintf(r.header, sizeof(r.header), "%s", h ? h : "");
    }
    cmk_response_close(&res);
    cmk_request_close(&req);
    return r;
}

static inline struct t_res t_req(struct t_env *env, const char *method, const char *url,
                                 const char *auth, const char *body)
{
    return t_req_full(env, method, url, auth, body, NULL, NULL);
}

static inline const char *t_code(const struct t_res *r)
{
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

static inline const char *t_inner(const struct t_res *r)
{
    const char *c = json_string_value(
        json_object_get(json_object_get(json_object_get(r->json, "error"), "innererror"), "code"));
    return c ? c : "";
}

static inline const char *t_message(const struct t_res *r)
{
    const char *c =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return c ? c : "";
}

/* Assert status (and error code or inner code, when code is not NULL), then free. */
static inline void t_expect_at(const char *file, int line, struct t_res r, int status,
                               const char *code)
{
    if (r.status != status)
        fail_msg("%s:%d: status %d, wanted %d: %s", file, line, r.status, status, r.body);
    if (code && strcmp(t_code(&r), code) != 0 && strcmp(t_inner(&r), code) != 0)
        fail_msg("%s:%d: code %s/%s, wanted %s: %s", file, line, t_code(&r), t_inner(&r), code,
                 r.body);
    t_res_free(&r);
}
#define T_EXPECT(res, status, code) t_expect_at(__FILE__, __LINE__, (res), (status), (code))

#endif
