/* test_server_state.c: the server state table, every (state, event) pair: the legal ones go
 * where the service goes, every other one is a 409 with the service's code and a message
 * naming the server and its state. The expected table is written out here independently of
 * server_state.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "controlplane/server.h"

#define P  CP_STATE_PROVISIONING
#define R  CP_STATE_READY
#define U  CP_STATE_UPDATING
#define SG CP_STATE_STOPPING
#define SD CP_STATE_STOPPED
#define ST CP_STATE_STARTING
#define RS CP_STATE_RESTARTING
#define D  CP_STATE_DROPPING
#define DI CP_STATE_DISABLED
#define I  CP_STATE_INACCESSIBLE
#define X  (-1) /* illegal */

/* expect[from][event] */
static const int expect[CP_STATE__COUNT][CP_EV__COUNT] = {
    /*             create  upd upd-key upd-done stop stop-done start start-done restart
                   restart-done delete key-lost key-restored disable enable */
    [P] = {R, X, X, X, X, X, X, X, X, X, X, X, X, X, X},
    [R] = {X, U, U, X, SG, X, X, X, RS, X, D, I, R, DI, X},
    [U] = {X, X, X, R, X, X, X, X, X, X, X, I, U, X, X},
    [SG] = {X, X, X, X, X, SD, X, X, X, X, X, X, X, X, X},
    [SD] = {X, X, X, X, X, X, ST, X, X, X, D, SD, SD, DI, X},
    [ST] = {X, X, X, X, X, X, X, R, X, X, X, I, X, X, X},
    [RS] = {X, X, X, X, X, X, X, X, X, R, X, I, RS, X, X},
    [D] = {X, X, X, X, X, X, X, X, X, X, X, X, X, X, X},
    [DI] = {X, X, X, X, X, X, X, X, X, X, D, X, X, X, R},
    [I] = {X, X, U, X, X, X, X, X, X, X, D, I, R, DI, X},
};

static void test_every_pair(void **state)
{
    (void)state;
    for (int s = 0; s < CP_STATE__COUNT; s++) {
        for (int e = 0; e < CP_EV__COUNT; e++) {
            enum cp_state to = CP_STATE__COUNT;
            struct cmk_err err;
            cmk_err_clear(&err);
            int rc = cp_server_transition((enum cp_state)s, (enum cp_event)e, "srv1", &to, &err);
            if (expect[s][e] == X) {
                if (rc != CMK_ECONFLICT || err.status != 409 || err.code[0] == '\0')
                    fail_msg("%s + %s: want 409, got rc %d status %d", cp_state_name(s),
                             cp_event_name(e), rc, err.status);
                assert_non_null(strstr(err.message, "srv1"));
            } else {
                if (rc != 0 || (int)to != expect[s][e])
                    fail_msg("%s + %s: want %s, got rc %d -> %s (%s)", cp_state_name(s),
                             cp_event_name(e), cp_state_name(expect[s][e]), rc, cp_state_name(to),
                             err.message);
            }
        }
    }
}

static void expect_refusal(enum cp_state s, enum cp_event e, const char *code, const char *text)
{
    struct cmk_err err;
    cmk_err_clear(&err);
    assert_int_equal(cp_server_transition(s, e, "srv1", NULL, &err), CMK_ECONFLICT);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.code, code);
    if (strstr(err.message, text) == NULL)
        fail_msg("%s + %s: '%s' lacks '%s'", cp_state_name(s), cp_event_name(e), err.message, text);
}

static void test_service_codes(void **state)
{
    (void)state;
    expect_refusal(I, CP_EV_START, "ServerIsInaccessible", "customer-managed key");
    expect_refusal(I, CP_EV_STOP, "ServerIsInaccessible", "Inaccessible");
    expect_refusal(I, CP_EV_RESTART, "ServerIsInaccessible", "revalidate");
    expect_refusal(I, CP_EV_UPDATE, "ServerIsInaccessible", "srv1");
    expect_refusal(R, CP_EV_START, "ServerIsNotStopped", "Current Server State = Ready");
    expect_refusal(U, CP_EV_STOP, "ServerIsNotReady", "Current Server State = Updating");
    expect_refusal(SD, CP_EV_RESTART, "ServerIsNotReady", "Current Server State = Stopped");
    expect_refusal(SD, CP_EV_UPDATE, "ServerIsNotReady", "Update Server");
    expect_refusal(D, CP_EV_START, "ServerGroupDropping", "dropping state");
    expect_refusal(D, CP_EV_DELETE, "ServerGroupDropping", "dropping state");
    expect_refusal(P, CP_EV_DELETE, "ServerIsBusy", "Provisioning");
}

static void test_names(void **state)
{
    (void)state;
    for (int s = 0; s < CP_STATE__COUNT; s++) {
        enum cp_state back;
        assert_int_equal(cp_state_parse(cp_state_name(s), &back), 0);
        assert_int_equal((int)back, s);
    }
    enum cp_state x;
    assert_int_equal(cp_state_parse("inaccessible", &x), 0);
    assert_int_equal(x, CP_STATE_INACCESSIBLE);
    assert_int_equal(cp_state_parse("Available", &x), CMK_EINVAL);
    assert_string_equal(cp_state_name(CP_STATE_READY), "Ready");
    assert_string_equal(cp_event_name(CP_EV_KEY_LOST), "key-lost");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_service_codes),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
