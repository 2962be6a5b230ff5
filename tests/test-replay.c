/* SPDX-License-Identifier: MIT */
/*
 * test-replay.c — mmio_replay(): hand-worked histories (the real-guest cases
 * of docs/verification.md) and random ones whose truth is simulated with
 * mmio_place(), one hot-plug after another.
 *
 * MMIO_REPLAY_N sets the number of random histories (default 3000);
 * MMIO_REPLAY_SEED replays one (the failing seed is printed).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mmio-model.h"
#include "rng.h"
#include "tap.h"

#define K   (UINT64_C(1) << 10)
#define M   (UINT64_C(1) << 20)
#define G4  MMIO_4G
#define UNK MMIO_ADDR_UNKNOWN
#define NONE MMIO_ADDR_NONE

static struct mmio_bar mk(uint8_t index, uint8_t kind, bool pref, uint64_t size)
{
	return (struct mmio_bar){ .index = index, .kind = kind, .prefetch = pref, .size = size };
}

/* QEMU's pci-testdev: BAR0 4K, BAR1 256 I/O ports, BAR2 membar (64-bit
 * prefetchable), ROM when a romfile is given. */
static struct mmio_device testdev(const char *name, uint64_t membar, uint64_t rom)
{
	struct mmio_device d = { .nbars = 0 };
	snprintf(d.name, sizeof(d.name), "%s", name);
	d.bars[d.nbars++] = mk(0, MMIO_BAR_MEM32, false, 4 * K);
	d.bars[d.nbars++] = mk(1, MMIO_BAR_IO, false, 256);
	if (membar)
		d.bars[d.nbars++] = mk(2, MMIO_BAR_MEM64, true, membar);
	if (rom)
		d.bars[d.nbars++] = mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, rom);
	return d;
}

/* QEMU's VGA: BAR0 16M framebuffer, BAR2 4K registers, a 64K ROM. */
static struct mmio_device std_vga(void)
{
	return (struct mmio_device){ .name = "vga", .nbars = 3,
				     .bars = { mk(0, MMIO_BAR_MEM32, true, 16 * M),
					       mk(2, MMIO_BAR_MEM32, false, 4 * K),
					       mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 64 * K) } };
}

/* QEMU's e1000: BAR0 128K, BAR1 64 I/O ports, a ROM of rom bytes. */
static struct mmio_device e1000(uint64_t rom)
{
	return (struct mmio_device){ .name = "e1000", .nbars = 3,
				     .bars = { mk(0, MMIO_BAR_MEM32, false, 128 * K),
					       mk(1, MMIO_BAR_IO, false, 64),
					       mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, rom) } };
}

/* A pc guest with 512 MiB: QEMU 7.2's windows. */
static const struct mmio_window pc512[] = {
	{ .kind = MMIO_WIN_LOW, .start = 0x20000000, .end = 0xfec00000 },
	{ .kind = MMIO_WIN_HIGH, .start = G4, .end = 0x180000000 },
	{ .kind = MMIO_WIN_IO, .start = 0xd00, .end = 0x10000 },
};

static struct mmio_space_params params(const struct mmio_window *w, unsigned nw)
{
	return (struct mmio_space_params){ .windows = w, .nwin = nw };
}

static struct mmio_past_device past(const struct mmio_device *d, uint8_t arrival, uint32_t seq)
{
	struct mmio_past_device p = { .dev = d, .arrival = arrival, .seq = seq };
	for (unsigned i = 0; i < MMIO_MAX_DEVICE_BARS; i++)
		p.addr[i] = UNK;
	return p;
}

/* Where the device's first three BARs (in declaration order) were found. */
static void found_at(struct mmio_past_device *p, uint64_t a0, uint64_t a1, uint64_t a2)
{
	p->addr[0] = a0;
	p->addr[1] = a1;
	p->addr[2] = a2;
}

static bool used_has(const struct mmio_replay *r, uint64_t start, uint64_t size)
{
	for (size_t i = 0; i < r->nused; i++)
		if (r->used[i].start == start && r->used[i].end == start + size)
			return true;
	return false;
}

static void run(const struct mmio_space_params *p, const struct mmio_past_device *pd, size_t n,
		struct mmio_replay *r)
{
	struct mmio_error err = { 0 };
	if (mmio_replay(p, pd, n, r, &err) != MMIO_OK) {
		tap_diag("mmio_replay: %s", err.msg);
		abort();
	}
}

/* 14-pc-rom-occupies: a QMP-plugged pci-testdev with a 2 KiB ROM, decode
 * enabled (BARs shown, the ROM never): the ROM is right after BAR0. */
static void test_rom_after_bar0(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device t1 = testdev("t1", M, 2 * K);
	struct mmio_past_device pd = past(&t1, MMIO_ARRIVAL_HOTPLUG, 1);
	struct mmio_replay r;

	pd.addr[0] = 0x20000000;
	pd.addr[1] = 0x1000;
	pd.addr[2] = G4;
	run(&p, &pd, 1, &r);
	tap_ok(r.exact && r.disagreements == 0 && r.kept == 1, "one device: one exact reading, no disagreement");
	tap_is_u64(r.bars[0][3].addr, 0x20001000, "its ROM is inferred right after BAR0 (14)");
	tap_ok(r.bars[0][3].inferred && !r.bars[0][3].uncertain, "the ROM is inferred, not uncertain");
	tap_ok(!r.bars[0][0].inferred && r.bars[0][0].addr == 0x20000000, "BAR0 stays as shown");
	tap_ok(used_has(&r, 0x20001000, 2 * K) && used_has(&r, 0x20000000, 4 * K) &&
	       used_has(&r, 0x1000, 256) && used_has(&r, G4, M) && r.nused == 4,
	       "used: the four BARs");
	mmio_replay_free(&r);
}

/* A device whose decode the guest never enabled: nothing shown, all placed. */
static void test_not_enabled(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device a = testdev("a", 256 * M, 64 * K), b = testdev("b", 0, 2 * K);
	struct mmio_past_device pd[2] = { past(&a, MMIO_ARRIVAL_HOTPLUG, 1),
					  past(&b, MMIO_ARRIVAL_HOTPLUG, 2) };
	struct mmio_replay r;

	run(&p, pd, 2, &r);
	tap_is_u64(r.bars[0][2].addr, G4, "a's 256M BAR2 above 4 GiB");
	tap_is_u64(r.bars[0][3].addr, 0x20000000, "a's 64K ROM at the bottom");
	tap_is_u64(r.bars[0][0].addr, 0x20010000, "a's BAR0 after its ROM");
	tap_is_u64(r.bars[0][1].addr, 0x1000, "a's I/O at 0x1000");
	tap_is_u64(r.bars[1][0].addr, 0x20011000, "b, plugged later: BAR0 after a's BARs");
	tap_is_u64(r.bars[1][2].addr, 0x20012000, "b's 2K ROM after its 4K BAR0 (largest first)");
	tap_is_u64(r.bars[1][1].addr, 0x1400, "b's I/O at 0x1400 (ISA alias rule)");
	mmio_replay_free(&r);
}

/* Boot devices: the firmware's ROM addresses are held, except a VGA's. */
static void test_boot_rom_and_vga(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device vga = std_vga();
	struct mmio_device nic = e1000(64 * K);
	struct mmio_past_device pd[2] = { past(&vga, MMIO_ARRIVAL_BOOT, 0),
					  past(&nic, MMIO_ARRIVAL_BOOT, 0) };
	struct mmio_replay r;

	/* QEMU 7.2 + SeaBIOS, -device VGA + e1000 with a 64K romsize (verification.md) */
	pd[0].vga = true;
	found_at(&pd[0], 0xfd000000, 0xfebe0000, 0xfebc0000);
	found_at(&pd[1], 0xfeba0000, 0xc100, 0xfebd0000);
	run(&p, pd, 2, &r);
	tap_ok(r.bars[0][2].addr == NONE && r.bars[0][2].inferred, "the boot VGA's ROM BAR holds nothing (shadowed)");
	tap_ok(!used_has(&r, 0xfebc0000, 64 * K), "and is not counted");
	tap_ok(used_has(&r, 0xfebd0000, 64 * K) && r.bars[1][2].addr == 0xfebd0000 && !r.bars[1][2].inferred,
	       "the e1000's boot ROM is held where the firmware put it");
	mmio_replay_free(&r);
}

/* A removal at a known and at an unknown moment. */
static void test_removal(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device a = { .name = "a", .nbars = 1, .bars = { mk(0, MMIO_BAR_MEM32, false, M) } };
	struct mmio_device b = { .name = "b", .nbars = 2,
				 .bars = { mk(0, MMIO_BAR_MEM32, false, M),
					   mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 2 * K) } };
	struct mmio_past_device pd[2] = { past(&a, MMIO_ARRIVAL_HOTPLUG, 1),
					  past(&b, MMIO_ARRIVAL_HOTPLUG, 2) };
	struct mmio_replay r;

	pd[0].gone = true;
	pd[0].addr[0] = 0x20000000;
	pd[0].gone_from = pd[0].gone_to = 1;    /* removed before b came */
	run(&p, pd, 2, &r);
	tap_ok(r.exact && r.bars[1][0].addr == 0x20000000 && r.bars[1][1].addr == 0x20100000,
	       "removed before: b takes a's place");
	mmio_replay_free(&r);

	pd[0].gone_from = pd[0].gone_to = 2;    /* removed after b came */
	run(&p, pd, 2, &r);
	tap_ok(r.exact && r.bars[1][0].addr == 0x20100000 && r.bars[1][1].addr == 0x20200000,
	       "removed after: b goes above a");
	mmio_replay_free(&r);

	pd[0].gone_from = 1;                    /* not known which */
	pd[0].gone_to = 2;
	run(&p, pd, 2, &r);
	tap_ok(!r.exact && r.readings == 2 && r.kept == 2, "unknown moment, nothing shown: both readings kept");
	tap_ok(r.bars[1][0].uncertain && used_has(&r, 0x20000000, M) && used_has(&r, 0x20100000, M) &&
	       used_has(&r, 0x20100000, 2 * K) && used_has(&r, 0x20200000, 2 * K),
	       "b's BARs count as used at both places (conservative)");
	mmio_replay_free(&r);

	pd[1].addr[0] = 0x20100000;             /* b enabled: BAR0 shown */
	run(&p, pd, 2, &r);
	tap_ok(r.kept == 1 && r.disagreements == 0 && !r.bars[1][1].uncertain &&
	       r.bars[1][1].addr == 0x20200000 && !used_has(&r, 0x20100000, 2 * K),
	       "b's shown BAR0 tells which reading is true: its ROM is exact again");
	mmio_replay_free(&r);
}

/* Arrivals in an unknown order. */
static void test_tie(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device a = { .name = "a", .nbars = 1, .bars = { mk(0, MMIO_BAR_MEM32, false, 2 * M) } };
	struct mmio_device b = { .name = "b", .nbars = 1, .bars = { mk(0, MMIO_BAR_MEM32, false, M) } };
	struct mmio_past_device pd[2] = { past(&a, MMIO_ARRIVAL_HOTPLUG, 5),
					  past(&b, MMIO_ARRIVAL_HOTPLUG, 5) };
	struct mmio_replay r;

	run(&p, pd, 2, &r);
	tap_ok(r.readings == 2 && r.kept == 2 && r.bars[0][0].uncertain && r.bars[1][0].uncertain,
	       "two arrivals, order unknown: both orders, both uncertain");
	tap_ok(used_has(&r, 0x20000000, 2 * M) && used_has(&r, 0x20200000, 2 * M) &&
	       used_has(&r, 0x20000000, M) && used_has(&r, 0x20200000, M),
	       "each counted at both places");
	mmio_replay_free(&r);
}

/* A shown BAR the history cannot explain (a device removed before anyone
 * saw it): the disagreement is reported, the rest is placed around it. */
static void test_unexplained(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device b = testdev("b", 0, 2 * K);
	struct mmio_past_device pd = past(&b, MMIO_ARRIVAL_HOTPLUG, 3);
	struct mmio_replay r;

	pd.addr[0] = 0x20400000;
	pd.addr[1] = 0x1400;
	run(&p, &pd, 1, &r);
	tap_ok(r.disagreements == 2, "BAR0 and the I/O BAR not where first fit puts them: 2 disagreements");
	tap_is_u64(r.bars[0][2].addr, 0x20000000, "the ROM still by first fit around the shown BARs");
	mmio_replay_free(&r);
}

/* Someone else's multi-function slot (QEMU takes functions 1.. first and
 * tells the guest at function 0): one hot-plug, BARs sorted across
 * functions.  Function 1's 1M BAR goes first although function 0 came
 * last; one at a time (function 1, then 0) would put function 1's 4K BAR
 * at the bottom. */
static void test_slot(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device slot = { .name = "s", .nbars = 4, .nfn = 2,
				    .fns = { { .fn = 0 }, { .fn = 1 } },
				    .bars = { mk(0, MMIO_BAR_MEM32, false, 4 * K),
					      mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 64 * K),
					      mk(0, MMIO_BAR_MEM32, false, M),
					      mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 2 * K) } };
	struct mmio_device t = testdev("t", 0, 0);
	struct mmio_past_device pd[2];
	struct mmio_replay r;

	slot.bars[2].fn = slot.bars[3].fn = 1;
	pd[0] = past(&slot, MMIO_ARRIVAL_HOTPLUG, 3);
	pd[1] = past(&t, MMIO_ARRIVAL_HOTPLUG, 4);
	pd[1].addr[0] = 0x20112000;
	pd[1].addr[1] = 0x1000;
	run(&p, pd, 2, &r);
	tap_ok(r.exact && r.disagreements == 0, "a slot then a device: one reading, the device's shown BARs explained");
	tap_is_u64(r.bars[0][2].addr, 0x20000000, "function 1's 1M BAR first (sorted across functions)");
	tap_is_u64(r.bars[0][1].addr, 0x20100000, "then function 0's 64K ROM");
	tap_is_u64(r.bars[0][0].addr, 0x20110000, "then function 0's 4K BAR0");
	tap_is_u64(r.bars[0][3].addr, 0x20111000, "then function 1's 2K ROM");
	mmio_replay_free(&r);

	/* at boot: a GPU's ROM (function 0) is shadowed, its audio function's is held */
	pd[0] = past(&slot, MMIO_ARRIVAL_BOOT, 0);
	pd[0].vga = true;
	pd[0].addr[0] = 0xfebf0000;
	pd[0].addr[1] = 0xfeb00000;
	pd[0].addr[2] = 0xfe000000;
	pd[0].addr[3] = 0xfebe0000;
	run(&p, pd, 1, &r);
	tap_ok(r.bars[0][1].addr == NONE && !used_has(&r, 0xfeb00000, 64 * K),
	       "boot VGA slot: function 0's ROM is shadowed, holds nothing");
	tap_ok(r.bars[0][3].addr == 0xfebe0000 && used_has(&r, 0xfebe0000, 2 * K),
	       "boot VGA slot: function 1's ROM is held where the firmware put it");
	mmio_replay_free(&r);
}

/* OVMF leaves boot ROM BARs unassigned; Linux assigns them at boot after
 * the claims, all of the bus's in one sorted list (the boot VGA's ROM is
 * shadowed, not assigned), before any hot-plug. */
static void test_boot_pass(void)
{
	struct mmio_space_params p = params(pc512, 3);
	struct mmio_device vga = std_vga();
	struct mmio_device nic = e1000(256 * K);
	struct mmio_device t = testdev("t", 0, 32 * K);
	struct mmio_device late = testdev("late", 0, 0);
	struct mmio_past_device pd[4] = { past(&vga, MMIO_ARRIVAL_BOOT, 0), past(&nic, MMIO_ARRIVAL_BOOT, 0),
					  past(&t, MMIO_ARRIVAL_BOOT, 0), past(&late, MMIO_ARRIVAL_HOTPLUG, 4) };
	struct mmio_replay r;

	/* 32-bit boot BARs from 0x80000000 as OVMF places them; ROMs hidden */
	pd[0].vga = true;
	found_at(&pd[0], 0x80000000, 0x81000000, MMIO_ADDR_FW_UNASSIGNED);
	found_at(&pd[1], 0x81020000, 0x6000, MMIO_ADDR_FW_UNASSIGNED);
	found_at(&pd[2], 0x81001000, 0x6100, MMIO_ADDR_FW_UNASSIGNED);
	run(&p, pd, 3, &r);
	tap_ok(r.exact && r.bars[0][2].addr == NONE, "boot pass: the VGA's ROM is shadowed, not assigned");
	tap_ok(r.bars[1][2].addr == 0x20000000 && r.bars[1][2].inferred,
	       "boot pass: the e1000's 256K ROM at the bottom of the low window");
	tap_is_u64(r.bars[2][2].addr, 0x20040000, "boot pass: the 32K ROM after it (one sorted list)");
	tap_ok(used_has(&r, 0x20000000, 256 * K) && used_has(&r, 0x20040000, 32 * K), "both counted as used");
	mmio_replay_free(&r);

	pd[3].addr[0] = UNK;
	run(&p, pd, 4, &r);
	tap_is_u64(r.bars[3][0].addr, 0x20048000, "a later hot-plug goes above the boot ROMs");
	mmio_replay_free(&r);

	pd[1].addr[2] = pd[2].addr[2] = UNK;
	run(&p, pd, 3, &r);
	tap_ok(r.bars[1][2].addr == UNK && !used_has(&r, 0x20000000, 256 * K),
	       "firmware that placed the ROMs where nobody shows: unknown, not counted");
	mmio_replay_free(&r);
}

/* ---- random histories --------------------------------------------------------- */

static unsigned long stat_gone, stat_multi, stat_inferred;

#define RN 8

static struct mmio_device random_device(unsigned k)
{
	struct mmio_device d = { .nbars = 0 };
	unsigned nb = 1 + (unsigned)(rnd() % 4);
	snprintf(d.name, sizeof(d.name), "d%u", k);
	for (unsigned i = 0; i < nb; i++) {
		unsigned kind = (unsigned)(rnd() % 4);
		if (kind == 0)
			d.bars[d.nbars] = mk((uint8_t)d.nbars, MMIO_BAR_IO, false, UINT64_C(4) << (rnd() % 7));
		else if (kind == 1)
			d.bars[d.nbars] = mk((uint8_t)d.nbars, MMIO_BAR_MEM64, true, 4 * K << (rnd() % 16));
		else
			d.bars[d.nbars] = mk((uint8_t)d.nbars, MMIO_BAR_MEM32, rnd() % 2, 4 * K << (rnd() % 14));
		d.nbars++;
	}
	if (rnd() % 2)
		d.bars[d.nbars++] = mk(MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 2 * K << (rnd() % 8));
	return d;
}

/* One random history with a known truth: devices arrive one by one (some
 * leave again), each placed by mmio_place on the space of that moment.
 * Then the toolstack shows only some addresses; the replay of the exact
 * history must give the truth, and with the removals' moments blurred the
 * truth must still be counted as used. */
static bool random_history(uint64_t seed)
{
	struct mmio_window win[3] = {
		{ .kind = MMIO_WIN_LOW, .start = 0xf0000000 + (rnd() % 64) * 64 * K, .end = 0xfc000000 },
		{ .kind = MMIO_WIN_HIGH, .start = G4, .end = G4 + (64 * M << (rnd() % 4)) },
		{ .kind = MMIO_WIN_IO, .start = 0x1000, .end = 0x1000 + (0x400 << (rnd() % 4)) },
	};
	struct mmio_device devs[RN];
	struct mmio_past_device pd[RN];
	struct mmio_range used[RN * MMIO_MAX_BARS];
	size_t owner[RN * MMIO_MAX_BARS], nused = 0;
	struct mmio_space_params p = params(win, 3);
	uint64_t truth[RN][MMIO_MAX_DEVICE_BARS];
	unsigned n = 2 + (unsigned)(rnd() % (RN - 1));
	bool ok = true;

	for (unsigned d = 0; d < n; d++) {
		struct mmio_space sp;
		struct mmio_placement *pl = mmio_placement_alloc(1);
		struct mmio_space_params q = p;

		devs[d] = random_device(d);
		pd[d] = past(&devs[d], MMIO_ARRIVAL_HOTPLUG, d + 1);
		/* an earlier device leaves before this one comes */
		if (d > 0 && rnd() % 3 == 0) {
			unsigned v = (unsigned)(rnd() % d);
			if (!pd[v].gone) {
				size_t k = 0;
				pd[v].gone = true;
				stat_gone++;
				pd[v].gone_from = pd[v].gone_to = d;    /* after arrival d (seq d) */
				for (size_t i = 0; i < nused; i++)
					if (owner[i] != v) {
						used[k] = used[i];
						owner[k++] = owner[i];
					}
				nused = k;
			}
		}
		q.used = used;
		q.nused = nused;
		if (mmio_space_init(&sp, &q, NULL) != MMIO_OK || !pl)
			abort();
		mmio_place(&sp, &devs[d], 1, pl, NULL);
		for (unsigned i = 0; i < devs[d].nbars; i++)
			truth[d][i] = NONE;
		for (size_t i = 0; i < pl->n; i++)
			if (pl->items[i].placed) {
				truth[d][pl->items[i].bar] = pl->items[i].addr;
				used[nused] = (struct mmio_range){ pl->items[i].addr,
								   pl->items[i].addr + pl->items[i].size };
				owner[nused++] = d;
			}
		mmio_space_free(&sp);
		free(pl);
		/* what the toolstack shows: a removed device as recorded while it was
		 * there; a present one with decode enabled everything but the ROM */
		bool enabled = rnd() % 2;
		for (unsigned i = 0; i < devs[d].nbars; i++)
			if (pd[d].gone || (enabled && devs[d].bars[i].index != MMIO_BAR_ROM))
				pd[d].addr[i] = truth[d][i];
	}
	/* removals recorded after the fact keep their addresses */
	for (unsigned d = 0; d < n; d++)
		if (pd[d].gone)
			for (unsigned i = 0; i < devs[d].nbars; i++)
				pd[d].addr[i] = truth[d][i];

	struct mmio_replay r;
	run(&p, pd, n, &r);
	ok &= r.exact && r.disagreements == 0;
	for (unsigned d = 0; d < n; d++)
		for (unsigned i = 0; !pd[d].gone && i < devs[d].nbars; i++)
			if (stat_inferred += r.bars[d][i].inferred, r.bars[d][i].addr != truth[d][i] || r.bars[d][i].uncertain) {
				tap_diag("seed %" PRIu64 ": %s BAR%u: replay 0x%" PRIx64 " truth 0x%" PRIx64, seed,
					 devs[d].name, devs[d].bars[i].index, r.bars[d][i].addr, truth[d][i]);
				ok = false;
			}
	mmio_replay_free(&r);

	/* the same with every removal's moment unknown up to the last arrival */
	for (unsigned d = 0; d < n; d++)
		if (pd[d].gone)
			pd[d].gone_to = n;
	run(&p, pd, n, &r);
	ok &= r.disagreements == 0 && r.kept >= 1;
	stat_multi += r.readings > 1;
	for (unsigned d = 0; d < n; d++)
		for (unsigned i = 0; !pd[d].gone && i < devs[d].nbars; i++)
			if (truth[d][i] != NONE && r.readings < MMIO_REPLAY_READINGS &&
			    !used_has(&r, truth[d][i], devs[d].bars[i].size)) {
				tap_diag("seed %" PRIu64 " (blurred): %s BAR%u truth 0x%" PRIx64 " not counted", seed,
					 devs[d].name, devs[d].bars[i].index, truth[d][i]);
				ok = false;
			}
	mmio_replay_free(&r);
	return ok;
}

int main(void)
{
	const char *ns = getenv("MMIO_REPLAY_N"), *ss = getenv("MMIO_REPLAY_SEED");
	unsigned long n = ns ? strtoul(ns, NULL, 0) : 3000, bad = 0;

	test_rom_after_bar0();
	test_not_enabled();
	test_boot_rom_and_vga();
	test_removal();
	test_tie();
	test_unexplained();
	test_slot();
	test_boot_pass();

	for (unsigned long i = 0; i < (ss ? 1 : n); i++) {
		uint64_t seed = ss ? strtoull(ss, NULL, 0) : 0x9e3779b97f4a7c15ull * (i + 1);
		rng_state = seed | 1;
		if (!random_history(seed))
			bad++;
	}
	tap_diag("%lu removals, %lu blurred histories with several readings, %lu BARs inferred",
		 stat_gone, stat_multi, stat_inferred);
	tap_ok(bad == 0, "%lu random histories: the exact replay gives the truth, a blurred one counts it",
	       ss ? 1ul : n);
	tap_done();
	return tap_exit();
}
