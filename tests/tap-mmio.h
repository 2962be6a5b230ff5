/* SPDX-License-Identifier: MIT */
/* tap-mmio.h — TAP checks on the model's results (lib/'s mmio_status and
 * mmio_error), for the unit tests of the parsers and the catalogue. */
#ifndef MMIO_TAP_MMIO_H
#define MMIO_TAP_MMIO_H
#include "mmio-model.h"
#include "tap.h"

/* Expects failure with code and a message containing want: two points. */
static inline void expect_err(enum mmio_status st, const struct mmio_error *e, enum mmio_status code,
			      const char *what, const char *want)
{
	char name[256];

	snprintf(name, sizeof(name), "%s fails with %s", what, mmio_status_name(code));
	if (!tap_ok(st == code, "%s", name))
		tap_diag("  got %s: %s", mmio_status_name(st), st ? e->msg : "");
	snprintf(name, sizeof(name), "%s: message names the problem", what);
	tap_contains(st ? e->msg : "", want, name);
}
#endif
