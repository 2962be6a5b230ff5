/* SPDX-License-Identifier: MIT */
/* fuzz-sysfs-line.c — mmio_sysfs_line_parse over every line of a whole
 * sysfs "resource" file (as mmio_sysfs_read_device feeds it), with the
 * line number as the BAR index: no crash, error contract, and every
 * present BAR of lines 0..6 is valid. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size), *line = text;
	unsigned index = 0;

	while (line && *line && index < 40) {
		char *nl = strchr(line, '\n'), *next = NULL, save = 0;
		struct mmio_bar bar;
		struct mmio_error err;
		enum mmio_status st;
		bool present = true;

		/* keep the '\n', as fgets does */
		if (nl) {
			next = nl + 1;
			save = *next;
			*next = '\0';
		}
		fuzz_err_poison(&err);
		memset(&bar, 0, sizeof(bar));
		st = mmio_sysfs_line_parse(line, index, &bar, &present, &err);
		fuzz_err_check(st, &err);
		FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID);
		if (st != MMIO_OK)
			FUZZ_CHECK(!present);
		if (st == MMIO_OK && present) {
			struct mmio_error e;

			FUZZ_CHECK(bar.index == (uint8_t)index);
			FUZZ_CHECK(bar.size != 0);
			if (index <= MMIO_BAR_ROM)
				FUZZ_CHECK(mmio_bar_validate(&bar, &e) == MMIO_OK);
			if (index == MMIO_BAR_ROM)
				FUZZ_CHECK(bar.kind == MMIO_BAR_MEM32 && bar.prefetch);
		}
		FUZZ_CHECK(mmio_sysfs_line_parse(line, index, &bar, &present, NULL) == st);
		if (next)
			*next = save;
		line = next;
		index++;
	}
	free(text);
	return 0;
}
