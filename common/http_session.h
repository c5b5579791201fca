/* http_session.h: one HTTP/1.1 connection's protocol, without a socket.
 *
 * http.c runs one session per accepted connection: bytes that arrive (already decrypted) are
 * fed in, every complete request goes through cmk_router_dispatch in arrival order, and the
 * serialised responses are appended to an output buffer that the caller writes out. The same
 * code path is reachable without sockets for the unit tests and the fuzz drivers.
 *
 * Limits and errors (answered with the service error envelope, then the session closes):
 * request head larger than max_header or more than 100 header fields: 431; Content-Length or
 * chunked body larger than max_body: 413 (checked before any body byte is read); a request the
 * parser rejects, a bad request-target, or HTTP/1.1 without Host: 400. `Expect: 100-continue`
 * gets an interim "100 Continue" once the head is accepted.
 *
 * Deferred responses (router.h, cmk_request_defer): once cmk_http_session_defer_on gave the
 * session a loop, a handler may answer later. The session then holds the request in state
 * CMK_HTTP_WAIT: input that arrives meanwhile (pipelined requests) is kept unparsed, so the next
 * request starts only after the deferred response is written (HTTP/1.1 order). When the worker
 * is done, the session writes the response (and answers whatever was held behind it) into the
 * output buffer given to defer_on and calls ready. Freeing the session while a request is on a
 * worker detaches it: the work is cancelled if it has not started, and its completion frees the
 * request and response without writing anything.
 *
 * Ownership: the session keeps pointers to router, clock and cfg (they must outlive it); out
 * belongs to the caller. Not thread-safe; one loop thread (workers only run the handler's work).
 */
#ifndef CMK_HTTP_SESSION_H
#define CMK_HTTP_SESSION_H

#include <stddef.h>
#include <uv.h>

#include "buf.h"
#include "clock.h"
#include "http.h"
#include "router.h"

enum cmk_http_state {
    CMK_HTTP_IDLE,   /* between requests */
    CMK_HTTP_HEAD,   /* part of a request head has arrived */
    CMK_HTTP_BODY,   /* the head is complete, the body is arriving */
    CMK_HTTP_CLOSED, /* the session decided to close: write out, then close */
    CMK_HTTP_STREAM, /* a streaming response's head was written: the connection is its own */
    CMK_HTTP_WAIT,   /* a deferred response is being computed; further input is held */
};

struct cmk_http_session;

/* cfg may be NULL (defaults); clock may be a virtual clock without a loop. peer_addr is the
 * client's IP as the origin of its requests. */
struct cmk_http_session *cmk_http_session_new(struct cmk_router *router, struct cmk_clock *clock,
                                              const struct cmk_http_config *cfg,
                                              const char *peer_addr);
void cmk_http_session_free(struct cmk_http_session *s);
/* Feed received bytes; responses (and interim 100 Continue) are appended to out. Returns the
 * state afterwards; once CLOSED, further input is ignored. */
enum cmk_http_state cmk_http_session_feed(struct cmk_http_session *s, const void *data, size_t len,
                                          struct cmk_buf *out);
/* The peer will send no more. Returns CMK_HTTP_CLOSED, or CMK_HTTP_WAIT while a deferred
 * response is pending (it and what was held complete are still answered, then CLOSED). */
enum cmk_http_state cmk_http_session_eof(struct cmk_http_session *s, struct cmk_buf *out);
/* The slow-client timeout fired: answers 408 when a request was under way. Returns CLOSED
 * (or WAIT, unchanged, while a deferred response is pending). */
enum cmk_http_state cmk_http_session_timeout(struct cmk_http_session *s, struct cmk_buf *out);
enum cmk_http_state cmk_http_session_state(const struct cmk_http_session *s);
/* Answer every further response with "Connection: close" and close after it (shutdown). */
void cmk_http_session_drain(struct cmk_http_session *s);
/* In state CMK_HTTP_STREAM: the streaming response's open callback and its data (router.h). */
void cmk_http_session_stream(const struct cmk_http_session *s, cmk_stream_fn *open, void **data);

/* Let handlers defer their response (router.h) with loop's thread pool. A deferred response,
 * and what the held input then produces, is appended to out (which must outlive the session,
 * and is the same buffer feed is given); then ready(arg) runs on the loop thread so the caller
 * writes out and looks at the state. Not called: every response is synchronous (virtual mode,
 * the fuzz drivers). */
void cmk_http_session_defer_on(struct cmk_http_session *s, uv_loop_t *loop, struct cmk_buf *out,
                               void (*ready)(void *arg), void *arg);
/* Bytes of input held while in CMK_HTTP_WAIT (for back-pressure). */
size_t cmk_http_session_held(const struct cmk_http_session *s);
/* Cancel the deferred work if it has not started (shutdown): its completion then answers with
 * the handler's error for cancelled work. 1 if cancelled, 0 otherwise. */
int cmk_http_session_cancel(struct cmk_http_session *s);

#endif
