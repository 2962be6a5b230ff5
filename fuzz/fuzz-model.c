/* SPDX-License-Identifier: MIT */
/*
 * fuzz-model.c — the placement model (lib/space.c, lib/place.c) on guests
 * decoded from the fuzz input: windows, used ranges, E820 clips, min_mem
 * and one to three devices.  Invariants (abort() on violation):
 *
 *  - every BAR mmio_place() reports placed is naturally aligned, inside
 *    the window it names, in a window its kind may use (I/O BARs in the
 *    I/O window, 32-bit BARs below 4 GiB, no non-prefetchable BAR in a
 *    prefetchable window), above PCIBIOS_MIN_MEM / MIN_IO and 1 MiB, off
 *    the ISA aliases, clear of every used range, E820 clip and the BIOS
 *    ROM area, and clear of every other BAR placed in the same call;
 *  - MMIO_OK iff every BAR was placed; MMIO_E_NOSPACE names a failure;
 *  - mmio_fits(dev) == (mmio_place(dev) == MMIO_OK) when closed_form_exact;
 *  - mmio_space_copy + mmio_space_take of the placed BARs gives the same
 *    gaps and block counts as mmio_space_init with them as used ranges
 *    (when windows of one type do not overlap), and fits/place still agree.
 */
#include "fuzz.h"

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct rd *r)
{
	uint8_t v;

	if (!r->n)
		return 0;
	v = *r->p++;
	r->n--;
	return v;
}

static uint16_t u16(struct rd *r)
{
	uint16_t v = u8(r);

	return (uint16_t)(v | (uint16_t)u8(r) << 8);
}

static uint64_t u64(struct rd *r)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)u8(r) << (8 * i);
	return v;
}

/* A value of the shape real layouts have: a 16-bit mantissa shifted to
 * some granule (bytes .. 2^47), occasionally any 64-bit number. */
static uint64_t val(struct rd *r)
{
	uint8_t sh = u8(r);

	if (sh == 0xff)
		return u64(r);
	return (uint64_t)u16(r) << (sh % 48);
}

#define MAX_USED 24
#define MAX_CLIP 4
#define MAX_DEV  3

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1;
}

static void decode_device(struct rd *r, struct mmio_device *d, unsigned n)
{
	unsigned nb = u8(r) % (MMIO_MAX_BARS + 1), next = 0;
	bool rom = false;
	struct mmio_bar romb = { 0 };

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "fuzz%u", n);
	for (unsigned i = 0; i < nb; i++) {
		uint8_t t = u8(r), o = u8(r);
		struct mmio_bar b = { 0 };
		unsigned order;

		if ((t & 0x7) == 7) {
			if (rom)
				continue;
			order = 11 + o % 21;                 /* 2 KiB .. 2 GiB */
			romb = (struct mmio_bar){ .index = MMIO_BAR_ROM, .kind = MMIO_BAR_MEM32,
						  .prefetch = true, .size = UINT64_C(1) << order };
			rom = true;
			continue;
		}
		b.kind = (uint8_t)(t % 3);
		b.prefetch = b.kind != MMIO_BAR_IO && (t & 0x8);
		if (b.kind == MMIO_BAR_IO)
			order = 2 + o % 7;                   /* 4 .. 256 */
		else if (b.kind == MMIO_BAR_MEM32)
			order = 4 + o % 28;                  /* 16 .. 2 GiB */
		else
			order = 4 + o % 60;                  /* 16 .. 2^63 */
		b.size = UINT64_C(1) << order;
		if (next + (b.kind == MMIO_BAR_MEM64 ? 2u : 1u) > 6)
			break;
		b.index = (uint8_t)next;
		next += b.kind == MMIO_BAR_MEM64 ? 2 : 1;
		d->bars[d->nbars++] = b;
	}
	if (rom)
		d->bars[d->nbars++] = romb;
	for (unsigned i = 0; i < d->nbars; i++) {
		struct mmio_error e;
		FUZZ_CHECK(mmio_bar_validate(&d->bars[i], &e) == MMIO_OK);
	}
}

static bool same_type_windows_overlap(const struct mmio_space_params *p)
{
	for (unsigned i = 0; i < p->nwin; i++)
		for (unsigned j = 0; j < i; j++)
			if ((p->windows[i].kind == MMIO_WIN_IO) == (p->windows[j].kind == MMIO_WIN_IO) &&
			    overlaps(p->windows[i].start, p->windows[i].end, p->windows[j].start,
				     p->windows[j].end))
				return true;
	return false;
}

static void check_placement(const struct mmio_space *sp, const struct mmio_space_params *p,
			    const struct mmio_device *devs, size_t ndev,
			    const struct mmio_placement *pl, enum mmio_status st,
			    const struct mmio_error *err)
{
	size_t total = 0;
	bool all = true, wins_overlap = same_type_windows_overlap(p);

	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_NOSPACE);
	for (size_t d = 0; d < ndev; d++)
		total += devs[d].nbars;
	FUZZ_CHECK(pl->n == total);
	for (size_t i = 0; i < pl->n; i++) {
		const struct mmio_bar_place *it = &pl->items[i];
		const struct mmio_bar *bar;
		const struct mmio_window *w;
		uint64_t a, e;
		bool io;

		FUZZ_CHECK(it->device < ndev);
		FUZZ_CHECK(it->bar < devs[it->device].nbars);
		bar = &devs[it->device].bars[it->bar];
		FUZZ_CHECK(it->size == bar->size);
		if (!it->placed) {
			FUZZ_CHECK(it->window == -1);
			all = false;
			continue;
		}
		io = bar->kind == MMIO_BAR_IO;
		FUZZ_CHECK(it->window >= 0 && (unsigned)it->window < sp->nwin);
		w = &sp->w[it->window].win;
		a = it->addr;
		e = a + bar->size;
		FUZZ_CHECK(e > a);                              /* no wrap */
		/* natural alignment; the one exception is Linux's own: x86
		 * pcibios_align_resource() moves a memory start below 1 MiB up
		 * to 1 MiB after the alignment, unaligned (space.c says so),
		 * which only a window starting below 1 MiB can show */
		FUZZ_CHECK((a & (bar->size - 1)) == 0 || (!io && a == MMIO_1M));
		FUZZ_CHECK(a >= w->start && e <= w->end);       /* inside its window */
		FUZZ_CHECK(io == (w->kind == MMIO_WIN_IO));     /* I/O only in I/O */
		if (io) {
			FUZZ_CHECK(a >= MMIO_X86_MIN_IO);
			FUZZ_CHECK((a & 0x300) == 0);           /* ISA aliases */
		} else {
			FUZZ_CHECK(a >= MMIO_1M);
			FUZZ_CHECK(a >= p->min_mem);
			if (bar->kind == MMIO_BAR_MEM32)
				FUZZ_CHECK(e <= MMIO_4G);
			if (!bar->prefetch)
				FUZZ_CHECK(!(w->flags & MMIO_WF_PREFETCH));
			FUZZ_CHECK(!overlaps(a, e, MMIO_X86_BIOS_ROM_START, MMIO_4G));
			for (size_t c = 0; c < p->nclip; c++)
				FUZZ_CHECK(!overlaps(a, e, p->clip[c].start, p->clip[c].end));
		}
		for (size_t u = 0; u < p->nused; u++)
			FUZZ_CHECK(!overlaps(a, e, p->used[u].start, p->used[u].end));
		for (size_t j = 0; j < i; j++) {
			const struct mmio_bar_place *o = &pl->items[j];
			bool oio;

			if (!o->placed)
				continue;
			oio = devs[o->device].bars[o->bar].kind == MMIO_BAR_IO;
			/* Windows of one type that overlap each other (which no
			 * back end reports; mmio_space_init accepts them and only
			 * marks the closed form inexact) each keep their own
			 * children, so two BARs may then share addresses. */
			if (o->window != it->window && wins_overlap)
				continue;
			if (oio == io)
				FUZZ_CHECK(!overlaps(a, e, o->addr, o->addr + o->size));
		}
	}
	FUZZ_CHECK((st == MMIO_OK) == all);
	if (st != MMIO_OK) {
		FUZZ_CHECK(err->code == MMIO_E_NOSPACE);
		FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) && err->msg[0]);
	}
}

/* Incremental (copy + take) against from scratch (init with the BARs used). */
static void check_take(const struct mmio_space *sp, const struct mmio_space_params *p,
		       const struct mmio_device *dev, const struct mmio_placement *pl)
{
	struct mmio_space inc, fresh;
	struct mmio_range used[MAX_USED + MMIO_MAX_BARS];
	struct mmio_space_params fp = *p;
	struct mmio_error err;
	size_t nused = p->nused;

	if (mmio_space_copy(&inc, sp, &err) != MMIO_OK)
		abort();
	memcpy(used, p->used, p->nused * sizeof(used[0]));
	for (size_t i = 0; i < pl->n; i++) {
		const struct mmio_bar_place *it = &pl->items[i];
		struct mmio_range r = { it->addr, it->addr + it->size };

		FUZZ_CHECK(it->placed);
		fuzz_err_poison(&err);
		FUZZ_CHECK(mmio_space_take(&inc, (unsigned)it->window, r, &err) == MMIO_OK);
		used[nused++] = r;
	}
	fp.used = used;
	fp.nused = nused;
	if (mmio_space_init(&fresh, &fp, &err) != MMIO_OK)
		abort();
	/* used ranges apply to every window, while a take applies to one: compare
	 * the windows that no BAR placed in another window overlaps (I/O ports
	 * and memory addresses are separate spaces, windows may overlap) */
	if (!same_type_windows_overlap(p)) {
		bool all = true;

		for (unsigned w = 0; w < inc.nwin; w++) {
			const struct mmio_window_space *a = &inc.w[w], *b = &fresh.w[w];
			bool foreign = false;

			for (size_t i = 0; i < pl->n; i++)
				if ((unsigned)pl->items[i].window != w &&
				    overlaps(pl->items[i].addr, pl->items[i].addr + pl->items[i].size,
					     a->win.start, a->win.end))
					foreign = true;
			if (foreign) {
				all = false;
				continue;
			}
			FUZZ_CHECK(a->ngaps == b->ngaps);
			for (size_t g = 0; g < a->ngaps; g++)
				FUZZ_CHECK(a->gaps[g].start == b->gaps[g].start &&
					   a->gaps[g].end == b->gaps[g].end);
			FUZZ_CHECK(a->free_bytes == b->free_bytes);
			FUZZ_CHECK(a->largest_block == b->largest_block);
			FUZZ_CHECK(memcmp(a->blocks, b->blocks, sizeof(a->blocks)) == 0);
		}
		if (all) {
			FUZZ_CHECK(memcmp(inc.class_blocks, fresh.class_blocks,
					  sizeof(inc.class_blocks)) == 0);
			FUZZ_CHECK(memcmp(inc.class_top, fresh.class_top, sizeof(inc.class_top)) == 0);
		}
	}
	/* the second device on the updated space: fits and place still agree */
	if (inc.closed_form_exact)
		FUZZ_CHECK(mmio_fits(&inc, dev) == (mmio_place(&inc, dev, 1, NULL, NULL) == MMIO_OK));
	if (fresh.closed_form_exact)
		FUZZ_CHECK(mmio_fits(&fresh, dev) ==
			   (mmio_place(&fresh, dev, 1, NULL, NULL) == MMIO_OK));
	mmio_space_free(&inc);
	mmio_space_free(&fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	struct mmio_window win[MMIO_MAX_WINDOWS];
	struct mmio_range used[MAX_USED], clip[MAX_CLIP];
	struct mmio_device devs[MAX_DEV];
	struct mmio_space_params p = { 0 };
	struct mmio_space sp;
	struct mmio_placement *pl;
	struct mmio_error err;
	enum mmio_status st;
	unsigned nwin = 1 + u8(&r) % MMIO_MAX_WINDOWS, nused, nclip, ndev;
	uint8_t mode;

	for (unsigned i = 0; i < nwin; i++) {
		uint8_t t = u8(&r);
		struct mmio_window w = { .kind = (uint8_t)(t % 3) };

		/* bridge flags rarely: root windows carry none */
		if ((t & 0xf0) == 0xf0)
			w.flags = (uint8_t)((t >> 2) & 3);
		switch (w.kind) {
		case MMIO_WIN_LOW:
			w.start = val(&r) & (MMIO_4G - 1);
			w.end = w.start + val(&r);
			if (w.end > MMIO_4G || w.end < w.start)
				w.end = MMIO_4G;
			break;
		case MMIO_WIN_HIGH:
			w.start = MMIO_4G + val(&r);
			if (w.start < MMIO_4G)
				w.start = MMIO_4G;
			w.end = w.start + val(&r);
			if (w.end < w.start)
				w.end = UINT64_MAX;
			if (t & 0x8)    /* a "high" window may start below 4 GiB */
				w.start = w.start & (MMIO_4G - 1);
			break;
		default:
			w.start = u16(&r);
			w.end = w.start + u16(&r);
			if (w.end > 0x10000)
				w.end = 0x10000;
			break;
		}
		if (w.start >= w.end)
			w.end = w.start + 1;
		win[i] = w;
	}
	p.windows = win;
	p.nwin = nwin;

	nused = u8(&r) % (MAX_USED + 1);
	for (unsigned i = 0; i < nused; i++) {
		uint8_t t = u8(&r);
		uint64_t s, len;

		if (t & 0x80) {
			s = val(&r);
		} else {
			const struct mmio_window *w = &win[t % nwin];
			s = w->start + (val(&r) % (w->end - w->start));
		}
		len = val(&r);
		used[i] = (struct mmio_range){ s, s + len < s ? UINT64_MAX : s + len };
	}
	p.used = used;
	p.nused = nused;

	mode = u8(&r);
	nclip = mode & 0x3 ? 0 : (mode >> 2) % (MAX_CLIP + 1);
	for (unsigned i = 0; i < nclip; i++) {
		uint64_t s = val(&r), len = val(&r);
		clip[i] = (struct mmio_range){ s, s + len < s ? UINT64_MAX : s + len };
	}
	p.clip = clip;
	p.nclip = nclip;
	if (mode & 0x80)
		p.min_mem = val(&r);

	ndev = 1 + u8(&r) % MAX_DEV;
	for (unsigned d = 0; d < ndev; d++)
		decode_device(&r, &devs[d], d);

	st = FUZZ_ERR_CALL(err, mmio_space_init(&sp, &p, &err));
	if (st != MMIO_OK)
		return 0;

	/* all devices, one hot-plug after another */
	pl = mmio_placement_alloc(ndev);
	if (!pl)
		abort();
	st = FUZZ_ERR_CALL(err, mmio_place(&sp, devs, ndev, pl, &err));
	check_placement(&sp, &p, devs, ndev, pl, st, &err);
	free(pl);

	/* the first device alone: placement, closed form, incremental take */
	pl = mmio_placement_alloc(1);
	if (!pl)
		abort();
	st = FUZZ_ERR_CALL(err, mmio_place(&sp, devs, 1, pl, &err));
	check_placement(&sp, &p, devs, 1, pl, st, &err);
	FUZZ_CHECK(mmio_place(&sp, devs, 1, NULL, NULL) == st);
	if (sp.closed_form_exact)
		FUZZ_CHECK(mmio_fits(&sp, &devs[0]) == (st == MMIO_OK));
	if (st == MMIO_OK)
		check_take(&sp, &p, ndev > 1 ? &devs[1] : &devs[0], pl);
	free(pl);
	mmio_space_free(&sp);
	return 0;
}
