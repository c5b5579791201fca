/* tls.c: the emulator's own certificate authority, its leaf certificates, and the TLS contexts
 * every listener and in-process client uses (see tls.h).
 *
 * Files under DIR/tls/ (directory mode 0700):
 *   ca.pem, ca.key                 the CA: RSA-2048, self-signed, 10 years, basicConstraints CA
 *   management.pem, management.key one leaf per host family, RSA-2048, signed by the CA
 *   login.*, vault.*, managedhsm.*, postgres.*, graph.*
 * Certificates (.pem) are public, 0644: clients read ca.pem. Private keys (.key) are sealed
 * under the root key (rootkey.h: PKCS#8 DER, label "tls private key", aad the file's base
 * name, mode 0600, written through a temporary file and a rename so a crash never leaves half
 * a key); the root key is loaded from DIR/keys/ for the open and wiped after. A sealed key
 * that does not open (altered, or sealed under another root key) stops the start with a
 * message naming the file rather than silently replacing the CA every client trusts. Older
 * versions wrote the keys as clear PEM under the same names: such a file is deleted unread
 * and a new key made; for ca.key that means a new CA (and new leaves), so clients must trust
 * the new ca.pem, which is fine for an emulator upgrade.
 *
 * On open, everything still valid is reused; a leaf is re-issued when its names no longer
 * match the suffix, it is not signed by the current CA, or it expires within 30 days (keeping
 * its key, unless the CA itself was re-created). Validity is computed from the caller's clock
 * (now_ms), never the system time.
 *
 * The server context picks the leaf in the servername callback (cmk_hosts_classify on the
 * SNI name; no SNI or an unknown name gets the management leaf). The client context trusts
 * the emulator CA only; callers name the peer with SSL_set1_host (and SNI) per connection.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "rootkey.h"

#define CA_DAYS        3650
#define LEAF_DAYS      397
#define RENEW_BEFORE_S (30LL * 24 * 3600)
#define BACKDATE_S     (24LL * 3600) /* tolerate clients whose clock is a little behind */

struct leaf {
    X509 *cert;
    EVP_PKEY *key;
};

struct cmk_tls {
    struct cmk_hosts hosts;
    char dir[PATH_MAX];
    char ca_path[PATH_MAX + 16];
    X509 *ca;
    EVP_PKEY *ca_key;
    struct leaf leaves[CMK_HOST__COUNT]; /* indexed by host kind; [UNKNOWN] unused */
    SSL_CTX *server;
    SSL_CTX *client;
};

/* File stem per host family. */
static const char *const family_file[CMK_HOST__COUNT] = {
    [CMK_HOST_MGMT] = "management", [CMK_HOST_LOGIN] = "login", [CMK_HOST_VAULT] = "vault",
    [CMK_HOST_HSM] = "managedhsm",  [CMK_HOST_PG] = "postgres", [CMK_HOST_GRAPH] = "graph",
};

/* The subjectAltNames a family's leaf must carry, as "DNS:a,DNS:b,IP:127.0.0.1" (the syntax of
 * OpenSSL's config, and the canonical form compared on reuse). */
static void expected_sans(const struct cmk_hosts *h, enum cmk_host_kind kind, char *out, size_t n)
{
    const char *s = h->suffix;
    switch (kind) {
    case CMK_HOST_MGMT:
        snprintf(out, n, "DNS:management.azure.com,DNS:management.%s,DNS:localhost,IP:127.0.0.1",
                 s);
        break;
    case CMK_HOST_LOGIN:
        snprintf(out, n, "DNS:login.microsoftonline.com,DNS:login.%s", s);
        break;
    case CMK_HOST_VAULT:
        snprintf(out, n, "DNS:*.vault.azure.net,DNS:*.vault.%s", s);
        break;
    case CMK_HOST_HSM:
        snprintf(out, n, "DNS:*.managedhsm.azure.net,DNS:*.managedhsm.%s", s);
        break;
    case CMK_HOST_PG:
        snprintf(out, n, "DNS:*.postgres.database.azure.com,DNS:*.postgres.%s", s);
        break;
    case CMK_HOST_GRAPH:
        snprintf(out, n, "DNS:graph.microsoft.com,DNS:graph.%s", s);
        break;
    default:
        out[0] = '\0';
    }
}

/* The SANs a certificate actually carries, in the same canonical form. */
static void cert_sans(X509 *cert, char *out, size_t n)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (b.len)
            cmk_buf_puts(&b, ",");
        if (g->type == GEN_DNS) {
            cmk_buf_puts(&b, "DNS:");
            cmk_buf_append(&b, ASN1_STRING_get0_data(g->d.dNSName),
                           (size_t)ASN1_STRING_length(g->d.dNSName));
        } else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 4) {
            const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
            cmk_buf_printf(&b, "IP:%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
        } else {
            cmk_buf_puts(&b, "?");
        }
    }
    GENERAL_NAMES_free(names);
    snprintf(out, n, "%s", b.data ? b.data : "");
    cmk_buf_close(&b);
}

static int ssl_fail(struct cmk_err *err, const char *what)
{
    char detail[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "%s: %s", what,
                       e ? detail : "unknown OpenSSL error");
}

/* ---- files ---- */

/* Write a certificate (public) through path.tmp + rename, mode 0644. */
static int write_cert(const char *path, X509 *cert, struct cmk_err *err)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot write %s: %s", tmp,
                           strerror(errno));
    if (fchmod(fd, 0644) != 0) {
        close(fd);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot chmod %s: %s", tmp,
                           strerror(errno));
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot write %s", tmp);
    }
    int ok = PEM_write_X509(f, cert);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot write %s", path);
    }
    return 0;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();
    return x;
}

/* Open the sealed key at path into *out; *out stays NULL when there is none (no file, or a
 * clear PEM of an older version, which is deleted unread): the caller makes a new key. A file
 * that does not open is a refusal naming it. */
static int read_key(const struct cmk_rootkey *rk, const char *path, EVP_PKEY **out,
                    struct cmk_err *err)
{
    struct cmk_err e;
    cmk_err_clear(&e);
    int rc = cmk_rootkey_read_pkey(rk, CMK_TLS_KEY_LABEL, path, out, &e);
    if (rc == CMK_ENOTFOUND)
        return 0;
    if (rc == CMK_EPARSE) {
        cmk_warn("tls",
                 "msg=\"removed a private key kept in clear by an older version; a new key is "
                 "made\" file=%s",
                 path);
        if (unlink(path) != 0 && errno != ENOENT)
            return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot remove %s: %s", path,
                               strerror(errno));
        return 0;
    }
    if (rc != 0)
        return cmk_err_set(err, rc, 500, "InternalError",
                           "cannot load a TLS private key: %s. Restore the file, or delete the "
                           "tls directory to start with a new CA (clients must then trust the "
                           "new ca.pem)",
                           e.message);
    return 0;
}

/* ---- issuing ---- */

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int set_serial(X509 *cert)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return -1;
    bytes[0] &= 0x7f; /* positive */
    bytes[0] |= 0x40; /* and never shorter than 16 bytes */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

/* Issue a certificate for key: self-signed when issuer is NULL (the CA), else a server leaf
 * carrying sans. Returns a new certificate or NULL. */
static X509 *issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                   const char *sans, int64_t now_ms, int days)
{
    X509 *cert = X509_new();
    if (cert == NULL)
        return NULL;
    time_t now = (time_t)(now_ms / 1000);
    X509_NAME *name = X509_get_subject_name(cert);
    int ok = X509_set_version(cert, 2) && set_serial(cert) == 0 &&
             ASN1_TIME_set(X509_getm_notBefore(cert), now - BACKDATE_S) != NULL &&
             ASN1_TIME_adj(X509_getm_notAfter(cert), now, days, 0) != NULL &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"cmksim",
                                        -1, -1, 0) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) &&
             X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) &&
             X509_set_pubkey(cert, key);
    if (!ok)
        goto fail;

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    if (issuer == NULL) {
        ok = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
             add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
             add_ext(cert, &ctx, NID_subject_key_identifier, "hash") == 0;
    } else {
        ok = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") == 0 &&
             add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth") == 0 &&
             add_ext(cert, &ctx, NID_subject_key_identifier, "hash") == 0 &&
             add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") == 0 &&
             add_ext(cert, &ctx, NID_subject_alt_name, sans) == 0;
    }
    if (!ok || !X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()))
        goto fail;
    return cert;
fail:
    X509_free(cert);
    return NULL;
}

/* Is cert valid from now until at least now + 30 days? */
static int fresh(X509 *cert, int64_t now_ms)
{
    time_t now = (time_t)(now_ms / 1000);
    return ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert), now) <= 0 &&
           ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), now + RENEW_BEFORE_S) > 0;
}

static int load_or_create_ca(struct cmk_tls *t, const struct cmk_rootkey *rk, int64_t now_ms,
                             int *created, struct cmk_err *err)
{
    char keypath[PATH_MAX + 16];
    snprintf(keypath, sizeof(keypath), "%s/ca.key", t->dir);
    t->ca = read_cert(t->ca_path);
    int rc = read_key(rk, keypath, &t->ca_key, err);
    if (rc != 0)
        return rc;
    if (t->ca && t->ca_key && X509_check_private_key(t->ca, t->ca_key) == 1 &&
        ASN1_TIME_cmp_time_t(X509_get0_notAfter(t->ca), (time_t)(now_ms / 1000) + RENEW_BEFORE_S) >
            0) {
        *created = 0;
        return 0;
    }
    ERR_clear_error();
    if (t->ca || t->ca_key)
        cmk_warn("tls", "msg=\"the CA in %s is unusable or expiring; creating a new one\"", t->dir);
    X509_free(t->ca);
    EVP_PKEY_free(t->ca_key);
    t->ca = NULL;
    t->ca_key = EVP_RSA_gen(2048);
    if (t->ca_key == NULL)
        return ssl_fail(err, "CA key generation failed");
    t->ca = issue(t->ca_key, "cmksim emulator CA", NULL, NULL, NULL, now_ms, CA_DAYS);
    if (t->ca == NULL)
        return ssl_fail(err, "CA certificate creation failed");
    rc = cmk_rootkey_write_pkey(rk, CMK_TLS_KEY_LABEL, keypath, t->ca_key, err);
    if (rc == 0)
        rc = write_cert(t->ca_path, t->ca, err);
    *created = 1;
    return rc;
}

static int load_or_create_leaf(struct cmk_tls *t, const struct cmk_rootkey *rk,
                               enum cmk_host_kind kind, int64_t now_ms, int force,
                               struct cmk_err *err)
{
    char certpath[PATH_MAX + 32], keypath[PATH_MAX + 32], want[512], have[512];
    snprintf(certpath, sizeof(certpath), "%s/%s.pem", t->dir, family_file[kind]);
    snprintf(keypath, sizeof(keypath), "%s/%s.key", t->dir, family_file[kind]);
    expected_sans(&t->hosts, kind, want, sizeof(want));
    struct leaf *l = &t->leaves[kind];

    /* A renewal (new names, near expiry) keeps a sound key; a new CA gets new keys too. */
    int key_ok = 0;
    if (!force) {
        l->cert = read_cert(certpath);
        int rc = read_key(rk, keypath, &l->key, err);
        if (rc != 0)
            return rc;
        if (l->cert && l->key) {
            cert_sans(l->cert, have, sizeof(have));
            EVP_PKEY *capub = X509_get0_pubkey(t->ca);
            key_ok = X509_check_private_key(l->cert, l->key) == 1 && EVP_PKEY_is_a(l->key, "RSA") &&
                     EVP_PKEY_get_bits(l->key) >= 2048;
            if (key_ok && strcmp(have, want) == 0 && fresh(l->cert, now_ms) &&
                X509_verify(l->cert, capub) == 1)
                return 0;
            ERR_clear_error();
        }
        X509_free(l->cert);
        l->cert = NULL;
        if (!key_ok) {
            EVP_PKEY_free(l->key);
            l->key = NULL;
        }
    }
    if (l->key == NULL && (l->key = EVP_RSA_gen(2048)) == NULL)
        return ssl_fail(err, "leaf key generation failed");
    /* The CN is the first name; clients match on the SANs. */
    char cn[128];
    size_t cnlen = strcspn(want + 4, ",");
    if (cnlen >= sizeof(cn))
        cnlen = sizeof(cn) - 1;
    memcpy(cn, want + 4, cnlen);
    cn[cnlen] = '\0';
    l->cert = issue(l->key, cn, t->ca, t->ca_key, want, now_ms, LEAF_DAYS);
    if (l->cert == NULL)
        return ssl_fail(err, "leaf certificate creation failed");
    int rc = cmk_rootkey_write_pkey(rk, CMK_TLS_KEY_LABEL, keypath, l->key, err);
    if (rc == 0)
        rc = write_cert(certpath, l->cert, err);
    if (rc == 0)
        cmk_info("tls", "msg=\"issued certificate\" file=%s names=\"%s\"", certpath, want);
    return rc;
}

/* ---- contexts ---- */

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    struct cmk_tls *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL)
        return SSL_TLSEXT_ERR_OK; /* the context's default: the management leaf */
    char label[64];
    enum cmk_host_kind kind = cmk_hosts_classify(&t->hosts, name, label, sizeof(label));
    if (kind == CMK_HOST_UNKNOWN || kind == CMK_HOST_MGMT)
        return SSL_TLSEXT_ERR_OK;
    struct leaf *l = &t->leaves[kind];
    if (SSL_use_cert_and_key(ssl, l->cert, l->key, NULL, 1) != 1) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* HTTP listeners speak http/1.1; the PostgreSQL listener shares this context, so
 * "postgresql" (libpq's direct TLS) is accepted too. Anything else: no ALPN. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1\x0apostgresql";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int make_contexts(struct cmk_tls *t, struct cmk_err *err)
{
    t->server = SSL_CTX_new(TLS_server_method());
    if (t->server == NULL)
        return ssl_fail(err, "SSL_CTX_new");
    SSL_CTX *s = t->server;
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
    static const unsigned char sid[] = "cmksim";
    SSL_CTX_set_session_id_context(s, sid, sizeof(sid) - 1);
    struct leaf *m = &t->leaves[CMK_HOST_MGMT];
    if (SSL_CTX_use_certificate(s, m->cert) != 1 || SSL_CTX_use_PrivateKey(s, m->key) != 1)
        return ssl_fail(err, "loading the management certificate");
    SSL_CTX_set_tlsext_servername_callback(s, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(s, t);
    SSL_CTX_set_alpn_select_cb(s, alpn_cb, t);

    t->client = SSL_CTX_new(TLS_client_method());
    if (t->client == NULL)
        return ssl_fail(err, "SSL_CTX_new");
    SSL_CTX *c = t->client;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    if (X509_STORE_add_cert(SSL_CTX_get_cert_store(c), t->ca) != 1)
        return ssl_fail(err, "trusting the CA");
    X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(c), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return 0;
}

int cmk_tls_open(struct cmk_tls **out, const char *dir, const struct cmk_hosts *hosts,
                 int64_t now_ms, struct cmk_err *err)
{
    *out = NULL;
    struct cmk_tls *t = cmk_xcalloc(1, sizeof(*t));
    t->hosts = *hosts;
    int rc;
    if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s/tls", dir) >= sizeof(t->dir) - 32) {
        rc = cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "state directory path too long");
        goto fail;
    }
    snprintf(t->ca_path, sizeof(t->ca_path), "%s/ca.pem", t->dir);
    if (mkdir(t->dir, 0700) != 0 && errno != EEXIST) {
        rc = cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot create %s: %s", t->dir,
                         strerror(errno));
        goto fail;
    }
    /* The private keys are sealed under the root key, held only for the open. */
    struct cmk_rootkey rk;
    rc = cmk_rootkey_load(&rk, dir, err);
    if (rc != 0)
        goto fail;
    int created = 0;
    rc = load_or_create_ca(t, &rk, now_ms, &created, err);
    for (int k = CMK_HOST_MGMT; rc == 0 && k < CMK_HOST__COUNT; k++)
        rc = load_or_create_leaf(t, &rk, (enum cmk_host_kind)k, now_ms, created, err);
    cmk_rootkey_wipe(&rk);
    if (rc == 0)
        rc = make_contexts(t, err);
    if (rc != 0)
        goto fail;
    *out = t;
    return 0;
fail:
    cmk_tls_free(t);
    return rc;
}

void cmk_tls_free(struct cmk_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    for (int k = 0; k < CMK_HOST__COUNT; k++) {
        X509_free(t->leaves[k].cert);
        EVP_PKEY_free(t->leaves[k].key); /* EVP_PKEY_free cleanses the key material */
    }
    X509_free(t->ca);
    EVP_PKEY_free(t->ca_key);
    free(t);
}

SSL_CTX *cmk_tls_server_ctx(struct cmk_tls *t)
{
    return t->server;
}

SSL_CTX *cmk_tls_client_ctx(struct cmk_tls *t)
{
    return t->client;
}

const char *cmk_tls_ca_path(const struct cmk_tls *t)
{
    return t->ca_path;
}
