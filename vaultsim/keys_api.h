/* keys_api.h: the keys data plane (keyvault-keys-7.5 REST routes) over the key engine, with
 * the request pipeline every call goes through. Shared by Key Vault (vault.c) and Managed HSM
 * (hsmsim): a flavour opens one struct vs_keys on its host kind with a struct
 * vs_keys_policy, and the same code serves both.
 *
 * Pipeline of every request, in this order (each refusal is audited too):
 *   0. the container named by the host label (vault or HSM); unknown: 404
 *   1. bearer token (cmk_auth_verify; audiences: the flavour's cloud resource, its local
 *      equivalent "https://<family>.<suffix>", and the service's application id), checked
 *      before the body is read: else 401 with the challenge
 *      WWW-Authenticate: Bearer authorization="https://<login host>/<tenant>",
 *      resource="<resource>" (login and resource hosts of the family the request used)
 *   2. tenant: the token's tid must be the container's, else 401 (AKV10032 Invalid issuer)
 *   3. network rules (publicNetworkAccess, networkAcls: ipRules CIDR match, bypass
 *      AzureServices for CMK_ORIGIN_TRUSTED_SERVICE callers): else 403 ForbiddenByConnection /
 *      ForbiddenByFirewall
 *   4. api-version (7.0 ... 7.6, 2025-07-01): else 400 BadParameter
 *   5. activation (the flavour's, e.g. an HSM without security domain): else the flavour's
 *      error
 *   6. permission: the flavour's authorize callback for the exact operation (access policy,
 *      RBAC, local RBAC): else its 403
 *   7. throttling: a token bucket per container (rate/burst from the container, or the
 *      default): else 429 Throttled with Retry-After
 *   8. the operation (engine); 9. an AuditEvent for the container's audit log (audit.h).
 *
 * Responses carry the service's headers: x-ms-keyvault-region, x-ms-request-id,
 * x-ms-keyvault-service-version, x-ms-keyvault-network-info.
 *
 * Ownership: the flavour owns the engine and the policy's data; vs_keys keeps pointers to
 * both (they must outlive it). One loop thread.
 */
#ifndef VS_KEYS_API_H
#define VS_KEYS_API_H

#include <stdint.h>

#include "common/auth.h"
#include "common/hosts.h"
#include "common/router.h"
#include "engine.h"

struct cmk_runtime;
struct vs_audit;

/* What an operation needs: the access-policy permission names of Key Vault. */
enum vs_perm {
    VS_PERM_GET,
    VS_PERM_LIST,
    VS_PERM_CREATE,
    VS_PERM_IMPORT,
    VS_PERM_UPDATE,
    VS_PERM_DELETE,
    VS_PERM_RECOVER,
    VS_PERM_PURGE,
    VS_PERM_BACKUP,
    VS_PERM_RESTORE,
    VS_PERM_ENCRYPT,
    VS_PERM_DECRYPT,
    VS_PERM_SIGN,
    VS_PERM_VERIFY,
    VS_PERM_WRAP,
    VS_PERM_UNWRAP,
    VS_PERM_ROTATE,
    VS_PERM_GETROTATIONPOLICY,
    VS_PERM_SETROTATIONPOLICY,
    VS_PERM_RELEASE,
    VS_PERM_RANDOM,
    VS_PERM_GETDELETED, /* get/list deleted keys ("get"/"list" in access policies) */
    VS_PERM__COUNT
};
const char *vs_perm_name(enum vs_perm p);            /* "get", "wrapKey", "getrotationpolicy" */
int vs_perm_parse(const char *s, enum vs_perm *out); /* case-insensitive */

/* Network rules of a container (networkAcls + publicNetworkAccess). */
struct vs_iprule {
    uint32_t net, mask; /* IPv4, host order */
};
struct vs_netrules {
    int public_disabled; /* publicNetworkAccess Disabled */
    int deny;            /* networkAcls.defaultAction Deny */
    int bypass_azure;    /* networkAcls.bypass AzureServices (the default) */
    size_t nrules;
    struct vs_iprule rules[64];
};
/* From the ARM shape: networkAcls may be NULL; pna NULL means Enabled. 400 BadRequest-style
 * error for malformed rules (code given by the caller's service: "BadRequest"). */
int vs_netrules_parse(const json_t *network_acls, const char *pna, struct vs_netrules *out,
                      struct cmk_err *err);
/* 1 if addr (dotted IPv4) matches a rule. */
int vs_netrules_match(const struct vs_netrules *n, const char *addr);

/* The container a request addresses, as the flavour describes it. */
struct vs_container {
    struct vs_space space; /* for the engine */
    char tenant[64];
    char resource_id[1024]; /* ARM id: RBAC scope, audit resourceId */
    char location[64];
    struct vs_netrules net;
    int inactive; /* refuse key operations (HSM not activated) */
    struct cmk_err inactive_err;
    double rate;   /* throttling: requests per second; 0: the default */
    double burst;  /* bucket size; 0: the default */
    void *flavour; /* the flavour's own object, for its callbacks */
};

struct vs_keys_policy {
    int version;                /* 1; fields only grow at the end */
    enum cmk_host_kind host;    /* CMK_HOST_VAULT / CMK_HOST_HSM */
    const char *cloud_resource; /* "https://vault.azure.net" */
    const char *local_family;   /* "vault": local resource "https://vault.<suffix>" */
    const char *app_id;         /* the service principal's id accepted as audience, or NULL */
    const char *audit_category; /* "AuditEvent" */
    /* Fill c for the container named label (lowercased host label). 0 or CMK_ENOTFOUND. */
    int (*lookup)(void *data, const char *label, struct vs_container *c);
    /* 0 if p may do perm (on key name, or NULL for container-wide operations); else fill err
     * (403 Forbidden, inner ForbiddenByPolicy / ForbiddenByRbac...) and return CMK_EDENIED. */
    int (*authorize)(void *data, const struct vs_container *c, const struct cmk_principal *p,
                     enum vs_perm perm, const char *key_name, struct cmk_err *err);
    void *data;
};

struct vs_keys;

/* Register the key routes on rt->router for policy->host. audit: where events go (the
 * flavour's, may be shared). */
int vs_keys_open(struct vs_keys **out, struct cmk_runtime *rt, struct vs_engine *engine,
                 struct vs_audit *audit, const struct vs_keys_policy *policy, struct cmk_err *err)
    __attribute__((warn_unused_result));
void vs_keys_free(struct vs_keys *k);
/* Default throttling for containers that set none (requests per second, burst). The default
 * is generous (20000/s, burst 40000 per container: far above the service's own limits, so
 * benchmarks measure the emulator, not the throttle); scenarios set tight limits per vault
 * (vault tag "cmksim-throttle", see README.md). rate <= 0: off. */
void vs_keys_set_throttle(struct vs_keys *k, double rate, double burst);

/* ---- a flavour's own routes --------------------------------------------------------------
 * Routes a flavour registers on its host besides the key routes (Managed HSM: the security
 * domain and local RBAC routes, hsmsim) go through the same pipeline. vs_keys_call_begin runs
 * steps 0-5 and 7 (step 5, activation, is skipped with VS_KEYS_CALL_INACTIVE_OK: the routes
 * that activate a container); the flavour then authorizes with its own rules and answers;
 * vs_keys_call_end adds the service's headers, writes the AuditEvent (operationName op,
 * properties.id the request's URL) and frees the call. *out is always set: call
 * vs_keys_call_end in every case. Returns 0 to go on, or the error already answered. */
enum { VS_KEYS_CALL_INACTIVE_OK = 1 << 0 };
struct vs_call;
int vs_keys_call_begin(struct vs_keys *ks, struct cmk_request *req, struct cmk_response *res,
                       const char *op, unsigned flags, struct vs_call **out);
const struct vs_container *vs_keys_call_container(const struct vs_call *call);
const struct cmk_principal *vs_keys_call_principal(const struct vs_call *call);
/* Answer err (the service's envelope) and remember it for the audit. */
void vs_keys_call_fail(struct vs_call *call, const struct cmk_err *err);
void vs_keys_call_end(struct vs_call *call);

#endif
