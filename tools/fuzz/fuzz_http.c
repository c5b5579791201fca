/* fuzz_http.c: bytes from the network, through the HTTP session (http_session.h: llhttp,
 * limits, request building), the router and back out as response bytes. No sockets.
 *
 * Each input runs twice: fed whole, and fed in pieces whose size comes from the first byte,
 * so split callbacks (a header name cut in two, a chunk size across reads) are exercised.
 * Checks: whatever comes out is a sequence of HTTP/1.1 responses; a closed session, or one
 * whose connection a streaming response took over, answers nothing more. Limits are small (4 KiB
 * head, 8 KiB body) so the corpus reaches them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_session.h"

static struct cmk_clock clk;
static struct cmk_hosts hosts;
static struct cmk_router router;

static void h_health(struct cmk_request *req, struct cmk_response *res, void *data)
{
    cmk_response_json(res, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_json(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_err err;
    json_t *j = cmk_request_json(req, &err);
    if (j == NULL) {
        cmk_response_error(res, &err);
        return;
    }
    json_t *v = json_object_get(j, "value");
    cmk_response_json(res, 200,
                      json_pack("{s:i,s:s}", "fields", (int)json_object_size(j), "value",
                                json_is_string(v) ? json_string_value(v) : ""));
}

static void h_echo(struct cmk_request *req, struct cmk_response *res, void *data)
{
    res->status = 200;
    cmk_buf_append(&res->body, req->body.data ? req->body.data : "", req->body.len);
    for (size_t i = 0; i < req->nheaders; i++)
        cmk_response_header(res, req->headers[i].name, req->headers[i].value);
}

static void h_key(struct cmk_request *req, struct cmk_response *res, void *data)
{
    const char *name = cmk_request_param(req, "name"), *version = cmk_request_param(req, "version");
    const char *api = cmk_request_query(req, "api-version");
    cmk_response_json(res, 200,
                      json_pack("{s:s?,s:s?,s:s?,s:s}", "name", name, "version", version, "api",
                                api, "vault", req->host_label));
}

static void h_events(struct cmk_request *req, struct cmk_response *res, void *data)
{
    cmk_response_stream(res, 200, "text/event-stream", NULL, NULL);
}

static void init(void)
{
    cmk_clock_init(&clk, NULL, CMK_CLOCK_VIRTUAL, (cmk_time_t)1767225600000, 0);
    cmk_hosts_init(&hosts, "localhost");
    cmk_router_init(&router, &hosts);
    cmk_router_add(&router, CMK_HOST_MGMT, "GET", "/health", h_health, NULL);
    cmk_router_add(&router, CMK_HOST_MGMT, "*", "/echo", h_echo, NULL);
    cmk_router_add(&router, CMK_HOST_VAULT, "POST", "/keys/{name}/{version}/wrapkey", h_json, NULL);
    cmk_router_add(&router, CMK_HOST_VAULT, "GET", "/keys/{name}/{version}", h_key, NULL);
    cmk_router_add(&router, CMK_HOST_MGMT, "PUT", "/subscriptions/{s}/{rest*}", h_json, NULL);
    cmk_router_add(&router, CMK_HOST_MGMT, "GET", "/events", h_events, NULL);
}

/* out must be empty or a run of responses, each starting with the status line. */
static void check_output(const struct cmk_buf *out)
{
    if (out->len == 0)
        return;
    if (out->len < 12 || memcmp(out->data, "HTTP/1.1 ", 9) != 0)
        abort();
    if (memmem(out->data, out->len, "\r\n\r\n", 4) == NULL)
        abort();
}

static void run(const uint8_t *data, size_t size, size_t piece)
{
    static const struct cmk_http_config cfg = {.max_header = 4096, .max_body = 8192};
    struct cmk_http_session *s = cmk_http_session_new(&router, &clk, &cfg, "192.0.2.1");
    struct cmk_buf out;
    cmk_buf_init(&out);
    enum cmk_http_state st = CMK_HTTP_IDLE;
    for (size_t off = 0; off < size;) {
        size_t n = piece && size - off > piece ? piece : size - off;
        st = cmk_http_session_feed(s, data + off, n, &out);
        off += n;
        if (st == CMK_HTTP_CLOSED || st == CMK_HTTP_STREAM) {
            size_t len = out.len;
            cmk_http_session_feed(s, "GET / HTTP/1.1\r\n\r\n", 18, &out);
            if (out.len != len)
                abort(); /* a closed (or streaming) session must stay silent */
            break;
        }
    }
    if (st != CMK_HTTP_CLOSED)
        cmk_http_session_timeout(s, &out);
    check_output(&out);
    cmk_buf_close(&out);
    cmk_http_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    run(data, size, 0);
    if (size > 1)
        run(data + 1, size - 1, (size_t)(data[0] % 16) + 1);
    return 0;
}
