/* arm_int.h: what the files of the ARM core (arm.c, arm_id.c, arm_res.c, arm_ops.c,
 * arm_log.c) share and nobody else sees: the core's struct, the filter parser, paging, and the
 * per-file route registration. The public API is arm.h; these names carry the double prefix
 * (cmk__arm_) that marks internals shared between files of one library.
 */
#ifndef CMK_ARM_INT_H
#define CMK_ARM_INT_H

#include <sqlite3.h>

#include "arm.h"
#include "rng.h"

#define ARM_MAX_LISTENERS 8
#define ARM_FILTER_MAX    12

struct arm_pending; /* an armed operation timer (arm_ops.c) */

struct cmk_arm {
    struct cmk_runtime *rt;
    sqlite3 *db;
    struct cmk_rng rng;     /* operation, correlation and event ids */
    struct cmk_rng rng_req; /* x-ms-request-id of answers, so reads never shift write ids */
    const struct cmk_arm_provider **providers;
    size_t nproviders, capproviders;
    const struct cmk_arm_op_kind **kinds;
    size_t nkinds, capkinds;
    struct arm_pending *pending;
    struct {
        cmk_arm_activity_cb cb;
        void *data;
    } listeners[ARM_MAX_LISTENERS];
    size_t nlisteners;
    int txdepth, txfailed;
    size_t page_size;
    cmk_time_t group_delete_delay;
    char aud_local[192];
    const char *audiences[4];
    json_t *notify; /* activity entries written in the open transaction, told on commit */
};

/* One "field op 'value'" term of an OData-like $filter; op is eq, ne, ge, gt, le, lt, or
 * "substringof" (substringof('value', field)). */
struct arm_filter_term {
    char field[48];
    char op[16];
    char value[CMK_ARM_ID_MAX];
};

/* Parse terms joined by "and". 400 (code given) on anything else. */
int cmk__arm_filter_parse(const char *s, struct arm_filter_term *terms, size_t max, size_t *n,
                          const char *code, struct cmk_err *err);

/* Split a path into segments (modifies s; empty segments dropped). Returns the count or -1. */
int cmk__arm_split(char *s, char **segs, size_t max);

/* Hex digits and dashes, 1 to 39 of them (GUID-like ids and correlation ids). */
int cmk__arm_valid_guid(const char *s);
/* Levels of a type: "Microsoft.X/a" is 1, "Microsoft.X/a/b" is 2. */
unsigned cmk__arm_type_depth(const char *type);
/* "https://<host of the request>" (management.azure.com when there is no request). */
void cmk__arm_base_url(const struct cmk_request *req, char *out, size_t n);
/* Resource type of the first depth levels of an id ("Microsoft.X/a/b"). */
void cmk__arm_type_join(const struct cmk_arm_id *id, size_t depth, char *out, size_t n);
/* The /subscriptions/{s}/locations list. */
json_t *cmk__arm_locations_json(const char *sub);

/* ---- arm_call.c, arm_sub.c ---- */
void cmk__arm_call_init(struct cmk_arm *arm, struct cmk_arm_call *call, struct cmk_request *req,
                        struct cmk_response *res);
int cmk__arm_authenticate(struct cmk_arm_call *call, struct cmk_err *err);
int cmk__arm_check_subscription(struct cmk_arm_call *call, const char *sub, struct cmk_err *err);
int cmk__arm_check_api_version(struct cmk_arm_call *call, const struct cmk_arm_provider *p,
                               struct cmk_err *err);
void cmk__arm_call_write_begin(struct cmk_arm_call *call);
void cmk__arm_draw_guid(struct cmk_arm *arm, char out[40]);
/* Answer an error: ARM's 401 challenge header, then cmk_response_error. */
void cmk__arm_error(struct cmk_arm *arm, struct cmk_response *res, const struct cmk_err *err);
void cmk__arm_register_core_routes(struct cmk_arm *arm);

/* GET /subscriptions/{s}/providers/{ns} and POST .../register. */
void cmk__arm_provider_info(struct cmk_arm_call *call, const char *ns);
int cmk__arm_namespace_known(struct cmk_arm *arm, const char *ns);

/* ---- arm_store.c, arm_res.c: generic resources ---- */
void cmk__arm_res_register_routes(struct cmk_arm *arm);
/* Delete a resource through its provider (cascade: no operations), then its rows. */
int cmk__arm_res_delete_cascade(struct cmk_arm *arm, const struct cmk_arm_resource *r,
                                struct cmk_err *err);
/* Load a resource from a row of "SELECT " ARM_RES_COLUMNS. */
#define ARM_RES_COLUMNS                                                                            \
    "id, type, subscription, resource_group, name, location, doc, created, updated, created_by, "  \
    "updated_by"
void cmk__arm_res_from_row(sqlite3_stmt *st, struct cmk_arm_resource *r);
/* Rows matching type/sub/rg/parent (NULL: any), in creation order; free with _free_rows. */
struct cmk_arm_resource *cmk__arm_load_rows(struct cmk_arm *arm, const char *type, const char *sub,
                                            const char *rg, const char *parent, size_t *count);
void cmk__arm_free_rows(struct cmk_arm_resource *rows, size_t n);

/* ---- arm_group.c: resource groups and the generic resources list ---- */
void cmk__arm_group_register_routes(struct cmk_arm *arm);
/* 0 if the group exists (state gets its provisioning state, may be NULL; view its JSON, may be
 * NULL); 404 ResourceGroupNotFound otherwise. */
int cmk__arm_group_get(struct cmk_arm *arm, const char *sub, const char *rg, json_t **view,
                       char state[32], struct cmk_err *err);
/* Delete the resources of a group through their providers, then the group row. */
int cmk__arm_group_delete_now(struct cmk_arm *arm, const char *sub, const char *rg,
                              struct cmk_err *err);

/* ---- arm_ops.c ---- */
void cmk__arm_ops_register_routes(struct cmk_arm *arm);
void cmk__arm_ops_free(struct cmk_arm *arm);
/* Start an operation on a resource id without a request context (resource group deletion). */
int cmk__arm_op_start_raw(struct cmk_arm *arm, struct cmk_arm_call *call, const char *kind,
                          const char *resource_id, const char *ns, const char *location,
                          cmk_time_t delay, const json_t *data, unsigned flags,
                          struct cmk_err *err);
extern const struct cmk_arm_op_kind cmk__arm_group_delete_kind;

/* ---- arm_log.c ---- */
void cmk__arm_log_register_routes(struct cmk_arm *arm);
/* Tell the listeners about the entries of the transaction (commit) or drop them. */
void cmk__arm_log_flush(struct cmk_arm *arm, int commit);
/* The Started and final entries of a write call (res->status decides the final status). */
void cmk__arm_log_call(struct cmk_arm_call *call, int status, const struct cmk_err *failure);

#endif
