/* pgwire_msg.c: PostgreSQL v3 message framing and the backend messages' encoders.
 *
 * A client message is a type byte, an int32 length (counting itself) and a payload; the
 * startup-phase messages (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) have no
 * type byte. pg_msg_next finds whole messages at the front of the input without copying;
 * pg_reader reads fields of one payload with bounds checks (a short or unterminated field
 * sets r->bad instead of reading past the end). Encoders append to a cmk_buf, big-endian.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pgwire_int.h"

void pg_error_set(struct pg_error *e, const char *code, const char *fmt, ...)
{
    va_list ap;
    memset(e, 0, sizeof(*e));
    e->severity = "ERROR";
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int pg_msg_next(const uint8_t *in, size_t n, int startup, size_t max, struct pg_msg *m)
{
    size_t hdr = startup ? 4 : 5;
    if (n < hdr)
        return 0;
    uint32_t len = be32(in + hdr - 4);
    if (len < 4 || len > max)
        return -1;
    if (n < (size_t)len + hdr - 4)
        return 0;
    m->type = startup ? 0 : (char)in[0];
    m->data = in + hdr;
    m->len = len - 4;
    m->total = len + hdr - 4;
    return 1;
}

void pg_reader_init(struct pg_reader *r, const void *p, size_t n)
{
    r->p = p;
    r->n = n;
    r->off = 0;
    r->bad = 0;
}

size_t pg_reader_left(const struct pg_reader *r)
{
    return r->n - r->off;
}

const uint8_t *pg_get_bytes(struct pg_reader *r, size_t n)
{
    if (r->bad || n > r->n - r->off) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t pg_get_u8(struct pg_reader *r)
{
    const uint8_t *p = pg_get_bytes(r, 1);
    return p ? p[0] : 0;
}

int16_t pg_get_i16(struct pg_reader *r)
{
    const uint8_t *p = pg_get_bytes(r, 2);
    return p ? (int16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

int32_t pg_get_i32(struct pg_reader *r)
{
    const uint8_t *p = pg_get_bytes(r, 4);
    return p ? (int32_t)be32(p) : 0;
}

const char *pg_get_str(struct pg_reader *r)
{
    if (r->bad)
        return NULL;
    const uint8_t *s = r->p + r->off;
    const uint8_t *nul = memchr(s, 0, r->n - r->off);
    if (nul == NULL) {
        r->bad = 1;
        return NULL;
    }
    r->off += (size_t)(nul - s) + 1;
    return (const char *)s;
}

size_t pg_msg_begin(struct cmk_buf *b, char type)
{
    if (type)
        cmk_buf_append(b, &type, 1);
    size_t at = b->len;
    cmk_buf_append(b, "\0\0\0\0", 4);
    return at;
}

void pg_msg_end(struct cmk_buf *b, size_t start)
{
    uint32_t len = (uint32_t)(b->len - start);
    uint8_t *p = (uint8_t *)b->data + start;
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
}

void pg_put_i16(struct cmk_buf *b, int16_t v)
{
    uint8_t p[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};
    cmk_buf_append(b, p, 2);
}

void pg_put_i32(struct cmk_buf *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t p[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    cmk_buf_append(b, p, 4);
}

void pg_put_str(struct cmk_buf *b, const char *s)
{
    cmk_buf_append(b, s, strlen(s) + 1);
}

void pg_send_auth(struct cmk_buf *b, int32_t code, const void *extra, size_t n)
{
    size_t at = pg_msg_begin(b, 'R');
    pg_put_i32(b, code);
    if (n)
        cmk_buf_append(b, extra, n);
    pg_msg_end(b, at);
}

void pg_send_param_status(struct cmk_buf *b, const char *name, const char *value)
{
    size_t at = pg_msg_begin(b, 'S');
    pg_put_str(b, name);
    pg_put_str(b, value);
    pg_msg_end(b, at);
}

void pg_send_backend_key(struct cmk_buf *b, int32_t pid, int32_t key)
{
    size_t at = pg_msg_begin(b, 'K');
    pg_put_i32(b, pid);
    pg_put_i32(b, key);
    pg_msg_end(b, at);
}

void pg_send_ready(struct cmk_buf *b, char status)
{
    size_t at = pg_msg_begin(b, 'Z');
    cmk_buf_append(b, &status, 1);
    pg_msg_end(b, at);
}

static void put_field(struct cmk_buf *b, char code, const char *value)
{
    if (value == NULL || value[0] == 0)
        return;
    cmk_buf_append(b, &code, 1);
    pg_put_str(b, value);
}

void pg_send_error(struct cmk_buf *b, const struct pg_error *e)
{
    const char *sev = e->severity ? e->severity : "ERROR";
    int notice =
        strcmp(sev, "ERROR") != 0 && strcmp(sev, "FATAL") != 0 && strcmp(sev, "PANIC") != 0;
    size_t at = pg_msg_begin(b, notice ? 'N' : 'E');
    put_field(b, 'S', sev);
    put_field(b, 'V', sev);
    put_field(b, 'C', e->code[0] ? e->code : "XX000");
    put_field(b, 'M', e->message);
    put_field(b, 'D', e->detail);
    put_field(b, 'H', e->hint);
    if (e->table[0])
        put_field(b, 's', "public");
    put_field(b, 't', e->table);
    put_field(b, 'c', e->column);
    put_field(b, 'n', e->constraint_name);
    if (e->position > 0) {
        char pos[16];
        snprintf(pos, sizeof(pos), "%d", e->position);
        put_field(b, 'P', pos);
    }
    cmk_buf_append(b, "", 1);
    pg_msg_end(b, at);
}

void pg_send_notice(struct cmk_buf *b, const char *severity, const char *code, const char *fmt, ...)
{
    struct pg_error e;
    va_list ap;
    memset(&e, 0, sizeof(e));
    e.severity = severity;
    snprintf(e.code, sizeof(e.code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    pg_send_error(b, &e);
}

void pg_send_complete(struct cmk_buf *b, const char *tag)
{
    size_t at = pg_msg_begin(b, 'C');
    pg_put_str(b, tag);
    pg_msg_end(b, at);
}

void pg_send_simple(struct cmk_buf *b, char type)
{
    size_t at = pg_msg_begin(b, type);
    pg_msg_end(b, at);
}
