/* test_parse.c: the scenario parser as a scenario author sees it.
 *
 * A complete file using every part of the language parses into the expected model (values,
 * resolved times, positions); the flagship case of `make demo` parses; and a table of broken
 * files each gives exactly the `file:line:col: error: ...` line the author would read. The
 * tables of schema.c are checked for consistency, and the README is checked to name every
 * action, argument, subject and matcher they define.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/clock.h"
#include "scenarios/scenario.h"

#define HEAD  "apiVersion: cmksim/v1\nkind: Scenario\nmetadata:\n  name: t\n"
#define VAULT "setup:\n  identities:\n    - name: id1\n  vaults:\n    - name: kv1\n"

static struct sc_scenario *parse_ok(const char *text)
{
    struct sc_scenario *s = NULL;
    struct sc_diags d;
    struct cmk_err err = {0};
    sc_diags_init(&d);
    int rc = sc_scenario_parse("t.yaml", text, strlen(text), &s, &d, &err);
    if (rc != 0)
        sc_diags_print(&d, stderr);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    assert_int_equal(d.n, 0);
    sc_diags_close(&d);
    return s;
}

/* ---- a complete file ---- */

static const char complete[] =
    "apiVersion: cmksim/v1\n"
    "kind: Scenario\n"
    "metadata:\n"
    "  name: complete\n"
    "  description: every part of the language\n"
    "  rules: [R1, r12, R18]\n"
    "  tags: [unit, parser]\n"
    "seed: 7\n"
    "clock:\n"
    "  start: 2026-03-01T00:00:00Z\n"
    "  limit: 2d\n"
    "profile:\n"
    "  base: instant\n"
    "  keyCheckInterval: 5m\n"
    "  denyAfter: 2m\n"
    "setup:\n"
    "  servers:\n"
    "    - name: srv1\n"
    "      version: \"16\"\n"
    "      identities: [id1]\n"
    "      dataEncryption:\n"
    "        primaryKey: kv1/cmk\n"
    "        identity: id1\n"
    "        geoBackupKey: https://geokv.vault.azure.net/keys/geo/\n"
    "        geoBackupIdentity: id2\n"
    "      backup: {retentionDays: 7, geoRedundant: true}\n"
    "  tenants:\n"
    "    - name: fabrikam\n"
    "  identities:\n"
    "    - {name: id1}\n"
    "    - {name: id2, tenant: fabrikam, type: ServicePrincipal}\n"
    "  vaults:\n"
    "    - name: kv1\n"
    "      enablePurgeProtection: true\n"
    "      softDeleteRetentionInDays: 90\n"
    "      publicNetworkAccess: disabled\n"
    "      networkAcls: {defaultAction: Deny, bypass: AzureServices, ipRules: [203.0.113.7/32]}\n"
    "      accessPolicies:\n"
    "        - identity: id1\n"
    "          permissions: [get, list, wrapkey, unwrapKey]\n"
    "  hsms:\n"
    "    - {name: hsm1, admins: [admin], activate: true}\n"
    "  keys:\n"
    "    - vault: kv1\n"
    "      name: cmk\n"
    "      kty: RSA\n"
    "      size: 2048\n"
    "      attributes: {enabled: true, expires: 30d, notBefore: 2026-02-01T00:00:00Z}\n"
    "      tags: {owner: team-a}\n"
    "      rotationPolicy: {rotateAfterCreate: 7d}\n"
    "    - {vault: hsm1, name: hk, kty: RSA-HSM, size: 3072}\n"
    "  roleAssignments:\n"
    "    - {hsm: hsm1, identity: id1, role: managed hsm crypto service encryption user}\n"
    "  rows:\n"
    "    - {server: srv1, sql: \"CREATE TABLE t (a int, b text)\"}\n"
    "steps:\n"
    "  - id: rotate\n"
    "    at: 1h\n"
    "    key.rotate: kv1/cmk\n"
    "  - id: check\n"
    "    expect: {key: kv1/cmk, versions: 2}\n"
    "  - id: disable\n"
    "    after: rotate + 30m\n"
    "    key.disable: {key: kv1/cmk/current, as: admin, from: 203.0.113.7}\n"
    "    expect:\n"
    "      - {server: srv1, state: Inaccessible, window: [5m, 60m], hold: 30m}\n"
    "      - {result: error, code: ForbiddenByFirewall, status: 403}\n"
    "  - id: restore\n"
    "    after: disable - 10m\n"
    "    server.restore:\n"
    "      name: srv2\n"
    "      source: srv1\n"
    "      pointInTime: rotate + 1m\n"
    "      dataEncryption: {primaryKey: hsm1/hk, identity: id1}\n"
    "  - at: 2026-03-01T12:00:00Z\n"
    "    client.query:\n"
    "      server: srv1\n"
    "      sql: SELECT a, b FROM t WHERE a = $1\n"
    "      params: [\"1\"]\n"
    "      rows: [[\"1\", null]]\n"
    "  - id: connect\n"
    "    client.connect: {server: srv1, session: s1}\n"
    "  - id: probe\n"
    "    after: connect\n"
    "    client.query: {session: s1, sql: SELECT 1}\n"
    "    expect: {session: s1, state: terminated, sqlstate: 57P01, within: 10m}\n"
    "  - id: outage\n"
    "    at: 13h\n"
    "    fault.vault_unreachable: {target: kv1, for: 15m}\n"
    "    expect:\n"
    "      name: no degraded health during the outage\n"
    "      health: srv1\n"
    "      status: Degraded\n"
    "      never: true\n"
    "invariants:\n"
    "  - {server: srv1, state: Disabled, never: true}\n"
    "  - {server: srv1, state: Ready, always: [start, rotate]}\n"
    "finally:\n"
    "  - id: cleanup\n"
    "    server.delete: srv2\n"
    "    expect: {result: ok, within: 20m}\n"
    "  - expect:\n"
    "      query: {server: srv1, sql: SELECT count(*) FROM t}\n"
    "      rows: [[\"1\"]]\n";

static void test_complete_scenario(void **state)
{
    struct sc_scenario *s = parse_ok(complete);
    cmk_time_t start;
    assert_int_equal(cmk_time_parse("2026-03-01T00:00:00Z", &start), 0);

    assert_string_equal(s->file, "t.yaml");
    assert_string_equal(s->name, "complete");
    assert_string_equal(s->description, "every part of the language");
    assert_int_equal(s->n_rules, 3);
    assert_int_equal(s->rules[0], 1);
    assert_int_equal(s->rules[1], 12);
    assert_int_equal(s->rules[2], 18);
    assert_int_equal(s->n_tags, 2);
    assert_string_equal(s->tags[1], "parser");
    assert_true(s->has_seed);
    assert_int_equal(s->seed, 7);
    assert_int_equal(s->clock_start, start);
    assert_int_equal(s->clock_limit, 2 * CMK_DAY);
    assert_string_equal(s->profile, "instant");
    assert_int_equal(sc_get_duration(&s->profile_overrides, "keyCheckInterval", 0), 5 * CMK_MINUTE);
    assert_int_equal(sc_get_duration(&s->profile_overrides, "denyAfter", 0), 2 * CMK_MINUTE);

    /* Setup runs section by section in the language's order, whatever the file's order. */
    static const char *const order[] = {"tenants", "identities", "identities", "vaults",
                                        "hsms",    "keys",       "keys",       "roleAssignments",
                                        "servers", "rows"};
    assert_int_equal(s->n_setup, 10);
    for (size_t i = 0; i < 10; i++)
        assert_string_equal(s->setup[i].section->name, order[i]);
    const struct sc_value *vault = &s->setup[3].call.args;
    assert_int_equal(s->setup[3].call.action->id, SC_A_VAULT_CREATE);
    assert_string_equal(sc_get_str(vault, "name", NULL), "kv1");
    assert_true(sc_get_bool(vault, "enablePurgeProtection", 0));
    assert_int_equal(sc_get_int(vault, "softDeleteRetentionInDays", 0), 90);
    /* Choices keep their canonical spelling whatever the case written. */
    assert_string_equal(sc_get_str(vault, "publicNetworkAccess", NULL), "Disabled");
    const struct sc_value *acls = sc_get(vault, "networkAcls");
    assert_string_equal(sc_get_str(acls, "bypass", NULL), "AzureServices");
    assert_string_equal(sc_get(acls, "ipRules")->u.list.v[0].u.str, "203.0.113.7/32");
    const struct sc_value *perms =
        sc_get(&sc_get(vault, "accessPolicies")->u.list.v[0], "permissions");
    assert_int_equal(perms->u.list.n, 4);
    assert_string_equal(perms->u.list.v[2].u.str, "wrapKey");
    assert_int_equal(perms->line, 40);
    assert_int_equal(perms->col, 24);
    assert_int_equal(perms->u.list.v[2].col, 36);

    const struct sc_value *key = &s->setup[5].call.args;
    const struct sc_value *attrs = sc_get(key, "attributes");
    assert_true(sc_get(attrs, "expires")->u.when.relative);
    assert_int_equal(sc_get(attrs, "expires")->u.when.t, 30 * CMK_DAY);
    assert_false(sc_get(attrs, "notBefore")->u.when.relative);
    assert_string_equal(sc_get_str(sc_get(key, "tags"), "owner", NULL), "team-a");
    assert_int_equal(sc_get_duration(sc_get(key, "rotationPolicy"), "rotateAfterCreate", 0),
                     7 * CMK_DAY);
    assert_string_equal(sc_get_str(&s->setup[7].call.args, "role", NULL),
                        "Managed HSM Crypto Service Encryption User");

    const struct sc_value *enc = sc_get(&s->setup[8].call.args, "dataEncryption");
    const struct sc_keyref *primary = &sc_get(enc, "primaryKey")->u.key;
    assert_string_equal(primary->store, "kv1");
    assert_string_equal(primary->key, "cmk");
    assert_null(primary->version);
    assert_false(primary->is_uri);
    const struct sc_keyref *geo = &sc_get(enc, "geoBackupKey")->u.key;
    assert_true(geo->is_uri);
    assert_string_equal(geo->store, "geokv");
    assert_string_equal(geo->key, "geo");
    assert_null(geo->version);
    assert_int_equal(sc_get(&s->setup[8].call.args, "backup")->u.map.n, 2);

    /* Steps: at, after +/- offsets, and the implicit "right after the previous one". */
    assert_int_equal(s->n_steps, 8);
    const struct sc_step *rotate = sc_scenario_step(s, "rotate");
    assert_int_equal(rotate->at, CMK_HOUR);
    assert_int_equal(rotate->call.action->id, SC_A_KEY_ROTATE);
    assert_string_equal(sc_get(&rotate->call.args, "key")->u.key.key, "cmk");
    const struct sc_step *check = sc_scenario_step(s, "check");
    assert_null(check->call.action);
    assert_true(check->when.implicit);
    assert_int_equal(check->at, CMK_HOUR);
    assert_int_equal(check->expects[0].subject->id, SC_S_KEY);
    assert_int_equal(sc_get_int(&check->expects[0].fields, "versions", 0), 2);

    const struct sc_step *disable = sc_scenario_step(s, "disable");
    assert_int_equal(disable->at, CMK_HOUR + 30 * CMK_MINUTE);
    assert_int_equal(disable->line, 62);
    assert_int_equal(disable->col, 5);
    assert_int_equal(disable->call.line, 64);
    assert_int_equal(disable->call.col, 5);
    assert_string_equal(sc_get(&disable->call.args, "key")->u.key.version, "current");
    assert_string_equal(sc_get_str(&disable->call.args, "from", NULL), "203.0.113.7");
    assert_int_equal(disable->n_expects, 2);
    const struct sc_expect *e = &disable->expects[0];
    assert_int_equal(e->subject->id, SC_S_SERVER);
    assert_string_equal(e->target->u.str, "srv1");
    assert_int_equal(e->timing, SC_TIMING_WINDOW);
    assert_int_equal(e->window_from, 5 * CMK_MINUTE);
    assert_int_equal(e->window_to, 60 * CMK_MINUTE);
    assert_int_equal(e->hold, 30 * CMK_MINUTE);
    assert_int_equal(e->line, 66);
    assert_int_equal(e->col, 9);
    assert_int_equal(disable->expects[1].subject->id, SC_S_RESULT);
    assert_string_equal(disable->expects[1].target->u.str, "error");
    assert_int_equal(sc_get_int(&disable->expects[1].fields, "status", 0), 403);
    assert_int_equal(disable->expects[1].timing, SC_TIMING_NOW);

    const struct sc_step *restore = sc_scenario_step(s, "restore");
    assert_int_equal(restore->at, CMK_HOUR + 20 * CMK_MINUTE);
    assert_int_equal(restore->when.offset, -10 * CMK_MINUTE);
    const struct sc_value *pit = sc_get(&restore->call.args, "pointInTime");
    assert_int_equal(pit->u.point.kind, SC_POINT_STEP);
    assert_int_equal(pit->u.point.at, CMK_HOUR + CMK_MINUTE);
    assert_string_equal(
        sc_get(sc_get(&restore->call.args, "dataEncryption"), "primaryKey")->u.key.store, "hsm1");

    const struct sc_step *query = &s->steps[4];
    assert_string_equal(query->id, "steps[4]");
    assert_false(query->has_id);
    assert_int_equal(query->at, 12 * CMK_HOUR);
    const struct sc_value *rows = sc_get(&query->call.args, "rows");
    assert_string_equal(rows->u.list.v[0].u.list.v[0].u.str, "1");
    assert_true(rows->u.list.v[0].u.list.v[1].is_null);
    assert_int_equal(sc_scenario_step(s, "probe")->at, 12 * CMK_HOUR);
    assert_int_equal(sc_scenario_step(s, "probe")->expects[0].within, 10 * CMK_MINUTE);

    const struct sc_step *outage = sc_scenario_step(s, "outage");
    assert_int_equal(sc_get_duration(&outage->call.args, "for", 0), 15 * CMK_MINUTE);
    e = &outage->expects[0];
    assert_string_equal(e->name, "no degraded health during the outage");
    assert_int_equal(e->timing, SC_TIMING_NEVER);
    assert_int_equal(e->from.kind, SC_POINT_STEP);
    assert_int_equal(e->from.at, 13 * CMK_HOUR);
    assert_int_equal(e->to.kind, SC_POINT_END);

    /* Invariants span the run or a written span. */
    assert_int_equal(s->n_invariants, 2);
    assert_int_equal(s->invariants[0].timing, SC_TIMING_NEVER);
    assert_int_equal(s->invariants[0].from.at, 0);
    assert_int_equal(s->invariants[0].to.at, -1);
    assert_int_equal(s->invariants[1].timing, SC_TIMING_ALWAYS);
    assert_int_equal(s->invariants[1].from.at, 0);
    assert_int_equal(s->invariants[1].to.at, CMK_HOUR);
    assert_string_equal(s->invariants[1].to.step, "rotate");

    /* Finally steps have no time; a scalar is the action's primary argument. */
    assert_int_equal(s->n_finally, 2);
    assert_int_equal(s->finally[0].at, -1);
    assert_int_equal(s->finally[0].call.action->id, SC_A_SERVER_DELETE);
    assert_string_equal(sc_get_str(&s->finally[0].call.args, "server", NULL), "srv2");
    assert_int_equal(s->finally[0].expects[0].within, 20 * CMK_MINUTE);
    e = &s->finally[1].expects[0];
    assert_int_equal(e->subject->id, SC_S_QUERY);
    assert_string_equal(sc_get_str(e->target, "sql", NULL), "SELECT count(*) FROM t");

    char line[256];
    sc_expect_describe(&disable->expects[0], line, sizeof(line));
    assert_string_equal(line, "server srv1 state Inaccessible in window [5m, 1h] and hold 30m");
    sc_expect_describe(&s->invariants[1], line, sizeof(line));
    assert_string_equal(line, "server srv1 state Ready always from start to rotate");
    sc_scenario_free(s);
}

static void test_defaults(void **state)
{
    struct sc_scenario *s = parse_ok(HEAD "steps:\n  - clock.advance: 90m\n");
    cmk_time_t start;
    assert_int_equal(cmk_time_parse("2026-01-01T00:00:00Z", &start), 0);
    assert_int_equal(s->clock_start, start);
    assert_int_equal(s->clock_limit, 0);
    assert_false(s->has_seed);
    assert_string_equal(s->profile, "default");
    assert_int_equal(s->profile_overrides.type, SC_T_NONE);
    assert_int_equal(s->steps[0].at, 0);
    assert_int_equal(sc_get_duration(&s->steps[0].call.args, "by", 0), 90 * CMK_MINUTE);
    sc_scenario_free(s);
}

static void test_flagship_parses(void **state)
{
    const char *src = getenv("CMK_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/scenarios/cases/flagship.yaml", src ? src : ".");
    struct sc_scenario *s = NULL;
    struct sc_diags d;
    struct cmk_err err = {0};
    sc_diags_init(&d);
    int rc = sc_scenario_load(path, &s, &d, &err);
    if (rc != 0)
        sc_diags_print(&d, stderr);
    assert_int_equal(rc, 0);
    assert_string_equal(s->name, "flagship");
    const struct sc_step *revoke = sc_scenario_step(s, "revoke");
    assert_non_null(revoke);
    assert_int_equal(revoke->call.action->id, SC_A_VAULT_REVOKE);
    /* The seed's windows: denied within 10 minutes, Inaccessible within 60. */
    assert_int_equal(revoke->expects[0].subject->id, SC_S_CONNECT);
    assert_int_equal(revoke->expects[0].within, 10 * CMK_MINUTE);
    assert_int_equal(revoke->expects[1].subject->id, SC_S_SERVER);
    assert_string_equal(sc_get_str(&revoke->expects[1].fields, "state", NULL), "Inaccessible");
    assert_int_equal(revoke->expects[1].within, 60 * CMK_MINUTE);
    const struct sc_step *regrant = sc_scenario_step(s, "regrant");
    assert_int_equal(regrant->call.action->id, SC_A_VAULT_GRANT);
    assert_int_equal(regrant->expects[0].within, 60 * CMK_MINUTE);
    assert_non_null(sc_scenario_step(s, "rows-intact"));
    sc_scenario_free(s);
    sc_diags_close(&d);
}

/* ---- broken files ---- */

struct broken {
    const char *name;
    const char *text;
    const char *first; /* the first line the author reads */
    size_t count;      /* how many errors in all */
};

static const struct broken broken[] = {
    {"yaml_indent", HEAD "steps:\n  - id: a\n   at: 1h\n",
     "t.yaml:7:4: error: invalid YAML: did not find expected '-' indicator (while parsing a block "
     "collection at 6:3)",
     1},
    {"yaml_unclosed_flow", HEAD "steps: [\n",
     "t.yaml:6:1: error: invalid YAML: did not find expected node content (while parsing a flow "
     "node at 6:1)",
     1},
    {"yaml_tab", HEAD "setup:\n\tvaults: []\n",
     "t.yaml:6:1: error: invalid YAML: found character that cannot start any token (while scanning "
     "for the next token at 6:1)",
     1},
    {"yaml_bad_utf8",
     HEAD "# caf\xe9"
          "\n",
     "t.yaml:5:6: error: invalid input: incomplete UTF-8 octet sequence", 1},
    /* At the end of a text without a final newline, the position stays on the last line. */
    {"yaml_eof_without_newline", HEAD "clock: {li",
     "t.yaml:5:11: error: invalid YAML: did not find expected ',' or '}' (while parsing a flow "
     "mapping at 5:8)",
     1},
    {"yaml_alias", HEAD "seed: &s 1\nclock: *s\n",
     "t.yaml:6:8: error: aliases such as '*s' are not supported; write the value out", 1},
    {"yaml_tag", HEAD "seed: !!int 5\n",
     "t.yaml:5:7: error: tags such as '!!int' are not supported; write the plain value", 1},
    {"yaml_two_docs", HEAD "---\nkind: Scenario\n",
     "t.yaml:5:1: error: expected one scenario per file, found a second document", 1},
    {"yaml_duplicate_key", HEAD "seed: 1\nseed: 2\n",
     "t.yaml:6:1: error: duplicate key 'seed' in scenario (first at 5:1)", 1},
    {"empty_file", "",
     "t.yaml:1:1: error: expected a scenario: a mapping with apiVersion, kind, metadata, setup and "
     "steps, got an empty file",
     1},
    {"top_is_list", "- a\n- b\n",
     "t.yaml:1:1: error: expected a scenario: a mapping with apiVersion, kind, metadata, setup and "
     "steps, got a list",
     1},
    {"unknown_top_key", HEAD "stepz: []\n",
     "t.yaml:5:1: error: unknown key 'stepz' in scenario (did you mean 'steps'?); allowed keys: "
     "apiVersion, kind, metadata, seed, clock, profile, setup, steps, invariants, finally",
     1},
    {"unknown_metadata_key", HEAD "  rule: [R1]\n",
     "t.yaml:5:3: error: unknown key 'rule' in metadata (did you mean 'rules'?); allowed keys: "
     "name, description, rules, tags",
     1},
    {"unknown_setup_section", HEAD "setup:\n  vaultz: []\n",
     "t.yaml:6:3: error: unknown key 'vaultz' in setup (did you mean 'vaults'?); allowed keys: "
     "tenants, identities, vaults, hsms, keys, roleAssignments, servers, rows",
     1},
    {"unknown_vault_arg", HEAD VAULT "      enablePurgeProtecton: true\n",
     "t.yaml:10:7: error: unknown key 'enablePurgeProtecton' in vaults[0] (did you mean "
     "'enablePurgeProtection'?); allowed keys: name, tenant, location, resourceGroup, sku, "
     "enableSoftDelete, softDeleteRetentionInDays, enablePurgeProtection, enableRbacAuthorization, "
     "publicNetworkAccess, networkAcls, accessPolicies, as",
     1},
    {"unknown_network_acl_key", HEAD VAULT "      networkAcls:\n        bypas: AzureServices\n",
     "t.yaml:11:9: error: unknown key 'bypas' in networkAcls (did you mean 'bypass'?); allowed "
     "keys: defaultAction, bypass, ipRules",
     1},
    {"unknown_access_policy_key",
     HEAD VAULT "      accessPolicies:\n        - identity: id1\n          permissions: [get]\n    "
                "      tenant: x\n",
     "t.yaml:13:11: error: unknown key 'tenant' in accessPolicies[0]; allowed keys: identity, "
     "permissions",
     1},
    {"unknown_step_key",
     HEAD "steps:\n  - id: a\n    at: 1h\n    when: 2h\n    clock.advance: 1m\n",
     "t.yaml:8:5: error: unknown key 'when' in step 'a'; allowed keys: id, at, after, expect and "
     "one action: tenant.create, identity.{create,delete}, "
     "vault.{create,update,delete,recover,purge,set_network_rules,grant,revoke}, "
     "hsm.{create,activate,delete,recover,purge}, "
     "key.{create,import,get,disable,enable,set_expiry,rotate,delete,recover,purge}, "
     "role.{assign,remove}, "
     "server.{create,update_key,restore,replica,geo_restore,stop,start,restart,delete}, "
     "client.{connect,disconnect,query}, fault.vault_unreachable, clock.advance",
     1},
    {"unknown_expect_key",
     HEAD "steps:\n  - id: a\n    clock.advance: 1m\n    expect:\n      server: srv\n      state: "
          "Ready\n      withn: 10m\n",
     "t.yaml:11:7: error: unknown key 'withn' in server expectation (did you mean 'within'?); "
     "allowed keys: server, state, keyStatus, geoKeyStatus, within, window, hold, always, never, "
     "name",
     1},
    {"unknown_query_target_key",
     HEAD "steps:\n  - expect:\n      query: {server: s, sql: x, db: y}\n      rowCount: 1\n",
     "t.yaml:7:34: error: unknown key 'db' in query; allowed keys: server, database, sql, params, "
     "user, password",
     1},
    {"wrong_type_int", HEAD VAULT "      softDeleteRetentionInDays: many\n",
     "t.yaml:10:34: error: expected an integer from 7 to 90 for 'softDeleteRetentionInDays', got "
     "'many'",
     1},
    {"int_out_of_range", HEAD VAULT "      softDeleteRetentionInDays: 120\n",
     "t.yaml:10:34: error: expected an integer from 7 to 90 for 'softDeleteRetentionInDays', got "
     "'120'",
     1},
    {"wrong_type_bool", HEAD VAULT "      enablePurgeProtection: yes\n",
     "t.yaml:10:30: error: expected true or false for 'enablePurgeProtection', got 'yes'", 1},
    {"wrong_type_list",
     HEAD VAULT "      accessPolicies:\n        - identity: id1\n          permissions: get\n",
     "t.yaml:12:24: error: expected a list for 'permissions', got 'get'", 1},
    {"wrong_type_map", HEAD VAULT "      networkAcls: [Deny]\n",
     "t.yaml:10:20: error: expected a mapping for 'networkAcls', got a list", 1},
    {"bad_choice", HEAD VAULT "      publicNetworkAccess: Off\n",
     "t.yaml:10:28: error: expected one of Enabled, Disabled for 'publicNetworkAccess', got 'Off'",
     1},
    {"bad_permission",
     HEAD VAULT
     "      accessPolicies:\n        - identity: id1\n          permissions: [get, wrapkeys]\n",
     "t.yaml:12:30: error: expected one of get, list, create, update, import, delete, recover, "
     "backup, restore, purge, encrypt, decrypt, wrapKey, unwrapKey, sign, verify, rotate, "
     "getrotationpolicy, setrotationpolicy, release, all for 'permissions[1]', got 'wrapkeys' (did "
     "you mean 'wrapKey'?)",
     1},
    {"bad_duration_within",
     HEAD
     "steps:\n  - clock.advance: 1m\n    expect: {server: s, state: Ready, within: 10 minutes}\n",
     "t.yaml:7:47: error: expected a duration such as 10m, 1h30m or 90d for 'within', got '10 "
     "minutes'",
     1},
    {"bad_duration_limit", HEAD "clock:\n  limit: forever\n",
     "t.yaml:6:10: error: expected a duration such as 10m, 1h30m or 90d for 'limit', got 'forever'",
     1},
    {"bad_date", HEAD "clock:\n  start: 2026-02-30\n",
     "t.yaml:6:10: error: expected an ISO 8601 time such as 2026-01-01T00:00:00Z for 'start', got "
     "'2026-02-30'",
     1},
    {"unknown_action", HEAD "steps:\n  - id: a\n    key.disabel: kv1/cmk\n",
     "t.yaml:7:5: error: unknown action 'key.disabel' in step 'a' (did you mean 'key.disable'?); "
     "allowed keys: id, at, after, expect and one action: tenant.create, identity.{create,delete}, "
     "vault.{create,update,delete,recover,purge,set_network_rules,grant,revoke}, "
     "hsm.{create,activate,delete,recover,purge}, "
     "key.{create,import,get,disable,enable,set_expiry,rotate,delete,recover,purge}, "
     "role.{assign,remove}, "
     "server.{create,update_key,restore,replica,geo_restore,stop,start,restart,delete}, "
     "client.{connect,disconnect,query}, fault.vault_unreachable, clock.advance",
     1},
    {"two_actions", HEAD "steps:\n  - clock.advance: 1m\n    server.stop: s\n",
     "t.yaml:7:5: error: expected one action per step, but 'server.stop' follows 'clock.advance' "
     "(at 6:5)",
     1},
    {"missing_required_arg", HEAD VAULT "steps:\n  - vault.grant: {vault: kv1, identity: id1}\n",
     "t.yaml:11:18: error: missing required key 'permissions' in vault.grant", 1},
    {"missing_required_top", "kind: Scenario\nmetadata:\n  name: t\n",
     "t.yaml:1:1: error: missing required key 'apiVersion' in scenario", 1},
    {"bad_api_version", "apiVersion: cmksim/v2\nkind: Scenario\nmetadata: {name: t}\n",
     "t.yaml:1:13: error: expected one of cmksim/v1 for 'apiVersion', got 'cmksim/v2' (did you "
     "mean 'cmksim/v1'?)",
     1},
    {"one_of_missing", HEAD "steps:\n  - client.query: {sql: SELECT 1}\n",
     "t.yaml:6:19: error: expected at least one of server, session in client.query", 1},
    {"shorthand_not_allowed", HEAD "steps:\n  - vault.grant: kv1\n",
     "t.yaml:6:18: error: expected the arguments of vault.grant as a mapping, got 'kv1'", 1},
    {"unknown_step_ref",
     HEAD "steps:\n  - id: revoke\n    clock.advance: 1m\n  - after: revok + 5m\n    "
          "clock.advance: 1m\n",
     "t.yaml:8:12: error: unknown step 'revok' (did you mean 'revoke'?); step ids: revoke", 1},
    {"step_cycle",
     HEAD "steps:\n  - id: a\n    after: c\n    clock.advance: 1m\n  - id: b\n    after: a + 1m\n  "
          "  clock.advance: 1m\n  - id: c\n    after: b\n    clock.advance: 1m\n",
     "t.yaml:10:12: error: expected steps to follow one another without a cycle, but 'b' comes "
     "after itself: a -> c -> b -> a",
     1},
    {"self_cycle", HEAD "steps:\n  - id: a\n    after: a + 1m\n    clock.advance: 1m\n",
     "t.yaml:7:12: error: expected steps to follow one another without a cycle, but 'a' comes "
     "after itself: a -> a",
     1},
    {"at_names_step",
     HEAD "steps:\n  - id: a\n    clock.advance: 1m\n  - at: a + 5m\n    clock.advance: 1m\n",
     "t.yaml:8:9: error: expected a duration from the clock start such as 1h, or a date, for 'at', "
     "got 'a + 5m' (use 'after' to follow a step)",
     1},
    {"at_and_after", HEAD "steps:\n  - id: a\n    at: 1h\n    after: a\n    clock.advance: 1m\n",
     "t.yaml:8:5: error: expected 'at' or 'after' in a step, not both", 1},
    {"duplicate_step_id",
     HEAD "steps:\n  - id: a\n    clock.advance: 1m\n  - id: a\n    clock.advance: 1m\n",
     "t.yaml:8:5: error: duplicate step id 'a' (first at 6:5)", 1},
    {"bad_step_id", HEAD "steps:\n  - id: 5m\n    clock.advance: 1m\n",
     "t.yaml:6:9: error: expected a step id of letters, digits, '_', '-' and '.' that starts with "
     "a letter and is not start, end or a duration, got '5m'",
     1},
    {"negative_step_time",
     HEAD "steps:\n  - id: a\n    at: 1h\n    clock.advance: 1m\n  - after: a - 2h\n    "
          "clock.advance: 1m\n",
     "t.yaml:9:12: error: expected step 'steps[1]' to run after the clock start, but it would run "
     "at -1h",
     1},
    {"step_past_limit", HEAD "clock: {limit: 1d}\nsteps:\n  - at: 2d\n    clock.advance: 1m\n",
     "t.yaml:7:9: error: expected step 'steps[0]' to run within clock.limit 1d, but it runs at 2d",
     1},
    {"finally_with_at", HEAD "finally:\n  - at: 1h\n    clock.advance: 1m\n",
     "t.yaml:6:5: error: expected no 'at' in a finally step: finally steps run in order at the end",
     1},
    {"bad_rule_name", HEAD "  rules: [R10, R19]\n",
     "t.yaml:5:16: error: expected a rule of SPEC.md, R1 to R18 for 'rules[1]', got 'R19'", 1},
    {"bad_rule_zero", HEAD "  rules: [R0]\n",
     "t.yaml:5:11: error: expected a rule of SPEC.md, R1 to R18 for 'rules[0]', got 'R0'", 1},
    {"bad_window_order",
     HEAD
     "steps:\n  - clock.advance: 1m\n    expect: {server: s, state: Ready, window: [60m, 5m]}\n",
     "t.yaml:7:47: error: expected 'window' to start no later than it ends, got [60m, 5m]", 1},
    {"bad_window_shape",
     HEAD "steps:\n  - clock.advance: 1m\n    expect: {server: s, state: Ready, window: 5m}\n",
     "t.yaml:7:47: error: expected a window [from, to] of two durations such as [5m, 60m] for "
     "'window', got '5m'",
     1},
    {"bad_window_item",
     HEAD
     "steps:\n  - clock.advance: 1m\n    expect: {server: s, state: Ready, window: [5m, soon]}\n",
     "t.yaml:7:52: error: expected a duration such as 10m, 1h30m or 90d for 'window[1]', got "
     "'soon'",
     1},
    {"window_and_within",
     HEAD "steps:\n  - clock.advance: 1m\n    expect: {server: s, state: Ready, within: 5m, "
          "window: [1m, 5m]}\n",
     "t.yaml:7:47: error: expected 'within' alone, but 'window' is also given", 1},
    {"invariant_without_span", HEAD "invariants:\n  - {server: s, state: Ready}\n",
     "t.yaml:6:5: error: expected 'always' or 'never' in an invariant", 1},
    {"result_in_invariant", HEAD "invariants:\n  - {result: ok, never: true}\n",
     "t.yaml:6:6: error: expected 'result' only in a step with an action (it is that action's "
     "outcome)",
     1},
    {"no_subject", HEAD "steps:\n  - expect: {state: Ready, within: 5m}\n",
     "t.yaml:6:13: error: expected a subject in the expectation: one of server, key, vault, hsm, "
     "identity, health, activity, audit, connect, session, query, result",
     1},
    {"two_subjects", HEAD "steps:\n  - expect: {server: s, key: kv1/k, state: Ready}\n",
     "t.yaml:6:25: error: expected one subject per expectation, but 'key' follows 'server' (at "
     "6:14)",
     1},
    {"no_matcher", HEAD "steps:\n  - expect: {server: s, within: 5m}\n",
     "t.yaml:6:13: error: expected at least one of state, keyStatus, geoKeyStatus in server "
     "expectation",
     1},
    {"bad_sqlstate",
     HEAD "setup:\n  servers:\n    - name: s\nsteps:\n  - client.query: {server: s, sql: x, "
          "sqlstate: 57p3}\n",
     "t.yaml:9:49: error: expected a SQLSTATE of 5 digits or capitals (57P03) for 'sqlstate', got "
     "'57p3'",
     1},
    {"unknown_vault_ref", HEAD VAULT "steps:\n  - vault.delete: kv2\n",
     "t.yaml:11:19: error: unknown vault 'kv2' (did you mean 'kv1'?); defined: kv1", 1},
    {"unknown_key_ref",
     HEAD VAULT "  keys:\n    - {vault: kv1, name: cmk}\nsteps:\n  - key.disable: kv1/cmk2\n",
     "t.yaml:13:18: error: unknown key 'cmk2' in 'kv1' (did you mean 'cmk'?); defined: cmk", 1},
    {"bad_keyref", HEAD "steps:\n  - key.disable: kv1\n",
     "t.yaml:6:18: error: expected a key reference such as kv1/cmk, kv1/cmk/current or a key URI "
     "for 'key', got 'kv1'",
     1},
    {"duplicate_setup_name", HEAD VAULT "    - name: kv1\n",
     "t.yaml:10:13: error: duplicate vault 'kv1' in setup (first at 9:13)", 1},
    {"bad_profile", HEAD "profile: fastest\n",
     "t.yaml:5:10: error: expected one of default, instant for 'profile', got 'fastest'", 1},
    {"unknown_profile_key", HEAD "profile: {base: default, denyWithin: 5m}\n",
     "t.yaml:5:26: error: unknown key 'denyWithin' in profile; allowed keys: base, "
     "keyCheckInterval, keyCheckJitter, denyAfter, inaccessibleAfter, recoverAfter, "
     "createDuration, updateDuration, startDuration, stopDuration, restartDuration, "
     "deleteDuration, restoreDuration, replicaLag, backupInterval, tokenLifetime",
     1},
    {"empty_step", HEAD "steps:\n  - id: a\n",
     "t.yaml:6:5: error: expected an action or 'expect' in step 'a'", 1},
    {"nul_in_string", HEAD "steps:\n  - id: \"a\\0b\"\n    clock.advance: 1m\n",
     "t.yaml:6:9: error: expected text without NUL characters", 1},
    {"deep_nesting",
     HEAD "x: "
          "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]"
          "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     "t.yaml:5:67: error: expected at most 64 levels of nesting", 1},
    {"multiple_errors", HEAD "seed: -1\nclock: {limit: x}\nstepz: 1\n",
     "t.yaml:5:7: error: expected an integer of at least 0 for 'seed', got '-1'", 3},
};

static void test_broken_files(void **state)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        const struct broken *b = &broken[i];
        struct sc_scenario *s = NULL;
        struct sc_diags d;
        struct cmk_err err = {0};
        char first[2048] = "";
        sc_diags_init(&d);
        int rc = sc_scenario_parse("t.yaml", b->text, strlen(b->text), &s, &d, &err);
        if (d.n > 0)
            sc_diag_format(&d, &d.v[0], first, sizeof(first));
        if (rc != CMK_EPARSE || s != NULL || strcmp(first, b->first) != 0 || d.n != b->count ||
            strcmp(err.code, "InvalidScenario") != 0 ||
            strncmp(err.message, first, strlen(first)) != 0) {
            fprintf(stderr, "case %s: rc %d, %zu errors:\n", b->name, rc, d.n);
            sc_diags_print(&d, stderr);
            fprintf(stderr, "expected (%zu errors):\n%s\n", b->count, b->first);
            failures++;
        }
        sc_scenario_free(s);
        sc_diags_close(&d);
    }
    assert_int_equal(failures, 0);
}

/* Several mistakes are shown together, in file order, and the count is capped. */
static void test_many_errors(void **state)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_puts(&b, HEAD "steps:\n");
    for (int i = 0; i < SC_MAX_ERRORS + 10; i++)
        cmk_buf_printf(&b, "  - clock.advance: {by: 1m, bye%d: 2}\n", i);
    struct sc_scenario *s = NULL;
    struct sc_diags d;
    struct cmk_err err = {0};
    sc_diags_init(&d);
    assert_int_equal(sc_scenario_parse("many.yaml", b.data, b.len, &s, &d, &err), CMK_EPARSE);
    assert_int_equal(d.n, SC_MAX_ERRORS);
    assert_int_equal(d.dropped, 10);
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(d.v[i].line, 6 + (int)i);
    assert_non_null(strstr(err.message, "many.yaml:6:29: error: unknown key 'bye0' in "
                                        "clock.advance; allowed keys: by"));
    assert_non_null(strstr(err.message, "(and 29 more)"));
    sc_diags_close(&d);
    cmk_buf_close(&b);
}

static void test_missing_file(void **state)
{
    struct sc_scenario *s = NULL;
    struct sc_diags d;
    struct cmk_err err = {0};
    sc_diags_init(&d);
    assert_int_equal(sc_scenario_load("/nonexistent/x.yaml", &s, &d, &err), CMK_EIO);
    assert_null(s);
    assert_int_equal(d.n, 1);
    char line[256];
    sc_diag_format(&d, &d.v[0], line, sizeof(line));
    assert_string_equal(line, "/nonexistent/x.yaml: error: cannot read the file: No such file or "
                              "directory");
    assert_string_equal(err.message, line);
    sc_diags_close(&d);
}

static void test_file_too_large(void **state)
{
    size_t n = SC_MAX_FILE_SIZE + 1;
    char *text = malloc(n);
    memset(text, '#', n);
    struct sc_scenario *s = NULL;
    struct cmk_err err = {0};
    assert_int_equal(sc_scenario_parse("big.yaml", text, n, &s, NULL, &err), CMK_EPARSE);
    assert_non_null(strstr(err.message, "big.yaml: error: expected a scenario file of at most"));
    free(text);
}

/* ---- the tables themselves ---- */

static int in_table(const struct sc_field *t, const char *key)
{
    for (; t->key; t++)
        if (strcmp(t->key, key) == 0)
            return 1;
    return 0;
}

static void check_fields(const struct sc_field *t, const char *where)
{
    for (const struct sc_field *f = t; f->key; f++) {
        for (const struct sc_field *g = t; g != f; g++)
            if (strcmp(f->key, g->key) == 0)
                fail_msg("%s: key %s twice", where, f->key);
        if (f->type == SC_T_MAP) {
            assert_non_null(f->fields);
            check_fields(f->fields, f->key);
        }
        if (f->type == SC_T_LIST)
            assert_non_null(f->elem);
    }
}

static void test_schema_tables(void **state)
{
    for (int i = 0; i < SC_A_COUNT; i++) {
        const struct sc_action_def *a = &sc_actions[i];
        assert_int_equal(a->id, i);
        assert_non_null(a->name);
        assert_ptr_equal(sc_action_find(a->name), a);
        assert_non_null(a->args);
        check_fields(a->args, a->name);
        if (a->primary && !in_table(a->args, a->primary))
            fail_msg("%s: primary %s is not an argument", a->name, a->primary);
        if (a->defines != SC_REF_NONE && !in_table(a->args, a->name_arg))
            fail_msg("%s: name_arg %s is not an argument", a->name, a->name_arg);
        for (const char *const *o = a->one_of; o && *o; o++)
            if (!in_table(a->args, *o))
                fail_msg("%s: one_of %s is not an argument", a->name, *o);
    }
    assert_null(sc_action_find("key.disabel"));
    for (int i = 0; i < SC_S_COUNT; i++) {
        const struct sc_subject_def *sd = &sc_subjects[i];
        assert_int_equal(sd->id, i);
        assert_string_equal(sd->target[0].key, sd->name);
        assert_null(sd->target[1].key);
        assert_ptr_equal(sc_subject_find(sd->name), sd);
        check_fields(sd->matchers, sd->name);
        /* A matcher named like a subject would make expectations ambiguous. */
        for (const struct sc_field *f = sd->matchers; f->key; f++) {
            if (sc_subject_find(f->key) != NULL)
                fail_msg("%s: matcher %s is also a subject", sd->name, f->key);
            if (in_table(sc_expect_common, f->key))
                fail_msg("%s: matcher %s is also a timing key", sd->name, f->key);
        }
    }
    for (size_t i = 0; i < sc_setup_section_count; i++)
        assert_true(sc_setup_sections[i].action < SC_A_COUNT);
}

/* The README is the language reference: it must name everything the tables accept. */
static void test_readme_covers_the_language(void **state)
{
    const char *src = getenv("CMK_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/scenarios/README.md", src ? src : ".");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct cmk_buf b;
    char chunk[4096];
    size_t n;
    cmk_buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cmk_buf_append(&b, chunk, n);
    fclose(f);
    char needle[256];
    int missing = 0;
#define NEED(...)                                                                                  \
    do {                                                                                           \
        snprintf(needle, sizeof(needle), __VA_ARGS__);                                             \
        if (strstr(b.data, needle) == NULL) {                                                      \
            fprintf(stderr, "README.md does not mention %s\n", needle);                            \
            missing++;                                                                             \
        }                                                                                          \
    } while (0)
    for (int i = 0; i < SC_A_COUNT; i++) {
        NEED("`%s`", sc_actions[i].name);
        for (const struct sc_field *a = sc_actions[i].args; a->key; a++)
            NEED("%s", a->key);
    }
    for (int i = 0; i < SC_S_COUNT; i++) {
        NEED("`%s`", sc_subjects[i].name);
        for (const struct sc_field *m = sc_subjects[i].matchers; m->key; m++)
            NEED("%s", m->key);
    }
    for (size_t i = 0; i < sc_setup_section_count; i++)
        NEED("`%s`", sc_setup_sections[i].name);
    for (const struct sc_field *p = sc_expect_common; p->key; p++)
        NEED("`%s`", p->key);
#undef NEED
    cmk_buf_close(&b);
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_scenario),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flagship_parses),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_schema_tables),
        cmocka_unit_test(test_readme_covers_the_language),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
