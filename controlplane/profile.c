/* profile.c: the timing profiles of the servers, as data (DESIGN.md: Servers).
 *
 * A profile says how long the long-running operations take, how often the key monitor
 * revalidates a server's key (interval + jitter, by situation), and how long after the first
 * failed check a server denies connections and turns Inaccessible, per class of cause. It also
 * holds the R6 fidelity switch (the soft-delete retention the service accepts).
 *
 * "default" follows the seed: a check every 5 minutes plus up to 4 of jitter finds a loss
 * within 9 minutes; a revocation (permission, firewall, identity, tenant) denies connections
 * and turns the server Inaccessible at that check (within 10 minutes); a disabled, deleted or
 * expired key denies at once and turns Inaccessible 20 minutes later (within 60); an
 * unreachable vault is tolerated for 20 minutes (the service keeps its DEKs), then connections
 * are denied and the server is Inaccessible 10 minutes after that (within 60). An Inaccessible
 * server is rechecked every 10 minutes plus up to 5 (Ready within 15 of recovery, the seed
 * allows 60). Operation durations are in the range the service shows.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server_int.h"

#define M CMK_MINUTE
#define S CMK_SECOND

static const struct cp_profile builtin[] = {
    {
        .name = "default",
        .description = "the seed's windows: denied within 10m of losing access, Inaccessible "
                       "within 60m of a disabled/deleted/expired/unreachable key",
        .op_create = 4 * M,
        .op_restore = 6 * M,
        .op_replica = 8 * M,
        .op_update = 2 * M,
        .op_stop = 1 * M,
        .op_start = 2 * M,
        .op_restart = 1 * M,
        .op_delete = 1 * M,
        .check_interval = 5 * M,
        .check_jitter = 4 * M,
        .failing_interval = 5 * M,
        .failing_jitter = 2 * M,
        .recover_interval = 10 * M,
        .recover_jitter = 5 * M,
        .deny_after = {[CP_CLASS_REVOCATION] = 0, [CP_CLASS_KEY] = 0, [CP_CLASS_OUTAGE] = 20 * M},
        .inaccessible_after =
            {[CP_CLASS_REVOCATION] = 0, [CP_CLASS_KEY] = 20 * M, [CP_CLASS_OUTAGE] = 30 * M},
        .retention_min_days = 90,
        .retention_max_days = 90,
    },
    {
        .name = "instant",
        .description = "CI: operations complete at once, a check every 30s, every change at "
                       "the next check",
        .check_interval = 30 * S,
        .failing_interval = 30 * S,
        .recover_interval = 30 * S,
        .retention_min_days = 90,
        .retention_max_days = 90,
    },
    {
        .name = "service-2025",
        .description = "default timings with the service's newer rule: soft-delete retention "
                       "of 7 to 90 days",
        .op_create = 4 * M,
        .op_restore = 6 * M,
        .op_replica = 8 * M,
        .op_update = 2 * M,
        .op_stop = 1 * M,
        .op_start = 2 * M,
        .op_restart = 1 * M,
        .op_delete = 1 * M,
        .check_interval = 5 * M,
        .check_jitter = 4 * M,
        .failing_interval = 5 * M,
        .failing_jitter = 2 * M,
        .recover_interval = 10 * M,
        .recover_jitter = 5 * M,
        .deny_after = {[CP_CLASS_REVOCATION] = 0, [CP_CLASS_KEY] = 0, [CP_CLASS_OUTAGE] = 20 * M},
        .inaccessible_after =
            {[CP_CLASS_REVOCATION] = 0, [CP_CLASS_KEY] = 20 * M, [CP_CLASS_OUTAGE] = 30 * M},
        .retention_min_days = 7,
        .retention_max_days = 90,
    },
};

const struct cp_profile *cp_profile_builtin(const char *name)
{
    for (size_t i = 0; name && i < sizeof(builtin) / sizeof(builtin[0]); i++)
        if (strcasecmp(builtin[i].name, name) == 0)
            return &builtin[i];
    return NULL;
}

const struct cp_profile *cp_servers_profile(struct cp_servers *s, const char *name)
{
    if (name == NULL || name[0] == '\0')
        name = s->default_profile;
    for (size_t i = 0; i < s->nprofiles; i++)
        if (strcasecmp(s->profiles[i].name, name) == 0)
            return &s->profiles[i];
    return cp_profile_builtin(name);
}

static int unknown_profile(struct cmk_err *err, const char *name)
{
    return cmk_err_set(err, CMK_ENOTFOUND, 400, "InvalidTimingProfile",
                       "The timing profile '%.32s' does not exist (built in: default, instant, "
                       "service-2025).",
                       name ? name : "");
}

int cp_servers_set_profile(struct cp_servers *s, const char *name, struct cmk_err *err)
{
    const struct cp_profile *p = cp_servers_profile(s, name ? name : "");
    if (p == NULL || name == NULL)
        return unknown_profile(err, name);
    snprintf(s->default_profile, sizeof(s->default_profile), "%s", p->name);
    cp__monitor_rearm_all(s);
    return 0;
}

int cp_servers_add_profile(struct cp_servers *s, const struct cp_profile *p, struct cmk_err *err)
{
    if (p == NULL || p->name[0] == '\0')
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTimingProfile",
                           "A timing profile needs a name.");
    for (int c = 0; c < CP_CLASS__COUNT; c++)
        if (p->deny_after[c] < 0 || p->inaccessible_after[c] < 0)
            return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTimingProfile",
                               "The timing profile '%s' has a negative delay.", p->name);
    if (p->check_interval <= 0 || p->failing_interval <= 0 || p->recover_interval <= 0)
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTimingProfile",
                           "The timing profile '%s' needs positive check intervals.", p->name);
    for (size_t i = 0; i < s->nprofiles; i++) {
        if (strcasecmp(s->profiles[i].name, p->name) == 0) {
            s->profiles[i] = *p;
            return 0;
        }
    }
    s->profiles = cmk_xrealloc(s->profiles, (s->nprofiles + 1) * sizeof(*s->profiles));
    s->profiles[s->nprofiles++] = *p;
    return 0;
}

/* The profile a server runs on: its own (stored at create or set later), else the default. */
const struct cp_profile *cp__profile_of(struct cp_servers *s, const json_t *priv)
{
    const char *own = json_string_value(json_object_get(priv, "profile"));
    const struct cp_profile *p = own ? cp_servers_profile(s, own) : NULL;
    if (p == NULL)
        p = cp_servers_profile(s, s->default_profile);
    return p ? p : &builtin[0];
}

int cp_server_set_profile(struct cp_servers *s, const char *server_id, const char *name,
                          struct cmk_err *err)
{
    if (cp_servers_profile(s, name ? name : "") == NULL || name == NULL)
        return unknown_profile(err, name);
    struct cp_srv srv;
    int rc = cp__srv_load(s, server_id, &srv, err);
    if (rc != 0)
        return rc;
    json_object_set_new(srv.priv, "profile", json_string(name));
    rc = cp__srv_save(s, &srv, err);
    cp__srv_close(&srv);
    if (rc == 0)
        cp__monitor_arm(s, server_id, 0);
    return rc;
}
