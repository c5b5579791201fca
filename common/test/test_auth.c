/* test_auth.c: bearer tokens as a service and an attacker see them: the signing key on disk
 * (sealed under the root key: no PEM and none of the key's bytes in any file of the state
 * directory, mode 0600, reuse, a one-byte corruption refused without a new key, the clear PEM
 * of older versions removed unread; the sealed-file API itself: renamed, other label, other
 * root key), issued tokens and their claims, the key set, and every refusal of
 * cmk_auth_verify with its reason (no token, alg none, HS256 keyed with the public key,
 * foreign key, tampered signature or payload, expired, not yet valid, wrong audience, deleted
 * principal, malformed input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/b64.h"
#include "common/buf.h"
#include "common/rootkey.h"
#include "common/test/t_files.h"

#define NOW   ((cmk_time_t)1767225600000) /* 2026-01-01T00:00:00Z */
#define TID   "11111111-1111-1111-1111-111111111111"
#define OID   "aaaaaaaa-0000-4000-8000-000000000001"
#define APPID "bbbbbbbb-0000-4000-8000-000000000002"

static char base[64];
static struct cmk_auth *auth;
static const char *const vault_aud[] = {"https://vault.azure.net", NULL};

static int setup(void **state)
{
    snprintf(base, sizeof(base), "/tmp/cmk-test-auth-XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    struct cmk_err err;
    return cmk_auth_open(&auth, base, &err);
}

static int teardown(void **state)
{
    cmk_auth_free(auth);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void claims(struct cmk_principal *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->tid, sizeof(c->tid), TID);
    snprintf(c->oid, sizeof(c->oid), OID);
    snprintf(c->appid, sizeof(c->appid), APPID);
    snprintf(c->aud, sizeof(c->aud), "https://vault.azure.net");
    snprintf(c->iss, sizeof(c->iss), "https://sts.windows.net/%s/", TID);
    snprintf(c->idtyp, sizeof(c->idtyp), "app");
    c->iat = c->nbf = NOW;
    c->exp = NOW + CMK_HOUR;
}

static char *bearer(const char *token)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "Bearer %s", token);
    return cmk_buf_take(&b, NULL);
}

static char *issue(struct cmk_auth *a, const struct cmk_principal *c)
{
    char *tok = NULL;
    struct cmk_err err;
    assert_int_equal(cmk_auth_issue(a, c, &tok, &err), 0);
    char *h = bearer(tok);
    free(tok);
    return h;
}

/* Verify header and return the inner reason ("" on success). */
static const char *verify(const char *header, cmk_time_t now, const char *const *aud,
                          struct cmk_principal *out)
{
    static struct cmk_err err;
    memset(&err, 0, sizeof(err));
    int rc = cmk_auth_verify(auth, header, now, aud, out, &err);
    if (rc == 0)
        return "";
    assert_int_equal(rc, CMK_EAUTH);
    assert_int_equal(err.status, 401);
    assert_string_equal(err.code, "Unauthorized");
    return err.inner;
}

static char *b64json(const char *json)
{
    return cmk_b64_encode(json, strlen(json), 1);
}

/* A token from arbitrary header and payload JSON, signed by sign(data) into sig. */
static char *craft(const char *hdr, const char *payload, const unsigned char *sig, size_t siglen)
{
    char *h = b64json(hdr), *p = b64json(payload);
    char *s = cmk_b64_encode(sig, siglen, 1);
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "Bearer %s.%s.%s", h, p, s);
    free(h);
    free(p);
    free(s);
    return cmk_buf_take(&b, NULL);
}

/* The token-signing key of state directory dir, opened as auth.c does. */
static EVP_PKEY *read_key(const char *dir)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/keys/%s", dir, CMK_AUTH_KEY_FILE);
    struct cmk_rootkey rk;
    struct cmk_err err;
    assert_int_equal(cmk_rootkey_load(&rk, dir, &err), 0);
    EVP_PKEY *k = NULL;
    assert_int_equal(cmk_rootkey_read_pkey(&rk, CMK_AUTH_KEY_LABEL, path, &k, &err), 0);
    cmk_rootkey_wipe(&rk);
    assert_non_null(k);
    return k;
}

static char *sign_rs256(EVP_PKEY *key, const char *hdr, const char *payload)
{
    char *h = b64json(hdr), *p = b64json(payload);
    struct cmk_buf si;
    cmk_buf_init(&si);
    cmk_buf_printf(&si, "%s.%s", h, p);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)si.data, si.len), 1);
    EVP_MD_CTX_free(ctx);
    char *s = cmk_b64_encode(sig, siglen, 1);
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "Bearer %s.%s", si.data, s);
    cmk_buf_close(&si);
    free(h);
    free(p);
    free(s);
    return cmk_buf_take(&b, NULL);
}

static char *payload_json(cmk_time_t nbf, cmk_time_t exp, const char *aud)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b,
                   "{\"aud\":\"%s\",\"iss\":\"https://sts.windows.net/" TID "/\",\"nbf\":%lld,"
                   "\"exp\":%lld,\"iat\":%lld,\"tid\":\"" TID "\",\"oid\":\"" OID "\","
                   "\"appid\":\"" APPID "\"}",
                   aud, (long long)(nbf / 1000), (long long)(exp / 1000), (long long)(nbf / 1000));
    return cmk_buf_take(&b, NULL);
}

static char *our_header(void)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}", cmk_auth_kid(auth));
    return cmk_buf_take(&b, NULL);
}

/* ---- tests ---- */

static void test_key_file(void **state)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/keys/token-signing.key", base);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/keys/token-signing.pem", base);
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof(path), "%s/keys", base);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* The key is sealed: nothing under the state directory holds it in clear. */
    EVP_PKEY *key = read_key(base);
    assert_int_equal(EVP_PKEY_get_bits(key), 2048);
    t_assert_key_not_in_clear(base, key);
    /* kid: 43 base64url characters (SHA-256), stable across reopen. */
    assert_int_equal(strlen(cmk_auth_kid(auth)), 43);
    struct cmk_auth *again = NULL;
    struct cmk_err err;
    assert_int_equal(cmk_auth_open(&again, base, &err), 0);
    assert_string_equal(cmk_auth_kid(again), cmk_auth_kid(auth));
    EVP_PKEY *key2 = read_key(base);
    assert_int_equal(EVP_PKEY_eq(key, key2), 1);
    EVP_PKEY_free(key2);
    EVP_PKEY_free(key);
    /* A token issued before a restart verifies after it. */
    struct cmk_principal c;
    claims(&c);
    char *h = issue(again, &c);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "");
    free(h);
    cmk_auth_free(again);
}

/* A sealed key file altered by one byte anywhere stops the start with a message naming the
 * file, and is left as it is: no new key replaces it (that would invalidate every token). */
static void test_key_file_corrupt(void **state)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/keys/token-signing.key", base);
    size_t n = 0;
    unsigned char *good = t_slurp(path, &n);
    assert_true(n > CMK_SEAL_OVERHEAD + 1000);
    size_t where[] = {0, 1, 13, n / 2, n - 1};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        unsigned char *bad = malloc(n);
        memcpy(bad, good, n);
        bad[where[i]] ^= 0x01;
        t_spill(path, bad, n);
        struct cmk_auth *a = NULL;
        struct cmk_err err;
        cmk_err_clear(&err);
        assert_int_equal(cmk_auth_open(&a, base, &err), CMK_ECRYPTO);
        assert_null(a);
        assert_non_null(strstr(err.message, path));
        assert_non_null(strstr(err.message, "does not open"));
        size_t m = 0;
        unsigned char *now = t_slurp(path, &m);
        assert_int_equal(m, n);
        assert_memory_equal(now, bad, n);
        free(now);
        free(bad);
    }
    /* truncated */
    t_spill(path, good, n - 7);
    struct cmk_auth *a = NULL;
    struct cmk_err err;
    assert_int_equal(cmk_auth_open(&a, base, &err), CMK_ECRYPTO);
    assert_non_null(strstr(err.message, path));
    /* restored: the same key again */
    t_spill(path, good, n);
    assert_int_equal(cmk_auth_open(&a, base, &err), 0);
    assert_string_equal(cmk_auth_kid(a), cmk_auth_kid(auth));
    cmk_auth_free(a);
    free(good);
}

/* The clear token-signing.pem of an older version is deleted without being read; a new key,
 * sealed, takes its place (tokens it signed stop verifying). */
static void test_legacy_clear_key(void **state)
{
    char dir[96], keys[128], pem[160];
    snprintf(dir, sizeof(dir), "%s/legacy", base);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    snprintf(pem, sizeof(pem), "%s/token-signing.pem", keys);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(keys, 0700), 0);
    EVP_PKEY *old = read_key(base); /* the old clear key: ours, so its kid is known */
    FILE *f = fopen(pem, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, old, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    struct cmk_auth *a = NULL;
    struct cmk_err err;
    assert_int_equal(cmk_auth_open(&a, dir, &err), 0);
    struct stat st;
    assert_int_equal(stat(pem, &st), -1);
    assert_string_not_equal(cmk_auth_kid(a), cmk_auth_kid(auth));
    EVP_PKEY *key = read_key(dir);
    t_assert_key_not_in_clear(dir, key);
    t_assert_key_not_in_clear(dir, old);
    /* A token signed with the old key (our kid claimed) no longer verifies here. */
    struct cmk_principal c;
    claims(&c);
    char *h = issue(auth, &c); /* same key as the old file */
    struct cmk_err verr;
    assert_int_equal(cmk_auth_verify(a, h, NOW, vault_aud, NULL, &verr), CMK_EAUTH);
    free(h);
    EVP_PKEY_free(key);
    EVP_PKEY_free(old);
    cmk_auth_free(a);
}

/* The sealed private key files themselves (rootkey.h): missing, renamed, other label, other
 * root key, a clear PEM. */
static void test_sealed_key_api(void **state)
{
    char other[96], path[160], moved[160], pem[160];
    snprintf(other, sizeof(other), "%s/api", base);
    assert_int_equal(mkdir(other, 0700), 0);
    struct cmk_rootkey rk, rk2;
    struct cmk_err err;
    assert_int_equal(cmk_rootkey_load(&rk, base, &err), 0);
    assert_int_equal(cmk_rootkey_load(&rk2, other, &err), 0);
    EVP_PKEY *key = read_key(base), *got = NULL;
    snprintf(path, sizeof(path), "%s/a.key", other);
    snprintf(moved, sizeof(moved), "%s/b.key", other);
    snprintf(pem, sizeof(pem), "%s/c.key", other);
    assert_int_equal(cmk_rootkey_read_pkey(&rk, "test", path, &got, &err), CMK_ENOTFOUND);
    assert_int_equal(cmk_rootkey_write_pkey(&rk, "test", path, key, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(cmk_rootkey_read_pkey(&rk, "test", path, &got, &err), 0);
    assert_int_equal(EVP_PKEY_eq(key, got), 1);
    EVP_PKEY_free(got);
    got = NULL;
    assert_int_equal(cmk_rootkey_read_pkey(&rk, "other label", path, &got, &err), CMK_ECRYPTO);
    assert_int_equal(cmk_rootkey_read_pkey(&rk2, "test", path, &got, &err), CMK_ECRYPTO);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(cmk_rootkey_read_pkey(&rk, "test", moved, &got, &err), CMK_ECRYPTO);
    assert_non_null(strstr(err.message, moved));
    assert_null(got);
    /* a group-readable sealed file is set back to 0600 */
    assert_int_equal(rename(moved, path), 0);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cmk_rootkey_read_pkey(&rk, "test", path, &got, &err), 0);
    EVP_PKEY_free(got);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a clear PEM is reported (never parsed) */
    FILE *f = fopen(pem, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    got = NULL;
    assert_int_equal(cmk_rootkey_read_pkey(&rk, "test", pem, &got, &err), CMK_EPARSE);
    assert_null(got);
    assert_non_null(strstr(err.message, "in clear"));
    /* the scan of t_assert_key_not_in_clear sees what it looks for */
    assert_int_equal(t_files_holding(other, "PRIVATE KEY", 11), 1);
    /* no temporary file left behind: only keys/ remains */
    assert_int_equal(unlink(pem), 0);
    assert_int_equal(unlink(path), 0);
    DIR *d = opendir(other);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        assert_true(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                    strcmp(e->d_name, "keys") == 0);
    closedir(d);
    EVP_PKEY_free(key);
    cmk_rootkey_wipe(&rk);
    cmk_rootkey_wipe(&rk2);
}

static void test_issue_verify(void **state)
{
    struct cmk_principal c, out;
    claims(&c);
    snprintf(c.idtyp, sizeof(c.idtyp), "mi");
    snprintf(c.mirid, sizeof(c.mirid),
             "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
             "userAssignedIdentities/id1");
    char *h = issue(auth, &c);
    assert_string_equal(verify(h, NOW + 30 * CMK_MINUTE, vault_aud, &out), "");
    assert_string_equal(out.tid, TID);
    assert_string_equal(out.oid, OID);
    assert_string_equal(out.appid, APPID);
    assert_string_equal(out.aud, "https://vault.azure.net");
    assert_string_equal(out.idtyp, "mi");
    assert_string_equal(out.mirid, c.mirid);
    assert_int_equal(out.exp, NOW + CMK_HOUR);
    assert_int_equal(out.nbf, NOW);

    /* The header and claims a client decoding the token sees. */
    const char *tok = h + 7;
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    size_t n;
    unsigned char *hj = cmk_b64_decode(tok, (size_t)(d1 - tok), &n);
    json_t *hdr = json_loadb((char *)hj, n, 0, NULL);
    free(hj);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), cmk_auth_kid(auth));
    assert_int_equal(strlen(json_string_value(json_object_get(hdr, "x5t"))), 27); /* SHA-1 */
    json_decref(hdr);
    unsigned char *pj = cmk_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &n);
    json_t *pl = json_loadb((char *)pj, n, 0, NULL);
    free(pj);
    assert_string_equal(json_string_value(json_object_get(pl, "ver")), "1.0");
    assert_string_equal(json_string_value(json_object_get(pl, "sub")), OID);
    assert_string_equal(json_string_value(json_object_get(pl, "azp")), APPID);
    assert_int_equal(json_integer_value(json_object_get(pl, "exp")), (NOW + CMK_HOUR) / 1000);
    assert_string_equal(json_string_value(json_object_get(pl, "xms_mirid")), c.mirid);
    json_decref(pl);
    free(h);

    /* A v2 issuer gives ver 2.0. */
    snprintf(c.iss, sizeof(c.iss), "https://login.microsoftonline.com/%s/v2.0", TID);
    h = issue(auth, &c);
    assert_string_equal(verify(h, NOW, vault_aud, &out), "");
    assert_string_equal(out.iss, c.iss);
    free(h);

    /* Incomplete claims are refused at issue. */
    char *tok2 = NULL;
    struct cmk_err err;
    c.aud[0] = '\0';
    assert_int_equal(cmk_auth_issue(auth, &c, &tok2, &err), CMK_EINVAL);
    assert_null(tok2);
}

static void test_time_window(void **state)
{
    struct cmk_principal c;
    claims(&c);
    char *h = issue(auth, &c);
    /* 5 minutes of skew on both ends, like Entra ID. */
    assert_string_equal(verify(h, c.exp + 4 * CMK_MINUTE, vault_aud, NULL), "");
    assert_string_equal(verify(h, c.exp + 5 * CMK_MINUTE + CMK_SECOND, vault_aud, NULL),
                        "TokenExpired");
    assert_string_equal(verify(h, c.nbf - 4 * CMK_MINUTE, vault_aud, NULL), "");
    assert_string_equal(verify(h, c.nbf - 6 * CMK_MINUTE, vault_aud, NULL), "TokenNotYetValid");
    free(h);
}

static void test_audience(void **state)
{
    struct cmk_principal c;
    claims(&c);
    char *h = issue(auth, &c);
    static const char *const mgmt[] = {"https://management.azure.com/",
                                       "https://management.core.windows.net/", NULL};
    static const char *const slash[] = {"https://vault.azure.net/", NULL};
    static const char *const upper[] = {"HTTPS://VAULT.AZURE.NET", NULL};
    struct cmk_err err;
    assert_int_equal(cmk_auth_verify(auth, h, NOW, mgmt, NULL, &err), CMK_EAUTH);
    assert_string_equal(err.inner, "InvalidAudience");
    assert_non_null(strstr(err.message, "https://vault.azure.net"));
    assert_string_equal(verify(h, NOW, slash, NULL), "");
    assert_string_equal(verify(h, NOW, upper, NULL), "");
    assert_string_equal(verify(h, NOW, NULL, NULL), ""); /* no list: any audience */
    free(h);
    /* An audience array matches if one member does. */
    EVP_PKEY *key = read_key(base);
    char *hdr = our_header();
    char pl[512];
    snprintf(pl, sizeof(pl),
             "{\"aud\":[\"https://x.example\",\"https://vault.azure.net/\"],\"exp\":%lld,"
             "\"tid\":\"" TID "\",\"oid\":\"" OID "\",\"iss\":\"i\"}",
             (long long)(NOW / 1000 + 60));
    h = sign_rs256(key, hdr, pl);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "");
    free(h);
    snprintf(pl, sizeof(pl),
             "{\"aud\":[],\"exp\":%lld,\"tid\":\"" TID "\",\"oid\":\"" OID "\",\"iss\":\"i\"}",
             (long long)(NOW / 1000 + 60));
    h = sign_rs256(key, hdr, pl);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "TokenMalformed");
    free(h);
    free(hdr);
    EVP_PKEY_free(key);
}

static void test_missing(void **state)
{
    assert_string_equal(verify(NULL, NOW, vault_aud, NULL), "TokenMissing");
    assert_string_equal(verify("", NOW, vault_aud, NULL), "TokenMissing");
    assert_string_equal(verify("Bearer ", NOW, vault_aud, NULL), "TokenMissing");
    assert_string_equal(verify("Basic dXNlcjpwYXNz", NOW, vault_aud, NULL), "TokenMissing");
    struct cmk_principal c;
    claims(&c);
    char *h = issue(auth, &c);
    h[0] = 'b'; /* the scheme is case-insensitive */
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "");
    free(h);
}

static void test_alg_none_and_hs256(void **state)
{
    char *pl = payload_json(NOW, NOW + CMK_HOUR, "https://vault.azure.net");
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"alg\":\"none\",\"kid\":\"%s\"}",
             cmk_auth_kid(auth));
    char *h = craft(hdr, pl, (const unsigned char *)"", 0);
    /* "a.b." has an empty signature segment */
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "UnsupportedAlgorithm");
    free(h);
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"alg\":\"None\"}");
    h = craft(hdr, pl, (const unsigned char *)"x", 1);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "UnsupportedAlgorithm");
    free(h);

    /* HS256 keyed with our public key (the classic confusion attack). */
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"%s\"}",
             cmk_auth_kid(auth));
    json_t *jwks = cmk_auth_jwks(auth);
    const char *n =
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "n"));
    char *h64 = b64json(hdr), *p64 = b64json(pl);
    struct cmk_buf si;
    cmk_buf_init(&si);
    cmk_buf_printf(&si, "%s.%s", h64, p64);
    unsigned char mac[32];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), n, (int)strlen(n), (unsigned char *)si.data, si.len, mac, &maclen);
    h = craft(hdr, pl, mac, maclen);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "UnsupportedAlgorithm");
    free(h);
    cmk_buf_close(&si);
    free(h64);
    free(p64);
    json_decref(jwks);

    /* Other RSA algorithms are refused as well, even with a valid-looking signature. */
    EVP_PKEY *key = read_key(base);
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"alg\":\"RS512\",\"kid\":\"%s\"}",
             cmk_auth_kid(auth));
    h = sign_rs256(key, hdr, pl);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "UnsupportedAlgorithm");
    free(h);
    EVP_PKEY_free(key);
    free(pl);
}

static void test_tampered(void **state)
{
    struct cmk_principal c;
    claims(&c);
    char *h = issue(auth, &c);
    char *last = strrchr(h, '.') + 10;
    *last = *last == 'A' ? 'B' : 'A';
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "InvalidSignature");
    free(h);
    /* A payload changed (oid of someone else) with the original signature. */
    h = issue(auth, &c);
    char *d1 = strchr(h + 7, '.'), *d2 = strchr(d1 + 1, '.');
    char *pl = payload_json(NOW, NOW + 24 * CMK_HOUR, "https://vault.azure.net");
    char *p64 = b64json(pl);
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_append(&b, h, (size_t)(d1 - h + 1));
    cmk_buf_puts(&b, p64);
    cmk_buf_puts(&b, d2);
    assert_string_equal(verify(b.data, NOW, vault_aud, NULL), "InvalidSignature");
    /* A truncated signature. */
    b.data[b.len - 5] = '\0';
    assert_string_equal(verify(b.data, NOW, vault_aud, NULL), "InvalidSignature");
    cmk_buf_close(&b);
    free(p64);
    free(pl);
    free(h);
}

static void test_foreign_key(void **state)
{
    char other[96];
    snprintf(other, sizeof(other), "%s/other", base);
    struct cmk_auth *a2 = NULL;
    struct cmk_err err;
    assert_int_equal(cmk_auth_open(&a2, other, &err), 0);
    assert_string_not_equal(cmk_auth_kid(a2), cmk_auth_kid(auth));
    struct cmk_principal c;
    claims(&c);
    char *h = issue(a2, &c);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "UnknownSigningKey");
    free(h);
    /* The foreign key claiming our kid: the signature gives it away. */
    EVP_PKEY *key = read_key(other);
    char *hdr = our_header();
    char *pl = payload_json(NOW, NOW + CMK_HOUR, "https://vault.azure.net");
    h = sign_rs256(key, hdr, pl);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "InvalidSignature");
    free(h);
    /* No kid and no x5t: refused. */
    h = sign_rs256(key, "{\"alg\":\"RS256\"}", pl);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "UnknownSigningKey");
    free(h);
    free(hdr);
    free(pl);
    EVP_PKEY_free(key);
    cmk_auth_free(a2);
}

static int deleted_principal(void *data, const char *tid, const char *oid)
{
    int *calls = data;
    (*calls)++;
    return strcmp(oid, OID) != 0; /* OID was deleted */
}

static void test_principal_check(void **state)
{
    int calls = 0;
    cmk_auth_set_principal_check(auth, deleted_principal, &calls);
    struct cmk_principal c;
    claims(&c);
    char *h = issue(auth, &c);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "UnknownPrincipal");
    assert_int_equal(calls, 1);
    free(h);
    snprintf(c.oid, sizeof(c.oid), "cccccccc-0000-4000-8000-000000000003");
    h = issue(auth, &c);
    assert_string_equal(verify(h, NOW, vault_aud, NULL), "");
    free(h);
    /* A refused token never reaches the registry. */
    assert_string_equal(verify("Bearer a.b.c", NOW, vault_aud, NULL), "TokenMalformed");
    assert_int_equal(calls, 2);
    cmk_auth_set_principal_check(auth, NULL, NULL);
}

static void test_malformed(void **state)
{
    EVP_PKEY *key = read_key(base);
    char *hdr = our_header();
    static const char *const bad[] = {
        "Bearer abc",
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer ..",
        "Bearer e30.e30.e30",                /* {} header: no alg */
        "Bearer eyJhbGciOiJSUzI1NiJ9=.e30.", /* padding */
        "Bearer ey+hbGciOiJSUzI1NiJ9.e30.x", /* '+' is not base64url */
        "Bearer W10.e30.e30",                /* [] header */
        NULL,
    };
    for (size_t i = 0; bad[i]; i++)
        assert_string_equal(verify(bad[i], NOW, vault_aud, NULL), "TokenMalformed");
    /* Duplicate keys, a string exp, a missing tid: malformed even when signed by us. */
    static const char *const payloads[] = {
        "{\"aud\":\"https://vault.azure.net\",\"aud\":\"x\",\"exp\":1767229200,\"tid\":\"t\","
        "\"oid\":\"o\",\"iss\":\"i\"}",
        "{\"aud\":\"https://vault.azure.net\",\"exp\":\"1767229200\",\"tid\":\"t\",\"oid\":\"o\","
        "\"iss\":\"i\"}",
        "{\"aud\":\"https://vault.azure.net\",\"exp\":1767229200,\"oid\":\"o\",\"iss\":\"i\"}",
        "{\"aud\":\"https://vault.azure.net\",\"exp\":1767229200.5,\"tid\":\"t\",\"oid\":\"o\","
        "\"iss\":\"i\"}",
        "[1,2,3]",
        NULL,
    };
    for (size_t i = 0; payloads[i]; i++) {
        char *h = sign_rs256(key, hdr, payloads[i]);
        assert_string_equal(verify(h, NOW, vault_aud, NULL), "TokenMalformed");
        free(h);
    }
    /* Too large. */
    char *big = cmk_xmalloc(20000);
    memset(big, 'A', 19999);
    memcpy(big, "Bearer ", 7);
    big[19999] = '\0';
    assert_string_equal(verify(big, NOW, vault_aud, NULL), "TokenMalformed");
    free(big);
    free(hdr);
    EVP_PKEY_free(key);
}

static void test_jwks(void **state)
{
    json_t *j = cmk_auth_jwks(auth);
    json_t *k = json_array_get(json_object_get(j, "keys"), 0);
    assert_non_null(k);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 1);
    assert_string_equal(json_string_value(json_object_get(k, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(k, "e")), "AQAB");
    assert_string_equal(json_string_value(json_object_get(k, "kid")), cmk_auth_kid(auth));
    const char *n = json_string_value(json_object_get(k, "n"));
    size_t len = 0;
    unsigned char *nb = cmk_b64_decode(n, strlen(n), &len);
    assert_int_equal(len, 256);
    free(nb);
    /* kid is the RFC 7638 thumbprint of {e, kty, n}. */
    char canon[1024];
    snprintf(canon, sizeof(canon), "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", n);
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL);
    char *kid = cmk_b64_encode(md, mdlen, 1);
    assert_string_equal(kid, cmk_auth_kid(auth));
    free(kid);
    /* x5c holds a certificate for the same public key. */
    const char *x5c = json_string_value(json_array_get(json_object_get(k, "x5c"), 0));
    unsigned char *der = cmk_b64_decode(x5c, strlen(x5c), &len);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    assert_non_null(x);
    EVP_PKEY *key = read_key(base);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);
    EVP_PKEY_free(key);
    X509_free(x);
    free(der);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file),           cmocka_unit_test(test_key_file_corrupt),
        cmocka_unit_test(test_legacy_clear_key),   cmocka_unit_test(test_sealed_key_api),
        cmocka_unit_test(test_issue_verify),       cmocka_unit_test(test_time_window),
        cmocka_unit_test(test_audience),           cmocka_unit_test(test_missing),
        cmocka_unit_test(test_alg_none_and_hs256), cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_foreign_key),        cmocka_unit_test(test_principal_check),
        cmocka_unit_test(test_malformed),          cmocka_unit_test(test_jwks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
