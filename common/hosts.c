/* hosts.c: host name -> service (see hosts.h). */
#include "hosts.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct family {
    enum cmk_host_kind kind;
    const char *cloud; /* cloud name, or suffix after the label for wildcard kinds */
    const char *local; /* first label(s) in front of the local suffix */
    int wildcard;
};

static const struct family families[] = {
    {CMK_HOST_MGMT, "management.azure.com", "management", 0},
    {CMK_HOST_LOGIN, "login.microsoftonline.com", "login", 0},
    {CMK_HOST_VAULT, "vault.azure.net", "vault", 1},
    {CMK_HOST_HSM, "managedhsm.azure.net", "managedhsm", 1},
    {CMK_HOST_PG, "postgres.database.azure.com", "postgres", 1},
    {CMK_HOST_GRAPH, "graph.microsoft.com", "graph", 0},
};

static const char *const kind_names[CMK_HOST__COUNT] = {"unknown", "mgmt", "login", "vault",
                                                        "hsm",     "pg",   "graph"};

void cmk_hosts_init(struct cmk_hosts *h, const char *suffix)
{
    snprintf(h->suffix, sizeof(h->suffix), "%s", suffix && *suffix ? suffix : "localhost");
    for (char *p = h->suffix; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

const char *cmk_host_kind_name(enum cmk_host_kind kind)
{
    return kind >= 0 && kind < CMK_HOST__COUNT ? kind_names[kind] : "unknown";
}

const char *cmk_hosts_cloud_suffix(enum cmk_host_kind kind)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (families[i].kind == kind)
            return families[i].cloud;
    return "";
}

/* Does name end with "." + tail (or equal tail when exact)? Returns the length of the part
 * before ".tail", or -1. */
static long strip_tail(const char *name, size_t len, const char *tail)
{
    size_t tl = strlen(tail);
    if (len <= tl + 1 || name[len - tl - 1] != '.' || memcmp(name + len - tl, tail, tl) != 0)
        return -1;
    return (long)(len - tl - 1);
}

static int valid_label(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

enum cmk_host_kind cmk_hosts_classify(const struct cmk_hosts *h, const char *host, char *label,
                                      size_t labelsz)
{
    char name[256];
    size_t len = 0;
    if (label && labelsz)
        label[0] = '\0';
    if (host == NULL)
        return CMK_HOST_UNKNOWN;
    /* Lowercase, drop ":port" (but keep IPv6 literals in brackets) and a trailing dot. */
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (end == NULL)
            return CMK_HOST_UNKNOWN;
        return (end - host == 4 && memcmp(host, "[::1", 4) == 0) ? CMK_HOST_MGMT : CMK_HOST_UNKNOWN;
    }
    for (; host[len] && host[len] != ':' && len < sizeof(name) - 1; len++)
        name[len] = (char)tolower((unsigned char)host[len]);
    if (host[len] && host[len] != ':')
        return CMK_HOST_UNKNOWN; /* too long */
    if (len && name[len - 1] == '.')
        len--;
    name[len] = '\0';

    if (!strcmp(name, "localhost") || !strcmp(name, "127.0.0.1") || !strcmp(name, "::1"))
        return CMK_HOST_MGMT;

    char local[256];
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const struct family *f = &families[i];
        snprintf(local, sizeof(local), "%s.%s", f->local, h->suffix);
        if (!f->wildcard) {
            if (!strcmp(name, f->cloud) || !strcmp(name, local))
                return f->kind;
            continue;
        }
        long n = strip_tail(name, len, f->cloud);
        if (n < 0)
            n = strip_tail(name, len, local);
        if (n < 0 || !valid_label(name, (size_t)n))
            continue;
        if (label && labelsz) {
            size_t m = (size_t)n < labelsz - 1 ? (size_t)n : labelsz - 1;
            memcpy(label, name, m);
            label[m] = '\0';
        }
        return f->kind;
    }
    return CMK_HOST_UNKNOWN;
}

void cmk_hosts_name(const struct cmk_hosts *h, enum cmk_host_kind kind, const char *label,
                    int cloud, char *out, size_t n)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const struct family *f = &families[i];
        if (f->kind != kind)
            continue;
        if (f->wildcard && cloud)
            snprintf(out, n, "%s.%s", label ? label : "", f->cloud);
        else if (f->wildcard)
            snprintf(out, n, "%s.%s.%s", label ? label : "", f->local, h->suffix);
        else if (cloud)
            snprintf(out, n, "%s", f->cloud);
        else
            snprintf(out, n, "%s.%s", f->local, h->suffix);
        return;
    }
    snprintf(out, n, "%s", "");
}
