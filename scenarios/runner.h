/* runner.h: running a parsed scenario (scenario.h) and reporting on it.
 *
 * sc_run replays one scenario in a world of its own: a fresh runtime on the virtual clock
 * (state in memory, files in a temporary directory removed afterwards), the scenario's seed
 * for the runtime's generator, and the services `cmksim serve` runs, started by the host
 * (struct sc_host: tools/cli/run.c passes tools/cli/services.c). Every action is the request a
 * real client would send, through the router's in-process door: ARM requests on the
 * management host with an administrator's token, Key Vault requests on NAME.vault.azure.net,
 * PostgreSQL sessions over the data plane's in-process pipe. Expectations are checked on every
 * change the services report (server state listeners, activity log and audit listeners, the
 * event bus) and at their deadlines, never by polling.
 *
 * The outcome is a struct sc_result: the exit code (SC_EXIT_*), one outcome per expectation
 * (and per implicit check of an action), the records the timeline and the SVG are drawn from,
 * and the JSON-lines trace (virtual time only, byte-identical for one seed).
 *
 * Ownership: sc_run fills *out, which the caller releases with sc_result_close. The scenario
 * must outlive the call only. One thread; the runtime and its loop are the run's own.
 */
#ifndef SC_RUNNER_H
#define SC_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "scenarios/scenario.h"

struct cmk_runtime;
struct cmk_arm;
struct cp_identity;
struct cp_servers;
struct vs_vaults;
struct dp_pgwire;

/* Exit codes (DESIGN.md "Scenarios"). */
#define SC_EXIT_PASS     0
#define SC_EXIT_MISSED   1  /* an expectation was missed */
#define SC_EXIT_BROKEN   2  /* an invariant was broken */
#define SC_EXIT_INTERNAL 3  /* internal error, setup failure, or a non-deterministic trace */
#define SC_EXIT_BADFILE  64 /* the scenario file is not valid (file:line:col) */

/* The services of a runtime the runner talks to directly: the ARM core and identity directory
 * (tenants and service principals have no ARM API), and the observers (audit log listener,
 * key status, the in-process PostgreSQL door). NULL members are services not in this build. */
struct sc_services {
    struct cmk_arm *arm;
    struct cp_identity *identity;
    struct vs_vaults *vaults;
    struct cp_servers *servers;
    struct dp_pgwire *pgwire;
};

/* The process around the runner: how the services are started on a runtime. serve/unserve
 * (may be NULL) open and close the HTTPS endpoints of `cmksim serve` on the runtime of a run
 * against the wall clock (--speed), so real clients can watch and act during the replay. */
struct sc_host {
    int (*start)(struct cmk_runtime *rt, struct cmk_err *err);
    void (*close)(struct cmk_runtime *rt);
    void (*services)(struct cmk_runtime *rt, struct sc_services *out);
    int (*serve)(struct cmk_runtime *rt, struct cmk_err *err);
    void (*unserve)(struct cmk_runtime *rt);
};

struct sc_run_opts {
    uint64_t seed; /* used when seed_given, else the scenario's (else 1) */
    int seed_given;
    int trace;             /* build the JSON-lines trace into result.trace */
    double speed;          /* 0: virtual clock; N: scaled clock, N times the wall clock */
    const char *reproduce; /* the command that reruns this run, shown in failures */
    const char *state_dir; /* NULL: a temporary directory, removed afterwards */
};

enum sc_verdict {
    SC_VERDICT_PASSED,
    SC_VERDICT_FAILED,
    SC_VERDICT_SKIPPED, /* not reached: the run stopped before */
    SC_VERDICT_ERROR,   /* could not be checked (a service missing from this build...) */
};

/* One JUnit testcase: an expectation, an invariant or the implicit check of a step's action. */
struct sc_outcome {
    char *name; /* the expectation's `name`, or its description */
    char *kind; /* "expect", "invariant", "action", "finally" */
    char *step; /* step id, NULL for invariants */
    int line, col;
    int invariant;
    enum sc_verdict verdict;
    cmk_time_t t0;  /* when it was armed, from the clock start (-1: never) */
    cmk_time_t at;  /* when it was decided, from the clock start (-1: never) */
    char *observed; /* the last observed state ("state=Ready keyStatus=Valid") */
    char *message;  /* why it failed, NULL when it passed */
};

/* What the timeline and the picture show. t is absolute clock time. */
enum sc_rec_kind {
    SC_REC_STEP,     /* an action: subject = step id, text = what it did and its result */
    SC_REC_STATE,    /* a server state change: subject = server, text = "Ready -> Inaccessible" */
    SC_REC_KEY,      /* key/vault/identity facts (action results, key status changes) */
    SC_REC_ACTIVITY, /* an activity log entry worth showing */
    SC_REC_AUDIT,    /* a refused vault call (failures only) */
    SC_REC_CONNECT,  /* a connection attempt outcome (subject = server) */
    SC_REC_EXPECT,   /* an expectation met/failed (subject = its name) */
    SC_REC_FAULT,    /* a fault injected or healed */
    SC_REC_NOTE,     /* setup, run end, notes */
};

struct sc_record {
    cmk_time_t t;
    enum sc_rec_kind kind;
    int ok;        /* SC_REC_CONNECT / EXPECT / STEP: success; STATE: the new state is healthy */
    char *subject; /* a server, step or expectation name */
    char *state;   /* SC_REC_STATE: the new state */
    char *text;
};

struct sc_result {
    char *file;
    char *name;
    char *description;
    char *rules; /* "R4, R9, R10" */
    uint64_t seed;
    int exit_code;
    char *error;     /* internal error or setup failure (exit 3), else NULL */
    char *reproduce; /* from the options */
    struct sc_outcome *outcomes;
    size_t n_outcomes;
    struct sc_record *records;
    size_t n_records, cap_records;
    struct cmk_buf trace;              /* JSON lines (empty unless asked) */
    cmk_time_t clock_start, clock_end; /* absolute virtual times of the run */
    uint64_t events;  /* simulated events: timers fired + changes observed + requests */
    uint64_t wall_ns; /* wall time of the run (for benchmarks; never in the trace) */
};

/* Run s; fills *out (always: release it with sc_result_close) and returns out->exit_code. */
int sc_run(const struct sc_scenario *s, const struct sc_host *host, const struct sc_run_opts *o,
           struct sc_result *out);
void sc_result_close(struct sc_result *r);

/* ---- reports ---- */

/* JUnit XML: one testsuite per result, one testcase per outcome, the seed and the reproduce
 * command in properties, failures with the last observed state and the reproduce command. */
void sc_report_junit(FILE *out, struct sc_result *const *results, size_t n);
/* A readable timeline on out (color: ANSI colours for a terminal). */
void sc_report_timeline(FILE *out, const struct sc_result *r, int color);
/* A swimlane picture: servers' states, key and vault events, connection outcomes and
 * expectations over virtual time. */
void sc_report_svg(FILE *out, const struct sc_result *r);
/* GitHub Actions annotations (::error file=...,line=...::) for every failed outcome. */
void sc_report_annotations(FILE *out, const struct sc_result *r);

#endif
