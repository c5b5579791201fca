/* auth.h: bearer tokens. The emulated login service issues RS256 JWTs; every service verifies
 * them here, the same way for both doors of the router.
 *
 * The token-signing key is created on first start and kept sealed under the root key
 * (rootkey.h) in DIR/keys/token-signing.key (mode 0600), reused after; a file that does not
 * open stops the start. (Older versions kept it in clear in token-signing.pem: that file is
 * deleted unread and a new key made, so tokens issued before simply stop verifying.)
 * Verification accepts RS256 signed by that key only ("alg":"none", HS256 and foreign keys are
 * refused), checks nbf/exp against the clock (5 minutes of skew, like Entra ID), the audience
 * against the caller's list, and asks the identity registry (a hook set by the control plane)
 * whether the principal still exists, so a deleted managed identity's tokens stop working at
 * once.
 */
#ifndef CMK_AUTH_H
#define CMK_AUTH_H

#include <jansson.h>

#include "clock.h"
#include "err.h"

struct cmk_principal {
    char tid[64];   /* tenant id */
    char oid[64];   /* object id of the principal */
    char appid[64]; /* client id */
    char aud[256];  /* audience, e.g. "https://vault.azure.net" */
    char iss[256];
    char idtyp[16];  /* "app" for service principals, "mi" for managed identities */
    char mirid[512]; /* managed identity resource id (xms_mirid), may be empty */
    cmk_time_t iat, nbf, exp;
};

/* Answers whether principal oid of tenant tid exists now (1) or not (0). */
typedef int (*cmk_principal_check_fn)(void *data, const char *tid, const char *oid);

struct cmk_auth;

/* The sealed key file under DIR/keys/ and its sealing label, for tools that seed a known key
 * with cmk_rootkey_write_pkey (the JWT fuzzer). */
#define CMK_AUTH_KEY_FILE  "token-signing.key"
#define CMK_AUTH_KEY_LABEL "auth token-signing key"

int cmk_auth_open(struct cmk_auth **out, const char *dir, struct cmk_err *err)
    __attribute__((warn_unused_result));
void cmk_auth_free(struct cmk_auth *a);
void cmk_auth_set_principal_check(struct cmk_auth *a, cmk_principal_check_fn fn, void *data);
/* Sign claims (iat/nbf/exp as given) into a compact JWT; *token is malloc'd (caller frees). */
int cmk_auth_issue(struct cmk_auth *a, const struct cmk_principal *claims, char **token,
                   struct cmk_err *err) __attribute__((warn_unused_result));
/* header: the Authorization header value ("Bearer eyJ..."), may be NULL. audiences: NULL-
 * terminated list of accepted aud values (a trailing "/" is ignored). On failure err holds
 * 401 and the reason (no token / bad signature / expired / wrong audience / unknown principal).
 */
int cmk_auth_verify(struct cmk_auth *a, const char *header, cmk_time_t now,
                    const char *const *audiences, struct cmk_principal *out, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* The JSON Web Key Set of the signing key (for the OpenID discovery "jwks_uri"). New ref. */
json_t *cmk_auth_jwks(struct cmk_auth *a);
const char *cmk_auth_kid(const struct cmk_auth *a);

#endif
