/* SPDX-License-Identifier: MIT */
/*
 * fuzz-info-pci.c — the libxl back end's pure half (daemon/libxl-map.c):
 * QEMU's HMP `info pci` text -> live BARs (tsd_libxl_parse_info_pci), then
 * tsd_libxl_layout() under one of four domain configurations picked by the
 * input length, tsd_libxl_unassigned() for every device, and the layout
 * contract of fuzz-layout.h.
 */
#include "fuzz-layout.h"
#include "libxl-map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	struct tsd_live_bar *bars = NULL;
	size_t nbars = 0;
	struct mmio_error err;
	enum mmio_status st;

	st = FUZZ_ERR_CALL(err, tsd_libxl_parse_info_pci(s, &bars, &nbars, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID);
	if (st == MMIO_OK) {
		struct tsd_libxl_model_input in;
		struct tsd_layout l;
		char note[256], msg[128];

		FUZZ_CHECK(nbars == 0 || bars);
		fuzz_live_bars_check(bars, nbars);
		memset(&in, 0, sizeof(in));
		in.type = LIBXL_DOMAIN_TYPE_HVM;
		in.dm_version = LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN;
		in.max_mem = UINT64_C(4) << 30;
		switch (size % 4) {
		case 0:  /* 2 GiB, no hole written */
			in.lowmem_end = UINT64_C(0x80000000);
			break;
		case 1:  /* 8 GiB, RAM above 4 GiB */
			in.lowmem_end = UINT64_C(0xF0000000);
			in.highmem_end = UINT64_C(0x210000000);
			break;
		case 2:  /* mmio_hole=1G written */
			in.lowmem_end = UINT64_C(0xC0000000);
			in.mmio_hole = UINT64_C(0x40000000);
			in.hole_size_written = true;
			break;
		default: /* qemu-traditional, relocation allowed */
			in.lowmem_end = UINT64_C(0xE0000000);
			in.allow_memory_relocate = true;
			in.dm_version = LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN_TRADITIONAL;
			break;
		}
		st = FUZZ_ERR_CALL(err, tsd_libxl_layout(&in, bars, nbars, &l, note, sizeof(note), &err));
		FUZZ_CHECK(st == MMIO_OK);
		FUZZ_CHECK(memchr(note, '\0', sizeof(note)));
		fuzz_layout_check(&l);
		for (size_t i = 0; i < nbars; i++) {
			size_t k = tsd_libxl_unassigned(bars, nbars, bars[i].device, msg, sizeof(msg));
			FUZZ_CHECK(k <= nbars);
			FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)));
		}
		tsd_layout_clear(&l);
	} else {
		FUZZ_CHECK(bars == NULL && nbars == 0);
	}
	free(bars);
	free(s);
	return 0;
}
