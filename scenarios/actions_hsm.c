/* actions_hsm.c: the scenario actions on managed HSMs: Microsoft.KeyVault/managedHSMs on the
 * management host (a long-running create, delete, recover, purge), the security domain
 * download that activates an HSM (with certificates made for it), and the HSM's local RBAC
 * on its own host (role assignments at "/" or "/keys/NAME"; the scenario's administrator gives
 * itself the key roles once the HSM is active, before its first key).
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

static void hsm_path(const struct sc_store *v, char *out, size_t n)
{
    sc__fmt(out, n, "%s?api-version=%s", v->id, SC_API_HSM);
}

/* ---- managed HSMs (Microsoft.KeyVault/managedHSMs and the HSM's own host) ---- */

static int hsm_create(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    const char *name = sc__arg(c, "name");
    struct sc_tenant *t = sc__tenant(w, sc_get_str(&c->args, "tenant", SC_DEFAULT_TENANT));
    if (t == NULL)
        return sc__afail(r, "unknown tenant %s%s", sc__arg(c, "tenant"), "");
    struct sc_store *v = sc__store(w, name);
    if (v == NULL) {
        v = cmk_xcalloc(1, sizeof(*v));
        v->name = cmk_xstrdup(name);
        w->stores = cmk_xrealloc(w->stores, (w->n_stores + 1) * sizeof(*w->stores));
        w->stores[w->n_stores++] = v;
    }
    v->hsm = 1;
    v->tenant = t;
    sc__fmt(v->rg, sizeof(v->rg), "%s", sc_get_str(&c->args, "resourceGroup", SC_DEFAULT_RG));
    sc__fmt(v->location, sizeof(v->location), "%s",
            sc_get_str(&c->args, "location", SC_DEFAULT_LOCATION));
    sc__fmt(v->id, sizeof(v->id),
            "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/managedHSMs/%s",
            t->sub, v->rg, name);
    struct sc_http h;
    if (sc__ensure_rg(w, t, v->rg, v->location, &h) != 0) {
        int rc = sc__from_http(r, "PUT", "resourcegroups", &h);
        sc__http_close(&h);
        return rc;
    }
    json_t *admins = json_array();
    json_array_append_new(admins, json_string(t->admin_oid));
    const struct sc_value *list = sc_get(&c->args, "admins");
    for (size_t i = 0; list && i < list->u.list.n; i++) {
        struct sc_ident *id = sc__ident(w, list->u.list.v[i].u.str);
        if (id)
            json_array_append_new(admins, json_string(id->oid));
    }
    json_t *props = json_pack("{s:s, s:o, s:b, s:I}", "tenantId", t->id, "initialAdminObjectIds",
                              admins, "enableSoftDelete", 1, "softDeleteRetentionInDays",
                              (json_int_t)sc_get_int(&c->args, "softDeleteRetentionInDays", 90));
    if (sc_get(&c->args, "enablePurgeProtection"))
        json_object_set_new(props, "enablePurgeProtection",
                            json_boolean(sc_get_bool(&c->args, "enablePurgeProtection", 0)));
    if (sc__arg(c, "publicNetworkAccess"))
        json_object_set_new(props, "publicNetworkAccess",
                            json_string(sc__arg(c, "publicNetworkAccess")));
    if (sc_get(&c->args, "networkAcls"))
        json_object_set_new(props, "networkAcls",
                            sc__network_acls(sc_get(&c->args, "networkAcls")));
    json_t *b = json_pack("{s:s, s:{s:s, s:s}, s:o}", "location", v->location, "sku", "family", "B",
                          "name", "Standard_B1", "properties", props);
    char path[CMK_ARM_ID_MAX + 64];
    hsm_path(v, path, sizeof(path));
    sc__mgmt(w, "PUT", path, b, sc__caller(w, c), t, &h);
    json_decref(b);
    int rc = sc__from_http(r, "PUT", path, &h);
    sc__http_close(&h);
    return rc;
}

/* The security domain download activates the HSM: the customer's certificates (at least three
 * RSA keys with X.509 certificates, made here like `az keyvault security-domain download`
 * wants them) and a quorum. The private keys are dropped: a scenario never restores the
 * domain. */
static int hsm_activate(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    return sc__hsm_activate(w, sc_get_str(&c->args, "hsm", sc__arg(c, "name")),
                            sc_get_int(&c->args, "quorum", 2), sc__caller(w, c), r);
}

int sc__hsm_activate(struct sc_world *w, const char *name, int64_t quorum,
                     const struct sc_ident *as, struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, name);
    if (v == NULL)
        return sc__afail(r, "unknown HSM %s%s", name, "");
    size_t n = quorum + 1 < 3 ? 3 : (size_t)quorum + 1;
    if (n > 10)
        n = 10;
    json_t *certs = NULL;
    EVP_PKEY *keys[10] = {0};
    struct cmk_err err;
    cmk_err_clear(&err);
    if (hsm_sd_make_certificates(n, &certs, keys, &err) != 0)
        return sc__afail(r, "cannot make security domain certificates: %s%s", err.message, "");
    for (size_t i = 0; i < n; i++)
        EVP_PKEY_free(keys[i]);
    json_t *b = json_pack("{s:o, s:I}", "certificates", certs, "required", (json_int_t)quorum);
    struct sc_http h;
    sc__keys(w, v, "POST", "/securitydomain/download", b, as, NULL, &h);
    json_decref(b);
    int rc = sc__from_http(r, "POST", "/securitydomain/download", &h);
    sc__http_close(&h);
    return rc;
}

/* The HSM's role definition id for a role name, from the HSM's own list. */
static int hsm_role_id(struct sc_world *w, struct sc_store *v, const char *role, char *out,
                       size_t n, const struct sc_ident *as, struct sc_action_result *r)
{
    char path[300];
    sc__fmt(path, sizeof(path),
            "/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName+eq+'%s'", role);
    for (char *p = strstr(path, "'"); p && *p; p++)
        if (*p == ' ')
            *p = '+';
    struct sc_http h;
    sc__keys(w, v, "GET", path, NULL, as, NULL, &h);
    const char *id = json_string_value(
        json_object_get(json_array_get(json_object_get(h.body, "value"), 0), "id"));
    int rc = 0;
    if (h.status != 200 || id == NULL) {
        rc = sc__from_http(r, "GET", "roleDefinitions", &h);
        if (rc == 0) {
            r->ok = 0;
            sc__fmt(r->message, sizeof(r->message), "no role named %s in %s", role, v->name);
            rc = 1;
        }
    } else {
        sc__fmt(out, n, "%s", id);
    }
    sc__http_close(&h);
    return rc;
}

/* A local RBAC assignment on a managed HSM, at scope "/" or "/keys/NAME". */
int sc__hsm_role_put(struct sc_world *w, struct sc_store *v, const char *scope, const char *oid,
                     const char *role, int assign, const struct sc_ident *as,
                     struct sc_action_result *r)
{
    char key[300];
    sc__fmt(key, sizeof(key), "hsm|%s|%s|%s|%s", v->name, scope, oid, role);
    struct sc_role *ra = NULL;
    for (size_t i = 0; i < w->n_roles && ra == NULL; i++)
        if (strcasecmp(w->roles[i]->key, key) == 0)
            ra = w->roles[i];
    if (ra == NULL && !assign)
        return sc__afail(r, "no role assignment %s was made by this scenario%s", role, "");
    if (ra == NULL) {
        ra = cmk_xcalloc(1, sizeof(*ra));
        ra->key = cmk_xstrdup(key);
        cmk_rng_guid(&w->rng, ra->guid);
        w->roles = cmk_xrealloc(w->roles, (w->n_roles + 1) * sizeof(*w->roles));
        w->roles[w->n_roles++] = ra;
    }
    char path[400];
    sc__fmt(path, sizeof(path), "%s/providers/Microsoft.Authorization/roleAssignments/%s",
            strcmp(scope, "/") == 0 ? "" : scope, ra->guid);
    json_t *b = NULL;
    if (assign) {
        char rd[300];
        if (hsm_role_id(w, v, role, rd, sizeof(rd), as, r) != 0)
            return 1;
        b = json_pack("{s:{s:s, s:s}}", "properties", "roleDefinitionId", rd, "principalId", oid);
    }
    struct sc_http h;
    sc__keys(w, v, assign ? "PUT" : "DELETE", path, b, as, NULL, &h);
    json_decref(b);
    int rc = sc__from_http(r, assign ? "PUT" : "DELETE", path, &h);
    sc__http_close(&h);
    return rc;
}

/* The scenario's administrator manages keys of an active HSM: Crypto Officer and Crypto User
 * at "/", as an HSM administrator would grant them to themselves after activation. */
int sc__hsm_admin_keys(struct sc_world *w, struct sc_store *v, struct sc_action_result *r)
{
    if (v->rbac)
        return 0; /* done once */
    struct sc_action_result tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (sc__hsm_role_put(w, v, "/", v->tenant->admin_oid, "Managed HSM Crypto User", 1, NULL,
                         &tmp) ||
        sc__hsm_role_put(w, v, "/", v->tenant->admin_oid, "Managed HSM Crypto Officer", 1, NULL,
                         &tmp)) {
        *r = tmp;
        return 1;
    }
    v->rbac = 1;
    return 0;
}

static int hsm_simple(struct sc_world *w, const struct sc_call *c, const char *what,
                      struct sc_action_result *r)
{
    struct sc_store *v = sc__store(w, sc__arg(c, "hsm"));
    if (v == NULL)
        return sc__afail(r, "unknown HSM %s%s", sc__arg(c, "hsm"), "");
    char path[CMK_ARM_ID_MAX + 128];
    const char *method = "DELETE";
    json_t *b = NULL;
    if (strcmp(what, "delete") == 0) {
        hsm_path(v, path, sizeof(path));
    } else if (strcmp(what, "recover") == 0) {
        method = "PUT";
        hsm_path(v, path, sizeof(path));
        b = json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "location", v->location, "sku", "family",
                      "B", "name", "Standard_B1", "properties", "tenantId", v->tenant->id,
                      "createMode", "recover");
    } else {
        method = "POST";
        sc__fmt(path, sizeof(path),
                "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/deletedManagedHSMs/"
                "%s/purge?api-version=%s",
                v->tenant->sub, v->location, v->name, SC_API_HSM);
    }
    struct sc_http h;
    sc__mgmt(w, method, path, b, sc__caller(w, c), v->tenant, &h);
    json_decref(b);
    int rc = sc__from_http(r, method, path, &h);
    sc__http_close(&h);
    return rc;
}

int sc__action_hsm(struct sc_world *w, const struct sc_call *c, int setup,
                   struct sc_action_result *r)
{
    switch (c->action->id) {
    case SC_A_HSM_CREATE: {
        int rc = hsm_create(w, c, r);
        if (rc == 0 && !setup && sc_get_bool(&c->args, "activate", 0)) {
            sc__fmt(r->message, sizeof(r->message),
                    "activate: true is for setup (which waits for provisioning); in steps, "
                    "use hsm.activate once the HSM is provisioned");
            r->ok = 0;
            return -1;
        }
        return rc;
    }
    case SC_A_HSM_ACTIVATE:
        return hsm_activate(w, c, r);
    case SC_A_HSM_DELETE:
        return hsm_simple(w, c, "delete", r);
    case SC_A_HSM_RECOVER:
        return hsm_simple(w, c, "recover", r);
    case SC_A_HSM_PURGE:
        return hsm_simple(w, c, "purge", r);
    default:
        return sc__afail(r, "%s is not an HSM action%s", c->action->name, "");
    }
}
