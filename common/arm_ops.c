/* arm_ops.c: long-running operations (see arm.h). An operation is a row of arm_operations
 * (kind, resource, due time, the provider's data) plus, while the process runs, a timer on
 * the clock. The answer that starts one carries Azure-AsyncOperation and Location headers
 * pointing at the status routes served here; when the timer fires, the kind's completion runs
 * in one transaction with the status change and the activity log entry, so a kill -9 leaves
 * either the pending operation (re-armed when its kind is registered again) or its whole
 * outcome, never half of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "log.h"
#include "runtime.h"
#include "store.h"

struct arm_pending {
    struct cmk_timer timer;
    struct cmk_arm *arm;
    char id[40];
    struct arm_pending *next;
};

#define OP_COLUMNS                                                                                 \
    "id, kind, subscription, namespace, location, resource_id, operation, method, flags, "         \
    "status, start_time, due, end_time, data, error_status, error_code, error_message, caller, "   \
    "correlation_id"

static void col(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* Everything about one operation row. */
struct op_row {
    struct cmk_arm_op op;
    char status[16];
    cmk_time_t end;
    int error_status;
    char error_code[64];
    char error_message[1024];
};

static int load_op(struct cmk_arm *arm, const char *id, const char *sub, struct op_row *o)
{
    memset(o, 0, sizeof(*o));
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT " OP_COLUMNS " FROM arm_operations WHERE "
                                               "id = ?1 AND (?2 IS NULL OR subscription = ?2)");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, sub, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        col(st, 0, o->op.id, sizeof(o->op.id));
        col(st, 1, o->op.kind, sizeof(o->op.kind));
        col(st, 2, o->op.sub, sizeof(o->op.sub));
        col(st, 3, o->op.ns, sizeof(o->op.ns));
        col(st, 4, o->op.location, sizeof(o->op.location));
        col(st, 5, o->op.resource_id, sizeof(o->op.resource_id));
        col(st, 6, o->op.operation, sizeof(o->op.operation));
        col(st, 7, o->op.method, sizeof(o->op.method));
        o->op.flags = (unsigned)sqlite3_column_int(st, 8);
        col(st, 9, o->status, sizeof(o->status));
        o->op.start = sqlite3_column_int64(st, 10);
        o->op.due = sqlite3_column_int64(st, 11);
        o->end = sqlite3_column_int64(st, 12);
        const char *data = (const char *)sqlite3_column_text(st, 13);
        o->op.data = data ? json_loads(data, JSON_DECODE_ANY, NULL) : NULL;
        o->error_status = sqlite3_column_int(st, 14);
        col(st, 15, o->error_code, sizeof(o->error_code));
        col(st, 16, o->error_message, sizeof(o->error_message));
        col(st, 17, o->op.caller, sizeof(o->op.caller));
        col(st, 18, o->op.correlation_id, sizeof(o->op.correlation_id));
    }
    sqlite3_reset(st);
    return found ? 0 : CMK_ENOTFOUND;
}

static void op_row_close(struct op_row *o)
{
    json_decref(o->op.data);
    o->op.data = NULL;
}

static const struct cmk_arm_op_kind *find_kind(struct cmk_arm *arm, const char *name)
{
    for (size_t i = 0; i < arm->nkinds; i++)
        if (strcmp(arm->kinds[i]->name, name) == 0)
            return arm->kinds[i];
    return NULL;
}

static int set_status(struct cmk_arm *arm, const char *id, const char *status,
                      const struct cmk_err *err)
{
    sqlite3_stmt *st =
        cmk_store_stmt(arm->db, "UPDATE arm_operations SET status = ?2, end_time = ?3, "
                                "error_status = ?4, error_code = ?5, error_message = ?6 WHERE "
                                "id = ?1");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, cmk_clock_now(&arm->rt->clock));
    if (err) {
        sqlite3_bind_int(st, 4, err->status ? err->status : 500);
        sqlite3_bind_text(st, 5, err->code[0] ? err->code : "InternalServerError", -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, err->message, -1, SQLITE_TRANSIENT);
    }
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

/* The final activity entry of an operation. */
static void log_outcome(struct cmk_arm *arm, const struct cmk_arm_op *op, const struct cmk_err *e)
{
    json_t *props = json_object();
    if (e) {
        json_t *env = json_pack("{s:{s:s, s:s}}", "error", "code", e->code, "message", e->message);
        char *s = json_dumps(env, JSON_COMPACT);
        json_object_set_new(props, "statusMessage", json_string(s));
        free(s);
        json_decref(env);
    }
    struct cmk_arm_event ev = {
        .resource_id = op->resource_id,
        .operation = op->operation,
        .status = e ? "Failed" : "Succeeded",
        .sub_status = e ? "" : "OK",
        .level = e ? "Error" : "Informational",
        .caller = op->caller,
        .correlation_id = op->correlation_id,
        .operation_id = op->id,
        .http_method = op->method,
        .http_status = e ? (e->status ? e->status : 500) : 200,
        .properties = props,
    };
    cmk_arm_activity(arm, &ev, NULL);
    json_decref(props);
}

static void run_op(struct cmk_arm *arm, const char *id)
{
    struct op_row o;
    if (load_op(arm, id, NULL, &o) != 0)
        return;
    const struct cmk_arm_op_kind *k = find_kind(arm, o.op.kind);
    if (strcmp(o.status, "InProgress") != 0 || k == NULL) {
        op_row_close(&o);
        return;
    }
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_arm_tx_begin(arm) != 0) {
        cmk_error("arm", "operation %s: cannot begin a transaction", id);
        op_row_close(&o);
        return;
    }
    int rc = k->complete(arm, &o.op, k->data, &err);
    if (rc != 0 && err.status == 0)
        cmk_err_set(&err, rc, 500, "InternalServerError", "The operation failed: %s.",
                    cmk_strerror(rc));
    if (rc == 0 && (o.op.flags & CMK_ARM_OP_DELETE_ON_SUCCESS))
        cmk_arm_resource_delete(arm, o.op.resource_id, NULL);
    if (rc != 0 && (o.op.flags & CMK_ARM_OP_DELETE_ON_FAILURE))
        cmk_arm_resource_delete(arm, o.op.resource_id, NULL);
    set_status(arm, id, rc == 0 ? "Succeeded" : "Failed", rc == 0 ? NULL : &err);
    log_outcome(arm, &o.op, rc == 0 ? NULL : &err);
    if (cmk_arm_tx_commit(arm) != 0) {
        /* The completion's writes are gone; record a clean failure instead. */
        struct cmk_err fail;
        cmk_err_set(&fail, CMK_EIO, 500, "InternalServerError",
                    "The operation could not be completed.");
        if (cmk_arm_tx_begin(arm) == 0) {
            if (o.op.flags & CMK_ARM_OP_DELETE_ON_FAILURE)
                cmk_arm_resource_delete(arm, o.op.resource_id, NULL);
            set_status(arm, id, "Failed", &fail);
            log_outcome(arm, &o.op, &fail);
            cmk_arm_tx_commit(arm);
        }
    }
    cmk_info("arm", "operation %s (%s) on %s: %s", id, o.op.kind, o.op.resource_id,
             rc == 0 ? "Succeeded" : "Failed");
    op_row_close(&o);
}

static void on_due(struct cmk_timer *t)
{
    struct arm_pending *p = t->data;
    struct cmk_arm *arm = p->arm;
    for (struct arm_pending **pp = &arm->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    char id[40];
    snprintf(id, sizeof(id), "%s", p->id);
    free(p);
    run_op(arm, id);
}

static void arm_timer(struct cmk_arm *arm, const char *id, cmk_time_t due)
{
    for (struct arm_pending *p = arm->pending; p; p = p->next)
        if (strcmp(p->id, id) == 0)
            return;
    struct arm_pending *p = cmk_xcalloc(1, sizeof(*p));
    p->arm = arm;
    snprintf(p->id, sizeof(p->id), "%s", id);
    cmk_timer_init(&arm->rt->clock, &p->timer, on_due, p);
    cmk_timer_start_at(&p->timer, due, 0);
    p->next = arm->pending;
    arm->pending = p;
}

void cmk__arm_ops_free(struct cmk_arm *arm)
{
    while (arm->pending) {
        struct arm_pending *p = arm->pending;
        arm->pending = p->next;
        cmk_timer_stop(&p->timer);
        free(p);
    }
}

void cmk_arm_op_kind_register(struct cmk_arm *arm, const struct cmk_arm_op_kind *k)
{
    int replaced = 0;
    for (size_t i = 0; i < arm->nkinds && !replaced; i++) {
        if (strcmp(arm->kinds[i]->name, k->name) == 0) {
            arm->kinds[i] = k;
            replaced = 1;
        }
    }
    if (!replaced) {
        if (arm->nkinds == arm->capkinds) {
            arm->capkinds = arm->capkinds ? 2 * arm->capkinds : 16;
            arm->kinds = cmk_xrealloc(arm->kinds, arm->capkinds * sizeof(*arm->kinds));
        }
        arm->kinds[arm->nkinds++] = k;
    }
    /* Restart: the kind's pending operations run again at their due time. */
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT id, due FROM arm_operations WHERE kind = "
                                               "?1 AND status = 'InProgress' ORDER BY due, seq");
    sqlite3_bind_text(st, 1, k->name, -1, SQLITE_TRANSIENT);
    struct {
        char id[40];
        cmk_time_t due;
    } *rows = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            rows = cmk_xrealloc(rows, cap * sizeof(*rows));
        }
        col(st, 0, rows[n].id, sizeof(rows[n].id));
        rows[n++].due = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < n; i++)
        arm_timer(arm, rows[i].id, rows[i].due);
    free(rows);
}

int cmk_arm_op_fail_orphans(struct cmk_arm *arm)
{
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT id, kind FROM arm_operations WHERE "
                                               "status = 'InProgress' ORDER BY seq");
    char(*ids)[40] = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char kind[64];
        col(st, 1, kind, sizeof(kind));
        if (find_kind(arm, kind) != NULL)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            ids = cmk_xrealloc(ids, cap * sizeof(*ids));
        }
        col(st, 0, ids[n++], 40);
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < n; i++) {
        struct op_row o;
        if (load_op(arm, ids[i], NULL, &o) != 0 || cmk_arm_tx_begin(arm) != 0)
            continue;
        struct cmk_err err;
        cmk_err_set(&err, CMK_EUNAVAIL, 500, "InternalServerError",
                    "The operation was interrupted by a restart and cannot be resumed.");
        if (o.op.flags & CMK_ARM_OP_DELETE_ON_FAILURE)
            cmk_arm_resource_delete(arm, o.op.resource_id, NULL);
        set_status(arm, o.op.id, "Failed", &err);
        log_outcome(arm, &o.op, &err);
        cmk_arm_tx_commit(arm);
        op_row_close(&o);
    }
    free(ids);
    return (int)n;
}

int cmk__arm_op_start_raw(struct cmk_arm *arm, struct cmk_arm_call *call, const char *kind,
                          const char *resource_id, const char *ns, const char *location,
                          cmk_time_t delay, const json_t *data, unsigned flags, struct cmk_err *err)
{
    if (find_kind(arm, kind) == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalServerError",
                           "No operation kind '%.64s' is registered.", kind);
    char id[40];
    cmk__arm_draw_guid(arm, id);
    cmk_time_t now = cmk_clock_now(&arm->rt->clock);
    cmk_time_t due = now + (delay > 0 ? delay : 0);
    char *text = data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (call->correlation_id[0] == '\0')
        cmk__arm_draw_guid(arm, call->correlation_id);
    int own = arm->txdepth == 0;
    if (own && cmk_arm_tx_begin(arm) != 0) {
        free(text);
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "state store busy");
    }
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "INSERT INTO arm_operations(id, kind, subscription, namespace, location, "
                 "resource_id, operation, method, flags, status, start_time, due, data, caller, "
                 "correlation_id, client_ip) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                 "'InProgress', ?10, ?11, ?12, ?13, ?14, ?15)");
    struct cmk_arm_id rid;
    cmk_arm_id_parse(resource_id, &rid, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, rid.sub[0] ? rid.sub : call->rid.sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, ns, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, location && location[0] ? location : "global", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, resource_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, call->operation, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, call->req ? call->req->method : "POST", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 9, (int)flags);
    sqlite3_bind_int64(st, 10, now);
    sqlite3_bind_int64(st, 11, due);
    sqlite3_bind_text(st, 12, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, call->caller_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 14, call->correlation_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 15, call->req ? call->req->origin.addr : "", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    free(text);
    if (rc != 0)
        cmk_err_set(err, rc, 500, "InternalServerError", "state store: %s",
                    sqlite3_errmsg(arm->db));
    if (own) {
        if (rc == 0 && cmk_arm_tx_commit(arm) != 0)
            rc = cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "state store: commit");
        else if (rc != 0)
            cmk_arm_tx_rollback(arm);
    }
    if (rc != 0)
        return rc;
    /* If the surrounding transaction rolls back, the timer finds no row and does nothing. */
    arm_timer(arm, id, due);
    snprintf(call->op_id, sizeof(call->op_id), "%s", id);
    return 0;
}

int cmk_arm_op_start(struct cmk_arm_call *call, const char *kind, cmk_time_t delay,
                     const json_t *data, unsigned flags, struct cmk_err *err)
{
    struct cmk_arm *arm = call->arm;
    const char *method = call->req ? call->req->method : "";
    if (strcasecmp(method, "PUT") == 0 && call->creating)
        flags |= CMK_ARM_OP_DELETE_ON_FAILURE;
    if (strcasecmp(method, "DELETE") == 0 && (call->rest == NULL || call->rest[0] == '\0'))
        flags |= CMK_ARM_OP_DELETE_ON_SUCCESS;
    if (call->cascade) {
        /* The group is going away now: complete at once, in the caller's transaction. */
        const struct cmk_arm_op_kind *k = find_kind(arm, kind);
        if (k == NULL)
            return cmk_err_set(err, CMK_EINVAL, 500, "InternalServerError",
                               "No operation kind '%.64s' is registered.", kind);
        struct cmk_arm_op op;
        memset(&op, 0, sizeof(op));
        snprintf(op.kind, sizeof(op.kind), "%s", kind);
        snprintf(op.resource_id, sizeof(op.resource_id), "%s", call->id);
        snprintf(op.sub, sizeof(op.sub), "%s", call->rid.sub);
        snprintf(op.ns, sizeof(op.ns), "%s", call->rid.ns);
        snprintf(op.location, sizeof(op.location), "%s", call->location);
        snprintf(op.operation, sizeof(op.operation), "%s", call->operation);
        snprintf(op.method, sizeof(op.method), "DELETE");
        snprintf(op.caller, sizeof(op.caller), "%s", call->caller_name);
        op.flags = flags;
        op.start = op.due = cmk_clock_now(&arm->rt->clock);
        op.data = (json_t *)data;
        return k->complete(arm, &op, k->data, err);
    }
    char ns[64];
    snprintf(ns, sizeof(ns), "%s", call->rid.ns[0] ? call->rid.ns : "Microsoft.Resources");
    return cmk__arm_op_start_raw(arm, call, kind, call->id, ns, call->location, delay, data, flags,
                                 err);
}

/* ---- answers and status routes ---- */

static long retry_after(struct cmk_arm *arm, cmk_time_t due)
{
    cmk_time_t left = due - cmk_clock_now(&arm->rt->clock);
    double secs = (double)left / 1000.0;
    if (arm->rt->clock.mode == CMK_CLOCK_SCALED && arm->rt->clock.factor > 0)
        secs /= arm->rt->clock.factor;
    long s = (long)(secs + 0.999);
    return s < 1 ? 1 : s > 10 ? 10 : s;
}

static void op_urls(struct cmk_arm_call *call, const struct op_row *o, char *async, char *loc,
                    size_t n)
{
    char base[300];
    cmk__arm_base_url(call->req, base, sizeof(base));
    const char *api = call->api_version ? call->api_version
                      : call->req       ? cmk_request_query(call->req, "api-version")
                                        : NULL;
    if (api == NULL || strlen(api) > 40 || strpbrk(api, "&#? "))
        api = "2021-04-01";
    if (strcmp(o->op.ns, "Microsoft.Resources") == 0) {
        async[0] = '\0';
        snprintf(loc, n, "%s/subscriptions/%s/operationresults/%s?api-version=%s", base, o->op.sub,
                 o->op.id, api);
        return;
    }
    snprintf(async, n,
             "%s/subscriptions/%s/providers/%s/locations/%s/azureAsyncOperation/%s?api-version=%s",
             base, o->op.sub, o->op.ns, o->op.location, o->op.id, api);
    snprintf(loc, n,
             "%s/subscriptions/%s/providers/%s/locations/%s/operationResults/%s?api-version=%s",
             base, o->op.sub, o->op.ns, o->op.location, o->op.id, api);
}

void cmk_arm_respond_accepted(struct cmk_arm_call *call, int status, json_t *body)
{
    struct op_row o;
    if (call->res == NULL || load_op(call->arm, call->op_id, NULL, &o) != 0) {
        json_decref(body);
        return;
    }
    char async[1200], loc[1200], ra[16];
    op_urls(call, &o, async, loc, sizeof(async));
    cmk_response_json(call->res, status ? status : 202, body);
    if (async[0])
        cmk_response_header(call->res, "Azure-AsyncOperation", async);
    cmk_response_header(call->res, "Location", loc);
    snprintf(ra, sizeof(ra), "%ld", retry_after(call->arm, o.op.due));
    cmk_response_header(call->res, "Retry-After", ra);
    op_row_close(&o);
}

static json_t *status_json(const struct op_row *o)
{
    char start[40];
    cmk_time_format(o->op.start, start, sizeof(start));
    json_t *j =
        json_pack("{s:s, s:s, s:s}", "name", o->op.id, "status", o->status, "startTime", start);
    if (strcmp(o->status, "InProgress") != 0) {
        char end[40];
        cmk_time_format(o->end, end, sizeof(end));
        json_object_set_new(j, "endTime", json_string(end));
    }
    if (o->error_code[0])
        json_object_set_new(
            j, "error",
            json_pack("{s:s, s:s}", "code", o->error_code, "message", o->error_message));
    return j;
}

json_t *cmk_arm_op_status(struct cmk_arm *arm, const char *op_id)
{
    struct op_row o;
    if (load_op(arm, op_id, NULL, &o) != 0)
        return NULL;
    json_t *j = status_json(&o);
    op_row_close(&o);
    return j;
}

int cmk_arm_op_pending(struct cmk_arm *arm, const char *resource_id)
{
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT COUNT(*) FROM arm_operations WHERE "
                                               "resource_id = ?1 AND status = 'InProgress'");
    sqlite3_bind_text(st, 1, resource_id, -1, SQLITE_TRANSIENT);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    return n;
}

/* Authentication, subscription and the operation of the path; 404 if unknown. */
static int status_begin(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                        struct cmk_arm_call *call, struct op_row *o)
{
    struct cmk_err err;
    cmk__arm_call_init(arm, call, req, res);
    const char *sub = cmk_request_param(req, "s");
    const char *id = cmk_request_param(req, "id");
    int rc = cmk__arm_authenticate(call, &err);
    if (rc == 0)
        rc = cmk__arm_check_subscription(call, sub, &err);
    if (rc == 0)
        rc = cmk__arm_check_api_version(call, NULL, &err);
    if (rc == 0 && load_op(arm, id ? id : "", sub, o) != 0)
        rc = cmk_err_set(&err, CMK_ENOTFOUND, 404, "OperationNotFound",
                         "The operation '%.64s' could not be found.", id ? id : "");
    if (rc != 0)
        cmk__arm_error(arm, res, &err);
    return rc;
}

static void h_async(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct op_row o;
    if (status_begin(arm, req, res, &call, &o) != 0)
        return;
    cmk_response_json(res, 200, status_json(&o));
    if (strcmp(o.status, "InProgress") == 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%ld", retry_after(arm, o.op.due));
        cmk_response_header(res, "Retry-After", ra);
    }
    op_row_close(&o);
}

static void h_result(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct op_row o;
    if (status_begin(arm, req, res, &call, &o) != 0)
        return;
    if (strcmp(o.status, "InProgress") == 0) {
        char async[1200], loc[1200], ra[16];
        op_urls(&call, &o, async, loc, sizeof(async));
        cmk_response_json(res, 202, NULL);
        cmk_response_header(res, "Location", loc);
        snprintf(ra, sizeof(ra), "%ld", retry_after(arm, o.op.due));
        cmk_response_header(res, "Retry-After", ra);
    } else if (strcmp(o.status, "Succeeded") == 0) {
        struct cmk_arm_resource r;
        if (strcasecmp(o.op.method, "DELETE") != 0 &&
            cmk_arm_resource_get(arm, o.op.resource_id, &r, NULL) == 0) {
            cmk_arm_respond_resource(&call, 200, &r);
            cmk_arm_resource_close(&r);
        } else {
            cmk_response_json(res, strcasecmp(o.op.method, "DELETE") == 0 ? 200 : 204, NULL);
        }
    } else {
        struct cmk_err err;
        cmk_err_set(&err, CMK_EINVAL, o.error_status ? o.error_status : 500,
                    o.error_code[0] ? o.error_code : "OperationFailed", "%s",
                    o.error_message[0] ? o.error_message : "The operation failed.");
        cmk__arm_error(arm, res, &err);
    }
    op_row_close(&o);
}

void cmk__arm_ops_register_routes(struct cmk_arm *arm)
{
    struct cmk_router *r = &arm->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "GET",
                   "/subscriptions/{s}/providers/{ns}/locations/{loc}/azureAsyncOperation/{id}",
                   h_async, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET",
                   "/subscriptions/{s}/providers/{ns}/locations/{loc}/operationResults/{id}",
                   h_result, arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", "/subscriptions/{s}/operationresults/{id}", h_result,
                   arm);
}
