/* pgwire_ep.h: the endpoint's own records, shared by pgwire.c (endpoint, servers, run queue,
 * cancel, pipes) and pgwire_tcp.c (listeners, the TCP and TLS transport). Not a public API. */
#ifndef DP_PGWIRE_EP_H
#define DP_PGWIRE_EP_H

#include "pgwire_int.h"

struct pg_listener {
    uv_tcp_t tcp;
    struct dp_pgwire *ep;
    char server[DP_PG_NAME_MAX]; /* "" for the shared port */
    int port;
    struct pg_listener *next;
};

struct pg_srv {
    char name[DP_PG_NAME_MAX];
    struct pg_listener *listener;
    unsigned long denied;
    int nsessions;
    struct dp_pgconn *sessions;
    sqlite3 *global;
    void *global_handle;
    uint64_t global_version;
    struct pg_srv *next;
};

struct dp_pgwire {
    struct dp_pgwire_config cfg;
    struct dp_pg_backend backend;
    struct pg_srv *servers;
    struct pg_listener *listeners;
    struct dp_pgconn *conns;
    int32_t next_pid;
    uint8_t secret[32];
    uv_idle_t idle;
    int idle_open, idle_on;
    struct dp_pgconn *defer_head, *defer_tail;
    int refs;
    int freeing;
};

struct pg_srv *pg_ep_find_srv(const struct dp_pgwire *ep, const char *name);
struct pg_srv *pg_ep_get_srv(struct dp_pgwire *ep, const char *name); /* created if missing */
/* Give c its pid and cancel key and put it on the endpoint's list (and off it). */
void pg_ep_link_conn(struct dp_pgwire *ep, struct dp_pgconn *c);
void pg_ep_unlink_conn(struct dp_pgwire *ep, struct dp_pgconn *c);
/* Free ep when dp_pgwire_free was called and no handle or pipe remains. */
void pg_ep_maybe_free(struct dp_pgwire *ep);
void pg_ep_close_listener(struct dp_pgwire *ep, struct pg_listener *l);

#endif
