/* fuzz_jwt.c: cmk_auth_verify on untrusted "Authorization" values.
 *
 * Every input is fed as "Bearer <input>" to cmk_auth_verify with a fixed "now" and audience
 * list. An input that starts with "#payload\n" is instead signed (RS256, our kid) as the JSON
 * payload of a token first, so the claim parser behind the signature check is fuzzed too;
 * mutations of a plain token almost never get past the signature.
 *
 * The signing key is a fixed test key sealed into a temporary state directory on the first
 * call (cmk_rootkey_write_pkey under a fresh root key, as auth.c keeps its own), so the
 * checked-in corpus (valid tokens among them) verifies the same on every run.
 * It signs nothing but fuzz inputs. CMK_FUZZ_VERBOSE=1 prints the outcome of each input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/auth.h"
#include "common/b64.h"
#include "common/buf.h"
#include "common/rootkey.h"

#define NOW ((cmk_time_t)1767225600000) /* 2026-01-01T00:00:00Z */

static const char test_key[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCg7RzXoLEENcyV\n"
                               "FcyZ3pgZXRo+1mIBWaPRbX+nlcUmsxQMklvxQoXwX5cg0ypPJqyvzbShdBGZfPsX\n"
                               "6TP1E+Yc3UtCU1Lcs2TDpvb+GPH/vXafPN6C4OXfj0z8+jULrCRtjlwHCQR/LNdi\n"
                               "h5Hq2sLblcgD33YhYw+RYxyzqK2ftjPQBgEEudaFHYVGwEmmzH2/VJjxH7ALuPlD\n"
                               "9AKHv4SN9l21ZZM3e9yOFNzPkBUd2h91/TqjdfehnmDa46PUWnHhRdAHDS5BqtvM\n"
                               "WAhtxVkC4wVc8dltqT176km+Bm6AKlIv0730ODsr3r/3dCpKYlUlxXFyL2d+12g3\n"
                               "ht2SdwUNAgMBAAECggEAT2R7qMPd4RpbqqedD8J6HnVIx/yDUHA1elJ/uqGQqOWL\n"
                               "fCJO2ul7Y9n9GNQlGPSXGIqvVUIKlsNKq4LBP+VHzzC7+uZZyIl2qnH6g+Sxq36B\n"
                               "AdGJY19p+U/c5yfXuMD+HdCwhUYFImrwfestaYTwwl2UVpjN0m3pVcxkchxDQDne\n"
                               "0FzeC12WxiYhu/2FyM4bxvoZzfJ+lq/H1GV4516EABoGxmYdw+Az2coHaI2Qf1of\n"
                               "E3XL2b9hZoFCr40SpYAhaCuEN8fYPvcw8DUZsWdXAVzkbOvpMsy70mdG3QhCKpRV\n"
                               "4PE1eyVNmnJKwp//2L1pJE5xY3hxAvIUvBnDqwOeHwKBgQDSk/NDyHCOs+R0fjMw\n"
                               "ZuMNx8LnQbF7OBUih4hml7GwFAaoEYgelUHA+DMw+HtieBCpizliEpipbiAa1LFL\n"
                               "PoZ73wzJczROxBcr4WKdIYt1dwYsyffu/dZ/bvSe2X+KMRtpqSG6OjEycVHOarfh\n"
                               "KgtxR3xnYnvMX3OJu+0wOkzGHwKBgQDDo2j2yaHsIMn3A6GYb/49lPh4ztFmPmlf\n"
                               "yVwHU78uJMftiTDrRuh5Ywrw272bO0jdiSX50Oe7YS9pU6946aurGsW0cMt85YFp\n"
                               "8BC3XwvbG7+ZfbfqpRwtqWzRwSE2+KDXHuvDXFKmgNraNXzrl6A6oQp+4FG8KwxZ\n"
                               "WUTfRXoXUwKBgQC+OQxt1Olo37SmT0JqnObLEgNM6JktWDIvaQOcube3+b8xn/S4\n"
                               "u9gUO6HywOSkxRU4Mx55K5dgpqy10CEAedD+oTVp3XoJFTZhW0675wuV5xla6G/i\n"
                               "Isfbgh3USWHfMhEzV6eyFNNQX/GoZ9sHufVwNUV6FwsCSc+TQoI3KNMlvQKBgHXo\n"
                               "ZHhoKUiwskhHTfsbdDUVNXNJ4nYmo0dxih94X76luED28B68i5utD4j+RpXp8w5h\n"
                               "fBvFxgPunK50G0taOXZUGleXq2xIvehlIQ4DIJgbbyxI0rF+dS8n70eziBsjWXyN\n"
                               "TDZfzAhBnKTqm7E5nv321OaGt3wazcSDwrh1nRG1AoGBAIFRIgUuoVg7kuXN8j6k\n"
                               "Enq7Ot4sfU5MZ4/rQrmMG/ZiwO3eUSF5iXkT0WJFXhu7pPtezVAMKqe0eJNmLruV\n"
                               "GUi59VxuPnP3wHMuIgOWM+9h/uO/ZHwd+32TScDXgtQOd7aAqxV2m0DuONQ1Rqee\n"
                               "HOY3Vw8cF8QkNQknELjzGt5A\n"
                               "-----END PRIVATE KEY-----\n";

static struct cmk_auth *auth;
static EVP_PKEY *key; /* test_key, which signs "#payload" inputs */
static char dir[64];
static char keyfile[128];

static void cleanup(void)
{
    cmk_auth_free(auth);
    EVP_PKEY_free(key);
    char path[160];
    unlink(keyfile);
    snprintf(path, sizeof(path), "%s/keys/root.key", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/keys", dir);
    rmdir(path);
    rmdir(dir);
}

static int never_deleted(void *data, const char *tid, const char *oid)
{
    (void)data;
    (void)tid;
    return oid[0] != 'x'; /* principals whose oid starts with 'x' count as deleted */
}

static void init(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cmk-fuzz-jwt-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    char keys[96];
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    snprintf(keyfile, sizeof(keyfile), "%s/%s", keys, CMK_AUTH_KEY_FILE);
    if (mkdir(keys, 0700) != 0)
        abort();
    BIO *bio = BIO_new_mem_buf(test_key, -1);
    key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    struct cmk_err err;
    struct cmk_rootkey rk;
    if (key == NULL || cmk_rootkey_load(&rk, dir, &err) != 0 ||
        cmk_rootkey_write_pkey(&rk, CMK_AUTH_KEY_LABEL, keyfile, key, &err) != 0) {
        fprintf(stderr, "fuzz_jwt: cannot seed the test key\n");
        abort();
    }
    cmk_rootkey_wipe(&rk);
    if (cmk_auth_open(&auth, dir, &err) != 0) {
        fprintf(stderr, "fuzz_jwt: %s\n", err.message);
        abort();
    }
    cmk_auth_set_principal_check(auth, never_deleted, NULL);
    atexit(cleanup);
}

/* "Bearer <b64url(header)>.<b64url(payload)>.<signature>" for payload bytes p. */
static char *sign_payload(const uint8_t *p, size_t n)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}",
             cmk_auth_kid(auth));
    char *h = cmk_b64_encode(hdr, strlen(hdr), 1);
    char *pl = cmk_b64_encode(p, n, 1);
    cmk_buf_printf(&b, "%s.%s", h, pl);
    free(h);
    free(pl);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)b.data, b.len) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    char *s = cmk_b64_encode(sig, siglen, 1);
    struct cmk_buf out;
    cmk_buf_init(&out);
    cmk_buf_printf(&out, "Bearer %s.%s", b.data, s);
    free(s);
    cmk_buf_close(&b);
    return cmk_buf_take(&out, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const audiences[] = {"https://vault.azure.net",
                                            "https://management.azure.com/", NULL};
    static const char marker[] = "#payload\n";
    if (auth == NULL)
        init();
    char *header;
    if (size >= sizeof(marker) - 1 && memcmp(data, marker, sizeof(marker) - 1) == 0) {
        header = sign_payload(data + sizeof(marker) - 1, size - (sizeof(marker) - 1));
    } else {
        header = cmk_xmalloc(size + 8);
        memcpy(header, "Bearer ", 7);
        memcpy(header + 7, data, size);
        header[size + 7] = '\0'; /* an embedded NUL ends the header early, as in HTTP */
    }
    struct cmk_principal p;
    struct cmk_err err;
    int rc = cmk_auth_verify(auth, header, NOW, audiences, &p, &err);
    if (getenv("CMK_FUZZ_VERBOSE") != NULL) /* shows what each corpus entry exercises */
        fprintf(stderr, "fuzz_jwt: %s\n", rc == 0 ? "verified" : err.inner);
    if (rc == 0) {
        /* What verification hands to a service is always terminated and in range. */
        if (strnlen(p.tid, sizeof(p.tid)) == sizeof(p.tid) ||
            strnlen(p.oid, sizeof(p.oid)) == sizeof(p.oid) ||
            strnlen(p.aud, sizeof(p.aud)) == sizeof(p.aud) || p.exp + 5 * CMK_MINUTE < NOW)
            abort();
    } else if (rc != CMK_EAUTH || err.status != 401) {
        abort();
    }
    free(header);
    return 0;
}
