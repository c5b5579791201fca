/* vfs_int.h: what vfs.c (the shim), vfs_keys.c (the key registry, dp_db_open) and
 * vfs_memfile.c (temporary files in memory) share. Not for other modules. */
#ifndef DP_VFS_INT_H
#define DP_VFS_INT_H

#include <pthread.h>

#include "dataplane/vfs.h"

/* A registered DEK. Files opened under it hold a reference, so forgetting the key wipes it at
 * once (codec and dek NULL) while the struct lives until the last file closes. */
struct dp__key {
    struct dp__key *next;
    char *path; /* canonical, as the base VFS's xFullPathname gives it */
    uint8_t *dek;
    char dek_id[DP_DEK_ID_MAX];
    struct dp_codec *codec; /* NULL once forgotten */
    pthread_mutex_t lock;   /* guards dek and codec */
    int refs;               /* the registry's and each open file's; guarded by the registry */
};

/* The VFS under the shim (valid once dp_vfs_register succeeded). */
sqlite3_vfs *dp__vfs_base(void);

/* The key registered for canonical path with a new reference, or NULL. */
struct dp__key *dp__key_acquire(const char *path);
void dp__key_ref(struct dp__key *k);
void dp__key_release(struct dp__key *k);

/* A temporary file kept in memory (wiped on close) in file, which has room for it. */
size_t dp__memfile_size(void);
int dp__memfile_open(sqlite3_file *file, int flags, int *out_flags);

#endif
