/* vault_arm.c: the vault flavour of the container (container.h): the ARM resource provider
 * Microsoft.KeyVault/vaults with its tables vs_vault_names and vs_deleted_vaults, and what a
 * vault's document has of its own: sku standard|premium (family A), access policies, the
 * enabledFor* and enableRbacAuthorization booleans, vaultUri; the wordings of its errors; the
 * parsed vault (access policies, RBAC, premium); what a purge also removes (role assignments at
 * or below the vault). The shared rules (issue 3): soft delete cannot be turned off;
 * softDeleteRetentionInDays is 7-90 and fixed at creation; purge protection cannot be turned
 * off; a deleted vault's name cannot be reused (409) until it is purged; a purge-protected vault
 * is purged only by the clock at its scheduled purge date. Access policy route: vault_routes.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "common/store.h"
#include "vault_int.h"

static const struct cmk_migration migrations[] = {
    {1, VS_CTR_TABLES_SQL("vs_vault_names",
                          "vs_deleted_vaults") "CREATE TABLE vs_role_assignments ("
                                               " name TEXT PRIMARY KEY COLLATE NOCASE,"
                                               " scope TEXT NOT NULL COLLATE NOCASE,"
                                               " role TEXT NOT NULL COLLATE NOCASE,"
                                               " principal TEXT NOT NULL COLLATE NOCASE,"
                                               " doc TEXT NOT NULL);"
                                               "CREATE INDEX vs_role_assignments_principal ON "
                                               "vs_role_assignments(principal);"},
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

int vs__validate_policy(const json_t *e, struct cmk_err *err)
{
    if (!json_is_object(e))
        return vs_ctr_bad_request(err, "Each access policy must be an object.%s", "");
    const char *tid = json_string_value(json_object_get(e, "tenantId"));
    const char *oid = json_string_value(json_object_get(e, "objectId"));
    const json_t *perms = json_object_get(e, "permissions");
    if (!vs_ctr_guid_like(tid))
        return vs_ctr_bad_request(err, "An access policy's tenantId '%s' is not a valid GUID.",
                                  tid ? tid : "");
    if (oid == NULL || *oid == '\0')
        return vs_ctr_bad_request(err, "An access policy needs an objectId.%s", "");
    if (!json_is_object(perms))
        return vs_ctr_bad_request(err, "The access policy of %s needs 'permissions'.", oid);
    const json_t *keys = json_object_get(perms, "keys");
    if (keys != NULL && !json_is_null(keys) && !json_is_array(keys))
        return vs_ctr_bad_request(err, "permissions.keys of %s must be an array.", oid);
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
            return vs_ctr_bad_request(
                err,
                "The key permission '%s' is not valid. Valid permissions: all, "
                "encrypt, decrypt, wrapKey, unwrapKey, sign, verify, get, list, "
                "create, update, import, delete, backup, restore, recover, purge, "
                "release, rotate, getrotationpolicy, setrotationpolicy.",
                s ? s : "");
    }
    return 0;
}

/* The booleans a vault's properties may have (the first two are the container's). */
static const char *const booleans[] = {"enableSoftDelete",
                                       "enablePurgeProtection",
                                       "enableRbacAuthorization",
                                       "enabledForDeployment",
                                       "enabledForDiskEncryption",
                                       "enabledForTemplateDeployment",
                                       NULL};

/* ---- the document ------------------------------------------------------------------------ */

static int check_sku(const json_t *props, const char **skuname, struct cmk_err *err)
{
    const json_t *sku = json_object_get(props, "sku");
    const char *name = json_string_value(json_object_get(sku, "name"));
    const char *family = json_string_value(json_object_get(sku, "family"));
    *skuname = name;
    if (name == NULL || (strcasecmp(name, "standard") != 0 && strcasecmp(name, "premium") != 0))
        return vs_ctr_bad_request(
            err, "The vault's sku.name '%s' is not valid: use standard or premium.",
            name ? name : "");
    if (family && strcasecmp(family, "A") != 0)
        return vs_ctr_bad_request(err, "The vault's sku.family '%s' is not valid: use A.", family);
    return 0;
}

static int check_policies(const json_t *pols, struct cmk_err *err)
{
    if (pols && !json_is_null(pols) && !json_is_array(pols))
        return vs_ctr_bad_request(err, "The property 'accessPolicies' must be an array.%s", "");
    if (json_array_size(pols) > 1024)
        return vs_ctr_bad_request(err, "At most 1024 access policies are allowed.%s", "");
    size_t i;
    const json_t *e;
    json_array_foreach(pols, i, e)
    {
        int rc = vs__validate_policy(e, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Build the stored document from body (the client's, or a PATCH merged into the stored one). */
static int build_doc(struct vs_ctr_set *s, struct cmk_arm_call *call, const json_t *body,
                     const struct cmk_arm_resource *existing, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    struct vs_ctr_doc d;
    const char *skuname = NULL;
    int rc = vs_ctr_doc_begin(s, call, body, existing, &d, err);
    if (rc == 0)
        rc = check_sku(d.props, &skuname, err);
    if (rc == 0)
        rc = vs_ctr_doc_rules(s, &d, err);
    const json_t *pols = json_object_get(d.props, "accessPolicies");
    if (rc == 0)
        rc = check_policies(pols, err);
    if (rc == 0)
        rc = vs_ctr_doc_finish(s, &d, err);
    if (rc != 0)
        return rc;

    json_t *p = json_object();
    json_object_set_new(p, "sku",
                        json_pack("{s:s,s:s}", "family", "A", "name",
                                  strcasecmp(skuname, "premium") == 0 ? "premium" : "standard"));
    json_object_set_new(p, "tenantId", json_string(d.tenant));
    json_object_set_new(p, "accessPolicies",
                        json_is_array(pols) ? json_deep_copy(pols) : json_array());
    for (int b = 3; booleans[b]; b++)
        json_object_set_new(p, booleans[b],
                            json_boolean(json_is_true(json_object_get(d.props, booleans[b]))));
    json_object_set_new(p, "enableSoftDelete", json_true());
    json_object_set_new(p, "softDeleteRetentionInDays", json_integer(d.retention));
    json_object_set_new(
        p, "enableRbacAuthorization",
        json_boolean(json_is_true(json_object_get(d.props, "enableRbacAuthorization"))));
    if (d.purge_protection)
        json_object_set_new(p, "enablePurgeProtection", json_true());
    const json_t *acls = json_object_get(d.props, "networkAcls");
    if (acls && !json_is_null(acls))
        json_object_set_new(p, "networkAcls", vs_ctr_doc_acls(acls));
    json_object_set_new(p, "vaultUri", json_string(d.uri));
    json_object_set_new(p, "provisioningState", json_string("Succeeded"));
    json_object_set_new(p, "publicNetworkAccess",
                        json_string(d.net.public_disabled ? "Disabled" : "Enabled"));
    json_t *doc = vs_ctr_doc_new(&d);
    json_object_set_new(doc, "properties", p);
    *out = doc;
    return 0;
}

/* ---- the parsed vault -------------------------------------------------------------------- */

static int parse(const struct cmk_arm_resource *r, struct vs_ctr_info *info, struct cmk_err *err)
{
    struct vs_vault *v = (struct vs_vault *)info;
    const json_t *props = json_object_get(r->doc, "properties");
    const char *sku = json_string_value(json_object_get(json_object_get(props, "sku"), "name"));
    v->premium = sku && strcasecmp(sku, "premium") == 0;
    v->rbac = json_is_true(json_object_get(props, "enableRbacAuthorization"));
    json_t *pol = json_object_get(props, "accessPolicies");
    v->policies = json_is_array(pol) ? json_incref(pol) : json_array();
    return 0;
}

static void clear(struct vs_ctr_info *info)
{
    json_decref(((struct vs_vault *)info)->policies);
}

static unsigned key_types(const struct vs_ctr_info *info)
{
    return VS_KTYS_SOFTWARE | (((const struct vs_vault *)info)->premium ? VS_KTYS_HSM_ASYM : 0);
}

/* A purged vault's role assignments (at the vault and its keys) go with it. */
static int forget(struct vs_ctr_set *s, const struct vs_deleted *d)
{
    return vs__rbac_forget(s->data, d->id);
}

/* ---- the flavour ------------------------------------------------------------------------- */

#define VAULT_PATH "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}"
#define DELETED_PATH                                                                               \
    "/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{vault}"

static const struct vs_ctr_flavour vault_flavour = {
    .type = VS_VAULT_TYPE,
    .kind = "vault",
    .label = "vault",
    .space_label = "key vault",
    .log_name = "vaultsim",
    .dns_zone = "vault.azure.net",
    .deleted_type = "deletedVaults",
    .deleted_id_property = "vaultId",
    .purge_operation = "DeletedVaultPurge",
    .store_module = "vaultsim-vaults",
    .migrations = migrations,
    .nmigrations = sizeof(migrations) / sizeof(migrations[0]),
    .names_table = "vs_vault_names",
    .deleted_table = "vs_deleted_vaults",
    .deleted_order = "deleted, rowid",
    .booleans = booleans,
    .route_deleted_list = "/subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults",
    .route_deleted = DELETED_PATH,
    .route_purge = DELETED_PATH "/purge",
    .route_check_name = "/subscriptions/{s}/providers/Microsoft.KeyVault/checkNameAvailability",
    .route_audit_arm = VAULT_PATH "/auditEvents",
    .route_audit = "/_cmksim/vaults/{vault}/audit",
    .deleted_param = "vault",
    .audit_param = "vault",
    .check_name_type = VS_VAULT_TYPE,
    .name_invalid_code = "VaultNameNotValid",
    .name_invalid_more = " Follow this link for more information: "
                         "https://go.microsoft.com/fwlink/?linkid=2147742",
    .deleted_conflict = "Exist soft deleted vault with the same name. ",
    .taken_code = "VaultAlreadyExists",
    .taken_fmt = "The vault name '%s' is already in use. Vault names are globally unique so it is "
                 "possible that the name is already taken. If you are sure that the vault name "
                 "was not taken then it is possible that a vault with the same name was recently "
                 "deleted but not purged after being placed in a recoverable state.",
    .check_taken_fmt = "The vault name '%s' is already in use. Vault names are globally unique so "
                       "it is possible that the name is already taken.",
    .check_deleted = "A vault with the same name already exists in deleted state. You need to "
                     "either recover or purge existing key vault. Follow this link "
                     "https://go.microsoft.com/fwlink/?linkid=2149745 for more information on "
                     "soft delete.",
    .soft_delete_off = "The property \"enableSoftDelete\" cannot be set to false: soft delete is "
                       "always on for new vaults.",
    .soft_delete_off_update = "The property \"enableSoftDelete\" cannot be set to false. Enabling "
                              "the 'soft delete' functionality is an irreversible action.",
    .not_found_code = "VaultNotFound",
    .info_size = sizeof(struct vs_vault),
    .parse = parse,
    .clear = clear,
    .key_types = key_types,
    .build = build_doc,
    .forget = forget,
};

int vs__arm_register(struct vs_vaults *vs, struct cmk_err *err)
{
    int rc = vs_ctr_init(&vs->vaults, vs->rt, &vault_flavour, vs, vs->audit, err);
    if (rc == 0)
        vs__routes_register(vs);
    return rc;
}
