/* buf.c: growable buffers and aborting allocators (see buf.h). */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
    fputs("cmksim: out of memory\n", stderr);
    abort();
}

void *cmk_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom();
    return p;
}

void *cmk_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom();
    return p;
}

void *cmk_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        oom();
    return p;
}

char *cmk_xstrdup(const char *s)
{
    return cmk_xstrndup(s, strlen(s));
}

char *cmk_xstrndup(const char *s, size_t n)
{
    char *p = cmk_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void cmk_buf_init(struct cmk_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cmk_buf_close(struct cmk_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    cmk_buf_init(b);
}

void cmk_buf_reset(struct cmk_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cmk_buf_reserve(struct cmk_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    int fresh = b->data == NULL;
    b->data = cmk_xrealloc(b->data, cap);
    b->cap = cap;
    /* data is always NUL-terminated (buf.h), also when reserved and never appended to: a
     * reader of an empty string token read the fresh block's garbage (fuzz_pgwire). */
    if (fresh)
        b->data[0] = '\0';
}

void cmk_buf_append(struct cmk_buf *b, const void *p, size_t n)
{
    cmk_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cmk_buf_puts(struct cmk_buf *b, const char *s)
{
    cmk_buf_append(b, s, strlen(s));
}

void cmk_buf_vprintf(struct cmk_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    cmk_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cmk_buf_printf(struct cmk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmk_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void cmk_buf_consume(struct cmk_buf *b, size_t n)
{
    if (n >= b->len) {
        cmk_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *cmk_buf_take(struct cmk_buf *b, size_t *len)
{
    if (b->data == NULL)
        cmk_buf_reserve(b, 0), b->data[0] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    cmk_buf_init(b);
    return p;
}
