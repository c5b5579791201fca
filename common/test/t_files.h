/* t_files.h: file helpers common's tests share (header-only; include after <cmocka.h>): read a
 * whole file, write one, and count the files under a directory that hold some bytes (the
 * "no secret in clear on disk" scans, and the one for an RSA private key). */
#ifndef CMK_T_FILES_H
#define CMK_T_FILES_H

#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"

/* The whole file, NUL-terminated, its length in *n (n may be NULL); NULL when it cannot be
 * opened. */
static inline unsigned char *t_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct cmk_buf b;
    cmk_buf_init(&b);
    char tmp[4096];
    size_t got;
    while ((got = fread(tmp, 1, sizeof(tmp), f)) > 0)
        cmk_buf_append(&b, tmp, got);
    fclose(f);
    return (unsigned char *)cmk_buf_take(&b, n);
}

static inline void t_spill(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* How many regular files under dir (recursively) contain needle. */
static inline int t_files_holding(const char *dir, const void *needle, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int hits = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            hits += t_files_holding(path, needle, n);
        } else if (S_ISREG(st.st_mode)) {
            size_t len = 0;
            unsigned char *data = t_slurp(path, &len);
            assert_non_null(data);
            if (len > 0 && memmem(data, len, needle, n) != NULL)
                hits++;
            free(data);
        }
    }
    closedir(d);
    return hits;
}

/* No file under dir holds a PEM private key, nor key's DER (PKCS#8 and PKCS#1) or either of
 * its secret numbers (d, p). */
static inline void t_assert_key_not_in_clear(const char *dir, EVP_PKEY *key)
{
    assert_int_equal(t_files_holding(dir, "PRIVATE KEY", 11), 0);
    unsigned char *der = NULL;
    int len = i2d_PrivateKey(key, &der); /* PKCS#1 RSAPrivateKey */
    assert_true(len > 0);
    assert_int_equal(t_files_holding(dir, der, (size_t)len), 0);
    OPENSSL_free(der);
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    der = NULL;
    len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    assert_true(len > 0);
    assert_int_equal(t_files_holding(dir, der, (size_t)len), 0);
    OPENSSL_free(der);
    const char *params[] = {OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1};
    for (size_t i = 0; i < 2; i++) {
        BIGNUM *bn = NULL;
        assert_int_equal(EVP_PKEY_get_bn_param(key, params[i], &bn), 1);
        unsigned char bin[512];
        int blen = BN_bn2bin(bn, bin);
        BN_clear_free(bn);
        assert_true(blen >= 64);
        assert_int_equal(t_files_holding(dir, bin, (size_t)blen), 0);
        /* a partial leak shows too: any 32-byte window */
        assert_int_equal(t_files_holding(dir, bin + blen / 2, 32), 0);
    }
}

#endif
