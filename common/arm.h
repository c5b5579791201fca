/* arm.h: the ARM core. Resource ids, subscriptions and resource groups, a registry of resource
 * providers, a generic resource store, long-running operations and the activity log, all on
 * the management host (CMK_HOST_MGMT) of the router.
 *
 * Every service that owns Azure Resource Manager resources registers a provider here (vaultsim:
 * Microsoft.KeyVault/vaults, hsmsim: Microsoft.KeyVault/managedHSMs, controlplane:
 * Microsoft.ManagedIdentity/userAssignedIdentities and Microsoft.DBforPostgreSQL/...). The core
 * answers PUT/PATCH/GET/HEAD/DELETE/LIST for every registered type and calls the provider's
 * callbacks to validate, build, render and delete; extra routes (actions such as ".../start",
 * "accessPolicies/{op}", "deletedVaults", "checkNameAvailability") are registered by the
 * provider on the router and use the cmk_arm_call_* helpers for the same authentication, id
 * parsing, transactions and activity log entries.
 *
 * Routes the core serves on the management host (api-version required, any value accepted
 * unless a provider lists its own):
 *   GET  /tenants, /subscriptions, /subscriptions/{s}, /subscriptions/{s}/locations
 *   GET  /subscriptions/{s}/providers[/{ns}], POST /subscriptions/{s}/providers/{ns}/register,
 *        GET  /providers[/{ns}]
 *   PUT|GET|HEAD|PATCH|DELETE /subscriptions/{s}/resourcegroups/{rg}   (any case; DELETE is an
 *        operation: 202 + Location, deletes the group's resources through their providers)
 *   GET  /subscriptions/{s}/resourcegroups, /subscriptions/{s}/resourcegroups/{rg}/resources,
 *        /subscriptions/{s}/resources   ($filter: resourceType, name, location, resourceGroup
 *        "eq" joined by "and"; $top; $skiptoken from nextLink)
 *   *    /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}...]
 *   GET  .../providers/{ns}/{type} (by group) and /subscriptions/{s}/providers/{ns}/{type}
 *   GET  /subscriptions/{s}/providers/{ns}/locations/{loc}/azureAsyncOperation/{id}
 *        /subscriptions/{s}/providers/{ns}/locations/{loc}/operationResults/{id}
 *        /subscriptions/{s}/operationresults/{id}   (resource group deletion)
 *   GET  /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values
 *        (`az monitor activity-log list`: $filter eventTimestamp ge/le, resourceGroupName,
 *        resourceUri/resourceId, resourceProvider, correlationId, caller, status, level "eq")
 * Anything else under a resource (actions, extension resources such as
 * .../providers/Microsoft.ResourceHealth/availabilityStatuses/current) is a provider route:
 * routes with more literal segments win over the core's generic ones.
 *
 * Authentication: every management request needs a bearer token (auth.h) for audience
 * https://management.azure.com/, https://management.core.windows.net/ or
 * https://management.<local suffix>/; otherwise 401 with ARM's codes (AuthenticationFailed,
 * InvalidAuthenticationToken, ExpiredAuthenticationToken, InvalidAuthenticationTokenAudience)
 * and `WWW-Authenticate: Bearer authorization_uri="https://login.microsoftonline.com/common",
 * error="invalid_token", error_description="..."`. A token of another tenant than the
 * subscription's gets 401 InvalidAuthenticationTokenTenant. Every principal of the tenant may
 * manage its subscriptions (there is no ARM RBAC at subscription scope).
 *
 * Defaults: one tenant and one subscription exist from the first start (constants below), so
 * `cmksim serve` is usable at once; more can be added with cmk_arm_tenant_add /
 * cmk_arm_subscription_add (cross-tenant scenarios).
 *
 * Storage: tables arm_* in the runtime's state database (module "arm"). Every write request is
 * one transaction, committed (durable: synchronous=FULL) before the response is written; the
 * activity log entries of a request are in the same transaction (a failed request is rolled
 * back and its Started/Failed entries written after). Long-running operations are
 * rows too: after a restart, registering an operation kind re-arms that kind's pending
 * operations on the clock (a due time in the past fires at the next clock turn).
 *
 * Transactions and callbacks: provider callbacks (put, patch, delete, operation completion) run
 * inside the core's transaction. Write with plain statements (cmk_store_stmt); never call
 * cmk_store_begin/commit there; use cmk_arm_tx_begin/commit/rollback, which nest. A callback
 * that fails rolls the whole request back.
 *
 * Ids and GUIDs shown in output (operation ids, correlation ids, event ids) come from the
 * runtime's generator forked as "arm" (re-forked per process start so ids never repeat across
 * restarts); every timestamp comes from the clock.
 *
 * Ownership: the core keeps pointers to registered providers and operation kinds (make them
 * static). json_t arguments are borrowed unless a comment says "steals"; json_t results are
 * new references. Not thread-safe; one loop thread.
 */
#ifndef CMK_ARM_H
#define CMK_ARM_H

#include <jansson.h>
#include <stddef.h>

#include "auth.h"
#include "clock.h"
#include "err.h"
#include "router.h"

struct cmk_runtime;
struct cmk_arm;

/* The pre-provisioned tenant and subscription (well known, so docs and scripts can name them). */
#define CMK_ARM_DEFAULT_TENANT            "11111111-1111-1111-1111-111111111111"
#define CMK_ARM_DEFAULT_TENANT_NAME       "cmksim"
#define CMK_ARM_DEFAULT_TENANT_DOMAIN     "cmksim.onmicrosoft.com"
#define CMK_ARM_DEFAULT_SUBSCRIPTION      "00000000-0000-0000-0000-000000000001"
#define CMK_ARM_DEFAULT_SUBSCRIPTION_NAME "cmksim"

#define CMK_ARM_ID_MAX    1024 /* a resource id, with room to spare */
#define CMK_ARM_DEPTH_MAX 4    /* type/name pairs: vaults/v, flexibleServers/s/databases/d ... */
#define CMK_ARM_TYPE_MAX  192
#define CMK_ARM_NAME_MAX  128

/* ---- open, close ------------------------------------------------------------------------ */

/* Migrate the arm_* tables, create the default tenant and subscription if missing, register
 * the core routes on rt->router (host CMK_HOST_MGMT, including its not-found fallback) and set
 * rt->arm. Call after cmk_runtime_open and before the services register their providers. If
 * rt->arm is already open, *out is that one. */
int cmk_arm_open(struct cmk_arm **out, struct cmk_runtime *rt, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Stops the operation timers (operations stay pending in the store) and clears rt->arm. Call
 * before cmk_runtime_close. NULL is fine. */
void cmk_arm_free(struct cmk_arm *arm);
/* Page size of LIST answers (default 100); a client's $top lowers it. For tests of nextLink. */
void cmk_arm_set_page_size(struct cmk_arm *arm, size_t n);
/* Time a resource group deletion takes (default 0: completes at the next clock turn). */
void cmk_arm_set_group_delete_delay(struct cmk_arm *arm, cmk_time_t d);

/* ---- resource ids ----------------------------------------------------------------------- */

/* /subscriptions/{sub}[/resourceGroups/{rg}]/providers/{ns}/{types[0]}/{names[0]}[/{types[1]}/
 * {names[1]}...]. depth 0 means a subscription or resource group scope. Casing is kept as
 * given; comparisons are case-insensitive (cmk_arm_id_equal). */
struct cmk_arm_id {
    char sub[64];
    char rg[96]; /* "" for subscription-level resources */
    char ns[64]; /* "Microsoft.KeyVault" */
    size_t depth;
    char types[CMK_ARM_DEPTH_MAX][64];
    char names[CMK_ARM_DEPTH_MAX][CMK_ARM_NAME_MAX];
};

/* Parse an id (a path; a trailing "/" is allowed; segments are taken as already decoded).
 * "resourcegroups" and "providers" in any case. 400 InvalidResourceId on failure. */
int cmk_arm_id_parse(const char *s, struct cmk_arm_id *id, struct cmk_err *err);
/* Canonical form: "/subscriptions/x/resourceGroups/y/providers/ns/t/n", casing of the parts
 * as stored in id. */
void cmk_arm_id_format(const struct cmk_arm_id *id, char *out, size_t n);
/* Full resource type: "Microsoft.KeyVault/vaults", "Microsoft.DBforPostgreSQL/flexibleServers/
 * databases". Empty for a scope. */
void cmk_arm_id_type(const struct cmk_arm_id *id, char *out, size_t n);
/* The last name ("" for a scope). */
const char *cmk_arm_id_name(const struct cmk_arm_id *id);
/* The id of the parent resource (depth - 1); returns CMK_ENOTFOUND for a top-level resource. */
int cmk_arm_id_parent(const struct cmk_arm_id *id, struct cmk_arm_id *parent);
/* Case-insensitive comparison of two ids as strings, ignoring one trailing "/"; 1 if equal. */
int cmk_arm_id_equal(const char *a, const char *b);

/* ---- tenants, subscriptions, locations ------------------------------------------------- */

int cmk_arm_tenant_add(struct cmk_arm *arm, const char *tenant_id, const char *display_name,
                       const char *domain, struct cmk_err *err);
int cmk_arm_tenant_exists(struct cmk_arm *arm, const char *tenant_id);
/* Adds (or, if it exists, moves to tenant_id) a subscription: moving a subscription to another
 * tenant is one of the ways a vault loses its tenant (issue 5 "tenant moved"). */
int cmk_arm_subscription_add(struct cmk_arm *arm, const char *sub_id, const char *tenant_id,
                             const char *display_name, struct cmk_err *err);
/* The subscription's tenant into tenant (64 bytes); CMK_ENOTFOUND (404 SubscriptionNotFound). */
int cmk_arm_subscription_tenant(struct cmk_arm *arm, const char *sub_id, char tenant[64],
                                struct cmk_err *err);

/* Known regions: "East US", "eastus", "EASTUS" -> "eastus". CMK_ENOTFOUND (400
 * LocationNotAvailableForResourceType when type is given) if unknown. */
int cmk_arm_location_normalize(const char *in, char *out, size_t n, const char *type,
                               struct cmk_err *err);
/* "eastus" -> "East US"; NULL if unknown. */
const char *cmk_arm_location_display(const char *location);
/* The geo-paired region ("eastus" -> "westus"), NULL if unknown (R15). */
const char *cmk_arm_location_pair(const char *location);

/* ---- stored resources ------------------------------------------------------------------- */

/* One row of the generic resource table. doc is the provider's document for the resource:
 * everything except id, name, type and systemData, which the core adds when rendering
 * (location, tags, sku, kind, identity, properties... as the provider stored them; a provider
 * may keep private fields there and strip them in its render callback). */
struct cmk_arm_resource {
    char id[CMK_ARM_ID_MAX]; /* canonical casing, as created */
    char type[CMK_ARM_TYPE_MAX];
    char sub[64];
    char rg[96];
    char name[CMK_ARM_NAME_MAX];
    char location[64];
    json_t *doc; /* owned */
    cmk_time_t created, updated;
    char created_by[128], updated_by[128];
};

void cmk_arm_resource_close(struct cmk_arm_resource *r); /* releases doc; NULL is fine */
/* Load by id (any case). 404 ResourceNotFound (the ARM message) when absent. */
int cmk_arm_resource_get(struct cmk_arm *arm, const char *id, struct cmk_arm_resource *out,
                         struct cmk_err *err);
/* Find a resource of type by name across all subscriptions and groups (vault, HSM and server
 * names are DNS names, unique in the cloud). CMK_ENOTFOUND if none. */
int cmk_arm_resource_find(struct cmk_arm *arm, const char *type, const char *name,
                          struct cmk_arm_resource *out);
/* Insert or replace the document of id (location and tags are read from doc). The resource
 * group (and the parent for a child type) must exist. by: caller shown in systemData (may be
 * NULL). In its own transaction unless one is open. */
int cmk_arm_resource_put(struct cmk_arm *arm, const char *id, const json_t *doc, const char *by,
                         struct cmk_err *err);
/* Remove the row of id and of its child resources (no provider callback). 0 if it was absent. */
int cmk_arm_resource_delete(struct cmk_arm *arm, const char *id, struct cmk_err *err);
/* Calls fn for each resource of type (NULL: any) in sub (NULL: any) and rg (NULL: any), in
 * creation order. Rows are read first, so fn may write. A non-zero return from fn stops and is
 * returned. */
typedef int (*cmk_arm_each_fn)(void *data, const struct cmk_arm_resource *r);
int cmk_arm_resource_each(struct cmk_arm *arm, const char *type, const char *sub, const char *rg,
                          cmk_arm_each_fn fn, void *data);
/* The resource as a client sees it: {id, name, type, ...the provider's render..., systemData}.
 * New reference. */
json_t *cmk_arm_resource_view(struct cmk_arm *arm, const struct cmk_arm_resource *r);

/* ---- providers ---------------------------------------------------------------------------- */

struct cmk_arm_provider;

/* The context of one management request (or of an operation's completion, req == NULL). */
struct cmk_arm_call {
    struct cmk_arm *arm;
    struct cmk_request *req;                 /* NULL in operation completions and cascades */
    struct cmk_response *res;                /* NULL likewise */
    const struct cmk_arm_provider *provider; /* of the type in the path; may be NULL */
    const char *api_version;                 /* as sent (points into req) */
    struct cmk_arm_id rid;   /* the resource id of the path (depth 0 for scope routes) */
    char id[CMK_ARM_ID_MAX]; /* rid formatted; "" for scope routes */
    char type[CMK_ARM_TYPE_MAX];
    const char *rest;            /* path after the id ("start", "accessPolicies/add"), or "" */
    char tenant[64];             /* the subscription's tenant */
    char location[64];           /* the resource's (normalized) location, for operation URLs */
    struct cmk_principal caller; /* the verified token */
    char caller_name[128];       /* shown in the activity log and systemData */
    char correlation_id[40];
    char operation[CMK_ARM_TYPE_MAX + 32]; /* activity operationName; the provider may change it */
    int creating;                          /* PUT of a resource that did not exist */
    int cascade;                           /* DELETE because the resource group is being deleted */
    int status;                            /* status the provider wants (0: the core's default) */
    char op_id[40];                        /* set by cmk_arm_op_start */
    /* private to the core */
    cmk_time_t started;
    int write, in_tx, done;
    char path_rest[CMK_ARM_ID_MAX];
};

/* PUT: validate body (the client's JSON, id/name/type/systemData removed, location checked
 * and normalized to "eastus" form for top-level types) and build the document to store into
 * *out (new reference). existing is NULL when creating (call->creating). Return 0 or an error
 * (err filled, e.g. 400 with the service's code). The answer is 201 when creating, 200 when
 * replacing, with the rendered resource; set call->status to choose another. To make the PUT
 * long-running, call cmk_arm_op_start(call, ...) before returning: the core then answers 202
 * with no body (or call->status, e.g. 201 with the resource). */
typedef int (*cmk_arm_put_fn)(struct cmk_arm_call *call, json_t *body,
                              const struct cmk_arm_resource *existing, json_t **out,
                              struct cmk_err *err);
/* PATCH: like put, with the patch body. NULL: the core applies the body to the stored document
 * as a JSON merge patch (RFC 7396) and calls put with the result. */
typedef int (*cmk_arm_patch_fn)(struct cmk_arm_call *call, json_t *patch,
                                const struct cmk_arm_resource *existing, json_t **out,
                                struct cmk_err *err);
/* GET, LIST and operation results: the document to show (new reference; the core adds id,
 * name, type and systemData). NULL: the stored document as is. */
typedef json_t *(*cmk_arm_render_fn)(struct cmk_arm *arm, const struct cmk_arm_resource *r,
                                     void *data);
/* DELETE: called before the core removes the row (and its children's rows). Return 0 to let it
 * remove them now (a provider that soft-deletes copies r->doc into its own table first), an
 * error to refuse (409...), or start an operation with cmk_arm_op_start: the row then stays
 * (update it to show "Dropping" with cmk_arm_resource_put) and is removed when the operation
 * succeeds. In a cascade (call->cascade) operations cannot be started. */
typedef int (*cmk_arm_delete_fn)(struct cmk_arm_call *call, const struct cmk_arm_resource *r,
                                 struct cmk_err *err);

enum {
    CMK_ARM_PROVIDER_NO_LOCATION = 1 << 0, /* top-level type without "location" */
    CMK_ARM_PROVIDER_NO_PATCH = 1 << 1,    /* PATCH answers 405 */
    CMK_ARM_PROVIDER_HIDDEN = 1 << 2,      /* not in /resources lists */
};

struct cmk_arm_provider {
    const char *type;                /* "Microsoft.KeyVault/vaults" (child types in full) */
    const char *const *api_versions; /* NULL-terminated; NULL: any api-version */
    unsigned flags;                  /* CMK_ARM_PROVIDER_* */
    cmk_arm_put_fn put;              /* NULL: store the body, provisioningState Succeeded */
    cmk_arm_patch_fn patch;
    cmk_arm_render_fn render;
    cmk_arm_delete_fn del; /* NULL: remove */
    void *data;            /* the provider's; passed to render, seen in call */
};

/* Register a provider (the struct must outlive the core). A second registration of the same
 * type replaces the first. */
void cmk_arm_provider_register(struct cmk_arm *arm, const struct cmk_arm_provider *p);
const struct cmk_arm_provider *cmk_arm_provider_find(struct cmk_arm *arm, const char *type);

/* ---- provider routes -------------------------------------------------------------------- */

enum {
    CMK_ARM_CALL_NO_ID = 1 << 0,    /* scope route (subscription or location level) */
    CMK_ARM_CALL_EXISTING = 1 << 1, /* the resource must exist (404 ResourceNotFound) */
    CMK_ARM_CALL_WRITE = 1 << 2,    /* a write even for GET (a transaction + activity log) */
    CMK_ARM_CALL_NO_LOG = 1 << 3,   /* a write without activity log entries */
};

/* Start handling a provider route: authenticate, check the subscription and its tenant,
 * api-version (against the provider of type, when type is not NULL), the resource group when
 * the path has one, and parse the resource id of type from the start of req->path (call->rest
 * gets what follows; call->id and call->location are the stored resource's when it exists).
 * With CMK_ARM_CALL_NO_ID (or type NULL) the path is a scope route: call->rid.ns and
 * call->location come from its "providers/{ns}" and "locations/{loc}" segments and call->id is
 * its longest prefix that is a valid id (used by operations and the activity log; a provider
 * may set a better one). Writes (POST/PUT/PATCH/DELETE, or CMK_ARM_CALL_WRITE) open a
 * transaction. On failure the error answer is written to res and a negative code is returned;
 * call cmk_arm_call_end in every case. */
int cmk_arm_call_begin(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                       const char *type, unsigned flags, struct cmk_arm_call *call);
/* Authentication alone, for tenant-level routes that have no subscription (tenant-wide role
 * definitions): ARM's 401 answer is written to res on failure. 0 or CMK_EAUTH; who may be NULL. */
int cmk_arm_authenticate(struct cmk_arm *arm, struct cmk_request *req, struct cmk_response *res,
                         struct cmk_principal *who) __attribute__((warn_unused_result));
/* Finish: for writes, commit when res->status < 400 (else roll back) and append the activity
 * log entries (Started, then Succeeded/Accepted/Failed from res->status); a failed commit turns
 * the answer into a 500. */
void cmk_arm_call_end(struct cmk_arm_call *call);

/* Answer helpers (they go through cmk_response_error for errors: one envelope). */
void cmk_arm_respond_error(struct cmk_arm_call *call, const struct cmk_err *err);
/* 200 (or status) with the resource's view. */
void cmk_arm_respond_resource(struct cmk_arm_call *call, int status,
                              const struct cmk_arm_resource *r);
/* {"value":[...], "nextLink"} with the core's paging over items (steals items, an array). */
void cmk_arm_respond_list(struct cmk_arm_call *call, json_t *items);
/* 404 ResourceNotFound for id, with ARM's message. Returns CMK_ENOTFOUND. */
int cmk_arm_err_not_found(struct cmk_err *err, const char *id);

/* Nesting transaction helpers over the runtime's database. */
int cmk_arm_tx_begin(struct cmk_arm *arm);
int cmk_arm_tx_commit(struct cmk_arm *arm);
void cmk_arm_tx_rollback(struct cmk_arm *arm);

/* ---- long-running operations ------------------------------------------------------------ */

/* One operation, as its completion callback sees it. */
struct cmk_arm_op {
    char id[40];
    char kind[64];
    char resource_id[CMK_ARM_ID_MAX];
    char sub[64];
    char ns[64];
    char location[64];
    char operation[CMK_ARM_TYPE_MAX + 32]; /* activity operationName */
    char method[8];                        /* PUT, PATCH, DELETE, POST */
    char caller[128];
    char correlation_id[40];
    unsigned flags;
    cmk_time_t start, due;
    json_t *data; /* the provider's (borrowed); may be NULL */
};

/* Completion, run on the clock when the operation is due, inside a transaction. Return 0:
 * Succeeded; an error: Failed with err (status, code, message shown in the status resource).
 * With CMK_ARM_OP_DELETE_ON_FAILURE the resource row is removed when it fails; with
 * CMK_ARM_OP_DELETE_ON_SUCCESS when it succeeds. */
typedef int (*cmk_arm_complete_fn)(struct cmk_arm *arm, const struct cmk_arm_op *op, void *data,
                                   struct cmk_err *err);

struct cmk_arm_op_kind {
    const char *name; /* persisted: keep it stable ("postgres.create") */
    cmk_arm_complete_fn complete;
    void *data;
};

enum {
    CMK_ARM_OP_DELETE_ON_FAILURE = 1 << 0, /* set by the core for a PUT that creates */
    CMK_ARM_OP_DELETE_ON_SUCCESS = 1 << 1, /* set by the core for a DELETE */
};

/* Register a kind (the struct must outlive the core) and re-arm its pending operations found in
 * the store (restart). */
void cmk_arm_op_kind_register(struct cmk_arm *arm, const struct cmk_arm_op_kind *k);
/* Start an operation of kind on call->id, due after delay (a timing profile's value), with data
 * (borrowed, persisted). Sets call->op_id. In a provider route, answer with
 * cmk_arm_respond_accepted; in put/patch/delete callbacks the core answers. */
int cmk_arm_op_start(struct cmk_arm_call *call, const char *kind, cmk_time_t delay,
                     const json_t *data, unsigned flags, struct cmk_err *err);
/* status (202 or 201) with Azure-AsyncOperation, Location and Retry-After for call->op_id;
 * body (stolen, may be NULL). */
void cmk_arm_respond_accepted(struct cmk_arm_call *call, int status, json_t *body);
/* After every service has registered its kinds (process start): pending operations whose kind
 * nobody registered fail cleanly (their created resource removed). Returns how many. */
int cmk_arm_op_fail_orphans(struct cmk_arm *arm);
/* The status resource {name, status, startTime, endTime, error} of an operation, or NULL. */
json_t *cmk_arm_op_status(struct cmk_arm *arm, const char *op_id);
/* Pending operations on a resource (0 if none): PUT/PATCH/DELETE answer 409
 * AnotherOperationInProgress while one is pending. */
int cmk_arm_op_pending(struct cmk_arm *arm, const char *resource_id);

/* ---- activity log ----------------------------------------------------------------------- */

struct cmk_arm_event {
    const char *resource_id;    /* required: the resource (or group) the event is about */
    const char *operation;      /* operationName, e.g. "Microsoft.DBforPostgreSQL/flexibleServers/
                                   keyAccessFailure" or ".../write" */
    const char *status;         /* "Started", "Accepted", "Succeeded", "Failed", "Active",
                                   "Resolved"... */
    const char *sub_status;     /* optional ("Created", "BadRequest") */
    const char *level;          /* "Informational" (default), "Warning", "Error", "Critical" */
    const char *category;       /* "Administrative" (default), "ResourceHealth", "Security"... */
    const char *caller;         /* optional */
    const char *correlation_id; /* optional: a new one is drawn */
    const char *operation_id;   /* optional: the correlation id */
    const char *description;    /* optional */
    const char *http_method;    /* optional */
    const char *client_ip;      /* optional */
    int http_status;            /* optional */
    const json_t *properties;   /* optional extra properties (string values shown as is) */
};

/* Append one entry (timestamp from the clock) in its own transaction unless one is open, then
 * tell the listeners. Services report events (key access failures...) with it. */
int cmk_arm_activity(struct cmk_arm *arm, const struct cmk_arm_event *ev, struct cmk_err *err);
/* Listeners see every appended entry, rendered as the API shows it (borrowed), after it is
 * written; up to 8 (dashboard, scenario runner, trace). */
typedef void (*cmk_arm_activity_cb)(void *data, const json_t *entry);
int cmk_arm_activity_listen(struct cmk_arm *arm, cmk_arm_activity_cb cb, void *data);
/* The entries of sub matching filter (the API's $filter syntax; NULL: all), newest first, as
 * the API renders them. New reference (an array) or NULL with err (400 on a bad filter). */
json_t *cmk_arm_activity_list(struct cmk_arm *arm, const char *sub, const char *filter,
                              struct cmk_err *err);

#endif
