/* SPDX-License-Identifier: MIT */
/*
 * clock.h — what the C benchmarks share: a monotonic clock in ns
 * and the comparison for sorting batch times (medians, p99).
 */
#ifndef MMIOD_BENCH_CLOCK_H
#define MMIOD_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

#endif
