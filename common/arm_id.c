/* arm_id.c: the ARM core's small parsers and tables: resource ids (parse, format, compare),
 * the known regions with their geo pairs, and the OData-like $filter expressions that the
 * generic resources list and the activity log accept. See arm.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm_int.h"

/* ---- ids ---- */

int cmk__arm_split(char *s, char **segs, size_t max)
{
    size_t n = 0;
    char *p = s;
    while (*p) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        if (n == max)
            return -1;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return (int)n;
}

static int copy_seg(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l == 0 || l >= n)
        return -1;
    memcpy(dst, src, l + 1);
    return 0;
}

int cmk_arm_id_parse(const char *s, struct cmk_arm_id *id, struct cmk_err *err)
{
    memset(id, 0, sizeof(*id));
    char buf[CMK_ARM_ID_MAX];
    if (s == NULL || strlen(s) >= sizeof(buf) || s[0] != '/')
        goto bad;
    snprintf(buf, sizeof(buf), "%s", s);
    char *segs[4 + 3 + 2 * CMK_ARM_DEPTH_MAX];
    int n = cmk__arm_split(buf, segs, sizeof(segs) / sizeof(segs[0]));
    if (n < 2 || strcasecmp(segs[0], "subscriptions") != 0 ||
        copy_seg(id->sub, sizeof(id->sub), segs[1]) != 0)
        goto bad;
    int i = 2;
    if (i + 1 < n && strcasecmp(segs[i], "resourceGroups") == 0) {
        if (copy_seg(id->rg, sizeof(id->rg), segs[i + 1]) != 0)
            goto bad;
        i += 2;
    } else if (i < n && strcasecmp(segs[i], "resourceGroups") == 0) {
        goto bad;
    }
    if (i == n)
        return 0;
    if (strcasecmp(segs[i], "providers") != 0 || i + 1 >= n ||
        copy_seg(id->ns, sizeof(id->ns), segs[i + 1]) != 0)
        goto bad;
    i += 2;
    if ((n - i) < 2 || (n - i) % 2 != 0 || (size_t)(n - i) / 2 > CMK_ARM_DEPTH_MAX)
        goto bad;
    for (; i < n; i += 2) {
        if (copy_seg(id->types[id->depth], sizeof(id->types[0]), segs[i]) != 0 ||
            copy_seg(id->names[id->depth], sizeof(id->names[0]), segs[i + 1]) != 0)
            goto bad;
        id->depth++;
    }
    return 0;
bad:
    memset(id, 0, sizeof(*id));
    return cmk_err_set(err, CMK_EINVAL, 400, "InvalidResourceId",
                       "The resource id '%.600s' is not a valid Azure Resource Manager id.",
                       s ? s : "");
}

void cmk_arm_id_format(const struct cmk_arm_id *id, char *out, size_t n)
{
    size_t o = 0;
    int w = snprintf(out, n, "/subscriptions/%s", id->sub);
    o = w > 0 ? (size_t)w : 0;
    if (id->rg[0] && o < n)
        o += (size_t)snprintf(out + o, n - o, "/resourceGroups/%s", id->rg);
    if (id->depth > 0 && o < n)
        o += (size_t)snprintf(out + o, n - o, "/providers/%s", id->ns);
    for (size_t i = 0; i < id->depth && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "/%s/%s", id->types[i], id->names[i]);
}

void cmk__arm_type_join(const struct cmk_arm_id *id, size_t depth, char *out, size_t n)
{
    if (depth == 0) {
        if (n)
            out[0] = '\0';
        return;
    }
    size_t o = (size_t)snprintf(out, n, "%s", id->ns);
    for (size_t i = 0; i < depth && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "/%s", id->types[i]);
}

void cmk_arm_id_type(const struct cmk_arm_id *id, char *out, size_t n)
{
    cmk__arm_type_join(id, id->depth, out, n);
}

const char *cmk_arm_id_name(const struct cmk_arm_id *id)
{
    return id->depth ? id->names[id->depth - 1] : "";
}

int cmk_arm_id_parent(const struct cmk_arm_id *id, struct cmk_arm_id *parent)
{
    if (id->depth < 2)
        return CMK_ENOTFOUND;
    *parent = *id;
    parent->depth--;
    parent->types[parent->depth][0] = '\0';
    parent->names[parent->depth][0] = '\0';
    return 0;
}

int cmk_arm_id_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la && a[la - 1] == '/')
        la--;
    if (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

int cmk__arm_valid_guid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 39)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

unsigned cmk__arm_type_depth(const char *type)
{
    unsigned d = 0;
    for (const char *p = type; *p; p++)
        d += *p == '/';
    return d;
}

/* ---- base URL ---- */

void cmk__arm_base_url(const struct cmk_request *req, char *out, size_t n)
{
    const char *host = req ? cmk_request_header(req, "host") : NULL;
    if (host == NULL || host[0] == '\0' || strlen(host) > 255 || strpbrk(host, "/?#@ \t\r\n"))
        host = req && req->host && req->host[0] ? req->host : "management.azure.com";
    snprintf(out, n, "https://%s", host);
}

/* ---- locations ---- */

struct region {
    const char *name, *display, *geo, *pair;
};

static const struct region regions[] = {
    {"eastus", "East US", "US", "westus"},
    {"eastus2", "East US 2", "US", "centralus"},
    {"centralus", "Central US", "US", "eastus2"},
    {"westus", "West US", "US", "eastus"},
    {"westus2", "West US 2", "US", "westcentralus"},
    {"westus3", "West US 3", "US", "eastus"},
    {"westcentralus", "West Central US", "US", "westus2"},
    {"northcentralus", "North Central US", "US", "southcentralus"},
    {"southcentralus", "South Central US", "US", "northcentralus"},
    {"canadacentral", "Canada Central", "Canada", "canadaeast"},
    {"canadaeast", "Canada East", "Canada", "canadacentral"},
    {"brazilsouth", "Brazil South", "South America", "southcentralus"},
    {"northeurope", "North Europe", "Europe", "westeurope"},
    {"westeurope", "West Europe", "Europe", "northeurope"},
    {"uksouth", "UK South", "UK", "ukwest"},
    {"ukwest", "UK West", "UK", "uksouth"},
    {"francecentral", "France Central", "Europe", "francesouth"},
    {"francesouth", "France South", "Europe", "francecentral"},
    {"germanywestcentral", "Germany West Central", "Europe", "germanynorth"},
    {"germanynorth", "Germany North", "Europe", "germanywestcentral"},
    {"switzerlandnorth", "Switzerland North", "Europe", "switzerlandwest"},
    {"switzerlandwest", "Switzerland West", "Europe", "switzerlandnorth"},
    {"norwayeast", "Norway East", "Europe", "norwaywest"},
    {"norwaywest", "Norway West", "Europe", "norwayeast"},
    {"swedencentral", "Sweden Central", "Europe", "swedensouth"},
    {"swedensouth", "Sweden South", "Europe", "swedencentral"},
    {"eastasia", "East Asia", "Asia Pacific", "southeastasia"},
    {"southeastasia", "Southeast Asia", "Asia Pacific", "eastasia"},
    {"japaneast", "Japan East", "Asia Pacific", "japanwest"},
    {"japanwest", "Japan West", "Asia Pacific", "japaneast"},
    {"koreacentral", "Korea Central", "Asia Pacific", "koreasouth"},
    {"koreasouth", "Korea South", "Asia Pacific", "koreacentral"},
    {"australiaeast", "Australia East", "Asia Pacific", "australiasoutheast"},
    {"australiasoutheast", "Australia Southeast", "Asia Pacific", "australiaeast"},
    {"centralindia", "Central India", "Asia Pacific", "southindia"},
    {"southindia", "South India", "Asia Pacific", "centralindia"},
    {"southafricanorth", "South Africa North", "Africa", "southafricawest"},
    {"southafricawest", "South Africa West", "Africa", "southafricanorth"},
    {"uaenorth", "UAE North", "Middle East", "uaecentral"},
    {"uaecentral", "UAE Central", "Middle East", "uaenorth"},
};

#define NREGIONS (sizeof(regions) / sizeof(regions[0]))

static const struct region *region_find(const char *name)
{
    char key[64];
    size_t o = 0;
    for (const char *p = name; p && *p && o + 1 < sizeof(key); p++)
        if (!isspace((unsigned char)*p))
            key[o++] = (char)tolower((unsigned char)*p);
    key[o] = '\0';
    for (size_t i = 0; i < NREGIONS; i++)
        if (strcmp(regions[i].name, key) == 0)
            return &regions[i];
    return NULL;
}

int cmk_arm_location_normalize(const char *in, char *out, size_t n, const char *type,
                               struct cmk_err *err)
{
    const struct region *r = in ? region_find(in) : NULL;
    if (r == NULL) {
        if (type == NULL)
            return cmk_err_set(err, CMK_ENOTFOUND, 400, "LocationNotAvailable",
                               "The provided location '%.64s' is not available.", in ? in : "");
        char list[1024];
        size_t o = 0;
        for (size_t i = 0; i < NREGIONS && o < sizeof(list); i++)
            o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? "," : "",
                                  regions[i].display);
        return cmk_err_set(err, CMK_ENOTFOUND, 400, "LocationNotAvailableForResourceType",
                           "The provided location '%.64s' is not available for resource type "
                           "'%.192s'. List of available regions for the resource type is '%s'.",
                           in ? in : "", type, list);
    }
    snprintf(out, n, "%s", r->name);
    return 0;
}

const char *cmk_arm_location_display(const char *location)
{
    const struct region *r = region_find(location);
    return r ? r->display : NULL;
}

const char *cmk_arm_location_pair(const char *location)
{
    const struct region *r = region_find(location);
    return r ? r->pair : NULL;
}

json_t *cmk__arm_locations_json(const char *sub)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < NREGIONS; i++) {
        const struct region *r = &regions[i];
        char id[160], pid[160], regional[96];
        snprintf(id, sizeof(id), "/subscriptions/%s/locations/%s", sub, r->name);
        snprintf(pid, sizeof(pid), "/subscriptions/%s/locations/%s", sub, r->pair);
        snprintf(regional, sizeof(regional), "(%s) %s", r->geo, r->display);
        json_t *pair = json_pack("[{s:s, s:s}]", "name", r->pair, "id", pid);
        json_t *meta = json_pack("{s:s, s:s, s:s, s:o}", "regionType", "Physical", "regionCategory",
                                 "Recommended", "geographyGroup", r->geo, "pairedRegion", pair);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", id, "name",
                                             r->name, "type", "Region", "displayName", r->display,
                                             "regionalDisplayName", regional, "metadata", meta));
    }
    return arr;
}

/* ---- $filter ---- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A quoted value ('' is a quote) or a bare word, into out. */
static const char *read_value(const char *p, char *out, size_t n)
{
    size_t o = 0;
    if (*p == '\'') {
        p++;
        for (;;) {
            if (*p == '\0')
                return NULL;
            if (*p == '\'') {
                if (p[1] == '\'') {
                    p++;
                } else {
                    p++;
                    break;
                }
            }
            if (o + 1 >= n)
                return NULL;
            out[o++] = *p++;
        }
    } else {
        while (*p && *p != ' ' && *p != ')' && *p != ',') {
            if (o + 1 >= n)
                return NULL;
            out[o++] = *p++;
        }
        if (o == 0)
            return NULL;
    }
    out[o] = '\0';
    return p;
}

static const char *read_word(const char *p, char *out, size_t n)
{
    size_t o = 0;
    while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '/')) {
        if (o + 1 >= n)
            return NULL;
        out[o++] = *p++;
    }
    out[o] = '\0';
    return o ? p : NULL;
}

int cmk__arm_filter_parse(const char *s, struct arm_filter_term *terms, size_t max, size_t *n,
                          const char *code, struct cmk_err *err)
{
    *n = 0;
    const char *p = skip_ws(s ? s : "");
    if (*p == '\0')
        return 0;
    for (;;) {
        if (*n == max)
            return cmk_err_set(err, CMK_EINVAL, 400, code, "The $filter has too many terms.");
        struct arm_filter_term *t = &terms[(*n)++];
        memset(t, 0, sizeof(*t));
        char word[48];
        const char *q = read_word(p, word, sizeof(word));
        if (q == NULL)
            goto bad;
        q = skip_ws(q);
        if (strcasecmp(word, "substringof") == 0 && *q == '(') {
            q = read_value(skip_ws(q + 1), t->value, sizeof(t->value));
            if (q == NULL || *(q = skip_ws(q)) != ',')
                goto bad;
            q = read_word(skip_ws(q + 1), t->field, sizeof(t->field));
            if (q == NULL || *(q = skip_ws(q)) != ')')
                goto bad;
            snprintf(t->op, sizeof(t->op), "substringof");
            p = skip_ws(q + 1);
        } else {
            snprintf(t->field, sizeof(t->field), "%s", word);
            char op[8];
            q = read_word(q, op, sizeof(op));
            if (q == NULL)
                goto bad;
            if (strcasecmp(op, "eq") && strcasecmp(op, "ne") && strcasecmp(op, "ge") &&
                strcasecmp(op, "gt") && strcasecmp(op, "le") && strcasecmp(op, "lt"))
                goto bad;
            for (size_t i = 0; op[i]; i++)
                op[i] = (char)tolower((unsigned char)op[i]);
            snprintf(t->op, sizeof(t->op), "%s", op);
            q = read_value(skip_ws(q), t->value, sizeof(t->value));
            if (q == NULL)
                goto bad;
            p = skip_ws(q);
        }
        if (*p == '\0')
            return 0;
        if (strncasecmp(p, "and", 3) != 0 || (p[3] != ' ' && p[3] != '\t'))
            goto bad;
        p = skip_ws(p + 3);
    }
bad:
    *n = 0;
    return cmk_err_set(err, CMK_EINVAL, 400, code, "The $filter '%.400s' could not be parsed.", s);
}
