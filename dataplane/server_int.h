/* server_int.h: what the files of the emulated servers share and nobody else sees.
 *
 *   server.c       open/free, the table of servers, listeners, the endpoint's backend
 *                  (resolve, open_db, close_db, drop_db, denied)
 *   server_ops.c   the control plane's hooks (provision, unlock, lock, rewrap, stop...)
 *   server_meta.c  server.json, directories, opening and closing a server's files
 *   server_keys.c  KEK callbacks: wrapKey/unwrapKey through the router, the platform key
 *   backup.c       WAL archive, full backups, retention
 *   restore.c      a new server's files from backups at a point in time
 *   replica.c      read replicas
 *   geo.c          geo-redundant copies of the backups
 */
#ifndef DP_SERVER_INT_H
#define DP_SERVER_INT_H

#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>

#include "common/arm.h"
#include "common/rootkey.h"
#include "dataplane/envelope.h"
#include "dataplane/server.h"

#define DP_SRV_NAME_MAX 64
#define DP_URI_MAX      512
#define DP_ENV_FILE     "envelope.json"
#define DP_META_FILE    "server.json"
#define DP_PLATFORM_ALG "A256GCM-platform" /* SystemManaged: sealed under the platform key */
#define DP_KEK_ALG      "RSA-OAEP-256"

enum dp_srv_state {
    DP_SRV_CLOSED,  /* known, not unlocked yet (process start, being created) */
    DP_SRV_OPEN,    /* DEKs unwrapped: logins accepted */
    DP_SRV_LOCKED,  /* key access lost: DEKs wiped, logins refused */
    DP_SRV_STOPPED, /* compute stopped */
};

/* The commit that ended at WAL offset end happened at t (point-in-time restore). */
struct dp_mark {
    cmk_time_t t;
    int64_t end;
};

/* One database file of a server. */
struct dp_file {
    struct dp_srv *srv;
    char name[DP_ENVELOPE_FILE_MAX]; /* "postgres.db" */
    char path[PATH_MAX];
    sqlite3 *svc;     /* the data plane's own connection while open: keeps the WAL ours */
    int rawfd;        /* the database file as bytes (full backups), -1 when closed */
    uint64_t commits; /* commits seen by the WAL hook since the process started */
    uint64_t applied; /* replica: commits of the primary's file copied so far */
    int synced;       /* replica: copied at least once since the process started */
    int64_t ckpt_at;  /* WAL frames at which the hook archives and checkpoints */
    /* the WAL archive (backup.c) */
    int archive_loaded;
    uint64_t seq;     /* last backup sequence number of this file */
    int64_t pagesize; /* of the database (WAL frames are 24 + pagesize bytes) */
    uint32_t salt[2]; /* the WAL generation archived so far (0, 0: none) */
    int64_t archived; /* bytes of it archived */
    cmk_time_t last_full;
    struct dp_mark *marks;
    size_t nmarks, capmarks;
    struct dp_file *next;
};

struct dp_srv {
    struct dp_servers *d;
    char id[CMK_ARM_ID_MAX];
    char name[DP_SRV_NAME_MAX];
    char location[64];
    char dir[PATH_MAX];
    char encryption[16]; /* "AzureKeyVault" or "SystemManaged" */
    char key_uri[DP_URI_MAX];
    char kid[DP_URI_MAX]; /* the key version the DEKs are wrapped with */
    char identity[DP_URI_MAX];
    char geo_key_uri[DP_URI_MAX];
    char geo_identity[DP_URI_MAX];
    char admin[DP_PG_NAME_MAX];
    char verifier[DP_PG_VERIFIER_MAX];
    char create_mode[32];
    char source_id[CMK_ARM_ID_MAX];
    int replica; /* a read replica of source_id */
    enum dp_srv_state state;
    char message[512]; /* why logins are refused */
    int port;
    uint64_t denied; /* logins refused, all time */
    struct dp_envelope *env;
    struct dp_file *files;
    struct cmk_timer backup_timer, replica_timer;
    cmk_time_t replayed; /* replica: when the last copy was taken */
    struct dp_srv *next;
};

struct dp_servers {
    struct cmk_runtime *rt;
    struct cp_servers *cp;
    struct dp_pgwire *ep;
    struct dp_pg_backend backend;
    struct cmk_rootkey platform;
    char root[PATH_MAX];     /* DATA/servers */
    char geo_root[PATH_MAX]; /* DATA/geo */
    char dropped[PATH_MAX];  /* DATA/dropped */
    int listen;
    char addr[64];
    int shared_port;
    struct dp_srv *servers;
};

/* ---- the table (server.c) ---- */

struct dp_srv *dp__srv_by_name(struct dp_servers *d, const char *name);
struct dp_srv *dp__srv_by_id(struct dp_servers *d, const char *id);
/* A new (closed) entry for name, linked in the table. */
struct dp_srv *dp__srv_add(struct dp_servers *d, const char *id, const char *name);
/* Unlink and free (files must be closed). */
void dp__srv_remove(struct dp_servers *d, struct dp_srv *srv);
/* Listen on the server's own port (the one in its meta when free). */
void dp__srv_listen(struct dp_srv *srv);
/* The server name of an ARM id (its last segment), lowercase, into out. */
void dp__name_of_id(const char *id, char *out, size_t n);
void dp__publish(struct dp_srv *srv, const char *kind, json_t *data);
/* CREATE DATABASE: file DBNAME.db with a new DEK wrapped by the server's key (no-op if it
 * exists); DROP DATABASE: its DEK destroyed, its files and backups removed. */
int dp__db_create(struct dp_srv *srv, const char *dbname, struct cmk_err *err);
int dp__db_drop(struct dp_srv *srv, const char *dbname, struct cmk_err *err);

/* ---- meta, files (server_meta.c) ---- */

int dp__meta_save(struct dp_srv *srv);
/* Fill srv from dir/server.json; CMK_ENOTFOUND if it has none. */
int dp__meta_load(struct dp_srv *srv, const char *dir);
/* Copy what the control plane says into srv (key, identity, admin...). */
void dp__meta_from_cp(struct dp_srv *srv, const struct cp_dp_server *s);
/* dir/name joined into out; CMK_ELIMIT when too long (out then holds a truncated path). */
int dp__path(char *out, size_t n, const char *dir, const char *name);
/* snprintf for paths: CMK_ELIMIT when the result did not fit. */
int dp__pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int dp__mkdirs(const char *path);
/* rm -rf path (a directory of ours). */
void dp__rmtree(const char *path);
/* Write bytes to path atomically (tmp, fsync, rename), mode 0600. */
int dp__write_file(const char *path, const void *p, size_t n);
/* Copy a file (tmp, fsync, rename). */
int dp__copy_file(const char *from, const char *to);

/* The file entry of name (NULL if none) / a new one. */
struct dp_file *dp__file_find(struct dp_srv *srv, const char *name);
struct dp_file *dp__file_add(struct dp_srv *srv, const char *name);
/* Open the data plane's connection (and raw descriptor) of every file in the envelope. */
int dp__files_open(struct dp_srv *srv, struct cmk_err *err);
/* Close them (the last close checkpoints into the database file). */
void dp__files_close(struct dp_srv *srv);
void dp__file_free(struct dp_file *f);
/* A connection on f as sessions get it: dp_db_open, WAL hook, settings. */
int dp__file_connect(struct dp_file *f, int read_only, sqlite3 **out, struct cmk_err *err);

/* ---- keys (server_keys.c) ---- */

struct dp_keyctx {
    struct dp_servers *d;
    int platform;
    char kid[DP_URI_MAX];
    char identity[DP_URI_MAX];
    struct dp_kek kek;
};
/* A KEK: encryption "SystemManaged" uses the platform key; otherwise the vault key kid (a
 * versionless URI is resolved to its current version) as identity. */
int dp__key_init(struct dp_servers *d, struct dp_keyctx *k, const char *encryption, const char *kid,
                 const char *identity, struct cmk_err *err);
/* The key of srv (its kid and identity). */
int dp__key_of(struct dp_srv *srv, struct dp_keyctx *k, struct cmk_err *err);

/* ---- backups (backup.c) ---- */

/* The WAL hook's bookkeeping of one commit (the time of frames up to nframe). */
void dp__backup_note_commit(struct dp_file *f, int nframe);
/* Archive the committed WAL frames of f not archived yet. */
int dp__backup_archive(struct dp_file *f, struct cmk_err *err);
/* Archive, then checkpoint (the only checkpoints there are: so no frame escapes the archive). */
void dp__backup_checkpoint(struct dp_file *f);
/* A full copy of f (after archiving and, if it can, a checkpoint). */
int dp__backup_full(struct dp_file *f, struct cmk_err *err);
/* The clock's tick: archive every file, a full when due, prune past retention, geo sync. */
int dp__backup_run(struct dp_srv *srv, int full, struct cmk_err *err);
void dp__backup_start(struct dp_srv *srv);
void dp__backup_stop(struct dp_srv *srv);
/* Drop f's archive (its DEK is gone). */
void dp__backup_forget(struct dp_srv *srv, const char *file);

/* ---- restore (restore.c) ---- */

/* Build dst_dir's files from the backups in src_dir/backups as of t: each file of env (the new
 * server's envelope, unlocked, DEKs registered for dst_dir) from its latest full at or before t
 * and the WAL archived after it up to the last commit at or before t. Files without a full by
 * then are dropped from env. */
int dp__restore_files(struct dp_servers *d, const char *src_dir, const char *dst_dir,
                      struct dp_envelope *env, cmk_time_t t, struct cmk_err *err);

/* ---- replicas (replica.c) ---- */

int dp__replica_provision(struct dp_srv *srv, struct cmk_err *err);
int dp__replica_sync(struct dp_srv *srv, struct cmk_err *err);
void dp__replica_start(struct dp_srv *srv);
void dp__replica_stop(struct dp_srv *srv);
/* 1 while srv is still a replica in the control plane (a promoted one is not). */
int dp__replica_active(struct dp_srv *srv);

/* ---- geo-redundant backups (geo.c) ---- */

/* DATA/geo/REGION/NAME for the paired region of location; CMK_ENOTFOUND without a pair. */
int dp__geo_dir(struct dp_servers *d, const char *location, const char *name, char *out, size_t n);
/* 1 when the server's resource has geo-redundant backup enabled. */
int dp__geo_enabled(struct dp_srv *srv);
/* Copy the backups not yet in the geo copy there (and the envelope wrapped by the geo key). */
int dp__geo_sync(struct dp_srv *srv, struct cmk_err *err);

/* ---- the control plane's document ---- */

/* The server's ARM document (properties...) in *doc (new reference); NULL when gone. */
json_t *dp__arm_doc(struct dp_servers *d, const char *id);

#endif
