/* server_validate.c: what the service checks before it accepts a customer-managed key, at
 * create and when a key or identity is assigned later (SPEC.md R4-R7, R13-R15).
 *
 * The vault's properties (tenant, soft delete, retention, purge protection, region) are ARM
 * metadata: the control plane reads them from the ARM core's resource store. Everything about
 * the key itself is learnt the way the service learns it: with in-process requests to the vault
 * as the server's identity (vault_client.c): GET key (get), GET /keys (list), POST wrapkey
 * (wrapKey) and POST unwrapkey on the wrapped bytes (unwrapKey). A permission is missing when
 * the vault answers 403 ForbiddenByPolicy/ForbiddenByRbac; the refusal names each one. Every
 * refusal is a 400 with a code in the service's style and a message naming the cause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "identity.h"
#include "server_int.h"

#define KV_API "api-version=7.5"

void cp__key_ok_close(struct cp_key_ok *k)
{
    if (k == NULL)
        return;
    free(k->probe);
    k->probe = NULL;
}

static int bad_params(struct cmk_err *err, const char *fmt, const char *a, const char *b)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "CMKInvalidEncryptionParameters",
                       "The input server encryption parameters are invalid. %s%s%s", fmt,
                       a ? a : "", b ? b : "");
}

/* An identity of the server's map (case-insensitive ids). */
static int in_map(const json_t *identities, const char *id)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)identities, k, v)
    {
        if (cmk_arm_id_equal(k, id))
            return 1;
    }
    return 0;
}

json_t *cp__identity_map(struct cp_servers *s, const json_t *identity, struct cmk_err *err)
{
    const char *type = cp__str(identity, "type");
    json_t *uai = json_object_get(identity, "userAssignedIdentities");
    if (identity == NULL || json_is_null(identity))
        return json_pack("{s:s}", "type", "None");
    if (!json_is_object(identity) ||
        (type[0] && strcasecmp(type, "None") && strcasecmp(type, "UserAssigned"))) {
        cmk_err_set(err, CMK_EINVAL, 400, "InvalidIdentityType",
                    "The identity type '%.64s' is not supported: use 'UserAssigned' with "
                    "userAssignedIdentities.",
                    type);
        return NULL;
    }
    if (strcasecmp(type, "None") == 0)
        return json_pack("{s:s}", "type", "None");
    if (!json_is_object(uai) || json_object_size(uai) == 0) {
        cmk_err_set(err, CMK_EINVAL, 400, "InvalidIdentity",
                    "The identity type 'UserAssigned' needs at least one entry in "
                    "userAssignedIdentities.");
        return NULL;
    }
    json_t *map = json_object();
    const char *id;
    json_t *v;
    json_object_foreach(uai, id, v)
    {
        struct cp_managed_identity mi;
        struct cmk_err e;
        if (cp_identity_mi_get(s->rt, id, &mi, &e) != 0) {
            json_decref(map);
            cmk_err_set(err, CMK_EINVAL, 400, "UserAssignedIdentityNotFound",
                        "The user assigned managed identity '%.400s' does not exist.", id);
            return NULL;
        }
        json_object_set_new(
            map, mi.p.resource_id,
            json_pack("{s:s, s:s}", "principalId", mi.p.object_id, "clientId", mi.p.client_id));
        cp_managed_identity_close(&mi);
    }
    return json_pack("{s:s, s:o}", "type", "UserAssigned", "userAssignedIdentities", map);
}

/* R5, R6 and the regional rules of R15 from the vault's ARM metadata. */
static int check_vault(struct cp_servers *s, const struct cp_validate_ctx *ctx,
                       enum cp_key_role role, const struct cp_key_ref *k, struct cmk_err *err)
{
    struct cmk_arm_resource v;
    const char *what = k->kind == CMK_HOST_HSM ? "managed HSM" : "key vault";
    if (cmk_arm_resource_find(s->arm, k->arm_type, k->vault, &v) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 400, "AzureKeyVaultNotFound",
                           "The %s '%s' of key URI 'https://%s/keys/%s' does not exist.", what,
                           k->vault, k->host, k->key);
    json_t *p = json_object_get(v.doc, "properties");
    char tenant[64] = "";
    snprintf(tenant, sizeof(tenant), "%s", cp__str(p, "tenantId"));
    if (tenant[0] == '\0')
        cmk_arm_subscription_tenant(s->arm, v.sub, tenant, NULL);
    int rc = 0;
    json_t *sd = json_object_get(p, "enableSoftDelete");
    json_t *pp = json_object_get(p, "enablePurgeProtection");
    json_t *ret = json_object_get(p, "softDeleteRetentionInDays");
    int days = json_is_integer(ret) ? (int)json_integer_value(ret) : 90;
    const char *pair = cmk_arm_location_pair(ctx->location);
    if (strcasecmp(tenant, ctx->tenant) != 0)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultCrossTenantNotSupported",
                         "The %s '%s' belongs to tenant '%s' but the server '%s' belongs to "
                         "tenant '%s'. Cross-tenant key vault and server interactions are not "
                         "supported.",
                         what, k->vault, tenant, ctx->server_name, ctx->tenant);
    else if (k->kind == CMK_HOST_VAULT && json_is_false(sd))
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultSoftDeleteNotEnabled",
                         "The key vault '%s' does not have soft delete enabled. Enable soft "
                         "delete on the key vault to protect from data loss.",
                         k->vault);
    else if (!json_is_true(pp))
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultPurgeProtectionNotEnabled",
                         "The %s '%s' does not have purge protection enabled. Enable purge "
                         "protection to enforce a mandatory retention period for deleted "
                         "vaults and vault objects.",
                         what, k->vault);
    else if (days < ctx->profile->retention_min_days || days > ctx->profile->retention_max_days)
        rc = cmk_err_set(
            err, CMK_EINVAL, 400, "AzureKeyVaultInvalidSoftDeleteRetention",
            "The %s '%s' retains deleted vaults for %d days; the service requires "
            "%d%s%.0d days. The retention cannot change after creation: create a "
            "new key vault.",
            what, k->vault, days, ctx->profile->retention_min_days,
            ctx->profile->retention_max_days != ctx->profile->retention_min_days ? " to " : "",
            ctx->profile->retention_max_days != ctx->profile->retention_min_days
                ? ctx->profile->retention_max_days
                : 0);
    else if (role == CP_ROLE_GEO && (pair == NULL || strcasecmp(v.location, pair) != 0))
        rc = cmk_err_set(err, CMK_EINVAL, 400, "CMKGeoBackupKeyNotInPairedRegion",
                         "The geo-redundant backup key must be in a %s of the region where the "
                         "geo-redundant backup is stored ('%s', paired with '%s'); the %s '%s' "
                         "is in '%s'.",
                         what, pair ? pair : "none", ctx->location, what, k->vault, v.location);
    else if (role == CP_ROLE_REPLICA && strcasecmp(v.location, ctx->location) != 0)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "CMKReplicaKeyNotInReplicaRegion",
                         "The encryption key of a read replica must be in a %s of the replica's "
                         "region '%s'; the %s '%s' is in '%s'.",
                         what, ctx->location, what, k->vault, v.location);
    cmk_arm_resource_close(&v);
    return rc;
}

/* The refusal of a failed probe that is not a missing permission. */
static int probe_error(struct cp_servers *s, const struct cp_key_ref *k, const char *uri,
                       const char *identity, const struct cp_vault_reply *r, struct cmk_err *err)
{
    char sentence[700];
    enum cp_cause c = cp__classify(r);
    cp__cause_sentence(c, k, uri, identity, r, sentence, sizeof(sentence));
    static const char *const codes[] = {
        [CP_CAUSE_FIREWALL] = "AzureKeyVaultForbiddenByFirewall",
        [CP_CAUSE_IDENTITY] = "UserAssignedIdentityNotFound",
        [CP_CAUSE_TENANT] = "AzureKeyVaultCrossTenantNotSupported",
        [CP_CAUSE_KEY_DISABLED] = "AzureKeyVaultKeyDisabled",
        [CP_CAUSE_KEY_EXPIRED] = "AzureKeyVaultKeyExpired",
        [CP_CAUSE_KEY_NOT_YET_VALID] = "AzureKeyVaultKeyNotYetActive",
        [CP_CAUSE_KEY_DELETED] = "AzureKeyVaultKeyNotFound",
        [CP_CAUSE_VAULT_DELETED] = "AzureKeyVaultNotFound",
        [CP_CAUSE_KEY_UNSUPPORTED] = "AzureKeyVaultUnsupportedKeyType",
        [CP_CAUSE_UNREACHABLE] = "AzureKeyVaultUnreachable",
        [CP_CAUSE_UNKNOWN] = "AzureKeyVaultKeyAccessFailed",
    };
    const char *code =
        (unsigned)c <= CP_CAUSE_UNKNOWN && codes[c] ? codes[c] : "AzureKeyVaultKeyAccessFailed";
    return cmk_err_set(err, CMK_EINVAL, 400, code, "%s", sentence);
}

int cp__validate_key(struct cp_servers *s, const struct cp_validate_ctx *ctx, enum cp_key_role role,
                     const char *key_uri, const char *identity_id, struct cp_key_ok *ok,
                     struct cmk_err *err)
{
    memset(ok, 0, sizeof(*ok));
    struct cp_key_ref k;
    const char *which =
        role == CP_ROLE_GEO ? "geoBackupUserAssignedIdentityId" : "primaryUserAssignedIdentityId";
    int rc = cp__key_ref_parse(s, key_uri, &k, err);
    if (rc != 0)
        return rc;
    if (identity_id == NULL || identity_id[0] == '\0')
        return bad_params(err, which, " is required with a customer-managed key.", NULL);
    if (!in_map(ctx->identities, identity_id))
        return bad_params(err, "The user assigned identity '", identity_id,
                          "' is not assigned to the server: add it to "
                          "identity.userAssignedIdentities.");
    struct cp_managed_identity mi;
    if (cp_identity_mi_get(s->rt, identity_id, &mi, NULL) != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "UserAssignedIdentityNotFound",
                           "The user assigned managed identity '%.400s' does not exist.",
                           identity_id);
    int wrong_region = role == CP_ROLE_REPLICA && strcasecmp(mi.location, ctx->location) != 0;
    char mi_loc[64];
    snprintf(mi_loc, sizeof(mi_loc), "%s", mi.location);
    cp_managed_identity_close(&mi);
    if (wrong_region)
        return cmk_err_set(err, CMK_EINVAL, 400, "CMKReplicaIdentityNotInReplicaRegion",
                           "The user assigned identity of a read replica must be in the "
                           "replica's region '%s'; '%.300s' is in '%s'.",
                           ctx->location, identity_id, mi_loc);
    if ((rc = check_vault(s, ctx, role, &k, err)) != 0)
        return rc;

    /* R4: get, list, wrapKey, unwrapKey, each probed as the identity. */
    const char *missing[4];
    size_t nmissing = 0;
    struct cp_vault_reply r;
    struct cp_key_info info;
    memset(&info, 0, sizeof(info));
    char path[512];
    if (k.version[0])
        snprintf(path, sizeof(path), "/keys/%s/%s?" KV_API, k.key, k.version);
    else
        snprintf(path, sizeof(path), "/keys/%s?" KV_API, k.key);
    int have_info = 0;
    if (cp__vault_call(s, &k, identity_id, "GET", path, NULL, &r) == 0) {
        cp__key_info_from(r.body, &info);
        have_info = 1;
    } else if (cp__is_permission_denied(&r)) {
        missing[nmissing++] = "Get";
    } else {
        rc = probe_error(s, &k, key_uri, identity_id, &r, err);
        cp__vault_reply_close(&r);
        return rc;
    }
    cp__vault_reply_close(&r);
    if (cp__vault_call(s, &k, identity_id, "GET", "/keys?maxresults=1&" KV_API, NULL, &r) != 0) {
        if (cp__is_permission_denied(&r))
            missing[nmissing++] = "List";
    }
    cp__vault_reply_close(&r);
    char *wrapped = NULL;
    const char *kid = have_info ? info.kid : NULL;
    int wrap_rc = cp__key_wrap_probe(s, &k, kid, identity_id, &wrapped, &r);
    if (wrap_rc != 0 && cp__is_permission_denied(&r))
        missing[nmissing++] = "WrapKey";
    cp__vault_reply_close(&r);
    /* Without a wrapped value, a value of the right size shows the permission anyway: the
     * vault refuses a missing permission before it looks at the bytes. */
    char *dummy = NULL;
    if (wrapped == NULL) {
        unsigned char zero[256];
        memset(zero, 0, sizeof(zero));
        dummy = cmk_b64_encode(zero, sizeof(zero), 1);
    }
    int unwrap_rc =
        cp__key_unwrap(s, &k, kid, identity_id, wrapped ? wrapped : dummy, "RSA-OAEP-256", &r);
    free(dummy);
    if (unwrap_rc != 0 && cp__is_permission_denied(&r))
        missing[nmissing++] = "UnwrapKey";
    else if (unwrap_rc != 0 && wrapped != NULL) {
        rc = probe_error(s, &k, key_uri, identity_id, &r, err);
        cp__vault_reply_close(&r);
        free(wrapped);
        return rc;
    }
    cp__vault_reply_close(&r);
    if (nmissing > 0) {
        char list[64] = "";
        for (size_t i = 0; i < nmissing; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                     missing[i]);
        free(wrapped);
        return cmk_err_set(err, CMK_EDENIED, 400, "AzureKeyVaultMissingPermissions",
                           "The server '%s' requires the following Azure Key Vault permissions "
                           "on key '%.300s': 'Get, List, WrapKey, UnwrapKey'. The user assigned "
                           "managed identity '%.300s' is missing: '%s'. Grant them with an access "
                           "policy or a role assignment and retry.",
                           ctx->server_name, key_uri, identity_id, list);
    }

    /* R7: an enabled RSA 2048 key inside its validity period. */
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    char t[40];
    if (strcmp(info.kty, "RSA") != 0 && strcmp(info.kty, "RSA-HSM") != 0)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultUnsupportedKeyType",
                         "The key '%.300s' is of type '%s'; only asymmetric RSA 2048 keys are "
                         "supported for data encryption.",
                         key_uri, info.kty);
    else if (info.bits != 2048)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultUnsupportedKeySize",
                         "The key '%.300s' is RSA %d; only RSA 2048 keys are supported for data "
                         "encryption.",
                         key_uri, info.bits);
    else if (!info.enabled)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultKeyDisabled",
                         "The key '%.300s' is disabled. The key must be in the Enabled state.",
                         key_uri);
    else if (info.nbf && info.nbf > now && (cmk_time_format(info.nbf, t, sizeof(t)), 1))
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultKeyNotYetActive",
                         "The key '%.300s' activates on %s; its activation date must be in the "
                         "past.",
                         key_uri, t);
    else if (info.exp && info.exp <= now && (cmk_time_format(info.exp, t, sizeof(t)), 1))
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultKeyExpired",
                         "The key '%.300s' expired on %s; its expiration date must be in the "
                         "future.",
                         key_uri, t);
    else if (wrapped == NULL)
        rc = cmk_err_set(err, CMK_EINVAL, 400, "AzureKeyVaultKeyAccessFailed",
                         "The key '%.300s' could not wrap a data encryption key.", key_uri);
    if (rc != 0) {
        free(wrapped);
        return rc;
    }
    snprintf(ok->kid, sizeof(ok->kid), "%s", info.kid);
    ok->probe = wrapped;
    return 0;
}

int cp__validate_encryption(struct cp_servers *s, const struct cp_validate_ctx *ctx,
                            const json_t *de, int geo_backup, int replica, json_t *priv,
                            struct cmk_err *err)
{
    const char *type = cp__str(de, "type");
    const char *pk = cp__str(de, "primaryKeyURI"),
               *pid = cp__str(de, "primaryUserAssignedIdentityId");
    const char *gk = cp__str(de, "geoBackupKeyURI"),
               *gid = cp__str(de, "geoBackupUserAssignedIdentityId");
    if (de != NULL && !json_is_object(de) && !json_is_null(de))
        return bad_params(err, "dataEncryption must be an object.", NULL, NULL);
    if (strcasecmp(type, "AzureKeyVault") != 0) {
        if (type[0] && strcasecmp(type, "SystemManaged") != 0)
            return bad_params(err, "The data encryption type '", type,
                              "' is not valid: use 'SystemManaged' or 'AzureKeyVault'.");
        if (pk[0] || gk[0])
            return bad_params(err, "A key URI needs the data encryption type 'AzureKeyVault'.",
                              NULL, NULL);
        return 0;
    }
    if (pk[0] == '\0' || pid[0] == '\0')
        return bad_params(err,
                          "primaryKeyURI and primaryUserAssignedIdentityId are required with "
                          "the data encryption type 'AzureKeyVault'.",
                          NULL, NULL);
    if (geo_backup && (gk[0] == '\0' || gid[0] == '\0'))
        return bad_params(err,
                          "Geo-Backup Encryption user assigned identity and key is required to "
                          "encrypt Geo-Redundant CMK enabled server. Please retry operation "
                          "with valid input parameters.",
                          NULL, NULL);
    if (!geo_backup && (gk[0] || gid[0]))
        return bad_params(err, "A geo-backup key and identity need geoRedundantBackup 'Enabled'.",
                          NULL, NULL);
    if (geo_backup && cmk_arm_id_equal(gid, pid))
        return cmk_err_set(err, CMK_EINVAL, 400, "CMKGeoBackupIdentitySameAsPrimary",
                           "The same user assigned managed identity cannot be used for the "
                           "primary key and the geo-redundant backup key: use an identity in "
                           "the geo-backup region for '%.300s'.",
                           gk);
    struct cp_key_ok ok;
    int rc =
        cp__validate_key(s, ctx, replica ? CP_ROLE_REPLICA : CP_ROLE_PRIMARY, pk, pid, &ok, err);
    if (rc != 0)
        return rc;
    json_object_set_new(priv, "kid", json_string(ok.kid));
    json_object_set_new(priv, "probe", json_string(ok.probe));
    cp__key_ok_close(&ok);
    if (geo_backup) {
        if ((rc = cp__validate_key(s, ctx, CP_ROLE_GEO, gk, gid, &ok, err)) != 0)
            return rc;
        json_object_set_new(priv, "geoKid", json_string(ok.kid));
        json_object_set_new(priv, "geoProbe", json_string(ok.probe));
        cp__key_ok_close(&ok);
    } else {
        json_object_del(priv, "geoKid");
        json_object_del(priv, "geoProbe");
    }
    return 0;
}
