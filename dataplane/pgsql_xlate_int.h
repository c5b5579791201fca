/* pgsql_xlate_int.h: the token rewriter shared by pgsql_xlate.c (expressions, queries) and
 * pgsql_ddl.c (CREATE/ALTER/DROP). Not a public API.
 *
 * The translator walks the PostgreSQL tokens of one statement and emits SQLite tokens into an
 * output list; rewrites that need what came before (a "::" cast wraps the operand already
 * emitted) edit the tail of that list. Generated text is owned by the translator.
 */
#ifndef DP_PGSQL_XLATE_INT_H
#define DP_PGSQL_XLATE_INT_H

#include "pgwire_int.h"

struct otok {
    const char *s;
    uint32_t n;
    uint8_t kind; /* enum pg_tok_kind */
    uint8_t space;
    uint8_t gen; /* generated: always spaced */
};

struct alias_ins {
    size_t pos; /* emit the alias after source token pos */
    char name[DP_PG_NAME_MAX];
};

struct xl {
    const struct pg_lex *lx;
    struct pg_plan *p;
    struct otok *o;
    size_t no, ocap;
    char **owned;
    size_t nowned, ownedcap;
    struct alias_ins *al;
    size_t nal, alcap, alnext;
    int depth;
    int failed;
    int main_select; /* the result list was analysed */
    int is_select;   /* the statement is a query (FOR UPDATE is dropped) */
};

struct pg_typename {
    char name[64];   /* normalized: "double precision", "int4", "timestamp with time zone" */
    size_t mod_from; /* typmod tokens [mod_from, mod_to) including parens, or equal */
    size_t mod_to;
    int array;
    size_t end; /* first token after the type */
};

const struct pg_tok *xl_tok(const struct xl *x, size_t j);
int xl_is(const struct xl *x, size_t j, const char *word);
void xl_name(const struct xl *x, size_t j, char *out, size_t n);
void xl_push(struct xl *x, struct otok t);
void xl_emit_src(struct xl *x, size_t j);
void xl_emit(struct xl *x, enum pg_tok_kind kind, const char *s);
void xl_emit_own(struct xl *x, enum pg_tok_kind kind, char *s);
void xl_fail(struct xl *x, size_t j, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Translate tokens [from, to). */
void xl_range(struct xl *x, size_t from, size_t to);
/* Index of the token closing the bracket at j (matching kind), or to if none. */
size_t xl_match(const struct xl *x, size_t j, size_t to);
/* Parse a type name at j; 0 or -1 (not a type). */
int xl_parse_type(const struct xl *x, size_t j, size_t to, struct pg_typename *t);
/* The SQLite expression text for a literal string s. */
char *xl_quote(const char *s, size_t n);

/* An identifier that is not a function name when "(" follows (SELECT, WHERE, AND...). */
int xl_non_function_word(const struct otok *o);
/* The output token o is the keyword w. */
int xl_oword(const struct otok *o, const char *w);
/* Index of the first depth-0 word w in [from, to), or to. */
size_t xl_find_word(const struct xl *x, size_t from, size_t to, const char *w);

/* pgsql_names.c: name and type the result list starting at j (after SELECT or RETURNING). */
void xl_analyze_items(struct xl *x, size_t j, size_t to);

/* pgsql_forms.c: each returns the token after what it consumed (0: not handled here). */
void xl_apply_cast(struct xl *x, size_t j, const struct pg_typename *t);
size_t xl_form_cast(struct xl *x, size_t j, size_t to);      /* x::type at j */
size_t xl_form_cast_call(struct xl *x, size_t j, size_t to); /* CAST(x AS type) */
size_t xl_form_position(struct xl *x, size_t j, size_t to);
size_t xl_form_substring(struct xl *x, size_t j, size_t to);
size_t xl_form_extract(struct xl *x, size_t j, size_t to);
size_t xl_form_array(struct xl *x, size_t j, size_t to);
size_t xl_form_series(struct xl *x, size_t j, size_t to);
size_t xl_form_values(struct xl *x, size_t j, size_t to); /* (VALUES ...) s(a, b) */

/* pgsql_ddl.c: CREATE TABLE/INDEX/VIEW, ALTER TABLE, DROP. Return 1 when handled. */
int xl_ddl(struct xl *x, size_t i, size_t end);

#endif
