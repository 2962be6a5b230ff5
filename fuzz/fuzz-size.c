/* SPDX-License-Identifier: MIT */
/* fuzz-size.c — mmio_size_parse and mmio_size_format: no crash, error
 * contract, and every accepted size is exact (decimal and hex re-parse). */
#include <inttypes.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	struct mmio_error err;
	enum mmio_status st;
	uint64_t v = 0, v2 = 0;

	st = FUZZ_ERR_CALL(err, mmio_size_parse(s, &v, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID);
	if (st == MMIO_OK) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%" PRIu64, v);
		FUZZ_CHECK(mmio_size_parse(buf, &v2, NULL) == MMIO_OK && v2 == v);
		snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
		FUZZ_CHECK(mmio_size_parse(buf, &v2, NULL) == MMIO_OK && v2 == v);
		mmio_size_format(v, buf, sizeof(buf));
		FUZZ_CHECK(buf[0] != '\0');
		mmio_size_format(v, buf, 4); /* truncation must stay in bounds */
	}
	free(s);
	return 0;
}
