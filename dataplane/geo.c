/* geo.c: geo-redundant backups: a copy of a server's backups in its paired region.
 *
 * DATA/geo/PAIRED-REGION/NAME holds the same backup files (sealed under the server's DEKs), an
 * envelope with the same DEKs wrapped by the geo-backup key (through its vault, as the geo-backup
 * identity: R15), and server.json naming that key and identity. It is brought up to date after
 * each backup tick; the copy lags the primary by up to DP_ARCHIVE_PERIOD. A GeoRestore rebuilds
 * a server from it with the geo-backup key (server_ops.c), so losing that key makes geo-restore
 * fail while the primary, whose own key is fine, stays Ready.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server_int.h"

int dp__geo_dir(struct dp_servers *d, const char *location, const char *name, char *out, size_t n)
{
    const char *pair = cmk_arm_location_pair(location);
    if (pair == NULL)
        return CMK_ENOTFOUND;
    int w = snprintf(out, n, "%s/%s/%s", d->geo_root, pair, name);
    return w < 0 || (size_t)w >= n ? CMK_ELIMIT : 0;
}

int dp__geo_enabled(struct dp_srv *srv)
{
    json_t *doc = dp__arm_doc(srv->d, srv->id);
    const char *geo = json_string_value(json_object_get(
        json_object_get(json_object_get(doc, "properties"), "backup"), "geoRedundantBackup"));
    int on = geo && strcasecmp(geo, "Enabled") == 0;
    json_decref(doc);
    return on;
}

/* 1 when the geo envelope at path covers exactly the files of env. */
static int envelope_current(const char *path, const struct dp_envelope *env)
{
    json_t *j = json_load_file(path, 0, NULL);
    json_t *deks = json_object_get(j, "deks");
    int ok = json_is_array(deks) && json_array_size(deks) == dp_envelope_count(env);
    for (size_t i = 0; ok && i < json_array_size(deks); i++) {
        const char *f = json_string_value(json_object_get(json_array_get(deks, i), "file"));
        const char *id = json_string_value(json_object_get(json_array_get(deks, i), "id"));
        const char *mine = f ? dp_envelope_dek_id(env, f) : NULL;
        ok = mine && id && strcmp(mine, id) == 0;
    }
    json_decref(j);
    return ok;
}

static int write_envelope(struct dp_srv *srv, const char *gdir, struct dp_keyctx *gk,
                          struct cmk_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    dp__path(path, sizeof(path), gdir, DP_ENV_FILE);
    if (envelope_current(path, srv->env))
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    unlink(tmp);
    struct dp_envelope *genv = NULL;
    int rc = dp_envelope_copy(srv->env, tmp, gdir, &gk->kek, &genv, err);
    dp_envelope_free(genv); /* wipes the copies the VFS registry got for gdir */
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cmk_err_set(err, CMK_EIO, 500, "GeoBackupFailed", "cannot write %s", path);
    unlink(tmp);
    return rc;
}

static int is_json(const char *n)
{
    size_t l = strlen(n);
    return l > 5 && strcmp(n + l - 5, ".json") == 0;
}

/* Make dst hold what src holds (backup files never change once written): data files first,
 * their .json descriptions after, so a half-copied backup is never listed. */
static void mirror(const char *src, const char *dst)
{
    dp__mkdirs(dst);
    char a[PATH_MAX + 300], b[PATH_MAX + 300];
    for (int pass = 0; pass < 2; pass++) {
        DIR *dh = opendir(src);
        if (dh == NULL)
            return;
        struct dirent *de;
        while ((de = readdir(dh)) != NULL) {
            const char *n = de->d_name;
            if (n[0] == '.' || strcmp(n, "state.json") == 0 || strstr(n, ".tmp") ||
                is_json(n) != pass)
                continue;
            dp__pathf(a, sizeof(a), "%s/%s", src, n);
            dp__pathf(b, sizeof(b), "%s/%s", dst, n);
            struct stat st;
            if (stat(b, &st) == 0)
                continue;
            if (dp__copy_file(a, b) != 0)
                cmk_warn("dataplane", "msg=\"geo copy failed\" file=%s", a);
        }
        closedir(dh);
    }
    DIR *dh = opendir(dst); /* pruned at the source: pruned here */
    if (dh == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        dp__pathf(a, sizeof(a), "%s/%s", src, de->d_name);
        dp__pathf(b, sizeof(b), "%s/%s", dst, de->d_name);
        struct stat st;
        if (stat(a, &st) != 0)
            unlink(b);
    }
    closedir(dh);
}

int dp__geo_sync(struct dp_srv *srv, struct cmk_err *err)
{
    struct dp_servers *d = srv->d;
    char gdir[PATH_MAX];
    if (dp__geo_dir(d, srv->location, srv->name, gdir, sizeof(gdir)) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 400, "InvalidGeoRestoreLocation",
                           "the region '%s' has no pair", srv->location);
    if (!dp_envelope_unlocked(srv->env))
        return cmk_err_set(err, CMK_EUNAVAIL, 409, "ServerNotOpen", "%s", srv->message);
    dp__mkdirs(gdir);
    int cmk = strcmp(srv->encryption, "AzureKeyVault") == 0;
    struct dp_keyctx gk;
    int rc = dp__key_init(d, &gk, cmk ? "AzureKeyVault" : "SystemManaged", srv->geo_key_uri,
                          srv->geo_identity, err);
    if (rc == 0)
        rc = write_envelope(srv, gdir, &gk, err);
    if (rc != 0) {
        dp__publish(srv, "dataplane.geoBackup",
                    json_pack("{s:s, s:s, s:s}", "server", srv->name, "status", "Failed", "message",
                              err->message));
        return rc;
    }
    /* what a geo-restore needs to know: the geo key and identity as the key of the copy */
    struct dp_srv *meta = cmk_xcalloc(1, sizeof(*meta));
    *meta = (struct dp_srv){.d = d, .replica = 0, .port = 0};
    snprintf(meta->id, sizeof(meta->id), "%s", srv->id);
    snprintf(meta->name, sizeof(meta->name), "%s", srv->name);
    snprintf(meta->location, sizeof(meta->location), "%s", cmk_arm_location_pair(srv->location));
    snprintf(meta->dir, sizeof(meta->dir), "%s", gdir);
    snprintf(meta->encryption, sizeof(meta->encryption), "%s", srv->encryption);
    snprintf(meta->key_uri, sizeof(meta->key_uri), "%s", srv->geo_key_uri);
    snprintf(meta->kid, sizeof(meta->kid), "%s", gk.kid);
    snprintf(meta->identity, sizeof(meta->identity), "%s", srv->geo_identity);
    snprintf(meta->create_mode, sizeof(meta->create_mode), "GeoBackup");
    meta->state = DP_SRV_STOPPED;
    rc = dp__meta_save(meta);
    free(meta);
    char src[PATH_MAX + 16], dst[PATH_MAX + 16];
    snprintf(src, sizeof(src), "%s/backups", srv->dir);
    snprintf(dst, sizeof(dst), "%s/backups", gdir);
    DIR *dh = opendir(src);
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char a[PATH_MAX + 300], b[PATH_MAX + 300];
            dp__pathf(a, sizeof(a), "%s/%s", src, de->d_name);
            dp__pathf(b, sizeof(b), "%s/%s", dst, de->d_name);
            mirror(a, b);
        }
        closedir(dh);
    }
    dp__publish(
        srv, "dataplane.geoBackup",
        json_pack("{s:s, s:s, s:s}", "server", srv->name, "status", "Succeeded", "copy", gdir));
    return rc;
}
