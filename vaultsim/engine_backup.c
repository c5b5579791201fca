/* engine_backup.c: key backup blobs (see engine.h).
 *
 * A blob is "CMKSIMKB" | format byte | emulator id (16 hex) | binding hash (16 hex) | sealed
 * payload. The payload, a JSON document holding every version of the key with its private
 * material, is sealed with AES-256-GCM under a key derived from this emulator's root key
 * (label "vaultsim backup") with the binding (engine kind and subscription) as associated
 * data. So a blob opens only in the emulator that made it, for the same kind of container in
 * the same subscription, like the service's backups (same geography and subscription). The
 * clear header only lets restore say which of those does not match; it proves nothing. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/store.h"
#include "engine_int.h"

#define MAGIC        "CMKSIMKB"
#define FORMAT       1
#define HEADER_LEN   (8 + 1 + 16 + 16)
#define MAX_VERSIONS 2000

static void binding(const struct vs_engine *e, const char *subscription, struct cmk_buf *aad,
                    char hash[17])
{
    cmk_buf_printf(aad, "cmksim key backup\n%s\n%s", e->kind, subscription);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(aad->data, aad->len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 8; i++)
        snprintf(hash + 2 * i, 3, "%02x", md[i]);
}

static void wipe_json_string(json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    const char *s = json_string_value(v);
    if (s)
        OPENSSL_cleanse((void *)s, strlen(s));
}

static void wipe_payload(json_t *doc)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "versions"), i, v) wipe_json_string(v, "material");
}

int vs_key_backup(struct vs_engine *e, const struct vs_space *s, const char *name,
                  unsigned char **blob, size_t *len, struct cmk_err *err)
{
    *blob = NULL;
    *len = 0;
    struct vs_key latest;
    int rc = vs__read_version(e, s, name, NULL, 0, &latest, err);
    if (rc != 0)
        return rc;
    json_t *doc = json_object();
    json_object_set_new(doc, "name", json_string(latest.name));
    json_object_set_new(doc, "managed", json_boolean(latest.managed));
    sqlite3_stmt *st = cmk_store_stmt(e->db, "SELECT rotation FROM vs_keys WHERE space = ? AND"
                                             " name = ?");
    if (st) {
        sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, latest.name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            json_object_set_new(doc, "rotation",
                                json_string((const char *)sqlite3_column_text(st, 0)));
        sqlite3_reset(st);
    }
    json_t *versions = json_array();
    json_object_set_new(doc, "versions", versions);
    struct vs_key *items = NULL;
    size_t n = 0;
    int more = 0;
    rc = vs_key_list_versions(e, s, latest.name, "", MAX_VERSIONS, &items, &n, &more, err);
    if (rc == 0 && more)
        rc = cmk_err_set(err, CMK_ELIMIT, 400, "BadParameter",
                         "Key %s has more than %d versions: too many to back up.", latest.name,
                         MAX_VERSIONS);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct vs_key *k = &items[i];
        struct vs_cached *mat = NULL;
        rc = vs__material(e, s, k->name, k->version, &mat, err);
        if (rc != 0)
            break;
        struct cmk_buf m;
        cmk_buf_init(&m);
        if (mat->pkey) {
            unsigned char *der = NULL;
            int dl = i2d_PrivateKey(mat->pkey, &der);
            if (dl <= 0) {
                rc = cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Backup failed.");
                break;
            }
            cmk_buf_append(&m, "P", 1);
            cmk_buf_append(&m, der, (size_t)dl);
            OPENSSL_clear_free(der, (size_t)dl);
        } else {
            cmk_buf_append(&m, "O", 1);
            cmk_buf_append(&m, mat->oct, mat->octlen);
        }
        char *mb64 = cmk_b64_encode(m.data, m.len, 1);
        OPENSSL_cleanse(m.data, m.cap);
        cmk_buf_close(&m);
        char *pub = k->pub ? cmk_b64_encode(k->pub, k->publen, 1) : NULL;
        json_t *v =
            json_pack("{s:s,s:s,s:i,s:s,s:i,s:b,s:I,s:I,s:I,s:I,s:b,s:O,s:s?,s:s}", "version",
                      k->version, "kty", vs_kty_name(k->kty), "size", k->size, "crv",
                      vs_crv_name(k->crv), "ops", (int)k->ops, "enabled", k->enabled, "nbf",
                      (json_int_t)k->nbf, "exp", (json_int_t)k->exp, "created",
                      (json_int_t)k->created, "updated", (json_int_t)k->updated, "exportable",
                      k->exportable, "tags", k->tags, "pub", pub, "material", mb64);
        OPENSSL_cleanse(mb64, strlen(mb64));
        free(mb64);
        free(pub);
        json_array_append_new(versions, v);
    }
    vs_key_list_free(items, n);
    vs_key_clear(&latest);
    if (rc != 0) {
        wipe_payload(doc);
        json_decref(doc);
        return rc;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    wipe_payload(doc);
    json_decref(doc);
    struct cmk_buf out, aad;
    cmk_buf_init(&out);
    cmk_buf_init(&aad);
    char hash[17];
    binding(e, s->subscription, &aad, hash);
    cmk_buf_append(&out, MAGIC, 8);
    unsigned char fmt = FORMAT;
    cmk_buf_append(&out, &fmt, 1);
    cmk_buf_append(&out, e->root.id, 16);
    cmk_buf_append(&out, hash, 16);
    rc = cmk_rootkey_seal(&e->root, VS_BACKUP_LABEL, aad.data, aad.len, text, strlen(text), &out);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    cmk_buf_close(&aad);
    if (rc != 0) {
        cmk_buf_close(&out);
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalServerError", "Backup failed.");
    }
    *blob = (unsigned char *)cmk_buf_take(&out, len);
    return 0;
}

static int bad_blob(struct cmk_err *err, const char *why)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Backup blob is invalid: %s", why);
}

static int restore_versions(struct vs_engine *e, const struct vs_space *s, const char *name,
                            json_t *doc, char *latest, struct cmk_err *err)
{
    json_t *versions = json_object_get(doc, "versions");
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        const char *this = json_string_value(json_object_get(v, "version"));
        for (size_t j = 0; this && j < i; j++) {
            const char *before =
                json_string_value(json_object_get(json_array_get(versions, j), "version"));
            if (before && strcmp(this, before) == 0)
                return bad_blob(err, "a version appears twice.");
        }
        struct vs_key k;
        memset(&k, 0, sizeof(k));
        const char *ver = json_string_value(json_object_get(v, "version"));
        const char *mat = json_string_value(json_object_get(v, "material"));
        const char *pub = json_string_value(json_object_get(v, "pub"));
        json_t *tags = json_object_get(v, "tags");
        if (ver == NULL || strlen(ver) != 32 || mat == NULL ||
            vs_kty_parse(json_string_value(json_object_get(v, "kty")), &k.kty) != 0 ||
            (tags && !json_is_object(tags)))
            return bad_blob(err, "a version is malformed.");
        int trc = vs__check_type(s, k.kty, err);
        if (trc != 0)
            return trc;
        snprintf(k.version, sizeof(k.version), "%s", ver);
        k.size = (int)json_integer_value(json_object_get(v, "size"));
        if (vs_crv_parse(json_string_value(json_object_get(v, "crv")), &k.crv) != 0)
            k.crv = VS_CRV_NONE;
        k.ops = (unsigned)json_integer_value(json_object_get(v, "ops"));
        k.enabled = json_is_true(json_object_get(v, "enabled"));
        k.nbf = json_integer_value(json_object_get(v, "nbf"));
        k.exp = json_integer_value(json_object_get(v, "exp"));
        k.created = json_integer_value(json_object_get(v, "created"));
        k.updated = json_integer_value(json_object_get(v, "updated"));
        k.exportable = json_is_true(json_object_get(v, "exportable"));
        k.tags = tags;
        size_t ml = 0;
        unsigned char *m = cmk_b64_decode(mat, strlen(mat), &ml);
        if (m == NULL || ml < 2 || (m[0] != 'P' && m[0] != 'O')) {
            if (m)
                OPENSSL_clear_free(m, ml);
            return bad_blob(err, "key material is malformed.");
        }
        if (pub) {
            k.pub = cmk_b64_decode(pub, strlen(pub), &k.publen);
            if (k.pub == NULL) {
                OPENSSL_clear_free(m, ml);
                return bad_blob(err, "a public key is malformed.");
            }
        }
        EVP_PKEY *pkey = NULL;
        if (m[0] == 'P') {
            const unsigned char *p = m + 1;
            pkey = d2i_AutoPrivateKey(NULL, &p, (long)(ml - 1));
            if (pkey)
                k.jwk = vs__public_members(pkey, k.crv);
        }
        struct cmk_buf sealed;
        cmk_buf_init(&sealed);
        int rc = (m[0] == 'P' && pkey == NULL)
                     ? CMK_EINVAL
                     : vs__seal(e, s->id, name, k.version, pkey, m[0] == 'O' ? m + 1 : NULL, ml - 1,
                                &sealed);
        EVP_PKEY_free(pkey);
        OPENSSL_clear_free(m, ml);
        if (rc == 0)
            rc = vs__insert_version(e, s, name, &k, (const unsigned char *)sealed.data, sealed.len,
                                    err);
        else
            rc = bad_blob(err, "key material is malformed.");
        cmk_buf_close(&sealed);
        free(k.pub);
        json_decref(k.jwk);
        if (rc != 0)
            return rc;
        snprintf(latest, 33, "%s", k.version);
    }
    return 0;
}

int vs_key_restore(struct vs_engine *e, const struct vs_space *s, const void *blob, size_t len,
                   struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    const unsigned char *b = blob;
    if (len < HEADER_LEN + CMK_SEAL_OVERHEAD || memcmp(b, MAGIC, 8) != 0 || b[8] != FORMAT)
        return bad_blob(err, "it is not a key backup made by cmksim.");
    if (memcmp(b + 9, e->root.id, 16) != 0)
        return bad_blob(err, "it was made by another emulator (another root key); a backup "
                             "restores only into the emulator that made it.");
    struct cmk_buf aad;
    cmk_buf_init(&aad);
    char hash[17];
    binding(e, s->subscription, &aad, hash);
    if (memcmp(b + 25, hash, 16) != 0) {
        cmk_buf_close(&aad);
        return bad_blob(err, "it was made in another subscription or another kind of key store; "
                             "a backup restores only into the same subscription.");
    }
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    int rc = cmk_rootkey_open(&e->root, VS_BACKUP_LABEL, aad.data, aad.len, b + HEADER_LEN,
                              len - HEADER_LEN, &pt, &ptlen);
    cmk_buf_close(&aad);
    if (rc != 0)
        return bad_blob(err, "it is corrupt or was altered.");
    json_t *doc = json_loadb((const char *)pt, ptlen, 0, NULL);
    OPENSSL_clear_free(pt, ptlen);
    const char *name = json_string_value(json_object_get(doc, "name"));
    json_t *versions = json_object_get(doc, "versions");
    if (name == NULL || !json_is_array(versions) || json_array_size(versions) == 0 ||
        json_array_size(versions) > MAX_VERSIONS) {
        if (doc)
            wipe_payload(doc);
        json_decref(doc);
        return bad_blob(err, "its content is malformed.");
    }
    size_t nl = strlen(name);
    int name_ok = nl > 0 && nl < 128;
    for (size_t i = 0; name_ok && i < nl; i++)
        name_ok = (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
                  (name[i] >= 'A' && name[i] <= 'Z') || name[i] == '-';
    if (!name_ok) {
        wipe_payload(doc);
        json_decref(doc);
        return bad_blob(err, "its key name is not valid.");
    }
    char kname[128];
    snprintf(kname, sizeof(kname), "%s", name);
    int state = vs__key_state(e, s, kname);
    if (state != 0) {
        wipe_payload(doc);
        json_decref(doc);
        if (state < 0)
            return vs__db_error(e, err);
        if (state == 2)
            return vs__deleted_conflict(kname, err);
        return cmk_err_set(err, CMK_ECONFLICT, 409, "Conflict",
                           "Key %s already exists in this %s; a backup can only be restored "
                           "when no key of that name exists.",
                           kname, s->kind_label ? s->kind_label : "key vault");
    }
    int tx = vs__tx_begin(e);
    if (tx < 0) {
        wipe_payload(doc);
        json_decref(doc);
        return vs__db_error(e, err);
    }
    char latest[33] = "";
    rc = restore_versions(e, s, kname, doc, latest, err);
    const char *rotation = json_string_value(json_object_get(doc, "rotation"));
    if (rc == 0) {
        sqlite3_stmt *st = cmk_store_stmt(
            e->db, "UPDATE vs_keys SET latest = ?, managed = ?, rotation = ?, rot_created = ?,"
                   " rot_updated = ? WHERE space = ? AND name = ?");
        int64_t now = vs_engine_now(e);
        if (st == NULL) {
            rc = vs__db_error(e, err);
        } else {
            sqlite3_bind_text(st, 1, latest, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, json_is_true(json_object_get(doc, "managed")));
            if (rotation)
                sqlite3_bind_text(st, 3, rotation, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, 3);
            sqlite3_bind_int64(st, 4, now);
            sqlite3_bind_int64(st, 5, now);
            sqlite3_bind_text(st, 6, s->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 7, kname, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = vs__db_error(e, err);
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
        }
    }
    if (rc == 0 && vs__tx_commit(e, tx) != 0)
        rc = vs__db_error(e, err);
    if (rc != 0)
        vs__tx_rollback(e, tx);
    wipe_payload(doc);
    json_decref(doc);
    if (rc != 0)
        return rc;
    vs__rotation_schedule(e, s->id, kname);
    vs__rearm(e);
    return vs__read_version(e, s, kname, NULL, 0, out, err);
}
