/* engine_rotation.c: key rotation and rotation policies (see engine.h).
 *
 * A policy is stored as JSON on the key row. From it and the latest version's created/exp the
 * engine computes two instants, next_rotate and next_notify, kept in the table so the clock
 * timer (engine.c) finds the earliest one after a restart. When next_rotate comes the key is
 * rotated (new version; exp = created + expiryTime when the policy has one); when next_notify
 * comes the flavour is told ("KeyNearExpiry", Event Grid's SecretNearExpiry in the service).
 *
 * Durations are ISO 8601 as the service takes them (P90D, P3M, PT48H, P1Y10D). Years and
 * months are calendar steps (the day of month is clamped), weeks/days/hours exact. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/store.h"
#include "engine_int.h"

#define MIN_EXPIRY_DAYS  28
#define MIN_TRIGGER_DAYS 7

/* ---- ISO 8601 durations ---------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int month_days(int64_t y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

int vs_iso_duration_add(const char *dur, int64_t t, int64_t *out)
{
    if (dur == NULL || dur[0] != 'P' || dur[1] == '\0')
        return CMK_EPARSE;
    int64_t years = 0, months = 0, secs = 0;
    int in_time = 0, any = 0;
    for (const char *s = dur + 1; *s;) {
        if (*s == 'T') {
            if (in_time || s[1] == '\0')
                return CMK_EPARSE;
            in_time = 1;
            s++;
            continue;
        }
        if (!isdigit((unsigned char)*s))
            return CMK_EPARSE;
        int64_t n = 0;
        while (isdigit((unsigned char)*s)) {
            if (n > 100000000)
                return CMK_EPARSE;
            n = n * 10 + (*s++ - '0');
        }
        switch (*s) {
        case 'Y':
            if (in_time)
                return CMK_EPARSE;
            years += n;
            break;
        case 'M':
            if (in_time)
                secs += n * 60;
            else
                months += n;
            break;
        case 'W':
            if (in_time)
                return CMK_EPARSE;
            secs += n * 7 * 86400;
            break;
        case 'D':
            if (in_time)
                return CMK_EPARSE;
            secs += n * 86400;
            break;
        case 'H':
            if (!in_time)
                return CMK_EPARSE;
            secs += n * 3600;
            break;
        case 'S':
            if (!in_time)
                return CMK_EPARSE;
            secs += n;
            break;
        default:
            return CMK_EPARSE;
        }
        s++;
        any = 1;
    }
    if (!any || years > 1000 || months > 12000)
        return CMK_EPARSE;
    int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t tod = t - day * 86400;
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    int64_t total_months = (y * 12 + (m - 1)) + years * 12 + months;
    y = total_months / 12;
    m = (int)(total_months % 12) + 1;
    if (d > month_days(y, m))
        d = month_days(y, m);
    *out = days_from_civil(y, m, d) * 86400 + tod + secs;
    return 0;
}

/* Length of a duration from a fixed origin, for minimum checks. */
static int64_t duration_secs(const char *dur)
{
    int64_t t;
    return vs_iso_duration_add(dur, 0, &t) == 0 ? t : -1;
}

/* ---- stored policy ------------------------------------------------------------------------ */

struct policy_row {
    json_t *policy; /* NULL: none set */
    int64_t created, updated;
    char name[128];
    int64_t latest_created, latest_exp;
};

static int read_policy(struct vs_engine *e, const char *space, const char *name,
                       struct policy_row *r)
{
    memset(r, 0, sizeof(*r));
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "SELECT k.rotation, k.rot_created, k.rot_updated, k.name, v.created, v.exp"
               " FROM vs_keys k JOIN vs_key_versions v ON v.space = k.space"
               " AND v.name = k.name AND v.version = k.latest"
               " WHERE k.space = ? AND k.name = ? AND k.deleted = 0");
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? CMK_ENOTFOUND : CMK_EIO;
    }
    const unsigned char *pol = sqlite3_column_text(st, 0);
    if (pol)
        r->policy = json_loads((const char *)pol, 0, NULL);
    r->created = sqlite3_column_int64(st, 1);
    r->updated = sqlite3_column_int64(st, 2);
    snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 3));
    r->latest_created = sqlite3_column_int64(st, 4);
    r->latest_exp = sqlite3_column_int64(st, 5);
    sqlite3_reset(st);
    return 0;
}

/* The action of a lifetime action entry: 'R'otate, 'N'otify, or 0. */
static int action_of(const json_t *la)
{
    const char *t = json_string_value(json_object_get(json_object_get(la, "action"), "type"));
    if (t && strcasecmp(t, "rotate") == 0)
        return 'R';
    if (t && strcasecmp(t, "notify") == 0)
        return 'N';
    return 0;
}

int64_t vs__rotation_expiry(struct vs_engine *e, const char *space, const char *name,
                            int64_t created)
{
    struct policy_row r;
    if (read_policy(e, space, name, &r) != 0)
        return 0;
    const char *exp =
        json_string_value(json_object_get(json_object_get(r.policy, "attributes"), "expiryTime"));
    int64_t out = 0;
    if (exp == NULL || vs_iso_duration_add(exp, created, &out) != 0)
        out = 0;
    json_decref(r.policy);
    return out;
}

int vs__rotation_schedule(struct vs_engine *e, const char *space, const char *name)
{
    struct policy_row r;
    int rc = read_policy(e, space, name, &r);
    if (rc != 0)
        return rc;
    int64_t rotate = 0, notify = 0;
    size_t i;
    json_t *la;
    json_array_foreach(json_object_get(r.policy, "lifetimeActions"), i, la)
    {
        json_t *trig = json_object_get(la, "trigger");
        const char *after = json_string_value(json_object_get(trig, "timeAfterCreate"));
        const char *before = json_string_value(json_object_get(trig, "timeBeforeExpiry"));
        int64_t at = 0;
        if (after && vs_iso_duration_add(after, r.latest_created, &at) != 0)
            at = 0;
        if (before && r.latest_exp) {
            int64_t len = duration_secs(before);
            at = len >= 0 ? r.latest_exp - len : 0;
        }
        if (action_of(la) == 'R')
            rotate = at;
        else if (action_of(la) == 'N')
            notify = at;
    }
    json_decref(r.policy);
    sqlite3_stmt *st = cmk_store_stmt(
        e->db, "UPDATE vs_keys SET next_rotate = ?, next_notify = ? WHERE space = ? AND name = ?");
    if (st == NULL)
        return CMK_EIO;
    if (rotate)
        sqlite3_bind_int64(st, 1, rotate);
    else
        sqlite3_bind_null(st, 1);
    if (notify)
        sqlite3_bind_int64(st, 2, notify);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, space, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : CMK_EIO;
}

/* ---- rotate --------------------------------------------------------------------------- */

int vs_key_rotate(struct vs_engine *e, const struct vs_space *s, const char *name,
                  struct vs_key *out, struct cmk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct vs_key cur;
    int rc = vs__read_version(e, s, name, NULL, 0, &cur, err);
    if (rc != 0)
        return rc;
    struct vs_key_params p;
    memset(&p, 0, sizeof(p));
    p.kty = cur.kty;
    p.size = cur.size;
    p.crv = cur.crv;
    p.ops = cur.ops;
    p.ops_given = 1;
    vs_attrs_init(&p.attrs);
    struct vs_key k;
    memset(&k, 0, sizeof(k));
    k.kty = cur.kty;
    k.ops = cur.ops;
    k.enabled = 1;
    k.tags = cur.tags ? json_incref(cur.tags) : json_object();
    k.created = k.updated = vs_engine_now(e);
    k.exp = vs__rotation_expiry(e, s->id, cur.name, k.created);
    EVP_PKEY *pkey = NULL;
    unsigned char oct[64];
    size_t octlen = 0;
    rc = vs__generate(&p, &pkey, oct, &octlen, err);
    if (rc == 0)
        rc = vs__store_new(e, s, cur.name, &k, pkey, oct, octlen, out, err);
    EVP_PKEY_free(pkey);
    OPENSSL_cleanse(oct, sizeof(oct));
    vs_key_clear(&k);
    vs_key_clear(&cur);
    return rc;
}

/* ---- policy get/set ---------------------------------------------------------------------- */

static json_t *policy_json(const struct policy_row *r, const char *base)
{
    json_t *o = json_object();
    struct cmk_buf id;
    cmk_buf_init(&id);
    cmk_buf_printf(&id, "%s/keys/%s/rotationpolicy", base, r->name);
    json_object_set_new(o, "id", json_string(id.data));
    cmk_buf_close(&id);
    json_t *actions = json_array();
    json_t *attrs = json_object();
    if (r->policy == NULL) {
        /* The service's default for a key without a policy: notify 30 days before expiry. */
        json_array_append_new(actions, json_pack("{s:{s:s},s:{s:s}}", "trigger", "timeBeforeExpiry",
                                                 "P30D", "action", "type", "Notify"));
    } else {
        size_t i;
        json_t *la;
        json_array_foreach(json_object_get(r->policy, "lifetimeActions"), i, la)
        {
            json_t *trig = json_object();
            json_t *src = json_object_get(la, "trigger");
            const char *after = json_string_value(json_object_get(src, "timeAfterCreate"));
            const char *before = json_string_value(json_object_get(src, "timeBeforeExpiry"));
            if (after)
                json_object_set_new(trig, "timeAfterCreate", json_string(after));
            if (before)
                json_object_set_new(trig, "timeBeforeExpiry", json_string(before));
            json_array_append_new(actions,
                                  json_pack("{s:o,s:{s:s}}", "trigger", trig, "action", "type",
                                            action_of(la) == 'R' ? "Rotate" : "Notify"));
        }
        const char *exp = json_string_value(
            json_object_get(json_object_get(r->policy, "attributes"), "expiryTime"));
        if (exp)
            json_object_set_new(attrs, "expiryTime", json_string(exp));
        json_object_set_new(attrs, "created", json_integer(r->created));
        json_object_set_new(attrs, "updated", json_integer(r->updated));
    }
    json_object_set_new(o, "lifetimeActions", actions);
    json_object_set_new(o, "attributes", attrs);
    return o;
}

int vs_rotation_get(struct vs_engine *e, const struct vs_space *s, const char *name,
                    const char *base, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    struct policy_row r;
    int rc = read_policy(e, s->id, name, &r);
    if (rc == CMK_ENOTFOUND)
        return vs__key_not_found(s, name, NULL, err);
    if (rc != 0)
        return vs__db_error(e, err);
    *out = policy_json(&r, base);
    json_decref(r.policy);
    return 0;
}

static int invalid(struct cmk_err *err, const char *msg)
{
    return cmk_err_set(err, CMK_EINVAL, 400, "BadParameter", "Invalid rotation policy: %s", msg);
}

/* Validate and normalise what the client sent. */
static int normalise(const json_t *in, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    if (!json_is_object(in))
        return invalid(err, "the body must be a JSON object.");
    const json_t *actions = json_object_get(in, "lifetimeActions");
    const json_t *attrs = json_object_get(in, "attributes");
    if (actions != NULL && !json_is_array(actions) && !json_is_null(actions))
        return invalid(err, "'lifetimeActions' must be an array.");
    if (attrs != NULL && !json_is_object(attrs) && !json_is_null(attrs))
        return invalid(err, "'attributes' must be an object.");
    const char *expiry = json_string_value(json_object_get(attrs, "expiryTime"));
    int64_t expiry_len = -1;
    if (json_object_get(attrs, "expiryTime") &&
        !json_is_null(json_object_get(attrs, "expiryTime"))) {
        expiry_len = expiry ? duration_secs(expiry) : -1;
        if (expiry_len < 0)
            return invalid(err, "'expiryTime' must be an ISO 8601 duration such as P90D.");
        if (expiry_len < (int64_t)MIN_EXPIRY_DAYS * 86400)
            return invalid(err, "'expiryTime' must be at least 28 days (P28D).");
    }
    json_t *norm = json_object();
    json_t *list = json_array();
    int seen_rotate = 0, seen_notify = 0;
    size_t i;
    json_t *la;
    json_array_foreach(actions, i, la)
    {
        int act = action_of(la);
        json_t *trig = json_object_get(la, "trigger");
        const char *after = json_string_value(json_object_get(trig, "timeAfterCreate"));
        const char *before = json_string_value(json_object_get(trig, "timeBeforeExpiry"));
        const char *msg = NULL;
        int64_t len = duration_secs(after ? after : before ? before : "");
        if (act == 0)
            msg = "each action's 'type' must be Rotate or Notify.";
        else if ((after != NULL) == (before != NULL))
            msg = "each trigger needs exactly one of timeAfterCreate and timeBeforeExpiry.";
        else if (len < 0)
            msg = "trigger times must be ISO 8601 durations such as P30D.";
        else if (len < (int64_t)MIN_TRIGGER_DAYS * 86400)
            msg = "trigger times must be at least 7 days (P7D).";
        else if (act == 'N' && after)
            msg = "Notify takes timeBeforeExpiry only.";
        else if ((act == 'R' && seen_rotate) || (act == 'N' && seen_notify))
            msg = "at most one Rotate and one Notify action.";
        else if (act == 'R' && before && expiry_len >= 0 && len >= expiry_len)
            msg = "timeBeforeExpiry must be shorter than expiryTime.";
        else if (act == 'R' && after && expiry_len >= 0 && len >= expiry_len)
            msg = "timeAfterCreate must be shorter than expiryTime.";
        if (msg) {
            json_decref(norm);
            json_decref(list);
            return invalid(err, msg);
        }
        seen_rotate |= act == 'R';
        seen_notify |= act == 'N';
        json_t *t = json_object();
        json_object_set_new(t, after ? "timeAfterCreate" : "timeBeforeExpiry",
                            json_string(after ? after : before));
        json_array_append_new(list, json_pack("{s:o,s:{s:s}}", "trigger", t, "action", "type",
                                              act == 'R' ? "Rotate" : "Notify"));
    }
    json_object_set_new(norm, "lifetimeActions", list);
    json_t *a = json_object();
    if (expiry)
        json_object_set_new(a, "expiryTime", json_string(expiry));
    json_object_set_new(norm, "attributes", a);
    *out = norm;
    return 0;
}

int vs_rotation_set(struct vs_engine *e, const struct vs_space *s, const char *name,
                    const json_t *policy, const char *base, json_t **out, struct cmk_err *err)
{
    *out = NULL;
    struct policy_row r;
    int rc = read_policy(e, s->id, name, &r);
    if (rc == CMK_ENOTFOUND)
        return vs__key_not_found(s, name, NULL, err);
    if (rc != 0)
        return vs__db_error(e, err);
    json_t *norm = NULL;
    rc = normalise(policy, &norm, err);
    if (rc != 0) {
        json_decref(r.policy);
        return rc;
    }
    int64_t now = vs_engine_now(e);
    int64_t created = r.policy ? r.created : now;
    char *text = json_dumps(norm, JSON_COMPACT);
    sqlite3_stmt *st = cmk_store_stmt(e->db, "UPDATE vs_keys SET rotation = ?, rot_created = ?,"
                                             " rot_updated = ? WHERE space = ? AND name = ?");
    if (st == NULL) {
        free(text);
        json_decref(norm);
        json_decref(r.policy);
        return vs__db_error(e, err);
    }
    sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, created);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_text(st, 4, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r.name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(text);
    json_decref(r.policy);
    if (rc != SQLITE_DONE) {
        json_decref(norm);
        return vs__db_error(e, err);
    }
    json_decref(norm);
    vs__rotation_schedule(e, s->id, name);
    vs__rearm(e);
    return vs_rotation_get(e, s, name, base, out, err);
}

/* ---- timer work --------------------------------------------------------------------------- */

static int next_due(struct vs_engine *e, const char *column, int64_t now, char **space, char **name)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT space, name FROM vs_keys WHERE kind = ? AND deleted = 0 AND %s <= ?"
             " ORDER BY %s, space, name LIMIT 1",
             column, column);
    sqlite3_stmt *st = cmk_store_stmt(e->db, sql);
    if (st == NULL)
        return 0;
    sqlite3_bind_text(st, 1, e->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        *space = cmk_xstrdup((const char *)sqlite3_column_text(st, 0));
        *name = cmk_xstrdup((const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    return found;
}

static void set_column(struct vs_engine *e, const char *column, const char *space, const char *name,
                       int64_t value)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "UPDATE vs_keys SET %s = ? WHERE space = ? AND name = ?", column);
    sqlite3_stmt *st = cmk_store_stmt(e->db, sql);
    if (st == NULL)
        return;
    if (value)
        sqlite3_bind_int64(st, 1, value);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_text(st, 2, space, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void vs__rotation_due(struct vs_engine *e, int64_t now)
{
    char *space = NULL, *name = NULL;
    for (int guard = 0; guard < 10000 && next_due(e, "next_rotate", now, &space, &name); guard++) {
        struct vs_space s;
        memset(&s, 0, sizeof(s));
        int found =
            e->policy.space_lookup && e->policy.space_lookup(e->policy.data, space, &s) == 0;
        if (!found) {
            /* The container is soft-deleted: try again in a day. */
            set_column(e, "next_rotate", space, name, now + 86400);
        } else {
            struct vs_key k;
            struct cmk_err err;
            cmk_err_clear(&err);
            if (vs_key_rotate(e, &s, name, &k, &err) == 0) {
                cmk_info("vaultsim", "rotated key %s in %s by its rotation policy: version %s",
                         name, space, k.version);
                if (e->policy.on_event)
                    e->policy.on_event(e->policy.data, space, "KeyRotate", k.name, k.version);
                vs_key_clear(&k);
            } else {
                cmk_warn("vaultsim", "rotation of %s in %s failed: %s", name, space, err.message);
                set_column(e, "next_rotate", space, name, now + 86400);
            }
            /* A policy whose next rotation is already due again would spin: stop it. */
            sqlite3_stmt *st = cmk_store_stmt(e->db, "SELECT next_rotate FROM vs_keys"
                                                     " WHERE space = ? AND name = ?");
            if (st) {
                sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
                int64_t next = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
                sqlite3_reset(st);
                if (next && next <= now)
                    set_column(e, "next_rotate", space, name, 0);
            }
        }
        free(space);
        free(name);
        space = name = NULL;
    }
    for (int guard = 0; guard < 10000 && next_due(e, "next_notify", now, &space, &name); guard++) {
        set_column(e, "next_notify", space, name, 0);
        if (e->policy.on_event)
            e->policy.on_event(e->policy.data, space, "KeyNearExpiry", name, NULL);
        free(space);
        free(name);
        space = name = NULL;
    }
}
