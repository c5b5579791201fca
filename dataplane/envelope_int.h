/* envelope_int.h: what envelope.c and envelope_store.c share. Not for other modules. */
#ifndef DP_ENVELOPE_INT_H
#define DP_ENVELOPE_INT_H

#include "dataplane/envelope.h"
#include "dataplane/vfs.h"

#define DP__ENV_FORMAT    "cmksim-envelope/1"
#define DP__ENV_REKEY_EXT ".rekey"
#define DP__ENV_LIMIT     4096 /* DEKs in one envelope */

struct dp__dek {
    char id[DP_DEK_ID_MAX];
    char *file;
    json_t *wrapped;
    uint8_t *key; /* DP_DEK_LEN bytes in the secure heap while unlocked, else NULL */
    int pending;
};

struct dp_envelope {
    char *path;
    char *dir;
    char *kek_kid;
    char *alg;
    unsigned next_id;
    struct dp__dek *deks;
    size_t n, cap;
    int unlocked;
};

/* Database file names: [A-Za-z0-9_-.], not starting with '.', at most DP_ENVELOPE_FILE_MAX. */
int dp__env_valid_file(const char *f);
/* "dir/file" + ext (may be NULL), malloc'd. */
char *dp__env_join(const char *dir, const char *file, const char *ext);
/* Unlink a database with its -wal and -shm. */
void dp__env_remove_db(const char *path);
int dp__env_exists(const char *path);
int dp__env_fsync(const char *path, int dir);

struct dp_envelope *dp__env_new(const char *path, const char *dir);
/* The DEK of file, the pending one or the current one; NULL if none. */
struct dp__dek *dp__env_find(struct dp_envelope *env, const char *file, int pending);
/* A zeroed entry at the end (pointers to entries move). */
struct dp__dek *dp__env_append(struct dp_envelope *env);
void dp__env_dek_close(struct dp__dek *d);
void dp__env_drop(struct dp_envelope *env, struct dp__dek *d);

/* Write env to its path atomically (temporary file, fsync, rename, fsync of the directory). */
int dp__env_save(const struct dp_envelope *env, struct cmk_err *err);
/* Fill env (new, empty) from the file's JSON; CMK_EPARSE when it is not an envelope. */
int dp__env_parse(struct dp_envelope *env, json_t *j, struct cmk_err *err);
/* Finish or undo a DEK rotation a crash interrupted; remove stale "<file>.rekey" copies.
 * Returns 1 if env changed (the caller saves it). */
int dp__env_resolve_rotations(struct dp_envelope *env);

#endif
