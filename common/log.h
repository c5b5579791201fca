/* log.h: levelled, structured log lines, and the JSON-lines trace of scenarios.
 *
 * A log line is `t=<clock time> level=<lvl> mod=<module> msg="..." k=v...` on stderr (or a
 * file). Plain text is quoted into msg="..."; text that starts with a logfmt key, such as
 * cmk_info("http", "msg=\"accept failed\" error=\"%s\"", e), is written as given (control
 * characters escaped, so it stays one line). Never pass key material, tokens, passwords or
 * DEKs to these functions: there is no filter behind them, the rule is at the call site.
 *
 * The trace is for scenarios: one JSON object per line, keys sorted, timestamps from the
 * clock only (virtual in `cmksim run`), so two runs with one seed write identical files.
 */
#ifndef CMK_LOG_H
#define CMK_LOG_H

#include <jansson.h>
#include <stdio.h>

#include "clock.h"

enum cmk_log_level { CMK_LOG_DEBUG, CMK_LOG_INFO, CMK_LOG_WARN, CMK_LOG_ERROR, CMK_LOG_OFF };

void cmk_log_setup(const struct cmk_clock *clock, FILE *out, enum cmk_log_level level);
enum cmk_log_level cmk_log_level_parse(const char *s); /* "debug"... ; CMK_LOG_INFO if unknown */
void cmk_log(enum cmk_log_level level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cmk_debug(mod, ...) cmk_log(CMK_LOG_DEBUG, mod, __VA_ARGS__)
#define cmk_info(mod, ...)  cmk_log(CMK_LOG_INFO, mod, __VA_ARGS__)
#define cmk_warn(mod, ...)  cmk_log(CMK_LOG_WARN, mod, __VA_ARGS__)
#define cmk_error(mod, ...) cmk_log(CMK_LOG_ERROR, mod, __VA_ARGS__)

struct cmk_trace;
/* path "-" is stdout. Returns NULL (and logs) if the file cannot be opened. */
struct cmk_trace *cmk_trace_open(const char *path, const struct cmk_clock *clock);
/* Writes {"t": ISO time, "seq": n, "kind": kind, ...fields}. Steals fields (may be NULL). */
void cmk_trace_emit(struct cmk_trace *tr, const char *kind, json_t *fields);
void cmk_trace_close(struct cmk_trace *tr);

#endif
