/* rng.h: the seeded generator for everything random that shows in output.
 *
 * Key versions (32 hex), GUIDs, operation ids, jitter: all come from a cmk_rng, so a run with
 * the same seed is byte-identical. Each subsystem forks its own stream by name, so adding a
 * draw in one subsystem never shifts another's ids. Key material NEVER comes from here: it
 * comes from OpenSSL's CSPRNG. The generator is xoshiro256** seeded through splitmix64.
 */
#ifndef CMK_RNG_H
#define CMK_RNG_H

#include <stddef.h>
#include <stdint.h>

struct cmk_rng {
    uint64_t s[4];
    uint64_t seed;
};

void cmk_rng_init(struct cmk_rng *r, uint64_t seed);
/* child gets a stream derived from the parent's seed and name; the parent does not advance. */
void cmk_rng_fork(const struct cmk_rng *parent, struct cmk_rng *child, const char *name);
uint64_t cmk_rng_u64(struct cmk_rng *r);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t cmk_rng_below(struct cmk_rng *r, uint64_t n);
/* nhex lowercase hex digits and a NUL into out (out holds nhex + 1). */
void cmk_rng_hex(struct cmk_rng *r, char *out, size_t nhex);
/* RFC 4122 version-4 layout, lowercase: out holds 37 bytes. */
void cmk_rng_guid(struct cmk_rng *r, char out[37]);

#endif
