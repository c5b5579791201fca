/* parse_internal.h: what the scenario parser's files share (sc__ names), nothing else uses it.
 *
 * The parser works in three passes: yaml_tree.c turns libyaml's events into a small tree of
 * nodes that keep their line and column; parse.c and convert.c check that tree against the
 * tables of schema.c and build the model of scenario.h; resolve.c places the steps in time
 * and checks every name reference. Each pass reports problems with sc__error and goes on
 * where it can, so one run shows several mistakes.
 */
#ifndef SC_PARSE_INTERNAL_H
#define SC_PARSE_INTERNAL_H

#include <stddef.h>

#include "common/buf.h"
#include "scenarios/scenario.h"

enum sc__node_kind { SC__SCALAR, SC__SEQ, SC__MAP };

struct sc__node {
    enum sc__node_kind kind;
    int line, col; /* 1-based, where the node starts */
    char *text;    /* SCALAR: NUL-terminated (NUL bytes inside are refused by the tree builder) */
    size_t len;
    int plain;              /* SCALAR written plain (no quotes, no block style) */
    struct sc__node **kids; /* SEQ: items; MAP: key, value, key, value... */
    size_t n, cap;
};

struct sc__ctx {
    const char *file;
    struct sc_diags *diags;
    size_t nerr;
    struct sc_scenario *s;
    struct step_key *step_ids; /* resolve.c: timed steps by id, while resolving */
    size_t n_step_ids;
};

void sc__error(struct sc__ctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 0 once SC_MAX_ERRORS are kept: further errors are only counted, so callers skip building
 * costly messages (a file can hold hundreds of thousands of mistakes). */
static inline int sc__room(const struct sc__ctx *c)
{
    return c->diags->n < SC_MAX_ERRORS;
}

/* yaml_tree.c: 0 and *root (NULL for an empty document), or -1 after reporting. */
int sc__tree_build(struct sc__ctx *c, const char *text, size_t len, struct sc__node **root);
void sc__node_free(struct sc__node *n);
int sc__node_is_null(const struct sc__node *n);
/* "a mapping", "a list", "null" or 'text' (quoted, shortened), for "got ..." in messages. */
const char *sc__node_describe(const struct sc__node *n, char *buf, size_t cap);
const struct sc__node *sc__map_get(const struct sc__node *map, const char *key);

/* convert.c: check n against f, fill *out (SC_T_NONE on failure). label names the node in
 * messages ("'within'"), where names the enclosing mapping ("vault.create"). 0 or -1. */
int sc__convert(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *f,
                const char *label, struct sc_value *out);
/* A mapping against fields (NULL-key ended). Keys whose field type is SC_T_NONE are allowed
 * but left to the caller. Missing required keys are reported at the mapping. */
int sc__convert_map(struct sc__ctx *c, const struct sc__node *n, const struct sc_field *fields,
                    const char *where, struct sc_value *out);
/* The same against the union of several tables (an expectation: target, matchers, timing). */
int sc__convert_map_multi(struct sc__ctx *c, const struct sc__node *n,
                          const struct sc_field *const *tables, size_t ntables, const char *where,
                          struct sc_value *out);
/* Unknown and duplicate keys of a mapping against a list of allowed names (NULL-ended). */
int sc__check_keys(struct sc__ctx *c, const struct sc__node *map, const char *const *allowed,
                   const char *where);
/* first[i]: the index of the first pair of map with the same key as pair i (heap; free it). */
size_t *sc__key_firsts(const struct sc__node *map);
/* Reports pair as a duplicate key if it is one; 1 if reported. */
int sc__duplicate_key(struct sc__ctx *c, const struct sc__node *map, const size_t *first,
                      size_t pair, const char *where);
int sc__parse_point(struct sc__ctx *c, const struct sc__node *n, const char *label,
                    struct sc_point *out);
const char *sc__suggest(const char *word, const char *const *cands, size_t n);
void sc__join(struct cmk_buf *b, const char *const *names, size_t n);

/* parse_step.c */
int sc__parse_expect(struct sc__ctx *c, const struct sc__node *n, int invariant, int has_action,
                     struct sc_expect *out);
/* One call's arguments: a mapping, the primary argument alone, or nothing. */
int sc__parse_args(struct sc__ctx *c, const struct sc_action_def *def, const struct sc__node *n,
                   const char *where, int line, int col, struct sc_call *call);
/* A list of steps into c->s->steps, or c->s->finally. */
void sc__parse_steps(struct sc__ctx *c, const struct sc__node *n, int in_finally);

/* resolve.c: step times and name references, once the whole file is read. */
void sc__resolve(struct sc__ctx *c);

/* model.c */
void sc__value_close(struct sc_value *v);
void sc__point_close(struct sc_point *p);
void sc__expect_close(struct sc_expect *e);
void sc__step_close(struct sc_step *st);
void sc__keyref_close(struct sc_keyref *k);

/* schema.c, schema_file.c */
extern const struct sc_field sc__top_fields[];
extern const struct sc_field sc__string_elem, sc__cell_elem, sc__row_elem;
int sc__check_sqlstate(const char *s);
extern const struct sc_field sc__profile_fields[];

#endif
