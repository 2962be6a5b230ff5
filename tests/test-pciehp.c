/* SPDX-License-Identifier: MIT */
/*
 * test-pciehp.c — native PCIe hot-plug re-sizing a root port's windows
 * (lib/pciehp.c): cases measured on real Linux 6.1 guests (QEMU 7.2 q35,
 * SeaBIOS, ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off), then random
 * instances checked against the invariants the kernel's result has.
 *
 * MMIO_PCIEHP_N sets the number of random instances (default 100000);
 * MMIO_PCIEHP_SEED replays one (the failing seed is printed).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mmio-model.h"
#include "rng.h"
#include "tap.h"

#define K   (UINT64_C(1) << 10)
#define U   (UINT64_C(1) << 20)
#define G   (UINT64_C(1) << 30)
#define G4  MMIO_4G

static struct mmio_bar mk(uint8_t fn, uint8_t index, uint8_t kind, bool pref, uint64_t size)
{
	return (struct mmio_bar){ .index = index, .kind = kind, .prefetch = pref, .size = size, .fn = fn };
}

/* d emptied and named, for the next case's BARs. */
static void fresh(struct mmio_device *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
}

/* ---- the guest the cases were measured on ---------------------------------- */

/* q35, 512 MiB, two pcie-root-ports (rp1 at 00:10.0, rp2 at 00:11.0): the root
 * bus as Linux had it after boot, without rp1's windows. */
static const struct mmio_window q35_root[] = {
	{ .kind = MMIO_WIN_LOW, .start = 0x20000000, .end = 0xB0000000 },
	{ .kind = MMIO_WIN_LOW, .start = 0xC0000000, .end = 0xFEC00000 },
	{ .kind = MMIO_WIN_HIGH, .start = 0x100000000, .end = 0x900000000 },
	{ .kind = MMIO_WIN_IO, .start = 0x0D00, .end = 0x10000 },
};
static const struct mmio_range q35_used[] = {
	{ 0xFE600000, 0xFE601000 }, { 0xFE601000, 0xFE602000 }, { 0xFE602000, 0xFE603000 }, /* BARs */
	{ 0xC040, 0xC060 },
	{ 0x2000, 0x3000 }, { 0xFE200000, 0xFE400000 }, { 0xFE800000, 0xFEA00000 },         /* rp2 */
};

static const struct mmio_bridge rp1 = {
	.present = { true, true, true },
	.win = {
		{ .kind = MMIO_WIN_IO, .flags = MMIO_WF_BRIDGE, .start = 0x1000, .end = 0x2000 },
		{ .kind = MMIO_WIN_LOW, .flags = MMIO_WF_BRIDGE, .start = 0xFE400000, .end = 0xFE600000 },
		{ .kind = MMIO_WIN_LOW, .flags = MMIO_WF_BRIDGE | MMIO_WF_PREFETCH | MMIO_WF_MEM64,
		  .start = 0xFEA00000, .end = 0xFEC00000 },
	},
};

static const struct mmio_space_params q35 = {
	.windows = q35_root, .nwin = 4, .used = q35_used, .nused = 7,
};

static void testdev(struct mmio_device *d, unsigned fn, uint64_t membar)
{
	d->bars[d->nbars++] = mk((uint8_t)fn, 0, MMIO_BAR_MEM32, false, 4 * K);
	d->bars[d->nbars++] = mk((uint8_t)fn, 1, MMIO_BAR_IO, false, 256);
	d->bars[d->nbars++] = mk((uint8_t)fn, 2, MMIO_BAR_MEM64, true, membar);
}

/* the address of function fn's BAR index, or 0 when not placed */
static uint64_t at(const struct mmio_device *d, const struct mmio_placement *pl, unsigned fn, unsigned index)
{
	for (size_t i = 0; i < pl->n; i++) {
		const struct mmio_bar *b = &d->bars[pl->items[i].bar];
		if (b->fn == fn && b->index == index)
			return pl->items[i].placed ? pl->items[i].addr : 0;
	}
	return 0;
}

static void test_guest_cases(void)
{
	struct mmio_placement *pl = mmio_placement_alloc(1);
	struct mmio_pciehp r;
	struct mmio_error err = { 0 };
	struct mmio_device d;

	/* fits the current windows: the first pass, nothing re-sized */
	fresh(&d, "t1");
	testdev(&d, 0, 1 * U);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_OK && r.tries == 1,
	       "pci-testdev membar=1M fits rp1's windows as they are");
	tap_is_u64(at(&d, pl, 0, 2), 0xFEA00000, "  BAR2 at the bottom of the 2 MiB pref window");
	tap_ok(!r.resized[0] && !r.resized[1] && !r.resized[2], "  no window re-sized");

	/* 13-q35-rp-pciehp: a 256M BAR: pref window released, 256M, above 4 GiB */
	fresh(&d, "t1");
	testdev(&d, 0, 256 * U);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_OK && r.tries == 2,
	       "membar=256M fits after re-sizing");
	tap_is_u64(at(&d, pl, 0, 2), 0x100000000, "  BAR2 at 0x100000000 (the guest)");
	tap_is_u64(at(&d, pl, 0, 0), 0xFE400000, "  BAR0 stays in the mem window (the guest)");
	tap_is_u64(at(&d, pl, 0, 1), 0x1000, "  BAR1 stays in the I/O window (the guest)");
	tap_ok(r.resized[2] && !r.resized[1] && !r.resized[0], "  only the pref window re-sized");
	tap_ok(r.after.win[2].start == 0x100000000 && r.after.win[2].end == 0x110000000 &&
	       r.after.win[2].kind == MMIO_WIN_HIGH, "  new pref window [0x100000000-0x10fffffff]");

	/* a 32-bit prefetchable BAR releases the non-prefetchable window */
	fresh(&d, "v1");
	d.bars[d.nbars++] = mk(0, 0, MMIO_BAR_MEM32, true, 64 * U);
	d.bars[d.nbars++] = mk(0, 2, MMIO_BAR_MEM32, false, 4 * K);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_OK && r.tries == 2,
	       "secondary-vga vgamem_mb=64 (32-bit pref) fits after re-sizing");
	tap_ok(r.resized[1] && !r.resized[2], "  the mem window was re-sized, not the pref one");
	tap_ok(r.after.win[1].start == 0x20000000 && r.after.win[1].end == 0x26000000,
	       "  new mem window [0x20000000-0x25ffffff]: 64M + 4K aligned to 32M (the guest)");
	tap_is_u64(at(&d, pl, 0, 0), 0x20000000, "  BAR0 at 0x20000000 (the guest)");
	tap_is_u64(at(&d, pl, 0, 2), 0x24000000, "  BAR2 at 0x24000000 (the guest)");

	/* 2M pref32 fits the 2M mem window, the 4K BAR then does not: the mem
	 * window is re-sized to 2M + 4K rounded to 1M = 3M (no hot-plug extra) */
	fresh(&d, "v1");
	d.bars[d.nbars++] = mk(0, 0, MMIO_BAR_MEM32, true, 2 * U);
	d.bars[d.nbars++] = mk(0, 2, MMIO_BAR_MEM32, false, 4 * K);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_OK && r.tries == 2,
	       "secondary-vga vgamem_mb=2: the 4K BAR makes pciehp re-size the mem window");
	tap_ok(r.after.win[1].start == 0x20000000 && r.after.win[1].end == 0x20300000,
	       "  new mem window [0x20000000-0x202fffff]: 3M (the guest, Linux 6.1)");
	tap_is_u64(at(&d, pl, 0, 0), 0x20000000, "  BAR0 at 0x20000000 (the guest)");
	tap_is_u64(at(&d, pl, 0, 2), 0x20200000, "  BAR2 at 0x20200000 (the guest)");

	/* a ROM that does not fit is dropped, no re-sizing */
	fresh(&d, "e1");
	d.bars[d.nbars++] = mk(0, 0, MMIO_BAR_MEM32, false, 128 * K);
	d.bars[d.nbars++] = mk(0, 1, MMIO_BAR_IO, false, 64);
	d.bars[d.nbars++] = mk(0, MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 4 * U);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_E_NOSPACE && r.tries == 1,
	       "e1000 with a 4M ROM: the ROM does not fit and nothing is re-sized");
	tap_ok(at(&d, pl, 0, 0) == 0xFE400000 && at(&d, pl, 0, 1) == 0x1000 && at(&d, pl, 0, 6) == 0,
	       "  BAR0 0xfe400000, BAR1 0x1000, ROM unassigned (the guest)");
	tap_contains(err.msg, "e1 ROM [mem size 0x400000 pref]: can't assign", "  reason names the ROM");

	/* two windows re-sized at once: fn0 a 64M pref32 (mem window), fn1 a 1G pref64 */
	fresh(&d, "two");
	d.nfn = 2;
	d.fns[1].fn = 1;
	d.bars[d.nbars++] = mk(0, 0, MMIO_BAR_MEM32, true, 64 * U);
	d.bars[d.nbars++] = mk(0, 2, MMIO_BAR_MEM32, false, 4 * K);
	testdev(&d, 1, 1 * G);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_OK && r.tries == 2,
	       "a slot needing both memory windows re-sized fits");
	tap_ok(r.after.win[2].start == 0x100000000 && r.after.win[2].end == 0x140000000 &&
	       r.after.win[1].start == 0x20000000 && r.after.win[1].end == 0x26000000,
	       "  pref [0x100000000-0x13fffffff], mem [0x20000000-0x25ffffff] (the guest)");
	tap_ok(at(&d, pl, 1, 2) == 0x100000000 && at(&d, pl, 0, 0) == 0x20000000 &&
	       at(&d, pl, 0, 2) == 0x24000000 && at(&d, pl, 1, 0) == 0x24001000 && at(&d, pl, 1, 1) == 0x1000,
	       "  every BAR where the guest put it");

	/* does not fit even then: 64G in a 32G 64-bit window */
	fresh(&d, "0000:01:00.0");
	testdev(&d, 0, 64 * G);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_E_NOSPACE && r.tries == 2,
	       "membar=64G does not fit even after re-sizing");
	tap_ok(at(&d, pl, 0, 2) == 0 && at(&d, pl, 0, 0) == 0xFE400000 && at(&d, pl, 0, 1) == 0x1000,
	       "  BAR2 unassigned, BAR0 and BAR1 assigned (the guest)");
	tap_ok(!r.after.present[2], "  the port has no pref window any more (the guest)");
	tap_contains(err.msg, "0000:01:00.0 BAR 2 [mem size 0x1000000000 64bit pref]: can't assign; no space",
		     "  reason in the kernel's words");
	tap_contains(err.msg, "asked the root bus for 64 GiB", "  reason says what pciehp asked for");
	tap_contains(err.msg, "high window [0x100000000-0x8ffffffff]: largest aligned free block 16 GiB",
		     "  and what the root windows have");

	/* a slot of three functions behind the port (512M, 512M, 1G) */
	fresh(&d, "slot");
	d.nfn = 3;
	for (unsigned f = 0; f < 3; f++)
		d.fns[f].fn = (uint8_t)f;
	testdev(&d, 0, 512 * U);
	testdev(&d, 1, 512 * U);
	testdev(&d, 2, 1 * G);
	tap_ok(mmio_place_pciehp(&q35, &rp1, &d, pl, &r, &err) == MMIO_OK && r.tries == 2,
	       "a three-function slot fits after re-sizing");
	tap_ok(r.after.win[2].start == 0x100000000 && r.after.win[2].end == 0x180000000,
	       "  new pref window [0x100000000-0x17fffffff] (the guest)");
	tap_ok(at(&d, pl, 2, 2) == 0x100000000 && at(&d, pl, 0, 2) == 0x140000000 &&
	       at(&d, pl, 1, 2) == 0x160000000, "  1G, then 512M of function 0, then of function 1 (the guest)");
	tap_ok(at(&d, pl, 0, 0) == 0xFE400000 && at(&d, pl, 1, 0) == 0xFE401000 && at(&d, pl, 2, 0) == 0xFE402000,
	       "  BAR0s in function order (the guest)");
	tap_ok(at(&d, pl, 0, 1) == 0x1000 && at(&d, pl, 1, 1) == 0x1400 && at(&d, pl, 2, 1) == 0x1800,
	       "  I/O BARs in function order, ISA alias rule (the guest)");
	free(pl);
}

/* ---- random instances -------------------------------------------------------- */

struct instance {
	struct mmio_window root[4];
	struct mmio_range used[24];
	struct mmio_space_params p;
	struct mmio_bridge port;
	struct mmio_device dev;
};

/* window i of size `size` at a random aligned spot inside [lo, hi) */
static bool place_window(struct instance *in, unsigned i, uint64_t lo, uint64_t hi, uint64_t align,
			 uint64_t size)
{
	uint64_t first = (lo + align - 1) & ~(align - 1), start;

	if (first + size > hi)
		return false;
	start = first + below((hi - size - first) / align + 1) * align;
	in->port.present[i] = true;
	in->port.win[i].start = start;
	in->port.win[i].end = start + size;
	return true;
}

static void make_instance(struct instance *in, uint64_t seed)
{
	memset(in, 0, sizeof(*in));
	rng_state = seed * 0x9E3779B97F4A7C15ull + 7;
	/* root: a low window of 64..512 MiB ending below 4 GiB, maybe a high
	 * one of 0..8 GiB, an I/O window */
	uint64_t lsz = (64 + below(448)) * U, lstart = 0xF0000000 - lsz;
	in->root[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = lstart, .end = 0xF0000000 };
	in->p.nwin = 1;
	if (below(3)) {
		uint64_t hsz = (1 + below(8)) * G >> below(4);
		in->root[in->p.nwin++] = (struct mmio_window){ .kind = MMIO_WIN_HIGH, .start = G4 + below(4) * G,
								 .end = 0 };
		in->root[in->p.nwin - 1].end = in->root[in->p.nwin - 1].start + hsz;
	}
	in->root[in->p.nwin++] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0xD00, .end = 0x10000 };
	in->p.windows = in->root;
	/* the port: io 4K, mem 1-8M, pref 1-64M low or high; placed at random
	 * aligned spots, the root's other used ranges around them */
	place_window(in, 0, 0x1000, 0x9000, 0x1000, 0x1000);
	in->port.win[0].kind = MMIO_WIN_IO;
	place_window(in, 1, lstart, lstart + lsz / 2, 1 * U, (1 + below(8)) * U);
	in->port.win[1].kind = MMIO_WIN_LOW;
	uint64_t psz = (1 + below(lsz / U / 4)) * U;
	if (in->p.nwin == 3 && below(2) &&
	    place_window(in, 2, in->root[1].start, in->root[1].end, 1 * U, psz)) {
		in->port.win[2].kind = MMIO_WIN_HIGH;
	} else {
		place_window(in, 2, lstart + lsz / 2, lstart + lsz, 1 * U, psz);
		in->port.win[2].kind = MMIO_WIN_LOW;
	}
	in->port.win[2].flags = MMIO_WF_PREFETCH | MMIO_WF_MEM64;
	if (below(8) == 0)
		in->port.present[0] = false;
	/* used ranges that do not overlap the port's windows */
	for (unsigned n = (unsigned)below(12), i = 0; i < n; i++) {
		const struct mmio_window *w = &in->root[below(in->p.nwin)];
		uint64_t len = w->kind == MMIO_WIN_IO ? UINT64_C(0x100) << below(4) : U << below(7);
		uint64_t s = w->start + below((w->end - w->start) / len) * len;
		bool clash = s + len > w->end;
		for (unsigned k = 0; k < 3; k++)
			if (in->port.present[k] && s < in->port.win[k].end && in->port.win[k].start < s + len)
				clash = true;
		if (!clash)
			in->used[in->p.nused++] = (struct mmio_range){ s, s + len };
	}
	in->p.used = in->used;
	/* a device: 1-3 functions of 1-4 BARs, sizes up to a quarter of the windows */
	snprintf(in->dev.name, sizeof(in->dev.name), "seed-%" PRIu64, seed);
	in->dev.nfn = 1 + (unsigned)below(3);
	for (unsigned f = 0; f < in->dev.nfn; f++) {
		uint8_t next = 0;
		in->dev.fns[f].fn = (uint8_t)f;
		for (unsigned n = 1 + (unsigned)below(4), i = 0; i < n && next < 6; i++) {
			unsigned pick = (unsigned)below(8);
			struct mmio_bar b;
			if (pick == 0)
				b = mk((uint8_t)f, next++, MMIO_BAR_IO, false, UINT64_C(16) << below(5));
			else if (pick == 1 && i == n - 1)
				b = mk((uint8_t)f, MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 64 * K << below(8));
			else if (pick <= 4 && next < 5) {
				b = mk((uint8_t)f, next, MMIO_BAR_MEM64, below(3) != 0, 4 * K << below(18));
				next += 2;
			} else
				b = mk((uint8_t)f, next++, MMIO_BAR_MEM32, below(3) == 0, 4 * K << below(14));
			in->dev.bars[in->dev.nbars++] = b;
		}
	}
	if (in->dev.nfn == 1)
		in->dev.nfn = 0;
}

static bool overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* What must hold of every result; returns a reason or NULL. */
static const char *check(const struct instance *in, enum mmio_status st, const struct mmio_placement *pl,
			 const struct mmio_pciehp *r, const struct mmio_placement *first, enum mmio_status st1)
{
	static char why[160];
	const struct mmio_bridge *a = &r->after;
	bool non_rom_fail = false, all = true;

	/* the first pass is acpiphp's placement in the current windows */
	for (size_t i = 0; i < first->n; i++)
		if (!first->items[i].placed && in->dev.bars[first->items[i].bar].index != MMIO_BAR_ROM)
			non_rom_fail = true;
	if ((r->tries == 2) != non_rom_fail)
		return "a second pass iff a BAR other than a ROM failed the current windows";
	if (r->tries == 1) {
		if ((st == MMIO_OK) != (st1 == MMIO_OK))
			return "first pass: fits as in the current windows";
		for (size_t i = 0; i < first->n; i++) {
			const struct mmio_bar_place *f = &first->items[i], *g = &pl->items[f->bar];
			if (f->placed != g->placed || (f->placed && f->addr != g->addr))
				return "first pass: placed as in the current windows";
		}
	}
	for (unsigned i = 0; i < 3; i++) {
		if (!a->present[i])
			continue;
		if (!r->resized[i] && (!in->port.present[i] || a->win[i].start != in->port.win[i].start ||
				       a->win[i].end != in->port.win[i].end))
			return "a window not released keeps its range";
		if (r->resized[i] && a->win[i].end - a->win[i].start <
				     in->port.win[i].end - in->port.win[i].start)
			return "a re-sized window never shrinks";
		bool inside = false;
		for (unsigned w = 0; w < in->p.nwin; w++)
			if ((in->root[w].kind == MMIO_WIN_IO) == (i == MMIO_BRIDGE_IO) &&
			    a->win[i].start >= in->root[w].start && a->win[i].end <= in->root[w].end)
				inside = true;
		if (!inside)
			return "a window inside a root window of its type";
		for (size_t u = 0; u < in->p.nused; u++)
			if (r->resized[i] && overlap(a->win[i].start, a->win[i].end, in->used[u].start, in->used[u].end))
				return "a re-sized window off the root's used ranges";
		for (unsigned j = 0; j < i; j++)
			if (a->present[j] && overlap(a->win[i].start, a->win[i].end, a->win[j].start, a->win[j].end))
				return "windows disjoint";
		if (i == MMIO_BRIDGE_MEM && a->win[i].end > G4)
			return "the mem window below 4 GiB";
	}
	for (size_t k = 0; k < pl->n; k++) {
		const struct mmio_bar_place *p = &pl->items[k];
		const struct mmio_bar *b = &in->dev.bars[p->bar];
		if (!p->placed) {
			all = false;
			continue;
		}
		if (p->window < 0 || p->window > 2 || !a->present[p->window] ||
		    p->addr < a->win[p->window].start || p->addr + b->size > a->win[p->window].end) {
			snprintf(why, sizeof(why), "function %u BAR %u outside its window", b->fn, b->index);
			return why;
		}
		if (p->addr & (b->size - 1))
			return "a BAR aligned to its size";
		if ((b->kind == MMIO_BAR_IO) != (p->window == MMIO_BRIDGE_IO))
			return "I/O BARs in the I/O window only";
		if (p->window == MMIO_BRIDGE_PREF && !b->prefetch)
			return "no non-prefetchable BAR in the pref window";
		if (b->kind != MMIO_BAR_MEM64 && p->addr + b->size > G4)
			return "no 32-bit BAR above 4 GiB";
		for (size_t j = 0; j < k; j++)
			if (pl->items[j].placed && overlap(p->addr, p->addr + b->size, pl->items[j].addr,
							   pl->items[j].addr + pl->items[j].size))
				return "BARs disjoint";
	}
	if ((st == MMIO_OK) != all)
		return "fits iff every BAR placed";
	return NULL;
}

static void test_random(void)
{
	const char *ns = getenv("MMIO_PCIEHP_N"), *seed = getenv("MMIO_PCIEHP_SEED");
	unsigned long n = ns ? strtoul(ns, NULL, 0) : 100000, bad = 0, second = 0, fits2 = 0, fits = 0;
	uint64_t first_seed = seed ? strtoull(seed, NULL, 0) : 1;
	struct mmio_placement *pl = mmio_placement_alloc(1), *first = mmio_placement_alloc(1);

	if (seed)
		n = 1;
	for (unsigned long i = 0; i < n; i++) {
		struct instance in;
		struct mmio_pciehp r;
		struct mmio_error err = { 0 }, e1 = { 0 };
		struct mmio_window pw[3];
		struct mmio_space ps;
		unsigned npw = 0;
		enum mmio_status st, st1;
		const char *why;

		make_instance(&in, first_seed + i);
		for (unsigned w = 0; w < 3; w++)
			if (in.port.present[w]) {
				pw[npw] = in.port.win[w];
				pw[npw++].flags |= MMIO_WF_BRIDGE;
			}
		struct mmio_space_params pp = { .windows = pw, .nwin = npw };
		if (mmio_space_init(&ps, &pp, &e1) != MMIO_OK) {
			if (bad++ < 5)
				tap_diag("seed %" PRIu64 ": port space: %s", first_seed + i, e1.msg);
			continue;
		}
		st1 = mmio_place(&ps, &in.dev, 1, first, &e1);
		mmio_space_free(&ps);
		st = mmio_place_pciehp(&in.p, &in.port, &in.dev, pl, &r, &err);
		why = st == MMIO_OK || st == MMIO_E_NOSPACE ? check(&in, st, pl, &r, first, st1) : err.msg;
		if (why) {
			if (bad < 5)
				tap_diag("seed %" PRIu64 " (replay: MMIO_PCIEHP_SEED=%" PRIu64 "): %s",
					 first_seed + i, first_seed + i, why);
			bad++;
		}
		if (seed) {
			for (unsigned w = 0; w < in.p.nwin; w++)
				tap_diag("root %u: [0x%" PRIx64 ", 0x%" PRIx64 ")", w, in.root[w].start, in.root[w].end);
			for (size_t u = 0; u < in.p.nused; u++)
				tap_diag("used [0x%" PRIx64 ", 0x%" PRIx64 ")", in.used[u].start, in.used[u].end);
			for (unsigned w = 0; w < 3; w++)
				tap_diag("window %u: %d [0x%" PRIx64 ", 0x%" PRIx64 ") -> %d [0x%" PRIx64 ", 0x%" PRIx64
					 ") resized %d", w, in.port.present[w], in.port.win[w].start, in.port.win[w].end,
					 r.after.present[w], r.after.win[w].start, r.after.win[w].end, r.resized[w]);
			for (size_t k = 0; k < pl->n; k++)
				tap_diag("fn %u BAR %u %s 0x%" PRIx64 ": %d window %d 0x%" PRIx64,
					 in.dev.bars[pl->items[k].bar].fn, in.dev.bars[pl->items[k].bar].index,
					 mmio_bar_kind_name(&in.dev.bars[pl->items[k].bar]), pl->items[k].size,
					 pl->items[k].placed, pl->items[k].window, pl->items[k].addr);
			tap_diag("%s", err.msg);
		}
		second += r.tries == 2;
		fits += st == MMIO_OK;
		fits2 += st == MMIO_OK && r.tries == 2;
	}
	tap_diag("pciehp: %lu instances, %lu fit (%lu of them after re-sizing), %lu needed a second pass",
		 n, fits, fits2, second);
	tap_ok(bad == 0, "pciehp: every result keeps the kernel's invariants on %lu random instances", n);
	tap_ok(n < 1000 || (fits2 > n / 20 && second - fits2 > n / 20),
	       "pciehp: instances cover fits-after-re-sizing and does-not-fit-even-then");
	free(pl);
	free(first);
}

int main(void)
{
	test_guest_cases();
	test_random();
	tap_done();
	return tap_exit();
}
