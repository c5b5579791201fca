/* server.c: the servers service's frame: opening and freeing it, the registry that lets the
 * static provider and operation tables find it, and the Microsoft.DBforPostgreSQL/
 * flexibleServers provider on the ARM core: put (create: server_create.c; an existing server:
 * an update, server_update.c), patch (server_update.c), render (what a client sees: the private
 * part and the password dropped, computed fields added) and delete (long-running: Dropping).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "identity.h"
#include "server_int.h"

/* api-versions real clients send (SDK 9.0.0: 2025-08-01; az 2.45: 2022-12-01). */
static const char *const api_versions[] = {
    "2025-08-01",         "2025-06-01-preview",
    "2025-01-01-preview", "2024-11-01-preview",
    "2024-08-01",         "2024-03-01-preview",
    "2023-12-01-preview", "2023-06-01-preview",
    "2023-03-01-preview", "2022-12-01",
    "2022-11-01-preview", "2022-03-08-preview",
    "2021-06-01",         NULL,
};
const char *const *cp__api_versions = api_versions;

/* ---- registry ---- */

#define MAX_SERVICES 8
static struct cp_servers *registry[MAX_SERVICES];

struct cp_servers *cp_servers_of(struct cmk_runtime *rt)
{
    for (size_t i = 0; i < MAX_SERVICES; i++)
        if (registry[i] && registry[i]->rt == rt)
            return registry[i];
    return NULL;
}

struct cp_servers *cp__servers_of_arm(struct cmk_arm *arm)
{
    for (size_t i = 0; i < MAX_SERVICES; i++)
        if (registry[i] && registry[i]->arm == arm)
            return registry[i];
    return NULL;
}

int cp__unavailable(struct cmk_err *err)
{
    return cmk_err_set(err, CMK_EUNAVAIL, 503, "ServiceUnavailable",
                       "The PostgreSQL flexible server service is not running.");
}

/* ---- the provider ---- */

static int srv_put(struct cmk_arm_call *call, json_t *body, const struct cmk_arm_resource *existing,
                   json_t **out, struct cmk_err *err)
{
    *out = NULL;
    if (!json_is_object(body))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.");
    if (existing)
        return cp__server_update(call, body, existing, out, err);
    return cp__server_create(call, body, out, err);
}

static int srv_patch(struct cmk_arm_call *call, json_t *patch,
                     const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    if (!json_is_object(patch))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.");
    return cp__server_update(call, patch, existing, out, err);
}

static json_t *srv_render(struct cmk_arm *arm, const struct cmk_arm_resource *r, void *data)
{
    struct cp_servers *s = cp__servers_of_arm(arm);
    json_t *doc = json_deep_copy(r->doc);
    json_object_del(doc, SRV_PRIV);
    json_t *props = cp__obj(doc, "properties");
    json_object_del(props, "administratorLoginPassword");
    char fqdn[256];
    snprintf(fqdn, sizeof(fqdn), "%s.postgres.database.azure.com", r->name);
    json_object_set_new(props, "fullyQualifiedDomainName", json_string(fqdn));
    json_t *backup = cp__obj(props, "backup");
    json_t *days = json_object_get(backup, "backupRetentionDays");
    cmk_time_t now = s ? cmk_clock_now(&s->rt->clock) : r->updated;
    cmk_time_t earliest = now - (json_is_integer(days) ? json_integer_value(days) : 7) * CMK_DAY;
    if (earliest < r->created)
        earliest = r->created;
    char t[40];
    cmk_time_format(earliest, t, sizeof(t));
    json_object_set_new(backup, "earliestRestoreDate", json_string(t));
    /* principalId/clientId of the identities as they are now. */
    json_t *uai = json_object_get(json_object_get(doc, "identity"), "userAssignedIdentities");
    const char *id;
    json_t *v;
    json_object_foreach(uai, id, v)
    {
        struct cp_managed_identity mi;
        if (s && json_is_object(v) && cp_identity_mi_get(s->rt, id, &mi, NULL) == 0) {
            json_object_set_new(v, "principalId", json_string(mi.p.object_id));
            json_object_set_new(v, "clientId", json_string(mi.p.client_id));
            cp_managed_identity_close(&mi);
        }
    }
    return doc;
}

static int srv_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                      struct cmk_err *err)
{
    struct cp_servers *s = cp__servers_of_arm(call->arm);
    if (s == NULL)
        return call->cascade ? 0 : cp__unavailable(err);
    struct cp_srv srv;
    cp__srv_from(&srv, r);
    int rc = 0;
    if (call->cascade) {
        /* The resource group goes: no operation, the storage goes now. */
        if (s->dp.drop)
            rc = s->dp.drop(s->dp.data, r->id, err);
        if (rc == 0) {
            cp__monitor_disarm(s, r->id);
            rc = cp__dropped_put(s, &srv, err);
        }
        cp__srv_close(&srv);
        return rc;
    }
    rc = cp__server_apply(s, &srv, CP_EV_DELETE, NULL, err);
    if (rc == 0)
        rc = cp__srv_save(s, &srv, err);
    if (rc == 0) {
        const struct cp_profile *p = cp__profile_of(s, srv.priv);
        rc = cmk_arm_op_start(call, "postgres.delete", p->op_delete, NULL, 0, err);
    }
    cp__srv_close(&srv);
    return rc;
}

static const struct cmk_arm_provider server_provider = {
    .type = CP_SERVER_TYPE,
    .api_versions = api_versions,
    .put = srv_put,
    .patch = srv_patch,
    .render = srv_render,
    .del = srv_delete,
};

/* ---- open / free ---- */

int cp_servers_open(struct cp_servers **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    if (rt == NULL || rt->arm == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalServerError",
                           "the servers service needs the ARM core (cmk_arm_open) first");
    size_t slot = MAX_SERVICES;
    for (size_t i = 0; i < MAX_SERVICES && slot == MAX_SERVICES; i++)
        if (registry[i] == NULL)
            slot = i;
    if (slot == MAX_SERVICES || cp_servers_of(rt) != NULL)
        return cmk_err_set(err, CMK_ELIMIT, 500, "InternalServerError",
                           "a servers service is already open on this runtime");
    struct cp_servers *s = cmk_xcalloc(1, sizeof(*s));
    s->rt = rt;
    s->arm = rt->arm;
    snprintf(s->default_profile, sizeof(s->default_profile), "default");
    cmk_runtime_rng(rt, "controlplane.monitor", &s->jitter);
    cmk_runtime_rng(rt, "controlplane.servers", &s->ids);
    int rc = cp__store_migrate(s, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    registry[slot] = s;
    cmk_arm_provider_register(s->arm, &server_provider);
    cp__child_register(s);
    cp__ops_register(s);
    cp__health_register(s);
    cp__monitor_rearm_all(s);
    *out = s;
    return 0;
}

void cp_servers_free(struct cp_servers *s)
{
    if (s == NULL)
        return;
    cp__monitor_free(s);
    for (size_t i = 0; i < s->ntokens; i++)
        free(s->tokens[i].token);
    for (size_t i = 0; i < MAX_SERVICES; i++)
        if (registry[i] == s)
            registry[i] = NULL;
    free(s->profiles);
    free(s);
}

/* ---- the data plane ---- */

static int attach_one(void *data, const struct cmk_arm_resource *r)
{
    struct cp_servers *s = data;
    struct cp_srv srv;
    struct cmk_err err;
    cp__srv_from(&srv, r);
    json_t *mon = json_object_get(srv.priv, "monitor");
    int locked = json_is_true(json_object_get(mon, "locked"));
    if (srv.state == CP_STATE_INACCESSIBLE || locked) {
        if (s->dp.lock)
            s->dp.lock(s->dp.data, r->id, cp__str(mon, "message"));
    } else if (srv.state == CP_STATE_READY || srv.state == CP_STATE_UPDATING ||
               srv.state == CP_STATE_RESTARTING) {
        struct cp_dp_server d;
        cp__srv_dp(&srv, &d);
        cmk_err_clear(&err);
        if (s->dp.unlock && s->dp.unlock(s->dp.data, &d, &err) != 0) {
            cmk_warn("servers", "msg=\"unlock at attach failed\" server=%s error=\"%s\"", r->name,
                     err.message);
            cp__monitor_arm(s, r->id, 0); /* the monitor finds out why */
        }
    }
    cp__srv_close(&srv);
    return 0;
}

void cp_servers_set_dataplane(struct cp_servers *s, const struct cp_dataplane_ops *ops)
{
    memset(&s->dp, 0, sizeof(s->dp));
    if (ops == NULL)
        return;
    s->dp = *ops;
    cmk_arm_resource_each(s->arm, CP_SERVER_TYPE, NULL, NULL, attach_one, s);
}

int cp_server_status(struct cp_servers *s, const char *server_id, struct cp_server_status *out,
                     struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct cp_srv srv;
    int rc = cp__srv_load(s, server_id, &srv, err);
    if (rc != 0)
        return rc;
    json_t *de = json_object_get(srv.props, "dataEncryption");
    json_t *mon = json_object_get(srv.priv, "monitor");
    out->state = srv.state;
    out->cmk = cp__srv_is_cmk(&srv);
    out->key_valid = strcmp(cp__str(de, "primaryEncryptionKeyStatus"), "Invalid") != 0;
    out->geo_key_valid = strcmp(cp__str(de, "geoBackupEncryptionKeyStatus"), "Invalid") != 0;
    out->locked = json_is_true(json_object_get(mon, "locked"));
    snprintf(out->cause, sizeof(out->cause), "%s", cp__str(mon, "cause"));
    snprintf(out->message, sizeof(out->message), "%s", cp__str(mon, "message"));
    char summary[600];
    snprintf(out->health, sizeof(out->health), "%s",
             cp__health_state(s, &srv, summary, sizeof(summary)));
    cp__srv_close(&srv);
    return 0;
}
