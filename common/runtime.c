/* runtime.c: opens and closes what the services of one process share (see runtime.h).
 *
 * Open order: state directory, clock, generator, hosts, router, state database, token
 * signing (auth); TLS on request. cmk_runtime_close undoes it in reverse and copes with a
 * runtime that was only partly opened, which is how open unwinds on failure. The clock's
 * libuv timer finishes closing on the next turn of the loop, so the caller runs the loop
 * (uv_run) once more before freeing or reusing the loop.
 */
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "log.h"
#include "store.h"

/* 2026-01-01T00:00:00Z: where virtual and scaled clocks start unless told otherwise. */
#define DEFAULT_CLOCK_START ((cmk_time_t)1767225600000)

/* mkdir -p; missing components are created private (0700), existing ones are left alone. */
static int make_dirs(const char *path, struct cmk_err *err)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp))
        return cmk_err_set(err, CMK_EINVAL, 0, "BadDataDir", "invalid state directory \"%s\"",
                           path);
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return cmk_err_set(err, CMK_EIO, 0, "BadDataDir", "cannot create %s: %s", tmp,
                               strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return cmk_err_set(err, CMK_EIO, 0, "BadDataDir", "cannot create %s: %s", tmp,
                           strerror(errno));
    struct stat sb;
    if (stat(tmp, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cmk_err_set(err, CMK_EIO, 0, "BadDataDir", "%s is not a directory", tmp);
    return 0;
}

int cmk_runtime_open(struct cmk_runtime *rt, uv_loop_t *loop, const struct cmk_runtime_opts *o,
                     struct cmk_err *err)
{
    memset(rt, 0, sizeof(*rt));
    rt->loop = loop;
    if (o == NULL || o->data_dir == NULL)
        return cmk_err_set(err, CMK_EINVAL, 0, "BadDataDir", "no state directory given");
    if (strlen(o->data_dir) >= sizeof(rt->data_dir))
        return cmk_err_set(err, CMK_EINVAL, 0, "BadDataDir", "state directory path too long");
    int rc = make_dirs(o->data_dir, err);
    if (rc != 0)
        return rc;
    snprintf(rt->data_dir, sizeof(rt->data_dir), "%s", o->data_dir);

    cmk_time_t start = o->clock_start ? o->clock_start : DEFAULT_CLOCK_START;
    double speed = o->speed > 0 ? o->speed : 1.0;
    rc = cmk_clock_init(&rt->clock, loop, o->clock_mode, start, speed);
    if (rc != 0)
        return cmk_err_set(err, rc, 0, "BadClock", "cannot start the clock (mode %d, speed %g)",
                           (int)o->clock_mode, speed);
    cmk_rng_init(&rt->rng, o->seed);
    cmk_hosts_init(&rt->hosts, o->suffix ? o->suffix : "localhost");
    cmk_router_init(&rt->router, &rt->hosts);
    cmk_events_init(&rt->events, &rt->clock);

    char dbpath[PATH_MAX + 16];
    if (o->in_memory)
        snprintf(dbpath, sizeof(dbpath), ":memory:");
    else
        snprintf(dbpath, sizeof(dbpath), "%s/state.db", rt->data_dir);
    if ((rc = cmk_store_open(&rt->db, dbpath, &rt->clock, &rt->rng, err)) != 0)
        goto fail;
    if ((rc = cmk_auth_open(&rt->auth, rt->data_dir, err)) != 0)
        goto fail;
    return 0;

fail:
    cmk_runtime_close(rt);
    return rc;
}

int cmk_runtime_open_tls(struct cmk_runtime *rt, struct cmk_err *err)
{
    if (rt->tls != NULL)
        return 0;
    return cmk_tls_open(&rt->tls, rt->data_dir, &rt->hosts, cmk_clock_now(&rt->clock), err);
}

void cmk_runtime_close(struct cmk_runtime *rt)
{
    if (rt == NULL)
        return;
    cmk_trace_close(rt->trace);
    rt->trace = NULL;
    cmk_tls_free(rt->tls);
    rt->tls = NULL;
    cmk_auth_free(rt->auth);
    rt->auth = NULL;
    cmk_store_close(rt->db);
    rt->db = NULL;
    cmk_router_close(&rt->router);
    cmk_clock_close(&rt->clock);
}

void cmk_runtime_rng(const struct cmk_runtime *rt, const char *name, struct cmk_rng *out)
{
    cmk_rng_fork(&rt->rng, out, name);
}
