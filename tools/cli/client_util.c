/* client_util.c: what the client subcommands share besides the HTTPS client itself (see
 * client.h): JSON and table output, Key Vault / Managed HSM addressing, key files, ARM lookups
 * by name. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"

#define MAX_FILE (64 * 1024 * 1024)

/* ---- output ---- */

void cli_print_json(const json_t *j)
{
    if (j == NULL) {
        return;
    }
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
}

json_t *cli_json_path(const json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = (json_t *)j;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    return cur;
}

/* A cell's text: strings as is, numbers, booleans, arrays joined with ",". */
static void cell(const json_t *v, char *out, size_t n)
{
    out[0] = '\0';
    if (v == NULL || json_is_null(v))
        return;
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, n, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_array(v)) {
        size_t i, o = 0;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            char c[256];
            cell(x, c, sizeof(c));
            int w = snprintf(out + o, n - o, "%s%s", i ? "," : "", c);
            if (w < 0 || (size_t)w >= n - o)
                break;
            o += (size_t)w;
        }
    } else {
        char *d = json_dumps(v, JSON_COMPACT);
        snprintf(out, n, "%s", d ? d : "");
        free(d);
    }
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

void cli_print_table(const json_t *rows, const struct cli_column *cols)
{
    size_t ncols = 0;
    while (cols[ncols].header)
        ncols++;
    size_t nrows = json_array_size(rows);
    size_t width[32] = {0};
    char c[600];
    for (size_t k = 0; k < ncols && k < 32; k++)
        width[k] = strlen(cols[k].header);
    for (size_t i = 0; i < nrows; i++)
        for (size_t k = 0; k < ncols && k < 32; k++) {
            cell(cli_json_path(json_array_get(rows, i), cols[k].path), c, sizeof(c));
            if (strlen(c) > width[k])
                width[k] = strlen(c);
        }
    for (size_t k = 0; k < ncols && k < 32; k++)
        printf("%-*s%s", (int)width[k], cols[k].header, k + 1 < ncols ? "  " : "\n");
    for (size_t k = 0; k < ncols && k < 32; k++) {
        for (size_t w = 0; w < width[k]; w++)
            putchar('-');
        printf("%s", k + 1 < ncols ? "  " : "\n");
    }
    for (size_t i = 0; i < nrows; i++)
        for (size_t k = 0; k < ncols && k < 32; k++) {
            cell(cli_json_path(json_array_get(rows, i), cols[k].path), c, sizeof(c));
            if (k + 1 < ncols)
                printf("%-*s  ", (int)width[k], c);
            else
                printf("%s\n", c);
        }
}

void cli_print_object(const json_t *obj, const struct cli_column *cols)
{
    size_t w = 0;
    for (const struct cli_column *k = cols; k->header; k++)
        if (strlen(k->header) > w)
            w = strlen(k->header);
    char c[2048];
    for (const struct cli_column *k = cols; k->header; k++) {
        cell(cli_json_path(obj, k->path), c, sizeof(c));
        printf("%-*s  %s\n", (int)w, k->header, c);
    }
}

void cli_output(struct cli_ctx *ctx, const json_t *j, const struct cli_column *cols)
{
    if (ctx->json || cols == NULL)
        cli_print_json(j);
    else if (json_is_array(j))
        cli_print_table(j, cols);
    else
        cli_print_object(j, cols);
}

/* ---- vault addressing ---- */

int cli_vault_base(struct cli_ctx *ctx, const char *vault, int hsm, char *base, size_t n,
                   const char **resource)
{
    if (cli_ctx_load(ctx) != 0)
        return CLI_EX_FAIL;
    char name[256];
    const char *v = vault;
    if (!strncmp(v, "https://", 8))
        v += 8;
    snprintf(name, sizeof(name), "%s", v);
    name[strcspn(name, "/:")] = '\0';
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (name[0] == '\0')
        return cli_fail(ctx, "'%s' is not a vault name or URL", vault);
    char *dot = strchr(name, '.');
    if (dot) {
        /* A host name: keep it when cmksim serves it (cloud or local suffix). */
        const char *rest = dot + 1;
        char lv[200], lh[200];
        snprintf(lv, sizeof(lv), "vault.%s", ctx->suffix);
        snprintf(lh, sizeof(lh), "managedhsm.%s", ctx->suffix);
        if (!strcmp(rest, "vault.azure.net") || !strcmp(rest, lv))
            hsm = 0;
        else if (!strcmp(rest, "managedhsm.azure.net") || !strcmp(rest, lh))
            hsm = 1;
        else
            return cli_fail(ctx, "'%s' is not a Key Vault or Managed HSM host", vault);
        snprintf(base, n, "https://%s", name);
    } else {
        snprintf(base, n, "https://%s.%s", name, hsm ? "managedhsm.azure.net" : "vault.azure.net");
    }
    *resource = hsm ? "hsm" : "vault";
    return 0;
}

/* ---- files ---- */

unsigned char *cli_read_file(struct cli_ctx *ctx, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cli_fail(ctx, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    struct cmk_buf b;
    cmk_buf_init(&b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cmk_buf_append(&b, chunk, n);
        if (b.len > MAX_FILE) {
            fclose(f);
            cmk_buf_close(&b);
            cli_fail(ctx, "%s is too large", path);
            return NULL;
        }
    }
    fclose(f);
    if (b.data == NULL)
        cmk_buf_append(&b, "", 0);
    return (unsigned char *)cmk_buf_take(&b, len);
}

int cli_write_file(struct cli_ctx *ctx, const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_fail(ctx, "cannot write %s: %s", path, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return cli_fail(ctx, "cannot write %s: %s", path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0)
        return cli_fail(ctx, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* ---- ARM lookups ---- */

int cli_find_resource(struct cli_ctx *ctx, const char *type, const char *name, char *id, size_t n)
{
    char filter[400], efilter[800], url[1200];
    snprintf(filter, sizeof(filter), "resourceType eq '%s' and name eq '%s'", type, name);
    cli_url_escape(filter, efilter, sizeof(efilter));
    if (cli_token(ctx, "mgmt") == NULL)
        return CLI_EX_FAIL;
    snprintf(url, sizeof(url),
             CLI_MGMT "/subscriptions/%s/resources?$filter=%s&api-version=2021-04-01", ctx->sub,
             efilter);
    json_t *j;
    int rc = cli_call(ctx, "mgmt", "GET", url, NULL, &j);
    if (rc != 0)
        return rc;
    json_t *v = json_object_get(j, "value"), *x;
    size_t i;
    json_array_foreach(v, i, x)
    {
        const char *nm = json_string_value(json_object_get(x, "name"));
        const char *rid = json_string_value(json_object_get(x, "id"));
        if (nm && rid && strcasecmp(nm, name) == 0) {
            snprintf(id, n, "%s", rid);
            json_decref(j);
            return 0;
        }
    }
    json_decref(j);
    return cli_fail(ctx, "ResourceNotFound: no %s named '%s' in subscription %s", type, name,
                    ctx->sub);
}
