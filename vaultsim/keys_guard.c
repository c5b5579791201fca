/* keys_guard.c: the small pieces of the request pipeline that are data, not flow (see
 * keys_api.h): permission names, network rules (publicNetworkAccess, networkAcls with IPv4
 * CIDR ipRules and the AzureServices bypass). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keys_api.h"

static const char *const perm_names[VS_PERM__COUNT] = {
    [VS_PERM_GET] = "get",
    [VS_PERM_LIST] = "list",
    [VS_PERM_CREATE] = "create",
    [VS_PERM_IMPORT] = "import",
    [VS_PERM_UPDATE] = "update",
    [VS_PERM_DELETE] = "delete",
    [VS_PERM_RECOVER] = "recover",
    [VS_PERM_PURGE] = "purge",
    [VS_PERM_BACKUP] = "backup",
    [VS_PERM_RESTORE] = "restore",
    [VS_PERM_ENCRYPT] = "encrypt",
    [VS_PERM_DECRYPT] = "decrypt",
    [VS_PERM_SIGN] = "sign",
    [VS_PERM_VERIFY] = "verify",
    [VS_PERM_WRAP] = "wrapKey",
    [VS_PERM_UNWRAP] = "unwrapKey",
    [VS_PERM_ROTATE] = "rotate",
    [VS_PERM_GETROTATIONPOLICY] = "getrotationpolicy",
    [VS_PERM_SETROTATIONPOLICY] = "setrotationpolicy",
    [VS_PERM_RELEASE] = "release",
    [VS_PERM_RANDOM] = "random",
    [VS_PERM_GETDELETED] = "get",
};

const char *vs_perm_name(enum vs_perm p)
{
    return p >= 0 && p < VS_PERM__COUNT ? perm_names[p] : "";
}

int vs_perm_parse(const char *s, enum vs_perm *out)
{
    for (int i = 0; s && i < VS_PERM__COUNT; i++)
        if (strcasecmp(s, perm_names[i]) == 0) {
            *out = (enum vs_perm)i;
            return 0;
        }
    return CMK_EINVAL;
}

/* "1.2.3.4" or "1.2.3.0/24" (the ARM ipRules value). */
static int parse_cidr(const char *s, struct vs_iprule *r)
{
    char addr[32];
    int bits = 32;
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(addr))
        return -1;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (*end != '\0' || end == slash + 1 || b < 0 || b > 32)
            return -1;
        bits = (int)b;
    }
    struct in_addr in;
    if (inet_pton(AF_INET, addr, &in) != 1)
        return -1;
    r->mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    r->net = ntohl(in.s_addr) & r->mask;
    return 0;
}

int vs_netrules_parse(const json_t *acls, const char *pna, struct vs_netrules *out,
                      struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    out->bypass_azure = 1;
    if (pna && *pna) {
        if (strcasecmp(pna, "disabled") == 0)
            out->public_disabled = 1;
        else if (strcasecmp(pna, "enabled") != 0)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                               "Invalid value '%s' for publicNetworkAccess: use Enabled or "
                               "Disabled.",
                               pna);
    }
    if (acls == NULL || json_is_null(acls))
        return 0;
    if (!json_is_object(acls))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest", "networkAcls must be an object.");
    const char *def = json_string_value(json_object_get(acls, "defaultAction"));
    const char *bypass = json_string_value(json_object_get(acls, "bypass"));
    if (def && strcasecmp(def, "deny") == 0)
        out->deny = 1;
    else if (def && strcasecmp(def, "allow") != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                           "Invalid value '%s' for networkAcls.defaultAction: use Allow or Deny.",
                           def);
    if (bypass && strcasecmp(bypass, "none") == 0)
        out->bypass_azure = 0;
    else if (bypass && strcasecmp(bypass, "azureservices") != 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                           "Invalid value '%s' for networkAcls.bypass: use AzureServices or None.",
                           bypass);
    const json_t *rules = json_object_get(acls, "ipRules");
    if (rules != NULL && !json_is_null(rules) && !json_is_array(rules))
        return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                           "networkAcls.ipRules must be an array.");
    size_t i;
    const json_t *r;
    json_array_foreach(rules, i, r)
    {
        const char *v = json_string_value(json_object_get(r, "value"));
        if (out->nrules == sizeof(out->rules) / sizeof(out->rules[0]))
            return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                               "At most %zu IP rules are supported.",
                               sizeof(out->rules) / sizeof(out->rules[0]));
        if (v == NULL || parse_cidr(v, &out->rules[out->nrules]) != 0)
            return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest",
                               "The IP rule '%s' is not a valid IPv4 address or CIDR range.",
                               v ? v : "");
        out->nrules++;
    }
    return 0;
}

int vs_netrules_match(const struct vs_netrules *n, const char *addr)
{
    struct in_addr in;
    if (addr == NULL || inet_pton(AF_INET, addr, &in) != 1)
        return 0;
    uint32_t a = ntohl(in.s_addr);
    for (size_t i = 0; i < n->nrules; i++)
        if ((a & n->rules[i].mask) == n->rules[i].net)
            return 1;
    return 0;
}
