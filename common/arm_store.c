/* arm_store.c: the generic resource table of the ARM core (see arm.h): one row per resource
 * (id in its created casing, type, subscription, group, parent, name, location, the provider's
 * JSON document, timestamps and who wrote it), the helpers providers use to read and write
 * rows, the view a client sees (id, name, type, the provider's render, systemData), and
 * deletion through a provider when a group goes away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "runtime.h"
#include "store.h"

/* ---- rows ---- */

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

void cmk__arm_res_from_row(sqlite3_stmt *st, struct cmk_arm_resource *r)
{
    memset(r, 0, sizeof(*r));
    copy_col(st, 0, r->id, sizeof(r->id));
    copy_col(st, 1, r->type, sizeof(r->type));
    copy_col(st, 2, r->sub, sizeof(r->sub));
    copy_col(st, 3, r->rg, sizeof(r->rg));
    copy_col(st, 4, r->name, sizeof(r->name));
    copy_col(st, 5, r->location, sizeof(r->location));
    const char *doc = (const char *)sqlite3_column_text(st, 6);
    r->doc = doc ? json_loads(doc, 0, NULL) : NULL;
    if (r->doc == NULL)
        r->doc = json_object();
    r->created = sqlite3_column_int64(st, 7);
    r->updated = sqlite3_column_int64(st, 8);
    copy_col(st, 9, r->created_by, sizeof(r->created_by));
    copy_col(st, 10, r->updated_by, sizeof(r->updated_by));
}

void cmk_arm_resource_close(struct cmk_arm_resource *r)
{
    if (r == NULL)
        return;
    json_decref(r->doc);
    r->doc = NULL;
}

int cmk_arm_resource_get(struct cmk_arm *arm, const char *id, struct cmk_arm_resource *out,
                         struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st =
        cmk_store_stmt(arm->db, "SELECT " ARM_RES_COLUMNS " FROM arm_resources WHERE id = ?1");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        cmk__arm_res_from_row(st, out);
    sqlite3_reset(st);
    return found ? 0 : cmk_arm_err_not_found(err, id);
}

int cmk_arm_resource_find(struct cmk_arm *arm, const char *type, const char *name,
                          struct cmk_arm_resource *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT " ARM_RES_COLUMNS " FROM arm_resources "
                                               "WHERE type = ?1 AND name = ?2 ORDER BY seq "
                                               "LIMIT 1");
    sqlite3_bind_text(st, 1, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        cmk__arm_res_from_row(st, out);
    sqlite3_reset(st);
    return found ? 0 : CMK_ENOTFOUND;
}

static int db_error(struct cmk_arm *arm, struct cmk_err *err)
{
    return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "state store: %s",
                       sqlite3_errmsg(arm->db));
}

int cmk_arm_resource_put(struct cmk_arm *arm, const char *id, const json_t *doc, const char *by,
                         struct cmk_err *err)
{
    struct cmk_arm_id rid;
    int rc = cmk_arm_id_parse(id, &rid, err);
    if (rc != 0)
        return rc;
    if (rid.depth == 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidResourceId",
                           "'%.600s' is a scope, not a resource.", id);
    if (rid.rg[0] && (rc = cmk__arm_group_get(arm, rid.sub, rid.rg, NULL, NULL, err)) != 0)
        return rc;
    char type[CMK_ARM_TYPE_MAX], canonical[CMK_ARM_ID_MAX], parent[CMK_ARM_ID_MAX] = "";
    cmk_arm_id_type(&rid, type, sizeof(type));
    const struct cmk_arm_provider *p = cmk_arm_provider_find(arm, type);
    cmk_arm_id_format(&rid, canonical, sizeof(canonical));
    struct cmk_arm_id pid;
    if (cmk_arm_id_parent(&rid, &pid) == 0) {
        cmk_arm_id_format(&pid, parent, sizeof(parent));
        sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT id FROM arm_resources WHERE id = ?1");
        sqlite3_bind_text(st, 1, parent, -1, SQLITE_TRANSIENT);
        int found = sqlite3_step(st) == SQLITE_ROW;
        if (found)
            copy_col(st, 0, parent, sizeof(parent));
        sqlite3_reset(st);
        if (!found)
            return cmk_err_set(err, CMK_ENOTFOUND, 404, "ParentResourceNotFound",
                               "Can not perform requested operation on nested resource. Parent "
                               "resource '%s' not found.",
                               pid.names[pid.depth - 1]);
    }
    const char *loc = json_string_value(json_object_get(doc, "location"));
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cmk_time_t now = cmk_clock_now(&arm->rt->clock);
    int own = arm->txdepth == 0;
    if (own && cmk_arm_tx_begin(arm) != 0) {
        free(text);
        return db_error(arm, err);
    }
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db,
        "INSERT INTO arm_resources(id, type, subscription, resource_group, parent, name, "
        "location, doc, created, updated, created_by, updated_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?9, ?10, ?10) ON CONFLICT(id) DO UPDATE SET location = ?7, doc = ?8, "
        "updated = ?9, updated_by = ?10");
    sqlite3_bind_text(st, 1, canonical, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, p ? p->type : type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, rid.sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, rid.rg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, parent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, cmk_arm_id_name(&rid), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, loc ? loc : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 9, now);
    sqlite3_bind_text(st, 10, by ? by : "", -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(arm, err);
    sqlite3_reset(st);
    free(text);
    if (own) {
        if (rc == 0 && cmk_arm_tx_commit(arm) != 0)
            rc = db_error(arm, err);
        else if (rc != 0)
            cmk_arm_tx_rollback(arm);
    }
    return rc;
}

int cmk_arm_resource_delete(struct cmk_arm *arm, const char *id, struct cmk_err *err)
{
    int own = arm->txdepth == 0;
    if (own && cmk_arm_tx_begin(arm) != 0)
        return db_error(arm, err);
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "DELETE FROM arm_resources WHERE id = ?1 OR (length(id) > length(?1) AND "
                 "lower(substr(id, 1, length(?1) + 1)) = lower(?1 || '/'))");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(arm, err);
    sqlite3_reset(st);
    if (own) {
        if (rc == 0 && cmk_arm_tx_commit(arm) != 0)
            rc = db_error(arm, err);
        else if (rc != 0)
            cmk_arm_tx_rollback(arm);
    }
    return rc;
}

/* Read matching rows into memory (so callbacks may use the statement cache freely). */
struct cmk_arm_resource *cmk__arm_load_rows(struct cmk_arm *arm, const char *type, const char *sub,
                                            const char *rg, const char *parent, size_t *count)
{
    sqlite3_stmt *st = cmk_store_stmt(
        arm->db, "SELECT " ARM_RES_COLUMNS " FROM arm_resources WHERE (?1 IS NULL OR type = ?1) "
                 "AND (?2 IS NULL OR subscription = ?2) AND (?3 IS NULL OR resource_group = ?3) "
                 "AND (?4 IS NULL OR parent = ?4) ORDER BY seq");
    sqlite3_bind_text(st, 1, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, rg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, parent, -1, SQLITE_TRANSIENT);
    size_t n = 0, cap = 0;
    struct cmk_arm_resource *rows = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            rows = cmk_xrealloc(rows, cap * sizeof(*rows));
        }
        cmk__arm_res_from_row(st, &rows[n++]);
    }
    sqlite3_reset(st);
    *count = n;
    return rows;
}

void cmk__arm_free_rows(struct cmk_arm_resource *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cmk_arm_resource_close(&rows[i]);
    free(rows);
}

int cmk_arm_resource_each(struct cmk_arm *arm, const char *type, const char *sub, const char *rg,
                          cmk_arm_each_fn fn, void *data)
{
    size_t n;
    struct cmk_arm_resource *rows = cmk__arm_load_rows(arm, type, sub, rg, NULL, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fn(data, &rows[i]);
    cmk__arm_free_rows(rows, n);
    return rc;
}

json_t *cmk_arm_resource_view(struct cmk_arm *arm, const struct cmk_arm_resource *r)
{
    const struct cmk_arm_provider *p = cmk_arm_provider_find(arm, r->type);
    json_t *doc = p && p->render ? p->render(arm, r, p->data) : json_incref(r->doc);
    json_t *v = json_object();
    json_object_set_new(v, "id", json_string(r->id));
    json_object_set_new(v, "name", json_string(r->name));
    json_object_set_new(v, "type", json_string(p ? p->type : r->type));
    const char *k;
    json_t *val;
    json_object_foreach(doc, k, val)
    {
        if (strcmp(k, "id") && strcmp(k, "name") && strcmp(k, "type") && strcmp(k, "systemData"))
            json_object_set(v, k, val);
    }
    json_decref(doc);
    char created[40], updated[40];
    cmk_time_format(r->created, created, sizeof(created));
    cmk_time_format(r->updated, updated, sizeof(updated));
    json_object_set_new(v, "systemData",
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "createdBy", r->created_by,
                                  "createdByType", "Application", "createdAt", created,
                                  "lastModifiedBy", r->updated_by, "lastModifiedByType",
                                  "Application", "lastModifiedAt", updated));
    return v;
}

/* ---- deletion ---- */

int cmk__arm_res_delete_cascade(struct cmk_arm *arm, const struct cmk_arm_resource *r,
                                struct cmk_err *err)
{
    const struct cmk_arm_provider *p = cmk_arm_provider_find(arm, r->type);
    if (p && p->del) {
        struct cmk_arm_call call;
        cmk__arm_call_init(arm, &call, NULL, NULL);
        call.provider = p;
        call.cascade = 1;
        snprintf(call.id, sizeof(call.id), "%s", r->id);
        cmk_arm_id_parse(r->id, &call.rid, NULL);
        snprintf(call.type, sizeof(call.type), "%s", p->type);
        snprintf(call.location, sizeof(call.location), "%s", r->location);
        snprintf(call.operation, sizeof(call.operation), "%s/delete", p->type);
        snprintf(call.caller_name, sizeof(call.caller_name), "%s", "Microsoft.Resources");
        int rc = p->del(&call, r, err);
        if (rc != 0)
            return rc;
    }
    return cmk_arm_resource_delete(arm, r->id, err);
}
