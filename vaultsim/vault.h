/* vault.h: Azure Key Vault, the vault flavour of the key engine.
 *
 * vs_vaults is the Key Vault service of one runtime:
 *   - the ARM resource provider Microsoft.KeyVault/vaults on the ARM core (common/arm.h):
 *     PUT/GET/LIST/PATCH/DELETE, accessPolicies/{add|replace|remove}, deletedVaults
 *     list/get/purge, recover (PUT with properties.createMode "recover"),
 *     checkNameAvailability, and the validation rules of the service (vault_arm.c, the vault
 *     flavour of the container both key stores share: container.h);
 *   - Microsoft.Authorization roleAssignments and roleDefinitions at subscription, resource
 *     group, vault and key scope, with the built-in Key Vault roles (vault_rbac.c);
 *   - the keys data plane on https://NAME.vault.azure.net (and NAME.vault.<suffix>) through
 *     keys_api.h, with the vault's policy: access policies or RBAC, firewall, tenant,
 *     throttling, audit (vault.c);
 *   - the audit log route (cmksim's own, on the management host):
 *       GET /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}/
 *           auditEvents?api-version=...[&after=SEQ][&top=N]          (ARM token of the tenant)
 *       GET /_cmksim/vaults/{v}/audit[?after=SEQ]                    (same token)
 *     both answer application/x-ndjson, one AuditEvent per line (audit.h).
 *
 * A soft-deleted vault keeps its keys (engine space "vault/NAME") until it is purged, by
 * request or by the clock at its scheduled purge date (table vs_deleted_vaults).
 *
 * Call vs_vaults_open after cmk_arm_open. Ownership: the runtime outlives vs_vaults. One loop
 * thread.
 */
#ifndef VS_VAULT_H
#define VS_VAULT_H

#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct cmk_runtime;
struct vs_vaults;
struct vs_engine;
struct vs_audit;

#define VS_VAULT_TYPE "Microsoft.KeyVault/vaults"

int vs_vaults_open(struct vs_vaults **out, struct cmk_runtime *rt, struct cmk_err *err)
    __attribute__((warn_unused_result));
void vs_vaults_free(struct vs_vaults *v);

struct vs_engine *vs_vaults_engine(struct vs_vaults *v);
struct vs_audit *vs_vaults_audit(struct vs_vaults *v);
/* Default data-plane throttling (requests/s, burst) for vaults without a "cmksim-throttle"
 * tag; rate <= 0 turns it off. */
void vs_vaults_set_throttle(struct vs_vaults *v, double rate, double burst);
/* A vault's audit log as JSON lines (for the CLI and the scenario runner): events after seq
 * after; *last gets the last seq. 404 if no such vault (live or deleted). */
int vs_vaults_audit_read(struct vs_vaults *v, const char *vault, int64_t after, struct cmk_buf *out,
                         int64_t *last, struct cmk_err *err);

#endif
