/* hsm_rbac.c: Managed HSM local RBAC (see hsm.h): the built-in role definitions (ids and data
 * actions as the service lists them), custom role definitions, role assignments at the HSM's
 * own scopes ("/", "/keys", "/keys/{name}"), their routes on the HSM host
 *   GET|PUT|DELETE /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}
 *   GET            /{scope}/providers/Microsoft.Authorization/roleAssignments[?$filter=...]
 *   GET|PUT|DELETE /{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}
 *   GET            /{scope}/providers/Microsoft.Authorization/roleDefinitions[?$filter=...]
 * (the SDKs send the scope "/" as "///providers/..." and "/keys" as "//keys/providers/...": any
 * number of leading slashes is accepted), each through vaultsim's request pipeline (token,
 * tenant, network, activation, throttling, audit), and the check the key routes make: some
 * assignment of the caller at a scope covering the key has a role whose data actions grant the
 * operation's. */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "common/store.h"
#include "hsm_int.h"

#define DA        "Microsoft.KeyVault/managedHsm/"
#define RD_PREFIX "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE hsm_role_assignments ("
        " hsm TEXT NOT NULL,"
        " name TEXT NOT NULL COLLATE NOCASE,"
        " scope TEXT NOT NULL,"
        " role TEXT NOT NULL COLLATE NOCASE,"
        " principal TEXT NOT NULL COLLATE NOCASE,"
        " PRIMARY KEY (hsm, name));"
        "CREATE INDEX hsm_role_assignments_principal ON hsm_role_assignments(hsm, principal);"
        "CREATE TABLE hsm_role_definitions ("
        " hsm TEXT NOT NULL,"
        " name TEXT NOT NULL COLLATE NOCASE,"
        " doc TEXT NOT NULL,"
        " PRIMARY KEY (hsm, name));"},
};

struct role {
    const char *id;
    const char *name;
    const char *description;
    const char *const *data_actions;
};

static const char *const admin_da[] = {DA "roleAssignments/delete/action",
                                       DA "roleAssignments/read/action",
                                       DA "roleAssignments/write/action",
                                       DA "roleDefinitions/read/action",
                                       DA "roleDefinitions/write/action",
                                       DA "roleDefinitions/delete/action",
                                       DA "securitydomain/download/action",
                                       DA "securitydomain/download/read",
                                       DA "securitydomain/upload/action",
                                       DA "securitydomain/upload/read",
                                       DA "securitydomain/transferkey/read",
                                       DA "backup/start/action",
                                       DA "restore/start/action",
                                       DA "backup/status/action",
                                       DA "restore/status/action",
                                       NULL};
static const char *const officer_da[] = {DA "roleAssignments/delete/action",
                                         DA "roleAssignments/read/action",
                                         DA "roleAssignments/write/action",
                                         DA "roleDefinitions/read/action",
                                         DA "roleDefinitions/write/action",
                                         DA "roleDefinitions/delete/action",
                                         DA "keys/deletedKeys/read/action",
                                         DA "keys/deletedKeys/delete",
                                         DA "keys/deletedKeys/recover/action",
                                         DA "keys/export/action",
                                         NULL};
static const char *const user_da[] = {DA "roleDefinitions/read/action",
                                      DA "roleAssignments/read/action",
                                      DA "keys/read/action",
                                      DA "keys/write/action",
                                      DA "keys/delete",
                                      DA "keys/create",
                                      DA "keys/rotate/action",
                                      DA "keys/import/action",
                                      DA "keys/release/action",
                                      DA "keys/backup/action",
                                      DA "keys/restore/action",
                                      DA "keys/encrypt/action",
                                      DA "keys/decrypt/action",
                                      DA "keys/wrap/action",
                                      DA "keys/unwrap/action",
                                      DA "keys/sign/action",
                                      DA "keys/verify/action",
                                      DA "keys/derive/action",
                                      DA "rng/action",
                                      NULL};
static const char *const policy_admin_da[] = {DA "roleDefinitions/read/action",
                                              DA "roleDefinitions/write/action",
                                              DA "roleDefinitions/delete/action",
                                              DA "roleAssignments/read/action",
                                              DA "roleAssignments/write/action",
                                              DA "roleAssignments/delete/action",
                                              NULL};
static const char *const auditor_da[] = {DA "roleAssignments/read/action",
                                         DA "roleDefinitions/read/action", DA "keys/read/action",
                                         DA "keys/deletedKeys/read/action", NULL};
static const char *const service_da[] = {DA "keys/read/action", DA "keys/wrap/action",
                                         DA "keys/unwrap/action", NULL};
static const char *const release_da[] = {DA "keys/release/action", NULL};
static const char *const backup_da[] = {DA "backup/start/action", DA "backup/status/action",
                                        DA "keys/backup/action", NULL};

static const struct role roles[] = {
    {"a290e904-7015-4bba-90c8-60543313cdb4", "Managed HSM Administrator",
     "Grants permissions to perform all operations related to the security domain, full backup "
     "and restore, and role management. Not permitted to perform any key management operations.",
     admin_da},
    {"515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "Managed HSM Crypto Officer",
     "Grants permissions to perform all role management, purge or recover deleted keys, and "
     "export keys. Not permitted to perform any other key management operations.",
     officer_da},
    {"21dbd100-6940-42c2-9190-5d6cb909625b", "Managed HSM Crypto User",
     "Grants permissions to perform all key management operations except purge or recover "
     "deleted keys and export keys.",
     user_da},
    {"4bd23610-cdcf-4971-bdee-bdc562cc28e4", "Managed HSM Policy Administrator",
     "Grants permissions to create and delete role assignments.", policy_admin_da},
    {"2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", "Managed HSM Crypto Auditor",
     "Grants read permissions to read (but not use) key attributes.", auditor_da},
    {"33413926-3206-4cdd-b39a-83574fe37a17", "Managed HSM Crypto Service Encryption User",
     "Grants permissions to use a key for service encryption.", service_da},
    {"21dbd100-6940-42c2-9190-5d6cb909625c", "Managed HSM Crypto Service Release User",
     "Grants permissions to release a key to a trusted execution environment.", release_da},
    {"7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", "Managed HSM Backup",
     "Grants permissions to perform single key or whole HSM backup.", backup_da},
};
#define NROLES     (sizeof(roles) / sizeof(roles[0]))
#define ADMIN_ROLE (&roles[0])

static const char *const perm_actions[VS_PERM__COUNT] = {
    [VS_PERM_GET] = DA "keys/read/action",
    [VS_PERM_LIST] = DA "keys/read/action",
    [VS_PERM_CREATE] = DA "keys/create",
    [VS_PERM_IMPORT] = DA "keys/import/action",
    [VS_PERM_UPDATE] = DA "keys/write/action",
    [VS_PERM_DELETE] = DA "keys/delete",
    [VS_PERM_RECOVER] = DA "keys/deletedKeys/recover/action",
    [VS_PERM_PURGE] = DA "keys/deletedKeys/delete",
    [VS_PERM_BACKUP] = DA "keys/backup/action",
    [VS_PERM_RESTORE] = DA "keys/restore/action",
    [VS_PERM_ENCRYPT] = DA "keys/encrypt/action",
    [VS_PERM_DECRYPT] = DA "keys/decrypt/action",
    [VS_PERM_SIGN] = DA "keys/sign/action",
    [VS_PERM_VERIFY] = DA "keys/verify/action",
    [VS_PERM_WRAP] = DA "keys/wrap/action",
    [VS_PERM_UNWRAP] = DA "keys/unwrap/action",
    [VS_PERM_ROTATE] = DA "keys/rotate/action",
    [VS_PERM_GETROTATIONPOLICY] = DA "keys/read/action",
    [VS_PERM_SETROTATIONPOLICY] = DA "keys/write/action",
    [VS_PERM_RELEASE] = DA "keys/release/action",
    [VS_PERM_RANDOM] = DA "rng/action",
    [VS_PERM_GETDELETED] = DA "keys/deletedKeys/read/action",
};

const char *hsm__rbac_action(enum vs_perm perm)
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

/* The GUID of a role definition id: bare, or ".../roleDefinitions/GUID". */
static const char *role_guid(const char *id)
{
    const char *slash = id ? strrchr(id, '/') : NULL;
    return slash ? slash + 1 : id;
}

static const struct role *builtin(const char *id)
{
    const char *g = role_guid(id);
    for (size_t i = 0; g && i < NROLES; i++)
        if (strcasecmp(roles[i].id, g) == 0)
            return &roles[i];
    return NULL;
}

/* A custom role's document (new reference), or NULL. */
static json_t *custom_get(struct hsm_service *h, const char *hsm, const char *id)
{
    sqlite3_stmt *st = cmk_store_stmt(
        h->rt->db, "SELECT doc FROM hsm_role_definitions WHERE hsm = ? AND name = ?");
    sqlite3_bind_text(st, 1, hsm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, role_guid(id), -1, SQLITE_TRANSIENT);
    json_t *doc = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_reset(st);
    return doc;
}

static int list_has(const json_t *arr, const char *action)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i,
                       v) if (json_string_value(v) && glob(json_string_value(v), action)) return 1;
    return 0;
}

static int role_grants(struct hsm_service *h, const char *hsm, const char *role_id,
                       const char *action)
{
    const struct role *r = builtin(role_id);
    if (r) {
        for (size_t i = 0; r->data_actions[i]; i++)
            if (glob(r->data_actions[i], action))
                return 1;
        return 0;
    }
    json_t *doc = custom_get(h, hsm, role_id);
    int ok = 0;
    size_t i;
    const json_t *perm;
    json_array_foreach(json_object_get(json_object_get(doc, "properties"), "permissions"), i, perm)
    {
        if (list_has(json_object_get(perm, "dataActions"), action) &&
            !list_has(json_object_get(perm, "notDataActions"), action))
            ok = 1;
    }
    json_decref(doc);
    return ok;
}

/* Does an assignment at scope a cover target? "/" covers all, "/keys" every key. */
static int covers(const char *a, const char *target)
{
    if (strcmp(a, "/") == 0)
        return 1;
    if (strcasecmp(a, "/keys") == 0)
        return strncasecmp(target, "/keys", 5) == 0 && (target[5] == '\0' || target[5] == '/');
    return strcmp(a, target) == 0;
}

int hsm__rbac_allows(struct hsm_service *h, const char *hsm, const char *oid, const char *scope,
                     const char *action)
{
    sqlite3_stmt *st = cmk_store_stmt(
        h->rt->db, "SELECT scope, role FROM hsm_role_assignments WHERE hsm = ? AND principal = ?");
    sqlite3_bind_text(st, 1, hsm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, oid, -1, SQLITE_TRANSIENT);
    struct {
        char scope[256], role[160];
    } rows[64];
    size_t n = 0;
    while (n < 64 && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(rows[n].scope, sizeof(rows[n].scope), "%s",
                 (const char *)sqlite3_column_text(st, 0));
        snprintf(rows[n].role, sizeof(rows[n].role), "%s",
                 (const char *)sqlite3_column_text(st, 1));
        n++;
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < n; i++)
        if (covers(rows[i].scope, scope) && role_grants(h, hsm, rows[i].role, action))
            return 1;
    return 0;
}

int hsm__rbac_deny(struct cmk_err *err, const struct vs_container *c, const struct cmk_principal *p,
                   const char *action, const char *scope)
{
    cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                "Caller is not authorized to perform action on resource.\r\nIf role assignments, "
                "deny assignments or role definitions were changed recently, please observe "
                "propagation time.\r\nCaller: appid=%s;oid=%s;iss=%s\r\nAction: '%s'\r\nResource: "
                "'%s'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC' "
                "\r\nVault: %s;location=%s\r\n",
                p->appid, p->oid, p->iss, action, scope, c->space.name, c->location);
    cmk_err_inner(err, "ForbiddenByRbac");
    return CMK_EDENIED;
}

/* ---- storage ------------------------------------------------------------------------------ */

static int assignment_put(struct hsm_service *h, const char *hsm, const char *name,
                          const char *scope, const char *role, const char *principal)
{
    sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "INSERT OR REPLACE INTO hsm_role_assignments(hsm, "
                                                 "name, scope, role, principal) VALUES(?,?,?,?,?)");
    sqlite3_bind_text(st, 1, hsm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, scope, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, principal, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

/* A stable GUID-shaped name from text (the initial administrators' assignments). */
static void derived_guid(const char *text, char out[37])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(text, strlen(text), d, &n, EVP_sha256(), NULL);
    d[6] = (unsigned char)((d[6] & 0x0f) | 0x40);
    d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0],
             d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13],
             d[14], d[15]);
}

int hsm__rbac_add_admins(struct hsm_service *h, const char *hsm, const json_t *admins,
                         struct cmk_err *err)
{
    size_t i;
    const json_t *a;
    json_array_foreach(admins, i, a)
    {
        const char *oid = json_string_value(a);
        if (oid == NULL)
            continue;
        char text[256], name[37], role[160];
        snprintf(text, sizeof(text), "cmksim managed HSM administrator|%s|%s", hsm, oid);
        derived_guid(text, name);
        snprintf(role, sizeof(role), RD_PREFIX "%s", ADMIN_ROLE->id);
        if (assignment_put(h, hsm, name, "/", role, oid) != 0)
            return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                               "The initial administrators could not be assigned.");
    }
    return 0;
}

int hsm__rbac_forget(struct hsm_service *h, const char *hsm)
{
    static const char *const sql[] = {"DELETE FROM hsm_role_assignments WHERE hsm = ?",
                                      "DELETE FROM hsm_role_definitions WHERE hsm = ?"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = cmk_store_stmt(h->rt->db, sql[i]);
        sqlite3_bind_text(st, 1, hsm, -1, SQLITE_TRANSIENT);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
        if (!ok)
            return CMK_EIO;
    }
    return 0;
}

/* ---- JSON shapes ------------------------------------------------------------------------- */

static json_t *builtin_json(const struct role *r)
{
    json_t *da = json_array();
    for (size_t i = 0; r->data_actions[i]; i++)
        json_array_append_new(da, json_string(r->data_actions[i]));
    char id[160];
    snprintf(id, sizeof(id), RD_PREFIX "%s", r->id);
    return json_pack("{s:s, s:s, s:s, s:{s:[s], s:s, s:[{s:[], s:o, s:[], s:[]}], s:s, s:s}}", "id",
                     id, "name", r->id, "type", "Microsoft.Authorization/roleDefinitions",
                     "properties", "assignableScopes", "/", "description", r->description,
                     "permissions", "actions", "dataActions", da, "notActions", "notDataActions",
                     "roleName", r->name, "type", "AKVBuiltInRole");
}

static void assignment_id(char *out, size_t n, const char *scope, const char *name)
{
    snprintf(out, n, "%s/providers/Microsoft.Authorization/roleAssignments/%s",
             strcmp(scope, "/") == 0 ? "" : scope, name);
}

static json_t *assignment_json(const char *name, const char *scope, const char *role,
                               const char *principal)
{
    char id[512];
    assignment_id(id, sizeof(id), scope, name);
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id", id, "name", name, "type",
                     "Microsoft.Authorization/roleAssignments", "properties", "scope", scope,
                     "roleDefinitionId", role, "principalId", principal);
}

/* ---- routes ------------------------------------------------------------------------------- */

/* The scope of the request's path: what precedes "/providers/Microsoft.Authorization/", with
 * leading slashes collapsed: "/", "/keys" or "/keys/NAME". 400 otherwise. */
static int path_scope(const struct cmk_request *req, char *out, size_t n, struct cmk_err *err)
{
    const char *path = req->path ? req->path : "";
    const char *mark = strcasestr(path, "/providers/Microsoft.Authorization/");
    size_t len = mark ? (size_t)(mark - path) : 0;
    while (len > 0 && *path == '/') {
        path++;
        len--;
    }
    if (len == 0) {
        snprintf(out, n, "/");
        return 0;
    }
    if (len + 2 > n)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "The scope is too long.");
    snprintf(out, n, "/%.*s", (int)len, path);
    if (strcasecmp(out, "/keys") == 0) {
        snprintf(out, n, "/keys");
        return 0;
    }
    const char *key = out + 6;
    if (strncasecmp(out, "/keys/", 6) == 0 && *key && strchr(key, '/') == NULL) {
        memcpy(out, "/keys", 5);
        return 0;
    }
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter",
                       "The scope '%s' is not valid: a managed HSM's scopes are '/', '/keys' and "
                       "'/keys/{key name}'.",
                       out);
}

struct rctx {
    struct hsm_service *h;
    struct vs_call *call;
    const struct vs_container *c;
    const struct cmk_principal *p;
    const char *hsm;
    char scope[256];
    struct cmk_err err;
};

/* Pipeline, scope and permission (action at scope). 0: go on; else answered. */
static int begin(struct rctx *x, void *data, struct cmk_request *req, struct cmk_response *res,
                 const char *op, const char *action)
{
    memset(x, 0, sizeof(*x));
    x->h = data;
    if (vs_keys_call_begin(x->h->keys, req, res, op, 0, &x->call) != 0)
        return -1;
    x->c = vs_keys_call_container(x->call);
    x->p = vs_keys_call_principal(x->call);
    x->hsm = ((const struct hsm_pool *)x->c->flavour)->ctr.name;
    int rc = path_scope(req, x->scope, sizeof(x->scope), &x->err);
    if (rc == 0 && !hsm__rbac_allows(x->h, x->hsm, x->p->oid, x->scope, action))
        rc = hsm__rbac_deny(&x->err, x->c, x->p, action, x->scope);
    if (rc != 0)
        vs_keys_call_fail(x->call, &x->err);
    return rc;
}

static void fail(struct rctx *x, int status, const char *code, const char *msg, const char *arg)
{
    cmk_err_set(&x->err, status == 404 ? CMK_ENOTFOUND : CMK_EINVAL, status, code, msg, arg);
    vs_keys_call_fail(x->call, &x->err);
}

/* Is scope within the list's scope (or above it)? */
static int related(const char *list_scope, const char *scope)
{
    return covers(list_scope, scope) || covers(scope, list_scope);
}

static void h_ra_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleAssignmentList", DA "roleAssignments/read/action") == 0) {
        const char *filter = cmk_request_query(req, "$filter");
        char principal[128] = "";
        const char *pf = filter ? strcasestr(filter, "principalId eq '") : NULL;
        if (pf)
            snprintf(principal, sizeof(principal), "%.*s", (int)strcspn(pf + 16, "'"), pf + 16);
        sqlite3_stmt *st =
            cmk_store_stmt(x.h->rt->db, "SELECT name, scope, role, principal FROM "
                                        "hsm_role_assignments WHERE hsm = ? ORDER BY rowid");
        sqlite3_bind_text(st, 1, x.hsm, -1, SQLITE_TRANSIENT);
        json_t *value = json_array();
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *scope = (const char *)sqlite3_column_text(st, 1);
            const char *who = (const char *)sqlite3_column_text(st, 3);
            if (!related(x.scope, scope) || (principal[0] && strcasecmp(principal, who) != 0))
                continue;
            json_array_append_new(value,
                                  assignment_json((const char *)sqlite3_column_text(st, 0), scope,
                                                  (const char *)sqlite3_column_text(st, 2), who));
        }
        sqlite3_reset(st);
        cmk_response_json(res, 200, json_pack("{s:o}", "value", value));
    }
    vs_keys_call_end(x.call);
}

/* The assignment name of the path in this HSM: 0 and the row, or 404 answered. */
static int ra_load(struct rctx *x, const char *name, char *scope, char *role, char *principal)
{
    sqlite3_stmt *st = cmk_store_stmt(
        x->h->rt->db,
        "SELECT scope, role, principal FROM hsm_role_assignments WHERE hsm = ? AND name = ?");
    sqlite3_bind_text(st, 1, x->hsm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(scope, 256, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(role, 160, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(principal, 128, "%s", (const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_reset(st);
    return found ? 0 : CMK_ENOTFOUND;
}

static void h_ra_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleAssignmentGet", DA "roleAssignments/read/action") == 0) {
        const char *name = cmk_request_param(req, "ra");
        char scope[256], role[160], principal[128];
        if (ra_load(&x, name, scope, role, principal) != 0)
            fail(&x, 404, "RoleAssignmentNotFound", "Requested role assignment not found%s", "");
        else
            cmk_response_json(res, 200, assignment_json(name, scope, role, principal));
    }
    vs_keys_call_end(x.call);
}

static void h_ra_delete(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleAssignmentDelete", DA "roleAssignments/delete/action") ==
        0) {
        const char *name = cmk_request_param(req, "ra");
        char scope[256], role[160], principal[128];
        if (ra_load(&x, name, scope, role, principal) != 0) {
            fail(&x, 404, "RoleAssignmentNotFound", "Requested role assignment not found%s", "");
        } else {
            sqlite3_stmt *st = cmk_store_stmt(
                x.h->rt->db, "DELETE FROM hsm_role_assignments WHERE hsm = ? AND name = ?");
            sqlite3_bind_text(st, 1, x.hsm, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
            int ok = sqlite3_step(st) == SQLITE_DONE;
            sqlite3_reset(st);
            if (!ok)
                fail(&x, 500, "InternalServerError", "The role assignment was not deleted.%s", "");
            else
                cmk_response_json(res, 200, assignment_json(name, scope, role, principal));
        }
    }
    vs_keys_call_end(x.call);
}

static void h_ra_put(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleAssignmentCreate", DA "roleAssignments/write/action") != 0)
        goto End;
    const char *name = cmk_request_param(req, "ra");
    json_t *body = cmk_request_json(req, &x.err);
    const json_t *props = json_object_get(body, "properties");
    const char *rd = json_string_value(json_object_get(props, "roleDefinitionId"));
    const char *who = json_string_value(json_object_get(props, "principalId"));
    if (body == NULL) {
        vs_keys_call_fail(x.call, &x.err);
        goto End;
    }
    if (name == NULL || *name == '\0' || strlen(name) > 64) {
        fail(&x, 400, "BadParameter", "The role assignment name '%s' is not valid.",
             name ? name : "");
        goto End;
    }
    if (rd == NULL || who == NULL || *who == '\0' || strlen(who) > 100) {
        fail(&x, 400, "BadParameter",
             "The role assignment needs properties.roleDefinitionId and properties.principalId.%s",
             "");
        goto End;
    }
    json_t *custom = builtin(rd) ? NULL : custom_get(x.h, x.hsm, rd);
    if (builtin(rd) == NULL && custom == NULL) {
        fail(&x, 400, "BadParameter",
             "The role definition '%s' does not exist in this managed HSM.", rd);
        goto End;
    }
    json_decref(custom);
    char role[160];
    snprintf(role, sizeof(role), RD_PREFIX "%s", role_guid(rd));
    char oscope[256], orole[160], oprincipal[128];
    if (ra_load(&x, name, oscope, orole, oprincipal) == 0 &&
        (strcmp(oscope, x.scope) != 0 || strcasecmp(orole, role) != 0 ||
         strcasecmp(oprincipal, who) != 0)) {
        fail(&x, 409, "RoleAssignmentExists",
             "A role assignment named '%s' already exists with other properties.", name);
        goto End;
    }
    if (assignment_put(x.h, x.hsm, name, x.scope, role, who) != 0) {
        fail(&x, 500, "InternalServerError", "The role assignment was not saved.%s", "");
        goto End;
    }
    cmk_response_json(res, 201, assignment_json(name, x.scope, role, who));
End:
    vs_keys_call_end(x.call);
}

static json_t *definition_json(struct hsm_service *h, const char *hsm, const char *id)
{
    const struct role *r = builtin(id);
    return r ? builtin_json(r) : custom_get(h, hsm, id);
}

static void h_rd_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleDefinitionList", DA "roleDefinitions/read/action") == 0) {
        const char *filter = cmk_request_query(req, "$filter");
        char want[160] = "";
        const char *rn = filter ? strcasestr(filter, "roleName eq '") : NULL;
        if (rn)
            snprintf(want, sizeof(want), "%.*s", (int)strcspn(rn + 13, "'"), rn + 13);
        json_t *value = json_array();
        for (size_t i = 0; i < NROLES; i++)
            if (!want[0] || strcasecmp(want, roles[i].name) == 0)
                json_array_append_new(value, builtin_json(&roles[i]));
        sqlite3_stmt *st = cmk_store_stmt(
            x.h->rt->db, "SELECT doc FROM hsm_role_definitions WHERE hsm = ? ORDER BY rowid");
        sqlite3_bind_text(st, 1, x.hsm, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
            const char *name =
                json_string_value(json_object_get(json_object_get(doc, "properties"), "roleName"));
            if (doc && (!want[0] || (name && strcasecmp(want, name) == 0)))
                json_array_append_new(value, doc);
            else
                json_decref(doc);
        }
        sqlite3_reset(st);
        cmk_response_json(res, 200, json_pack("{s:o}", "value", value));
    }
    vs_keys_call_end(x.call);
}

static void h_rd_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleDefinitionGet", DA "roleDefinitions/read/action") == 0) {
        json_t *doc = definition_json(x.h, x.hsm, cmk_request_param(req, "rd"));
        if (doc == NULL)
            fail(&x, 404, "RoleDefinitionNotFound", "Requested role definition not found%s", "");
        else
            cmk_response_json(res, 200, doc);
    }
    vs_keys_call_end(x.call);
}

static int valid_actions(const json_t *arr)
{
    if (arr == NULL || json_is_null(arr))
        return 1;
    if (!json_is_array(arr) || json_array_size(arr) > 64)
        return 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || strncasecmp(s, "Microsoft.KeyVault/managedHsm/", 30) != 0 ||
            strlen(s) > 128)
            return 0;
    }
    return 1;
}

static void h_rd_put(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleDefinitionCreate", DA "roleDefinitions/write/action") != 0)
        goto End;
    const char *name = cmk_request_param(req, "rd");
    json_t *body = cmk_request_json(req, &x.err);
    if (body == NULL) {
        vs_keys_call_fail(x.call, &x.err);
        goto End;
    }
    const json_t *props = json_object_get(body, "properties");
    const char *rn = json_string_value(json_object_get(props, "roleName"));
    const char *desc = json_string_value(json_object_get(props, "description"));
    const json_t *perms = json_object_get(props, "permissions");
    if (builtin(name)) {
        fail(&x, 400, "BadParameter", "The built-in role '%s' cannot be changed.", name);
        goto End;
    }
    if (!vs_ctr_guid_like(name)) {
        fail(&x, 400, "BadParameter", "The role definition name '%s' must be a GUID.", name);
        goto End;
    }
    json_t *clean = json_array();
    size_t i;
    const json_t *p;
    int ok = perms == NULL || json_is_null(perms) || json_is_array(perms);
    json_array_foreach(perms, i, p)
    {
        const json_t *da = json_object_get(p, "dataActions");
        const json_t *nda = json_object_get(p, "notDataActions");
        if (!valid_actions(da) || !valid_actions(nda)) {
            ok = 0;
            break;
        }
        json_array_append_new(clean,
                              json_pack("{s:[], s:o, s:[], s:o}", "actions", "dataActions",
                                        json_is_array(da) ? json_deep_copy(da) : json_array(),
                                        "notActions", "notDataActions",
                                        json_is_array(nda) ? json_deep_copy(nda) : json_array()));
    }
    if (!ok) {
        json_decref(clean);
        fail(&x, 400, "BadParameter",
             "The role definition's permissions must list data actions of "
             "Microsoft.KeyVault/managedHsm/.%s",
             "");
        goto End;
    }
    char id[160];
    snprintf(id, sizeof(id), RD_PREFIX "%s", name);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:[s], s:s, s:o, s:s, s:s}}", "id", id, "name",
                            name, "type", "Microsoft.Authorization/roleDefinitions", "properties",
                            "assignableScopes", "/", "description", desc ? desc : "", "permissions",
                            clean, "roleName", rn ? rn : name, "type", "CustomRole");
    char *text = json_dumps(doc, JSON_COMPACT);
    sqlite3_stmt *st = cmk_store_stmt(
        x.h->rt->db, "INSERT OR REPLACE INTO hsm_role_definitions(hsm, name, doc) VALUES(?,?,?)");
    sqlite3_bind_text(st, 1, x.hsm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
    ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    free(text);
    if (!ok) {
        json_decref(doc);
        fail(&x, 500, "InternalServerError", "The role definition was not saved.%s", "");
        goto End;
    }
    cmk_response_json(res, 201, doc);
End:
    vs_keys_call_end(x.call);
}

static void h_rd_delete(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct rctx x;
    if (begin(&x, data, req, res, "RoleDefinitionDelete", DA "roleDefinitions/delete/action") ==
        0) {
        const char *name = cmk_request_param(req, "rd");
        json_t *doc = builtin(name) ? NULL : custom_get(x.h, x.hsm, name);
        if (builtin(name)) {
            fail(&x, 400, "BadParameter", "The built-in role '%s' cannot be deleted.", name);
        } else if (doc == NULL) {
            fail(&x, 404, "RoleDefinitionNotFound", "Requested role definition not found%s", "");
        } else {
            sqlite3_stmt *st = cmk_store_stmt(
                x.h->rt->db, "DELETE FROM hsm_role_definitions WHERE hsm = ? AND name = ?");
            sqlite3_bind_text(st, 1, x.hsm, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
            (void)sqlite3_step(st);
            sqlite3_reset(st);
            cmk_response_json(res, 200, json_incref(doc));
        }
        json_decref(doc);
    }
    vs_keys_call_end(x.call);
}

#define RA "providers/Microsoft.Authorization/roleAssignments"
#define RD "providers/Microsoft.Authorization/roleDefinitions"
/* The scope's segments before "providers": none ("/"), or up to three ("//keys/NAME"). */
#define SCOPED(method, tail, fn)                                                                   \
    {method, "/" tail, fn}, {method, "/{s1}/" tail, fn}, {method, "/{s1}/{s2}/" tail, fn},         \
    {                                                                                              \
        method, "/{s1}/{s2}/{s3}/" tail, fn                                                        \
    }

static const struct cmk_route routes[] = {
    SCOPED("GET", RA, h_ra_list),
    SCOPED("GET", RA "/{ra}", h_ra_get),
    SCOPED("PUT", RA "/{ra}", h_ra_put),
    SCOPED("DELETE", RA "/{ra}", h_ra_delete),
    SCOPED("GET", RD, h_rd_list),
    SCOPED("GET", RD "/{rd}", h_rd_get),
    SCOPED("PUT", RD "/{rd}", h_rd_put),
    SCOPED("DELETE", RD "/{rd}", h_rd_delete),
    {NULL, NULL, NULL},
};

int hsm__rbac_register(struct hsm_service *h, struct cmk_err *err)
{
    int rc = cmk_store_migrate(h->rt->db, "hsmsim-rbac", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    if (rc != 0)
        return rc;
    cmk_router_add_table(&h->rt->router, CMK_HOST_HSM, routes, h);
    return 0;
}
