/* pgwire_login.c: from the startup packet to ReadyForQuery.
 *
 * SSLRequest is answered 'S' when the transport can start TLS (it then runs the handshake and
 * hands the connection back in the startup state), 'N' otherwise; GSSENCRequest always 'N';
 * CancelRequest goes to the endpoint and the connection closes silently. The StartupMessage
 * names the user and database (options "-c name=value" become settings; newer protocol
 * minor versions and _pq_ options get NegotiateProtocolVersion). On the shared port the
 * server comes from the TLS SNI name or "user@server". The backend resolves the server: a
 * server that is not ready refuses with its FATAL error (57P03, counted). Then the password:
 * SCRAM-SHA-256 (SASL) or cleartext, against the administrator's verifier from the resolver
 * or a role's stored one (unknown roles get a mock exchange). Login opens the database through
 * the backend and sends AuthenticationOk, ParameterStatus, BackendKeyData and ReadyForQuery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "pgwire_int.h"

static void fatal(struct dp_pgconn *c, const char *code, const char *fmt, const char *arg)
{
    struct pg_error e;
    pg_error_set(&e, code, fmt, arg ? arg : "");
    pg_conn_fatal(c, &e);
}

static void ssl_request(struct dp_pgconn *c)
{
    if (c->tls) {
        fatal(c, "08P01", "SSLRequest on an encrypted connection%s", "");
        return;
    }
    cmk_buf_append(&c->out, "S", 1);
    if (pg_ep_tls_possible(c->ep) && c->tp->start_tls(c) == 0) {
        c->state = CS_TLS; /* the transport flushed 'S' in clear and now runs the handshake */
        return;
    }
    c->out.data[c->out.len - 1] = 'N';
}

/* "-c name=value --name=value" into extra key/value pairs. */
static void parse_options(const char *opts, char ***kv, size_t *n)
{
    char *copy = cmk_xstrdup(opts), *save = NULL;
    for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *assign = NULL;
        if (strcmp(tok, "-c") == 0)
            assign = strtok_r(NULL, " \t", &save);
        else if (strncmp(tok, "--", 2) == 0)
            assign = tok + 2;
        else if (strncmp(tok, "-c", 2) == 0)
            assign = tok + 2;
        char *eq = assign ? strchr(assign, '=') : NULL;
        if (eq == NULL)
            continue;
        *kv = cmk_xrealloc(*kv, (*n + 3) * sizeof(char *));
        (*kv)[(*n)++] = cmk_xstrndup(assign, (size_t)(eq - assign));
        (*kv)[(*n)++] = cmk_xstrdup(eq + 1);
        (*kv)[*n] = NULL;
        for (char *d = (*kv)[*n - 2]; *d; d++)
            if (*d == '-')
                *d = '_';
    }
    free(copy);
}

static void negotiate_version(struct dp_pgconn *c, char **unknown, size_t n)
{
    size_t at = pg_msg_begin(&c->out, 'v');
    pg_put_i32(&c->out, 0);
    pg_put_i32(&c->out, (int32_t)n);
    for (size_t i = 0; i < n; i++)
        pg_put_str(&c->out, unknown[i]);
    pg_msg_end(&c->out, at);
}

/* Pick the server from SNI or user@name on the shared port. 0 or -1 (FATAL sent). */
static int route(struct dp_pgconn *c)
{
    if (c->target[0])
        return 0;
    if (c->sni[0]) {
        const struct cmk_hosts *h = pg_ep_hosts(c->ep);
        char label[DP_PG_NAME_MAX] = "";
        if (h) {
            if (cmk_hosts_classify(h, c->sni, label, sizeof(label)) != CMK_HOST_PG)
                label[0] = 0;
        } else {
            const char *dot = strchr(c->sni, '.');
            snprintf(label, sizeof(label), "%.*s", dot ? (int)(dot - c->sni) : 63, c->sni);
        }
        if (label[0]) {
            snprintf(c->target, sizeof(c->target), "%s", label);
            return 0;
        }
    }
    char *at = strrchr(c->user, '@');
    if (at && at[1]) {
        snprintf(c->target, sizeof(c->target), "%s", at + 1);
        *at = 0;
        return 0;
    }
    fatal(c, "08004",
          "no server named: connect with TLS to NAME.postgres.database.azure.com (SNI) or log "
          "in as user@NAME%s",
          "");
    return -1;
}

static void begin_auth(struct dp_pgconn *c)
{
    int flags = 0;
    c->role_ok = 0;
    if (c->info.admin_user[0] && strcmp(c->user, c->info.admin_user) == 0) {
        snprintf(c->verifier, sizeof(c->verifier), "%s", c->info.admin_verifier);
        c->is_admin = 1;
        c->role_flags = PG_ROLE_LOGIN | PG_ROLE_CREATEDB | PG_ROLE_CREATEROLE;
        c->role_ok = c->verifier[0] != 0;
    } else {
        int found = pg_global_role(c, c->user, c->verifier, sizeof(c->verifier), &flags);
        if (found < 0) {
            struct pg_error e;
            if (pg_global_open(c, &e) != 0) {
                pg_conn_fatal(c, &e);
                return;
            }
        }
        c->role_flags = flags;
        c->role_ok = found > 0 && c->verifier[0] != 0;
    }
    if (!c->role_ok) { /* run the exchange anyway: the answer must not tell who exists */
        uint8_t secret[32];
        pg_ep_secret(c->ep, secret, sizeof(secret));
        pg_scram_mock(secret, sizeof(secret), c->user, c->verifier, sizeof(c->verifier));
    }
    if (c->info.auth == DP_PG_AUTH_PASSWORD) {
        pg_send_auth(&c->out, 3, NULL, 0);
        c->state = CS_AUTH_PASS;
    } else {
        pg_send_auth(&c->out, 10, "SCRAM-SHA-256\0", 15);
        c->state = CS_AUTH_SASL;
    }
    pg_conn_start_timer(c, PG_TIMER_AUTH, PG_AUTH_TIMEOUT);
}

void pg_conn_startup(struct dp_pgconn *c, const struct pg_msg *m)
{
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    uint32_t code = (uint32_t)pg_get_i32(&r);
    if (code == PG_SSL_REQUEST && m->len == 4) {
        ssl_request(c);
        return;
    }
    if (code == PG_GSSENC_REQUEST && m->len == 4) {
        cmk_buf_append(&c->out, "N", 1);
        return;
    }
    if (code == PG_CANCEL_REQUEST && m->len == 12) {
        int32_t pid = pg_get_i32(&r), key = pg_get_i32(&r);
        c->state = CS_CLOSED;
        c->tp->close(c);
        pg_ep_cancel(c->ep, pid, key);
        return;
    }
    if (code >> 16 != 3) {
        char v[32];
        snprintf(v, sizeof(v), "%u.%u", code >> 16, code & 0xffff);
        fatal(c, "0A000", "unsupported frontend protocol %s: server supports 3.0 to 3.0", v);
        return;
    }
    char **kv = cmk_xcalloc(1, sizeof(char *)), **unknown = NULL;
    size_t n = 0, nunknown = 0;
    const char *user = NULL, *database = NULL, *options = NULL;
    int replication = 0;
    for (;;) {
        const char *k = pg_get_str(&r);
        if (k == NULL || k[0] == 0)
            break;
        const char *v = pg_get_str(&r);
        if (v == NULL)
            break;
        if (strncmp(k, "_pq_.", 5) == 0) {
            unknown = cmk_xrealloc(unknown, (nunknown + 1) * sizeof(char *));
            unknown[nunknown++] = cmk_xstrdup(k);
            continue;
        }
        kv = cmk_xrealloc(kv, (n + 3) * sizeof(char *));
        kv[n++] = cmk_xstrdup(k);
        kv[n++] = cmk_xstrdup(v);
        kv[n] = NULL;
        if (strcmp(k, "user") == 0)
            user = kv[n - 1];
        else if (strcmp(k, "database") == 0)
            database = kv[n - 1];
        else if (strcmp(k, "options") == 0)
            options = kv[n - 1];
        else if (strcmp(k, "replication") == 0 && strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
            replication = 1;
    }
    if (options)
        parse_options(options, &kv, &n);
    c->startup = kv;
    if ((code & 0xffff) != 0 || nunknown)
        negotiate_version(c, unknown, nunknown);
    for (size_t i = 0; i < nunknown; i++)
        free(unknown[i]);
    free(unknown);
    if (r.bad) {
        fatal(c, "08P01", "invalid startup packet layout%s", "");
        return;
    }
    if (user == NULL || user[0] == 0) {
        fatal(c, "28000", "no PostgreSQL user name specified in startup packet%s", "");
        return;
    }
    if (replication) {
        fatal(c, "0A000", "replication connections are not supported by this server%s", "");
        return;
    }
    snprintf(c->user, sizeof(c->user), "%s", user);
    if (route(c) != 0)
        return;
    snprintf(c->database, sizeof(c->database), "%s", database && database[0] ? database : c->user);
    struct pg_error e;
    if (pg_ep_attach(c, &e) != 0) {
        pg_conn_fatal(c, &e);
        return;
    }
    if (c->info.require_tls && !c->tls) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", no "
                 "encryption",
                 c->peer[0] ? c->peer : "local", c->user, c->database);
        fatal(c, "28000", "%s", msg);
        return;
    }
    begin_auth(c);
}

/* ---- authentication ---- */

static void login(struct dp_pgconn *c)
{
    pg_conn_stop_timer(c);
    pg_scram_free(c->scram);
    c->scram = NULL;
    OPENSSL_cleanse(c->verifier, sizeof(c->verifier));
    if (!(c->role_flags & PG_ROLE_LOGIN)) {
        fatal(c, "28000", "role \"%s\" is not permitted to log in", c->user);
        return;
    }
    int exists = pg_global_database_exists(c, c->database);
    if (exists <= 0) {
        struct pg_error e;
        if (exists < 0 && pg_global_open(c, &e) != 0)
            pg_conn_fatal(c, &e);
        else
            fatal(c, "3D000", "database \"%s\" does not exist", c->database);
        return;
    }
    const struct dp_pg_backend *be = pg_ep_backend(c->ep);
    struct cmk_err err;
    cmk_err_clear(&err);
    int rc = be->open_db(be->data, c->info.handle, c->info.dir, c->database,
                         strcmp(c->database, "postgres") == 0, c->info.read_only, &c->db, &err);
    if (rc != 0 || c->db == NULL) {
        if (c->db)
            sqlite3_close_v2(c->db);
        c->db = NULL;
        if (rc == CMK_ENOTFOUND)
            fatal(c, "3D000", "database \"%s\" does not exist", c->database);
        else
            fatal(c, "57P03", "%s", err.message[0] ? err.message : "the database cannot be opened");
        return;
    }
    if (pg_func_install(c, c->db) != SQLITE_OK) {
        fatal(c, "XX000", "could not prepare the session: %s", sqlite3_errmsg(c->db));
        return;
    }
    pg_exec_internal(c, c->db, "PRAGMA foreign_keys = ON");
    pg_send_auth(&c->out, 0, NULL, 0);
    pg_settings_init(c, (const char *const *)c->startup);
    pg_conn_free_startup(c);
    c->state = CS_READY;
    c->txn = TXN_IDLE;
    c->txn_read_only = c->info.read_only;
    pg_settings_report(c);
    pg_send_backend_key(&c->out, c->pid, c->secret);
    pg_send_ready(&c->out, 'I');
    cmk_debug("pgwire", "login server=%s user=%s database=%s pid=%d tls=%d", c->info.name, c->user,
              c->database, c->pid, c->tls);
}

static void auth_failed(struct dp_pgconn *c)
{
    fatal(c, "28P01", "password authentication failed for user \"%s\"", c->user);
}

void pg_conn_auth_message(struct dp_pgconn *c, const struct pg_msg *m)
{
    if (m->type != 'p') {
        char t[8];
        snprintf(t, sizeof(t), "%c", m->type);
        fatal(c, "08P01", "expected password response, got message type %s", t);
        return;
    }
    struct pg_reader r;
    pg_reader_init(&r, m->data, m->len);
    struct cmk_buf out;
    cmk_buf_init(&out);
    if (c->state == CS_AUTH_PASS) {
        const char *pw = pg_get_str(&r);
        if (pw == NULL) {
            fatal(c, "08P01", "invalid password packet%s", "");
        } else if (c->role_ok && dp_pg_scram_check_password(c->verifier, pw)) {
            login(c);
        } else {
            auth_failed(c);
        }
        OPENSSL_cleanse((void *)m->data, m->len);
    } else if (c->state == CS_AUTH_SASL) {
        const char *mech = pg_get_str(&r);
        int32_t len = pg_get_i32(&r);
        const uint8_t *data = len > 0 ? pg_get_bytes(&r, (size_t)len) : NULL;
        if (r.bad || mech == NULL || strcmp(mech, "SCRAM-SHA-256") != 0) {
            fatal(c, "08P01", "client selected an invalid SASL authentication mechanism%s", "");
        } else {
            c->scram = pg_scram_new(c->verifier, c->user);
            int rc =
                pg_scram_first(c->scram, (const char *)data, data ? (size_t)len : 0, NULL, &out);
            if (rc == CMK_EINVAL) {
                fatal(c, "08P01", "channel binding is not supported by this server%s", "");
            } else if (rc != 0) {
                fatal(c, "08P01", "malformed SCRAM message%s", "");
            } else {
                pg_send_auth(&c->out, 11, out.data, out.len);
                c->state = CS_AUTH_SASL2;
            }
        }
    } else {
        int rc = pg_scram_final(c->scram, (const char *)m->data, m->len, &out);
        if (rc == CMK_EPARSE) {
            fatal(c, "08P01", "malformed SCRAM message%s", "");
        } else if (rc != 0 || !c->role_ok) {
            auth_failed(c);
        } else {
            pg_send_auth(&c->out, 12, out.data, out.len);
            login(c);
        }
    }
    cmk_buf_close(&out);
}
