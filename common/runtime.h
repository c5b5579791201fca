/* runtime.h: what every service of one cmksim process shares.
 *
 * One loop, one clock, one seeded generator (forked per subsystem), one router, the host
 * names, the emulator's TLS material, and the state database. `cmksim serve` opens it over a
 * state directory with the real (or scaled) clock; `cmksim run` and the tests open it with
 * the virtual clock. Services take a pointer to it in their init function and register
 * their routes and ARM providers on it; they never reach into one another.
 */
#ifndef CMK_RUNTIME_H
#define CMK_RUNTIME_H

#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#include "clock.h"
#include "err.h"
#include "events.h"
#include "hosts.h"
#include "rng.h"
#include "router.h"
#include "tls.h"

struct cmk_auth;
struct cmk_arm;

struct cmk_log;
struct cmk_trace;

struct cmk_runtime_opts {
    const char *data_dir; /* created if missing (mode 0700) */
    enum cmk_clock_mode clock_mode;
    cmk_time_t clock_start; /* virtual/scaled start; 0: 2026-01-01T00:00:00Z */
    double speed;           /* scaled mode factor */
    uint64_t seed;
    const char *suffix; /* local host suffix; NULL: "localhost" */
    int in_memory;      /* state.db in memory (scenario runs that need no restart) */
};

struct cmk_runtime {
    uv_loop_t *loop;
    struct cmk_clock clock;
    struct cmk_rng rng;
    struct cmk_router router;
    struct cmk_hosts hosts;
    struct cmk_tls *tls;   /* NULL until cmk_runtime_open_tls */
    struct cmk_auth *auth; /* token signing and verification (auth.h) */
    struct cmk_arm *arm;   /* the ARM core (arm.h): set by cmk_arm_open, NULL before */
    sqlite3 *db;
    struct cmk_trace *trace;  /* NULL unless a trace was asked for */
    struct cmk_events events; /* what happened, for the runner, trace and dashboard (events.h) */
    char data_dir[PATH_MAX];
};

int cmk_runtime_open(struct cmk_runtime *rt, uv_loop_t *loop, const struct cmk_runtime_opts *o,
                     struct cmk_err *err) __attribute__((warn_unused_result));
/* Create or load the CA and leaves (serve, and tests that talk TLS). */
int cmk_runtime_open_tls(struct cmk_runtime *rt, struct cmk_err *err)
    __attribute__((warn_unused_result));
void cmk_runtime_close(struct cmk_runtime *rt);
/* A stream of the generator for one subsystem ("vaultsim", "controlplane"...). */
void cmk_runtime_rng(const struct cmk_runtime *rt, const char *name, struct cmk_rng *out);

#endif
