/* hsm_keys.c: the Managed HSM's policy for the code it shares with vaultsim. One key engine
 * (vaultsim/engine.h) opened with kind "hsm" and one keys data plane (vaultsim/keys_api.h)
 * opened on the HSM host kind; this file only says what differs from a vault:
 *   - the container: spaces "hsm/NAME", HSM key types only (RSA-HSM, EC-HSM, oct-HSM), soft
 *     delete always on (retention 7-90 days from the ARM document), purge protection;
 *   - activation: until its security domain is downloaded an HSM refuses every key operation;
 *   - authorization: local RBAC only (hsm_rbac.c), never access policies or Azure RBAC;
 *   - the challenge's resource "https://managedhsm.azure.net" (local: managedhsm.<suffix>).
 * Token, tenant, network rules (publicNetworkAccess, ipRules, trusted services), throttling,
 * every route and the audit events are vaultsim's code. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "common/store.h"
#include "hsm_int.h"

/* ---- parsing and the cache -------------------------------------------------------------- */

/* Tag "cmksim-throttle": "<requests>/<duration>", e.g. "100/10s" (as vaultsim). */
static void parse_throttle(const json_t *tags, struct hsm_pool *p)
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
        p->rate = n * 1000.0 / (double)d;
        p->burst = n;
    }
}

static int parse(const struct cmk_arm_resource *r, struct hsm_pool *p, struct cmk_err *err)
{
    memset(p, 0, sizeof(*p));
    hsm__lower(p->name, sizeof(p->name), r->name);
    snprintf(p->id, sizeof(p->id), "%s", r->id);
    snprintf(p->sub, sizeof(p->sub), "%s", r->sub);
    snprintf(p->location, sizeof(p->location), "%s", r->location);
    json_t *props = json_object_get(r->doc, "properties");
    const char *tenant = json_string_value(json_object_get(props, "tenantId"));
    snprintf(p->tenant, sizeof(p->tenant), "%s", tenant ? tenant : "");
    json_t *days = json_object_get(props, "softDeleteRetentionInDays");
    p->retention = json_is_integer(days) ? (int)json_integer_value(days) : 90;
    p->purge_protection = json_is_true(json_object_get(props, "enablePurgeProtection"));
    const char *state = json_string_value(json_object_get(props, "provisioningState"));
    p->provisioned = state && (strcmp(state, "Succeeded") == 0 || strcmp(state, "Deleting") == 0);
    const char *act = json_string_value(
        json_object_get(json_object_get(props, "securityDomainProperties"), "activationStatus"));
    p->active = act && strcmp(act, "Active") == 0;
    parse_throttle(json_object_get(r->doc, "tags"), p);
    return vs_netrules_parse(json_object_get(props, "networkAcls"),
                             json_string_value(json_object_get(props, "publicNetworkAccess")),
                             &p->net, err);
}

void hsm__changed(struct hsm_service *h)
{
    h->gen++;
}

static int load(struct hsm_service *h, const char *name, struct hsm_pool *p)
{
    char lc[64];
    hsm__lower(lc, sizeof(lc), name);
    sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "SELECT id FROM hsm_names WHERE name = ?");
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
    char id[CMK_ARM_ID_MAX] = "";
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    struct cmk_arm_resource r;
    if (id[0] == '\0' || cmk_arm_resource_get(h->arm, id, &r, NULL) != 0)
        return CMK_ENOTFOUND;
    struct cmk_err err;
    int rc = parse(&r, p, &err);
    cmk_arm_resource_close(&r);
    return rc;
}

const struct hsm_pool *hsm__find(struct hsm_service *h, const char *name)
{
    for (size_t i = 0; i < HSM_CACHE; i++) {
        struct hsm_pool *p = h->cache[i].p;
        if (p && h->cache[i].gen == h->gen && strcasecmp(p->name, name) == 0)
            return p;
    }
    struct hsm_pool tmp;
    if (load(h, name, &tmp) != 0)
        return NULL;
    size_t slot = h->cache_next++ % HSM_CACHE;
    for (size_t i = 0; i < HSM_CACHE; i++)
        if (h->cache[i].p == NULL || h->cache[i].gen != h->gen) {
            slot = i;
            break;
        }
    if (h->cache[slot].p == NULL)
        h->cache[slot].p = cmk_xcalloc(1, sizeof(struct hsm_pool));
    *h->cache[slot].p = tmp;
    h->cache[slot].gen = h->gen;
    return h->cache[slot].p;
}

void hsm__space_of(const struct hsm_pool *p, struct vs_space *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "hsm/%s", p->name);
    snprintf(s->name, sizeof(s->name), "%s", p->name);
    snprintf(s->subscription, sizeof(s->subscription), "%s", p->sub);
    s->retention_days = p->retention >= 7 ? p->retention : 90; /* soft delete is never off */
    s->purge_protection = p->purge_protection;
    s->key_types = VS_KTYS_HSM_ASYM | VS_KTY_BIT(VS_KTY_OCT_HSM);
    s->kind_label = "managed HSM";
}

/* ---- the engine's policy ------------------------------------------------------------------ */

static int engine_space(void *data, const char *space_id, struct vs_space *out)
{
    struct hsm_service *h = data;
    if (strncmp(space_id, "hsm/", 4) != 0)
        return CMK_ENOTFOUND;
    const struct hsm_pool *p = hsm__find(h, space_id + 4);
    if (p == NULL)
        return CMK_ENOTFOUND;
    hsm__space_of(p, out);
    return 0;
}

/* Work the clock did on its own: rotation by policy, automatic purge, near-expiry notice. */
static void engine_event(void *data, const char *space_id, const char *what, const char *name,
                         const char *version)
{
    struct hsm_service *h = data;
    char when[40];
    cmk_time_format(cmk_clock_now(&h->rt->clock), when, sizeof(when));
    const char *hsm = strncmp(space_id, "hsm/", 4) == 0 ? space_id + 4 : space_id;
    char kid[512];
    if (version)
        snprintf(kid, sizeof(kid), "https://%s.managedhsm.azure.net/keys/%s/%s", hsm, name,
                 version);
    else
        snprintf(kid, sizeof(kid), "https://%s.managedhsm.azure.net/keys/%s", hsm, name);
    const struct hsm_pool *p = hsm__find(h, hsm);
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:{}}, s:{s:s, s:s}}", "time", when,
        "category", "AuditEvent", "operationName", what, "resourceId", p ? p->id : "", "resultType",
        "Success", "resultSignature", "OK", "resultDescription",
        strcmp(what, "KeyPurge") == 0 ? "Purged by the service at the end of the retention period."
        : strcmp(what, "KeyRotate") == 0
            ? "Rotated by the service according to the key's rotation policy."
            : "The key is near its expiry (rotation policy notification).",
        "callerIpAddress", "", "identity", "claim", "properties", "id", kid, "origin", "Service");
    vs_audit_append(h->audit, space_id, ev);
}

int hsm__engine_open(struct hsm_service *h, struct cmk_err *err)
{
    struct vs_engine_policy pol = {
        .version = 1,
        .kind = "hsm",
        .space_lookup = engine_space,
        .on_event = engine_event,
        .data = h,
    };
    return vs_engine_open(&h->engine, h->rt, &pol, err);
}

/* ---- the data plane's policy -------------------------------------------------------------- */

static int keys_lookup(void *data, const char *label, struct vs_container *c)
{
    struct hsm_service *h = data;
    const struct hsm_pool *p = hsm__find(h, label);
    /* Until provisioning completes the HSM's host does not answer (no such pool yet). */
    if (p == NULL || !p->provisioned)
        return CMK_ENOTFOUND;
    memset(c, 0, sizeof(*c));
    hsm__space_of(p, &c->space);
    snprintf(c->tenant, sizeof(c->tenant), "%s", p->tenant);
    snprintf(c->resource_id, sizeof(c->resource_id), "%s", p->id);
    snprintf(c->location, sizeof(c->location), "%s", p->location);
    c->net = p->net;
    c->rate = p->rate;
    c->burst = p->burst;
    c->flavour = (void *)p;
    if (!p->active) {
        c->inactive = 1;
        cmk_err_set(&c->inactive_err, CMK_EUNAVAIL, 403, "Forbidden",
                    "The managed HSM '%s' is not activated: its security domain has not been "
                    "downloaded yet. Download it (POST /securitydomain/download) to activate "
                    "the HSM.",
                    p->name);
        cmk_err_inner(&c->inactive_err, "HSMNotActivated");
    }
    return 0;
}

static int keys_authorize(void *data, const struct vs_container *c, const struct cmk_principal *p,
                          enum vs_perm perm, const char *key_name, struct cmk_err *err)
{
    struct hsm_service *h = data;
    const struct hsm_pool *pool = c->flavour;
    const char *action = hsm__rbac_action(perm);
    char scope[256];
    if (key_name && *key_name)
        snprintf(scope, sizeof(scope), "/keys/%s", key_name);
    else
        snprintf(scope, sizeof(scope), "/keys");
    if (action != NULL && hsm__rbac_allows(h, pool->name, p->oid, scope, action))
        return 0;
    return hsm__rbac_deny(err, c, p, action ? action : "", scope);
}

int hsm__keys_open(struct hsm_service *h, struct cmk_err *err)
{
    struct vs_keys_policy pol = {
        .version = 1,
        .host = CMK_HOST_HSM,
        .cloud_resource = "https://managedhsm.azure.net",
        .local_family = "managedhsm",
        .app_id = NULL,
        .audit_category = "AuditEvent",
        .lookup = keys_lookup,
        .authorize = keys_authorize,
        .data = h,
    };
    return vs_keys_open(&h->keys, h->rt, h->engine, h->audit, &pol, err);
}
