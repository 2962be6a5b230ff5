/* SPDX-License-Identifier: MIT */
/* fixture.h — the back-end tests' captured toolstack output (tests/backends). */
#ifndef MMIO_TESTS_BACKENDS_FIXTURE_H
#define MMIO_TESTS_BACKENDS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

/* The whole of tests/backends/NAME, NUL-terminated (free it); NULL when it
 * cannot be read. */
static inline char *fixture_read(const char *name)
{
	char path[512];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", BACKENDS_FIXTURES, name);
	if (!(f = fopen(path, "r")))
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (buf)
		buf[len] = '\0';
	fclose(f);
	return buf;
}

#endif
