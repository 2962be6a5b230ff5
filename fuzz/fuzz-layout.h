/* SPDX-License-Identifier: MIT */
/*
 * fuzz-layout.h — what every back end's layout must satisfy, for the
 * targets that fuzz the daemon's pure mappings: the layout's windows are
 * acceptable to mmio_space_init() (the back end said MMIO_OK, so the
 * daemon will build a free-space map from it), every live BAR is a valid
 * power of two, and on the resulting space placement and the closed form
 * agree for a sample device.
 */
#ifndef MMIOD_FUZZ_LAYOUT_H
#define MMIOD_FUZZ_LAYOUT_H

#include "fuzz.h"
#include "toolstack.h"

/* Whether live BAR sizes must be powers of two.  The libxl and libvirt
 * readers refuse other sizes; qmp-map.c keeps any positive size
 * (docs/reliability.md, Found), so fuzz-qmp.c clears this. */
static bool fuzz_live_pow2 = true;

static inline void fuzz_live_bars_check(const struct tsd_live_bar *bars, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(bars[i].bar.size != 0);
		FUZZ_CHECK(!fuzz_live_pow2 || mmio_is_pow2(bars[i].bar.size));
		FUZZ_CHECK(bars[i].bar.index <= MMIO_BAR_ROM);
		FUZZ_CHECK(bars[i].bar.kind <= MMIO_BAR_MEM64);
		FUZZ_CHECK(memchr(bars[i].device, '\0', sizeof(bars[i].device)));
		FUZZ_CHECK(memchr(bars[i].guest_slot, '\0', sizeof(bars[i].guest_slot)));
	}
}

static inline void fuzz_layout_check(const struct tsd_layout *l)
{
	struct mmio_range *used;
	struct mmio_space_params p = { 0 };
	struct mmio_space sp;
	struct mmio_error err;
	struct mmio_device dev;
	size_t n = 0;

	FUZZ_CHECK(l->nwin <= MMIO_MAX_WINDOWS);
	fuzz_live_bars_check(l->bars, l->nbars);
	used = calloc(l->nbars + 1, sizeof(*used));
	if (!used)
		abort();
	for (size_t i = 0; i < l->nbars; i++) {
		const struct tsd_live_bar *b = &l->bars[i];
		uint64_t e;

		if (b->addr == TSD_ADDR_UNASSIGNED)
			continue;
		e = b->addr + b->bar.size;
		used[n++] = (struct mmio_range){ b->addr, e < b->addr ? UINT64_MAX : e };
	}
	p.windows = l->win;
	p.nwin = l->nwin;
	p.used = used;
	p.nused = n;
	p.clip = l->clip;
	p.nclip = l->nclip;
	p.min_mem = l->min_mem;
	fuzz_err_poison(&err);
	if (mmio_space_init(&sp, &p, &err) != MMIO_OK) {
		fprintf(stderr, "layout rejected by mmio_space_init: %s\n", err.msg);
		/* FUZZ_LAYOUT_LENIENT=1 keeps fuzzing past a known rejection
		 * (docs/reliability.md, Found) to look for other faults. */
		if (!getenv("FUZZ_LAYOUT_LENIENT"))
			abort();
		free(used);
		return;
	}
	if (mmio_bars_parse("bars:mem32:16M,mem64p:256M,mem64p:32M,io:128,rom:512K", &dev, NULL) !=
	    MMIO_OK)
		abort();
	if (sp.closed_form_exact)
		FUZZ_CHECK(mmio_fits(&sp, &dev) == (mmio_place(&sp, &dev, 1, NULL, NULL) == MMIO_OK));
	else
		(void)mmio_place(&sp, &dev, 1, NULL, NULL);
	mmio_space_free(&sp);
	free(used);
}

#endif
