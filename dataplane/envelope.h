/* envelope.h: a server's envelope file, its data encryption keys stored only wrapped.
 *
 * Each database file of a server has its own DEK (AES-256, from OpenSSL's CSPRNG), named by
 * an id ("dek-1", "dek-2", ...) that the encrypting VFS binds into every page. The envelope
 * file (JSON, mode 0600, replaced atomically: write, fsync, rename, fsync of the directory)
 * records for each DEK the file it encrypts and its wrapped form, plus the KEK identifier
 * (key URI with version) and the wrapping algorithm. The DEK itself is never written
 * anywhere: wrapping and unwrapping are callbacks (struct dp_kek), which the server wires to
 * an in-process wrapKey/unwrapKey request to its vault or HSM carrying its managed identity's
 * token, and which tests wire to a local RSA key.
 *
 * Lifecycle: create (new DEKs, unlocked) or load (locked: nothing unwrapped) -> unlock
 * (unwrap all, hand each DEK to the VFS registry) -> lock (forget and wipe every DEK) ->
 * free. While unlocked, the envelope keeps its own copies of the DEKs in OpenSSL's secure
 * heap, which is what lets a KEK rotation re-wrap them without touching the data.
 *
 * Rotations: dp_envelope_rewrap (new KEK or KEK version) re-wraps every DEK and rewrites
 * only the envelope. dp_envelope_rotate_dek (new DEK for one file) re-encrypts that file
 * into "<file>.rekey" under the new DEK and swaps it in; the envelope holds both DEKs
 * (the new one "pending") across the swap, so a crash at any point leaves a readable file
 * and dp_envelope_load finishes or undoes the swap.
 *
 * Ownership: the caller owns struct dp_kek and its ctx; wrapped values returned by the wrap
 * callback are owned by the envelope. Not thread-safe: one envelope is used by one thread.
 */
#ifndef DP_ENVELOPE_H
#define DP_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DP_ENVELOPE_FILE_MAX 128 /* longest database file name */

/* Wrap n bytes of dek with the KEK. On success *wrapped is a new JSON value (the vault's
 * wrapKey answer, e.g. {"kid": ..., "value": base64url}) whose ownership passes to the
 * caller. Must not keep a copy of dek. Returns 0 or a CMK_E* code with err filled. */
typedef int (*dp_wrap_fn)(void *ctx, const uint8_t *dek, size_t n, json_t **wrapped,
                          struct cmk_err *err);
/* Unwrap wrapped into exactly n bytes at dek (secure-heap memory owned by the caller).
 * A result of another length is an error. Must cleanse any intermediate copy. */
typedef int (*dp_unwrap_fn)(void *ctx, const json_t *wrapped, uint8_t *dek, size_t n,
                            struct cmk_err *err);

struct dp_kek {
    const char *kid; /* key identifier with version, recorded in the envelope */
    const char *alg; /* wrapping algorithm, e.g. "RSA-OAEP-256" */
    dp_wrap_fn wrap;
    dp_unwrap_fn unwrap;
    void *ctx;
};

struct dp_envelope;

/* Create the envelope at path for database files (names relative to dir, [A-Za-z0-9_-.],
 * not starting with '.') with one new DEK each, wrapped by kek. Fails with CMK_EEXIST if path
 * exists. The result is unlocked: the DEKs are registered with the VFS for dir/file. */
int dp_envelope_create(struct dp_envelope **out, const char *path, const char *dir,
                       const char *const *files, size_t nfiles, const struct dp_kek *kek,
                       struct cmk_err *err) __attribute__((warn_unused_result));
/* Read the envelope at path (locked). Finishes or undoes a DEK rotation a crash interrupted
 * and removes stale "<file>.rekey" files. CMK_ENOTFOUND, CMK_EPARSE, CMK_EIO. */
int dp_envelope_load(struct dp_envelope **out, const char *path, const char *dir,
                     struct cmk_err *err) __attribute__((warn_unused_result));
/* Unwrap every DEK with kek and register them with the VFS. All or nothing: on failure no
 * DEK stays in memory. Already unlocked: unwraps again (the key may have been revoked). */
int dp_envelope_unlock(struct dp_envelope *env, const struct dp_kek *kek, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Forget every DEK (VFS registry and own copies), wiping them. Files open under them fail
 * from now on. Accepts NULL. */
void dp_envelope_lock(struct dp_envelope *env);
/* Locks, then frees. Accepts NULL. */
void dp_envelope_free(struct dp_envelope *env);

/* KEK rotation: re-wrap every DEK with kek (a new key or version) and record kek->kid and
 * kek->alg. Needs the envelope unlocked. The database files are not touched. */
int dp_envelope_rewrap(struct dp_envelope *env, const struct dp_kek *kek, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* A new database file: a new DEK wrapped by kek (which must be the envelope's KEK), registered
 * with the VFS. CMK_EEXIST if file already has one. Needs the envelope unlocked. */
int dp_envelope_add_file(struct dp_envelope *env, const char *file, const struct dp_kek *kek,
                         struct cmk_err *err) __attribute__((warn_unused_result));
/* Drop file's DEK (forgotten and wiped; whatever remains of the file is unreadable). The
 * caller deletes the file. */
int dp_envelope_remove_file(struct dp_envelope *env, const char *file, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* DEK rotation: re-encrypt file under a new DEK wrapped by kek (the envelope's KEK) and swap
 * it in atomically. Needs the envelope unlocked and no connection open on the file
 * (CMK_ECONFLICT otherwise). Other files are not touched. */
int dp_envelope_rotate_dek(struct dp_envelope *env, const char *file, const struct dp_kek *kek,
                           struct cmk_err *err) __attribute__((warn_unused_result));
/* Write a new envelope at path for copies of the files in dir (a restore, a replica): the
 * same DEKs, wrapped by kek. The result is unlocked (DEKs registered for dir/file). */
int dp_envelope_copy(const struct dp_envelope *env, const char *path, const char *dir,
                     const struct dp_kek *kek, struct dp_envelope **out, struct cmk_err *err)
    __attribute__((warn_unused_result));

int dp_envelope_unlocked(const struct dp_envelope *env);
const char *dp_envelope_kek_kid(const struct dp_envelope *env);
const char *dp_envelope_alg(const struct dp_envelope *env);
size_t dp_envelope_count(const struct dp_envelope *env);
/* Name of the i-th database file (i < count), NULL past the end. */
const char *dp_envelope_file(const struct dp_envelope *env, size_t i);
/* Id of file's DEK, NULL if the envelope has none for it. */
const char *dp_envelope_dek_id(const struct dp_envelope *env, const char *file);

/* Tests only: make dp_envelope_rotate_dek stop as if the process died after step n (1: the
 * pending DEK is recorded, 2: the file is swapped). 0: off. */
extern int dp_envelope__crash_after;

#endif
