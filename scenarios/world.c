/* world.c: the world of one run (runner_int.h): the runtime on the virtual (or scaled) clock
 * with the scenario's seed, the host's services, the names the scenario defines, and the
 * listeners through which the services tell the runner what changed: server state changes,
 * activity log entries, vault audit events and the event bus. Every change marks the kinds of
 * subject it may affect and schedules the zero-delay evaluation timer (the safe point of
 * expect.c). Also the timing profile a scenario asks for, and the emulator keys shared by the
 * runs of one process.
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

#define MAX_EVALS_PER_INSTANT 64 /* evaluations at one instant: observing must settle */

cmk_time_t sc__now(const struct sc_world *w)
{
    return cmk_clock_now(&w->rt.clock);
}

int sc__fail_internal(struct sc_world *w, const char *fmt, ...)
{
    if (w->res->error == NULL) {
        struct cmk_buf b;
        cmk_buf_init(&b);
        va_list ap;
        va_start(ap, fmt);
        cmk_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        w->res->error = cmk_buf_take(&b, NULL);
        sc__record(w, SC_REC_NOTE, 0, "run", NULL, "%s", w->res->error);
        sc__trace(w, "error", json_pack("{s:s}", "message", w->res->error));
    }
    w->internal = 1;
    w->done = 1;
    return -1;
}

/* ---- names ---- */

struct sc_tenant *sc__tenant(struct sc_world *w, const char *name)
{
    for (size_t i = 0; name && i < w->n_tenants; i++)
        if (strcmp(w->tenants[i]->name, name) == 0)
            return w->tenants[i];
    return NULL;
}

struct sc_ident *sc__ident(struct sc_world *w, const char *name)
{
    for (size_t i = 0; name && i < w->n_idents; i++)
        if (strcmp(w->idents[i]->name, name) == 0)
            return w->idents[i];
    return NULL;
}

struct sc_store *sc__store(struct sc_world *w, const char *name)
{
    for (size_t i = 0; name && i < w->n_stores; i++)
        if (strcasecmp(w->stores[i]->name, name) == 0)
            return w->stores[i];
    return NULL;
}

struct sc_server *sc__server(struct sc_world *w, const char *name)
{
    for (size_t i = 0; name && i < w->n_servers; i++)
        if (strcasecmp(w->servers[i]->name, name) == 0)
            return w->servers[i];
    return NULL;
}

struct sc_server *sc__server_by_id(struct sc_world *w, const char *id)
{
    for (size_t i = 0; id && i < w->n_servers; i++)
        if (cmk_arm_id_equal(w->servers[i]->id, id))
            return w->servers[i];
    return NULL;
}

/* ---- changes ---- */

static void on_eval(struct cmk_timer *t)
{
    struct sc_world *w = t->data;
    cmk_time_t now = sc__now(w);
    if (w->evals_at != now) {
        w->evals_at = now;
        w->evals_now = 0;
    }
    if (++w->evals_now > MAX_EVALS_PER_INSTANT) {
        w->dirty = 0; /* observing keeps changing the world: wait for the next change */
        return;
    }
    sc__expect_eval(w);
}

void sc__mark(struct sc_world *w, unsigned subjects)
{
    w->dirty |= subjects;
    w->changes++;
    if (w->rt_open && !cmk_timer_active(&w->eval_timer))
        cmk_timer_start(&w->eval_timer, 0, 0);
}

static void on_state(void *data, const char *server_id, enum cp_state from, enum cp_state to,
                     const char *cause)
{
    struct sc_world *w = data;
    struct sc_server *s = sc__server_by_id(w, server_id);
    const char *name = s ? s->name : server_id;
    w->res->events++;
    json_array_append_new(w->state_queue, json_pack("[s, s]", server_id, cp_state_name(to)));
    /* The short cause ("PermissionRevoked"); the listener's is the whole sentence. */
    struct cp_server_status st;
    struct cmk_err err;
    const char *why = "";
    if (to != CP_STATE_READY && w->svc.servers &&
        cp_server_status(w->svc.servers, server_id, &st, &err) == 0 && st.cause[0])
        why = st.cause;
    else if (to != CP_STATE_READY && cause)
        why = cause;
    sc__record(w, SC_REC_STATE, to == CP_STATE_READY, name, cp_state_name(to),
               "%s -> %s%s%.90s%s%s", cp_state_name(from), cp_state_name(to), why[0] ? " (" : "",
               why, strlen(why) > 90 ? "..." : "", why[0] ? ")" : "");
    sc__trace(w, "server.state",
              json_pack("{s:s, s:s, s:s, s:s}", "server", name, "from", cp_state_name(from), "to",
                        cp_state_name(to), "cause", cause ? cause : ""));
    sc__mark(w, SC_SERVER_SUBJECTS);
}

static void on_activity(void *data, const json_t *entry)
{
    struct sc_world *w = data;
    w->res->events++;
    const char *op =
        json_string_value(json_object_get(json_object_get(entry, "operationName"), "value"));
    const char *status =
        json_string_value(json_object_get(json_object_get(entry, "status"), "value"));
    const char *rid = json_string_value(json_object_get(entry, "resourceId"));
    const char *level = json_string_value(json_object_get(entry, "level"));
    op = op ? op : "";
    status = status ? status : "";
    struct sc_server *s = sc__server_by_id(w, rid);
    int service = strstr(op, "encryptionKey") || strstr(op, "geoBackupEncryptionKey") ||
                  strstr(op, "healthevent");
    if (service) {
        const char *shortop = strrchr(op, '/');
        const char *desc = json_string_value(json_object_get(entry, "description"));
        if (strstr(op, "healthevent")) {
            shortop = strstr(op, "Activated") ? "health event activated" : "health event resolved";
        } else {
            shortop = shortop ? shortop + 1 : op;
        }
        sc__record(w, SC_REC_ACTIVITY, strcmp(status, "Failed") != 0, s ? s->name : rid, NULL,
                   "%s %s%s%.160s%s", shortop, status, desc && desc[0] ? ": " : "",
                   desc ? desc : "", desc && strlen(desc) > 160 ? "..." : "");
    }
    json_t *f = json_pack("{s:s, s:s, s:s, s:s}", "operation", op, "status", status, "resource",
                          s     ? s->name
                          : rid ? rid
                                : "",
                          "level", level ? level : "");
    sc__trace(w, "activity", f);
    sc__expect_log(w, 0, entry);
    sc__mark(w, SC_SERVER_SUBJECTS);
}

static void on_audit(void *data, const char *space_id, const json_t *event)
{
    struct sc_world *w = data;
    w->res->events++;
    const char *result = json_string_value(json_object_get(event, "resultType"));
    int failure = result && strcmp(result, "Success") != 0;
    if (!failure && !w->want_audit && !w->opts->trace)
        return; /* the hot path: millions of successful key checks */
    const char *op = json_string_value(json_object_get(event, "operationName"));
    json_t *props = json_object_get(event, "properties");
    const char *oid = json_string_value(
        json_object_get(json_object_get(json_object_get(event, "identity"), "claim"), "oid"));
    const char *who = oid ? oid : "anonymous";
    for (size_t i = 0; oid && i < w->n_idents; i++)
        if (strcasecmp(w->idents[i]->oid, oid) == 0)
            who = w->idents[i]->name;
    for (size_t i = 0; oid && i < w->n_tenants; i++)
        if (strcasecmp(w->tenants[i]->admin_oid, oid) == 0)
            who = SC_ADMIN;
    const char *inner = json_string_value(json_object_get(props, "innerErrorCode"));
    const char *code = json_string_value(json_object_get(props, "errorCode"));
    int status = (int)json_integer_value(json_object_get(props, "httpStatusCode"));
    if (w->opts->trace)
        sc__trace(w, "audit",
                  json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "store", space_id, "operation",
                            op ? op : "", "caller", who, "result", result ? result : "", "status",
                            status, "error",
                            inner  ? inner
                            : code ? code
                                   : ""));
    /* Record refusals when they change (the monitor retries every few minutes). */
    char sig[300], key[200];
    sc__fmt(key, sizeof(key), "%s|", space_id);
    sc__fmt(sig, sizeof(sig), "%s|%s|%s|%d|%s", space_id, op ? op : "", who, status,
            inner  ? inner
            : code ? code
                   : "");
    size_t k = 0;
    while (k < w->n_audit_last && strncmp(w->audit_last[k], key, strlen(key)) != 0)
        k++;
    if (k == w->n_audit_last) {
        w->audit_last = cmk_xrealloc(w->audit_last, (k + 1) * sizeof(*w->audit_last));
        w->audit_last[k] = cmk_xstrdup(key);
        w->n_audit_last++;
    }
    if (failure && strcmp(w->audit_last[k], sig) != 0) {
        free(w->audit_last[k]);
        w->audit_last[k] = cmk_xstrdup(sig);
        const char *slash = strchr(space_id, '/');
        sc__record(w, SC_REC_AUDIT, 0, slash ? slash + 1 : space_id, NULL,
                   "vault refuses %s by %s: %d %s", op ? op : "?", who, status,
                   inner  ? inner
                   : code ? code
                          : "");
    } else if (!failure && strstr(w->audit_last[k], who)) {
        free(w->audit_last[k]);
        w->audit_last[k] = cmk_xstrdup(key); /* the next refusal is news again */
    }
    if (w->want_audit) {
        json_t *copy = json_deep_copy(event);
        json_object_set_new(copy, "_space", json_string(space_id));
        sc__expect_log(w, 1, copy);
        json_decref(copy);
    }
}

static void on_event(void *data, const struct cmk_event *ev)
{
    struct sc_world *w = data;
    w->res->events++;
    if (w->opts->trace)
        sc__trace(w, "event",
                  json_pack("{s:s, s:s, s:O}", "event", ev->kind, "subject",
                            ev->subject ? ev->subject : "", "data",
                            ev->data ? ev->data : json_null()));
    const char *status = json_string_value(json_object_get(ev->data, "status"));
    const char *server = json_string_value(json_object_get(ev->data, "server"));
    if (strcmp(ev->kind, "dataplane.server") == 0) {
        const char *state = json_string_value(json_object_get(ev->data, "state"));
        const char *cause = json_string_value(json_object_get(ev->data, "cause"));
        sc__record(w, SC_REC_KEY, state && strcmp(state, "open") == 0, server ? server : "", NULL,
                   "data plane %s%s%.120s%s", state ? state : "?", cause && cause[0] ? ": " : "",
                   cause ? cause : "", cause && strlen(cause) > 120 ? "..." : "");
    } else if (strcmp(ev->kind, "dataplane.rewrap") == 0) {
        const char *kid = json_string_value(json_object_get(ev->data, "kid"));
        sc__record(w, SC_REC_KEY, 1, server ? server : "", NULL, "DEKs re-wrapped with %s",
                   kid ? kid : "?");
    } else if (strcmp(ev->kind, "dataplane.geoBackup") == 0 && status &&
               strcmp(status, "Succeeded") != 0) {
        const char *msg = json_string_value(json_object_get(ev->data, "message"));
        sc__record(w, SC_REC_KEY, 0, server ? server : "", NULL, "geo-backup copy %s: %.120s",
                   status, msg ? msg : "");
    }
    /* Not changes: our own connection probes, and the periodic geo copy when it works. */
    if (strcmp(ev->kind, "pg.connection") == 0 || strncmp(ev->kind, "audit", 5) == 0 ||
        (strcmp(ev->kind, "dataplane.geoBackup") == 0 && status &&
         strcmp(status, "Succeeded") == 0))
        return;
    sc__mark(w, SC_ALL_SUBJECTS & ~(1u << SC_S_AUDIT | 1u << SC_S_ACTIVITY));
}

/* ---- the world ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static void tenant_default(struct sc_world *w)
{
    struct sc_tenant *t = cmk_xcalloc(1, sizeof(*t));
    t->name = cmk_xstrdup(SC_DEFAULT_TENANT);
    sc__fmt(t->id, sizeof(t->id), "%s", CMK_ARM_DEFAULT_TENANT);
    sc__fmt(t->sub, sizeof(t->sub), "%s", CMK_ARM_DEFAULT_SUBSCRIPTION);
    sc__fmt(t->admin_client, sizeof(t->admin_client), "%s", "ad000000-c0de-4000-8000-000000000001");
    sc__fmt(t->admin_oid, sizeof(t->admin_oid), "%s", "ad000000-c0de-4000-8000-000000000002");
    w->tenants = cmk_xcalloc(1, sizeof(*w->tenants));
    w->tenants[0] = t;
    w->n_tenants = 1;
}

static int apply_profile(struct sc_world *w)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    const struct sc_scenario *s = w->sc;
    if (w->svc.servers == NULL)
        return 0;
    if (s->profile_overrides.type != SC_T_MAP)
        return cp_servers_set_profile(w->svc.servers, s->profile ? s->profile : "default", &err) ==
                       0
                   ? 0
                   : sc__fail_internal(w, "profile %s: %s", s->profile, err.message);
    const struct sc_value *o = &s->profile_overrides;
    const struct cp_profile *base =
        cp_profile_builtin(sc_get_str(o, "base", s->profile ? s->profile : "default"));
    if (base == NULL)
        return sc__fail_internal(w, "unknown timing profile %s", sc_get_str(o, "base", "?"));
    struct cp_profile p = *base;
    sc__fmt(p.name, sizeof(p.name), "scenario");
    sc__fmt(p.description, sizeof(p.description), "%s, with the scenario's overrides", base->name);
    p.check_interval = sc_get_duration(o, "keyCheckInterval", p.check_interval);
    p.check_jitter = sc_get_duration(o, "keyCheckJitter", p.check_jitter);
    if (sc_get(o, "keyCheckInterval")) {
        p.failing_interval = p.check_interval;
        p.failing_jitter = p.check_jitter;
    }
    p.recover_interval = sc_get_duration(o, "recoverAfter", p.recover_interval);
    for (int c = 0; c < CP_CLASS__COUNT; c++) {
        p.deny_after[c] = sc_get_duration(o, "denyAfter", p.deny_after[c]);
        p.inaccessible_after[c] = sc_get_duration(o, "inaccessibleAfter", p.inaccessible_after[c]);
    }
    p.op_create = sc_get_duration(o, "createDuration", p.op_create);
    p.op_update = sc_get_duration(o, "updateDuration", p.op_update);
    p.op_start = sc_get_duration(o, "startDuration", p.op_start);
    p.op_stop = sc_get_duration(o, "stopDuration", p.op_stop);
    p.op_restart = sc_get_duration(o, "restartDuration", p.op_restart);
    p.op_delete = sc_get_duration(o, "deleteDuration", p.op_delete);
    p.op_restore = sc_get_duration(o, "restoreDuration", p.op_restore);
    p.op_replica = sc_get_duration(o, "replicaLag", p.op_replica);
    if (cp_servers_add_profile(w->svc.servers, &p, &err) != 0 ||
        cp_servers_set_profile(w->svc.servers, "scenario", &err) != 0)
        return sc__fail_internal(w, "profile: %s", err.message);
    return 0;
}

/* The emulator's own keys (token signing, root key, identity header) are made on a runtime's
 * first start, and an RSA key generation is most of a short run's time: runs of one process
 * share the first run's keys (as the unit tests do). Nothing of a scenario depends on them. */
static char key_cache[PATH_MAX];

static void key_cache_remove(void)
{
    if (key_cache[0])
        nftw(key_cache, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int copy_dir_files(const char *from, const char *to)
{
    static const char *const names[] = {"token-signing.key", "root.key", "identity-header", NULL};
    if (mkdir(to, 0700) != 0 && errno != EEXIST)
        return -1;
    for (size_t i = 0; names[i]; i++) {
        char a[PATH_MAX + 32], b[PATH_MAX + 32];
        sc__fmt(a, sizeof(a), "%s/%s", from, names[i]);
        sc__fmt(b, sizeof(b), "%s/%s", to, names[i]);
        FILE *in = fopen(a, "rb");
        if (in == NULL)
            continue;
        int fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
        char buf[4096];
        size_t n;
        while (out && (n = fread(buf, 1, sizeof(buf), in)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                break;
        fclose(in);
        if (out)
            fclose(out);
        else if (fd >= 0)
            close(fd);
    }
    return 0;
}

static void keys_before_open(struct sc_world *w)
{
    if (!key_cache[0])
        return;
    char to[PATH_MAX + 8];
    sc__fmt(to, sizeof(to), "%s/keys", w->dir);
    copy_dir_files(key_cache, to);
}

static void keys_after_open(struct sc_world *w)
{
    if (key_cache[0])
        return;
    const char *tmp = getenv("TMPDIR");
    sc__fmt(key_cache, sizeof(key_cache), "%s/cmksim-keys-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(key_cache) == NULL) {
        key_cache[0] = 0;
        return;
    }
    atexit(key_cache_remove);
    char from[PATH_MAX + 8];
    sc__fmt(from, sizeof(from), "%s/keys", w->dir);
    copy_dir_files(from, key_cache);
}

int sc__world_open(struct sc_world *w, cmk_timer_cb on_step)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    if (w->opts->state_dir) {
        sc__fmt(w->dir, sizeof(w->dir), "%s", w->opts->state_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        sc__fmt(w->dir, sizeof(w->dir), "%s/cmksim-run-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (mkdtemp(w->dir) == NULL)
            return sc__fail_internal(w, "cannot make a state directory: %s", strerror(errno));
        w->own_dir = 1;
    }
    keys_before_open(w);
    uv_loop_init(&w->loop);
    struct cmk_runtime_opts o = {
        .data_dir = w->dir,
        .clock_mode = w->opts->speed > 0 ? CMK_CLOCK_SCALED : CMK_CLOCK_VIRTUAL,
        .clock_start = w->start,
        .speed = w->opts->speed > 0 ? w->opts->speed : 1,
        .seed = w->res->seed,
        .in_memory = w->opts->state_dir == NULL, /* --data: the state stays on disk */
    };
    if (cmk_runtime_open(&w->rt, &w->loop, &o, &err) != 0)
        return sc__fail_internal(w, "runtime: %s", err.message);
    w->rt_open = 1;
    if (w->rt.clock.mode == CMK_CLOCK_SCALED) {
        /* Opening the runtime took wall time (signing keys): bring the clock back to the
         * scenario's start, and pause it until the setup is done. */
        cmk_time_t drift = sc__now(w) - w->start;
        cmk_clock_resume(&w->rt.clock, cmk_clock_offset(&w->rt.clock) - drift, w->start);
        cmk_clock_set_speed(&w->rt.clock, 0);
    }
    cmk_timer_init(&w->rt.clock, &w->eval_timer, on_eval, w);
    cmk_timer_init(&w->rt.clock, &w->step_timer, on_step, w);
    cmk_runtime_rng(&w->rt, "scenarios", &w->rng);
    /* Against the wall clock, the emulator's endpoints are opened for real clients: TLS
     * first, so the data plane listens too. */
    if (w->opts->speed > 0 && w->host && w->host->serve && cmk_runtime_open_tls(&w->rt, &err) != 0)
        return sc__fail_internal(w, "TLS: %s", err.message);
    if (w->host == NULL || w->host->start(&w->rt, &err) != 0)
        return sc__fail_internal(w, "services: %s", err.message);
    w->services_open = 1;
    keys_after_open(w);
    if (w->opts->speed > 0 && w->host->serve) {
        if (w->host->serve(&w->rt, &err) != 0)
            return sc__fail_internal(w, "endpoints: %s", err.message);
        w->serving = 1;
    }
    w->host->services(&w->rt, &w->svc);
    if (w->svc.servers)
        cp_servers_listen(w->svc.servers, on_state, w);
    if (w->svc.arm)
        cmk_arm_activity_listen(w->svc.arm, on_activity, w);
    if (w->svc.vaults)
        vs_audit_listen(vs_vaults_audit(w->svc.vaults), on_audit, w);
    cmk_events_subscribe(&w->rt.events, on_event, w);
    tenant_default(w);
    return apply_profile(w);
}

void sc__world_close(struct sc_world *w)
{
    for (size_t i = 0; i < w->n_sessions; i++) {
        sc__pg_close(w->sessions[i]);
        free(w->session_names[i]);
    }
    free(w->sessions);
    free(w->session_names);
    sc__expect_free(w);
    if (w->rt_open) {
        cmk_timer_stop(&w->step_timer);
        cmk_timer_stop(&w->eval_timer);
        cmk_events_unsubscribe(&w->rt.events, on_event, w);
    }
    if (w->serving && w->host->unserve)
        w->host->unserve(&w->rt);
    if (w->services_open)
        w->host->close(&w->rt);
    if (w->rt_open) {
        w->res->events += w->rt.clock.fired;
        cmk_runtime_close(&w->rt);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
    }
    if (w->own_dir)
        nftw(w->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < w->n_tenants; i++) {
        free(w->tenants[i]->name);
        free(w->tenants[i]);
    }
    for (size_t i = 0; i < w->n_idents; i++) {
        free(w->idents[i]->name);
        free(w->idents[i]);
    }
    for (size_t i = 0; i < w->n_stores; i++) {
        free(w->stores[i]->name);
        free(w->stores[i]);
    }
    for (size_t i = 0; i < w->n_servers; i++) {
        free(w->servers[i]->name);
        free(w->servers[i]);
    }
    for (size_t i = 0; i < w->n_roles; i++) {
        free(w->roles[i]->key);
        free(w->roles[i]);
    }
    for (size_t i = 0; i < w->n_tokens; i++) {
        free(w->tokens[i]->who);
        free(w->tokens[i]->token);
        free(w->tokens[i]);
    }
    for (size_t i = 0; i < w->n_rgs; i++)
        free(w->rgs[i]);
    for (size_t i = 0; i < w->n_audit_last; i++)
        free(w->audit_last[i]);
    free(w->audit_last);
    free(w->tenants);
    free(w->idents);
    free(w->stores);
    free(w->servers);
    free(w->roles);
    free(w->tokens);
    free(w->rgs);
    free(w->order);
    json_decref(w->state_queue);
    json_decref(w->activity);
    json_decref(w->audit);
}
