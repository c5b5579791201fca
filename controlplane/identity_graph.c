/* identity_graph.c: the few Microsoft Graph (v1.0) reads that az makes about the directory, on
 * graph.microsoft.com (and graph.<suffix>), answered from the identity service's principals:
 *
 *   GET  /v1.0/me                          400: only valid with delegated (user) sign-in, which
 *                                          is what Graph tells an application; az then looks
 *                                          itself up as a service principal
 *   GET  /v1.0/servicePrincipals?$filter=servicePrincipalNames/any(c:c eq 'X') | appId eq 'X'
 *        | id eq 'X'                       service principals and managed identities of the
 *                                          caller's tenant (X: client id, object id or, for a
 *                                          managed identity, its ARM id); no filter: all
 *   GET  /v1.0/servicePrincipals/{id}      one, by object id (404 Request_ResourceNotFound)
 *   POST /v1.0/directoryObjects/getByIds   {"ids":[...]}: the principals among ids
 *   GET  /v1.0/users, /v1.0/groups         empty lists (this directory has no users)
 *
 * `az keyvault create` (the creator's access policy), `az role assignment create --assignee`
 * and `az role assignment list` (principal names) need these. Bearer tokens for the Graph
 * audience are checked like every other service's; the answers never leave the tenant.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "identity_int.h"

#define GRAPH_APP_ID "00000003-0000-0000-c000-000000000000"

static void graph_error(struct cp_identity *ids, struct cmk_response *res, int status,
                        const char *code, const char *msg)
{
    char now[40], rid[37];
    cmk_time_format(cmk_clock_now(&ids->rt->clock), now, sizeof(now));
    cmk_rng_guid(&ids->trace_rng, rid);
    cmk_response_json(res, status,
                      json_pack("{s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "error", "code", code,
                                "message", msg, "innerError", "date", now, "request-id", rid,
                                "client-request-id", rid));
}

/* The caller's token (Graph audience); 0, or the 401 answer written. */
static int authenticate(struct cp_identity *ids, struct cmk_request *req, struct cmk_response *res,
                        struct cmk_principal *who)
{
    char local[160];
    snprintf(local, sizeof(local), "https://graph.%s", ids->rt->hosts.suffix);
    const char *auds[] = {"https://graph.microsoft.com", local, GRAPH_APP_ID, NULL};
    struct cmk_err err;
    cmk_err_clear(&err);
    const char *h = cmk_request_header(req, "authorization");
    if (h == NULL) {
        graph_error(ids, res, 401, "InvalidAuthenticationToken", "Access token is empty.");
        return -1;
    }
    if (cmk_auth_verify(ids->rt->auth, h, cmk_clock_now(&ids->rt->clock), auds, who, &err) != 0) {
        char msg[1100];
        snprintf(msg, sizeof(msg), "Access token validation failure. %s", err.message);
        graph_error(ids, res, 401, "InvalidAuthenticationToken", msg);
        return -1;
    }
    return 0;
}

static json_t *sp_json(const struct cp_principal *p, int typed)
{
    int mi = !strcmp(p->kind, "mi");
    json_t *names = json_pack("[s]", p->client_id);
    if (mi && p->resource_id[0])
        json_array_append_new(names, json_string(p->resource_id));
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:s, s:[]}", "id", p->object_id, "appId",
                  p->client_id, "displayName", p->display_name, "servicePrincipalType",
                  mi ? "ManagedIdentity" : "Application", "servicePrincipalNames", names,
                  "accountEnabled", 1, "appOwnerOrganizationId", p->tenant, "alternativeNames");
    if (mi && p->resource_id[0]) {
        json_t *alt = json_object_get(j, "alternativeNames");
        json_array_append_new(alt, json_string("isExplicit=True"));
        json_array_append_new(alt, json_string(p->resource_id));
    }
    if (typed)
        json_object_set_new(j, "@odata.type", json_string("#microsoft.graph.servicePrincipal"));
    return j;
}

/* One principal of the caller's tenant by reference; 0 if found. */
static int find(struct cp_identity *ids, const struct cmk_principal *who, const char *ref,
                struct cp_principal *out)
{
    if (cp__identity_principal_find(ids->rt, ref, out) != 0)
        return -1;
    return strcasecmp(out->tenant, who->tid) == 0 ? 0 : -1;
}

static void h_me(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    struct cmk_principal who;
    if (authenticate(ids, req, res, &who) != 0)
        return;
    graph_error(ids, res, 400, "BadRequest",
                "/me request is only valid with delegated authentication flow.");
}

static void h_empty(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    struct cmk_principal who;
    if (authenticate(ids, req, res, &who) != 0)
        return;
    cmk_response_json(res, 200, json_pack("{s:[]}", "value"));
}

/* The quoted value of a filter such as "servicePrincipalNames/any(c:c eq 'X')". */
static int filter_value(const char *filter, char *out, size_t n)
{
    const char *q = strchr(filter, '\'');
    const char *e = q ? strchr(q + 1, '\'') : NULL;
    if (e == NULL || (size_t)(e - q - 1) >= n)
        return -1;
    snprintf(out, n, "%.*s", (int)(e - q - 1), q + 1);
    return 0;
}

static void h_sp_list(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    struct cmk_principal who;
    if (authenticate(ids, req, res, &who) != 0)
        return;
    const char *filter = cmk_request_query(req, "$filter");
    json_t *value = json_array();
    if (filter != NULL) {
        char ref[600];
        struct cp_principal p;
        if (filter_value(filter, ref, sizeof(ref)) != 0) {
            json_decref(value);
            graph_error(ids, res, 400, "Request_UnsupportedQuery",
                        "Unsupported or invalid query filter clause specified.");
            return;
        }
        if (find(ids, &who, ref, &p) == 0)
            json_array_append_new(value, sp_json(&p, 0));
    } else {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(ids->rt->db,
                               "SELECT oid FROM identity_principals WHERE tenant = ?1 ORDER BY "
                               "rowid",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, who.tid, -1, SQLITE_TRANSIENT);
            while (sqlite3_step(st) == SQLITE_ROW) {
                struct cp_principal p;
                char oid[64];
                cp__identity_copy_col(st, 0, oid, sizeof(oid));
                if (find(ids, &who, oid, &p) == 0)
                    json_array_append_new(value, sp_json(&p, 0));
            }
        }
        sqlite3_finalize(st);
    }
    cmk_response_json(res, 200,
                      json_pack("{s:s, s:o}", "@odata.context",
                                "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals",
                                "value", value));
}

static void h_sp_get(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    struct cmk_principal who;
    if (authenticate(ids, req, res, &who) != 0)
        return;
    const char *id = cmk_request_param(req, "id");
    struct cp_principal p;
    if (id == NULL || find(ids, &who, id, &p) != 0) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "Resource '%.64s' does not exist or one of its queried "
                 "reference-property objects are not present.",
                 id ? id : "");
        graph_error(ids, res, 404, "Request_ResourceNotFound", msg);
        return;
    }
    json_t *j = sp_json(&p, 0);
    json_object_set_new(j, "@odata.context",
                        json_string("https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/"
                                    "$entity"));
    cmk_response_json(res, 200, j);
}

static void h_get_by_ids(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    struct cmk_principal who;
    if (authenticate(ids, req, res, &who) != 0)
        return;
    struct cmk_err err;
    json_t *body = cmk_request_json(req, &err);
    json_t *list = json_object_get(body, "ids");
    if (!json_is_array(list) || json_array_size(list) > 1000) {
        graph_error(ids, res, 400, "Request_BadRequest",
                    "The request needs 'ids', an array of up to 1000 object ids.");
        return;
    }
    json_t *value = json_array(), *x;
    size_t i;
    json_array_foreach(list, i, x)
    {
        struct cp_principal p;
        const char *id = json_string_value(x);
        if (id && find(ids, &who, id, &p) == 0 && strcasecmp(p.object_id, id) == 0)
            json_array_append_new(value, sp_json(&p, 1));
    }
    cmk_response_json(res, 200,
                      json_pack("{s:s, s:o}", "@odata.context",
                                "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
                                "value", value));
}

static void h_fallback(struct cmk_request *req, struct cmk_response *res, void *data)
{
    (void)req;
    graph_error(data, res, res->status == 405 ? 405 : 400, "BadRequest",
                "This emulated Microsoft Graph answers only the directory reads az makes "
                "(me, servicePrincipals, directoryObjects/getByIds).");
}

static const struct cmk_route routes[] = {
    {"GET", "/v1.0/me", h_me},
    {"GET", "/v1.0/servicePrincipals", h_sp_list},
    {"GET", "/v1.0/servicePrincipals/{id}", h_sp_get},
    {"POST", "/v1.0/directoryObjects/getByIds", h_get_by_ids},
    {"GET", "/v1.0/users", h_empty},
    {"GET", "/v1.0/groups", h_empty},
    {NULL, NULL, NULL},
};

void cp__identity_graph_routes(struct cp_identity *ids)
{
    cmk_router_add_table(&ids->rt->router, CMK_HOST_GRAPH, routes, ids);
    cmk_router_set_fallback(&ids->rt->router, CMK_HOST_GRAPH, h_fallback, ids);
}
