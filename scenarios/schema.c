/* schema.c: the scenario language as data: every action with its argument schema and the
 * setup sections (schema_file.c has the rest: expectation subjects, timing keys, top level,
 * profile). The parser (parse.c, convert.c) checks files against these tables
 * and the runner dispatches on the same entries, so adding an action or an argument is one
 * row here plus its line in scenarios/README.md (test_parse.c checks the README names them).
 */
#include "scenarios/parse_internal.h"

#include <ctype.h>
#include <string.h>
#include <stdlib.h>

#define REQ .flags = SC_F_REQUIRED

/* ---- choices ---- */

static const char *const key_permissions[] = {"get",
                                              "list",
                                              "create",
                                              "update",
                                              "import",
                                              "delete",
                                              "recover",
                                              "backup",
                                              "restore",
                                              "purge",
                                              "encrypt",
                                              "decrypt",
                                              "wrapKey",
                                              "unwrapKey",
                                              "sign",
                                              "verify",
                                              "rotate",
                                              "getrotationpolicy",
                                              "setrotationpolicy",
                                              "release",
                                              "all",
                                              NULL};
static const char *const enabled_disabled[] = {"Enabled", "Disabled", NULL};
static const char *const allow_deny[] = {"Allow", "Deny", NULL};
static const char *const bypass_values[] = {"AzureServices", "None", NULL};
static const char *const vault_skus[] = {"standard", "premium", NULL};
static const char *const key_types[] = {"RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM", NULL};
static const char *const curves[] = {"P-256", "P-384", "P-521", "P-256K", NULL};
static const char *const key_ops[] = {"encrypt",   "decrypt", "sign",   "verify", "wrapKey",
                                      "unwrapKey", "import",  "export", NULL};
static const char *const import_formats[] = {"jwk", "pem", "pfx", "byok", "backup", NULL};
static const char *const roles[] = {"Key Vault Administrator",
                                    "Key Vault Crypto Officer",
                                    "Key Vault Crypto User",
                                    "Key Vault Crypto Service Encryption User",
                                    "Key Vault Reader",
                                    "Managed HSM Administrator",
                                    "Managed HSM Crypto Officer",
                                    "Managed HSM Crypto User",
                                    "Managed HSM Crypto Service Encryption User",
                                    "Managed HSM Crypto Auditor",
                                    "Managed HSM Backup",
                                    NULL};
static const char *const identity_types[] = {"UserAssigned", "ServicePrincipal", NULL};
static const char *const encryption_types[] = {"AzureKeyVault", "SystemManaged", NULL};
static const char *const create_modes[] = {"Create",  "PointInTimeRestore", "GeoRestore",
                                           "Replica", "ReviveDropped",      NULL};
static const char *const ssl_modes[] = {"disable", "require", "verify-ca", "verify-full", NULL};

/* ---- syntax checks of some strings ---- */

int sc__check_sqlstate(const char *s)
{
    if (strlen(s) != 5)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !isupper((unsigned char)*p))
            return -1;
    return 0;
}
#define SQLSTATE_CHECK                                                                             \
    .check = sc__check_sqlstate, .what = "a SQLSTATE of 5 digits or capitals (57P03)"

/* ---- shared pieces of schemas ---- */

#define ARG_AS                                                                                     \
    {                                                                                              \
        .key = "as", .type = SC_T_STRING, .ref = SC_REF_IDENTITY                                   \
    }
#define ARG_FROM                                                                                   \
    {                                                                                              \
        .key = "from", .type = SC_T_STRING                                                         \
    }
#define ARG_TENANT                                                                                 \
    {                                                                                              \
        .key = "tenant", .type = SC_T_STRING, .ref = SC_REF_TENANT                                 \
    }

const struct sc_field sc__string_elem = {.key = "item", .type = SC_T_STRING};
static const struct sc_field identity_elem = {
    .key = "identity", .type = SC_T_STRING, .ref = SC_REF_IDENTITY};
static const struct sc_field permission_elem = {
    .key = "permission", .type = SC_T_STRING, .choices = key_permissions};
static const struct sc_field key_op_elem = {.key = "op", .type = SC_T_STRING, .choices = key_ops};
const struct sc_field sc__cell_elem = {.key = "cell", .type = SC_T_STRING, .flags = SC_F_NULLABLE};
const struct sc_field sc__row_elem = {.key = "row", .type = SC_T_LIST, .elem = &sc__cell_elem};

static const struct sc_field network_acls[] = {
    {.key = "defaultAction", .type = SC_T_STRING, .choices = allow_deny},
    {.key = "bypass", .type = SC_T_STRING, .choices = bypass_values},
    {.key = "ipRules", .type = SC_T_LIST, .elem = &sc__string_elem},
    {0},
};

static const struct sc_field access_policy[] = {
    {.key = "identity", .type = SC_T_STRING, REQ, .ref = SC_REF_IDENTITY},
    {.key = "permissions", .type = SC_T_LIST, REQ, .elem = &permission_elem},
    {0},
};
static const struct sc_field access_policy_elem = {
    .key = "accessPolicy", .type = SC_T_MAP, .fields = access_policy};

static const struct sc_field key_attributes[] = {
    {.key = "enabled", .type = SC_T_BOOL},
    {.key = "notBefore", .type = SC_T_WHEN},
    {.key = "expires", .type = SC_T_WHEN},
    {0},
};

static const struct sc_field rotation_policy[] = {
    {.key = "expiryTime", .type = SC_T_DURATION},
    {.key = "rotateAfterCreate", .type = SC_T_DURATION},
    {.key = "rotateBeforeExpiry", .type = SC_T_DURATION},
    {.key = "notifyBeforeExpiry", .type = SC_T_DURATION},
    {0},
};

static const struct sc_field data_encryption[] = {
    {.key = "type", .type = SC_T_STRING, .choices = encryption_types},
    {.key = "primaryKey", .type = SC_T_KEYREF, .ref = SC_REF_KEY},
    {.key = "identity", .type = SC_T_STRING, .ref = SC_REF_IDENTITY},
    {.key = "geoBackupKey", .type = SC_T_KEYREF, .ref = SC_REF_KEY},
    {.key = "geoBackupIdentity", .type = SC_T_STRING, .ref = SC_REF_IDENTITY},
    {0},
};

static const struct sc_field backup_settings[] = {
    {.key = "retentionDays", .type = SC_T_INT, .min = 1, .max = 35},
    {.key = "geoRedundant", .type = SC_T_BOOL},
    {0},
};

/* ---- action argument schemas ---- */

static const struct sc_field tenant_create[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    {0},
};

static const struct sc_field identity_create[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    ARG_TENANT,
    {.key = "type", .type = SC_T_STRING, .choices = identity_types},
    {.key = "location", .type = SC_T_STRING},
    {.key = "resourceGroup", .type = SC_T_STRING},
    ARG_AS,
    {0},
};

static const struct sc_field identity_ref[] = {
    {.key = "identity", .type = SC_T_STRING, REQ, .ref = SC_REF_IDENTITY},
    ARG_AS,
    {0},
};

static const struct sc_field vault_create[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    ARG_TENANT,
    {.key = "location", .type = SC_T_STRING},
    {.key = "resourceGroup", .type = SC_T_STRING},
    {.key = "sku", .type = SC_T_STRING, .choices = vault_skus},
    {.key = "enableSoftDelete", .type = SC_T_BOOL},
    {.key = "softDeleteRetentionInDays", .type = SC_T_INT, .min = 7, .max = 90},
    {.key = "enablePurgeProtection", .type = SC_T_BOOL},
    {.key = "enableRbacAuthorization", .type = SC_T_BOOL},
    {.key = "publicNetworkAccess", .type = SC_T_STRING, .choices = enabled_disabled},
    {.key = "networkAcls", .type = SC_T_MAP, .fields = network_acls},
    {.key = "accessPolicies", .type = SC_T_LIST, .elem = &access_policy_elem},
    ARG_AS,
    {0},
};

static const struct sc_field vault_update[] = {
    {.key = "vault", .type = SC_T_STRING, REQ, .ref = SC_REF_VAULT},
    {.key = "enableSoftDelete", .type = SC_T_BOOL},
    {.key = "softDeleteRetentionInDays", .type = SC_T_INT, .min = 7, .max = 90},
    {.key = "enablePurgeProtection", .type = SC_T_BOOL},
    {.key = "enableRbacAuthorization", .type = SC_T_BOOL},
    {.key = "publicNetworkAccess", .type = SC_T_STRING, .choices = enabled_disabled},
    {.key = "networkAcls", .type = SC_T_MAP, .fields = network_acls},
    {.key = "accessPolicies", .type = SC_T_LIST, .elem = &access_policy_elem},
    ARG_AS,
    {0},
};
static const char *const vault_update_one_of[] = {
    "enableSoftDelete",      "softDeleteRetentionInDays",
    "enablePurgeProtection", "enableRbacAuthorization",
    "publicNetworkAccess",   "networkAcls",
    "accessPolicies",        NULL};

static const struct sc_field vault_ref[] = {
    {.key = "vault", .type = SC_T_STRING, REQ, .ref = SC_REF_VAULT},
    ARG_AS,
    {0},
};

static const struct sc_field vault_network_rules[] = {
    {.key = "vault", .type = SC_T_STRING, REQ, .ref = SC_REF_VAULT},
    {.key = "publicNetworkAccess", .type = SC_T_STRING, .choices = enabled_disabled},
    {.key = "defaultAction", .type = SC_T_STRING, .choices = allow_deny},
    {.key = "bypass", .type = SC_T_STRING, .choices = bypass_values},
    {.key = "ipRules", .type = SC_T_LIST, .elem = &sc__string_elem},
    ARG_AS,
    {0},
};
static const char *const network_rules_one_of[] = {"publicNetworkAccess", "defaultAction", "bypass",
                                                   "ipRules", NULL};

static const struct sc_field vault_grant[] = {
    {.key = "vault", .type = SC_T_STRING, REQ, .ref = SC_REF_VAULT},
    {.key = "identity", .type = SC_T_STRING, REQ, .ref = SC_REF_IDENTITY},
    {.key = "permissions", .type = SC_T_LIST, REQ, .elem = &permission_elem},
    ARG_AS,
    {0},
};

static const struct sc_field vault_revoke[] = {
    {.key = "vault", .type = SC_T_STRING, REQ, .ref = SC_REF_VAULT},
    {.key = "identity", .type = SC_T_STRING, REQ, .ref = SC_REF_IDENTITY},
    {.key = "permissions", .type = SC_T_LIST, .elem = &permission_elem},
    ARG_AS,
    {0},
};

static const struct sc_field hsm_create[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    ARG_TENANT,
    {.key = "location", .type = SC_T_STRING},
    {.key = "resourceGroup", .type = SC_T_STRING},
    {.key = "softDeleteRetentionInDays", .type = SC_T_INT, .min = 7, .max = 90},
    {.key = "enablePurgeProtection", .type = SC_T_BOOL},
    {.key = "publicNetworkAccess", .type = SC_T_STRING, .choices = enabled_disabled},
    {.key = "networkAcls", .type = SC_T_MAP, .fields = network_acls},
    {.key = "admins", .type = SC_T_LIST, .elem = &identity_elem},
    {.key = "activate", .type = SC_T_BOOL},
    ARG_AS,
    {0},
};

static const struct sc_field hsm_activate[] = {
    {.key = "hsm", .type = SC_T_STRING, REQ, .ref = SC_REF_HSM},
    {.key = "quorum", .type = SC_T_INT, .min = 2, .max = 10},
    ARG_AS,
    {0},
};

static const struct sc_field hsm_ref[] = {
    {.key = "hsm", .type = SC_T_STRING, REQ, .ref = SC_REF_HSM},
    ARG_AS,
    {0},
};

static const struct sc_field key_create[] = {
    {.key = "vault", .type = SC_T_STRING, REQ, .ref = SC_REF_STORE},
    {.key = "name", .type = SC_T_STRING, REQ},
    {.key = "kty", .type = SC_T_STRING, .choices = key_types},
    {.key = "size", .type = SC_T_INT, .min = 1, .max = 16384},
    {.key = "curve", .type = SC_T_STRING, .choices = curves},
    {.key = "ops", .type = SC_T_LIST, .elem = &key_op_elem},
    {.key = "attributes", .type = SC_T_MAP, .fields = key_attributes},
    {.key = "tags", .type = SC_T_DICT},
    {.key = "rotationPolicy", .type = SC_T_MAP, .fields = rotation_policy},
    ARG_AS,
    ARG_FROM,
    {0},
};

static const struct sc_field key_import[] = {
    {.key = "vault", .type = SC_T_STRING, REQ, .ref = SC_REF_STORE},
    {.key = "name", .type = SC_T_STRING, REQ},
    {.key = "format", .type = SC_T_STRING, REQ, .choices = import_formats},
    {.key = "file", .type = SC_T_STRING},
    {.key = "backupOf", .type = SC_T_KEYREF, .ref = SC_REF_KEY},
    {.key = "kty", .type = SC_T_STRING, .choices = key_types},
    {.key = "size", .type = SC_T_INT, .min = 1, .max = 16384},
    {.key = "curve", .type = SC_T_STRING, .choices = curves},
    {.key = "password", .type = SC_T_STRING},
    {.key = "hsm", .type = SC_T_BOOL},
    {.key = "attributes", .type = SC_T_MAP, .fields = key_attributes},
    {.key = "tags", .type = SC_T_DICT},
    ARG_AS,
    ARG_FROM,
    {0},
};

static const struct sc_field key_ref[] = {
    {.key = "key", .type = SC_T_KEYREF, REQ, .ref = SC_REF_KEY},
    ARG_AS,
    ARG_FROM,
    {0},
};

static const struct sc_field key_set_expiry[] = {
    {.key = "key", .type = SC_T_KEYREF, REQ, .ref = SC_REF_KEY},
    {.key = "expires", .type = SC_T_WHEN, REQ},
    {.key = "notBefore", .type = SC_T_WHEN},
    ARG_AS,
    ARG_FROM,
    {0},
};

static const struct sc_field role_assign[] = {
    {.key = "vault", .type = SC_T_STRING, .ref = SC_REF_VAULT},
    {.key = "hsm", .type = SC_T_STRING, .ref = SC_REF_HSM},
    {.key = "key", .type = SC_T_STRING},
    {.key = "identity", .type = SC_T_STRING, REQ, .ref = SC_REF_IDENTITY},
    {.key = "role", .type = SC_T_STRING, REQ, .choices = roles},
    {.key = "name", .type = SC_T_STRING},
    ARG_AS,
    {0},
};
static const char *const vault_or_hsm[] = {"vault", "hsm", NULL};

static const struct sc_field server_create[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    ARG_TENANT,
    {.key = "location", .type = SC_T_STRING},
    {.key = "resourceGroup", .type = SC_T_STRING},
    {.key = "version", .type = SC_T_STRING},
    {.key = "sku", .type = SC_T_STRING},
    {.key = "storageSizeGB", .type = SC_T_INT, .min = 1, .max = 65536},
    {.key = "administratorLogin", .type = SC_T_STRING},
    {.key = "administratorPassword", .type = SC_T_STRING},
    {.key = "identities", .type = SC_T_LIST, .elem = &identity_elem},
    {.key = "dataEncryption", .type = SC_T_MAP, .fields = data_encryption},
    {.key = "backup", .type = SC_T_MAP, .fields = backup_settings},
    {.key = "createMode", .type = SC_T_STRING, .choices = create_modes},
    {.key = "source", .type = SC_T_STRING, .ref = SC_REF_SERVER},
    {.key = "pointInTime", .type = SC_T_POINT},
    ARG_AS,
    {0},
};

static const struct sc_field server_update_key[] = {
    {.key = "server", .type = SC_T_STRING, REQ, .ref = SC_REF_SERVER},
    {.key = "type", .type = SC_T_STRING, .choices = encryption_types},
    {.key = "primaryKey", .type = SC_T_KEYREF, .ref = SC_REF_KEY},
    {.key = "identity", .type = SC_T_STRING, .ref = SC_REF_IDENTITY},
    {.key = "geoBackupKey", .type = SC_T_KEYREF, .ref = SC_REF_KEY},
    {.key = "geoBackupIdentity", .type = SC_T_STRING, .ref = SC_REF_IDENTITY},
    {.key = "identities", .type = SC_T_LIST, .elem = &identity_elem},
    ARG_AS,
    {0},
};
static const char *const update_key_one_of[] = {"type",         "primaryKey",        "identity",
                                                "geoBackupKey", "geoBackupIdentity", NULL};

static const struct sc_field server_restore[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    {.key = "source", .type = SC_T_STRING, REQ, .ref = SC_REF_SERVER},
    {.key = "pointInTime", .type = SC_T_POINT},
    {.key = "location", .type = SC_T_STRING},
    {.key = "identities", .type = SC_T_LIST, .elem = &identity_elem},
    {.key = "dataEncryption", .type = SC_T_MAP, .fields = data_encryption},
    {.key = "backup", .type = SC_T_MAP, .fields = backup_settings},
    ARG_AS,
    {0},
};

static const struct sc_field server_replica[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    {.key = "source", .type = SC_T_STRING, REQ, .ref = SC_REF_SERVER},
    {.key = "location", .type = SC_T_STRING},
    {.key = "identities", .type = SC_T_LIST, .elem = &identity_elem},
    {.key = "dataEncryption", .type = SC_T_MAP, .fields = data_encryption},
    ARG_AS,
    {0},
};

static const struct sc_field server_geo_restore[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    {.key = "source", .type = SC_T_STRING, REQ, .ref = SC_REF_SERVER},
    {.key = "location", .type = SC_T_STRING},
    {.key = "identities", .type = SC_T_LIST, .elem = &identity_elem},
    {.key = "dataEncryption", .type = SC_T_MAP, .fields = data_encryption},
    {.key = "backup", .type = SC_T_MAP, .fields = backup_settings},
    ARG_AS,
    {0},
};

static const struct sc_field server_ref[] = {
    {.key = "server", .type = SC_T_STRING, REQ, .ref = SC_REF_SERVER},
    ARG_AS,
    {0},
};

static const struct sc_field client_connect[] = {
    {.key = "server", .type = SC_T_STRING, REQ, .ref = SC_REF_SERVER},
    {.key = "database", .type = SC_T_STRING},
    {.key = "user", .type = SC_T_STRING},
    {.key = "password", .type = SC_T_STRING},
    {.key = "session", .type = SC_T_STRING},
    {.key = "sslmode", .type = SC_T_STRING, .choices = ssl_modes},
    {0},
};

static const struct sc_field client_disconnect[] = {
    {.key = "session", .type = SC_T_STRING, REQ, .ref = SC_REF_SESSION},
    {0},
};

static const struct sc_field client_query[] = {
    {.key = "server", .type = SC_T_STRING, .ref = SC_REF_SERVER},
    {.key = "session", .type = SC_T_STRING, .ref = SC_REF_SESSION},
    {.key = "database", .type = SC_T_STRING},
    {.key = "user", .type = SC_T_STRING},
    {.key = "password", .type = SC_T_STRING},
    {.key = "sql", .type = SC_T_STRING, REQ},
    {.key = "params", .type = SC_T_LIST, .elem = &sc__cell_elem},
    {.key = "rows", .type = SC_T_LIST, .elem = &sc__row_elem},
    {.key = "rowCount", .type = SC_T_INT, .min = 0, .max = INT64_MAX},
    {.key = "sqlstate", .type = SC_T_STRING, SQLSTATE_CHECK},
    {0},
};
static const char *const server_or_session[] = {"server", "session", NULL};

static const struct sc_field fault_vault_unreachable[] = {
    {.key = "target", .type = SC_T_STRING, REQ, .ref = SC_REF_STORE},
    {.key = "for", .type = SC_T_DURATION, REQ},
    {0},
};

static const struct sc_field clock_advance[] = {
    {.key = "by", .type = SC_T_DURATION, REQ},
    {0},
};

/* Per action: its schema and what it defines; the names come from SC_ACTIONS (scenario.h). */
#define A_TENANT_CREATE           .args = tenant_create, .defines = SC_REF_TENANT, .name_arg = "name"
#define A_IDENTITY_CREATE         .args = identity_create, .defines = SC_REF_IDENTITY, .name_arg = "name"
#define A_IDENTITY_DELETE         .args = identity_ref, .primary = "identity"
#define A_VAULT_CREATE            .args = vault_create, .defines = SC_REF_VAULT, .name_arg = "name"
#define A_VAULT_UPDATE            .args = vault_update, .one_of = vault_update_one_of
#define A_VAULT_DELETE            .args = vault_ref, .primary = "vault"
#define A_VAULT_RECOVER           .args = vault_ref, .primary = "vault"
#define A_VAULT_PURGE             .args = vault_ref, .primary = "vault"
#define A_VAULT_SET_NETWORK_RULES .args = vault_network_rules, .one_of = network_rules_one_of
#define A_VAULT_GRANT             .args = vault_grant
#define A_VAULT_REVOKE            .args = vault_revoke
#define A_HSM_CREATE              .args = hsm_create, .defines = SC_REF_HSM, .name_arg = "name"
#define A_HSM_ACTIVATE            .args = hsm_activate, .primary = "hsm"
#define A_HSM_DELETE              .args = hsm_ref, .primary = "hsm"
#define A_HSM_RECOVER             .args = hsm_ref, .primary = "hsm"
#define A_HSM_PURGE               .args = hsm_ref, .primary = "hsm"
#define A_KEY_CREATE              .args = key_create, .defines = SC_REF_KEY, .name_arg = "name"
#define A_KEY_IMPORT              .args = key_import, .defines = SC_REF_KEY, .name_arg = "name"
#define A_KEY_GET                 .args = key_ref, .primary = "key"
#define A_KEY_DISABLE             .args = key_ref, .primary = "key"
#define A_KEY_ENABLE              .args = key_ref, .primary = "key"
#define A_KEY_SET_EXPIRY          .args = key_set_expiry
#define A_KEY_ROTATE              .args = key_ref, .primary = "key"
#define A_KEY_DELETE              .args = key_ref, .primary = "key"
#define A_KEY_RECOVER             .args = key_ref, .primary = "key"
#define A_KEY_PURGE               .args = key_ref, .primary = "key"
#define A_ROLE_ASSIGN             .args = role_assign, .one_of = vault_or_hsm
#define A_ROLE_REMOVE             .args = role_assign, .one_of = vault_or_hsm
#define A_SERVER_CREATE           .args = server_create, .defines = SC_REF_SERVER, .name_arg = "name"
#define A_SERVER_UPDATE_KEY       .args = server_update_key, .one_of = update_key_one_of
#define A_SERVER_RESTORE          .args = server_restore, .defines = SC_REF_SERVER, .name_arg = "name"
#define A_SERVER_REPLICA          .args = server_replica, .defines = SC_REF_SERVER, .name_arg = "name"
#define A_SERVER_GEO_RESTORE                                                                       \
    .args = server_geo_restore, .defines = SC_REF_SERVER, .name_arg = "name"
#define A_SERVER_STOP    .args = server_ref, .primary = "server"
#define A_SERVER_START   .args = server_ref, .primary = "server"
#define A_SERVER_RESTART .args = server_ref, .primary = "server"
#define A_SERVER_DELETE  .args = server_ref, .primary = "server"
#define A_CLIENT_CONNECT                                                                           \
    .args = client_connect, .primary = "server", .defines = SC_REF_SESSION, .name_arg = "session"
#define A_CLIENT_DISCONNECT       .args = client_disconnect, .primary = "session"
#define A_CLIENT_QUERY            .args = client_query, .one_of = server_or_session
#define A_FAULT_VAULT_UNREACHABLE .args = fault_vault_unreachable
#define A_CLOCK_ADVANCE           .args = clock_advance, .primary = "by"

#define SC_ACTION_ROW(id_, name_) [SC_A_##id_] = {.id = SC_A_##id_, .name = name_, A_##id_},
const struct sc_action_def sc_actions[SC_A_COUNT] = {SC_ACTIONS(SC_ACTION_ROW)};
#undef SC_ACTION_ROW

const struct sc_action_def *sc_action_find(const char *name)
{
    for (int i = 0; i < SC_A_COUNT; i++)
        if (strcmp(sc_actions[i].name, name) == 0)
            return &sc_actions[i];
    return NULL;
}

const struct sc_setup_section sc_setup_sections[] = {
    {"tenants", SC_A_TENANT_CREATE}, {"identities", SC_A_IDENTITY_CREATE},
    {"vaults", SC_A_VAULT_CREATE},   {"hsms", SC_A_HSM_CREATE},
    {"keys", SC_A_KEY_CREATE},       {"roleAssignments", SC_A_ROLE_ASSIGN},
    {"servers", SC_A_SERVER_CREATE}, {"rows", SC_A_CLIENT_QUERY},
};
const size_t sc_setup_section_count = sizeof(sc_setup_sections) / sizeof(sc_setup_sections[0]);
