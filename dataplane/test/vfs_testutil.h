/* vfs_testutil.h: small helpers shared by the encrypted-storage tests (test_vfs.c,
 * test_envelope.c): scratch directories, whole-file reads, byte searches, tampering. */
#ifndef DP_VFS_TESTUTIL_H
#define DP_VFS_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fresh directory under /tmp; the caller frees the string and calls tu_rmdir. */
static inline char *tu_mkdtemp(void)
{
    char *d = strdup("/tmp/dp-vfs-test-XXXXXX");
    if (d == NULL || mkdtemp(d) == NULL)
        abort();
    return d;
}

/* Remove dir and the regular files in it (the tests create no subdirectories). */
static inline void tu_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4096];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The whole file, malloc'd; *len its size. NULL if it cannot be read. */
static inline uint8_t *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b == NULL || (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n)) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static inline int tu_contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
    return m > 0 && n >= m && memmem(hay, n, needle, m) != NULL;
}

/* Number of files in dir (regular files, any name) that contain needle. */
static inline int tu_dir_contains(const char *dir, const void *needle, size_t m, char *hit,
                                  size_t hitlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4096];
    int found = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        size_t n;
        uint8_t *b = tu_read(p, &n);
        if (b != NULL && tu_contains(b, n, needle, m)) {
            found++;
            if (hit != NULL)
                snprintf(hit, hitlen, "%s", e->d_name);
        }
        free(b);
    }
    closedir(d);
    return found;
}

/* tu_dir_contains in a child process. While SQLite has the database open, this process must
 * not open and close its files: closing any descriptor drops the process's POSIX locks on the
 * file, SQLite's included. */
static inline int tu_dir_contains_isolated(const char *dir, const void *needle, size_t m)
{
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        char hit[256] = "";
        int found = tu_dir_contains(dir, needle, m, hit, sizeof(hit));
        if (found != 0)
            fprintf(stderr, "found in %s\n", hit);
        _exit(found == 0 ? 0 : 1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        abort();
    return WEXITSTATUS(status);
}

/* XOR one byte of a file with mask. */
static inline void tu_flip(const char *path, long off, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    if (fd < 0 || pread(fd, &b, 1, off) != 1)
        abort();
    b ^= mask;
    if (pwrite(fd, &b, 1, off) != 1)
        abort();
    close(fd);
}

static inline void tu_copy(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = tu_read(from, &n);
    FILE *f = fopen(to, "wb");
    if (b == NULL || f == NULL || fwrite(b, 1, n, f) != n)
        abort();
    fclose(f);
    free(b);
}

static inline long tu_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

#endif
