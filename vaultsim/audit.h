/* audit.h: the audit log of vaults and managed HSMs (rule R17: who, what, result).
 *
 * Every data-plane request, allowed or refused, becomes one AuditEvent (keys_api.c builds it;
 * the shape follows Azure Monitor's Key Vault AuditEvent: time, category, operationName,
 * resultType, resultSignature, callerIpAddress, identity.claim, properties.id ...). Events are
 * kept per container (the engine space id, "vault/NAME") in the state database (table
 * vs_audit, module "vaultsim-audit") and read back as JSON lines.
 *
 * Writes are batched: appended events wait in memory for at most 250 ms of clock time (or 512
 * events) and are then written in one transaction, so an unwrapKey does not pay an fsync for
 * its audit line. A read flushes first. Listeners see each event at once (the dashboard, the
 * scenario runner's trace). Timestamps come from the clock.
 *
 * Ownership: append steals the event. One loop thread.
 */
#ifndef VS_AUDIT_H
#define VS_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct cmk_runtime;
struct vs_audit;

int vs_audit_open(struct vs_audit **out, struct cmk_runtime *rt, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Flushes what is pending. NULL is fine. */
void vs_audit_free(struct vs_audit *a);
/* Steals event. */
void vs_audit_append(struct vs_audit *a, const char *space_id, json_t *event);
int vs_audit_flush(struct vs_audit *a);
/* Append to out the events of space with sequence > after (oldest first, at most max, 0: no
 * limit), one JSON object per line, each with its "seq". *last gets the last seq written (or
 * after). */
int vs_audit_read(struct vs_audit *a, const char *space_id, int64_t after, size_t max,
                  struct cmk_buf *out, int64_t *last, struct cmk_err *err);
/* Drop a container's events (it was purged). */
int vs_audit_forget(struct vs_audit *a, const char *space_id);
/* Up to 8 listeners; event is borrowed. */
typedef void (*vs_audit_cb)(void *data, const char *space_id, const json_t *event);
int vs_audit_listen(struct vs_audit *a, vs_audit_cb cb, void *data);

#endif
