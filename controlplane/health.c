/* health.c: resource health of servers and the activity log entries of key access.
 *
 *   GET {server id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current
 *   GET {server id}/providers/Microsoft.ResourceHealth/availabilityStatuses
 *
 * Available, Unavailable or Degraded, with a summary naming the key problem. R10: a server
 * that lost its key shows Unavailable ("Inaccessible") after the first connection it denied;
 * the data plane counts refused logins (its denied_connections hook), compared with the count
 * when it was locked. Without a data plane (no such hook) the lock itself counts. An outage of
 * the vault that the server still rides out on the DEKs it holds, or a geo-backup key that is
 * not accessible, is Degraded. Changes of the health state are written to the activity log
 * (category ResourceHealth, Activated/Resolved) by the key monitor.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server_int.h"

#define NO_PROBLEM "There aren't any known Azure platform problems affecting this resource."

void cp__activity(struct cp_servers *s, const struct cp_srv *srv, const char *operation,
                  const char *status, const char *level, const char *category,
                  const char *description)
{
    json_t *mon = json_object_get(srv->priv, "monitor");
    json_t *props =
        json_pack("{s:s, s:s}", "serverName", srv->r.name, "cause", cp__str(mon, "cause"));
    struct cmk_arm_event ev = {
        .resource_id = srv->r.id,
        .operation = operation,
        .status = status,
        .level = level,
        .category = category,
        .caller = CP_SERVICE_NAME,
        .description = description,
        .properties = props,
    };
    cmk_arm_activity(s->arm, &ev, NULL);
    json_decref(props);
}

/* Logins refused since the lock (-1: the data plane cannot tell). */
static long long denied_since_lock(struct cp_servers *s, const struct cp_srv *srv)
{
    if (s->dp.denied_connections == NULL)
        return -1;
    json_t *base = json_object_get(json_object_get(srv->priv, "monitor"), "deniedBase");
    long long b = json_is_integer(base) ? (long long)json_integer_value(base) : 0;
    return (long long)s->dp.denied_connections(s->dp.data, srv->r.id) - b;
}

const char *cp__health_state(struct cp_servers *s, const struct cp_srv *srv, char *summary,
                             size_t n)
{
    json_t *mon = json_object_get(srv->priv, "monitor");
    json_t *de = json_object_get(srv->props, "dataEncryption");
    int locked = json_is_true(json_object_get(mon, "locked"));
    switch (srv->state) {
    case CP_STATE_PROVISIONING:
        snprintf(summary, n, "The server is being created.");
        return "Unknown";
    case CP_STATE_STOPPING:
    case CP_STATE_STOPPED:
        snprintf(summary, n, "The server was stopped by a user. Start it to use it again.");
        return "Unavailable";
    case CP_STATE_DROPPING:
        snprintf(summary, n, "The server is being deleted.");
        return "Unavailable";
    case CP_STATE_DISABLED:
        snprintf(summary, n, "The server is disabled: its subscription is disabled.");
        return "Unavailable";
    case CP_STATE_STARTING:
    case CP_STATE_RESTARTING:
        snprintf(summary, n, "The server is restarting.");
        return "Unavailable";
    default:
        break;
    }
    if ((srv->state == CP_STATE_INACCESSIBLE || locked) && denied_since_lock(s, srv) != 0) {
        snprintf(summary, n,
                 "Inaccessible: the server lost access to its customer-managed key and denies "
                 "connections. %s",
                 cp__str(mon, "message"));
        return "Unavailable";
    }
    if (json_is_integer(json_object_get(mon, "failingSince")) && !locked) {
        snprintf(summary, n,
                 "The server cannot use its customer-managed key (%s); it keeps serving with "
                 "the keys it holds for now.",
                 cp__str(mon, "message"));
        return "Degraded";
    }
    if (strcmp(cp__str(de, "geoBackupEncryptionKeyStatus"), "Invalid") == 0) {
        snprintf(summary, n, "Geo-redundant backups cannot be encrypted: %s",
                 cp__str(mon, "geoMessage"));
        return "Degraded";
    }
    snprintf(summary, n, "%s", NO_PROBLEM);
    return "Available";
}

json_t *cp__health_json(struct cp_servers *s, const struct cp_srv *srv)
{
    char summary[1200], id[CMK_ARM_ID_MAX + 80], occurred[40], reported[40];
    const char *state = cp__health_state(s, srv, summary, sizeof(summary));
    json_t *h = json_object_get(srv->priv, "health");
    json_t *since = json_object_get(h, "since");
    int same = strcmp(cp__str(h, "state"), state) == 0 && json_is_integer(since);
    cmk_time_format(same ? json_integer_value(since) : srv->r.updated, occurred, sizeof(occurred));
    cmk_time_format(cmk_clock_now(&s->rt->clock), reported, sizeof(reported));
    snprintf(id, sizeof(id), "%s/providers/Microsoft.ResourceHealth/availabilityStatuses/current",
             srv->r.id);
    int key = srv->state == CP_STATE_INACCESSIBLE ||
              json_is_true(json_object_get(json_object_get(srv->priv, "monitor"), "locked"));
    const char *title = strcmp(state, "Available") == 0            ? "Available"
                        : key && strcmp(state, "Unavailable") == 0 ? "Inaccessible"
                                                                   : cp_state_name(srv->state);
    json_t *props =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "availabilityState", state, "title", title,
                  "summary", summary, "reasonChronicity", "Persistent", "detailedStatus", "",
                  "occuredTime", occurred, "reportedTime", reported);
    if (strcmp(state, "Available") != 0) {
        json_object_set_new(props, "reasonType",
                            json_string(key || srv->state == CP_STATE_STOPPED ? "Customer Initiated"
                                                                              : "Unplanned"));
        json_object_set_new(props, "healthEventCause",
                            json_string(key ? "UserInitiated" : "PlatformInitiated"));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "name", "current", "type",
                     "Microsoft.ResourceHealth/AvailabilityStatuses", "location", srv->r.location,
                     "properties", props);
}

void cp__health_note(struct cp_servers *s, struct cp_srv *srv)
{
    char summary[1200];
    const char *state = cp__health_state(s, srv, summary, sizeof(summary));
    json_t *h = cp__obj(srv->priv, "health");
    const char *before = cp__str(h, "state");
    if (strcmp(before, state) == 0)
        return;
    if (before[0] || strcmp(state, "Available") != 0) {
        int ok = strcmp(state, "Available") == 0;
        cp__activity(s, srv,
                     ok ? "Microsoft.ResourceHealth/healthevent/Resolved/action"
                        : "Microsoft.ResourceHealth/healthevent/Activated/action",
                     ok ? "Resolved" : "Active", ok ? "Informational" : "Critical",
                     "ResourceHealth", summary);
    }
    json_object_set_new(h, "state", json_string(state));
    json_object_set_new(h, "since", json_integer(cmk_clock_now(&s->rt->clock)));
}

static void h_health(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cp_servers *s = cp__servers_of_arm(arm);
    struct cmk_arm_call call;
    struct cmk_err err;
    if (cmk_arm_call_begin(arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) != 0) {
        cmk_arm_call_end(&call);
        return;
    }
    char id[CMK_ARM_ID_MAX];
    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.DBforPostgreSQL/"
             "flexibleServers/%s",
             cmk_request_param(req, "s"), cmk_request_param(req, "rg"),
             cmk_request_param(req, "name"));
    const char *st = cmk_request_param(req, "st");
    struct cp_srv srv;
    int rc = s ? cp__srv_load(s, id, &srv, &err) : cp__unavailable(&err);
    if (rc == 0 && st && strcasecmp(st, "current") != 0) {
        cp__srv_close(&srv);
        rc = cmk_err_set(&err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                         "The availability status '%.64s' was not found.", st);
    }
    if (rc != 0) {
        cmk_arm_respond_error(&call, &err);
        cmk_arm_call_end(&call);
        return;
    }
    json_t *j = cp__health_json(s, &srv);
    cp__srv_close(&srv);
    if (st)
        cmk_response_json(res, 200, j);
    else
        cmk_arm_respond_list(&call, json_pack("[o]", j));
    cmk_arm_call_end(&call);
}

void cp__health_register(struct cp_servers *s)
{
    struct cmk_router *r = &s->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "GET",
                   "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/"
                   "flexibleServers/{name}/providers/Microsoft.ResourceHealth/"
                   "availabilityStatuses/{st}",
                   h_health, s->arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET",
                   "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/"
                   "flexibleServers/{name}/providers/Microsoft.ResourceHealth/"
                   "availabilityStatuses",
                   h_health, s->arm);
}
