/* actions.c: running a step's action (sc__action_run dispatches to the files by kind:
 * actions_vault.c for vaults, managed HSMs and role assignments, actions_key.c for keys,
 * actions_server.c for servers and PostgreSQL clients); here tenants and identities, faults and
 * the clock, and the helpers every action shares. Every action is the request a real client
 * sends (request.c); two things have no client API and are done as the directory would do
 * them: creating a tenant (with a subscription and an administrator principal of its own) and
 * a service principal.
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

void sc__action_result_close(struct sc_action_result *r)
{
    if (r == NULL)
        return;
    json_decref(r->rows);
    r->rows = NULL;
}

/* Copy an HTTP answer into the action's result; 0 for a 2xx, 1 otherwise. */
int sc__from_http(struct sc_action_result *r, const char *method, const char *path,
                  const struct sc_http *h)
{
    r->status = h->status;
    r->ok = h->status >= 200 && h->status < 300;
    sc__fmt(r->code, sizeof(r->code), "%s", h->code);
    sc__fmt(r->message, sizeof(r->message), "%s", h->message);
    char s[400];
    sc__http_summary(method, path, h, s, sizeof(s));
    size_t len = strlen(r->summary);
    sc__fmt(r->summary + len, sizeof(r->summary) - len, "%s%s", len ? "; " : "", s);
    return r->ok ? 0 : 1;
}

int sc__afail(struct sc_action_result *r, const char *fmt, const char *a, const char *b)
{
    r->ok = 0;
    sc__fmt(r->code, sizeof(r->code), "ScenarioError");
    sc__fmt(r->message, sizeof(r->message), fmt, a ? a : "", b ? b : "");
    sc__fmt(r->summary, sizeof(r->summary), "%s", r->message);
    return -1;
}

const char *sc__arg(const struct sc_call *c, const char *k)
{
    return sc_get_str(&c->args, k, NULL);
}

struct sc_ident *sc__caller(struct sc_world *w, const struct sc_call *c)
{
    const char *as = sc__arg(c, "as");
    if (as == NULL || strcmp(as, SC_ADMIN) == 0)
        return NULL;
    return sc__ident(w, as);
}

json_t *sc__string_list(const struct sc_value *v)
{
    json_t *a = json_array();
    if (v && v->type == SC_T_LIST)
        for (size_t i = 0; i < v->u.list.n; i++)
            json_array_append_new(a, json_string(v->u.list.v[i].u.str));
    return a;
}

/* ---- tenants and identities ---- */

static int tenant_create(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    const char *name = sc__arg(c, "name");
    struct sc_tenant *t = cmk_xcalloc(1, sizeof(*t));
    t->name = cmk_xstrdup(name);
    struct cmk_err err;
    cmk_err_clear(&err);
    char domain[160];
    sc__fmt(domain, sizeof(domain), "%s.onmicrosoft.com", name);
    if (w->svc.identity == NULL || w->svc.arm == NULL) {
        free(t->name);
        free(t);
        return sc__afail(r, "tenant.create needs the identity service%s%s", "", "");
    }
    if (cp_identity_tenant_create(w->svc.identity, NULL, domain, t->id, &err) != 0) {
        free(t->name);
        free(t);
        return sc__afail(r, "tenant %s: %s", name, err.message);
    }
    cmk_rng_guid(&w->rng, t->sub);
    struct cp_principal p;
    char *secret = NULL;
    char admin[160];
    sc__fmt(admin, sizeof(admin), "%s-admin", name);
    if (cmk_arm_subscription_add(w->svc.arm, t->sub, t->id, name, &err) != 0 ||
        cp_identity_sp_create(w->svc.identity, t->id, admin, NULL, &p, &secret, &err) != 0) {
        free(t->name);
        free(t);
        return sc__afail(r, "tenant %s: %s", name, err.message);
    }
    free(secret);
    sc__fmt(t->admin_client, sizeof(t->admin_client), "%s", p.client_id);
    sc__fmt(t->admin_oid, sizeof(t->admin_oid), "%s", p.object_id);
    w->tenants = cmk_xrealloc(w->tenants, (w->n_tenants + 1) * sizeof(*w->tenants));
    w->tenants[w->n_tenants++] = t;
    r->ok = 1;
    sc__fmt(r->summary, sizeof(r->summary), "tenant %s (%s) with subscription %s", name, t->id,
            t->sub);
    return 0;
}

static int identity_create(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    const char *name = sc__arg(c, "name");
    struct sc_tenant *t = sc__tenant(w, sc_get_str(&c->args, "tenant", SC_DEFAULT_TENANT));
    if (t == NULL)
        return sc__afail(r, "unknown tenant %s%s", sc__arg(c, "tenant"), "");
    struct sc_ident *id = sc__ident(w, name);
    int fresh = id == NULL;
    if (fresh)
        id = cmk_xcalloc(1, sizeof(*id));
    else if (!id->deleted)
        return sc__afail(r, "identity %s exists already%s", name, "");
    if (fresh)
        id->name = cmk_xstrdup(name);
    id->tenant = t;
    id->deleted = 0;
    sc__fmt(id->rg, sizeof(id->rg), "%s", sc_get_str(&c->args, "resourceGroup", SC_DEFAULT_RG));
    sc__fmt(id->location, sizeof(id->location), "%s",
            sc_get_str(&c->args, "location", SC_DEFAULT_LOCATION));
    int rc;
    if (strcasecmp(sc_get_str(&c->args, "type", "UserAssigned"), "ServicePrincipal") == 0) {
        struct cp_principal p;
        char *secret = NULL;
        struct cmk_err err;
        cmk_err_clear(&err);
        if (cp_identity_sp_create(w->svc.identity, t->id, name, NULL, &p, &secret, &err) != 0) {
            rc = sc__afail(r, "service principal %s: %s", name, err.message);
        } else {
            free(secret);
            id->sp = 1;
            sc__fmt(id->oid, sizeof(id->oid), "%s", p.object_id);
            sc__fmt(id->client_id, sizeof(id->client_id), "%s", p.client_id);
            r->ok = 1;
            sc__fmt(r->summary, sizeof(r->summary), "service principal %s (%s)", name, p.object_id);
            rc = 0;
        }
    } else {
        struct sc_http h;
        if (sc__ensure_rg(w, t, id->rg, id->location, &h) != 0) {
            rc = sc__from_http(r, "PUT", "resourcegroups", &h);
            sc__http_close(&h);
        } else {
            char path[600];
            sc__fmt(path, sizeof(path),
                    "/subscriptions/%s/resourceGroups/%s/providers/"
                    "Microsoft.ManagedIdentity/userAssignedIdentities/%s?api-version=%s",
                    t->sub, id->rg, name, SC_API_MSI);
            json_t *b = json_pack("{s:s}", "location", id->location);
            sc__mgmt(w, "PUT", path, b, sc__caller(w, c), t, &h);
            json_decref(b);
            rc = sc__from_http(r, "PUT", path, &h);
            if (rc == 0) {
                json_t *props = json_object_get(h.body, "properties");
                const char *v = json_string_value(json_object_get(h.body, "id"));
                sc__fmt(id->id, sizeof(id->id), "%s", v ? v : "");
                v = json_string_value(json_object_get(props, "principalId"));
                sc__fmt(id->oid, sizeof(id->oid), "%s", v ? v : "");
                v = json_string_value(json_object_get(props, "clientId"));
                sc__fmt(id->client_id, sizeof(id->client_id), "%s", v ? v : "");
            }
            sc__http_close(&h);
        }
    }
    if (fresh) {
        w->idents = cmk_xrealloc(w->idents, (w->n_idents + 1) * sizeof(*w->idents));
        w->idents[w->n_idents++] = id;
    }
    return rc;
}

static int identity_delete(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    struct sc_ident *id = sc__ident(w, sc__arg(c, "identity"));
    if (id == NULL)
        return sc__afail(r, "unknown identity %s%s", sc__arg(c, "identity"), "");
    if (id->sp) {
        struct cmk_err err;
        cmk_err_clear(&err);
        if (cp_identity_sp_delete(w->svc.identity, id->client_id, &err) != 0)
            return sc__afail(r, "service principal %s: %s", id->name, err.message);
        id->deleted = 1;
        r->ok = 1;
        sc__fmt(r->summary, sizeof(r->summary), "service principal %s deleted", id->name);
        return 0;
    }
    char path[CMK_ARM_ID_MAX + 64];
    sc__fmt(path, sizeof(path), "%s?api-version=%s", id->id, SC_API_MSI);
    struct sc_http h;
    sc__mgmt(w, "DELETE", path, NULL, sc__caller(w, c), id->tenant, &h);
    int rc = sc__from_http(r, "DELETE", path, &h);
    sc__http_close(&h);
    if (rc == 0)
        id->deleted = 1;
    return rc;
}

/* ---- faults and the clock ---- */

static int fault_unreachable(struct sc_world *w, const struct sc_call *c,
                             struct sc_action_result *r)
{
    const char *target = sc__arg(c, "target");
    cmk_time_t d = sc_get_duration(&c->args, "for", 0);
    int rc = cp_fault_vault_unreachable(&w->rt, target, sc__now(w) + d);
    if (rc != 0)
        return sc__afail(r, "cannot cut %s off: the control plane refused the fault%s", target, "");
    char ds[32];
    cmk_duration_format(d, ds, sizeof(ds));
    r->ok = 1;
    sc__fmt(r->summary, sizeof(r->summary), "%s unreachable for %s", target, ds);
    sc__record(w, SC_REC_FAULT, 0, target, NULL, "%s does not answer for %s (an outage)", target,
               ds);
    return 0;
}

int sc__action_run(struct sc_world *w, const struct sc_call *c, int setup,
                   struct sc_action_result *r)
{
    memset(r, 0, sizeof(*r));
    r->row_count = -1;
    switch (c->action->id) {
    case SC_A_TENANT_CREATE:
        return tenant_create(w, c, r);
    case SC_A_IDENTITY_CREATE:
        return identity_create(w, c, r);
    case SC_A_IDENTITY_DELETE:
        return identity_delete(w, c, r);
    case SC_A_VAULT_CREATE:
    case SC_A_VAULT_UPDATE:
    case SC_A_VAULT_DELETE:
    case SC_A_VAULT_RECOVER:
    case SC_A_VAULT_PURGE:
    case SC_A_VAULT_SET_NETWORK_RULES:
    case SC_A_VAULT_GRANT:
    case SC_A_VAULT_REVOKE:
    case SC_A_HSM_CREATE:
    case SC_A_HSM_ACTIVATE:
    case SC_A_HSM_DELETE:
    case SC_A_HSM_RECOVER:
    case SC_A_HSM_PURGE:
    case SC_A_ROLE_ASSIGN:
    case SC_A_ROLE_REMOVE:
        return sc__action_vault(w, c, setup, r);
    case SC_A_KEY_CREATE:
    case SC_A_KEY_IMPORT:
    case SC_A_KEY_GET:
    case SC_A_KEY_DISABLE:
    case SC_A_KEY_ENABLE:
    case SC_A_KEY_SET_EXPIRY:
    case SC_A_KEY_ROTATE:
    case SC_A_KEY_DELETE:
    case SC_A_KEY_RECOVER:
    case SC_A_KEY_PURGE:
        return sc__action_key(w, c, r);
    case SC_A_SERVER_CREATE:
    case SC_A_SERVER_UPDATE_KEY:
    case SC_A_SERVER_RESTORE:
    case SC_A_SERVER_REPLICA:
    case SC_A_SERVER_GEO_RESTORE:
    case SC_A_SERVER_STOP:
    case SC_A_SERVER_START:
    case SC_A_SERVER_RESTART:
    case SC_A_SERVER_DELETE:
        return sc__action_server(w, c, r);
    case SC_A_CLIENT_CONNECT:
    case SC_A_CLIENT_DISCONNECT:
    case SC_A_CLIENT_QUERY:
        return sc__action_client(w, c, r);
    case SC_A_FAULT_VAULT_UNREACHABLE:
        return fault_unreachable(w, c, r);
    case SC_A_CLOCK_ADVANCE: {
        cmk_time_t d = sc_get_duration(&c->args, "by", 0);
        if (w->barrier < sc__now(w) + d)
            w->barrier = sc__now(w) + d;
        char ds[32];
        cmk_duration_format(d, ds, sizeof(ds));
        r->ok = 1;
        sc__fmt(r->summary, sizeof(r->summary), "the clock moves on by %s", ds);
        return 0;
    }
    case SC_A_COUNT:
        break;
    }
    return sc__afail(r, "action %s is not supported%s", c->action->name, "");
}
