/* test_server_crash.c: kill -9 during a long-running create. A child process accepts the PUT
 * (202, the operation is durable), tells the parent, and is killed; the parent reopens the same
 * state directory. The server is either completed (Ready) or, when the completion fails, gone
 * with the operation Failed: never a half-made server.
 */
#include <signal.h>
#include <sys/wait.h>

#include "srv_test.h"

static int provision_fails;
static int provisions;

static int dp_provision(void *d, const struct cp_dp_server *s, struct cmk_err *err)
{
    provisions++;
    if (provision_fails)
        return cmk_err_set(err, CMK_EIO, 500, "InternalServerError",
                           "The storage of the server could not be created.");
    return 0;
}

static const struct cp_dataplane_ops dp_ops = {
    .version = CP_DATAPLANE_OPS_VERSION,
    .provision = dp_provision,
};

/* The vault the same in every process (its data plane lives in memory). */
static void vault(struct t_env *env, const char *oid)
{
    env->nvaults = 0;
    struct stub_vault *kv = stub_vault_add(env, "rg", "kv1", "eastus", 0, 1, 90, 1);
    stub_key_add(kv, "k1", "RSA", 2048);
    stub_grant(kv, oid, KP_ALL);
}

/* The child: accept the create, say so on fd, wait to be killed. */
static void child(const char *dir, int fd, int wait_fd)
{
    struct t_env env;
    memset(&env, 0, sizeof(env));
    snprintf(env.dir, sizeof(env.dir), "%s", dir);
    env.persistent = 1;
    t_open(&env);
    t_rg(&env, "rg", "eastus");
    char id[512], oid[37], path[512];
    t_identity(&env, "rg", "id1", "eastus", id, oid);
    vault(&env, oid);
    t_server_path(path, sizeof(path), "rg", "crashy", NULL);
    json_t *b = t_cmk_body("eastus", "https://kv1.vault.azure.net/keys/k1", id, NULL, NULL);
    int st = t_mgmt(&env, "PUT", path, b, NULL);
    char ack = st == 202 ? 'A' : 'E';
    if (write(fd, &ack, 1) != 1)
        _exit(3);
    char c;
    for (;;)
        if (read(wait_fd, &c, 1) <= 0) /* blocks until killed */
            _exit(4);
}

static void crash_during_create(int fail)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "/tmp/cmk-cp-crash-XXXXXX");
    assert_non_null(mkdtemp(dir));
    int ack[2], hold[2];
    assert_int_equal(pipe(ack), 0);
    assert_int_equal(pipe(hold), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ack[0]);
        close(hold[1]);
        child(dir, ack[1], hold[0]);
        _exit(0);
    }
    close(ack[1]);
    close(hold[0]);
    char c = 0;
    assert_int_equal(read(ack[0], &c, 1), 1);
    assert_int_equal(c, 'A');
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    close(ack[0]);
    close(hold[1]);

    /* A new process on the same state. */
    struct t_env env;
    memset(&env, 0, sizeof(env));
    snprintf(env.dir, sizeof(env.dir), "%s", dir);
    env.persistent = 1;
    t_open(&env);
    char id[512], oid[37], st[32];
    struct cp_managed_identity mi;
    struct cmk_err err;
    char mid[512];
    snprintf(mid, sizeof(mid),
             "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
             "userAssignedIdentities/id1",
             T_SUB);
    if (cp_identity_mi_get(&env.rt, mid, &mi, &err) != 0)
        t_fail_err("identity survived", &err);
    snprintf(id, sizeof(id), "%s", mi.p.resource_id);
    snprintf(oid, sizeof(oid), "%s", mi.p.object_id);
    cp_managed_identity_close(&mi);
    vault(&env, oid);
    provisions = 0;
    provision_fails = fail;
    cp_servers_set_dataplane(env.s, &dp_ops);
    /* Acknowledged: it exists, being created. */
    assert_string_equal(t_state(&env, "rg", "crashy", st, sizeof(st)), "Provisioning");
    t_advance(&env, 10 * CMK_MINUTE);
    assert_int_equal(provisions, 1);
    if (!fail) {
        assert_string_equal(t_state(&env, "rg", "crashy", st, sizeof(st)), "Ready");
        t_advance(&env, 30 * CMK_MINUTE); /* the monitor watches it after the restart too */
        struct cp_server_status ss;
        char sid[512];
        snprintf(sid, sizeof(sid),
                 "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/"
                 "flexibleServers/crashy",
                 T_SUB);
        assert_int_equal(cp_server_status(env.s, sid, &ss, &err), 0);
        assert_int_equal(ss.state, CP_STATE_READY);
        assert_true(ss.key_valid);
    } else {
        assert_string_equal(t_state(&env, "rg", "crashy", st, sizeof(st)), "");
        json_t *list = cmk_arm_activity_list(env.arm, T_SUB, NULL, &err);
        size_t i;
        json_t *e;
        int failed = 0;
        json_array_foreach(list, i, e)
        {
            const char *s =
                json_string_value(json_object_get(json_object_get(e, "status"), "value"));
            const char *d = json_string_value(
                json_object_get(e, "properties")
                    ? json_object_get(json_object_get(e, "properties"), "statusMessage")
                    : NULL);
            if (s && strcmp(s, "Failed") == 0 && d && strstr(d, "storage of the server"))
                failed = 1;
        }
        json_decref(list);
        assert_true(failed);
    }
    /* Nothing pending is left behind. */
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(env.rt.db,
                                        "SELECT COUNT(*) FROM arm_operations WHERE status = "
                                        "'InProgress'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0);
    sqlite3_finalize(q);
    t_env_free(&env);
}

static void test_create_completes(void **state)
{
    (void)state;
    crash_during_create(0);
}

static void test_create_fails_cleanly(void **state)
{
    (void)state;
    crash_during_create(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_completes),
        cmocka_unit_test(test_create_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
