/* SPDX-License-Identifier: MIT */
/* test-hvmloader.c — the hvmloader model against shared/ref/xen.md 1.6 and
 * hand-checked cases. */
#include <stdlib.h>
#include <string.h>

#include "hvmloader.h"
#include "tap.h"
#include "xen-devices.h"

static const struct mmio_device huge2g = {
	.name = "huge2g", .nbars = 2, .bars = { M32(0, 16 * MiB), M64P(2, 2 * GiB) } };

static const struct mmio_hvm_bar *find(const struct mmio_hvm_result *r, unsigned dev, unsigned bar)
{
	for (size_t i = 0; i < r->nbars; i++)
		if (r->bars[i].device == dev && r->bars[i].bar == bar)
			return &r->bars[i];
	return NULL;
}

static uint64_t addr_of(const struct mmio_hvm_result *r, unsigned dev, unsigned bar)
{
	const struct mmio_hvm_bar *b = find(r, dev, bar);

	return b && b->where != MMIO_HVM_NOSPACE ? b->addr : UINT64_MAX;
}

static unsigned where_of(const struct mmio_hvm_result *r, unsigned dev, unsigned bar)
{
	const struct mmio_hvm_bar *b = find(r, dev, bar);

	return b ? b->where : 99;
}

static struct mmio_hvm_params guest(const struct mmio_device *devs, size_t n, uint64_t maxmem_mb,
				    uint64_t hole_mb, enum mmio_xen_rule rule)
{
	struct mmio_hvm_ram ram;
	struct mmio_hvm_params p = { .devs = devs, .ndev = n, .rule = rule };

	if (mmio_hvm_ram_layout(maxmem_mb * 1024, 8 * 1024, hole_mb * 1024, &ram, NULL) != MMIO_OK)
		abort();
	p.low_mem_end = ram.low_mem_end;
	p.high_mem_end = ram.high_mem_end;
	p.mmio_hole_size = ram.mmio_hole_size;
	return p;
}

static void run(const struct mmio_hvm_params *p, struct mmio_hvm_result *r, const char *what)
{
	struct mmio_error err = { 0 };
	enum mmio_status st = mmio_hvm_run(p, r, &err);

	if (!tap_ok(st == MMIO_OK, "%s: model runs", what))
		tap_diag("  %s: %s", mmio_status_name(st), err.msg);
}

static void test_ram_layout(void)
{
	struct mmio_hvm_ram ram;
	struct mmio_error err = { 0 };

	mmio_hvm_ram_layout(4096 * 1024, 8 * 1024, 0, &ram, &err);
	tap_is_u64(ram.low_mem_end, 0xF0000000, "ram 4 GiB: lowmem_end");
	tap_is_u64(ram.high_mem_end, 0x10F800000, "ram 4 GiB: highmem_end");
	tap_is_u64(ram.mmio_hole_size, 0, "ram 4 GiB: no mmio_hole_size");

	mmio_hvm_ram_layout(2048 * 1024, 8 * 1024, 0, &ram, &err);
	tap_is_u64(ram.low_mem_end, 0x7F800000, "ram 2 GiB: lowmem_end");
	tap_is_u64(ram.high_mem_end, 0, "ram 2 GiB: no high RAM");

	mmio_hvm_ram_layout(4096 * 1024, 8 * 1024, 1000 * 1024, &ram, &err);
	tap_is_u64(ram.low_mem_end, 0xC1800000, "ram mmio_hole=1000: lowmem_end");
	tap_is_u64(ram.high_mem_end, MMIO_4G + (4088 - 3096) * MiB, "ram mmio_hole=1000: highmem_end");
	tap_is_u64(ram.mmio_hole_size, 1000 * MiB, "ram mmio_hole=1000: platform/mmio_hole_size");

	mmio_hvm_ram_layout(4096 * 1024, 8 * 1024, 256 * 1024, &ram, &err);
	tap_is_u64(ram.low_mem_end, 0xF0000000, "ram mmio_hole=256: lowmem_end as default");
	tap_is_u64(ram.mmio_hole_size, 256 * MiB, "ram mmio_hole=256: still written to xenstore");

	tap_ok(mmio_hvm_ram_layout(1024, 2048, 0, &ram, &err) == MMIO_E_INVALID,
	       "ram: video above maxmem is invalid");
}

/* xen.md 1.6, first example: 4 GiB guest, Cirrus + platform + GPU. */
static void test_example_4g(enum mmio_xen_rule rule)
{
	const struct mmio_device devs[] = { cirrus, platform, gpu };
	struct mmio_hvm_params p = guest(devs, 3, 4096, 0, rule);
	struct mmio_hvm_result r;
	const char *v = mmio_xen_rule_name(rule);
	char name[128];

	snprintf(name, sizeof(name), "1.6 4 GiB (%s)", v);
	run(&p, &r, name);
	tap_is_u64(r.mmio_total, 352 * MiB + 516 * KiB, "1.6 4 GiB: mmio_total ~352.5 MiB");
	tap_is_u64(r.pci_mem_start, 0xF0000000, "1.6 4 GiB: hole cannot double");
	tap_ok(r.bar64_relocate, "1.6 4 GiB: bar64_relocate");
	tap_is_u64(addr_of(&r, 2, 1), 0x110000000, "1.6 4 GiB: GPU BAR1 at 0x110000000");
	tap_ok(where_of(&r, 2, 1) == MMIO_HVM_HIGH, "1.6 4 GiB: GPU BAR1 is high");
	tap_ok(r.has_high, "1.6 4 GiB: high window exists");
	tap_is_u64(r.pci_hi_mem_start, 0x110000000, "1.6 4 GiB: high window start");
	tap_is_u64(r.pci_hi_mem_end, 0x120000000, "1.6 4 GiB: high window end (no slack)");
	tap_is_u64(addr_of(&r, 0, 0), 0xF0000000, "1.6 4 GiB: Cirrus BAR0 first low");
	tap_is_u64(addr_of(&r, 2, 2), 0xF2000000, "1.6 4 GiB: GPU BAR3 (equal size, later devfn) next");
	tap_ok(where_of(&r, 2, 2) == MMIO_HVM_LOW, "1.6 4 GiB: GPU BAR3 stays low");
	tap_is_u64(addr_of(&r, 1, 1), 0xF4000000, "1.6 4 GiB: platform BAR1");
	tap_is_u64(addr_of(&r, 2, 0), 0xF5000000, "1.6 4 GiB: GPU BAR0");
	tap_is_u64(addr_of(&r, 2, 4), 0xF6000000, "1.6 4 GiB: GPU ROM");
	tap_is_u64(addr_of(&r, 0, 1), 0xF6080000, "1.6 4 GiB: Cirrus BAR1");
	tap_is_u64(r.low_next, 0xF6081000, "1.6 4 GiB: low BARs end at 0xF6081000");
	tap_is_u64(MMIO_HVM_PCI_MEM_END - r.low_next, 0x5F7F000, "1.6 4 GiB: ~95.5 MiB low free");
	tap_is_u64(addr_of(&r, 1, 0), 0xC000, "1.6 4 GiB: platform I/O at 0xC000");
	tap_is_u64(addr_of(&r, 2, 3), 0xC100, "1.6 4 GiB: GPU I/O at 0xC100");
	tap_is_u64(r.nunplaced, 0, "1.6 4 GiB: everything placed");
	tap_is_u64(r.nwin, 3, "1.6 4 GiB: low, high, io windows");
	tap_ok(r.windows[0].kind == MMIO_WIN_LOW && r.windows[0].start == 0xF0000000 &&
	       r.windows[0].end == 0xFC000000, "1.6 4 GiB: low window [0xF0000000, 0xFC000000)");
	tap_ok(r.windows[1].kind == MMIO_WIN_HIGH && r.windows[1].start == 0x110000000 &&
	       r.windows[1].end == 0x120000000, "1.6 4 GiB: high window as a struct mmio_window");
	tap_ok(r.windows[2].kind == MMIO_WIN_IO && r.windows[2].start == 0xC000 &&
	       r.windows[2].end == 0x10000, "1.6 4 GiB: io window [0xC000, 0x10000)");
	tap_is_u64(r.nused, 9, "1.6 4 GiB: nine used ranges");
	tap_is_u64(r.relocated_bytes, 0, "1.6 4 GiB: no RAM relocated");
	tap_is_u64(r.min_mem, 0xF0000000, "1.6 4 GiB: PCIBIOS_MIN_MEM at end of low RAM");
	mmio_hvm_result_free(&r);
}

static void test_example_2g(void)
{
	const struct mmio_device devs[] = { cirrus, platform, gpu };
	struct mmio_hvm_params p = guest(devs, 3, 2048, 0, MMIO_XEN_4_17_4_PLUS);
	struct mmio_hvm_result r;

	run(&p, &r, "1.6 2 GiB");
	tap_is_u64(r.pci_mem_start, 0xE0000000, "1.6 2 GiB: hole doubles to 0xE0000000");
	tap_ok(!r.bar64_relocate, "1.6 2 GiB: no relocation to 64-bit");
	tap_ok(!r.has_high && r.pci_hi_mem_start == 0, "1.6 2 GiB: no high window");
	tap_is_u64(r.nwin, 2, "1.6 2 GiB: low and io windows only");
	tap_is_u64(addr_of(&r, 2, 1), 0xE0000000, "1.6 2 GiB: GPU BAR1 low at 0xE0000000");
	tap_is_u64(addr_of(&r, 0, 0), 0xF0000000, "1.6 2 GiB: Cirrus BAR0 at 0xF0000000");
	tap_is_u64(r.low_next, 0xF6081000, "1.6 2 GiB: low BARs end at 0xF6081000");
	tap_is_u64(r.nunplaced, 0, "1.6 2 GiB: everything placed");
	mmio_hvm_result_free(&r);
}

static void test_example_8g(enum mmio_xen_rule rule)
{
	const struct mmio_device devs[] = { cirrus, platform, gpu, big8g };
	struct mmio_hvm_params p = guest(devs, 4, 4096, 0, rule);
	struct mmio_hvm_result r;

	run(&p, &r, rule == MMIO_XEN_4_17_0 ? "1.6 8 GiB BAR (4.17.0)" : "1.6 8 GiB BAR (4.17.4+)");
	tap_is_u64(r.mmio_total, rule == MMIO_XEN_4_17_0 ? 8 * GiB + 352 * MiB + 516 * KiB :
		   352 * MiB + 516 * KiB, "1.6 8 GiB BAR: mmio_total per rule");
	tap_is_u64(addr_of(&r, 3, 0), 0x200000000, "1.6 8 GiB BAR: at 0x200000000");
	tap_is_u64(addr_of(&r, 2, 1), 0x400000000, "1.6 8 GiB BAR: GPU BAR1 at 0x400000000");
	tap_is_u64(r.pci_hi_mem_start, 0x200000000, "1.6 8 GiB BAR: high window start");
	tap_is_u64(r.pci_hi_mem_end, 0x600000000, "1.6 8 GiB BAR: end rounds up to 0x600000000");
	tap_is_u64(r.pci_hi_mem_end - r.high_next, 0x1F0000000, "1.6 8 GiB BAR: ~7.75 GiB slack");
	tap_is_u64(r.low_next, 0xF6081000, "1.6 8 GiB BAR: low unchanged");
	mmio_hvm_result_free(&r);
}

static void test_mmio_hole(void)
{
	const struct mmio_device devs[] = { cirrus, platform, gpu };
	struct mmio_hvm_params p = guest(devs, 3, 4096, 1000, MMIO_XEN_4_17_4_PLUS);
	struct mmio_hvm_result r;

	run(&p, &r, "mmio_hole=1000");
	tap_ok(r.hole_size_used, "mmio_hole=1000: accepted");
	tap_is_u64(r.pci_mem_start, 0xC1800000, "mmio_hole=1000: pci_mem_start 0xC1800000");
	tap_ok(!r.has_high, "mmio_hole=1000: everything fits low, no high window");
	tap_is_u64(addr_of(&r, 2, 1), 0xD0000000, "mmio_hole=1000: 256 MiB BAR aligned up to 0xD0000000");
	tap_is_u64(addr_of(&r, 0, 0), 0xE0000000, "mmio_hole=1000: Cirrus BAR0 after it");
	tap_is_u64(r.windows[0].start, 0xC1800000, "mmio_hole=1000: _CRS low window start");
	mmio_hvm_result_free(&r);

	/* A raw 128 MiB hole (xl would refuse it) is ignored, and the doubling
	 * loop is skipped too. */
	p = guest(devs, 3, 2048, 0, MMIO_XEN_4_17_4_PLUS);
	p.mmio_hole_size = 128 * MiB;
	run(&p, &r, "mmio_hole_size=128M");
	tap_ok(r.hole_size_ignored && !r.hole_size_used, "mmio_hole_size=128M: ignored");
	tap_is_u64(r.pci_mem_start, 0xF0000000, "mmio_hole_size=128M: no doubling either");
	tap_is_u64(where_of(&r, 2, 1), MMIO_HVM_HIGH, "mmio_hole_size=128M: GPU BAR1 goes high");
	tap_is_u64(addr_of(&r, 2, 1), 0x100000000, "mmio_hole_size=128M: at 4 GiB (no high RAM)");
	mmio_hvm_result_free(&r);

	/* mmio_hole=256 equals the default start but also skips doubling. */
	p = guest(devs, 3, 2048, 256, MMIO_XEN_4_17_4_PLUS);
	run(&p, &r, "mmio_hole=256");
	tap_is_u64(r.pci_mem_start, 0xF0000000, "mmio_hole=256: 0xF0000000, no doubling");
	tap_ok(r.has_high, "mmio_hole=256: GPU BAR1 relocated high");
	mmio_hvm_result_free(&r);
}

/* 2 GiB 64-bit BAR on a 2 GiB qemu-xen guest: 4.17.0 doubles the hole to
 * 2 GiB for a BAR that goes high anyway; 4.17.4 leaves it at 192 MiB. */
static void test_threshold(void)
{
	const struct mmio_device devs[] = { cirrus, platform, huge2g };
	struct mmio_hvm_params p = guest(devs, 3, 2048, 0, MMIO_XEN_4_17_0);
	struct mmio_hvm_result r;

	run(&p, &r, "2 GiB BAR 4.17.0");
	tap_is_u64(r.pci_mem_start, 0x80000000, "2 GiB BAR 4.17.0: hole grows to 2 GiB");
	tap_is_u64(addr_of(&r, 2, 1), 0x100000000, "2 GiB BAR 4.17.0: BAR high at 4 GiB");
	tap_is_u64(r.pci_hi_mem_end, 0x200000000, "2 GiB BAR 4.17.0: high window end rounded to 4 GiB alignment");
	tap_is_u64(addr_of(&r, 0, 0), 0x80000000, "2 GiB BAR 4.17.0: Cirrus at 0x80000000");
	mmio_hvm_result_free(&r);

	p.rule = MMIO_XEN_4_17_4_PLUS;
	run(&p, &r, "2 GiB BAR 4.17.4");
	tap_is_u64(r.mmio_total, 64 * MiB + 4 * KiB, "2 GiB BAR 4.17.4: huge BAR not counted");
	tap_is_u64(r.pci_mem_start, 0xF0000000, "2 GiB BAR 4.17.4: hole stays 0xF0000000");
	tap_ok(r.bar64_relocate, "2 GiB BAR 4.17.4: bar64_relocate from the threshold");
	tap_is_u64(addr_of(&r, 2, 1), 0x100000000, "2 GiB BAR 4.17.4: BAR high at 4 GiB");
	tap_is_u64(addr_of(&r, 0, 0), 0xF0000000, "2 GiB BAR 4.17.4: Cirrus at 0xF0000000");
	mmio_hvm_result_free(&r);

	/* Relocation allowed (qemu-traditional or the pre-4.17.4 stubdomain
	 * bug), 4 GiB guest: 4.17.0 moves 1.75 GiB of RAM above 4 GiB. */
	p = guest(devs, 3, 4096, 0, MMIO_XEN_4_17_0);
	p.allow_memory_relocate = true;
	run(&p, &r, "2 GiB BAR relocate 4.17.0");
	tap_is_u64(r.pci_mem_start, 0x80000000, "relocate 4.17.0: hole 2 GiB");
	tap_is_u64(r.relocated_bytes, 0x70000000, "relocate 4.17.0: 1.75 GiB of RAM moved");
	tap_is_u64(r.high_mem_end, 0x17F800000, "relocate 4.17.0: high RAM end moved up");
	tap_is_u64(r.low_mem_end, 0x80000000, "relocate 4.17.0: low RAM ends at the hole");
	tap_is_u64(addr_of(&r, 2, 1), 0x180000000, "relocate 4.17.0: BAR above relocated RAM");
	mmio_hvm_result_free(&r);

	p.rule = MMIO_XEN_4_17_4_PLUS;
	run(&p, &r, "2 GiB BAR relocate 4.17.4");
	tap_is_u64(r.relocated_bytes, 0, "relocate 4.17.4: nothing moved");
	tap_is_u64(addr_of(&r, 2, 1), 0x180000000, "relocate 4.17.4: BAR aligned above high RAM");
	mmio_hvm_result_free(&r);
}

static void test_nospace(void)
{
	const struct mmio_device a = { .name = "a", .nbars = 1, .bars = { M32(0, 128 * MiB) } };
	const struct mmio_device c = { .name = "c", .nbars = 1, .bars = { M32(0, 64 * MiB) } };
	const struct mmio_device devs[] = { a, a, c };
	struct mmio_hvm_params p = guest(devs, 3, 4096, 0, MMIO_XEN_4_17_4_PLUS);
	struct mmio_hvm_result r;

	run(&p, &r, "no space");
	tap_is_u64(addr_of(&r, 0, 0), 0xF0000000, "no space: first 128 MiB placed");
	tap_ok(where_of(&r, 1, 0) == MMIO_HVM_NOSPACE, "no space: second 128 MiB unprogrammed");
	tap_is_u64(addr_of(&r, 2, 0), 0xF8000000, "no space: later 64 MiB still uses the space");
	tap_is_u64(r.nunplaced, 1, "no space: one BAR unplaced");
	tap_is_u64(r.nused, 2, "no space: unplaced BAR is not a used range");
	mmio_hvm_result_free(&r);

	/* A 64 GiB BAR does not fit under 1 << 36; the aborted attempt still
	 * sets pci_hi_mem_start, but the window is empty. */
	const struct mmio_device g = { .name = "g", .nbars = 1, .bars = { M64P(0, 64 * GiB) } };
	p = guest(&g, 1, 4096, 0, MMIO_XEN_4_17_4_PLUS);
	run(&p, &r, "64 GiB BAR, 36 bits");
	tap_ok(where_of(&r, 0, 0) == MMIO_HVM_NOSPACE, "64 GiB BAR, 36 bits: no space");
	tap_ok(!r.has_high, "64 GiB BAR, 36 bits: empty high window");
	tap_is_u64(r.nwin, 2, "64 GiB BAR, 36 bits: no high window in the list");
	mmio_hvm_result_free(&r);
	p.phys_bits = 40;
	run(&p, &r, "64 GiB BAR, 40 bits");
	tap_is_u64(addr_of(&r, 0, 0), 0x1000000000, "64 GiB BAR, 40 bits: at 64 GiB");
	tap_is_u64(r.pci_hi_mem_end, 0x2000000000, "64 GiB BAR, 40 bits: window end");
	mmio_hvm_result_free(&r);
}

static void test_rmrr(void)
{
	const struct mmio_device d = { .name = "d", .nbars = 3,
		.bars = { M32(0, 32 * MiB), M32(1, 16 * MiB), M32(2, 8 * MiB) } };
	const struct mmio_range rmrr = { 0xF1000000, 0xF1100000 };
	struct mmio_hvm_params p = guest(&d, 1, 4096, 0, MMIO_XEN_4_17_4_PLUS);
	struct mmio_hvm_result r;

	p.reserved = &rmrr;
	p.nreserved = 1;
	run(&p, &r, "RMRR skip");
	tap_ok(!r.rmrr_adjusted, "RMRR skip: start not moved (no room below)");
	tap_is_u64(addr_of(&r, 0, 0), 0xF2000000, "RMRR skip: 32 MiB BAR skips the RMRR");
	tap_is_u64(addr_of(&r, 0, 1), 0xF4000000, "RMRR skip: bump continues after it");
	tap_is_u64(addr_of(&r, 0, 2), 0xF5000000, "RMRR skip: 8 MiB BAR");
	tap_is_u64(r.nused, 4, "RMRR skip: three BARs and the reserved entry are used");
	tap_is_u64(r.min_mem, 0xF1100000, "RMRR skip: PCIBIOS_MIN_MEM above the RMRR (larger gap)");
	mmio_hvm_result_free(&r);

	/* Step 3b: a 2 GiB guest whose doubled hole overlaps an RMRR gets
	 * pci_mem_start = low_mem_end. */
	const struct mmio_device devs[] = { cirrus, platform, gpu };
	const struct mmio_range rmrr2 = { 0xE8000000, 0xE8010000 };
	p = guest(devs, 3, 2048, 0, MMIO_XEN_4_17_4_PLUS);
	p.reserved = &rmrr2;
	p.nreserved = 1;
	run(&p, &r, "RMRR 3b");
	tap_ok(r.rmrr_adjusted, "RMRR 3b: start lowered");
	tap_is_u64(r.pci_mem_start, 0x7F800000, "RMRR 3b: pci_mem_start = low_mem_end");
	tap_is_u64(addr_of(&r, 2, 1), 0x80000000, "RMRR 3b: 256 MiB BAR aligned to 0x80000000");
	tap_is_u64(r.min_mem, 0x7F800000, "RMRR 3b: PCIBIOS_MIN_MEM");
	mmio_hvm_result_free(&r);
}

static void test_seed(void)
{
	struct mmio_hvm_params p = guest(&seed, 1, 4096, 0, MMIO_XEN_4_17_4_PLUS);
	struct mmio_hvm_result r;

	run(&p, &r, "seed 4 GiB");
	tap_is_u64(addr_of(&r, 0, 2), 0x140000000, "seed 4 GiB: 1 GiB BAR first, at 0x140000000");
	tap_is_u64(addr_of(&r, 0, 0), 0x180000000, "seed 4 GiB: first 512 MiB BAR after it");
	tap_is_u64(addr_of(&r, 0, 1), 0x1A0000000, "seed 4 GiB: second 512 MiB BAR");
	tap_is_u64(r.pci_hi_mem_end, 0x1C0000000, "seed 4 GiB: high window end");
	mmio_hvm_result_free(&r);

	p = guest(&seed, 1, 2048, 0, MMIO_XEN_4_17_0);
	run(&p, &r, "seed 2 GiB");
	tap_is_u64(r.pci_mem_start, 0x80000000, "seed 2 GiB: hole 2 GiB (1984 MiB window)");
	tap_is_u64(addr_of(&r, 0, 2), 0x100000000, "seed 2 GiB: 1 GiB BAR high");
	tap_is_u64(addr_of(&r, 0, 0), 0x80000000, "seed 2 GiB: 512 MiB BAR low");
	tap_is_u64(addr_of(&r, 0, 1), 0xA0000000, "seed 2 GiB: 512 MiB BAR low");
	tap_is_u64(r.pci_hi_mem_end, 0x200000000, "seed 2 GiB: high window end rounded (3 GiB slack)");
	mmio_hvm_result_free(&r);
}

static void test_pin_421(void)
{
	const struct mmio_device devs[] = { cirrus, platform, gpu };
	struct mmio_hvm_params p = guest(devs, 3, 4096, 0, MMIO_XEN_4_21_PLUS);
	struct mmio_hvm_result r;

	run(&p, &r, "4.21 default");
	tap_is_u64(addr_of(&r, 1, 1), 0xF4000000, "4.21 default (bar_uc=1): as 4.17.4");
	mmio_hvm_result_free(&r);

	p.platform_bar_wb = true;
	p.platform_dev = 1;
	run(&p, &r, "4.21 pinned");
	tap_ok(where_of(&r, 1, 1) == MMIO_HVM_PINNED, "4.21 pinned: platform BAR pinned");
	tap_is_u64(addr_of(&r, 1, 1), 0xFB000000, "4.21 pinned: at the top, 0xFB000000");
	tap_is_u64(r.pci_mem_end, 0xFB000000, "4.21 pinned: pci_mem_end lowered");
	tap_is_u64(r.windows[0].end, 0xFC000000, "4.21 pinned: _CRS still to 0xFC000000");
	tap_is_u64(addr_of(&r, 2, 0), 0xF4000000, "4.21 pinned: GPU BAR0 moves down");
	tap_is_u64(r.low_next, 0xF5081000, "4.21 pinned: low bump end");
	tap_is_u64(r.nused, 9, "4.21 pinned: pinned BAR counted as used");
	mmio_hvm_result_free(&r);
}

static void test_order_and_invalid(void)
{
	const struct mmio_device d = { .name = "rom-last", .nbars = 2,
		.bars = { ROM(64 * KiB), M32(0, 64 * KiB) } };
	struct mmio_hvm_params p = guest(&d, 1, 1024, 0, MMIO_XEN_4_17_4_PLUS);
	struct mmio_hvm_result r;
	struct mmio_error err = { 0 };

	run(&p, &r, "order");
	tap_is_u64(addr_of(&r, 0, 1), 0xF0000000, "order: BAR0 before the equal-size ROM");
	tap_is_u64(addr_of(&r, 0, 0), 0xF0010000, "order: ROM last");
	mmio_hvm_result_free(&r);

	struct mmio_device bad = { .name = "bad", .nbars = 1, .bars = { M32(0, 3 * MiB) } };
	p.devs = &bad;
	tap_ok(mmio_hvm_run(&p, &r, &err) == MMIO_E_INVALID, "invalid: size not a power of two");
	tap_contains(err.msg, "power of two", "invalid: message says why");
	mmio_hvm_result_free(&r);
	bad.bars[0].size = 4 * GiB;
	tap_ok(mmio_hvm_run(&p, &r, &err) == MMIO_E_INVALID, "invalid: 4 GiB 32-bit BAR");
	mmio_hvm_result_free(&r);
	bad.bars[0] = (struct mmio_bar)M32(0, 4 * KiB);
	p.phys_bits = 60;
	tap_ok(mmio_hvm_run(&p, &r, &err) == MMIO_E_INVALID, "invalid: phys_bits 60");
	mmio_hvm_result_free(&r);
}

int main(void)
{
	test_ram_layout();
	test_example_4g(MMIO_XEN_4_17_0);
	test_example_4g(MMIO_XEN_4_17_4_PLUS);
	test_example_2g();
	test_example_8g(MMIO_XEN_4_17_0);
	test_example_8g(MMIO_XEN_4_17_4_PLUS);
	test_mmio_hole();
	test_threshold();
	test_nospace();
	test_rmrr();
	test_seed();
	test_pin_421();
	test_order_and_invalid();
	tap_done();
	return tap_exit();
}
