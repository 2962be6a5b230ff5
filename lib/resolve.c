/* SPDX-License-Identifier: MIT */
/*
 * resolve.c — one device spelling to a device: "profile:NAME" from the
 * catalogue (catalogue.c), "bars:..." and PCI addresses through the
 * parsers (parse.c).  Kept apart so the catalogue, which uses the
 * parsers, and the parsers do not depend on each other.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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

bool mmio_slot_address(const char *spec, struct mmio_bdf *out)
{
	char buf[32];
	size_t n = strlen(spec);

	if (n >= 2 && strcmp(spec + n - 2, ".*") == 0)
		n -= 2;
	else if (strchr(spec, '.'))
		return false;
	if (n + 3 > sizeof(buf))
		return false;
	memcpy(buf, spec, n);
	memcpy(buf + n, ".0", 3);
	return mmio_bdf_parse(buf, out, NULL) == MMIO_OK;
}

/* Appends function fn (a single-function device) to the slot in out. */
static enum mmio_status add_function(struct mmio_device *out, const struct mmio_device *f, unsigned fn,
				     const char *spec, struct mmio_error *err)
{
	if (out->nfn >= MMIO_MAX_FUNCTIONS)
		return mmio_error_set(err, MMIO_E_INVALID, "\"%.*s\": a slot has at most %d functions",
				      QUOTE_MAX, spec, MMIO_MAX_FUNCTIONS);
	if (out->nbars + f->nbars > MMIO_MAX_DEVICE_BARS)
		return mmio_error_set(err, MMIO_E_INVALID, "\"%.*s\": more than %d BARs in one slot",
				      QUOTE_MAX, spec, MMIO_MAX_DEVICE_BARS);
	out->fns[out->nfn] = (struct mmio_function){ .fn = (uint8_t)fn, .has_bdf = f->has_bdf, .bdf = f->bdf };
	out->nfn++;
	for (unsigned i = 0; i < f->nbars; i++) {
		out->bars[out->nbars] = f->bars[i];
		out->bars[out->nbars++].fn = (uint8_t)fn;
	}
	if (fn == 0) {
		out->has_bdf = f->has_bdf;
		out->bdf = f->bdf;
	}
	return MMIO_OK;
}

/* Every function of host slot `slot` that sysfs has, with the host's
 * function numbers (as xl pci-attach BDF.* does); function 0 must be there. */
static enum mmio_status resolve_slot(const char *spec, const struct mmio_bdf *slot, const char *sysfs_root,
				     struct mmio_device *out, struct mmio_error *err)
{
	struct mmio_device f;
	enum mmio_status st;

	memset(out, 0, sizeof(*out));
	for (unsigned fn = 0; fn < MMIO_MAX_FUNCTIONS; fn++) {
		struct mmio_bdf b = *slot;
		struct mmio_error e;

		b.fn = (uint8_t)fn;
		st = mmio_sysfs_read_device(sysfs_root, &b, &f, &e);
		if (st == MMIO_E_NOTFOUND && fn > 0)
			continue;
		if (st != MMIO_OK) {
			if (err)
				*err = e;
			if (st == MMIO_E_NOTFOUND)
				mmio_error_set(err, st, "no PCI slot %.*s: its function 0 is missing (%.300s)",
					       QUOTE_MAX, spec, e.msg);
			return st;
		}
		st = add_function(out, &f, fn, spec, err);
		if (st != MMIO_OK)
			return st;
	}
	snprintf(out->name, sizeof(out->name), "%.*s", (int)sizeof(out->name) - 1, spec);
	if (out->nfn == 1)
		out->nfn = 0;       /* only function 0: a single-function device */
	return MMIO_OK;
}

/* One function: a BDF, "bars:..." or "profile:NAME". */
static enum mmio_status resolve_one(const char *spec, const char *sysfs_root,
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
				      "unrecognised device \"%.*s\": expected a PCI address (0000:03:00.0, or "
				      "0000:03:00 for every function of a slot), \"bars:KIND:SIZE,...\" or "
				      "\"profile:NAME\", functions of one slot joined with \"+\"",
				      QUOTE_MAX, spec);
	st = mmio_bdf_parse(spec, &bdf, err);
	if (st != MMIO_OK)
		return st;
	return mmio_sysfs_read_device(sysfs_root, &bdf, out, err);
}

enum mmio_status mmio_device_resolve(const char *spec, const char *sysfs_root,
				     const struct mmio_catalogue *cat, struct mmio_device *out,
				     struct mmio_error *err)
{
	struct mmio_device *f, *slot;
	struct mmio_bdf sb;
	enum mmio_status st = MMIO_OK;
	const char *p;
	unsigned fn = 0;

	if (!spec || !*spec)
		return mmio_error_set(err, MMIO_E_INVALID, "empty device");
	if (isxdigit((unsigned char)spec[0]) && !strchr(spec, '+') && mmio_slot_address(spec, &sb))
		return resolve_slot(spec, &sb, sysfs_root, out, err);
	if (!strchr(spec, '+'))
		return resolve_one(spec, sysfs_root, cat, out, err);

	/* functions of one slot, function 0 first */
	f = malloc(sizeof(*f));
	slot = calloc(1, sizeof(*slot));
	if (!f || !slot) {
		free(f);
		free(slot);
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory resolving a device");
	}
	for (p = spec; st == MMIO_OK; fn++) {
		const char *end = strchr(p, '+');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char part[512];

		if (len == 0) {
			st = mmio_error_set(err, MMIO_E_INVALID, "\"%.*s\": function %u is empty",
					    QUOTE_MAX, spec, fn);
			break;
		}
		if (len >= sizeof(part)) {
			st = mmio_error_set(err, MMIO_E_INVALID, "\"%.*s...\": function %u is too long",
					    QUOTE_MAX, spec, fn);
			break;
		}
		memcpy(part, p, len);
		part[len] = '\0';
		if (isxdigit((unsigned char)part[0]) && mmio_slot_address(part, &sb)) {
			st = mmio_error_set(err, MMIO_E_INVALID,
					    "\"%.*s\": %s is a whole slot; join single functions with \"+\" "
					    "(0000:03:00.0+0000:03:00.1) or give the slot alone",
					    QUOTE_MAX, spec, part);
			break;
		}
		st = resolve_one(part, sysfs_root, cat, f, err);
		if (st == MMIO_OK && mmio_device_is_slot(f))
			st = mmio_error_set(err, MMIO_E_INVALID, "\"%.*s\": function %u is itself a slot",
					    QUOTE_MAX, spec, fn);
		if (st == MMIO_OK)
			st = add_function(slot, f, fn, spec, err);
		if (!end)
			break;
		p = end + 1;
	}
	if (st == MMIO_OK) {
		snprintf(slot->name, sizeof(slot->name), "%.*s", (int)sizeof(slot->name) - 1, spec);
		*out = *slot;
	}
	free(f);
	free(slot);
	return st;
}
