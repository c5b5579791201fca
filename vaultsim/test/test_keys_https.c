/* test_keys_https.c: unwrapKey through the HTTPS door with the private-key work on libuv's
 * thread pool (router.h: deferred responses; keys_crypt.c), as a client sees it.
 *
 * A runtime on the real clock (deferral is off in virtual mode) with TLS, the ARM core and
 * Key Vault; a vault "kv1" with an RSA-2048 key "k"; the TLS listener on 127.0.0.1 port 0,
 * driven from this thread (non-blocking OpenSSL clients, UV_RUN_NOWAIT turns of the loop).
 * Checked:
 *   - the work really leaves the loop: with every pool thread held by the test, an unwrapKey
 *     is not answered while a wrapKey (public key, inline) on another connection is; released,
 *     the unwrap comes back right;
 *   - several keep-alive connections, each pipelining unwraps (and a bad ciphertext, and a
 *     wrapKey in between), all sent before any is read: every answer in request order on its
 *     connection, every DEK right, the error the service's, one AuditEvent per request with
 *     the right result, status, key id, caller and origin;
 *   - sign with an RSA and an EC key over HTTPS (also deferred): the signatures verify;
 *   - the same unwrap through the in-process door (synchronous) gives the same body, the same
 *     service headers and an AuditEvent that differs only in time and correlation id.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include "common/http.h"
#include "common/tls.h"
#include "vs_test.h"

#define RG       "rg"
#define HOST     "kv1.vault.azure.net"
#define KEYPATH  "/keys/k//unwrapkey?api-version=7.5"
#define WRAPPATH "/keys/k//wrapkey?api-version=7.5"
#define POOL     4 /* UV_THREADPOOL_SIZE for this executable */
#define CONNS    4
#define PER_CONN 6 /* requests pipelined on each connection */
#define NDEKS    (CONNS * PER_CONN)

static struct t_env env;
static struct cmk_http_server *srv;
static SSL_CTX *client_ctx;
static char *server_token; /* "Bearer ..." for T_SERVER (get, wrapKey, unwrapKey) */
static char *admin_token;  /* for T_ADMIN (every permission) */
static char kid_base[256]; /* https://kv1.vault.azure.net/keys/k/<version> */
static unsigned char deks[NDEKS][32];
static char *wrapped[NDEKS]; /* base64url */

/* ---- in-process calls (setup and comparison) ---- */

static struct t_res vault_call_as(const char *token, const char *path, const char *body,
                                  const char *crid, struct cmk_response *keep)
{
    struct cmk_request req;
    struct cmk_origin o = {.kind = CMK_ORIGIN_NETWORK, .addr = "127.0.0.1"};
    char url[512];
    snprintf(url, sizeof(url), "https://" HOST "%s", path);
    assert_int_equal(cmk_request_init(&req, "POST", url, &o), 0);
    cmk_request_add_header(&req, "authorization", token);
    cmk_request_add_header(&req, "content-type", "application/json");
    if (crid)
        cmk_request_add_header(&req, "x-ms-client-request-id", crid);
    cmk_request_set_body(&req, body, strlen(body));
    struct cmk_response res;
    cmk_response_init(&res);
    cmk_router_dispatch(&env.rt.router, &req, &res);
    struct t_res r;
    memset(&r, 0, sizeof(r));
    r.status = res.status;
    r.json = cmk_response_json_body(&res);
    snprintf(r.body, sizeof(r.body), "%.*s", (int)res.body.len, res.body.data ? res.body.data : "");
    if (keep)
        *keep = res;
    else
        cmk_response_close(&res);
    cmk_request_close(&req);
    return r;
}

static struct t_res vault_call(const char *path, const char *body, const char *crid,
                               struct cmk_response *keep)
{
    return vault_call_as(server_token, path, body, crid, keep);
}

static char *unwrap_body(const char *value)
{
    char *b = malloc(strlen(value) + 64);
    sprintf(b, "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}", value);
    return b;
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    memset(&env, 0, sizeof(env));
    snprintf(env.dir, sizeof(env.dir), "/tmp/cmk-vs-https-XXXXXX");
    if (mkdtemp(env.dir) == NULL)
        fail_msg("mkdtemp");
    t_seed_keys(env.dir);
    uv_loop_init(&env.loop);
    struct cmk_runtime_opts o = {.data_dir = env.dir, .clock_mode = CMK_CLOCK_REAL, .seed = 7};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_runtime_open(&env.rt, &env.loop, &o, &err) != 0 ||
        cmk_runtime_open_tls(&env.rt, &err) != 0 || cmk_arm_open(&env.arm, &env.rt, &err) != 0 ||
        vs_vaults_open(&env.vs, &env.rt, &err) != 0)
        t_fail_err("open", &err);

    char *mgmt = t_token(&env, T_TENANT, T_ADMIN, "https://management.azure.com/");
    char *admin = t_token(&env, T_TENANT, T_ADMIN, "https://vault.azure.net");
    admin_token = strdup(admin);
    server_token = t_token(&env, T_TENANT, T_SERVER, "https://vault.azure.net");
    t_group(&env, mgmt, RG);
    t_vault_basic(&env, mgmt, RG, "kv1", "");
    struct t_res r = t_req(&env, "POST", "https://" HOST "/keys/k/create?api-version=7.5", admin,
                           "{\"kty\":\"RSA\",\"key_size\":2048}");
    assert_int_equal(r.status, 200);
    snprintf(kid_base, sizeof(kid_base), "%s",
             json_string_value(json_object_get(json_object_get(r.json, "key"), "kid")));
    t_res_free(&r);
    for (int i = 0; i < NDEKS; i++) {
        for (int k = 0; k < 32; k++)
            deks[i][k] = (unsigned char)(i * 7 + k);
        char *v = cmk_b64_encode(deks[i], 32, 1);
        char body[256];
        snprintf(body, sizeof(body), "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}", v);
        free(v);
        r = vault_call(WRAPPATH, body, NULL, NULL);
        assert_int_equal(r.status, 200);
        wrapped[i] = strdup(json_string_value(json_object_get(r.json, "value")));
        t_res_free(&r);
    }
    free(mgmt);
    free(admin);

    struct cmk_http_config hc = {
        .addr = "127.0.0.1", .port = 0, .tls = cmk_tls_server_ctx(env.rt.tls)};
    if (cmk_http_start(&srv, &env.loop, &env.rt.clock, &env.rt.router, &hc, &err) != 0)
        t_fail_err("listen", &err);
    client_ctx = SSL_CTX_new(TLS_client_method());
    assert_int_equal(SSL_CTX_load_verify_locations(client_ctx, cmk_tls_ca_path(env.rt.tls), NULL),
                     1);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

static void on_stopped(void *arg)
{
    *(int *)arg = 1;
}

static int group_teardown(void **state)
{
    int stopped = srv == NULL;
    cmk_http_stop(srv, on_stopped, &stopped);
    for (int i = 0; i < 10000 && !stopped; i++) {
        uv_run(&env.loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 1);
    }
    assert_true(stopped);
    SSL_CTX_free(client_ctx);
    for (int i = 0; i < NDEKS; i++)
        free(wrapped[i]);
    free(server_token);
    free(admin_token);
    t_env_free(&env);
    return 0;
}

/* ---- a TLS client driven with the loop ---- */

struct client {
    int fd;
    SSL *ssl;
    struct cmk_buf in;  /* bytes received */
    struct cmk_buf out; /* bytes to send */
    size_t sent;
};

static void turn(const struct client *cs, int n)
{
    uv_run(&env.loop, UV_RUN_NOWAIT);
    struct pollfd p[CONNS];
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = cs[i].fd, .events = POLLIN};
    poll(p, (nfds_t)n, 1);
}

static void client_open(struct client *c)
{
    memset(c, 0, sizeof(*c));
    cmk_buf_init(&c->in);
    cmk_buf_init(&c->out);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cmk_http_port(srv))};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->ssl = SSL_new(client_ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, HOST);
    SSL_set1_host(c->ssl, HOST);
    for (int i = 0; i < 5000; i++) {
        int rc = SSL_connect(c->ssl);
        if (rc == 1)
            return;
        int e = SSL_get_error(c->ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            break;
        turn(c, 1);
    }
    fail_msg("TLS handshake failed");
}

static void client_close(struct client *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    cmk_buf_close(&c->in);
    cmk_buf_close(&c->out);
}

static void queue_request_as(struct client *c, const char *token, const char *path,
                             const char *body, const char *crid)
{
    cmk_buf_printf(&c->out,
                   "POST %s HTTP/1.1\r\nHost: " HOST "\r\nAuthorization: %s\r\n"
                   "Content-Type: application/json\r\nx-ms-client-request-id: %s\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   path, token, crid, strlen(body), body);
}

static void queue_request(struct client *c, const char *path, const char *body, const char *crid)
{
    queue_request_as(c, server_token, path, body, crid);
}

/* Send what is queued and read what arrives, without blocking. */
static void client_pump(struct client *c)
{
    if (c->sent < c->out.len) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, c->out.data + c->sent, (int)(c->out.len - c->sent));
        if (n > 0)
            c->sent += (size_t)n;
    }
    for (;;) {
        char tmp[16384];
        ERR_clear_error();
        int n = SSL_read(c->ssl, tmp, sizeof(tmp));
        if (n <= 0)
            break;
        cmk_buf_append(&c->in, tmp, (size_t)n);
    }
}

struct answer {
    int status;
    char crid[64];
    json_t *json;
};

/* Parse the complete responses in c->in (up to max). */
static int answers(const struct client *c, struct answer *out, int max)
{
    int n = 0;
    const char *p = c->in.data, *end = c->in.data + c->in.len;
    while (p && p < end && n < max) {
        const char *head_end = strstr(p, "\r\n\r\n");
        if (head_end == NULL || strncmp(p, "HTTP/1.1 ", 9) != 0)
            break;
        const char *cl = strcasestr(p, "\r\nContent-Length: ");
        size_t len = cl && cl < head_end ? strtoul(cl + 18, NULL, 10) : 0;
        if ((size_t)(end - (head_end + 4)) < len)
            break;
        if (out) {
            out[n].status = atoi(p + 9);
            const char *cr = strcasestr(p, "\r\nx-ms-client-request-id: ");
            out[n].crid[0] = '\0';
            if (cr && cr < head_end)
                snprintf(out[n].crid, sizeof(out[n].crid), "%.*s", (int)strcspn(cr + 26, "\r"),
                         cr + 26);
            out[n].json = json_loadb(head_end + 4, len, 0, NULL);
        }
        n++;
        p = head_end + 4 + len;
    }
    return n;
}

/* Drive clients until each has want answers (or ~10 s). */
static void pump_until(struct client *cs, int n, int want)
{
    for (int i = 0; i < 10000; i++) {
        int ready = 1;
        for (int k = 0; k < n; k++) {
            client_pump(&cs[k]);
            if (answers(&cs[k], NULL, want) < want)
                ready = 0;
        }
        if (ready)
            return;
        turn(cs, n);
    }
    fail_msg("answers did not arrive");
}

/* ---- audit ---- */

/* The vault's AuditEvent whose correlationId is crid (a new reference), or NULL. */
static json_t *audit_event(const char *crid)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    int64_t last = 0;
    struct cmk_err err;
    if (vs_vaults_audit_read(env.vs, "kv1", 0, &b, &last, &err) != 0)
        t_fail_err("audit", &err);
    json_t *found = NULL;
    for (char *line = b.data; line && *line;) {
        char *nl = strchr(line, '\n');
        json_t *ev = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        const char *c = json_string_value(json_object_get(ev, "correlationId"));
        if (c && strcmp(c, crid) == 0) {
            if (found)
                fail_msg("two audit events for %s", crid);
            found = json_incref(ev);
        }
        json_decref(ev);
        line = nl ? nl + 1 : NULL;
    }
    cmk_buf_close(&b);
    return found;
}

static const char *jstr(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v) ? json_string_value(v) : "";
}

/* ---- tests ---- */

static uv_sem_t hold, held;

static void block_work(uv_work_t *w)
{
    uv_sem_post(&held);
    uv_sem_wait(&hold);
}

static void block_done(uv_work_t *w, int status)
{
    (*(int *)w->data)++;
}

/* With every pool thread held, an unwrap waits and a wrap (inline) does not. */
static void test_unwrap_runs_on_pool(void **state)
{
    uv_sem_init(&hold, 0);
    uv_sem_init(&held, 0);
    uv_work_t blockers[POOL];
    int unblocked = 0;
    for (int i = 0; i < POOL; i++) {
        blockers[i].data = &unblocked;
        assert_int_equal(uv_queue_work(&env.loop, &blockers[i], block_work, block_done), 0);
    }
    for (int i = 0; i < POOL; i++)
        uv_sem_wait(&held);
    struct client cs[2];
    client_open(&cs[0]);
    client_open(&cs[1]);
    char *ub = unwrap_body(wrapped[0]);
    queue_request(&cs[0], KEYPATH, ub, "held-unwrap");
    free(ub);
    queue_request(
        &cs[1], WRAPPATH,
        "{\"alg\":\"RSA-OAEP\",\"value\":\"AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8\"}",
        "inline-wrap");
    pump_until(&cs[1], 1, 1);
    for (int i = 0; i < 50; i++) {
        client_pump(&cs[0]);
        turn(cs, 2);
    }
    assert_int_equal(answers(&cs[0], NULL, 1), 0); /* still on the (busy) pool */
    for (int i = 0; i < POOL; i++)
        uv_sem_post(&hold);
    pump_until(&cs[0], 1, 1);
    struct answer a;
    assert_int_equal(answers(&cs[0], &a, 1), 1);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.crid, "held-unwrap");
    char *want = cmk_b64_encode(deks[0], 32, 1);
    assert_string_equal(jstr(a.json, "value", NULL), want);
    free(want);
    json_decref(a.json);
    for (int i = 0; i < 5000 && unblocked < POOL; i++)
        turn(cs, 2);
    assert_int_equal(unblocked, POOL);
    client_close(&cs[0]);
    client_close(&cs[1]);
    uv_sem_destroy(&hold);
    uv_sem_destroy(&held);
}

/* Every connection pipelines its requests; all are sent before any answer is read. On each:
 * unwraps, a wrapKey (inline) at position 2, a corrupted ciphertext at position 4. */
static void test_unwrap_concurrent_connections(void **state)
{
    struct client cs[CONNS];
    for (int k = 0; k < CONNS; k++)
        client_open(&cs[k]);
    for (int k = 0; k < CONNS; k++) {
        for (int j = 0; j < PER_CONN; j++) {
            char crid[64];
            snprintf(crid, sizeof(crid), "c%d-r%d", k, j);
            if (j == 2) {
                queue_request(&cs[k], WRAPPATH,
                              "{\"alg\":\"RSA-OAEP-256\",\"value\":\"AAECAwQFBgcICQoLDA0ODw\"}",
                              crid);
                continue;
            }
            char *v = strdup(wrapped[k * PER_CONN + j]);
            if (j == 4)
                v[10] = v[10] == 'A' ? 'B' : 'A'; /* another ciphertext: OAEP refuses it */
            char *body = unwrap_body(v);
            queue_request(&cs[k], KEYPATH, body, crid);
            free(body);
            free(v);
        }
    }
    pump_until(cs, CONNS, PER_CONN);
    for (int k = 0; k < CONNS; k++) {
        struct answer a[PER_CONN];
        assert_int_equal(answers(&cs[k], a, PER_CONN), PER_CONN);
        for (int j = 0; j < PER_CONN; j++) {
            char crid[64];
            snprintf(crid, sizeof(crid), "c%d-r%d", k, j);
            assert_string_equal(a[j].crid, crid); /* in request order */
            json_t *ev = audit_event(crid);
            if (ev == NULL)
                fail_msg("no audit event for %s", crid);
            if (j == 4) {
                assert_int_equal(a[j].status, 400);
                assert_string_equal(jstr(a[j].json, "error", "code"), "BadParameter");
                assert_string_equal(jstr(ev, "resultType", NULL), "Failure");
                assert_string_equal(jstr(ev, "resultSignature", NULL), "BadRequest");
                assert_string_equal(jstr(ev, "properties", "errorCode"), "BadParameter");
                assert_int_equal(json_integer_value(json_object_get(
                                     json_object_get(ev, "properties"), "httpStatusCode")),
                                 400);
            } else {
                assert_int_equal(a[j].status, 200);
                assert_string_equal(jstr(a[j].json, "kid", NULL), kid_base);
                assert_string_equal(jstr(ev, "resultType", NULL), "Success");
                assert_string_equal(jstr(ev, "properties", "id"), kid_base);
                if (j != 2) {
                    char *want = cmk_b64_encode(deks[k * PER_CONN + j], 32, 1);
                    assert_string_equal(jstr(a[j].json, "value", NULL), want);
                    free(want);
                }
            }
            assert_string_equal(jstr(ev, "operationName", NULL), j == 2 ? "KeyWrap" : "KeyUnwrap");
            assert_string_equal(jstr(ev, "callerIpAddress", NULL), "127.0.0.1");
            assert_string_equal(jstr(ev, "properties", "origin"), "Network");
            assert_string_equal(jstr(ev, "properties", "requestUri"), j == 2 ? WRAPPATH : KEYPATH);
            assert_string_equal(jstr(json_object_get(ev, "identity"), "claim", "oid"), T_SERVER);
            json_decref(ev);
            json_decref(a[j].json);
        }
        client_close(&cs[k]);
    }
}

/* The same unwrap over HTTPS (deferred) and in-process (inline): same body, same service
 * headers, same AuditEvent but for its time, correlation id and sequence number. */
static void test_same_as_inprocess(void **state)
{
    char *body = unwrap_body(wrapped[1]);
    struct cmk_response sync;
    struct t_res r = vault_call(KEYPATH, body, "same-inproc", &sync);
    assert_int_equal(r.status, 200);

    struct client c;
    client_open(&c);
    queue_request(&c, KEYPATH, body, "same-https");
    pump_until(&c, 1, 1);
    struct answer a;
    assert_int_equal(answers(&c, &a, 1), 1);
    assert_int_equal(a.status, 200);
    assert_true(json_equal(a.json, r.json));
    /* the service's headers, as the synchronous handler sets them */
    const char *names[] = {"content-type", "x-ms-keyvault-service-version", "x-ms-keyvault-region",
                           "x-ms-keyvault-network-info"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *want = cmk_response_get_header(&sync, names[i]);
        assert_non_null(want);
        char line[512];
        snprintf(line, sizeof(line), "\r\n%s: %s\r\n", names[i], want);
        if (strcasestr(c.in.data, line) == NULL)
            fail_msg("header %s: %s missing from the HTTPS answer", names[i], want);
    }
    assert_non_null(strcasestr(c.in.data, "\r\nx-ms-request-id: "));

    json_t *e1 = audit_event("same-inproc"), *e2 = audit_event("same-https");
    assert_non_null(e1);
    assert_non_null(e2);
    json_object_del(e1, "time");
    json_object_del(e2, "time");
    json_object_del(e1, "correlationId");
    json_object_del(e2, "correlationId");
    json_object_del(e1, "seq");
    json_object_del(e2, "seq");
    if (!json_equal(e1, e2)) {
        char *s1 = json_dumps(e1, JSON_SORT_KEYS), *s2 = json_dumps(e2, JSON_SORT_KEYS);
        fail_msg("audit differs:\n%s\n%s", s1, s2);
    }
    json_decref(e1);
    json_decref(e2);
    json_decref(a.json);
    t_res_free(&r);
    cmk_response_close(&sync);
    client_close(&c);
    free(body);
}

/* sign (RSA and EC private keys: deferred) over HTTPS; the signatures verify in-process. */
static void test_sign_over_https(void **state)
{
    struct t_res r = vault_call_as(admin_token, "/keys/ec/create?api-version=7.5",
                                   "{\"kty\":\"EC\",\"crv\":\"P-256\"}", NULL, NULL);
    assert_int_equal(r.status, 200);
    t_res_free(&r);
    unsigned char digest[32];
    for (int i = 0; i < 32; i++)
        digest[i] = (unsigned char)(0xA0 + i);
    char *d = cmk_b64_encode(digest, 32, 1);
    char body[256];
    struct client c;
    client_open(&c);
    snprintf(body, sizeof(body), "{\"alg\":\"RS256\",\"value\":\"%s\"}", d);
    queue_request_as(&c, admin_token, "/keys/k//sign?api-version=7.5", body, "sign-rsa");
    snprintf(body, sizeof(body), "{\"alg\":\"ES256\",\"value\":\"%s\"}", d);
    queue_request_as(&c, admin_token, "/keys/ec//sign?api-version=7.5", body, "sign-ec");
    pump_until(&c, 1, 2);
    struct answer a[2];
    assert_int_equal(answers(&c, a, 2), 2);
    const char *algs[2] = {"RS256", "ES256"}, *keys[2] = {"k", "ec"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(a[i].status, 200);
        assert_string_equal(a[i].crid, i == 0 ? "sign-rsa" : "sign-ec");
        char path[128], vbody[1024];
        snprintf(path, sizeof(path), "/keys/%s//verify?api-version=7.5", keys[i]);
        snprintf(vbody, sizeof(vbody), "{\"alg\":\"%s\",\"digest\":\"%s\",\"value\":\"%s\"}",
                 algs[i], d, jstr(a[i].json, "value", NULL));
        r = vault_call_as(admin_token, path, vbody, NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_true(json_is_true(json_object_get(r.json, "value")));
        t_res_free(&r);
        json_decref(a[i].json);
    }
    free(d);
    client_close(&c);
}

int main(void)
{
    char n[8];
    snprintf(n, sizeof(n), "%d", POOL);
    setenv("UV_THREADPOOL_SIZE", n, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unwrap_runs_on_pool),
        cmocka_unit_test(test_unwrap_concurrent_connections),
        cmocka_unit_test(test_same_as_inprocess),
        cmocka_unit_test(test_sign_over_https),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
