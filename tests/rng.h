/* SPDX-License-Identifier: MIT */
/* rng.h — the tests' random numbers: xorshift64, the same sequence from the
 * same seed on every machine, so that a printed failing seed replays. */
#ifndef MMIO_TEST_RNG_H
#define MMIO_TEST_RNG_H
#include <stdint.h>

static inline uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* The test's one sequence: seed it by setting rng_state (never 0). */
static uint64_t rng_state;

static inline uint64_t rnd(void)
{
	return xorshift64(&rng_state);
}

/* Uniform enough in [0, n); 0 when n is 0. */
static inline uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}
#endif
