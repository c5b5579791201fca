/* test_engine.c: the key engine through its C API (no HTTP): key types and sizes, versions,
 * attributes, every crypto operation and its refusals, the soft-delete lifecycle with the
 * clock's automatic purge (also after a restart), backup blobs and where they may be
 * restored, rotation and rotation policies on the clock, imports (JWK, BYOK, PKCS#12), and
 * that no private key byte is ever on disk in clear. */
#include <dirent.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "vs_test.h"
#include "common/store.h"
#include "vaultsim/engine.h"

struct eng {
    char dir[128];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct vs_engine *e;
    struct vs_space s;     /* purge protection off, retention 7 days, premium-like */
    struct vs_space prot;  /* purge protection on */
    struct vs_space other; /* another subscription */
    int events;
    char last_event[64];
};

static int lookup(void *data, const char *space_id, struct vs_space *out)
{
    struct eng *g = data;
    if (strcmp(space_id, g->s.id) == 0)
        *out = g->s;
    else if (strcmp(space_id, g->prot.id) == 0)
        *out = g->prot;
    else if (strcmp(space_id, g->other.id) == 0)
        *out = g->other;
    else
        return CMK_ENOTFOUND;
    return 0;
}

static void on_event(void *data, const char *space, const char *what, const char *name,
                     const char *version)
{
    struct eng *g = data;
    g->events++;
    snprintf(g->last_event, sizeof(g->last_event), "%s", what);
}

static void space(struct vs_space *s, const char *name, const char *sub, int days, int prot)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "vault/%s", name);
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->subscription, sizeof(s->subscription), "%s", sub);
    s->retention_days = days;
    s->purge_protection = prot;
    s->key_types = VS_KTYS_SOFTWARE | VS_KTYS_HSM_ASYM;
    s->kind_label = "key vault";
}

static void eng_open(struct eng *g)
{
    uv_loop_init(&g->loop);
    struct cmk_runtime_opts o = {.data_dir = g->dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 3};
    struct cmk_err err;
    if (cmk_runtime_open(&g->rt, &g->loop, &o, &err) != 0)
        t_fail_err("runtime", &err);
    struct vs_engine_policy p = {
        .version = 1, .kind = "vault", .space_lookup = lookup, .on_event = on_event, .data = g};
    if (vs_engine_open(&g->e, &g->rt, &p, &err) != 0)
        t_fail_err("engine", &err);
}

static void eng_close(struct eng *g)
{
    vs_engine_free(g->e);
    cmk_runtime_close(&g->rt);
    uv_run(&g->loop, UV_RUN_DEFAULT);
    uv_loop_close(&g->loop);
}

static int setup(void **state)
{
    struct eng *g = calloc(1, sizeof(*g));
    snprintf(g->dir, sizeof(g->dir), "/tmp/cmk-vs-engine-XXXXXX");
    if (mkdtemp(g->dir) == NULL)
        return -1;
    t_seed_keys(g->dir);
    space(&g->s, "v1", T_SUB, 7, 0);
    space(&g->prot, "v2", T_SUB, 90, 1);
    space(&g->other, "v3", "99999999-9999-9999-9999-999999999999", 90, 0);
    eng_open(g);
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    struct eng *g = *state;
    eng_close(g);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g->dir);
    int rc = system(cmd);
    free(g);
    return rc == 0 ? 0 : -1;
}

static void create(struct eng *g, const struct vs_space *s, const char *name, enum vs_kty kty,
                   int size, struct vs_key *out)
{
    struct vs_key_params p;
    memset(&p, 0, sizeof(p));
    p.kty = kty;
    p.size = size;
    vs_attrs_init(&p.attrs);
    struct cmk_err err;
    if (vs_key_create(g->e, s, name, &p, out, &err) != 0)
        t_fail_err("create", &err);
}

static int is_hex32(const char *v)
{
    if (strlen(v) != 32)
        return 0;
    for (int i = 0; i < 32; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
            return 0;
    return 1;
}

/* ---- keys and versions --------------------------------------------------------------------- */

static void test_create_get_versions(void **state)
{
    struct eng *g = *state;
    struct vs_key k1, k2, got;
    struct cmk_err err;
    create(g, &g->s, "Kek", VS_KTY_RSA, 2048, &k1);
    assert_true(is_hex32(k1.version));
    assert_int_equal(k1.size, 2048);
    assert_int_equal(k1.enabled, 1);
    assert_string_equal(k1.recovery_level, "CustomizedRecoverable+Purgeable");
    assert_int_equal(k1.recoverable_days, 7);
    /* the public JWK: n and e, never d */
    json_t *b = vs_key_bundle_json(&k1, "https://v1.vault.azure.net");
    json_t *jwk = json_object_get(b, "key");
    assert_non_null(json_object_get(jwk, "n"));
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    assert_null(json_object_get(jwk, "d"));
    assert_null(json_object_get(jwk, "p"));
    char kid[200];
    snprintf(kid, sizeof(kid), "https://v1.vault.azure.net/keys/Kek/%s", k1.version);
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), kid);
    assert_int_equal(json_array_size(json_object_get(jwk, "key_ops")), 6);
    json_decref(b);

    /* a second version; names are case-insensitive and keep their first spelling */
    create(g, &g->s, "kek", VS_KTY_RSA, 3072, &k2);
    assert_string_equal(k2.name, "Kek");
    assert_string_not_equal(k1.version, k2.version);
    assert_int_equal(vs_key_get(g->e, &g->s, "KEK", "", 0, &got, &err), 0);
    assert_string_equal(got.version, k2.version);
    assert_int_equal(got.size, 3072);
    vs_key_clear(&got);
    assert_int_equal(vs_key_get(g->e, &g->s, "kek", k1.version, 0, &got, &err), 0);
    assert_int_equal(got.size, 2048);
    vs_key_clear(&got);
    assert_int_equal(
        vs_key_get(g->e, &g->s, "kek", "00000000000000000000000000000000", 0, &got, &err),
        CMK_ENOTFOUND);
    assert_string_equal(err.code, "KeyNotFound");
    assert_int_equal(vs_key_get(g->e, &g->s, "nope", NULL, 0, &got, &err), CMK_ENOTFOUND);
    assert_int_equal(err.status, 404);
    assert_int_equal(vs_key_get(g->e, &g->s, "bad_name", NULL, 0, &got, &err), CMK_EINVAL);
    assert_string_equal(err.code, "BadParameter");

    /* versions, one page at a time */
    struct vs_key *items;
    size_t n;
    int more;
    assert_int_equal(vs_key_list_versions(g->e, &g->s, "kek", "", 1, &items, &n, &more, &err), 0);
    assert_int_equal(n, 1);
    assert_true(more);
    assert_string_equal(items[0].version, k1.version);
    vs_key_list_free(items, n);
    assert_int_equal(
        vs_key_list_versions(g->e, &g->s, "kek", k1.version, 1, &items, &n, &more, &err), 0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(items[0].version, k2.version);
    vs_key_list_free(items, n);
    vs_key_clear(&k1);
    vs_key_clear(&k2);
}

static void test_types_and_sizes(void **state)
{
    struct eng *g = *state;
    struct vs_key k;
    struct vs_key_params p;
    struct cmk_err err;
    memset(&p, 0, sizeof(p));
    vs_attrs_init(&p.attrs);
    p.kty = VS_KTY_RSA;
    p.size = 1024;
    assert_int_equal(vs_key_create(g->e, &g->s, "small", &p, &k, &err), CMK_EINVAL);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "BadParameter");
    /* HSM kinds need a premium vault; oct keys are for Managed HSM */
    struct vs_space std = g->s;
    std.key_types = VS_KTYS_SOFTWARE;
    p.size = 2048;
    p.kty = VS_KTY_RSA_HSM;
    assert_int_equal(vs_key_create(g->e, &std, "hsm", &p, &k, &err), CMK_EINVAL);
    assert_string_equal(err.message, "Hardware key operation not allowed on standard vault");
    p.kty = VS_KTY_OCT_HSM;
    p.size = 256;
    assert_int_equal(vs_key_create(g->e, &g->s, "oct", &p, &k, &err), CMK_EINVAL);
    /* EC curves */
    static const enum vs_crv crvs[] = {VS_CRV_P256, VS_CRV_P384, VS_CRV_P521};
    static const enum vs_alg algs[] = {VS_ALG_ES256, VS_ALG_ES384, VS_ALG_ES512};
    static const size_t digests[] = {32, 48, 64};
    for (int i = 0; i < 3; i++) {
        p.kty = i == 1 ? VS_KTY_EC_HSM : VS_KTY_EC;
        p.size = 0;
        p.crv = crvs[i];
        char name[16];
        snprintf(name, sizeof(name), "ec%d", i);
        assert_int_equal(vs_key_create(g->e, &g->s, name, &p, &k, &err), 0);
        assert_int_equal(k.crv, crvs[i]);
        json_t *jwk = vs_key_jwk_json(&k, "https://v1.vault.azure.net");
        assert_string_equal(json_string_value(json_object_get(jwk, "crv")), vs_crv_name(crvs[i]));
        assert_non_null(json_object_get(jwk, "x"));
        assert_null(json_object_get(jwk, "d"));
        json_decref(jwk);
        unsigned char digest[64];
        RAND_bytes(digest, sizeof(digest));
        struct vs_crypt_in in = {.alg = algs[i], .value = digest, .len = digests[i]};
        struct vs_crypt_out sig, ver;
        vs_crypt_out_init(&sig);
        vs_crypt_out_init(&ver);
        assert_int_equal(vs_key_crypt(g->e, &g->s, name, NULL, VS_OP_SIGN, &in, &sig, &err), 0);
        assert_int_equal(sig.value.len, i == 0 ? 64 : i == 1 ? 96 : 132);
        in.sig = (unsigned char *)sig.value.data;
        in.siglen = sig.value.len;
        assert_int_equal(vs_key_crypt(g->e, &g->s, name, NULL, VS_OP_VERIFY, &in, &ver, &err), 0);
        assert_true(ver.verified);
        digest[0] ^= 1;
        assert_int_equal(vs_key_crypt(g->e, &g->s, name, NULL, VS_OP_VERIFY, &in, &ver, &err), 0);
        assert_false(ver.verified);
        /* EC keys do not wrap */
        struct vs_crypt_in w = {.alg = VS_ALG_RSA_OAEP, .value = digest, .len = 32};
        assert_int_equal(vs_key_crypt(g->e, &g->s, name, NULL, VS_OP_WRAP, &w, &ver, &err),
                         CMK_EDENIED); /* not in key_ops */
        vs_crypt_out_close(&sig);
        vs_crypt_out_close(&ver);
        vs_key_clear(&k);
    }
}

static void roundtrip(struct eng *g, const struct vs_space *s, const char *name, unsigned enc,
                      unsigned dec, enum vs_alg alg, size_t len)
{
    unsigned char plain[256];
    RAND_bytes(plain, sizeof(plain));
    struct cmk_err err;
    struct vs_crypt_in in = {.alg = alg, .value = plain, .len = len};
    unsigned char iv[16];
    RAND_bytes(iv, sizeof(iv));
    if (alg >= VS_ALG_A128CBC && alg <= VS_ALG_A256CBCPAD) {
        in.iv = iv;
        in.ivlen = 16;
    }
    struct vs_crypt_out c, p;
    vs_crypt_out_init(&c);
    vs_crypt_out_init(&p);
    if (vs_key_crypt(g->e, s, name, NULL, enc, &in, &c, &err) != 0)
        t_fail_err(vs_alg_name(alg), &err);
    struct vs_crypt_in back = {.alg = alg,
                               .value = (unsigned char *)c.value.data,
                               .len = c.value.len,
                               .iv = c.iv.len ? (unsigned char *)c.iv.data : in.iv,
                               .ivlen = c.iv.len ? c.iv.len : in.ivlen,
                               .tag = (unsigned char *)c.tag.data,
                               .taglen = c.tag.len};
    if (vs_key_crypt(g->e, s, name, c.version, dec, &back, &p, &err) != 0)
        t_fail_err(vs_alg_name(alg), &err);
    assert_int_equal(p.value.len, len);
    assert_memory_equal(p.value.data, plain, len);
    vs_crypt_out_close(&c);
    vs_crypt_out_close(&p);
}

static void test_rsa_operations(void **state)
{
    struct eng *g = *state;
    struct vs_key k;
    struct cmk_err err;
    create(g, &g->s, "rsa", VS_KTY_RSA, 2048, &k);
    vs_key_clear(&k);
    roundtrip(g, &g->s, "rsa", VS_OP_WRAP, VS_OP_UNWRAP, VS_ALG_RSA_OAEP, 32);
    roundtrip(g, &g->s, "rsa", VS_OP_WRAP, VS_OP_UNWRAP, VS_ALG_RSA_OAEP_256, 32);
    roundtrip(g, &g->s, "rsa", VS_OP_WRAP, VS_OP_UNWRAP, VS_ALG_RSA1_5, 32);
    roundtrip(g, &g->s, "rsa", VS_OP_ENCRYPT, VS_OP_DECRYPT, VS_ALG_RSA_OAEP_256, 190);
    /* the cache is only a cache: flushed, keys open again from their sealed rows */
    vs_engine_cache_flush(g->e);
    roundtrip(g, &g->s, "rsa", VS_OP_WRAP, VS_OP_UNWRAP, VS_ALG_RSA_OAEP_256, 32);
    /* too long for OAEP-256 with a 2048-bit key */
    unsigned char big[256] = {0};
    struct vs_crypt_in in = {.alg = VS_ALG_RSA_OAEP_256, .value = big, .len = 191};
    struct vs_crypt_out out;
    vs_crypt_out_init(&out);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "rsa", NULL, VS_OP_ENCRYPT, &in, &out, &err),
                     CMK_EINVAL);
    assert_int_equal(err.status, 400);
    /* a ciphertext that does not decrypt */
    in.len = 256;
    assert_int_equal(vs_key_crypt(g->e, &g->s, "rsa", NULL, VS_OP_UNWRAP, &in, &out, &err),
                     CMK_EINVAL);
    /* wrong algorithm for the key */
    in.alg = VS_ALG_A256KW;
    in.len = 32;
    assert_int_equal(vs_key_crypt(g->e, &g->s, "rsa", NULL, VS_OP_WRAP, &in, &out, &err),
                     CMK_EINVAL);
    assert_string_equal(err.code, "BadParameter");
    /* signatures: RS and PS, with the digest length of the algorithm */
    static const enum vs_alg sigs[] = {VS_ALG_RS256, VS_ALG_RS384, VS_ALG_RS512,
                                       VS_ALG_PS256, VS_ALG_PS384, VS_ALG_PS512};
    static const size_t dl[] = {32, 48, 64, 32, 48, 64};
    for (int i = 0; i < 6; i++) {
        unsigned char d[64];
        RAND_bytes(d, sizeof(d));
        struct vs_crypt_in s = {.alg = sigs[i], .value = d, .len = dl[i]};
        struct vs_crypt_out sig, ver;
        vs_crypt_out_init(&sig);
        vs_crypt_out_init(&ver);
        assert_int_equal(vs_key_crypt(g->e, &g->s, "rsa", NULL, VS_OP_SIGN, &s, &sig, &err), 0);
        assert_int_equal(sig.value.len, 256);
        s.sig = (unsigned char *)sig.value.data;
        s.siglen = sig.value.len;
        assert_int_equal(vs_key_crypt(g->e, &g->s, "rsa", NULL, VS_OP_VERIFY, &s, &ver, &err), 0);
        assert_true(ver.verified);
        s.len = dl[i] - 1;
        assert_int_equal(vs_key_crypt(g->e, &g->s, "rsa", NULL, VS_OP_SIGN, &s, &sig, &err),
                         CMK_EINVAL);
        vs_crypt_out_close(&sig);
        vs_crypt_out_close(&ver);
    }
    vs_crypt_out_close(&out);
}

static void test_oct_operations(void **state)
{
    struct eng *g = *state;
    struct vs_space hsm = g->s;
    snprintf(hsm.id, sizeof(hsm.id), "vault/octs");
    hsm.key_types |= VS_KTYS_OCT;
    struct vs_key k;
    create(g, &hsm, "aes", VS_KTY_OCT_HSM, 256, &k);
    assert_int_equal(k.size, 256);
    json_t *jwk = vs_key_jwk_json(&k, "https://h.managedhsm.azure.net");
    assert_null(json_object_get(jwk, "k"));
    json_decref(jwk);
    vs_key_clear(&k);
    roundtrip(g, &hsm, "aes", VS_OP_WRAP, VS_OP_UNWRAP, VS_ALG_A256KW, 32);
    roundtrip(g, &hsm, "aes", VS_OP_ENCRYPT, VS_OP_DECRYPT, VS_ALG_A256GCM, 100);
    roundtrip(g, &hsm, "aes", VS_OP_ENCRYPT, VS_OP_DECRYPT, VS_ALG_A256CBCPAD, 100);
    roundtrip(g, &hsm, "aes", VS_OP_ENCRYPT, VS_OP_DECRYPT, VS_ALG_A256CBC, 64);
    /* key size and algorithm must agree */
    struct cmk_err err;
    unsigned char v[32] = {0};
    struct vs_crypt_in in = {.alg = VS_ALG_A128KW, .value = v, .len = 32};
    struct vs_crypt_out out;
    vs_crypt_out_init(&out);
    assert_int_equal(vs_key_crypt(g->e, &hsm, "aes", NULL, VS_OP_WRAP, &in, &out, &err),
                     CMK_EINVAL);
    /* a tampered GCM tag does not decrypt */
    in.alg = VS_ALG_A256GCM;
    assert_int_equal(vs_key_crypt(g->e, &hsm, "aes", NULL, VS_OP_ENCRYPT, &in, &out, &err), 0);
    out.tag.data[0] ^= 1;
    struct vs_crypt_in back = {.alg = VS_ALG_A256GCM,
                               .value = (unsigned char *)out.value.data,
                               .len = out.value.len,
                               .iv = (unsigned char *)out.iv.data,
                               .ivlen = out.iv.len,
                               .tag = (unsigned char *)out.tag.data,
                               .taglen = out.tag.len};
    struct vs_crypt_out p;
    vs_crypt_out_init(&p);
    assert_int_equal(vs_key_crypt(g->e, &hsm, "aes", NULL, VS_OP_DECRYPT, &back, &p, &err),
                     CMK_EINVAL);
    vs_crypt_out_close(&out);
    vs_crypt_out_close(&p);
}

static void test_attributes_refuse(void **state)
{
    struct eng *g = *state;
    struct vs_key k;
    struct cmk_err err;
    create(g, &g->s, "attr", VS_KTY_RSA, 2048, &k);
    unsigned char dek[32] = {1};
    struct vs_crypt_in in = {.alg = VS_ALG_RSA_OAEP_256, .value = dek, .len = 32};
    struct vs_crypt_out wrapped, out;
    vs_crypt_out_init(&wrapped);
    vs_crypt_out_init(&out);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_WRAP, &in, &wrapped, &err), 0);
    struct vs_crypt_in un = {.alg = VS_ALG_RSA_OAEP_256,
                             .value = (unsigned char *)wrapped.value.data,
                             .len = wrapped.value.len};

    /* disabled: get and every operation refused */
    struct vs_key_update u;
    memset(&u, 0, sizeof(u));
    vs_attrs_init(&u.attrs);
    u.attrs.enabled = 0;
    struct vs_key upd;
    assert_int_equal(vs_key_update(g->e, &g->s, "attr", NULL, &u, &upd, &err), 0);
    assert_int_equal(upd.enabled, 0);
    vs_key_clear(&upd);
    assert_int_equal(vs_key_get(g->e, &g->s, "attr", NULL, 0, &upd, &err), CMK_EDENIED);
    assert_int_equal(err.status, 403);
    assert_string_equal(err.code, "Forbidden");
    assert_string_equal(err.inner, "KeyDisabled");
    assert_string_equal(err.message, "Operation get is not allowed on a disabled key.");
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_UNWRAP, &un, &out, &err),
                     CMK_EDENIED);
    assert_string_equal(err.message, "Operation unwrapKey is not allowed on a disabled key.");
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_WRAP, &in, &out, &err),
                     CMK_EDENIED);
    u.attrs.enabled = 1;
    assert_int_equal(vs_key_update(g->e, &g->s, "attr", NULL, &u, &upd, &err), 0);
    vs_key_clear(&upd);

    /* not yet valid / expired: no new protection, but what was protected still opens */
    int64_t now = vs_engine_now(g->e);
    u.attrs.enabled = -1;
    u.attrs.has_nbf = 1;
    u.attrs.nbf = now + 3600;
    assert_int_equal(vs_key_update(g->e, &g->s, "attr", NULL, &u, &upd, &err), 0);
    vs_key_clear(&upd);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_WRAP, &in, &out, &err),
                     CMK_EDENIED);
    assert_string_equal(err.inner, "KeyNotYetValid");
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_UNWRAP, &un, &out, &err), 0);
    u.attrs.nbf = 0;
    u.attrs.has_exp = 1;
    u.attrs.exp = now + 60;
    assert_int_equal(vs_key_update(g->e, &g->s, "attr", NULL, &u, &upd, &err), 0);
    vs_key_clear(&upd);
    cmk_clock_advance(&g->rt.clock, 2 * CMK_MINUTE);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_WRAP, &in, &out, &err),
                     CMK_EDENIED);
    assert_string_equal(err.inner, "KeyExpired");
    assert_string_equal(err.message, "Operation wrapKey is not allowed on an expired key.");
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_UNWRAP, &un, &out, &err), 0);
    assert_memory_equal(out.value.data, dek, 32);
    /* nbf must come before exp */
    u.attrs.has_nbf = 1;
    u.attrs.nbf = now + 7200;
    assert_int_equal(vs_key_update(g->e, &g->s, "attr", NULL, &u, &upd, &err), CMK_EINVAL);

    /* key_ops limit the operations */
    memset(&u, 0, sizeof(u));
    vs_attrs_init(&u.attrs);
    u.attrs.has_exp = 1; /* clear exp */
    u.ops_given = 1;
    u.ops = VS_OP_WRAP;
    assert_int_equal(vs_key_update(g->e, &g->s, "attr", NULL, &u, &upd, &err), 0);
    vs_key_clear(&upd);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "attr", NULL, VS_OP_UNWRAP, &un, &out, &err),
                     CMK_EDENIED);
    assert_string_equal(err.inner, "KeyOperationForbidden");
    u.ops = VS_OP_SIGN | VS_OP_WRAP | 0x100; /* not an operation */
    assert_int_equal(vs_key_update(g->e, &g->s, "attr", NULL, &u, &upd, &err), CMK_EINVAL);
    vs_crypt_out_close(&wrapped);
    vs_crypt_out_close(&out);
    vs_key_clear(&k);
}

static void test_list_pages(void **state)
{
    struct eng *g = *state;
    struct cmk_err err;
    struct vs_key k;
    const char *names[] = {"a1", "b2", "c3"};
    for (int i = 0; i < 3; i++) {
        create(g, &g->prot, names[i], VS_KTY_EC, 0, &k);
        vs_key_clear(&k);
    }
    struct vs_key *items;
    size_t n;
    int more;
    assert_int_equal(vs_key_list(g->e, &g->prot, "", 2, &items, &n, &more, &err), 0);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_string_equal(items[1].name, "b2");
    vs_key_list_free(items, n);
    assert_int_equal(vs_key_list(g->e, &g->prot, "b2", 2, &items, &n, &more, &err), 0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(items[0].name, "c3");
    vs_key_list_free(items, n);
    assert_int_equal(vs_key_count(g->e, &g->prot), 3);
}

/* ---- soft delete --------------------------------------------------------------------------- */

static void test_soft_delete_lifecycle(void **state)
{
    struct eng *g = *state;
    struct vs_key k, d;
    struct cmk_err err;
    create(g, &g->s, "gone", VS_KTY_EC, 0, &k);
    int64_t t0 = vs_engine_now(g->e);
    assert_int_equal(vs_key_delete(g->e, &g->s, "gone", &d, &err), 0);
    assert_true(d.deleted);
    assert_int_equal(d.deleted_date, t0);
    assert_int_equal(d.scheduled_purge_date, t0 + 7 * 86400);
    json_t *b = vs_key_bundle_json(&d, "https://v1.vault.azure.net");
    assert_string_equal(json_string_value(json_object_get(b, "recoveryId")),
                        "https://v1.vault.azure.net/deletedkeys/gone");
    json_decref(b);
    vs_key_clear(&d);
    struct vs_key got;
    assert_int_equal(vs_key_get(g->e, &g->s, "gone", NULL, 0, &got, &err), CMK_ENOTFOUND);
    /* the name is taken while the key is deleted but recoverable */
    struct vs_key_params p;
    memset(&p, 0, sizeof(p));
    p.kty = VS_KTY_EC;
    vs_attrs_init(&p.attrs);
    assert_int_equal(vs_key_create(g->e, &g->s, "gone", &p, &got, &err), CMK_ECONFLICT);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.code, "Conflict");
    assert_string_equal(err.inner, "ObjectIsDeletedButRecoverable");
    /* deleted list and get; recover */
    assert_int_equal(vs_key_get_deleted(g->e, &g->s, "gone", &got, &err), 0);
    vs_key_clear(&got);
    assert_int_equal(vs_key_recover(g->e, &g->s, "gone", &got, &err), 0);
    assert_string_equal(got.version, k.version);
    vs_key_clear(&got);
    assert_int_equal(vs_key_get_deleted(g->e, &g->s, "gone", &got, &err), CMK_ENOTFOUND);
    /* purge: allowed without purge protection */
    assert_int_equal(vs_key_delete(g->e, &g->s, "gone", &d, &err), 0);
    vs_key_clear(&d);
    assert_int_equal(vs_key_purge(g->e, &g->s, "gone", &err), 0);
    assert_int_equal(vs_key_get_deleted(g->e, &g->s, "gone", &got, &err), CMK_ENOTFOUND);
    assert_int_equal(vs_key_create(g->e, &g->s, "gone", &p, &got, &err), 0);
    vs_key_clear(&got);
    /* purge protection: refused, the clock purges at the end of retention */
    create(g, &g->prot, "kept", VS_KTY_EC, 0, &got);
    vs_key_clear(&got);
    assert_int_equal(vs_key_delete(g->e, &g->prot, "kept", &d, &err), 0);
    assert_string_equal(d.recovery_level, "Recoverable");
    vs_key_clear(&d);
    assert_int_equal(vs_key_purge(g->e, &g->prot, "kept", &err), CMK_EDENIED);
    assert_int_equal(err.status, 403);
    assert_non_null(strstr(err.message, "purge protection is enabled"));
    cmk_clock_advance(&g->rt.clock, 89 * CMK_DAY);
    assert_int_equal(vs_key_get_deleted(g->e, &g->prot, "kept", &got, &err), 0);
    vs_key_clear(&got);
    g->events = 0;
    cmk_clock_advance(&g->rt.clock, CMK_DAY);
    assert_int_equal(vs_key_get_deleted(g->e, &g->prot, "kept", &got, &err), CMK_ENOTFOUND);
    assert_int_equal(g->events, 1);
    assert_string_equal(g->last_event, "KeyPurge");
    vs_key_clear(&k);
}

static void test_auto_purge_after_restart(void **state)
{
    struct eng *g = *state;
    struct vs_key k, d;
    struct cmk_err err;
    create(g, &g->s, "later", VS_KTY_EC, 0, &k);
    vs_key_clear(&k);
    assert_int_equal(vs_key_delete(g->e, &g->s, "later", &d, &err), 0);
    vs_key_clear(&d);
    cmk_time_t now = cmk_clock_now(&g->rt.clock);
    eng_close(g);
    /* a new process: the schedule comes back from the tables */
    uv_loop_init(&g->loop);
    struct cmk_runtime_opts o = {.data_dir = g->dir,
                                 .clock_mode = CMK_CLOCK_VIRTUAL,
                                 .seed = 3,
                                 .clock_start = now + CMK_HOUR};
    assert_int_equal(cmk_runtime_open(&g->rt, &g->loop, &o, &err), 0);
    struct vs_engine_policy p = {
        .version = 1, .kind = "vault", .space_lookup = lookup, .on_event = on_event, .data = g};
    assert_int_equal(vs_engine_open(&g->e, &g->rt, &p, &err), 0);
    assert_true(cmk_clock_next_due(&g->rt.clock) > 0);
    assert_int_equal(vs_key_get_deleted(g->e, &g->s, "later", &d, &err), 0);
    vs_key_clear(&d);
    cmk_clock_advance(&g->rt.clock, 7 * CMK_DAY);
    assert_int_equal(vs_key_get_deleted(g->e, &g->s, "later", &d, &err), CMK_ENOTFOUND);
}

/* ---- backup / restore -------------------------------------------------------------------- */

static void test_backup_restore(void **state)
{
    struct eng *g = *state;
    struct vs_key k1, k2, d, r;
    struct cmk_err err;
    create(g, &g->s, "bk", VS_KTY_RSA, 2048, &k1);
    create(g, &g->s, "bk", VS_KTY_RSA, 2048, &k2);
    unsigned char dek[32];
    RAND_bytes(dek, sizeof(dek));
    struct vs_crypt_in in = {.alg = VS_ALG_RSA_OAEP_256, .value = dek, .len = 32};
    struct vs_crypt_out w, u;
    vs_crypt_out_init(&w);
    vs_crypt_out_init(&u);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "bk", k1.version, VS_OP_WRAP, &in, &w, &err), 0);
    unsigned char *blob;
    size_t len;
    assert_int_equal(vs_key_backup(g->e, &g->s, "bk", &blob, &len, &err), 0);
    /* the blob holds no private key in clear: it does not contain the key's public modulus
     * either, everything is sealed */
    assert_null(memmem(blob, len, k1.pub + 40, 64));
    /* restore while the name exists: 409 */
    assert_int_equal(vs_key_restore(g->e, &g->s, blob, len, &r, &err), CMK_ECONFLICT);
    assert_int_equal(err.status, 409);
    /* deleted but recoverable: 409 ObjectIsDeletedButRecoverable */
    assert_int_equal(vs_key_delete(g->e, &g->s, "bk", &d, &err), 0);
    vs_key_clear(&d);
    assert_int_equal(vs_key_restore(g->e, &g->s, blob, len, &r, &err), CMK_ECONFLICT);
    assert_string_equal(err.inner, "ObjectIsDeletedButRecoverable");
    assert_int_equal(vs_key_purge(g->e, &g->s, "bk", &err), 0);
    /* another subscription: refused */
    assert_int_equal(vs_key_restore(g->e, &g->other, blob, len, &r, &err), CMK_EINVAL);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.message, "subscription"));
    /* a flipped byte: refused */
    blob[len - 3] ^= 1;
    assert_int_equal(vs_key_restore(g->e, &g->s, blob, len, &r, &err), CMK_EINVAL);
    blob[len - 3] ^= 1;
    /* same subscription, another vault: restored with its versions */
    assert_int_equal(vs_key_restore(g->e, &g->prot, blob, len, &r, &err), 0);
    assert_string_equal(r.version, k2.version);
    vs_key_clear(&r);
    struct vs_crypt_in un = {
        .alg = VS_ALG_RSA_OAEP_256, .value = (unsigned char *)w.value.data, .len = w.value.len};
    assert_int_equal(vs_key_crypt(g->e, &g->prot, "bk", k1.version, VS_OP_UNWRAP, &un, &u, &err),
                     0);
    assert_memory_equal(u.value.data, dek, 32);
    /* garbage */
    assert_int_equal(vs_key_restore(g->e, &g->s, "nonsense", 8, &r, &err), CMK_EINVAL);
    free(blob);
    vs_crypt_out_close(&w);
    vs_crypt_out_close(&u);
    vs_key_clear(&k1);
    vs_key_clear(&k2);
}

/* A backup made by another emulator (another root key) does not restore here. */
static void test_backup_other_emulator(void **state)
{
    struct eng *g = *state;
    struct eng *h = calloc(1, sizeof(*h));
    snprintf(h->dir, sizeof(h->dir), "/tmp/cmk-vs-engine2-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    h->s = g->s;
    h->prot = g->prot;
    h->other = g->other;
    eng_open(h);
    struct vs_key k;
    create(h, &h->s, "foreign", VS_KTY_EC, 0, &k);
    vs_key_clear(&k);
    unsigned char *blob;
    size_t len;
    struct cmk_err err;
    assert_int_equal(vs_key_backup(h->e, &h->s, "foreign", &blob, &len, &err), 0);
    eng_close(h);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
    assert_int_equal(system(cmd), 0);
    free(h);
    assert_int_equal(vs_key_restore(g->e, &g->s, blob, len, &k, &err), CMK_EINVAL);
    assert_non_null(strstr(err.message, "another emulator"));
    free(blob);
}

/* The same engine code under the "hsm" kind: its own partition, and vault backups do not
 * restore into an HSM (the blob is bound to the kind). */
static void test_hsm_kind(void **state)
{
    struct eng *g = *state;
    struct vs_engine_policy p = {.version = 1, .kind = "hsm"};
    struct vs_engine *h;
    struct cmk_err err;
    assert_int_equal(vs_engine_open(&h, &g->rt, &p, &err), 0);
    struct vs_space hs;
    memset(&hs, 0, sizeof(hs));
    snprintf(hs.id, sizeof(hs.id), "hsm/h1");
    snprintf(hs.name, sizeof(hs.name), "h1");
    snprintf(hs.subscription, sizeof(hs.subscription), T_SUB);
    hs.retention_days = 90;
    hs.purge_protection = 1;
    hs.key_types = VS_KTYS_HSM_ASYM | VS_KTY_BIT(VS_KTY_OCT_HSM);
    hs.kind_label = "managed HSM";
    struct vs_key_params kp;
    memset(&kp, 0, sizeof(kp));
    vs_attrs_init(&kp.attrs);
    kp.kty = VS_KTY_RSA; /* software keys are not HSM keys */
    struct vs_key k;
    assert_int_equal(vs_key_create(h, &hs, "k", &kp, &k, &err), CMK_EINVAL);
    assert_non_null(strstr(err.message, "managed HSM"));
    kp.kty = VS_KTY_EC_HSM;
    assert_int_equal(vs_key_create(h, &hs, "k", &kp, &k, &err), 0);
    vs_key_clear(&k);
    assert_int_equal(vs_key_get(h, &hs, "nope", NULL, 0, &k, &err), CMK_ENOTFOUND);
    assert_non_null(strstr(err.message, "in this managed HSM"));
    /* a vault key's backup */
    create(g, &g->s, "vk", VS_KTY_EC, 0, &k);
    vs_key_clear(&k);
    unsigned char *blob;
    size_t len;
    assert_int_equal(vs_key_backup(g->e, &g->s, "vk", &blob, &len, &err), 0);
    assert_int_equal(vs_key_restore(h, &hs, blob, len, &k, &err), CMK_EINVAL);
    free(blob);
    vs_engine_free(h);
}

/* ---- rotation ----------------------------------------------------------------------------- */

static void test_iso_durations(void **state)
{
    int64_t t;
    int64_t jan31 = 1769817600; /* 2026-01-31T00:00:00Z */
    assert_int_equal(vs_iso_duration_add("P1M", jan31, &t), 0);
    assert_int_equal(t, 1772236800); /* 2026-02-28 */
    assert_int_equal(vs_iso_duration_add("P1Y10D", jan31, &t), 0);
    assert_int_equal(t, jan31 + 365 * 86400 + 10 * 86400);
    assert_int_equal(vs_iso_duration_add("PT48H", 0, &t), 0);
    assert_int_equal(t, 48 * 3600);
    assert_int_equal(vs_iso_duration_add("P2W", 0, &t), 0);
    assert_int_equal(t, 14 * 86400);
    assert_int_equal(vs_iso_duration_add("P", 0, &t), CMK_EPARSE);
    assert_int_equal(vs_iso_duration_add("P1H", 0, &t), CMK_EPARSE);
    assert_int_equal(vs_iso_duration_add("90D", 0, &t), CMK_EPARSE);
}

static void test_rotation_policy(void **state)
{
    struct eng *g = *state;
    struct vs_key k, r;
    struct cmk_err err;
    create(g, &g->s, "rot", VS_KTY_EC, 0, &k);
    json_t *pol;
    /* default policy of a key without one */
    assert_int_equal(vs_rotation_get(g->e, &g->s, "rot", "https://v1.vault.azure.net", &pol, &err),
                     0);
    assert_string_equal(json_string_value(json_object_get(pol, "id")),
                        "https://v1.vault.azure.net/keys/rot/rotationpolicy");
    json_decref(pol);
    /* invalid ones */
    static const char *const bad[] = {
        "{\"attributes\":{\"expiryTime\":\"P10D\"}}",
        "{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P1D\"},\"action\":{\"type\":"
        "\"Rotate\"}}]}",
        "{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P30D\"},\"action\":{\"type\":"
        "\"Notify\"}}]}",
        "{\"lifetimeActions\":[{\"trigger\":{},\"action\":{\"type\":\"Rotate\"}}]}",
        "{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P30D\"},\"action\":{\"type\":"
        "\"Explode\"}}]}",
        "{\"lifetimeActions\":[{\"trigger\":{\"timeBeforeExpiry\":\"P100D\"},\"action\":{\"type\":"
        "\"Rotate\"}}],\"attributes\":{\"expiryTime\":\"P90D\"}}",
        NULL};
    for (int i = 0; bad[i]; i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_int_equal(vs_rotation_set(g->e, &g->s, "rot", j, "https://x", &pol, &err),
                         CMK_EINVAL);
        assert_int_equal(err.status, 400);
        json_decref(j);
    }
    /* rotate 30 days after creation, new versions expire after 90 days, notify 10 days before */
    json_t *j = json_loads("{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P30D\"},"
                           "\"action\":{\"type\":\"rotate\"}},{\"trigger\":{\"timeBeforeExpiry\":"
                           "\"P10D\"},\"action\":{\"type\":\"Notify\"}}],\"attributes\":{"
                           "\"expiryTime\":\"P90D\"}}",
                           0, NULL);
    assert_int_equal(vs_rotation_set(g->e, &g->s, "rot", j, "https://x", &pol, &err), 0);
    json_decref(j);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(pol, "lifetimeActions"), 0), "action"),
            "type")),
        "Rotate");
    json_decref(pol);
    /* a manual rotation takes the policy's expiry */
    assert_int_equal(vs_key_rotate(g->e, &g->s, "rot", &r, &err), 0);
    assert_int_equal(r.exp, r.created + 90 * 86400);
    assert_int_equal(r.crv, VS_CRV_P256);
    char v2[33];
    snprintf(v2, sizeof(v2), "%s", r.version);
    vs_key_clear(&r);
    /* the clock rotates 30 days after the latest version */
    g->events = 0;
    cmk_clock_advance(&g->rt.clock, 30 * CMK_DAY - CMK_MINUTE);
    assert_int_equal(vs_key_get(g->e, &g->s, "rot", NULL, 0, &r, &err), 0);
    assert_string_equal(r.version, v2);
    vs_key_clear(&r);
    cmk_clock_advance(&g->rt.clock, CMK_MINUTE);
    assert_int_equal(vs_key_get(g->e, &g->s, "rot", NULL, 0, &r, &err), 0);
    assert_string_not_equal(r.version, v2);
    assert_int_equal(r.exp, r.created + 90 * 86400);
    assert_string_equal(g->last_event, "KeyRotate");
    vs_key_clear(&r);
    /* ... and again 30 days later: never a notify, the key never gets within 10 days of exp */
    cmk_clock_advance(&g->rt.clock, 30 * CMK_DAY);
    struct vs_key *items;
    size_t n;
    int more;
    assert_int_equal(vs_key_list_versions(g->e, &g->s, "rot", "", 25, &items, &n, &more, &err), 0);
    assert_int_equal(n, 4);
    vs_key_list_free(items, n);
    vs_key_clear(&k);
}

static void test_notify_before_expiry(void **state)
{
    struct eng *g = *state;
    struct vs_key k;
    struct cmk_err err;
    create(g, &g->s, "note", VS_KTY_EC, 0, &k);
    json_t *j = json_loads("{\"lifetimeActions\":[{\"trigger\":{\"timeBeforeExpiry\":\"P30D\"},"
                           "\"action\":{\"type\":\"Notify\"}}]}",
                           0, NULL);
    json_t *pol;
    assert_int_equal(vs_rotation_set(g->e, &g->s, "note", j, "https://x", &pol, &err), 0);
    json_decref(j);
    json_decref(pol);
    struct vs_key_update u;
    memset(&u, 0, sizeof(u));
    vs_attrs_init(&u.attrs);
    u.attrs.has_exp = 1;
    u.attrs.exp = vs_engine_now(g->e) + 40 * 86400;
    struct vs_key upd;
    assert_int_equal(vs_key_update(g->e, &g->s, "note", NULL, &u, &upd, &err), 0);
    vs_key_clear(&upd);
    g->events = 0;
    cmk_clock_advance(&g->rt.clock, 9 * CMK_DAY);
    assert_int_equal(g->events, 0);
    cmk_clock_advance(&g->rt.clock, CMK_DAY);
    assert_int_equal(g->events, 1);
    assert_string_equal(g->last_event, "KeyNearExpiry");
    vs_key_clear(&k);
}

/* ---- import -------------------------------------------------------------------------------- */

static char *b64bn(EVP_PKEY *pkey, const char *param)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(pkey, param, &bn);
    int n = BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)n);
    BN_bn2bin(bn, buf);
    char *s = cmk_b64_encode(buf, (size_t)n, 1);
    free(buf);
    BN_free(bn);
    return s;
}

static json_t *rsa_jwk(EVP_PKEY *pkey, int with_private)
{
    static const char *const f[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    static const char *const p[] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    json_t *j = json_pack("{s:s}", "kty", "RSA");
    for (int i = 0; i < (with_private ? 8 : 2); i++) {
        char *s = b64bn(pkey, p[i]);
        json_object_set_new(j, f[i], json_string(s));
        free(s);
    }
    return j;
}

/* Search every file of the state directory for needle. */
static int found_on_disk(const char *dir, const void *needle, size_t n)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *ent;
    int found = 0;
    while (!found && (ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            found = found_on_disk(path, needle, n);
            continue;
        }
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        unsigned char *buf = malloc((size_t)st.st_size + 1);
        size_t got = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        found = memmem(buf, got, needle, n) != NULL;
        free(buf);
    }
    closedir(d);
    return found;
}

static void test_import_jwk_and_no_secret_on_disk(void **state)
{
    struct eng *g = *state;
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    json_t *jwk = rsa_jwk(pkey, 1);
    struct vs_key k;
    struct cmk_err err;
    struct vs_attrs a;
    vs_attrs_init(&a);
    assert_int_equal(vs_key_import_jwk(g->e, &g->s, "imported", jwk, 0, &a, NULL, &k, &err), 0);
    assert_int_equal(k.kty, VS_KTY_RSA);
    json_t *pub = vs_key_jwk_json(&k, "https://v1.vault.azure.net");
    assert_string_equal(json_string_value(json_object_get(pub, "n")),
                        json_string_value(json_object_get(jwk, "n")));
    json_decref(pub);
    vs_key_clear(&k);
    /* what the engine wraps, the original key unwraps */
    unsigned char dek[32];
    RAND_bytes(dek, sizeof(dek));
    struct vs_crypt_in in = {.alg = VS_ALG_RSA_OAEP, .value = dek, .len = 32};
    struct vs_crypt_out w;
    vs_crypt_out_init(&w);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "imported", NULL, VS_OP_WRAP, &in, &w, &err), 0);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    unsigned char out[256];
    size_t outlen = sizeof(out);
    assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
    assert_int_equal(
        EVP_PKEY_decrypt(ctx, out, &outlen, (unsigned char *)w.value.data, w.value.len), 1);
    assert_memory_equal(out, dek, 32);
    EVP_PKEY_CTX_free(ctx);
    vs_crypt_out_close(&w);
    /* the private key is nowhere on disk in clear: neither its DER nor d nor p */
    assert_int_equal(cmk_store_exec(g->rt.db, "PRAGMA wal_checkpoint(FULL)", NULL), 0);
    unsigned char *der = NULL;
    int derlen = i2d_PrivateKey(pkey, &der);
    BIGNUM *d = NULL, *p = NULL;
    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d);
    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &p);
    unsigned char dbytes[256], pbytes[128];
    int dl = BN_bn2bin(d, dbytes), pl = BN_bn2bin(p, pbytes);
    assert_false(found_on_disk(g->dir, der, (size_t)derlen));
    assert_false(found_on_disk(g->dir, dbytes, 32));
    assert_false(found_on_disk(g->dir, pbytes, 32));
    (void)dl;
    (void)pl;
    /* the public modulus is there (the check would find it) */
    BIGNUM *nbn = NULL;
    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &nbn);
    unsigned char nbytes[256];
    BN_bn2bin(nbn, nbytes);
    assert_true(found_on_disk(g->dir, nbytes, 32));
    BN_free(nbn);
    BN_free(d);
    BN_free(p);
    OPENSSL_free(der);
    /* refusals: no private part, bad base64, bad kty */
    json_t *pubonly = rsa_jwk(pkey, 0);
    assert_int_equal(vs_key_import_jwk(g->e, &g->s, "pub", pubonly, 0, &a, NULL, &k, &err),
                     CMK_EINVAL);
    assert_non_null(strstr(err.message, "private"));
    json_object_set_new(pubonly, "d", json_string("!!!"));
    assert_int_equal(vs_key_import_jwk(g->e, &g->s, "pub", pubonly, 0, &a, NULL, &k, &err),
                     CMK_EINVAL);
    json_object_set_new(pubonly, "kty", json_string("DSA"));
    assert_int_equal(vs_key_import_jwk(g->e, &g->s, "pub", pubonly, 0, &a, NULL, &k, &err),
                     CMK_EINVAL);
    json_decref(pubonly);
    /* as an HSM key */
    assert_int_equal(vs_key_import_jwk(g->e, &g->s, "imported-hsm", jwk, 1, &a, NULL, &k, &err), 0);
    assert_int_equal(k.kty, VS_KTY_RSA_HSM);
    vs_key_clear(&k);
    json_decref(jwk);
    EVP_PKEY_free(pkey);
}

static void test_import_pkcs12(void **state)
{
    struct eng *g = *state;
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    X509 *cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, pkey);
    X509_NAME *nm = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"cmk", -1, -1, 0);
    X509_set_issuer_name(cert, nm);
    X509_sign(cert, pkey, EVP_sha256());
    PKCS12 *p12 = PKCS12_create("s3cret", "cmk", pkey, cert, NULL, 0, 0, 0, 0, 0);
    assert_non_null(p12);
    unsigned char *der = NULL;
    int len = i2d_PKCS12(p12, &der);
    struct vs_key k;
    struct cmk_err err;
    struct vs_attrs a;
    vs_attrs_init(&a);
    assert_int_equal(
        vs_key_import_pkcs12(g->e, &g->s, "pfx", der, (size_t)len, "wrong", 0, &a, NULL, &k, &err),
        CMK_EINVAL);
    assert_int_equal(
        vs_key_import_pkcs12(g->e, &g->s, "pfx", der, 10, "s3cret", 0, &a, NULL, &k, &err),
        CMK_EINVAL);
    assert_int_equal(
        vs_key_import_pkcs12(g->e, &g->s, "pfx", der, (size_t)len, "s3cret", 0, &a, NULL, &k, &err),
        0);
    assert_int_equal(k.kty, VS_KTY_RSA);
    assert_int_equal(k.size, 2048);
    vs_key_clear(&k);
    OPENSSL_free(der);
    PKCS12_free(p12);
    X509_free(cert);
    EVP_PKEY_free(pkey);
}

/* .byok: the target key wrapped for a key-exchange key (CKM_RSA_AES_KEY_WRAP). */
static void test_import_byok(void **state)
{
    struct eng *g = *state;
    struct vs_key kek;
    struct vs_key_params p;
    struct cmk_err err;
    memset(&p, 0, sizeof(p));
    p.kty = VS_KTY_RSA_HSM;
    p.ops_given = 1;
    p.ops = VS_OP_IMPORT;
    vs_attrs_init(&p.attrs);
    assert_int_equal(vs_key_create(g->e, &g->s, "kek-exchange", &p, &kek, &err), 0);
    const unsigned char *q = kek.pub;
    EVP_PKEY *kekpub = d2i_PUBKEY(NULL, &q, (long)kek.publen);
    /* the tool side: wrap a new RSA key */
    EVP_PKEY *target = EVP_RSA_gen(2048);
    unsigned char *pk8 = NULL;
    int pk8len = i2d_PrivateKey(target, &pk8); /* PKCS#1 is fine for d2i_AutoPrivateKey */
    unsigned char aes[32];
    RAND_bytes(aes, sizeof(aes));
    unsigned char ct[4096];
    size_t rsalen = sizeof(ct);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(kekpub, NULL);
    EVP_PKEY_encrypt_init(ctx);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
    assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &rsalen, aes, 32), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int l1 = 0, l2 = 0;
    EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, aes, NULL);
    EVP_EncryptUpdate(c, ct + rsalen, &l1, pk8, pk8len);
    EVP_EncryptFinal_ex(c, ct + rsalen + l1, &l2);
    EVP_CIPHER_CTX_free(c);
    char *ctb64 = cmk_b64_encode(ct, rsalen + (size_t)l1 + (size_t)l2, 1);
    char kid[256];
    snprintf(kid, sizeof(kid), "https://v1.vault.azure.net/keys/kek-exchange/%s", kek.version);
    json_t *blob = json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s}", "schema_version", "1.0.0", "header",
                             "kid", kid, "alg", "dir", "enc", "CKM_RSA_AES_KEY_WRAP", "ciphertext",
                             ctb64, "generator", "test");
    char *text = json_dumps(blob, JSON_COMPACT);
    char *hsm = cmk_b64_encode(text, strlen(text), 1);
    json_t *jwk = json_pack("{s:s,s:s,s:[s,s]}", "kty", "RSA-HSM", "key_hsm", hsm, "key_ops",
                            "wrapKey", "unwrapKey");
    struct vs_key k;
    struct vs_attrs a;
    vs_attrs_init(&a);
    if (vs_key_import_jwk(g->e, &g->s, "byok", jwk, 0, &a, NULL, &k, &err) != 0)
        t_fail_err("byok", &err);
    assert_int_equal(k.kty, VS_KTY_RSA_HSM);
    assert_int_equal(k.ops, VS_OP_WRAP | VS_OP_UNWRAP);
    vs_key_clear(&k);
    /* a blob for another key-exchange key is refused */
    json_object_set_new(jwk, "key_hsm", json_string("e30"));
    assert_int_equal(vs_key_import_jwk(g->e, &g->s, "byok2", jwk, 0, &a, NULL, &k, &err),
                     CMK_EINVAL);
    json_decref(jwk);
    free(hsm);
    free(text);
    json_decref(blob);
    free(ctb64);
    OPENSSL_free(pk8);
    EVP_PKEY_free(target);
    EVP_PKEY_free(kekpub);
    vs_key_clear(&kek);
}

static void test_persistence(void **state)
{
    struct eng *g = *state;
    struct vs_key k;
    struct cmk_err err;
    create(g, &g->s, "durable", VS_KTY_RSA, 2048, &k);
    unsigned char dek[32];
    RAND_bytes(dek, sizeof(dek));
    struct vs_crypt_in in = {.alg = VS_ALG_RSA_OAEP_256, .value = dek, .len = 32};
    struct vs_crypt_out w, u;
    vs_crypt_out_init(&w);
    vs_crypt_out_init(&u);
    assert_int_equal(vs_key_crypt(g->e, &g->s, "durable", NULL, VS_OP_WRAP, &in, &w, &err), 0);
    eng_close(g);
    eng_open(g);
    struct vs_crypt_in un = {
        .alg = VS_ALG_RSA_OAEP_256, .value = (unsigned char *)w.value.data, .len = w.value.len};
    assert_int_equal(vs_key_crypt(g->e, &g->s, "durable", k.version, VS_OP_UNWRAP, &un, &u, &err),
                     0);
    assert_memory_equal(u.value.data, dek, 32);
    /* a new version after the restart does not repeat the version ids of the last run */
    struct vs_key k2;
    create(g, &g->s, "durable", VS_KTY_RSA, 2048, &k2); /* a new version */
    assert_string_not_equal(k2.version, k.version);
    vs_key_clear(&k2);
    vs_crypt_out_close(&w);
    vs_crypt_out_close(&u);
    vs_key_clear(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_and_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oct_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attributes_refuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_delete_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_purge_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_other_emulator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsm_kind, setup, teardown),
        cmocka_unit_test(test_iso_durations),
        cmocka_unit_test_setup_teardown(test_rotation_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_before_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_jwk_and_no_secret_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_pkcs12, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_byok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
