/* services.c: which services run in a cmksim process, in start order (see services.h).
 * Each service is registered here and nowhere else: the ARM core first (providers register
 * on it), then identity (tokens), then the key services, then the PostgreSQL control and data
 * planes. */
#include "services.h"

#include "common/arm.h"
#include "controlplane/identity.h"

static struct cmk_arm *arm;
static struct cp_identity *identity;

int services_start(struct cmk_runtime *rt, struct cmk_err *err)
{
    if (cmk_arm_open(&arm, rt, err) != 0)
        return -1;
    if (cp_identity_init(&identity, rt, err) != 0)
        return -1;
    return 0;
}

void services_stop(struct cmk_runtime *rt)
{
    (void)rt;
}

void services_close(struct cmk_runtime *rt)
{
    (void)rt;
    cp_identity_free(identity);
    identity = NULL;
    cmk_arm_free(arm);
    arm = NULL;
}

void services_describe(struct cmk_runtime *rt, json_t *out)
{
    (void)rt;
    cp_identity_describe(identity, out);
}

int services_pg_port(struct cmk_runtime *rt)
{
    (void)rt;
    return 0;
}
