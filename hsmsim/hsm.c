/* hsm.c: the Managed HSM service (hsm.h): opening it on a runtime, and its ARM resource provider
 * Microsoft.KeyVault/managedHSMs on the ARM core: validation and documents of PUT/PATCH, the
 * long-running create and recover ("hsm.provision"), the long-running soft delete
 * ("hsm.delete") into hsm_deleted, deletedManagedHSMs list/get/purge, checkMhsmNameAvailability,
 * the clock's purge at the end of the retention period, and the audit log route. Rules (issue
 * 4): soft delete is always on; softDeleteRetentionInDays is 7-90 and fixed at creation;
 * enablePurgeProtection defaults to true and cannot be turned off; initialAdminObjectIds are
 * required; a deleted HSM's name cannot be reused until it is purged; a purge-protected HSM is
 * purged only by the clock at its scheduled purge date. */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"
#include "hsm_int.h"

#define PROVISIONED_MESSAGE "The Managed HSM is provisioned and ready to use."

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE hsm_names (name TEXT PRIMARY KEY, id TEXT NOT NULL);"
        "CREATE TABLE hsm_deleted ("
        " name TEXT PRIMARY KEY,"
        " display TEXT NOT NULL,"
        " id TEXT NOT NULL,"
        " sub TEXT NOT NULL,"
        " location TEXT NOT NULL,"
        " doc TEXT NOT NULL,"
        " deleted INTEGER NOT NULL,"
        " purge INTEGER NOT NULL,"
        " protected INTEGER NOT NULL);"},
};

/* The api-versions of Microsoft.KeyVault that have managedHSMs (and what clients send). */
static const char *const api_versions[] = {"2020-04-01-preview",
                                           "2021-04-01-preview",
                                           "2021-06-01-preview",
                                           "2021-10-01",
                                           "2021-11-01-preview",
                                           "2022-02-01-preview",
                                           "2022-07-01",
                                           "2022-11-01",
                                           "2023-02-01",
                                           "2023-07-01",
                                           "2023-08-01-preview",
                                           "2024-04-01-preview",
                                           "2024-11-01",
                                           "2024-12-01-preview",
                                           "2025-05-01",
                                           "2026-02-01",
                                           NULL};

static const char *const sku_names[] = {"Standard_B1", "Custom_B32", "Custom_B6",
                                        "Custom_C42",  "Custom_C10", NULL};

void hsm__lower(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

int hsm__guid_like(const char *s)
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

static int bad_request(struct cmk_err *err, const char *fmt, const char *arg)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest", fmt, arg);
}

static void publish_state(struct hsm_service *h, const char *name, const char *from, const char *to,
                          const char *cause)
{
    cmk_events_publish(
        &h->rt->events, "hsm.state", name,
        json_pack("{s:s, s:s, s:s, s:s}", "hsm", name, "from", from, "to", to, "cause", cause));
}

/* ---- names -------------------------------------------------------------------------------- */

static int name_valid(const char *name)
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

static int name_invalid(struct cmk_err *err, const char *name)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                       "The managed HSM name '%s' is invalid. A managed HSM's name must be "
                       "between 3-24 alphanumeric characters. The name must begin with a letter, "
                       "end with a letter or digit, and not contain consecutive hyphens.",
                       name);
}

static int exec_name(struct hsm_service *h, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = cmk_store_stmt(h->rt->db, sql);
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

/* The id of the live HSM named name (any case) into id; 0 if none. */
static int live_id(struct hsm_service *h, const char *name, char id[CMK_ARM_ID_MAX])
{
    char lc[64];
    hsm__lower(lc, sizeof(lc), name);
    sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "SELECT id FROM hsm_names WHERE name = ?");
    sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(id, CMK_ARM_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return found;
}

struct deleted {
    char name[64], display[64], id[CMK_ARM_ID_MAX], sub[64], location[64];
    json_t *doc;
    cmk_time_t deleted, purge;
    int protected_;
};

static int deleted_get(struct hsm_service *h, const char *name, struct deleted *d)
{
    memset(d, 0, sizeof(*d));
    char lc[64];
    hsm__lower(lc, sizeof(lc), name);
    sqlite3_stmt *st =
        cmk_store_stmt(h->rt->db, "SELECT name, display, id, sub, location, doc, deleted, purge, "
                                  "protected FROM hsm_deleted WHERE name = ?");
    sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(d->name, sizeof(d->name), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(d->display, sizeof(d->display), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(d->id, sizeof(d->id), "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(d->sub, sizeof(d->sub), "%s", (const char *)sqlite3_column_text(st, 3));
        snprintf(d->location, sizeof(d->location), "%s", (const char *)sqlite3_column_text(st, 4));
        d->doc = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
        d->deleted = sqlite3_column_int64(st, 6);
        d->purge = sqlite3_column_int64(st, 7);
        d->protected_ = sqlite3_column_int(st, 8);
    }
    sqlite3_reset(st);
    return found;
}

/* ---- documents ---------------------------------------------------------------------------- */

static json_t *normalized_acls(const json_t *acls)
{
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
        return bad_request(err, "The property '%s' must be a boolean.", field);
    return 0;
}

static int check_sku(const json_t *sku, const char **name, const char **family, struct cmk_err *err)
{
    *name = "Standard_B1";
    *family = "B";
    if (sku == NULL || json_is_null(sku))
        return 0;
    const char *n = json_string_value(json_object_get(sku, "name"));
    const char *f = json_string_value(json_object_get(sku, "family"));
    size_t i;
    for (i = 0; n && sku_names[i]; i++)
        if (strcasecmp(n, sku_names[i]) == 0)
            break;
    if (!json_is_object(sku) || n == NULL || sku_names[i] == NULL)
        return bad_request(err,
                           "The managed HSM's sku.name '%s' is not valid: use Standard_B1, "
                           "Custom_B32, Custom_B6, Custom_C42 or Custom_C10.",
                           n ? n : "");
    *name = sku_names[i];
    if (f && strcasecmp(f, "B") != 0 && strcasecmp(f, "C") != 0)
        return bad_request(err, "The managed HSM's sku.family '%s' is not valid: use B or C.", f);
    *family = f && strcasecmp(f, "C") == 0 ? "C" : "B";
    return 0;
}

static int check_admins(const json_t *admins, int required, struct cmk_err *err)
{
    if (admins == NULL || json_is_null(admins)) {
        if (required)
            return bad_request(err,
                               "The property 'initialAdminObjectIds' is required: a managed HSM "
                               "needs at least one administrator.%s",
                               "");
        return 0;
    }
    if (!json_is_array(admins) || json_array_size(admins) == 0 || json_array_size(admins) > 64)
        return bad_request(err,
                           "The property 'initialAdminObjectIds' must be an array of 1 to 64 "
                           "object ids.%s",
                           "");
    size_t i;
    const json_t *a;
    json_array_foreach(admins, i, a)
    {
        if (!hsm__guid_like(json_string_value(a)))
            return bad_request(err, "The initial administrator object id '%s' is not a GUID.",
                               json_string_value(a) ? json_string_value(a) : "");
    }
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
        return bad_request(err,
                           "The request content was invalid: the managed HSM's 'properties' "
                           "are required.%s",
                           "");
    const json_t *old = existing ? json_object_get(existing->doc, "properties") : NULL;
    const char *tenant = json_string_value(json_object_get(props, "tenantId"));
    if (!hsm__guid_like(tenant))
        return bad_request(err, "The managed HSM's tenantId '%s' is not a valid GUID.",
                           tenant ? tenant : "");
    const char *skuname, *family;
    int rc = check_sku(json_object_get(body, "sku"), &skuname, &family, err);
    if (rc != 0)
        return rc;
    const json_t *admins = json_object_get(props, "initialAdminObjectIds");
    if ((admins == NULL || json_is_null(admins)) && old)
        admins = json_object_get(old, "initialAdminObjectIds");
    if ((rc = check_admins(admins, 1, err)) != 0)
        return rc;
    static const char *const bools[] = {"enableSoftDelete", "enablePurgeProtection", NULL};
    for (int i = 0; bools[i]; i++)
        if ((rc = check_bool(props, bools[i], err)) != 0)
            return rc;
    if (json_is_false(json_object_get(props, "enableSoftDelete")))
        return bad_request(err,
                           "The property \"enableSoftDelete\" cannot be set to false: soft delete "
                           "is always on for managed HSMs.%s",
                           "");
    /* Retention: 7-90 days, fixed once the HSM exists. */
    const json_t *days = json_object_get(props, "softDeleteRetentionInDays");
    const json_t *old_days = old ? json_object_get(old, "softDeleteRetentionInDays") : NULL;
    json_int_t retention = 90;
    if (days && !json_is_null(days)) {
        if (!json_is_integer(days) || json_integer_value(days) < 7 || json_integer_value(days) > 90)
            return bad_request(err,
                               "The property \"softDeleteRetentionInDays\" must be between 7 and "
                               "90.%s",
                               "");
        retention = json_integer_value(days);
        if (old_days && json_integer_value(old_days) != retention)
            return bad_request(err,
                               "The property \"softDeleteRetentionInDays\" has been set already "
                               "and it can't be modified.%s",
                               "");
    } else if (old_days) {
        retention = json_integer_value(old_days);
    }
    /* Purge protection: on unless turned off at creation; once on, on for good. */
    const json_t *pp = json_object_get(props, "enablePurgeProtection");
    int was_protected = old && json_is_true(json_object_get(old, "enablePurgeProtection"));
    if (was_protected && json_is_false(pp))
        return bad_request(err,
                           "The property \"enablePurgeProtection\" cannot be set to false. "
                           "Enabling the purge protection for a managed HSM is an irreversible "
                           "action.%s",
                           "");
    int protect = old ? (was_protected || json_is_true(pp)) : !json_is_false(pp);
    const char *pna = json_string_value(json_object_get(props, "publicNetworkAccess"));
    const json_t *acls = json_object_get(props, "networkAcls");
    struct vs_netrules net;
    if ((rc = vs_netrules_parse(acls, pna, &net, err)) != 0)
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
    } else if ((rc = cmk_arm_location_normalize(given ? given : "", loc, sizeof(loc), HSM_TYPE,
                                                err)) != 0) {
        return rc;
    }
    char uri[128], lc[64];
    hsm__lower(lc, sizeof(lc), name);
    snprintf(uri, sizeof(uri), "https://%s.managedhsm.azure.net/", lc);

    json_t *p = json_object();
    json_object_set_new(p, "tenantId", json_string(tenant));
    json_object_set_new(p, "initialAdminObjectIds", json_deep_copy(admins));
    json_object_set_new(p, "hsmUri", json_string(uri));
    json_object_set_new(p, "enableSoftDelete", json_true());
    json_object_set_new(p, "softDeleteRetentionInDays", json_integer(retention));
    json_object_set_new(p, "enablePurgeProtection", json_boolean(protect));
    json_object_set_new(p, "publicNetworkAccess",
                        json_string(net.public_disabled ? "Disabled" : "Enabled"));
    json_object_set_new(p, "networkAcls", normalized_acls(acls));
    json_object_set_new(p, "privateEndpointConnections", json_array());
    json_object_set_new(p, "regions",
                        json_pack("[{s:s, s:b, s:s}]", "name", loc, "isPrimary", 1,
                                  "provisioningState", "Succeeded"));
    /* What the service owns: kept from the stored document on updates. */
    static const char *const owned[] = {"provisioningState", "statusMessage",
                                        "securityDomainProperties", NULL};
    for (int i = 0; old && owned[i]; i++) {
        json_t *v = json_object_get(old, owned[i]);
        if (v)
            json_object_set_new(p, owned[i], json_deep_copy(v));
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "location", json_string(loc));
    json_object_set_new(doc, "tags", json_is_object(tags) ? json_deep_copy(tags) : json_object());
    json_object_set_new(doc, "sku", json_pack("{s:s, s:s}", "family", family, "name", skuname));
    json_object_set_new(doc, "properties", p);
    *out = doc;
    return 0;
}

static void set_state(json_t *doc, const char *provisioning, const char *message)
{
    json_t *p = json_object_get(doc, "properties");
    json_object_set_new(p, "provisioningState", json_string(provisioning));
    json_object_set_new(p, "statusMessage", json_string(message));
}

/* ---- provider callbacks -------------------------------------------------------------------- */

static int start_provision(struct cmk_arm_call *call, struct hsm_service *h, int recover,
                           struct cmk_err *err)
{
    json_t *data = json_pack("{s:b}", "recover", recover);
    int rc = cmk_arm_op_start(call, "hsm.provision", h->provision_delay, data, 0, err);
    json_decref(data);
    return rc;
}

static int recover(struct cmk_arm_call *call, struct hsm_service *h, const char *lc, json_t **out,
                   struct cmk_err *err)
{
    struct deleted d;
    if (!deleted_get(h, lc, &d))
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "NotFound",
                           "No deleted managed HSM named '%s' was found: there is nothing to "
                           "recover.",
                           lc);
    if (!cmk_arm_id_equal(d.id, call->id)) {
        int rc = cmk_err_set(err, CMK_ECONFLICT, 409, "Conflict",
                             "The deleted managed HSM '%s' was in '%s'; it can only be recovered "
                             "there.",
                             lc, d.id);
        json_decref(d.doc);
        return rc;
    }
    json_t *doc = d.doc;
    set_state(doc, "Provisioning", "Recovering the managed HSM.");
    int rc = exec_name(h, "DELETE FROM hsm_deleted WHERE name = ?", lc, NULL);
    if (rc == 0)
        rc = exec_name(h, "INSERT OR REPLACE INTO hsm_names(name, id) VALUES(?, ?)", lc, call->id);
    if (rc != 0) {
        json_decref(doc);
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                           "The managed HSM could not be recovered.");
    }
    snprintf(call->operation, sizeof(call->operation), "Microsoft.KeyVault/managedHSMs/write");
    if ((rc = start_provision(call, h, 1, err)) != 0) {
        json_decref(doc);
        return rc;
    }
    hsm__changed(h);
    hsm__purge_rearm(h);
    *out = doc;
    return 0;
}

static int hsm_put(struct cmk_arm_call *call, json_t *body, const struct cmk_arm_resource *existing,
                   json_t **out, struct cmk_err *err)
{
    struct hsm_service *h = call->provider->data;
    const char *name = cmk_arm_id_name(&call->rid);
    *out = NULL;
    if (!name_valid(name))
        return name_invalid(err, name);
    const char *mode =
        json_string_value(json_object_get(json_object_get(body, "properties"), "createMode"));
    if (mode && strcasecmp(mode, "recover") != 0 && strcasecmp(mode, "default") != 0)
        return bad_request(
            err, "The property 'createMode' must be 'recover' or 'default', not '%s'.", mode);
    char lc[64];
    hsm__lower(lc, sizeof(lc), name);
    if (existing == NULL) {
        if (mode && strcasecmp(mode, "recover") == 0)
            return recover(call, h, lc, out, err);
        struct deleted d;
        if (deleted_get(h, name, &d)) {
            json_decref(d.doc);
            return cmk_err_set(err, CMK_ECONFLICT, 409, "ConflictError",
                               "Exist soft deleted managed HSM with the same name. Recover or "
                               "purge it first.");
        }
        char other[CMK_ARM_ID_MAX];
        if (live_id(h, name, other) && !cmk_arm_id_equal(other, call->id))
            return cmk_err_set(err, CMK_ECONFLICT, 409, "Conflict",
                               "The managed HSM name '%s' is already in use. Managed HSM names "
                               "are globally unique so it is possible that the name is already "
                               "taken.",
                               name);
    }
    int rc = build_doc(call, body, existing, out, err);
    if (rc != 0)
        return rc;
    if (existing == NULL) {
        set_state(*out, "Provisioning", "Provisioning the managed HSM.");
        json_object_set_new(json_object_get(*out, "properties"), "securityDomainProperties",
                            json_pack("{s:s, s:s}", "activationStatus", "NotActivated",
                                      "activationStatusMessage", HSM_NOT_ACTIVE_MESSAGE));
        if (exec_name(h, "INSERT OR REPLACE INTO hsm_names(name, id) VALUES(?, ?)", lc, call->id) !=
            0)
            rc = cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                             "The managed HSM was not saved.");
        if (rc == 0)
            rc = start_provision(call, h, 0, err);
        if (rc != 0) {
            json_decref(*out);
            *out = NULL;
            return rc;
        }
    }
    hsm__changed(h);
    return 0;
}

static json_t *hsm_render(struct cmk_arm *arm, const struct cmk_arm_resource *r, void *data)
{
    (void)arm;
    (void)data;
    return json_deep_copy(r->doc);
}

/* Move the HSM of r to hsm_deleted (its keys, roles and audit log stay until the purge). */
static int soft_delete(struct hsm_service *h, const struct cmk_arm_resource *r, struct cmk_err *err)
{
    char lc[64];
    hsm__lower(lc, sizeof(lc), r->name);
    json_t *doc = json_deep_copy(r->doc);
    set_state(doc, "Succeeded", PROVISIONED_MESSAGE);
    json_t *props = json_object_get(doc, "properties");
    json_t *days = json_object_get(props, "softDeleteRetentionInDays");
    int retention = json_is_integer(days) ? (int)json_integer_value(days) : 90;
    int protect = json_is_true(json_object_get(props, "enablePurgeProtection"));
    cmk_time_t now = cmk_clock_now(&h->rt->clock);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    sqlite3_stmt *st = cmk_store_stmt(
        h->rt->db, "INSERT OR REPLACE INTO hsm_deleted(name, display, id, sub, location, doc, "
                   "deleted, purge, protected) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, r->sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, r->location, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now + (cmk_time_t)retention * CMK_DAY);
    sqlite3_bind_int(st, 9, protect);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    free(text);
    if (ok)
        ok = exec_name(h, "DELETE FROM hsm_names WHERE name = ?", lc, NULL) == 0;
    if (!ok)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                           "The managed HSM could not be deleted.");
    hsm__changed(h);
    hsm__purge_rearm(h);
    const char *was = json_string_value(json_object_get(
        json_object_get(json_object_get(r->doc, "properties"), "securityDomainProperties"),
        "activationStatus"));
    publish_state(h, lc, was ? was : "NotActivated", "Deleted", "delete");
    return 0;
}

static int hsm_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                      struct cmk_err *err)
{
    struct hsm_service *h = call->provider->data;
    if (call->cascade)
        return soft_delete(h, r, err);
    json_t *doc = json_deep_copy(r->doc);
    set_state(doc, "Deleting", "Deleting the managed HSM.");
    int rc = cmk_arm_resource_put(h->arm, r->id, doc, call->caller_name, err);
    json_decref(doc);
    if (rc == 0)
        rc = cmk_arm_op_start(call, "hsm.delete", 0, NULL, 0, err);
    hsm__changed(h);
    return rc;
}

/* ---- operations --------------------------------------------------------------------------- */

static int complete_provision(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                              struct cmk_err *err)
{
    struct hsm_service *h = data;
    struct cmk_arm_resource r;
    if (cmk_arm_resource_get(arm, op->resource_id, &r, NULL) != 0)
        return 0; /* gone meanwhile (its group was deleted) */
    json_t *doc = json_deep_copy(r.doc);
    set_state(doc, "Succeeded", PROVISIONED_MESSAGE);
    int rc = 0;
    char lc[64];
    hsm__lower(lc, sizeof(lc), r.name);
    if (!json_is_true(json_object_get(op->data, "recover")))
        rc = hsm__rbac_add_admins(
            h, lc, json_object_get(json_object_get(doc, "properties"), "initialAdminObjectIds"),
            err);
    if (rc == 0)
        rc = cmk_arm_resource_put(arm, r.id, doc, op->caller, err);
    json_decref(doc);
    if (rc == 0) {
        const char *status = json_string_value(json_object_get(
            json_object_get(json_object_get(r.doc, "properties"), "securityDomainProperties"),
            "activationStatus"));
        publish_state(
            h, lc, json_is_true(json_object_get(op->data, "recover")) ? "Deleted" : "Provisioning",
            status ? status : "NotActivated",
            json_is_true(json_object_get(op->data, "recover")) ? "recover" : "create");
    }
    cmk_arm_resource_close(&r);
    hsm__changed(h);
    return rc;
}

static int complete_delete(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                           struct cmk_err *err)
{
    struct hsm_service *h = data;
    struct cmk_arm_resource r;
    if (cmk_arm_resource_get(arm, op->resource_id, &r, NULL) != 0)
        return 0;
    int rc = soft_delete(h, &r, err);
    cmk_arm_resource_close(&r);
    return rc;
}

/* The purge itself is done when the request is answered; the operation only reports it. */
static int complete_purge(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                          struct cmk_err *err)
{
    (void)arm;
    (void)op;
    (void)data;
    (void)err;
    return 0;
}

static struct cmk_arm_op_kind op_provision = {"hsm.provision", complete_provision, NULL};
static struct cmk_arm_op_kind op_delete = {"hsm.delete", complete_delete, NULL};
static struct cmk_arm_op_kind op_purge = {"hsm.purge", complete_purge, NULL};

/* ---- purge -------------------------------------------------------------------------------- */

/* Everything of a deleted HSM goes: keys, roles, security domain state, audit log, the row. */
static int purge_now(struct hsm_service *h, const struct deleted *d, struct cmk_err *err)
{
    char space[96];
    snprintf(space, sizeof(space), "hsm/%s", d->name);
    int rc = vs_space_purge(h->engine, space, err);
    if (rc == 0)
        rc = hsm__rbac_forget(h, d->name);
    if (rc == 0)
        rc = hsm__sd_forget(h, d->name);
    if (rc == 0)
        rc = exec_name(h, "DELETE FROM hsm_deleted WHERE name = ?", d->name, NULL);
    if (rc == 0)
        vs_audit_forget(h->audit, space);
    hsm__changed(h);
    if (rc != 0 && err->rc == 0)
        cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                    "The managed HSM could not be purged.");
    if (rc == 0)
        publish_state(h, d->name, "Deleted", "Purged", "purge");
    return rc;
}

static void on_purge_timer(struct cmk_timer *t)
{
    struct hsm_service *h = t->data;
    cmk_time_t now = cmk_clock_now(&h->rt->clock);
    for (int guard = 0; guard < 1000; guard++) {
        sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "SELECT name FROM hsm_deleted WHERE purge <= "
                                                     "? ORDER BY purge, name LIMIT 1");
        sqlite3_bind_int64(st, 1, now);
        char name[64] = "";
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        struct deleted d;
        if (name[0] == '\0' || !deleted_get(h, name, &d))
            break;
        struct cmk_err err;
        cmk_err_clear(&err);
        int rc = cmk_arm_tx_begin(h->arm);
        if (rc == 0)
            rc = purge_now(h, &d, &err);
        if (rc == 0) {
            struct cmk_arm_event ev = {
                .resource_id = d.id,
                .operation = "Microsoft.KeyVault/locations/deletedManagedHSMs/purge/action",
                .status = "Succeeded",
                .caller = "Microsoft.KeyVault",
                .description = "The deleted managed HSM was purged at the end of its retention "
                               "period.",
            };
            (void)cmk_arm_activity(h->arm, &ev, NULL);
            rc = cmk_arm_tx_commit(h->arm);
            cmk_info("hsmsim", "purged deleted managed HSM %s: its retention period ended",
                     d.display);
        } else {
            cmk_arm_tx_rollback(h->arm);
            cmk_warn("hsmsim", "automatic purge of managed HSM %s failed: %s", d.display,
                     err.message);
        }
        json_decref(d.doc);
        if (rc != 0)
            break;
    }
    hsm__purge_rearm(h);
}

void hsm__purge_rearm(struct hsm_service *h)
{
    sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "SELECT MIN(purge) FROM hsm_deleted");
    cmk_time_t due = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (due < 0) {
        cmk_timer_stop(&h->purge_timer);
        return;
    }
    cmk_time_t now = cmk_clock_now(&h->rt->clock);
    if (cmk_timer_active(&h->purge_timer) && h->purge_timer.due == due)
        return;
    cmk_timer_start_at(&h->purge_timer, due < now ? now : due, 0);
}

int hsm__set_activation(struct hsm_service *h, const char *name, const char *status,
                        const char *message, struct cmk_err *err)
{
    char id[CMK_ARM_ID_MAX];
    struct cmk_arm_resource r;
    if (!live_id(h, name, id) || cmk_arm_resource_get(h->arm, id, &r, NULL) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "NotFound", "No managed HSM named '%s'.", name);
    json_t *doc = json_deep_copy(r.doc);
    json_object_set_new(
        json_object_get(doc, "properties"), "securityDomainProperties",
        json_pack("{s:s, s:s}", "activationStatus", status, "activationStatusMessage", message));
    int rc = cmk_arm_resource_put(h->arm, r.id, doc, "Microsoft.KeyVault", err);
    json_decref(doc);
    cmk_arm_resource_close(&r);
    hsm__changed(h);
    return rc;
}

/* ---- routes ------------------------------------------------------------------------------- */

static json_t *deleted_json(const struct deleted *d)
{
    char id[CMK_ARM_ID_MAX + 128], del[40], purge[40];
    snprintf(id, sizeof(id),
             "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/deletedManagedHSMs/%s",
             d->sub, d->location, d->display);
    cmk_time_format(d->deleted, del, sizeof(del));
    cmk_time_format(d->purge, purge, sizeof(purge));
    json_t *tags = json_object_get(d->doc, "tags");
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:O, s:b}}", "id", id, "name",
                     d->display, "type", "Microsoft.KeyVault/deletedManagedHSMs", "properties",
                     "mhsmId", d->id, "location", d->location, "deletionDate", del,
                     "scheduledPurgeDate", purge, "tags", tags ? tags : json_object(),
                     "purgeProtectionEnabled", d->protected_);
}

static void h_deleted_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct hsm_service *h = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(h->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) == 0) {
        json_t *items = json_array();
        sqlite3_stmt *st = cmk_store_stmt(h->rt->db, "SELECT name FROM hsm_deleted WHERE sub = ? "
                                                     "COLLATE NOCASE ORDER BY deleted, name");
        sqlite3_bind_text(st, 1, call.rid.sub, -1, SQLITE_TRANSIENT);
        char(*names)[64] = NULL;
        size_t n = 0, cap = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                names = cmk_xrealloc(names, cap * sizeof(*names));
            }
            snprintf(names[n++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_reset(st);
        for (size_t i = 0; i < n; i++) {
            struct deleted d;
            if (deleted_get(h, names[i], &d)) {
                json_array_append_new(items, deleted_json(&d));
                json_decref(d.doc);
            }
        }
        free(names);
        cmk_arm_respond_list(&call, items);
    }
    cmk_arm_call_end(&call);
}

static int find_deleted(struct hsm_service *h, struct cmk_arm_call *call, struct deleted *d,
                        struct cmk_err *err)
{
    const char *name = cmk_request_param(call->req, "name");
    const char *loc = cmk_request_param(call->req, "location");
    char norm[64] = "";
    if (loc)
        (void)cmk_arm_location_normalize(loc, norm, sizeof(norm), NULL, NULL);
    if (name && deleted_get(h, name, d) && strcasecmp(d->sub, call->rid.sub) == 0 &&
        (norm[0] == '\0' || strcasecmp(norm, d->location) == 0))
        return 0;
    json_decref(d->doc);
    memset(d, 0, sizeof(*d));
    return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                       "The Resource 'Microsoft.KeyVault/deletedManagedHSMs/%s' under resource "
                       "group '<null>' was not found. For more details please go to "
                       "https://aka.ms/ARMResourceNotFoundFix",
                       name ? name : "");
}

static void h_deleted_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct hsm_service *h = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(h->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) == 0) {
        struct deleted d;
        struct cmk_err err;
        if (find_deleted(h, &call, &d, &err) != 0) {
            cmk_arm_respond_error(&call, &err);
        } else {
            cmk_response_json(res, 200, deleted_json(&d));
            json_decref(d.doc);
        }
    }
    cmk_arm_call_end(&call);
}

static void h_deleted_purge(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct hsm_service *h = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(h->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) != 0)
        goto End;
    snprintf(call.operation, sizeof(call.operation),
             "Microsoft.KeyVault/locations/deletedManagedHSMs/purge/action");
    struct deleted d;
    struct cmk_err err;
    cmk_err_clear(&err);
    if (find_deleted(h, &call, &d, &err) != 0) {
        cmk_arm_respond_error(&call, &err);
        goto End;
    }
    snprintf(call.id, sizeof(call.id), "%s", d.id);
    cmk_time_t now = cmk_clock_now(&h->rt->clock);
    if (d.protected_ && now < d.purge) {
        char when[40];
        cmk_time_format(d.purge, when, sizeof(when));
        cmk_err_set(&err, CMK_ECONFLICT, 409, "Conflict",
                    "Operation 'DeletedManagedHsmPurge' is not allowed. The managed HSM '%s' has "
                    "purge protection enabled: it can only be purged by the service at the end "
                    "of its retention period, on %s.",
                    d.display, when);
        cmk_arm_respond_error(&call, &err);
    } else if (purge_now(h, &d, &err) != 0 ||
               cmk_arm_op_start(&call, "hsm.purge", 0, NULL, 0, &err) != 0) {
        cmk_arm_respond_error(&call, &err);
    } else {
        hsm__purge_rearm(h);
        cmk_arm_respond_accepted(&call, 202, NULL);
    }
    json_decref(d.doc);
End:
    cmk_arm_call_end(&call);
}

static void h_check_name(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct hsm_service *h = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(h->arm, req, res, NULL, CMK_ARM_CALL_NO_ID | CMK_ARM_CALL_NO_LOG,
                           &call) != 0)
        goto End;
    struct cmk_err err;
    json_t *body = cmk_request_json(req, &err);
    const char *name = json_string_value(json_object_get(body, "name"));
    if (name == NULL) {
        if (body != NULL)
            bad_request(&err, "The body needs 'name'.%s", "");
        cmk_arm_respond_error(&call, &err);
        goto End;
    }
    char id[CMK_ARM_ID_MAX];
    struct deleted d;
    json_t *o;
    if (!name_valid(name)) {
        struct cmk_err e2;
        name_invalid(&e2, name);
        o = json_pack("{s:b, s:s, s:s}", "nameAvailable", 0, "reason", "AccountNameInvalid",
                      "message", e2.message);
    } else if (live_id(h, name, id)) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "The name '%s' is already in use. Managed HSM names are globally unique.", name);
        o = json_pack("{s:b, s:s, s:s}", "nameAvailable", 0, "reason", "AlreadyExists", "message",
                      msg);
    } else if (deleted_get(h, name, &d)) {
        json_decref(d.doc);
        o = json_pack("{s:b, s:s, s:s}", "nameAvailable", 0, "reason", "AlreadyExists", "message",
                      "A managed HSM with the same name already exists in deleted state. You "
                      "need to either recover or purge the existing managed HSM.");
    } else {
        o = json_pack("{s:b}", "nameAvailable", 1);
    }
    cmk_response_json(res, 200, o);
End:
    cmk_arm_call_end(&call);
}

static void respond_audit(struct hsm_service *h, struct cmk_request *req, struct cmk_response *res,
                          const char *name)
{
    const char *after = cmk_request_query(req, "after");
    struct cmk_buf out;
    cmk_buf_init(&out);
    int64_t last = 0;
    struct cmk_err err;
    if (hsm_audit_read(h, name, after ? strtoll(after, NULL, 10) : 0, &out, &last, &err) != 0) {
        cmk_response_error(res, &err);
    } else {
        cmk_response_text(res, 200, "application/x-ndjson", out.data ? out.data : "");
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)last);
        cmk_response_header(res, "x-cmksim-audit-last", v);
    }
    cmk_buf_close(&out);
}

static void h_audit_arm(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct hsm_service *h = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(h->arm, req, res, HSM_TYPE, CMK_ARM_CALL_EXISTING, &call) == 0)
        respond_audit(h, req, res, cmk_arm_id_name(&call.rid));
    cmk_arm_call_end(&call);
}

/* GET /_cmksim/managedHSMs/{hsm}/audit: the log by name (live or deleted HSM), for a management
 * token of the HSM's tenant. */
static void h_audit_short(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct hsm_service *h = data;
    const char *name = cmk_request_param(req, "hsm");
    char aud[160];
    snprintf(aud, sizeof(aud), "https://management.%s/", h->rt->hosts.suffix);
    const char *auds[] = {"https://management.azure.com/", "https://management.core.windows.net/",
                          aud, NULL};
    struct cmk_principal p;
    struct cmk_err err;
    if (cmk_auth_verify(h->rt->auth, cmk_request_header(req, "authorization"),
                        cmk_clock_now(&h->rt->clock), auds, &p, &err) != 0) {
        cmk_response_error(res, &err);
        return;
    }
    char tenant[64] = "";
    const struct hsm_pool *pool = hsm__find(h, name ? name : "");
    struct deleted d;
    if (pool) {
        snprintf(tenant, sizeof(tenant), "%s", pool->tenant);
    } else if (name && deleted_get(h, name, &d)) {
        const char *t =
            json_string_value(json_object_get(json_object_get(d.doc, "properties"), "tenantId"));
        snprintf(tenant, sizeof(tenant), "%s", t ? t : "");
        json_decref(d.doc);
    } else {
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "NotFound", "No managed HSM named '%s'.",
                    name ? name : "");
        cmk_response_error(res, &err);
        return;
    }
    if (strcasecmp(tenant, p.tid) != 0) {
        cmk_err_set(&err, CMK_EDENIED, 403, "Forbidden",
                    "The token's tenant %s is not the managed HSM's tenant.", p.tid);
        cmk_response_error(res, &err);
        return;
    }
    respond_audit(h, req, res, name);
}

#define HSM_PATH                                                                                   \
    "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/managedHSMs/{hsm}"
#define DELETED_PATH                                                                               \
    "/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{location}/deletedManagedHSMs/"     \
    "{name}"

static const struct cmk_route routes[] = {
    {"GET", HSM_PATH "/auditEvents", h_audit_arm},
    {"GET", "/subscriptions/{s}/providers/Microsoft.KeyVault/deletedManagedHSMs", h_deleted_list},
    {"GET", DELETED_PATH, h_deleted_get},
    {"POST", DELETED_PATH "/purge", h_deleted_purge},
    {"POST", "/subscriptions/{s}/providers/Microsoft.KeyVault/checkMhsmNameAvailability",
     h_check_name},
    {"GET", "/_cmksim/managedHSMs/{hsm}/audit", h_audit_short},
    {NULL, NULL, NULL},
};

int hsm__arm_register(struct hsm_service *h, struct cmk_err *err)
{
    int rc = cmk_store_migrate(h->rt->db, "hsmsim", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    if (rc != 0)
        return rc;
    h->provider.type = HSM_TYPE;
    h->provider.api_versions = api_versions;
    h->provider.put = hsm_put;
    h->provider.render = hsm_render;
    h->provider.del = hsm_delete;
    h->provider.data = h;
    cmk_arm_provider_register(h->arm, &h->provider);
    op_provision.data = op_delete.data = op_purge.data = h;
    cmk_arm_op_kind_register(h->arm, &op_provision);
    cmk_arm_op_kind_register(h->arm, &op_delete);
    cmk_arm_op_kind_register(h->arm, &op_purge);
    cmk_router_add_table(&h->rt->router, CMK_HOST_MGMT, routes, h);
    cmk_timer_init(&h->rt->clock, &h->purge_timer, on_purge_timer, h);
    return 0;
}

/* ---- open / close ------------------------------------------------------------------------- */

int hsm_open(struct hsm_service **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    if (rt->arm == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError",
                           "hsmsim needs the ARM core: call cmk_arm_open first");
    struct hsm_service *h = cmk_xcalloc(1, sizeof(*h));
    h->rt = rt;
    h->arm = rt->arm;
    h->gen = 1;
    h->provision_delay = 2 * CMK_SECOND;
    h->activation_delay = 2 * CMK_SECOND;
    int rc = vs_audit_open(&h->audit, rt, err);
    if (rc == 0)
        rc = hsm__arm_register(h, err);
    if (rc == 0)
        rc = hsm__engine_open(h, err);
    if (rc == 0)
        rc = hsm__keys_open(h, err);
    if (rc == 0)
        rc = hsm__rbac_register(h, err);
    if (rc == 0)
        rc = hsm__sd_register(h, err);
    if (rc != 0) {
        hsm_free(h);
        return rc;
    }
    hsm__purge_rearm(h);
    hsm__sd_rearm(h);
    *out = h;
    return 0;
}

void hsm_free(struct hsm_service *h)
{
    if (h == NULL)
        return;
    if (h->purge_timer.clock)
        cmk_timer_stop(&h->purge_timer);
    if (h->sd_timer.clock)
        cmk_timer_stop(&h->sd_timer);
    vs_keys_free(h->keys);
    vs_engine_free(h->engine);
    vs_audit_free(h->audit);
    for (size_t i = 0; i < HSM_CACHE; i++)
        free(h->cache[i].p);
    free(h);
}

void hsm_set_timing(struct hsm_service *h, cmk_time_t provision, cmk_time_t activation)
{
    h->provision_delay = provision > 0 ? provision : 0;
    h->activation_delay = activation > 0 ? activation : 0;
}

void hsm_set_throttle(struct hsm_service *h, double rate, double burst)
{
    vs_keys_set_throttle(h->keys, rate, burst);
}

const char *hsm_activation_status(struct hsm_service *h, const char *name)
{
    const struct hsm_pool *p = hsm__find(h, name);
    return p == NULL ? NULL : p->active ? "Active" : "NotActivated";
}

int hsm_audit_read(struct hsm_service *h, const char *name, int64_t after, struct cmk_buf *out,
                   int64_t *last, struct cmk_err *err)
{
    char lc[64], id[CMK_ARM_ID_MAX], space[96];
    hsm__lower(lc, sizeof(lc), name);
    struct deleted d;
    if (!live_id(h, lc, id)) {
        if (!deleted_get(h, lc, &d))
            return cmk_err_set(err, CMK_ENOTFOUND, 404, "NotFound", "No managed HSM named '%s'.",
                               name);
        json_decref(d.doc);
    }
    snprintf(space, sizeof(space), "hsm/%s", lc);
    return vs_audit_read(h->audit, space, after, 0, out, last, err);
}
