/* vault_arm.c: the ARM resource provider Microsoft.KeyVault/vaults (see vault.h) on the ARM
 * core: validation and documents of PUT/PATCH, soft delete into vs_deleted_vaults and recover
 * (createMode "recover"). Deleted vaults and their purge are in vault_deleted.c; access
 * policies, checkNameAvailability and the audit routes in vault_routes.c. Rules (issue 3): soft
 * delete cannot be turned off; softDeleteRetentionInDays is 7-90 and fixed at creation; purge
 * protection cannot be turned off; a deleted vault's name cannot be reused (409) until it is
 * purged; a purge-protected vault is purged only by the clock at its scheduled purge date. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"
#include "vault_int.h"

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE vs_vault_names (name TEXT PRIMARY KEY, id TEXT NOT NULL);"
        "CREATE TABLE vs_deleted_vaults ("
        " name TEXT PRIMARY KEY,"
        " display TEXT NOT NULL,"
        " id TEXT NOT NULL,"
        " sub TEXT NOT NULL,"
        " location TEXT NOT NULL,"
        " doc TEXT NOT NULL,"
        " deleted INTEGER NOT NULL,"
        " purge INTEGER NOT NULL,"
        " protected INTEGER NOT NULL);"
        "CREATE TABLE vs_role_assignments ("
        " name TEXT PRIMARY KEY COLLATE NOCASE,"
        " scope TEXT NOT NULL COLLATE NOCASE,"
        " role TEXT NOT NULL COLLATE NOCASE,"
        " principal TEXT NOT NULL COLLATE NOCASE,"
        " doc TEXT NOT NULL);"
        "CREATE INDEX vs_role_assignments_principal ON vs_role_assignments(principal);"},
};

static const char *const key_permissions[] = {"all",
                                              "encrypt",
                                              "decrypt",
                                              "wrapKey",
                                              "unwrapKey",
                                              "sign",
                                              "verify",
                                              "get",
                                              "list",
                                              "create",
                                              "update",
                                              "import",
                                              "delete",
                                              "backup",
                                              "restore",
                                              "recover",
                                              "purge",
                                              "release",
                                              "rotate",
                                              "getrotationpolicy",
                                              "setrotationpolicy",
                                              NULL};

void vs__lower(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

int vs__bad_request(struct cmk_err *err, const char *fmt, const char *arg)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest", fmt, arg);
}

/* ---- names -------------------------------------------------------------------------------- */

int vs__name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 24 || !isalpha((unsigned char)name[0]) || !isalnum((unsigned char)name[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '-')
            return 0;
        if (name[i] == '-' && name[i + 1] == '-')
            return 0;
    }
    return 1;
}

int vs__name_invalid(struct cmk_err *err, const char *name)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "VaultNameNotValid",
                       "The vault name '%s' is invalid. A vault's name must be between 3-24 "
                       "alphanumeric characters. The name must begin with a letter, end with a "
                       "letter or digit, and not contain consecutive hyphens. Follow this link "
                       "for more information: https://go.microsoft.com/fwlink/?linkid=2147742",
                       name);
}

/* The id of the live vault named name (any case) into id, or 0 if none. */
int vs__live_id(struct vs_vaults *vs, const char *name, char id[CMK_ARM_ID_MAX])
{
    char lc[64];
    vs__lower(lc, sizeof(lc), name);
    sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT id FROM vs_vault_names WHERE name = ?");
    sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(id, CMK_ARM_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return found;
}

int vs__exec_name(struct vs_vaults *vs, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, sql);
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

/* ---- validation ------------------------------------------------------------------------- */

static int guid_like(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

int vs__validate_policy(const json_t *e, struct cmk_err *err)
{
    if (!json_is_object(e))
        return vs__bad_request(err, "Each access policy must be an object.%s", "");
    const char *tid = json_string_value(json_object_get(e, "tenantId"));
    const char *oid = json_string_value(json_object_get(e, "objectId"));
    const json_t *perms = json_object_get(e, "permissions");
    if (!guid_like(tid))
        return vs__bad_request(err, "An access policy's tenantId '%s' is not a valid GUID.",
                               tid ? tid : "");
    if (oid == NULL || *oid == '\0')
        return vs__bad_request(err, "An access policy needs an objectId.%s", "");
    if (!json_is_object(perms))
        return vs__bad_request(err, "The access policy of %s needs 'permissions'.", oid);
    const json_t *keys = json_object_get(perms, "keys");
    if (keys != NULL && !json_is_null(keys) && !json_is_array(keys))
        return vs__bad_request(err, "permissions.keys of %s must be an array.", oid);
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *s = json_string_value(k);
        size_t j;
        for (j = 0; s && key_permissions[j]; j++)
            if (strcasecmp(s, key_permissions[j]) == 0)
                break;
        if (s == NULL || key_permissions[j] == NULL)
            return vs__bad_request(
                err,
                "The key permission '%s' is not valid. Valid permissions: all, "
                "encrypt, decrypt, wrapKey, unwrapKey, sign, verify, get, list, "
                "create, update, import, delete, backup, restore, recover, purge, "
                "release, rotate, getrotationpolicy, setrotationpolicy.",
                s ? s : "");
    }
    return 0;
}

static json_t *normalized_acls(const json_t *acls)
{
    if (acls == NULL || json_is_null(acls))
        return NULL;
    const char *def = json_string_value(json_object_get(acls, "defaultAction"));
    const char *bypass = json_string_value(json_object_get(acls, "bypass"));
    json_t *o = json_object();
    json_object_set_new(
        o, "bypass",
        json_string(bypass && strcasecmp(bypass, "none") == 0 ? "None" : "AzureServices"));
    json_object_set_new(o, "defaultAction",
                        json_string(def && strcasecmp(def, "deny") == 0 ? "Deny" : "Allow"));
    json_t *rules = json_array();
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(acls, "ipRules"), i, r) json_array_append_new(
        rules, json_pack("{s:s}", "value", json_string_value(json_object_get(r, "value"))));
    json_object_set_new(o, "ipRules", rules);
    const json_t *vnet = json_object_get(acls, "virtualNetworkRules");
    json_object_set_new(o, "virtualNetworkRules",
                        json_is_array(vnet) ? json_deep_copy(vnet) : json_array());
    return o;
}

static int check_bool(const json_t *props, const char *field, struct cmk_err *err)
{
    const json_t *v = json_object_get(props, field);
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return vs__bad_request(err, "The property '%s' must be a boolean.", field);
    return 0;
}

/* Build the stored document from body (the client's, or a PATCH merged into the stored one). */
static int build_doc(struct cmk_arm_call *call, const json_t *body,
                     const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    const char *name = cmk_arm_id_name(&call->rid);
    const json_t *props = json_object_get(body, "properties");
    if (!json_is_object(props))
        return vs__bad_request(err,
                               "The request content was invalid: the vault's 'properties' "
                               "are required.%s",
                               "");
    const json_t *old = existing ? json_object_get(existing->doc, "properties") : NULL;
    const char *tenant = json_string_value(json_object_get(props, "tenantId"));
    if (!guid_like(tenant))
        return vs__bad_request(err, "The vault's tenantId '%s' is not a valid GUID.",
                               tenant ? tenant : "");
    const json_t *sku = json_object_get(props, "sku");
    const char *skuname = json_string_value(json_object_get(sku, "name"));
    const char *family = json_string_value(json_object_get(sku, "family"));
    if (skuname == NULL ||
        (strcasecmp(skuname, "standard") != 0 && strcasecmp(skuname, "premium") != 0))
        return vs__bad_request(err,
                               "The vault's sku.name '%s' is not valid: use standard or premium.",
                               skuname ? skuname : "");
    if (family && strcasecmp(family, "A") != 0)
        return vs__bad_request(err, "The vault's sku.family '%s' is not valid: use A.", family);
    static const char *const bools[] = {"enableSoftDelete",
                                        "enablePurgeProtection",
                                        "enableRbacAuthorization",
                                        "enabledForDeployment",
                                        "enabledForDiskEncryption",
                                        "enabledForTemplateDeployment",
                                        NULL};
    for (int i = 0; bools[i]; i++) {
        int rc = check_bool(props, bools[i], err);
        if (rc != 0)
            return rc;
    }
    /* Soft delete is always on. */
    if (json_is_false(json_object_get(props, "enableSoftDelete"))) {
        if (existing)
            return vs__bad_request(err,
                                   "The property \"enableSoftDelete\" cannot be set to false. "
                                   "Enabling the 'soft delete' functionality is an "
                                   "irreversible action.%s",
                                   "");
        return vs__bad_request(err,
                               "The property \"enableSoftDelete\" cannot be set to false: soft "
                               "delete is always on for new vaults.%s",
                               "");
    }
    /* Retention: 7-90 days, fixed once the vault exists. */
    const json_t *days = json_object_get(props, "softDeleteRetentionInDays");
    json_int_t retention = 90;
    const json_t *old_days = old ? json_object_get(old, "softDeleteRetentionInDays") : NULL;
    if (days && !json_is_null(days)) {
        if (!json_is_integer(days) || json_integer_value(days) < 7 || json_integer_value(days) > 90)
            return vs__bad_request(err,
                                   "The property \"softDeleteRetentionInDays\" must be between "
                                   "7 and 90.%s",
                                   "");
        retention = json_integer_value(days);
        if (old_days && json_integer_value(old_days) != retention)
            return vs__bad_request(err,
                                   "The property \"softDeleteRetentionInDays\" has been set "
                                   "already and it can't be modified.%s",
                                   "");
    } else if (old_days) {
        retention = json_integer_value(old_days);
    }
    /* Purge protection: once on, on for good. */
    int was_protected = old && json_is_true(json_object_get(old, "enablePurgeProtection"));
    const json_t *pp = json_object_get(props, "enablePurgeProtection");
    if (was_protected && json_is_false(pp))
        return vs__bad_request(err,
                               "The property \"enablePurgeProtection\" cannot be set to false. "
                               "Enabling the purge protection for a vault is an irreversible "
                               "action.%s",
                               "");
    int protect = was_protected || json_is_true(pp);
    const json_t *pols = json_object_get(props, "accessPolicies");
    if (pols && !json_is_null(pols) && !json_is_array(pols))
        return vs__bad_request(err, "The property 'accessPolicies' must be an array.%s", "");
    if (json_array_size(pols) > 1024)
        return vs__bad_request(err, "At most 1024 access policies are allowed.%s", "");
    size_t i;
    const json_t *e;
    json_array_foreach(pols, i, e)
    {
        int rc = vs__validate_policy(e, err);
        if (rc != 0)
            return rc;
    }
    const char *pna = json_string_value(json_object_get(props, "publicNetworkAccess"));
    struct vs_netrules net;
    int rc = vs_netrules_parse(json_object_get(props, "networkAcls"), pna, &net, err);
    if (rc != 0)
        return rc;
    const json_t *tags = json_object_get(body, "tags");
    if (tags && !json_is_null(tags) && !json_is_object(tags))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTag", "The tags must be an object.");

    char loc[64];
    const char *given = json_string_value(json_object_get(body, "location"));
    if (existing) {
        snprintf(loc, sizeof(loc), "%s", existing->location);
        char norm[64];
        if (given && cmk_arm_location_normalize(given, norm, sizeof(norm), NULL, NULL) == 0 &&
            strcasecmp(norm, existing->location) != 0)
            return cmk_err_set(err, CMK_ECONFLICT, 409, "InvalidResourceLocation",
                               "The resource '%s' already exists in location '%s' in resource "
                               "group '%s'. A resource with the same name cannot be created in "
                               "location '%s'. Please select a new resource name.",
                               name, existing->location, call->rid.rg, norm);
    } else {
        rc = cmk_arm_location_normalize(given ? given : "", loc, sizeof(loc), VS_VAULT_TYPE, err);
        if (rc != 0)
            return rc;
    }
    char uri[128];
    char lc[64];
    vs__lower(lc, sizeof(lc), name);
    snprintf(uri, sizeof(uri), "https://%s.vault.azure.net/", lc);

    json_t *p = json_object();
    json_object_set_new(p, "sku",
                        json_pack("{s:s,s:s}", "family", "A", "name",
                                  strcasecmp(skuname, "premium") == 0 ? "premium" : "standard"));
    json_object_set_new(p, "tenantId", json_string(tenant));
    json_object_set_new(p, "accessPolicies",
                        json_is_array(pols) ? json_deep_copy(pols) : json_array());
    for (int b = 3; bools[b]; b++)
        json_object_set_new(p, bools[b],
                            json_boolean(json_is_true(json_object_get(props, bools[b]))));
    json_object_set_new(p, "enableSoftDelete", json_true());
    json_object_set_new(p, "softDeleteRetentionInDays", json_integer(retention));
    json_object_set_new(
        p, "enableRbacAuthorization",
        json_boolean(json_is_true(json_object_get(props, "enableRbacAuthorization"))));
    if (protect)
        json_object_set_new(p, "enablePurgeProtection", json_true());
    json_t *acls = normalized_acls(json_object_get(props, "networkAcls"));
    if (acls)
        json_object_set_new(p, "networkAcls", acls);
    json_object_set_new(p, "vaultUri", json_string(uri));
    json_object_set_new(p, "provisioningState", json_string("Succeeded"));
    json_object_set_new(p, "publicNetworkAccess",
                        json_string(net.public_disabled ? "Disabled" : "Enabled"));
    json_t *doc = json_object();
    json_object_set_new(doc, "location", json_string(loc));
    json_object_set_new(doc, "tags", json_is_object(tags) ? json_deep_copy(tags) : json_object());
    json_object_set_new(doc, "properties", p);
    *out = doc;
    return 0;
}

/* ---- provider callbacks -------------------------------------------------------------------- */

static int vault_put(struct cmk_arm_call *call, json_t *body,
                     const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err)
{
    struct vs_vaults *vs = call->provider->data;
    const char *name = cmk_arm_id_name(&call->rid);
    *out = NULL;
    if (!vs__name_valid(name))
        return vs__name_invalid(err, name);
    const char *mode =
        json_string_value(json_object_get(json_object_get(body, "properties"), "createMode"));
    if (mode && strcasecmp(mode, "recover") != 0 && strcasecmp(mode, "default") != 0)
        return vs__bad_request(err,
                               "The property 'createMode' must be 'recover' or 'default', not "
                               "'%s'.",
                               mode);
    char lc[64];
    vs__lower(lc, sizeof(lc), name);
    if (existing == NULL) {
        struct vs_deleted d;
        int was_deleted = vs__deleted_get(vs, name, &d);
        if (mode && strcasecmp(mode, "recover") == 0) {
            if (!was_deleted)
                return cmk_err_set(err, CMK_ENOTFOUND, 404, "NotFound",
                                   "No deleted vault named '%s' was found: there is nothing to "
                                   "recover.",
                                   name);
            if (!cmk_arm_id_equal(d.id, call->id)) {
                int rc = cmk_err_set(err, CMK_ECONFLICT, 409, "Conflict",
                                     "The deleted vault '%s' was in '%s'; it can only be "
                                     "recovered there.",
                                     name, d.id);
                json_decref(d.doc);
                return rc;
            }
            json_t *doc = d.doc;
            if (vs__exec_name(vs, "DELETE FROM vs_deleted_vaults WHERE name = ?", lc, NULL) != 0 ||
                vs__exec_name(vs, "INSERT OR REPLACE INTO vs_vault_names(name, id) VALUES(?, ?)",
                              lc, call->id) != 0) {
                json_decref(doc);
                return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                                   "The vault could not be recovered.");
            }
            vs__vault_changed(vs);
            vs__purge_rearm(vs);
            snprintf(call->operation, sizeof(call->operation), "Microsoft.KeyVault/vaults/write");
            *out = doc;
            return 0;
        }
        if (was_deleted) {
            json_decref(d.doc);
            return cmk_err_set(err, CMK_ECONFLICT, 409, "ConflictError",
                               "Exist soft deleted vault with the same name. ");
        }
        char other[CMK_ARM_ID_MAX];
        if (vs__live_id(vs, name, other) && !cmk_arm_id_equal(other, call->id))
            return cmk_err_set(err, CMK_ECONFLICT, 409, "VaultAlreadyExists",
                               "The vault name '%s' is already in use. Vault names are globally "
                               "unique so it is possible that the name is already taken. If you "
                               "are sure that the vault name was not taken then it is possible "
                               "that a vault with the same name was recently deleted but not "
                               "purged after being placed in a recoverable state.",
                               name);
    }
    int rc = build_doc(call, body, existing, out, err);
    if (rc != 0)
        return rc;
    if (vs__exec_name(vs, "INSERT OR REPLACE INTO vs_vault_names(name, id) VALUES(?, ?)", lc,
                      call->id) != 0) {
        json_decref(*out);
        *out = NULL;
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "The vault was not saved.");
    }
    vs__vault_changed(vs);
    return 0;
}

static json_t *vault_render(struct cmk_arm *arm, const struct cmk_arm_resource *r, void *data)
{
    (void)arm;
    (void)data;
    return json_deep_copy(r->doc);
}

static int vault_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                        struct cmk_err *err)
{
    struct vs_vaults *vs = call->provider->data;
    struct vs_vault v;
    if (vs__vault_parse(r, &v, err) != 0) {
        vs__vault_clear(&v);
        memset(&v, 0, sizeof(v));
        vs__lower(v.name, sizeof(v.name), r->name);
        v.retention = 90;
    }
    cmk_time_t now = cmk_clock_now(&vs->rt->clock);
    cmk_time_t purge = now + (cmk_time_t)v.retention * CMK_DAY;
    char *doc = json_dumps(r->doc, JSON_COMPACT);
    sqlite3_stmt *st = cmk_store_stmt(
        vs->rt->db, "INSERT OR REPLACE INTO vs_deleted_vaults(name, display, id, sub, location,"
                    " doc, deleted, purge, protected) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    sqlite3_bind_text(st, 1, v.name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, r->sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, r->location, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, doc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, purge);
    sqlite3_bind_int(st, 9, v.purge_protection);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    free(doc);
    if (ok)
        ok = vs__exec_name(vs, "DELETE FROM vs_vault_names WHERE name = ?", v.name, NULL) == 0;
    vs__vault_clear(&v);
    if (!ok)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                           "The vault could not be deleted.");
    vs__vault_changed(vs);
    vs__purge_rearm(vs);
    return 0;
}

int vs__arm_register(struct vs_vaults *vs, struct cmk_err *err)
{
    int rc = cmk_store_migrate(vs->rt->db, "vaultsim-vaults", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    if (rc != 0)
        return rc;
    vs->provider.type = VS_VAULT_TYPE;
    vs->provider.put = vault_put;
    vs->provider.render = vault_render;
    vs->provider.del = vault_delete;
    vs->provider.data = vs;
    cmk_arm_provider_register(vs->arm, &vs->provider);
    vs__deleted_register(vs);
    vs__routes_register(vs);
    return 0;
}
