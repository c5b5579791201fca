/* pgsql_settings.c: SET, SHOW and RESET, and the ParameterStatus values a session reports.
 *
 * A table of settings with PostgreSQL's defaults (server_version, DateStyle, TimeZone...); each
 * session holds its own values. Settings marked GUC_REPORT are announced with ParameterStatus
 * after login and whenever SET changes them, as PostgreSQL does (psql and drivers read
 * server_version, client_encoding, integer_datetimes, standard_conforming_strings from it).
 * Unknown names fail with 42704 unless they hold a dot (custom settings); read-only ones with
 * 55P02. Only UTF8 and SQL_ASCII client encodings are accepted: nothing is converted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire_int.h"

#define S_REPORT   1 /* GUC_REPORT: ParameterStatus when it changes */
#define S_READONLY 2 /* cannot be SET */

static const struct {
    const char *name, *def;
    int flags;
} known[] = {
    {"application_name", "", S_REPORT},
    {"client_encoding", "UTF8", S_REPORT},
    {"DateStyle", "ISO, MDY", S_REPORT},
    {"default_transaction_read_only", "off", S_REPORT},
    {"in_hot_standby", "off", S_REPORT | S_READONLY},
    {"integer_datetimes", "on", S_REPORT | S_READONLY},
    {"IntervalStyle", "postgres", S_REPORT},
    {"is_superuser", "off", S_REPORT | S_READONLY},
    {"server_encoding", "UTF8", S_REPORT | S_READONLY},
    {"server_version", DP_PG_SERVER_VERSION, S_REPORT | S_READONLY},
    {"session_authorization", "", S_REPORT | S_READONLY},
    {"standard_conforming_strings", "on", S_REPORT},
    {"TimeZone", "UTC", S_REPORT},
    {"search_path", "\"$user\", public", 0},
    {"statement_timeout", "0", 0},
    {"lock_timeout", "0", 0},
    {"idle_in_transaction_session_timeout", "0", 0},
    {"idle_session_timeout", "0", 0},
    {"extra_float_digits", "1", 0},
    {"client_min_messages", "notice", 0},
    {"transaction_isolation", "read committed", 0},
    {"default_transaction_isolation", "read committed", 0},
    {"transaction_read_only", "off", 0},
    {"server_version_num", "160004", S_READONLY},
    {"max_connections", "100", S_READONLY},
    {"max_identifier_length", "63", S_READONLY},
    {"block_size", "8192", S_READONLY},
    {"lc_collate", "en_US.utf8", S_READONLY},
    {"lc_ctype", "en_US.utf8", S_READONLY},
    {"lc_messages", "en_US.utf8", 0},
    {"lc_monetary", "en_US.utf8", 0},
    {"lc_numeric", "en_US.utf8", 0},
    {"lc_time", "en_US.utf8", 0},
    {"bytea_output", "hex", 0},
    {"row_security", "on", 0},
    {"synchronous_commit", "on", 0},
    {"work_mem", "4MB", 0},
    {"maintenance_work_mem", "64MB", 0},
    {"password_encryption", "scram-sha-256", 0},
    {"ssl", "on", S_READONLY},
    {"jit", "off", 0},
    {"timezone_abbreviations", "Default", 0},
    {"default_text_search_config", "pg_catalog.english", 0},
    {"require_secure_transport", "off", S_READONLY},
    {"escape_string_warning", "on", 0},
    {"check_function_bodies", "on", 0},
    {"xmloption", "content", 0},
    {"geqo", "on", 0},
    {"enable_seqscan", "on", 0},
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

static int known_index(const char *name)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (strcasecmp(known[i].name, name) == 0)
            return (int)i;
    return -1;
}

static struct pg_setting *find_setting(const struct dp_pgconn *c, const char *name)
{
    for (size_t i = 0; i < c->nsettings; i++)
        if (strcasecmp(c->settings[i].name, name) == 0)
            return &c->settings[i];
    return NULL;
}

const char *pg_conn_setting(const struct dp_pgconn *c, const char *name)
{
    if (strcasecmp(name, "timezone") == 0)
        name = "TimeZone";
    const struct pg_setting *s = find_setting(c, name);
    return s ? s->value : NULL;
}

static void put_setting(struct dp_pgconn *c, const char *name, const char *value)
{
    struct pg_setting *s = find_setting(c, name);
    if (s == NULL) {
        c->settings = cmk_xrealloc(c->settings, (c->nsettings + 1) * sizeof(*c->settings));
        s = &c->settings[c->nsettings++];
        s->name = cmk_xstrdup(name);
        s->value = NULL;
    }
    free(s->value);
    s->value = cmk_xstrdup(value);
}

int pg_conn_set(struct dp_pgconn *c, const char *name, const char *value, struct pg_error *e)
{
    if (strcasecmp(name, "time zone") == 0 || strcasecmp(name, "timezone") == 0)
        name = "TimeZone";
    if (strcasecmp(name, "names") == 0)
        name = "client_encoding";
    int k = known_index(name);
    if (k < 0 && strchr(name, '.') == NULL) {
        pg_error_set(e, "42704", "unrecognized configuration parameter \"%s\"", name);
        return -1;
    }
    if (k >= 0 && (known[k].flags & S_READONLY)) {
        pg_error_set(e, "55P02", "parameter \"%s\" cannot be changed", known[k].name);
        return -1;
    }
    const char *canon = k >= 0 ? known[k].name : name;
    if (value == NULL)
        value = k >= 0 ? known[k].def : "";
    if (strcmp(canon, "client_encoding") == 0) {
        if (strcasecmp(value, "utf8") == 0 || strcasecmp(value, "utf-8") == 0 ||
            strcasecmp(value, "unicode") == 0)
            value = "UTF8";
        else if (strcasecmp(value, "sql_ascii") == 0)
            value = "SQL_ASCII";
        else {
            pg_error_set(e, "22023", "invalid value for parameter \"client_encoding\": \"%s\"",
                         value);
            snprintf(e->detail, sizeof(e->detail), "This server converts no encodings: use UTF8.");
            return -1;
        }
    }
    const char *old = pg_conn_setting(c, canon);
    int changed = old == NULL || strcmp(old, value) != 0;
    put_setting(c, canon, value);
    if (changed && k >= 0 && (known[k].flags & S_REPORT) && c->state == CS_READY)
        pg_send_param_status(&c->out, canon, value);
    return 0;
}

void pg_settings_init(struct dp_pgconn *c, const char *const *startup)
{
    for (size_t i = 0; i < NKNOWN; i++)
        put_setting(c, known[i].name, known[i].def);
    put_setting(c, "session_authorization", c->user);
    put_setting(c, "is_superuser", "off");
    char n[16];
    snprintf(n, sizeof(n), "%d", c->info.max_connections ? c->info.max_connections : 100);
    put_setting(c, "max_connections", n);
    put_setting(c, "ssl", c->tls ? "on" : "off");
    put_setting(c, "require_secure_transport", c->info.require_tls ? "on" : "off");
    if (c->info.read_only) {
        put_setting(c, "default_transaction_read_only", "on");
        put_setting(c, "transaction_read_only", "on");
        put_setting(c, "in_hot_standby", "on");
    }
    for (size_t i = 0; startup && startup[i] && startup[i + 1]; i += 2) {
        const char *k = startup[i], *v = startup[i + 1];
        struct pg_error ignored;
        if (strcmp(k, "user") == 0 || strcmp(k, "database") == 0 || strcmp(k, "replication") == 0 ||
            strcmp(k, "options") == 0)
            continue;
        int idx = known_index(k);
        if (idx >= 0 && !(known[idx].flags & S_READONLY))
            pg_conn_set(c, k, v, &ignored);
    }
}

void pg_settings_free(struct dp_pgconn *c)
{
    for (size_t i = 0; i < c->nsettings; i++) {
        free(c->settings[i].name);
        free(c->settings[i].value);
    }
    free(c->settings);
    c->settings = NULL;
    c->nsettings = 0;
}

void pg_settings_report(struct dp_pgconn *c)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (known[i].flags & S_REPORT)
            pg_send_param_status(&c->out, known[i].name, pg_conn_setting(c, known[i].name));
}

void pg_settings_reset_all(struct dp_pgconn *c)
{
    struct pg_error e;
    for (size_t i = 0; i < NKNOWN; i++)
        if (!(known[i].flags & S_READONLY) && strcmp(known[i].name, "client_encoding"))
            pg_conn_set(c, known[i].name, NULL, &e);
}

static void show_row(struct dp_pgconn *c, const char *col, const char *value)
{
    size_t at = pg_msg_begin(&c->out, 'T');
    pg_put_i16(&c->out, 1);
    pg_put_str(&c->out, col);
    pg_put_i32(&c->out, 0);
    pg_put_i16(&c->out, 0);
    pg_put_i32(&c->out, PG_OID_TEXT);
    pg_put_i16(&c->out, -1);
    pg_put_i32(&c->out, -1);
    pg_put_i16(&c->out, 0);
    pg_msg_end(&c->out, at);
    if (value) {
        at = pg_msg_begin(&c->out, 'D');
        pg_put_i16(&c->out, 1);
        pg_put_i32(&c->out, (int32_t)strlen(value));
        cmk_buf_puts(&c->out, value);
        pg_msg_end(&c->out, at);
    }
}

enum pg_exec_result pg_settings_show(struct dp_pgconn *c, const struct pg_plan *p)
{
    if (strcmp(p->name, "all") == 0) {
        size_t at = pg_msg_begin(&c->out, 'T');
        static const char *const cols[] = {"name", "setting", "description"};
        pg_put_i16(&c->out, 3);
        for (int i = 0; i < 3; i++) {
            pg_put_str(&c->out, cols[i]);
            pg_put_i32(&c->out, 0);
            pg_put_i16(&c->out, 0);
            pg_put_i32(&c->out, PG_OID_TEXT);
            pg_put_i16(&c->out, -1);
            pg_put_i32(&c->out, -1);
            pg_put_i16(&c->out, 0);
        }
        pg_msg_end(&c->out, at);
        for (size_t i = 0; i < c->nsettings; i++) {
            at = pg_msg_begin(&c->out, 'D');
            pg_put_i16(&c->out, 3);
            pg_put_i32(&c->out, (int32_t)strlen(c->settings[i].name));
            cmk_buf_puts(&c->out, c->settings[i].name);
            pg_put_i32(&c->out, (int32_t)strlen(c->settings[i].value));
            cmk_buf_puts(&c->out, c->settings[i].value);
            pg_put_i32(&c->out, 0);
            pg_msg_end(&c->out, at);
        }
        pg_send_complete(&c->out, "SHOW");
        return EXEC_DONE;
    }
    const char *v = pg_conn_setting(c, p->name);
    if (v == NULL) {
        struct pg_error e;
        pg_error_set(&e, "42704", "unrecognized configuration parameter \"%s\"", p->name);
        pg_exec_fail(c, &e);
        return EXEC_ERROR;
    }
    int k = known_index(p->name);
    show_row(c, k >= 0 ? known[k].name : p->name, v);
    pg_send_complete(&c->out, "SHOW");
    return EXEC_DONE;
}

void pg_cmd_describe(struct dp_pgconn *c, const struct pg_plan *p)
{
    if (p->cmd == CMD_SHOW && strcmp(p->name, "all") != 0) {
        int k = known_index(p->name);
        show_row(c, k >= 0 ? known[k].name : p->name, NULL);
    } else {
        pg_send_simple(&c->out, 'n');
    }
}
