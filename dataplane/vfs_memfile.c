/* vfs_memfile.c: temporary files of the encrypting VFS, kept in memory.
 *
 * Temporary databases, statement journals, sorter spills and transient files would hold
 * plaintext pages or rows; instead of reaching the disk they live in a growable buffer that is
 * wiped (OPENSSL_cleanse) when it grows and when the file closes. A file larger than
 * MEMFILE_MAX is SQLITE_FULL.
 */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "dataplane/vfs_int.h"

#define MEMFILE_MAX ((size_t)1 << 31)

struct mem_file {
    sqlite3_file base;
    uint8_t *data;
    size_t len, cap;
};

static int mem_close(sqlite3_file *file)
{
    struct mem_file *m = (struct mem_file *)file;
    if (m->data != NULL) {
        OPENSSL_cleanse(m->data, m->cap);
        free(m->data);
    }
    m->data = NULL;
    m->len = m->cap = 0;
    return SQLITE_OK;
}

static int mem_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    struct mem_file *m = (struct mem_file *)file;
    size_t n = 0;
    if (off < 0)
        return SQLITE_IOERR_READ;
    if ((size_t)off < m->len) {
        n = m->len - (size_t)off;
        if (n > (size_t)amt)
            n = (size_t)amt;
        memcpy(buf, m->data + off, n);
    }
    if (n < (size_t)amt) {
        memset((uint8_t *)buf + n, 0, (size_t)amt - n);
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int mem_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
    struct mem_file *m = (struct mem_file *)file;
    if (off < 0 || (size_t)off + (size_t)amt > MEMFILE_MAX)
        return SQLITE_FULL;
    size_t end = (size_t)off + (size_t)amt;
    if (end > m->cap) {
        /* Grow by copy so the old block can be wiped: it may hold plaintext. */
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < end)
            cap *= 2;
        uint8_t *data = cmk_xcalloc(1, cap);
        if (m->data != NULL) {
            memcpy(data, m->data, m->len);
            OPENSSL_cleanse(m->data, m->cap);
            free(m->data);
        }
        m->data = data;
        m->cap = cap;
    }
    if ((size_t)off > m->len)
        memset(m->data + m->len, 0, (size_t)off - m->len);
    memcpy(m->data + off, buf, (size_t)amt);
    if (end > m->len)
        m->len = end;
    return SQLITE_OK;
}

static int mem_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct mem_file *m = (struct mem_file *)file;
    if (size < 0)
        return SQLITE_IOERR_TRUNCATE;
    if ((size_t)size < m->len) {
        OPENSSL_cleanse(m->data + size, m->len - (size_t)size);
        m->len = (size_t)size;
    }
    return SQLITE_OK;
}

static int mem_sync(sqlite3_file *file, int flags)
{
    return SQLITE_OK;
}

static int mem_size(sqlite3_file *file, sqlite3_int64 *size)
{
    *size = (sqlite3_int64)((struct mem_file *)file)->len;
    return SQLITE_OK;
}

static int mem_lock(sqlite3_file *file, int level)
{
    return SQLITE_OK;
}

static int mem_reserved(sqlite3_file *file, int *out)
{
    *out = 0;
    return SQLITE_OK;
}

static int mem_fcntl(sqlite3_file *file, int op, void *arg)
{
    return SQLITE_NOTFOUND;
}

static int mem_sector(sqlite3_file *file)
{
    return 4096;
}

static int mem_devchar(sqlite3_file *file)
{
    return SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL |
           SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static const sqlite3_io_methods mem_io = {
    .iVersion = 1,
    .xClose = mem_close,
    .xRead = mem_read,
    .xWrite = mem_write,
    .xTruncate = mem_truncate,
    .xSync = mem_sync,
    .xFileSize = mem_size,
    .xLock = mem_lock,
    .xUnlock = mem_lock,
    .xCheckReservedLock = mem_reserved,
    .xFileControl = mem_fcntl,
    .xSectorSize = mem_sector,
    .xDeviceCharacteristics = mem_devchar,
};

size_t dp__memfile_size(void)
{
    return sizeof(struct mem_file);
}

int dp__memfile_open(sqlite3_file *file, int flags, int *out_flags)
{
    memset(file, 0, sizeof(struct mem_file));
    file->pMethods = &mem_io;
    if (out_flags != NULL)
        *out_flags = flags;
    return SQLITE_OK;
}
