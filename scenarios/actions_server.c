/* actions_server.c: the scenario actions on PostgreSQL flexible servers (ARM requests on
 * Microsoft.DBforPostgreSQL/flexibleServers, as the SDK and az send them: PUT with
 * dataEncryption and createMode, PATCH of dataEncryption, POST start/stop/restart, DELETE) and
 * the PostgreSQL client actions (client.connect, client.query, client.disconnect) over the
 * data plane's in-process pipe (pgclient.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arm.h"
#include "scenarios/runner_int.h"

/* identity: {type: UserAssigned, userAssignedIdentities: {id: {}}} from a list of names. */
static json_t *identities_json(struct sc_world *w, const struct sc_value *list,
                               const struct sc_value *de)
{
    json_t *ids = json_object();
    for (size_t i = 0; list && i < list->u.list.n; i++) {
        struct sc_ident *id = sc__ident(w, list->u.list.v[i].u.str);
        if (id)
            json_object_set_new(ids, id->id, json_object());
    }
    /* The key's identities are assigned too when the list does not name them. */
    static const char *const keys[] = {"identity", "geoBackupIdentity", NULL};
    for (size_t i = 0; de && keys[i]; i++) {
        struct sc_ident *id = sc__ident(w, sc_get_str(de, keys[i], ""));
        if (id && list == NULL)
            json_object_set_new(ids, id->id, json_object());
    }
    if (json_object_size(ids) == 0) {
        json_decref(ids);
        return NULL;
    }
    return json_pack("{s:s, s:o}", "type", "UserAssigned", "userAssignedIdentities", ids);
}

static int data_encryption(struct sc_world *w, const struct sc_value *de, json_t **out,
                           struct sc_action_result *r)
{
    *out = NULL;
    if (de == NULL)
        return 0;
    json_t *o = json_object();
    char uri[600];
    const struct sc_value *k = sc_get(de, "primaryKey");
    const char *type = sc_get_str(de, "type", k ? "AzureKeyVault" : NULL);
    if (type)
        json_object_set_new(o, "type", json_string(type));
    if (k) {
        if (sc__key_uri(w, &k->u.key, uri, sizeof(uri), r) != 0) {
            json_decref(o);
            return -1;
        }
        json_object_set_new(o, "primaryKeyURI", json_string(uri));
    }
    struct sc_ident *id = sc__ident(w, sc_get_str(de, "identity", ""));
    if (id)
        json_object_set_new(o, "primaryUserAssignedIdentityId", json_string(id->id));
    k = sc_get(de, "geoBackupKey");
    if (k) {
        if (sc__key_uri(w, &k->u.key, uri, sizeof(uri), r) != 0) {
            json_decref(o);
            return -1;
        }
        json_object_set_new(o, "geoBackupKeyURI", json_string(uri));
    }
    id = sc__ident(w, sc_get_str(de, "geoBackupIdentity", ""));
    if (id)
        json_object_set_new(o, "geoBackupUserAssignedIdentityId", json_string(id->id));
    *out = o;
    return 0;
}

static struct sc_server *server_new(struct sc_world *w, const char *name)
{
    struct sc_server *s = sc__server(w, name);
    if (s)
        return s;
    s = cmk_xcalloc(1, sizeof(*s));
    s->name = cmk_xstrdup(name);
    w->servers = cmk_xrealloc(w->servers, (w->n_servers + 1) * sizeof(*w->servers));
    w->servers[w->n_servers++] = s;
    return s;
}

static void server_path(const struct sc_server *s, const char *suffix, char *out, size_t n)
{
    sc__fmt(out, n, "%s%s?api-version=%s", s->id, suffix ? suffix : "", SC_API_PG);
}

/* server.create, and the copies (restore, replica, geo-restore) with their createMode. */
static int server_put(struct sc_world *w, const struct sc_call *c, const char *mode,
                      struct sc_action_result *r)
{
    const char *name = sc__arg(c, "name");
    const char *src_name = sc__arg(c, "source");
    struct sc_server *src = src_name ? sc__server(w, src_name) : NULL;
    if (src_name && src == NULL)
        return sc__afail(r, "unknown source server %s", src_name, NULL);
    if (mode == NULL)
        mode = sc__arg(c, "createMode");
    struct sc_tenant *t =
        src ? src->tenant : sc__tenant(w, sc_get_str(&c->args, "tenant", SC_DEFAULT_TENANT));
    if (t == NULL)
        return sc__afail(r, "unknown tenant %s", sc__arg(c, "tenant"), NULL);
    struct sc_server *s = server_new(w, name);
    s->tenant = t;
    sc__fmt(s->rg, sizeof(s->rg), "%s",
            sc_get_str(&c->args, "resourceGroup", src ? src->rg : SC_DEFAULT_RG));
    const char *loc = sc__arg(c, "location");
    if (loc == NULL && src && mode && strcasecmp(mode, "GeoRestore") == 0)
        loc = cmk_arm_location_pair(src->location);
    if (loc == NULL)
        loc = src ? src->location : SC_DEFAULT_LOCATION;
    sc__fmt(s->location, sizeof(s->location), "%s", loc);
    sc__fmt(s->id, sizeof(s->id),
            "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.DBforPostgreSQL/"
            "flexibleServers/%s",
            t->sub, s->rg, name);
    sc__fmt(s->login, sizeof(s->login), "%s",
            sc_get_str(&c->args, "administratorLogin", src ? src->login : SC_DEFAULT_LOGIN));
    sc__fmt(
        s->password, sizeof(s->password), "%s",
        sc_get_str(&c->args, "administratorPassword", src ? src->password : SC_DEFAULT_PASSWORD));
    struct sc_http h;
    if (sc__ensure_rg(w, t, s->rg, s->location, &h) != 0) {
        int rc = sc__from_http(r, "PUT", "resourcegroups", &h);
        sc__http_close(&h);
        return rc;
    }
    const struct sc_value *dev = sc_get(&c->args, "dataEncryption");
    json_t *de = NULL;
    if (data_encryption(w, dev, &de, r) != 0)
        return -1;
    json_t *props = json_object();
    if (src == NULL || mode == NULL || strcasecmp(mode, "Create") == 0) {
        json_object_set_new(props, "administratorLogin", json_string(s->login));
        json_object_set_new(props, "administratorLoginPassword", json_string(s->password));
        json_object_set_new(props, "version", json_string(sc_get_str(&c->args, "version", "16")));
        json_object_set_new(props, "storage",
                            json_pack("{s:I}", "storageSizeGB",
                                      (json_int_t)sc_get_int(&c->args, "storageSizeGB", 32)));
    }
    if (mode)
        json_object_set_new(props, "createMode", json_string(mode));
    if (src)
        json_object_set_new(props, "sourceServerResourceId", json_string(src->id));
    const struct sc_value *pit = sc_get(&c->args, "pointInTime");
    if (mode && strcasecmp(mode, "PointInTimeRestore") == 0) {
        cmk_time_t at = pit ? w->start + pit->u.point.at : sc__now(w);
        char when[40];
        cmk_time_format(at, when, sizeof(when));
        json_object_set_new(props, "pointInTimeUTC", json_string(when));
    }
    const struct sc_value *bk = sc_get(&c->args, "backup");
    if (bk) {
        json_t *b = json_object();
        if (sc_get(bk, "retentionDays"))
            json_object_set_new(b, "backupRetentionDays",
                                json_integer(sc_get_int(bk, "retentionDays", 7)));
        if (sc_get(bk, "geoRedundant"))
            json_object_set_new(
                b, "geoRedundantBackup",
                json_string(sc_get_bool(bk, "geoRedundant", 0) ? "Enabled" : "Disabled"));
        json_object_set_new(props, "backup", b);
    }
    if (de)
        json_object_set_new(props, "dataEncryption", de);
    json_t *body = json_pack("{s:s, s:{s:s, s:s}, s:o}", "location", s->location, "sku", "name",
                             sc_get_str(&c->args, "sku", "Standard_D2ds_v4"), "tier",
                             "GeneralPurpose", "properties", props);
    json_t *ident = identities_json(w, sc_get(&c->args, "identities"), dev);
    if (ident)
        json_object_set_new(body, "identity", ident);
    char path[CMK_ARM_ID_MAX + 64];
    server_path(s, NULL, path, sizeof(path));
    sc__mgmt(w, "PUT", path, body, sc__caller(w, c), t, &h);
    json_decref(body);
    int rc = sc__from_http(r, "PUT", path, &h);
    sc__http_close(&h);
    return rc;
}

static int server_update_key(struct sc_world *w, const struct sc_call *c,
                             struct sc_action_result *r)
{
    struct sc_server *s = sc__server(w, sc__arg(c, "server"));
    if (s == NULL)
        return sc__afail(r, "unknown server %s", sc__arg(c, "server"), NULL);
    json_t *de = NULL;
    if (data_encryption(w, &c->args, &de, r) != 0)
        return -1;
    json_t *body = json_pack("{s:{s:o}}", "properties", "dataEncryption", de);
    json_t *ident = identities_json(w, sc_get(&c->args, "identities"), NULL);
    if (ident)
        json_object_set_new(body, "identity", ident);
    char path[CMK_ARM_ID_MAX + 64];
    server_path(s, NULL, path, sizeof(path));
    struct sc_http h;
    sc__mgmt(w, "PATCH", path, body, sc__caller(w, c), s->tenant, &h);
    json_decref(body);
    int rc = sc__from_http(r, "PATCH", path, &h);
    sc__http_close(&h);
    return rc;
}

static int server_op(struct sc_world *w, const struct sc_call *c, const char *method,
                     const char *suffix, struct sc_action_result *r)
{
    struct sc_server *s = sc__server(w, sc__arg(c, "server"));
    if (s == NULL)
        return sc__afail(r, "unknown server %s", sc__arg(c, "server"), NULL);
    char path[CMK_ARM_ID_MAX + 64];
    server_path(s, suffix, path, sizeof(path));
    struct sc_http h;
    sc__mgmt(w, method, path, NULL, sc__caller(w, c), s->tenant, &h);
    int rc = sc__from_http(r, method, path, &h);
    sc__http_close(&h);
    return rc;
}

int sc__action_server(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    switch (c->action->id) {
    case SC_A_SERVER_CREATE:
        return server_put(w, c, NULL, r);
    case SC_A_SERVER_RESTORE:
        return server_put(w, c, "PointInTimeRestore", r);
    case SC_A_SERVER_REPLICA:
        return server_put(w, c, "Replica", r);
    case SC_A_SERVER_GEO_RESTORE:
        return server_put(w, c, "GeoRestore", r);
    case SC_A_SERVER_UPDATE_KEY:
        return server_update_key(w, c, r);
    case SC_A_SERVER_STOP:
        return server_op(w, c, "POST", "/stop", r);
    case SC_A_SERVER_START:
        return server_op(w, c, "POST", "/start", r);
    case SC_A_SERVER_RESTART:
        return server_op(w, c, "POST", "/restart", r);
    case SC_A_SERVER_DELETE:
        return server_op(w, c, "DELETE", NULL, r);
    default:
        return sc__afail(r, "%s is not a server action", c->action->name, NULL);
    }
}

/* ---- PostgreSQL clients ---- */

static int session_index(struct sc_world *w, const char *name)
{
    for (size_t i = 0; i < w->n_sessions; i++)
        if (strcmp(w->session_names[i], name) == 0)
            return (int)i;
    return -1;
}

static void pg_into(struct sc_action_result *r, const struct sc_pgresult *p)
{
    r->ok = p->ok;
    sc__fmt(r->sqlstate, sizeof(r->sqlstate), "%s", p->sqlstate);
    sc__fmt(r->code, sizeof(r->code), "%s", p->sqlstate);
    sc__fmt(r->message, sizeof(r->message), "%s", p->message);
    json_decref(r->rows);
    r->rows = p->rows ? json_incref(p->rows) : NULL;
    r->row_count = p->row_count;
}

static void connect_args(struct sc_world *w, const struct sc_call *c, const char **db,
                         const char **user, const char **pw)
{
    struct sc_server *s = sc__server(w, sc_get_str(&c->args, "server", ""));
    *db = sc_get_str(&c->args, "database", "postgres");
    *user = sc_get_str(&c->args, "user", s ? s->login : SC_DEFAULT_LOGIN);
    *pw = sc_get_str(&c->args, "password", s ? s->password : SC_DEFAULT_PASSWORD);
}

int sc__action_client(struct sc_world *w, const struct sc_call *c, struct sc_action_result *r)
{
    const char *db, *user, *pw;
    connect_args(w, c, &db, &user, &pw);
    struct sc_pgresult pr;
    memset(&pr, 0, sizeof(pr));
    struct sc_pgconn *conn = NULL;
    const char *server = sc__arg(c, "server");
    const char *session = sc__arg(c, "session");
    int rc;
    switch (c->action->id) {
    case SC_A_CLIENT_CONNECT:
        rc = sc__pg_connect(w, server, db, user, pw, &conn, &pr);
        pg_into(r, &pr);
        sc__fmt(r->summary, sizeof(r->summary), "connect to %s as %s: %s%s%s", server, user,
                conn ? "ok" : "refused ", conn ? "" : pr.sqlstate, conn ? "" : "");
        sc__record(w, SC_REC_CONNECT, conn != NULL, server, NULL, "%s%s%s",
                   conn ? "connected" : "refused: ", conn ? "" : pr.sqlstate, conn ? "" : "");
        if (conn && session) {
            int i = session_index(w, session);
            if (i >= 0) {
                sc__pg_close(w->sessions[i]);
                w->sessions[i] = conn;
            } else {
                w->sessions = cmk_xrealloc(w->sessions, (w->n_sessions + 1) * sizeof(*w->sessions));
                w->session_names =
                    cmk_xrealloc(w->session_names, (w->n_sessions + 1) * sizeof(*w->session_names));
                w->sessions[w->n_sessions] = conn;
                w->session_names[w->n_sessions++] = cmk_xstrdup(session);
            }
        } else {
            sc__pg_close(conn);
        }
        sc__pgresult_close(&pr);
        return rc < 0 ? rc : (r->ok ? 0 : 1);
    case SC_A_CLIENT_DISCONNECT: {
        int i = session_index(w, session);
        if (i < 0 || w->sessions[i] == NULL)
            return sc__afail(r, "no open session %s", session, NULL);
        sc__pg_close(w->sessions[i]);
        w->sessions[i] = NULL;
        r->ok = 1;
        sc__fmt(r->summary, sizeof(r->summary), "session %s closed", session);
        return 0;
    }
    case SC_A_CLIENT_QUERY: {
        const char *sql = sc__arg(c, "sql");
        const struct sc_value *params = sc_get(&c->args, "params");
        json_t *pj = NULL;
        if (params) {
            pj = json_array();
            for (size_t i = 0; i < params->u.list.n; i++)
                json_array_append_new(pj, params->u.list.v[i].is_null
                                              ? json_null()
                                              : json_string(params->u.list.v[i].u.str));
        }
        if (session) {
            int i = session_index(w, session);
            if (i < 0 || w->sessions[i] == NULL) {
                json_decref(pj);
                return sc__afail(r, "no open session %s", session, NULL);
            }
            rc = sc__pg_query(w, w->sessions[i], sql, pj, &pr);
        } else {
            rc = sc__pg_connect(w, server, db, user, pw, &conn, &pr);
            if (conn) {
                sc__pgresult_close(&pr);
                rc = sc__pg_query(w, conn, sql, pj, &pr);
                sc__pg_close(conn);
            }
        }
        json_decref(pj);
        pg_into(r, &pr);
        char first[80];
        sc__fmt(first, sizeof(first), "%s", sql);
        char *nl = strchr(first, '\n');
        if (nl)
            *nl = '\0';
        if (pr.ok)
            sc__fmt(r->summary, sizeof(r->summary), "query on %s: %s -> %lld row(s)",
                    session ? session : server, first,
                    (long long)(pr.rows ? (long long)json_array_size(pr.rows) : pr.row_count));
        else
            sc__fmt(r->summary, sizeof(r->summary), "query on %s: %s -> ERROR %s %s",
                    session ? session : server, first, pr.sqlstate, pr.message);
        sc__pgresult_close(&pr);
        return rc < 0 ? rc : (r->ok ? 0 : 1);
    }
    default:
        return sc__afail(r, "%s is not a client action", c->action->name, NULL);
    }
}
