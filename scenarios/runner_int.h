/* runner_int.h: what the runner's files share: runner.c drives the run (setup, steps, the
 * clock), world.c holds the world (runtime, services, names, listeners), actions*.c turn steps
 * into requests (actions.c dispatches; _vault, _hsm, _key, _server by kind), request.c sends
 * them, observe.c reads subjects, expect.c evaluates time rules, pgclient.c speaks PostgreSQL
 * over the data plane's pipe, record.c keeps the trace, the records and the outcomes. Not a
 * public header.
 */
#ifndef SC_RUNNER_INT_H
#define SC_RUNNER_INT_H

#include <jansson.h>
#include <limits.h>
#include <uv.h>

#include "common/arm.h"
#include "common/runtime.h"
#include "scenarios/runner.h"

#define SC_ALL_SUBJECTS ((1u << SC_S_COUNT) - 1)
#define SC_SERVER_SUBJECTS                                                                         \
    (1u << SC_S_SERVER | 1u << SC_S_HEALTH | 1u << SC_S_CONNECT | 1u << SC_S_SESSION |             \
     1u << SC_S_QUERY)
#define SC_ADMIN            "admin"
#define SC_DEFAULT_TENANT   "default"
#define SC_DEFAULT_LOCATION "eastus"
#define SC_DEFAULT_RG       "scenario"
#define SC_ADMIN_ADDR       "203.0.113.7" /* a public address: the administrator's workstation */
#define SC_DEFAULT_PASSWORD "Scenario-Passw0rd!"
#define SC_DEFAULT_LOGIN    "pgadmin"
#define SC_API_VAULTS       "2026-02-01"
#define SC_API_MSI          "2024-11-30"
#define SC_API_PG           "2025-08-01"
#define SC_API_RG           "2021-04-01"
#define SC_API_AUTHZ        "2022-04-01"
#define SC_API_KEYS         "7.5"
#define SC_API_HSM          "2025-05-01"

/* ---- names the scenario defines ---- */

struct sc_tenant {
    char *name;
    char id[40];
    char sub[40];
    char admin_client[40]; /* the tenant's administrator (a service principal) */
    char admin_oid[40];
};

struct sc_ident {
    char *name;
    int sp; /* a service principal (no ARM resource) */
    int deleted;
    struct sc_tenant *tenant;
    char rg[96];
    char location[64];
    char id[CMK_ARM_ID_MAX]; /* ARM id (managed identity) */
    char oid[40];            /* principal (object) id */
    char client_id[40];
};

struct sc_store { /* a vault or a managed HSM */
    char *name;
    int hsm;
    struct sc_tenant *tenant;
    char rg[96];
    char location[64];
    char id[CMK_ARM_ID_MAX];
    int rbac;
};

struct sc_server {
    char *name;
    struct sc_tenant *tenant;
    char rg[96];
    char location[64];
    char id[CMK_ARM_ID_MAX];
    char login[64];
    char password[128];
    char last_connect[160]; /* the last connection outcome recorded, to record changes only */
};

struct sc_role {
    char *key; /* scope|identity|role or the assignment's name */
    char guid[40];
    char scope[CMK_ARM_ID_MAX];
};

struct sc_token {
    char *who; /* principal ref + audience */
    char *token;
    cmk_time_t expires;
};

/* ---- PostgreSQL sessions (pgclient.c) ---- */

struct sc_pgresult {
    int ok; /* no ErrorResponse */
    char sqlstate[6];
    char message[512];
    json_t *rows;      /* array of arrays of strings/null: the last result set (owned) */
    int64_t row_count; /* from the last CommandComplete; -1 if none */
};

struct sc_pgconn;

/* ---- expectations in flight (expect.c) ---- */

enum sc_xstate {
    SC_X_IDLE,    /* not armed yet */
    SC_X_WAIT,    /* armed; waiting to become true (within/window) or for its span to start */
    SC_X_HOLDING, /* met, must stay true until `until` */
    SC_X_ACTIVE,  /* always/never inside its span */
    SC_X_DONE,    /* decided: verdict set */
};

struct sc_world;

struct sc_x {
    struct sc_world *w;
    const struct sc_expect *e; /* NULL for an implicit check */
    const struct sc_step *step;
    size_t outcome; /* index into result.outcomes */
    int invariant, in_finally;
    enum sc_xstate st;
    cmk_time_t t0;       /* absolute: when armed */
    cmk_time_t early;    /* window: true before this is a failure */
    cmk_time_t deadline; /* within/window/hold/span end; -1: end of run */
    cmk_time_t span_from;
    struct cmk_timer timer;
    /* log subjects: entries matched since since */
    cmk_time_t since;
    int64_t count;
    int last; /* last observed truth */
    char observed[512];
};

/* ---- the world of one run ---- */

struct sc_world {
    const struct sc_scenario *sc;
    const struct sc_run_opts *opts;
    struct sc_result *res;
    const struct sc_host *host;
    uv_loop_t loop;
    struct cmk_runtime rt;
    int rt_open, services_open, serving;
    struct sc_services svc;
    char dir[PATH_MAX];
    int own_dir;
    struct cmk_rng rng; /* the runner's own stream (nonces, assignment ids) */
    cmk_time_t start;   /* clock start (absolute) */
    cmk_time_t limit;   /* absolute end of the allowed virtual time */

    struct sc_tenant **tenants;
    size_t n_tenants;
    struct sc_ident **idents;
    size_t n_idents;
    struct sc_store **stores;
    size_t n_stores;
    struct sc_server **servers;
    size_t n_servers;
    struct sc_role **roles;
    size_t n_roles;
    struct sc_token **tokens;
    size_t n_tokens;
    struct sc_pgconn **sessions; /* named sessions */
    char **session_names;
    size_t n_sessions;
    char **rgs; /* "sub/rg" created */
    size_t n_rgs;

    /* steps */
    size_t *order; /* step indices by (at, index) */
    size_t next_step;
    struct cmk_timer step_timer;
    cmk_time_t barrier; /* clock.advance: no step before this */
    int steps_done, finally_done, ending, done, internal;
    const struct sc_step *current;              /* the step running */
    const struct sc_action_result *last_result; /* the running step's, for `result` */
    char **audit_last; /* per store: the last refused call recorded (records change only) */
    size_t n_audit_last;
    uint64_t evals_now; /* evaluations at the current instant (a guard against loops) */
    cmk_time_t evals_at;

    /* expectations */
    struct sc_x **xs;
    size_t n_xs;
    struct cmk_timer eval_timer; /* a zero-delay timer: the safe point after a change */
    unsigned dirty;              /* bits of SC_S_* subjects that may have changed */
    json_t *state_queue;         /* [[server id, state], ...] transitions since the last eval */
    json_t *activity;            /* activity entries kept for activity expectations */
    json_t *audit;               /* audit events kept for audit expectations */
    unsigned want_activity, want_audit;
    uint64_t changes;

    /* trace */
    uint64_t seq;
};

/* snprintf for text that may be cut (messages, summaries); record.c. */
void sc__fmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Escaped text for XML and SVG reports (report_junit.c). */
void sc__xml_text(FILE *out, const char *s);

/* world.c */
int sc__world_open(struct sc_world *w, cmk_timer_cb on_step);
void sc__world_close(struct sc_world *w);

/* runner.c, world.c */
void sc__mark(struct sc_world *w, unsigned subjects);
struct sc_tenant *sc__tenant(struct sc_world *w, const char *name);
struct sc_ident *sc__ident(struct sc_world *w, const char *name);
struct sc_store *sc__store(struct sc_world *w, const char *name);
struct sc_server *sc__server(struct sc_world *w, const char *name);
struct sc_server *sc__server_by_id(struct sc_world *w, const char *id);
cmk_time_t sc__now(const struct sc_world *w);
int sc__fail_internal(struct sc_world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* record.c: records (timeline, SVG) and the trace */
void sc__record(struct sc_world *w, enum sc_rec_kind kind, int ok, const char *subject,
                const char *state, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Append {"t", "seq", "kind", ...fields} (fields stolen) to the trace when one is kept. */
void sc__trace(struct sc_world *w, const char *kind, json_t *fields);
size_t sc__outcome_add(struct sc_world *w, const char *kind, const char *name, const char *step,
                       int line, int col, int invariant);
void sc__outcome_set(struct sc_world *w, size_t i, enum sc_verdict v, const char *observed,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* request.c: requests through the in-process door */
struct sc_http {
    int status;
    json_t *body;    /* parsed JSON body or NULL */
    char code[128];  /* error.code */
    char inner[128]; /* error.innererror.code */
    char message[1024];
};
void sc__http_close(struct sc_http *h);
/* A management request (path on https://management.azure.com) as caller (NULL: the admin of
 * tenant t, NULL t: the default tenant). */
int sc__mgmt(struct sc_world *w, const char *method, const char *path, const json_t *body,
             const struct sc_ident *caller, const struct sc_tenant *t, struct sc_http *out);
/* A key data-plane request on store's host; path starts with "/keys...". from: client address
 * (NULL: the administrator's public address). */
int sc__keys(struct sc_world *w, const struct sc_store *store, const char *method, const char *path,
             const json_t *body, const struct sc_ident *caller, const char *from,
             struct sc_http *out);
/* The base URL of a store ("https://kv1.vault.azure.net"). */
void sc__store_url(const struct sc_store *s, char *out, size_t n);
/* Make sure a resource group exists in t's subscription. */
int sc__ensure_rg(struct sc_world *w, struct sc_tenant *t, const char *rg, const char *location,
                  struct sc_http *out);
/* One-line summary "PUT .../vaults/kv1 -> 200" for records. */
void sc__http_summary(const char *method, const char *path, const struct sc_http *h, char *out,
                      size_t n);

/* actions.c, actions_server.c: run one call; out gets the result the `result` subject reads.
 * Returns 0 when the action succeeded, 1 when the service refused it, <0 when it could not be
 * run at all (out->message says why). */
struct sc_action_result {
    int ok;
    int status;     /* HTTP status, 0 for non-HTTP actions */
    char code[128]; /* service error code or SQLSTATE */
    char sqlstate[6];
    char message[1024];
    json_t *rows; /* client.query */
    int64_t row_count;
    char summary[512]; /* for records: what was done */
};
void sc__action_result_close(struct sc_action_result *r);
/* Helpers of the action files (actions.c). */
int sc__from_http(struct sc_action_result *r, const char *method, const char *path,
                  const struct sc_http *h); /* 0 for a 2xx, 1 otherwise */
int sc__afail(struct sc_action_result *r, const char *fmt, const char *a, const char *b);
const char *sc__arg(const struct sc_call *c, const char *k);
struct sc_ident *sc__caller(struct sc_world *w, const struct sc_call *c); /* NULL: the admin */
json_t *sc__string_list(const struct sc_value *v);
/* The action files' dispatchers. */
int sc__action_vault(struct sc_world *w, const struct sc_call *c, int setup,
                     struct sc_action_result *out);
int sc__action_key(struct sc_world *w, const struct sc_call *c, struct sc_action_result *out);
int sc__action_hsm(struct sc_world *w, const struct sc_call *c, int setup,
                   struct sc_action_result *out);
int sc__hsm_role_put(struct sc_world *w, struct sc_store *v, const char *scope, const char *oid,
                     const char *role, int assign, const struct sc_ident *as,
                     struct sc_action_result *r);
json_t *sc__network_acls(const struct sc_value *v); /* {defaultAction, bypass, ipRules} */
/* The administrator of an active HSM takes the key roles (once). */
int sc__hsm_admin_keys(struct sc_world *w, struct sc_store *v, struct sc_action_result *r);
int sc__action_run(struct sc_world *w, const struct sc_call *call, int setup,
                   struct sc_action_result *out);
int sc__action_server(struct sc_world *w, const struct sc_call *call, struct sc_action_result *out);
int sc__action_client(struct sc_world *w, const struct sc_call *call, struct sc_action_result *out);
/* Download an HSM's security domain (activation); as NULL: the administrator. */
int sc__hsm_activate(struct sc_world *w, const char *name, int64_t quorum,
                     const struct sc_ident *as, struct sc_action_result *r);
/* A key reference as a URI for the server's dataEncryption ("current" resolved now). */
int sc__key_uri(struct sc_world *w, const struct sc_keyref *k, char *out, size_t n,
                struct sc_action_result *res);
/* The administrator's password for a server, and its login. */

/* pgclient.c */
/* Connect (startup + password authentication). *out NULL when the connection was refused:
 * then res has the error (sqlstate, message). */
int sc__pg_connect(struct sc_world *w, const char *server, const char *database, const char *user,
                   const char *password, struct sc_pgconn **out, struct sc_pgresult *res);
/* Simple query (params NULL) or extended protocol with text parameters. */
int sc__pg_query(struct sc_world *w, struct sc_pgconn *c, const char *sql, const json_t *params,
                 struct sc_pgresult *res);
int sc__pg_alive(const struct sc_pgconn *c); /* 0 once the server ended the session */
/* 1 open, 0 ended; the end's SQLSTATE and message (the FATAL the server sent). */
int sc__pg_session_state(struct sc_pgconn *pc, char *sqlstate, size_t sn, char *msg, size_t mn);
/* The error the server sent when it ended the session ("" if none). */
const char *sc__pg_end_sqlstate(const struct sc_pgconn *c);
const char *sc__pg_end_message(const struct sc_pgconn *c);
void sc__pg_close(struct sc_pgconn *c);
void sc__pgresult_close(struct sc_pgresult *r);
/* Compare rows (JSON from the scenario: list of lists of strings/null) with a result. 1 equal. */
int sc__rows_equal(const struct sc_value *want, const json_t *got, char *why, size_t n);

/* observe.c: the current truth of an expectation's subject; 1 true, 0 false, <0 cannot be
 * observed (observed says why). Log subjects are handled in expect.c. */
int sc__observe(struct sc_world *w, struct sc_x *x, const char *server_state, char *observed,
                size_t n);
/* The activity/audit entry matches the expectation's matchers. */
int sc__log_match(struct sc_world *w, const struct sc_expect *e, const json_t *entry);
/* The resource id (server/vault/identity) or audit space of a log subject. */
int sc__log_subject(struct sc_world *w, const struct sc_expect *e, char *out, size_t n);

/* expect.c */
void sc__expect_arm(struct sc_world *w, const struct sc_expect *e, const struct sc_step *step,
                    int invariant, int in_finally, cmk_time_t t0);
/* Evaluate the expectations whose subjects changed (w->dirty), at the current time. */
void sc__expect_eval(struct sc_world *w);
/* The run ends: decide what is still open. */
void sc__expect_finish(struct sc_world *w, const char *why);
/* Expectations still waiting on a deadline (not spans to the end of the run). */
int sc__expect_pending(const struct sc_world *w, int include_spans);
void sc__expect_free(struct sc_world *w);
/* A log entry arrived (activity: kind 0, audit: kind 1). */
void sc__expect_log(struct sc_world *w, int audit, const json_t *entry);

#endif
