/* hsm.h: Azure Key Vault Managed HSM, the second flavour of the key engine vaultsim shares.
 *
 * hsm_service is the Managed HSM service of one runtime:
 *   - the ARM resource provider Microsoft.KeyVault/managedHSMs on the ARM core (hsm.c, the
 *     managed HSM flavour of vaultsim's container: vaultsim/container.h):
 *     PUT (a long-running create; createMode "recover" brings a soft-deleted HSM back), GET,
 *     LIST, PATCH, DELETE (long-running; the HSM is soft-deleted), deletedManagedHSMs
 *     list/get/purge, checkMhsmNameAvailability, and the clock's purge at the end of retention;
 *   - the keys data plane of vaultsim (keys_api.h) on https://NAME.managedhsm.azure.net and
 *     NAME.managedhsm.<suffix>, with the HSM's policy (hsm_keys.c): HSM key types only
 *     (RSA-HSM, EC-HSM, oct-HSM), local RBAC only, soft delete always on, the same token, tenant,
 *     network, throttling and audit code as a vault;
 *   - local RBAC (hsm_rbac.c): the built-in Managed HSM roles, custom role definitions, role
 *     assignments at "/", "/keys" and "/keys/{name}" on the HSM host;
 *   - the security domain (hsm_sd.c): a new HSM refuses every data-plane call but the
 *     download of its security domain; once downloaded (a real blob: the domain's secret split
 *     with Shamir's scheme into shares, each encrypted to one of the customer's certificates),
 *     the HSM becomes Active after a short delay on the clock.
 *
 * The audit log of an HSM (AuditEvent JSON lines, as in vaultsim) is read with hsm_audit_read,
 * or on the management host: GET /_cmksim/managedHSMs/{hsm}/audit (a management token of the
 * HSM's tenant).
 *
 * Call hsm_open after cmk_arm_open. Ownership: the runtime outlives the service. One loop thread.
 */
#ifndef HSM_HSM_H
#define HSM_HSM_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"

struct cmk_runtime;
struct hsm_service;

#define HSM_TYPE "Microsoft.KeyVault/managedHSMs"

int hsm_open(struct hsm_service **out, struct cmk_runtime *rt, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* NULL is fine. */
void hsm_free(struct hsm_service *h);

/* How long provisioning (create, recover) and activation (after the security domain download)
 * take on the clock. Defaults: 2 s and 2 s (the service takes minutes; scenarios set their
 * own). */
void hsm_set_timing(struct hsm_service *h, cmk_time_t provision, cmk_time_t activation);
/* Default data-plane throttling for HSMs without a "cmksim-throttle" tag (as vaultsim). */
void hsm_set_throttle(struct hsm_service *h, double rate, double burst);

/* The activation status the ARM resource shows: "NotActivated", "Active"; NULL if no live HSM
 * of that name. */
const char *hsm_activation_status(struct hsm_service *h, const char *name);

/* An HSM's audit log as JSON lines (events after seq after); 404 if no such HSM (live or
 * deleted). */
int hsm_audit_read(struct hsm_service *h, const char *name, int64_t after, struct cmk_buf *out,
                   int64_t *last, struct cmk_err *err);

/* ---- security domain helpers (for clients in tests, the scenario runner and the CLI) ------- */

/* n RSA-2048 key pairs with self-signed certificates, as the security-domain download wants
 * them: *certs gets a JSON array of JWKs (kty, n, e, x5c, x5t#S256, key_ops, alg, kid); keys[i]
 * the private keys (caller frees with EVP_PKEY_free). n <= 10. */
int hsm_sd_make_certificates(size_t n, json_t **certs, EVP_PKEY **keys, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Recover the domain's secret from a downloaded security domain (the "value" text) with at
 * least "required" of the private keys, as `az keyvault security-domain restore-blob` does:
 * decrypt the shares, combine them, then decrypt the domain's data. *secret (malloc'd, caller
 * cleanses and frees) gets the plaintext of the first datum. Checks every tag. */
int hsm_sd_recover(const char *value, EVP_PKEY *const *keys, size_t nkeys, unsigned char **secret,
                   size_t *len, struct cmk_err *err) __attribute__((warn_unused_result));

#endif
