/* SPDX-License-Identifier: MIT */
/*
 * fuzz-query-pci.c — QMP `query-pci` replies as the libvirt back end reads
 * them (tsd_libvirt_parse_query_pci, json-c): no crash, no leak, error
 * contract, valid live BARs; then the BARs as occupancy of a q35 model
 * layout (live windows from tsd_libvirt_live_windows() when the input is
 * long enough to pick them), checked by fuzz-layout.h.
 */
#include "fuzz-layout.h"
#include "libvirt-map.h"

static const char q35[] =
	"<domain type='kvm'><memory unit='KiB'>8388608</memory>"
	"<os><type machine='pc-q35-7.2'>hvm</type></os></domain>";

static void layout(struct tsd_live_bar *bars, size_t nbars, size_t size)
{
	struct tsd_libvirt_domain d;
	struct tsd_layout l;

	if (tsd_libvirt_parse_domain(q35, &d, NULL) != MMIO_OK)
		abort();
	memset(&l, 0, sizeof(l));
	if (tsd_libvirt_model_layout(&d, &l, NULL) != MMIO_OK)
		abort();
	if (size % 3 == 1)
		tsd_libvirt_live_windows(&l, UINT64_C(0x80000000), UINT64_C(0xFEC00000),
					 UINT64_C(0x380000000000), UINT64_C(0x380800000000));
	else if (size % 3 == 2)
		tsd_libvirt_live_windows(&l, UINT64_C(0xC0000000), UINT64_C(0xFEC00000), 0, 0);
	free(l.bars);
	l.bars = bars;
	l.nbars = nbars;
	fuzz_layout_check(&l);
	l.bars = NULL;
	l.nbars = 0;
	tsd_layout_clear(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	struct tsd_live_bar *bars = NULL;
	size_t nbars = 0;
	struct mmio_error err;
	enum mmio_status st;

	fuzz_err_poison(&err);
	st = tsd_libvirt_parse_query_pci(s, &bars, &nbars, &err);
	fuzz_err_check(st, &err);
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID || st == MMIO_E_UNSUPPORTED);
	if (st == MMIO_OK) {
		FUZZ_CHECK(nbars == 0 || bars);
		fuzz_live_bars_check(bars, nbars);
		layout(bars, nbars, size);
	}
	free(bars);
	free(s);
	return 0;
}
