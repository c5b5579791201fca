/* services.h: the list of services `cmksim serve` (and `cmksim run`) start on a runtime.
 * One place to add a service: services.c. */
#ifndef CMK_CLI_SERVICES_H
#define CMK_CLI_SERVICES_H

#include <jansson.h>

#include "common/runtime.h"

/* Register every service's routes and providers on rt and start their timers. */
int services_start(struct cmk_runtime *rt, struct cmk_err *err);
/* Stop accepting work (listeners of the data plane); called on SIGINT/SIGTERM. */
void services_stop(struct cmk_runtime *rt);
/* Free every service (after the loop has ended). */
void services_close(struct cmk_runtime *rt);
/* Add what clients need to know (ports, defaults) to serve.json. */
void services_describe(struct cmk_runtime *rt, json_t *out);
/* The PostgreSQL listener's port, 0 if none. */
int services_pg_port(struct cmk_runtime *rt);

/* The service objects the scenario runner talks to (scenarios/runner.h); NULL members are
 * services not started. */
struct sc_services;
void services_scenario(struct cmk_runtime *rt, struct sc_services *out);

#endif
