/* SPDX-License-Identifier: MIT */
/* fuzz-bdf.c — mmio_bdf_parse: no crash, error contract, and a parsed
 * address formats to a string that parses back to the same address. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	struct mmio_bdf b, b2;
	struct mmio_error err;
	enum mmio_status st;

	st = FUZZ_ERR_CALL(err, mmio_bdf_parse(s, &b, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID);
	if (st == MMIO_OK) {
		char buf[16];

		FUZZ_CHECK(b.dev <= 0x1f && b.fn <= 7);
		mmio_bdf_format(&b, buf, sizeof(buf));
		FUZZ_CHECK(strlen(buf) == 12);
		FUZZ_CHECK(mmio_bdf_parse(buf, &b2, NULL) == MMIO_OK);
		FUZZ_CHECK(b.domain == b2.domain && b.bus == b2.bus && b.dev == b2.dev &&
			   b.fn == b2.fn);
		/* case and the optional domain are the only freedoms */
		FUZZ_CHECK(strcasecmp(buf, s) == 0 || strcasecmp(buf + 5, s) == 0);
	}
	/* NULL err must be accepted too */
	FUZZ_CHECK(mmio_bdf_parse(s, &b2, NULL) == st);
	free(s);
	return 0;
}
