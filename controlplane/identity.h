/* identity.h: the emulated directory and its token service (DESIGN.md: Identity).
 *
 * Tenants, service principals (client id + secret) and user-assigned managed identities live
 * in the runtime's state database (module "identity"). The service answers:
 *
 *   login host   POST /{tenant}/oauth2/v2.0/token     client credentials (scope=.../.default)
 *                POST /{tenant}/oauth2/token          the v1 flavour (resource=...)
 *                GET  /{tenant}/v2.0/.well-known/openid-configuration (and the v1 one)
 *                GET  /common/discovery/instance      instance discovery (MSAL)
 *                GET  /{tenant}/discovery/v2.0/keys   the signing key set
 *   mgmt host    GET  /msi/token                      App Service-style managed identity
 *                                                     endpoint (IDENTITY_ENDPOINT/HEADER)
 *                Microsoft.ManagedIdentity/userAssignedIdentities on the ARM core
 *
 * Tokens are RS256 JWTs signed by the runtime's cmk_auth and live one hour on the clock. The
 * service installs the principal-check hook of cmk_auth, so a deleted identity or service
 * principal fails verification at once, like a deleted principal in the cloud.
 *
 * Well-known defaults exist from the first start, so `make serve` is usable at once; they are
 * constants (like Azurite's account key), documented in controlplane/README.md and printed by
 * `cmksim env`. They are for a local emulator only.
 *
 * Ownership: cp_identity_init returns a service object owned by the caller (cp_identity_free
 * after the router is no longer dispatching). Strings returned through char ** are malloc'd and
 * belong to the caller.
 */
#ifndef CP_IDENTITY_H
#define CP_IDENTITY_H

#include <jansson.h>

#include "common/arm.h"
#include "common/err.h"
#include "common/runtime.h"

/* The tenant and subscription are the ARM core's (common/arm.h), so one set of defaults. */
#define CP_IDENTITY_DEFAULT_TENANT       CMK_ARM_DEFAULT_TENANT
#define CP_IDENTITY_DEFAULT_DOMAIN       CMK_ARM_DEFAULT_TENANT_DOMAIN
#define CP_IDENTITY_DEFAULT_SUBSCRIPTION CMK_ARM_DEFAULT_SUBSCRIPTION
#define CP_IDENTITY_ADMIN_CLIENT_ID      "ad000000-c0de-4000-8000-000000000001"
#define CP_IDENTITY_ADMIN_OBJECT_ID      "ad000000-c0de-4000-8000-000000000002"
#define CP_IDENTITY_ADMIN_SECRET         "cmksim~admin.secret-for-local-use-only"
#define CP_IDENTITY_TOKEN_LIFETIME       CMK_HOUR

struct cp_identity_defaults {
    const char *tenant_id;
    const char *tenant_domain;
    const char *subscription_id;
    const char *admin_client_id;
    const char *admin_object_id;
    const char *admin_client_secret;
};

/* The pre-provisioned tenant, subscription and admin service principal (constants). */
void cp_identity_defaults(struct cp_identity_defaults *out);

struct cp_identity;

/* Migrate the tables, provision the defaults on first start, create (or read) the managed
 * identity endpoint's header secret DIR/keys/identity-header, register the routes on the
 * runtime's router and the principal check on rt->auth. */
int cp_identity_init(struct cp_identity **out, struct cmk_runtime *rt, struct cmk_err *err)
    __attribute__((warn_unused_result));
void cp_identity_free(struct cp_identity *ids);
/* Add "defaults" {tenantId, subscriptionId, clientId, clientSecret} and "managedIdentity"
 * {endpoint, header} to serve.json's description (tools/cli/env.c prints them). */
void cp_identity_describe(struct cp_identity *ids, json_t *out);
/* The managed identity endpoint's header secret (64 hex digits, NUL-terminated). */
const char *cp_identity_msi_header(const struct cp_identity *ids);

/* ---- the directory (what Microsoft Graph would manage) ---- */

/* id NULL: a GUID from the generator. domain NULL: "<first 8 of id>.onmicrosoft.com".
 * out_id (37 bytes) may be NULL. 409 if the id or domain exists. */
int cp_identity_tenant_create(struct cp_identity *ids, const char *id, const char *domain,
                              char *out_id, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Resolve a tenant id or domain (case-insensitive) to its id (37 bytes). */
int cp_identity_tenant_find(struct cmk_runtime *rt, const char *name, char *out_id,
                            struct cmk_err *err) __attribute__((warn_unused_result));

struct cp_principal {
    char tenant[37];
    char object_id[37]; /* "oid" / principalId */
    char client_id[37]; /* "appid" / clientId */
    char kind[4];       /* "sp" or "mi" */
    char display_name[128];
    char resource_id[512]; /* managed identities: the ARM id (xms_mirid); else empty */
};

/* A service principal with a secret. secret NULL: a random one is generated and returned in
 * *secret_out (caller frees; may be NULL when secret is given). Only a salted PBKDF2 hash of
 * the secret is stored. */
int cp_identity_sp_create(struct cp_identity *ids, const char *tenant, const char *display_name,
                          const char *secret, struct cp_principal *out, char **secret_out,
                          struct cmk_err *err) __attribute__((warn_unused_result));
int cp_identity_sp_delete(struct cp_identity *ids, const char *client_id, struct cmk_err *err)
    __attribute__((warn_unused_result));

/* ---- user-assigned managed identities ---- */

struct cp_managed_identity {
    struct cp_principal p;
    char subscription[64];
    char resource_group[96];
    char name[128];
    char location[64];
    char isolation_scope[16]; /* "None", "Regional" or empty */
    json_t *tags;             /* owned; NULL for none */
};

void cp_managed_identity_close(struct cp_managed_identity *mi);
/* Create or update (tags, isolation scope; the location is fixed at creation) without going
 * through HTTP: scenarios and tests. *created tells which. tags may be NULL (not stolen).
 * tenant NULL: the subscription's (ARM core) or the default tenant. With the ARM core open
 * the resource is stored there too, so its resource group must exist (404 otherwise). */
int cp_identity_mi_put(struct cp_identity *ids, const char *subscription,
                       const char *resource_group, const char *name, const char *location,
                       const char *tenant, json_t *tags, const char *isolation_scope,
                       struct cp_managed_identity *out, int *created, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Look up by ARM resource id, client id or principal (object) id. */
int cp_identity_mi_get(struct cmk_runtime *rt, const char *ref, struct cp_managed_identity *out,
                       struct cmk_err *err) __attribute__((warn_unused_result));
/* Delete (and its ARM resource): its tokens stop verifying and the managed identity endpoint
 * refuses it. 404 if absent. */
int cp_identity_mi_delete(struct cp_identity *ids, const char *subscription,
                          const char *resource_group, const char *name, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* The ARM representation (Microsoft.ManagedIdentity/userAssignedIdentities). New ref. */
json_t *cp_identity_mi_json(const struct cp_managed_identity *mi);

/* ---- tokens ---- */

/* Issue a token AS the managed identity ref (ARM id or client id) for audience (a resource
 * such as "https://vault.azure.net"; a "/.default" suffix is dropped), the way IMDS would for
 * the service that holds the identity. Fails with 400 if the identity does not exist. */
int cp_identity_token(struct cmk_runtime *rt, const char *ref, const char *audience, char **token,
                      struct cmk_err *err) __attribute__((warn_unused_result));
/* The same for a service principal by client id (scenarios acting as an administrator). */
int cp_identity_sp_token(struct cmk_runtime *rt, const char *client_id, const char *audience,
                         char **token, struct cmk_err *err) __attribute__((warn_unused_result));

#endif
