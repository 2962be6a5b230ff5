/* SPDX-License-Identifier: MIT */
/*
 * resolve.c — one device spelling to a device: "profile:NAME" from the
 * catalogue (catalogue.c), "bars:..." and PCI addresses through the
 * parsers (parse.c).  Kept apart so the catalogue, which uses the
 * parsers, and the parsers do not depend on each other.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mmio-model.h"

/* How much of a user string is quoted back in an error message (as in parse.c). */
#define QUOTE_MAX 120

static enum mmio_status unknown_profile(const char *name, const struct mmio_catalogue *cat,
					struct mmio_error *err)
{
	char known[384];
	size_t used = 0;

	if (!cat || cat->n == 0)
		return mmio_error_set(err, MMIO_E_NOTFOUND,
				      "unknown profile \"%.*s\"; no device catalogue loaded",
				      QUOTE_MAX, name);
	known[0] = '\0';
	for (size_t i = 0; i < cat->n; i++) {
		const char *pn = cat->profiles[i].name;
		size_t need = strlen(pn) + (i ? 2 : 0);

		/* Keep room for the ", ..." that says the list was cut. */
		if (used + need + 6 >= sizeof(known)) {
			memcpy(known + used, ", ...", 6);
			break;
		}
		used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", pn);
	}
	return mmio_error_set(err, MMIO_E_NOTFOUND, "unknown profile \"%.*s\"; known: %s",
			      QUOTE_MAX / 2, name, known);
}

enum mmio_status mmio_device_resolve(const char *spec, const char *sysfs_root,
				     const struct mmio_catalogue *cat, struct mmio_device *out,
				     struct mmio_error *err)
{
	static const char profile[] = "profile:";
	struct mmio_bdf bdf;
	enum mmio_status st;

	if (!spec || !*spec)
		return mmio_error_set(err, MMIO_E_INVALID, "empty device");
	if (strncmp(spec, profile, sizeof(profile) - 1) == 0) {
		const char *name = spec + sizeof(profile) - 1;
		const struct mmio_profile *p = mmio_catalogue_find(cat, name);

		if (!p)
			return unknown_profile(name, cat, err);
		*out = p->device;
		return MMIO_OK;
	}
	if (strncmp(spec, "bars:", 5) == 0)
		return mmio_bars_parse(spec, out, err);
	if (!isxdigit((unsigned char)spec[0]))
		return mmio_error_set(err, MMIO_E_INVALID,
				      "unrecognised device \"%.*s\": expected a PCI address (0000:03:00.0), \"bars:KIND:SIZE,...\" or \"profile:NAME\"",
				      QUOTE_MAX, spec);
	st = mmio_bdf_parse(spec, &bdf, err);
	if (st != MMIO_OK)
		return st;
	return mmio_sysfs_read_device(sysfs_root, &bdf, out, err);
}
