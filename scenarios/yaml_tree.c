/* yaml_tree.c: libyaml's event stream to a small tree of nodes that remember where they start.
 *
 * The scenario checker needs random access (look up "id" before reading the rest of a step)
 * and positions for every message, which libyaml's document API keeps only as marks on a
 * tree it owns; building our own from events keeps the tree small and lets us refuse what the
 * language does not use: aliases (a file is read once, top to bottom, and an alias can blow
 * up to billions of nodes), tags, non-scalar keys, more than one document, nesting deeper
 * than SC_MAX_DEPTH, and NUL characters. A YAML syntax error is reported at libyaml's
 * problem mark, with its context ("while parsing a block mapping at 3:1") when it has one.
 */
#include "scenarios/parse_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* The text being read, and where its last line ends. */
struct src {
    const char *text;
    size_t len;
    int end_line, end_col;
};

/* Line breaks as libyaml counts them: LF, CRLF, a lone CR, NEL, LS, PS. Returns the length
 * of the break at i, 0 if none. */
static size_t line_break(const char *text, size_t len, size_t i)
{
    const unsigned char *u = (const unsigned char *)text;
    if (u[i] == '\n')
        return 1;
    if (u[i] == '\r')
        return i + 1 < len && u[i + 1] == '\n' ? 2 : 1;
    if (u[i] == 0xC2 && i + 1 < len && u[i + 1] == 0x85)
        return 2;
    if (u[i] == 0xE2 && i + 2 < len && u[i + 1] == 0x80 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9))
        return 3;
    return 0;
}

/* Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark. */
static void offset_to_pos(const char *text, size_t len, size_t offset, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < len;) {
        size_t brk = line_break(text, len, i);
        if (brk > 0) {
            (*line)++;
            *col = 1;
            i += brk;
            continue;
        }
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            (*col)++;
        i++;
    }
}

/* 1-based position of a mark. At the end of a text without a final line break libyaml's
 * mark moves to a line that is not there: point just after the last character instead. */
static void mark_pos(const struct src *src, const yaml_mark_t *m, int *line, int *col)
{
    *line = (int)m->line + 1;
    *col = (int)m->column + 1;
    if (*line > src->end_line || (*line == src->end_line && *col > src->end_col)) {
        *line = src->end_line;
        *col = src->end_col;
    }
}

static struct sc__node *node_new(enum sc__node_kind kind, int line, int col)
{
    struct sc__node *n = cmk_xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = line;
    n->col = col;
    return n;
}

void sc__node_free(struct sc__node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        sc__node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

static void node_add(struct sc__node *parent, struct sc__node *kid)
{
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 8;
        parent->kids = cmk_xrealloc(parent->kids, parent->cap * sizeof(*parent->kids));
    }
    parent->kids[parent->n++] = kid;
}

static void syntax_error(struct sc__ctx *c, const yaml_parser_t *p, const struct src *src)
{
    const char *problem = p->problem ? p->problem : "cannot be parsed";
    int line, col;
    if (p->error == YAML_MEMORY_ERROR) {
        sc__error(c, 0, 0, "out of memory while reading YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(src->text, src->len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            sc__error(c, line, col, "invalid input: %s (#x%X)", problem, p->problem_value);
        else
            sc__error(c, line, col, "invalid input: %s", problem);
        return;
    }
    mark_pos(src, &p->problem_mark, &line, &col);
    if (p->context != NULL)
        sc__error(c, line, col, "invalid YAML: %s (%s at %d:%d)", problem, p->context,
                  (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    else
        sc__error(c, line, col, "invalid YAML: %s", problem);
}

static int refuse_tag(struct sc__ctx *c, int line, int col, const yaml_char_t *tag)
{
    static const char yaml_prefix[] = "tag:yaml.org,2002:";
    if (tag == NULL)
        return 0;
    const char *t = (const char *)tag;
    int core = strncmp(t, yaml_prefix, sizeof(yaml_prefix) - 1) == 0;
    sc__error(c, line, col, "tags such as '%s%.60s' are not supported; write the plain value",
              core ? "!!" : "", core ? t + sizeof(yaml_prefix) - 1 : t);
    return -1;
}

/* Attach a new node to the open container (or make it the root). */
static int attach(struct sc__ctx *c, struct sc__node **stack, int depth, struct sc__node **root,
                  struct sc__node *n)
{
    if (depth == 0) {
        *root = n;
        return 0;
    }
    struct sc__node *parent = stack[depth - 1];
    if (parent->kind == SC__MAP && parent->n % 2 == 0 && n->kind != SC__SCALAR) {
        sc__error(c, n->line, n->col, "expected a plain key, got %s",
                  n->kind == SC__MAP ? "a mapping" : "a list");
        sc__node_free(n);
        return -1;
    }
    node_add(parent, n);
    return 0;
}

int sc__tree_build(struct sc__ctx *c, const char *text, size_t len, struct sc__node **root)
{
    yaml_parser_t p;
    struct sc__node *stack[SC_MAX_DEPTH];
    int depth = 0, docs = 0, rc = 0, done = 0;

    struct src src = {text, len, 1, 1};
    offset_to_pos(text, len, len, &src.end_line, &src.end_col);
    *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        sc__error(c, 0, 0, "out of memory while reading YAML");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(c, &p, &src);
            rc = -1;
            break;
        }
        int line, col;
        mark_pos(&src, &ev.start_mark, &line, &col);
        struct sc__node *n = NULL;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                sc__error(c, line, col, "expected one scenario per file, found a second document");
                rc = -1;
            }
            break;
        case YAML_SCALAR_EVENT:
            if (refuse_tag(c, line, col, ev.data.scalar.tag) != 0) {
                rc = -1;
                break;
            }
            if (strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length) {
                sc__error(c, line, col, "expected text without NUL characters");
                rc = -1;
                break;
            }
            n = node_new(SC__SCALAR, line, col);
            n->text = cmk_xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->len = ev.data.scalar.length;
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            rc = attach(c, stack, depth, root, n);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const yaml_char_t *tag = ev.type == YAML_SEQUENCE_START_EVENT
                                         ? ev.data.sequence_start.tag
                                         : ev.data.mapping_start.tag;
            if (refuse_tag(c, line, col, tag) != 0) {
                rc = -1;
                break;
            }
            if (depth == SC_MAX_DEPTH) {
                sc__error(c, line, col, "expected at most %d levels of nesting", SC_MAX_DEPTH);
                rc = -1;
                break;
            }
            n = node_new(ev.type == YAML_SEQUENCE_START_EVENT ? SC__SEQ : SC__MAP, line, col);
            rc = attach(c, stack, depth, root, n);
            if (rc == 0)
                stack[depth++] = n;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        case YAML_ALIAS_EVENT:
            sc__error(c, line, col, "aliases such as '*%s' are not supported; write the value out",
                      (const char *)ev.data.alias.anchor);
            rc = -1;
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc != 0) {
        sc__node_free(*root);
        *root = NULL;
    }
    return rc;
}

int sc__node_is_null(const struct sc__node *n)
{
    if (n == NULL)
        return 1;
    if (n->kind != SC__SCALAR || !n->plain)
        return 0;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

const char *sc__node_describe(const struct sc__node *n, char *buf, size_t cap)
{
    if (n == NULL || sc__node_is_null(n))
        return "null";
    if (n->kind == SC__MAP)
        return "a mapping";
    if (n->kind == SC__SEQ)
        return "a list";
    /* Shorten long text and keep the message on one line. */
    char shown[48];
    size_t k = 0;
    for (size_t i = 0; i < n->len && k < 40; i++)
        shown[k++] = (unsigned char)n->text[i] < 0x20 ? ' ' : n->text[i];
    shown[k] = '\0';
    snprintf(buf, cap, "'%s%s'", shown, n->len > 40 ? "..." : "");
    return buf;
}

const struct sc__node *sc__map_get(const struct sc__node *map, const char *key)
{
    if (map == NULL || map->kind != SC__MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (strcmp(map->kids[i]->text, key) == 0)
            return map->kids[i + 1];
    return NULL;
}
