/* observe.c: what an expectation's subject looks like now. Servers, health and key status are
 * read from the services' status APIs (cp_server_status, the key engine's read of a key's
 * attributes) without side effects; vaults, HSMs and identities from the ARM store and the
 * deleted-vault API; connections, sessions and queries by doing what a client does (a real
 * login through the data plane). Log subjects (activity, audit) are counted in expect.c from
 * the log listeners; this file only matches one entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arm.h"
#include "controlplane/server.h"
#include "scenarios/runner_int.h"
#include "vaultsim/engine.h"
#include "vaultsim/vault.h"

static int eq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

static int contains(const char *hay, const char *needle)
{
    return hay && needle && strcasestr(hay, needle) != NULL;
}

static const char *want(const struct sc_expect *e, const char *k)
{
    return sc_get_str(&e->fields, k, NULL);
}

static const char *target_name(const struct sc_expect *e)
{
    return e->target && e->target->type == SC_T_STRING ? e->target->u.str : "";
}

/* ---- servers and health ---- */

static int observe_server(struct sc_world *w, const struct sc_expect *e, const char *state_now,
                          char *obs, size_t n)
{
    struct sc_server *s = sc__server(w, target_name(e));
    struct cp_server_status st;
    struct cmk_err err;
    const char *state;
    int found = s && w->svc.servers && cp_server_status(w->svc.servers, s->id, &st, &err) == 0;
    if (!found) {
        memset(&st, 0, sizeof(st));
        st.key_valid = st.geo_key_valid = 1;
        state = "Deleted";
    } else {
        state = cp_state_name(st.state);
    }
    if (state_now)
        state = state_now;
    const char *ks = st.key_valid ? "Valid" : "Invalid";
    const char *gs = st.geo_key_valid ? "Valid" : "Invalid";
    if (e->subject->id == SC_S_HEALTH) {
        const char *h = found ? st.health : "Unknown";
        sc__fmt(obs, n, "health=%s%s%s", h, st.message[0] ? " reason=" : "", st.message);
        int ok = 1;
        if (want(e, "status") && !eq(want(e, "status"), h))
            ok = 0;
        if (want(e, "reason") && !contains(st.message, want(e, "reason")) &&
            !contains(st.cause, want(e, "reason")))
            ok = 0;
        return ok;
    }
    sc__fmt(obs, n, "state=%s keyStatus=%s geoKeyStatus=%s%s%s", state, ks, gs,
            st.cause[0] ? " cause=" : "", st.cause);
    if (want(e, "state") && !eq(want(e, "state"), state))
        return 0;
    if (want(e, "keyStatus") && !eq(want(e, "keyStatus"), ks))
        return 0;
    if (want(e, "geoKeyStatus") && !eq(want(e, "geoKeyStatus"), gs))
        return 0;
    return 1;
}

/* ---- keys ---- */

static int observe_key(struct sc_world *w, const struct sc_expect *e, char *obs, size_t n)
{
    const struct sc_keyref *k = &e->target->u.key;
    struct sc_store *v = sc__store(w, k->store);
    if (v == NULL || w->svc.vaults == NULL || v->hsm) {
        sc__fmt(obs, n, "key %s cannot be observed (%s)", k->text,
                v && v->hsm ? "managed HSM keys are not observable in this build"
                            : "no such vault");
        return -1;
    }
    struct vs_engine *eng = vs_vaults_engine(w->svc.vaults);
    struct vs_space sp;
    memset(&sp, 0, sizeof(sp));
    sc__fmt(sp.id, sizeof(sp.id), "vault/%s", v->name);
    for (char *p = sp.id; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    sc__fmt(sp.name, sizeof(sp.name), "%s", v->name);
    sc__fmt(sp.subscription, sizeof(sp.subscription), "%s", v->tenant->sub);
    sp.retention_days = 90;
    sp.key_types = VS_KTYS_SOFTWARE | VS_KTYS_HSM_ASYM;
    sp.kind_label = "key vault";
    struct vs_key key;
    memset(&key, 0, sizeof(key));
    struct cmk_err err;
    const char *status;
    const char *ver = k->version && strcmp(k->version, "current") != 0 ? k->version : NULL;
    int64_t versions = 0;
    if (vs_key_get(eng, &sp, k->key, ver, 1, &key, &err) == 0) {
        int64_t now = sc__now(w) / 1000;
        status = !key.enabled                ? "disabled"
                 : key.nbf && key.nbf > now  ? "notYetValid"
                 : key.exp && key.exp <= now ? "expired"
                                             : "enabled";
        struct vs_key *items = NULL;
        size_t cnt = 0;
        int more = 0;
        char after[64] = "";
        do {
            if (vs_key_list_versions(eng, &sp, k->key, after, 25, &items, &cnt, &more, &err) != 0)
                break;
            versions += (int64_t)cnt;
            if (cnt)
                sc__fmt(after, sizeof(after), "%s", items[cnt - 1].version);
            vs_key_list_free(items, cnt);
        } while (more);
        vs_key_clear(&key);
    } else if (vs_key_get_deleted(eng, &sp, k->key, &key, &err) == 0) {
        status = "deleted";
        vs_key_clear(&key);
    } else {
        status = "purged";
    }
    sc__fmt(obs, n, "status=%s versions=%lld", status, (long long)versions);
    if (want(e, "status") && !eq(want(e, "status"), status))
        return 0;
    const struct sc_value *vv = sc_get(&e->fields, "versions");
    if (vv && vv->u.i != versions)
        return 0;
    return 1;
}

/* ---- vaults, HSMs, identities ---- */

static int observe_store(struct sc_world *w, const struct sc_expect *e, char *obs, size_t n)
{
    struct sc_store *v = sc__store(w, target_name(e));
    const char *state = "Purged";
    if (v) {
        struct cmk_arm_resource r;
        struct cmk_err err;
        if (cmk_arm_resource_get(w->svc.arm, v->id, &r, &err) == 0) {
            state = "Active";
            if (v->hsm) {
                const char *a = json_string_value(
                    json_object_get(json_object_get(json_object_get(r.doc, "properties"),
                                                    "securityDomainProperties"),
                                    "activationStatus"));
                if (a && strcasecmp(a, "Active") != 0)
                    state = "NotActivated";
            }
            cmk_arm_resource_close(&r);
        } else {
            char path[600];
            sc__fmt(path, sizeof(path),
                    "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/%s/%s"
                    "?api-version=%s",
                    v->tenant->sub, v->location, v->hsm ? "deletedManagedHSMs" : "deletedVaults",
                    v->name, v->hsm ? SC_API_HSM : SC_API_VAULTS);
            struct sc_http h;
            sc__mgmt(w, "GET", path, NULL, NULL, v->tenant, &h);
            if (h.status == 200)
                state = "Deleted";
            sc__http_close(&h);
        }
    }
    sc__fmt(obs, n, "state=%s", state);
    return eq(want(e, "state"), state);
}

static int observe_identity(struct sc_world *w, const struct sc_expect *e, char *obs, size_t n)
{
    struct sc_ident *id = sc__ident(w, target_name(e));
    const char *state = "Deleted";
    if (id && id->sp) {
        state = id->deleted ? "Deleted" : "Active";
    } else if (id) {
        struct cmk_arm_resource r;
        struct cmk_err err;
        if (cmk_arm_resource_get(w->svc.arm, id->id, &r, &err) == 0) {
            state = "Active";
            cmk_arm_resource_close(&r);
        }
    }
    sc__fmt(obs, n, "state=%s", state);
    return eq(want(e, "state"), state);
}

/* ---- clients ---- */

static int observe_connect(struct sc_world *w, const struct sc_expect *e, char *obs, size_t n)
{
    struct sc_server *s = sc__server(w, target_name(e));
    const char *db = sc_get_str(&e->fields, "database", "postgres");
    const char *user = sc_get_str(&e->fields, "user", s ? s->login : SC_DEFAULT_LOGIN);
    const char *pw = sc_get_str(&e->fields, "password", s ? s->password : SC_DEFAULT_PASSWORD);
    struct sc_pgconn *c = NULL;
    struct sc_pgresult r;
    int rc = sc__pg_connect(w, target_name(e), db, user, pw, &c, &r);
    if (rc < 0) {
        sc__fmt(obs, n, "%s", r.message);
        return -1;
    }
    const char *outcome = c ? "ok" : "denied";
    if (c)
        sc__fmt(obs, n, "outcome=ok");
    else
        sc__fmt(obs, n, "outcome=denied sqlstate=%s message=\"%s\"", r.sqlstate, r.message);
    sc__pg_close(c);
    char sig[64];
    sc__fmt(sig, sizeof(sig), "%s %s", outcome, c ? "" : r.sqlstate);
    if (s && strcmp(s->last_connect, sig) != 0) {
        sc__fmt(s->last_connect, sizeof(s->last_connect), "%s", sig);
        sc__record(w, SC_REC_CONNECT, c != NULL, s->name, NULL, "a new connection %s%s%s",
                   c ? "is accepted" : "is refused: ", c ? "" : r.sqlstate, "");
        sc__trace(w, "pg.connection",
                  json_pack("{s:s, s:s, s:s}", "server", s->name, "outcome",
                            c ? "accepted" : "denied", "sqlstate", c ? "" : r.sqlstate));
    }
    int ok = eq(want(e, "outcome"), outcome) || want(e, "outcome") == NULL;
    if (want(e, "sqlstate") && !(c == NULL && eq(want(e, "sqlstate"), r.sqlstate)))
        ok = 0;
    if (want(e, "message") && !(c == NULL && contains(r.message, want(e, "message"))))
        ok = 0;
    sc__pgresult_close(&r);
    return ok;
}

static int observe_session(struct sc_world *w, const struct sc_expect *e, char *obs, size_t n)
{
    const char *name = target_name(e);
    struct sc_pgconn *pc = NULL;
    for (size_t i = 0; i < w->n_sessions; i++)
        if (strcmp(w->session_names[i], name) == 0)
            pc = w->sessions[i];
    char st[6] = "", msg[512] = "";
    int open = sc__pg_session_state(pc, st, sizeof(st), msg, sizeof(msg));
    const char *state = open ? "open" : "terminated";
    if (open)
        sc__fmt(obs, n, "state=open");
    else
        sc__fmt(obs, n, "state=terminated sqlstate=%s message=\"%s\"", st, msg);
    if (want(e, "state") && !eq(want(e, "state"), state))
        return 0;
    if (want(e, "sqlstate") && !eq(want(e, "sqlstate"), st))
        return 0;
    if (want(e, "message") && !contains(msg, want(e, "message")))
        return 0;
    return 1;
}

/* Compare a query's (or an action's) result with rows / rowCount / sqlstate. */
static int compare_result(const struct sc_expect *e, int ok, const char *sqlstate,
                          const json_t *rows, int64_t row_count, char *why, size_t n)
{
    const char *ws = want(e, "sqlstate");
    if (ws && !eq(ws, sqlstate)) {
        sc__fmt(why, n, "sqlstate %s, expected %s", sqlstate[0] ? sqlstate : "none", ws);
        return 0;
    }
    if (!ws && !ok) {
        sc__fmt(why, n, "error %s", sqlstate);
        return 0;
    }
    const struct sc_value *wr = sc_get(&e->fields, "rows");
    if (wr && !sc__rows_equal(wr, rows ? rows : json_array(), why, n))
        return 0;
    const struct sc_value *rc = sc_get(&e->fields, "rowCount");
    if (rc) {
        int64_t got = rows ? (int64_t)json_array_size(rows) : row_count;
        if (got != rc->u.i) {
            sc__fmt(why, n, "%lld row(s), expected %lld", (long long)got, (long long)rc->u.i);
            return 0;
        }
    }
    return 1;
}

static int observe_query(struct sc_world *w, const struct sc_expect *e, char *obs, size_t n)
{
    const struct sc_value *t = e->target;
    const char *server = sc_get_str(t, "server", "");
    struct sc_server *s = sc__server(w, server);
    struct sc_pgconn *c = NULL;
    struct sc_pgresult r;
    int rc =
        sc__pg_connect(w, server, sc_get_str(t, "database", "postgres"),
                       sc_get_str(t, "user", s ? s->login : SC_DEFAULT_LOGIN),
                       sc_get_str(t, "password", s ? s->password : SC_DEFAULT_PASSWORD), &c, &r);
    if (rc < 0) {
        sc__fmt(obs, n, "%s", r.message);
        return -1;
    }
    if (c) {
        sc__pgresult_close(&r);
        json_t *params = NULL;
        const struct sc_value *pv = sc_get(t, "params");
        if (pv) {
            params = json_array();
            for (size_t i = 0; i < pv->u.list.n; i++)
                json_array_append_new(params, pv->u.list.v[i].is_null
                                                  ? json_null()
                                                  : json_string(pv->u.list.v[i].u.str));
        }
        sc__pg_query(w, c, sc_get_str(t, "sql", ""), params, &r);
        json_decref(params);
        sc__pg_close(c);
    }
    char why[300] = "";
    int ok = compare_result(e, r.ok, r.sqlstate, r.rows, r.row_count, why, sizeof(why));
    char *rows = r.rows ? json_dumps(r.rows, JSON_COMPACT) : NULL;
    if (r.ok)
        sc__fmt(obs, n, "rows=%.300s%s%s", rows ? rows : "[]", why[0] ? " " : "", why);
    else
        sc__fmt(obs, n, "error sqlstate=%s message=\"%s\"", r.sqlstate, r.message);
    free(rows);
    sc__pgresult_close(&r);
    return ok;
}

static int observe_result(struct sc_world *w, const struct sc_expect *e, char *obs, size_t n)
{
    const struct sc_action_result *r = w->last_result;
    if (r == NULL) {
        sc__fmt(obs, n, "the step has no action");
        return -1;
    }
    sc__fmt(obs, n, "%s%s%s%s%s status=%d%s%s", r->ok ? "ok" : "error", r->code[0] ? " code=" : "",
            r->code, r->message[0] ? " message=" : "", r->message[0] ? r->message : "", r->status,
            "", "");
    if (!eq(target_name(e), r->ok ? "ok" : "error"))
        return 0;
    if (want(e, "code") && !eq(want(e, "code"), r->code))
        return 0;
    const struct sc_value *st = sc_get(&e->fields, "status");
    if (st && st->u.i != r->status)
        return 0;
    if (want(e, "message") && !contains(r->message, want(e, "message")))
        return 0;
    char why[300];
    if ((want(e, "sqlstate") || sc_get(&e->fields, "rows") || sc_get(&e->fields, "rowCount")) &&
        !compare_result(e, r->ok, r->sqlstate, r->rows, r->row_count, why, sizeof(why)))
        return 0;
    return 1;
}

int sc__observe(struct sc_world *w, struct sc_x *x, const char *server_state, char *obs, size_t n)
{
    const struct sc_expect *e = x->e;
    switch (e->subject->id) {
    case SC_S_SERVER:
    case SC_S_HEALTH:
        return observe_server(w, e, server_state, obs, n);
    case SC_S_KEY:
        return observe_key(w, e, obs, n);
    case SC_S_VAULT:
    case SC_S_HSM:
        return observe_store(w, e, obs, n);
    case SC_S_IDENTITY:
        return observe_identity(w, e, obs, n);
    case SC_S_CONNECT:
        return observe_connect(w, e, obs, n);
    case SC_S_SESSION:
        return observe_session(w, e, obs, n);
    case SC_S_QUERY:
        return observe_query(w, e, obs, n);
    case SC_S_RESULT:
        return observe_result(w, e, obs, n);
    case SC_S_ACTIVITY:
    case SC_S_AUDIT:
    case SC_S_COUNT:
        break;
    }
    sc__fmt(obs, n, "not observable");
    return -1;
}

/* ---- logs ---- */

int sc__log_subject(struct sc_world *w, const struct sc_expect *e, char *out, size_t n)
{
    const char *name = target_name(e);
    if (e->subject->id == SC_S_AUDIT) {
        sc__fmt(out, n, "vault/%s", name);
        for (char *p = out; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        struct sc_store *v = sc__store(w, name);
        if (v && v->hsm)
            sc__fmt(out, n, "hsm/%s", v->name);
        return 0;
    }
    struct sc_server *s = sc__server(w, name);
    struct sc_store *v = sc__store(w, name);
    struct sc_ident *id = sc__ident(w, name);
    sc__fmt(out, n, "%s", s ? s->id : v ? v->id : id ? id->id : "");
    return out[0] ? 0 : -1;
}

static const char *str_at(const json_t *j, const char *a, const char *b)
{
    const json_t *v = json_object_get(j, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

int sc__log_match(struct sc_world *w, const struct sc_expect *e, const json_t *entry)
{
    if (e->subject->id == SC_S_ACTIVITY) {
        if (want(e, "operation") &&
            !contains(str_at(entry, "operationName", "value"), want(e, "operation")))
            return 0;
        if (want(e, "status") && !eq(str_at(entry, "status", "value"), want(e, "status")))
            return 0;
        if (want(e, "level") && !eq(str_at(entry, "level", NULL), want(e, "level")))
            return 0;
        if (want(e, "message") &&
            !contains(str_at(entry, "description", NULL), want(e, "message")) &&
            !contains(str_at(entry, "properties", "statusMessage"), want(e, "message")) &&
            !contains(str_at(entry, "properties", "message"), want(e, "message")))
            return 0;
        return 1;
    }
    if (want(e, "operation") && !eq(str_at(entry, "operationName", NULL), want(e, "operation")))
        return 0;
    if (want(e, "resultType") && !eq(str_at(entry, "resultType", NULL), want(e, "resultType")))
        return 0;
    if (want(e, "caller")) {
        struct sc_ident *id = sc__ident(w, want(e, "caller"));
        const char *oid = json_string_value(
            json_object_get(json_object_get(json_object_get(entry, "identity"), "claim"), "oid"));
        if (id == NULL || !eq(oid, id->oid))
            return 0;
    }
    if (want(e, "keyName")) {
        const char *kid = str_at(entry, "properties", "id");
        char pat[200];
        sc__fmt(pat, sizeof(pat), "/keys/%s", want(e, "keyName"));
        if (!contains(kid, pat))
            return 0;
    }
    const struct sc_value *st = sc_get(&e->fields, "status");
    if (st && json_integer_value(json_object_get(json_object_get(entry, "properties"),
                                                 "httpStatusCode")) != st->u.i)
        return 0;
    return 1;
}
