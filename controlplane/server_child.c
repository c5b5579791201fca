/* server_child.c: what `az postgres flexible-server create` needs around a server: the child
 * resources firewallRules and databases (stored by the ARM core; firewall rules are read by
 * the data plane when a client connects, databases are created and dropped through its hooks),
 * checkNameAvailability (subscription and location level) and the location capabilities az
 * validates its arguments against.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_int.h"

/* The parent server of a child call, which must be Ready (or at least exist). */
static int parent_ready(struct cmk_arm_call *call, struct cp_srv *srv, struct cmk_err *err)
{
    struct cp_servers *s = cp__servers_of_arm(call->arm);
    if (s == NULL)
        return cp__unavailable(err);
    struct cmk_arm_id pid;
    char id[CMK_ARM_ID_MAX];
    if (cmk_arm_id_parent(&call->rid, &pid) != 0)
        return cmk_arm_err_not_found(err, call->id);
    cmk_arm_id_format(&pid, id, sizeof(id));
    int rc = cp__srv_load(s, id, srv, err);
    if (rc != 0)
        return rc;
    if (srv->state == CP_STATE_READY || srv->state == CP_STATE_UPDATING)
        return 0;
    if (srv->state == CP_STATE_INACCESSIBLE)
        rc = cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsInaccessible",
                         "The server '%s' is Inaccessible: it lost access to its "
                         "customer-managed key.",
                         srv->r.name);
    else
        rc = cmk_err_set(err, CMK_ECONFLICT, 409, "ServerIsNotReady",
                         "The operation can only be performed on Ready servers. Server Name = "
                         "%s, Current Server State = %s",
                         srv->r.name, cp_state_name(srv->state));
    cp__srv_close(srv);
    return rc;
}

/* ---- firewallRules ---- */

static int fw_put(struct cmk_arm_call *call, json_t *body, const struct cmk_arm_resource *existing,
                  json_t **out, struct cmk_err *err)
{
    json_t *p = json_object_get(body, "properties");
    const char *a = cp__str(p, "startIpAddress"), *b = cp__str(p, "endIpAddress");
    struct in_addr ia, ib;
    if (inet_pton(AF_INET, a, &ia) != 1 || inet_pton(AF_INET, b, &ib) != 1)
        return cmk_err_set(err, CMK_EINVAL, 400, "FirewallRuleNotIPv4Address",
                           "The firewall rule needs IPv4 startIpAddress and endIpAddress ('%.64s' "
                           "- '%.64s').",
                           a, b);
    if (ntohl(ia.s_addr) > ntohl(ib.s_addr))
        return cmk_err_set(err, CMK_EINVAL, 400, "FirewallRuleStartIpAddressGreaterThanEnd",
                           "The start IP address '%s' is greater than the end IP address '%s'.", a,
                           b);
    struct cp_srv srv;
    int rc = parent_ready(call, &srv, err);
    if (rc != 0)
        return rc;
    cp__srv_close(&srv);
    *out = json_pack("{s:{s:s, s:s}}", "properties", "startIpAddress", a, "endIpAddress", b);
    return 0;
}

/* ---- databases ---- */

static int db_put(struct cmk_arm_call *call, json_t *body, const struct cmk_arm_resource *existing,
                  json_t **out, struct cmk_err *err)
{
    const char *name = cmk_arm_id_name(&call->rid);
    size_t l = strlen(name);
    int ok = l > 0 && l < 64 && (isalpha((unsigned char)name[0]) || name[0] == '_');
    for (size_t i = 0; ok && i < l; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '_' || name[i] == '-';
    if (!ok)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidDatabaseName",
                           "The database name '%.64s' is not valid.", name);
    json_t *p = json_object_get(body, "properties");
    const char *cs = cp__str(p, "charset"), *co = cp__str(p, "collation");
    struct cp_srv srv;
    int rc = parent_ready(call, &srv, err);
    if (rc != 0)
        return rc;
    struct cp_servers *s = cp__servers_of_arm(call->arm);
    if (existing == NULL && s->dp.database_create)
        rc = s->dp.database_create(s->dp.data, srv.r.id, name, err);
    cp__srv_close(&srv);
    if (rc != 0)
        return rc;
    *out = json_pack("{s:{s:s, s:s}}", "properties", "charset", cs[0] ? cs : "UTF8", "collation",
                     co[0] ? co : "en_US.utf8");
    return 0;
}

static int db_delete(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                     struct cmk_err *err)
{
    struct cp_servers *s = cp__servers_of_arm(call->arm);
    if (s == NULL || call->cascade)
        return 0;
    struct cp_srv srv;
    int rc = parent_ready(call, &srv, err);
    if (rc != 0)
        return rc;
    if (s->dp.database_drop)
        rc = s->dp.database_drop(s->dp.data, srv.r.id, r->name, err);
    cp__srv_close(&srv);
    return rc;
}

static struct cmk_arm_provider fw_provider = {
    .type = SRV_FW_TYPE,
    .flags = CMK_ARM_PROVIDER_NO_PATCH,
    .put = fw_put,
};

static struct cmk_arm_provider db_provider = {
    .type = SRV_DB_TYPE,
    .flags = CMK_ARM_PROVIDER_NO_PATCH,
    .put = db_put,
    .del = db_delete,
};

/* ---- checkNameAvailability ---- */

static void h_check_name(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct cmk_err err;
    if (cmk_arm_call_begin(arm, req, res, NULL, CMK_ARM_CALL_NO_ID | CMK_ARM_CALL_NO_LOG, &call) !=
        0) {
        cmk_arm_call_end(&call);
        return;
    }
    json_t *body = cmk_request_json(req, &err);
    const char *name = cp__str(body, "name");
    const char *type = cp__str(body, "type");
    if (name[0] == '\0') {
        cmk_err_set(&err, CMK_EINVAL, 400, "InvalidRequestContent",
                    "The request needs a name to check.");
        cmk_arm_respond_error(&call, &err);
        cmk_arm_call_end(&call);
        return;
    }
    size_t l = strlen(name);
    int valid = l >= 3 && l <= 63 && name[0] != '-' && name[l - 1] != '-';
    for (size_t i = 0; valid && i < l; i++)
        valid =
            islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '-';
    struct cmk_arm_resource r;
    int taken = valid && cmk_arm_resource_find(arm, CP_SERVER_TYPE, name, &r) == 0;
    if (taken)
        cmk_arm_resource_close(&r);
    json_t *out = json_pack("{s:b, s:s, s:s}", "nameAvailable", valid && !taken, "name", name,
                            "type", type[0] ? type : CP_SERVER_TYPE);
    if (!valid) {
        json_object_set_new(out, "reason", json_string("Invalid"));
        json_object_set_new(out, "message",
                            json_string("Server name must be 3 to 63 characters of lowercase "
                                        "letters, digits and hyphens."));
    } else if (taken) {
        json_object_set_new(out, "reason", json_string("AlreadyExists"));
        json_object_set_new(out, "message", json_string("Specified server name is already used."));
    }
    cmk_response_json(res, 200, out);
    cmk_arm_call_end(&call);
}

/* ---- capabilities ---- */

static json_t *vcores(const char *const *skus, const int *cores, int mem)
{
    json_t *a = json_array();
    for (size_t i = 0; skus[i]; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:i, s:i, s:i, s:i, s:s}", "name", skus[i], "vCores", cores[i],
                         "supportedIops", 3200 * cores[i] / 2, "supportedMemoryPerVcoreMb", mem,
                         "supportedMemoryPerVcoreMB", mem, "status", "Available"));
    return a;
}

/* Sizes in both casings: az 2.45 (2022-12-01) reads "...MB", newer api-versions "...Mb". */
static json_t *edition(const char *tier, const char *def, const char *const *skus, const int *cores,
                       int mem)
{
    static const int sizes_gb[] = {32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767};
    json_t *mb = json_array();
    for (size_t i = 0; i < sizeof(sizes_gb) / sizeof(sizes_gb[0]); i++) {
        char n[16];
        json_int_t size_mb = (json_int_t)sizes_gb[i] * 1024;
        snprintf(n, sizeof(n), "%d", sizes_gb[i] * 1024);
        json_array_append_new(mb, json_pack("{s:s, s:i, s:I, s:I, s:s}", "name", n, "supportedIops",
                                            120 + sizes_gb[i] * 3, "storageSizeMb", size_mb,
                                            "storageSizeMB", size_mb, "status", "Available"));
    }
    json_t *versions = json_array();
    for (int v = 11; v <= 17; v++) {
        char n[12];
        snprintf(n, sizeof(n), "%d", v);
        json_t *up = json_array();
        for (int u = v + 1; u <= 17; u++) {
            char un[12];
            snprintf(un, sizeof(un), "%d", u);
            json_array_append_new(up, json_string(un));
        }
        json_array_append_new(versions,
                              json_pack("{s:s, s:o, s:o, s:s}", "name", n,
                                        "supportedVersionsToUpgrade", up, "supportedVcores",
                                        vcores(skus, cores, mem), "status", "Available"));
    }
    json_t *storage = json_pack("{s:s, s:I, s:O, s:o, s:s}", "name", "ManagedDisk",
                                "defaultStorageSizeMb", (json_int_t)131072, "supportedStorageMB",
                                mb, "supportedStorageMb", mb, "status", "Available");
    return json_pack("{s:s, s:s, s:[o], s:o, s:s}", "name", tier, "defaultSkuName", def,
                     "supportedStorageEditions", storage, "supportedServerVersions", versions,
                     "status", "Available");
}

static void h_capabilities(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cmk_arm *arm = data;
    struct cmk_arm_call call;
    struct cmk_err err;
    if (cmk_arm_call_begin(arm, req, res, NULL, CMK_ARM_CALL_NO_ID, &call) != 0) {
        cmk_arm_call_end(&call);
        return;
    }
    char loc[64];
    if (cmk_arm_location_normalize(cmk_request_param(req, "loc"), loc, sizeof(loc), CP_SERVER_TYPE,
                                   &err) != 0) {
        cmk_arm_respond_error(&call, &err);
        cmk_arm_call_end(&call);
        return;
    }
    static const char *const b[] = {"Standard_B1ms", "Standard_B2s", "Standard_B2ms", NULL};
    static const int bc[] = {1, 2, 2};
    static const char *const gp[] = {"Standard_D2s_v3",
                                     "Standard_D4s_v3",
                                     "Standard_D2ds_v4",
                                     "Standard_D4ds_v4",
                                     "Standard_D2ds_v5",
                                     "Standard_D4ds_v5",
                                     NULL};
    static const int gpc[] = {2, 4, 2, 4, 2, 4};
    static const char *const mo[] = {"Standard_E2s_v3", "Standard_E2ds_v4", "Standard_E4ds_v4",
                                     "Standard_E2ds_v5", NULL};
    static const int moc[] = {2, 2, 4, 2};
    json_t *cap = json_pack("{s:s, s:s, s:[s, s], s:b, s:b, s:b, s:b, s:b, s:s, s:[o, o, o]}",
                            "name", "FlexibleServerCapabilities", "zone", "none", "supportedHAMode",
                            "SameZone", "ZoneRedundant", "geoBackupSupported", 1,
                            "zoneRedundantHaSupported", 1, "zoneRedundantHaAndGeoBackupSupported",
                            1, "fastProvisioningSupported", 0, "storageAutoGrowthSupported", 1,
                            "status", "Available", "supportedFlexibleServerEditions",
                            edition("Burstable", "Standard_B1ms", b, bc, 2048),
                            edition("GeneralPurpose", "Standard_D2ds_v4", gp, gpc, 4096),
                            edition("MemoryOptimized", "Standard_E2ds_v4", mo, moc, 8192));
    json_t *items = json_array();
    json_array_append_new(items, cap);
    cmk_arm_respond_list(&call, items);
    cmk_arm_call_end(&call);
}

void cp__child_register(struct cp_servers *s)
{
    fw_provider.api_versions = cp__api_versions;
    db_provider.api_versions = cp__api_versions;
    cmk_arm_provider_register(s->arm, &fw_provider);
    cmk_arm_provider_register(s->arm, &db_provider);
    struct cmk_router *r = &s->rt->router;
    cmk_router_add(r, CMK_HOST_MGMT, "POST",
                   "/subscriptions/{s}/providers/Microsoft.DBforPostgreSQL/checkNameAvailability",
                   h_check_name, s->arm);
    cmk_router_add(r, CMK_HOST_MGMT, "POST",
                   "/subscriptions/{s}/providers/Microsoft.DBforPostgreSQL/locations/{loc}/"
                   "checkNameAvailability",
                   h_check_name, s->arm);
    cmk_router_add(r, CMK_HOST_MGMT, "GET",
                   "/subscriptions/{s}/providers/Microsoft.DBforPostgreSQL/locations/{loc}/"
                   "capabilities",
                   h_capabilities, s->arm);
}
