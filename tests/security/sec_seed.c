/* sec_seed.c: the security matrix's second tenant. cmksim serve has no route that creates a
 * tenant (the directory is the cloud's, not the customer's), so the matrix stops the server,
 * runs this on its state directory, and starts it again:
 *
 *   sec_seed DATA_DIR TENANT_ID SUBSCRIPTION_ID SECRET
 *
 * adds tenant TENANT_ID (domain sec-other.onmicrosoft.com), subscription SUBSCRIPTION_ID in it
 * and a service principal "sec-other-admin" with SECRET, through the same functions the
 * scenario runner's tenant.create uses, and prints {"tenantId", "subscriptionId", "clientId",
 * "objectId"} on stdout. Exit 0, or 1 with the reason on stderr. Never run it while a serve
 * holds the directory.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/arm.h"
#include "common/runtime.h"
#include "controlplane/identity.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sec_seed DATA_DIR TENANT_ID SUBSCRIPTION_ID SECRET\n");
        return 2;
    }
    struct cmk_err err;
    cmk_err_clear(&err);
    struct cmk_runtime rt;
    struct cmk_runtime_opts o = {
        .data_dir = argv[1],
        .clock_mode = CMK_CLOCK_VIRTUAL,
        .clock_start = CMK_CLOCK_START_NOW,
        .speed = 1,
        .seed = 7,
    };
    if (cmk_runtime_open(&rt, NULL, &o, &err) != 0) {
        fprintf(stderr, "sec_seed: %s\n", err.message);
        return 1;
    }
    struct cmk_arm *arm = NULL;
    struct cp_identity *ids = NULL;
    struct cp_principal p;
    int rc = 1;
    if (cmk_arm_open(&arm, &rt, &err) != 0 || cp_identity_init(&ids, &rt, &err) != 0)
        goto out;
    char tid[37];
    if (cp_identity_tenant_create(ids, argv[2], "sec-other.onmicrosoft.com", tid, &err) != 0 ||
        cmk_arm_subscription_add(arm, argv[3], tid, "sec-other", &err) != 0 ||
        cp_identity_sp_create(ids, tid, "sec-other-admin", argv[4], &p, NULL, &err) != 0)
        goto out;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "tenantId", tid, "subscriptionId", argv[3],
                          "clientId", p.client_id, "objectId", p.object_id);
    char *s = json_dumps(j, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(j);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "sec_seed: %s\n", err.message);
    cp_identity_free(ids);
    cmk_arm_free(arm);
    cmk_runtime_close(&rt);
    return rc;
}
