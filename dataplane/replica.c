/* replica.c: read replicas: an asynchronous copy of the primary's databases on the clock.
 *
 * A replica has DEKs of its own (new ones, from OpenSSL's CSPRNG), wrapped by its own key: the
 * key and identity of its region (R15). Every DP_REPLICA_PERIOD the files of the primary that
 * changed since the last copy (the WAL hook counts commits) are copied page by page through
 * SQLite's backup API from the primary's connection into the replica's: each page is opened
 * under the primary's DEK and sealed again under the replica's. Databases created on the primary
 * get a DEK on the replica at the next copy, dropped ones are dropped. Until a copy runs the
 * replica lags (dp_server_replica_lag; pg_last_xact_replay_timestamp() in SQL).
 *
 * Sessions on a replica are read-only (the endpoint answers 25006 to writes; the connections
 * are query_only too). A replica promoted in the control plane (replicationRole None) stops
 * copying, accepts writes and starts taking backups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "server_int.h"

static struct dp_srv *primary_of(struct dp_srv *srv)
{
    char name[DP_SRV_NAME_MAX];
    dp__name_of_id(srv->source_id, name, sizeof(name));
    struct dp_srv *p = dp__srv_by_name(srv->d, name);
    return p && p != srv ? p : NULL;
}

int dp__replica_active(struct dp_srv *srv)
{
    if (!srv->replica)
        return 0;
    json_t *doc = dp__arm_doc(srv->d, srv->id);
    if (doc == NULL)
        return 1; /* no control plane to say otherwise */
    const char *role =
        json_string_value(json_object_get(json_object_get(doc, "properties"), "replicationRole"));
    int active = role == NULL || strcasecmp(role, "AsyncReplica") == 0 ||
                 strcasecmp(role, "GeoAsyncReplica") == 0;
    json_decref(doc);
    if (!active) { /* promoted: a server of its own from now on */
        cmk_info("dataplane", "msg=\"replica promoted\" server=%s", srv->name);
        srv->replica = 0;
        dp__replica_stop(srv);
        dp__meta_save(srv);
        if (srv->state == DP_SRV_OPEN)
            dp__backup_start(srv);
    }
    return active;
}

int dp__replica_sync(struct dp_srv *srv, struct cmk_err *err)
{
    struct dp_srv *p = primary_of(srv);
    if (p == NULL || p->state != DP_SRV_OPEN)
        return cmk_err_set(err, CMK_EUNAVAIL, 409, "PrimaryNotAvailable",
                           "the primary of replica '%s' is not available", srv->name);
    if (!dp_envelope_unlocked(srv->env))
        return cmk_err_set(err, CMK_EUNAVAIL, 409, "ServerNotOpen", "%s", srv->message);
    int rc = 0;
    for (struct dp_file *pf = p->files; pf && rc == 0; pf = pf->next) {
        if (pf->svc == NULL)
            continue;
        if (dp_envelope_dek_id(srv->env, pf->name) == NULL) { /* a new database */
            struct dp_keyctx k;
            rc = dp__key_init(srv->d, &k, srv->encryption, dp_envelope_kek_kid(srv->env),
                              srv->identity, err);
            if (rc == 0)
                rc = dp_envelope_add_file(srv->env, pf->name, &k.kek, err);
            if (rc == 0)
                rc = dp__files_open(srv, err);
            if (rc != 0)
                break;
        }
        struct dp_file *rf = dp__file_find(srv, pf->name);
        if (rf == NULL || rf->svc == NULL)
            continue;
        if (rf->synced && rf->applied == pf->commits)
            continue;
        sqlite3_backup *b = sqlite3_backup_init(rf->svc, "main", pf->svc, "main");
        int src = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(rf->svc);
        if (b)
            sqlite3_backup_finish(b);
        if (src != SQLITE_DONE) {
            rc = cmk_err_set(err, CMK_EIO, 500, "ReplicationFailed",
                             "copying %s to replica '%s': %s", pf->name, srv->name,
                             sqlite3_errstr(src));
            break;
        }
        rf->applied = pf->commits;
        rf->synced = 1;
        dp__backup_checkpoint(rf); /* the backup API bypasses the WAL hook */
    }
    /* databases dropped on the primary */
    for (struct dp_file *rf = srv->files, *next; rc == 0 && rf; rf = next) {
        next = rf->next;
        if (dp__file_find(p, rf->name) == NULL && strcmp(rf->name, "postgres.db") != 0) {
            char db[DP_ENVELOPE_FILE_MAX];
            snprintf(db, sizeof(db), "%.*s", (int)(strlen(rf->name) - 3), rf->name);
            rc = dp__db_drop(srv, db, err);
        }
    }
    if (rc == 0)
        srv->replayed = cmk_clock_now(&srv->d->rt->clock);
    return rc;
}

int dp__replica_provision(struct dp_srv *srv, struct cmk_err *err)
{
    struct dp_srv *p = primary_of(srv);
    if (p == NULL || p->state != DP_SRV_OPEN)
        return cmk_err_set(err, CMK_EUNAVAIL, 409, "SourceServerNotAvailable",
                           "A read replica needs its primary to be available: '%s' is not.",
                           srv->source_id);
    size_t n = 0;
    for (struct dp_file *f = p->files; f; f = f->next)
        n++;
    const char **files = cmk_xcalloc(n ? n : 1, sizeof(*files));
    n = 0;
    for (struct dp_file *f = p->files; f; f = f->next)
        files[n++] = f->name;
    char envpath[PATH_MAX];
    dp__path(envpath, sizeof(envpath), srv->dir, DP_ENV_FILE);
    struct dp_keyctx k;
    int rc = dp__key_of(srv, &k, err);
    if (rc == 0)
        rc = dp_envelope_create(&srv->env, envpath, srv->dir, files, n, &k.kek, err);
    free(files);
    if (rc == 0)
        rc = dp__files_open(srv, err);
    if (rc == 0)
        rc = dp__replica_sync(srv, err);
    return rc;
}

static void on_replica_timer(struct cmk_timer *t)
{
    struct dp_srv *srv = t->data;
    if (srv->state != DP_SRV_OPEN || !dp__replica_active(srv))
        return;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (dp__replica_sync(srv, &err) != 0)
        cmk_debug("dataplane", "msg=\"replica behind\" server=%s error=\"%s\"", srv->name,
                  err.message);
}

void dp__replica_start(struct dp_srv *srv)
{
    cmk_timer_init(&srv->d->rt->clock, &srv->replica_timer, on_replica_timer, srv);
    cmk_timer_start(&srv->replica_timer, DP_REPLICA_PERIOD, DP_REPLICA_PERIOD);
}

void dp__replica_stop(struct dp_srv *srv)
{
    if (srv->replica_timer.clock)
        cmk_timer_stop(&srv->replica_timer);
}

/* ---- the public API of the copies ---- */

int dp_server_backup_now(struct dp_servers *d, const char *name, int full, struct cmk_err *err)
{
    struct dp_srv *srv = dp__srv_by_name(d, name);
    if (srv == NULL)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServerNotFound", "no server '%s'", name);
    return dp__backup_run(srv, full, err);
}

int dp_server_replicate_now(struct dp_servers *d, const char *name, struct cmk_err *err)
{
    struct dp_srv *srv = dp__srv_by_name(d, name);
    if (srv == NULL || !srv->replica)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServerNotFound", "no replica '%s'", name);
    return dp__replica_sync(srv, err);
}

cmk_time_t dp_server_replica_lag(struct dp_servers *d, const char *name)
{
    struct dp_srv *srv = dp__srv_by_name(d, name);
    if (srv == NULL || !srv->replica)
        return -1;
    struct dp_srv *p = primary_of(srv);
    if (p == NULL)
        return 0;
    for (struct dp_file *pf = p->files; pf; pf = pf->next) {
        struct dp_file *rf = dp__file_find(srv, pf->name);
        if (rf == NULL || !rf->synced || rf->applied != pf->commits)
            return cmk_clock_now(&d->rt->clock) - srv->replayed;
    }
    return 0;
}
