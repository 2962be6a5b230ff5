/* SPDX-License-Identifier: MIT */
/*
 * test-place.c — the placement model against hand-worked cases and against
 * an exhaustive search on random instances.
 *
 * MMIO_BRUTE_N sets the number of random instances (default 200000);
 * MMIO_BRUTE_SEED replays one instance (the failing seed is printed).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mmio-model.h"
#include "rng.h"
#include "tap.h"

#define U   (UINT64_C(1) << 20)
#define G4  MMIO_4G

static struct mmio_bar mk(uint8_t index, uint8_t kind, bool pref, uint64_t size)
{
	return (struct mmio_bar){ .index = index, .kind = kind, .prefetch = pref, .size = size };
}

static struct mmio_bar rom(uint64_t size)
{
	return mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, size);
}

static void space(struct mmio_space *sp, const struct mmio_window *w, unsigned nw,
		  const struct mmio_range *used, size_t nused, const struct mmio_range *clip,
		  size_t nclip, uint64_t min_mem)
{
	struct mmio_space_params p = {
		.windows = w, .nwin = nw, .used = used, .nused = nused,
		.clip = clip, .nclip = nclip, .min_mem = min_mem,
	};
	struct mmio_error err = { 0 };

	if (mmio_space_init(sp, &p, &err) != MMIO_OK) {
		tap_diag("mmio_space_init: %s", err.msg);
		abort();
	}
}

/* ---- exhaustive search --------------------------------------------------- */

struct bf {
	const struct mmio_space *sp;
	const struct mmio_device *dev;
	uint8_t order[MMIO_MAX_DEVICE_BARS];
	struct mmio_range placed[MMIO_MAX_DEVICE_BARS];
	unsigned nplaced;
	unsigned long nodes;
};

static bool eligible(const struct mmio_window *w, const struct mmio_bar *b)
{
	if (b->kind == MMIO_BAR_IO)
		return w->kind == MMIO_WIN_IO;
	if (w->kind == MMIO_WIN_IO)
		return false;
	if (b->kind == MMIO_BAR_MEM64)
		return true;
	return w->end <= G4;
}

static bool position_ok(struct bf *s, unsigned wi, uint64_t p, uint64_t size, bool io)
{
	const struct mmio_window_space *ws = &s->sp->w[wi];
	bool inside = false;

	/* the ISA alias rule the guest applies to I/O starts */
	if (io && (p & 0x300))
		return false;
	if (io && p < MMIO_X86_MIN_IO)
		return false;
	for (size_t g = 0; g < ws->ngaps; g++)
		if (p >= ws->gaps[g].start && p + size <= ws->gaps[g].end)
			inside = true;
	if (!inside)
		return false;
	for (unsigned i = 0; i < s->nplaced; i++)
		if (p < s->placed[i].end && s->placed[i].start < p + size)
			return false;
	return true;
}

static bool search(struct bf *s, unsigned k)
{
	const struct mmio_bar *b;

	if (k == s->dev->nbars)
		return true;
	if (++s->nodes > 20000000UL)
		return false;
	b = &s->dev->bars[s->order[k]];
	for (unsigned wi = 0; wi < s->sp->nwin; wi++) {
		const struct mmio_window *w = &s->sp->w[wi].win;
		uint64_t p;

		if (!eligible(w, b))
			continue;
		for (p = (w->start + b->size - 1) & ~(b->size - 1); p + b->size <= w->end; p += b->size) {
			/* identical BARs are interchangeable: keep them in address order */
			if (k > 0) {
				const struct mmio_bar *pb = &s->dev->bars[s->order[k - 1]];
				if (pb->size == b->size && pb->kind == b->kind &&
				    s->placed[s->nplaced - 1].start > p)
					continue;
			}
			if (!position_ok(s, wi, p, b->size, b->kind == MMIO_BAR_IO))
				continue;
			s->placed[s->nplaced++] = (struct mmio_range){ p, p + b->size };
			if (search(s, k + 1))
				return true;
			s->nplaced--;
		}
	}
	return false;
}

static bool brute_fits(const struct mmio_space *sp, const struct mmio_device *dev, unsigned long *nodes)
{
	struct bf s = { .sp = sp, .dev = dev };
	bool r;

	for (unsigned i = 0; i < dev->nbars; i++)
		s.order[i] = (uint8_t)i;
	/* largest first prunes best; the search itself is exhaustive whatever the order */
	for (unsigned i = 1; i < dev->nbars; i++)
		for (unsigned j = i; j > 0 && dev->bars[s.order[j - 1]].size < dev->bars[s.order[j]].size; j--) {
			uint8_t t = s.order[j];
			s.order[j] = s.order[j - 1];
			s.order[j - 1] = t;
		}
	r = search(&s, 0);
	*nodes = s.nodes;
	return r;
}

/* A placement must be aligned, inside an eligible window, off every used
 * range and disjoint from the other BARs. */
static bool placement_valid(const struct mmio_space *sp, const struct mmio_device *dev,
			    const struct mmio_placement *pl, char *why, size_t len)
{
	for (size_t i = 0; i < pl->n; i++) {
		const struct mmio_bar_place *a = &pl->items[i];
		const struct mmio_bar *b = &dev->bars[a->bar];
		const struct mmio_window_space *ws;
		bool inside = false;

		if (!a->placed)
			continue;
		ws = &sp->w[a->window];
		if (a->addr & (b->size - 1)) {
			snprintf(why, len, "BAR %u at 0x%" PRIx64 " not aligned", b->index, a->addr);
			return false;
		}
		if (!eligible(&ws->win, b)) {
			snprintf(why, len, "BAR %u in a window it may not use", b->index);
			return false;
		}
		for (size_t g = 0; g < ws->ngaps; g++)
			if (a->addr >= ws->gaps[g].start && a->addr + b->size <= ws->gaps[g].end)
				inside = true;
		if (!inside) {
			snprintf(why, len, "BAR %u at 0x%" PRIx64 " not in free space", b->index, a->addr);
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			const struct mmio_bar_place *c = &pl->items[j];
			if (c->placed && c->window == a->window && a->addr < c->addr + c->size &&
			    c->addr < a->addr + a->size) {
				snprintf(why, len, "BARs %u and %u overlap", b->index, dev->bars[c->bar].index);
				return false;
			}
		}
	}
	return true;
}

/* pdev_sort_resources() over every function: descending size, ties in
 * (function, BAR index) order. */
static bool order_valid(const struct mmio_device *dev, const struct mmio_placement *pl, char *why,
			size_t len)
{
	for (size_t i = 1; i < pl->n; i++) {
		const struct mmio_bar *a = &dev->bars[pl->items[i - 1].bar], *b = &dev->bars[pl->items[i].bar];
		if (a->size < b->size || (a->size == b->size && (a->fn > b->fn ||
								  (a->fn == b->fn && a->index > b->index)))) {
			snprintf(why, len, "function %u BAR %u placed before function %u BAR %u", a->fn,
				 a->index, b->fn, b->index);
			return false;
		}
	}
	return true;
}

/* ---- random instances ------------------------------------------------------ */

struct instance {
	struct mmio_window w[3];
	unsigned nw;
	struct mmio_range used[16];
	size_t nused;
	struct mmio_device dev;
};

static void add_used(struct instance *in, const struct mmio_window *w, uint64_t unit, unsigned max)
{
	unsigned n = (unsigned)below(max + 1);
	uint64_t len = w->end - w->start;

	for (unsigned i = 0; i < n && in->nused < 16; i++) {
		uint64_t s = w->start + below(len);
		uint64_t l = 1 + below(6 * unit);
		in->used[in->nused++] = (struct mmio_range){ s, s + l };
	}
}

/* nbars random BARs of function fn, numbered as hardware would. */
static void add_bars(struct instance *in, uint8_t fn, unsigned nbars, unsigned *nio)
{
	uint8_t next_index = 0;

	for (unsigned i = 0; i < nbars && next_index < 6; i++) {
		unsigned pick = (unsigned)below(7);
		struct mmio_bar b = { 0 };

		if (pick == 6 && in->nw == 3 && *nio < 2) {
			b = mk(next_index++, MMIO_BAR_IO, false, UINT64_C(4) << below(7));
			(*nio)++;
		} else if (pick == 5 && i == nbars - 1) {
			b = rom(U << below(4));
		} else if (pick >= 3) {
			if (next_index > 4)
				break;
			b = mk(next_index, MMIO_BAR_MEM64, below(2), U << below(5));
			next_index += 2;
		} else {
			b = mk(next_index++, MMIO_BAR_MEM32, below(2), U << below(5));
		}
		b.fn = fn;
		in->dev.bars[in->dev.nbars++] = b;
	}
}

static void make_instance(struct instance *in, uint64_t seed)
{
	unsigned nio = 0;

	memset(in, 0, sizeof(*in));
	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
	/* low window: arbitrary unaligned bounds below 4 GiB */
	in->w[0].kind = MMIO_WIN_LOW;
	in->w[0].start = 0xC0000000u + below(16 * U);
	in->w[0].end = in->w[0].start + below(40 * U) + 1;
	in->nw = 1;
	if (below(10) < 7) {
		struct mmio_window *h = &in->w[in->nw++];
		h->kind = MMIO_WIN_HIGH;
		h->start = G4 + below(16 * U);
		h->end = h->start + below(40 * U) + 1;
	}
	if (below(10) < 3) {
		struct mmio_window *io = &in->w[in->nw++];
		io->kind = MMIO_WIN_IO;
		io->start = 0x1000 + below(0x800);
		io->end = io->start + below(0xC00) + 1;
	}
	for (unsigned i = 0; i < in->nw; i++)
		add_used(in, &in->w[i], in->w[i].kind == MMIO_WIN_IO ? 64 : U, 5);

	snprintf(in->dev.name, sizeof(in->dev.name), "seed-%" PRIu64, seed);
	/* a quarter are multi-function slots: 2-3 functions of 1-3 BARs each,
	 * placed as one list (the search treats them as one device anyway) */
	if (below(4) == 0) {
		in->dev.nfn = 2 + (unsigned)below(2);
		for (unsigned f = 0; f < in->dev.nfn; f++) {
			in->dev.fns[f].fn = (uint8_t)f;
			add_bars(in, (uint8_t)f, 1 + (unsigned)below(3), &nio);
		}
	} else {
		add_bars(in, 0, 1 + (unsigned)below(MMIO_MAX_BARS), &nio);
	}
}

static unsigned long run_brute(unsigned long n, uint64_t first_seed, unsigned long *fits_count,
			       unsigned long *skipped)
{
	unsigned long bad = 0;
	struct mmio_placement *pl = mmio_placement_alloc(1);

	for (unsigned long i = 0; i < n; i++) {
		uint64_t seed = first_seed + i;
		struct instance in;
		struct mmio_space sp;
		struct mmio_error err = { 0 };
		unsigned long nodes;
		bool want, got_place, got_closed;
		char why[200] = "";

		make_instance(&in, seed);
		space(&sp, in.w, in.nw, in.used, in.nused, NULL, 0, 0);
		want = brute_fits(&sp, &in.dev, &nodes);
		if (nodes > 20000000UL) {
			(*skipped)++;
			mmio_space_free(&sp);
			continue;
		}
		got_place = mmio_place(&sp, &in.dev, 1, pl, &err) == MMIO_OK;
		got_closed = mmio_fits(&sp, &in.dev);
		if (got_place != want || got_closed != want || !sp.closed_form_exact ||
		    !placement_valid(&sp, &in.dev, pl, why, sizeof(why)) ||
		    !order_valid(&in.dev, pl, why, sizeof(why))) {
			if (bad < 5)
				tap_diag("MISMATCH seed %" PRIu64 " (replay: MMIO_BRUTE_SEED=%" PRIu64
					 "): brute=%d place=%d closed=%d exact=%d %s %s",
					 seed, seed, want, got_place, got_closed, sp.closed_form_exact,
					 why, err.msg);
			bad++;
		}
		*fits_count += want;
		mmio_space_free(&sp);
	}
	free(pl);
	return bad;
}

/* ---- hand-worked cases ----------------------------------------------------- */

static void test_seed_case(void)
{
	/* The seed thread: two 512 MiB BARs and a 1 GiB BAR.  In a 2 GiB window
	 * that starts 512 MiB-aligned but not 1 GiB-aligned only 1 GiB-first fits. */
	struct mmio_window w[] = { { .kind = MMIO_WIN_LOW, .start = 0x60000000, .end = 0xE0000000 } };
	struct mmio_device dev = { .name = "seed", .nbars = 3, .bars = {
		mk(0, MMIO_BAR_MEM64, true, 512 * U), mk(2, MMIO_BAR_MEM64, true, 512 * U),
		mk(4, MMIO_BAR_MEM64, true, 1024 * U) } };
	struct mmio_placement *pl = mmio_placement_alloc(1);
	struct mmio_space sp;
	struct mmio_error err = { 0 };
	unsigned long nodes;

	space(&sp, w, 1, NULL, 0, NULL, 0, 0);
	tap_ok(mmio_place(&sp, &dev, 1, pl, &err) == MMIO_OK, "seed case: fits");
	tap_is_u64(pl->items[0].addr, 0x80000000, "seed case: 1 GiB BAR first, at 0x80000000");
	tap_is_u64(pl->items[1].addr, 0x60000000, "seed case: first 512 MiB BAR below it");
	tap_is_u64(pl->items[2].addr, 0xC0000000, "seed case: second 512 MiB BAR above it");
	tap_ok(mmio_fits(&sp, &dev), "seed case: closed form agrees");
	tap_ok(brute_fits(&sp, &dev, &nodes), "seed case: exhaustive search agrees");
	/* index order (512, 512, 1024) bump-allocated would leave no 1 GiB-aligned room */
	/* index order bump-allocated: 512 MiB at 0x60000000 and 0x80000000, then the
	 * 1 GiB BAR needs 0xC0000000, which would end at 4 GiB, past 0xE0000000 */
	tap_ok(((UINT64_C(0x60000000) + 1024 * U + 1024 * U - 1) & ~(1024 * U - 1)) + 1024 * U > 0xE0000000u,
	       "seed case: index order would not fit");
	mmio_space_free(&sp);
	free(pl);
}

/* Measured on a Linux 6.1 guest (QEMU 7.2 pc, 1535 MiB, pci-hole64-size=0):
 * three pci-testdev functions plugged as one slot (functions 1 and 2 first,
 * then function 0 with multifunction=on), membar 512M, 512M, 1G. */
static void test_slot_guest(void)
{
	struct mmio_window w[] = {
		{ .kind = MMIO_WIN_LOW, .start = 0x5FF00000, .end = 0xFEC00000 },
		{ .kind = MMIO_WIN_IO, .start = 0x0D00, .end = 0x10000 },
	};
	struct mmio_device slot = { .name = "bars:A+bars:B+bars:C", .nfn = 3, .nbars = 9 };
	static const uint64_t membar[3] = { 512 * U, 512 * U, 1024 * U };
	/* placement order: fn2 BAR2, fn0 BAR2, fn1 BAR2, then BAR0 and BAR1 of each in function order */
	static const struct { unsigned fn, index; uint64_t addr; } want[9] = {
		{ 2, 2, 0x80000000 }, { 0, 2, 0x60000000 }, { 1, 2, 0xC0000000 },
		{ 0, 0, 0x5FF00000 }, { 1, 0, 0x5FF01000 }, { 2, 0, 0x5FF02000 },
		{ 0, 1, 0x1000 }, { 1, 1, 0x1400 }, { 2, 1, 0x1800 },
	};
	struct mmio_device seq[3];
	struct mmio_placement *pl = mmio_placement_alloc(3);
	struct mmio_space sp;
	struct mmio_error err = { 0 };
	bool same = true;

	for (unsigned f = 0; f < 3; f++) {
		slot.fns[f].fn = (uint8_t)f;
		slot.bars[3 * f] = mk(0, MMIO_BAR_MEM32, false, 4096);
		slot.bars[3 * f + 1] = mk(1, MMIO_BAR_IO, false, 256);
		slot.bars[3 * f + 2] = mk(2, MMIO_BAR_MEM64, true, membar[f]);
		for (unsigned i = 0; i < 3; i++)
			slot.bars[3 * f + i].fn = (uint8_t)f;
		seq[f] = (struct mmio_device){ .nbars = 3 };
		snprintf(seq[f].name, sizeof(seq[f].name), "f%u", f);
		memcpy(seq[f].bars, &slot.bars[3 * f], 3 * sizeof(slot.bars[0]));
	}
	space(&sp, w, 2, NULL, 0, NULL, 0, 0);
	tap_ok(mmio_place(&sp, &slot, 1, pl, &err) == MMIO_OK, "slot: 512M + 512M + 1G as one slot fits");
	for (unsigned i = 0; i < 9 && i < pl->n; i++) {
		const struct mmio_bar *b = &slot.bars[pl->items[i].bar];
		if (b->fn != want[i].fn || b->index != want[i].index || pl->items[i].addr != want[i].addr) {
			tap_diag("item %u: function %u BAR %u at 0x%" PRIx64 ", the guest: function %u BAR %u at 0x%"
				 PRIx64, i, b->fn, b->index, pl->items[i].addr, want[i].fn, want[i].index,
				 want[i].addr);
			same = false;
		}
	}
	tap_ok(pl->n == 9 && same, "slot: every BAR where the guest put it, in the guest's order");
	tap_ok(mmio_fits(&sp, &slot), "slot: closed form agrees");
	tap_ok(mmio_place(&sp, seq, 3, NULL, &err) == MMIO_E_NOSPACE,
	       "the same functions as three successive hot-plugs do not fit");
	tap_contains(err.msg, "f2 BAR 2 [mem size 0x40000000 64bit pref]: can't assign",
		     "  the 1 GiB BAR of the last one fails");

	/* a slot's failing BAR is named by its function */
	slot.bars[8].size = 4096 * U;
	tap_ok(mmio_place(&sp, &slot, 1, NULL, &err) == MMIO_E_NOSPACE, "slot with a 4 GiB BAR: no space");
	tap_contains(err.msg, "bars:A+bars:B+bars:C function 2 BAR 2 [mem size 0x100000000 64bit pref]",
		     "  the reason names the function");
	slot.fns[2].has_bdf = true;
	slot.fns[2].bdf = (struct mmio_bdf){ .domain = 0, .bus = 3, .dev = 0, .fn = 2 };
	tap_ok(mmio_place(&sp, &slot, 1, NULL, &err) == MMIO_E_NOSPACE, "host function: no space");
	tap_contains(err.msg, "0000:03:00.2 BAR 2 [mem size 0x100000000", "  the reason names its address");
	mmio_space_free(&sp);
	free(pl);
}

static void test_prefers_high(void)
{
	struct mmio_window w[] = {
		{ .kind = MMIO_WIN_LOW, .start = 0xE0000000, .end = 0xF0000000 },
		{ .kind = MMIO_WIN_HIGH, .start = 0x100000000, .end = 0x200000000 },
	};
	struct mmio_device dev = { .name = "gpu", .nbars = 3, .bars = {
		mk(0, MMIO_BAR_MEM32, false, 16 * U), mk(1, MMIO_BAR_MEM64, true, 256 * U),
		mk(3, MMIO_BAR_MEM64, true, 32 * U) } };
	struct mmio_placement *pl = mmio_placement_alloc(1);
	struct mmio_space sp;
	struct mmio_error err = { 0 };

	space(&sp, w, 2, NULL, 0, NULL, 0, 0);
	tap_ok(mmio_place(&sp, &dev, 1, pl, &err) == MMIO_OK, "T4-like: fits");
	tap_is_u64(pl->items[0].addr, 0x100000000, "64-bit 256 MiB BAR goes above 4 GiB first");
	tap_is_u64(pl->items[1].addr, 0x110000000, "64-bit 32 MiB BAR next above 4 GiB");
	tap_is_u64(pl->items[2].addr, 0xE0000000, "32-bit BAR stays below 4 GiB");
	tap_ok(pl->items[2].window == 0, "32-bit BAR is in the low window");
	mmio_space_free(&sp);
	free(pl);
}

static void test_no_space_reason(void)
{
	/* 192 MiB Xen hole with 170 MiB used: a 32-bit 256 MiB BAR cannot go */
	struct mmio_window w[] = { { .kind = MMIO_WIN_LOW, .start = 0xF0000000, .end = 0xFC000000 } };
	struct mmio_range used[] = { { 0xF0000000, 0xFAA00000 } };
	struct mmio_device dev = { .name = "0000:03:00.0", .nbars = 2, .bars = {
		mk(0, MMIO_BAR_MEM32, false, 256 * U), mk(1, MMIO_BAR_MEM32, false, 1 * U) } };
	struct mmio_placement *pl = mmio_placement_alloc(1);
	struct mmio_space sp;
	struct mmio_error err = { 0 };

	space(&sp, w, 1, used, 1, NULL, 0, 0);
	tap_ok(mmio_place(&sp, &dev, 1, pl, &err) == MMIO_E_NOSPACE, "full hole: no space");
	tap_contains(err.msg, "0000:03:00.0 BAR 0 [mem size 0x10000000]: can't assign; no space",
		     "reason uses the kernel's words");
	tap_contains(err.msg, "low window [0xf0000000-0xfbffffff]: largest aligned free block 16 MiB",
		     "reason names the window and its largest aligned block");
	tap_ok(pl->n == 2 && !pl->items[0].placed && pl->items[1].placed,
	       "partial assignment: the small BAR is still placed");
	tap_is_u64(pl->items[1].addr, 0xFAA00000, "small BAR at the first free address");
	tap_ok(!mmio_fits(&sp, &dev), "closed form agrees: does not fit");
	tap_is_u64(sp.w[0].free_bytes, 22 * U, "free bytes of the window");
	tap_is_u64(sp.w[0].largest_block, 16 * U, "largest aligned block (free 0xFAA00000-0xFC000000)");
	mmio_space_free(&sp);
	free(pl);

	struct mmio_window hi[] = { { .kind = MMIO_WIN_LOW, .start = 0xF0000000, .end = 0xFC000000 } };
	struct mmio_device big = { .name = "gpu", .nbars = 1, .bars = { mk(1, MMIO_BAR_MEM64, true, 1024 * U) } };
	space(&sp, hi, 1, NULL, 0, NULL, 0, 0);
	tap_ok(mmio_place(&sp, &big, 1, NULL, &err) == MMIO_E_NOSPACE, "1 GiB 64-bit BAR, no high window");
	tap_contains(err.msg, "[mem size 0x40000000 64bit pref]", "64-bit pref BAR described as the kernel does");
	mmio_space_free(&sp);

	struct mmio_window memonly[] = { { .kind = MMIO_WIN_LOW, .start = 0xF0000000, .end = 0xFC000000 } };
	struct mmio_device io = { .name = "nic", .nbars = 1, .bars = { mk(0, MMIO_BAR_IO, false, 32) } };
	space(&sp, memonly, 1, NULL, 0, NULL, 0, 0);
	tap_ok(mmio_place(&sp, &io, 1, NULL, &err) == MMIO_E_NOSPACE, "I/O BAR without an I/O window");
	tap_contains(err.msg, "the guest has no I/O window", "reason says there is no I/O window");
	mmio_space_free(&sp);
}

static void test_aligned_not_bytes(void)
{
	/* 48 MiB free in total, but as 16 MiB pieces: a 32 MiB BAR does not fit */
	struct mmio_window w[] = { { .kind = MMIO_WIN_LOW, .start = 0xF0000000, .end = 0xF5000000 } };
	struct mmio_range used[] = { { 0xF1000000, 0xF2000000 }, { 0xF3000000, 0xF4000000 } };
	struct mmio_device dev = { .name = "d", .nbars = 1, .bars = { mk(0, MMIO_BAR_MEM32, false, 32 * U) } };
	struct mmio_space sp;
	struct mmio_error err = { 0 };

	space(&sp, w, 1, used, 2, NULL, 0, 0);
	tap_is_u64(sp.w[0].free_bytes, 48 * U, "48 MiB free");
	tap_is_u64(sp.w[0].largest_block, 16 * U, "but the largest aligned block is 16 MiB");
	tap_ok(mmio_place(&sp, &dev, 1, NULL, &err) == MMIO_E_NOSPACE && !mmio_fits(&sp, &dev),
	       "a 32 MiB BAR does not fit in 48 MiB of 16 MiB pieces");
	mmio_space_free(&sp);
}

static void test_rom_and_io(void)
{
	struct mmio_window w[] = {
		{ .kind = MMIO_WIN_LOW, .start = 0xFE000000, .end = 0xFEC00000 },
		{ .kind = MMIO_WIN_HIGH, .start = 0x100000000, .end = 0x180000000 },
		{ .kind = MMIO_WIN_IO, .start = 0x0D00, .end = 0x10000 },
	};
	struct mmio_range used[] = { { 0x1000, 0x1100 }, { 0x1400, 0x1410 } };
	struct mmio_device dev = { .name = "e1000", .nbars = 3, .bars = {
		mk(0, MMIO_BAR_MEM32, false, 128 * 1024), mk(1, MMIO_BAR_IO, false, 64),
		rom(256 * 1024) } };
	struct mmio_placement *pl = mmio_placement_alloc(1);
	struct mmio_space sp;
	struct mmio_error err = { 0 };

	space(&sp, w, 3, used, 2, NULL, 0, 0);
	tap_ok(mmio_place(&sp, &dev, 1, pl, &err) == MMIO_OK, "e1000-like: fits");
	tap_is_u64(pl->items[0].addr, 0xFE000000, "ROM (largest) first, below 4 GiB though 64-bit room exists");
	tap_ok(pl->items[0].bar == 2, "ROM sorted first by size");
	tap_is_u64(pl->items[1].addr, 0xFE040000, "BAR0 after the ROM");
	/* 0x1100 has bit 8 set: the ISA alias rule moves the start to 0x1800?  No:
	 * to the next 1 KiB, 0x1400, which is taken up to 0x1410 -> 0x1440 */
	tap_is_u64(pl->items[2].addr, 0x1440, "I/O BAR skips ports with bits 8-9 set (ISA aliases)");
	tap_ok(mmio_fits(&sp, &dev), "closed form agrees with the I/O rule");
	tap_is_u64(sp.w[2].largest_block, 256, "I/O: largest usable block is 256 ports");
	mmio_space_free(&sp);
	free(pl);
}

static void test_clip_and_min(void)
{
	/* An E820 entry inside a gap: Linux keeps only the larger side. */
	struct mmio_window w[] = { { .kind = MMIO_WIN_LOW, .start = 0xE0000000, .end = 0xF0000000 } };
	struct mmio_range clip[] = { { 0xE1000000, 0xE2000000 } };
	struct mmio_device dev = { .name = "d", .nbars = 1, .bars = { mk(0, MMIO_BAR_MEM32, false, 16 * U) } };
	struct mmio_device two[2] = { dev, dev };
	struct mmio_placement *pl = mmio_placement_alloc(2);
	struct mmio_space sp;
	struct mmio_error err = { 0 };

	space(&sp, w, 1, NULL, 0, clip, 1, 0);
	tap_ok(!sp.closed_form_exact, "clipping makes the closed form fall back to the simulation");
	tap_ok(mmio_place(&sp, two, 2, pl, &err) == MMIO_OK, "clip: two devices fit");
	tap_is_u64(pl->items[0].addr, 0xE2000000, "clip: first BAR above the E820 entry (larger side)");
	/* Once the first BAR splits the gap, the part below the E820 entry is a
	 * gap of its own whose larger side is below the entry: the kernel clips
	 * per gap at every allocation, so the second device goes to the bottom. */
	tap_is_u64(pl->items[1].addr, 0xE0000000, "clip: second device below the E820 entry (re-clipped gap)");
	tap_ok(mmio_fits(&sp, &dev), "clip: mmio_fits via the simulation");
	mmio_space_free(&sp);

	/* PCIBIOS_MIN_MEM above the window start */
	space(&sp, w, 1, NULL, 0, NULL, 0, 0xE8000000);
	tap_ok(mmio_place(&sp, &dev, 1, pl, &err) == MMIO_OK, "min_mem: fits");
	tap_is_u64(pl->items[0].addr, 0xE8000000, "min_mem: nothing below PCIBIOS_MIN_MEM");
	tap_is_u64(sp.w[0].free_bytes, 128 * U, "min_mem: free bytes count from PCIBIOS_MIN_MEM");
	mmio_space_free(&sp);
	free(pl);
}

static void test_sequence_and_take(void)
{
	struct mmio_window w[] = { { .kind = MMIO_WIN_LOW, .start = 0xC0000000, .end = 0xD0000000 } };
	struct mmio_device d = { .name = "d", .nbars = 1, .bars = { mk(0, MMIO_BAR_MEM32, false, 64 * U) } };
	struct mmio_device seq[5] = { d, d, d, d, d };
	struct mmio_placement *pl = mmio_placement_alloc(5);
	struct mmio_space sp, cp;
	struct mmio_error err = { 0 };

	space(&sp, w, 1, NULL, 0, NULL, 0, 0);
	tap_ok(mmio_place(&sp, seq, 4, pl, &err) == MMIO_OK, "four 64 MiB devices fill 256 MiB");
	tap_is_u64(pl->items[3].addr, 0xCC000000, "the fourth lands last");
	tap_ok(mmio_place(&sp, seq, 5, pl, &err) == MMIO_E_NOSPACE, "a fifth does not fit");
	tap_contains(err.msg, "largest aligned free block 0 B", "and the window is full");
	tap_ok(mmio_space_copy(&cp, &sp, &err) == MMIO_OK, "copy");
	tap_ok(mmio_space_take(&cp, 0, (struct mmio_range){ 0xC0000000, 0xC4000000 }, &err) == MMIO_OK,
	       "take the first 64 MiB");
	tap_ok(mmio_place(&cp, &d, 1, pl, &err) == MMIO_OK && pl->items[0].addr == 0xC4000000,
	       "the next device goes after the taken range");
	tap_ok(mmio_space_take(&cp, 0, (struct mmio_range){ 0xC2000000, 0xC3000000 }, &err) == MMIO_E_INVALID,
	       "taking a used range is refused");
	tap_is_u64(cp.w[0].free_bytes, 192 * U, "copy has 192 MiB free");
	tap_is_u64(sp.w[0].free_bytes, 256 * U, "original untouched");
	mmio_space_free(&cp);
	mmio_space_free(&sp);
	free(pl);
}

static void test_bad_windows(void)
{
	struct mmio_window inv[] = { { .kind = MMIO_WIN_LOW, .start = 0xF0000000, .end = 0xE0000000 } };
	struct mmio_window io[] = { { .kind = MMIO_WIN_IO, .start = 0x1000, .end = 0x20000 } };
	struct mmio_window lo[] = { { .kind = MMIO_WIN_LOW, .start = 0xF0000000, .end = 0x110000000 } };
	struct mmio_space_params p = { .nwin = 1 };
	struct mmio_space sp;
	struct mmio_error err = { 0 };

	p.windows = inv;
	tap_ok(mmio_space_init(&sp, &p, &err) == MMIO_E_INVALID, "inverted window refused");
	tap_contains(err.msg, "empty or inverted", "  with a reason");
	p.windows = io;
	tap_ok(mmio_space_init(&sp, &p, &err) == MMIO_E_INVALID, "I/O window beyond 64 KiB refused");
	tap_contains(err.msg, "64 KiB", "  with a reason");
	p.windows = lo;
	tap_ok(mmio_space_init(&sp, &p, &err) == MMIO_E_INVALID, "low window above 4 GiB refused");
	tap_contains(err.msg, "ends above 4 GiB", "  with a reason");
}

static void test_brute(void)
{
	const char *ns = getenv("MMIO_BRUTE_N"), *seed = getenv("MMIO_BRUTE_SEED");
	unsigned long n = ns ? strtoul(ns, NULL, 0) : 200000, fits = 0, skipped = 0, bad;
	uint64_t first = seed ? strtoull(seed, NULL, 0) : 1;

	if (seed)
		n = 1;
	bad = run_brute(n, first, &fits, &skipped);
	tap_diag("brute force: %lu instances (%lu fit, %lu do not), %lu skipped (search budget)",
		 n - skipped, fits, n - skipped - fits, skipped);
	tap_ok(bad == 0, "brute force: placement and closed form agree with exhaustive search on %lu instances",
	       n - skipped);
	tap_ok(skipped * 1000 <= n, "brute force: at most 0.1%% of instances exceed the search budget");
	tap_ok(n < 1000 || (fits > n / 10 && n - fits > n / 10), "brute force: instances are balanced");
}

int main(void)
{
	test_seed_case();
	test_slot_guest();
	test_prefers_high();
	test_no_space_reason();
	test_aligned_not_bytes();
	test_rom_and_io();
	test_clip_and_min();
	test_sequence_and_take();
	test_bad_windows();
	test_brute();
	tap_done();
	return tap_exit();
}
