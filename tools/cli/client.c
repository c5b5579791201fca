/* client.c: the HTTPS client of the cmksim command line and the plumbing its client
 * subcommands share (see client.h): serve.json, tokens from the login service, one request per
 * TLS connection (Connection: close, read to EOF), error printing. Output, vault addressing
 * and files are in client_util.c.
 *
 * Blocking sockets and OpenSSL: a command line does one thing at a time, and a request to a
 * local listener takes milliseconds. Every request goes to serve's HTTPS listener with the
 * host's own name as SNI and Host, and the certificate is verified against the emulator's CA
 * for that name, so the CLI sees exactly what any other client sees.
 */
#include "client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAX_REPLY (64 * 1024 * 1024)

/* ---- context ---- */

static const char *jstr(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

static int load_serve(struct cli_ctx *ctx)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/serve.json", ctx->data);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL) {
        fprintf(stderr,
                "cmksim %s: no running cmksim found in %s (%s).\n"
                "Start one with `cmksim serve --data %s`, or pass --data DIR.\n",
                ctx->cmd, ctx->data, je.text, ctx->data);
        return CLI_EX_FAIL;
    }
    if (cli_parse_listen(jstr(j, "https"), ctx->https_addr, sizeof(ctx->https_addr),
                         &ctx->https_port) != 0) {
        json_decref(j);
        fprintf(stderr, "cmksim %s: %s has no usable \"https\" address\n", ctx->cmd, path);
        return CLI_EX_FAIL;
    }
    snprintf(ctx->ca, sizeof(ctx->ca), "%s", jstr(j, "ca"));
    snprintf(ctx->suffix, sizeof(ctx->suffix), "%s", jstr(j, "suffix"));
    char a[64];
    if (cli_parse_listen(jstr(j, "postgres"), a, sizeof(a), &ctx->pg_port) != 0)
        ctx->pg_port = 0;
    json_t *d = json_object_get(j, "defaults");
    const char *env_t = getenv("AZURE_TENANT_ID"), *env_c = getenv("AZURE_CLIENT_ID"),
               *env_s = getenv("AZURE_CLIENT_SECRET"), *env_sub = getenv("AZURE_SUBSCRIPTION_ID");
    /* The environment names another principal only when it names a whole one. */
    int use_env = env_c && *env_c && env_s && *env_s;
    snprintf(ctx->tenant, sizeof(ctx->tenant), "%s",
             use_env && env_t && *env_t ? env_t : jstr(d, "tenantId"));
    snprintf(ctx->client_id, sizeof(ctx->client_id), "%s", use_env ? env_c : jstr(d, "clientId"));
    snprintf(ctx->secret, sizeof(ctx->secret), "%s", use_env ? env_s : jstr(d, "clientSecret"));
    snprintf(ctx->sub, sizeof(ctx->sub), "%s",
             env_sub && *env_sub ? env_sub : jstr(d, "subscriptionId"));
    json_decref(j);
    return 0;
}

int cli_ctx_init(struct cli_ctx *ctx, const char *cmd, int *argc, char **argv)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->cmd = cmd;
    const char *data = getenv("CMKSIM_DATA");
    snprintf(ctx->data, sizeof(ctx->data), "%s", data && *data ? data : CLI_DEFAULT_DATA);
    ctx->json = !isatty(STDOUT_FILENO);
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        int takes = 0;
        if (!strcmp(a, "--")) { /* the rest is the subcommand's, untouched */
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(a, "--data") || !strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= *argc)
                return cli_usage_error(cmd, "%s wants a value", a);
            val = argv[i + 1];
            takes = 2;
        } else if (!strncmp(a, "--data=", 7) || !strncmp(a, "--output=", 9)) {
            val = strchr(a, '=') + 1;
            takes = 1;
        } else if (!strcmp(a, "--debug")) {
            ctx->verbose = 1;
            continue;
        }
        if (!takes) {
            argv[out++] = argv[i];
            continue;
        }
        if (!strncmp(a, "--data", 6))
            snprintf(ctx->data, sizeof(ctx->data), "%s", val);
        else if (!strcmp(val, "json"))
            ctx->json = 1;
        else if (!strcmp(val, "table"))
            ctx->json = 0;
        else
            return cli_usage_error(cmd, "-o wants json or table, not '%s'", val);
        i += takes - 1;
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int cli_ctx_load(struct cli_ctx *ctx)
{
    if (ctx->https_port > 0)
        return 0;
    return load_serve(ctx);
}

void cli_ctx_close(struct cli_ctx *ctx)
{
    free(ctx->mgmt_token);
    free(ctx->vault_token);
    free(ctx->hsm_token);
    ctx->mgmt_token = ctx->vault_token = ctx->hsm_token = NULL;
}

int cli_fail(struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cmksim %s: ", ctx->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EX_FAIL;
}

/* ---- HTTPS ---- */

void cli_reply_close(struct cli_reply *r)
{
    if (r == NULL)
        return;
    cmk_buf_close(&r->head);
    cmk_buf_close(&r->body);
    json_decref(r->json);
    r->json = NULL;
}

int cli_reply_header(const struct cli_reply *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = r->head.data ? strstr(r->head.data, "\r\n") : NULL;
    while (p && p[2]) {
        p += 2;
        const char *end = strstr(p, "\r\n");
        if (end == NULL)
            break;
        if ((size_t)(end - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, n, "%.*s", (int)(end - v), v);
            return 0;
        }
        p = end;
    }
    return -1;
}

static int split_url(const char *url, char *host, size_t hn, const char **path)
{
    if (strncmp(url, "https://", 8) != 0)
        return -1;
    const char *h = url + 8;
    const char *slash = strchr(h, '/');
    size_t len = slash ? (size_t)(slash - h) : strlen(h);
    if (len == 0 || len >= hn)
        return -1;
    memcpy(host, h, len);
    host[len] = '\0';
    *path = slash ? slash : "/";
    return 0;
}

static int connect_tcp(const char *addr, int port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(addr, ps, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Decode a chunked body in place. */
static int dechunk(struct cmk_buf *b)
{
    struct cmk_buf out;
    cmk_buf_init(&out);
    size_t i = 0;
    for (;;) {
        char *end;
        unsigned long n = strtoul(b->data + i, &end, 16);
        char *crlf = strstr(b->data + i, "\r\n");
        if (crlf == NULL || end == b->data + i)
            break;
        i = (size_t)(crlf - b->data) + 2;
        if (n == 0 || i + n > b->len)
            break;
        cmk_buf_append(&out, b->data + i, n);
        i += n + 2;
    }
    cmk_buf_close(b);
    *b = out;
    if (b->data == NULL)
        cmk_buf_append(b, "", 0);
    return 0;
}

static int tls_error(struct cli_ctx *ctx, const char *host, const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[256];
    ERR_error_string_n(e, msg, sizeof(msg));
    ERR_clear_error();
    fprintf(stderr, "cmksim %s: %s %s: %s\n", ctx->cmd, what, host, e ? msg : "failed");
    return -1;
}

int cli_http(struct cli_ctx *ctx, const char *method, const char *url, const char *content_type,
             const void *body, size_t len, const char *bearer, struct cli_reply *out)
{
    memset(out, 0, sizeof(*out));
    cmk_buf_init(&out->head);
    cmk_buf_init(&out->body);
    if (cli_ctx_load(ctx) != 0)
        return -1;
    char host[256];
    const char *path;
    if (split_url(url, host, sizeof(host), &path) != 0) {
        fprintf(stderr, "cmksim %s: not an https URL: %s\n", ctx->cmd, url);
        return -1;
    }
    char sni[256];
    snprintf(sni, sizeof(sni), "%s", host);
    char *colon = strchr(sni, ':');
    if (colon)
        *colon = '\0';
    if (ctx->verbose)
        fprintf(stderr, "> %s %s\n", method, url);

    int fd = connect_tcp(ctx->https_addr, ctx->https_port);
    if (fd < 0) {
        fprintf(stderr, "cmksim %s: cannot connect to cmksim at %s:%d: %s\n", ctx->cmd,
                ctx->https_addr, ctx->https_port, strerror(errno));
        return -1;
    }
    int rc = -1;
    SSL_CTX *sctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    if (sctx == NULL || SSL_CTX_load_verify_locations(sctx, ctx->ca, NULL) != 1) {
        rc = tls_error(ctx, ctx->ca, "cannot load the CA");
        goto done;
    }
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, NULL);
    ssl = SSL_new(sctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    SSL_set1_host(ssl, sni);
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            fprintf(stderr, "cmksim %s: the certificate of %s does not verify: %s\n", ctx->cmd, sni,
                    X509_verify_cert_error_string(v));
            ERR_clear_error();
            goto done;
        }
        rc = tls_error(ctx, sni, "TLS handshake with");
        goto done;
    }

    struct cmk_buf req;
    cmk_buf_init(&req);
    cmk_buf_printf(&req,
                   "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cmksim-cli/0.1\r\n"
                   "Accept: application/json\r\nConnection: close\r\n",
                   method, path, host);
    if (bearer)
        cmk_buf_printf(&req, "Authorization: Bearer %s\r\n", bearer);
    if (body || strcmp(method, "GET") != 0) {
        if (content_type && body)
            cmk_buf_printf(&req, "Content-Type: %s\r\n", content_type);
        cmk_buf_printf(&req, "Content-Length: %zu\r\n", body ? len : 0);
    }
    cmk_buf_puts(&req, "\r\n");
    if (body && len)
        cmk_buf_append(&req, body, len);
    int w = SSL_write(ssl, req.data, (int)req.len);
    OPENSSL_cleanse(req.data, req.len); /* it may hold a secret or a token */
    cmk_buf_close(&req);
    if (w <= 0) {
        rc = tls_error(ctx, sni, "cannot send to");
        goto done;
    }
    struct cmk_buf raw;
    cmk_buf_init(&raw);
    char chunk[16384];
    for (;;) {
        int n = SSL_read(ssl, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        cmk_buf_append(&raw, chunk, (size_t)n);
        if (raw.len > MAX_REPLY)
            break;
    }
    ERR_clear_error();
    char *sep = raw.data ? strstr(raw.data, "\r\n\r\n") : NULL;
    if (sep == NULL || sscanf(raw.data, "HTTP/1.%*d %d", &out->status) != 1) {
        fprintf(stderr, "cmksim %s: no HTTP answer from %s\n", ctx->cmd, sni);
        cmk_buf_close(&raw);
        goto done;
    }
    size_t hlen = (size_t)(sep - raw.data) + 2;
    cmk_buf_append(&out->head, raw.data, hlen);
    cmk_buf_append(&out->body, sep + 4, raw.len - hlen - 2);
    cmk_buf_close(&raw);
    char te[64];
    if (cli_reply_header(out, "transfer-encoding", te, sizeof(te)) == 0 &&
        strcasecmp(te, "chunked") == 0)
        dechunk(&out->body);
    if (out->body.len)
        out->json = json_loadb(out->body.data, out->body.len, 0, NULL);
    if (ctx->verbose)
        fprintf(stderr, "< %d (%zu bytes)\n", out->status, out->body.len);
    rc = 0;
done:
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    SSL_CTX_free(sctx);
    close(fd);
    return rc;
}

/* ---- tokens ---- */

void cli_url_escape(const char *in, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < n; p++) {
        if (isalnum(*p) || strchr("-._~", *p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

const char *cli_token(struct cli_ctx *ctx, const char *resource)
{
    char **slot = !strcmp(resource, "vault") ? &ctx->vault_token
                  : !strcmp(resource, "hsm") ? &ctx->hsm_token
                                             : &ctx->mgmt_token;
    if (*slot)
        return *slot;
    if (cli_ctx_load(ctx) != 0)
        return NULL;
    const char *scope = !strcmp(resource, "vault") ? "https://vault.azure.net/.default"
                        : !strcmp(resource, "hsm") ? "https://managedhsm.azure.net/.default"
                                                   : "https://management.azure.com/.default";
    if (!ctx->client_id[0] || !ctx->tenant[0]) {
        cli_fail(ctx, "no credentials: set AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and "
                      "AZURE_TENANT_ID, or use the serve.json of a running cmksim");
        return NULL;
    }
    char e_id[200], e_secret[800], e_scope[200], e_tenant[200];
    cli_url_escape(ctx->client_id, e_id, sizeof(e_id));
    cli_url_escape(ctx->secret, e_secret, sizeof(e_secret));
    cli_url_escape(scope, e_scope, sizeof(e_scope));
    cli_url_escape(ctx->tenant, e_tenant, sizeof(e_tenant));
    char form[1400], url[400];
    int len = snprintf(form, sizeof(form),
                       "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=%s", e_id,
                       e_secret, e_scope);
    snprintf(url, sizeof(url), "https://login.microsoftonline.com/%s/oauth2/v2.0/token", e_tenant);
    struct cli_reply r;
    int rc = cli_http(ctx, "POST", url, "application/x-www-form-urlencoded", form, (size_t)len,
                      NULL, &r);
    OPENSSL_cleanse(form, sizeof(form));
    OPENSSL_cleanse(e_secret, sizeof(e_secret));
    if (rc != 0) {
        cli_reply_close(&r);
        return NULL;
    }
    const char *tok = json_string_value(json_object_get(r.json, "access_token"));
    if (r.status != 200 || tok == NULL) {
        const char *e = json_string_value(json_object_get(r.json, "error"));
        const char *d = json_string_value(json_object_get(r.json, "error_description"));
        char first[512] = "";
        if (d)
            snprintf(first, sizeof(first), "%.*s", (int)strcspn(d, "\r\n"), d);
        cli_fail(ctx, "login failed for client %s: %s: %s (HTTP %d)", ctx->client_id,
                 e ? e : "error", first, r.status);
        cli_reply_close(&r);
        return NULL;
    }
    *slot = cmk_xstrdup(tok);
    cli_reply_close(&r);
    return *slot;
}

/* ---- calls and errors ---- */

int cli_print_error(struct cli_ctx *ctx, const struct cli_reply *r)
{
    json_t *e = json_object_get(r->json, "error");
    const char *code = NULL, *msg = NULL;
    if (json_is_object(e)) {
        code = json_string_value(json_object_get(e, "code"));
        msg = json_string_value(json_object_get(e, "message"));
    } else if (json_is_string(e)) { /* login service */
        code = json_string_value(e);
        msg = json_string_value(json_object_get(r->json, "error_description"));
    } else if (r->json) { /* App Service style */
        msg = json_string_value(json_object_get(r->json, "message"));
    }
    if (code == NULL && msg == NULL) {
        fprintf(stderr, "cmksim %s: HTTP %d%s%.*s\n", ctx->cmd, r->status, r->body.len ? ": " : "",
                (int)(r->body.len > 300 ? 300 : r->body.len), r->body.data ? r->body.data : "");
        return CLI_EX_FAIL;
    }
    fprintf(stderr, "cmksim %s: %s%s%s (HTTP %d)\n", ctx->cmd, code ? code : "",
            code && msg ? ": " : "", msg ? msg : "", r->status);
    return CLI_EX_FAIL;
}

int cli_call(struct cli_ctx *ctx, const char *resource, const char *method, const char *url,
             const json_t *body, json_t **out)
{
    if (out)
        *out = NULL;
    const char *tok = cli_token(ctx, resource);
    if (tok == NULL)
        return CLI_EX_FAIL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct cli_reply r;
    int rc = cli_http(ctx, method, url, "application/json", text, text ? strlen(text) : 0, tok, &r);
    free(text);
    if (rc != 0) {
        cli_reply_close(&r);
        return CLI_EX_FAIL;
    }
    if (r.status >= 300) {
        rc = cli_print_error(ctx, &r);
        cli_reply_close(&r);
        return rc;
    }
    if (out) {
        *out = r.json;
        r.json = NULL;
    }
    cli_reply_close(&r);
    return 0;
}
