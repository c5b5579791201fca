/* rootkey.c: the emulator's root key file, AES-256-GCM sealing under derived keys, and private
 * key files sealed under it (see rootkey.h). The root key file is created with O_EXCL under a
 * temporary name and linked into place, so two processes starting on one fresh directory end
 * up with the same key; a sealed private key file is written to a temporary name and renamed
 * over the old one, so a crash leaves either the old key or the new one, never half a key. */
#include "rootkey.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEAL_VERSION  1
#define PKEY_FILE_MAX (64 * 1024) /* a sealed RSA-4096 PKCS#8 is ~2.4 KiB */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_key(const char *path, struct cmk_rootkey *rk, struct cmk_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot open %s: %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "%s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError",
                           "%s is readable by group or others (mode %03o); it must be 0600", path,
                           (unsigned)(st.st_mode & 0777));
    }
    unsigned char buf[CMK_ROOTKEY_LEN + 1];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof(buf) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof(buf))
            break;
    }
    close(fd);
    if (got != CMK_ROOTKEY_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return cmk_err_set(err, CMK_EIO, 500, "InternalError",
                           "%s holds %zu bytes, expected %d: not a cmksim root key", path, got,
                           CMK_ROOTKEY_LEN);
    }
    memcpy(rk->key, buf, CMK_ROOTKEY_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

static void set_id(struct cmk_rootkey *rk)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(rk->key, CMK_ROOTKEY_LEN, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 8; i++)
        snprintf(rk->id + 2 * i, 3, "%02x", md[i]);
}

int cmk_rootkey_load(struct cmk_rootkey *rk, const char *data_dir, struct cmk_err *err)
{
    memset(rk, 0, sizeof(*rk));
    char dir[PATH_MAX], path[PATH_MAX + 16], tmp[PATH_MAX + 32];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/keys", data_dir) >= sizeof(dir))
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "state directory path too long");
    snprintf(path, sizeof(path), "%s/root.key", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot create %s: %s", dir,
                           strerror(errno));
    if (access(path, F_OK) == 0) {
        int rc = read_key(path, rk, err);
        if (rc == 0)
            set_id(rk);
        return rc;
    }
    unsigned char key[CMK_ROOTKEY_LEN];
    if (RAND_bytes(key, sizeof(key)) != 1)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "RAND_bytes failed");
    snprintf(tmp, sizeof(tmp), "%s/.root.key.%ld", dir, (long)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        OPENSSL_cleanse(key, sizeof(key));
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot create %s: %s", tmp,
                           strerror(errno));
    }
    int bad = write_all(fd, key, sizeof(key)) != 0 || fsync(fd) != 0;
    close(fd);
    OPENSSL_cleanse(key, sizeof(key));
    if (bad) {
        unlink(tmp);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot write %s", tmp);
    }
    /* link() never replaces: if another process won the race, its key is the one. */
    if (link(tmp, path) != 0 && errno != EEXIST) {
        int e = errno;
        unlink(tmp);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot create %s: %s", path,
                           strerror(e));
    }
    unlink(tmp);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    int rc = read_key(path, rk, err);
    if (rc == 0)
        set_id(rk);
    return rc;
}

void cmk_rootkey_wipe(struct cmk_rootkey *rk)
{
    if (rk != NULL)
        OPENSSL_cleanse(rk, sizeof(*rk));
}

int cmk_rootkey_derive(const struct cmk_rootkey *rk, const char *label, unsigned char *out,
                       size_t n)
{
    if (n == 0 || n > 64)
        return CMK_EINVAL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    if (ctx == NULL)
        return CMK_ECRYPTO;
    size_t outlen = n;
    static const unsigned char salt[] = "cmksim root key v1";
    int ok =
        EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
        EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, sizeof(salt) - 1) > 0 &&
        EVP_PKEY_CTX_set1_hkdf_key(ctx, rk->key, CMK_ROOTKEY_LEN) > 0 &&
        EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)label, (int)strlen(label)) > 0 &&
        EVP_PKEY_derive(ctx, out, &outlen) > 0 && outlen == n;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : CMK_ECRYPTO;
}

static int gcm(int enc, const unsigned char *key, const unsigned char *nonce, const void *aad,
               size_t aadlen, const unsigned char *in, size_t n, unsigned char *out,
               unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return CMK_ECRYPTO;
    int len = 0, ok = 1;
    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
    if (ok && aadlen > 0)
        ok = EVP_CipherUpdate(c, NULL, &len, aad, (int)aadlen) == 1;
    if (ok && n > 0)
        ok = EVP_CipherUpdate(c, out, &len, in, (int)n) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(c, out + (n > 0 ? len : 0), &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : CMK_ECRYPTO;
}

int cmk_rootkey_seal(const struct cmk_rootkey *rk, const char *label, const void *aad,
                     size_t aadlen, const void *pt, size_t n, struct cmk_buf *out)
{
    if (n > INT_MAX / 2 || aadlen > INT_MAX / 2)
        return CMK_EINVAL;
    unsigned char key[32];
    if (cmk_rootkey_derive(rk, label, key, sizeof(key)) != 0)
        return CMK_ECRYPTO;
    size_t start = out->len;
    cmk_buf_reserve(out, n + CMK_SEAL_OVERHEAD);
    unsigned char *p = (unsigned char *)out->data + start;
    p[0] = SEAL_VERSION;
    int rc = CMK_ECRYPTO;
    if (RAND_bytes(p + 1, 12) == 1)
        rc = gcm(1, key, p + 1, aad, aadlen, pt, n, p + 13, p + 13 + n);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc == 0) {
        out->len = start + n + CMK_SEAL_OVERHEAD;
        out->data[out->len] = '\0';
    }
    return rc;
}

int cmk_rootkey_open(const struct cmk_rootkey *rk, const char *label, const void *aad,
                     size_t aadlen, const void *sealed, size_t len, unsigned char **pt, size_t *n)
{
    const unsigned char *s = sealed;
    *pt = NULL;
    *n = 0;
    if (len < CMK_SEAL_OVERHEAD || s[0] != SEAL_VERSION || len > INT_MAX / 2 ||
        aadlen > INT_MAX / 2)
        return CMK_ECRYPTO;
    size_t clen = len - CMK_SEAL_OVERHEAD;
    unsigned char key[32];
    if (cmk_rootkey_derive(rk, label, key, sizeof(key)) != 0)
        return CMK_ECRYPTO;
    unsigned char *out = cmk_xmalloc(clen + 1);
    unsigned char tag[16];
    memcpy(tag, s + 13 + clen, 16);
    int rc = gcm(0, key, s + 1, aad, aadlen, s + 13, clen, out, tag);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc != 0) {
        OPENSSL_cleanse(out, clen + 1);
        free(out);
        return CMK_ECRYPTO;
    }
    *pt = out;
    *n = clen;
    return 0;
}

/* ---- sealed private key files ------------------------------------------------------------ */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

int cmk_rootkey_write_pkey(const struct cmk_rootkey *rk, const char *label, const char *path,
                           const EVP_PKEY *pkey, struct cmk_err *err)
{
    const char *name = base_name(path);
    size_t dirlen = (size_t)(name - path);
    char dir[PATH_MAX], tmp[PATH_MAX];
    if (name[0] == '\0' || dirlen >= sizeof(dir) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%.*s.%s.%ld.tmp", (int)dirlen, path, name,
                         (long)getpid()) >= sizeof(tmp))
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "bad key file path %s", path);
    if (dirlen == 0)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)dirlen, path);

    /* PKCS#8 DER of the key, cleansed as soon as it is sealed. */
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pkey);
    unsigned char *der = NULL;
    int derlen = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    PKCS8_PRIV_KEY_INFO_free(p8); /* its free cleanses the key octets */
    if (derlen <= 0)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError",
                           "cannot encode the private key for %s", path);
    struct cmk_buf sealed;
    cmk_buf_init(&sealed);
    int rc = cmk_rootkey_seal(rk, label, name, strlen(name), der, (size_t)derlen, &sealed);
    OPENSSL_cleanse(der, (size_t)derlen);
    OPENSSL_free(der);
    if (rc != 0) {
        cmk_buf_close(&sealed);
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError",
                           "cannot seal the private key for %s", path);
    }

    (void)unlink(tmp); /* left by a crashed process that had our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cmk_buf_close(&sealed);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot create %s: %s", tmp,
                           strerror(errno));
    }
    int bad = write_all(fd, (const unsigned char *)sealed.data, sealed.len) != 0 || fsync(fd) != 0;
    int e = errno;
    cmk_buf_close(&sealed);
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        (void)unlink(tmp);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot write %s: %s", path,
                           strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

int cmk_rootkey_read_pkey(const struct cmk_rootkey *rk, const char *label, const char *path,
                          EVP_PKEY **out, struct cmk_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CMK_ENOTFOUND
                               : cmk_err_set(err, CMK_EIO, 500, "InternalError",
                                             "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "%s is not a regular file", path);
    }
    if ((st.st_mode & 077) != 0)
        (void)fchmod(fd, 0600); /* a key file stays private, even sealed */
    if (st.st_size > PKEY_FILE_MAX) {
        close(fd);
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError",
                           "%s is not a sealed cmksim private key (%lld bytes)", path,
                           (long long)st.st_size);
    }
    unsigned char *buf = cmk_xmalloc(PKEY_FILE_MAX + 1);
    size_t got = 0;
    int rerr = 0;
    while (got <= PKEY_FILE_MAX) {
        ssize_t r = read(fd, buf + got, PKEY_FILE_MAX + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rerr = errno;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (rerr != 0) {
        free(buf);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot read %s: %s", path,
                           strerror(rerr));
    }
    /* A PEM file here was written by an older cmksim, which kept these keys in clear: it is
     * reported, never parsed. */
    int clear_pem = got >= 10 && memcmp(buf, "-----BEGIN", 10) == 0;
    const char *name = base_name(path);
    unsigned char *der = NULL;
    size_t derlen = 0;
    int rc = CMK_ECRYPTO;
    if (!clear_pem && got <= PKEY_FILE_MAX)
        rc = cmk_rootkey_open(rk, label, name, strlen(name), buf, got, &der, &derlen);
    OPENSSL_cleanse(buf, got); /* a clear PEM, if that is what it was */
    free(buf);
    if (clear_pem)
        return cmk_err_set(err, CMK_EPARSE, 500, "InternalError",
                           "%s holds a private key in clear, not sealed under the root key", path);
    if (rc != 0)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError",
                           "%s does not open under this emulator's root key: the file was "
                           "altered, renamed, or sealed by another emulator",
                           path);
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 =
        derlen <= INT_MAX ? d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)derlen) : NULL;
    EVP_PKEY *key = p8 != NULL && p == der + derlen ? EVP_PKCS82PKEY(p8) : NULL;
    PKCS8_PRIV_KEY_INFO_free(p8);
    OPENSSL_cleanse(der, derlen);
    free(der);
    if (key == NULL) {
        ERR_clear_error();
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError",
                           "%s opens but does not hold a PKCS#8 private key", path);
    }
    *out = key;
    return 0;
}
