/* manage.h: cmksim's own management routes inside `cmksim serve` (the server side of `cmksim
 * clock`, `cmksim fault` and the dashboard). All on the management host, under /_cmksim/:
 *
 *   GET    /_cmksim/clock                     {time, timeMs, speed, mode, offsetMs}
 *   POST   /_cmksim/clock/advance             {"duration":"30m"}: jump ahead, firing every timer
 *                                             due on the way at its due time
 *   POST   /_cmksim/clock/speed               {"speed":60}: clock time per wall second (0 pauses)
 *   GET    /_cmksim/faults                    {"value":[{kind, vault, until}]} (active ones)
 *   POST   /_cmksim/faults                    {"kind":"vault-outage","vault":"kv1","for":"20m"}
 *   DELETE /_cmksim/faults/vault-outage/{v}   end the outage now
 *   GET    /, /_cmksim/dashboard[/{file}]     the dashboard page (dashboard.c)
 *   POST   /_cmksim/dashboard/token           tokens for the page (loopback only, see below)
 *   POST   /_cmksim/dashboard/call            the page's relay to vault / HSM hosts
 *   GET    /_cmksim/events                    server-sent events from rt->events
 *
 * Every route but the page itself, its token and its relay needs an admin token: a bearer
 * token of the management audience issued to a principal of the default tenant (like ARM, the
 * emulator has no finer RBAC at that scope); 401 with ARM's codes otherwise. The events route
 * also takes the token as ?access_token= (EventSource cannot send headers).
 *
 * The clock: serve runs the scaled driver from the wall clock's now at --speed (default 1).
 * Its offset from the wall clock and its speed are saved to DIR/clock.json on every change,
 * every few wall seconds and at exit, and a restart resumes from there (never earlier than
 * the last saved time), so a restart does not move time backwards.
 */
#ifndef CMK_CLI_MANAGE_H
#define CMK_CLI_MANAGE_H

#include "common/auth.h"
#include "common/runtime.h"

struct cli_manage;

/* Restore the clock from DIR/clock.json (speed: --speed, 0 = the saved one or 1), register the
 * clock and fault routes and start saving the clock. */
int cli_manage_open(struct cli_manage **out, struct cmk_runtime *rt, double speed,
                    struct cmk_err *err) __attribute__((warn_unused_result));
/* Saves the clock; stops the timers. NULL is fine. */
void cli_manage_close(struct cli_manage *m);
/* Authenticate an admin request (Authorization header, or ?access_token= when query_ok). 0 and
 * *who filled; else the 401/403 answer is written to res and a negative code returned. */
int cli_manage_admin(struct cli_manage *m, struct cmk_request *req, struct cmk_response *res,
                     int query_ok, struct cmk_principal *who);

struct cli_dashboard;
/* Register the page, its token and relay routes and the event stream; subscribe to rt->events
 * (and the activity log when the ARM core is open). */
int cli_dashboard_open(struct cli_dashboard **out, struct cmk_runtime *rt, struct cli_manage *m,
                       struct cmk_err *err) __attribute__((warn_unused_result));
/* Ends the event streams (call when stopping, while the loop still runs). */
void cli_dashboard_stop(struct cli_dashboard *d);
void cli_dashboard_close(struct cli_dashboard *d);

/* The embedded static files of tools/dashboard (dashboard_assets.c, generated at build). */
struct cli_asset {
    const char *name; /* "index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
};
extern const struct cli_asset cli_dashboard_assets[]; /* ends with {NULL} */

#endif
