/* arm_log.c: the activity log (see arm.h). Every management write appends a "Started" entry
 * and its outcome ("Succeeded", "Accepted" then the operation's outcome, or "Failed"); services
 * append their own events (key access failures, recoveries) with cmk_arm_activity. Entries are
 * rows of arm_activity written in the transaction of the change they describe; listeners hear
 * of them only once that transaction commits. They are read back in the shape of
 * Microsoft.Insights eventtypes/management/values (api-version 2015-04-01), the route that
 * `az monitor activity-log list` and the SDKs call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "runtime.h"
#include "store.h"

#define ACT_COLUMNS                                                                                \
    "event_id, operation_id, correlation_id, subscription, tenant, resource_group, resource_id, "  \
    "resource_type, provider, operation, status, sub_status, level, category, caller, ts, "        \
    "description, properties, http_method, client_ip, http_status"

/* .NET ticks (100 ns since 0001-01-01), as the entry ids show them. */
#define TICKS_AT_EPOCH 621355968000000000LL

static const char *status_name(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "NoContent";
    case 400:
        return "BadRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 409:
        return "Conflict";
    case 412:
        return "PreconditionFailed";
    case 429:
        return "TooManyRequests";
    case 500:
        return "InternalServerError";
    case 503:
        return "ServiceUnavailable";
    default:
        return "";
    }
}

static json_t *pair(const char *v, const char *localized)
{
    return json_pack("{s:s, s:s}", "value", v, "localizedValue", localized ? localized : v);
}

static const char *text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static json_t *render_row(sqlite3_stmt *st)
{
    const char *event_id = text(st, 0), *resource_id = text(st, 6), *status = text(st, 10);
    const char *sub_status = text(st, 11), *operation = text(st, 9);
    cmk_time_t ts = sqlite3_column_int64(st, 15);
    int http_status = sqlite3_column_int(st, 20);
    char when[40], id[CMK_ARM_ID_MAX + 128], localized[96];
    cmk_time_format(ts, when, sizeof(when));
    snprintf(id, sizeof(id), "%s/events/%s/ticks/%lld", resource_id, event_id,
             (long long)ts * 10000 + TICKS_AT_EPOCH);
    if (sub_status[0] && http_status)
        snprintf(localized, sizeof(localized), "%s (HTTP Status Code: %d)", sub_status,
                 http_status);
    else
        snprintf(localized, sizeof(localized), "%s", sub_status);
    json_t *e = json_object();
    json_object_set_new(e, "authorization",
                        json_pack("{s:s, s:s}", "action", operation, "scope", resource_id));
    json_object_set_new(e, "caller", json_string(text(st, 14)));
    json_object_set_new(e, "channels", json_string("Operation"));
    json_object_set_new(e, "claims", json_object());
    json_object_set_new(e, "correlationId", json_string(text(st, 2)));
    json_object_set_new(e, "description", json_string(text(st, 16)));
    json_object_set_new(e, "eventDataId", json_string(event_id));
    int begin = strcmp(status, "Started") == 0;
    json_object_set_new(
        e, "eventName",
        pair(begin ? "BeginRequest" : "EndRequest", begin ? "Begin request" : "End request"));
    json_object_set_new(e, "category", pair(text(st, 13), NULL));
    json_object_set_new(e, "eventTimestamp", json_string(when));
    json_object_set_new(e, "id", json_string(id));
    json_object_set_new(e, "level", json_string(text(st, 12)));
    json_object_set_new(e, "operationId", json_string(text(st, 1)));
    json_object_set_new(e, "operationName", pair(operation, NULL));
    json_object_set_new(e, "resourceGroupName", json_string(text(st, 5)));
    json_object_set_new(e, "resourceProviderName", pair(text(st, 8), NULL));
    json_object_set_new(e, "resourceType", pair(text(st, 7), NULL));
    json_object_set_new(e, "resourceId", json_string(resource_id));
    json_object_set_new(e, "status", pair(status, NULL));
    json_object_set_new(e, "subStatus", pair(sub_status, localized));
    json_object_set_new(e, "submissionTimestamp", json_string(when));
    json_object_set_new(e, "subscriptionId", json_string(text(st, 3)));
    json_object_set_new(e, "tenantId", json_string(text(st, 4)));
    json_t *props = json_loads(text(st, 17), 0, NULL);
    json_object_set_new(e, "properties", props ? props : json_object());
    if (text(st, 18)[0])
        json_object_set_new(e, "httpRequest",
                            json_pack("{s:s, s:s, s:s}", "clientRequestId", text(st, 2),
                                      "clientIpAddress", text(st, 19), "method", text(st, 18)));
    return e;
}

void cmk__arm_log_flush(struct cmk_arm *arm, int commit)
{
    if (arm->notify == NULL)
        return;
    json_t *list = arm->notify;
    arm->notify = NULL;
    if (commit) {
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            for (size_t l = 0; l < arm->nlisteners; l++)
                arm->listeners[l].cb(arm->listeners[l].data, e);
        }
    }
    json_decref(list);
}

int cmk_arm_activity_listen(struct cmk_arm *arm, cmk_arm_activity_cb cb, void *data)
{
    if (arm->nlisteners == ARM_MAX_LISTENERS)
        return CMK_ELIMIT;
    arm->listeners[arm->nlisteners].cb = cb;
    arm->listeners[arm->nlisteners].data = data;
    arm->nlisteners++;
    return 0;
}

int cmk_arm_activity(struct cmk_arm *arm, const struct cmk_arm_event *ev, struct cmk_err *err)
{
    struct cmk_arm_id rid;
    if (ev->resource_id == NULL || cmk_arm_id_parse(ev->resource_id, &rid, err) != 0)
        return CMK_EINVAL;
    char type[CMK_ARM_TYPE_MAX], tenant[64] = "", event_id[40], corr[40];
    cmk_arm_id_type(&rid, type, sizeof(type));
    if (type[0] == '\0')
        snprintf(type, sizeof(type), "%s",
                 rid.rg[0] ? "Microsoft.Resources/resourceGroups"
                           : "Microsoft.Resources/subscriptions");
    cmk_arm_subscription_tenant(arm, rid.sub, tenant, NULL);
    cmk__arm_draw_guid(arm, event_id);
    if (ev->correlation_id && ev->correlation_id[0])
        snprintf(corr, sizeof(corr), "%s", ev->correlation_id);
    else
        cmk__arm_draw_guid(arm, corr);
    json_t *props = json_object();
    if (ev->http_status)
        json_object_set_new(props, "statusCode", json_string(status_name(ev->http_status)));
    json_object_set_new(props, "entity", json_string(ev->resource_id));
    json_object_set_new(props, "message", json_string(ev->operation ? ev->operation : ""));
    if (ev->properties)
        json_object_update(props, (json_t *)ev->properties);
    char *ptext = json_dumps(props, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(props);

    int own = arm->txdepth == 0;
    if (own && cmk_arm_tx_begin(arm) != 0) {
        free(ptext);
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "state store busy");
    }
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db,
        "INSERT INTO arm_activity(event_id, operation_id, correlation_id, subscription, tenant, "
        "resource_group, resource_id, resource_type, provider, operation, status, sub_status, "
        "level, category, caller, ts, description, properties, http_method, client_ip, "
        "http_status) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
        "?16, ?17, ?18, ?19, ?20, ?21)");
    const char *ns = rid.depth ? rid.ns : "Microsoft.Resources";
    sqlite3_bind_text(st, 1, event_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ev->operation_id && ev->operation_id[0] ? ev->operation_id : corr, -1,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, corr, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, rid.sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, rid.rg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, ev->resource_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, ns, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, ev->operation ? ev->operation : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, ev->status ? ev->status : "Succeeded", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 12,
                      ev->sub_status    ? ev->sub_status
                      : ev->http_status ? status_name(ev->http_status)
                                        : "",
                      -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, ev->level ? ev->level : "Informational", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 14, ev->category ? ev->category : "Administrative", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 15, ev->caller ? ev->caller : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 16, cmk_clock_now(&arm->rt->clock));
    sqlite3_bind_text(st, 17, ev->description ? ev->description : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 18, ptext, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 19, ev->http_method ? ev->http_method : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 20, ev->client_ip ? ev->client_ip : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 21, ev->http_status);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    free(ptext);
    if (rc == 0 && arm->nlisteners > 0) {
        sqlite3_stmt *q =
            cmk_store_stmt(arm->db, "SELECT " ACT_COLUMNS " FROM arm_activity WHERE seq = ?1");
        sqlite3_bind_int64(q, 1, sqlite3_last_insert_rowid(arm->db));
        if (sqlite3_step(q) == SQLITE_ROW) {
            if (arm->notify == NULL)
                arm->notify = json_array();
            json_array_append_new(arm->notify, render_row(q));
        }
        sqlite3_reset(q);
    }
    if (rc != 0)
        cmk_err_set(err, rc, 500, "InternalServerError", "state store: %s",
                    sqlite3_errmsg(arm->db));
    if (own) {
        if (rc == 0)
            rc = cmk_arm_tx_commit(arm);
        else
            cmk_arm_tx_rollback(arm);
    }
    return rc;
}

void cmk__arm_log_call(struct cmk_arm_call *call, int status, const struct cmk_err *failure)
{
    struct cmk_arm *arm = call->arm;
    const char *rid = call->id[0] ? call->id : call->req && call->req->path ? call->req->path : "";
    const char *method = call->req ? call->req->method : "";
    const char *ip = call->req ? call->req->origin.addr : "";
    const char *opid = call->op_id[0] ? call->op_id : call->correlation_id;
    struct cmk_arm_event ev = {
        .resource_id = rid,
        .operation = call->operation,
        .status = "Started",
        .sub_status = "",
        .caller = call->caller_name,
        .correlation_id = call->correlation_id,
        .operation_id = opid,
        .http_method = method,
        .client_ip = ip,
    };
    cmk_arm_activity(arm, &ev, NULL);
    json_t *props = NULL;
    if (failure) {
        json_t *env = json_pack("{s:{s:s, s:s}}", "error", "code", failure->code, "message",
                                failure->message);
        char *s = json_dumps(env, JSON_COMPACT);
        props = json_pack("{s:s}", "statusMessage", s);
        free(s);
        json_decref(env);
    }
    ev.status = status >= 400 ? "Failed" : status == 202 ? "Accepted" : "Succeeded";
    ev.sub_status = NULL;
    ev.http_status = status;
    ev.level = status >= 400 ? "Error" : "Informational";
    ev.properties = props;
    cmk_arm_activity(arm, &ev, NULL);
    json_decref(props);
}

/* ---- reading ---- */

static int one_of(const char *list, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ')
            t[--l] = '\0';
        if (strcasecmp(t, v) == 0)
            return 1;
    }
    return 0;
}

static int cmp_time(cmk_time_t a, const char *op, cmk_time_t b)
{
    if (!strcmp(op, "ge"))
        return a >= b;
    if (!strcmp(op, "gt"))
        return a > b;
    if (!strcmp(op, "le"))
        return a <= b;
    if (!strcmp(op, "lt"))
        return a < b;
    if (!strcmp(op, "ne"))
        return a != b;
    return a == b;
}

/* Column index of a filter field (or -1: ignored, -2: unknown). */
static int field_column(const char *f)
{
    static const struct {
        const char *name;
        int col;
    } map[] = {
        {"resourceGroupName", 5}, {"resourceGroup", 5},  {"resourceUri", 6}, {"resourceId", 6},
        {"resourceProvider", 8},  {"correlationId", 2},  {"caller", 14},     {"status", 10},
        {"levels", 12},           {"level", 12},         {"category", 13},   {"operationName", 9},
        {"operationId", 1},       {"eventChannels", -1},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(map[i].name, f) == 0)
            return map[i].col;
    return -2;
}

json_t *cmk_arm_activity_list(struct cmk_arm *arm, const char *sub, const char *filter,
                              struct cmk_err *err)
{
    struct arm_filter_term terms[ARM_FILTER_MAX];
    size_t nt = 0;
    cmk_time_t times[ARM_FILTER_MAX];
    if (cmk__arm_filter_parse(filter, terms, ARM_FILTER_MAX, &nt, "BadRequest", err) != 0)
        return NULL;
    for (size_t i = 0; i < nt; i++) {
        if (strcasecmp(terms[i].field, "eventTimestamp") == 0) {
            if (cmk_time_parse(terms[i].value, &times[i]) != 0) {
                cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                            "The eventTimestamp '%.64s' in $filter is not a valid time.",
                            terms[i].value);
                return NULL;
            }
        } else if (field_column(terms[i].field) == -2) {
            cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                        "The $filter field '%s' is not supported.", terms[i].field);
            return NULL;
        }
    }
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT " ACT_COLUMNS " FROM arm_activity WHERE "
                                               "subscription = ?1 ORDER BY seq DESC");
    sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
    json_t *out = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        int ok = 1;
        for (size_t i = 0; ok && i < nt; i++) {
            const struct arm_filter_term *t = &terms[i];
            if (strcasecmp(t->field, "eventTimestamp") == 0) {
                ok = cmp_time(sqlite3_column_int64(st, 15), t->op, times[i]);
                continue;
            }
            int c = field_column(t->field);
            if (c < 0)
                continue;
            const char *v = text(st, c);
            if (c == 12)
                ok = one_of(t->value, v);
            else if (!strcmp(t->op, "substringof"))
                ok = strcasestr(v, t->value) != NULL;
            else
                ok = (strcasecmp(v, t->value) == 0) == (strcmp(t->op, "ne") != 0);
        }
        if (ok)
            json_array_append_new(out, render_row(st));
    }
    sqlite3_reset(st);
    return out;
}

static void h_values(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct cmk_err err;
    cmk__arm_call_init(arm, &call, req, res);
    const char *sub = cmk_request_param(req, "s");
    int rc = cmk__arm_authenticate(&call, &err);
    if (rc == 0)
        rc = cmk__arm_check_subscription(&call, sub, &err);
    if (rc == 0)
        rc = cmk__arm_check_api_version(&call, NULL, &err);
    json_t *items =
        rc == 0 ? cmk_arm_activity_list(arm, sub, cmk_request_query(req, "$filter"), &err) : NULL;
    if (items == NULL) {
        cmk__arm_error(arm, res, &err);
        return;
    }
    const char *select = cmk_request_query(req, "$select");
    if (select && select[0]) {
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
            void *tmp;
            const char *k;
            json_t *v;
            json_object_foreach_safe(e, tmp, k, v)
            {
                if (!one_of(select, k))
                    json_object_del(e, k);
            }
        }
    }
    cmk_arm_respond_list(&call, items);
}

void cmk__arm_log_register_routes(struct cmk_arm *arm)
{
    cmk_router_add(&arm->rt->router, CMK_HOST_MGMT, "GET",
                   "/subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values",
                   h_values, arm);
}
