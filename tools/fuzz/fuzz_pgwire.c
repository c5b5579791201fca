/* fuzz_pgwire.c: bytes from a client, fed to the PostgreSQL endpoint's connection parser.
 *
 * No sockets: each input is one connection through the endpoint's in-process door (a pipe),
 * so startup packets, SSL/GSSENC/cancel requests, authentication messages, simple and
 * extended query messages and the SQL they carry all meet the real parser and translator.
 * The backend gives in-memory SQLite databases and a server "fuzz" whose administrator
 * "admin" logs in with the cleartext password "pw" (so checked-in inputs can get past
 * authentication). Statements are limited to a small instruction budget and the virtual clock
 * is run forward after each input so pg_sleep() and lock retries finish. The input is fed in
 * two pieces (split at a position taken from its first byte) to exercise partial messages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/pgwire.h"

static struct cmk_clock clock_;
static struct dp_pgwire *ep;
static char verifier[DP_PG_VERIFIER_MAX];

static int resolve(void *data, const char *name, int port, struct dp_pg_server *out,
                   struct cmk_err *err)
{
    if (strcmp(name, "fuzz") != 0 && strcmp(name, "ro") != 0)
        return CMK_ENOTFOUND;
    strcpy(out->name, name);
    out->ready = 1;
    strcpy(out->dir, "/nonexistent");
    strcpy(out->admin_user, "admin");
    strcpy(out->admin_verifier, verifier);
    out->auth = DP_PG_AUTH_PASSWORD;
    out->read_only = strcmp(name, "ro") == 0;
    return 0;
}

static int open_db(void *data, void *handle, const char *dir, const char *dbname, int create,
                   int read_only, sqlite3 **out, struct cmk_err *err)
{
    return sqlite3_open(":memory:", out) == SQLITE_OK ? 0 : CMK_EIO;
}

static int drop_db(void *data, void *handle, const char *dir, const char *dbname,
                   struct cmk_err *err)
{
    return 0;
}

static void sink(void *data, const void *bytes, size_t n)
{
}

static void closed(void *data)
{
}

static void init(void)
{
    static struct dp_pg_backend backend = {.version = DP_PG_BACKEND_VERSION,
                                           .resolve = resolve,
                                           .open_db = open_db,
                                           .drop_db = drop_db};
    cmk_clock_init(&clock_, NULL, CMK_CLOCK_VIRTUAL, 1767225600000LL, 0);
    if (dp_pg_scram_verifier("pw", 1, verifier, sizeof(verifier)) != 0)
        abort();
    struct dp_pgwire_config cfg = {.clock = &clock_,
                                   .backend = &backend,
                                   .max_message = 1 << 20,
                                   .max_statement_steps = 200000};
    struct cmk_err err;
    if (dp_pgwire_new(&ep, &cfg, &err) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct dp_pgwire_pipe_ops ops = {sink, closed};
    if (ep == NULL)
        init();
    struct dp_pgconn *c = dp_pgwire_pipe_open(ep, "fuzz", &ops, NULL);
    size_t split = size ? (size_t)data[0] * size / 256 : 0;
    dp_pgwire_pipe_input(c, data, split);
    dp_pgwire_run_deferred(ep);
    dp_pgwire_pipe_input(c, data + split, size - split);
    for (int i = 0; i < 50 && dp_pgwire_run_deferred(ep) > 0; i++)
        ;
    for (int i = 0; i < 20 && cmk_clock_next_due(&clock_) >= 0; i++) {
        cmk_clock_run_until(&clock_, cmk_clock_next_due(&clock_));
        dp_pgwire_run_deferred(ep);
    }
    dp_pgwire_pipe_close(c);
    return 0;
}
