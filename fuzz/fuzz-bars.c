/* SPDX-License-Identifier: MIT */
/* fuzz-bars.c — mmio_bars_parse: no crash, error contract, and every
 * accepted list gives a device that passes fuzz_device_check(). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	struct mmio_device d;
	struct mmio_error err;
	enum mmio_status st;

	/* Most inputs should reach the items: prefix "bars:" unless the input
	 * starts with '!', which fuzzes the prefix check itself. */
	if (size && data[0] == '!') {
		s = fuzz_strdup(data + 1, size - 1);
	} else {
		s = malloc(size + 6);
		if (!s)
			abort();
		memcpy(s, "bars:", 5);
		memcpy(s + 5, data, size);
		s[size + 5] = '\0';
	}
	st = FUZZ_ERR_CALL(err, mmio_bars_parse(s, &d, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID);
	if (st == MMIO_OK) {
		fuzz_device_check(&d);
		FUZZ_CHECK(d.nbars >= 1);
		FUZZ_CHECK(!d.has_bdf);
		FUZZ_CHECK(strncmp(d.name, "bars:", 5) == 0);
	}
	free(s);
	return 0;
}
