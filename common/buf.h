/* buf.h: a growable byte buffer (like Redis' sds, but a plain struct).
 *
 * The buffer owns data; cmk_buf_close frees it. data is always NUL-terminated so it can be
 * used as a C string when it holds text. cmk_buf_take hands the memory to the caller.
 */
#ifndef CMK_BUF_H
#define CMK_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct cmk_buf {
    char *data;
    size_t len;
    size_t cap;
};

void cmk_buf_init(struct cmk_buf *b);
void cmk_buf_close(struct cmk_buf *b);
void cmk_buf_reset(struct cmk_buf *b); /* len = 0, keeps the memory */
void cmk_buf_reserve(struct cmk_buf *b, size_t extra);
void cmk_buf_append(struct cmk_buf *b, const void *p, size_t n);
void cmk_buf_puts(struct cmk_buf *b, const char *s);
void cmk_buf_printf(struct cmk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cmk_buf_vprintf(struct cmk_buf *b, const char *fmt, va_list ap);
void cmk_buf_consume(struct cmk_buf *b, size_t n); /* drop n bytes from the front */
/* Hand data to the caller (free() it); the buffer is left empty. */
char *cmk_buf_take(struct cmk_buf *b, size_t *len);

/* Allocation that aborts on failure (STYLE.md: sizes a client controls are limited elsewhere). */
void *cmk_xmalloc(size_t n);
void *cmk_xcalloc(size_t n, size_t size);
void *cmk_xrealloc(void *p, size_t n);
char *cmk_xstrdup(const char *s);
char *cmk_xstrndup(const char *s, size_t n);

#endif
