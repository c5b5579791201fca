/* manage.c: the clock and fault routes of `cmksim serve` and the admin check every /_cmksim
 * route uses (see manage.h for the routes and the rules).
 *
 * The clock is the runtime's scaled clock; this file only moves it (cmk_clock_advance,
 * cmk_clock_set_speed) and keeps DIR/clock.json up to date so a restart resumes where time
 * was. The outage fault is the control plane's hook (cp_fault_vault_unreachable); the list of
 * outages shown by GET /_cmksim/faults is kept here. Each change is published on rt->events
 * ("clock.advanced", "clock.speed", "fault.started", "fault.ended") for the dashboard.
 */
#include "manage.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/arm.h"
#include "common/log.h"
#include "controlplane/server.h"

#define SAVE_EVERY  (5 * CMK_SECOND) /* wall time between clock saves */
#define MAX_FAULTS  32
#define MAX_ADVANCE (3660 * CMK_DAY)
#define MAX_SPEED   1e6

struct fault {
    char vault[128];
    cmk_time_t until;
};

struct cli_manage {
    struct cmk_runtime *rt;
    struct cmk_timer save_timer;
    char path[PATH_MAX + 16];
    char aud_local[200];
    const char *audiences[4];
    struct fault faults[MAX_FAULTS];
    size_t nfaults;
};

/* ---- the clock's file ---- */

static void save_clock(struct cli_manage *m)
{
    struct cmk_clock *c = &m->rt->clock;
    char now[40], tmp[PATH_MAX + 32];
    cmk_time_format(cmk_clock_now(c), now, sizeof(now));
    json_t *j =
        json_pack("{s:s, s:I, s:I, s:f}", "time", now, "timeMs", (json_int_t)cmk_clock_now(c),
                  "offsetMs", (json_int_t)cmk_clock_offset(c), "speed", cmk_clock_speed(c));
    snprintf(tmp, sizeof(tmp), "%s.tmp", m->path);
    if (json_dump_file(j, tmp, JSON_INDENT(2)) != 0 || chmod(tmp, 0600) != 0 ||
        rename(tmp, m->path) != 0)
        cmk_warn("manage", "msg=\"cannot save the clock\" file=%s error=\"%s\"", m->path,
                 strerror(errno));
    json_decref(j);
}

static void on_save_timer(struct cmk_timer *t)
{
    struct cli_manage *m = t->data;
    save_clock(m);
    cmk_timer_start(t, cmk_clock_span(&m->rt->clock, SAVE_EVERY), 0);
}

/* Resume the clock from the file: offset from the wall clock, never before the saved time. */
static void restore_clock(struct cli_manage *m, double speed)
{
    struct cmk_clock *c = &m->rt->clock;
    json_t *j = json_load_file(m->path, 0, NULL);
    double saved_speed = 1;
    if (j != NULL) {
        json_t *off = json_object_get(j, "offsetMs"), *at = json_object_get(j, "timeMs");
        json_t *sp = json_object_get(j, "speed");
        if (json_is_integer(off) && json_is_integer(at))
            cmk_clock_resume(c, (cmk_time_t)json_integer_value(off),
                             (cmk_time_t)json_integer_value(at));
        if (json_is_number(sp) && json_number_value(sp) >= 0 && json_number_value(sp) <= MAX_SPEED)
            saved_speed = json_number_value(sp);
        json_decref(j);
    }
    cmk_clock_set_speed(c, speed > 0 ? speed : saved_speed);
    char now[40];
    cmk_time_format(cmk_clock_now(c), now, sizeof(now));
    cmk_info("manage", "msg=\"clock\" time=%s speed=%g offset_ms=%lld", now, cmk_clock_speed(c),
             (long long)cmk_clock_offset(c));
}

/* ---- admin check ---- */

static void auth_error(struct cmk_response *res, const struct cmk_err *err)
{
    if (err->status == 401)
        cmk_response_header(
            res, "WWW-Authenticate",
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", "
            "error=\"invalid_token\"");
    cmk_response_error(res, err);
}

int cli_manage_admin(struct cli_manage *m, struct cmk_request *req, struct cmk_response *res,
                     int query_ok, struct cmk_principal *who)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    const char *h = cmk_request_header(req, "authorization");
    char qh[8192];
    const char *q = query_ok ? cmk_request_query(req, "access_token") : NULL;
    if (h == NULL && q != NULL && strlen(q) < sizeof(qh) - 8) {
        snprintf(qh, sizeof(qh), "Bearer %s", q);
        h = qh;
    }
    if (h == NULL) {
        cmk_err_set(&err, CMK_EAUTH, 401, "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.");
        auth_error(res, &err);
        return CMK_EAUTH;
    }
    struct cmk_err aerr;
    cmk_err_clear(&aerr);
    int rc =
        cmk_auth_verify(m->rt->auth, h, cmk_clock_now(&m->rt->clock), m->audiences, who, &aerr);
    if (rc != 0) {
        cmk_err_set(&err, CMK_EAUTH, 401,
                    !strcmp(aerr.inner, "TokenExpired")      ? "ExpiredAuthenticationToken"
                    : !strcmp(aerr.inner, "InvalidAudience") ? "InvalidAuthenticationTokenAudience"
                                                             : "InvalidAuthenticationToken",
                    "The access token is invalid: %s", aerr.message);
        auth_error(res, &err);
        return CMK_EAUTH;
    }
    if (strcasecmp(who->tid, CMK_ARM_DEFAULT_TENANT) != 0) {
        cmk_err_set(&err, CMK_EDENIED, 403, "AuthorizationFailed",
                    "The client '%s' with object id '%s' does not have authorization to manage "
                    "the emulator: only principals of the default tenant %s may.",
                    who->appid[0] ? who->appid : who->oid, who->oid, CMK_ARM_DEFAULT_TENANT);
        cmk_response_error(res, &err);
        return CMK_EDENIED;
    }
    return 0;
}

/* ---- clock routes ---- */

static json_t *clock_json(struct cli_manage *m)
{
    struct cmk_clock *c = &m->rt->clock;
    char now[40], off[40];
    cmk_time_t t = cmk_clock_now(c);
    cmk_time_format(t, now, sizeof(now));
    cmk_duration_format(cmk_clock_offset(c), off, sizeof(off));
    return json_pack("{s:s, s:I, s:f, s:s, s:I, s:s}", "time", now, "timeMs", (json_int_t)t,
                     "speed", cmk_clock_speed(c), "mode",
                     c->mode == CMK_CLOCK_SCALED    ? "scaled"
                     : c->mode == CMK_CLOCK_VIRTUAL ? "virtual"
                                                    : "real",
                     "offsetMs", (json_int_t)cmk_clock_offset(c), "offset", off);
}

static void h_clock(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_manage *m = data;
    struct cmk_principal who;
    if (cli_manage_admin(m, req, res, 0, &who) != 0)
        return;
    cmk_response_json(res, 200, clock_json(m));
}

/* The body's member as a duration: a string ("30m", "PT30M") or a number of seconds. */
static int body_duration(const json_t *v, cmk_time_t *out)
{
    if (json_is_string(v))
        return cmk_duration_parse(json_string_value(v), out);
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < MAX_ADVANCE / CMK_SECOND) {
        *out = (cmk_time_t)json_integer_value(v) * CMK_SECOND;
        return 0;
    }
    return CMK_EPARSE;
}

static void h_clock_advance(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_manage *m = data;
    struct cmk_principal who;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cli_manage_admin(m, req, res, 0, &who) != 0)
        return;
    json_t *body = cmk_request_json(req, &err);
    cmk_time_t d = 0;
    if (body == NULL)
        goto fail;
    if (body_duration(json_object_get(body, "duration"), &d) != 0 || d <= 0 || d > MAX_ADVANCE) {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidDuration",
                    "'duration' must be a positive duration up to 3660d such as \"30m\", "
                    "\"1h30m\", \"2d\" or \"PT30M\".");
        goto fail;
    }
    struct cmk_clock *c = &m->rt->clock;
    if (c->mode != CMK_CLOCK_SCALED && c->mode != CMK_CLOCK_VIRTUAL) {
        cmk_err_set(&err, CMK_ECONFLICT, 409, "ClockNotAdjustable",
                    "This clock follows the wall clock and cannot be moved.");
        goto fail;
    }
    cmk_time_t from = cmk_clock_now(c);
    if (cmk_clock_advance(c, d) != 0) {
        cmk_err_set(&err, CMK_ECONFLICT, 409, "ClockBusy", "The clock is busy; try again.");
        goto fail;
    }
    save_clock(m);
    char f[40], t[40], by[40];
    cmk_time_format(from, f, sizeof(f));
    cmk_time_format(cmk_clock_now(c), t, sizeof(t));
    cmk_duration_format(d, by, sizeof(by));
    cmk_info("manage", "msg=\"clock advanced\" by=%s to=%s caller=%s", by, t, who.appid);
    cmk_events_publish(&m->rt->events, "clock.advanced", "clock",
                       json_pack("{s:s, s:s, s:s}", "from", f, "to", t, "by", by));
    cmk_response_json(res, 200, clock_json(m));
    return;
fail:
    cmk_response_error(res, &err);
}

static void h_clock_speed(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_manage *m = data;
    struct cmk_principal who;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cli_manage_admin(m, req, res, 0, &who) != 0)
        return;
    json_t *body = cmk_request_json(req, &err);
    if (body == NULL)
        goto fail;
    json_t *v = json_object_get(body, "speed");
    double speed = json_is_number(v) ? json_number_value(v) : -1;
    if (json_is_string(v)) {
        char *end;
        speed = strtod(json_string_value(v), &end);
        if (*end != '\0' && strcmp(end, "x") != 0)
            speed = -1;
    }
    if (!(speed >= 0 && speed <= MAX_SPEED)) {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidSpeed",
                    "'speed' must be a number from 0 (paused) to 1000000.");
        goto fail;
    }
    struct cmk_clock *c = &m->rt->clock;
    if (c->mode != CMK_CLOCK_SCALED) {
        cmk_err_set(&err, CMK_ECONFLICT, 409, "ClockNotAdjustable",
                    "Only the scaled clock of `cmksim serve` changes speed.");
        goto fail;
    }
    double from = cmk_clock_speed(c);
    cmk_clock_set_speed(c, speed);
    save_clock(m);
    cmk_info("manage", "msg=\"clock speed\" from=%g to=%g caller=%s", from, speed, who.appid);
    cmk_events_publish(&m->rt->events, "clock.speed", "clock",
                       json_pack("{s:f, s:f}", "from", from, "to", speed));
    cmk_response_json(res, 200, clock_json(m));
    return;
fail:
    cmk_response_error(res, &err);
}

/* ---- faults ---- */

static void prune_faults(struct cli_manage *m)
{
    cmk_time_t now = cmk_clock_now(&m->rt->clock);
    for (size_t i = 0; i < m->nfaults;) {
        if (m->faults[i].until <= now)
            m->faults[i] = m->faults[--m->nfaults];
        else
            i++;
    }
}

static json_t *fault_json(const struct fault *f)
{
    char until[40];
    cmk_time_format(f->until, until, sizeof(until));
    return json_pack("{s:s, s:s, s:s}", "kind", "vault-outage", "vault", f->vault, "until", until);
}

static void h_faults_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_manage *m = data;
    struct cmk_principal who;
    if (cli_manage_admin(m, req, res, 0, &who) != 0)
        return;
    prune_faults(m);
    json_t *arr = json_array();
    for (size_t i = 0; i < m->nfaults; i++)
        json_array_append_new(arr, fault_json(&m->faults[i]));
    cmk_response_json(res, 200, json_pack("{s:o}", "value", arr));
}

/* "kv1", "kv1.vault.azure.net", "https://kv1.vault.azure.net/" -> "kv1" (lowercase). */
static int vault_label(const char *in, char *out, size_t n)
{
    if (!strncmp(in, "https://", 8))
        in += 8;
    size_t len = strcspn(in, "./:");
    if (len == 0 || len >= n || len > 63)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-'))
            return -1;
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    out[len] = '\0';
    return 0;
}

static int set_fault(struct cli_manage *m, const char *vault, cmk_time_t until, struct cmk_err *err)
{
    int rc = cp_fault_vault_unreachable(m->rt, vault, until);
    if (rc == CMK_EINVAL)
        return cmk_err_set(err, rc, 503, "ServiceUnavailable",
                           "The PostgreSQL control plane is not running in this process, so no "
                           "vault outage can be injected.");
    if (rc != 0)
        return cmk_err_set(err, rc, 409, "TooManyFaults", "Too many faults are active.");
    prune_faults(m);
    for (size_t i = 0; i < m->nfaults; i++) {
        if (!strcmp(m->faults[i].vault, vault)) {
            m->faults[i].until = until;
            prune_faults(m);
            return 0;
        }
    }
    if (until > cmk_clock_now(&m->rt->clock) && m->nfaults < MAX_FAULTS) {
        snprintf(m->faults[m->nfaults].vault, sizeof(m->faults[0].vault), "%s", vault);
        m->faults[m->nfaults++].until = until;
    }
    return 0;
}

static void h_faults_add(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_manage *m = data;
    struct cmk_principal who;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cli_manage_admin(m, req, res, 0, &who) != 0)
        return;
    json_t *body = cmk_request_json(req, &err);
    if (body == NULL)
        goto fail;
    const char *kind = json_string_value(json_object_get(body, "kind"));
    const char *vault = json_string_value(json_object_get(body, "vault"));
    char label[64];
    cmk_time_t d = 0;
    if (kind == NULL || strcmp(kind, "vault-outage") != 0) {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidFaultKind",
                    "'kind' must be \"vault-outage\" (the vault or managed HSM is unreachable "
                    "from the service).");
        goto fail;
    }
    if (vault == NULL || vault_label(vault, label, sizeof(label)) != 0) {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidVaultName",
                    "'vault' must name a vault or managed HSM (\"kv1\" or its host name).");
        goto fail;
    }
    if (body_duration(json_object_get(body, "for"), &d) != 0 || d <= 0 || d > MAX_ADVANCE) {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidDuration",
                    "'for' must be a positive duration such as \"20m\" or \"2h\".");
        goto fail;
    }
    cmk_time_t until = cmk_clock_now(&m->rt->clock) + d;
    if (set_fault(m, label, until, &err) != 0)
        goto fail;
    struct fault f;
    snprintf(f.vault, sizeof(f.vault), "%s", label);
    f.until = until;
    cmk_info("manage", "msg=\"fault\" kind=vault-outage vault=%s caller=%s", label, who.appid);
    json_t *ev = fault_json(&f);
    cmk_events_publish(&m->rt->events, "fault.started", label, json_deep_copy(ev));
    cmk_response_json(res, 201, ev);
    return;
fail:
    cmk_response_error(res, &err);
}

static void h_faults_end(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cli_manage *m = data;
    struct cmk_principal who;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cli_manage_admin(m, req, res, 0, &who) != 0)
        return;
    char label[64];
    const char *v = cmk_request_param(req, "vault");
    prune_faults(m);
    size_t i = 0;
    if (v && vault_label(v, label, sizeof(label)) == 0)
        for (; i < m->nfaults && strcmp(m->faults[i].vault, label) != 0; i++)
            ;
    if (v == NULL || i >= m->nfaults) {
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "FaultNotFound",
                    "No vault outage is active for '%s'.", v ? v : "");
        cmk_response_error(res, &err);
        return;
    }
    if (set_fault(m, label, cmk_clock_now(&m->rt->clock), &err) != 0) {
        cmk_response_error(res, &err);
        return;
    }
    cmk_events_publish(&m->rt->events, "fault.ended", label,
                       json_pack("{s:s, s:s}", "kind", "vault-outage", "vault", label));
    cmk_response_json(
        res, 200,
        json_pack("{s:s, s:s, s:s}", "kind", "vault-outage", "vault", label, "status", "ended"));
}

static const struct cmk_route routes[] = {
    {"GET", "/_cmksim/clock", h_clock},
    {"POST", "/_cmksim/clock/advance", h_clock_advance},
    {"POST", "/_cmksim/clock/speed", h_clock_speed},
    {"GET", "/_cmksim/faults", h_faults_list},
    {"POST", "/_cmksim/faults", h_faults_add},
    {"DELETE", "/_cmksim/faults/vault-outage/{vault}", h_faults_end},
    {NULL, NULL, NULL},
};

int cli_manage_open(struct cli_manage **out, struct cmk_runtime *rt, double speed,
                    struct cmk_err *err)
{
    (void)err;
    struct cli_manage *m = cmk_xcalloc(1, sizeof(*m));
    m->rt = rt;
    snprintf(m->path, sizeof(m->path), "%s/clock.json", rt->data_dir);
    snprintf(m->aud_local, sizeof(m->aud_local), "https://management.%s/", rt->hosts.suffix);
    m->audiences[0] = "https://management.azure.com/";
    m->audiences[1] = "https://management.core.windows.net/";
    m->audiences[2] = m->aud_local;
    m->audiences[3] = NULL;
    if (rt->clock.mode == CMK_CLOCK_SCALED) {
        restore_clock(m, speed);
        save_clock(m);
        cmk_timer_init(&rt->clock, &m->save_timer, on_save_timer, m);
        cmk_timer_set_elastic(&m->save_timer, 1);
        cmk_timer_start(&m->save_timer, cmk_clock_span(&rt->clock, SAVE_EVERY), 0);
    }
    cmk_router_add_table(&rt->router, CMK_HOST_MGMT, routes, m);
    *out = m;
    return 0;
}

void cli_manage_close(struct cli_manage *m)
{
    if (m == NULL)
        return;
    if (m->rt->clock.mode == CMK_CLOCK_SCALED) {
        cmk_timer_stop(&m->save_timer);
        save_clock(m);
    }
    free(m);
}
