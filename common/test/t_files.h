/* t_files.h: file helpers common's tests share (header-only; include after <cmocka.h>): read a
 * whole file, write one, and count the files under a directory that hold some bytes (the
 * "no secret in clear on disk" scans). */
#ifndef CMK_T_FILES_H
#define CMK_T_FILES_H

#include <dirent.h>
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

#endif
