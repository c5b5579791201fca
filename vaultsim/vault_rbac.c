/* vault_rbac.c: Azure RBAC for vaults with enableRbacAuthorization (see vault.h): the built-in
 * role definitions (ids and data actions as in Azure), role assignments at subscription,
 * resource group, vault and key scope (Microsoft.Authorization/roleAssignments, as `az role
 * assignment` and the SDKs call them), and the check the data plane makes: some assignment of
 * the caller at a scope covering the key has a role whose data actions match the operation's. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "common/store.h"
#include "vault_int.h"

struct role {
    const char *id;
    const char *name;
    const char *description;
    const char *const *actions;
    const char *const *data_actions;
};

static const char *const none[] = {NULL};
static const char *const kv_admin_actions[] = {
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
    NULL};
static const char *const all_vault_data[] = {"Microsoft.KeyVault/vaults/*", NULL};
static const char *const crypto_officer_data[] = {
    "Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*", NULL};
static const char *const crypto_user_data[] = {"Microsoft.KeyVault/vaults/keys/read",
                                               "Microsoft.KeyVault/vaults/keys/update/action",
                                               "Microsoft.KeyVault/vaults/keys/backup/action",
                                               "Microsoft.KeyVault/vaults/keys/encrypt/action",
                                               "Microsoft.KeyVault/vaults/keys/decrypt/action",
                                               "Microsoft.KeyVault/vaults/keys/wrap/action",
                                               "Microsoft.KeyVault/vaults/keys/unwrap/action",
                                               "Microsoft.KeyVault/vaults/keys/sign/action",
                                               "Microsoft.KeyVault/vaults/keys/verify/action",
                                               NULL};
static const char *const crypto_service_data[] = {
    "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action",
    "Microsoft.KeyVault/vaults/keys/unwrap/action", NULL};
static const char *const release_data[] = {"Microsoft.KeyVault/vaults/keys/release/action", NULL};
static const char *const reader_data[] = {"Microsoft.KeyVault/vaults/*/read",
                                          "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
                                          NULL};
static const char *const secrets_officer_data[] = {"Microsoft.KeyVault/vaults/secrets/*", NULL};
static const char *const secrets_user_data[] = {
    "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "Microsoft.KeyVault/vaults/secrets/readMetadata/action", NULL};
static const char *const certs_officer_data[] = {
    "Microsoft.KeyVault/vaults/certificatecas/*", "Microsoft.KeyVault/vaults/certificates/*",
    "Microsoft.KeyVault/vaults/certificatecontacts/write", NULL};
static const char *const kv_reader_actions[] = {
    "Microsoft.Authorization/*/read",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
    NULL};
static const char *const star[] = {"*", NULL};
static const char *const read_all[] = {"*/read", NULL};
static const char *const kv_contrib_actions[] = {"Microsoft.KeyVault/*", NULL};

static const struct role roles[] = {
    {"00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator",
     "Perform all data plane operations on a key vault and all objects in it, including "
     "certificates, keys, and secrets. Cannot manage key vault resources or manage role "
     "assignments. Only works for key vaults that use the 'Azure role-based access control' "
     "permission model.",
     kv_admin_actions, all_vault_data},
    {"14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "Key Vault Crypto Officer",
     "Perform any action on the keys of a key vault, except manage permissions. Only works for "
     "key vaults that use the 'Azure role-based access control' permission model.",
     kv_admin_actions, crypto_officer_data},
    {"12338af0-0e69-4776-bea7-57ae8d297424", "Key Vault Crypto User",
     "Perform cryptographic operations using keys. Only works for key vaults that use the "
     "'Azure role-based access control' permission model.",
     none, crypto_user_data},
    {"e147488a-f6f5-4113-8e2d-b22465e65bf6", "Key Vault Crypto Service Encryption User",
     "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults that "
     "use the 'Azure role-based access control' permission model.",
     none, crypto_service_data},
    {"08bbd89e-9f13-488c-ac41-acfcb10c90ab", "Key Vault Crypto Service Release User",
     "Release keys. Only works for key vaults that use the 'Azure role-based access control' "
     "permission model.",
     none, release_data},
    {"21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader",
     "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive "
     "values such as secret contents or key material. Only works for key vaults that use the "
     "'Azure role-based access control' permission model.",
     kv_reader_actions, reader_data},
    {"b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer",
     "Perform any action on the secrets of a key vault, except manage permissions.",
     kv_admin_actions, secrets_officer_data},
    {"4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User",
     "Read secret contents including secret portion of a certificate with private key.", none,
     secrets_user_data},
    {"a4417e6f-fecd-4de8-b567-7b0420556985", "Key Vault Certificates Officer",
     "Perform any action on the certificates of a key vault, except manage permissions.",
     kv_admin_actions, certs_officer_data},
    {"f25e0fa2-a7c8-4377-a976-54943a77a395", "Key Vault Contributor",
     "Manage key vaults, but does not allow you to assign roles in Azure RBAC, and does not allow "
     "you to access secrets, keys, or certificates.",
     kv_contrib_actions, none},
    {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner",
     "Grants full access to manage all resources, including the ability to assign roles in Azure "
     "RBAC.",
     star, none},
    {"b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor",
     "Grants full access to manage all resources, but does not allow you to assign roles in "
     "Azure RBAC.",
     star, none},
    {"acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader",
     "View all resources, but does not allow you to make any changes.", read_all, none},
};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

static const char *const perm_actions[VS_PERM__COUNT] = {
    [VS_PERM_GET] = "Microsoft.KeyVault/vaults/keys/read",
    [VS_PERM_LIST] = "Microsoft.KeyVault/vaults/keys/read",
    [VS_PERM_CREATE] = "Microsoft.KeyVault/vaults/keys/create/action",
    [VS_PERM_IMPORT] = "Microsoft.KeyVault/vaults/keys/import/action",
    [VS_PERM_UPDATE] = "Microsoft.KeyVault/vaults/keys/update/action",
    [VS_PERM_DELETE] = "Microsoft.KeyVault/vaults/keys/delete",
    [VS_PERM_RECOVER] = "Microsoft.KeyVault/vaults/deletedKeys/recover/action",
    [VS_PERM_PURGE] = "Microsoft.KeyVault/vaults/deletedKeys/delete",
    [VS_PERM_BACKUP] = "Microsoft.KeyVault/vaults/keys/backup/action",
    [VS_PERM_RESTORE] = "Microsoft.KeyVault/vaults/keys/restore/action",
    [VS_PERM_ENCRYPT] = "Microsoft.KeyVault/vaults/keys/encrypt/action",
    [VS_PERM_DECRYPT] = "Microsoft.KeyVault/vaults/keys/decrypt/action",
    [VS_PERM_SIGN] = "Microsoft.KeyVault/vaults/keys/sign/action",
    [VS_PERM_VERIFY] = "Microsoft.KeyVault/vaults/keys/verify/action",
    [VS_PERM_WRAP] = "Microsoft.KeyVault/vaults/keys/wrap/action",
    [VS_PERM_UNWRAP] = "Microsoft.KeyVault/vaults/keys/unwrap/action",
    [VS_PERM_ROTATE] = "Microsoft.KeyVault/vaults/keys/rotate/action",
    [VS_PERM_GETROTATIONPOLICY] = "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
    [VS_PERM_SETROTATIONPOLICY] = "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
    [VS_PERM_RELEASE] = "Microsoft.KeyVault/vaults/keys/release/action",
    [VS_PERM_RANDOM] = NULL,
    [VS_PERM_GETDELETED] = "Microsoft.KeyVault/vaults/deletedKeys/read",
};

const char *vs__rbac_action(enum vs_perm perm)
{
    return perm >= 0 && perm < VS_PERM__COUNT ? perm_actions[perm] : NULL;
}

/* Case-insensitive glob where '*' matches any run of characters. */
static int glob(const char *pat, const char *s)
{
    while (*pat) {
        if (*pat == '*') {
            pat++;
            if (*pat == '\0')
                return 1;
            for (; *s; s++)
                if (glob(pat, s))
                    return 1;
            return 0;
        }
        if (tolower((unsigned char)*pat) != tolower((unsigned char)*s))
            return 0;
        pat++;
        s++;
    }
    return *s == '\0';
}

static const struct role *role_by_id(const char *id)
{
    /* accept the bare GUID or any ".../roleDefinitions/GUID" */
    const char *slash = id ? strrchr(id, '/') : NULL;
    const char *guid = slash ? slash + 1 : id;
    for (size_t i = 0; guid && i < NROLES; i++)
        if (strcasecmp(roles[i].id, guid) == 0)
            return &roles[i];
    return NULL;
}

static int role_has(const struct role *r, const char *action)
{
    for (size_t i = 0; r->data_actions[i]; i++)
        if (glob(r->data_actions[i], action))
            return 1;
    return 0;
}

/* Does scope cover resource (equal, or an ancestor on a segment boundary)? */
static int covers(const char *scope, const char *resource)
{
    size_t n = strlen(scope);
    while (n > 0 && scope[n - 1] == '/')
        n--;
    if (n == 0)
        return 1;
    return strncasecmp(scope, resource, n) == 0 && (resource[n] == '\0' || resource[n] == '/');
}

int vs__rbac_allows(struct vs_vaults *vs, const char *oid, const char *resource, const char *action)
{
    sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT scope, role FROM vs_role_assignments"
                                                  " WHERE principal = ?");
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, oid, -1, SQLITE_TRANSIENT);
    int allowed = 0;
    while (!allowed && sqlite3_step(st) == SQLITE_ROW) {
        const char *scope = (const char *)sqlite3_column_text(st, 0);
        const struct role *r = role_by_id((const char *)sqlite3_column_text(st, 1));
        allowed = r && covers(scope, resource) && role_has(r, action);
    }
    sqlite3_reset(st);
    return allowed ? 0 : CMK_EDENIED;
}

int vs__rbac_forget(struct vs_vaults *vs, const char *scope)
{
    sqlite3_stmt *st = cmk_store_stmt(
        vs->rt->db, "DELETE FROM vs_role_assignments WHERE lower(scope) = lower(?1) OR"
                    " lower(substr(scope, 1, length(?1) + 1)) = lower(?1 || '/')");
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

/* ---- routes ------------------------------------------------------------------------------- */

/* The scope of the request from its path parameters. 404 if a vault in it does not exist. */
static int request_scope(struct vs_vaults *vs, struct cmk_request *req, char *out, size_t n,
                         struct cmk_err *err)
{
    const char *s = cmk_request_param(req, "s");
    const char *rg = cmk_request_param(req, "rg");
    const char *v = cmk_request_param(req, "v");
    const char *k = cmk_request_param(req, "k");
    size_t o = (size_t)snprintf(out, n, "/subscriptions/%s", s ? s : "");
    if (rg && o < n)
        o += (size_t)snprintf(out + o, n - o, "/resourceGroups/%s", rg);
    if (v) {
        const struct vs_vault *vault = vs__vault_find(vs, v);
        char id[CMK_ARM_ID_MAX];
        snprintf(id, sizeof(id), "%s/providers/Microsoft.KeyVault/vaults/%s", out, v);
        if (vault == NULL || !cmk_arm_id_equal(vault->ctr.id, id))
            return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                               "The Resource 'Microsoft.KeyVault/vaults/%s' under resource group "
                               "'%s' was not found. For more details please go to "
                               "https://aka.ms/ARMResourceNotFoundFix",
                               v, rg ? rg : "");
        o = (size_t)snprintf(out, n, "%s", vault->ctr.id);
        if (k && o < n)
            snprintf(out + o, n - o, "/keys/%s", k);
    }
    return 0;
}

static json_t *string_array(const char *const *list)
{
    json_t *a = json_array();
    for (size_t i = 0; list[i]; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

static json_t *role_json(const struct role *r, const char *sub)
{
    char id[256];
    if (sub && *sub)
        snprintf(id, sizeof(id),
                 "/subscriptions/%s/providers/Microsoft.Authorization/"
                 "roleDefinitions/%s",
                 sub, r->id);
    else
        snprintf(id, sizeof(id), "/providers/Microsoft.Authorization/roleDefinitions/%s", r->id);
    json_t *perm =
        json_pack("{s:o,s:[],s:o,s:[]}", "actions", string_array(r->actions), "notActions",
                  "dataActions", string_array(r->data_actions), "notDataActions");
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:[s],s:[o],s:s,s:s,s:n,s:n}}", "id", id, "name",
                     r->id, "type", "Microsoft.Authorization/roleDefinitions", "properties",
                     "roleName", r->name, "type", "BuiltInRole", "description", r->description,
                     "assignableScopes", "/", "permissions", perm, "createdOn",
                     "2015-02-02T21:55:09.8806423Z", "updatedOn", "2024-01-01T00:00:00.0000000Z",
                     "createdBy", "updatedBy");
}

/* "roleName eq 'Key Vault Crypto Officer'" -> the name; NULL if no such filter. */
static int filter_value(const char *filter, const char *field, char *out, size_t n)
{
    if (filter == NULL)
        return 0;
    const char *p = strcasestr(filter, field);
    if (p == NULL)
        return 0;
    p = strchr(p, '\'');
    const char *q = p ? strchr(p + 1, '\'') : NULL;
    if (q == NULL)
        return 0;
    snprintf(out, n, "%.*s", (int)(q - p - 1), p + 1);
    return 1;
}

static void h_role_definitions(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    int tenant_level = cmk_request_param(req, "s") == NULL;
    /* Tenant-level definitions need a token too (ARM answers nothing without one). */
    if (tenant_level && cmk_arm_authenticate(vs->arm, req, res, NULL) != 0)
        return;
    if (!tenant_level &&
        cmk_arm_call_begin(vs->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) != 0)
        goto End;
    const char *sub = tenant_level ? NULL : cmk_request_param(req, "s");
    const char *id = cmk_request_param(req, "rd");
    if (id) {
        const struct role *r = role_by_id(id);
        if (r == NULL) {
            struct cmk_err err;
            cmk_err_set(&err, CMK_ENOTFOUND, 404, "RoleDefinitionDoesNotExist",
                        "The specified role definition with ID '%s' does not exist.", id);
            cmk_response_error(res, &err);
        } else {
            cmk_response_json(res, 200, role_json(r, sub));
        }
        goto End;
    }
    char want[128];
    int by_name = filter_value(cmk_request_query(req, "$filter"), "roleName", want, sizeof(want));
    json_t *items = json_array();
    for (size_t i = 0; i < NROLES; i++)
        if (!by_name || strcasecmp(roles[i].name, want) == 0)
            json_array_append_new(items, role_json(&roles[i], sub));
    cmk_response_json(res, 200, json_pack("{s:o}", "value", items));
End:
    if (!tenant_level)
        cmk_arm_call_end(&call);
}

static json_t *assignment_row(sqlite3_stmt *st)
{
    return json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
}

static int assignment_get(struct vs_vaults *vs, const char *name, json_t **out)
{
    sqlite3_stmt *st =
        cmk_store_stmt(vs->rt->db, "SELECT doc FROM vs_role_assignments WHERE name = ?");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    *out = sqlite3_step(st) == SQLITE_ROW ? assignment_row(st) : NULL;
    sqlite3_reset(st);
    return *out != NULL;
}

static void assignment_put(struct vs_vaults *vs, struct cmk_arm_call *call, const char *scope,
                           const char *name)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    json_t *body = cmk_request_json(call->req, &err);
    json_t *props = json_object_get(body, "properties");
    const char *rdid = json_string_value(json_object_get(props, "roleDefinitionId"));
    const char *principal = json_string_value(json_object_get(props, "principalId"));
    const char *ptype = json_string_value(json_object_get(props, "principalType"));
    const struct role *r = role_by_id(rdid);
    json_t *old = NULL;
    if (body == NULL) {
        /* err set */
    } else if (!vs_ctr_guid_like(name)) {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidRoleAssignmentId",
                    "The role assignment ID '%s' is not valid. The role assignment ID must be a "
                    "GUID.",
                    name);
    } else if (r == NULL) {
        cmk_err_set(&err, CMK_EINVAL, 400, "RoleDefinitionDoesNotExist",
                    "The specified role definition with ID '%s' does not exist.", rdid ? rdid : "");
    } else if (!vs_ctr_guid_like(principal)) {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidPrincipalId",
                    "The principal ID '%s' is not valid. It must be a GUID.",
                    principal ? principal : "");
    } else if (assignment_get(vs, name, &old)) {
        json_t *op = json_object_get(old, "properties");
        const char *os = json_string_value(json_object_get(op, "scope"));
        const char *opr = json_string_value(json_object_get(op, "principalId"));
        const struct role *orole =
            role_by_id(json_string_value(json_object_get(op, "roleDefinitionId")));
        if (!os || !opr || !cmk_arm_id_equal(os, scope) || strcasecmp(opr, principal) != 0 ||
            orole != r)
            cmk_err_set(&err, CMK_ECONFLICT, 409, "RoleAssignmentUpdateNotPermitted",
                        "Tenant ID, application ID, principal ID, and scope are not allowed to be "
                        "updated.");
        else
            cmk_response_json(call->res, 201, json_incref(old));
        json_decref(old);
        if (err.rc != 0)
            cmk_arm_respond_error(call, &err);
        return;
    } else {
        sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT name FROM vs_role_assignments"
                                                      " WHERE principal = ? AND role = ?"
                                                      " AND lower(scope) = lower(?)");
        sqlite3_bind_text(st, 1, principal, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, scope, -1, SQLITE_TRANSIENT);
        int dup = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_reset(st);
        if (dup)
            cmk_err_set(&err, CMK_ECONFLICT, 409, "RoleAssignmentExists",
                        "The role assignment already exists.");
    }
    if (err.rc != 0) {
        cmk_arm_respond_error(call, &err);
        return;
    }
    char id[CMK_ARM_ID_MAX + 512], when[40];
    snprintf(id, sizeof(id), "%s/providers/Microsoft.Authorization/roleAssignments/%s", scope,
             name);
    cmk_time_format(cmk_clock_now(&vs->rt->clock), when, sizeof(when));
    json_t *doc = json_pack(
        "{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:n,s:n,s:s,s:s,s:s,s:s,s:n,s:O?}}", "id", id, "name",
        name, "type", "Microsoft.Authorization/roleAssignments", "properties", "roleDefinitionId",
        rdid, "principalId", principal, "principalType", ptype ? ptype : "ServicePrincipal",
        "scope", scope, "condition", "conditionVersion", "createdOn", when, "updatedOn", when,
        "createdBy", call->caller.oid, "updatedBy", call->caller.oid,
        "delegatedManagedIdentityResourceId", "description", json_object_get(props, "description"));
    char *text = json_dumps(doc, JSON_COMPACT);
    sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "INSERT INTO vs_role_assignments(name, scope,"
                                                  " role, principal, doc) VALUES(?, ?, ?, ?, ?)");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, scope, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, principal, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_TRANSIENT);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    free(text);
    if (!ok) {
        json_decref(doc);
        cmk_err_set(&err, CMK_EIO, 500, "InternalServerError",
                    "The role assignment was not "
                    "saved.");
        cmk_arm_respond_error(call, &err);
        return;
    }
    cmk_response_json(call->res, 201, doc);
}

static void h_assignment(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) != 0)
        goto End;
    const char *name = cmk_request_param(req, "ra");
    char scope[CMK_ARM_ID_MAX + 200];
    struct cmk_err err;
    cmk_err_clear(&err);
    if (request_scope(vs, req, scope, sizeof(scope), &err) != 0) {
        cmk_arm_respond_error(&call, &err);
        goto End;
    }
    if (strcmp(req->method, "PUT") == 0) {
        snprintf(call.operation, sizeof(call.operation),
                 "Microsoft.Authorization/roleAssignments/write");
        assignment_put(vs, &call, scope, name);
        goto End;
    }
    json_t *doc = NULL;
    int found = assignment_get(vs, name, &doc);
    if (found && !cmk_arm_id_equal(json_string_value(json_object_get(
                                       json_object_get(doc, "properties"), "scope")),
                                   scope)) {
        json_decref(doc);
        found = 0;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        snprintf(call.operation, sizeof(call.operation),
                 "Microsoft.Authorization/roleAssignments/delete");
        if (!found) {
            cmk_response_json(res, 204, NULL);
            goto End;
        }
        sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "DELETE FROM vs_role_assignments"
                                                      " WHERE name = ?");
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
        if (ok) {
            cmk_response_json(res, 200, doc);
        } else {
            json_decref(doc);
            cmk_err_set(&err, CMK_EIO, 500, "InternalServerError", "Not deleted.");
            cmk_arm_respond_error(&call, &err);
        }
        goto End;
    }
    if (!found) {
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "RoleAssignmentNotFound",
                    "The role assignment '%s' is not found.", name);
        cmk_arm_respond_error(&call, &err);
        goto End;
    }
    cmk_response_json(res, 200, doc);
End:
    cmk_arm_call_end(&call);
}

static void h_assignments(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) != 0)
        goto End;
    char scope[CMK_ARM_ID_MAX + 200];
    struct cmk_err err;
    if (request_scope(vs, req, scope, sizeof(scope), &err) != 0) {
        cmk_arm_respond_error(&call, &err);
        goto End;
    }
    const char *filter = cmk_request_query(req, "$filter");
    int at_scope = filter && strcasestr(filter, "atScope()") != NULL;
    char principal[64];
    int by_principal = filter_value(filter, "principalId", principal, sizeof(principal)) ||
                       filter_value(filter, "assignedTo(", principal, sizeof(principal));
    json_t *items = json_array();
    sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT doc, scope, principal FROM"
                                                  " vs_role_assignments ORDER BY rowid");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 1);
        const char *p = (const char *)sqlite3_column_text(st, 2);
        int above = covers(s, scope), below = covers(scope, s);
        if (at_scope ? !above : !(above || below))
            continue;
        if (by_principal && strcasecmp(p, principal) != 0)
            continue;
        json_t *doc = assignment_row(st);
        if (doc)
            json_array_append_new(items, doc);
    }
    sqlite3_reset(st);
    cmk_response_json(res, 200, json_pack("{s:o}", "value", items));
End:
    cmk_arm_call_end(&call);
}

#define AUTHZ       "/providers/Microsoft.Authorization"
#define SCOPE_SUB   "/subscriptions/{s}"
#define SCOPE_RG    SCOPE_SUB "/resourceGroups/{rg}"
#define SCOPE_VAULT SCOPE_RG "/providers/Microsoft.KeyVault/vaults/{v}"
#define SCOPE_KEY   SCOPE_VAULT "/keys/{k}"
#define SCOPE_ROUTES(S)                                                                            \
    {"GET", S AUTHZ "/roleAssignments", h_assignments},                                            \
        {"GET", S AUTHZ "/roleAssignments/{ra}", h_assignment},                                    \
        {"PUT", S AUTHZ "/roleAssignments/{ra}", h_assignment},                                    \
        {"DELETE", S AUTHZ "/roleAssignments/{ra}", h_assignment},                                 \
        {"GET", S AUTHZ "/roleDefinitions", h_role_definitions},                                   \
        {"GET", S AUTHZ "/roleDefinitions/{rd}", h_role_definitions},

static const struct cmk_route routes[] = {
    SCOPE_ROUTES(SCOPE_SUB) SCOPE_ROUTES(SCOPE_RG) SCOPE_ROUTES(SCOPE_VAULT)
        SCOPE_ROUTES(SCOPE_KEY){"GET", AUTHZ "/roleDefinitions", h_role_definitions},
    {"GET", AUTHZ "/roleDefinitions/{rd}", h_role_definitions},
    {NULL, NULL, NULL},
};

int vs__rbac_register(struct vs_vaults *vs, struct cmk_err *err)
{
    (void)err;
    cmk_router_add_table(&vs->rt->router, CMK_HOST_MGMT, routes, vs);
    return 0;
}
