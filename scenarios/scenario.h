/* scenario.h: the in-memory model of a cmksim scenario file, and the parser that builds it.
 *
 * A scenario (scenarios/README.md is the language reference) is a YAML document with
 * apiVersion cmksim/v1, kind Scenario, metadata, seed, clock, profile, setup, steps,
 * invariants and finally. The parser (parse.c and friends) reads it with libyaml, checks every
 * key against tables of data (schema.c: the actions with their argument schemas, the
 * expectation subjects, the timing-profile keys), resolves step times and name references,
 * and builds the model below. It executes nothing: the runner walks the model later.
 *
 * Errors are collected as diagnostics `FILE:LINE:COL: error: what was expected there`, with
 * 1-based line and column of the offending node; unknown keys are errors, never ignored.
 *
 * Ownership: sc_scenario_parse / sc_scenario_load hand a heap model to the caller, who frees
 * it with sc_scenario_free. Every string in it is owned by the model. Action, subject and
 * field definitions are static tables, never freed. Every node keeps its line and column.
 */
#ifndef SC_SCENARIO_H
#define SC_SCENARIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/err.h"

/* ---- values and their schemas ---- */

enum sc_type {
    SC_T_NONE = 0, /* absent; in a schema: a key the caller handles itself */
    SC_T_STRING,   /* any scalar as written; with choices, the canonical spelling */
    SC_T_INT,
    SC_T_BOOL,
    SC_T_DURATION, /* cmk_duration_parse: 10m, 1h30m, 90d, PT10M */
    SC_T_DATE,     /* cmk_time_parse: 2026-01-01T00:00:00Z */
    SC_T_WHEN,     /* a date, or a signed duration from when the action runs (30d, -1h) */
    SC_T_KEYREF,   /* STORE/KEY, STORE/KEY/current, STORE/KEY/VERSION, or a key URI */
    SC_T_POINT,    /* a time point: 1h, start, end, DATE, STEP, STEP + 5m, STEP - 5m */
    SC_T_SPAN,     /* true (from the owner's start to the end of the run) or [POINT, POINT] */
    SC_T_WINDOW,   /* [DURATION, DURATION], from <= to */
    SC_T_LIST,
    SC_T_MAP,  /* a mapping checked against a schema */
    SC_T_DICT, /* a mapping of free names to strings (tags) */
};

/* What a name in a value refers to; the parser checks that it is defined. */
enum sc_ref {
    SC_REF_NONE = 0,
    SC_REF_TENANT,   /* setup.tenants, tenant.create; "default" is built in */
    SC_REF_IDENTITY, /* identities and principals; "admin" is built in */
    SC_REF_VAULT,
    SC_REF_HSM,
    SC_REF_STORE, /* a vault or a managed HSM */
    SC_REF_KEY,   /* STORE/KEY, defined by key.create or key.import */
    SC_REF_SERVER,
    SC_REF_SESSION,  /* client.connect session: NAME */
    SC_REF_RESOURCE, /* any of vault, HSM, identity, server */
    SC_REF_COUNT
};

#define SC_F_REQUIRED 0x1u
#define SC_F_NULLABLE 0x2u /* STRING: a plain null/~ is accepted (query rows) */

struct sc_field {
    const char *key; /* NULL ends a table */
    enum sc_type type;
    unsigned flags;
    const char *const *choices;    /* STRING: allowed values, matched ignoring case */
    const struct sc_field *fields; /* MAP: its schema */
    const struct sc_field *elem;   /* LIST: the element's type (its key is unused) */
    enum sc_ref ref;               /* STRING, KEYREF: what the name refers to */
    int64_t min, max;              /* INT: inclusive range, unchecked when both are 0 */
    int (*check)(const char *s);   /* STRING: extra syntax check, 0 when fine */
    const char *what;              /* STRING with check: what was expected ("a SQLSTATE...") */
};

enum sc_point_kind {
    SC_POINT_NONE = 0,
    SC_POINT_OFFSET, /* offset from the clock start (1h, start) */
    SC_POINT_DATE,   /* an absolute date; resolved to an offset from the clock start */
    SC_POINT_STEP,   /* a step's time plus offset (may be negative) */
    SC_POINT_END,    /* the end of the run */
};

struct sc_point {
    enum sc_point_kind kind;
    char *step;        /* STEP: the step id */
    size_t step_index; /* STEP: index in sc_scenario.steps, once resolved */
    cmk_time_t offset; /* OFFSET: from the start; STEP: added to the step's time; DATE: absolute */
    cmk_time_t at;     /* resolved offset from the clock start; -1 for END */
    int implicit;      /* STEP: no at/after was written, so right after the previous step */
    int line, col;
};

struct sc_keyref {
    char *text;    /* as written */
    char *store;   /* vault or HSM name (for a URI: the host's first label) */
    char *key;     /* key name */
    char *version; /* NULL: versionless, follows rotation; "current": pinned when the action runs */
    int is_uri;    /* written as https://HOST/keys/NAME[/VERSION]; not checked against setup */
};

struct sc_entry;

struct sc_value {
    enum sc_type type; /* SC_T_NONE: absent */
    int line, col;
    int is_null;                  /* STRING with SC_F_NULLABLE: written as null, ~ or nothing */
    const struct sc_field *field; /* the schema entry it was checked against (may be NULL) */
    union {
        char *str;       /* STRING */
        int64_t i;       /* INT */
        int b;           /* BOOL */
        cmk_time_t dur;  /* DURATION */
        cmk_time_t date; /* DATE: absolute */
        struct {
            int relative; /* 1: t is an offset from when the action runs */
            cmk_time_t t;
        } when;
        struct sc_keyref key;
        struct sc_point point;
        struct {
            int whole; /* written as true: from the owner's start to the end of the run */
            struct sc_point from, to;
        } span;
        struct {
            cmk_time_t from, to;
        } window;
        struct {
            struct sc_value *v;
            size_t n;
        } list;
        struct {
            struct sc_entry *v;
            size_t n;
        } map; /* MAP and DICT, in document order */
    } u;
};

struct sc_entry {
    char *key;
    int line, col; /* of the key */
    struct sc_value value;
};

/* ---- actions ---- */

/* X(ID, "name"): every management and data action a step can take (schema.c has the table). */
#define SC_ACTIONS(X)                                                                              \
    X(TENANT_CREATE, "tenant.create")                                                              \
    X(IDENTITY_CREATE, "identity.create")                                                          \
    X(IDENTITY_DELETE, "identity.delete")                                                          \
    X(VAULT_CREATE, "vault.create")                                                                \
    X(VAULT_UPDATE, "vault.update")                                                                \
    X(VAULT_DELETE, "vault.delete")                                                                \
    X(VAULT_RECOVER, "vault.recover")                                                              \
    X(VAULT_PURGE, "vault.purge")                                                                  \
    X(VAULT_SET_NETWORK_RULES, "vault.set_network_rules")                                          \
    X(VAULT_GRANT, "vault.grant")                                                                  \
    X(VAULT_REVOKE, "vault.revoke")                                                                \
    X(HSM_CREATE, "hsm.create")                                                                    \
    X(HSM_ACTIVATE, "hsm.activate")                                                                \
    X(HSM_DELETE, "hsm.delete")                                                                    \
    X(HSM_RECOVER, "hsm.recover")                                                                  \
    X(HSM_PURGE, "hsm.purge")                                                                      \
    X(KEY_CREATE, "key.create")                                                                    \
    X(KEY_IMPORT, "key.import")                                                                    \
    X(KEY_GET, "key.get")                                                                          \
    X(KEY_DISABLE, "key.disable")                                                                  \
    X(KEY_ENABLE, "key.enable")                                                                    \
    X(KEY_SET_EXPIRY, "key.set_expiry")                                                            \
    X(KEY_ROTATE, "key.rotate")                                                                    \
    X(KEY_DELETE, "key.delete")                                                                    \
    X(KEY_RECOVER, "key.recover")                                                                  \
    X(KEY_PURGE, "key.purge")                                                                      \
    X(ROLE_ASSIGN, "role.assign")                                                                  \
    X(ROLE_REMOVE, "role.remove")                                                                  \
    X(SERVER_CREATE, "server.create")                                                              \
    X(SERVER_UPDATE_KEY, "server.update_key")                                                      \
    X(SERVER_RESTORE, "server.restore")                                                            \
    X(SERVER_REPLICA, "server.replica")                                                            \
    X(SERVER_GEO_RESTORE, "server.geo_restore")                                                    \
    X(SERVER_STOP, "server.stop")                                                                  \
    X(SERVER_START, "server.start")                                                                \
    X(SERVER_RESTART, "server.restart")                                                            \
    X(SERVER_DELETE, "server.delete")                                                              \
    X(CLIENT_CONNECT, "client.connect")                                                            \
    X(CLIENT_DISCONNECT, "client.disconnect")                                                      \
    X(CLIENT_QUERY, "client.query")                                                                \
    X(FAULT_VAULT_UNREACHABLE, "fault.vault_unreachable")                                          \
    X(CLOCK_ADVANCE, "clock.advance")

enum sc_action {
#define SC_ACTION_ENUM(id, name) SC_A_##id,
    SC_ACTIONS(SC_ACTION_ENUM)
#undef SC_ACTION_ENUM
        SC_A_COUNT
};

struct sc_action_def {
    enum sc_action id;
    const char *name;
    const struct sc_field *args; /* its schema, ended by {NULL} */
    const char *primary;         /* the argument a scalar shorthand fills (`server.stop: srv1`) */
    const char *const *one_of;   /* at least one of these arguments must be given, or NULL */
    enum sc_ref defines;         /* kind of name the action creates, SC_REF_NONE if none */
    const char *name_arg;        /* the argument holding that name (keys: in args "vault") */
};

extern const struct sc_action_def sc_actions[SC_A_COUNT]; /* indexed by enum sc_action */
const struct sc_action_def *sc_action_find(const char *name);

/* setup: sections run in this order, each entry is one call of the section's action. */
struct sc_setup_section {
    const char *name; /* "vaults" */
    enum sc_action action;
};
extern const struct sc_setup_section sc_setup_sections[];
extern const size_t sc_setup_section_count;

/* ---- expectations ---- */

#define SC_SUBJECTS(X)                                                                             \
    X(SERVER, "server")                                                                            \
    X(KEY, "key")                                                                                  \
    X(VAULT, "vault")                                                                              \
    X(HSM, "hsm")                                                                                  \
    X(IDENTITY, "identity")                                                                        \
    X(HEALTH, "health")                                                                            \
    X(ACTIVITY, "activity")                                                                        \
    X(AUDIT, "audit")                                                                              \
    X(CONNECT, "connect")                                                                          \
    X(SESSION, "session")                                                                          \
    X(QUERY, "query")                                                                              \
    X(RESULT, "result")

enum sc_subject {
#define SC_SUBJECT_ENUM(id, name) SC_S_##id,
    SC_SUBJECTS(SC_SUBJECT_ENUM)
#undef SC_SUBJECT_ENUM
        SC_S_COUNT
};

struct sc_subject_def {
    enum sc_subject id;
    const char *name;
    struct sc_field target[2];       /* the subject key and its value's type; [1] ends it */
    const struct sc_field *matchers; /* what may be compared, ended by {NULL} */
    int needs_matcher;               /* at least one matcher must be given */
};

extern const struct sc_subject_def sc_subjects[SC_S_COUNT];
const struct sc_subject_def *sc_subject_find(const char *name);
/* Keys every expectation may carry besides its subject's: within, window, hold, always,
 * never, name. */
extern const struct sc_field sc_expect_common[];

enum sc_timing {
    SC_TIMING_NOW,    /* no rule: true when checked at t0 (hold may follow) */
    SC_TIMING_WITHIN, /* true at some time in [t0, t0 + within] */
    SC_TIMING_WINDOW, /* first true in [t0 + from, t0 + to]; true earlier is a failure */
    SC_TIMING_HOLD,   /* true at t0 and for hold after it */
    SC_TIMING_ALWAYS, /* true at every change in [from, to] */
    SC_TIMING_NEVER,  /* false at every change in [from, to] */
};

struct sc_expect {
    int line, col;
    const struct sc_subject_def *subject;
    struct sc_value fields; /* MAP: every key as written, typed (subject, matchers, timing) */
    const struct sc_value *target; /* points into fields: the subject key's value */
    char *name;                    /* `name:` label, or NULL */
    enum sc_timing timing;
    cmk_time_t within;                 /* WITHIN */
    cmk_time_t window_from, window_to; /* WINDOW, relative to t0 */
    cmk_time_t hold;                   /* > 0: once met, must stay true this long */
    struct sc_point from, to;          /* ALWAYS/NEVER span, resolved (.at; END: -1) */
};

/* ---- the scenario ---- */

struct sc_call {
    const struct sc_action_def *action; /* NULL: a step that only expects */
    struct sc_value args;               /* MAP checked against action->args */
    int line, col;                      /* of the action key */
};

struct sc_setup_item {
    const struct sc_setup_section *section;
    struct sc_call call;
};

struct sc_step {
    char *id;   /* as written, or "steps[N]" (1-based) when none was given */
    int has_id; /* 0: the id was made up */
    int line, col;
    struct sc_point when; /* at (OFFSET/DATE), after (STEP) or implicit (STEP, after previous) */
    cmk_time_t at;        /* resolved offset from the clock start; finally steps: -1 */
    struct sc_call call;
    struct sc_expect *expects;
    size_t n_expects;
};

struct sc_scenario {
    char *file;
    char *name;
    char *description; /* NULL if none */
    int *rules;        /* 1..18 for R1..R18, in the order written */
    size_t n_rules;
    char **tags;
    size_t n_tags;
    uint64_t seed;
    int has_seed;
    cmk_time_t clock_start; /* absolute; default 2026-01-01T00:00:00Z */
    cmk_time_t clock_limit; /* longest run in virtual time; 0: the runner's default */
    char *profile;          /* timing profile name (the base of an inline one), default "default" */
    struct sc_value profile_overrides; /* MAP of timing values, or SC_T_NONE */
    struct sc_setup_item *setup;       /* in execution order (sc_setup_sections), then as written */
    size_t n_setup;
    struct sc_step *steps; /* as written; the runner orders them by (at, index) */
    size_t n_steps;
    struct sc_expect *invariants;
    size_t n_invariants;
    struct sc_step *finally; /* run in order at the end of the run */
    size_t n_finally;
};

/* ---- diagnostics ---- */

struct sc_diag {
    int line, col; /* 1-based; 0 when the error is about the whole file */
    char *msg;     /* what was expected there */
};

struct sc_diags {
    char *file;
    struct sc_diag *v;
    size_t n, cap;
    size_t dropped; /* errors past the limit, counted but not kept */
};

void sc_diags_init(struct sc_diags *d);
void sc_diags_close(struct sc_diags *d);
/* "FILE:LINE:COL: error: MSG" (or "FILE: error: MSG" without a position) into out. */
void sc_diag_format(const struct sc_diags *d, const struct sc_diag *g, char *out, size_t n);
/* Every diagnostic, one line each, in file order. */
void sc_diags_print(const struct sc_diags *d, FILE *out);

/* ---- parsing ---- */

#define SC_MAX_FILE_SIZE (4u << 20) /* a scenario file larger than this is refused */
#define SC_MAX_ERRORS    20         /* diagnostics kept per file */
#define SC_MAX_DEPTH     64         /* YAML nesting */

/* Parse text (len bytes, no NUL needed) named file in messages. On success *out is the model
 * (free with sc_scenario_free) and 0 is returned. On a bad file: CMK_EPARSE, *out NULL, every
 * problem in diags in file order (may be NULL; else initialized with sc_diags_init, and its
 * previous content is dropped) and the first one, formatted, in err->message with code
 * "InvalidScenario". */
int sc_scenario_parse(const char *file, const char *text, size_t len, struct sc_scenario **out,
                      struct sc_diags *diags, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Read path and parse it; an unreadable file is CMK_EIO with a diagnostic without position. */
int sc_scenario_load(const char *path, struct sc_scenario **out, struct sc_diags *diags,
                     struct cmk_err *err) __attribute__((warn_unused_result));
void sc_scenario_free(struct sc_scenario *s);

/* ---- reading the model ---- */

const struct sc_value *sc_get(const struct sc_value *map, const char *key); /* NULL if absent */
const char *sc_get_str(const struct sc_value *map, const char *key, const char *dflt);
int64_t sc_get_int(const struct sc_value *map, const char *key, int64_t dflt);
int sc_get_bool(const struct sc_value *map, const char *key, int dflt);
cmk_time_t sc_get_duration(const struct sc_value *map, const char *key, cmk_time_t dflt);
const struct sc_step *sc_scenario_step(const struct sc_scenario *s, const char *id);
const char *sc_type_name(enum sc_type t);
const char *sc_ref_name(enum sc_ref r);
/* One line naming an expectation for reports: "server srv1 state Inaccessible within 60m". */
void sc_expect_describe(const struct sc_expect *e, char *out, size_t n);

#endif
