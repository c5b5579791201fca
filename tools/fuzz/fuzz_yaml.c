/* fuzz_yaml.c: the scenario parser (scenarios/scenario.h) on arbitrary bytes.
 *
 * Whatever the input, the parser must return, never crash, leak or hang, and keep its
 * promise: a model and no diagnostics on success; on failure no model, at least one
 * diagnostic, each with a message and a position inside the text (line 0 only for problems
 * about the whole file), and the first one in err.message. A parsed model is walked the
 * way the runner will walk it (descriptions, arguments, times). Corpus: corpus/yaml/, valid
 * scenarios and broken ones; replayed by ctest in every build (replay.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scenario.h"

static void walk_value(const struct sc_value *v, size_t *count)
{
    (*count)++;
    if (v->type == SC_T_LIST)
        for (size_t i = 0; i < v->u.list.n; i++)
            walk_value(&v->u.list.v[i], count);
    if (v->type == SC_T_MAP || v->type == SC_T_DICT)
        for (size_t i = 0; i < v->u.map.n; i++)
            walk_value(&v->u.map.v[i].value, count);
}

static void walk_steps(const struct sc_step *steps, size_t n, int timed, size_t *count)
{
    char line[512];
    for (size_t i = 0; i < n; i++) {
        const struct sc_step *st = &steps[i];
        if (st->id == NULL || (timed && st->at < 0) || (!timed && st->at != -1))
            abort();
        if (st->call.action != NULL) {
            if (sc_action_find(st->call.action->name) != st->call.action)
                abort();
            walk_value(&st->call.args, count);
        }
        for (size_t j = 0; j < st->n_expects; j++) {
            sc_expect_describe(&st->expects[j], line, sizeof(line));
            walk_value(&st->expects[j].fields, count);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_scenario *s = NULL;
    struct sc_diags d;
    struct cmk_err err;
    char line[2048];

    if (size > (1u << 20))
        return 0;
    memset(&err, 0, sizeof(err));
    sc_diags_init(&d);
    int rc = sc_scenario_parse("fuzz.yaml", (const char *)data, size, &s, &d, &err);
    if (rc == 0) {
        size_t count = 0;
        if (s == NULL || d.n != 0)
            abort();
        for (size_t i = 0; i < s->n_setup; i++)
            walk_value(&s->setup[i].call.args, &count);
        walk_steps(s->steps, s->n_steps, 1, &count);
        walk_steps(s->finally, s->n_finally, 0, &count);
        for (size_t i = 0; i < s->n_invariants; i++) {
            sc_expect_describe(&s->invariants[i], line, sizeof(line));
            if (s->invariants[i].timing != SC_TIMING_ALWAYS &&
                s->invariants[i].timing != SC_TIMING_NEVER)
                abort();
        }
        sc_scenario_free(s);
    } else {
        /* An upper bound of libyaml's line count: it also breaks lines at CR, NEL, LS, PS. */
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xE2;
        if (rc != CMK_EPARSE || s != NULL || d.n == 0 || strcmp(err.code, "InvalidScenario") != 0)
            abort();
        for (size_t i = 0; i < d.n; i++) {
            const struct sc_diag *g = &d.v[i];
            if (g->msg == NULL || g->msg[0] == '\0' || g->line < 0 || (size_t)g->line > lines ||
                (g->line > 0 && g->col < 1))
                abort();
            sc_diag_format(&d, g, line, sizeof(line));
        }
        sc_diag_format(&d, &d.v[0], line, sizeof(line));
        if (strncmp(err.message, line, strlen(line) < 1000 ? strlen(line) : 1000) != 0)
            abort();
    }
    sc_diags_close(&d);
    return 0;
}
