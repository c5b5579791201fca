/* test_envelope.c: a server's envelope with a stand-in KEK (an RSA-2048 key of the test, used
 * with RSA-OAEP-256 like the vault's wrapKey): DEKs appear on disk only wrapped; a KEK
 * rotation rewrites the envelope and not one byte of data; a DEK rotation re-encrypts only
 * its file and survives a crash at any step; without the KEK nothing is readable. */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/b64.h"
#include "dataplane/envelope.h"
#include "dataplane/test/vfs_testutil.h"
#include "dataplane/vfs.h"

/* ---- a KEK in the test's memory ---- */

struct fake_kek {
    EVP_PKEY *pkey;
    char kid[128];
    uint8_t seen[32][DP_DEK_LEN]; /* every DEK it wrapped, to look for them on disk */
    int nseen;
    int fail_unwrap_at; /* 1-based call that fails; 0: never */
    int unwraps;
    struct dp_kek ops;
};

static int fake_wrap(void *ctx, const uint8_t *dek, size_t n, json_t **out, struct cmk_err *err)
{
    struct fake_kek *k = ctx;
    uint8_t ct[512];
    size_t ctlen = sizeof(ct);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(k->pkey, NULL);
    if (pc == NULL || EVP_PKEY_encrypt_init(pc) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) != 1 ||
        EVP_PKEY_encrypt(pc, ct, &ctlen, dek, n) != 1) {
        EVP_PKEY_CTX_free(pc);
        return cmk_err_set(err, CMK_ECRYPTO, 500, "WrapFailed", "wrap failed");
    }
    EVP_PKEY_CTX_free(pc);
    char *b64 = cmk_b64_encode(ct, ctlen, 1);
    *out = json_pack("{s:s, s:s}", "kid", k->kid, "value", b64);
    free(b64);
    if (k->nseen < 32)
        memcpy(k->seen[k->nseen++], dek, DP_DEK_LEN);
    return 0;
}

static int fake_unwrap(void *ctx, const json_t *wrapped, uint8_t *dek, size_t n,
                       struct cmk_err *err)
{
    struct fake_kek *k = ctx;
    const char *kid = json_string_value(json_object_get(wrapped, "kid"));
    const char *value = json_string_value(json_object_get(wrapped, "value"));
    if (++k->unwraps == k->fail_unwrap_at)
        return cmk_err_set(err, CMK_EUNAVAIL, 503, "ServiceUnavailable", "vault unreachable");
    if (kid == NULL || strcmp(kid, k->kid) != 0 || value == NULL)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "KeyNotFound", "no such key");
    size_t ctlen = 0, ptlen = 0;
    uint8_t *ct = cmk_b64_decode(value, strlen(value), &ctlen);
    uint8_t pt[512];
    ptlen = sizeof(pt);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(k->pkey, NULL);
    int ok = ct != NULL && pc != NULL && EVP_PKEY_decrypt_init(pc) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) == 1 &&
             EVP_PKEY_decrypt(pc, pt, &ptlen, ct, ctlen) == 1 && ptlen == n;
    EVP_PKEY_CTX_free(pc);
    free(ct);
    if (ok)
        memcpy(dek, pt, n);
    OPENSSL_cleanse(pt, sizeof(pt));
    if (!ok)
        return cmk_err_set(err, CMK_ECRYPTO, 400, "BadParameter", "unwrap failed");
    return 0;
}

static struct fake_kek *kek_new(const char *kid)
{
    struct fake_kek *k = calloc(1, sizeof(*k));
    k->pkey = EVP_RSA_gen(2048);
    assert_non_null(k->pkey);
    snprintf(k->kid, sizeof(k->kid), "%s", kid);
    k->ops = (struct dp_kek){
        .kid = k->kid, .alg = "RSA-OAEP-256", .wrap = fake_wrap, .unwrap = fake_unwrap, .ctx = k};
    return k;
}

static void kek_free(struct fake_kek *k)
{
    EVP_PKEY_free(k->pkey);
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

/* ---- fixture ---- */

#define KID1 "https://v1.vault.azure.net/keys/cmk/0123456789abcdef0123456789abcdef"
#define KID2 "https://v1.vault.azure.net/keys/cmk/fedcba9876543210fedcba9876543210"

static struct fake_kek *kek1, *kek2;

static int group_setup(void **state)
{
    kek1 = kek_new(KID1);
    kek2 = kek_new(KID2);
    return 0;
}

static int group_teardown(void **state)
{
    kek_free(kek1);
    kek_free(kek2);
    return 0;
}

struct fx {
    char *dir;
    char env[4096];
    char pg[4096];  /* dir/postgres.db */
    char app[4096]; /* dir/app.db */
};

static const char *const FILES[] = {"postgres.db", "app.db"};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp();
    snprintf(f->env, sizeof(f->env), "%s/envelope.json", f->dir);
    snprintf(f->pg, sizeof(f->pg), "%s/postgres.db", f->dir);
    snprintf(f->app, sizeof(f->app), "%s/app.db", f->dir);
    kek1->nseen = kek2->nseen = 0;
    kek1->fail_unwrap_at = kek2->fail_unwrap_at = 0;
    kek1->unwraps = kek2->unwraps = 0;
    dp_envelope__crash_after = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dp_vfs_forget_key(f->pg);
    dp_vfs_forget_key(f->app);
    tu_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void write_rows(const char *path, const char *marker, int n)
{
    sqlite3 *db = NULL;
    struct cmk_err err = {0};
    if (dp_db_open(path, &db, &err) != 0)
        fail_msg("open %s: %s", path, err.message);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT);"
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)"
             "INSERT INTO t(v) SELECT '%s-' || x FROM c",
             n, marker);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Rows in path with the marker, or -1 when the database cannot be opened or read. */
static int count_rows(const char *path, const char *marker)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st;
    struct cmk_err err = {0};
    if (dp_db_open(path, &db, &err) != 0)
        return -1;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE v LIKE '%s-%%'", marker);
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static struct dp_envelope *create(struct fx *f, struct fake_kek *k)
{
    struct dp_envelope *env = NULL;
    struct cmk_err err = {0};
    if (dp_envelope_create(&env, f->env, f->dir, FILES, 2, &k->ops, &err) != 0)
        fail_msg("create: %s", err.message);
    return env;
}

static struct dp_envelope *load(struct fx *f)
{
    struct dp_envelope *env = NULL;
    struct cmk_err err = {0};
    if (dp_envelope_load(&env, f->env, f->dir, &err) != 0)
        fail_msg("load: %s", err.message);
    return env;
}

/* ---- tests ---- */

static void test_create_unlock_lock(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    struct dp_envelope *env = create(f, kek1);
    assert_true(dp_envelope_unlocked(env));
    assert_int_equal(dp_envelope_count(env), 2);
    assert_string_equal(dp_envelope_kek_kid(env), KID1);
    assert_string_equal(dp_envelope_alg(env), "RSA-OAEP-256");
    assert_string_equal(dp_envelope_dek_id(env, "postgres.db"), "dek-1");
    assert_string_equal(dp_envelope_dek_id(env, "app.db"), "dek-2");
    assert_null(dp_envelope_dek_id(env, "other.db"));
    assert_int_equal(kek1->nseen, 2);
    assert_memory_not_equal(kek1->seen[0], kek1->seen[1], DP_DEK_LEN);
    char id[DP_DEK_ID_MAX];
    assert_true(dp_vfs_key_loaded(f->app, id));
    assert_string_equal(id, "dek-2");

    /* The file: private, the KEK named with its version, DEKs only wrapped. */
    struct stat st;
    assert_int_equal(stat(f->env, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    json_t *j = json_load_file(f->env, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "format")), "cmksim-envelope/1");
    json_t *kek = json_object_get(j, "kek");
    assert_string_equal(json_string_value(json_object_get(kek, "kid")), KID1);
    assert_string_equal(json_string_value(json_object_get(kek, "alg")), "RSA-OAEP-256");
    json_t *deks = json_object_get(j, "deks");
    assert_int_equal(json_array_size(deks), 2);
    json_t *d1 = json_array_get(deks, 1);
    assert_string_equal(json_string_value(json_object_get(d1, "file")), "app.db");
    assert_string_equal(json_string_value(json_object_get(d1, "id")), "dek-2");
    assert_non_null(json_object_get(json_object_get(d1, "wrapped"), "value"));
    json_decref(j);
    struct dp_envelope *again = NULL;
    assert_int_equal(dp_envelope_create(&again, f->env, f->dir, FILES, 2, &kek1->ops, &err),
                     CMK_EEXIST);
    assert_null(again);

    write_rows(f->pg, "PGROW", 500);
    write_rows(f->app, "APPROW", 500);
    /* Nothing on disk holds a DEK or a row in clear. */
    for (int i = 0; i < kek1->nseen; i++) {
        assert_int_equal(tu_dir_contains(f->dir, kek1->seen[i], DP_DEK_LEN, NULL, 0), 0);
        assert_int_equal(tu_dir_contains(f->dir, kek1->seen[i], 8, NULL, 0), 0);
    }
    assert_int_equal(tu_dir_contains(f->dir, "PGROW", 5, NULL, 0), 0);
    assert_int_equal(tu_dir_contains(f->dir, "APPROW", 6, NULL, 0), 0);

    /* Locked: the keys are gone from the VFS. */
    dp_envelope_lock(env);
    assert_false(dp_envelope_unlocked(env));
    assert_false(dp_vfs_key_loaded(f->app, NULL));
    assert_int_equal(count_rows(f->app, "APPROW"), -1);
    dp_envelope_free(env);

    /* Loaded from disk: locked until unwrapped by the right KEK. */
    env = load(f);
    assert_false(dp_envelope_unlocked(env));
    assert_string_equal(dp_envelope_file(env, 0), "postgres.db");
    assert_null(dp_envelope_file(env, 2));
    assert_int_not_equal(dp_envelope_unlock(env, &kek2->ops, &err), 0);
    assert_false(dp_envelope_unlocked(env));
    assert_false(dp_vfs_key_loaded(f->pg, NULL));
    assert_int_equal(dp_envelope_unlock(env, &kek1->ops, &err), 0);
    assert_int_equal(count_rows(f->pg, "PGROW"), 500);
    assert_int_equal(count_rows(f->app, "APPROW"), 500);
    /* Unwrapping again (a revalidation) keeps working. */
    assert_int_equal(dp_envelope_unlock(env, &kek1->ops, &err), 0);
    assert_int_equal(count_rows(f->app, "APPROW"), 500);
    dp_envelope_free(env);
    assert_false(dp_vfs_key_loaded(f->app, NULL));
}

static void test_unlock_all_or_nothing(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    struct dp_envelope *env = create(f, kek1);
    dp_envelope_lock(env);
    kek1->unwraps = 0;
    kek1->fail_unwrap_at = 2; /* the second DEK cannot be unwrapped */
    assert_int_equal(dp_envelope_unlock(env, &kek1->ops, &err), CMK_EUNAVAIL);
    assert_string_equal(err.code, "ServiceUnavailable");
    assert_false(dp_envelope_unlocked(env));
    assert_false(dp_vfs_key_loaded(f->pg, NULL));
    assert_false(dp_vfs_key_loaded(f->app, NULL));
    kek1->fail_unwrap_at = 0;
    assert_int_equal(dp_envelope_unlock(env, &kek1->ops, &err), 0);
    assert_true(dp_vfs_key_loaded(f->app, NULL));
    dp_envelope_free(env);
}

static void test_kek_rotation_rewraps_only(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    struct dp_envelope *env = create(f, kek1);
    write_rows(f->pg, "PGROW", 300);
    write_rows(f->app, "APPROW", 300);
    size_t n_pg, n_app, n_env;
    uint8_t *pg = tu_read(f->pg, &n_pg), *app = tu_read(f->app, &n_app);
    uint8_t *env_before = tu_read(f->env, &n_env);

    /* A session stays open across the rotation: no downtime. */
    sqlite3 *db = NULL;
    assert_int_equal(dp_db_open(f->app, &db, &err), 0);
    assert_int_equal(dp_envelope_rewrap(env, &kek2->ops, &err), 0);
    assert_string_equal(dp_envelope_kek_kid(env), KID2);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO t(v) VALUES ('APPROW-new')", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM t WHERE v = 'APPROW-new'", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    /* Rewrapping the same DEKs: kek2 saw the two DEKs kek1 wrapped. */
    assert_int_equal(kek2->nseen, 2);
    assert_memory_equal(kek2->seen[0], kek1->seen[0], DP_DEK_LEN);
    assert_memory_equal(kek2->seen[1], kek1->seen[1], DP_DEK_LEN);

    /* The untouched file keeps every byte; the envelope changed. */
    size_t n2;
    uint8_t *pg2 = tu_read(f->pg, &n2);
    assert_int_equal(n2, n_pg);
    assert_memory_equal(pg2, pg, n_pg);
    free(pg2);
    uint8_t *env_after = tu_read(f->env, &n2);
    assert_false(n2 == n_env && memcmp(env_after, env_before, n2) == 0);
    assert_true(tu_contains(env_after, n2, KID2, strlen(KID2)));
    assert_false(tu_contains(env_after, n2, KID1, strlen(KID1)));
    free(env_after);
    dp_envelope_free(env);
    /* And app.db too once its connection is gone (the insert and delete were checkpointed
     * into it, so compare the row count rather than the bytes). */
    env = load(f);
    assert_string_equal(dp_envelope_kek_kid(env), KID2);
    assert_int_not_equal(dp_envelope_unlock(env, &kek1->ops, &err), 0); /* the old KEK: no */
    assert_int_equal(dp_envelope_unlock(env, &kek2->ops, &err), 0);
    assert_int_equal(count_rows(f->pg, "PGROW"), 300);
    assert_int_equal(count_rows(f->app, "APPROW"), 300);
    dp_envelope_free(env);

    /* A rotation with no connection open leaves every data byte as it was. */
    env = load(f);
    assert_int_equal(dp_envelope_unlock(env, &kek2->ops, &err), 0);
    free(app);
    app = tu_read(f->app, &n_app);
    assert_int_equal(dp_envelope_rewrap(env, &kek1->ops, &err), 0);
    uint8_t *app2 = tu_read(f->app, &n2);
    assert_int_equal(n2, n_app);
    assert_memory_equal(app2, app, n_app);
    free(app2);
    dp_envelope_free(env);

    /* Locked envelopes cannot be rewrapped (the DEKs are not in memory). */
    env = load(f);
    assert_int_equal(dp_envelope_rewrap(env, &kek2->ops, &err), CMK_EUNAVAIL);
    dp_envelope_free(env);
    free(pg);
    free(app);
    free(env_before);
}

static int pages_differ_everywhere(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    if (n == 0)
        return 0;
    for (size_t off = 0; off < n; off += 4096)
        if (memcmp(a + off + DP_PAGE1_CLEAR, b + off + DP_PAGE1_CLEAR, 4096 - DP_PAGE1_CLEAR) == 0)
            return 0;
    return 1;
}

static void test_dek_rotation(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    char rekey[4200];
    struct dp_envelope *env = create(f, kek1);
    write_rows(f->pg, "PGROW", 2000);
    write_rows(f->app, "APPROW", 2000);
    size_t n_pg, n_app, n;
    uint8_t *pg = tu_read(f->pg, &n_pg), *app = tu_read(f->app, &n_app);
    uint8_t old_dek[DP_DEK_LEN];
    memcpy(old_dek, kek1->seen[1], DP_DEK_LEN);

    /* Refused while a connection is open, and nothing changes. */
    sqlite3 *db = NULL;
    assert_int_equal(dp_db_open(f->app, &db, &err), 0);
    assert_int_equal(dp_envelope_rotate_dek(env, "app.db", &kek1->ops, &err), CMK_ECONFLICT);
    assert_string_equal(err.code, "DatabaseInUse");
    snprintf(rekey, sizeof(rekey), "%s/app.db.rekey", f->dir);
    assert_int_equal(tu_size(rekey), -1);
    assert_string_equal(dp_envelope_dek_id(env, "app.db"), "dek-2");
    assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM t", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(dp_envelope_rotate_dek(env, "app.db", &kek2->ops, &err), CMK_ECONFLICT);
    assert_string_equal(err.code, "KekMismatch");
    assert_int_equal(dp_envelope_rotate_dek(env, "nope.db", &kek1->ops, &err), CMK_ENOTFOUND);

    assert_int_equal(dp_envelope_rotate_dek(env, "app.db", &kek1->ops, &err), 0);
    /* dek-3 went to the attempt refused above: an id is never given to two keys. */
    assert_string_equal(dp_envelope_dek_id(env, "app.db"), "dek-4");
    assert_int_equal(dp_envelope_count(env), 2);
    assert_int_equal(tu_size(rekey), -1);
    /* Only app.db changed, and every page of it did. */
    uint8_t *b = tu_read(f->pg, &n);
    assert_int_equal(n, n_pg);
    assert_memory_equal(b, pg, n);
    free(b);
    b = tu_read(f->app, &n);
    assert_true(pages_differ_everywhere(b, n, app, n_app));
    free(b);
    assert_int_equal(count_rows(f->app, "APPROW"), 2000);
    assert_int_equal(count_rows(f->pg, "PGROW"), 2000);
    /* The new DEK is on disk only wrapped too. */
    assert_int_equal(kek1->nseen, 4);
    assert_int_equal(tu_dir_contains(f->dir, kek1->seen[3], DP_DEK_LEN, NULL, 0), 0);
    assert_int_equal(tu_dir_contains(f->dir, "APPROW", 6, NULL, 0), 0);
    dp_envelope_free(env);

    /* The old DEK opens nothing any more. */
    assert_int_equal(dp_vfs_set_key(f->app, old_dek, "dek-2", &err), 0);
    assert_int_equal(count_rows(f->app, "APPROW"), -1);
    dp_vfs_forget_key(f->app);
    env = load(f);
    assert_int_equal(dp_envelope_unlock(env, &kek1->ops, &err), 0);
    assert_string_equal(dp_envelope_dek_id(env, "app.db"), "dek-4");
    assert_int_equal(count_rows(f->app, "APPROW"), 2000);
    dp_envelope_free(env);
    free(pg);
    free(app);
}

static void test_dek_rotation_crash(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    char rekey[4200];
    snprintf(rekey, sizeof(rekey), "%s/app.db.rekey", f->dir);
    struct dp_envelope *env = create(f, kek1);
    write_rows(f->app, "APPROW", 1000);

    /* Dies with the new DEK recorded but the file not swapped: the old DEK stays. */
    dp_envelope__crash_after = 1;
    assert_int_not_equal(dp_envelope_rotate_dek(env, "app.db", &kek1->ops, &err), 0);
    assert_true(tu_size(rekey) > 0);
    dp_envelope_free(env);
    dp_envelope__crash_after = 0;
    env = load(f);
    assert_int_equal(dp_envelope_count(env), 2);
    assert_string_equal(dp_envelope_dek_id(env, "app.db"), "dek-2");
    assert_int_equal(tu_size(rekey), -1);
    assert_int_equal(dp_envelope_unlock(env, &kek1->ops, &err), 0);
    assert_int_equal(count_rows(f->app, "APPROW"), 1000);

    /* Dies after the swap, before the old DEK is dropped: the new one is kept. */
    dp_envelope__crash_after = 2;
    assert_int_not_equal(dp_envelope_rotate_dek(env, "app.db", &kek1->ops, &err), 0);
    dp_envelope_free(env);
    dp_envelope__crash_after = 0;
    env = load(f);
    assert_int_equal(dp_envelope_count(env), 2);
    const char *id = dp_envelope_dek_id(env, "app.db");
    assert_non_null(id);
    assert_string_not_equal(id, "dek-2");
    assert_int_equal(dp_envelope_unlock(env, &kek1->ops, &err), 0);
    assert_int_equal(count_rows(f->app, "APPROW"), 1000);
    json_t *j = json_load_file(f->env, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "deks")), 2);
    assert_null(json_object_get(json_array_get(json_object_get(j, "deks"), 1), "pending"));
    json_decref(j);
    dp_envelope_free(env);
}

static void test_add_remove_copy(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    char extra[4200], dir2_env[4200], dir2_app[4200];
    struct dp_envelope *env = create(f, kek1);
    assert_int_equal(dp_envelope_add_file(env, "sales.db", &kek1->ops, &err), 0);
    assert_string_equal(dp_envelope_dek_id(env, "sales.db"), "dek-3");
    snprintf(extra, sizeof(extra), "%s/sales.db", f->dir);
    assert_true(dp_vfs_key_loaded(extra, NULL));
    write_rows(extra, "SALES", 50);
    assert_int_equal(dp_envelope_add_file(env, "sales.db", &kek1->ops, &err), CMK_EEXIST);
    assert_int_equal(dp_envelope_add_file(env, "other.db", &kek2->ops, &err), CMK_ECONFLICT);
    assert_int_equal(dp_envelope_add_file(env, "../escape.db", &kek1->ops, &err), CMK_EINVAL);
    assert_int_equal(dp_envelope_add_file(env, ".hidden", &kek1->ops, &err), CMK_EINVAL);

    /* Dropping a database drops its key: the file left behind is unreadable. */
    assert_int_equal(dp_envelope_remove_file(env, "sales.db", &err), 0);
    assert_false(dp_vfs_key_loaded(extra, NULL));
    assert_null(dp_envelope_dek_id(env, "sales.db"));
    assert_int_equal(dp_envelope_remove_file(env, "sales.db", &err), CMK_ENOTFOUND);
    assert_int_equal(count_rows(extra, "SALES"), -1);

    /* A copy for a restored server: same DEKs, wrapped by the new server's KEK. */
    write_rows(f->app, "APPROW", 100);
    char *dir2 = tu_mkdtemp();
    snprintf(dir2_env, sizeof(dir2_env), "%s/envelope.json", dir2);
    snprintf(dir2_app, sizeof(dir2_app), "%s/app.db", dir2);
    tu_copy(f->app, dir2_app);
    struct dp_envelope *copy = NULL;
    assert_int_equal(dp_envelope_copy(env, dir2_env, dir2, &kek2->ops, &copy, &err), 0);
    assert_string_equal(dp_envelope_kek_kid(copy), KID2);
    assert_string_equal(dp_envelope_dek_id(copy, "app.db"), "dek-2");
    assert_int_equal(count_rows(dir2_app, "APPROW"), 100);
    dp_envelope_free(copy);
    assert_int_equal(dp_envelope_load(&copy, dir2_env, dir2, &err), 0);
    assert_int_not_equal(dp_envelope_unlock(copy, &kek1->ops, &err), 0);
    assert_int_equal(dp_envelope_unlock(copy, &kek2->ops, &err), 0);
    assert_int_equal(count_rows(dir2_app, "APPROW"), 100);
    dp_envelope_free(copy);
    tu_rmdir(dir2);
    free(dir2);
    dp_envelope_free(env);
}

static void test_crypto_shredding(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    struct fake_kek *doomed = kek_new(KID1);
    struct dp_envelope *env = create(f, doomed);
    write_rows(f->app, "APPROW", 200);
    dp_envelope_free(env);
    /* The KEK is purged: the same key identifier can only name a different key now. */
    EVP_PKEY_free(doomed->pkey);
    doomed->pkey = EVP_RSA_gen(2048);
    env = load(f);
    assert_int_not_equal(dp_envelope_unlock(env, &doomed->ops, &err), 0);
    assert_int_equal(err.rc, CMK_ECRYPTO);
    assert_false(dp_vfs_key_loaded(f->app, NULL));
    assert_int_equal(count_rows(f->app, "APPROW"), -1);
    /* What remains on disk: wrapped DEKs and ciphertext, no DEK, no row. */
    for (int i = 0; i < doomed->nseen; i++)
        assert_int_equal(tu_dir_contains(f->dir, doomed->seen[i], DP_DEK_LEN, NULL, 0), 0);
    assert_int_equal(tu_dir_contains(f->dir, "APPROW", 6, NULL, 0), 0);
    dp_envelope_free(env);
    kek_free(doomed);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    struct cmk_err err = {0};
    struct dp_envelope *env = (struct dp_envelope *)1;
    assert_int_equal(dp_envelope_load(&env, f->env, f->dir, &err), CMK_ENOTFOUND);
    assert_null(env);
    const char *bad[] = {
        "{",
        "[]",
        "{\"format\":\"cmksim-envelope/2\",\"kek\":{\"kid\":\"k\",\"alg\":\"a\"},\"cipher\":"
        "\"AES-256-GCM\",\"next_dek\":1,\"deks\":[]}",
        "{\"format\":\"cmksim-envelope/1\",\"kek\":{\"kid\":\"k\"},\"cipher\":\"AES-256-GCM\","
        "\"next_dek\":1,\"deks\":[]}",
        "{\"format\":\"cmksim-envelope/1\",\"kek\":{\"kid\":\"k\",\"alg\":\"a\"},\"cipher\":"
        "\"AES-256-GCM\",\"next_dek\":1,\"deks\":[{\"id\":\"dek-1\",\"file\":\"../x.db\","
        "\"wrapped\":{}}]}",
        "{\"format\":\"cmksim-envelope/1\",\"kek\":{\"kid\":\"k\",\"alg\":\"a\"},\"cipher\":"
        "\"AES-256-GCM\",\"next_dek\":3,\"deks\":[{\"id\":\"dek-1\",\"file\":\"a.db\","
        "\"wrapped\":{}},{\"id\":\"dek-2\",\"file\":\"a.db\",\"wrapped\":{}}]}",
        "{\"format\":\"cmksim-envelope/1\",\"kek\":{\"kid\":\"k\",\"alg\":\"a\"},\"cipher\":"
        "\"AES-256-GCM\",\"next_dek\":2,\"deks\":[{\"id\":\"\",\"file\":\"a.db\","
        "\"wrapped\":{}}]}",
        "{\"format\":\"cmksim-envelope/1\",\"kek\":{\"kid\":\"k\",\"alg\":\"a\"},\"cipher\":"
        "\"AES-256-GCM\",\"next_dek\":0,\"deks\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(f->env, bad[i]);
        env = (struct dp_envelope *)1;
        assert_int_equal(dp_envelope_load(&env, f->env, f->dir, &err), CMK_EPARSE);
        assert_null(env);
    }
    /* The smallest valid one. */
    write_text(f->env, "{\"format\":\"cmksim-envelope/1\",\"kek\":{\"kid\":\"k\",\"alg\":\"a\"},"
                       "\"cipher\":\"AES-256-GCM\",\"next_dek\":1,\"deks\":[]}");
    assert_int_equal(dp_envelope_load(&env, f->env, f->dir, &err), 0);
    assert_int_equal(dp_envelope_count(env), 0);
    dp_envelope_free(env);
    /* Bad arguments to create. */
    const char *dup[] = {"a.db", "a.db"};
    unlink(f->env);
    assert_int_equal(dp_envelope_create(&env, f->env, f->dir, dup, 2, &kek1->ops, &err),
                     CMK_EINVAL);
    assert_int_equal(tu_size(f->env), -1);
    struct dp_kek incomplete = {.kid = KID1, .alg = "RSA-OAEP-256"};
    assert_int_equal(dp_envelope_create(&env, f->env, f->dir, FILES, 2, &incomplete, &err),
                     CMK_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_unlock_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlock_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kek_rotation_rewraps_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dek_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dek_rotation_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_remove_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crypto_shredding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
