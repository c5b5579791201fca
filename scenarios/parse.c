/* parse.c: a scenario file to the model of scenario.h: the entry points, the top level,
 * metadata, clock, profile, setup and invariants (steps and expectations: parse_step.c).
 *
 * The YAML tree (yaml_tree.c) is walked once; each part is checked against schema.c with
 * convert.c, which reports what was expected at the offending node and goes on, so a file
 * with several mistakes shows them together. resolve.c then places steps in time and checks
 * names. Nothing is executed here.
 */
#include "scenarios/parse_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- setup, invariants, profile ---- */

static void parse_setup(struct sc__ctx *c, const struct sc__node *n)
{
    struct sc_scenario *s = c->s;
    const char *names[16];
    char got[64], where[96];
    size_t total = 0;

    if (sc__node_is_null(n))
        return;
    for (size_t i = 0; i < sc_setup_section_count; i++)
        names[i] = sc_setup_sections[i].name;
    names[sc_setup_section_count] = NULL;
    if (n->kind != SC__MAP) {
        sc__error(c, n->line, n->col, "expected a mapping of setup sections for 'setup', got %s",
                  sc__node_describe(n, got, sizeof(got)));
        return;
    }
    sc__check_keys(c, n, names, "setup");
    for (size_t i = 0; i + 1 < n->n; i += 2)
        if (n->kids[i + 1]->kind == SC__SEQ)
            total += n->kids[i + 1]->n;
    s->setup = cmk_xcalloc(total + 1, sizeof(struct sc_setup_item));
    for (size_t i = 0; i < sc_setup_section_count; i++) {
        const struct sc_setup_section *sec = &sc_setup_sections[i];
        const struct sc__node *list = sc__map_get(n, sec->name);
        if (list == NULL || sc__node_is_null(list))
            continue;
        if (list->kind != SC__SEQ) {
            sc__error(c, list->line, list->col, "expected a list of %s arguments for '%s', got %s",
                      sc_actions[sec->action].name, sec->name,
                      sc__node_describe(list, got, sizeof(got)));
            continue;
        }
        for (size_t j = 0; j < list->n; j++) {
            const struct sc__node *item = list->kids[j];
            struct sc_setup_item *it = &s->setup[s->n_setup];
            snprintf(where, sizeof(where), "%s[%zu]", sec->name, j);
            if (item->kind != SC__MAP) {
                sc__error(
                    c, item->line, item->col, "expected a mapping of %s arguments for '%s', got %s",
                    sc_actions[sec->action].name, where, sc__node_describe(item, got, sizeof(got)));
                continue;
            }
            it->section = sec;
            sc__parse_args(c, &sc_actions[sec->action], item, where, item->line, item->col,
                           &it->call);
            s->n_setup++;
        }
    }
}

static void parse_invariants(struct sc__ctx *c, const struct sc__node *n)
{
    struct sc_scenario *s = c->s;
    char got[64];
    if (sc__node_is_null(n))
        return;
    if (n->kind != SC__SEQ) {
        sc__error(c, n->line, n->col, "expected a list of expectations for 'invariants', got %s",
                  sc__node_describe(n, got, sizeof(got)));
        return;
    }
    s->invariants = cmk_xcalloc(n->n, sizeof(struct sc_expect));
    for (size_t i = 0; i < n->n; i++) {
        struct sc_expect *e = &s->invariants[s->n_invariants];
        if (sc__parse_expect(c, n->kids[i], 1, 0, e) == 0)
            s->n_invariants++;
        else
            sc__expect_close(e);
    }
}

static void parse_profile(struct sc__ctx *c, const struct sc__node *n)
{
    struct sc_scenario *s = c->s;
    const struct sc_field *base = &sc__profile_fields[0]; /* "base": the names */
    if (n->kind == SC__MAP) {
        if (sc__convert_map(c, n, sc__profile_fields, "profile", &s->profile_overrides) == 0) {
            const char *name = sc_get_str(&s->profile_overrides, "base", "default");
            free(s->profile);
            s->profile = cmk_xstrdup(name);
        }
        return;
    }
    if (n->kind != SC__SCALAR || sc__node_is_null(n)) {
        char got[64];
        sc__error(c, n->line, n->col,
                  "expected a profile name (default, instant) or a mapping of timing values for "
                  "'profile', got %s",
                  sc__node_describe(n, got, sizeof(got)));
        return;
    }
    struct sc_value v;
    if (sc__convert(c, n, base, "profile", &v) == 0) {
        free(s->profile);
        s->profile = v.u.str;
        v.u.str = NULL;
    }
    sc__value_close(&v);
}

/* ---- the whole file ---- */

static void parse_top(struct sc__ctx *c, const struct sc__node *root)
{
    struct sc_scenario *s = c->s;
    struct sc_value top;
    char got[64];

    if (root == NULL) {
        sc__error(c, 1, 1,
                  "expected a scenario: a mapping with apiVersion, kind, metadata, setup and "
                  "steps, got an empty file");
        return;
    }
    if (root->kind != SC__MAP) {
        sc__error(c, root->line, root->col,
                  "expected a scenario: a mapping with apiVersion, kind, metadata, setup and "
                  "steps, got %s",
                  sc__node_describe(root, got, sizeof(got)));
        return;
    }
    sc__convert_map(c, root, sc__top_fields, "scenario", &top);

    const struct sc_value *meta = sc_get(&top, "metadata");
    if (meta) {
        s->name = cmk_xstrdup(sc_get_str(meta, "name", ""));
        const char *desc = sc_get_str(meta, "description", NULL);
        s->description = desc ? cmk_xstrdup(desc) : NULL;
        const struct sc_value *rules = sc_get(meta, "rules"), *tags = sc_get(meta, "tags");
        if (rules) {
            s->rules = cmk_xcalloc(rules->u.list.n + 1, sizeof(int));
            for (size_t i = 0; i < rules->u.list.n; i++)
                s->rules[s->n_rules++] = atoi(rules->u.list.v[i].u.str + 1);
        }
        if (tags) {
            s->tags = cmk_xcalloc(tags->u.list.n + 1, sizeof(char *));
            for (size_t i = 0; i < tags->u.list.n; i++)
                s->tags[s->n_tags++] = cmk_xstrdup(tags->u.list.v[i].u.str);
        }
    }
    const struct sc_value *seed = sc_get(&top, "seed");
    if (seed) {
        s->seed = (uint64_t)seed->u.i;
        s->has_seed = 1;
    }
    const struct sc_value *clock = sc_get(&top, "clock");
    if (clock) {
        const struct sc_value *start = sc_get(clock, "start");
        if (start)
            s->clock_start = start->u.date;
        s->clock_limit = sc_get_duration(clock, "limit", 0);
    }
    sc__value_close(&top);

    const struct sc__node *n;
    if ((n = sc__map_get(root, "profile")) != NULL)
        parse_profile(c, n);
    if ((n = sc__map_get(root, "setup")) != NULL)
        parse_setup(c, n);
    if ((n = sc__map_get(root, "steps")) != NULL && !sc__node_is_null(n))
        sc__parse_steps(c, n, 0);
    if ((n = sc__map_get(root, "invariants")) != NULL)
        parse_invariants(c, n);
    if ((n = sc__map_get(root, "finally")) != NULL && !sc__node_is_null(n))
        sc__parse_steps(c, n, 1);
}

static int diag_cmp(const void *a, const void *b)
{
    const struct sc_diag *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x < y ? -1 : x > y; /* qsort is not stable: keep the order of discovery */
}

int sc_scenario_parse(const char *file, const char *text, size_t len, struct sc_scenario **out,
                      struct sc_diags *diags, struct cmk_err *err)
{
    struct sc_diags local;
    struct sc__ctx c = {.file = file};
    struct sc__node *root = NULL;

    *out = NULL;
    sc_diags_init(&local);
    if (diags == NULL)
        diags = &local;
    sc_diags_close(diags);
    diags->file = cmk_xstrdup(file ? file : "-");
    c.diags = diags;
    c.s = cmk_xcalloc(1, sizeof(*c.s));
    c.s->file = cmk_xstrdup(diags->file);
    c.s->profile = cmk_xstrdup("default");
    cmk_time_parse("2026-01-01T00:00:00Z", &c.s->clock_start);

    if (len > SC_MAX_FILE_SIZE)
        sc__error(&c, 0, 0, "expected a scenario file of at most %u bytes, got %zu bytes",
                  SC_MAX_FILE_SIZE, len);
    else if (sc__tree_build(&c, text, len, &root) == 0)
        parse_top(&c, root);
    sc__node_free(root);
    sc__resolve(&c);

    if (c.nerr == 0) {
        *out = c.s;
        if (diags == &local)
            sc_diags_close(&local);
        return 0;
    }
    sc_scenario_free(c.s);
    /* Bubble-free ordering by position; entries are few (SC_MAX_ERRORS). */
    for (size_t i = 1; i < diags->n; i++)
        for (size_t j = i; j > 0 && diag_cmp(&diags->v[j - 1], &diags->v[j]) > 0; j--) {
            struct sc_diag t = diags->v[j];
            diags->v[j] = diags->v[j - 1];
            diags->v[j - 1] = t;
        }
    if (err != NULL) {
        char first[1024];
        sc_diag_format(diags, &diags->v[0], first, sizeof(first));
        if (c.nerr > 1)
            cmk_err_set(err, CMK_EPARSE, 0, "InvalidScenario", "%s (and %zu more)", first,
                        c.nerr - 1);
        else
            cmk_err_set(err, CMK_EPARSE, 0, "InvalidScenario", "%s", first);
    }
    if (diags == &local)
        sc_diags_close(&local);
    return CMK_EPARSE;
}

int sc_scenario_load(const char *path, struct sc_scenario **out, struct sc_diags *diags,
                     struct cmk_err *err)
{
    struct cmk_buf b;
    char chunk[65536];
    size_t n;

    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        goto unreadable;
    cmk_buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cmk_buf_append(&b, chunk, n);
        if (b.len > SC_MAX_FILE_SIZE)
            break;
    }
    if (ferror(f)) {
        cmk_buf_close(&b);
        fclose(f);
        goto unreadable;
    }
    fclose(f);
    int rc = sc_scenario_parse(path, b.data ? b.data : "", b.len, out, diags, err);
    cmk_buf_close(&b);
    return rc;

unreadable:;
    int e = errno;
    if (diags != NULL) {
        sc_diags_close(diags);
        diags->file = cmk_xstrdup(path);
        diags->v = cmk_xcalloc(1, sizeof(struct sc_diag));
        diags->cap = 1;
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot read the file: %s", strerror(e));
        diags->v[0].msg = cmk_xstrdup(msg);
        diags->n = 1;
    }
    return cmk_err_set(err, CMK_EIO, 0, "InvalidScenario", "%s: error: cannot read the file: %s",
                       path, strerror(e));
}
