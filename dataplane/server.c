/* server.c: the data plane of the emulated servers: opening and freeing it, the table of
 * servers, their listeners, and the PostgreSQL endpoint's backend (struct dp_pg_backend), which
 * maps a server name (own port, SNI host label or "user@NAME") to its directory, its
 * administrator and whether it accepts logins, and opens its databases through the encrypting
 * VFS (dp_db_open) with the DEK the envelope registered for each file.
 *
 * A database is a file NAME.db with a DEK of its own: CREATE DATABASE (or an ARM database
 * child) adds a DEK wrapped by the server's key, DROP DATABASE destroys it (and the file's
 * backups, unreadable without it).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"
#include "dataplane/vfs.h"
#include "server_int.h"

/* ---- the table ---- */

void dp__name_of_id(const char *id, char *out, size_t n)
{
    const char *slash = id ? strrchr(id, '/') : NULL;
    const char *name = slash ? slash + 1 : id ? id : "";
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = 0;
}

struct dp_srv *dp__srv_by_name(struct dp_servers *d, const char *name)
{
    for (struct dp_srv *s = d->servers; s; s = s->next)
        if (strcasecmp(s->name, name) == 0)
            return s;
    return NULL;
}

struct dp_srv *dp__srv_by_id(struct dp_servers *d, const char *id)
{
    char name[DP_SRV_NAME_MAX];
    dp__name_of_id(id, name, sizeof(name));
    struct dp_srv *s = dp__srv_by_name(d, name);
    if (s && s->id[0] && !cmk_arm_id_equal(s->id, id))
        return NULL; /* another server of the same name (the old one was dropped) */
    return s;
}

struct dp_srv *dp__srv_add(struct dp_servers *d, const char *id, const char *name)
{
    struct dp_srv *s = cmk_xcalloc(1, sizeof(*s));
    s->d = d;
    snprintf(s->id, sizeof(s->id), "%s", id ? id : "");
    dp__name_of_id(name, s->name, sizeof(s->name));
    dp__path(s->dir, sizeof(s->dir), d->root, s->name);
    snprintf(s->encryption, sizeof(s->encryption), "SystemManaged");
    snprintf(s->message, sizeof(s->message), "the database system is starting up");
    s->next = d->servers;
    d->servers = s;
    return s;
}

void dp__srv_remove(struct dp_servers *d, struct dp_srv *srv)
{
    for (struct dp_srv **pp = &d->servers; *pp; pp = &(*pp)->next)
        if (*pp == srv) {
            *pp = srv->next;
            break;
        }
    dp__backup_stop(srv);
    dp__replica_stop(srv);
    for (struct dp_file *f = srv->files, *next; f; f = next) { /* closed while keys are there */
        next = f->next;
        dp__file_free(f);
    }
    dp_envelope_free(srv->env);
    free(srv);
}

void dp__srv_listen(struct dp_srv *srv)
{
    struct dp_servers *d = srv->d;
    if (!d->listen || d->ep == NULL || dp_pgwire_port(d->ep, srv->name) > 0)
        return;
    struct cmk_err err;
    int bound = 0;
    cmk_err_clear(&err);
    if (srv->port <= 0 ||
        dp_pgwire_listen(d->ep, srv->name, d->addr, srv->port, &bound, &err) != 0) {
        cmk_err_clear(&err);
        if (dp_pgwire_listen(d->ep, srv->name, d->addr, 0, &bound, &err) != 0) {
            cmk_warn("dataplane", "msg=\"cannot listen\" server=%s error=\"%s\"", srv->name,
                     err.message);
            return;
        }
    }
    if (bound != srv->port) {
        srv->port = bound;
        dp__meta_save(srv);
    }
    cmk_info("dataplane", "msg=\"listening\" server=%s port=%d", srv->name, bound);
}

void dp__publish(struct dp_srv *srv, const char *kind, json_t *data)
{
    cmk_events_publish(&srv->d->rt->events, kind, srv->id[0] ? srv->id : srv->name, data);
}

json_t *dp__arm_doc(struct dp_servers *d, const char *id)
{
    struct cmk_arm_resource r;
    if (d->rt->arm == NULL || id == NULL || id[0] == '\0' ||
        cmk_arm_resource_get(d->rt->arm, id, &r, NULL) != 0)
        return NULL;
    json_t *doc = json_incref(r.doc);
    cmk_arm_resource_close(&r);
    return doc;
}

/* ---- databases ---- */

static int db_file(const char *dbname, char *out, size_t n)
{
    int w = snprintf(out, n, "%s.db", dbname);
    return w < 0 || (size_t)w >= n ? CMK_ELIMIT : 0;
}

/* A new database file with a DEK of its own, wrapped by the server's key. */
int dp__db_create(struct dp_srv *srv, const char *dbname, struct cmk_err *err)
{
    char file[DP_ENVELOPE_FILE_MAX];
    if (db_file(dbname, file, sizeof(file)) != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidDatabaseName", "database name too long");
    if (srv->state != DP_SRV_OPEN)
        return cmk_err_set(err, CMK_EUNAVAIL, 409, "ServerNotOpen", "%s", srv->message);
    if (dp_envelope_dek_id(srv->env, file) == NULL) {
        struct dp_keyctx k;
        int rc = dp__key_init(srv->d, &k, srv->encryption, dp_envelope_kek_kid(srv->env),
                              srv->identity, err);
        if (rc == 0)
            rc = dp_envelope_add_file(srv->env, file, &k.kek, err);
        if (rc != 0)
            return rc;
    }
    return dp__files_open(srv, err);
}

/* Destroy a database: its DEK (so its backups too), its files. */
int dp__db_drop(struct dp_srv *srv, const char *dbname, struct cmk_err *err)
{
    char file[DP_ENVELOPE_FILE_MAX];
    if (db_file(dbname, file, sizeof(file)) != 0 || strcmp(file, "postgres.db") == 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidDatabaseName",
                           "the database '%s' cannot be dropped", dbname);
    struct dp_file *f = dp__file_find(srv, file);
    if (f) {
        for (struct dp_file **pp = &srv->files; *pp; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
        dp__file_free(f);
    }
    if (srv->env && dp_envelope_dek_id(srv->env, file)) {
        int rc = dp_envelope_remove_file(srv->env, file, err);
        if (rc != 0)
            return rc;
    }
    char path[PATH_MAX + 8];
    static const char *const ext[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        dp__pathf(path, sizeof(path), "%s/%s%s", srv->dir, file, ext[i]);
        unlink(path);
    }
    dp__backup_forget(srv, file);
    return 0;
}

/* ---- the endpoint's backend ---- */

static int resolve(void *data, const char *name, int port, struct dp_pg_server *out,
                   struct cmk_err *err)
{
    struct dp_servers *d = data;
    (void)port;
    struct dp_srv *srv = dp__srv_by_name(d, name);
    if (srv == NULL) {
        struct cmk_arm_resource r;
        if (d->rt->arm == NULL || cmk_arm_resource_find(d->rt->arm, CP_SERVER_TYPE, name, &r) != 0)
            return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServerNotFound",
                               "server \"%.64s\" does not exist", name);
        cmk_arm_resource_close(&r);
        dp__name_of_id(name, out->name, sizeof(out->name));
        snprintf(out->sqlstate, sizeof(out->sqlstate), "57P03");
        snprintf(out->message, sizeof(out->message), "the database system is starting up");
        return 0;
    }
    snprintf(out->name, sizeof(out->name), "%s", srv->name);
    snprintf(out->dir, sizeof(out->dir), "%s", srv->dir);
    snprintf(out->admin_user, sizeof(out->admin_user), "%s", srv->admin);
    snprintf(out->admin_verifier, sizeof(out->admin_verifier), "%s", srv->verifier);
    out->ready = srv->state == DP_SRV_OPEN;
    snprintf(out->sqlstate, sizeof(out->sqlstate), "57P03");
    snprintf(out->message, sizeof(out->message), "%s", srv->message);
    out->read_only = srv->replica && dp__replica_active(srv);
    out->auth = DP_PG_AUTH_SCRAM;
    out->handle = srv;
    return 0;
}

static int open_db(void *data, void *handle, const char *dir, const char *dbname, int create,
                   int read_only, sqlite3 **out, struct cmk_err *err)
{
    struct dp_srv *srv = handle;
    (void)data;
    (void)dir;
    *out = NULL;
    if (srv == NULL || srv->state != DP_SRV_OPEN)
        return cmk_err_set(err, CMK_EUNAVAIL, 503, "ServerNotOpen", "%s",
                           srv ? srv->message : "the server is not available");
    char file[DP_ENVELOPE_FILE_MAX];
    if (db_file(dbname, file, sizeof(file)) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "NoDatabase", "no database %s", dbname);
    struct dp_file *f = dp__file_find(srv, file);
    if (f == NULL || dp_envelope_dek_id(srv->env, file) == NULL) {
        if (!create || read_only)
            return cmk_err_set(err, CMK_ENOTFOUND, 404, "NoDatabase", "no database %s", dbname);
        int rc = dp__db_create(srv, dbname, err);
        if (rc != 0)
            return rc;
        f = dp__file_find(srv, file);
    }
    return dp__file_connect(f, read_only, out, err);
}

static void close_db(void *data, void *handle, sqlite3 *db)
{
    (void)data;
    (void)handle;
    sqlite3_close_v2(db);
}

static int drop_db(void *data, void *handle, const char *dir, const char *dbname,
                   struct cmk_err *err)
{
    (void)data;
    (void)dir;
    return dp__db_drop(handle, dbname, err);
}

static void denied(void *data, const char *server, const char *sqlstate, const char *message)
{
    struct dp_servers *d = data;
    struct dp_srv *srv = dp__srv_by_name(d, server);
    if (srv == NULL)
        return;
    srv->denied++;
    dp__meta_save(srv);
    dp__publish(srv, "pg.connection",
                json_pack("{s:s, s:s, s:s, s:s, s:I}", "server", srv->name, "outcome", "denied",
                          "sqlstate", sqlstate ? sqlstate : "57P03", "message",
                          message ? message : "", "denied", (json_int_t)srv->denied));
}

/* ---- open / stop / free ---- */

static void load_existing(struct dp_servers *d)
{
    DIR *dh = opendir(d->root);
    if (dh == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char dir[PATH_MAX];
        if (dp__path(dir, sizeof(dir), d->root, de->d_name) != 0)
            continue;
        struct dp_srv tmp;
        memset(&tmp, 0, sizeof(tmp));
        if (dp__meta_load(&tmp, dir) != 0 || dp__srv_by_name(d, de->d_name))
            continue;
        struct dp_srv *srv = dp__srv_add(d, tmp.id, de->d_name);
        char keep_message[sizeof(srv->message)];
        snprintf(keep_message, sizeof(keep_message), "%s", srv->message);
        dp__meta_load(srv, dir);
        /* locked or stopped as it was; otherwise starting until the control plane unlocks it */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/%s", dir, DP_META_FILE);
        json_t *j = json_load_file(path, 0, NULL);
        const char *st = json_string_value(json_object_get(j, "state"));
        if (st && strcmp(st, "locked") == 0)
            srv->state = DP_SRV_LOCKED;
        else if (st && strcmp(st, "stopped") == 0)
            srv->state = DP_SRV_STOPPED;
        else
            snprintf(srv->message, sizeof(srv->message), "%s", keep_message);
        json_decref(j);
        dp__srv_listen(srv);
    }
    closedir(dh);
}

int dp_servers_open(struct dp_servers **out, struct cmk_runtime *rt, struct cp_servers *cp,
                    int listen, const char *addr, int port, struct cmk_err *err)
{
    *out = NULL;
    struct dp_servers *d = cmk_xcalloc(1, sizeof(*d));
    d->rt = rt;
    d->cp = cp;
    d->listen = listen;
    snprintf(d->addr, sizeof(d->addr), "%s", addr ? addr : "127.0.0.1");
    dp__path(d->root, sizeof(d->root), rt->data_dir, "servers");
    dp__path(d->geo_root, sizeof(d->geo_root), rt->data_dir, "geo");
    dp__path(d->dropped, sizeof(d->dropped), rt->data_dir, "dropped");
    int rc = dp__mkdirs(d->root) == 0 ? 0
                                      : cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                                                    "cannot create %s", d->root);
    if (rc == 0)
        rc = cmk_rootkey_load(&d->platform, rt->data_dir, err);
    if (rc == 0 && dp_vfs_register() != SQLITE_OK)
        rc = cmk_err_set(err, CMK_EINTERNAL, 500, "InternalServerError",
                         "cannot register the encrypting VFS");
    if (rc != 0) {
        free(d);
        return rc;
    }
    d->backend.version = DP_PG_BACKEND_VERSION;
    d->backend.data = d;
    d->backend.resolve = resolve;
    d->backend.open_db = open_db;
    d->backend.close_db = close_db;
    d->backend.drop_db = drop_db;
    d->backend.denied = denied;
    static struct cmk_rng rng;
    cmk_runtime_rng(rt, "dataplane.pgwire", &rng);
    struct dp_pgwire_config cfg = {
        .loop = listen ? rt->loop : NULL,
        .clock = &rt->clock,
        .tls = rt->tls ? cmk_tls_server_ctx(rt->tls) : NULL,
        .hosts = &rt->hosts,
        .rng = &rng,
        .backend = &d->backend,
    };
    rc = dp_pgwire_new(&d->ep, &cfg, err);
    if (rc == 0 && listen)
        rc = dp_pgwire_listen_shared(d->ep, d->addr, port, &d->shared_port, err);
    if (rc != 0) {
        dp_servers_free(d);
        return rc;
    }
    load_existing(d);
    *out = d;
    return 0;
}

void dp_servers_stop(struct dp_servers *d)
{
    if (d == NULL)
        return;
    for (struct dp_srv *s = d->servers; s; s = s->next) {
        dp__backup_stop(s);
        dp__replica_stop(s);
        for (struct dp_file *f = s->files; f; f = f->next) {
            struct cmk_err e;
            cmk_err_clear(&e);
            dp__backup_archive(f, &e);
        }
    }
    if (d->ep)
        dp_pgwire_free(d->ep);
    d->ep = NULL;
}

void dp_servers_free(struct dp_servers *d)
{
    if (d == NULL)
        return;
    if (d->ep)
        dp_pgwire_free(d->ep);
    d->ep = NULL;
    while (d->servers) {
        dp__files_close(d->servers);
        dp__srv_remove(d, d->servers);
    }
    cmk_rootkey_wipe(&d->platform);
    free(d);
}

int dp_servers_shared_port(const struct dp_servers *d)
{
    return d ? d->shared_port : 0;
}

int dp_servers_port(const struct dp_servers *d, const char *name)
{
    return d && d->ep ? dp_pgwire_port(d->ep, name) : 0;
}

struct dp_pgwire *dp_servers_endpoint(struct dp_servers *d)
{
    return d->ep;
}
