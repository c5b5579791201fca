/* engine_cache.c: the engine's bounded cache of opened private keys (see engine_int.h).
 *
 * Unsealing a key (AES-GCM + DER parse) costs far more than the RSA operation's bookkeeping,
 * so hot keys stay opened: a hash table of VS_CACHE_BUCKETS chains with an LRU list, at most
 * VS_CACHE_MAX entries. Entries are dropped when their key is deleted or purged (and the whole
 * cache when the engine closes); oct key bytes are cleansed before free, and EVP_PKEY_free
 * cleanses the private components of RSA/EC keys. */
#include "engine_int.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static char *make_id(const char *space, const char *name, const char *version)
{
    struct cmk_buf b;
    cmk_buf_init(&b);
    vs__aad(space, name, version, &b);
    return cmk_buf_take(&b, NULL);
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % VS_CACHE_BUCKETS;
}

static void lru_unlink(struct vs_engine *e, struct vs_cached *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        e->lru_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        e->lru_tail = c->prev;
    c->prev = c->next = NULL;
}

static void lru_push_front(struct vs_engine *e, struct vs_cached *c)
{
    c->prev = NULL;
    c->next = e->lru_head;
    if (e->lru_head)
        e->lru_head->prev = c;
    e->lru_head = c;
    if (e->lru_tail == NULL)
        e->lru_tail = c;
}

static void entry_free(struct vs_cached *c)
{
    EVP_PKEY_free(c->pkey);
    if (c->oct) {
        OPENSSL_cleanse(c->oct, c->octlen);
        free(c->oct);
    }
    free(c->id);
    free(c);
}

static void remove_entry(struct vs_engine *e, struct vs_cached *c)
{
    struct vs_cached **pp = &e->buckets[hash(c->id)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    lru_unlink(e, c);
    e->ncached--;
    entry_free(c);
}

struct vs_cached *vs__cache_get(struct vs_engine *e, const char *space, const char *name,
                                const char *version)
{
    char *id = make_id(space, name, version);
    struct vs_cached *c = e->buckets[hash(id)];
    while (c && strcmp(c->id, id) != 0)
        c = c->hnext;
    free(id);
    if (c && c != e->lru_head) {
        lru_unlink(e, c);
        lru_push_front(e, c);
    }
    return c;
}

void vs__cache_put(struct vs_engine *e, const char *space, const char *name, const char *version,
                   EVP_PKEY *pkey, const unsigned char *oct, size_t octlen)
{
    struct vs_cached *old = vs__cache_get(e, space, name, version);
    if (old)
        remove_entry(e, old);
    while (e->ncached >= VS_CACHE_MAX && e->lru_tail)
        remove_entry(e, e->lru_tail);
    struct vs_cached *c = cmk_xcalloc(1, sizeof(*c));
    c->id = make_id(space, name, version);
    if (pkey) {
        EVP_PKEY_up_ref(pkey);
        c->pkey = pkey;
    }
    if (oct && octlen) {
        c->oct = cmk_xmalloc(octlen);
        memcpy(c->oct, oct, octlen);
        c->octlen = octlen;
    }
    unsigned h = hash(c->id);
    c->hnext = e->buckets[h];
    e->buckets[h] = c;
    lru_push_front(e, c);
    e->ncached++;
}

/* name NULL: every key of the space. */
void vs__cache_drop(struct vs_engine *e, const char *space, const char *name)
{
    struct cmk_buf prefix;
    cmk_buf_init(&prefix);
    cmk_buf_puts(&prefix, space);
    cmk_buf_append(&prefix, "\n", 1);
    if (name) {
        for (const char *p = name; *p; p++) {
            char ch = (char)tolower((unsigned char)*p);
            cmk_buf_append(&prefix, &ch, 1);
        }
        cmk_buf_append(&prefix, "\n", 1);
    }
    struct vs_cached *c = e->lru_head;
    while (c) {
        struct vs_cached *next = c->next;
        if (strncmp(c->id, prefix.data, prefix.len) == 0)
            remove_entry(e, c);
        c = next;
    }
    cmk_buf_close(&prefix);
}

void vs__cache_flush(struct vs_engine *e)
{
    while (e->lru_head)
        remove_entry(e, e->lru_head);
}
