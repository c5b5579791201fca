/* container.c: the soft-deleted container both flavours share (container.h): opening it, the
 * flavour's names and deleted tables, the parsed-container cache and what the data plane and
 * the engine need of it (spaces, containers, AuditEvents for work the clock did), the soft
 * delete, the purge of everything a container had and the clock's purge at the scheduled date,
 * and reading a container's audit log. The ARM provider is in container_arm.c, the routes in
 * container_routes.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/runtime.h"
#include "container.h"

/* ---- names and rows ---------------------------------------------------------------------- */

void vs_ctr_lower(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

int vs_ctr_guid_like(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

int vs_ctr_bad_request(struct cmk_err *err, const char *fmt, const char *arg)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadRequest", fmt, arg);
}

int vs_ctr_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 24 || !isalpha((unsigned char)name[0]) || !isalnum((unsigned char)name[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '-')
            return 0;
        if (name[i] == '-' && name[i + 1] == '-')
            return 0;
    }
    return 1;
}

int vs_ctr_name_invalid(const struct vs_ctr_set *s, struct cmk_err *err, const char *name)
{
    const struct vs_ctr_flavour *fl = s->fl;
    return cmk_err_set(err, CMK_EINVAL, 400, fl->name_invalid_code,
                       "The %s name '%s' is invalid. A %s's name must be between 3-24 "
                       "alphanumeric characters. The name must begin with a letter, end with a "
                       "letter or digit, and not contain consecutive hyphens.%s",
                       fl->label, name, fl->label, fl->name_invalid_more);
}

sqlite3_stmt *vs__ctr_stmtf(const struct vs_ctr_set *s, const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return cmk_store_stmt(s->rt->db, sql);
}

/* Run st (a write binding a and, if not NULL, b); 0 or CMK_EIO. */
static int exec2(sqlite3_stmt *st, const char *a, const char *b)
{
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

int vs__ctr_name_take(struct vs_ctr_set *s, const char *lc, const char *id)
{
    return exec2(
        vs__ctr_stmtf(s, "INSERT OR REPLACE INTO %s(name, id) VALUES(?, ?)", s->fl->names_table),
        lc, id);
}

int vs__ctr_deleted_drop(struct vs_ctr_set *s, const char *lc)
{
    return exec2(vs__ctr_stmtf(s, "DELETE FROM %s WHERE name = ?", s->fl->deleted_table), lc, NULL);
}

int vs_ctr_live_id(struct vs_ctr_set *s, const char *name, char id[CMK_ARM_ID_MAX])
{
    char lc[64];
    vs_ctr_lower(lc, sizeof(lc), name);
    sqlite3_stmt *st = vs__ctr_stmtf(s, "SELECT id FROM %s WHERE name = ?", s->fl->names_table);
    if (st == NULL)
        return 0;
    sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(id, CMK_ARM_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return found;
}

int vs_ctr_deleted_get(struct vs_ctr_set *s, const char *name, struct vs_deleted *d)
{
    memset(d, 0, sizeof(*d));
    char lc[64];
    vs_ctr_lower(lc, sizeof(lc), name);
    sqlite3_stmt *st =
        vs__ctr_stmtf(s,
                      "SELECT name, display, id, sub, location, doc, deleted, purge, "
                      "protected FROM %s WHERE name = ?",
                      s->fl->deleted_table);
    if (st == NULL)
        return 0;
    sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(d->name, sizeof(d->name), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(d->display, sizeof(d->display), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(d->id, sizeof(d->id), "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(d->sub, sizeof(d->sub), "%s", (const char *)sqlite3_column_text(st, 3));
        snprintf(d->location, sizeof(d->location), "%s", (const char *)sqlite3_column_text(st, 4));
        d->doc = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
        d->deleted = sqlite3_column_int64(st, 6);
        d->purge = sqlite3_column_int64(st, 7);
        d->protected_ = sqlite3_column_int(st, 8);
    }
    sqlite3_reset(st);
    return found;
}

/* ---- the parsed cache -------------------------------------------------------------------- */

/* Tag "cmksim-throttle": "<requests>/<duration>", e.g. "100/10s" or "5/1s". */
static void parse_throttle(const json_t *tags, struct vs_ctr_info *info)
{
    const char *t = json_string_value(json_object_get(tags, "cmksim-throttle"));
    if (t == NULL)
        return;
    char *end;
    double n = strtod(t, &end);
    cmk_time_t d = CMK_SECOND;
    if (*end == '/' && cmk_duration_parse(end + 1, &d) != 0)
        return;
    if (n > 0 && d > 0) {
        info->rate = n * 1000.0 / (double)d;
        info->burst = n;
    }
}

static int parse(const struct vs_ctr_set *s, const struct cmk_arm_resource *r,
                 struct vs_ctr_info *info, struct cmk_err *err)
{
    memset(info, 0, s->fl->info_size);
    vs_ctr_lower(info->name, sizeof(info->name), r->name);
    snprintf(info->id, sizeof(info->id), "%s", r->id);
    snprintf(info->sub, sizeof(info->sub), "%s", r->sub);
    snprintf(info->location, sizeof(info->location), "%s", r->location);
    json_t *props = json_object_get(r->doc, "properties");
    const char *tenant = json_string_value(json_object_get(props, "tenantId"));
    snprintf(info->tenant, sizeof(info->tenant), "%s", tenant ? tenant : "");
    json_t *days = json_object_get(props, "softDeleteRetentionInDays");
    info->retention = json_is_integer(days) ? (int)json_integer_value(days) : 90;
    info->purge_protection = json_is_true(json_object_get(props, "enablePurgeProtection"));
    parse_throttle(json_object_get(r->doc, "tags"), info);
    int rc = vs_netrules_parse(json_object_get(props, "networkAcls"),
                               json_string_value(json_object_get(props, "publicNetworkAccess")),
                               &info->net, err);
    if (rc == 0 && s->fl->parse)
        rc = s->fl->parse(r, info, err);
    return rc;
}

static void info_free(const struct vs_ctr_set *s, struct vs_ctr_info *info)
{
    if (info && s->fl->clear)
        s->fl->clear(info);
    free(info);
}

/* The live container named name, parsed into a new allocation; NULL if none. */
static struct vs_ctr_info *load(struct vs_ctr_set *s, const char *name)
{
    char id[CMK_ARM_ID_MAX];
    struct cmk_arm_resource r;
    if (!vs_ctr_live_id(s, name, id) || cmk_arm_resource_get(s->arm, id, &r, NULL) != 0)
        return NULL;
    struct vs_ctr_info *info = cmk_xcalloc(1, s->fl->info_size);
    struct cmk_err err;
    int rc = parse(s, &r, info, &err);
    cmk_arm_resource_close(&r);
    if (rc != 0) {
        info_free(s, info);
        return NULL;
    }
    return info;
}

const struct vs_ctr_info *vs_ctr_find(struct vs_ctr_set *s, const char *name)
{
    for (size_t i = 0; i < VS_CTR_CACHE; i++) {
        struct vs_ctr_info *info = s->cache[i].info;
        if (info && s->cache[i].gen == s->gen && strcasecmp(info->name, name) == 0)
            return info;
    }
    struct vs_ctr_info *info = load(s, name);
    if (info == NULL)
        return NULL;
    size_t slot = s->cache_next++ % VS_CTR_CACHE;
    for (size_t i = 0; i < VS_CTR_CACHE; i++)
        if (s->cache[i].info == NULL || s->cache[i].gen != s->gen) {
            slot = i;
            break;
        }
    info_free(s, s->cache[slot].info);
    s->cache[slot].info = info;
    s->cache[slot].gen = s->gen;
    return info;
}

void vs_ctr_changed(struct vs_ctr_set *s)
{
    s->gen++;
}

void vs_ctr_space_of(const struct vs_ctr_set *s, const struct vs_ctr_info *info,
                     struct vs_space *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s/%s", s->fl->kind, info->name);
    snprintf(out->name, sizeof(out->name), "%s", info->name);
    snprintf(out->subscription, sizeof(out->subscription), "%s", info->sub);
    out->retention_days = info->retention >= 7 ? info->retention : 90; /* never off */
    out->purge_protection = info->purge_protection;
    out->key_types = s->fl->key_types(info);
    out->kind_label = s->fl->space_label;
}

void vs_ctr_container_of(const struct vs_ctr_set *s, const struct vs_ctr_info *info,
                         struct vs_container *c)
{
    memset(c, 0, sizeof(*c));
    vs_ctr_space_of(s, info, &c->space);
    snprintf(c->tenant, sizeof(c->tenant), "%s", info->tenant);
    snprintf(c->resource_id, sizeof(c->resource_id), "%s", info->id);
    snprintf(c->location, sizeof(c->location), "%s", info->location);
    c->net = info->net;
    c->rate = info->rate;
    c->burst = info->burst;
    c->flavour = (void *)info;
}

/* ---- the engine's policy ----------------------------------------------------------------- */

/* The container name of a space id "<kind>/<name>", or NULL. */
static const char *space_name(const struct vs_ctr_set *s, const char *space_id)
{
    size_t n = strlen(s->fl->kind);
    if (strncmp(space_id, s->fl->kind, n) != 0 || space_id[n] != '/')
        return NULL;
    return space_id + n + 1;
}

static int engine_space(void *data, const char *space_id, struct vs_space *out)
{
    struct vs_ctr_set *s = data;
    const char *name = space_name(s, space_id);
    const struct vs_ctr_info *info = name ? vs_ctr_find(s, name) : NULL;
    if (info == NULL)
        return CMK_ENOTFOUND;
    vs_ctr_space_of(s, info, out);
    return 0;
}

/* Work the clock did on its own: rotation by policy, automatic purge, near-expiry notice. */
static void engine_event(void *data, const char *space_id, const char *what, const char *name,
                         const char *version)
{
    struct vs_ctr_set *s = data;
    char when[40];
    cmk_time_format(cmk_clock_now(&s->rt->clock), when, sizeof(when));
    const char *ctr = space_name(s, space_id);
    if (ctr == NULL)
        ctr = space_id;
    char kid[512];
    if (version)
        snprintf(kid, sizeof(kid), "https://%s.%s/keys/%s/%s", ctr, s->fl->dns_zone, name, version);
    else
        snprintf(kid, sizeof(kid), "https://%s.%s/keys/%s", ctr, s->fl->dns_zone, name);
    const struct vs_ctr_info *info = vs_ctr_find(s, ctr);
    json_t *ev = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:{}},s:{s:s,s:s}}", "time", when, "category",
        "AuditEvent", "operationName", what, "resourceId", info ? info->id : "", "resultType",
        "Success", "resultSignature", "OK", "resultDescription",
        strcmp(what, "KeyPurge") == 0 ? "Purged by the service at the end of the retention period."
        : strcmp(what, "KeyRotate") == 0
            ? "Rotated by the service according to the key's rotation policy."
            : "The key is near its expiry (rotation policy notification).",
        "callerIpAddress", "", "identity", "claim", "properties", "id", kid, "origin", "Service");
    vs_audit_append(s->audit, space_id, ev);
}

int vs_ctr_engine_open(struct vs_ctr_set *s, struct vs_engine **out, struct cmk_err *err)
{
    struct vs_engine_policy pol = {
        .version = 1,
        .kind = s->fl->kind,
        .space_lookup = engine_space,
        .on_event = engine_event,
        .data = s,
    };
    int rc = vs_engine_open(out, s->rt, &pol, err);
    if (rc == 0)
        s->engine = *out;
    return rc;
}

/* ---- soft delete and purge --------------------------------------------------------------- */

int vs_ctr_soft_delete(struct vs_ctr_set *s, const struct cmk_arm_resource *r, const json_t *doc,
                       struct cmk_err *err)
{
    char lc[64];
    vs_ctr_lower(lc, sizeof(lc), r->name);
    const json_t *props = json_object_get(doc, "properties");
    const json_t *days = json_object_get(props, "softDeleteRetentionInDays");
    int retention = json_is_integer(days) ? (int)json_integer_value(days) : 90;
    int protect = json_is_true(json_object_get(props, "enablePurgeProtection"));
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    char *text = json_dumps(doc, JSON_COMPACT);
    sqlite3_stmt *st =
        vs__ctr_stmtf(s,
                      "INSERT OR REPLACE INTO %s(name, display, id, sub, location, doc, "
                      "deleted, purge, protected) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      s->fl->deleted_table);
    int ok = st != NULL;
    if (ok) {
        sqlite3_bind_text(st, 1, lc, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, r->sub, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, r->location, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, text, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 7, now);
        sqlite3_bind_int64(st, 8, now + (cmk_time_t)retention * CMK_DAY);
        sqlite3_bind_int(st, 9, protect);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    free(text);
    if (ok)
        ok = exec2(vs__ctr_stmtf(s, "DELETE FROM %s WHERE name = ?", s->fl->names_table), lc,
                   NULL) == 0;
    if (!ok)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "The %s could not be deleted.",
                           s->fl->label);
    vs_ctr_changed(s);
    vs_ctr_purge_rearm(s);
    return 0;
}

int vs_ctr_purge_now(struct vs_ctr_set *s, const struct vs_deleted *d, struct cmk_err *err)
{
    char space[96];
    snprintf(space, sizeof(space), "%s/%s", s->fl->kind, d->name);
    int rc = vs_space_purge(s->engine, space, err);
    if (rc == 0 && s->fl->forget)
        rc = s->fl->forget(s, d);
    if (rc == 0)
        rc = vs__ctr_deleted_drop(s, d->name);
    if (rc == 0)
        vs_audit_forget(s->audit, space);
    vs_ctr_changed(s);
    if (rc != 0 && err->rc == 0)
        cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "The %s could not be purged.",
                    s->fl->label);
    if (rc == 0 && s->fl->purged)
        s->fl->purged(s, d);
    return rc;
}

/* The deleted containers whose scheduled purge date has come go, one transaction each. */
static void on_purge_timer(struct cmk_timer *t)
{
    struct vs_ctr_set *s = t->data;
    const struct vs_ctr_flavour *fl = s->fl;
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    for (int guard = 0; guard < 1000; guard++) {
        sqlite3_stmt *st =
            vs__ctr_stmtf(s, "SELECT name FROM %s WHERE purge <= ? ORDER BY purge, name LIMIT 1",
                          fl->deleted_table);
        char name[64] = "";
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, now);
            if (sqlite3_step(st) == SQLITE_ROW)
                snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_reset(st);
        }
        struct vs_deleted d;
        if (name[0] == '\0' || !vs_ctr_deleted_get(s, name, &d))
            break;
        struct cmk_err err;
        cmk_err_clear(&err);
        int rc = cmk_arm_tx_begin(s->arm);
        if (rc == 0)
            rc = vs_ctr_purge_now(s, &d, &err);
        if (rc == 0) {
            char operation[160], description[160];
            snprintf(operation, sizeof(operation), "Microsoft.KeyVault/locations/%s/purge/action",
                     fl->deleted_type);
            snprintf(description, sizeof(description),
                     "The deleted %s was purged at the end of its retention period.", fl->label);
            struct cmk_arm_event ev = {
                .resource_id = d.id,
                .operation = operation,
                .status = "Succeeded",
                .caller = "Microsoft.KeyVault",
                .description = description,
            };
            (void)cmk_arm_activity(s->arm, &ev, NULL);
            rc = cmk_arm_tx_commit(s->arm);
            cmk_info(fl->log_name, "purged deleted %s %s: its retention period ended", fl->label,
                     d.display);
        } else {
            cmk_arm_tx_rollback(s->arm);
            cmk_warn(fl->log_name, "automatic purge of %s %s failed: %s", fl->label, d.display,
                     err.message);
        }
        json_decref(d.doc);
        if (rc != 0)
            break;
    }
    vs_ctr_purge_rearm(s);
}

void vs_ctr_purge_rearm(struct vs_ctr_set *s)
{
    sqlite3_stmt *st = vs__ctr_stmtf(s, "SELECT MIN(purge) FROM %s", s->fl->deleted_table);
    cmk_time_t due = -1;
    if (st != NULL) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            due = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    if (due < 0) {
        cmk_timer_stop(&s->purge_timer);
        return;
    }
    cmk_time_t now = cmk_clock_now(&s->rt->clock);
    if (cmk_timer_active(&s->purge_timer) && s->purge_timer.due == due)
        return;
    cmk_timer_start_at(&s->purge_timer, due < now ? now : due, 0);
}

/* ---- audit log --------------------------------------------------------------------------- */

int vs_ctr_audit_read(struct vs_ctr_set *s, const char *name, int64_t after, struct cmk_buf *out,
                      int64_t *last, struct cmk_err *err)
{
    char lc[64], id[CMK_ARM_ID_MAX], space[96];
    vs_ctr_lower(lc, sizeof(lc), name);
    struct vs_deleted d;
    if (!vs_ctr_live_id(s, lc, id)) {
        if (!vs_ctr_deleted_get(s, lc, &d))
            return cmk_err_set(err, CMK_ENOTFOUND, 404, s->fl->not_found_code, "No %s named '%s'.",
                               s->fl->label, name);
        json_decref(d.doc);
    }
    snprintf(space, sizeof(space), "%s/%s", s->fl->kind, lc);
    return vs_audit_read(s->audit, space, after, 0, out, last, err);
}

/* ---- open, close ------------------------------------------------------------------------- */

int vs_ctr_init(struct vs_ctr_set *s, struct cmk_runtime *rt, const struct vs_ctr_flavour *fl,
                void *data, struct vs_audit *audit, struct cmk_err *err)
{
    memset(s, 0, sizeof(*s));
    s->fl = fl;
    s->data = data;
    s->rt = rt;
    s->arm = rt->arm;
    s->audit = audit;
    s->gen = 1;
    int rc = cmk_store_migrate(rt->db, fl->store_module, fl->migrations, fl->nmigrations, err);
    if (rc != 0)
        return rc;
    vs__ctr_provider_register(s);
    vs__ctr_routes_register(s);
    cmk_timer_init(&rt->clock, &s->purge_timer, on_purge_timer, s);
    return 0;
}

void vs_ctr_close(struct vs_ctr_set *s)
{
    if (s == NULL)
        return;
    if (s->purge_timer.clock)
        cmk_timer_stop(&s->purge_timer);
    for (size_t i = 0; i < VS_CTR_CACHE; i++) {
        if (s->cache[i].info)
            info_free(s, s->cache[i].info);
        s->cache[i].info = NULL;
    }
}
