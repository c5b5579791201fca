/* runner.c: one run of a scenario (runner.h). Opens a world (world.c), runs the setup (waiting
 * on the clock for long-running creations), then lets the clock drive everything: each step is
 * a clock timer, each expectation's deadline is a clock timer, and every change the services
 * report schedules a zero-delay evaluation timer, the safe point at which expectations are
 * checked (expect.c). The driver only moves the virtual clock to the next due timer until the
 * run is over: every timed step has run, the step expectations are decided, the finally steps
 * have run and nothing is left waiting; or the clock limit is reached. With --speed the loop
 * runs against the wall clock instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arm.h"
#include "common/log.h"
#include "controlplane/server.h"
#include "scenarios/runner_int.h"
#include "vaultsim/audit.h"
#include "vaultsim/vault.h"

#define SETUP_WAIT (2 * CMK_DAY) /* the longest a setup creation may take */

static void on_step(struct cmk_timer *t);

/* ---- driving the clock ---- */

/* Fire what is due next (virtual: jump to it; scaled: jump too, setup does not wait for the
 * wall clock). Returns 0, or -1 when nothing is due before limit. */
static int step_clock(struct sc_world *w, cmk_time_t limit)
{
    cmk_time_t next = cmk_clock_next_due(&w->rt.clock);
    if (next < 0 || next > limit)
        return -1;
    if (w->rt.clock.mode == CMK_CLOCK_VIRTUAL) {
        cmk_clock_run_until(&w->rt.clock, next);
    } else {
        cmk_time_t now = sc__now(w);
        cmk_clock_advance(&w->rt.clock, next > now ? next - now : 0);
        uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    return 0;
}

/* Setup waits for a server's creation: until it leaves Provisioning (its operation done). */
static int wait_server(struct sc_world *w, const char *name, struct sc_action_result *r)
{
    struct sc_server *s = sc__server(w, name);
    cmk_time_t until = sc__now(w) + SETUP_WAIT;
    struct cp_server_status st;
    struct cmk_err err;
    for (;;) {
        if (s == NULL || w->svc.servers == NULL)
            return 0;
        int rc = cp_server_status(w->svc.servers, s->id, &st, &err);
        if (rc == 0 && st.state == CP_STATE_READY)
            return 0;
        if (rc == 0 && st.state != CP_STATE_PROVISIONING) {
            sc__fmt(r->message, sizeof(r->message), "server %s is %s after its creation: %s", name,
                    cp_state_name(st.state), st.message);
            return -1;
        }
        if (rc != 0 && sc__now(w) > w->start) {
            sc__fmt(r->message, sizeof(r->message), "server %s was not created: %s", name,
                    err.message);
            return -1;
        }
        if (step_clock(w, until) != 0) {
            sc__fmt(r->message, sizeof(r->message), "server %s is still being created", name);
            return -1;
        }
    }
}

/* Setup waits for an HSM's provisioning (and its activation when asked). */
static int wait_hsm(struct sc_world *w, const struct sc_call *call, struct sc_action_result *r)
{
    const char *name = sc_get_str(&call->args, "name", "");
    struct sc_store *v = sc__store(w, name);
    int activate = sc_get_bool(&call->args, "activate", 0), asked = 0;
    cmk_time_t until = sc__now(w) + SETUP_WAIT;
    for (;;) {
        struct cmk_arm_resource res;
        struct cmk_err err;
        if (v == NULL || w->svc.arm == NULL)
            return 0;
        const char *prov = NULL, *act = NULL;
        if (cmk_arm_resource_get(w->svc.arm, v->id, &res, &err) == 0) {
            json_t *props = json_object_get(res.doc, "properties");
            prov = json_string_value(json_object_get(props, "provisioningState"));
            act = json_string_value(json_object_get(
                json_object_get(props, "securityDomainProperties"), "activationStatus"));
            prov = prov && strcmp(prov, "Succeeded") == 0 ? "ok" : prov ? "wait" : NULL;
            act = act && strcasecmp(act, "Active") == 0 ? "ok" : "wait";
            cmk_arm_resource_close(&res);
        }
        if (prov && strcmp(prov, "ok") == 0 && (!activate || strcmp(act, "ok") == 0))
            return 0;
        if (prov && strcmp(prov, "ok") == 0 && activate && !asked) {
            asked = 1;
            if (sc__hsm_activate(w, name, sc_get_int(&call->args, "quorum", 2), NULL, r) != 0)
                return -1;
            continue;
        }
        if (step_clock(w, until) != 0) {
            sc__fmt(r->message, sizeof(r->message), "HSM %s is still being %s", name,
                    asked ? "activated" : "provisioned");
            return -1;
        }
    }
}

static int run_setup(struct sc_world *w)
{
    const struct sc_scenario *s = w->sc;
    for (size_t i = 0; i < s->n_setup && !w->done; i++) {
        const struct sc_setup_item *it = &s->setup[i];
        struct sc_action_result r;
        int rc = sc__action_run(w, &it->call, 1, &r);
        const char *name =
            sc_get_str(&it->call.args, "name", sc_get_str(&it->call.args, "server", ""));
        sc__record(w, SC_REC_NOTE, rc == 0, "setup", NULL, "setup %s %s: %s", it->section->name,
                   name, r.summary);
        sc__trace(w, "setup",
                  json_pack("{s:s, s:s, s:s, s:b}", "section", it->section->name, "name", name,
                            "summary", r.summary, "ok", rc == 0));
        if (rc == 0 && it->call.action->id == SC_A_SERVER_CREATE)
            rc = wait_server(w, name, &r);
        if (rc == 0 && it->call.action->id == SC_A_HSM_CREATE)
            rc = wait_hsm(w, &it->call, &r);
        if (rc == 0 && it->call.action->id == SC_A_CLIENT_QUERY) {
            const struct sc_value *want = sc_get(&it->call.args, "rows");
            char why[300];
            if (want && !sc__rows_equal(want, r.rows, why, sizeof(why))) {
                sc__fmt(r.message, sizeof(r.message), "%s", why);
                rc = 1;
            }
        }
        if (rc != 0) {
            sc__fail_internal(w, "%s:%d:%d: setup of %s '%s' failed: %s%s%s", s->file,
                              it->call.line, it->call.col, it->section->name, name,
                              r.summary[0] ? r.summary : "", r.message[0] ? ": " : "", r.message);
            sc__action_result_close(&r);
            return -1;
        }
        sc__action_result_close(&r);
        sc__mark(w, SC_ALL_SUBJECTS);
    }
    return 0;
}

/* The implicit check of a step's action: it succeeded, and a query returned what it says. */
static void check_action(struct sc_world *w, const struct sc_step *st, int rc,
                         const struct sc_action_result *r, int in_finally)
{
    for (size_t i = 0; i < st->n_expects; i++)
        if (st->expects[i].subject->id == SC_S_RESULT)
            return; /* the step states what its action should give */
    char name[300];
    sc__fmt(name, sizeof(name), "%s: %s %s", st->id, st->call.action->name,
            st->call.action->id == SC_A_CLIENT_QUERY ? "returns what it expects" : "succeeds");
    size_t o = sc__outcome_add(w, in_finally ? "finally" : "action", name, st->id, st->call.line,
                               st->call.col, 0);
    w->res->outcomes[o].t0 = sc__now(w) - w->start;
    char obs[1200];
    sc__fmt(obs, sizeof(obs), "%s", r->summary);
    if (rc < 0) {
        sc__outcome_set(w, o, SC_VERDICT_ERROR, obs, "could not be run: %s", r->message);
        return;
    }
    if (st->call.action->id == SC_A_CLIENT_QUERY) {
        const struct sc_value *ws = sc_get(&st->call.args, "sqlstate");
        const struct sc_value *wr = sc_get(&st->call.args, "rows");
        const struct sc_value *wc = sc_get(&st->call.args, "rowCount");
        char why[400] = "";
        if (ws) {
            if (r->ok || strcasecmp(r->sqlstate, ws->u.str) != 0)
                sc__fmt(why, sizeof(why), "expected SQLSTATE %s, got %s", ws->u.str,
                        r->ok ? "success" : r->sqlstate);
        } else if (!r->ok) {
            sc__fmt(why, sizeof(why), "ERROR %s: %s", r->sqlstate, r->message);
        } else if (wr && !sc__rows_equal(wr, r->rows, why, sizeof(why))) {
            /* why set */
        } else if (wc) {
            int64_t got = r->rows ? (int64_t)json_array_size(r->rows) : r->row_count;
            if (got != wc->u.i)
                sc__fmt(why, sizeof(why), "%lld row(s), expected %lld", (long long)got,
                        (long long)wc->u.i);
        }
        if (why[0])
            sc__outcome_set(w, o, SC_VERDICT_FAILED, obs, "%s", why);
        else
            sc__outcome_set(w, o, SC_VERDICT_PASSED, obs, NULL);
        return;
    }
    if (rc != 0)
        sc__outcome_set(w, o, SC_VERDICT_FAILED, obs, "the service refused it: %d %s: %s",
                        r->status, r->code, r->message);
    else
        sc__outcome_set(w, o, SC_VERDICT_PASSED, obs, NULL);
}

static void run_step(struct sc_world *w, const struct sc_step *st, int in_finally)
{
    struct sc_action_result r;
    memset(&r, 0, sizeof(r));
    int rc = 0;
    w->current = st;
    if (st->call.action) {
        rc = sc__action_run(w, &st->call, 0, &r);
        w->last_result = &r;
        sc__record(w, SC_REC_STEP, rc == 0, st->id, NULL, "%s: %s", st->call.action->name,
                   r.summary);
        sc__trace(w, "step",
                  json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "step", st->id, "action",
                            st->call.action->name, "result", rc == 0 ? "ok" : "error", "status",
                            r.status, "code", r.code, "summary", r.summary));
        check_action(w, st, rc, &r, in_finally);
    } else {
        sc__trace(w, "step", json_pack("{s:s}", "step", st->id));
    }
    sc__mark(w, SC_ALL_SUBJECTS);
    for (size_t i = 0; i < st->n_expects; i++)
        sc__expect_arm(w, &st->expects[i], st, 0, in_finally, sc__now(w));
    w->last_result = NULL;
    w->current = NULL;
    sc__action_result_close(&r);
}

static cmk_time_t step_due(const struct sc_world *w, size_t k)
{
    cmk_time_t t = w->start + w->sc->steps[w->order[k]].at;
    return t < w->barrier ? w->barrier : t;
}

static void schedule_steps(struct sc_world *w)
{
    if (w->next_step >= w->sc->n_steps) {
        w->steps_done = 1;
        return;
    }
    cmk_time_t due = step_due(w, w->next_step);
    if (due < sc__now(w))
        due = sc__now(w);
    cmk_timer_start_at(&w->step_timer, due, 0);
}

static void on_step(struct cmk_timer *t)
{
    struct sc_world *w = t->data;
    while (!w->done && w->next_step < w->sc->n_steps && step_due(w, w->next_step) <= sc__now(w)) {
        run_step(w, &w->sc->steps[w->order[w->next_step]], 0);
        w->next_step++;
    }
    schedule_steps(w);
}

static int cmp_steps(const void *a, const void *b, void *arg)
{
    const struct sc_scenario *s = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (s->steps[x].at != s->steps[y].at)
        return s->steps[x].at < s->steps[y].at ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* After every clock turn: run finally when the timed part is over, end when all is decided. */
static void check_progress(struct sc_world *w)
{
    if (w->done || !w->steps_done)
        return;
    if (!w->finally_done) {
        if (sc__expect_pending(w, 0) > 0)
            return;
        w->finally_done = 1;
        if (w->sc->n_finally)
            sc__record(w, SC_REC_NOTE, 1, "finally", NULL, "finally");
        for (size_t i = 0; i < w->sc->n_finally && !w->done; i++)
            run_step(w, &w->sc->finally[i], 1);
        return;
    }
    if (sc__expect_pending(w, 1) > 0 || cmk_timer_active(&w->eval_timer))
        return;
    w->done = 1;
}

/* Against the wall clock (--speed): the loop runs, the clock fires timers at their real
 * instants, clients may come in through the endpoints. */
static void drive_scaled(struct sc_world *w)
{
    while (!w->done) {
        uv_run(&w->loop, UV_RUN_ONCE);
        check_progress(w);
        if (!w->done && sc__now(w) > w->limit) {
            sc__record(w, SC_REC_NOTE, 0, "run", NULL, "the clock limit is reached");
            sc__expect_finish(w, "clock limit");
            w->done = 1;
        }
    }
}

static void drive(struct sc_world *w)
{
    if (w->rt.clock.mode == CMK_CLOCK_SCALED) {
        drive_scaled(w);
        return;
    }
    while (!w->done) {
        if (step_clock(w, w->limit) != 0) {
            if (!w->steps_done || sc__expect_pending(w, 1) > 0 || !w->finally_done) {
                char d[32];
                cmk_duration_format(w->limit - w->start, d, sizeof(d));
                /* Let the clock reach the limit so deadlines at it are still checked. */
                if (w->rt.clock.mode == CMK_CLOCK_VIRTUAL)
                    cmk_clock_run_until(&w->rt.clock, w->limit);
                sc__record(w, SC_REC_NOTE, 0, "run", NULL, "the clock limit (%s) is reached", d);
                sc__expect_finish(w, "clock limit");
            }
            w->done = 1;
            break;
        }
        check_progress(w);
    }
}

static void arm_invariants(struct sc_world *w)
{
    for (size_t i = 0; i < w->sc->n_invariants; i++)
        sc__expect_arm(w, &w->sc->invariants[i], NULL, 1, 0, sc__now(w));
}

static void init_result(struct sc_result *r, const struct sc_scenario *s,
                        const struct sc_run_opts *o)
{
    memset(r, 0, sizeof(*r));
    cmk_buf_init(&r->trace);
    r->file = cmk_xstrdup(s->file ? s->file : "");
    r->name = cmk_xstrdup(s->name ? s->name : "");
    r->description = s->description ? cmk_xstrdup(s->description) : NULL;
    struct cmk_buf b;
    cmk_buf_init(&b);
    for (size_t i = 0; i < s->n_rules; i++)
        cmk_buf_printf(&b, "%sR%d", i ? ", " : "", s->rules[i]);
    r->rules = cmk_buf_take(&b, NULL);
    if (!r->rules)
        r->rules = cmk_xstrdup("");
    r->seed = o->seed_given ? o->seed : s->has_seed ? s->seed : 1;
    r->reproduce = o->reproduce ? cmk_xstrdup(o->reproduce) : NULL;
}

static int exit_code(struct sc_world *w)
{
    struct sc_result *r = w->res;
    int missed = 0, broken = 0, error = 0;
    for (size_t i = 0; i < r->n_outcomes; i++) {
        const struct sc_outcome *o = &r->outcomes[i];
        if (o->verdict == SC_VERDICT_FAILED && o->invariant)
            broken = 1;
        else if (o->verdict == SC_VERDICT_FAILED)
            missed = 1;
        else if (o->verdict == SC_VERDICT_ERROR)
            error = 1;
    }
    if (w->internal || error)
        return SC_EXIT_INTERNAL;
    return broken ? SC_EXIT_BROKEN : missed ? SC_EXIT_MISSED : SC_EXIT_PASS;
}

int sc_run(const struct sc_scenario *s, const struct sc_host *host, const struct sc_run_opts *o,
           struct sc_result *out)
{
    uint64_t wall0 = cmk_clock_monotonic_ns();
    init_result(out, s, o);
    struct sc_world *w = cmk_xcalloc(1, sizeof(*w));
    w->sc = s;
    w->opts = o;
    w->res = out;
    w->host = host;
    w->start = s->clock_start;
    cmk_time_t last = 0;
    for (size_t i = 0; i < s->n_steps; i++)
        if (s->steps[i].at > last)
            last = s->steps[i].at;
    w->limit =
        w->start + (s->clock_limit > 0
                        ? s->clock_limit
                        : (last + 2 * CMK_DAY > 30 * CMK_DAY ? last + 2 * CMK_DAY : 30 * CMK_DAY));
    w->state_queue = json_array();
    w->activity = json_array();
    w->audit = json_array();
    for (size_t i = 0; i < s->n_steps + s->n_finally + s->n_invariants; i++) {
        const struct sc_expect *ex;
        size_t n;
        if (i < s->n_invariants) {
            ex = &s->invariants[i];
            n = 1;
        } else if (i < s->n_invariants + s->n_steps) {
            ex = s->steps[i - s->n_invariants].expects;
            n = s->steps[i - s->n_invariants].n_expects;
        } else {
            ex = s->finally[i - s->n_invariants - s->n_steps].expects;
            n = s->finally[i - s->n_invariants - s->n_steps].n_expects;
        }
        for (size_t j = 0; j < n; j++) {
            w->want_audit |= ex[j].subject->id == SC_S_AUDIT;
            w->want_activity |= ex[j].subject->id == SC_S_ACTIVITY;
        }
    }
    w->order = cmk_xcalloc(s->n_steps + 1, sizeof(*w->order));
    for (size_t i = 0; i < s->n_steps; i++)
        w->order[i] = i;
    qsort_r(w->order, s->n_steps, sizeof(*w->order), cmp_steps, (void *)s);
    if (sc__world_open(w, on_step) == 0) {
        out->clock_start = w->start;
        sc__trace(w, "run",
                  json_pack("{s:s, s:s, s:I}", "scenario", out->name, "file", out->file, "seed",
                            (json_int_t)out->seed));
        sc__record(w, SC_REC_NOTE, 1, "run", NULL, "scenario %s, seed %llu", out->name,
                   (unsigned long long)out->seed);
        if (run_setup(w) == 0) {
            sc__record(w, SC_REC_NOTE, 1, "setup", NULL, "setup done");
            if (w->rt.clock.mode == CMK_CLOCK_SCALED)
                cmk_clock_set_speed(&w->rt.clock, o->speed);
            arm_invariants(w);
            schedule_steps(w);
            check_progress(w);
            drive(w);
        }
        if (!w->internal)
            sc__expect_finish(w, "end of the run");
        sc__record(w, SC_REC_NOTE, 1, "run", NULL, "end of the run");
        out->clock_end = sc__now(w);
    }
    out->exit_code = exit_code(w);
    sc__trace(w, "end", json_pack("{s:i}", "exit", out->exit_code));
    sc__world_close(w);
    free(w);
    out->wall_ns = cmk_clock_monotonic_ns() - wall0;
    return out->exit_code;
}
