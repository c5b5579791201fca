/* arm.c: the ARM core's frame (see arm.h): its tables, opening (default tenant and
 * subscription, routes, the generator stream of this process start) and closing, the provider
 * registry and the nesting transactions every write runs in.
 *
 * The other files of the core: arm_call.c (authentication, the call context, answers),
 * arm_sub.c (tenants, subscriptions, locations, namespaces), arm_store.c (the resource table),
 * arm_res.c (generic resource handlers), arm_group.c (resource groups, /resources),
 * arm_ops.c (long-running operations), arm_log.c (activity log), arm_id.c (ids, regions,
 * $filter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"
#include "log.h"
#include "runtime.h"
#include "store.h"

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE arm_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE arm_tenants(id TEXT PRIMARY KEY COLLATE NOCASE, display_name TEXT NOT NULL,"
        " domain TEXT NOT NULL, seq INTEGER NOT NULL);"
        "CREATE TABLE arm_subscriptions(id TEXT PRIMARY KEY COLLATE NOCASE,"
        " tenant TEXT NOT NULL COLLATE NOCASE, display_name TEXT NOT NULL,"
        " state TEXT NOT NULL DEFAULT 'Enabled', seq INTEGER NOT NULL);"
        "CREATE TABLE arm_groups(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " subscription TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,"
        " location TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '{}',"
        " managed_by TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'Succeeded',"
        " created INTEGER NOT NULL, created_by TEXT NOT NULL DEFAULT '',"
        " UNIQUE(subscription, name));"
        "CREATE TABLE arm_resources(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " id TEXT NOT NULL UNIQUE COLLATE NOCASE, type TEXT NOT NULL COLLATE NOCASE,"
        " subscription TEXT NOT NULL COLLATE NOCASE, resource_group TEXT NOT NULL COLLATE NOCASE,"
        " parent TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,"
        " location TEXT NOT NULL DEFAULT '', doc TEXT NOT NULL, created INTEGER NOT NULL,"
        " updated INTEGER NOT NULL, created_by TEXT NOT NULL DEFAULT '',"
        " updated_by TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX arm_resources_by_type ON arm_resources(type, name);"
        "CREATE INDEX arm_resources_by_group ON arm_resources(subscription, resource_group);"
        "CREATE INDEX arm_resources_by_parent ON arm_resources(parent);"
        "CREATE TABLE arm_operations(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " id TEXT NOT NULL UNIQUE COLLATE NOCASE, kind TEXT NOT NULL,"
        " subscription TEXT NOT NULL COLLATE NOCASE, namespace TEXT NOT NULL,"
        " location TEXT NOT NULL, resource_id TEXT NOT NULL COLLATE NOCASE,"
        " operation TEXT NOT NULL, method TEXT NOT NULL, flags INTEGER NOT NULL,"
        " status TEXT NOT NULL, start_time INTEGER NOT NULL, due INTEGER NOT NULL,"
        " end_time INTEGER, data TEXT, error_status INTEGER, error_code TEXT,"
        " error_message TEXT, caller TEXT NOT NULL DEFAULT '',"
        " correlation_id TEXT NOT NULL DEFAULT '', client_ip TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX arm_operations_pending ON arm_operations(status, kind);"
        "CREATE INDEX arm_operations_by_resource ON arm_operations(resource_id, status);"
        "CREATE TABLE arm_activity(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " event_id TEXT NOT NULL, operation_id TEXT NOT NULL, correlation_id TEXT NOT NULL,"
        " subscription TEXT NOT NULL COLLATE NOCASE, tenant TEXT NOT NULL,"
        " resource_group TEXT NOT NULL COLLATE NOCASE, resource_id TEXT NOT NULL COLLATE NOCASE,"
        " resource_type TEXT NOT NULL, provider TEXT NOT NULL COLLATE NOCASE,"
        " operation TEXT NOT NULL, status TEXT NOT NULL, sub_status TEXT NOT NULL,"
        " level TEXT NOT NULL, category TEXT NOT NULL, caller TEXT NOT NULL, ts INTEGER NOT NULL,"
        " description TEXT NOT NULL, properties TEXT NOT NULL, http_method TEXT NOT NULL,"
        " client_ip TEXT NOT NULL, http_status INTEGER NOT NULL);"
        "CREATE INDEX arm_activity_by_sub ON arm_activity(subscription, ts);"},
};

/* ---- transactions ---- */

int cmk_arm_tx_begin(struct cmk_arm *arm)
{
    if (arm->txdepth == 0) {
        int rc = cmk_store_begin(arm->db);
        if (rc != 0)
            return rc;
        arm->txfailed = 0;
    }
    arm->txdepth++;
    return 0;
}

int cmk_arm_tx_commit(struct cmk_arm *arm)
{
    if (arm->txdepth <= 0)
        return CMK_EINTERNAL;
    if (--arm->txdepth > 0)
        return arm->txfailed ? CMK_EIO : 0;
    if (arm->txfailed) {
        cmk_store_rollback(arm->db);
        cmk__arm_log_flush(arm, 0);
        return CMK_EIO;
    }
    int rc = cmk_store_commit(arm->db);
    if (rc != 0) {
        cmk_store_rollback(arm->db);
        cmk__arm_log_flush(arm, 0);
        return rc;
    }
    cmk__arm_log_flush(arm, 1);
    return 0;
}

void cmk_arm_tx_rollback(struct cmk_arm *arm)
{
    if (arm->txdepth <= 0)
        return;
    if (--arm->txdepth > 0) {
        arm->txfailed = 1;
        return;
    }
    cmk_store_rollback(arm->db);
    cmk__arm_log_flush(arm, 0);
}

/* ---- registries ---- */

void cmk_arm_provider_register(struct cmk_arm *arm, const struct cmk_arm_provider *p)
{
    for (size_t i = 0; i < arm->nproviders; i++) {
        if (strcasecmp(arm->providers[i]->type, p->type) == 0) {
            arm->providers[i] = p;
            return;
        }
    }
    if (arm->nproviders == arm->capproviders) {
        arm->capproviders = arm->capproviders ? 2 * arm->capproviders : 16;
        arm->providers = cmk_xrealloc(arm->providers, arm->capproviders * sizeof(*arm->providers));
    }
    arm->providers[arm->nproviders++] = p;
}

const struct cmk_arm_provider *cmk_arm_provider_find(struct cmk_arm *arm, const char *type)
{
    for (size_t i = 0; type && i < arm->nproviders; i++)
        if (strcasecmp(arm->providers[i]->type, type) == 0)
            return arm->providers[i];
    return NULL;
}

/* Is ns the namespace of some registered type? */
int cmk__arm_namespace_known(struct cmk_arm *arm, const char *ns)
{
    size_t l = strlen(ns);
    for (size_t i = 0; i < arm->nproviders; i++)
        if (strncasecmp(arm->providers[i]->type, ns, l) == 0 && arm->providers[i]->type[l] == '/')
            return 1;
    return 0;
}

void cmk__arm_draw_guid(struct cmk_arm *arm, char out[40])
{
    cmk_rng_guid(&arm->rng, out);
}

/* ---- open / free ---- */

static int bump_epoch(struct cmk_arm *arm, long *epoch, struct cmk_err *err)
{
    if (cmk_store_exec(arm->db,
                       "INSERT INTO arm_meta(key, value) VALUES('epoch', '1') ON CONFLICT(key) "
                       "DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                       err) != 0)
        return CMK_EIO;
    sqlite3_stmt *st = cmk_store_stmt(arm->db, "SELECT value FROM arm_meta WHERE key = 'epoch'");
    *epoch = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
    sqlite3_reset(st);
    return 0;
}

int cmk_arm_open(struct cmk_arm **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    if (rt != NULL && rt->arm != NULL) {
        *out = rt->arm;
        return 0;
    }
    if (rt == NULL || rt->db == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalServerError",
                           "the ARM core needs an open runtime");
    struct cmk_arm *arm = cmk_xcalloc(1, sizeof(*arm));
    arm->rt = rt;
    arm->db = rt->db;
    arm->page_size = 100;
    snprintf(arm->aud_local, sizeof(arm->aud_local), "https://management.%s/", rt->hosts.suffix);
    arm->audiences[0] = "https://management.azure.com/";
    arm->audiences[1] = "https://management.core.windows.net/";
    arm->audiences[2] = arm->aud_local;
    arm->audiences[3] = NULL;
    int rc = cmk_store_migrate(arm->db, "arm", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    long epoch = 1;
    if (rc == 0)
        rc = cmk_arm_tx_begin(arm);
    if (rc == 0) {
        rc = bump_epoch(arm, &epoch, err);
        if (rc == 0 && !cmk_arm_tenant_exists(arm, CMK_ARM_DEFAULT_TENANT))
            rc = cmk_arm_tenant_add(arm, CMK_ARM_DEFAULT_TENANT, CMK_ARM_DEFAULT_TENANT_NAME,
                                    CMK_ARM_DEFAULT_TENANT_DOMAIN, err);
        char t[64];
        if (rc == 0 && cmk_arm_subscription_tenant(arm, CMK_ARM_DEFAULT_SUBSCRIPTION, t, NULL))
            rc = cmk_arm_subscription_add(arm, CMK_ARM_DEFAULT_SUBSCRIPTION, CMK_ARM_DEFAULT_TENANT,
                                          CMK_ARM_DEFAULT_SUBSCRIPTION_NAME, err);
        if (rc == 0)
            rc = cmk_arm_tx_commit(arm);
        else
            cmk_arm_tx_rollback(arm);
    }
    if (rc != 0) {
        free(arm);
        return rc;
    }
    /* One stream per process start: ids drawn after a restart never repeat earlier ones. */
    char name[32];
    if (epoch <= 1)
        snprintf(name, sizeof(name), "arm");
    else
        snprintf(name, sizeof(name), "arm#%ld", epoch);
    cmk_runtime_rng(rt, name, &arm->rng);
    snprintf(name + strlen(name), sizeof(name) - strlen(name), ".requests");
    cmk_runtime_rng(rt, name, &arm->rng_req);

    cmk__arm_register_core_routes(arm);
    cmk__arm_res_register_routes(arm);
    cmk__arm_group_register_routes(arm);
    cmk__arm_ops_register_routes(arm);
    cmk__arm_log_register_routes(arm);
    cmk_arm_op_kind_register(arm, &cmk__arm_group_delete_kind);
    rt->arm = arm;
    *out = arm;
    return 0;
}

void cmk_arm_free(struct cmk_arm *arm)
{
    if (arm == NULL)
        return;
    cmk__arm_ops_free(arm);
    cmk__arm_log_flush(arm, 0);
    if (arm->rt && arm->rt->arm == arm)
        arm->rt->arm = NULL;
    free(arm->providers);
    free(arm->kinds);
    free(arm);
}

void cmk_arm_set_page_size(struct cmk_arm *arm, size_t n)
{
    arm->page_size = n ? n : 100;
}

void cmk_arm_set_group_delete_delay(struct cmk_arm *arm, cmk_time_t d)
{
    arm->group_delete_delay = d > 0 ? d : 0;
}
