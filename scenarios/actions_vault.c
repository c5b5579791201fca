/* actions_vault.c: the scenario actions on key vaults (Microsoft.KeyVault/vaults on the
 * management host: create with access policies or RBAC, update, network rules, access policy
 * add/remove, delete, recover, purge), managed HSMs (Microsoft.KeyVault/managedHSMs, the
 * security domain download that activates them, their local RBAC on the HSM's own host) and
 * Azure role assignments (Microsoft.Authorization/roleAssignments at a vault's or a key's
 * scope). A vault's creator gets a full access policy (with RBAC: the Key Vault Administrator
 * role), as the portal gives it, so the scenario's administrator can manage keys; an HSM's
 * administrator gives itself the key roles once the HSM is active.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arm.h"
#include "common/b64.h"
#include "controlplane/identity.h"
#include "controlplane/server.h"
#include "hsmsim/hsm.h"
#include "scenarios/runner_int.h"

static const char *const all_key_permissions[] = {"get",
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
                                                  NULL};

static json_t *perms_json(const struct sc_value *v)
{
    if (v == NULL) {
        json_t *a = json_array();
        for (size_t i = 0; all_key_permissions[i]; i++)
            json_array_append_new(a, json_string(all_key_permissions[i]));
        return a;
    }
    return sc__string_list(v);
}

static json_t *policy_json(const struct sc_tenant *t, const char *oid, json_t *perms)
{
    return json_pack("{s:s, s:s, s:{s:o}}", "tenantId", t->id, "objectId", oid, "permissions",
                     "keys", perms);
}

static void vault_path(const struct sc_store *v, const char *suffix, char *out, size_t n)
{
    sc__fmt(out, n, "%s%s?api-version=%s", v->id, suffix ? suffix : "",
            v->hsm ? SC_API_HSM : SC_API_VAULTS);
}
/* ---- vaults ---- */

json_t *sc__network_acls(const struct sc_value *v)
{
    json_t *o = json_object();
    const char *s = sc_get_str(v, "defaultAction", NULL);
    if (s)
        json_object_set_new(o, "defaultAction", json_string(s));
    s = sc_get_str(v, "bypass", NULL);
    if (s)
        json_object_set_new(o, "bypass", json_string(s));
    const struct sc_value *ips = sc_get(v, "ipRules");
    if (ips) {
        json_t *a = json_array();
        for (size_t i = 0; i < ips->u.list.n; i++)
            json_array_append_new(a, json_pack("{s:s}", "value", ips->u.list.v[i].u.str));
        json_object_set_new(o, "ipRules", a);
    }
    return o;
}

/* The admin's policy, then the scenario's (identities by principal id). */
static json_t *policies_json(struct sc_world *w, const struct sc_tenant *t,
                             const struct sc_value *list, int with_admin)
{
    json_t *a = json_array();
    if (with_admin)
        json_array_append_new(a, policy_json(t, t->admin_oid, perms_json(NULL)));
    for (size_t i = 0; list && i < list->u.list.n; i++) {
        const struct sc_value *p = &list->u.list.v[i];
        struct sc_ident *id = sc__ident(w, sc_get_str(p, "identity", ""));
        if (id)
            json_array_append_new(a, policy_json(t, id->oid, perms_json(sc_get(p, "permissions"))));
    }
    return a;
}

static int role_put(struct sc_world *w, const char *scope, const char *oid, const char *role,
                    const char *name, const struct sc_tenant *t, const struct sc_ident *as,
                    struct sc_action_result *r);

static int vault_create(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    const char *name = sc__arg(c, "name");
    struct sc_tenant *t = sc__tenant(w, sc_get_str(&c->args, "tenant", SC_DEFAULT_TENANT));
    if (t == NULL)
        return sc__afail(r, "unknown tenant %s%s", sc__arg(c, "tenant"), "");
    struct sc_store *v = sc__store(w, name);
    int fresh = v == NULL;
    if (fresh) {
        v = cmk_xcalloc(1, sizeof(*v));
        v->name = cmk_xstrdup(name);
    }
    v->tenant = t;
    sc__fmt(v->rg, sizeof(v->rg), "%s", sc_get_str(&c->args, "resourceGroup", SC_DEFAULT_RG));
    sc__fmt(v->location, sizeof(v->location), "%s",
            sc_get_str(&c->args, "location", SC_DEFAULT_LOCATION));
    sc__fmt(v->id, sizeof(v->id),
            "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/vaults/%s", t->sub,
            v->rg, name);
    v->rbac = sc_get_bool(&c->args, "enableRbacAuthorization", 0);
    if (fresh) {
        w->stores = cmk_xrealloc(w->stores, (w->n_stores + 1) * sizeof(*w->stores));
        w->stores[w->n_stores++] = v;
    }
    struct sc_http h;
    if (sc__ensure_rg(w, t, v->rg, v->location, &h) != 0) {
        int rc = sc__from_http(r, "PUT", "resourcegroups", &h);
        sc__http_close(&h);
        return rc;
    }
    json_t *props =
        json_pack("{s:s, s:{s:s, s:s}, s:b, s:I}", "tenantId", t->id, "sku", "family", "A", "name",
                  sc_get_str(&c->args, "sku", "standard"), "enableSoftDelete",
                  sc_get_bool(&c->args, "enableSoftDelete", 1), "softDeleteRetentionInDays",
                  (json_int_t)sc_get_int(&c->args, "softDeleteRetentionInDays", 90));
    if (sc_get(&c->args, "enablePurgeProtection"))
        json_object_set_new(props, "enablePurgeProtection",
                            json_boolean(sc_get_bool(&c->args, "enablePurgeProtection", 0)));
    if (v->rbac)
        json_object_set_new(props, "enableRbacAuthorization", json_true());
    const char *pna = sc__arg(c, "publicNetworkAccess");
    if (pna)
        json_object_set_new(props, "publicNetworkAccess", json_string(pna));
    const struct sc_value *acls = sc_get(&c->args, "networkAcls");
    if (acls)
        json_object_set_new(props, "networkAcls", sc__network_acls(acls));
    json_object_set_new(props, "accessPolicies",
                        policies_json(w, t, sc_get(&c->args, "accessPolicies"), !v->rbac));
    json_t *b = json_pack("{s:s, s:o}", "location", v->location, "properties", props);
    char path[CMK_ARM_ID_MAX + 64];
    vault_path(v, NULL, path, sizeof(path));
    sc__mgmt(w, "PUT", path, b, sc__caller(w, c), t, &h);
    json_decref(b);
    int rc = sc__from_http(r, "PUT", path, &h);
    sc__http_close(&h);
    if (rc == 0 && v->rbac)
        rc = role_put(w, v->id, t->admin_oid, "Key Vault Administrator", NULL, t, NULL, r);
    return rc;
}

static int vault_simple(struct sc_world *w, const struct sc_call *c, const char *method,
                        const char *suffix, const json_t *body, struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "vault"));
    if (v == NULL)
        return sc__afail(r, "unknown vault %s%s", sc__arg(c, "vault"), "");
    char path[CMK_ARM_ID_MAX + 128];
    vault_path(v, suffix, path, sizeof(path));
    struct sc_http h;
    sc__mgmt(w, method, path, body, sc__caller(w, c), v->tenant, &h);
    int rc = sc__from_http(r, method, path, &h);
    sc__http_close(&h);
    return rc;
}

static int vault_update(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "vault"));
    if (v == NULL)
        return sc__afail(r, "unknown vault %s%s", sc__arg(c, "vault"), "");
    json_t *props = json_object();
    static const char *const bools[] = {"enableSoftDelete", "enablePurgeProtection",
                                        "enableRbacAuthorization", NULL};
    for (size_t i = 0; bools[i]; i++)
        if (sc_get(&c->args, bools[i]))
            json_object_set_new(props, bools[i], json_boolean(sc_get_bool(&c->args, bools[i], 0)));
    if (sc_get(&c->args, "softDeleteRetentionInDays"))
        json_object_set_new(props, "softDeleteRetentionInDays",
                            json_integer(sc_get_int(&c->args, "softDeleteRetentionInDays", 90)));
    if (sc__arg(c, "publicNetworkAccess"))
        json_object_set_new(props, "publicNetworkAccess",
                            json_string(sc__arg(c, "publicNetworkAccess")));
    if (sc_get(&c->args, "networkAcls"))
        json_object_set_new(props, "networkAcls",
                            sc__network_acls(sc_get(&c->args, "networkAcls")));
    if (sc_get(&c->args, "accessPolicies"))
        json_object_set_new(
            props, "accessPolicies",
            policies_json(w, v->tenant, sc_get(&c->args, "accessPolicies"), !v->rbac));
    if (sc_get(&c->args, "enableRbacAuthorization"))
        v->rbac = sc_get_bool(&c->args, "enableRbacAuthorization", 0);
    json_t *b = json_pack("{s:o}", "properties", props);
    int rc = vault_simple(w, c, "PATCH", NULL, b, r);
    json_decref(b);
    return rc;
}

static int vault_network(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    json_t *props = json_object();
    if (sc__arg(c, "publicNetworkAccess"))
        json_object_set_new(props, "publicNetworkAccess",
                            json_string(sc__arg(c, "publicNetworkAccess")));
    if (sc__arg(c, "defaultAction") || sc__arg(c, "bypass") || sc_get(&c->args, "ipRules"))
        json_object_set_new(props, "networkAcls", sc__network_acls(&c->args));
    json_t *b = json_pack("{s:o}", "properties", props);
    int rc = vault_simple(w, c, "PATCH", NULL, b, r);
    json_decref(b);
    return rc;
}

static int vault_recover(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "vault"));
    if (v == NULL)
        return sc__afail(r, "unknown vault %s%s", sc__arg(c, "vault"), "");
    json_t *b = json_pack("{s:s, s:{s:s, s:{s:s, s:s}, s:s}}", "location", v->location,
                          "properties", "tenantId", v->tenant->id, "sku", "family", "A", "name",
                          "standard", "createMode", "recover");
    int rc = vault_simple(w, c, "PUT", NULL, b, r);
    json_decref(b);
    return rc;
}

static int vault_purge(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "vault"));
    if (v == NULL)
        return sc__afail(r, "unknown vault %s%s", sc__arg(c, "vault"), "");
    char path[600];
    sc__fmt(path, sizeof(path),
            "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/deletedVaults/%s/"
            "purge?api-version=%s",
            v->tenant->sub, v->location, v->name, SC_API_VAULTS);
    struct sc_http h;
    sc__mgmt(w, "POST", path, NULL, sc__caller(w, c), v->tenant, &h);
    int rc = sc__from_http(r, "POST", path, &h);
    sc__http_close(&h);
    return rc;
}

static int vault_policy(struct sc_world *w, const struct sc_call *c, int grant,
                        struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "vault"));
    struct sc_ident *id = sc__ident(w, sc__arg(c, "identity"));
    if (v == NULL || id == NULL)
        return sc__afail(r, "unknown vault or identity %s/%s", sc__arg(c, "vault"),
                         sc__arg(c, "identity"));
    json_t *b =
        json_pack("{s:{s:[o]}}", "properties", "accessPolicies",
                  policy_json(v->tenant, id->oid, perms_json(sc_get(&c->args, "permissions"))));
    int rc =
        vault_simple(w, c, "PUT", grant ? "/accessPolicies/add" : "/accessPolicies/remove", b, r);
    json_decref(b);
    return rc;
}

/* ---- role assignments ---- */

static int role_put(struct sc_world *w, const char *scope, const char *oid, const char *role,
                    const char *name, const struct sc_tenant *t, const struct sc_ident *as,
                    struct sc_action_result *r)
{
    char path[CMK_ARM_ID_MAX + 300];
    sc__fmt(path, sizeof(path),
            "%s/providers/Microsoft.Authorization/roleDefinitions?api-version=%s&$filter="
            "roleName%%20eq%%20'%s'",
            scope, SC_API_AUTHZ, role);
    for (char *p = path; *p; p++)
        if (*p == ' ' && p > strstr(path, "$filter"))
            *p = '+';
    struct sc_http h;
    sc__mgmt(w, "GET", path, NULL, as, t, &h);
    const char *rdid = json_string_value(
        json_object_get(json_array_get(json_object_get(h.body, "value"), 0), "id"));
    if (h.status != 200 || rdid == NULL) {
        if (h.status == 200) {
            h.status = 404;
            sc__fmt(h.code, sizeof(h.code), "RoleDefinitionDoesNotExist");
        }
        int rc = sc__from_http(r, "GET", "roleDefinitions", &h);
        sc__http_close(&h);
        return rc ? rc : 1;
    }
    char rd[512];
    sc__fmt(rd, sizeof(rd), "%s", rdid);
    sc__http_close(&h);
    char key[CMK_ARM_ID_MAX + 200];
    sc__fmt(key, sizeof(key), "%s|%s|%s", name ? name : scope, name ? "" : oid, name ? "" : role);
    struct sc_role *ra = NULL;
    for (size_t i = 0; i < w->n_roles && ra == NULL; i++)
        if (strcasecmp(w->roles[i]->key, key) == 0)
            ra = w->roles[i];
    if (ra == NULL) {
        ra = cmk_xcalloc(1, sizeof(*ra));
        ra->key = cmk_xstrdup(key);
        cmk_rng_guid(&w->rng, ra->guid);
        w->roles = cmk_xrealloc(w->roles, (w->n_roles + 1) * sizeof(*w->roles));
        w->roles[w->n_roles++] = ra;
    }
    sc__fmt(ra->scope, sizeof(ra->scope), "%s", scope);
    sc__fmt(path, sizeof(path),
            "%s/providers/Microsoft.Authorization/roleAssignments/%s?api-version=%s", scope,
            ra->guid, SC_API_AUTHZ);
    json_t *b = json_pack("{s:{s:s, s:s, s:s}}", "properties", "roleDefinitionId", rd,
                          "principalId", oid, "principalType", "ServicePrincipal");
    sc__mgmt(w, "PUT", path, b, as, t, &h);
    json_decref(b);
    int rc = sc__from_http(r, "PUT", path, &h);
    sc__http_close(&h);
    return rc;
}

static int role_action(struct sc_world *w, const struct sc_call *c, int assign,
                       struct sc_action_result *r)
{
    const char *sname = sc__arg(c, "vault") ? sc__arg(c, "vault") : sc__arg(c, "hsm");
    struct sc_store *v = sc__store(w, sname);
    struct sc_ident *id = sc__ident(w, sc__arg(c, "identity"));
    if (v == NULL || id == NULL)
        return sc__afail(r, "unknown store or identity %s/%s", sname, sc__arg(c, "identity"));
    char scope[CMK_ARM_ID_MAX + 200];
    sc__fmt(scope, sizeof(scope), "%s%s%s", v->id, sc__arg(c, "key") ? "/keys/" : "",
            sc__arg(c, "key") ? sc__arg(c, "key") : "");
    if (v->hsm) { /* Managed HSM local RBAC: on the HSM's own host */
        char hscope[200];
        sc__fmt(hscope, sizeof(hscope), "%s%s", sc__arg(c, "key") ? "/keys/" : "/",
                sc__arg(c, "key") ? sc__arg(c, "key") : "");
        return sc__hsm_role_put(w, v, hscope, id->oid, sc__arg(c, "role"), assign, sc__caller(w, c),
                                r);
    }
    if (assign)
        return role_put(w, scope, id->oid, sc__arg(c, "role"), sc__arg(c, "name"), v->tenant,
                        sc__caller(w, c), r);
    char key[CMK_ARM_ID_MAX + 200];
    sc__fmt(key, sizeof(key), "%s|%s|%s", sc__arg(c, "name") ? sc__arg(c, "name") : scope,
            sc__arg(c, "name") ? "" : id->oid, sc__arg(c, "name") ? "" : sc__arg(c, "role"));
    for (size_t i = 0; i < w->n_roles; i++) {
        if (strcasecmp(w->roles[i]->key, key) != 0)
            continue;
        char path[CMK_ARM_ID_MAX + 300];
        sc__fmt(path, sizeof(path),
                "%s/providers/Microsoft.Authorization/roleAssignments/%s?api-version=%s",
                w->roles[i]->scope, w->roles[i]->guid, SC_API_AUTHZ);
        struct sc_http h;
        sc__mgmt(w, "DELETE", path, NULL, sc__caller(w, c), v->tenant, &h);
        int rc = sc__from_http(r, "DELETE", path, &h);
        sc__http_close(&h);
        return rc;
    }
    return sc__afail(r, "no role assignment %s for %s was made by this scenario",
                     sc__arg(c, "role"), id->name);
}

int sc__action_vault(struct sc_world *w, const struct sc_call *c, int setup,
                     struct sc_action_result *r)
{
    switch (c->action->id) {
    case SC_A_VAULT_CREATE:
        return vault_create(w, c, r);
    case SC_A_VAULT_UPDATE:
        return vault_update(w, c, r);
    case SC_A_VAULT_DELETE:
        return vault_simple(w, c, "DELETE", NULL, NULL, r);
    case SC_A_VAULT_RECOVER:
        return vault_recover(w, c, r);
    case SC_A_VAULT_PURGE:
        return vault_purge(w, c, r);
    case SC_A_VAULT_SET_NETWORK_RULES:
        return vault_network(w, c, r);
    case SC_A_VAULT_GRANT:
        return vault_policy(w, c, 1, r);
    case SC_A_VAULT_REVOKE:
        return vault_policy(w, c, 0, r);
    case SC_A_HSM_CREATE:
    case SC_A_HSM_ACTIVATE:
    case SC_A_HSM_DELETE:
    case SC_A_HSM_RECOVER:
    case SC_A_HSM_PURGE:
        return sc__action_hsm(w, c, setup, r);
    case SC_A_ROLE_ASSIGN:
        return role_action(w, c, 1, r);
    case SC_A_ROLE_REMOVE:
        return role_action(w, c, 0, r);
    default:
        return sc__afail(r, "%s is not a vault, HSM or role action%s", c->action->name, "");
    }
}
