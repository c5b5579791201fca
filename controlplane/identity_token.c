/* identity_token.c: what a token says and for whom: the audience a scope or resource maps to,
 * the claims of a token for a principal (v1 issuer for Azure resource audiences, as Entra ID
 * does for Key Vault and ARM), and the in-process door for services that act as a managed
 * identity (cp_identity_token), the way IMDS serves the service that holds the identity.
 */
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"

/* Resources Entra ID would know and that a client of this emulator may ask a token for.
 * The local suffix's names (vault.<suffix>...) are accepted as well. */
static const char *const cloud_resources[] = {
    "vault.azure.net",
    "managedhsm.azure.net",
    "management.azure.com",
    "management.core.windows.net",
    "ossrdbms-aad.database.windows.net",
    "database.windows.net",
    "graph.microsoft.com",
    "graph.windows.net",
    "storage.azure.com",
    NULL,
};

static const char *const local_resources[] = {"vault", "managedhsm", "management", "postgres",
                                              NULL};

static int known_host(const struct cmk_hosts *hosts, const char *host, size_t n)
{
    for (size_t i = 0; cloud_resources[i]; i++)
        if (strlen(cloud_resources[i]) == n && strncasecmp(host, cloud_resources[i], n) == 0)
            return 1;
    char local[256];
    for (size_t i = 0; local_resources[i]; i++) {
        int l = snprintf(local, sizeof(local), "%s.%s", local_resources[i], hosts->suffix);
        if (l > 0 && (size_t)l == n && strncasecmp(host, local, n) == 0)
            return 1;
    }
    return 0;
}

int cp__identity_audience(const struct cmk_hosts *hosts, const char *resource, char *aud, size_t n)
{
    if (resource == NULL)
        return -1;
    size_t len = strlen(resource);
    static const char dflt[] = "/.default";
    if (len > sizeof(dflt) - 1 && strcasecmp(resource + len - (sizeof(dflt) - 1), dflt) == 0)
        len -= sizeof(dflt) - 1;
    if (len == 0 || len >= n)
        return -1;
    const char *host;
    if (strncasecmp(resource, "https://", 8) == 0)
        host = resource + 8;
    else if (strncasecmp(resource, "http://", 7) == 0)
        host = resource + 7;
    else
        return -1;
    size_t hl = strcspn(host, ":/?#");
    if (host + hl > resource + len)
        hl = (size_t)(resource + len - host);
    if (!known_host(hosts, host, hl))
        return -1;
    memcpy(aud, resource, len);
    aud[len] = '\0';
    return 0;
}

int cp__identity_issue(struct cmk_runtime *rt, const struct cp_principal *p, const char *aud,
                       const char *login_host, char **token, cmk_time_t *exp, struct cmk_err *err)
{
    struct cmk_principal c;
    memset(&c, 0, sizeof(c));
    snprintf(c.tid, sizeof(c.tid), "%s", p->tenant);
    snprintf(c.oid, sizeof(c.oid), "%s", p->object_id);
    snprintf(c.appid, sizeof(c.appid), "%s", p->client_id);
    snprintf(c.aud, sizeof(c.aud), "%s", aud);
    snprintf(c.idtyp, sizeof(c.idtyp), "%s", strcmp(p->kind, "mi") == 0 ? "mi" : "app");
    snprintf(c.mirid, sizeof(c.mirid), "%s", p->resource_id);
    /* Azure resources (a URL audience) get v1 tokens, like Key Vault and ARM in the cloud. */
    if (strncasecmp(aud, "https://", 8) == 0 || strncasecmp(aud, "http://", 7) == 0)
        snprintf(c.iss, sizeof(c.iss), "https://sts.windows.net/%s/", p->tenant);
    else
        snprintf(c.iss, sizeof(c.iss), "https://%s/%s/v2.0",
                 login_host ? login_host : "login.microsoftonline.com", p->tenant);
    cmk_time_t now = cmk_clock_now(&rt->clock);
    c.iat = c.nbf = now - now % CMK_SECOND;
    /* An hour of wall time whatever the clock's speed (`cmksim serve --speed 60`): clients
     * cache tokens by the wall clock (expires_in), and would otherwise send expired ones. */
    c.exp = c.iat + cmk_clock_span(&rt->clock, CP_IDENTITY_TOKEN_LIFETIME);
    if (exp != NULL)
        *exp = c.exp;
    return cmk_auth_issue(rt->auth, &c, token, err);
}

static int token_for(struct cmk_runtime *rt, const char *kind, const char *ref,
                     const char *audience, char **token, struct cmk_err *err)
{
    *token = NULL;
    struct cp_principal p;
    if (cp__identity_principal_find(rt, ref, &p) != 0 || strcmp(p.kind, kind) != 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 400, "IdentityNotFound",
                           strcmp(kind, "mi") == 0
                               ? "Unable to load the proper Managed Identity '%s'."
                               : "Application with identifier '%s' was not found.",
                           ref ? ref : "");
    char aud[256];
    if (cp__identity_audience(&rt->hosts, audience, aud, sizeof(aud)) != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "invalid_resource",
                           "The resource principal named %s was not found in the tenant.",
                           audience ? audience : "");
    return cp__identity_issue(rt, &p, aud, NULL, token, NULL, err);
}

int cp_identity_token(struct cmk_runtime *rt, const char *ref, const char *audience, char **token,
                      struct cmk_err *err)
{
    return token_for(rt, "mi", ref, audience, token, err);
}

int cp_identity_sp_token(struct cmk_runtime *rt, const char *client_id, const char *audience,
                         char **token, struct cmk_err *err)
{
    return token_for(rt, "sp", client_id, audience, token, err);
}
