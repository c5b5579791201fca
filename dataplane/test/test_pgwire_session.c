/* test_pgwire_session.c: whole sessions through the endpoint's in-process door (pipes), with a
 * backend of plain SQLite files in a temporary directory and a virtual clock. It checks the
 * bytes a client receives: login with cleartext and SCRAM-SHA-256 (client side computed here),
 * refusals (57P03, counted), terminate (57P01), multi-statement queries and their implicit
 * transaction, failed transactions (25P02), the extended protocol with parameters, row limits
 * and error recovery at Sync, read-only sessions (25006), CREATE/DROP DATABASE, roles created
 * with SQL, a lock wait resolved by COMMIT, and CancelRequest interrupting pg_sleep(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/pgwire_int.h"

struct fixture {
    char dir[64];
    struct cmk_clock clock;
    struct dp_pgwire *ep;
    char verifier[DP_PG_VERIFIER_MAX];
    int ready;
    int auth;
};

struct client {
    struct fixture *f;
    struct dp_pgconn *c;
    struct cmk_buf in; /* what the server wrote */
    int closed;
    int32_t pid, key;
};

/* ---- the backend ---- */

static int resolve(void *data, const char *name, int port, struct dp_pg_server *out,
                   struct cmk_err *err)
{
    struct fixture *f = data;
    if (strcmp(name, "main") != 0 && strcmp(name, "ro") != 0)
        return CMK_ENOTFOUND;
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->ready = f->ready;
    snprintf(
        out->message, sizeof(out->message),
        "the server's customer-managed key is not accessible: https://v.vault.azure.net/keys/k");
    snprintf(out->dir, sizeof(out->dir), "%s", f->dir);
    snprintf(out->admin_user, sizeof(out->admin_user), "admin");
    snprintf(out->admin_verifier, sizeof(out->admin_verifier), "%s", f->verifier);
    out->read_only = strcmp(name, "ro") == 0;
    out->auth = f->auth;
    return 0;
}

static int open_db(void *data, void *handle, const char *dir, const char *dbname, int create,
                   int read_only, sqlite3 **out, struct cmk_err *err)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s.db", dir, dbname);
    if (!create && stat(path, &st) != 0)
        return CMK_ENOTFOUND;
    int flags = read_only ? SQLITE_OPEN_READONLY
                          : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, out, flags, NULL) != SQLITE_OK)
        return CMK_EIO;
    if (!read_only)
        sqlite3_exec(*out, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    return 0;
}

static int drop_db(void *data, void *handle, const char *dir, const char *dbname,
                   struct cmk_err *err)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.db", dir, dbname);
    unlink(path);
    strcat(path, "-wal");
    unlink(path);
    path[strlen(path) - 4] = 0;
    strcat(path, "-shm");
    unlink(path);
    return 0;
}

static const struct dp_pg_backend backend_tmpl = {
    .version = DP_PG_BACKEND_VERSION, .resolve = resolve, .open_db = open_db, .drop_db = drop_db};

static struct dp_pg_backend backend;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgwire-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(cmk_clock_init(&f->clock, NULL, CMK_CLOCK_VIRTUAL, 1767225600000LL, 0), 0);
    assert_int_equal(dp_pg_scram_verifier("secret", 64, f->verifier, sizeof(f->verifier)), 0);
    f->ready = 1;
    f->auth = DP_PG_AUTH_PASSWORD;
    backend = backend_tmpl;
    backend.data = f;
    struct dp_pgwire_config cfg = {.clock = &f->clock, .backend = &backend};
    struct cmk_err err;
    assert_int_equal(dp_pgwire_new(&f->ep, &cfg, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dp_pgwire_free(f->ep);
    cmk_clock_close(&f->clock);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* ---- a tiny client ---- */

static void on_write(void *data, const void *bytes, size_t n)
{
    struct client *cl = data;
    cmk_buf_append(&cl->in, bytes, n);
}

static void on_close(void *data)
{
    ((struct client *)data)->closed = 1;
}

static const struct dp_pgwire_pipe_ops ops = {on_write, on_close};

static void run_all(struct fixture *f)
{
    for (int i = 0; i < 100 && dp_pgwire_run_deferred(f->ep) > 0; i++)
        ;
}

static void send_raw(struct client *cl, const struct cmk_buf *b)
{
    dp_pgwire_pipe_input(cl->c, b->data, b->len);
    run_all(cl->f);
}

static void send_msg(struct client *cl, char type, const void *body, size_t n)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    size_t at = pg_msg_begin(&b, type);
    cmk_buf_append(&b, body, n);
    pg_msg_end(&b, at);
    send_raw(cl, &b);
    cmk_buf_close(&b);
}

static void query(struct client *cl, const char *sql)
{
    cmk_buf_reset(&cl->in);
    send_msg(cl, 'Q', sql, strlen(sql) + 1);
}

static struct client *connect_as(struct fixture *f, const char *server, const char *user,
                                 const char *db)
{
    struct client *cl = calloc(1, sizeof(*cl));
    cl->f = f;
    cmk_buf_init(&cl->in);
    cl->c = dp_pgwire_pipe_open(f->ep, server, &ops, cl);
    struct cmk_buf b;
    cmk_buf_init(&b);
    size_t at = pg_msg_begin(&b, 0);
    pg_put_i32(&b, PG_PROTOCOL_3);
    pg_put_str(&b, "user");
    pg_put_str(&b, user);
    pg_put_str(&b, "database");
    pg_put_str(&b, db);
    pg_put_str(&b, "application_name");
    pg_put_str(&b, "unit");
    cmk_buf_append(&b, "", 1);
    pg_msg_end(&b, at);
    send_raw(cl, &b);
    cmk_buf_close(&b);
    return cl;
}

static void disconnect(struct client *cl)
{
    dp_pgwire_pipe_close(cl->c);
    cmk_buf_close(&cl->in);
    free(cl);
}

/* Walk the server's messages: the n-th message of type t (n from 0), or NULL. */
static const uint8_t *find(const struct cmk_buf *b, char t, int n, size_t *len)
{
    size_t i = 0;
    while (i + 5 <= b->len) {
        const uint8_t *p = (const uint8_t *)b->data + i;
        size_t l = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (p[0] == t && n-- == 0) {
            if (len)
                *len = l - 4;
            return p + 5;
        }
        i += 1 + l;
    }
    return NULL;
}

static int count(const struct cmk_buf *b, char t)
{
    int n = 0;
    while (find(b, t, n, NULL))
        n++;
    return n;
}

/* The SQLSTATE of the first ErrorResponse, or "". */
static const char *sqlstate(const struct cmk_buf *b)
{
    static char code[6];
    size_t len;
    const uint8_t *p = find(b, 'E', 0, &len);
    code[0] = 0;
    for (size_t i = 0; p && i < len && p[i];) {
        const char *v = (const char *)p + i + 1;
        if (p[i] == 'C')
            snprintf(code, sizeof(code), "%s", v);
        i += strlen(v) + 2;
    }
    return code;
}

static int has_text(const struct cmk_buf *b, const char *s)
{
    return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static char ready_status(const struct cmk_buf *b)
{
    int n = count(b, 'Z');
    const uint8_t *p = n ? find(b, 'Z', n - 1, NULL) : NULL;
    return p ? (char)p[0] : 0;
}

/* Field col of the n-th DataRow as text ("NULL" for null). */
static const char *field(const struct cmk_buf *b, int n, int col)
{
    static char out[256];
    const uint8_t *p = find(b, 'D', n, NULL);
    if (p == NULL)
        return "<no row>";
    p += 2;
    for (int i = 0;; i++) {
        int32_t l =
            (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        p += 4;
        if (i == col) {
            if (l < 0)
                return "NULL";
            snprintf(out, sizeof(out), "%.*s", l, (const char *)p);
            return out;
        }
        if (l > 0)
            p += l;
    }
}

static const char *tag(const struct cmk_buf *b, int n)
{
    const uint8_t *p = find(b, 'C', n, NULL);
    return p ? (const char *)p : "<no tag>";
}

static void password(struct client *cl, const char *pw)
{
    cmk_buf_reset(&cl->in);
    send_msg(cl, 'p', pw, strlen(pw) + 1);
    const uint8_t *k = find(&cl->in, 'K', 0, NULL);
    if (k) {
        cl->pid =
            (int32_t)((uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 | (uint32_t)k[2] << 8 | k[3]);
        memcpy(&cl->key, k + 4, 4);
    }
}

static struct client *login(struct fixture *f, const char *server, const char *user, const char *pw,
                            const char *db)
{
    struct client *cl = connect_as(f, server, user, db);
    password(cl, pw);
    assert_int_equal(ready_status(&cl->in), 'I');
    return cl;
}

/* ---- tests ---- */

static void test_login_password(void **state)
{
    struct fixture *f = *state;
    struct client *cl = connect_as(f, "main", "admin", "postgres");
    size_t len;
    const uint8_t *r = find(&cl->in, 'R', 0, &len);
    assert_non_null(r);
    assert_int_equal(r[3], 3); /* AuthenticationCleartextPassword */
    password(cl, "secret");
    assert_non_null(find(&cl->in, 'R', 0, NULL));
    assert_true(has_text(&cl->in, "server_version\0" DP_PG_SERVER_VERSION));
    assert_true(has_text(&cl->in, "integer_datetimes\0on"));
    assert_true(has_text(&cl->in, "application_name\0unit"));
    assert_non_null(find(&cl->in, 'K', 0, NULL));
    assert_int_equal(ready_status(&cl->in), 'I');
    disconnect(cl);

    cl = connect_as(f, "main", "admin", "postgres");
    password(cl, "wrong");
    assert_string_equal(sqlstate(&cl->in), "28P01");
    assert_true(has_text(&cl->in, "FATAL"));
    assert_true(cl->closed);
    disconnect(cl);

    cl = connect_as(f, "main", "nobody", "postgres");
    password(cl, "secret");
    assert_string_equal(sqlstate(&cl->in), "28P01");
    disconnect(cl);

    cl = connect_as(f, "main", "admin", "nosuchdb");
    password(cl, "secret");
    assert_string_equal(sqlstate(&cl->in), "3D000");
    disconnect(cl);

    cl = connect_as(f, "nosuchserver", "admin", "postgres");
    assert_string_equal(sqlstate(&cl->in), "08004");
    disconnect(cl);
}

static void hmac256(const void *k, size_t kn, const void *m, size_t mn, uint8_t out[32])
{
    unsigned int l = 32;
    HMAC(EVP_sha256(), k, (int)kn, m, mn, out, &l);
}

static void test_login_scram(void **state)
{
    struct fixture *f = *state;
    f->auth = DP_PG_AUTH_SCRAM;
    struct client *cl = connect_as(f, "main", "admin", "postgres");
    size_t len;
    const uint8_t *r = find(&cl->in, 'R', 0, &len);
    assert_int_equal(r[3], 10);
    assert_memory_equal(r + 4, "SCRAM-SHA-256\0", 14);
    const char *bare = "n=,r=clientnonce123";
    struct cmk_buf b;
    cmk_buf_init(&b);
    pg_put_str(&b, "SCRAM-SHA-256");
    pg_put_i32(&b, (int32_t)(strlen(bare) + 3));
    cmk_buf_printf(&b, "n,,%s", bare);
    cmk_buf_reset(&cl->in);
    send_msg(cl, 'p', b.data, b.len);
    r = find(&cl->in, 'R', 0, &len);
    assert_int_equal(r[3], 11);
    char server_first[256];
    snprintf(server_first, sizeof(server_first), "%.*s", (int)len - 4, (const char *)r + 4);
    char nonce[128], salt64[64];
    int iter;
    assert_int_equal(sscanf(server_first, "r=%127[^,],s=%63[^,],i=%d", nonce, salt64, &iter), 3);
    assert_int_equal(strncmp(nonce, "clientnonce123", 14), 0);
    uint8_t salt[32], salted[32], ckey[32], stored[32], sig[32], proof[32];
    int sl = pg_b64_decode(salt64, strlen(salt64), salt, sizeof(salt));
    PKCS5_PBKDF2_HMAC("secret", 6, salt, sl, iter, EVP_sha256(), 32, salted);
    hmac256(salted, 32, "Client Key", 10, ckey);
    unsigned int dl = 32;
    EVP_Digest(ckey, 32, stored, &dl, EVP_sha256(), NULL);
    char final_wo[256], auth[768], proof64[64];
    snprintf(final_wo, sizeof(final_wo), "c=biws,r=%s", nonce);
    snprintf(auth, sizeof(auth), "%s,%s,%s", bare, server_first, final_wo);
    hmac256(stored, 32, auth, strlen(auth), sig);
    for (int i = 0; i < 32; i++)
        proof[i] = ckey[i] ^ sig[i];
    pg_b64_encode(proof, 32, proof64, sizeof(proof64));
    cmk_buf_reset(&b);
    cmk_buf_printf(&b, "%s,p=%s", final_wo, proof64);
    cmk_buf_reset(&cl->in);
    send_msg(cl, 'p', b.data, b.len);
    r = find(&cl->in, 'R', 0, &len);
    assert_int_equal(r[3], 12);
    assert_int_equal(strncmp((const char *)r + 4, "v=", 2), 0);
    r = find(&cl->in, 'R', 1, &len);
    assert_int_equal(r[3], 0);
    assert_int_equal(ready_status(&cl->in), 'I');
    cmk_buf_close(&b);
    disconnect(cl);
    f->auth = DP_PG_AUTH_PASSWORD;
}

static void test_refused_and_terminated(void **state)
{
    struct fixture *f = *state;
    struct client *a = login(f, "main", "admin", "secret", "postgres");
    assert_int_equal(dp_pgwire_sessions(f->ep, "main"), 1);
    f->ready = 0;
    struct client *b = connect_as(f, "main", "admin", "postgres");
    assert_string_equal(sqlstate(&b->in), "57P03");
    assert_true(has_text(&b->in, "customer-managed key is not accessible"));
    assert_true(b->closed);
    assert_int_equal(dp_pgwire_denied(f->ep, "main"), 1);
    disconnect(b);
    cmk_buf_reset(&a->in);
    assert_int_equal(dp_pgwire_terminate(f->ep, "main", NULL, NULL), 1);
    assert_string_equal(sqlstate(&a->in), "57P01");
    assert_true(has_text(&a->in, "terminating connection due to administrator command"));
    assert_true(a->closed);
    assert_int_equal(dp_pgwire_sessions(f->ep, "main"), 0);
    disconnect(a);
    f->ready = 1;
}

static void test_simple_query(void **state)
{
    struct fixture *f = *state;
    struct client *cl = login(f, "main", "admin", "secret", "postgres");
    query(cl, "create table t(a int primary key, b text); insert into t values (1, 'x'), (2, NULL);"
              " select a, b from t order by a");
    assert_string_equal(tag(&cl->in, 0), "CREATE TABLE");
    assert_string_equal(tag(&cl->in, 1), "INSERT 0 2");
    assert_string_equal(tag(&cl->in, 2), "SELECT 2");
    assert_string_equal(field(&cl->in, 0, 1), "x");
    assert_string_equal(field(&cl->in, 1, 1), "NULL");
    assert_int_equal(ready_status(&cl->in), 'I');
    /* several statements outside a block are one transaction */
    query(cl, "insert into t values (3, 'y'); select * from nosuch");
    assert_string_equal(sqlstate(&cl->in), "42P01");
    query(cl, "select count(*) from t");
    assert_string_equal(field(&cl->in, 0, 0), "2");
    /* a failed block refuses everything until ROLLBACK */
    query(cl, "begin");
    assert_int_equal(ready_status(&cl->in), 'T');
    query(cl, "insert into t values (1, 'dup')");
    assert_string_equal(sqlstate(&cl->in), "23505");
    assert_int_equal(ready_status(&cl->in), 'E');
    query(cl, "select 1");
    assert_string_equal(sqlstate(&cl->in), "25P02");
    query(cl, "commit");
    assert_string_equal(tag(&cl->in, 0), "ROLLBACK");
    assert_int_equal(ready_status(&cl->in), 'I');
    query(cl, "");
    assert_non_null(find(&cl->in, 'I', 0, NULL));
    query(cl, "update t set b = 'z' where a >= 1");
    assert_string_equal(tag(&cl->in, 0), "UPDATE 2");
    query(cl, "show server_version");
    assert_string_equal(field(&cl->in, 0, 0), DP_PG_SERVER_VERSION);
    query(cl, "select current_database(), current_user, 1 = 1");
    assert_string_equal(field(&cl->in, 0, 0), "postgres");
    assert_string_equal(field(&cl->in, 0, 1), "admin");
    assert_string_equal(field(&cl->in, 0, 2), "t");
    query(cl, "attach 'x.db' as x");
    assert_string_equal(sqlstate(&cl->in), "42501");
    disconnect(cl);
}

static void put_param(struct cmk_buf *b, const char *v)
{
    pg_put_i32(b, (int32_t)strlen(v));
    cmk_buf_puts(b, v);
}

static void test_extended(void **state)
{
    struct fixture *f = *state;
    struct client *cl = login(f, "main", "admin", "secret", "postgres");
    query(cl, "create table e(a int primary key, b text); insert into e values (1,'one'),"
              " (2,'two'), (3,'three')");
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_reset(&cl->in);
    /* Parse / Bind / Describe portal / Execute / Sync, as node-postgres sends them */
    size_t at = pg_msg_begin(&b, 'P');
    pg_put_str(&b, "");
    pg_put_str(&b, "select a + $1, b from e where a <= $2 order by a");
    pg_put_i16(&b, 2);
    pg_put_i32(&b, PG_OID_INT4);
    pg_put_i32(&b, 0);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'B');
    pg_put_str(&b, "");
    pg_put_str(&b, "");
    pg_put_i16(&b, 0);
    pg_put_i16(&b, 2);
    put_param(&b, "10");
    put_param(&b, "2");
    pg_put_i16(&b, 0);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'D');
    cmk_buf_append(&b, "P", 2);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'E');
    pg_put_str(&b, "");
    pg_put_i32(&b, 1);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'E');
    pg_put_str(&b, "");
    pg_put_i32(&b, 0);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'S');
    pg_msg_end(&b, at);
    send_raw(cl, &b);
    assert_non_null(find(&cl->in, '1', 0, NULL));
    assert_non_null(find(&cl->in, '2', 0, NULL));
    assert_non_null(find(&cl->in, 'T', 0, NULL));
    assert_string_equal(field(&cl->in, 0, 0), "11");
    assert_non_null(find(&cl->in, 's', 0, NULL)); /* PortalSuspended after one row */
    assert_string_equal(field(&cl->in, 1, 1), "two");
    assert_string_equal(tag(&cl->in, 0), "SELECT 2");
    assert_int_equal(ready_status(&cl->in), 'I');

    /* an error skips everything up to Sync */
    cmk_buf_reset(&b);
    cmk_buf_reset(&cl->in);
    at = pg_msg_begin(&b, 'P');
    pg_put_str(&b, "named");
    pg_put_str(&b, "select b from e where a = $1");
    pg_put_i16(&b, 1);
    pg_put_i32(&b, PG_OID_INT8);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'B');
    pg_put_str(&b, "");
    pg_put_str(&b, "named");
    pg_put_i16(&b, 0);
    pg_put_i16(&b, 1);
    put_param(&b, "not a number");
    pg_put_i16(&b, 0);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'E');
    pg_put_str(&b, "");
    pg_put_i32(&b, 0);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'S');
    pg_msg_end(&b, at);
    send_raw(cl, &b);
    assert_string_equal(sqlstate(&cl->in), "22P02");
    assert_int_equal(count(&cl->in, 'D'), 0);
    assert_int_equal(count(&cl->in, 'Z'), 1);

    /* the named statement stays: bind it again, binary result */
    cmk_buf_reset(&b);
    cmk_buf_reset(&cl->in);
    at = pg_msg_begin(&b, 'B');
    pg_put_str(&b, "p1");
    pg_put_str(&b, "named");
    pg_put_i16(&b, 0);
    pg_put_i16(&b, 1);
    put_param(&b, "3");
    pg_put_i16(&b, 0);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'E');
    pg_put_str(&b, "p1");
    pg_put_i32(&b, 0);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 'S');
    pg_msg_end(&b, at);
    send_raw(cl, &b);
    assert_string_equal(field(&cl->in, 0, 0), "three");
    assert_string_equal(tag(&cl->in, 0), "SELECT 1");
    cmk_buf_close(&b);
    disconnect(cl);
}

static void test_read_only(void **state)
{
    struct fixture *f = *state;
    struct client *w = login(f, "main", "admin", "secret", "postgres");
    query(w, "create table r(a int)");
    disconnect(w);
    struct client *cl = login(f, "ro", "admin", "secret", "postgres");
    assert_true(has_text(&cl->in, "default_transaction_read_only\0on"));
    query(cl, "insert into r values (1)");
    assert_string_equal(sqlstate(&cl->in), "25006");
    query(cl, "select count(*) from r");
    assert_string_equal(field(&cl->in, 0, 0), "0");
    query(cl, "create database x");
    assert_string_equal(sqlstate(&cl->in), "25006");
    disconnect(cl);
}

static void test_databases_and_roles(void **state)
{
    struct fixture *f = *state;
    struct client *cl = login(f, "main", "admin", "secret", "postgres");
    query(cl, "create database shop");
    assert_string_equal(tag(&cl->in, 0), "CREATE DATABASE");
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/shop.db", f->dir);
    assert_int_equal(stat(path, &st), 0);
    query(cl, "create database shop");
    assert_string_equal(sqlstate(&cl->in), "42P04");
    query(cl, "create role app login password 'apppw'");
    assert_string_equal(tag(&cl->in, 0), "CREATE ROLE");
    query(cl, "select rolname from pg_roles where rolname = 'app'");
    assert_string_equal(field(&cl->in, 0, 0), "app");
    query(cl, "select * from _cmk_roles");
    assert_string_equal(sqlstate(&cl->in), "42501");

    struct client *app = login(f, "main", "app", "apppw", "shop");
    query(app, "create table items(id serial primary key, name text)");
    query(app, "insert into items(name) values ('a') returning id");
    assert_string_equal(field(&app->in, 0, 0), "1");
    query(app, "create role other");
    assert_string_equal(sqlstate(&app->in), "42501");
    query(cl, "drop database shop");
    assert_string_equal(sqlstate(&cl->in), "55006");
    disconnect(app);
    struct client *bad = connect_as(f, "main", "app", "shop");
    password(bad, "nope");
    assert_string_equal(sqlstate(&bad->in), "28P01");
    disconnect(bad);
    query(cl, "drop database shop");
    assert_string_equal(tag(&cl->in, 0), "DROP DATABASE");
    assert_int_not_equal(stat(path, &st), 0);
    query(cl, "drop database if exists shop");
    assert_true(has_text(&cl->in, "does not exist, skipping"));
    query(cl, "drop role app");
    assert_string_equal(tag(&cl->in, 0), "DROP ROLE");
    disconnect(cl);
}

static void test_lock_wait(void **state)
{
    struct fixture *f = *state;
    struct client *a = login(f, "main", "admin", "secret", "postgres");
    struct client *b = login(f, "main", "admin", "secret", "postgres");
    query(a, "create table lw(a int)");
    query(a, "begin; insert into lw values (1)");
    assert_int_equal(ready_status(&a->in), 'T');
    query(b, "insert into lw values (2)");
    assert_int_equal(count(&b->in, 'Z'), 0); /* waits for a's transaction */
    query(a, "commit");
    run_all(f);
    assert_string_equal(tag(&b->in, 0), "INSERT 0 1");
    assert_int_equal(ready_status(&b->in), 'I');
    query(a, "select count(*) from lw");
    assert_string_equal(field(&a->in, 0, 0), "2");
    /* READ COMMITTED: a block that only read sees b's commit when it writes (no 40001) */
    query(a, "begin; select count(*) from lw");
    assert_string_equal(field(&a->in, 0, 0), "2");
    query(b, "insert into lw values (3)");
    assert_string_equal(tag(&b->in, 0), "INSERT 0 1");
    query(a, "insert into lw values (4)");
    assert_string_equal(tag(&a->in, 0), "INSERT 0 1");
    query(a, "commit; select count(*) from lw");
    assert_string_equal(field(&a->in, 0, 0), "4");
    disconnect(a);
    disconnect(b);
}

static void test_cancel_sleep(void **state)
{
    struct fixture *f = *state;
    struct client *a = login(f, "main", "admin", "secret", "postgres");
    query(a, "select pg_sleep(30)");
    assert_int_equal(count(&a->in, 'Z'), 0);
    struct client *c = calloc(1, sizeof(*c));
    c->f = f;
    cmk_buf_init(&c->in);
    c->c = dp_pgwire_pipe_open(f->ep, "", &ops, c);
    struct cmk_buf b;
    cmk_buf_init(&b);
    size_t at = pg_msg_begin(&b, 0);
    pg_put_i32(&b, PG_CANCEL_REQUEST);
    pg_put_i32(&b, a->pid);
    cmk_buf_append(&b, &a->key, 4);
    pg_msg_end(&b, at);
    send_raw(c, &b);
    assert_true(c->closed);
    assert_int_equal(c->in.len, 0);
    assert_string_equal(sqlstate(&a->in), "57014");
    assert_int_equal(ready_status(&a->in), 'I');
    /* a sleep that is not cancelled ends when the clock says so */
    query(a, "select pg_sleep(2)");
    assert_int_equal(count(&a->in, 'Z'), 0);
    cmk_clock_advance(&f->clock, 3 * CMK_SECOND);
    run_all(f);
    assert_int_equal(ready_status(&a->in), 'I');
    assert_string_equal(tag(&a->in, 0), "SELECT 1");
    cmk_buf_close(&b);
    disconnect(c);
    disconnect(a);
}

static void test_startup_requests(void **state)
{
    struct fixture *f = *state;
    struct client *cl = calloc(1, sizeof(*cl));
    cl->f = f;
    cmk_buf_init(&cl->in);
    cl->c = dp_pgwire_pipe_open(f->ep, "main", &ops, cl);
    struct cmk_buf b;
    cmk_buf_init(&b);
    size_t at = pg_msg_begin(&b, 0);
    pg_put_i32(&b, PG_SSL_REQUEST);
    pg_msg_end(&b, at);
    at = pg_msg_begin(&b, 0);
    pg_put_i32(&b, PG_GSSENC_REQUEST);
    pg_msg_end(&b, at);
    send_raw(cl, &b);
    assert_int_equal(cl->in.len, 2);
    assert_memory_equal(cl->in.data, "NN", 2); /* no TLS on a pipe, no GSS anywhere */
    cmk_buf_reset(&b);
    at = pg_msg_begin(&b, 0);
    pg_put_i32(&b, 0x00020000); /* protocol 2 */
    pg_msg_end(&b, at);
    cmk_buf_reset(&cl->in);
    send_raw(cl, &b);
    assert_string_equal(sqlstate(&cl->in), "0A000");
    assert_true(cl->closed);
    cmk_buf_close(&b);
    disconnect(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_scram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_terminated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simple_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_databases_and_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_startup_requests, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
