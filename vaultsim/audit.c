/* audit.c: the per-container audit log with batched writes (see audit.h). */
#include "audit.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/runtime.h"
#include "common/store.h"

#define FLUSH_DELAY   (250 * CMK_MS)
#define FLUSH_COUNT   512
#define MAX_LISTENERS 8

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE vs_audit ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " space TEXT NOT NULL,"
        " time INTEGER NOT NULL,"
        " event TEXT NOT NULL);"
        "CREATE INDEX vs_audit_space ON vs_audit(space, seq);"},
};

struct pending {
    char *space;
    char *text;
    cmk_time_t time;
};

struct vs_audit {
    struct cmk_runtime *rt;
    struct pending *items;
    size_t n, cap;
    struct cmk_timer timer;
    struct {
        vs_audit_cb cb;
        void *data;
    } listeners[MAX_LISTENERS];
    size_t nlisteners;
};

static void on_timer(struct cmk_timer *t)
{
    vs_audit_flush(t->data);
}

int vs_audit_open(struct vs_audit **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    int rc = cmk_store_migrate(rt->db, "vaultsim-audit", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    if (rc != 0)
        return rc;
    struct vs_audit *a = cmk_xcalloc(1, sizeof(*a));
    a->rt = rt;
    cmk_timer_init(&rt->clock, &a->timer, on_timer, a);
    *out = a;
    return 0;
}

void vs_audit_free(struct vs_audit *a)
{
    if (a == NULL)
        return;
    vs_audit_flush(a);
    cmk_timer_stop(&a->timer);
    for (size_t i = 0; i < a->n; i++) {
        free(a->items[i].space);
        free(a->items[i].text);
    }
    free(a->items);
    free(a);
}

void vs_audit_append(struct vs_audit *a, const char *space_id, json_t *event)
{
    if (a == NULL || event == NULL) {
        json_decref(event);
        return;
    }
    for (size_t i = 0; i < a->nlisteners; i++)
        a->listeners[i].cb(a->listeners[i].data, space_id, event);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->items = cmk_xrealloc(a->items, a->cap * sizeof(*a->items));
    }
    struct pending *p = &a->items[a->n++];
    p->space = cmk_xstrdup(space_id);
    p->text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    p->time = cmk_clock_now(&a->rt->clock);
    json_decref(event);
    if (a->n >= FLUSH_COUNT)
        vs_audit_flush(a);
    else if (!cmk_timer_active(&a->timer))
        cmk_timer_start(&a->timer, FLUSH_DELAY, 0);
}

int vs_audit_flush(struct vs_audit *a)
{
    if (a == NULL || a->n == 0)
        return 0;
    sqlite3 *db = a->rt->db;
    /* Join a transaction that is already open (a flush from inside a request's). */
    int own = sqlite3_get_autocommit(db) != 0;
    if (own && cmk_store_begin(db) != 0)
        return CMK_EIO;
    sqlite3_stmt *st =
        cmk_store_stmt(db, "INSERT INTO vs_audit(space, time, event) VALUES(?, ?, ?)");
    int ok = st != NULL;
    for (size_t i = 0; ok && i < a->n; i++) {
        sqlite3_bind_text(st, 1, a->items[i].space, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a->items[i].time);
        sqlite3_bind_text(st, 3, a->items[i].text, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    if (own) {
        if (ok && cmk_store_commit(db) != 0)
            ok = 0;
        if (!ok)
            cmk_store_rollback(db);
    }
    if (!ok) {
        cmk_error("vaultsim", "audit log write failed: %s", sqlite3_errmsg(db));
        return CMK_EIO;
    }
    for (size_t i = 0; i < a->n; i++) {
        free(a->items[i].space);
        free(a->items[i].text);
    }
    a->n = 0;
    cmk_timer_stop(&a->timer);
    return 0;
}

int vs_audit_read(struct vs_audit *a, const char *space_id, int64_t after, size_t max,
                  struct cmk_buf *out, int64_t *last, struct cmk_err *err)
{
    *last = after;
    if (vs_audit_flush(a) != 0)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "audit log unavailable");
    sqlite3_stmt *st = cmk_store_stmt(a->rt->db, "SELECT seq, event FROM vs_audit WHERE space = ?"
                                                 " AND seq > ? ORDER BY seq LIMIT ?");
    if (st == NULL)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError", "audit log unavailable");
    sqlite3_bind_text(st, 1, space_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, max ? (sqlite3_int64)max : -1);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        json_t *ev =
            json_loads((const char *)sqlite3_column_text(st, 1), JSON_PRESERVE_ORDER, NULL);
        if (ev == NULL)
            continue;
        json_object_set_new(ev, "seq", json_integer(seq));
        char *line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
        cmk_buf_puts(out, line);
        cmk_buf_append(out, "\n", 1);
        free(line);
        json_decref(ev);
        *last = seq;
    }
    sqlite3_reset(st);
    return 0;
}

int vs_audit_forget(struct vs_audit *a, const char *space_id)
{
    vs_audit_flush(a);
    sqlite3_stmt *st = cmk_store_stmt(a->rt->db, "DELETE FROM vs_audit WHERE space = ?");
    if (st == NULL)
        return CMK_EIO;
    sqlite3_bind_text(st, 1, space_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CMK_EIO;
    sqlite3_reset(st);
    return rc;
}

int vs_audit_listen(struct vs_audit *a, vs_audit_cb cb, void *data)
{
    if (a->nlisteners == MAX_LISTENERS)
        return CMK_ELIMIT;
    a->listeners[a->nlisteners].cb = cb;
    a->listeners[a->nlisteners].data = data;
    a->nlisteners++;
    return 0;
}
