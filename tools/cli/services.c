/* services.c: which services run in a cmksim process, in start order (see services.h).
 * Each service is registered here and nowhere else: the ARM core first (providers register
 * on it), then identity (tokens), then the key services, then the PostgreSQL control and data
 * planes. */
#include "services.h"

#include "common/arm.h"
#include "controlplane/identity.h"
#include "controlplane/server.h"
#include "dataplane/server.h"
#include "hsmsim/hsm.h"
#include "vaultsim/vault.h"
#include "scenarios/runner.h"

static struct cmk_arm *arm;
static struct cp_identity *identity;
static struct vs_vaults *vaults;
static struct hsm_service *hsms;
static struct cp_servers *servers;
static struct dp_servers *dataplane;

int services_start(struct cmk_runtime *rt, struct cmk_err *err)
{
    if (cmk_arm_open(&arm, rt, err) != 0)
        return -1;
    if (cp_identity_init(&identity, rt, err) != 0)
        return -1;
    if (vs_vaults_open(&vaults, rt, err) != 0)
        return -1;
    if (hsm_open(&hsms, rt, err) != 0)
        return -1;
    if (cp_servers_open(&servers, rt, err) != 0)
        return -1;
    /* The data plane: PostgreSQL listeners (each server's own port and the shared SNI port)
     * when the process serves sockets (TLS is open), the in-process door otherwise. */
    if (dp_servers_open(&dataplane, rt, servers, rt->tls != NULL && rt->loop != NULL, "127.0.0.1",
                        0, err) != 0)
        return -1;
    struct cp_dataplane_ops ops;
    dp_servers_ops(dataplane, &ops);
    cp_servers_set_dataplane(servers, &ops);
    cmk_arm_op_fail_orphans(arm);
    return 0;
}

void services_stop(struct cmk_runtime *rt)
{
    (void)rt;
    dp_servers_stop(dataplane);
}

void services_close(struct cmk_runtime *rt)
{
    (void)rt;
    if (servers)
        cp_servers_set_dataplane(servers, NULL);
    dp_servers_free(dataplane);
    dataplane = NULL;
    cp_servers_free(servers);
    servers = NULL;
    hsm_free(hsms);
    hsms = NULL;
    vs_vaults_free(vaults);
    vaults = NULL;
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
    return dp_servers_shared_port(dataplane);
}

void services_scenario(struct cmk_runtime *rt, struct sc_services *out)
{
    (void)rt;
    out->arm = arm;
    out->identity = identity;
    out->vaults = vaults;
    out->servers = servers;
    out->pgwire = dataplane ? dp_servers_endpoint(dataplane) : NULL;
}
