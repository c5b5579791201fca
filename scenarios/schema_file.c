/* schema_file.c: the rest of the scenario language as data: the expectation subjects with
 * what each can be compared on, the time-rule keys every expectation may carry, the top-level
 * keys, metadata and clock, and the timing-profile keys (actions: schema.c).
 */
#include "scenarios/parse_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define REQ .flags = SC_F_REQUIRED
#define SQLSTATE_CHECK                                                                             \
    .check = sc__check_sqlstate, .what = "a SQLSTATE of 5 digits or capitals (57P03)"

static const char *const server_states[] = {
    "Provisioning", "Ready",    "Updating", "Stopping",     "Stopped", "Starting",
    "Restarting",   "Dropping", "Disabled", "Inaccessible", "Deleted", NULL};
static const char *const valid_invalid[] = {"Valid", "Invalid", NULL};
static const char *const key_states[] = {"enabled", "disabled", "expired", "notYetValid",
                                         "deleted", "purged",   NULL};
static const char *const vault_states[] = {"Active", "Deleted", "Purged", NULL};
static const char *const hsm_states[] = {"NotActivated", "Active", "Deleted", "Purged", NULL};
static const char *const identity_states[] = {"Active", "Deleted", NULL};
static const char *const health_states[] = {"Available", "Unavailable", "Degraded", "Unknown",
                                            NULL};
static const char *const activity_states[] = {"Started", "Accepted", "Succeeded", "Failed", NULL};
static const char *const activity_levels[] = {"Informational", "Warning", "Error", "Critical",
                                              NULL};
static const char *const audit_results[] = {"Success", "Failure", NULL};
static const char *const connect_outcomes[] = {"ok", "denied", NULL};
static const char *const session_states[] = {"open", "terminated", NULL};
static const char *const result_values[] = {"ok", "error", NULL};
static const char *const profile_names[] = {"default", "instant", NULL};

/* ---- expectation subjects ---- */

static const struct sc_field server_matchers[] = {
    {.key = "state", .type = SC_T_STRING, .choices = server_states},
    {.key = "keyStatus", .type = SC_T_STRING, .choices = valid_invalid},
    {.key = "geoKeyStatus", .type = SC_T_STRING, .choices = valid_invalid},
    {0},
};
static const struct sc_field key_matchers[] = {
    {.key = "status", .type = SC_T_STRING, .choices = key_states},
    {.key = "versions", .type = SC_T_INT, .min = 1, .max = 1000000},
    {0},
};
static const struct sc_field vault_matchers[] = {
    {.key = "state", .type = SC_T_STRING, .choices = vault_states},
    {0},
};
static const struct sc_field hsm_matchers[] = {
    {.key = "state", .type = SC_T_STRING, .choices = hsm_states},
    {0},
};
static const struct sc_field identity_matchers[] = {
    {.key = "state", .type = SC_T_STRING, .choices = identity_states},
    {0},
};
static const struct sc_field health_matchers[] = {
    {.key = "status", .type = SC_T_STRING, .choices = health_states},
    {.key = "reason", .type = SC_T_STRING},
    {0},
};
static const struct sc_field activity_matchers[] = {
    {.key = "operation", .type = SC_T_STRING},
    {.key = "status", .type = SC_T_STRING, .choices = activity_states},
    {.key = "level", .type = SC_T_STRING, .choices = activity_levels},
    {.key = "message", .type = SC_T_STRING},
    {.key = "count", .type = SC_T_INT, .min = 0, .max = INT64_MAX},
    {0},
};
static const struct sc_field audit_matchers[] = {
    {.key = "operation", .type = SC_T_STRING},
    {.key = "caller", .type = SC_T_STRING, .ref = SC_REF_IDENTITY},
    {.key = "keyName", .type = SC_T_STRING},
    {.key = "resultType", .type = SC_T_STRING, .choices = audit_results},
    {.key = "status", .type = SC_T_INT, .min = 100, .max = 599},
    {.key = "count", .type = SC_T_INT, .min = 0, .max = INT64_MAX},
    {0},
};
static const struct sc_field connect_matchers[] = {
    {.key = "outcome", .type = SC_T_STRING, .choices = connect_outcomes},
    {.key = "sqlstate", .type = SC_T_STRING, SQLSTATE_CHECK},
    {.key = "message", .type = SC_T_STRING},
    {.key = "database", .type = SC_T_STRING},
    {.key = "user", .type = SC_T_STRING},
    {.key = "password", .type = SC_T_STRING},
    {0},
};
static const struct sc_field session_matchers[] = {
    {.key = "state", .type = SC_T_STRING, .choices = session_states},
    {.key = "sqlstate", .type = SC_T_STRING, SQLSTATE_CHECK},
    {.key = "message", .type = SC_T_STRING},
    {0},
};
static const struct sc_field query_target[] = {
    {.key = "server", .type = SC_T_STRING, REQ, .ref = SC_REF_SERVER},
    {.key = "database", .type = SC_T_STRING},
    {.key = "sql", .type = SC_T_STRING, REQ},
    {.key = "params", .type = SC_T_LIST, .elem = &sc__cell_elem},
    {.key = "user", .type = SC_T_STRING},
    {.key = "password", .type = SC_T_STRING},
    {0},
};
static const struct sc_field query_matchers[] = {
    {.key = "rows", .type = SC_T_LIST, .elem = &sc__row_elem},
    {.key = "rowCount", .type = SC_T_INT, .min = 0, .max = INT64_MAX},
    {.key = "sqlstate", .type = SC_T_STRING, SQLSTATE_CHECK},
    {0},
};
static const struct sc_field result_matchers[] = {
    {.key = "code", .type = SC_T_STRING},
    {.key = "status", .type = SC_T_INT, .min = 100, .max = 599},
    {.key = "sqlstate", .type = SC_T_STRING, SQLSTATE_CHECK},
    {.key = "message", .type = SC_T_STRING},
    {.key = "rows", .type = SC_T_LIST, .elem = &sc__row_elem},
    {.key = "rowCount", .type = SC_T_INT, .min = 0, .max = INT64_MAX},
    {0},
};

#define SUBJECT(id_, name_, matchers_, needs_, ...)                                                \
    [SC_S_##id_] = {.id = SC_S_##id_,                                                              \
                    .name = name_,                                                                 \
                    .target = {{.key = name_, .type = __VA_ARGS__}},                               \
                    .matchers = matchers_,                                                         \
                    .needs_matcher = needs_}

const struct sc_subject_def sc_subjects[SC_S_COUNT] = {
    SUBJECT(SERVER, "server", server_matchers, 1, SC_T_STRING, .ref = SC_REF_SERVER),
    SUBJECT(KEY, "key", key_matchers, 1, SC_T_KEYREF, .ref = SC_REF_KEY),
    SUBJECT(VAULT, "vault", vault_matchers, 1, SC_T_STRING, .ref = SC_REF_VAULT),
    SUBJECT(HSM, "hsm", hsm_matchers, 1, SC_T_STRING, .ref = SC_REF_HSM),
    SUBJECT(IDENTITY, "identity", identity_matchers, 1, SC_T_STRING, .ref = SC_REF_IDENTITY),
    SUBJECT(HEALTH, "health", health_matchers, 1, SC_T_STRING, .ref = SC_REF_SERVER),
    SUBJECT(ACTIVITY, "activity", activity_matchers, 1, SC_T_STRING, .ref = SC_REF_RESOURCE),
    SUBJECT(AUDIT, "audit", audit_matchers, 1, SC_T_STRING, .ref = SC_REF_STORE),
    SUBJECT(CONNECT, "connect", connect_matchers, 1, SC_T_STRING, .ref = SC_REF_SERVER),
    SUBJECT(SESSION, "session", session_matchers, 1, SC_T_STRING, .ref = SC_REF_SESSION),
    SUBJECT(QUERY, "query", query_matchers, 1, SC_T_MAP, .fields = query_target),
    SUBJECT(RESULT, "result", result_matchers, 0, SC_T_STRING, .choices = result_values),
};

const struct sc_subject_def *sc_subject_find(const char *name)
{
    for (int i = 0; i < SC_S_COUNT; i++)
        if (strcmp(sc_subjects[i].name, name) == 0)
            return &sc_subjects[i];
    return NULL;
}

const struct sc_field sc_expect_common[] = {
    {.key = "within", .type = SC_T_DURATION},
    {.key = "window", .type = SC_T_WINDOW},
    {.key = "hold", .type = SC_T_DURATION},
    {.key = "always", .type = SC_T_SPAN},
    {.key = "never", .type = SC_T_SPAN},
    {.key = "name", .type = SC_T_STRING},
    {0},
};

/* ---- top-level keys ---- */

static const char *const api_versions[] = {"cmksim/v1", NULL};
static const char *const kinds[] = {"Scenario", NULL};

static int check_rule(const char *s)
{
    if ((s[0] != 'R' && s[0] != 'r') || !isdigit((unsigned char)s[1]) || s[1] == '0')
        return -1;
    char *end;
    long n = strtol(s + 1, &end, 10);
    return *end == '\0' && n >= 1 && n <= 18 ? 0 : -1;
}

static const struct sc_field rule_elem = {.key = "rule",
                                          .type = SC_T_STRING,
                                          .check = check_rule,
                                          .what = "a rule of SPEC.md, R1 to R18"};

static const struct sc_field metadata[] = {
    {.key = "name", .type = SC_T_STRING, REQ},
    {.key = "description", .type = SC_T_STRING},
    {.key = "rules", .type = SC_T_LIST, .elem = &rule_elem},
    {.key = "tags", .type = SC_T_LIST, .elem = &sc__string_elem},
    {0},
};

static const struct sc_field clock_fields[] = {
    {.key = "start", .type = SC_T_DATE},
    {.key = "limit", .type = SC_T_DURATION},
    {0},
};

/* SC_T_NONE entries are read by parse.c itself (their shape is not a plain schema). */
const struct sc_field sc__top_fields[] = {
    {.key = "apiVersion", .type = SC_T_STRING, REQ, .choices = api_versions},
    {.key = "kind", .type = SC_T_STRING, REQ, .choices = kinds},
    {.key = "metadata", .type = SC_T_MAP, REQ, .fields = metadata},
    {.key = "seed", .type = SC_T_INT, .min = 0, .max = INT64_MAX},
    {.key = "clock", .type = SC_T_MAP, .fields = clock_fields},
    {.key = "profile", .type = SC_T_NONE},
    {.key = "setup", .type = SC_T_NONE},
    {.key = "steps", .type = SC_T_NONE},
    {.key = "invariants", .type = SC_T_NONE},
    {.key = "finally", .type = SC_T_NONE},
    {0},
};

/* Timing profile: a name, or a map of values overriding its base (controlplane reads these). */
const struct sc_field sc__profile_fields[] = {
    {.key = "base", .type = SC_T_STRING, .choices = profile_names},
    {.key = "keyCheckInterval", .type = SC_T_DURATION},
    {.key = "keyCheckJitter", .type = SC_T_DURATION},
    {.key = "denyAfter", .type = SC_T_DURATION},
    {.key = "inaccessibleAfter", .type = SC_T_DURATION},
    {.key = "recoverAfter", .type = SC_T_DURATION},
    {.key = "createDuration", .type = SC_T_DURATION},
    {.key = "updateDuration", .type = SC_T_DURATION},
    {.key = "startDuration", .type = SC_T_DURATION},
    {.key = "stopDuration", .type = SC_T_DURATION},
    {.key = "restartDuration", .type = SC_T_DURATION},
    {.key = "deleteDuration", .type = SC_T_DURATION},
    {.key = "restoreDuration", .type = SC_T_DURATION},
    {.key = "replicaLag", .type = SC_T_DURATION},
    {.key = "backupInterval", .type = SC_T_DURATION},
    {.key = "tokenLifetime", .type = SC_T_DURATION},
    {0},
};
