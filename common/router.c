/* router.c: route tables, matching, and the request/response helpers both doors use
 * (see router.h). The service error envelope is written here and nowhere else. Deferred
 * responses: cmk_request_defer asks the socket door's hook (http_session.c) and otherwise runs
 * the work and its completion inline. */
#include "router.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define MAX_SEGMENTS 48

struct cmk_route_entry {
    enum cmk_host_kind host;
    const char *method;
    const char *pattern;
    char *segs[MAX_SEGMENTS]; /* pattern split; "{x}" kept with braces */
    size_t nsegs;
    int rest;     /* last segment is "{x*}" */
    int literals; /* number of literal segments: more is more specific */
    cmk_handler_fn fn;
    void *data;
};

void cmk_router_init(struct cmk_router *r, const struct cmk_hosts *hosts)
{
    memset(r, 0, sizeof(*r));
    r->hosts = hosts;
}

void cmk_router_close(struct cmk_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < r->routes[i].nsegs; j++)
            free(r->routes[i].segs[j]);
    free(r->routes);
    r->routes = NULL;
    r->n = r->cap = 0;
}

/* Split "/a/b//c" into a, b, "", c. A single trailing "/" is ignored. Segments point into s,
 * which is modified. Returns the count, or -1 if there are too many. */
static int split_path(char *s, char **segs, size_t max)
{
    size_t n = 0;
    if (*s == '/')
        s++;
    size_t len = strlen(s);
    if (len && s[len - 1] == '/')
        s[len - 1] = '\0';
    if (*s == '\0')
        return 0;
    for (;;) {
        if (n == max)
            return -1;
        segs[n++] = s;
        char *slash = strchr(s, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        s = slash + 1;
    }
    return (int)n;
}

void cmk_router_add(struct cmk_router *r, enum cmk_host_kind host, const char *method,
                    const char *pattern, cmk_handler_fn fn, void *data)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->routes = cmk_xrealloc(r->routes, r->cap * sizeof(*r->routes));
    }
    struct cmk_route_entry *e = &r->routes[r->n++];
    memset(e, 0, sizeof(*e));
    e->host = host;
    e->method = method;
    e->pattern = pattern;
    e->fn = fn;
    e->data = data;
    char *copy = cmk_xstrdup(pattern);
    char *segs[MAX_SEGMENTS];
    int n = split_path(copy, segs, MAX_SEGMENTS);
    if (n < 0) {
        fprintf(stderr, "cmksim: route pattern too long: %s\n", pattern);
        abort();
    }
    for (int i = 0; i < n; i++) {
        e->segs[i] = cmk_xstrdup(segs[i]);
        size_t l = strlen(segs[i]);
        if (segs[i][0] != '{')
            e->literals++;
        else if (i == n - 1 && l > 2 && segs[i][l - 2] == '*')
            e->rest = 1;
    }
    e->nsegs = (size_t)n;
    free(copy);
    /* The route table at --log-level debug: tests/security checks that its matrix covers it. */
    cmk_debug("router", "msg=\"route\" host=%s method=%s pattern=%s", cmk_host_kind_name(host),
              method, pattern);
}

void cmk_router_add_table(struct cmk_router *r, enum cmk_host_kind host,
                          const struct cmk_route *table, void *data)
{
    for (; table->method != NULL; table++)
        cmk_router_add(r, host, table->method, table->pattern, table->fn, data);
}

void cmk_router_set_fallback(struct cmk_router *r, enum cmk_host_kind host, cmk_handler_fn fn,
                             void *data)
{
    r->fallback[host] = fn;
    r->fallback_data[host] = data;
}

/* Does route e match the request's segments? Fills captures into req on success. */
static int match(const struct cmk_route_entry *e, char **segs, size_t n, struct cmk_request *req,
                 int capture)
{
    size_t fixed = e->rest ? e->nsegs - 1 : e->nsegs;
    if (e->rest ? n < fixed : n != fixed)
        return 0;
    for (size_t i = 0; i < fixed; i++)
        if (e->segs[i][0] != '{' && strcasecmp(e->segs[i], segs[i]) != 0)
            return 0;
    if (!capture)
        return 1;
    req->nparams = 0;
    for (size_t i = 0; i < e->nsegs && req->nparams < CMK_ROUTE_MAX_PARAMS; i++) {
        if (e->segs[i][0] != '{')
            continue;
        char *value;
        if (e->rest && i == e->nsegs - 1) {
            struct cmk_buf b;
            cmk_buf_init(&b);
            for (size_t j = i; j < n; j++) {
                if (j > i)
                    cmk_buf_puts(&b, "/");
                cmk_buf_puts(&b, segs[j]);
            }
            value = cmk_buf_take(&b, NULL);
        } else {
            value = cmk_xstrdup(segs[i]);
        }
        long l = cmk_url_decode(value, strlen(value), 0);
        if (l < 0)
            value[0] = '\0';
        req->param_names[req->nparams] = e->segs[i];
        req->param_values[req->nparams++] = value;
    }
    return 1;
}

static void clear_params(struct cmk_request *req)
{
    for (size_t i = 0; i < req->nparams; i++)
        free(req->param_values[i]);
    req->nparams = 0;
}

static void generic_fallback(struct cmk_request *req, struct cmk_response *res)
{
    struct cmk_err err;
    if (res->status == 405)
        cmk_err_set(&err, CMK_EINVAL, 405, "MethodNotAllowed",
                    "The requested method %s is not allowed for %s.", req->method, req->path);
    else if (req->host_kind == CMK_HOST_UNKNOWN)
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "HostNotFound",
                    "cmksim does not serve the host '%s'.", req->host ? req->host : "");
    else
        cmk_err_set(&err, CMK_ENOTFOUND, 404, "NotFound", "The requested path %s was not found.",
                    req->path);
    cmk_response_error(res, &err);
}

/* ARM takes "//subscriptions/..." as "/subscriptions/...": the Azure SDKs send it for every
 * path built from a {resourceId} or {scope} parameter (arm-resources getById/deleteById, role
 * assignments at a scope). Only on the management host: on an HSM host the leading slashes of
 * "///providers/..." are part of the role assignment's scope. */
static void collapse_leading_slashes(struct cmk_request *req)
{
    const char *t = req->target;
    if (t == NULL || t[0] != '/' || t[1] != '/')
        return;
    while (t[1] == '/')
        t++;
    char *copy = cmk_xstrdup(t);
    (void)cmk_request_set_target(req, copy, strlen(copy));
    free(copy);
}

void cmk_router_dispatch(struct cmk_router *r, struct cmk_request *req, struct cmk_response *res)
{
    if (req->host_kind == CMK_HOST_UNKNOWN && r->hosts != NULL)
        req->host_kind =
            cmk_hosts_classify(r->hosts, req->host, req->host_label, sizeof(req->host_label));
    if (req->host_kind == CMK_HOST_MGMT)
        collapse_leading_slashes(req);

    /* Match on the raw path's segments, each decoded on capture, so "%2F" never splits. */
    const char *raw = req->target ? req->target : "/";
    if (strncmp(raw, "http://", 7) == 0 || strncmp(raw, "https://", 8) == 0) {
        const char *p = strchr(strstr(raw, "//") + 2, '/');
        raw = p ? p : "/";
    }
    size_t rawlen = strcspn(raw, "?#");
    char *copy = cmk_xstrndup(raw, rawlen);
    char *segs[MAX_SEGMENTS];
    int n = split_path(copy, segs, MAX_SEGMENTS);

    struct cmk_route_entry *best = NULL;
    int path_matched = 0, best_score = 0;
    if (n >= 0) {
        for (size_t i = 0; i < r->n; i++) {
            struct cmk_route_entry *e = &r->routes[i];
            if (e->host != req->host_kind || !match(e, segs, (size_t)n, req, 0))
                continue;
            path_matched = 1;
            /* HEAD falls back to GET (the HTTP layer sends no body); an exact HEAD route wins. */
            int exact = strcasecmp(e->method, req->method) == 0;
            int head_as_get = !strcasecmp(req->method, "HEAD") && !strcmp(e->method, "GET");
            if (strcmp(e->method, "*") != 0 && !exact && !head_as_get)
                continue;
            int score = e->literals * 2 + exact;
            if (best == NULL || score > best_score) {
                best = e;
                best_score = score;
            }
        }
    }
    if (best != NULL) {
        clear_params(req);
        match(best, segs, (size_t)n, req, 1);
        req->route = best->pattern;
        free(copy);
        best->fn(req, res, best->data);
        return;
    }
    free(copy);
    res->status = path_matched ? 405 : 404;
    if (req->host_kind != CMK_HOST_UNKNOWN && r->fallback[req->host_kind])
        r->fallback[req->host_kind](req, res, r->fallback_data[req->host_kind]);
    else
        generic_fallback(req, res);
}

/* ---- deferred responses ---- */

int cmk_request_defer(struct cmk_request *req, struct cmk_response *res, cmk_work_fn work,
                      cmk_done_fn done, void *arg)
{
    struct cmk_deferral *d = req->deferral;
    req->deferral = NULL; /* one deferral per request; done runs with it cleared */
    if (d != NULL && d->start(d, work, done, arg) == 0)
        return 1;
    work(arg);
    done(req, res, arg, 0);
    return 0;
}

/* ---- requests ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long cmk_url_decode(char *s, size_t len, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
            /* %00 would cut the C string short: "k1%00.x" must not become "k1" */
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            s[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            s[o++] = ' ';
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return (long)o;
}

static void add_pair(struct cmk_header **arr, size_t *n, char *name, char *value)
{
    *arr = cmk_xrealloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[*n].name = name;
    (*arr)[*n].value = value;
    (*n)++;
}

static void free_pairs(struct cmk_header **arr, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free((*arr)[i].name);
        free((*arr)[i].value);
    }
    free(*arr);
    *arr = NULL;
    *n = 0;
}

int cmk_request_set_target(struct cmk_request *req, const char *target, size_t len)
{
    free(req->target);
    free(req->path);
    free_pairs(&req->query, &req->nquery);
    req->target = cmk_xstrndup(target, len);

    const char *p = req->target;
    if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
        const char *slash = strchr(strstr(p, "//") + 2, '/');
        p = slash ? slash : "/";
    }
    size_t plen = strcspn(p, "?#");
    req->path = cmk_xstrndup(p, plen);
    int rc = 0;
    if (cmk_url_decode(req->path, plen, 0) < 0)
        rc = CMK_EPARSE;
    if (p[plen] == '?') {
        const char *q = p + plen + 1;
        size_t qlen = strcspn(q, "#");
        while (qlen > 0) {
            size_t plen2 = 0;
            while (plen2 < qlen && q[plen2] != '&')
                plen2++;
            if (plen2 > 0) {
                const char *eq = memchr(q, '=', plen2);
                size_t nlen = eq ? (size_t)(eq - q) : plen2;
                char *name = cmk_xstrndup(q, nlen);
                char *value = eq ? cmk_xstrndup(eq + 1, plen2 - nlen - 1) : cmk_xstrdup("");
                if (cmk_url_decode(name, strlen(name), 1) < 0 ||
                    cmk_url_decode(value, strlen(value), 1) < 0)
                    rc = CMK_EPARSE;
                add_pair(&req->query, &req->nquery, name, value);
            }
            q += plen2;
            qlen -= plen2;
            if (qlen > 0) {
                q++;
                qlen--;
            }
        }
    }
    return rc;
}

int cmk_request_init(struct cmk_request *req, const char *method, const char *url,
                     const struct cmk_origin *origin)
{
    memset(req, 0, sizeof(*req));
    cmk_buf_init(&req->body);
    snprintf(req->method, sizeof(req->method), "%s", method);
    if (origin)
        req->origin = *origin;
    else
        req->origin.kind = CMK_ORIGIN_INPROC;
    const char *hs = strstr(url, "://");
    if (hs == NULL)
        return cmk_request_set_target(req, url, strlen(url));
    hs += 3;
    size_t hlen = strcspn(hs, "/?#");
    char *host = cmk_xstrndup(hs, hlen);
    cmk_request_add_header(req, "host", host);
    free(host);
    return cmk_request_set_target(req, hs + hlen, strlen(hs + hlen));
}

void cmk_request_close(struct cmk_request *req)
{
    if (req == NULL)
        return;
    free(req->target);
    free(req->path);
    free(req->host);
    free_pairs(&req->headers, &req->nheaders);
    free_pairs(&req->query, &req->nquery);
    cmk_buf_close(&req->body);
    json_decref(req->json);
    clear_params(req);
    if (req->auth && req->auth_free)
        req->auth_free(req->auth);
    memset(req, 0, sizeof(*req));
}

void cmk_request_add_header(struct cmk_request *req, const char *name, const char *value)
{
    char *n = cmk_xstrdup(name);
    for (char *p = n; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(n, "host") == 0) {
        free(req->host);
        size_t hl = strlen(value);
        /* keep "[::1]" whole; drop ":port" otherwise */
        if (value[0] != '[') {
            const char *colon = strchr(value, ':');
            if (colon)
                hl = (size_t)(colon - value);
        } else {
            const char *end = strchr(value, ']');
            if (end)
                hl = (size_t)(end - value + 1);
        }
        req->host = cmk_xstrndup(value, hl);
        for (char *p = req->host; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        req->host_kind = CMK_HOST_UNKNOWN;
    }
    add_pair(&req->headers, &req->nheaders, n, cmk_xstrdup(value));
}

void cmk_request_set_body(struct cmk_request *req, const void *body, size_t len)
{
    cmk_buf_reset(&req->body);
    cmk_buf_append(&req->body, body, len);
    json_decref(req->json);
    req->json = NULL;
}

void cmk_request_set_json(struct cmk_request *req, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    cmk_request_set_body(req, s, strlen(s));
    free(s);
    if (cmk_request_header(req, "content-type") == NULL)
        cmk_request_add_header(req, "content-type", "application/json");
}

const char *cmk_request_header(const struct cmk_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *cmk_request_query(const struct cmk_request *req, const char *name)
{
    for (size_t i = 0; i < req->nquery; i++)
        if (strcasecmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

const char *cmk_request_param(const struct cmk_request *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->nparams; i++) {
        const char *p = req->param_names[i]; /* "{name}" or "{name*}" */
        if (strncmp(p + 1, name, nl) == 0 && (p[nl + 1] == '}' || p[nl + 1] == '*'))
            return req->param_values[i];
    }
    return NULL;
}

json_t *cmk_request_json(struct cmk_request *req, struct cmk_err *err)
{
    if (req->json)
        return req->json;
    if (req->body.len == 0) {
        cmk_err_set(err, CMK_EPARSE, 400, "BadParameter", "The request body is empty.");
        return NULL;
    }
    json_error_t je;
    req->json = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &je);
    if (req->json == NULL) {
        cmk_err_set(err, CMK_EPARSE, 400, "BadParameter",
                    "The request body is not valid JSON: %s at line %d column %d.", je.text,
                    je.line, je.column);
        return NULL;
    }
    if (!json_is_object(req->json)) {
        json_decref(req->json);
        req->json = NULL;
        cmk_err_set(err, CMK_EPARSE, 400, "BadParameter",
                    "The request body must be a JSON object.");
        return NULL;
    }
    return req->json;
}

/* ---- responses ---- */

void cmk_response_init(struct cmk_response *res)
{
    memset(res, 0, sizeof(*res));
    res->status = 200;
    cmk_buf_init(&res->body);
}

void cmk_response_close(struct cmk_response *res)
{
    if (res == NULL)
        return;
    free_pairs(&res->headers, &res->nheaders);
    cmk_buf_close(&res->body);
}

void cmk_response_header(struct cmk_response *res, const char *name, const char *value)
{
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0) {
            free(res->headers[i].value);
            res->headers[i].value = cmk_xstrdup(value);
            return;
        }
    }
    add_pair(&res->headers, &res->nheaders, cmk_xstrdup(name), cmk_xstrdup(value));
}

const char *cmk_response_get_header(const struct cmk_response *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

void cmk_response_json(struct cmk_response *res, int status, json_t *body)
{
    res->status = status;
    cmk_buf_reset(&res->body);
    if (body != NULL) {
        char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        cmk_buf_puts(&res->body, s);
        free(s);
        json_decref(body);
        cmk_response_header(res, "Content-Type", "application/json; charset=utf-8");
    }
}

void cmk_response_text(struct cmk_response *res, int status, const char *content_type,
                       const char *text)
{
    res->status = status;
    cmk_buf_reset(&res->body);
    cmk_buf_puts(&res->body, text);
    cmk_response_header(res, "Content-Type", content_type);
}

/* A JSON string of s, with every byte that is not part of valid UTF-8 replaced by U+FFFD, so
 * a message quoting client input (or cut mid-character) is never dropped. */
static json_t *json_string_lossy(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    struct cmk_buf b;
    cmk_buf_init(&b);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80         ? 1
                   : (*p >> 5) == 6  ? 2
                   : (*p >> 4) == 14 ? 3
                   : (*p >> 3) == 30 ? 4
                                     : 0;
        size_t i = 1;
        for (; n && i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                break;
        json_t *probe = NULL;
        if (n && i == n) {
            char tmp[5];
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            probe = json_string(tmp); /* rejects overlongs and surrogates */
        }
        if (probe) {
            cmk_buf_append(&b, p, n);
            json_decref(probe);
            p += n;
        } else {
            cmk_buf_puts(&b, "\xEF\xBF\xBD");
            p++;
        }
    }
    j = json_string(b.data ? b.data : "");
    cmk_buf_close(&b);
    return j;
}

void cmk_response_error(struct cmk_response *res, const struct cmk_err *err)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string_lossy(err->code[0] ? err->code : "InternalError"));
    json_object_set_new(e, "message", json_string_lossy(err->message));
    if (err->inner[0]) {
        json_t *inner = json_object();
        json_object_set_new(inner, "code", json_string_lossy(err->inner));
        json_object_set_new(e, "innererror", inner);
    }
    json_t *body = json_object();
    json_object_set_new(body, "error", e);
    cmk_response_json(res, err->status ? err->status : 500, body);
}

json_t *cmk_response_json_body(const struct cmk_response *res)
{
    if (res->body.len == 0)
        return NULL;
    return json_loadb(res->body.data, res->body.len, 0, NULL);
}
