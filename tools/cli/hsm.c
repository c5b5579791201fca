/* hsm.c: `cmksim hsm activate|role-assignment ...` — the Managed HSM steps az 2.45 cannot run
 * here, as calls of the Managed HSM data plane REST API (api-version 7.4) on
 * https://NAME.managedhsm.azure.net with a token of the managedhsm audience:
 *
 *   activate: download the security domain (POST /securitydomain/download) wrapped for three
 *     RSA key pairs this command creates, as `az keyvault security-domain download` does; the
 *     key pairs (PEM, mode 0600) and the security domain are written to --out-dir.
 *   role-assignment create|delete|list: local RBAC (PUT/DELETE/GET
 *     /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "client.h"
#include "common/b64.h"

#define HSM_API "api-version=7.4"
#define SD_KEYS 3

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cmksim hsm activate HSM [--quorum 2] [--out-dir DIR]\n"
            "       cmksim hsm role-assignment create HSM --role ROLE --assignee OBJECT_ID\n"
            "                                  [--scope /|/keys|/keys/NAME] [--name GUID]\n"
            "       cmksim hsm role-assignment delete HSM --name GUID [--scope SCOPE]\n"
            "       cmksim hsm role-assignment list HSM [--scope SCOPE]\n"
            "       (common options: --data DIR, -o json|table, --debug)\n\n"
            "HSM is a managed HSM name (myhsm) or host (myhsm.managedhsm.azure.net).\n\n"
            "activate   downloads the security domain, which activates the HSM: three RSA key\n"
            "           pairs are made and written with the security domain to --out-dir\n"
            "           (default ./NAME-security-domain); keep them to restore it.\n"
            "ROLE       a name (\"Managed HSM Crypto User\", \"Managed HSM Crypto Service\n"
            "           Encryption User\", \"Managed HSM Crypto Officer\", \"Managed HSM\n"
            "           Administrator\"...) or a role definition id.\n\n"
            "examples:\n"
            "  cmksim hsm activate hsm1\n"
            "  cmksim hsm role-assignment create hsm1 --role \"Managed HSM Crypto Service "
            "Encryption User\" \\\n"
            "      --assignee $(az identity show -g rg -n id1 --query principalId -o tsv) "
            "--scope /keys\n"
            "  cmksim hsm role-assignment list hsm1\n");
}

/* The built-in local roles of Managed HSM (their well-known ids). */
static const struct {
    const char *name, *id;
} roles[] = {
    {"Managed HSM Administrator", "a290e904-7015-4bba-90c8-60543313cdb4"},
    {"Managed HSM Crypto Officer", "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"},
    {"Managed HSM Crypto User", "21dbd100-6940-42c2-9190-5d6cb909625b"},
    {"Managed HSM Policy Administrator", "4bd23610-cdcf-4971-bdee-bdc562cc28e4"},
    {"Managed HSM Crypto Auditor", "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"},
    {"Managed HSM Crypto Service Encryption User", "33413926-3206-4cdd-b39a-83574fe37a17"},
    {"Managed HSM Backup", "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"},
};

static void new_guid(char out[37])
{
    unsigned char b[16];
    RAND_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* A self-signed certificate for one security domain key pair, as a JWK with x5c. */
static json_t *sd_key(struct cli_ctx *ctx, const char *dir, int i)
{
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    json_t *jwk = NULL;
    if (pkey == NULL || x == NULL)
        goto done;
    ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *nm = X509_get_subject_name(x);
    char cn[64];
    snprintf(cn, sizeof(cn), "cmksim security domain key %d", i + 1);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, nm);
    if (!X509_sign(x, pkey, EVP_sha256()))
        goto done;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/sd-key-%d.pem", dir, i + 1);
    FILE *f = fopen(path, "w");
    if (f == NULL || fchmod(fileno(f), 0600) != 0 ||
        !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) || !PEM_write_X509(f, x)) {
        if (f)
            fclose(f);
        cli_fail(ctx, "cannot write %s", path);
        goto done;
    }
    fclose(f);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    char *b64 = cmk_b64_encode(der, (size_t)len, 0);
    OPENSSL_free(der);
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(pkey, "n", &n);
    EVP_PKEY_get_bn_param(pkey, "e", &e);
    unsigned char nb[512], eb[8];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *ns = cmk_b64_encode(nb, (size_t)nl, 1), *es = cmk_b64_encode(eb, (size_t)el, 1);
    jwk = json_pack("{s:s, s:[s,s], s:s, s:s, s:s, s:[s]}", "kty", "RSA", "key_ops", "verify",
                    "encrypt", "alg", "RSA-OAEP-256", "n", ns, "e", es, "x5c", b64);
    BN_free(n);
    BN_free(e);
    free(ns);
    free(es);
    free(b64);
done:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return jwk;
}

static int activate(struct cli_ctx *ctx, const char *base, const char *hsm, const char *outdir,
                    int quorum)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", outdir ? outdir : "");
    if (!dir[0])
        snprintf(dir, sizeof(dir), "%s-security-domain", hsm);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cli_fail(ctx, "cannot create %s", dir);
    json_t *certs = json_array();
    for (int i = 0; i < SD_KEYS; i++) {
        json_t *k = sd_key(ctx, dir, i);
        if (k == NULL) {
            json_decref(certs);
            return CLI_EX_FAIL;
        }
        json_array_append_new(certs, k);
    }
    json_t *body = json_pack("{s:o, s:i}", "certificates", certs, "required", quorum);
    char url[512];
    snprintf(url, sizeof(url), "%s/securitydomain/download?" HSM_API, base);
    json_t *out = NULL;
    int rc = cli_call(ctx, "hsm", "POST", url, body, &out);
    json_decref(body);
    if (rc != 0)
        return rc;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/security-domain.json", dir);
    const char *v = json_string_value(json_object_get(out, "value"));
    char *text = v ? NULL : json_dumps(out, JSON_COMPACT);
    rc = cli_write_file(ctx, path, v ? v : text, strlen(v ? v : text));
    free(text);
    json_decref(out);
    if (rc != 0)
        return rc;
    json_t *r = json_pack("{s:s, s:s, s:s, s:i}", "hsm", hsm, "status", "Activated",
                          "securityDomain", path, "quorum", quorum);
    cli_output(ctx, r,
               (const struct cli_column[]){{"HSM", "hsm"},
                                           {"Status", "status"},
                                           {"Security domain", "securityDomain"},
                                           {"Quorum", "quorum"},
                                           {NULL, NULL}});
    json_decref(r);
    return 0;
}

static const struct cli_column ra_cols[] = {
    {"Name", "name"},
    {"Role", "properties.roleDefinitionId"},
    {"Principal", "properties.principalId"},
    {"Scope", "properties.scope"},
    {NULL, NULL},
};

static int role_assignment(struct cli_ctx *ctx, const char *base, const char *op, const char *role,
                           const char *assignee, const char *scope, const char *name)
{
    char sc[256], url[1024], guid[37];
    snprintf(sc, sizeof(sc), "%s", scope ? scope : "/");
    if (sc[0] != '/')
        return cli_usage_error("hsm", "--scope starts with / (/, /keys or /keys/NAME)");
    json_t *out = NULL, *body = NULL;
    int rc;
    if (!strcmp(op, "list")) {
        snprintf(url, sizeof(url),
                 "%s%s/providers/Microsoft.Authorization/roleAssignments?" HSM_API, base, sc);
        rc = cli_call(ctx, "hsm", "GET", url, NULL, &out);
        if (rc == 0)
            cli_output(ctx, json_object_get(out, "value"), ra_cols);
        json_decref(out);
        return rc;
    }
    if (!strcmp(op, "delete")) {
        if (name == NULL)
            return cli_usage_error("hsm", "role-assignment delete wants --name GUID");
        snprintf(url, sizeof(url),
                 "%s%s/providers/Microsoft.Authorization/roleAssignments/%s?" HSM_API, base, sc,
                 name);
        rc = cli_call(ctx, "hsm", "DELETE", url, NULL, &out);
        if (rc == 0)
            cli_output(ctx, out, ra_cols);
        json_decref(out);
        return rc;
    }
    if (strcmp(op, "create") != 0)
        return cli_usage_error("hsm", "role-assignment create, delete or list, not '%s'", op);
    if (role == NULL || assignee == NULL)
        return cli_usage_error("hsm", "role-assignment create wants --role and --assignee");
    const char *rid = role;
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (!strcasecmp(roles[i].name, role))
            rid = roles[i].id;
    if (strlen(rid) != 36 && strchr(rid, '/') == NULL)
        return cli_fail(ctx, "RoleDefinitionNotFound: unknown role '%s'", role);
    char def[300];
    if (strchr(rid, '/'))
        snprintf(def, sizeof(def), "%s", rid);
    else
        snprintf(def, sizeof(def),
                 "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/%s", rid);
    if (name == NULL) {
        new_guid(guid);
        name = guid;
    }
    body =
        json_pack("{s:{s:s, s:s}}", "properties", "roleDefinitionId", def, "principalId", assignee);
    snprintf(url, sizeof(url), "%s%s/providers/Microsoft.Authorization/roleAssignments/%s?" HSM_API,
             base, sc, name);
    rc = cli_call(ctx, "hsm", "PUT", url, body, &out);
    json_decref(body);
    if (rc == 0)
        cli_output(ctx, out, ra_cols);
    json_decref(out);
    return rc;
}

int cli_hsm(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc = cli_ctx_init(&ctx, "hsm", &argc, argv);
    if (rc != 0)
        return rc;
    const char *pos[3] = {NULL, NULL, NULL};
    const char *role = NULL, *assignee = NULL, *scope = NULL, *name = NULL, *outdir = NULL;
    int npos = 0, quorum = 2;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **dst = !strcmp(s, "--role")       ? &role
                           : !strcmp(s, "--assignee") ? &assignee
                           : !strcmp(s, "--scope")    ? &scope
                           : !strcmp(s, "--name")     ? &name
                           : !strcmp(s, "--out-dir")  ? &outdir
                                                      : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            return CLI_EX_OK;
        } else if (dst || !strcmp(s, "--quorum")) {
            if (i + 1 >= argc)
                return cli_usage_error("hsm", "%s wants a value", s);
            if (dst)
                *dst = argv[++i];
            else if ((quorum = atoi(argv[++i])) < 2 || quorum > SD_KEYS)
                return cli_usage_error("hsm", "--quorum is 2 or 3");
        } else if (s[0] == '-') {
            return cli_usage_error("hsm", "unknown option '%s'", s);
        } else if (npos < 3) {
            pos[npos++] = s;
        } else {
            return cli_usage_error("hsm", "unexpected argument '%s'", s);
        }
    }
    if (npos == 0) {
        usage(stderr);
        return CLI_EX_USAGE;
    }
    int is_ra = !strcmp(pos[0], "role-assignment");
    const char *hsm = is_ra ? pos[2] : pos[1];
    if (strcmp(pos[0], "activate") != 0 && !is_ra)
        return cli_usage_error("hsm", "unknown subcommand '%s' (activate, role-assignment)",
                               pos[0]);
    if (hsm == NULL || (is_ra ? npos != 3 : npos != 2))
        return cli_usage_error("hsm", "which HSM?");
    char base[300];
    const char *resource;
    if ((rc = cli_vault_base(&ctx, hsm, 1, base, sizeof(base), &resource)) != 0)
        return rc;
    if (strcmp(resource, "hsm") != 0)
        return cli_fail(&ctx, "'%s' is a key vault, not a managed HSM", hsm);
    char label[128];
    snprintf(label, sizeof(label), "%.100s", base + 8);
    label[strcspn(label, ".")] = '\0';
    rc = is_ra ? role_assignment(&ctx, base, pos[1], role, assignee, scope, name)
               : activate(&ctx, base, label, outdir, quorum);
    cli_ctx_close(&ctx);
    return rc;
}
