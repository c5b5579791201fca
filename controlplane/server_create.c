/* server_create.c: a new server's document, for each createMode (Create/Default,
 * PointInTimeRestore, GeoRestore, Replica, ReviveDropped), built in the provider's put callback
 * inside the ARM core's transaction; the create itself is long-running ("postgres.create",
 * server_ops.c) and the server shows Provisioning until it completes.
 *
 * Copies (restore, geo-restore, replica, revive) take the source's version, compute, storage,
 * administrator and, unless the request says otherwise, its identity and data encryption
 * (R13: a copy of a CMK server is encrypted too; it may use another key and identity, which
 * then need their own permissions). A geo-restore lands in the paired region and uses the
 * source's geo-backup key; a replica in another region needs its own key and identity there
 * (R15). Every key is validated as at a plain create (server_validate.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_int.h"

enum mode { M_CREATE, M_PITR, M_GEO, M_REPLICA, M_REVIVE };

static const char *const mode_names[] = {"Create", "PointInTimeRestore", "GeoRestore", "Replica",
                                         "ReviveDropped"};

static int parse_mode(const char *s, enum mode *out, struct cmk_err *err)
{
    if (s[0] == '\0' || strcasecmp(s, "Default") == 0 || strcasecmp(s, "Create") == 0) {
        *out = M_CREATE;
        return 0;
    }
    for (int i = 1; i < 5; i++) {
        if (strcasecmp(s, mode_names[i]) == 0) {
            *out = (enum mode)i;
            return 0;
        }
    }
    return cmk_err_set(err, CMK_EINVAL, 400, "InvalidCreateMode",
                       "The createMode '%.64s' is not valid for a new server: use Create, "
                       "PointInTimeRestore, GeoRestore, Replica or ReviveDropped.",
                       s);
}

static int check_name(const char *n, struct cmk_err *err)
{
    size_t l = strlen(n);
    int ok = l >= 3 && l <= 63 && n[0] != '-' && n[l - 1] != '-';
    for (size_t i = 0; ok && i < l; i++)
        ok = islower((unsigned char)n[i]) || isdigit((unsigned char)n[i]) || n[i] == '-';
    if (!ok)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidServerName",
                           "The server name '%.100s' is not valid: 3 to 63 characters, lowercase "
                           "letters, digits and hyphens, not starting or ending with a hyphen.",
                           n);
    return 0;
}

static const char *minor_of(const char *v)
{
    static const char *const minors[][2] = {{"11", "22"}, {"12", "22"}, {"13", "20"}, {"14", "17"},
                                            {"15", "12"}, {"16", "8"},  {"17", "4"}};
    for (size_t i = 0; i < sizeof(minors) / sizeof(minors[0]); i++)
        if (strcmp(minors[i][0], v) == 0)
            return minors[i][1];
    return NULL;
}

static int check_admin(const char *login, struct cmk_err *err)
{
    static const char *const reserved[] = {
        "azure_superuser", "azure_pg_admin", "admin", "administrator", "root",
        "guest",           "public",         NULL};
    for (size_t i = 0; reserved[i]; i++)
        if (strcasecmp(login, reserved[i]) == 0)
            goto bad;
    if (strncasecmp(login, "pg_", 3) == 0 || strlen(login) > 63 || login[0] == '\0')
        goto bad;
    return 0;
bad:
    return cmk_err_set(err, CMK_EINVAL, 400, "InvalidAdministratorLogin",
                       "The administrator login '%.64s' is reserved or not valid.", login);
}

/* The backup object of a new server (retention 1-35 days, geo-redundancy create-only). */
static json_t *backup_of(const json_t *in, const json_t *src, struct cmk_err *err)
{
    json_t *days = json_object_get(in, "backupRetentionDays");
    json_int_t d = json_is_integer(days) ? json_integer_value(days)
                   : json_is_integer(json_object_get(src, "backupRetentionDays"))
                       ? json_integer_value(json_object_get(src, "backupRetentionDays"))
                       : 7;
    const char *geo = cp__str(in, "geoRedundantBackup");
    if (days && !json_is_integer(days)) {
        cmk_err_set(err, CMK_EINVAL, 400, "InvalidBackupRetentionDays",
                    "backupRetentionDays must be an integer.");
        return NULL;
    }
    if (d < 1 || d > 35) {
        cmk_err_set(err, CMK_EINVAL, 400, "InvalidBackupRetentionDays",
                    "The backup retention of %lld days is not valid: 1 to 35 days.", (long long)d);
        return NULL;
    }
    if (geo[0] && strcasecmp(geo, "Enabled") && strcasecmp(geo, "Disabled")) {
        cmk_err_set(err, CMK_EINVAL, 400, "InvalidGeoRedundantBackup",
                    "geoRedundantBackup must be 'Enabled' or 'Disabled'.");
        return NULL;
    }
    return json_pack("{s:I, s:s}", "backupRetentionDays", d, "geoRedundantBackup",
                     strcasecmp(geo, "Enabled") == 0 ? "Enabled" : "Disabled");
}

/* The earliest and latest restore points of a source server. */
static void restore_window(struct cp_servers *s, const struct cmk_arm_resource *src, cmk_time_t *lo,
                           cmk_time_t *hi)
{
    json_t *b = json_object_get(json_object_get(src->doc, "properties"), "backup");
    json_t *days = json_object_get(b, "backupRetentionDays");
    *hi = cmk_clock_now(&s->rt->clock);
    *lo = *hi - (json_is_integer(days) ? json_integer_value(days) : 7) * CMK_DAY;
    if (*lo < src->created)
        *lo = src->created;
}

/* Load and check the source of a copy; fills *src (close it). */
static int load_source(struct cp_servers *s, enum mode m, const json_t *props, const char *loc,
                       struct cmk_arm_resource *src, cmk_time_t *pit, struct cmk_err *err)
{
    const char *sid = cp__str(props, "sourceServerResourceId");
    memset(src, 0, sizeof(*src));
    if (sid[0] == '\0')
        return cmk_err_set(err, CMK_EINVAL, 400, "SourceServerResourceIdRequired",
                           "createMode '%s' needs properties.sourceServerResourceId.",
                           mode_names[m]);
    int found = m == M_REVIVE ? cp__dropped_get(s, sid, src) == 0
                              : cmk_arm_resource_get(s->arm, sid, src, NULL) == 0 &&
                                    strcasecmp(src->type, CP_SERVER_TYPE) == 0;
    if (!found) {
        cmk_arm_resource_close(src);
        return cmk_err_set(
            err, CMK_ENOTFOUND, 400, "SourceServerNotFound", "The source server '%.400s' %s.", sid,
            m == M_REVIVE ? "was not dropped recently (or cannot be revived)" : "does not exist");
    }
    json_t *sprops = json_object_get(src->doc, "properties");
    const char *pts = cp__str(props, "pointInTimeUTC");
    cmk_time_t lo, hi;
    restore_window(s, src, &lo, &hi);
    *pit = hi;
    int rc = 0;
    if (m == M_PITR) {
        char a[40], b[40];
        cmk_time_format(lo, a, sizeof(a));
        cmk_time_format(hi, b, sizeof(b));
        if (pts[0] == '\0' || cmk_time_parse(pts, pit) != 0)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "InvalidRestorePointInTime",
                             "createMode 'PointInTimeRestore' needs properties.pointInTimeUTC "
                             "(ISO 8601).");
        else if (*pit < lo || *pit > hi)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "InvalidRestorePointInTime",
                             "The restore point '%.40s' is outside the retention window of "
                             "server '%s': from %s to %s.",
                             pts, src->name, a, b);
        else if (strcasecmp(src->location, loc) != 0)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "InvalidRestoreLocation",
                             "A point-in-time restore is made in the source's region '%s' (not "
                             "'%s'); use GeoRestore for the paired region.",
                             src->location, loc);
    } else if (m == M_GEO) {
        const char *pair = cmk_arm_location_pair(src->location);
        if (strcasecmp(cp__str(json_object_get(sprops, "backup"), "geoRedundantBackup"),
                       "Enabled") != 0)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "GeoRedundantBackupNotEnabled",
                             "The server '%s' has no geo-redundant backup: a geo-restore needs "
                             "backup.geoRedundantBackup 'Enabled' on the source.",
                             src->name);
        else if (pair == NULL || strcasecmp(pair, loc) != 0)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "InvalidGeoRestoreLocation",
                             "A geo-restore of '%s' (in '%s') is made in its paired region "
                             "'%s', not '%s'.",
                             src->name, src->location, pair ? pair : "none", loc);
    } else if (m == M_REPLICA) {
        const char *role = cp__str(sprops, "replicationRole");
        if (strcasecmp(role, "AsyncReplica") == 0 || strcasecmp(role, "GeoAsyncReplica") == 0)
            rc = cmk_err_set(err, CMK_EINVAL, 400, "ReplicaOfReplicaNotSupported",
                             "The server '%s' is a read replica; create replicas of its "
                             "primary instead.",
                             src->name);
        else if (strcmp(cp__str(sprops, "state"), "Ready") != 0)
            rc = cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsNotReady",
                             "A read replica can only be created from a Ready server. Server "
                             "Name = %s, Current Server State = %s",
                             src->name, cp__str(sprops, "state"));
    }
    if (rc != 0)
        cmk_arm_resource_close(src);
    return rc;
}

/* The data encryption of a copy when the request gives none (R13, R15). */
static json_t *inherit_encryption(enum mode m, const json_t *sde, int same_region,
                                  struct cmk_err *err)
{
    if (strcmp(cp__str(sde, "type"), "AzureKeyVault") != 0)
        return json_pack("{s:s}", "type", "SystemManaged");
    if (m == M_GEO)
        return json_pack("{s:s, s:s, s:s}", "type", "AzureKeyVault", "primaryKeyURI",
                         cp__str(sde, "geoBackupKeyURI"), "primaryUserAssignedIdentityId",
                         cp__str(sde, "geoBackupUserAssignedIdentityId"));
    if (m == M_REPLICA && !same_region) {
        cmk_err_set(err, CMK_EINVAL, 400, "CMKInvalidEncryptionParameters",
                    "The input server encryption parameters are invalid. A read replica of a "
                    "customer-managed key server in another region needs its own key and user "
                    "assigned identity in the replica's region (dataEncryption and identity).");
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s}", "type", "AzureKeyVault", "primaryKeyURI",
                     cp__str(sde, "primaryKeyURI"), "primaryUserAssignedIdentityId",
                     cp__str(sde, "primaryUserAssignedIdentityId"));
}

static void copy_if(json_t *dst, const char *key, const json_t *a, const json_t *b)
{
    json_t *v = json_object_get(a, key);
    if (v == NULL || json_is_null(v))
        v = json_object_get(b, key);
    if (v && !json_is_null(v))
        json_object_set_new(dst, key, json_deep_copy(v));
}

int cp__server_create(struct cmk_arm_call *call, json_t *body, json_t **out, struct cmk_err *err)
{
    struct cp_servers *s = cp__servers_of_arm(call->arm);
    if (s == NULL)
        return cp__unavailable(err);
    const char *name = cmk_arm_id_name(&call->rid);
    json_t *in = json_object_get(body, "properties");
    if (in != NULL && !json_is_object(in))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "properties must be an object.");
    enum mode m = M_CREATE;
    int rc = check_name(name, err);
    if (rc == 0)
        rc = parse_mode(cp__str(in, "createMode"), &m, err);
    if (rc != 0)
        return rc;
    struct cmk_arm_resource other;
    if (cmk_arm_resource_find(s->arm, CP_SERVER_TYPE, name, &other) == 0) {
        cmk_arm_resource_close(&other);
        return cmk_err_set(err, CMK_EEXIST, 409, "ServerNameAlreadyExists",
                           "The server name '%s' is already in use: server names are DNS names "
                           "(%s.postgres.database.azure.com).",
                           name, name);
    }
    json_t *tags = json_object_get(body, "tags");
    const char *pname = cp__str(tags, "cmksim-profile");
    const struct cp_profile *prof = pname[0] ? cp_servers_profile(s, pname) : NULL;
    if (pname[0] && prof == NULL)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTimingProfile",
                           "The tag cmksim-profile names the timing profile '%.32s', which does "
                           "not exist.",
                           pname);
    if (prof == NULL)
        prof = cp_servers_profile(s, NULL);

    struct cmk_arm_resource src;
    memset(&src, 0, sizeof(src));
    cmk_time_t pit = 0;
    json_t *sprops = NULL, *doc = json_object(), *priv = json_object(), *props = json_object();
    json_t *identity = NULL, *de = NULL, *backup = NULL;
    if (m != M_CREATE) {
        if ((rc = load_source(s, m, in, call->location, &src, &pit, err)) != 0)
            goto fail;
        sprops = json_object_get(src.doc, "properties");
    }
    /* Engine, administrator, compute, storage. */
    const char *version = m == M_CREATE ? cp__str(in, "version") : cp__str(sprops, "version");
    if (version[0] == '\0')
        version = "16";
    if (minor_of(version) == NULL) {
        rc = cmk_err_set(err, CMK_EINVAL, 400, "InvalidServerVersion",
                         "The PostgreSQL version '%.16s' is not supported (11 to 17).", version);
        goto fail;
    }
    json_object_set_new(props, "version", json_string(version));
    json_object_set_new(props, "minorVersion", json_string(minor_of(version)));
    if (m == M_CREATE) {
        const char *login = cp__str(in, "administratorLogin");
        const char *pw = cp__str(in, "administratorLoginPassword");
        if (login[0] && (rc = check_admin(login, err)) != 0)
            goto fail;
        if (login[0] && pw[0] == '\0') {
            rc = cmk_err_set(err, CMK_EINVAL, 400, "AdministratorLoginPasswordRequired",
                             "administratorLoginPassword is required with administratorLogin.");
            goto fail;
        }
        if (login[0]) {
            char *verifier = cp__scram_verifier(pw);
            json_object_set_new(props, "administratorLogin", json_string(login));
            json_object_set_new(priv, "adminVerifier", json_string(verifier ? verifier : ""));
            free(verifier);
        }
    } else {
        copy_if(props, "administratorLogin", sprops, NULL);
        copy_if(priv, "adminVerifier", json_object_get(src.doc, SRV_PRIV), NULL);
        json_object_set_new(props, "sourceServerResourceId", json_string(src.id));
    }
    json_t *sku = json_object_get(body, "sku");
    if (json_is_object(sku))
        json_object_set_new(doc, "sku", json_deep_copy(sku));
    else if (json_is_object(json_object_get(src.doc, "sku")))
        json_object_set_new(doc, "sku", json_deep_copy(json_object_get(src.doc, "sku")));
    else
        json_object_set_new(
            doc, "sku",
            json_pack("{s:s, s:s}", "name", "Standard_D2ds_v4", "tier", "GeneralPurpose"));
    json_t *storage = json_object();
    copy_if(storage, "storageSizeGB", json_object_get(in, "storage"),
            json_object_get(sprops, "storage"));
    if (json_object_get(storage, "storageSizeGB") == NULL)
        json_object_set_new(storage, "storageSizeGB", json_integer(128));
    json_object_set_new(storage, "autoGrow", json_string("Disabled"));
    json_object_set_new(storage, "tier", json_string("P10"));
    json_object_set_new(props, "storage", storage);
    json_t *auth = json_is_object(json_object_get(in, "authConfig"))
                       ? json_deep_copy(json_object_get(in, "authConfig"))
                       : json_object();
    if (json_object_get(auth, "activeDirectoryAuth") == NULL)
        json_object_set_new(auth, "activeDirectoryAuth", json_string("Disabled"));
    if (json_object_get(auth, "passwordAuth") == NULL)
        json_object_set_new(auth, "passwordAuth", json_string("Enabled"));
    json_object_set_new(props, "authConfig", auth);
    if ((backup = backup_of(json_object_get(in, "backup"),
                            m == M_CREATE ? NULL : json_object_get(sprops, "backup"), err)) ==
        NULL) {
        rc = err->rc ? err->rc : CMK_EINVAL;
        goto fail;
    }
    json_object_set(props, "backup", backup);

    /* Identity and data encryption. */
    json_t *bid = json_object_get(body, "identity");
    if (bid == NULL && m != M_CREATE)
        bid = json_object_get(src.doc, "identity");
    if ((identity = cp__identity_map(s, bid, err)) == NULL) {
        rc = err->rc ? err->rc : CMK_EINVAL;
        goto fail;
    }
    json_object_set(doc, "identity", identity);
    de = json_object_get(in, "dataEncryption");
    if (de && !json_is_null(de))
        de = json_deep_copy(de);
    else if (m != M_CREATE && (de = inherit_encryption(
                                   m, json_object_get(sprops, "dataEncryption"),
                                   strcasecmp(src.location, call->location) == 0, err)) == NULL) {
        rc = err->rc ? err->rc : CMK_EINVAL;
        goto fail;
    } else if (de == NULL || json_is_null(de)) {
        de = json_pack("{s:s}", "type", "SystemManaged");
    }
    if (!json_is_object(de)) {
        rc = cmk_err_set(err, CMK_EINVAL, 400, "CMKInvalidEncryptionParameters",
                         "The input server encryption parameters are invalid. dataEncryption "
                         "must be an object.");
        goto fail;
    }
    if (cp__str(de, "type")[0] == '\0')
        json_object_set_new(
            de, "type",
            json_string(cp__str(de, "primaryKeyURI")[0] ? "AzureKeyVault" : "SystemManaged"));
    struct cp_validate_ctx ctx = {
        .server_name = name,
        .location = call->location,
        .tenant = call->tenant,
        .identities = json_object_get(identity, "userAssignedIdentities"),
        .profile = prof,
    };
    int geo = strcmp(cp__str(backup, "geoRedundantBackup"), "Enabled") == 0;
    if ((rc = cp__validate_encryption(s, &ctx, de, geo, m == M_REPLICA, priv, err)) != 0)
        goto fail;
    json_object_del(de, "primaryEncryptionKeyStatus");
    json_object_del(de, "geoBackupEncryptionKeyStatus");
    if (strcmp(cp__str(de, "type"), "AzureKeyVault") == 0) {
        json_object_set_new(de, "primaryEncryptionKeyStatus", json_string("Valid"));
        if (geo)
            json_object_set_new(de, "geoBackupEncryptionKeyStatus", json_string("Valid"));
    }
    json_object_set(props, "dataEncryption", de);

    /* The rest of what the service shows. */
    json_t *net = json_object_get(in, "network");
    json_object_set_new(props, "network",
                        json_is_object(net) ? json_deep_copy(net)
                                            : json_pack("{s:s}", "publicNetworkAccess", "Enabled"));
    json_t *np = json_object_get(props, "network");
    if (json_object_get(np, "publicNetworkAccess") == NULL)
        json_object_set_new(
            np, "publicNetworkAccess",
            json_string(cp__str(np, "delegatedSubnetResourceId")[0] ? "Disabled" : "Enabled"));
    json_object_set_new(props, "highAvailability",
                        json_pack("{s:s, s:s}", "mode", "Disabled", "state", "NotEnabled"));
    json_object_set_new(props, "maintenanceWindow",
                        json_pack("{s:s, s:i, s:i, s:i}", "customWindow", "Disabled", "startHour",
                                  0, "startMinute", 0, "dayOfWeek", 0));
    const char *zone = cp__str(in, "availabilityZone");
    json_object_set_new(props, "availabilityZone", json_string(zone[0] ? zone : "1"));
    json_object_set_new(props, "replicationRole",
                        json_string(m != M_REPLICA ? "None"
                                    : strcasecmp(src.location, call->location) == 0
                                        ? "AsyncReplica"
                                        : "GeoAsyncReplica"));
    json_object_set_new(props, "replicaCapacity", json_integer(m == M_REPLICA ? 0 : 5));
    json_object_set_new(props, "state", json_string("Provisioning"));
    json_object_set_new(priv, "createMode", json_string(mode_names[m]));
    if (m == M_PITR || m == M_GEO)
        json_object_set_new(priv, "pointInTime", json_integer(pit));
    if (pname[0])
        json_object_set_new(priv, "profile", json_string(prof->name));

    json_object_set_new(doc, "location", json_string(call->location));
    if (json_is_object(tags))
        json_object_set_new(doc, "tags", json_deep_copy(tags));
    json_object_set(doc, "properties", props);
    json_object_set(doc, SRV_PRIV, priv);
    cmk_time_t delay = m == M_CREATE    ? prof->op_create
                       : m == M_REPLICA ? prof->op_replica
                                        : prof->op_restore;
    json_t *data = json_pack("{s:s}", "mode", mode_names[m]);
    rc = cmk_arm_op_start(call, "postgres.create", delay, data, 0, err);
    json_decref(data);
    if (rc != 0)
        goto fail;
    *out = json_incref(doc);
fail:
    cmk_arm_resource_close(&src);
    json_decref(identity);
    json_decref(de);
    json_decref(backup);
    json_decref(props);
    json_decref(priv);
    json_decref(doc);
    return rc;
}
