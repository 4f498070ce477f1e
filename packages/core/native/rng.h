// rng.h — the core's only sources of randomness, all pure functions of a 64-bit seed.
//
//   splitmix64     : the mixer. Turns (seed, epoch, counter) into well-spread 64-bit states, so
//                    every stream below is addressed by a counter instead of carried state.
//   xoshiro256**   : the generator for long streams (parameter init, dropout masks), seeded by
//                    four splitmix64 outputs as its authors recommend.
//   normals        : Box-Muller in double, both outputs used, cast to float by the caller.
//
// Streams and what addresses them:
//   epoch order    : epoch_order(seed, epoch, n)                  (Fisher-Yates, splitmix64 steps)
//   parameter init : xoshiro seeded from mix(seed ^ DOMAIN_INIT)
//   dropout masks  : xoshiro seeded from mix(seed ^ DOMAIN_DROPOUT, epoch, mini-batch index)
// Because a dropout mask depends only on (seed, epoch, mini-batch index within the epoch), a run
// resumed at an epoch boundary, or fed in chunks of any size, draws exactly the same masks.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stddef.h>

static const uint64_t GOLDEN_GAMMA = 0x9e3779b97f4a7c15ULL;
static const uint64_t DOMAIN_INIT = 0x696e69745f706172ULL;     // "init_par"
static const uint64_t DOMAIN_DROPOUT = 0x64726f706f75745fULL;  // "dropout_"

// splitmix64's output function (Steele, Lea, Flood 2014).
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t splitmix64_next(uint64_t* state) {
    *state += GOLDEN_GAMMA;
    return mix64(*state);
}

typedef struct {
    uint64_t s[4];
    int has_spare;   // Box-Muller makes normals in pairs
    double spare;
} Rng;

static inline void rng_seed(Rng* r, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64_next(&sm);
    r->has_spare = 0;
    r->spare = 0.0;
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// xoshiro256** 1.0 (Blackman, Vigna 2018).
static inline uint64_t rng_next(Rng* r) {
    uint64_t* s = r->s;
    const uint64_t result = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

// Uniform double in [0, 1) with 53 random bits.
static inline double rng_uniform(Rng* r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

// Standard normal via Box-Muller; u1 is drawn from (0, 1] so log(u1) is finite.
static inline double rng_normal(Rng* r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    const double u1 = (double)((rng_next(r) >> 11) + 1) * 0x1.0p-53;
    const double u2 = rng_uniform(r);
    const double radius = sqrt(-2.0 * log(u1));
    const double angle = 2.0 * M_PI * u2;
    r->spare = radius * sin(angle);
    r->has_spare = 1;
    return radius * cos(angle);
}

// The seed of the stream that draws the dropout masks of one mini-batch.
static inline uint64_t dropout_stream_seed(uint64_t seed, uint64_t epoch, uint64_t batch_index) {
    uint64_t h = mix64(seed ^ DOMAIN_DROPOUT);
    h = mix64(h + epoch * GOLDEN_GAMMA);
    return mix64(h + (batch_index + 1) * 0xd1b54a32d192ed03ULL);
}

// The epoch's order: a Fisher-Yates permutation of 0..n-1 that depends only on (seed, epoch, n).
// Swap partner j = mix64(state) mod (i+1); the modulo bias (< n / 2^64) is irrelevant here and
// keeping it makes this bit-compatible with the BigInt reference the augment service started with.
static inline void epoch_order(uint64_t seed, uint64_t epoch, uint32_t n, uint32_t* order) {
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    uint64_t state = mix64(seed + epoch * GOLDEN_GAMMA);
    for (uint32_t i = n; i-- > 1;) {
        const uint64_t j = splitmix64_next(&state) % ((uint64_t)i + 1);
        const uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
