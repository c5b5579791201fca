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
 * Ownership: the session keeps pointers to router, clock and cfg (they must outlive it); out
 * belongs to the caller. Not thread-safe; one loop thread.
 */
#ifndef CMK_HTTP_SESSION_H
#define CMK_HTTP_SESSION_H

#include <stddef.h>

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
/* The peer will send no more. Returns CMK_HTTP_CLOSED. */
enum cmk_http_state cmk_http_session_eof(struct cmk_http_session *s, struct cmk_buf *out);
/* The slow-client timeout fired: answers 408 when a request was under way. Returns CLOSED. */
enum cmk_http_state cmk_http_session_timeout(struct cmk_http_session *s, struct cmk_buf *out);
enum cmk_http_state cmk_http_session_state(const struct cmk_http_session *s);
/* Answer every further response with "Connection: close" and close after it (shutdown). */
void cmk_http_session_drain(struct cmk_http_session *s);
/* In state CMK_HTTP_STREAM: the streaming response's open callback and its data (router.h). */
void cmk_http_session_stream(const struct cmk_http_session *s, cmk_stream_fn *open, void **data);

#endif
