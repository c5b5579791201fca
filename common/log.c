/* log.c: levelled log lines and the scenario trace (see log.h).
 *
 * Log lines are logfmt: `t=2026-01-01T00:00:00Z level=info mod=http msg="..."`, written with
 * one fwrite and flushed, so lines from one process never interleave. A message that already
 * starts with a logfmt key (`msg="refused CONNECT" host=%s`) is kept as the caller wrote it;
 * any other text is quoted and escaped into msg="...". The time comes from the
 * clock given to cmk_log_setup (virtual in scenario runs); before setup, lines carry no t=.
 * The state is process-global: one process has one log.
 *
 * The trace writes one compact JSON object per line with sorted keys; "t" (clock time),
 * "seq" (1, 2, 3...) and "kind" are added to the caller's fields. Nothing in it depends on
 * the wall clock or on memory addresses, so two runs with one seed give identical bytes.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

static struct {
    const struct cmk_clock *clock;
    FILE *out;
    enum cmk_log_level level;
} logger = {NULL, NULL, CMK_LOG_INFO};

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void cmk_log_setup(const struct cmk_clock *clock, FILE *out, enum cmk_log_level level)
{
    logger.clock = clock;
    logger.out = out;
    logger.level = level;
}

enum cmk_log_level cmk_log_level_parse(const char *s)
{
    if (s == NULL)
        return CMK_LOG_INFO;
    for (int i = CMK_LOG_DEBUG; i <= CMK_LOG_OFF; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (enum cmk_log_level)i;
    if (strcasecmp(s, "warning") == 0)
        return CMK_LOG_WARN;
    if (strcasecmp(s, "none") == 0)
        return CMK_LOG_OFF;
    return CMK_LOG_INFO;
}

/* Quote-safe: a message can never end the line or the quoted value early. */
static void append_escaped(struct cmk_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '"':
            cmk_buf_puts(b, "\\\"");
            break;
        case '\\':
            cmk_buf_puts(b, "\\\\");
            break;
        case '\n':
            cmk_buf_puts(b, "\\n");
            break;
        case '\r':
            cmk_buf_puts(b, "\\r");
            break;
        case '\t':
            cmk_buf_puts(b, "\\t");
            break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                cmk_buf_printf(b, "\\x%02x", ch);
            else
                cmk_buf_append(b, s, 1);
        }
    }
}

/* Text that starts with a logfmt key ("msg=\"...\" host=x", "https=addr proxy=addr") is
 * already structured and goes out as is; anything else becomes msg="...". */
static int is_structured(const char *s)
{
    const char *p = s;
    if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
        return 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
           *p == '-')
        p++;
    return *p == '=';
}

/* Structured text is the caller's logfmt: only control characters are escaped, so it cannot
 * break the line. */
static void append_one_line(struct cmk_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n')
            cmk_buf_puts(b, "\\n");
        else if (ch < 0x20 || ch == 0x7f)
            cmk_buf_printf(b, "\\x%02x", ch);
        else
            cmk_buf_append(b, s, 1);
    }
}

void cmk_log(enum cmk_log_level level, const char *mod, const char *fmt, ...)
{
    if (level < logger.level || level >= CMK_LOG_OFF)
        return;
    FILE *out = logger.out ? logger.out : stderr;
    struct cmk_buf msg, line;
    cmk_buf_init(&msg);
    cmk_buf_init(&line);
    va_list ap;
    va_start(ap, fmt);
    cmk_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (logger.clock != NULL) {
        char t[40];
        cmk_time_format(cmk_clock_now(logger.clock), t, sizeof(t));
        cmk_buf_printf(&line, "t=%s ", t);
    }
    cmk_buf_printf(&line, "level=%s mod=%s ", level_names[level], mod ? mod : "-");
    const char *text = msg.data ? msg.data : "";
    if (is_structured(text)) {
        append_one_line(&line, text);
        cmk_buf_puts(&line, "\n");
    } else {
        cmk_buf_puts(&line, "msg=\"");
        append_escaped(&line, text);
        cmk_buf_puts(&line, "\"\n");
    }
    fwrite(line.data, 1, line.len, out);
    fflush(out);
    cmk_buf_close(&msg);
    cmk_buf_close(&line);
}

struct cmk_trace {
    FILE *f;
    int owned; /* fclose on close (not stdout) */
    const struct cmk_clock *clock;
    uint64_t seq;
};

struct cmk_trace *cmk_trace_open(const char *path, const struct cmk_clock *clock)
{
    FILE *f;
    int owned = 1;
    if (strcmp(path, "-") == 0) {
        f = stdout;
        owned = 0;
    } else if ((f = fopen(path, "w")) == NULL) {
        cmk_error("trace", "cannot open trace file %s: %s", path, strerror(errno));
        return NULL;
    }
    struct cmk_trace *tr = cmk_xcalloc(1, sizeof(*tr));
    tr->f = f;
    tr->owned = owned;
    tr->clock = clock;
    return tr;
}

void cmk_trace_emit(struct cmk_trace *tr, const char *kind, json_t *fields)
{
    if (tr == NULL) {
        json_decref(fields);
        return;
    }
    json_t *obj;
    if (fields == NULL) {
        obj = json_object();
    } else if (json_is_object(fields)) {
        obj = fields;
    } else {
        obj = json_object();
        json_object_set_new(obj, "value", fields);
    }
    char t[40];
    cmk_time_format(tr->clock ? cmk_clock_now(tr->clock) : 0, t, sizeof(t));
    json_object_set_new(obj, "t", json_string(t));
    json_object_set_new(obj, "seq", json_integer((json_int_t)++tr->seq));
    json_object_set_new(obj, "kind", json_string(kind ? kind : ""));
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    if (text == NULL)
        return;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaced NUL; the length is known */
    fwrite(text, 1, n + 1, tr->f);
    fflush(tr->f);
    free(text);
}

void cmk_trace_close(struct cmk_trace *tr)
{
    if (tr == NULL)
        return;
    if (tr->owned)
        fclose(tr->f);
    else
        fflush(tr->f);
    free(tr);
}
