/* identity_mi.c: user-assigned managed identities as records of the directory: the principal
 * (principalId = oid, clientId = appid, tenantId) of each identity, created when the ARM
 * resource is created and removed with it, so deleting the identity makes its tokens fail
 * verification at once (identity.c's principal check) and the managed identity endpoint
 * refuse it. The ARM provider (identity_arm.c) calls the record functions inside the core's
 * transaction; cp_identity_mi_put/_delete do the same plus the ARM resource row, for callers
 * that do not go through HTTP.
 */
#include "identity_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/store.h"

static const char mi_columns[] =
    "SELECT tenant, oid, client_id, kind, display_name, resource_id, subscription, "
    "resource_group, name, location, tags, isolation_scope FROM identity_principals ";

void cp_managed_identity_close(struct cp_managed_identity *mi)
{
    if (mi == NULL)
        return;
    json_decref(mi->tags);
    mi->tags = NULL;
}

static void mi_from_row(sqlite3_stmt *s, struct cp_managed_identity *mi)
{
    memset(mi, 0, sizeof(*mi));
    cp__identity_copy_col(s, 0, mi->p.tenant, sizeof(mi->p.tenant));
    cp__identity_copy_col(s, 1, mi->p.object_id, sizeof(mi->p.object_id));
    cp__identity_copy_col(s, 2, mi->p.client_id, sizeof(mi->p.client_id));
    cp__identity_copy_col(s, 3, mi->p.kind, sizeof(mi->p.kind));
    cp__identity_copy_col(s, 4, mi->p.display_name, sizeof(mi->p.display_name));
    cp__identity_copy_col(s, 5, mi->p.resource_id, sizeof(mi->p.resource_id));
    cp__identity_copy_col(s, 6, mi->subscription, sizeof(mi->subscription));
    cp__identity_copy_col(s, 7, mi->resource_group, sizeof(mi->resource_group));
    cp__identity_copy_col(s, 8, mi->name, sizeof(mi->name));
    cp__identity_copy_col(s, 9, mi->location, sizeof(mi->location));
    const unsigned char *tags = sqlite3_column_text(s, 10);
    if (tags != NULL)
        mi->tags = json_loads((const char *)tags, 0, NULL);
    cp__identity_copy_col(s, 11, mi->isolation_scope, sizeof(mi->isolation_scope));
}

int cp_identity_mi_get(struct cmk_runtime *rt, const char *ref, struct cp_managed_identity *out,
                       struct cmk_err *err)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "%s WHERE kind = 'mi' AND (resource_id = ?1 OR client_id = ?1 OR oid = ?1)",
             mi_columns);
    sqlite3_stmt *s = cmk_store_stmt(rt->db, sql);
    if (s == NULL)
        return cp__identity_db_err(err, rt->db, "find identity");
    /* ARM ids come with either "resourceGroups" or "resourcegroups" and a trailing "/". */
    char key[600];
    snprintf(key, sizeof(key), "%s", ref ? ref : "");
    size_t n = strlen(key);
    if (n > 1 && key[n - 1] == '/')
        key[n - 1] = '\0';
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found && out != NULL)
        mi_from_row(s, out);
    sqlite3_reset(s);
    if (!found)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                           "The managed identity '%s' was not found.", key);
    return 0;
}

static int valid_mi_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 128 || !isalnum((unsigned char)name[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return 0;
    return 1;
}

static int valid_tags(json_t *tags)
{
    if (tags == NULL || json_is_null(tags))
        return 1;
    if (!json_is_object(tags) || json_object_size(tags) > 50)
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v)
    {
        if (!json_is_string(v) || strlen(k) == 0 || strlen(k) > 512 || json_string_length(v) > 256)
            return 0;
    }
    return 1;
}

/* ARM location names: "West Europe" and "westeurope" are the same place. */
static void normalize_location(char *dst, size_t n, const char *src)
{
    size_t o = 0;
    for (; *src && o + 1 < n; src++)
        if (*src != ' ')
            dst[o++] = (char)tolower((unsigned char)*src);
    dst[o] = '\0';
}

static int same_location(const char *a, const char *b)
{
    char x[64], y[64];
    normalize_location(x, sizeof(x), a);
    normalize_location(y, sizeof(y), b);
    return strcmp(x, y) == 0;
}

static int mi_write(sqlite3 *db, const struct cp_managed_identity *mi, json_t *tags, int update,
                    cmk_time_t now)
{
    sqlite3_stmt *s;
    if (update)
        s = cmk_store_stmt(db, "UPDATE identity_principals SET tags = ?2, isolation_scope = ?3 "
                               "WHERE oid = ?1");
    else
        s = cmk_store_stmt(db, "INSERT INTO identity_principals(oid, tags, isolation_scope, "
                               "client_id, tenant, kind, display_name, resource_id, subscription, "
                               "resource_group, name, location, created) VALUES (?1, ?2, ?3, ?4, "
                               "?5, 'mi', ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    if (s == NULL)
        return SQLITE_ERROR;
    char *tagtext = tags && json_is_object(tags) ? json_dumps(tags, JSON_COMPACT) : NULL;
    sqlite3_bind_text(s, 1, mi->p.object_id, -1, SQLITE_TRANSIENT);
    if (tagtext)
        sqlite3_bind_text(s, 2, tagtext, -1, SQLITE_TRANSIENT);
    if (mi->isolation_scope[0])
        sqlite3_bind_text(s, 3, mi->isolation_scope, -1, SQLITE_TRANSIENT);
    if (!update) {
        sqlite3_bind_text(s, 4, mi->p.client_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 5, mi->p.tenant, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 6, mi->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 7, mi->p.resource_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 8, mi->subscription, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 9, mi->resource_group, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 10, mi->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 11, mi->location, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 12, now);
    }
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(tagtext);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int cp__identity_mi_record_put(struct cp_identity *ids, const char *subscription,
                               const char *resource_group, const char *name, const char *location,
                               const char *tenant, json_t *tags, const char *isolation_scope,
                               struct cp_managed_identity *out, int *created, struct cmk_err *err)
{
    struct cmk_runtime *rt = ids->rt;
    if (created)
        *created = 0;
    if (out)
        memset(out, 0, sizeof(*out));
    if (subscription == NULL || resource_group == NULL || name == NULL || !valid_mi_name(name))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidResourceName",
                           "Resource name %s is invalid. The name can be between 3 and 128 "
                           "characters long and can contain only letters, numbers, hyphens and "
                           "underscores, and must start with a letter or a number.",
                           name ? name : "");
    if (strlen(subscription) >= 64 || strlen(resource_group) >= 96 || !*resource_group)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestUri",
                           "The subscription or resource group name is not valid.");
    if (!valid_tags(tags))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTags",
                           "Tags must be an object of at most 50 string values.");
    if (isolation_scope != NULL && *isolation_scope && strcmp(isolation_scope, "None") != 0 &&
        strcmp(isolation_scope, "Regional") != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidRequestContent",
                           "The value '%.32s' of isolationScope is not valid; use None or "
                           "Regional.",
                           isolation_scope);

    char rid[512];
    snprintf(rid, sizeof(rid),
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ManagedIdentity/"
             "userAssignedIdentities/%s",
             subscription, resource_group, name);
    struct cp_managed_identity mi;
    int owned = cp__identity_tx_begin(rt->db);
    if (owned < 0)
        return cp__identity_db_err(err, rt->db, "begin");
    int exists = cp_identity_mi_get(rt, rid, &mi, NULL) == 0;
    int rc = 0;
    if (exists) {
        if (location != NULL && *location && !same_location(mi.location, location))
            rc = cmk_err_set(err, CMK_ECONFLICT, 400, "InvalidResourceLocation",
                             "The resource '%s' already exists in location '%s' in resource group "
                             "'%s'. A resource with the same name cannot be created in location "
                             "'%s'. Please select a new resource name.",
                             name, mi.location, resource_group, location);
    } else {
        memset(&mi, 0, sizeof(mi));
        if (location == NULL || *location == '\0')
            rc = cmk_err_set(err, CMK_EINVAL, 400, "LocationRequired",
                             "The location property is required for this definition.");
        else if (strlen(location) >= sizeof(mi.location))
            rc = cmk_err_set(err, CMK_EINVAL, 400, "LocationNotAvailableForResourceType",
                             "The provided location '%.60s' is not available for resource type "
                             "'Microsoft.ManagedIdentity/userAssignedIdentities'.",
                             location);
        if (rc == 0 && tenant == NULL && rt->arm != NULL) {
            char t[64];
            if (cmk_arm_subscription_tenant(rt->arm, subscription, t, NULL) == 0)
                rc = cp__identity_tenant_ensure(rt, t) == 0
                         ? cp_identity_tenant_find(rt, t, mi.p.tenant, err)
                         : cp__identity_db_err(err, rt->db, "tenant");
            else
                rc = cp_identity_tenant_find(rt, CP_IDENTITY_DEFAULT_TENANT, mi.p.tenant, err);
        } else if (rc == 0) {
            if (tenant != NULL && cp__identity_tenant_ensure(rt, tenant) != 0)
                rc = cp__identity_db_err(err, rt->db, "tenant");
            else
                rc = cp_identity_tenant_find(rt, tenant ? tenant : CP_IDENTITY_DEFAULT_TENANT,
                                             mi.p.tenant, err);
        }
        struct cmk_rng r;
        if (rc == 0)
            rc = cp__identity_rng(ids, &r, err);
        if (rc == 0) {
            cmk_rng_guid(&r, mi.p.object_id);
            cmk_rng_guid(&r, mi.p.client_id);
            snprintf(mi.p.kind, sizeof(mi.p.kind), "mi");
            snprintf(mi.p.display_name, sizeof(mi.p.display_name), "%s", name);
            snprintf(mi.p.resource_id, sizeof(mi.p.resource_id), "%s", rid);
            snprintf(mi.subscription, sizeof(mi.subscription), "%s", subscription);
            snprintf(mi.resource_group, sizeof(mi.resource_group), "%s", resource_group);
            snprintf(mi.name, sizeof(mi.name), "%s", name);
            normalize_location(mi.location, sizeof(mi.location), location);
        }
    }
    if (rc == 0) {
        if (isolation_scope != NULL)
            snprintf(mi.isolation_scope, sizeof(mi.isolation_scope), "%s", isolation_scope);
        if (mi_write(rt->db, &mi, tags, exists, cmk_clock_now(&rt->clock)) != SQLITE_OK)
            rc = cp__identity_db_err(err, rt->db, "write identity");
    }
    cp_managed_identity_close(&mi);
    if (rc == 0 && out != NULL)
        rc = cp_identity_mi_get(rt, rid, out, err);
    rc = cp__identity_tx_end(rt->db, owned, rc);
    if (rc != 0) {
        if (out)
            cp_managed_identity_close(out);
        return rc;
    }
    if (created)
        *created = !exists;
    return 0;
}

int cp__identity_mi_record_delete(struct cp_identity *ids, const char *subscription,
                                  const char *resource_group, const char *name, struct cmk_err *err)
{
    int n = cp__identity_principal_delete(ids->rt->db, "mi",
                                          "subscription = ?1 AND resource_group = ?2 AND name = ?3",
                                          subscription, resource_group, name);
    if (n < 0)
        return cp__identity_db_err(err, ids->rt->db, "delete identity");
    if (n == 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                           "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/%s' "
                           "under resource group '%s' was not found.",
                           name, resource_group);
    cmk_info("identity", "deleted managed identity %s/%s", resource_group, name);
    return 0;
}

json_t *cp__identity_mi_doc(const struct cp_managed_identity *mi)
{
    json_t *props = json_pack("{s:s, s:s, s:s}", "tenantId", mi->p.tenant, "principalId",
                              mi->p.object_id, "clientId", mi->p.client_id);
    if (mi->isolation_scope[0])
        json_object_set_new(props, "isolationScope", json_string(mi->isolation_scope));
    json_t *j = json_pack("{s:s, s:o}", "location", mi->location, "properties", props);
    json_object_set_new(j, "tags", mi->tags ? json_deep_copy(mi->tags) : json_object());
    return j;
}

json_t *cp_identity_mi_json(const struct cp_managed_identity *mi)
{
    json_t *j = cp__identity_mi_doc(mi);
    json_object_set_new(j, "id", json_string(mi->p.resource_id));
    json_object_set_new(j, "name", json_string(mi->name));
    json_object_set_new(j, "type", json_string("Microsoft.ManagedIdentity/userAssignedIdentities"));
    return j;
}

int cp_identity_mi_put(struct cp_identity *ids, const char *subscription,
                       const char *resource_group, const char *name, const char *location,
                       const char *tenant, json_t *tags, const char *isolation_scope,
                       struct cp_managed_identity *out, int *created, struct cmk_err *err)
{
    struct cmk_arm *arm = ids->rt->arm;
    struct cp_managed_identity mi;
    char loc[64];
    if (location != NULL && *location && arm != NULL) {
        int rc = cmk_arm_location_normalize(
            location, loc, sizeof(loc), "Microsoft.ManagedIdentity/userAssignedIdentities", err);
        if (rc != 0)
            return rc;
        location = loc;
    }
    if (arm == NULL)
        return cp__identity_mi_record_put(ids, subscription, resource_group, name, location, tenant,
                                          tags, isolation_scope, out, created, err);
    if (cmk_arm_tx_begin(arm) != 0)
        return cp__identity_db_err(err, ids->rt->db, "begin");
    int rc = cp__identity_mi_record_put(ids, subscription, resource_group, name, location, tenant,
                                        tags, isolation_scope, &mi, created, err);
    if (rc == 0) {
        json_t *doc = cp__identity_mi_doc(&mi);
        rc = cmk_arm_resource_put(arm, mi.p.resource_id, doc, "cmksim", err);
        json_decref(doc);
    }
    if (rc == 0 && cmk_arm_tx_commit(arm) != 0)
        rc = cp__identity_db_err(err, ids->rt->db, "commit");
    if (rc != 0) {
        cmk_arm_tx_rollback(arm);
        cp_managed_identity_close(&mi);
        if (created)
            *created = 0;
        return rc;
    }
    if (out != NULL)
        *out = mi;
    else
        cp_managed_identity_close(&mi);
    return 0;
}

int cp_identity_mi_delete(struct cp_identity *ids, const char *subscription,
                          const char *resource_group, const char *name, struct cmk_err *err)
{
    struct cmk_arm *arm = ids->rt->arm;
    if (arm == NULL)
        return cp__identity_mi_record_delete(ids, subscription, resource_group, name, err);
    char rid[512];
    snprintf(rid, sizeof(rid),
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ManagedIdentity/"
             "userAssignedIdentities/%s",
             subscription, resource_group, name);
    if (cmk_arm_tx_begin(arm) != 0)
        return cp__identity_db_err(err, ids->rt->db, "begin");
    int rc = cp__identity_mi_record_delete(ids, subscription, resource_group, name, err);
    if (rc == 0)
        rc = cmk_arm_resource_delete(arm, rid, err);
    if (rc == 0 && cmk_arm_tx_commit(arm) != 0)
        rc = cp__identity_db_err(err, ids->rt->db, "commit");
    if (rc != 0)
        cmk_arm_tx_rollback(arm);
    return rc;
}
