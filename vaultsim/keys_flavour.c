/* keys_flavour.c: the keys data plane's pipeline for routes a flavour adds on its own host
 * (keys_api.h, "a flavour's own routes"): Managed HSM's security domain and local RBAC routes
 * get the same container lookup, token, tenant, network, api-version, activation, throttling,
 * response headers and audit as the key routes, from the same code (keys_api.c). */
#include <stdlib.h>

#include "common/buf.h"
#include "keys_int.h"

int vs_keys_call_begin(struct vs_keys *ks, struct cmk_request *req, struct cmk_response *res,
                       const char *op, unsigned flags, struct vs_call **out)
{
    struct vs_call *call = cmk_xcalloc(1, sizeof(*call));
    *out = call;
    return vs__call_begin_flags(call, ks, req, res, VS_PERM__COUNT, op,
                                (flags & VS_KEYS_CALL_INACTIVE_OK) | VS__CALL_FLAVOUR);
}

const struct vs_container *vs_keys_call_container(const struct vs_call *call)
{
    return &call->c;
}

const struct cmk_principal *vs_keys_call_principal(const struct vs_call *call)
{
    return &call->p;
}

void vs_keys_call_fail(struct vs_call *call, const struct cmk_err *err)
{
    call->err = *err;
    vs__call_fail(call);
}

void vs_keys_call_end(struct vs_call *call)
{
    if (call == NULL)
        return;
    vs__call_end(call);
    free(call);
}
