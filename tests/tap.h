/* SPDX-License-Identifier: MIT */
/* tap.h — a tiny TAP producer for automake's tap-driver.sh. */
#ifndef MMIO_TAP_H
#define MMIO_TAP_H
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void tap_plan(int n) { printf("1..%d\n", n); }
static inline void tap_done(void) { printf("1..%d\n", tap_n); }

__attribute__((format(printf, 2, 3)))
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define tap_is_u64(got, want, name) \
	(tap_ok((uint64_t)(got) == (uint64_t)(want), "%s", name) ? 1 : \
	 (tap_diag("  got 0x%" PRIx64 ", want 0x%" PRIx64, (uint64_t)(got), (uint64_t)(want)), 0))
#define tap_is_str(got, want, name) \
	(tap_ok(strcmp((got), (want)) == 0, "%s", name) ? 1 : \
	 (tap_diag("  got \"%s\"\n#   want \"%s\"", (got), (want)), 0))
#define tap_contains(hay, needle, name) \
	(tap_ok(strstr((hay), (needle)) != NULL, "%s", name) ? 1 : \
	 (tap_diag("  \"%s\"\n#   does not contain \"%s\"", (hay), (needle)), 0))

static inline int tap_exit(void) { return tap_failed ? 1 : 0; }
#endif
