/* server_ops.c: the control plane's hooks (struct cp_dataplane_ops) on the emulated servers.
 *
 *   provision   a new server's directory: Create (one DEK for "postgres", wrapped by the server's
 *               key), PointInTimeRestore / ReviveDropped / GeoRestore (the source's DEKs,
 *               unwrapped with the source's key, re-wrapped with the new server's key, and its
 *               files rebuilt from backups at the point in time), Replica (replica.c)
 *   unlock      unwrap every DEK into the VFS registry; logins accepted
 *   lock        key lost: end sessions (FATAL 57P01), wipe every DEK, refuse logins (57P03)
 *   rewrap      a new key, key version or identity: the DEKs re-wrapped, no data byte changes
 *   stop/start/restart, drop, wrapped_dek, denied_connections, set_password,
 *   database_create/drop
 *
 * Every hook is idempotent: a provision of a server that exists opens it, an unlock of an open
 * server unwraps again (the key may have been revoked), a lock of a locked one does nothing new.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server_int.h"

static const char *const state_names[] = {"closed", "open", "locked", "stopped"};

static void set_state(struct dp_srv *srv, enum dp_srv_state st, const char *cause)
{
    srv->state = st;
    dp__meta_save(srv);
    dp__publish(srv, "dataplane.server",
                json_pack("{s:s, s:s, s:s}", "server", srv->name, "state", state_names[st], "cause",
                          cause ? cause : ""));
}

/* The server of a hook: the table's entry, or one loaded from its directory. */
static struct dp_srv *find(struct dp_servers *d, const char *id, const char *name)
{
    struct dp_srv *srv = id && id[0] ? dp__srv_by_id(d, id) : NULL;
    if (srv == NULL && name && name[0])
        srv = dp__srv_by_name(d, name);
    if (srv)
        return srv;
    char n[DP_SRV_NAME_MAX], dir[PATH_MAX];
    dp__name_of_id(name && name[0] ? name : id, n, sizeof(n));
    if (n[0] == '\0' || dp__path(dir, sizeof(dir), d->root, n) != 0)
        return NULL;
    struct dp_srv tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (dp__meta_load(&tmp, dir) != 0 || (id && id[0] && !cmk_arm_id_equal(tmp.id, id)))
        return NULL;
    srv = dp__srv_add(d, tmp.id, n);
    dp__meta_load(srv, dir);
    return srv;
}

static int load_env(struct dp_srv *srv, struct cmk_err *err)
{
    if (srv->env)
        return 0;
    char path[PATH_MAX];
    dp__path(path, sizeof(path), srv->dir, DP_ENV_FILE);
    return dp_envelope_load(&srv->env, path, srv->dir, err);
}

/* End sessions, close the files (archived first), wipe the DEKs. */
static void close_server(struct dp_srv *srv, const char *message)
{
    dp__backup_stop(srv);
    dp__replica_stop(srv);
    if (srv->d->ep)
        dp_pgwire_terminate(srv->d->ep, srv->name, "57P01", message);
    dp__files_close(srv);
    dp_envelope_lock(srv->env);
}

/* DEKs unwrapped: open the files, start the clocks, accept logins. */
static int open_server(struct dp_srv *srv, struct cmk_err *err)
{
    int rc = dp__files_open(srv, err);
    if (rc != 0) {
        close_server(srv, NULL);
        snprintf(srv->message, sizeof(srv->message), "the server's data cannot be opened: %.400s",
                 err ? err->message : "");
        set_state(srv, DP_SRV_LOCKED, "open failed");
        return rc;
    }
    srv->message[0] = '\0';
    dp__backup_stop(srv);
    dp__replica_stop(srv);
    if (srv->replica)
        dp__replica_start(srv);
    else
        dp__backup_start(srv);
    dp__srv_listen(srv);
    set_state(srv, DP_SRV_OPEN, NULL);
    return 0;
}

static int do_unlock(struct dp_srv *srv, struct cmk_err *err)
{
    int rc = load_env(srv, err);
    if (rc != 0)
        return rc;
    struct dp_keyctx k;
    rc = dp__key_init(srv->d, &k, srv->encryption, dp_envelope_kek_kid(srv->env), srv->identity,
                      err);
    if (rc == 0)
        rc = dp_envelope_unlock(srv->env, &k.kek, err);
    if (rc != 0) {
        cmk_warn("dataplane", "msg=\"unlock failed\" server=%s error=\"%s\"", srv->name,
                 err ? err->message : "");
        if (srv->state == DP_SRV_OPEN) { /* the envelope wiped its DEKs: so must the sessions */
            close_server(srv, "terminating connection because the server's key is not accessible");
            snprintf(srv->message, sizeof(srv->message),
                     "the server's encryption key is not accessible: %.400s",
                     err ? err->message : "");
            set_state(srv, DP_SRV_LOCKED, "unlock failed");
        }
        return rc;
    }
    return open_server(srv, err);
}

/* ---- provision ---- */

/* A copy's source: its directory (live, dropped or geo) and what it knew of its key. */
static int restore_from(struct dp_srv *srv, const char *src_dir, const struct dp_keyctx *nk,
                        cmk_time_t t, struct cmk_err *err)
{
    struct dp_servers *d = srv->d;
    struct dp_srv src;
    memset(&src, 0, sizeof(src));
    if (dp__meta_load(&src, src_dir) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 400, "SourceServerNotFound",
                           "no backups of the source server at %s", src_dir);
    struct dp_srv *live = dp__srv_by_name(d, src.name);
    if (live && strcmp(live->dir, src_dir) == 0 && live->state == DP_SRV_OPEN)
        for (struct dp_file *f = live->files; f; f = f->next) { /* up to now */
            struct cmk_err e;
            cmk_err_clear(&e);
            dp__backup_archive(f, &e);
        }
    /* R13: the source's key must be reachable now, as the source's identity. The source's
     * envelope is unlocked under a scratch folder so that its registration (and wiping) never
     * touches the live source's files. */
    char scratch[PATH_MAX], envpath[PATH_MAX], dstenv[PATH_MAX];
    dp__path(scratch, sizeof(scratch), srv->dir, ".source");
    dp__path(envpath, sizeof(envpath), src_dir, DP_ENV_FILE);
    dp__path(dstenv, sizeof(dstenv), srv->dir, DP_ENV_FILE);
    struct dp_envelope *senv = NULL;
    struct dp_keyctx sk;
    int rc = dp_envelope_load(&senv, envpath, scratch, err);
    if (rc == 0)
        rc = dp__key_init(d, &sk, src.encryption, dp_envelope_kek_kid(senv), src.identity, err);
    if (rc == 0 && (rc = dp_envelope_unlock(senv, &sk.kek, err)) != 0) {
        char why[sizeof(err->message)];
        snprintf(why, sizeof(why), "%s", err->message);
        cmk_err_set(err, rc, 400, "SourceKeyInaccessible",
                    "The data of '%s' cannot be copied: its key is not accessible (%.700s)",
                    src.name, why);
    }
    if (rc == 0)
        rc = dp_envelope_copy(senv, dstenv, srv->dir, &nk->kek, &srv->env, err);
    dp_envelope_free(senv);
    dp__rmtree(scratch);
    if (rc == 0)
        rc = dp__restore_files(d, src_dir, srv->dir, srv->env, t, err);
    if (rc == 0)
        cmk_info("dataplane", "msg=\"restored\" server=%s source=%s", srv->name, src.name);
    return rc;
}

static int provision_copy(struct dp_srv *srv, const struct cp_dp_server *s,
                          const struct dp_keyctx *nk, struct cmk_err *err)
{
    struct dp_servers *d = srv->d;
    char src_name[DP_SRV_NAME_MAX], src_dir[PATH_MAX];
    dp__name_of_id(s->source_id, src_name, sizeof(src_name));
    cmk_time_t now = cmk_clock_now(&d->rt->clock);
    cmk_time_t t = s->point_in_time > 0 && s->point_in_time < now ? s->point_in_time : now;
    const char *mode = s->create_mode;
    if (strcasecmp(mode, "GeoRestore") == 0) {
        /* the geo copy lives in the paired region: the new server's region */
        int w =
            snprintf(src_dir, sizeof(src_dir), "%s/%s/%s", d->geo_root, srv->location, src_name);
        if (w < 0 || (size_t)w >= sizeof(src_dir))
            return CMK_ELIMIT;
    } else if (strcasecmp(mode, "ReviveDropped") == 0) {
        dp__path(src_dir, sizeof(src_dir), d->dropped, src_name);
    } else {
        dp__path(src_dir, sizeof(src_dir), d->root, src_name);
    }
    return restore_from(srv, src_dir, nk, t, err);
}

static int provision(void *data, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct dp_servers *d = data;
    struct dp_srv *srv = find(d, s->id, s->name);
    if (srv && srv->id[0] && !cmk_arm_id_equal(srv->id, s->id))
        return cmk_err_set(err, CMK_EEXIST, 409, "ServerNameAlreadyExists",
                           "the data of another server named '%s' exists", s->name);
    if (srv) { /* provisioned before (an operation retried after a restart) */
        dp__meta_from_cp(srv, s);
        if (srv->state == DP_SRV_OPEN)
            return 0;
        return do_unlock(srv, err);
    }
    srv = dp__srv_add(d, s->id, s->name);
    dp__meta_from_cp(srv, s);
    srv->replica = strcasecmp(s->create_mode, "Replica") == 0;
    dp__rmtree(srv->dir); /* what an interrupted provision left (no server.json yet) */
    int rc = dp__mkdirs(srv->dir) == 0 ? 0
                                       : cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                                                     "cannot create %s", srv->dir);
    struct dp_keyctx k;
    if (rc == 0)
        rc = dp__key_init(d, &k, srv->encryption, s->key_kid[0] ? s->key_kid : s->key_uri,
                          srv->identity, err);
    if (rc == 0)
        snprintf(srv->kid, sizeof(srv->kid), "%s", k.kid);
    if (rc == 0) {
        const char *mode = s->create_mode;
        if (srv->replica) {
            rc = dp__replica_provision(srv, err);
        } else if (strcasecmp(mode, "PointInTimeRestore") == 0 ||
                   strcasecmp(mode, "GeoRestore") == 0 || strcasecmp(mode, "ReviveDropped") == 0) {
            rc = provision_copy(srv, s, &k, err);
        } else {
            char envpath[PATH_MAX];
            const char *files[] = {"postgres.db"};
            dp__path(envpath, sizeof(envpath), srv->dir, DP_ENV_FILE);
            rc = dp_envelope_create(&srv->env, envpath, srv->dir, files, 1, &k.kek, err);
        }
    }
    if (rc == 0)
        rc = open_server(srv, err);
    if (rc == 0 && !srv->replica)
        rc = dp__backup_run(srv, 1, err); /* the first full backup */
    if (rc != 0) {
        cmk_warn("dataplane", "msg=\"provision failed\" server=%s mode=%s error=\"%s\"", srv->name,
                 s->create_mode, err ? err->message : "");
        close_server(srv, NULL);
        if (d->ep)
            dp_pgwire_unlisten(d->ep, srv->name);
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", srv->dir);
        dp__srv_remove(d, srv);
        dp__rmtree(dir);
        return rc;
    }
    cmk_info("dataplane", "msg=\"provisioned\" server=%s mode=%s kek=%s port=%d", srv->name,
             s->create_mode[0] ? s->create_mode : "Create", srv->kid, srv->port);
    return 0;
}

/* ---- unlock, lock, rewrap ---- */

static int unlock(void *data, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct dp_servers *d = data;
    struct dp_srv *srv = find(d, s->id, s->name);
    if (srv == NULL)
        return provision(data, s, err); /* the control plane knows more than the disk */
    dp__meta_from_cp(srv, s);
    return do_unlock(srv, err);
}

static void lock(void *data, const char *server_id, const char *cause)
{
    struct dp_servers *d = data;
    struct dp_srv *srv = find(d, server_id, NULL);
    if (srv == NULL)
        return;
    char msg[sizeof(srv->message)];
    if (strcmp(srv->encryption, "AzureKeyVault") == 0)
        snprintf(msg, sizeof(msg), "the server's customer-managed key is not accessible: %.200s",
                 srv->key_uri);
    else
        snprintf(msg, sizeof(msg), "the server's encryption key is not accessible");
    char kill[sizeof(msg) + 64];
    snprintf(kill, sizeof(kill), "terminating connection because %s", msg);
    close_server(srv, kill);
    /* the monitor's cause already says "the server's customer-managed key is not accessible:"
     * before the sentence naming the problem: keep the sentence only */
    static const char prefix[] = "the server's customer-managed key is not accessible: ";
    if (cause && strncmp(cause, prefix, sizeof(prefix) - 1) == 0)
        cause += sizeof(prefix) - 1;
    if (cause && cause[0]) {
        /* the sentence, without the vault's own message quoted after "'...': " */
        const char *cut = strstr(cause, "': ");
        int len = cut ? (int)(cut - cause) + 1 : (int)strlen(cause);
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof(msg) - l, " (%.*s)", len > 400 ? 400 : len, cause);
    }
    snprintf(srv->message, sizeof(srv->message), "%s", msg);
    set_state(srv, DP_SRV_LOCKED, cause);
    cmk_info("dataplane", "msg=\"locked: DEKs wiped\" server=%s", srv->name);
}

static int rewrap(void *data, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct dp_servers *d = data;
    struct dp_srv *srv = find(d, s->id, s->name);
    if (srv == NULL)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServerNotFound", "no data for %s", s->name);
    char old_identity[DP_URI_MAX];
    snprintf(old_identity, sizeof(old_identity), "%s", srv->identity);
    dp__meta_from_cp(srv, s);
    int rc = load_env(srv, err);
    if (rc != 0)
        return rc;
    struct dp_keyctx nk, ok;
    rc = dp__key_init(d, &nk, srv->encryption, s->key_kid[0] ? s->key_kid : s->key_uri,
                      srv->identity, err);
    if (rc != 0)
        return rc;
    int relock = 0;
    if (!dp_envelope_unlocked(srv->env)) {
        /* locked (the key was lost): unwrap with the previous key, as the new identity or the
         * old one, to wrap with the new key */
        const char *ids[2] = {srv->identity, old_identity};
        rc = CMK_EDENIED;
        for (int i = 0; i < 2 && rc != 0; i++) {
            cmk_err_clear(err);
            rc = dp__key_init(d, &ok, srv->encryption, dp_envelope_kek_kid(srv->env), ids[i], err);
            if (rc == 0)
                rc = dp_envelope_unlock(srv->env, &ok.kek, err);
        }
        if (rc != 0) {
            char why[sizeof(err->message)];
            snprintf(why, sizeof(why), "%s", err->message);
            return cmk_err_set(err, rc, 400, "AzureKeyVaultKeyInaccessible",
                               "The data encryption keys of '%s' cannot be re-wrapped: the "
                               "previous key '%.300s' is not accessible (%.500s)",
                               srv->name, dp_envelope_kek_kid(srv->env), why);
        }
        relock = srv->state != DP_SRV_OPEN;
    }
    rc = dp_envelope_rewrap(srv->env, &nk.kek, err);
    if (relock)
        dp_envelope_lock(srv->env);
    if (rc != 0)
        return rc;
    snprintf(srv->kid, sizeof(srv->kid), "%s", nk.kid);
    dp__meta_save(srv);
    dp__publish(srv, "dataplane.rewrap",
                json_pack("{s:s, s:s}", "server", srv->name, "kid", srv->kid));
    cmk_info("dataplane", "msg=\"DEKs re-wrapped\" server=%s kek=%s", srv->name, srv->kid);
    return 0;
}

/* ---- stop, start, restart, drop ---- */

static int stop(void *data, const char *server_id, struct cmk_err *err)
{
    struct dp_srv *srv = find(data, server_id, NULL);
    (void)err;
    if (srv == NULL)
        return 0;
    close_server(srv, NULL);
    snprintf(srv->message, sizeof(srv->message),
             "the server \"%s\" is stopped: start it to connect", srv->name);
    set_state(srv, DP_SRV_STOPPED, "stopped");
    return 0;
}

static int start(void *data, const struct cp_dp_server *s, struct cmk_err *err)
{
    return unlock(data, s, err);
}

static int restart(void *data, const struct cp_dp_server *s, struct cmk_err *err)
{
    struct dp_srv *srv = find(data, s->id, s->name);
    if (srv == NULL || srv->state != DP_SRV_OPEN)
        return unlock(data, s, err);
    dp__meta_from_cp(srv, s);
    if (srv->d->ep)
        dp_pgwire_terminate(srv->d->ep, srv->name, "57P01", NULL);
    dp__files_close(srv); /* the DEKs stay: the engine restarts, the key is not asked again */
    return open_server(srv, err);
}

static int drop(void *data, const char *server_id, struct cmk_err *err)
{
    struct dp_servers *d = data;
    struct dp_srv *srv = find(d, server_id, NULL);
    (void)err;
    if (srv == NULL)
        return 0;
    close_server(srv, NULL);
    if (d->ep)
        dp_pgwire_unlisten(d->ep, srv->name);
    /* The directory (envelope and backups, still sealed) is kept for ReviveDropped; the live
     * database files go. */
    char to[PATH_MAX];
    dp__path(to, sizeof(to), d->dropped, srv->name);
    dp__mkdirs(d->dropped);
    dp__rmtree(to);
    snprintf(srv->message, sizeof(srv->message), "server \"%s\" does not exist", srv->name);
    srv->state = DP_SRV_STOPPED;
    dp__meta_save(srv);
    for (struct dp_file *f = srv->files; f; f = f->next) {
        char p[PATH_MAX + 8];
        static const char *const ext[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(p, sizeof(p), "%s%s", f->path, ext[i]);
            unlink(p);
        }
    }
    if (rename(srv->dir, to) != 0)
        dp__rmtree(srv->dir);
    dp__publish(srv, "dataplane.server",
                json_pack("{s:s, s:s, s:s}", "server", srv->name, "state", "dropped", "cause", ""));
    cmk_info("dataplane", "msg=\"dropped\" server=%s", srv->name);
    dp__srv_remove(d, srv);
    return 0;
}

/* ---- what the monitor and health read ---- */

static int wrapped_dek(void *data, const char *server_id, char **value, char kid[512], char alg[32])
{
    struct dp_srv *srv = find(data, server_id, NULL);
    *value = NULL;
    if (srv == NULL || strcmp(srv->encryption, "AzureKeyVault") != 0)
        return CMK_ENOTFOUND;
    char path[PATH_MAX];
    dp__path(path, sizeof(path), srv->dir, DP_ENV_FILE);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *w = json_object_get(json_array_get(json_object_get(j, "deks"), 0), "wrapped");
    const char *v = json_string_value(json_object_get(w, "value"));
    const char *k = json_string_value(json_object_get(w, "kid"));
    const char *a = json_string_value(json_object_get(json_object_get(j, "kek"), "alg"));
    int rc = CMK_ENOTFOUND;
    if (v && k) {
        *value = cmk_xstrdup(v);
        snprintf(kid, 512, "%s", k);
        snprintf(alg, 32, "%s", a ? a : DP_KEK_ALG);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

static uint64_t denied_connections(void *data, const char *server_id)
{
    struct dp_srv *srv = find(data, server_id, NULL);
    return srv ? srv->denied : 0;
}

static int set_password(void *data, const char *server_id, const char *login, const char *verifier,
                        struct cmk_err *err)
{
    struct dp_srv *srv = find(data, server_id, NULL);
    if (srv == NULL)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServerNotFound", "no data for %s", server_id);
    snprintf(srv->admin, sizeof(srv->admin), "%s", login ? login : "");
    snprintf(srv->verifier, sizeof(srv->verifier), "%s", verifier ? verifier : "");
    return dp__meta_save(srv);
}

/* The endpoint lists databases in _cmk_databases of "postgres" (pgglobal.c): an ARM database
 * must be there for clients to connect to it. */
static int register_db(struct dp_srv *srv, const char *db, int add)
{
    struct dp_file *f = dp__file_find(srv, "postgres.db");
    if (f == NULL || f->svc == NULL)
        return CMK_EUNAVAIL;
    sqlite3_exec(f->svc,
                 "CREATE TABLE IF NOT EXISTS _cmk_databases(id INTEGER PRIMARY KEY, name TEXT NOT "
                 "NULL UNIQUE, owner TEXT NOT NULL)",
                 NULL, NULL, NULL);
    sqlite3_stmt *st = NULL;
    const char *sql = add ? "INSERT OR IGNORE INTO _cmk_databases(name, owner) VALUES (?1, ?2)"
                          : "DELETE FROM _cmk_databases WHERE name = ?1";
    if (sqlite3_prepare_v2(f->svc, sql, -1, &st, NULL) != SQLITE_OK)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, db, -1, SQLITE_TRANSIENT);
    if (add)
        sqlite3_bind_text(st, 2, srv->admin, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_finalize(st);
    return rc;
}

static int database_create(void *data, const char *server_id, const char *db, struct cmk_err *err)
{
    struct dp_srv *srv = find(data, server_id, NULL);
    if (srv == NULL)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServerNotFound", "no data for %s", server_id);
    if (strcmp(db, "postgres") == 0)
        return 0;
    int rc = dp__db_create(srv, db, err);
    if (rc == 0 && register_db(srv, db, 1) != 0)
        rc = cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                         "cannot record the database '%s'", db);
    return rc;
}

static int database_drop(void *data, const char *server_id, const char *db, struct cmk_err *err)
{
    struct dp_srv *srv = find(data, server_id, NULL);
    if (srv == NULL || strcmp(db, "postgres") == 0)
        return 0;
    if (srv->state == DP_SRV_OPEN)
        register_db(srv, db, 0);
    return dp__db_drop(srv, db, err);
}

void dp_servers_ops(struct dp_servers *d, struct cp_dataplane_ops *ops)
{
    memset(ops, 0, sizeof(*ops));
    ops->version = CP_DATAPLANE_OPS_VERSION;
    ops->data = d;
    ops->provision = provision;
    ops->unlock = unlock;
    ops->lock = lock;
    ops->rewrap = rewrap;
    ops->stop = stop;
    ops->start = start;
    ops->restart = restart;
    ops->drop = drop;
    ops->wrapped_dek = wrapped_dek;
    ops->denied_connections = denied_connections;
    ops->set_password = set_password;
    ops->database_create = database_create;
    ops->database_drop = database_drop;
}
