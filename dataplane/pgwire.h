/* pgwire.h: the PostgreSQL wire-protocol (v3) endpoint of the emulated servers.
 *
 * One endpoint serves every emulated server of the process. It listens on one TCP port per
 * server (dp_pgwire_listen) and on one shared port routed by TLS SNI host name
 * (dp_pgwire_listen_shared: NAME.postgres.database.azure.com or NAME.postgres.<suffix>, or a
 * user name written "user@NAME" when the client sends no SNI). It speaks the protocol psql,
 * pgbench and node-postgres speak: SSLRequest (TLS on memory BIOs with the runtime's SSL_CTX),
 * GSSENCRequest (refused), CancelRequest, cleartext and SCRAM-SHA-256 passwords, simple and
 * extended query, and runs the SQL in SQLite after translating the PostgreSQL dialect
 * (dataplane/README.md, "The PostgreSQL endpoint", lists what is covered).
 *
 * The endpoint knows nothing of the control plane or of encryption: per connection it asks the
 * backend (struct dp_pg_backend, a versioned table of callbacks) to resolve the server by
 * name, and to open its database files. The control plane's backend opens them through the
 * encrypting VFS; the tests' backend opens plain SQLite files.
 *
 * Servers that are not ready refuse logins with the FATAL error the resolver gives (57P03,
 * "the server's customer-managed key is not accessible: <key uri>"); those refusals are
 * counted (dp_pgwire_denied) and reported (backend->denied). dp_pgwire_terminate ends every
 * session of a server with FATAL 57P01.
 *
 * Threading: everything runs on the loop's thread; SQL runs inline, a long result is streamed
 * in slices so other sessions, cancel requests and kills get their turn between slices.
 * Ownership: the endpoint owns its listeners and sessions; dp_pgwire_free closes them (the
 * memory goes once the loop has run the close callbacks). Time comes from the clock only.
 */
#ifndef DP_PGWIRE_H
#define DP_PGWIRE_H

#include <limits.h>
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <stddef.h>
#include <uv.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/hosts.h"
#include "common/rng.h"

#define DP_PG_BACKEND_VERSION    1
#define DP_PG_SERVER_VERSION     "16.4"
#define DP_PG_SERVER_VERSION_NUM 160004
#define DP_PG_NAME_MAX           64 /* server, role and database names (PostgreSQL's NAMEDATALEN) */
#define DP_PG_VERIFIER_MAX       256 /* "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>" */
#define DP_PG_SCRAM_ITERATIONS   4096

enum dp_pg_auth_method {
    DP_PG_AUTH_SCRAM = 0,    /* SCRAM-SHA-256 (PostgreSQL's default since 14) */
    DP_PG_AUTH_PASSWORD = 1, /* cleartext password, checked against the stored verifier */
};

/* What the resolver says about one server, for one connection. The endpoint copies it when the
 * connection starts, so the resolver may fill it from transient state. */
struct dp_pg_server {
    char name[DP_PG_NAME_MAX]; /* canonical name: the key of terminate/denied counts */
    int ready;                 /* 0: refuse the login with sqlstate + message (FATAL) */
    char sqlstate[6];          /* when not ready; "" means 57P03 */
    char message[512];         /* when not ready: what the client reads */
    char dir[PATH_MAX];        /* the server's directory, passed back to open_db/drop_db */
    char admin_user[DP_PG_NAME_MAX];
    char admin_verifier[DP_PG_VERIFIER_MAX]; /* dp_pg_scram_verifier(); "" = no admin login */
    int read_only;                           /* replica: writes fail with 25006 */
    int require_tls;                         /* refuse plaintext sessions (28000) */
    enum dp_pg_auth_method auth;
    int max_connections; /* 0: 100 */
    void *handle;        /* the backend's, handed back to open_db/close_db/drop_db */
};

struct dp_pg_backend {
    int version; /* DP_PG_BACKEND_VERSION; later versions only add members at the end */
    void *data;  /* first argument of every callback */
    /* Fill *out for the server called name (from the port's listener, the SNI host label or
     * "user@name"); port is the local port the client reached. Return 0, or CMK_ENOTFOUND
     * (the client gets FATAL 08004 "server ... does not exist") or another error in err. */
    int (*resolve)(void *data, const char *name, int port, struct dp_pg_server *out,
                   struct cmk_err *err);
    /* Open database dbname of the server (create: make the file if missing; read_only: open it
     * read-only). The endpoint configures the connection it gets (functions, authorizer) and
     * closes it with close_db. Return 0, CMK_ENOTFOUND for a missing database, or an error
     * whose message the client reads (FATAL 57P03 at login, ERROR XX000 later). */
    int (*open_db)(void *data, void *handle, const char *dir, const char *dbname, int create,
                   int read_only, sqlite3 **out, struct cmk_err *err);
    /* Optional: close what open_db returned (NULL: sqlite3_close_v2). */
    void (*close_db)(void *data, void *handle, sqlite3 *db);
    /* Remove every file of database dbname (DROP DATABASE); no session has it open. */
    int (*drop_db)(void *data, void *handle, const char *dir, const char *dbname,
                   struct cmk_err *err);
    /* Optional: a login was refused because the server is not ready (resource health). */
    void (*denied)(void *data, const char *server, const char *sqlstate, const char *message);
};

struct dp_pgwire_config {
    uv_loop_t *loop;               /* NULL only for dp_pgwire_pipe_* (no sockets) */
    struct cmk_clock *clock;       /* now(), timeouts */
    SSL_CTX *tls;                  /* cmk_tls_server_ctx(); NULL: SSLRequest is answered 'N' */
    const struct cmk_hosts *hosts; /* SNI names of the shared port; NULL: first DNS label */
    struct cmk_rng *rng;           /* random(), gen_random_uuid(); NULL: OpenSSL RAND */
    const struct dp_pg_backend *backend;
    size_t max_message; /* largest client message; 0: 64 MiB */
    /* SQL runs on the loop's thread: a statement may run this many SQLite instructions (about
     * a few seconds' worth by default) before it is cancelled with 57014. 0: 2e9. */
    uint64_t max_statement_steps;
};

struct dp_pgwire;

int dp_pgwire_new(struct dp_pgwire **out, const struct dp_pgwire_config *cfg, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Close listeners and sessions (sessions get FATAL 57P01 "terminating connection due to
 * administrator command"). Memory is released once the loop has run the close callbacks. */
void dp_pgwire_free(struct dp_pgwire *ep);

/* Listen on addr:port (port 0: any) for server name; *bound_port (may be NULL) gets the port.
 * A server has at most one own port; listening again replaces it. */
int dp_pgwire_listen(struct dp_pgwire *ep, const char *server, const char *addr, int port,
                     int *bound_port, struct cmk_err *err) __attribute__((warn_unused_result));
/* Stop listening on server's own port (its sessions stay; see dp_pgwire_terminate). */
void dp_pgwire_unlisten(struct dp_pgwire *ep, const char *server);
/* The shared port, routed by SNI (one per endpoint). */
int dp_pgwire_listen_shared(struct dp_pgwire *ep, const char *addr, int port, int *bound_port,
                            struct cmk_err *err) __attribute__((warn_unused_result));
/* The port server listens on, or 0. */
int dp_pgwire_port(const struct dp_pgwire *ep, const char *server);

/* End every session of server with FATAL sqlstate (NULL: "57P01") and message (NULL:
 * "terminating connection due to administrator command"), closing their database handles
 * before returning. Returns the number of sessions ended. */
int dp_pgwire_terminate(struct dp_pgwire *ep, const char *server, const char *sqlstate,
                        const char *message);
/* Logins refused because the server was not ready, since the endpoint started. */
unsigned long dp_pgwire_denied(const struct dp_pgwire *ep, const char *server);
/* Sessions of server now open (authenticated or not). */
int dp_pgwire_sessions(const struct dp_pgwire *ep, const char *server);

/* ---- The in-process door: a connection without a socket (the scenario runner, the fuzz
 * driver). The caller feeds the bytes a client would send and receives what the server
 * writes through write(); close() is called once when the server ends the connection. The
 * bytes are exactly those of a socket, except that SSLRequest is answered 'N'. ---- */
struct dp_pgwire_pipe_ops {
    void (*write)(void *data, const void *bytes, size_t n);
    void (*close)(void *data);
};
struct dp_pgconn;
/* server: the name passed to the resolver. */
struct dp_pgconn *dp_pgwire_pipe_open(struct dp_pgwire *ep, const char *server,
                                      const struct dp_pgwire_pipe_ops *ops, void *data);
void dp_pgwire_pipe_input(struct dp_pgconn *c, const void *bytes, size_t n);
/* The caller hangs up (no close() callback follows). */
void dp_pgwire_pipe_close(struct dp_pgconn *c);
/* Run work the endpoint deferred (a session woken from a lock wait). Sockets do this on the
 * loop; pipe users without a loop call it after input. Returns the number of sessions run. */
int dp_pgwire_run_deferred(struct dp_pgwire *ep);

/* ---- SCRAM verifiers (for the control plane's administrator password) ---- */

/* Write "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" for password with a random
 * 16-byte salt into out (DP_PG_VERIFIER_MAX bytes). iterations 0: 4096. */
int dp_pg_scram_verifier(const char *password, int iterations, char *out, size_t n)
    __attribute__((warn_unused_result));
/* 1 when password matches verifier (constant time), 0 otherwise or when malformed. */
int dp_pg_scram_check_password(const char *verifier, const char *password);

#endif
