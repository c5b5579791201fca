/* monitor.c: the key monitor. Every CMK server's key (and geo-backup key) is revalidated on
 * the clock, with interval and jitter from its timing profile (profile.c), by the same
 * in-process requests the service would make: GET key as the server's identity, then unwrap
 * of the server's wrapped DEK (the data plane's, or the monitor's own wrapped probe).
 *
 * A failed check starts a failure (failingSince, cause); from it, per class of cause, the
 * profile says when connections are denied (the data plane is locked) and when the state
 * becomes Inaccessible; a check is scheduled at each of those instants, so the windows of the
 * seed hold exactly. A successful check ends a failure: the data plane is unlocked (its DEKs
 * unwrapped again) and an Inaccessible server is Ready again (R11). A versionless key URI
 * follows the key's new versions: the DEKs are re-wrapped with the new version (R12). Every
 * change is written with its activity log entries in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "server_int.h"

/* ---- entries and timers ---- */

static struct mon_entry *find(struct cp_servers *s, const char *id, size_t *idx)
{
    for (size_t i = 0; i < s->nmon; i++) {
        if (strcasecmp(s->mon[i]->id, id) == 0) {
            if (idx)
                *idx = i;
            return s->mon[i];
        }
    }
    return NULL;
}

static void on_timer(struct cmk_timer *t)
{
    struct mon_entry *e = t->data;
    char id[CMK_ARM_ID_MAX];
    snprintf(id, sizeof(id), "%s", e->id);
    cp__monitor_check(e->s, id, 0, NULL);
}

static cmk_time_t jitter(struct cp_servers *s, cmk_time_t j)
{
    return j > 0 ? (cmk_time_t)cmk_rng_below(&s->jitter, (uint64_t)j + 1) : 0;
}

/* When the next check of srv is due, from its profile and its monitor state. */
static cmk_time_t next_delay(struct cp_servers *s, const struct cp_srv *srv)
{
    const struct cp_profile *p = cp__profile_of(s, srv->priv);
    json_t *mon = json_object_get(srv->priv, "monitor");
    json_t *since = json_object_get(mon, "failingSince");
    if (srv->state == CP_STATE_INACCESSIBLE)
        return p->recover_interval + jitter(s, p->recover_jitter);
    if (!json_is_integer(since))
        return p->check_interval + jitter(s, p->check_jitter);
    cmk_time_t d = p->failing_interval + jitter(s, p->failing_jitter);
    cmk_time_t now = cmk_clock_now(&s->rt->clock), fs = json_integer_value(since);
    json_t *cls = json_object_get(mon, "class");
    int c = json_is_integer(cls) ? (int)json_integer_value(cls) : CP_CLASS_KEY;
    if (c < 0 || c >= CP_CLASS__COUNT)
        c = CP_CLASS_KEY;
    cmk_time_t due[2] = {json_is_true(json_object_get(mon, "locked")) ? 0 : fs + p->deny_after[c],
                         fs + p->inaccessible_after[c]};
    for (int i = 0; i < 2; i++)
        if (due[i] > now && due[i] - now < d)
            d = due[i] - now;
    return d;
}

void cp__monitor_arm(struct cp_servers *s, const char *server_id, cmk_time_t delay)
{
    if (delay < 0) {
        struct cp_srv srv;
        if (cp__srv_load(s, server_id, &srv, NULL) != 0)
            return;
        delay = next_delay(s, &srv);
        cp__srv_close(&srv);
    }
    struct mon_entry *e = find(s, server_id, NULL);
    if (e == NULL) {
        if (s->nmon == s->capmon) {
            s->capmon = s->capmon ? 2 * s->capmon : 16;
            s->mon = cmk_xrealloc(s->mon, s->capmon * sizeof(*s->mon));
        }
        e = cmk_xcalloc(1, sizeof(*e));
        snprintf(e->id, sizeof(e->id), "%s", server_id);
        e->s = s;
        cmk_timer_init(&s->rt->clock, &e->timer, on_timer, e);
        s->mon[s->nmon++] = e;
    }
    cmk_timer_start(&e->timer, delay, 0);
}

void cp__monitor_disarm(struct cp_servers *s, const char *server_id)
{
    size_t i;
    struct mon_entry *e = find(s, server_id, &i);
    if (e == NULL)
        return;
    cmk_timer_stop(&e->timer);
    s->mon[i] = s->mon[--s->nmon];
    free(e);
}

static int arm_one(void *data, const struct cmk_arm_resource *r)
{
    struct cp_servers *s = data;
    struct cp_srv srv;
    cp__srv_from(&srv, r);
    if (cp__srv_is_cmk(&srv) && srv.state != CP_STATE_PROVISIONING &&
        srv.state != CP_STATE_DROPPING)
        cp__monitor_arm(s, r->id, next_delay(s, &srv));
    cp__srv_close(&srv);
    return 0;
}

void cp__monitor_rearm_all(struct cp_servers *s)
{
    cmk_arm_resource_each(s->arm, CP_SERVER_TYPE, NULL, NULL, arm_one, s);
}

void cp__monitor_free(struct cp_servers *s)
{
    for (size_t i = 0; i < s->nmon; i++) {
        cmk_timer_stop(&s->mon[i]->timer);
        free(s->mon[i]);
    }
    free(s->mon);
    s->mon = NULL;
    s->nmon = s->capmon = 0;
}

/* ---- one check ---- */

/* A new version of a versionless key: re-wrap (R12). Failure keeps the old version. */
static void rotate(struct cp_servers *s, struct cp_srv *srv, const char *new_kid)
{
    json_t *de = json_object_get(srv->props, "dataEncryption");
    const char *uri = cp__str(de, "primaryKeyURI");
    const char *identity = cp__str(de, "primaryUserAssignedIdentityId");
    struct cp_key_ref k;
    struct cp_vault_reply r;
    char *probe = NULL;
    if (cp__key_ref_parse(s, uri, &k, NULL) != 0 ||
        cp__key_wrap_probe(s, &k, new_kid, identity, &probe, &r) != 0) {
        cp__vault_reply_close(&r);
        return;
    }
    cp__vault_reply_close(&r);
    char old[512];
    snprintf(old, sizeof(old), "%s", cp__str(srv->priv, "kid"));
    json_object_set_new(srv->priv, "kid", json_string(new_kid));
    if (s->dp.rewrap) {
        struct cp_dp_server d;
        struct cmk_err err;
        cmk_err_clear(&err);
        cp__srv_dp(srv, &d);
        if (s->dp.rewrap(s->dp.data, &d, &err) != 0) {
            cmk_warn("servers", "msg=\"re-wrap on rotation failed\" server=%s error=\"%s\"",
                     srv->r.name, err.message);
            json_object_set_new(srv->priv, "kid", json_string(old));
            free(probe);
            return;
        }
    }
    json_object_set_new(srv->priv, "probe", json_string(probe));
    free(probe);
    char msg[1200];
    snprintf(msg, sizeof(msg),
             "A new version of the customer-managed key '%s' is in use: the data encryption "
             "keys were re-wrapped with '%s' (no data re-encrypted).",
             uri, new_kid);
    cp__activity(s, srv, CP_SERVER_TYPE "/encryptionKeyRotated", "Succeeded", "Informational",
                 "Administrative", msg);
}

/* The wrapped value to unwrap: the data plane's DEK when it has one, else the probe. */
static void blob_of(struct cp_servers *s, const struct cp_srv *srv, char **blob, char kid[512],
                    char alg[32])
{
    *blob = NULL;
    kid[0] = alg[0] = '\0';
    if (s->dp.wrapped_dek && s->dp.wrapped_dek(s->dp.data, srv->r.id, blob, kid, alg) == 0 && *blob)
        return;
    free(*blob);
    *blob = cmk_xstrdup(cp__str(srv->priv, "probe"));
    snprintf(kid, 512, "%s", cp__str(srv->priv, "kid"));
    snprintf(alg, 32, "%s", "RSA-OAEP-256");
}

static void check_geo(struct cp_servers *s, struct cp_srv *srv, json_t *de, json_t *mon)
{
    const char *uri = cp__str(de, "geoBackupKeyURI");
    if (uri[0] == '\0')
        return;
    struct cp_key_check gc;
    cp__key_check(s, uri, cp__str(de, "geoBackupUserAssignedIdentityId"),
                  cp__str(srv->priv, "geoKid"), cp__str(srv->priv, "geoProbe"), NULL, &gc);
    int failing = json_is_string(json_object_get(mon, "geoCause"));
    if (gc.cause == CP_CAUSE_NONE) {
        json_object_set_new(de, "geoBackupEncryptionKeyStatus", json_string("Valid"));
        if (failing) {
            char msg[800];
            snprintf(msg, sizeof(msg),
                     "Access to the geo-redundant backup key '%s' is restored: geo-redundant "
                     "backups are encrypted again.",
                     uri);
            cp__activity(s, srv, CP_SERVER_TYPE "/geoBackupEncryptionKeyAccessRestored",
                         "Succeeded", "Informational", "Administrative", msg);
        }
        json_object_del(mon, "geoCause");
        json_object_del(mon, "geoMessage");
        return;
    }
    json_object_set_new(de, "geoBackupEncryptionKeyStatus", json_string("Invalid"));
    if (!failing || strcmp(cp__str(mon, "geoCause"), cp__cause_name(gc.cause)) != 0) {
        char msg[800];
        snprintf(msg, sizeof(msg),
                 "Access to the geo-redundant backup key failed: %s Geo-redundant backups "
                 "cannot be encrypted until it is restored.",
                 gc.message);
        cp__activity(s, srv, CP_SERVER_TYPE "/geoBackupEncryptionKeyAccessFailed", "Failed",
                     "Warning", "Administrative", msg);
    }
    json_object_set_new(mon, "geoCause", json_string(cp__cause_name(gc.cause)));
    json_object_set_new(mon, "geoMessage", json_string(gc.message));
}

/* The key answered: end a failure, unlock, Ready again. Returns non-zero if the data plane
 * could not unlock (then kc is turned into a failure). */
/* Set primaryEncryptionKeyStatus; a change is published on the runtime's event bus
 * ("server.keyStatus": the dashboard's timeline, the trace). */
static void key_status(struct cp_servers *s, const struct cp_srv *srv, json_t *de,
                       const char *status, const char *cause)
{
    if (strcmp(cp__str(de, "primaryEncryptionKeyStatus"), status) != 0)
        cmk_events_publish(&s->rt->events, "server.keyStatus", srv->r.id,
                           json_pack("{s:s, s:s, s:s, s:s}", "server", srv->r.name, "key",
                                     cp__str(de, "primaryKeyURI"), "status", status, "cause",
                                     cause));
    json_object_set_new(de, "primaryEncryptionKeyStatus", json_string(status));
}

static int on_success(struct cp_servers *s, struct cp_srv *srv, json_t *de, json_t *mon,
                      struct cp_key_check *kc)
{
    const char *uri = cp__str(de, "primaryKeyURI");
    struct cp_key_ref k;
    if (cp__key_ref_parse(s, uri, &k, NULL) == 0 && k.version[0] == '\0' && kc->info.kid[0] &&
        strcmp(kc->info.kid, cp__str(srv->priv, "kid")) != 0)
        rotate(s, srv, kc->info.kid);
    int was_failing = json_is_integer(json_object_get(mon, "failingSince"));
    struct cmk_err err;
    cmk_err_clear(&err);
    int rc = cp__server_apply(s, srv, CP_EV_KEY_RESTORED, NULL, &err);
    if (rc != 0 && err.status != 409) {
        kc->cause = CP_CAUSE_UNKNOWN;
        snprintf(kc->message, sizeof(kc->message),
                 "The data encryption keys could not be unwrapped with '%.200s': %.250s", uri,
                 err.message);
        return rc;
    }
    key_status(s, srv, de, "Valid", "");
    if (was_failing) {
        char msg[1200];
        snprintf(msg, sizeof(msg),
                 "Access to the customer-managed key '%s' is restored (was: %s). The server "
                 "accepts connections and is Available.",
                 uri, cp__str(mon, "message"));
        cp__activity(s, srv, CP_SERVER_TYPE "/encryptionKeyAccessRestored", "Succeeded",
                     "Informational", "Administrative", msg);
    }
    static const char *const drop[] = {"failingSince", "cause", "message", "class", NULL};
    for (size_t i = 0; drop[i]; i++)
        json_object_del(mon, drop[i]);
    return 0;
}

static void on_failure(struct cp_servers *s, struct cp_srv *srv, json_t *de, json_t *mon,
                       const struct cp_key_check *kc, int manual)
{
    const struct cp_profile *p = cp__profile_of(s, srv->priv);
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    enum cp_cause_class cls = cp__cause_class(kc->cause);
    json_t *since = json_object_get(mon, "failingSince");
    const char *name = cp__cause_name(kc->cause);
    if (!json_is_integer(since) || strcmp(cp__str(mon, "cause"), name) != 0) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "Access to the customer-managed key '%s' failed: %s",
                 cp__str(de, "primaryKeyURI"), kc->message);
        cp__activity(s, srv, CP_SERVER_TYPE "/encryptionKeyAccessFailed", "Failed", "Error",
                     "Administrative", msg);
    }
    if (!json_is_integer(since)) {
        since = json_integer(now);
        json_object_set_new(mon, "failingSince", since);
    }
    json_object_set_new(mon, "cause", json_string(name));
    json_object_set_new(mon, "message", json_string(kc->message));
    json_object_set_new(mon, "class", json_integer(cls));
    cmk_time_t elapsed = manual ? CMK_DAY * 365 : now - json_integer_value(since);
    int locked = json_is_true(json_object_get(mon, "locked"));
    if (cls != CP_CLASS_OUTAGE || locked || elapsed >= p->deny_after[cls])
        key_status(s, srv, de, "Invalid", name);
    char cause[700];
    snprintf(cause, sizeof(cause), "the server's customer-managed key is not accessible: %s",
             kc->message);
    if (!locked && elapsed >= p->deny_after[cls])
        cp__srv_lock(s, srv, cause, NULL);
    if (srv->state != CP_STATE_INACCESSIBLE && srv->state != CP_STATE_STOPPED &&
        elapsed >= p->inaccessible_after[cls] &&
        cp__server_apply(s, srv, CP_EV_KEY_LOST, cause, NULL) == 0 &&
        srv->state == CP_STATE_INACCESSIBLE) {
        char msg[1200];
        snprintf(msg, sizeof(msg),
                 "The server is Inaccessible: it lost access to its customer-managed key. %s "
                 "Restore access (or assign another key) and revalidate the data encryption.",
                 kc->message);
        cp__activity(s, srv, CP_SERVER_TYPE "/encryptionKeyInaccessible", "Failed", "Critical",
                     "Administrative", msg);
    }
}

int cp__monitor_check(struct cp_servers *s, const char *server_id, int manual, struct cmk_err *err)
{
    struct cp_srv srv;
    if (cp__srv_load(s, server_id, &srv, err) != 0) {
        cp__monitor_disarm(s, server_id);
        return CMK_ENOTFOUND;
    }
    if (!cp__srv_is_cmk(&srv)) {
        cp__srv_close(&srv);
        cp__monitor_disarm(s, server_id);
        return 0;
    }
    switch (srv.state) {
    case CP_STATE_READY:
    case CP_STATE_UPDATING:
    case CP_STATE_RESTARTING:
    case CP_STATE_INACCESSIBLE:
        break;
    default: /* no compute: nothing holds a DEK; the key is checked when it starts */
        cp__monitor_arm(s, server_id, next_delay(s, &srv));
        cp__srv_close(&srv);
        return 0;
    }
    json_t *de = cp__obj(srv.props, "dataEncryption");
    json_t *mon = cp__obj(srv.priv, "monitor");
    char *blob, kid[512], alg[32];
    blob_of(s, &srv, &blob, kid, alg);
    struct cp_key_check kc;
    cp__key_check(s, cp__str(de, "primaryKeyURI"), cp__str(de, "primaryUserAssignedIdentityId"),
                  kid, blob, alg, &kc);
    free(blob);
    if (cmk_arm_tx_begin(s->arm) != 0) {
        cp__monitor_arm(s, server_id, next_delay(s, &srv));
        cp__srv_close(&srv);
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                           "The state store is not available.");
    }
    if (kc.cause != CP_CAUSE_NONE || on_success(s, &srv, de, mon, &kc) != 0)
        on_failure(s, &srv, de, mon, &kc, manual);
    check_geo(s, &srv, de, mon);
    json_object_set_new(mon, "lastCheck", json_integer(cmk_clock_now(&s->rt->clock)));
    cp__health_note(s, &srv);
    int rc = cp__srv_save(s, &srv, err);
    if (rc == 0 && cmk_arm_tx_commit(s->arm) != 0)
        rc = cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                         "The key check could not be made durable.");
    else if (rc != 0)
        cmk_arm_tx_rollback(s->arm);
    cp__monitor_arm(s, server_id, next_delay(s, &srv));
    cp__srv_close(&srv);
    return rc;
}

int cp_server_revalidate(struct cp_servers *s, const char *server_id, struct cmk_err *err)
{
    return cp__monitor_check(s, server_id, 1, err);
}
