/* pgwire_int.h: what the files of the PostgreSQL endpoint share (not a public API).
 *
 *   pgwire.c         endpoint, listeners, TCP + TLS transport, SNI routing, cancel, terminate
 *   pgwire_conn.c    one connection's protocol state machine: startup, authentication,
 *                    message dispatch, extended-query objects (statements, portals)
 *   pgwire_exec.c    running a plan: stepping SQLite, RowDescription/DataRow, tags, errors
 *   pgwire_msg.c     message framing and the backend messages' encoders
 *   pgwire_auth.c    SCRAM-SHA-256 (RFC 5802/7677) and verifiers
 *   pgsql_lex.c      the PostgreSQL tokenizer and statement splitter
 *   pgsql_xlate.c    PostgreSQL dialect -> SQLite: plans, casts, types, command tags
 *   pgsql_cmd.c      statements the endpoint answers itself (BEGIN, SET, SHOW, roles, databases)
 *   pgsql_types.c    type OIDs, text/binary encoding of values, parameter binding
 *   pgsql_func.c     SQL functions (now(), version(), regexp...) and the authorizer
 *   pgcatalog.c      pg_catalog and information_schema for psql's meta-commands
 *   pgglobal.c       roles and the database list (kept in the "postgres" database)
 */
#ifndef DP_PGWIRE_INT_H
#define DP_PGWIRE_INT_H

#include <openssl/crypto.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/clock.h"
#include "pgwire.h"

#define PG_PROTOCOL_3     196608      /* 3.0 */
#define PG_SSL_REQUEST    80877103    /* 1234.5679 */
#define PG_GSSENC_REQUEST 80877104    /* 1234.5680 */
#define PG_CANCEL_REQUEST 80877102    /* 1234.5678 */
#define PG_MAX_STARTUP    10000       /* PostgreSQL's MAX_STARTUP_PACKET_LENGTH */
#define PG_OUT_FLUSH      (64 * 1024) /* hand output to the transport past this */
#define PG_SLICE_ROWS     2000        /* rows per slice before other sessions get a turn */
/* SQL runs on the loop's thread: by default a statement may run at most this many SQLite
 * instructions (a few seconds) before it is cancelled with 57014, so one query cannot stall the
 * emulator (dp_pgwire_config.max_statement_steps changes it). */
#define PG_VM_BUDGET     2000000000ULL
#define PG_PROGRESS_STEP 10000

/* ---- errors and notices ---- */

struct pg_error {
    const char *severity; /* "ERROR", "FATAL", "WARNING", "NOTICE" */
    char code[6];         /* SQLSTATE */
    char message[512];
    char detail[256];
    char hint[256];
    int position;                                     /* 1-based character in the query, 0: none */
    char table[64], column[64], constraint_name[128]; /* 't', 'c', 'n' fields (schema public) */
};

void pg_error_set(struct pg_error *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- framing (pgwire_msg.c) ---- */

struct pg_msg {
    char type;           /* 0 for the untyped startup-phase messages */
    const uint8_t *data; /* payload (after type and length) */
    size_t len;          /* payload length */
    size_t total;        /* bytes the message takes in the input */
};

/* 1: a whole message is at the front of in (m filled); 0: need more bytes; -1: the length is
 * impossible (below 4, or above max). startup: untyped framing. */
int pg_msg_next(const uint8_t *in, size_t n, int startup, size_t max, struct pg_msg *m);

struct pg_reader {
    const uint8_t *p;
    size_t n, off;
    int bad; /* set by any read past the end or a missing NUL */
};
void pg_reader_init(struct pg_reader *r, const void *p, size_t n);
uint8_t pg_get_u8(struct pg_reader *r);
int16_t pg_get_i16(struct pg_reader *r);
int32_t pg_get_i32(struct pg_reader *r);
const char *pg_get_str(struct pg_reader *r); /* NUL-terminated, points into the message */
const uint8_t *pg_get_bytes(struct pg_reader *r, size_t n);
size_t pg_reader_left(const struct pg_reader *r);

/* Encoders append to b. pg_msg_begin returns where the length goes; pg_msg_end fills it. */
size_t pg_msg_begin(struct cmk_buf *b, char type);
void pg_msg_end(struct cmk_buf *b, size_t start);
void pg_put_i16(struct cmk_buf *b, int16_t v);
void pg_put_i32(struct cmk_buf *b, int32_t v);
void pg_put_str(struct cmk_buf *b, const char *s); /* with its NUL */

void pg_send_auth(struct cmk_buf *b, int32_t code, const void *extra, size_t n);
void pg_send_param_status(struct cmk_buf *b, const char *name, const char *value);
void pg_send_backend_key(struct cmk_buf *b, int32_t pid, int32_t key);
void pg_send_ready(struct cmk_buf *b, char status);
void pg_send_error(struct cmk_buf *b, const struct pg_error *e); /* 'E', or 'N' for notices */
void pg_send_notice(struct cmk_buf *b, const char *severity, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void pg_send_complete(struct cmk_buf *b, const char *tag);
void pg_send_simple(struct cmk_buf *b, char type); /* '1','2','3','n','s','I' with no body */

/* ---- types (pgsql_types.c), values (pgsql_values.c), parameters (pgsql_bind.c) ---- */

#define PG_OID_BOOL        16
#define PG_OID_BYTEA       17
#define PG_OID_CHAR        18
#define PG_OID_NAME        19
#define PG_OID_INT8        20
#define PG_OID_INT2        21
#define PG_OID_INT4        23
#define PG_OID_TEXT        25
#define PG_OID_OID         26
#define PG_OID_JSON        114
#define PG_OID_FLOAT4      700
#define PG_OID_FLOAT8      701
#define PG_OID_UNKNOWN     705
#define PG_OID_BPCHAR      1042
#define PG_OID_VARCHAR     1043
#define PG_OID_DATE        1082
#define PG_OID_TIME        1083
#define PG_OID_TIMESTAMP   1114
#define PG_OID_TIMESTAMPTZ 1184
#define PG_OID_INTERVAL    1186
#define PG_OID_NUMERIC     1700
#define PG_OID_REGCLASS    2205
#define PG_OID_UUID        2950
#define PG_OID_JSONB       3802
/* arrays travel in their text form '{a,b}'; their OIDs let clients parse them */
#define PG_OID_BOOL_ARRAY    1000
#define PG_OID_INT2_ARRAY    1005
#define PG_OID_INT4_ARRAY    1007
#define PG_OID_TEXT_ARRAY    1009
#define PG_OID_VARCHAR_ARRAY 1015
#define PG_OID_INT8_ARRAY    1016
#define PG_OID_FLOAT8_ARRAY  1022
#define PG_OID_NUMERIC_ARRAY 1231
#define PG_OID_UUID_ARRAY    2951
#define PG_OID_JSONB_ARRAY   3807

struct pg_type {
    uint32_t oid;
    const char *name; /* pg_type.typname */
    const char *sql;  /* format_type() spelling */
    int16_t len;      /* typlen: -1 varlena, -2 cstring */
    char category;    /* typcategory */
};

const struct pg_type *pg_type_by_oid(uint32_t oid);
/* A PostgreSQL type name as written in SQL ("int", "character varying", "pg_catalog.int4",
 * "timestamptz"), case-insensitive; NULL if unknown. */
const struct pg_type *pg_type_by_name(const char *name);
/* The array type whose elements are elem (0 if none is known). */
uint32_t pg_type_array_of(uint32_t elem);
/* The OID a column declared with SQLite type decl stands for (0 if decl is NULL/unknown);
 * "int[]" gives the array type. */
uint32_t pg_type_from_decl(const char *decl);
/* typmod from "varchar(20)" / "numeric(10,2)" declarations; -1 when none. */
int32_t pg_typmod_from_decl(const char *decl);
/* format_type(oid, typmod) into out. */
void pg_format_type(uint32_t oid, int32_t typmod, char *out, size_t n);
/* The OID that describes a value SQLite returned, when nothing else says (1 = int8...). */
uint32_t pg_type_from_value(int sqlite_type);
int pg_type_is_binary_ok(uint32_t oid);
/* t/true/y/yes/on/1 -> 1, f/false/n/no/off/0 -> 0 (any case, blanks around), else -1. */
int pg_parse_bool(const char *s, size_t n);

/* Append one DataRow field (int32 length + bytes, -1 for NULL) for column col of st, typed
 * oid with typmod (numeric(p,s) prints s decimals; -1: none). */
void pg_encode_field(struct cmk_buf *b, sqlite3_stmt *st, int col, uint32_t oid, int32_t typmod,
                     int binary);
/* Text form of a double as PostgreSQL prints float8 (shortest exact, Infinity, NaN). */
void pg_format_float8(double v, char *out, size_t n);
/* Bind one Bind-message parameter. Returns 0, or fills e (22P02 for bad input syntax). */
int pg_bind_param(sqlite3_stmt *st, int idx, uint32_t oid, int binary, const uint8_t *v,
                  int32_t len, struct pg_error *e);
/* Decode a bytea text value ("\x0102" or escape format) into b. 0 or -1. */
int pg_bytea_decode(const char *s, size_t n, struct cmk_buf *b);

/* ---- tokens and statements (pgsql_lex.c) ---- */

enum pg_tok_kind {
    TK_EOF = 0,
    TK_IDENT,  /* unquoted: compare with pg_tok_is (case-insensitive) */
    TK_QIDENT, /* "quoted" */
    TK_STRING, /* '...', E'...', $$...$$, U&'...': value decoded in pg_tok_string */
    TK_NUMBER,
    TK_PARAM, /* $1 */
    TK_OP,    /* operator characters: + - * / < > = ~ ! @ # % ^ & | ` ? */
    TK_LPAREN,
    TK_RPAREN,
    TK_LBRACK,
    TK_RBRACK,
    TK_COMMA,
    TK_SEMI,
    TK_DOT,
    TK_CAST,  /* :: */
    TK_COLON, /* : (array slices) */
};

struct pg_tok {
    enum pg_tok_kind kind;
    uint32_t off, len; /* in the source text */
    uint8_t space;     /* whitespace or a comment came before it */
    uint8_t quoting;   /* TK_STRING: 0 plain '', 1 E'', 2 dollar, 3 U&, 4 B/X bit string */
};

struct pg_lex {
    const char *src;
    size_t n;
    struct pg_tok *t;
    size_t nt, cap;
};

/* Tokenize src; comments and whitespace are dropped. Fails (42601, e filled) on an
 * unterminated quote or comment. The token array ends with TK_EOF. */
int pg_lex_run(struct pg_lex *lx, const char *src, size_t n, struct pg_error *e);
void pg_lex_close(struct pg_lex *lx);
/* Case-insensitive keyword test of an unquoted identifier. */
int pg_tok_is(const struct pg_lex *lx, const struct pg_tok *t, const char *word);
/* The name a token stands for: unquoted lowercased, quoted with "" unescaped. */
void pg_tok_name(const struct pg_lex *lx, const struct pg_tok *t, char *out, size_t n);
/* Decoded value of a TK_STRING token into b (appended, NUL-terminated). */
void pg_tok_string(const struct pg_lex *lx, const struct pg_tok *t, struct cmk_buf *b);
/* The end (exclusive token index) of the statement starting at token i: its ';' or EOF. */
size_t pg_lex_stmt_end(const struct pg_lex *lx, size_t i);

/* ---- plans: one PostgreSQL statement, translated (pgsql_xlate.c, pgsql_cmd.c) ---- */

enum pg_plan_kind {
    PLAN_EMPTY = 0, /* nothing but ';' or comments */
    PLAN_SQL,       /* SQLite SQL in sql (one statement, or several without rows) */
    PLAN_CMD,       /* a statement the endpoint answers (cmd) */
    PLAN_ERROR,     /* fails with err when executed (0A000 for what is not supported) */
};

enum pg_cmd {
    CMD_NONE = 0,
    CMD_BEGIN,
    CMD_COMMIT,
    CMD_ROLLBACK,
    CMD_SAVEPOINT,
    CMD_RELEASE,
    CMD_ROLLBACK_TO,
    CMD_SET,
    CMD_RESET,
    CMD_SHOW,
    CMD_CREATE_DATABASE,
    CMD_DROP_DATABASE,
    CMD_CREATE_ROLE,
    CMD_ALTER_ROLE,
    CMD_DROP_ROLE,
    CMD_DISCARD,
    CMD_DEALLOCATE,
    CMD_NOOP, /* accepted, does nothing, answers tag (VACUUM, GRANT, CREATE EXTENSION...) */
};

#define PG_MAX_HINTS 64

struct pg_plan {
    enum pg_plan_kind kind;
    enum pg_cmd cmd;
    struct cmk_buf sql;           /* PLAN_SQL: SQLite text */
    int multi;                    /* PLAN_SQL: several SQLite statements, none returns rows */
    char tag[32];                 /* command tag word(s): "SELECT", "INSERT", "CREATE TABLE"... */
    int tag_count;                /* the tag takes a row count ("SELECT n", "UPDATE n") */
    int writes;                   /* the statement writes (refused on read-only sessions) */
    int nparams;                  /* highest $n */
    int catalog;                  /* refers to pg_catalog / information_schema relations */
    int catalog_soft;             /* refers only to catalogs whose queries may be answered empty */
    uint32_t hints[PG_MAX_HINTS]; /* type hint per result column (0: none) */
    int nhints;
    /* PLAN_CMD arguments */
    char name[DP_PG_NAME_MAX]; /* setting, savepoint, database, role or statement name */
    char *value;               /* SET value, PASSWORD (malloc'd; cleansed when freed) */
    int if_exists;             /* IF [NOT] EXISTS */
    int flags;                 /* CMD_BEGIN: 1 read only; roles: PG_ROLE_* bits */
    int flags_set;             /* roles: which PG_ROLE_* bits the statement set */
    struct pg_error err;       /* PLAN_ERROR */
    /* PLAN_SQL: a NOTICE PostgreSQL gives for IF [NOT] EXISTS (PG_NOTICE_*), about name */
    int notice;
    char objtype[16]; /* "relation", "table", "index", "view" */
};

#define PG_NOTICE_EXISTS_SKIP  1 /* CREATE ... IF NOT EXISTS of an existing object */
#define PG_NOTICE_MISSING_SKIP 2 /* DROP ... IF EXISTS of a missing object */

#define PG_ROLE_LOGIN      1
#define PG_ROLE_CREATEDB   2
#define PG_ROLE_CREATEROLE 4
#define PG_ROLE_SUPERUSER  8
#define PG_ROLE_PASSWORD   16

void pg_plan_init(struct pg_plan *p);
void pg_plan_close(struct pg_plan *p);
/* Translate the statement of tokens [i, end) of lx (end from pg_lex_stmt_end). Always fills
 * p: errors become PLAN_ERROR. */
void pg_plan_build(struct pg_plan *p, const struct pg_lex *lx, size_t i, size_t end);
/* The SQLite SQL of statements the endpoint answers itself (pgsql_cmd.c). Returns 1 and
 * fills p when tokens [i, end) are one of them. */
int pg_plan_command(struct pg_plan *p, const struct pg_lex *lx, size_t i, size_t end);

/* ---- one connection ---- */

enum pg_conn_state {
    CS_STARTUP = 0, /* waiting for the startup packet (or SSL/GSSENC/cancel requests) */
    CS_TLS,         /* 'S' sent; the transport does the handshake */
    CS_AUTH_SASL,   /* AuthenticationSASL sent, waiting for SASLInitialResponse */
    CS_AUTH_SASL2,  /* server-first sent, waiting for client-final */
    CS_AUTH_PASS,   /* AuthenticationCleartextPassword sent */
    CS_READY,       /* authenticated */
    CS_CLOSED,
};

enum pg_txn { TXN_IDLE = 'I', TXN_BLOCK = 'T', TXN_FAILED = 'E' };

struct pg_stmt {
    char *name;
    char *query;
    struct pg_plan plan;
    sqlite3_stmt *st; /* PLAN_SQL single statement, prepared at Parse */
    int st_in_use;    /* a portal borrowed st */
    uint32_t *param_oids;
    int nparam_oids;
    struct pg_stmt *next;
};

struct pg_portal {
    char *name;
    struct pg_stmt *stmt;
    sqlite3_stmt *st;
    int owns_st;      /* 0: borrowed stmt->st */
    int16_t *formats; /* result formats as bound (nformats 0: text, 1: one for all) */
    int nformats;
    uint32_t *oids; /* result column types, decided at the first Describe/Execute */
    int32_t *typmods;
    int ncols;
    int stepped;      /* the first sqlite3_step ran */
    int row_ready;    /* the last step gave a row not yet sent */
    int complete;     /* stepped to the end; CommandComplete not yet sent (pg_sleep) */
    int done;         /* finished: CommandComplete sent */
    int64_t changes0; /* sqlite3_total_changes64 before the first step */
    uint64_t rows;
    uint64_t exec_base; /* rows when the current Execute began (its row limit counts from it) */
    struct pg_portal *next;
};

/* What the endpoint does with a connection's bytes; pgwire.c implements TCP and pipes. */
struct pg_transport {
    void (*flush)(struct dp_pgconn *c);     /* hand c->out over */
    int (*start_tls)(struct dp_pgconn *c);  /* 0: TLS will follow 'S'; <0: not possible */
    void (*close)(struct dp_pgconn *c);     /* flush, then hang up */
    int (*backlogged)(struct dp_pgconn *c); /* output waiting on the peer: stop producing */
};

struct pg_srv; /* the endpoint's record of one server (pgwire.c) */
struct pg_scram;

struct pg_setting {
    char *name;
    char *value;
};

enum pg_job { JOB_NONE = 0, JOB_QUERY, JOB_EXECUTE };

#define PG_TIMER_NONE   0
#define PG_TIMER_AUTH   1 /* authentication must finish within PG_AUTH_TIMEOUT */
#define PG_TIMER_SLEEP  2 /* pg_sleep() */
#define PG_TIMER_RETRY  3 /* a lock wait: try again even if nobody wakes the session */
#define PG_LOCK_RETRY   (20 * CMK_MS)
#define PG_AUTH_TIMEOUT (60 * CMK_SECOND)

struct dp_pgconn {
    struct dp_pgwire *ep;
    const struct pg_transport *tp;
    void *tpdata;
    enum pg_conn_state state;
    int shared_port; /* came in through the SNI-routed port */
    int tls;         /* TLS is on */
    char sni[256];   /* TLS server name, "" if none */
    char peer[64];   /* client address */
    int local_port;
    char target[DP_PG_NAME_MAX]; /* server name from the listener, SNI or user@name */
    struct pg_srv *srv;
    struct dp_pg_server info;
    struct cmk_buf in, out;
    size_t in_off;  /* bytes of in already processed */
    char **startup; /* startup parameters (key, value, ..., NULL) until login */
    int role_ok;    /* the role exists and may log in with a password */
    int timer_kind; /* what c->timer is for: PG_TIMER_* */
    int32_t pid, secret;
    char user[DP_PG_NAME_MAX], database[DP_PG_NAME_MAX];
    int is_admin;
    int role_flags;
    char verifier[DP_PG_VERIFIER_MAX];
    struct pg_scram *scram;
    sqlite3 *db;
    struct pg_setting *settings;
    size_t nsettings;
    enum pg_txn txn;
    int implicit_txn; /* a multi-statement Query outside a block runs in one transaction */
    int txn_read_only;
    int txn_wrote;        /* the block wrote (or set a savepoint): its snapshot cannot be renewed */
    cmk_time_t stmt_time; /* now() of the statement (transaction start inside blocks) */
    struct pg_stmt *stmts;
    struct pg_portal *portals;
    int skip_to_sync;  /* extended protocol: an error was sent, ignore until Sync */
    int in_extended;   /* the message being run belongs to the extended protocol */
    int catalog_ready; /* the catalog's temp tables exist */
    uint64_t catalog_cookie;
    int internal; /* the endpoint's own SQL runs: the authorizer lets it through */
    char denied_what[128];
    char last_query[512]; /* for pg_stat_activity.query */
    /* the statement being run (resumable: streaming, lock waits, pg_sleep) */
    enum pg_job job;
    char *query;       /* JOB_QUERY: the Query message's text (owned) */
    struct pg_lex lex; /* JOB_QUERY: its tokens */
    size_t next_tok;   /* JOB_QUERY: where the next statement starts */
    int query_had_stmt;
    struct pg_plan plan;       /* JOB_QUERY: the current statement's plan */
    struct pg_portal qportal;  /* JOB_QUERY: the current statement's execution */
    int qactive;               /* JOB_QUERY: a statement of the query is under way */
    struct pg_portal *xportal; /* JOB_EXECUTE: the portal */
    long xmax;                 /* JOB_EXECUTE: row limit, 0 = all */
    int parked;                /* waiting for a lock (SQLITE_BUSY); woken by other sessions */
    int sleeping;              /* pg_sleep() on the clock */
    cmk_time_t sleep_ms;
    struct cmk_timer timer; /* pg_sleep and the authentication timeout */
    int cancel;             /* a CancelRequest arrived for the running statement */
    uint64_t vm_ops; /* SQLite instructions run by the current statement (progress handler) */
    int timed_out;   /* the statement went past PG_VM_BUDGET */
    int running;     /* inside pg_conn_run (no re-entry, no freeing) */
    int deferred;    /* on the endpoint's run queue */
    int kill_pending;
    struct pg_error kill;
    struct dp_pgconn *srv_next;   /* in srv's session list */
    struct dp_pgconn *ep_next;    /* in the endpoint's connection list */
    struct dp_pgconn *defer_next; /* in the run queue */
};

/* pgwire_conn.c */
struct dp_pgconn *pg_conn_new(struct dp_pgwire *ep, const struct pg_transport *tp, void *tpdata);
/* Append received plaintext bytes and process what can be processed. */
void pg_conn_input(struct dp_pgconn *c, const void *data, size_t n);
/* Continue processing (after a lock wait, output drain, a timer). */
void pg_conn_run(struct dp_pgconn *c);
/* Send FATAL e (if not NULL) and close. Releases the session's SQLite state at once. */
void pg_conn_fatal(struct dp_pgconn *c, const struct pg_error *e);
/* Release statements, portals, the database and auth state (before freeing). */
void pg_conn_release(struct dp_pgconn *c);
void pg_conn_free(struct dp_pgconn *c);
void pg_conn_free_startup(struct dp_pgconn *c);
/* pgwire_login.c: a startup-phase message; an authentication message. */
void pg_conn_startup(struct dp_pgconn *c, const struct pg_msg *m);
void pg_conn_auth_message(struct dp_pgconn *c, const struct pg_msg *m);
const char *pg_conn_setting(const struct dp_pgconn *c, const char *name);
void pg_conn_start_timer(struct dp_pgconn *c, int kind, cmk_time_t delay);
void pg_conn_stop_timer(struct dp_pgconn *c);
int pg_conn_set(struct dp_pgconn *c, const char *name, const char *value, struct pg_error *e);
void pg_portal_reset(struct dp_pgconn *c, struct pg_portal *p);
void pg_portal_free(struct dp_pgconn *c, struct pg_portal *p);
/* Unlink and free statement s, closing the portals made from it. */
void pg_conn_drop_stmt(struct dp_pgconn *c, struct pg_stmt *s);
void pg_conn_close_portals(struct dp_pgconn *c);

/* pgwire_query.c: the simple and extended query protocols. Each returns 1 when the message
 * was handled (consumed), 0 when it must be run again later (the session waits for a lock). */
int pg_query_message(struct dp_pgconn *c, const struct pg_msg *m);
/* Helpers the simple (pgwire_query.c) and extended (pgwire_extended.c) halves share. */
void pg_query_fail(struct dp_pgconn *c, const char *code, const char *fmt, const char *a, int n,
                   int m);
void pg_query_park(struct dp_pgconn *c);        /* wait for a lock (woken or retried) */
void pg_query_wait_output(struct dp_pgconn *c); /* a slice is done: resume after others */
void pg_query_start_sleep(struct dp_pgconn *c); /* pg_sleep(): resume on the clock */
struct pg_stmt *pg_query_find_stmt(struct dp_pgconn *c, const char *name);
struct pg_portal *pg_query_find_portal(struct dp_pgconn *c, const char *name);
int pg_query_allowed_when_failed(const struct pg_plan *plan);
void pg_query_aborted(struct dp_pgconn *c); /* 25P02 */
int pg_ext_parse(struct dp_pgconn *c, const struct pg_msg *m);
int pg_ext_bind(struct dp_pgconn *c, const struct pg_msg *m);
int pg_ext_describe(struct dp_pgconn *c, const struct pg_msg *m);
int pg_ext_execute(struct dp_pgconn *c, const struct pg_msg *m);
int pg_ext_execute_continue(struct dp_pgconn *c);
int pg_ext_close(struct dp_pgconn *c, const struct pg_msg *m);
/* Continue the running job; 1 when it finished, 0 when it waits (lock, output, sleep). */
int pg_query_continue(struct dp_pgconn *c);
/* End the running job after a cancel or kill (the statement is abandoned). */
void pg_query_abort(struct dp_pgconn *c);

/* pgwire_exec.c: run the plan of portal p (c->plan or a prepared statement's). Results:
 * EXEC_DONE (CommandComplete sent), EXEC_SUSPENDED (row limit: PortalSuspended sent),
 * EXEC_YIELD (come back later: output backlog or slice), EXEC_BLOCKED (lock wait),
 * EXEC_ERROR (error sent; transaction state updated). */
enum pg_exec_result {
    EXEC_DONE,
    EXEC_SUSPENDED,
    EXEC_YIELD,
    EXEC_BLOCKED,
    EXEC_ERROR,
    EXEC_SLEEP /* the statement called pg_sleep(): wait c->sleep_ms, then run it again */
};
enum pg_exec_result pg_exec_portal(struct dp_pgconn *c, const struct pg_plan *plan,
                                   struct pg_portal *p, int send_rowdesc, long max_rows);
/* RowDescription (or NoData) for a portal about to run; steps once to see value types when
 * the statement only reads. Returns 0, or EXEC_ERROR/EXEC_BLOCKED. */
int pg_exec_describe_portal(struct dp_pgconn *c, const struct pg_plan *plan, struct pg_portal *p);
void pg_exec_describe_stmt(struct dp_pgconn *c, struct pg_stmt *s);
/* Prepare plan->sql (single statement) on c->db. 0, EXEC_ERROR (e filled) or EXEC_BLOCKED. */
int pg_exec_prepare(struct dp_pgconn *c, struct pg_plan *plan, sqlite3_stmt **out,
                    struct pg_error *e);
/* Send an error for a statement: sets the transaction state, skip_to_sync in extended mode. */
void pg_exec_fail(struct dp_pgconn *c, const struct pg_error *e);
/* SQLite's error on c->db as a PostgreSQL error. */
void pg_exec_sqlite_error(struct dp_pgconn *c, int rc, struct pg_error *e);
/* The transaction ended (or an autocommit statement finished): wake lock waiters. */
void pg_exec_txn_ended(struct dp_pgconn *c);
/* Run internal SQL without results (the authorizer lets it through). */
int pg_exec_internal(struct dp_pgconn *c, sqlite3 *db, const char *sql);

/* pgsql_run.c: answer a PLAN_CMD statement (EXEC_DONE / EXEC_ERROR / EXEC_BLOCKED). */
enum pg_exec_result pg_cmd_run(struct dp_pgconn *c, const struct pg_plan *plan);
/* Describe of a PLAN_CMD: RowDescription for SHOW, NoData otherwise. */
void pg_cmd_describe(struct dp_pgconn *c, const struct pg_plan *plan);
/* pgsql_settings.c: SET/SHOW storage; the defaults every session starts with. */
void pg_settings_init(struct dp_pgconn *c, const char *const *startup_params);
void pg_settings_free(struct dp_pgconn *c);
/* Report the GUC_REPORT settings (ParameterStatus) after login. */
void pg_settings_report(struct dp_pgconn *c);
/* RESET ALL (client_encoding stays). */
void pg_settings_reset_all(struct dp_pgconn *c);
/* SHOW name / SHOW ALL: RowDescription, DataRow(s), CommandComplete. */
enum pg_exec_result pg_settings_show(struct dp_pgconn *c, const struct pg_plan *plan);

/* pgsql_func.c: functions, authorizer and limits on a session's connection. */
int pg_func_install(struct dp_pgconn *c, sqlite3 *db);
/* pgsql_strfunc.c: operator helpers, casts, string and array functions. */
int pg_strfunc_install(sqlite3 *db);
/* pgsql_series.c: the generate_series table-valued function. */
int pg_series_install(sqlite3 *db);
int pg_authorizer(void *data, int action, const char *a, const char *b, const char *dbname,
                  const char *trigger);

/* pgcatalog.c: create or refresh the catalog's temp tables before a statement that uses them. */
int pg_catalog_refresh(struct dp_pgconn *c, struct pg_error *e);
/* 1 when name (lowercase, schema stripped) is a catalog relation the endpoint provides;
 * 2 when it is one psql queries that the endpoint answers empty. */
int pg_catalog_relation(const char *name);

/* pgglobal.c: roles and databases, kept in the server's "postgres" database. */
int pg_global_open(struct dp_pgconn *c, struct pg_error *e);
/* Find role user: 1 found (verifier, flags filled), 0 no such role, <0 error. */
int pg_global_role(struct dp_pgconn *c, const char *user, char *verifier, size_t vn, int *flags);
int pg_global_database_exists(struct dp_pgconn *c, const char *name);
int pg_global_role_write(struct dp_pgconn *c, const struct pg_plan *p, struct pg_error *e);
int pg_global_database_write(struct dp_pgconn *c, const struct pg_plan *p, struct pg_error *e);
/* Rows for the catalog: calls fn per role / database. */
typedef void (*pg_global_role_fn)(void *arg, int64_t oid, const char *name, int flags);
typedef void (*pg_global_db_fn)(void *arg, int64_t oid, const char *name, const char *owner);
int pg_global_list(struct dp_pgconn *c, pg_global_role_fn rf, pg_global_db_fn df, void *arg);
uint64_t pg_global_version(const struct dp_pgconn *c);

/* pgwire.c: endpoint services for connections. */
struct cmk_clock *pg_ep_clock(const struct dp_pgwire *ep);
const struct cmk_hosts *pg_ep_hosts(const struct dp_pgwire *ep);
/* The endpoint's random secret (mock authentication). */
void pg_ep_secret(const struct dp_pgwire *ep, uint8_t *out, size_t n);
const struct dp_pg_backend *pg_ep_backend(const struct dp_pgwire *ep);
size_t pg_ep_max_message(const struct dp_pgwire *ep);
uint64_t pg_ep_vm_budget(const struct dp_pgwire *ep);
int pg_ep_tls_possible(const struct dp_pgwire *ep);
void pg_ep_random(struct dp_pgwire *ep, void *out, size_t n);
/* Resolve c->target into c->info/c->srv and count the session. 0, or e (FATAL) filled. */
int pg_ep_attach(struct dp_pgconn *c, struct pg_error *e);
void pg_ep_detach(struct dp_pgconn *c);
void pg_ep_denied(struct dp_pgconn *c, const struct pg_error *e);
/* A CancelRequest: interrupt the session with that pid if the key matches. */
void pg_ep_cancel(struct dp_pgwire *ep, int32_t pid, int32_t key);
/* Run c again soon (from the loop), e.g. after a lock it waited for was released. */
void pg_ep_defer(struct dp_pgconn *c);
/* Wake every parked session of c's server. */
void pg_ep_wake_waiters(struct dp_pgconn *c);
/* Session list of c's server, for pg_stat_activity and pg_terminate_backend. */
struct dp_pgconn *pg_ep_sessions(struct dp_pgconn *c);
int pg_ep_kill_pid(struct dp_pgconn *c, int32_t pid, int cancel_only);
/* The server's shared handle on its "postgres" database (roles, database list). */
sqlite3 **pg_ep_global_db(struct dp_pgconn *c);
uint64_t *pg_ep_global_version(struct dp_pgconn *c);
/* Number of sessions of c's server connected to database name. */
int pg_ep_db_users(struct dp_pgconn *c, const char *name);

/* ---- SCRAM (pgwire_auth.c) ---- */

struct pg_scram *pg_scram_new(const char *verifier, const char *user);
void pg_scram_free(struct pg_scram *s);
/* client-first-message -> server-first-message (into out). nonce: the server's part, NULL for a
 * random one (tests pass RFC 7677's). 0, CMK_EPARSE (malformed), CMK_EINVAL (channel binding
 * asked, which is not offered). */
int pg_scram_first(struct pg_scram *s, const char *msg, size_t n, const char *nonce,
                   struct cmk_buf *out);
/* client-final-message -> server-final-message. 0, CMK_EAUTH (wrong password), CMK_EPARSE. */
int pg_scram_final(struct pg_scram *s, const char *msg, size_t n, struct cmk_buf *out);
/* The verifier of password with the given salt (tests); 0 or -1. */
int pg_scram_make(const char *password, const uint8_t *salt, size_t saltlen, int iterations,
                  char *out, size_t n);
/* A verifier that matches no password, stable per user (mock authentication). */
void pg_scram_mock(const uint8_t *secret, size_t sn, const char *user, char *out, size_t n);

/* base64 with padding (OpenSSL), for SCRAM. */
int pg_b64_encode(const uint8_t *p, size_t n, char *out, size_t on);
int pg_b64_decode(const char *s, size_t n, uint8_t *out, size_t on); /* bytes or -1 */

#endif
