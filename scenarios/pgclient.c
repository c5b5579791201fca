/* pgclient.c: a small PostgreSQL client (protocol 3.0) for scenarios, speaking to the data
 * plane through its in-process pipe (dataplane/pgwire.h): the same bytes psql would send over
 * a socket, so a refused login, a terminated session or a query error is exactly what a real
 * client gets. Startup, cleartext and SCRAM-SHA-256 authentication, the simple query protocol,
 * and the extended protocol (Parse/Bind/Describe/Execute/Sync) for text parameters.
 *
 * The pipe is synchronous: what the server writes arrives in our write callback before
 * dp_pgwire_pipe_input returns; work the endpoint deferred runs with dp_pgwire_run_deferred.
 * Passwords are never recorded.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "dataplane/pgwire.h"
#include "scenarios/runner_int.h"

struct sc_pgconn {
    struct sc_world *w;
    struct dp_pgconn *c;
    struct cmk_buf in;
    int closed; /* the server ended the connection */
    char end_sqlstate[6];
    char end_message[512];
};

static void on_write(void *data, const void *bytes, size_t n)
{
    struct sc_pgconn *pc = data;
    cmk_buf_append(&pc->in, bytes, n);
}

static void on_close(void *data)
{
    struct sc_pgconn *pc = data;
    pc->closed = 1;
}

void sc__pgresult_close(struct sc_pgresult *r)
{
    if (r == NULL)
        return;
    json_decref(r->rows);
    r->rows = NULL;
}

/* ---- message building ---- */

static void put32(struct cmk_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    cmk_buf_append(b, x, 4);
}

static void put16(struct cmk_buf *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    cmk_buf_append(b, x, 2);
}

static void putstr(struct cmk_buf *b, const char *s)
{
    cmk_buf_append(b, s, strlen(s) + 1);
}

/* Frame body as a message of type t (0: the startup message, no type byte). */
static void send_msg(struct sc_pgconn *pc, char t, const struct cmk_buf *body)
{
    struct cmk_buf m;
    cmk_buf_init(&m);
    if (t)
        cmk_buf_append(&m, &t, 1);
    put32(&m, (uint32_t)(body->len + 4));
    cmk_buf_append(&m, body->data, body->len);
    if (!pc->closed)
        dp_pgwire_pipe_input(pc->c, m.data, m.len);
    OPENSSL_cleanse(m.data, m.len);
    cmk_buf_close(&m);
    for (int i = 0; i < 1000 && !pc->closed && dp_pgwire_run_deferred(pc->w->svc.pgwire) > 0; i++)
        ;
}

/* ---- message reading ---- */

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The next complete message from the server: type, body (into out, a view into pc->in valid
 * until the next call) and its length; 0 if none is complete. */
static int next_msg(struct sc_pgconn *pc, size_t *off, char *type, const unsigned char **body,
                    size_t *len)
{
    if (pc->in.len - *off < 5)
        return 0;
    const unsigned char *p = (const unsigned char *)pc->in.data + *off;
    uint32_t n = get32(p + 1);
    if (n < 4 || pc->in.len - *off < 1 + (size_t)n)
        return 0;
    *type = (char)p[0];
    *body = p + 5;
    *len = n - 4;
    *off += 1 + n;
    return 1;
}

static void read_error(const unsigned char *b, size_t n, char *sqlstate, char *msg, size_t mn)
{
    size_t i = 0;
    while (i < n && b[i]) {
        char f = (char)b[i++];
        const char *v = (const char *)b + i;
        size_t l = strnlen(v, n - i);
        if (f == 'C')
            sc__fmt(sqlstate, 6, "%.*s", (int)l, v);
        else if (f == 'M')
            sc__fmt(msg, mn, "%.*s", (int)l, v);
        i += l + 1;
    }
}

/* ---- SCRAM-SHA-256 (RFC 5802, 7677) ---- */

static void hmac256(const void *key, size_t kn, const void *d, size_t dn, unsigned char out[32])
{
    unsigned int ol = 32;
    HMAC(EVP_sha256(), key, (int)kn, d, dn, out, &ol);
}

static int scram_proof(const char *password, const char *client_first_bare,
                       const char *server_first, const char *final_wo_proof, char *proof64,
                       size_t pn)
{
    char salt64[128] = "", nonce[160] = "";
    int iters = 0;
    const char *p = server_first;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > 2 && p[0] == 's' && p[1] == '=')
            sc__fmt(salt64, sizeof(salt64), "%.*s", (int)(l - 2), p + 2);
        else if (l > 2 && p[0] == 'i' && p[1] == '=')
            iters = atoi(p + 2);
        else if (l > 2 && p[0] == 'r' && p[1] == '=')
            sc__fmt(nonce, sizeof(nonce), "%.*s", (int)(l - 2), p + 2);
        p += l + (e ? 1 : 0);
    }
    size_t saltlen = 0;
    unsigned char *salt = cmk_b64_decode(salt64, strlen(salt64), &saltlen);
    if (salt == NULL || iters <= 0 || iters > 1000000)
        return -1;
    unsigned char salted[32], ckey[32], stored[32], sig[32], proof[32];
    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, iters, EVP_sha256(), 32,
                      salted);
    free(salt);
    hmac256(salted, 32, "Client Key", 10, ckey);
    SHA256(ckey, 32, stored);
    struct cmk_buf am;
    cmk_buf_init(&am);
    cmk_buf_printf(&am, "%s,%s,%s", client_first_bare, server_first, final_wo_proof);
    hmac256(stored, 32, am.data, am.len, sig);
    cmk_buf_close(&am);
    for (int i = 0; i < 32; i++)
        proof[i] = ckey[i] ^ sig[i];
    char *enc = cmk_b64_encode(proof, 32, 0);
    sc__fmt(proof64, pn, "%s", enc);
    free(enc);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ckey, sizeof(ckey));
    return 0;
}

/* ---- connect ---- */

static void fill_error(struct sc_pgresult *r, const char *state, const char *msg)
{
    r->ok = 0;
    sc__fmt(r->sqlstate, sizeof(r->sqlstate), "%s", state);
    sc__fmt(r->message, sizeof(r->message), "%s", msg);
}

int sc__pg_connect(struct sc_world *w, const char *server, const char *database, const char *user,
                   const char *password, struct sc_pgconn **out, struct sc_pgresult *res)
{
    *out = NULL;
    memset(res, 0, sizeof(*res));
    res->row_count = -1;
    if (w->svc.pgwire == NULL) {
        fill_error(res, "0A000",
                   "client actions need the data plane's in-process PostgreSQL door, which this "
                   "build of cmksim does not start yet");
        return -1;
    }
    struct sc_pgconn *pc = cmk_xcalloc(1, sizeof(*pc));
    pc->w = w;
    cmk_buf_init(&pc->in);
    static const struct dp_pgwire_pipe_ops ops = {on_write, on_close};
    pc->c = dp_pgwire_pipe_open(w->svc.pgwire, server, &ops, pc);
    w->res->events++;
    struct cmk_buf b;
    cmk_buf_init(&b);
    put32(&b, 196608);
    putstr(&b, "user");
    putstr(&b, user);
    putstr(&b, "database");
    putstr(&b, database);
    putstr(&b, "application_name");
    putstr(&b, "cmksim-scenario");
    cmk_buf_append(&b, "", 1);
    send_msg(pc, 0, &b);
    char cnonce[40], client_first_bare[128] = "", server_first[256] = "";
    cmk_rng_hex(&w->rng, cnonce, 24);
    size_t off = 0;
    int done = 0, rc = 0;
    while (!done) {
        char t;
        const unsigned char *body;
        size_t n;
        if (!next_msg(pc, &off, &t, &body, &n)) {
            if (pc->closed || off >= pc->in.len) {
                if (res->sqlstate[0] == 0)
                    fill_error(res, "08006", "the server closed the connection");
                rc = 1;
                break;
            }
            fill_error(res, "08P01", "incomplete message from the server");
            rc = 1;
            break;
        }
        if (t == 'E') {
            read_error(body, n, res->sqlstate, res->message, sizeof(res->message));
            res->ok = 0;
            rc = 1;
            done = 1;
        } else if (t == 'R' && n >= 4) {
            uint32_t kind = get32(body);
            cmk_buf_reset(&b);
            if (kind == 0) {
                continue;
            } else if (kind == 3) {
                putstr(&b, password);
                send_msg(pc, 'p', &b);
            } else if (kind == 10) {
                sc__fmt(client_first_bare, sizeof(client_first_bare), "n=,r=%s", cnonce);
                char first[160];
                sc__fmt(first, sizeof(first), "n,,%s", client_first_bare);
                putstr(&b, "SCRAM-SHA-256");
                put32(&b, (uint32_t)strlen(first));
                cmk_buf_append(&b, first, strlen(first));
                send_msg(pc, 'p', &b);
            } else if (kind == 11) {
                sc__fmt(server_first, sizeof(server_first), "%.*s", (int)(n - 4), body + 4);
                char sn[200] = "";
                const char *r = strstr(server_first, "r=");
                if (r)
                    sc__fmt(sn, sizeof(sn), "%.*s", (int)strcspn(r + 2, ","), r + 2);
                char wo[256], proof[64];
                sc__fmt(wo, sizeof(wo), "c=biws,r=%s", sn);
                if (scram_proof(password, client_first_bare, server_first, wo, proof,
                                sizeof(proof)) != 0) {
                    fill_error(res, "08P01", "malformed SCRAM challenge from the server");
                    rc = 1;
                    break;
                }
                char fin[400];
                sc__fmt(fin, sizeof(fin), "%s,p=%s", wo, proof);
                cmk_buf_append(&b, fin, strlen(fin));
                send_msg(pc, 'p', &b);
            } else if (kind == 12) {
                continue; /* server signature: the server proved it knows the verifier */
            } else {
                fill_error(res, "28000", "unsupported authentication method");
                rc = 1;
                break;
            }
            OPENSSL_cleanse(b.data, b.len);
        } else if (t == 'Z') {
            res->ok = 1;
            done = 1;
        }
    }
    cmk_buf_close(&b);
    cmk_buf_consume(&pc->in, off);
    if (rc != 0 || !res->ok) {
        sc__pg_close(pc);
        return rc ? rc : 1;
    }
    *out = pc;
    return 0;
}

/* Read until ReadyForQuery: rows of the last result set, last command tag, first error. */
static int collect(struct sc_pgconn *pc, struct sc_pgresult *res)
{
    size_t off = 0;
    json_t *rows = NULL;
    res->ok = 1;
    for (;;) {
        char t;
        const unsigned char *body;
        size_t n;
        if (!next_msg(pc, &off, &t, &body, &n)) {
            if (!pc->closed && dp_pgwire_run_deferred(pc->w->svc.pgwire) > 0)
                continue;
            if (res->ok || res->sqlstate[0] == 0)
                fill_error(res, "08006", "the server closed the connection");
            if (pc->closed && pc->end_sqlstate[0] == 0) {
                sc__fmt(pc->end_sqlstate, sizeof(pc->end_sqlstate), "%s", res->sqlstate);
                sc__fmt(pc->end_message, sizeof(pc->end_message), "%s", res->message);
            }
            break;
        }
        if (t == 'T') {
            json_decref(rows);
            rows = json_array();
        } else if (t == 'D' && n >= 2) {
            if (rows == NULL)
                rows = json_array();
            json_t *row = json_array();
            uint16_t nf = (uint16_t)(body[0] << 8 | body[1]);
            size_t p = 2;
            for (uint16_t i = 0; i < nf && p + 4 <= n; i++) {
                int32_t l = (int32_t)get32(body + p);
                p += 4;
                if (l < 0) {
                    json_array_append_new(row, json_null());
                } else if (p + (size_t)l <= n) {
                    json_array_append_new(row, json_stringn((const char *)body + p, (size_t)l));
                    p += (size_t)l;
                }
            }
            json_array_append_new(rows, row);
        } else if (t == 'C') {
            const char *tag = (const char *)body;
            const char *sp = strrchr(tag, ' ');
            res->row_count = sp ? strtoll(sp + 1, NULL, 10) : 0;
        } else if (t == 'E') {
            char st[6] = "", msg[512] = "";
            read_error(body, n, st, msg, sizeof(msg));
            if (res->ok) {
                res->ok = 0;
                sc__fmt(res->sqlstate, sizeof(res->sqlstate), "%s", st);
                sc__fmt(res->message, sizeof(res->message), "%s", msg);
            }
            if (pc->closed) {
                sc__fmt(pc->end_sqlstate, sizeof(pc->end_sqlstate), "%s", st);
                sc__fmt(pc->end_message, sizeof(pc->end_message), "%s", msg);
            }
        } else if (t == 'Z') {
            break;
        }
    }
    cmk_buf_consume(&pc->in, off);
    res->rows = rows;
    return res->ok ? 0 : 1;
}

int sc__pg_query(struct sc_world *w, struct sc_pgconn *pc, const char *sql, const json_t *params,
                 struct sc_pgresult *res)
{
    memset(res, 0, sizeof(*res));
    res->row_count = -1;
    (void)w;
    if (pc == NULL || pc->closed) {
        fill_error(res, pc && pc->end_sqlstate[0] ? pc->end_sqlstate : "08003",
                   pc && pc->end_message[0] ? pc->end_message : "the connection is closed");
        return 1;
    }
    /* What the server may have said meanwhile (a session ended by the server). */
    size_t off = 0;
    char t;
    const unsigned char *body;
    size_t n;
    while (next_msg(pc, &off, &t, &body, &n))
        if (t == 'E')
            read_error(body, n, pc->end_sqlstate, pc->end_message, sizeof(pc->end_message));
    cmk_buf_consume(&pc->in, off);
    if (pc->closed) {
        fill_error(res, pc->end_sqlstate[0] ? pc->end_sqlstate : "08006",
                   pc->end_message[0] ? pc->end_message : "the server closed the connection");
        return 1;
    }
    struct cmk_buf b;
    cmk_buf_init(&b);
    w->res->events++;
    if (params == NULL) {
        putstr(&b, sql);
        send_msg(pc, 'Q', &b);
    } else {
        putstr(&b, "");
        putstr(&b, sql);
        put16(&b, 0);
        send_msg(pc, 'P', &b);
        cmk_buf_reset(&b);
        putstr(&b, "");
        putstr(&b, "");
        put16(&b, 0);
        put16(&b, (uint16_t)json_array_size(params));
        size_t i;
        const json_t *v;
        json_array_foreach(params, i, v)
        {
            if (json_is_null(v)) {
                put32(&b, 0xffffffffu);
            } else {
                const char *s = json_string_value(v);
                put32(&b, (uint32_t)strlen(s));
                cmk_buf_append(&b, s, strlen(s));
            }
        }
        put16(&b, 0);
        send_msg(pc, 'B', &b);
        cmk_buf_reset(&b);
        cmk_buf_append(&b, "P", 1);
        putstr(&b, "");
        send_msg(pc, 'D', &b);
        cmk_buf_reset(&b);
        putstr(&b, "");
        put32(&b, 0);
        send_msg(pc, 'E', &b);
        cmk_buf_reset(&b);
        send_msg(pc, 'S', &b);
    }
    cmk_buf_close(&b);
    return collect(pc, res);
}

int sc__pg_alive(const struct sc_pgconn *c)
{
    return c && !c->closed;
}

const char *sc__pg_end_sqlstate(const struct sc_pgconn *c)
{
    return c ? c->end_sqlstate : "";
}

const char *sc__pg_end_message(const struct sc_pgconn *c)
{
    return c ? c->end_message : "";
}

/* A session the server ended: read the FATAL it sent before closing. */
static void drain(struct sc_pgconn *pc)
{
    size_t off = 0;
    char t;
    const unsigned char *body;
    size_t n;
    while (next_msg(pc, &off, &t, &body, &n))
        if (t == 'E')
            read_error(body, n, pc->end_sqlstate, pc->end_message, sizeof(pc->end_message));
    cmk_buf_consume(&pc->in, off);
}

void sc__pg_close(struct sc_pgconn *pc)
{
    if (pc == NULL)
        return;
    if (!pc->closed) {
        struct cmk_buf b;
        cmk_buf_init(&b);
        send_msg(pc, 'X', &b);
        cmk_buf_close(&b);
    }
    dp_pgwire_pipe_close(pc->c);
    cmk_buf_close(&pc->in);
    free(pc);
}

/* Session state for expectations: refreshes the end error of a session the server closed. */
int sc__pg_session_state(struct sc_pgconn *pc, char *sqlstate, size_t sn, char *msg, size_t mn)
{
    if (pc == NULL)
        return 0;
    drain(pc);
    sc__fmt(sqlstate, sn, "%s", pc->end_sqlstate);
    sc__fmt(msg, mn, "%s", pc->end_message);
    return !pc->closed;
}

int sc__rows_equal(const struct sc_value *want, const json_t *got, char *why, size_t n)
{
    size_t gn = json_array_size(got);
    if (want->u.list.n != gn) {
        sc__fmt(why, n, "%zu row(s), expected %zu", gn, want->u.list.n);
        return 0;
    }
    for (size_t i = 0; i < gn; i++) {
        const struct sc_value *wr = &want->u.list.v[i];
        const json_t *gr = json_array_get(got, i);
        if (wr->u.list.n != json_array_size(gr)) {
            sc__fmt(why, n, "row %zu has %zu column(s), expected %zu", i + 1, json_array_size(gr),
                    wr->u.list.n);
            return 0;
        }
        for (size_t j = 0; j < wr->u.list.n; j++) {
            const struct sc_value *wc = &wr->u.list.v[j];
            const json_t *gc = json_array_get(gr, j);
            int eq = wc->is_null
                         ? json_is_null(gc)
                         : json_is_string(gc) && strcmp(json_string_value(gc), wc->u.str) == 0;
            if (!eq) {
                sc__fmt(why, n, "row %zu column %zu is %s%s%s, expected %s%s%s", i + 1, j + 1,
                        json_is_null(gc) ? "" : "'",
                        json_is_null(gc) ? "null" : json_string_value(gc),
                        json_is_null(gc) ? "" : "'", wc->is_null ? "" : "'",
                        wc->is_null ? "null" : wc->u.str, wc->is_null ? "" : "'");
                return 0;
            }
        }
    }
    return 1;
}
