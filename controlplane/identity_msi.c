/* identity_msi.c: the managed identity endpoint in the style of App Service (api-version
 * 2019-08-01), on the management host: GET /msi/token?resource=R&api-version=2019-08-01 with
 * one of client_id, object_id/principal_id or mi_res_id, and the header X-IDENTITY-HEADER equal
 * to the secret in DIR/keys/identity-header. This is what @azure/identity's
 * ManagedIdentityCredential (through msal-node's AppService source) calls when IDENTITY_ENDPOINT
 * and IDENTITY_HEADER are set; it reads access_token, expires_on (epoch seconds, a string),
 * resource and token_type. Errors use App Service's {statusCode, message, correlationId}.
 *
 * There is no system-assigned identity: a request that names no identity is refused, like an
 * App Service app that only has user-assigned ones. A deleted identity is refused too.
 */
#include "identity_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"

static void msi_error(struct cp_identity *ids, struct cmk_response *res, int status,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void msi_error(struct cp_identity *ids, struct cmk_response *res, int status,
                      const char *fmt, ...)
{
    char msg[512], corr[37];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cmk_rng_guid(&ids->trace_rng, corr);
    cmk_response_json(
        res, status,
        json_pack("{s:i, s:s, s:s}", "statusCode", status, "message", msg, "correlationId", corr));
}

static int header_ok(const struct cp_identity *ids, const char *got)
{
    size_t n = strlen(ids->msi_header);
    return got != NULL && strlen(got) == n && CRYPTO_memcmp(got, ids->msi_header, n) == 0;
}

static void msi_token(struct cmk_request *req, struct cmk_response *res, void *data)
{
    struct cp_identity *ids = data;
    if (!header_ok(ids, cmk_request_header(req, "x-identity-header"))) {
        msi_error(ids, res, 401,
                  "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.");
        return;
    }
    const char *apiv = cmk_request_query(req, "api-version");
    if (apiv == NULL || strcmp(apiv, "2019-08-01") != 0) {
        msi_error(ids, res, 400, "The api-version '%.32s' is not supported; use 2019-08-01.",
                  apiv ? apiv : "");
        return;
    }
    const char *resource = cmk_request_query(req, "resource");
    if (resource == NULL || *resource == '\0') {
        msi_error(ids, res, 400, "The request must name a resource.");
        return;
    }
    static const char *const selectors[] = {"client_id", "object_id",  "principal_id",
                                            "mi_res_id", "msi_res_id", NULL};
    const char *ref = NULL;
    int given = 0;
    for (size_t i = 0; selectors[i]; i++) {
        const char *v = cmk_request_query(req, selectors[i]);
        if (v != NULL && *v) {
            ref = v;
            given++;
        }
    }
    if (given > 1) {
        msi_error(ids, res, 400, "Only one of client_id, object_id or mi_res_id may be given.");
        return;
    }
    struct cp_managed_identity mi;
    if (ref == NULL || cp_identity_mi_get(ids->rt, ref, &mi, NULL) != 0) {
        msi_error(ids, res, 400, "Unable to load the proper Managed Identity.");
        return;
    }
    char aud[256], *token = NULL;
    cmk_time_t exp = 0;
    struct cmk_err err;
    int rc = 0;
    if (cp__identity_audience(&ids->rt->hosts, resource, aud, sizeof(aud)) != 0) {
        msi_error(ids, res, 400, "The resource '%.200s' is not known in tenant %s.", resource,
                  mi.p.tenant);
        rc = -1;
    } else if (cp__identity_issue(ids->rt, &mi.p, aud, NULL, &token, &exp, &err) != 0) {
        msi_error(ids, res, 500, "%s", err.message);
        rc = -1;
    }
    if (rc == 0) {
        char on[24];
        snprintf(on, sizeof(on), "%lld", (long long)(exp / CMK_SECOND));
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "access_token", token, "expires_on", on,
                      "resource", resource, "token_type", "Bearer", "client_id", mi.p.client_id);
        cmk_info("identity", "managed identity token for %s (%s)", mi.name, aud);
        cmk_response_json(res, 200, j);
    }
    free(token);
    cp_managed_identity_close(&mi);
}

void cp__identity_msi_routes(struct cp_identity *ids)
{
    cmk_router_add(&ids->rt->router, CMK_HOST_MGMT, "GET", "/msi/token", msi_token, ids);
}
