/* fuzz_backup.c: key backup blobs given to restore (vs_key_restore), the way a client's
 * POST /keys/restore hands them over.
 *
 * The driver runs the engine with a fixed root key (written to its temporary state directory
 * before the engine opens), so blobs in the checked-in corpus are genuine for it. Two modes,
 * chosen by the first byte:
 *   even: the rest is a blob as a client would send it (header, AEAD, everything);
 *   odd:  the rest is the blob's inner JSON document, which the driver seals correctly, so
 *         the fuzzer reaches the parsing of versions and key material behind the AEAD.
 * Checks: restore either succeeds (the key is then readable, and is deleted and purged again)
 * or fails with 400 BadParameter / 409 Conflict, never a crash or a 5xx.
 *
 * CMK_FUZZ_BACKUP_SEEDS=DIR writes fresh seeds (blobs of an RSA and an EC key, and their inner
 * documents) into DIR: that is how corpus/backup was made.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rootkey.h"
#include "common/runtime.h"
#include "vaultsim/engine.h"

#define SUB "00000000-0000-0000-0000-000000000001"

static struct {
    int ready;
    char dir[64];
    uv_loop_t loop;
    struct cmk_runtime rt;
    struct vs_engine *e;
    struct vs_space s;
    struct cmk_rootkey root;
} S;

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", S.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_backup: cannot remove %s\n", S.dir);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n)
        abort();
    fclose(f);
}

static void make_seeds(const char *dir)
{
    static const enum vs_kty kinds[] = {VS_KTY_RSA, VS_KTY_EC};
    for (int i = 0; i < 2; i++) {
        struct vs_key_params p;
        memset(&p, 0, sizeof(p));
        p.kty = kinds[i];
        vs_attrs_init(&p.attrs);
        struct vs_key k;
        struct cmk_err err;
        char name[16];
        snprintf(name, sizeof(name), "seed%d", i);
        if (vs_key_create(S.e, &S.s, name, &p, &k, &err) != 0)
            abort();
        vs_key_clear(&k);
        unsigned char *blob;
        size_t len;
        if (vs_key_backup(S.e, &S.s, name, &blob, &len, &err) != 0)
            abort();
        char path[512];
        unsigned char *buf = malloc(len + 1);
        buf[0] = 0;
        memcpy(buf + 1, blob, len);
        snprintf(path, sizeof(path), "%s/blob_%s", dir, name);
        write_file(path, buf, len + 1);
        /* the inner document: open what the engine sealed */
        struct cmk_buf aad;
        cmk_buf_init(&aad);
        cmk_buf_printf(&aad, "cmksim key backup\nvault\n%s", SUB);
        unsigned char *pt;
        size_t n;
        if (cmk_rootkey_open(&S.root, "vaultsim backup", aad.data, aad.len, blob + 41, len - 41,
                             &pt, &n) != 0)
            abort();
        buf = realloc(buf, n + 1);
        buf[0] = 1;
        memcpy(buf + 1, pt, n);
        snprintf(path, sizeof(path), "%s/doc_%s", dir, name);
        write_file(path, buf, n + 1);
        free(pt);
        free(buf);
        free(blob);
        cmk_buf_close(&aad);
        if (vs_key_delete(S.e, &S.s, name, &k, &err) != 0 || vs_key_purge(S.e, &S.s, name, &err))
            abort();
        vs_key_clear(&k);
    }
}

static void init(void)
{
    snprintf(S.dir, sizeof(S.dir), "/tmp/cmk-fuzz-backup-XXXXXX");
    if (mkdtemp(S.dir) == NULL)
        abort();
    atexit(cleanup);
    /* The fixed root key the corpus was made with. */
    char keys[128], path[160];
    snprintf(keys, sizeof(keys), "%s/keys", S.dir);
    mkdir(keys, 0700);
    snprintf(path, sizeof(path), "%s/root.key", keys);
    unsigned char key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(0x42 + i);
    write_file(path, key, sizeof(key));
    chmod(path, 0600);
    uv_loop_init(&S.loop);
    struct cmk_runtime_opts o = {
        .data_dir = S.dir, .clock_mode = CMK_CLOCK_VIRTUAL, .seed = 1, .in_memory = 1};
    struct cmk_err err;
    if (cmk_runtime_open(&S.rt, &S.loop, &o, &err) != 0)
        abort();
    cmk_log_setup(&S.rt.clock, stderr, CMK_LOG_OFF);
    struct vs_engine_policy pol = {.version = 1, .kind = "vault"};
    if (vs_engine_open(&S.e, &S.rt, &pol, &err) != 0 || cmk_rootkey_load(&S.root, S.dir, &err) != 0)
        abort();
    snprintf(S.s.id, sizeof(S.s.id), "vault/fuzz");
    snprintf(S.s.name, sizeof(S.s.name), "fuzz");
    snprintf(S.s.subscription, sizeof(S.s.subscription), SUB);
    S.s.retention_days = 7;
    S.s.key_types = VS_KTYS_SOFTWARE | VS_KTYS_HSM_ASYM;
    const char *seeds = getenv("CMK_FUZZ_BACKUP_SEEDS");
    if (seeds)
        make_seeds(seeds);
    S.ready = 1;
}

/* Seal doc as the engine seals a backup for S.s. */
static unsigned char *seal(const uint8_t *doc, size_t n, size_t *len)
{
    struct cmk_buf out, aad;
    cmk_buf_init(&out);
    cmk_buf_init(&aad);
    cmk_buf_printf(&aad, "cmksim key backup\nvault\n%s", SUB);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(aad.data, aad.len, md, &mdlen, EVP_sha256(), NULL);
    char hash[17];
    for (int i = 0; i < 8; i++)
        snprintf(hash + 2 * i, 3, "%02x", md[i]);
    cmk_buf_append(&out, "CMKSIMKB\x01", 9);
    cmk_buf_append(&out, S.root.id, 16);
    cmk_buf_append(&out, hash, 16);
    if (cmk_rootkey_seal(&S.root, "vaultsim backup", aad.data, aad.len, doc, n, &out) != 0)
        abort();
    cmk_buf_close(&aad);
    return (unsigned char *)cmk_buf_take(&out, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!S.ready)
        init();
    if (size < 1)
        return 0;
    size_t len = size - 1;
    unsigned char *blob = NULL;
    const unsigned char *in = data + 1;
    if (data[0] & 1) {
        blob = seal(data + 1, size - 1, &len);
        in = blob;
    }
    struct vs_key k;
    struct cmk_err err;
    cmk_err_clear(&err);
    int rc = vs_key_restore(S.e, &S.s, in, len, &k, &err);
    if (rc == 0) {
        struct vs_key got, d;
        if (vs_key_get(S.e, &S.s, k.name, k.version, 1, &got, &err) != 0)
            abort();
        vs_key_clear(&got);
        if (vs_key_delete(S.e, &S.s, k.name, &d, &err) != 0 ||
            vs_key_purge(S.e, &S.s, k.name, &err) != 0)
            abort();
        vs_key_clear(&d);
        vs_key_clear(&k);
    } else if (!((err.status == 400 && strcmp(err.code, "BadParameter") == 0) ||
                 (err.status == 409 && strcmp(err.code, "Conflict") == 0))) {
        fprintf(stderr, "fuzz_backup: unexpected %d %s %s\n", err.status, err.code, err.message);
        abort();
    }
    free(blob);
    return 0;
}
