/* container_arm.c: the ARM resource provider of a container flavour (container.h): the steps of
 * a PUT document both flavours share (properties and tenantId; booleans, soft delete always on,
 * softDeleteRetentionInDays 7-90 and fixed at creation, purge protection irreversible; network
 * rules, tags, location fixed after creation), and the provider's callbacks: PUT with its name
 * rules and conflicts (a soft-deleted name is refused until it is recovered or purged; names
 * are global), recover (createMode "recover" at the same id), GET/LIST as stored, and DELETE as
 * a soft delete unless the flavour has its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/runtime.h"
#include "container.h"

/* ---- the document of a PUT --------------------------------------------------------------- */

int vs_ctr_doc_begin(struct vs_ctr_set *s, struct cmk_arm_call *call, const json_t *body,
                     const struct cmk_arm_resource *existing, struct vs_ctr_doc *d,
                     struct cmk_err *err)
{
    memset(d, 0, sizeof(*d));
    d->call = call;
    d->body = body;
    d->existing = existing;
    d->name = cmk_arm_id_name(&call->rid);
    d->props = json_object_get(body, "properties");
    if (!json_is_object(d->props))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                           "The request content was invalid: the %s's 'properties' are required.",
                           s->fl->label);
    d->old = existing ? json_object_get(existing->doc, "properties") : NULL;
    d->tenant = json_string_value(json_object_get(d->props, "tenantId"));
    if (!vs_ctr_guid_like(d->tenant))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                           "The %s's tenantId '%s' is not a valid GUID.", s->fl->label,
                           d->tenant ? d->tenant : "");
    return 0;
}

int vs_ctr_doc_rules(struct vs_ctr_set *s, struct vs_ctr_doc *d, struct cmk_err *err)
{
    const struct vs_ctr_flavour *fl = s->fl;
    for (size_t i = 0; fl->booleans && fl->booleans[i]; i++) {
        const json_t *v = json_object_get(d->props, fl->booleans[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v))
            return vs_ctr_bad_request(err, "The property '%s' must be a boolean.", fl->booleans[i]);
    }
    /* Soft delete is always on. */
    if (json_is_false(json_object_get(d->props, "enableSoftDelete")))
        return vs_ctr_bad_request(err, "%s",
                                  d->existing && fl->soft_delete_off_update
                                      ? fl->soft_delete_off_update
                                      : fl->soft_delete_off);
    /* Retention: 7-90 days, fixed once the container exists. */
    const json_t *days = json_object_get(d->props, "softDeleteRetentionInDays");
    const json_t *old_days = d->old ? json_object_get(d->old, "softDeleteRetentionInDays") : NULL;
    d->retention = 90;
    if (days && !json_is_null(days)) {
        if (!json_is_integer(days) || json_integer_value(days) < 7 || json_integer_value(days) > 90)
            return vs_ctr_bad_request(err,
                                      "The property \"softDeleteRetentionInDays\" must be between "
                                      "7 and 90.%s",
                                      "");
        d->retention = json_integer_value(days);
        if (old_days && json_integer_value(old_days) != d->retention)
            return vs_ctr_bad_request(err,
                                      "The property \"softDeleteRetentionInDays\" has been set "
                                      "already and it can't be modified.%s",
                                      "");
    } else if (old_days) {
        d->retention = json_integer_value(old_days);
    }
    /* Purge protection: the flavour's default at creation; once on, on for good. */
    const json_t *pp = json_object_get(d->props, "enablePurgeProtection");
    int was_protected = d->old && json_is_true(json_object_get(d->old, "enablePurgeProtection"));
    if (was_protected && json_is_false(pp))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                           "The property \"enablePurgeProtection\" cannot be set to false. "
                           "Enabling the purge protection for a %s is an irreversible action.",
                           fl->label);
    if (d->old || !fl->purge_protection_default)
        d->purge_protection = was_protected || json_is_true(pp);
    else
        d->purge_protection = !json_is_false(pp);
    return 0;
}

int vs_ctr_doc_finish(struct vs_ctr_set *s, struct vs_ctr_doc *d, struct cmk_err *err)
{
    const char *pna = json_string_value(json_object_get(d->props, "publicNetworkAccess"));
    int rc = vs_netrules_parse(json_object_get(d->props, "networkAcls"), pna, &d->net, err);
    if (rc != 0)
        return rc;
    d->tags = json_object_get(d->body, "tags");
    if (d->tags && !json_is_null(d->tags) && !json_is_object(d->tags))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTag", "The tags must be an object.");
    const char *given = json_string_value(json_object_get(d->body, "location"));
    if (d->existing) {
        snprintf(d->location, sizeof(d->location), "%s", d->existing->location);
        char norm[64];
        if (given && cmk_arm_location_normalize(given, norm, sizeof(norm), NULL, NULL) == 0 &&
            strcasecmp(norm, d->existing->location) != 0)
            return cmk_err_set(err, CMK_ECONFLICT, 409, "InvalidResourceLocation",
                               "The resource '%s' already exists in location '%s' in resource "
                               "group '%s'. A resource with the same name cannot be created in "
                               "location '%s'. Please select a new resource name.",
                               d->name, d->existing->location, d->call->rid.rg, norm);
    } else if ((rc = cmk_arm_location_normalize(given ? given : "", d->location,
                                                sizeof(d->location), s->fl->type, err)) != 0) {
        return rc;
    }
    char lc[64];
    vs_ctr_lower(lc, sizeof(lc), d->name);
    snprintf(d->uri, sizeof(d->uri), "https://%s.%s/", lc, s->fl->dns_zone);
    return 0;
}

json_t *vs_ctr_doc_acls(const json_t *acls)
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

json_t *vs_ctr_doc_new(const struct vs_ctr_doc *d)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "location", json_string(d->location));
    json_object_set_new(doc, "tags",
                        json_is_object(d->tags) ? json_deep_copy(d->tags) : json_object());
    return doc;
}

/* ---- provider callbacks ------------------------------------------------------------------ */

/* createMode "recover": the soft-deleted container comes back at the id it had, with its
 * document. shown: the name its refusals give. */
static int recover(struct vs_ctr_set *s, struct cmk_arm_call *call, const char *lc,
                   const char *shown, json_t **out, struct cmk_err *err)
{
    const struct vs_ctr_flavour *fl = s->fl;
    struct vs_deleted d;
    if (!vs_ctr_deleted_get(s, lc, &d))
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "NotFound",
                           "No deleted %s named '%s' was found: there is nothing to recover.",
                           fl->label, shown);
    if (!cmk_arm_id_equal(d.id, call->id)) {
        int rc = cmk_err_set(err, CMK_ECONFLICT, 409, "Conflict",
                             "The deleted %s '%s' was in '%s'; it can only be recovered there.",
                             fl->label, shown, d.id);
        json_decref(d.doc);
        return rc;
    }
    json_t *doc = d.doc;
    int rc = vs__ctr_deleted_drop(s, lc);
    if (rc == 0)
        rc = vs__ctr_name_take(s, lc, call->id);
    if (rc != 0) {
        json_decref(doc);
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                           "The %s could not be recovered.", fl->label);
    }
    snprintf(call->operation, sizeof(call->operation), "%s/write", fl->type);
    if (fl->recovered && (rc = fl->recovered(s, call, doc, err)) != 0) {
        json_decref(doc);
        return rc;
    }
    vs_ctr_changed(s);
    vs_ctr_purge_rearm(s);
    *out = doc;
    return 0;
}

static int ctr_put(struct cmk_arm_call *call, json_t *body, const struct cmk_arm_resource *existing,
                   json_t **out, struct cmk_err *err)
{
    struct vs_ctr_set *s = call->provider->data;
    const struct vs_ctr_flavour *fl = s->fl;
    const char *name = cmk_arm_id_name(&call->rid);
    *out = NULL;
    if (!vs_ctr_name_valid(name))
        return vs_ctr_name_invalid(s, err, name);
    const char *mode =
        json_string_value(json_object_get(json_object_get(body, "properties"), "createMode"));
    if (mode && strcasecmp(mode, "recover") != 0 && strcasecmp(mode, "default") != 0)
        return vs_ctr_bad_request(
            err, "The property 'createMode' must be 'recover' or 'default', not '%s'.", mode);
    char lc[64];
    vs_ctr_lower(lc, sizeof(lc), name);
    if (existing == NULL) {
        if (mode && strcasecmp(mode, "recover") == 0)
            return recover(s, call, lc, fl->recover_lowercase ? lc : name, out, err);
        struct vs_deleted d;
        if (vs_ctr_deleted_get(s, name, &d)) {
            json_decref(d.doc);
            return cmk_err_set(err, CMK_ECONFLICT, 409, "ConflictError", "%s",
                               fl->deleted_conflict);
        }
        char other[CMK_ARM_ID_MAX];
        if (vs_ctr_live_id(s, name, other) && !cmk_arm_id_equal(other, call->id))
            return cmk_err_set(err, CMK_ECONFLICT, 409, fl->taken_code, fl->taken_fmt, name);
    }
    int rc = fl->build(s, call, body, existing, out, err);
    if (rc != 0)
        return rc;
    if (existing == NULL) {
        if (vs__ctr_name_take(s, lc, call->id) != 0)
            rc = cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "The %s was not saved.",
                             fl->label);
        if (rc == 0 && fl->created)
            rc = fl->created(s, call, *out, err);
        if (rc != 0) {
            json_decref(*out);
            *out = NULL;
            return rc;
        }
    }
    vs_ctr_changed(s);
    return 0;
}

static json_t *ctr_render(struct cmk_arm *arm, const struct cmk_arm_resource *r, void *data)
{
    (void)arm;
    (void)data;
    return json_deep_copy(r->doc);
}

static int ctr_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                      struct cmk_err *err)
{
    return vs_ctr_soft_delete(call->provider->data, r, r->doc, err);
}

void vs__ctr_provider_register(struct vs_ctr_set *s)
{
    s->provider.type = s->fl->type;
    s->provider.api_versions = s->fl->api_versions;
    s->provider.put = ctr_put;
    s->provider.render = ctr_render;
    s->provider.del = s->fl->del ? s->fl->del : ctr_delete;
    s->provider.data = s;
    cmk_arm_provider_register(s->arm, &s->provider);
}
