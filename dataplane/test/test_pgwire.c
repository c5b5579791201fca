/* test_pgwire.c: unit tests of the PostgreSQL endpoint's parts that need no session: message
 * framing and field reading, SCRAM-SHA-256 against RFC 7677's exchange, verifiers, the
 * tokenizer and the dialect translator (what SQLite receives), value formatting, and the
 * authorizer that keeps ATTACH, PRAGMAs, load_extension and the endpoint's own tables away
 * from sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/pgwire_int.h"

/* ---- framing ---- */

static void test_framing(void **state)
{
    uint8_t startup[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}; /* SSLRequest */
    struct pg_msg m;
    assert_int_equal(pg_msg_next(startup, 3, 1, 10000, &m), 0);
    assert_int_equal(pg_msg_next(startup, 8, 1, 10000, &m), 1);
    assert_int_equal(m.type, 0);
    assert_int_equal(m.len, 4);
    assert_int_equal(m.total, 8);
    struct pg_reader r;
    pg_reader_init(&r, m.data, m.len);
    assert_int_equal(pg_get_i32(&r), PG_SSL_REQUEST);
    assert_false(r.bad);

    uint8_t q[] = {'Q', 0, 0, 0, 13, 's', 'e', 'l', 'e', 'c', 't', ' ', '1', 0, 'S'};
    assert_int_equal(pg_msg_next(q, 4, 0, 1 << 20, &m), 0);
    assert_int_equal(pg_msg_next(q, 13, 0, 1 << 20, &m), 0);
    assert_int_equal(pg_msg_next(q, sizeof(q), 0, 1 << 20, &m), 1);
    assert_int_equal(m.type, 'Q');
    assert_int_equal(m.total, 14);
    pg_reader_init(&r, m.data, m.len);
    assert_string_equal(pg_get_str(&r), "select 1");
    assert_int_equal(pg_reader_left(&r), 0);

    uint8_t bad[] = {'Q', 0, 0, 0, 3};
    assert_int_equal(pg_msg_next(bad, sizeof(bad), 0, 1 << 20, &m), -1);
    uint8_t huge[] = {'Q', 0x7f, 0, 0, 0};
    assert_int_equal(pg_msg_next(huge, sizeof(huge), 0, 1 << 20, &m), -1);
    uint8_t big_startup[] = {0, 1, 0, 0};
    assert_int_equal(pg_msg_next(big_startup, 4, 1, 10000, &m), -1);
}

static void test_reader_bounds(void **state)
{
    struct pg_reader r;
    uint8_t nonul[] = {'a', 'b', 'c'};
    pg_reader_init(&r, nonul, sizeof(nonul));
    assert_null(pg_get_str(&r));
    assert_true(r.bad);
    uint8_t two[] = {0, 1};
    pg_reader_init(&r, two, sizeof(two));
    assert_int_equal(pg_get_i16(&r), 1);
    assert_int_equal(pg_get_i32(&r), 0);
    assert_true(r.bad);
    assert_null(pg_get_bytes(&r, 1));
}

static void test_encoders(void **state)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    pg_send_ready(&b, 'T');
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "Z\0\0\0\5T", 6);
    cmk_buf_reset(&b);
    struct pg_error e;
    pg_error_set(&e, "42P01", "relation \"%s\" does not exist", "x");
    e.position = 15;
    pg_send_error(&b, &e);
    assert_int_equal(b.data[0], 'E');
    assert_non_null(memmem(b.data, b.len, "C42P01", 7));
    assert_non_null(memmem(b.data, b.len, "SERROR", 7));
    assert_non_null(memmem(b.data, b.len, "P15", 4));
    cmk_buf_reset(&b);
    pg_send_notice(&b, "WARNING", "25P01", "there is no transaction in progress");
    assert_int_equal(b.data[0], 'N');
    cmk_buf_close(&b);
}

/* ---- SCRAM ---- */

#define RFC_SALT   "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_PROOF  "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SIG    "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void rfc_verifier(char *v, size_t n)
{
    uint8_t salt[16];
    assert_int_equal(pg_b64_decode(RFC_SALT, strlen(RFC_SALT), salt, sizeof(salt)), 16);
    assert_int_equal(pg_scram_make("pencil", salt, 16, 4096, v, n), 0);
}

static void test_scram_rfc7677(void **state)
{
    char v[DP_PG_VERIFIER_MAX];
    rfc_verifier(v, sizeof(v));
    assert_true(strncmp(v, "SCRAM-SHA-256$4096:" RFC_SALT "$", 44) == 0);
    struct pg_scram *s = pg_scram_new(v, "user");
    struct cmk_buf out;
    cmk_buf_init(&out);
    const char *first = "n,,n=user,r=" RFC_CNONCE;
    assert_int_equal(pg_scram_first(s, first, strlen(first), RFC_SNONCE, &out), 0);
    assert_string_equal(out.data, "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096");
    cmk_buf_reset(&out);
    const char *final = "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=" RFC_PROOF;
    assert_int_equal(pg_scram_final(s, final, strlen(final), &out), 0);
    assert_string_equal(out.data, "v=" RFC_SIG);
    pg_scram_free(s);
    cmk_buf_close(&out);
}

static void test_scram_failures(void **state)
{
    char v[DP_PG_VERIFIER_MAX];
    rfc_verifier(v, sizeof(v));
    struct cmk_buf out;
    cmk_buf_init(&out);
    const char *first = "n,,n=user,r=" RFC_CNONCE;
    /* a wrong proof */
    struct pg_scram *s = pg_scram_new(v, "user");
    assert_int_equal(pg_scram_first(s, first, strlen(first), RFC_SNONCE, &out), 0);
    const char *wrong =
        "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=AAAAZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    assert_int_equal(pg_scram_final(s, wrong, strlen(wrong), &out), CMK_EAUTH);
    pg_scram_free(s);
    /* a nonce the server did not make */
    s = pg_scram_new(v, "user");
    assert_int_equal(pg_scram_first(s, first, strlen(first), RFC_SNONCE, &out), 0);
    const char *nonce = "c=biws,r=" RFC_CNONCE "xx,p=" RFC_PROOF;
    assert_int_equal(pg_scram_final(s, nonce, strlen(nonce), &out), CMK_EPARSE);
    pg_scram_free(s);
    /* channel binding is not offered; garbage is refused */
    s = pg_scram_new(v, "user");
    const char *cb = "p=tls-server-end-point,,n=,r=abc";
    assert_int_equal(pg_scram_first(s, cb, strlen(cb), NULL, &out), CMK_EINVAL);
    assert_int_equal(pg_scram_first(s, "x", 1, NULL, &out), CMK_EPARSE);
    assert_int_equal(pg_scram_first(s, "n,,n=u", 6, NULL, &out), CMK_EPARSE);
    pg_scram_free(s);
    /* a mock verifier (unknown user) never authenticates, but the exchange runs */
    char mock[DP_PG_VERIFIER_MAX];
    uint8_t secret[32] = {1, 2, 3};
    pg_scram_mock(secret, sizeof(secret), "nobody", mock, sizeof(mock));
    s = pg_scram_new(mock, "nobody");
    cmk_buf_reset(&out);
    assert_int_equal(pg_scram_first(s, first, strlen(first), NULL, &out), 0);
    assert_non_null(strstr(out.data, ",i=4096"));
    pg_scram_free(s);
    cmk_buf_close(&out);
}

static void test_verifiers(void **state)
{
    char v[DP_PG_VERIFIER_MAX], w[DP_PG_VERIFIER_MAX];
    assert_int_equal(dp_pg_scram_verifier("s3cret!", 0, v, sizeof(v)), 0);
    assert_int_equal(dp_pg_scram_verifier("s3cret!", 0, w, sizeof(w)), 0);
    assert_string_not_equal(v, w); /* salted */
    assert_true(dp_pg_scram_check_password(v, "s3cret!"));
    assert_false(dp_pg_scram_check_password(v, "s3cret"));
    assert_false(dp_pg_scram_check_password("md5abc", "s3cret!"));
    assert_false(dp_pg_scram_check_password("", "s3cret!"));
    assert_null(strstr(v, "s3cret"));
}

/* ---- tokenizer and translator ---- */

static void plan_of(const char *sql, struct pg_plan *p)
{
    struct pg_lex lx;
    struct pg_error e;
    assert_int_equal(pg_lex_run(&lx, sql, strlen(sql), &e), 0);
    pg_plan_init(p);
    pg_plan_build(p, &lx, 0, pg_lex_stmt_end(&lx, 0));
    pg_lex_close(&lx);
}

/* SQLite text of sql without blanks (the tests compare shapes, not spacing). */
static char *xlate(const char *sql)
{
    struct pg_plan p;
    plan_of(sql, &p);
    if (p.kind != PLAN_SQL) {
        pg_plan_close(&p);
        return strdup("<not sql>");
    }
    char *out = strdup(p.sql.data), *o = out;
    for (const char *s = p.sql.data; *s; s++)
        if (*s != ' ')
            *o++ = *s;
    *o = 0;
    pg_plan_close(&p);
    return out;
}

static void expect_xlate(const char *sql, const char *want_spaced)
{
    char *got = xlate(sql), want[1024], *o = want;
    for (const char *s = want_spaced; *s && o < want + sizeof(want) - 1; s++)
        if (*s != ' ')
            *o++ = *s;
    *o = 0;
    if (strcasestr(got, want) == NULL)
        fail_msg("translating %s\n  got:  %s\n  want: %s", sql, got, want);
    free(got);
}

static void test_lexer(void **state)
{
    struct pg_lex lx;
    struct pg_error e;
    const char *sql = "select $1, E'a\\nb', $$x'y$$, \"Q\"\"x\", a=-1 /* c /* nested */ */ -- end";
    assert_int_equal(pg_lex_run(&lx, sql, strlen(sql), &e), 0);
    assert_int_equal(lx.t[1].kind, TK_PARAM);
    assert_int_equal(lx.t[3].kind, TK_STRING);
    struct cmk_buf b;
    cmk_buf_init(&b);
    pg_tok_string(&lx, &lx.t[3], &b);
    assert_string_equal(b.data, "a\nb");
    cmk_buf_reset(&b);
    pg_tok_string(&lx, &lx.t[5], &b);
    assert_string_equal(b.data, "x'y");
    char name[16];
    pg_tok_name(&lx, &lx.t[7], name, sizeof(name));
    assert_string_equal(name, "Q\"x");
    assert_int_equal(lx.t[10].kind, TK_OP); /* "=" then "-" */
    assert_int_equal(lx.t[10].len, 1);
    assert_int_equal(lx.t[11].kind, TK_OP);
    assert_int_equal(lx.t[13].kind, TK_EOF);
    pg_lex_close(&lx);
    cmk_buf_close(&b);
    assert_int_equal(pg_lex_run(&lx, "select 'abc", 11, &e), -1);
    assert_string_equal(e.code, "42601");
    assert_int_equal(e.position, 8);
    assert_int_equal(pg_lex_run(&lx, "select /* x", 11, &e), -1);
    pg_lex_close(&lx);
}

static void test_translate_queries(void **state)
{
    expect_xlate("SELECT abalance FROM accounts WHERE aid = $1",
                 "SELECT abalance FROM accounts WHERE aid = ?1");
    expect_xlate("select count(*) from t", "count(*) AS \"count\"");
    expect_xlate("select 1", "1 AS \"?column?\"");
    expect_xlate("select x::int, '5'::bigint", "CAST( x AS INTEGER ) AS \"x\"");
    expect_xlate("select '5'::bigint", "CAST( '5' AS INTEGER ) AS \"int8\"");
    expect_xlate("select 't'::boolean", "pg_bool( 't' )");
    expect_xlate("select E'a\\tb'", "'a\tb'");
    expect_xlate("select $tag$it's$tag$", "'it''s'");
    expect_xlate("select * from public.t where pg_catalog.lower(a) = 'x'",
                 "select * from t where lower(a) = 'x'");
    expect_xlate("select c.relname from pg_catalog.pg_class c where c.relname "
                 "OPERATOR(pg_catalog.~) '^(a)$' COLLATE pg_catalog.default",
                 "c.relname REGEXP '^(a)$'");
    expect_xlate("select a from t where b ~* 'x' and c !~ 'y' and d ilike 'z%'",
                 "b GLOB 'x' and c NOT REGEXP 'y' and d MATCH 'z%'");
    expect_xlate("select now(), current_timestamp", "now ( ) AS \"current_timestamp\"");
    expect_xlate("select * from t for update", "select * from t");
    expect_xlate("select position('b' in 'abc')", "instr ( 'abc' , 'b' )");
    expect_xlate("select string_agg(a, ',') from t", "group_concat(a, ',')");
    expect_xlate(
        "select array(select rolname from r) as m",
        "( SELECT '{' || coalesce ( group_concat ( rolname , ',' ) , '' ) || '}' from r )");
    expect_xlate("insert into t values (1) returning id, now()", "returning id, now() AS \"now\"");
    expect_xlate("select i from generate_series(1, 3) s(i)",
                 "( SELECT generate_series AS i FROM generate_series (1, 3) ) AS s");
    expect_xlate("select name from (values ('a', 1)) s(name, n)",
                 "( SELECT column1 AS name , column2 AS n FROM ( values ('a', 1)) ) AS s");
    struct pg_plan p;
    plan_of("UPDATE accounts SET abalance = abalance + $1 WHERE aid = $2", &p);
    assert_int_equal(p.kind, PLAN_SQL);
    assert_int_equal(p.nparams, 2);
    assert_string_equal(p.tag, "UPDATE");
    assert_true(p.writes);
    pg_plan_close(&p);
    plan_of("with x as (select 1) insert into t select * from x", &p);
    assert_string_equal(p.tag, "INSERT");
    pg_plan_close(&p);
    plan_of("select 1::nosuchtype", &p);
    assert_int_equal(p.kind, PLAN_ERROR);
    assert_string_equal(p.err.code, "42704");
    pg_plan_close(&p);
}

static void test_translate_ddl(void **state)
{
    expect_xlate(
        "create table t(id serial primary key, n bigserial, ts timestamp with time zone "
        "default now(), a int[], v varchar(20) not null) with (fillfactor=90)",
        "CREATE TABLE t(id INTEGER primary key, n INTEGER NOT NULL DEFAULT ( "
        "pg_serial_next ( 't' , 'n' ) ) , ts timestamptz default ( now() ) , a \"int[]\" , "
        "v varchar (20) not null)");
    expect_xlate("create table t(id bigint generated always as identity, x text)",
                 "id bigint PRIMARY KEY");
    expect_xlate("create unlogged table if not exists t(a int)", "CREATE TABLE IF NOT EXISTS t");
    expect_xlate("create index on t using btree (a, b desc nulls last)",
                 "CREATE INDEX \"t_a_b_idx\" ON t (a, b desc)");
    expect_xlate("alter table t add primary key (aid)",
                 "CREATE UNIQUE INDEX \"t_pkey\" ON t (aid)");
    expect_xlate("drop table if exists a, b cascade",
                 "DROP TABLE IF EXISTS a ; DROP TABLE IF EXISTS b");
    expect_xlate("truncate table a, b", "DELETE FROM a; DELETE FROM b");
    struct pg_plan p;
    plan_of("alter table t alter column a type bigint", &p);
    assert_int_equal(p.kind, PLAN_ERROR);
    assert_string_equal(p.err.code, "0A000");
    pg_plan_close(&p);
    plan_of("create sequence s", &p);
    assert_int_equal(p.kind, PLAN_ERROR);
    pg_plan_close(&p);
}

static void test_translate_commands(void **state)
{
    struct pg_plan p;
    plan_of("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY", &p);
    assert_int_equal(p.kind, PLAN_CMD);
    assert_int_equal(p.cmd, CMD_BEGIN);
    assert_int_equal(p.flags, 1);
    pg_plan_close(&p);
    plan_of("end", &p);
    assert_int_equal(p.cmd, CMD_COMMIT);
    pg_plan_close(&p);
    plan_of("rollback to savepoint s1", &p);
    assert_int_equal(p.cmd, CMD_ROLLBACK_TO);
    assert_string_equal(p.name, "s1");
    pg_plan_close(&p);
    plan_of("SET search_path TO public, \"$user\"", &p);
    assert_int_equal(p.cmd, CMD_SET);
    assert_string_equal(p.name, "search_path");
    assert_string_equal(p.value, "public, \"$user\"");
    pg_plan_close(&p);
    plan_of("set statement_timeout = '5s'", &p);
    assert_string_equal(p.value, "5s");
    pg_plan_close(&p);
    plan_of("show server_version", &p);
    assert_int_equal(p.cmd, CMD_SHOW);
    pg_plan_close(&p);
    plan_of("create user app with login password 'pw' createdb", &p);
    assert_int_equal(p.cmd, CMD_CREATE_ROLE);
    assert_string_equal(p.name, "app");
    assert_string_equal(p.value, "pw");
    assert_int_equal(p.flags, PG_ROLE_LOGIN | PG_ROLE_CREATEDB);
    pg_plan_close(&p);
    plan_of("create database shop", &p);
    assert_int_equal(p.cmd, CMD_CREATE_DATABASE);
    assert_string_equal(p.name, "shop");
    pg_plan_close(&p);
    plan_of("drop database if exists shop with (force)", &p);
    assert_int_equal(p.cmd, CMD_DROP_DATABASE);
    assert_int_equal(p.if_exists, 1);
    assert_int_equal(p.flags, 1);
    pg_plan_close(&p);
    plan_of("vacuum into '/tmp/copy.db'", &p); /* never reaches SQLite's VACUUM INTO */
    assert_int_equal(p.cmd, CMD_NOOP);
    assert_string_equal(p.tag, "VACUUM");
    pg_plan_close(&p);
    plan_of("copy t from stdin", &p);
    assert_int_equal(p.kind, PLAN_ERROR);
    assert_string_equal(p.err.code, "0A000");
    pg_plan_close(&p);
    plan_of("", &p);
    assert_int_equal(p.kind, PLAN_EMPTY);
    pg_plan_close(&p);
}

/* ---- values ---- */

static void test_values(void **state)
{
    char buf[64];
    pg_format_float8(0.1, buf, sizeof(buf));
    assert_string_equal(buf, "0.1");
    pg_format_float8(3.0, buf, sizeof(buf));
    assert_string_equal(buf, "3");
    pg_format_float8(1e20, buf, sizeof(buf));
    assert_string_equal(buf, "1e+20");
    pg_format_float8(1.0 / 3, buf, sizeof(buf));
    assert_string_equal(buf, "0.3333333333333333");
    struct cmk_buf b;
    cmk_buf_init(&b);
    assert_int_equal(pg_bytea_decode("\\x01ff", 6, &b), 0);
    assert_int_equal(b.len, 2);
    assert_int_equal((uint8_t)b.data[1], 0xff);
    cmk_buf_reset(&b);
    assert_int_equal(pg_bytea_decode("\\xz1", 4, &b), -1);
    cmk_buf_close(&b);
    assert_int_equal(pg_type_from_decl("INTEGER"), PG_OID_INT4);
    assert_int_equal(pg_type_from_decl("bigint"), PG_OID_INT8);
    assert_int_equal(pg_type_from_decl("varchar(20)"), PG_OID_VARCHAR);
    assert_int_equal(pg_type_from_decl("double precision"), PG_OID_FLOAT8);
    assert_int_equal(pg_type_from_decl("timestamptz"), PG_OID_TIMESTAMPTZ);
    assert_int_equal(pg_type_from_decl("citext"), 0);
    assert_int_equal(pg_typmod_from_decl("numeric(10,2)"), ((10 << 16) | 2) + 4);
    pg_format_type(PG_OID_VARCHAR, 24, buf, sizeof(buf));
    assert_string_equal(buf, "character varying(20)");
}

static void test_bind_params(void **state)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    struct pg_error e;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "select ?1, typeof(?1)", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(pg_bind_param(st, 1, PG_OID_INT4, 0, (const uint8_t *)"42", 2, &e), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "integer");
    sqlite3_reset(st);
    assert_int_equal(pg_bind_param(st, 1, PG_OID_INT4, 0, (const uint8_t *)"4x", 2, &e), -1);
    assert_string_equal(e.code, "22P02");
    assert_int_equal(pg_bind_param(st, 1, PG_OID_INT2, 0, (const uint8_t *)"99999", 5, &e), -1);
    assert_string_equal(e.code, "22003");
    uint8_t be[4] = {0, 0, 1, 0};
    assert_int_equal(pg_bind_param(st, 1, PG_OID_INT4, 1, be, 4, &e), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 256);
    sqlite3_reset(st);
    assert_int_equal(pg_bind_param(st, 1, PG_OID_INT4, 1, be, 3, &e), -1);
    assert_string_equal(e.code, "22P03");
    assert_int_equal(pg_bind_param(st, 1, PG_OID_BYTEA, 0, (const uint8_t *)"\\x6869", 6, &e), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "blob");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- the authorizer ---- */

static int run(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void test_authorizer(void **state)
{
    struct dp_pgconn *c = calloc(1, sizeof(*c));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    c->db = db;
    assert_int_equal(pg_func_install(c, db), SQLITE_OK);
    c->internal = 1;
    assert_int_equal(run(db, "CREATE TABLE _cmk_roles(name, verifier)"), SQLITE_OK);
    c->internal = 0;
    assert_int_equal(run(db, "CREATE TABLE t(a)"), SQLITE_OK);
    assert_int_equal(run(db, "ATTACH 'file:/tmp/x.db' AS x"), SQLITE_AUTH);
    assert_non_null(strstr(c->denied_what, "ATTACH"));
    assert_int_equal(run(db, "DETACH x"), SQLITE_AUTH);
    assert_int_equal(run(db, "PRAGMA key = 'x'"), SQLITE_AUTH);
    assert_int_equal(run(db, "PRAGMA writable_schema = 1"), SQLITE_AUTH);
    assert_int_equal(run(db, "PRAGMA journal_mode = DELETE"), SQLITE_AUTH);
    assert_int_equal(run(db, "PRAGMA table_info(t)"), SQLITE_OK);
    assert_int_not_equal(run(db, "SELECT load_extension('/tmp/evil.so')"), SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(db), "not authorized"));
    assert_int_equal(run(db, "SELECT * FROM _cmk_roles"), SQLITE_AUTH);
    assert_int_equal(run(db, "DELETE FROM _cmk_roles"), SQLITE_AUTH);
    assert_int_equal(run(db, "CREATE TABLE _cmk_x(a)"), SQLITE_AUTH);
    assert_int_equal(run(db, "CREATE VIRTUAL TABLE d USING dbstat"), SQLITE_AUTH);
    int rc = run(db, "CREATE VIRTUAL TABLE f USING fts5(a)");
    if (rc != SQLITE_OK)
        fail_msg("fts5: %s (%s)", sqlite3_errmsg(db), c->denied_what);
    assert_int_equal(run(db, "BEGIN"), SQLITE_AUTH); /* transactions go through the endpoint */
    assert_int_equal(run(db, "SELECT a FROM t"), SQLITE_OK);
    c->internal = 1;
    assert_int_equal(run(db, "SELECT * FROM _cmk_roles"), SQLITE_OK);
    sqlite3_close(db);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),        cmocka_unit_test(test_reader_bounds),
        cmocka_unit_test(test_encoders),       cmocka_unit_test(test_scram_rfc7677),
        cmocka_unit_test(test_scram_failures), cmocka_unit_test(test_verifiers),
        cmocka_unit_test(test_lexer),          cmocka_unit_test(test_translate_queries),
        cmocka_unit_test(test_translate_ddl),  cmocka_unit_test(test_translate_commands),
        cmocka_unit_test(test_values),         cmocka_unit_test(test_bind_params),
        cmocka_unit_test(test_authorizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
