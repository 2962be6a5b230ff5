/* SPDX-License-Identifier: MIT */
/* fuzz-resolve.c — mmio_device_resolve on any spelling.  The first line
 * of the input is the device spec (a slot's functions joined with '+', or a
 * host slot 0000:65:00); the rest, if any, is a catalogue
 * (loaded first; a catalogue that fails to load means "no catalogue").
 * BDFs are read from the sysfs fixtures (tests/fixtures/sysfs). */
#include "fuzz.h"

#ifndef FUZZ_SYSFS_ROOT
#define FUZZ_SYSFS_ROOT "tests/fixtures/sysfs"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size), *nl = strchr(s, '\n');
	struct mmio_catalogue cat = { 0 };
	bool have_cat = false;
	struct mmio_device d;
	struct mmio_error err;
	enum mmio_status st;

	if (nl) {
		*nl = '\0';
		have_cat = mmio_catalogue_load_string(nl + 1, NULL, &cat, NULL) == MMIO_OK;
	}
	st = FUZZ_ERR_CALL(err, mmio_device_resolve(s, FUZZ_SYSFS_ROOT, have_cat ? &cat : NULL, &d, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID || st == MMIO_E_NOTFOUND);
	if (st == MMIO_OK) {
		/* a slot ("A+B+..."): function 0 is the first part */
		char *plus = strchr(s, '+');
		if (plus) {
			FUZZ_CHECK(d.nfn >= 2 && d.fns[0].fn == 0);
			*plus = '\0';
		}
		fuzz_device_check(&d);
		if (strncmp(s, "profile:", 8) == 0)
			FUZZ_CHECK(have_cat && mmio_catalogue_find(&cat, s + 8));
		else if (strncmp(s, "bars:", 5) == 0)
			FUZZ_CHECK(!d.has_bdf);
		else
			FUZZ_CHECK(d.has_bdf);
	}
	if (have_cat)
		mmio_catalogue_free(&cat);
	free(s);
	return 0;
}
