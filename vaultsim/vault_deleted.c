/* vault_deleted.c: soft-deleted vaults (see vault.h): the rows of vs_deleted_vaults, the
 * deletedVaults routes (list, get, purge), the purge of everything a vault had (keys, role
 * assignments, audit log), refused under purge protection before the scheduled purge date, and
 * the clock's automatic purge at that date (re-armed after a restart). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"
#include "vault_int.h"

int vs__deleted_get(struct vs_vaults *vs, const char *name, struct vs_deleted *d)
{
    memset(d, 0, sizeof(*d));
    char lc[64];
    vs__lower(lc, sizeof(lc), name);
    sqlite3_stmt *st =
        cmk_store_stmt(vs->rt->db, "SELECT name, display, id, sub, location, doc, deleted, "
                                   "purge, protected FROM vs_deleted_vaults WHERE name = ?");
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

/* ---- purge --------------------------------------------------------------------------------- */

/* Everything of a deleted vault goes: keys, role assignments, audit log, the row. */
int vs__purge_now(struct vs_vaults *vs, const struct vs_deleted *d, struct cmk_err *err)
{
    char space[96];
    snprintf(space, sizeof(space), "vault/%s", d->name);
    int rc = vs_space_purge(vs->engine, space, err);
    if (rc == 0)
        rc = vs__rbac_forget(vs, d->id);
    if (rc == 0)
        rc = vs__exec_name(vs, "DELETE FROM vs_deleted_vaults WHERE name = ?", d->name, NULL);
    if (rc == 0)
        vs_audit_forget(vs->audit, space);
    vs__vault_changed(vs);
    if (rc != 0 && err->rc == 0)
        cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "The vault could not be purged.");
    return rc;
}

static void on_purge_timer(struct cmk_timer *t)
{
    struct vs_vaults *vs = t->data;
    cmk_time_t now = cmk_clock_now(&vs->rt->clock);
    for (int guard = 0; guard < 1000; guard++) {
        sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT name FROM vs_deleted_vaults WHERE"
                                                      " purge <= ? ORDER BY purge, name LIMIT 1");
        sqlite3_bind_int64(st, 1, now);
        char name[64] = "";
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        if (name[0] == '\0')
            break;
        struct vs_deleted d;
        if (!vs__deleted_get(vs, name, &d))
            break;
        struct cmk_err err;
        cmk_err_clear(&err);
        int rc = vs__purge_now(vs, &d, &err);
        if (rc == 0) {
            cmk_info("vaultsim", "purged deleted vault %s: its retention period ended", d.display);
            struct cmk_arm_event ev = {
                .resource_id = d.id,
                .operation = "Microsoft.KeyVault/locations/deletedVaults/purge/action",
                .status = "Succeeded",
                .caller = "Microsoft.KeyVault",
                .description = "The deleted vault was purged at the end of its retention period.",
            };
            (void)cmk_arm_activity(vs->arm, &ev, NULL);
        } else {
            cmk_warn("vaultsim", "automatic purge of vault %s failed: %s", d.display, err.message);
        }
        json_decref(d.doc);
        if (rc != 0)
            break;
    }
    vs__purge_rearm(vs);
}

void vs__purge_rearm(struct vs_vaults *vs)
{
    sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT MIN(purge) FROM vs_deleted_vaults");
    cmk_time_t due = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (due < 0) {
        cmk_timer_stop(&vs->purge_timer);
        return;
    }
    cmk_time_t now = cmk_clock_now(&vs->rt->clock);
    if (cmk_timer_active(&vs->purge_timer) && vs->purge_timer.due == due)
        return;
    cmk_timer_start_at(&vs->purge_timer, due < now ? now : due, 0);
}

/* ---- routes ---------------------------------------------------------------------------- */

static json_t *deleted_json(const struct vs_deleted *d)
{
    char id[CMK_ARM_ID_MAX + 128], del[40], purge[40];
    snprintf(id, sizeof(id),
             "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/"
             "deletedVaults/%s",
             d->sub, d->location, d->display);
    cmk_time_format(d->deleted, del, sizeof(del));
    cmk_time_format(d->purge, purge, sizeof(purge));
    json_t *tags = json_object_get(d->doc, "tags");
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:O,s:b}}", "id", id, "name", d->display,
                     "type", "Microsoft.KeyVault/deletedVaults", "properties", "vaultId", d->id,
                     "location", d->location, "deletionDate", del, "scheduledPurgeDate", purge,
                     "tags", tags ? tags : json_object(), "purgeProtectionEnabled", d->protected_);
}

static void h_deleted_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) == 0) {
        json_t *items = json_array();
        sqlite3_stmt *st = cmk_store_stmt(vs->rt->db, "SELECT name FROM vs_deleted_vaults WHERE"
                                                      " sub = ? COLLATE NOCASE ORDER BY deleted");
        sqlite3_bind_text(st, 1, call.rid.sub, -1, SQLITE_TRANSIENT);
        char names[256][64];
        size_t n = 0;
        while (n < 256 && sqlite3_step(st) == SQLITE_ROW)
            snprintf(names[n++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        for (size_t i = 0; i < n; i++) {
            struct vs_deleted d;
            if (vs__deleted_get(vs, names[i], &d)) {
                json_array_append_new(items, deleted_json(&d));
                json_decref(d.doc);
            }
        }
        cmk_arm_respond_list(&call, items);
    }
    cmk_arm_call_end(&call);
}

static int find_deleted(struct vs_vaults *vs, struct cmk_arm_call *call, struct vs_deleted *d,
                        struct cmk_err *err)
{
    const char *name = cmk_request_param(call->req, "vault");
    const char *loc = cmk_request_param(call->req, "location");
    char norm[64] = "";
    if (loc)
        (void)cmk_arm_location_normalize(loc, norm, sizeof(norm), NULL, NULL);
    if (name && vs__deleted_get(vs, name, d) && strcasecmp(d->sub, call->rid.sub) == 0 &&
        (norm[0] == '\0' || strcasecmp(norm, d->location) == 0))
        return 0;
    if (d->doc)
        json_decref(d->doc);
    memset(d, 0, sizeof(*d));
    return cmk_err_set(err, CMK_ENOTFOUND, 404, "ResourceNotFound",
                       "The Resource 'Microsoft.KeyVault/deletedVaults/%s' under resource group "
                       "'<null>' was not found. For more details please go to "
                       "https://aka.ms/ARMResourceNotFoundFix",
                       name ? name : "");
}

static void h_deleted_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) == 0) {
        struct vs_deleted d;
        struct cmk_err err;
        if (find_deleted(vs, &call, &d, &err) != 0) {
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
    struct vs_vaults *vs = data;
    struct cmk_arm_call call;
    if (cmk_arm_call_begin(vs->arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) == 0) {
        snprintf(call.operation, sizeof(call.operation),
                 "Microsoft.KeyVault/locations/deletedVaults/purge/action");
        struct vs_deleted d;
        struct cmk_err err;
        cmk_err_clear(&err);
        if (find_deleted(vs, &call, &d, &err) != 0) {
            cmk_arm_respond_error(&call, &err);
        } else {
            snprintf(call.id, sizeof(call.id), "%s", d.id);
            cmk_time_t now = cmk_clock_now(&vs->rt->clock);
            if (d.protected_ && now < d.purge) {
                char when[40];
                cmk_time_format(d.purge, when, sizeof(when));
                cmk_err_set(&err, CMK_ECONFLICT, 409, "Conflict",
                            "Operation 'DeletedVaultPurge' is not allowed. The vault '%s' has "
                            "purge protection enabled: it can only be purged by the service at "
                            "the end of its retention period, on %s.",
                            d.display, when);
                cmk_arm_respond_error(&call, &err);
            } else if (vs__purge_now(vs, &d, &err) != 0) {
                cmk_arm_respond_error(&call, &err);
            } else {
                vs__purge_rearm(vs);
                cmk_response_json(res, 200, NULL);
            }
            json_decref(d.doc);
        }
    }
    cmk_arm_call_end(&call);
}

static const struct cmk_route routes[] = {
    {"GET", "/subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults", h_deleted_list},
    {"GET",
     "/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/"
     "{vault}",
     h_deleted_get},
    {"POST",
     "/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/"
     "{vault}/purge",
     h_deleted_purge},
    {NULL, NULL, NULL},
};

void vs__deleted_register(struct vs_vaults *vs)
{
    cmk_router_add_table(&vs->rt->router, CMK_HOST_MGMT, routes, vs);
    cmk_timer_init(&vs->rt->clock, &vs->purge_timer, on_purge_timer, vs);
}
