/* server_update.c: PATCH of a server (and PUT of one that exists), long-running
 * ("postgres.update", completed in server_ops.c).
 *
 * R16: customer-managed key encryption is chosen at creation only. A PATCH that adds it to a
 * SystemManaged server, or removes it from a CMK server, is refused with 400. A PATCH that
 * assigns another key or identity to a CMK server is allowed (also when the server is
 * Inaccessible: assigning a new key is a way back, R11); the new key is validated like at
 * create and the data encryption keys are re-wrapped when the operation completes (R12). A
 * dataEncryption sent unchanged is a "revalidate": the key is checked again at completion.
 * Create-only properties (administratorLogin, geoRedundantBackup) cannot change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_int.h"

static const char *const key_fields[] = {"primaryKeyURI", "primaryUserAssignedIdentityId",
                                         "geoBackupKeyURI", "geoBackupUserAssignedIdentityId",
                                         NULL};

/* R16 and the merged dataEncryption of a CMK server into *merged (new ref, NULL if the patch
 * has none). */
static int encryption_patch(const struct cp_srv *srv, const json_t *pde, json_t **merged,
                            int *changed, struct cmk_err *err)
{
    int cmk = cp__srv_is_cmk(srv);
    *merged = NULL;
    *changed = 0;
    if (pde == NULL)
        return 0;
    const char *ptype = cp__str(pde, "type");
    json_t *pk = json_object_get(pde, "primaryKeyURI");
    int adds = !cmk && (strcasecmp(ptype, "AzureKeyVault") == 0 ||
                        (json_is_string(pk) && json_string_length(pk) > 0));
    int removes = cmk && (json_is_null(pde) || strcasecmp(ptype, "SystemManaged") == 0 ||
                          (pk && (!json_is_string(pk) || json_string_length(pk) == 0)));
    if (adds)
        return cmk_err_set(err, CMK_EINVAL, 400, "CMKCannotBeEnabledOnExistingServer",
                           "Data encryption with a customer-managed key can only be configured "
                           "when server '%s' is created, not as an update. Restore a "
                           "point-in-time backup to a new server with a customer-managed key "
                           "instead.",
                           srv->r.name);
    if (removes)
        return cmk_err_set(err, CMK_EINVAL, 400, "CMKCannotBeDisabled",
                           "Data encryption with a customer-managed key cannot be removed from "
                           "server '%s'. Restore it to a new server without a customer-managed "
                           "key instead.",
                           srv->r.name);
    if (!cmk || !json_is_object(pde))
        return 0;
    json_t *de = json_deep_copy(json_object_get(srv->props, "dataEncryption"));
    for (size_t i = 0; key_fields[i]; i++) {
        json_t *v = json_object_get(pde, key_fields[i]);
        if (v == NULL)
            continue;
        if (!json_is_string(v) && !json_is_null(v)) {
            json_decref(de);
            return cmk_err_set(err, CMK_EINVAL, 400, "CMKInvalidEncryptionParameters",
                               "The input server encryption parameters are invalid. %s must "
                               "be a string.",
                               key_fields[i]);
        }
        const char *nv = json_is_string(v) ? json_string_value(v) : "";
        if (strcasecmp(nv, cp__str(de, key_fields[i])) != 0)
            *changed = 1;
        if (nv[0])
            json_object_set_new(de, key_fields[i], json_string(nv));
        else
            json_object_del(de, key_fields[i]);
    }
    *merged = de;
    return 0;
}

/* identity.userAssignedIdentities merged (a null value removes one). New ref. */
static json_t *identity_patch(const struct cp_srv *srv, const json_t *pid)
{
    json_t *cur = json_object_get(srv->r.doc, "identity");
    if (pid == NULL)
        return json_incref(cur);
    if (json_is_null(pid) || strcasecmp(cp__str(pid, "type"), "None") == 0)
        return json_pack("{s:s}", "type", "None");
    json_t *map = json_deep_copy(json_object_get(cur, "userAssignedIdentities"));
    if (!json_is_object(map)) {
        json_decref(map);
        map = json_object();
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(pid, "userAssignedIdentities"), k, v)
    {
        const char *ek;
        json_t *ev;
        void *tmp;
        json_object_foreach_safe(map, tmp, ek, ev)
        {
            if (cmk_arm_id_equal(ek, k))
                json_object_del(map, ek);
        }
        if (!json_is_null(v))
            json_object_set_new(map, k, json_object());
    }
    return json_pack("{s:s, s:o}", "type", "UserAssigned", "userAssignedIdentities", map);
}

/* The ordinary properties of a patch, applied to props. */
static int apply_plain(struct cp_servers *s, struct cp_srv *srv, const json_t *in,
                       const json_t *patch, struct cmk_err *err)
{
    json_t *props = srv->props;
    const char *login = cp__str(in, "administratorLogin");
    if (login[0] && strcmp(login, cp__str(props, "administratorLogin")) != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "AdministratorLoginCannotBeChanged",
                           "The administrator login of server '%s' cannot be changed.",
                           srv->r.name);
    json_t *bk = json_object_get(in, "backup");
    const char *geo = cp__str(bk, "geoRedundantBackup");
    json_t *cur_backup = cp__obj(props, "backup");
    if (geo[0] && strcasecmp(geo, cp__str(cur_backup, "geoRedundantBackup")) != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "GeoRedundantBackupCannotBeChanged",
                           "geoRedundantBackup can only be chosen when server '%s' is created.",
                           srv->r.name);
    json_t *days = json_object_get(bk, "backupRetentionDays");
    if (days) {
        if (!json_is_integer(days) || json_integer_value(days) < 1 || json_integer_value(days) > 35)
            return cmk_err_set(err, CMK_EINVAL, 400, "InvalidBackupRetentionDays",
                               "The backup retention must be 1 to 35 days.");
        json_object_set(cur_backup, "backupRetentionDays", days);
    }
    json_t *size = json_object_get(json_object_get(in, "storage"), "storageSizeGB");
    if (json_is_integer(size)) {
        json_t *cur = json_object_get(cp__obj(props, "storage"), "storageSizeGB");
        if (json_is_integer(cur) && json_integer_value(size) < json_integer_value(cur))
            return cmk_err_set(err, CMK_EINVAL, 400, "StorageSizeCannotShrink",
                               "Updating storage cannot be smaller than the original storage "
                               "size %lld GiB.",
                               (long long)json_integer_value(cur));
        json_object_set(cp__obj(props, "storage"), "storageSizeGB", size);
    }
    const char *version = cp__str(in, "version");
    if (version[0]) {
        if (atoi(version) < atoi(cp__str(props, "version")) || atoi(version) > 17)
            return cmk_err_set(err, CMK_EINVAL, 400, "InvalidServerVersion",
                               "The version of server '%s' can only be upgraded (11 to 17).",
                               srv->r.name);
        json_object_set_new(props, "version", json_string(version));
    }
    static const char *const objects[] = {"highAvailability", "maintenanceWindow", "authConfig",
                                          "network", NULL};
    for (size_t i = 0; objects[i]; i++) {
        json_t *v = json_object_get(in, objects[i]);
        if (json_is_object(v))
            json_object_update(cp__obj(props, objects[i]), v);
    }
    json_t *sku = json_object_get(patch, "sku");
    if (json_is_object(sku))
        json_object_update(cp__obj(srv->r.doc, "sku"), sku);
    json_t *tags = json_object_get(patch, "tags");
    if (json_is_object(tags))
        json_object_set(srv->r.doc, "tags", tags);
    const char *pw = cp__str(in, "administratorLoginPassword");
    if (pw[0]) {
        char *v = cp__scram_verifier(pw);
        json_object_set_new(srv->priv, "adminVerifier", json_string(v ? v : ""));
        json_object_set_new(srv->priv, "passwordChanged", json_true());
        free(v);
    }
    /* Promote a read replica to a standalone server. */
    const char *promote = cp__str(json_object_get(in, "replica"), "promoteMode");
    const char *role = cp__str(props, "replicationRole");
    int is_replica =
        strcasecmp(role, "AsyncReplica") == 0 || strcasecmp(role, "GeoAsyncReplica") == 0;
    if (promote[0] && !is_replica)
        return cmk_err_set(err, CMK_EINVAL, 400, "ServerIsNotReplica",
                           "The server '%s' is not a read replica.", srv->r.name);
    if (is_replica && (promote[0] || strcasecmp(cp__str(in, "replicationRole"), "None") == 0)) {
        json_object_set_new(props, "replicationRole", json_string("None"));
        json_object_set_new(props, "replicaCapacity", json_integer(5));
        json_object_del(props, "sourceServerResourceId");
    }
    (void)s;
    return 0;
}

int cp__server_update(struct cmk_arm_call *call, json_t *patch,
                      const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err)
{
    struct cp_servers *s = cp__servers_of_arm(call->arm);
    if (s == NULL)
        return cp__unavailable(err);
    struct cmk_arm_resource copy = *existing;
    copy.doc = json_deep_copy(existing->doc);
    struct cp_srv srv;
    cp__srv_from(&srv, &copy);
    json_decref(copy.doc);
    json_t *in = json_object_get(patch, "properties");
    json_t *de = NULL, *identity = NULL;
    int changed = 0, rc = 0;
    const char *mode = cp__str(in, "createMode");
    if (mode[0] && strcasecmp(mode, "Update") && strcasecmp(mode, "Default") &&
        strcasecmp(mode, "Create")) {
        rc = cmk_err_set(err, CMK_EINVAL, 400, "InvalidCreateMode",
                         "The server '%s' exists: createMode '%.64s' is only valid for a new "
                         "server.",
                         srv.r.name, mode);
        goto done;
    }
    json_t *pde = in ? json_object_get(in, "dataEncryption") : NULL;
    if ((rc = encryption_patch(&srv, pde, &de, &changed, err)) != 0)
        goto done;
    json_t *pid = json_object_get(patch, "identity");
    if ((identity = identity_patch(&srv, pid)) == NULL) {
        rc = cmk_err_set(err, CMK_EINVAL, 400, "InvalidIdentity", "identity is not valid.");
        goto done;
    }
    json_t *map = NULL;
    if (pid != NULL) {
        if ((map = cp__identity_map(s, identity, err)) == NULL) {
            rc = err->rc ? err->rc : CMK_EINVAL;
            goto done;
        }
        changed = changed || !json_equal(map, json_object_get(srv.r.doc, "identity"));
    }
    enum cp_event ev = de != NULL ? CP_EV_UPDATE_KEY : CP_EV_UPDATE;
    if ((rc = cp_server_transition(srv.state, ev, srv.r.name, NULL, err)) != 0) {
        json_decref(map);
        goto done;
    }
    /* Keep what is replaced, to put it back if the update fails. */
    json_t *prev = json_pack("{s:s, s:O, s:O}", "state", cp_state_name(srv.state), "dataEncryption",
                             json_object_get(srv.props, "dataEncryption") ?: json_null(),
                             "identity", json_object_get(srv.r.doc, "identity") ?: json_null());
    static const char *const keep[] = {"kid", "probe", "geoKid", "geoProbe", NULL};
    for (size_t i = 0; keep[i]; i++)
        if (json_object_get(srv.priv, keep[i]))
            json_object_set(prev, keep[i], json_object_get(srv.priv, keep[i]));
    json_object_set_new(srv.priv, "previous", prev);
    if (map)
        json_object_set_new(srv.r.doc, "identity", map);
    if (de != NULL) {
        json_t *ids =
            json_object_get(json_object_get(srv.r.doc, "identity"), "userAssignedIdentities");
        struct cp_validate_ctx ctx = {
            .server_name = srv.r.name,
            .location = srv.r.location,
            .tenant = call->tenant,
            .identities = ids,
            .profile = cp__profile_of(s, srv.priv),
        };
        int geo = strcmp(cp__str(json_object_get(srv.props, "backup"), "geoRedundantBackup"),
                         "Enabled") == 0;
        const char *role = cp__str(srv.props, "replicationRole");
        int replica =
            strcasecmp(role, "AsyncReplica") == 0 || strcasecmp(role, "GeoAsyncReplica") == 0;
        char old_kid[512];
        snprintf(old_kid, sizeof(old_kid), "%s", cp__str(srv.priv, "kid"));
        if ((rc = cp__validate_encryption(s, &ctx, de, geo, replica, srv.priv, err)) != 0)
            goto done;
        if (strcmp(old_kid, cp__str(srv.priv, "kid")) != 0 || changed)
            json_object_set_new(srv.priv, "rewrap", json_true());
        json_object_set_new(de, "primaryEncryptionKeyStatus", json_string("Valid"));
        if (geo)
            json_object_set_new(de, "geoBackupEncryptionKeyStatus", json_string("Valid"));
        json_object_set(srv.props, "dataEncryption", de);
        json_object_set_new(srv.priv, "revalidate", json_true());
    } else if (pid != NULL && cp__srv_is_cmk(&srv)) {
        /* The identities changed: the one the key uses must still be there. */
        json_t *ids =
            json_object_get(json_object_get(srv.r.doc, "identity"), "userAssignedIdentities");
        const char *used =
            cp__str(json_object_get(srv.props, "dataEncryption"), "primaryUserAssignedIdentityId");
        int found = 0;
        const char *k;
        json_t *v;
        json_object_foreach(ids, k, v) found = found || cmk_arm_id_equal(k, used);
        if (!found) {
            rc = cmk_err_set(err, CMK_EINVAL, 400, "CMKInvalidEncryptionParameters",
                             "The input server encryption parameters are invalid. The user "
                             "assigned identity '%.300s' is used by the data encryption and "
                             "cannot be removed from server '%s'.",
                             used, srv.r.name);
            goto done;
        }
    }
    if ((rc = apply_plain(s, &srv, in, patch, err)) != 0)
        goto done;
    if ((rc = cp__server_apply(s, &srv, ev, NULL, err)) != 0)
        goto done;
    const struct cp_profile *p = cp__profile_of(s, srv.priv);
    rc = cmk_arm_op_start(call, "postgres.update", p->op_update, NULL, 0, err);
    if (rc == 0)
        *out = json_incref(srv.r.doc);
done:
    json_decref(de);
    json_decref(identity);
    cp__srv_close(&srv);
    return rc;
}
