/* server_state.c: the server state machine as one table {from, event, to, action}, and the one
 * function that applies events (DESIGN.md: Servers).
 *
 * A pair (state, event) missing from the table is an illegal transition: 409 with the code the
 * service uses for it (ServerIsNotReady for stop/restart/update of a server that is not
 * started, ServerIsNotStopped for start, ServerGroupDropping for anything on a server being
 * deleted, ServerIsInaccessible when the key is the reason). Actions call the data plane's
 * hooks; a failing action leaves the state as it was and returns the error.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "server_int.h"

static const char *const state_names[CP_STATE__COUNT] = {
    [CP_STATE_PROVISIONING] = "Provisioning", [CP_STATE_READY] = "Ready",
    [CP_STATE_UPDATING] = "Updating",         [CP_STATE_STOPPING] = "Stopping",
    [CP_STATE_STOPPED] = "Stopped",           [CP_STATE_STARTING] = "Starting",
    [CP_STATE_RESTARTING] = "Restarting",     [CP_STATE_DROPPING] = "Dropping",
    [CP_STATE_DISABLED] = "Disabled",         [CP_STATE_INACCESSIBLE] = "Inaccessible",
};

static const char *const event_names[CP_EV__COUNT] = {
    [CP_EV_CREATE_DONE] = "create-done",
    [CP_EV_UPDATE] = "update",
    [CP_EV_UPDATE_KEY] = "update-key",
    [CP_EV_UPDATE_DONE] = "update-done",
    [CP_EV_STOP] = "stop",
    [CP_EV_STOP_DONE] = "stop-done",
    [CP_EV_START] = "start",
    [CP_EV_START_DONE] = "start-done",
    [CP_EV_RESTART] = "restart",
    [CP_EV_RESTART_DONE] = "restart-done",
    [CP_EV_DELETE] = "delete",
    [CP_EV_KEY_LOST] = "key-lost",
    [CP_EV_KEY_RESTORED] = "key-restored",
    [CP_EV_DISABLE] = "disable",
    [CP_EV_ENABLE] = "enable",
};

const char *cp_state_name(enum cp_state s)
{
    return (unsigned)s < CP_STATE__COUNT ? state_names[s] : "Unknown";
}

int cp_state_parse(const char *s, enum cp_state *out)
{
    for (int i = 0; s && i < CP_STATE__COUNT; i++) {
        if (strcasecmp(state_names[i], s) == 0) {
            *out = (enum cp_state)i;
            return 0;
        }
    }
    return CMK_EINVAL;
}

const char *cp_event_name(enum cp_event e)
{
    return (unsigned)e < CP_EV__COUNT ? event_names[e] : "unknown";
}

/* ---- actions ---- */

typedef int (*action_fn)(struct cp_servers *s, struct cp_srv *srv, const char *cause,
                         struct cmk_err *err);

static int act_provision(struct cp_servers *s, struct cp_srv *srv, const char *cause,
                         struct cmk_err *err)
{
    if (s->dp.provision == NULL)
        return 0;
    struct cp_dp_server d;
    cp__srv_dp(srv, &d);
    return s->dp.provision(s->dp.data, &d, err);
}

int cp__srv_lock(struct cp_servers *s, struct cp_srv *srv, const char *cause, struct cmk_err *err)
{
    json_t *mon = cp__obj(srv->priv, "monitor");
    if (json_is_true(json_object_get(mon, "locked")))
        return 0;
    if (s->dp.lock)
        s->dp.lock(s->dp.data, srv->r.id, cause ? cause : "the key is not accessible");
    json_object_set_new(mon, "locked", json_true());
    json_object_set_new(mon, "lockedAt", json_integer(cmk_clock_now(&s->rt->clock)));
    json_object_set_new(
        mon, "deniedBase",
        json_integer(s->dp.denied_connections
                         ? (json_int_t)s->dp.denied_connections(s->dp.data, srv->r.id)
                         : 0));
    return 0;
}

int cp__srv_unlock(struct cp_servers *s, struct cp_srv *srv, const char *cause, struct cmk_err *err)
{
    json_t *mon = cp__obj(srv->priv, "monitor");
    if (!json_is_true(json_object_get(mon, "locked")))
        return 0;
    if (s->dp.unlock) {
        struct cp_dp_server d;
        cp__srv_dp(srv, &d);
        int rc = s->dp.unlock(s->dp.data, &d, err);
        if (rc != 0)
            return rc;
    }
    json_object_set_new(mon, "locked", json_false());
    return 0;
}

static int act_stop(struct cp_servers *s, struct cp_srv *srv, const char *cause,
                    struct cmk_err *err)
{
    return s->dp.stop ? s->dp.stop(s->dp.data, srv->r.id, err) : 0;
}

static int act_start(struct cp_servers *s, struct cp_srv *srv, const char *cause,
                     struct cmk_err *err)
{
    if (s->dp.start == NULL)
        return 0;
    struct cp_dp_server d;
    cp__srv_dp(srv, &d);
    return s->dp.start(s->dp.data, &d, err);
}

static int act_restart(struct cp_servers *s, struct cp_srv *srv, const char *cause,
                       struct cmk_err *err)
{
    if (s->dp.restart == NULL)
        return 0;
    struct cp_dp_server d;
    cp__srv_dp(srv, &d);
    return s->dp.restart(s->dp.data, &d, err);
}

/* The update completed: a changed key (or identity, or version) is re-wrapped (R12). */
static int act_update_done(struct cp_servers *s, struct cp_srv *srv, const char *cause,
                           struct cmk_err *err)
{
    if (!json_is_true(json_object_get(srv->priv, "rewrap")))
        return 0;
    if (s->dp.rewrap) {
        struct cp_dp_server d;
        cp__srv_dp(srv, &d);
        int rc = s->dp.rewrap(s->dp.data, &d, err);
        if (rc != 0)
            return rc;
    }
    json_object_del(srv->priv, "rewrap");
    return 0;
}

/* ---- the table ---- */

struct transition {
    enum cp_state from;
    enum cp_event ev;
    enum cp_state to;
    action_fn action;
};

static const struct transition table[] = {
    {CP_STATE_PROVISIONING, CP_EV_CREATE_DONE, CP_STATE_READY, act_provision},

    {CP_STATE_READY, CP_EV_UPDATE, CP_STATE_UPDATING, NULL},
    {CP_STATE_READY, CP_EV_UPDATE_KEY, CP_STATE_UPDATING, NULL},
    {CP_STATE_INACCESSIBLE, CP_EV_UPDATE_KEY, CP_STATE_UPDATING, NULL},
    {CP_STATE_UPDATING, CP_EV_UPDATE_DONE, CP_STATE_READY, act_update_done},
    {CP_STATE_UPDATING, CP_EV_KEY_LOST, CP_STATE_INACCESSIBLE, cp__srv_lock},

    {CP_STATE_READY, CP_EV_STOP, CP_STATE_STOPPING, NULL},
    {CP_STATE_STOPPING, CP_EV_STOP_DONE, CP_STATE_STOPPED, act_stop},
    {CP_STATE_STOPPED, CP_EV_START, CP_STATE_STARTING, NULL},
    {CP_STATE_STARTING, CP_EV_START_DONE, CP_STATE_READY, act_start},
    {CP_STATE_STARTING, CP_EV_KEY_LOST, CP_STATE_INACCESSIBLE, cp__srv_lock},

    {CP_STATE_READY, CP_EV_RESTART, CP_STATE_RESTARTING, NULL},
    {CP_STATE_RESTARTING, CP_EV_RESTART_DONE, CP_STATE_READY, act_restart},
    {CP_STATE_RESTARTING, CP_EV_KEY_LOST, CP_STATE_INACCESSIBLE, cp__srv_lock},

    {CP_STATE_READY, CP_EV_KEY_LOST, CP_STATE_INACCESSIBLE, cp__srv_lock},
    {CP_STATE_INACCESSIBLE, CP_EV_KEY_LOST, CP_STATE_INACCESSIBLE, cp__srv_lock},
    {CP_STATE_INACCESSIBLE, CP_EV_KEY_RESTORED, CP_STATE_READY, cp__srv_unlock},
    {CP_STATE_READY, CP_EV_KEY_RESTORED, CP_STATE_READY, cp__srv_unlock},
    {CP_STATE_UPDATING, CP_EV_KEY_RESTORED, CP_STATE_UPDATING, cp__srv_unlock},
    {CP_STATE_RESTARTING, CP_EV_KEY_RESTORED, CP_STATE_RESTARTING, cp__srv_unlock},
    /* A stopped server holds no DEK: its key status changes, its state does not. */
    {CP_STATE_STOPPED, CP_EV_KEY_LOST, CP_STATE_STOPPED, NULL},
    {CP_STATE_STOPPED, CP_EV_KEY_RESTORED, CP_STATE_STOPPED, NULL},

    {CP_STATE_READY, CP_EV_DELETE, CP_STATE_DROPPING, NULL},
    {CP_STATE_STOPPED, CP_EV_DELETE, CP_STATE_DROPPING, NULL},
    {CP_STATE_INACCESSIBLE, CP_EV_DELETE, CP_STATE_DROPPING, NULL},
    {CP_STATE_DISABLED, CP_EV_DELETE, CP_STATE_DROPPING, NULL},

    {CP_STATE_READY, CP_EV_DISABLE, CP_STATE_DISABLED, act_stop},
    {CP_STATE_STOPPED, CP_EV_DISABLE, CP_STATE_DISABLED, NULL},
    {CP_STATE_INACCESSIBLE, CP_EV_DISABLE, CP_STATE_DISABLED, NULL},
    {CP_STATE_DISABLED, CP_EV_ENABLE, CP_STATE_READY, act_start},
};

static const struct transition *lookup(enum cp_state from, enum cp_event ev)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].from == from && table[i].ev == ev)
            return &table[i];
    return NULL;
}

/* The service's refusal of an illegal transition. */
static int refuse(enum cp_state from, enum cp_event ev, const char *name, struct cmk_err *err)
{
    const char *n = name ? name : "";
    const char *st = cp_state_name(from);
    if (from == CP_STATE_DROPPING)
        return cmk_err_set(err, CMK_ECONFLICT, 409, "ServerGroupDropping",
                           "Operations on a server group in dropping state are not allowed. "
                           "Server Name = %s",
                           n);
    if (from == CP_STATE_INACCESSIBLE)
        return cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsInaccessible",
                           "The operation '%s' cannot be performed because server '%s' is "
                           "Inaccessible: it lost access to its customer-managed key. Restore "
                           "access to the key (or assign another key) and revalidate the data "
                           "encryption first.",
                           cp_event_name(ev), n);
    switch (ev) {
    case CP_EV_START:
        return cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsNotStopped",
                           "Start Server can only be performed on Stopped servers. Server Name "
                           "= %s, Current Server State = %s",
                           n, st);
    case CP_EV_STOP:
    case CP_EV_RESTART:
        return cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsNotReady",
                           "Restart or Stop Server can only be performed on Started servers. "
                           "Server Name = %s, Current Server State = %s",
                           n, st);
    case CP_EV_UPDATE:
    case CP_EV_UPDATE_KEY:
        return cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsNotReady",
                           "Update Server can only be performed on Ready servers. Server Name = "
                           "%s, Current Server State = %s",
                           n, st);
    case CP_EV_DELETE:
        return cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsBusy",
                           "Delete Server cannot be performed while the server is %s. Server "
                           "Name = %s",
                           st, n);
    default:
        return cmk_err_set(err, CMK_ECONFLICT, 409, "InvalidServerStateTransition",
                           "The event '%s' is not allowed in state %s. Server Name = %s",
                           cp_event_name(ev), st, n);
    }
}

int cp_server_transition(enum cp_state from, enum cp_event ev, const char *name, enum cp_state *to,
                         struct cmk_err *err)
{
    const struct transition *t = lookup(from, ev);
    if (t == NULL)
        return refuse(from, ev, name, err);
    if (to)
        *to = t->to;
    return 0;
}

int cp__server_apply(struct cp_servers *s, struct cp_srv *srv, enum cp_event ev, const char *cause,
                     struct cmk_err *err)
{
    const struct transition *t = lookup(srv->state, ev);
    if (t == NULL)
        return refuse(srv->state, ev, srv->r.name, err);
    if (t->action) {
        int rc = t->action(s, srv, cause, err);
        if (rc != 0) {
            cmk_info("servers", "msg=\"action failed\" server=%s event=%s error=\"%s\"",
                     srv->r.name, cp_event_name(ev), err ? err->message : "");
            return rc;
        }
    }
    enum cp_state from = srv->state;
    srv->state = t->to;
    json_object_set_new(srv->props, "state", json_string(cp_state_name(t->to)));
    if (from != t->to) {
        cmk_info("servers", "msg=\"state\" server=%s from=%s to=%s event=%s", srv->r.name,
                 cp_state_name(from), cp_state_name(t->to), cp_event_name(ev));
        for (size_t i = 0; i < s->nlisteners; i++)
            s->listeners[i].cb(s->listeners[i].data, srv->r.id, from, t->to, cause ? cause : "");
        /* the runtime's event bus too (dashboard timeline, trace) */
        cmk_events_publish(&s->rt->events, "server.state", srv->r.id,
                           json_pack("{s:s, s:s, s:s, s:s, s:s}", "server", srv->r.name, "from",
                                     cp_state_name(from), "to", cp_state_name(t->to), "event",
                                     cp_event_name(ev), "cause", cause ? cause : ""));
    }
    return 0;
}

int cp_servers_listen(struct cp_servers *s, cp_server_event_cb cb, void *data)
{
    if (s->nlisteners >= SRV_MAX_LISTENERS)
        return CMK_ELIMIT;
    s->listeners[s->nlisteners].cb = cb;
    s->listeners[s->nlisteners].data = data;
    s->nlisteners++;
    return 0;
}
