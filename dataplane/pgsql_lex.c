/* pgsql_lex.c: the PostgreSQL tokenizer.
 *
 * Follows PostgreSQL's scanner closely enough for the translator: identifiers (folded to lower
 * case when compared), "quoted identifiers", 'strings' with '' escapes, E'escape strings',
 * $tag$dollar quotes$tag$, $1 parameters, numbers, operators (with PostgreSQL's rule that a
 * multi-character operator ends in + or - only if it holds one of ~ ! @ # % ^ & | ` ?), the
 * :: cast, and nested comments. Tokens point into the source; nothing is copied.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pgwire_int.h"

static int ident_start(unsigned char ch)
{
    return isalpha(ch) || ch == '_' || ch >= 0x80;
}

static int ident_char(unsigned char ch)
{
    return isalnum(ch) || ch == '_' || ch == '$' || ch >= 0x80;
}

static int op_char(unsigned char ch)
{
    return ch && strchr("+-*/<>=~!@#%^&|`?", ch) != NULL;
}

static void push(struct pg_lex *lx, enum pg_tok_kind kind, size_t off, size_t len, int space,
                 int quoting)
{
    if (lx->nt == lx->cap) {
        lx->cap = lx->cap ? lx->cap * 2 : 64;
        lx->t = cmk_xrealloc(lx->t, lx->cap * sizeof(*lx->t));
    }
    struct pg_tok *t = &lx->t[lx->nt++];
    t->kind = kind;
    t->off = (uint32_t)off;
    t->len = (uint32_t)len;
    t->space = (uint8_t)space;
    t->quoting = (uint8_t)quoting;
}

static int unterminated(struct pg_error *e, const char *what, const char *src, size_t at)
{
    pg_error_set(e, "42601", "unterminated %s at or near \"%.20s\"", what, src + at);
    e->position = (int)at + 1;
    return -1;
}

/* End of a quoted string starting at i (the opening quote); backslashes escape when esc. */
static long quote_end(const char *s, size_t n, size_t i, char q, int esc)
{
    for (size_t j = i + 1; j < n; j++) {
        if (esc && s[j] == '\\') {
            j++;
            continue;
        }
        if (s[j] == q) {
            if (j + 1 < n && s[j + 1] == q) {
                j++;
                continue;
            }
            return (long)j + 1;
        }
    }
    return -1;
}

/* A dollar-quote tag at i ("$$" or "$tag$"): its length, or 0. */
static size_t dollar_tag(const char *s, size_t n, size_t i)
{
    size_t j = i + 1;
    if (j < n && s[j] == '$')
        return 2;
    if (j >= n || !ident_start((unsigned char)s[j]) || s[j] == '$')
        return 0;
    while (j < n && ident_char((unsigned char)s[j]) && s[j] != '$')
        j++;
    return j < n && s[j] == '$' ? j - i + 1 : 0;
}

static int lex(struct pg_lex *lx, const char *src, size_t n, struct pg_error *e)
{
    lx->src = src;
    lx->n = n;
    size_t i = 0;
    int space = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)src[i];
        if (isspace(ch)) {
            space = 1;
            i++;
            continue;
        }
        if (ch == '-' && i + 1 < n && src[i + 1] == '-') {
            while (i < n && src[i] != '\n')
                i++;
            space = 1;
            continue;
        }
        if (ch == '/' && i + 1 < n && src[i + 1] == '*') {
            size_t start = i;
            int depth = 0;
            do {
                if (i + 1 < n && src[i] == '/' && src[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else if (i + 1 < n && src[i] == '*' && src[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else {
                    i++;
                }
            } while (depth > 0 && i < n);
            if (depth > 0)
                return unterminated(e, "/* comment", src, start);
            space = 1;
            continue;
        }
        size_t start = i;
        /* E'..', U&'..', B'..', X'..' */
        if ((ch == 'e' || ch == 'E') && i + 1 < n && src[i + 1] == '\'') {
            long end = quote_end(src, n, i + 1, '\'', 1);
            if (end < 0)
                return unterminated(e, "quoted string", src, start);
            push(lx, TK_STRING, start, (size_t)end - start, space, 1);
            i = (size_t)end;
        } else if ((ch == 'u' || ch == 'U') && i + 2 < n && src[i + 1] == '&' &&
                   src[i + 2] == '\'') {
            long end = quote_end(src, n, i + 2, '\'', 0);
            if (end < 0)
                return unterminated(e, "quoted string", src, start);
            push(lx, TK_STRING, start, (size_t)end - start, space, 3);
            i = (size_t)end;
        } else if ((ch == 'b' || ch == 'B' || ch == 'x' || ch == 'X') && i + 1 < n &&
                   src[i + 1] == '\'') {
            long end = quote_end(src, n, i + 1, '\'', 0);
            if (end < 0)
                return unterminated(e, "bit string literal", src, start);
            push(lx, TK_STRING, start, (size_t)end - start, space, 4);
            i = (size_t)end;
        } else if (ident_start(ch)) {
            while (i < n && ident_char((unsigned char)src[i]))
                i++;
            push(lx, TK_IDENT, start, i - start, space, 0);
        } else if (ch == '"') {
            long end = quote_end(src, n, i, '"', 0);
            if (end < 0)
                return unterminated(e, "quoted identifier", src, start);
            push(lx, TK_QIDENT, start, (size_t)end - start, space, 0);
            i = (size_t)end;
        } else if (ch == '\'') {
            long end = quote_end(src, n, i, '\'', 0);
            if (end < 0)
                return unterminated(e, "quoted string", src, start);
            push(lx, TK_STRING, start, (size_t)end - start, space, 0);
            i = (size_t)end;
        } else if (ch == '$' && i + 1 < n && isdigit((unsigned char)src[i + 1])) {
            i++;
            while (i < n && isdigit((unsigned char)src[i]))
                i++;
            push(lx, TK_PARAM, start, i - start, space, 0);
        } else if (ch == '$' && dollar_tag(src, n, i)) {
            size_t tl = dollar_tag(src, n, i);
            size_t j = i + tl;
            const char *close = NULL;
            for (; j + tl <= n; j++)
                if (src[j] == '$' && memcmp(src + j, src + i, tl) == 0) {
                    close = src + j;
                    break;
                }
            if (close == NULL)
                return unterminated(e, "dollar-quoted string", src, start);
            push(lx, TK_STRING, start, (size_t)(close - src) + tl - start, space, 2);
            i = (size_t)(close - src) + tl;
        } else if (isdigit(ch) || (ch == '.' && i + 1 < n && isdigit((unsigned char)src[i + 1]))) {
            while (i < n && isdigit((unsigned char)src[i]))
                i++;
            if (i < n && src[i] == '.' && !(i + 1 < n && src[i + 1] == '.')) {
                i++;
                while (i < n && isdigit((unsigned char)src[i]))
                    i++;
            }
            if (i < n && (src[i] == 'e' || src[i] == 'E')) {
                size_t j = i + 1;
                if (j < n && (src[j] == '+' || src[j] == '-'))
                    j++;
                if (j < n && isdigit((unsigned char)src[j])) {
                    i = j;
                    while (i < n && isdigit((unsigned char)src[i]))
                        i++;
                }
            }
            push(lx, TK_NUMBER, start, i - start, space, 0);
        } else if (ch == ':' && i + 1 < n && src[i + 1] == ':') {
            push(lx, TK_CAST, start, 2, space, 0);
            i += 2;
        } else if (op_char(ch)) {
            size_t j = i;
            while (j < n && op_char((unsigned char)src[j])) {
                if (j > i && ((src[j] == '-' && j + 1 < n && src[j + 1] == '-') ||
                              (src[j] == '/' && j + 1 < n && src[j + 1] == '*')))
                    break;
                j++;
            }
            size_t len = j - i;
            if (len > 1) {
                int special = 0;
                for (size_t k = i; k < j; k++)
                    if (strchr("~!@#%^&|`?", src[k]))
                        special = 1;
                while (!special && len > 1 && (src[i + len - 1] == '+' || src[i + len - 1] == '-'))
                    len--;
            }
            push(lx, TK_OP, start, len, space, 0);
            i += len;
        } else {
            enum pg_tok_kind k;
            switch (ch) {
            case '(':
                k = TK_LPAREN;
                break;
            case ')':
                k = TK_RPAREN;
                break;
            case '[':
                k = TK_LBRACK;
                break;
            case ']':
                k = TK_RBRACK;
                break;
            case ',':
                k = TK_COMMA;
                break;
            case ';':
                k = TK_SEMI;
                break;
            case '.':
                k = TK_DOT;
                break;
            case ':':
                k = TK_COLON;
                break;
            default:
                pg_error_set(e, "42601", "syntax error at or near \"%c\"", ch);
                e->position = (int)i + 1;
                return -1;
            }
            push(lx, k, start, 1, space, 0);
            i++;
        }
        space = 0;
    }
    push(lx, TK_EOF, n, 0, space, 0);
    return 0;
}

int pg_lex_run(struct pg_lex *lx, const char *src, size_t n, struct pg_error *e)
{
    memset(lx, 0, sizeof(*lx));
    if (lex(lx, src, n, e) != 0) {
        pg_lex_close(lx); /* a failed run owns nothing */
        return -1;
    }
    return 0;
}

void pg_lex_close(struct pg_lex *lx)
{
    free(lx->t);
    memset(lx, 0, sizeof(*lx));
}

int pg_tok_is(const struct pg_lex *lx, const struct pg_tok *t, const char *word)
{
    size_t n = strlen(word);
    return t->kind == TK_IDENT && t->len == n && strncasecmp(lx->src + t->off, word, n) == 0;
}

void pg_tok_name(const struct pg_lex *lx, const struct pg_tok *t, char *out, size_t n)
{
    size_t o = 0;
    const char *s = lx->src + t->off;
    if (n == 0)
        return;
    if (t->kind == TK_QIDENT) {
        for (size_t i = 1; i + 1 < t->len && o + 1 < n; i++) {
            out[o++] = s[i];
            if (s[i] == '"')
                i++;
        }
    } else if (t->kind == TK_STRING) {
        struct cmk_buf b;
        cmk_buf_init(&b);
        pg_tok_string(lx, t, &b);
        snprintf(out, n, "%s", b.data ? b.data : "");
        cmk_buf_close(&b);
        return;
    } else {
        for (size_t i = 0; i < t->len && o + 1 < n; i++)
            out[o++] = (char)tolower((unsigned char)s[i]);
    }
    out[o] = 0;
}

static void put_utf8(struct cmk_buf *b, unsigned long cp)
{
    char u[4];
    size_t k;
    if (cp < 0x80) {
        u[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        k = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        k = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        k = 4;
    }
    cmk_buf_append(b, u, k);
}

static size_t hex_run(const char *s, size_t i, size_t end, size_t max, unsigned long *v)
{
    size_t k = 0;
    *v = 0;
    while (k < max && i + k < end && isxdigit((unsigned char)s[i + k])) {
        char c = s[i + k];
        *v = *v * 16 +
             (unsigned long)(isdigit((unsigned char)c) ? c - '0' : (tolower(c) - 'a' + 10));
        k++;
    }
    return k;
}

void pg_tok_string(const struct pg_lex *lx, const struct pg_tok *t, struct cmk_buf *b)
{
    const char *s = lx->src + t->off;
    size_t n = t->len;
    cmk_buf_reserve(b, n);
    if (t->quoting == 2) { /* $tag$body$tag$ */
        size_t tl = dollar_tag(s, n, 0);
        cmk_buf_append(b, s + tl, n - 2 * tl);
        return;
    }
    size_t i = t->quoting == 3 ? 3 : (t->quoting == 1 || t->quoting == 4) ? 2 : 1;
    size_t end = n - 1;
    while (i < end) {
        char ch = s[i];
        if (ch == '\'' && i + 1 < end && s[i + 1] == '\'') {
            cmk_buf_append(b, "'", 1);
            i += 2;
            continue;
        }
        if (t->quoting == 1 && ch == '\\' && i + 1 < end) {
            char x = s[i + 1];
            unsigned long v;
            size_t k;
            i += 2;
            switch (x) {
            case 'b':
                cmk_buf_append(b, "\b", 1);
                break;
            case 'f':
                cmk_buf_append(b, "\f", 1);
                break;
            case 'n':
                cmk_buf_append(b, "\n", 1);
                break;
            case 'r':
                cmk_buf_append(b, "\r", 1);
                break;
            case 't':
                cmk_buf_append(b, "\t", 1);
                break;
            case 'x':
                k = hex_run(s, i, end, 2, &v);
                if (k) {
                    char c = (char)v;
                    cmk_buf_append(b, &c, 1);
                    i += k;
                } else {
                    cmk_buf_append(b, "x", 1);
                }
                break;
            case 'u':
            case 'U':
                k = hex_run(s, i, end, x == 'u' ? 4 : 8, &v);
                if (k == (x == 'u' ? 4u : 8u)) {
                    put_utf8(b, v);
                    i += k;
                } else {
                    cmk_buf_append(b, &x, 1);
                }
                break;
            default:
                if (x >= '0' && x <= '7') {
                    v = (unsigned long)(x - '0');
                    for (int d = 0; d < 2 && i < end && s[i] >= '0' && s[i] <= '7'; d++)
                        v = v * 8 + (unsigned long)(s[i++] - '0');
                    char c = (char)v;
                    cmk_buf_append(b, &c, 1);
                } else {
                    cmk_buf_append(b, &x, 1);
                }
            }
            continue;
        }
        cmk_buf_append(b, &ch, 1);
        i++;
    }
    if (b->data == NULL)
        cmk_buf_append(b, "", 0);
}

size_t pg_lex_stmt_end(const struct pg_lex *lx, size_t i)
{
    while (i < lx->nt && lx->t[i].kind != TK_SEMI && lx->t[i].kind != TK_EOF)
        i++;
    return i;
}
