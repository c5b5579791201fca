/* vault.c: the Key Vault service (see vault.h): opening it on a runtime, the parsed-vault
 * cache, and the two policies it plugs into the shared code: the engine policy (containers for
 * timer work, events for the audit log) and the keys data-plane policy (which vault a host
 * names, and access policies or RBAC for each operation). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"
#include "vault_int.h"

/* ---- parsing --------------------------------------------------------------------------- */

void vs__vault_clear(struct vs_vault *v)
{
    if (v == NULL)
        return;
    json_decref(v->policies);
    memset(v, 0, sizeof(*v));
}

/* Tag "cmksim-throttle": "<requests>/<duration>", e.g. "100/10s" or "5/1s". */
static void parse_throttle(const json_t *tags, struct vs_vault *v)
{
    const char *t = json_string_value(json_object_get(tags, "cmksim-throttle"));
    if (t == NULL)
        return;
    char *end;
    double n = strtod(t, &end);
    cmk_time_t d = CMK_SECOND;
    if (*end == '/' && cmk_duration_parse(end + 1, &d) != 0)
        return;
    if (n > 0 && d > 0) {
        v->rate = n * 1000.0 / (double)d;
        v->burst = n;
    }
}

int vs__vault_parse(const struct cmk_arm_resource *r, struct vs_vault *v, struct cmk_err *err)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", r->name);
    for (char *p = v->name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(v->id, sizeof(v->id), "%s", r->id);
    snprintf(v->sub, sizeof(v->sub), "%s", r->sub);
    snprintf(v->location, sizeof(v->location), "%s", r->location);
    json_t *props = json_object_get(r->doc, "properties");
    snprintf(v->tenant, sizeof(v->tenant), "%s",
             json_string_value(json_object_get(props, "tenantId"))
                 ? json_string_value(json_object_get(props, "tenantId"))
                 : "");
    const char *sku = json_string_value(json_object_get(json_object_get(props, "sku"), "name"));
    v->premium = sku && strcasecmp(sku, "premium") == 0;
    v->rbac = json_is_true(json_object_get(props, "enableRbacAuthorization"));
    json_t *days = json_object_get(props, "softDeleteRetentionInDays");
    v->retention = json_is_integer(days) ? (int)json_integer_value(days) : 90;
    v->purge_protection = json_is_true(json_object_get(props, "enablePurgeProtection"));
    json_t *pol = json_object_get(props, "accessPolicies");
    v->policies = json_is_array(pol) ? json_incref(pol) : json_array();
    parse_throttle(json_object_get(r->doc, "tags"), v);
    return vs_netrules_parse(json_object_get(props, "networkAcls"),
                             json_string_value(json_object_get(props, "publicNetworkAccess")),
                             &v->net, err);
}

void vs__space_of(const struct vs_vault *v, struct vs_space *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "vault/%s", v->name);
    snprintf(s->name, sizeof(s->name), "%s", v->name);
    snprintf(s->subscription, sizeof(s->subscription), "%s", v->sub);
    s->retention_days = v->retention;
    s->purge_protection = v->purge_protection;
    s->key_types = VS_KTYS_SOFTWARE | (v->premium ? VS_KTYS_HSM_ASYM : 0);
    s->kind_label = "key vault";
}

/* ---- the cache ------------------------------------------------------------------------- */

void vs__vault_changed(struct vs_vaults *vs)
{
    vs->gen++;
}

static int load(struct vs_vaults *vs, const char *name, struct vs_vault *v)
{
    char lower[64];
    snprintf(lower, sizeof(lower), "%s", name);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT id FROM vs_vault_names WHERE name = ?");
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, lower, -1, SQLITE_STATIC);
    char id[CMK_ARM_ID_MAX] = "";
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (id[0] == '\0')
        return CMK_ENOTFOUND;
    struct cmk_arm_resource r;
    if (cmk_arm_resource_get(vs->arm, id, &r, NULL) != 0)
        return CMK_ENOTFOUND;
    struct cmk_err err;
    int rc = vs__vault_parse(&r, v, &err);
    cmk_arm_resource_close(&r);
    if (rc != 0)
        vs__vault_clear(v);
    return rc;
}

const struct vs_vault *vs__vault_find(struct vs_vaults *vs, const char *name)
{
    for (size_t i = 0; i < VS_VAULT_CACHE; i++) {
        struct vs_vault *v = vs->cache[i].v;
        if (v && vs->cache[i].gen == vs->gen && strcasecmp(v->name, name) == 0)
            return v;
    }
    struct vs_vault tmp;
    if (load(vs, name, &tmp) != 0)
        return NULL;
    size_t slot = vs->cache_next++ % VS_VAULT_CACHE;
    for (size_t i = 0; i < VS_VAULT_CACHE; i++)
        if (vs->cache[i].v == NULL || vs->cache[i].gen != vs->gen) {
            slot = i;
            break;
        }
    if (vs->cache[slot].v == NULL)
        vs->cache[slot].v = cmk_xcalloc(1, sizeof(struct vs_vault));
    vs__vault_clear(vs->cache[slot].v);
    *vs->cache[slot].v = tmp;
    vs->cache[slot].gen = vs->gen;
    return vs->cache[slot].v;
}

/* ---- the engine's policy ------------------------------------------------------------------ */

static int engine_space(void *data, const char *space_id, struct vs_space *out)
{
    struct vs_vaults *vs = data;
    if (strncmp(space_id, "vault/", 6) != 0)
        return CMK_ENOTFOUND;
    const struct vs_vault *v = vs__vault_find(vs, space_id + 6);
    if (v == NULL)
        return CMK_ENOTFOUND;
    vs__space_of(v, out);
    return 0;
}

/* Work the clock did on its own: rotation by policy, automatic purge, near-expiry notice. */
static void engine_event(void *data, const char *space_id, const char *what, const char *name,
                         const char *version)
{
    struct vs_vaults *vs = data;
    char when[40];
    cmk_time_format(cmk_clock_now(&vs->rt->clock), when, sizeof(when));
    const char *vault = strncmp(space_id, "vault/", 6) == 0 ? space_id + 6 : space_id;
    char kid[512];
    if (version)
        snprintf(kid, sizeof(kid), "https://%s.vault.azure.net/keys/%s/%s", vault, name, version);
    else
        snprintf(kid, sizeof(kid), "https://%s.vault.azure.net/keys/%s", vault, name);
    const struct vs_vault *v = vs__vault_find(vs, vault);
    json_t *ev = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:{}},s:{s:s,s:s}}", "time", when, "category",
        "AuditEvent", "operationName", what, "resourceId", v ? v->id : "", "resultType", "Success",
        "resultSignature", "OK", "resultDescription",
        strcmp(what, "KeyPurge") == 0 ? "Purged by the service at the end of the retention period."
        : strcmp(what, "KeyRotate") == 0
            ? "Rotated by the service according to the key's rotation policy."
            : "The key is near its expiry (rotation policy notification).",
        "callerIpAddress", "", "identity", "claim", "properties", "id", kid, "origin", "Service");
    vs_audit_append(vs->audit, space_id, ev);
}

/* ---- the data plane's policy -------------------------------------------------------------- */

static int keys_lookup(void *data, const char *label, struct vs_container *c)
{
    struct vs_vaults *vs = data;
    const struct vs_vault *v = vs__vault_find(vs, label);
    if (v == NULL)
        return CMK_ENOTFOUND;
    memset(c, 0, sizeof(*c));
    vs__space_of(v, &c->space);
    snprintf(c->tenant, sizeof(c->tenant), "%s", v->tenant);
    snprintf(c->resource_id, sizeof(c->resource_id), "%s", v->id);
    snprintf(c->location, sizeof(c->location), "%s", v->location);
    c->net = v->net;
    c->rate = v->rate;
    c->burst = v->burst;
    c->flavour = (void *)v;
    return 0;
}

static int policy_allows(const struct vs_vault *v, const struct cmk_principal *p, enum vs_perm perm)
{
    size_t i;
    json_t *e;
    json_array_foreach(v->policies, i, e)
    {
        const char *tid = json_string_value(json_object_get(e, "tenantId"));
        const char *oid = json_string_value(json_object_get(e, "objectId"));
        const char *app = json_string_value(json_object_get(e, "applicationId"));
        if (tid == NULL || oid == NULL || strcasecmp(tid, p->tid) != 0 ||
            strcasecmp(oid, p->oid) != 0)
            continue;
        if (app && *app && strcasecmp(app, p->appid) != 0)
            continue;
        size_t j;
        json_t *k;
        json_array_foreach(json_object_get(json_object_get(e, "permissions"), "keys"), j, k)
        {
            const char *s = json_string_value(k);
            if (s && (strcasecmp(s, "all") == 0 || strcasecmp(s, vs_perm_name(perm)) == 0))
                return 1;
        }
    }
    return 0;
}

static int keys_authorize(void *data, const struct vs_container *c, const struct cmk_principal *p,
                          enum vs_perm perm, const char *key_name, struct cmk_err *err)
{
    struct vs_vaults *vs = data;
    const struct vs_vault *v = c->flavour;
    if (perm == VS_PERM_RANDOM)
        return 0;
    char caller[512];
    snprintf(caller, sizeof(caller), "appid=%s;oid=%s;iss=%s", p->appid, p->oid, p->iss);
    if (!v->rbac) {
        if (policy_allows(v, p, perm))
            return 0;
        cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                    "The user, group or application '%s' does not have keys %s permission on key "
                    "vault '%s;location=%s'. For help resolving this issue, please see "
                    "https://go.microsoft.com/fwlink/?linkid=2125287",
                    caller, vs_perm_name(perm), v->name, v->location);
        cmk_err_inner(err, "ForbiddenByPolicy");
        return CMK_EDENIED;
    }
    const char *action = vs__rbac_action(perm);
    char resource[CMK_ARM_ID_MAX + 160];
    if (key_name && *key_name)
        snprintf(resource, sizeof(resource), "%s/keys/%s", v->id, key_name);
    else
        snprintf(resource, sizeof(resource), "%s", v->id);
    if (action == NULL || vs__rbac_allows(vs, p->oid, resource, action) == 0)
        return 0;
    for (char *q = resource; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    cmk_err_set(err, CMK_EDENIED, 403, "Forbidden",
                "Caller is not authorized to perform action on resource.\r\nIf role "
                "assignments, deny assignments or role definitions were changed recently, please "
                "observe propagation time.\r\nCaller: %s\r\nAction: '%s'\r\nResource: "
                "'%s'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: "
                "null \r\nVault: %s;location=%s\r\n",
                caller, action, resource, v->name, v->location);
    cmk_err_inner(err, "ForbiddenByRbac");
    return CMK_EDENIED;
}

/* ---- open / close ------------------------------------------------------------------------- */

int vs_vaults_open(struct vs_vaults **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    if (rt->arm == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError",
                           "vaultsim needs the ARM core: call cmk_arm_open first");
    struct vs_vaults *vs = cmk_xcalloc(1, sizeof(*vs));
    vs->rt = rt;
    vs->arm = rt->arm;
    vs->gen = 1;
    static const struct vs_engine_policy epol_template = {
        .version = 1,
        .kind = "vault",
        .space_lookup = engine_space,
        .on_event = engine_event,
    };
    struct vs_engine_policy epol = epol_template;
    epol.data = vs;
    int rc = vs_audit_open(&vs->audit, rt, err);
    if (rc == 0)
        rc = vs__arm_register(vs, err);
    if (rc == 0)
        rc = vs_engine_open(&vs->engine, rt, &epol, err);
    if (rc == 0)
        rc = vs__rbac_register(vs, err);
    if (rc == 0)
        vs__purge_rearm(vs);
    if (rc == 0) {
        struct vs_keys_policy kpol = {
            .version = 1,
            .host = CMK_HOST_VAULT,
            .cloud_resource = "https://vault.azure.net",
            .local_family = "vault",
            .app_id = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
            .audit_category = "AuditEvent",
            .lookup = keys_lookup,
            .authorize = keys_authorize,
            .data = vs,
        };
        rc = vs_keys_open(&vs->keys, rt, vs->engine, vs->audit, &kpol, err);
    }
    if (rc != 0) {
        vs_vaults_free(vs);
        return rc;
    }
    *out = vs;
    return 0;
}

void vs_vaults_free(struct vs_vaults *vs)
{
    if (vs == NULL)
        return;
    if (vs->purge_timer.clock)
        cmk_timer_stop(&vs->purge_timer);
    vs_keys_free(vs->keys);
    vs_engine_free(vs->engine);
    vs_audit_free(vs->audit);
    for (size_t i = 0; i < VS_VAULT_CACHE; i++) {
        vs__vault_clear(vs->cache[i].v);
        free(vs->cache[i].v);
    }
    free(vs);
}

struct vs_engine *vs_vaults_engine(struct vs_vaults *vs)
{
    return vs->engine;
}

struct vs_audit *vs_vaults_audit(struct vs_vaults *vs)
{
    return vs->audit;
}

void vs_vaults_set_throttle(struct vs_vaults *vs, double rate, double burst)
{
    vs_keys_set_throttle(vs->keys, rate, burst);
}

int vs_vaults_audit_read(struct vs_vaults *vs, const char *vault, int64_t after,
                         struct cmk_buf *out, int64_t *last, struct cmk_err *err)
{
    char space[96];
    snprintf(space, sizeof(space), "vault/%s", vault);
    for (char *p = space; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return vs_audit_read(vs->audit, space, after, 0, out, last, err);
}
