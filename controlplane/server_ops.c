/* server_ops.c: the long-running operations of servers and the routes that start them.
 *
 * Operation kinds (persisted names; a restart re-arms pending ones, so a create interrupted by
 * kill -9 completes or fails cleanly when the process comes back: the ARM core removes the row
 * of a create that fails):
 *   postgres.create   Provisioning -> Ready: the data plane provisions (or copies) the data
 *   postgres.update   Updating -> Ready: re-wrap on a new key, password, revalidation
 *   postgres.stop / postgres.start / postgres.restart
 *   postgres.delete   Dropping -> gone (remembered for ReviveDropped)
 * Routes: POST start|stop|restart (202 + Location), POST revalidateDataEncryption (cmksim:
 * check the key now, 200 with the server), GET replicas.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/store.h"
#include "server_int.h"

#define REVIVE_WINDOW (5 * CMK_DAY)

/* ---- dropped servers (ReviveDropped) ---- */

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE cp_servers_dropped(id TEXT PRIMARY KEY COLLATE NOCASE,"
        " subscription TEXT NOT NULL, resource_group TEXT NOT NULL, name TEXT NOT NULL,"
        " location TEXT NOT NULL, doc TEXT NOT NULL, created INTEGER NOT NULL,"
        " dropped INTEGER NOT NULL);"},
};

int cp__store_migrate(struct cp_servers *s, struct cmk_err *err)
{
    return cmk_store_migrate(s->rt->db, "controlplane.servers", migrations,
                             sizeof(migrations) / sizeof(migrations[0]), err);
}

int cp__dropped_put(struct cp_servers *s, const struct cp_srv *srv, struct cmk_err *err)
{
    char *doc = json_dumps(srv->r.doc, JSON_COMPACT);
    sqlite3_stmt *st = cmk_store_stmt(
        s->rt->db, "INSERT OR REPLACE INTO cp_servers_dropped(id, subscription, resource_group, "
                   "name, location, doc, created, dropped) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    sqlite3_bind_text(st, 1, srv->r.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, srv->r.sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, srv->r.rg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, srv->r.name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, srv->r.location, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, doc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, srv->r.created);
    sqlite3_bind_int64(st, 8, cmk_clock_now(&s->rt->clock));
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    free(doc);
    if (rc != 0)
        return cmk_err_set(err, rc, 500, "InternalServerError", "state store: %s",
                           sqlite3_errmsg(s->rt->db));
    return 0;
}

int cp__dropped_get(struct cp_servers *s, const char *id, struct cmk_arm_resource *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = cmk_store_stmt(
        s->rt->db, "SELECT id, subscription, resource_group, name, location, doc, created FROM "
                   "cp_servers_dropped WHERE id = ?1 AND dropped >= ?2");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, cmk_clock_now(&s->rt->clock) - REVIVE_WINDOW);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(out->id, sizeof(out->id), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(out->type, sizeof(out->type), "%s", CP_SERVER_TYPE);
        snprintf(out->sub, sizeof(out->sub), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(out->rg, sizeof(out->rg), "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(out->name, sizeof(out->name), "%s", (const char *)sqlite3_column_text(st, 3));
        snprintf(out->location, sizeof(out->location), "%s",
                 (const char *)sqlite3_column_text(st, 4));
        out->doc = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
        out->created = sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    return found && out->doc ? 0 : CMK_ENOTFOUND;
}

/* ---- completions ---- */

static int load_for_op(struct cmk_arm *arm, const struct cmk_arm_op *op, struct cp_servers **s,
                       struct cp_srv *srv, struct cmk_err *err)
{
    *s = cp__servers_of_arm(arm);
    if (*s == NULL)
        return cp__unavailable(err);
    return cp__srv_load(*s, op->resource_id, srv, err);
}

static void set_source_role(struct cp_servers *s, const char *source_id)
{
    struct cp_srv src;
    if (cp__srv_load(s, source_id, &src, NULL) != 0)
        return;
    json_object_set_new(src.props, "replicationRole", json_string("Primary"));
    cp__srv_save(s, &src, NULL);
    cp__srv_close(&src);
}

static int complete_create(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                           struct cmk_err *err)
{
    struct cp_servers *s;
    struct cp_srv srv;
    int rc = load_for_op(arm, op, &s, &srv, err);
    if (rc != 0)
        return rc;
    if (srv.state != CP_STATE_PROVISIONING) { /* done before a restart: nothing left to do */
        cp__srv_close(&srv);
        return 0;
    }
    rc = cp__server_apply(s, &srv, CP_EV_CREATE_DONE, NULL, err);
    if (rc == 0)
        rc = cp__srv_save(s, &srv, err);
    if (rc == 0) {
        char dbid[CMK_ARM_ID_MAX + 32];
        snprintf(dbid, sizeof(dbid), "%s/databases/postgres", srv.r.id);
        json_t *db =
            json_pack("{s:{s:s, s:s}}", "properties", "charset", "UTF8", "collation", "en_US.utf8");
        cmk_arm_resource_put(arm, dbid, db, srv.r.created_by, NULL);
        json_decref(db);
        const char *role = cp__str(srv.props, "replicationRole");
        if (strcasecmp(role, "AsyncReplica") == 0 || strcasecmp(role, "GeoAsyncReplica") == 0)
            set_source_role(s, cp__str(srv.props, "sourceServerResourceId"));
        if (cp__srv_is_cmk(&srv))
            cp__monitor_arm(s, srv.r.id, -1);
    }
    cp__srv_close(&srv);
    return rc;
}

/* Put back what an update replaced (it failed). */
static void restore_previous(struct cp_srv *srv)
{
    json_t *prev = json_object_get(srv->priv, "previous");
    if (!json_is_object(prev))
        return;
    enum cp_state st;
    if (cp_state_parse(cp__str(prev, "state"), &st) == 0) {
        srv->state = st;
        json_object_set_new(srv->props, "state", json_string(cp_state_name(st)));
    }
    json_t *de = json_object_get(prev, "dataEncryption");
    if (json_is_object(de))
        json_object_set(srv->props, "dataEncryption", de);
    json_t *id = json_object_get(prev, "identity");
    if (json_is_object(id))
        json_object_set(srv->r.doc, "identity", id);
    static const char *const keep[] = {"kid", "probe", "geoKid", "geoProbe", NULL};
    for (size_t i = 0; keep[i]; i++)
        if (json_object_get(prev, keep[i]))
            json_object_set(srv->priv, keep[i], json_object_get(prev, keep[i]));
    json_object_del(srv->priv, "rewrap");
}

static int complete_update(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                           struct cmk_err *err)
{
    struct cp_servers *s;
    struct cp_srv srv;
    int rc = load_for_op(arm, op, &s, &srv, err);
    if (rc != 0)
        return rc;
    if (srv.state != CP_STATE_UPDATING) {
        cp__srv_close(&srv);
        return 0;
    }
    rc = cp__server_apply(s, &srv, CP_EV_UPDATE_DONE, NULL, err);
    if (rc != 0) {
        restore_previous(&srv);
        json_object_del(srv.priv, "previous");
        cp__srv_save(s, &srv, NULL);
        cp__srv_close(&srv);
        return rc;
    }
    if (json_is_true(json_object_get(srv.priv, "passwordChanged")) && s->dp.set_password) {
        struct cmk_err e;
        cmk_err_clear(&e);
        if (s->dp.set_password(s->dp.data, srv.r.id, cp__str(srv.props, "administratorLogin"),
                               cp__str(srv.priv, "adminVerifier"), &e) != 0)
            cmk_warn("servers", "msg=\"password change failed\" server=%s error=\"%s\"", srv.r.name,
                     e.message);
    }
    int revalidate = json_is_true(json_object_get(srv.priv, "revalidate"));
    json_t *prev = json_object_get(srv.priv, "previous");
    int was_inaccessible = strcmp(cp__str(prev, "state"), "Inaccessible") == 0;
    json_object_del(srv.priv, "previous");
    json_object_del(srv.priv, "passwordChanged");
    json_object_del(srv.priv, "revalidate");
    rc = cp__srv_save(s, &srv, err);
    char id[CMK_ARM_ID_MAX];
    snprintf(id, sizeof(id), "%s", srv.r.id);
    int cmk = cp__srv_is_cmk(&srv);
    cp__srv_close(&srv);
    if (rc == 0 && cmk && (revalidate || was_inaccessible))
        cp__monitor_check(s, id, 1, NULL);
    return rc;
}

static int complete_simple(struct cmk_arm *arm, const struct cmk_arm_op *op, enum cp_state expect,
                           enum cp_event ev, struct cmk_err *err)
{
    struct cp_servers *s;
    struct cp_srv srv;
    int rc = load_for_op(arm, op, &s, &srv, err);
    if (rc != 0)
        return rc;
    if (srv.state != expect) {
        cp__srv_close(&srv);
        return 0;
    }
    if (ev == CP_EV_START_DONE && cp__srv_is_cmk(&srv)) {
        /* A server starts only with its key: unwrap first. */
        json_t *de = json_object_get(srv.props, "dataEncryption");
        struct cp_key_check kc;
        cp__key_check(s, cp__str(de, "primaryKeyURI"), cp__str(de, "primaryUserAssignedIdentityId"),
                      cp__str(srv.priv, "kid"), cp__str(srv.priv, "probe"), NULL, &kc);
        if (kc.cause != CP_CAUSE_NONE) {
            json_t *mon = cp__obj(srv.priv, "monitor");
            json_object_set_new(mon, "cause", json_string(cp__cause_name(kc.cause)));
            json_object_set_new(mon, "message", json_string(kc.message));
            json_object_set_new(de, "primaryEncryptionKeyStatus", json_string("Invalid"));
            cp__server_apply(s, &srv, CP_EV_KEY_LOST, kc.message, NULL);
            cp__activity(s, &srv, CP_SERVER_TYPE "/encryptionKeyAccessFailed", "Failed", "Error",
                         "Administrative", kc.message);
            cp__srv_save(s, &srv, NULL);
            cp__monitor_arm(s, srv.r.id, -1);
            cp__srv_close(&srv);
            return cmk_err_set(err, CMK_EDENIED, 400, "AzureKeyVaultKeyInaccessible",
                               "The server could not start: %s", kc.message);
        }
    }
    rc = cp__server_apply(s, &srv, ev, NULL, err);
    if (rc == 0)
        rc = cp__srv_save(s, &srv, err);
    if (rc == 0 && ev == CP_EV_START_DONE && cp__srv_is_cmk(&srv))
        cp__monitor_arm(s, srv.r.id, -1);
    cp__srv_close(&srv);
    return rc;
}

static int complete_stop(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                         struct cmk_err *err)
{
    return complete_simple(arm, op, CP_STATE_STOPPING, CP_EV_STOP_DONE, err);
}

static int complete_start(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                          struct cmk_err *err)
{
    return complete_simple(arm, op, CP_STATE_STARTING, CP_EV_START_DONE, err);
}

static int complete_restart(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                            struct cmk_err *err)
{
    return complete_simple(arm, op, CP_STATE_RESTARTING, CP_EV_RESTART_DONE, err);
}

/* Replicas of a dropped primary become standalone servers. */
static int detach_replica(void *data, const struct cmk_arm_resource *r)
{
    struct cp_servers *s = ((void **)data)[0];
    const char *primary = ((void **)data)[1];
    struct cp_srv srv;
    cp__srv_from(&srv, r);
    if (cmk_arm_id_equal(cp__str(srv.props, "sourceServerResourceId"), primary) &&
        strcasecmp(cp__str(srv.props, "replicationRole"), "None") != 0 &&
        strcasecmp(cp__str(srv.props, "replicationRole"), "Primary") != 0) {
        json_object_set_new(srv.props, "replicationRole", json_string("None"));
        cp__srv_save(s, &srv, NULL);
    }
    cp__srv_close(&srv);
    return 0;
}

static int complete_delete(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                           struct cmk_err *err)
{
    struct cp_servers *s;
    struct cp_srv srv;
    int rc = load_for_op(arm, op, &s, &srv, err);
    if (rc != 0)
        return rc == CMK_ENOTFOUND ? 0 : rc;
    if (s->dp.drop) {
        struct cmk_err e;
        cmk_err_clear(&e);
        if (s->dp.drop(s->dp.data, srv.r.id, &e) != 0)
            cmk_warn("servers", "msg=\"drop failed\" server=%s error=\"%s\"", srv.r.name,
                     e.message);
    }
    cp__monitor_disarm(s, srv.r.id);
    rc = cp__dropped_put(s, &srv, err);
    void *ctx[2] = {s, srv.r.id};
    cmk_arm_resource_each(arm, CP_SERVER_TYPE, NULL, NULL, detach_replica, ctx);
    cp__srv_close(&srv);
    return rc;
}

static const struct cmk_arm_op_kind kinds[] = {
    {"postgres.create", complete_create, NULL},   {"postgres.update", complete_update, NULL},
    {"postgres.stop", complete_stop, NULL},       {"postgres.start", complete_start, NULL},
    {"postgres.restart", complete_restart, NULL}, {"postgres.delete", complete_delete, NULL},
};

/* ---- routes ---- */

static void h_action(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cp_servers *s = cp__servers_of_arm(arm);
    struct cmk_arm_call call;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (cmk_arm_call_begin(arm, req, res, CP_SERVER_TYPE, CMK_ARM_CALL_EXISTING, &call) != 0) {
        cmk_arm_call_end(&call);
        return;
    }
    struct cp_srv srv;
    int rc = s ? cp__srv_load(s, call.id, &srv, &err) : cp__unavailable(&err);
    if (rc != 0)
        goto fail;
    const char *act = call.rest;
    if (strcasecmp(act, "revalidateDataEncryption") == 0) {
        int cmk = cp__srv_is_cmk(&srv);
        cp__srv_close(&srv);
        if (!cmk) {
            rc = cmk_err_set(&err, CMK_EINVAL, 400, "CMKNotConfigured",
                             "The server '%s' does not use a customer-managed key.",
                             cmk_arm_id_name(&call.rid));
            goto fail;
        }
        if ((rc = cp__monitor_check(s, call.id, 1, &err)) != 0)
            goto fail;
        struct cmk_arm_resource r;
        if ((rc = cmk_arm_resource_get(arm, call.id, &r, &err)) != 0)
            goto fail;
        cmk_arm_respond_resource(&call, 200, &r);
        cmk_arm_resource_close(&r);
        cmk_arm_call_end(&call);
        return;
    }
    const struct cp_profile *p = cp__profile_of(s, srv.priv);
    enum cp_event ev;
    const char *kind;
    cmk_time_t delay;
    if (strcasecmp(act, "start") == 0) {
        ev = CP_EV_START, kind = "postgres.start", delay = p->op_start;
    } else if (strcasecmp(act, "stop") == 0) {
        ev = CP_EV_STOP, kind = "postgres.stop", delay = p->op_stop;
    } else {
        ev = CP_EV_RESTART, kind = "postgres.restart", delay = p->op_restart;
    }
    if (cmk_arm_op_pending(arm, call.id))
        rc = cmk_err_set(&err, CMK_ECONFLICT, 409, "AnotherOperationInProgress",
                         "Another operation on this or dependent resource is in progress. "
                         "Retry the request when it has completed.");
    if (rc == 0)
        rc = cp__server_apply(s, &srv, ev, NULL, &err);
    if (rc == 0)
        rc = cp__srv_save(s, &srv, &err);
    if (rc == 0)
        rc = cmk_arm_op_start(&call, kind, delay, NULL, 0, &err);
    cp__srv_close(&srv);
    if (rc != 0)
        goto fail;
    cmk_arm_respond_accepted(&call, 202, NULL);
    cmk_arm_call_end(&call);
    return;
fail:
    cmk_arm_respond_error(&call, &err);
    cmk_arm_call_end(&call);
}

struct replica_list {
    struct cmk_arm *arm;
    const char *primary;
    json_t *items;
};

static int add_replica(void *data, const struct cmk_arm_resource *r)
{
    struct replica_list *l = data;
    json_t *props = json_object_get(r->doc, "properties");
    const char *role = cp__str(props, "replicationRole");
    if (cmk_arm_id_equal(cp__str(props, "sourceServerResourceId"), l->primary) &&
        (strcasecmp(role, "AsyncReplica") == 0 || strcasecmp(role, "GeoAsyncReplica") == 0))
        json_array_append_new(l->items, cmk_arm_resource_view(l->arm, r));
    return 0;
}

static void h_replicas(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(arm, req, res, CP_SERVER_TYPE, CMK_ARM_CALL_EXISTING, &call) != 0) {
        cmk_arm_call_end(&call);
        return;
    }
    struct replica_list l = {arm, call.id, json_array()};
    cmk_arm_resource_each(arm, CP_SERVER_TYPE, NULL, NULL, add_replica, &l);
    cmk_arm_respond_list(&call, l.items);
    cmk_arm_call_end(&call);
}

#define SRV_PATH                                                                                   \
    "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/"                  \
    "flexibleServers/{name}"

void cp__ops_register(struct cp_servers *s)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        cmk_arm_op_kind_register(s->arm, &kinds[i]);
    struct cmk_router *r = &s->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "POST", SRV_PATH "/start", h_action, s->arm);
    cmk_router_add(r, CMK_HOST_MGMT, "POST", SRV_PATH "/stop", h_action, s->arm);
    cmk_router_add(r, CMK_HOST_MGMT, "POST", SRV_PATH "/restart", h_action, s->arm);
    cmk_router_add(r, CMK_HOST_MGMT, "POST", SRV_PATH "/revalidateDataEncryption", h_action,
                   s->arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET", SRV_PATH "/replicas", h_replicas, s->arm);
}
