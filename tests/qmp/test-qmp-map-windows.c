/* SPDX-License-Identifier: MIT */
/* test-qmp-map-windows.c — the QMP back end's windows, holes and machine facts
 * from QOM properties captured from QEMU 7.2 and from hand-made ones. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qmp-fixture.h"

static void test_u64(void)
{
	uint64_t v = 0;
	json_object *o = json_tokener_parse("[-1, 18446744073709551615, 4273995776, \"x\", 0]");
	tap_ok(qmp_map_u64(json_object_array_get_idx(o, 0), &v) && v == UINT64_MAX,
	       "u64: -1 is all-ones");
	tap_ok(qmp_map_u64(json_object_array_get_idx(o, 1), &v) && v == UINT64_MAX,
	       "u64: 2^64-1 (MCFG disabled) read exactly");
	tap_ok(qmp_map_u64(json_object_array_get_idx(o, 2), &v) && v == 0xfec00000u,
	       "u64: pci-hole-end");
	tap_ok(!qmp_map_u64(json_object_array_get_idx(o, 3), &v), "u64: a string is refused");
	tap_ok(qmp_map_u64(json_object_array_get_idx(o, 4), &v) && v == 0, "u64: zero");
	json_object_put(o);
}

static void test_windows_pc(void)
{
	struct qmp_holes h;
	struct tsd_layout l = { 0 };
	struct mmio_error err = { 0 };

	holes_from("qom-pc-S.json", QMP_MACHINE_PC, &h);
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK, "pc windows map");
	tap_is_u64(l.nwin, 7, "pc: low, high and five I/O windows");
	tap_ok(l.win[0].kind == MMIO_WIN_LOW && l.win_source[0] == TSD_SRC_TOOLSTACK,
	       "pc: low window from QOM");
	tap_is_u64(l.win[0].start, 0x08000000, "pc: low window starts at the end of low RAM");
	tap_is_u64(l.win[0].end, 0xfec00000, "pc: low window ends at the IO-APIC");
	tap_ok(l.win[1].kind == MMIO_WIN_HIGH, "pc: high window");
	tap_is_u64(l.win[1].start, 0x100000000, "pc: pci-hole64-start");
	tap_is_u64(l.win[1].end, 0x180000000, "pc: pci-hole64-end (2 GiB hole)");
	tap_ok(l.win[2].kind == MMIO_WIN_IO && l.win_source[2] == TSD_SRC_MODEL, "pc: I/O from the model");
	tap_is_u64(l.win[2].start, 0x0d00, "pc: I/O starts at 0x0d00");
	tap_is_u64(l.win[2].end, 0x5658, "pc: vmport cut out");
	tap_is_u64(l.win[4].start, 0xae18, "pc: PCI hot-plug ports cut out");
	tap_is_u64(l.win[4].end, 0xaf00, "pc: CPU hot-plug ports cut out");
	tap_is_u64(l.win[6].start, 0xafe4, "pc: GPE0 cut out");
	tap_is_u64(l.win[6].end, 0x10000, "pc: I/O ends at 64 KiB");
	tsd_layout_clear(&l);
}

static void test_windows_q35(void)
{
	struct qmp_holes h;
	struct tsd_layout l = { 0 };
	struct mmio_error err = { 0 };

	holes_from("qom-q35-S.json", QMP_MACHINE_Q35, &h);
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK, "q35 -S windows map");
	tap_is_u64(l.nwin, 5, "q35: two low, one high, two I/O windows");
	tap_is_u64(l.win[0].end, 0xb0000000, "q35 -S: low window stops at the predicted MMCONFIG");
	tap_is_u64(l.win[1].start, 0xc0000000, "q35 -S: and resumes after it");
	tap_ok(l.win_source[0] == TSD_SRC_MODEL && l.win_source[1] == TSD_SRC_MODEL,
	       "q35 -S: MMCONFIG predicted, so the low windows are the model's");
	tap_is_u64(l.win[2].end, 0x900000000, "q35: pci-hole64-end (32 GiB hole)");
	tap_is_u64(l.win[3].end, 0x5658, "q35: vmport cut out of I/O");
	tsd_layout_clear(&l);
	/* OVMF before it ran: 2025.02 puts MMCONFIG at 0xe0000000 (measured:
	 * [0x40000000, 0xdfffffff] and [0xf0000000, 0xfebfffff] with 1 GiB),
	 * 2022.11 at 0xb0000000; QEMU does not show which: assumed. */
	h.firmware = TSD_FW_OVMF;
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && l.win[0].end == 0xe0000000 &&
	       l.win[1].start == 0xf0000000 && l.win_source[0] == TSD_SRC_ASSUMED &&
	       l.win_source[1] == TSD_SRC_ASSUMED,
	       "q35 -S, OVMF: MMCONFIG assumed at 0xe0000000 (OVMF 2025.02)");
	tsd_layout_clear(&l);

	holes_from("qom-q35-devs-bios.json", QMP_MACHINE_Q35, &h);
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK, "q35 after SeaBIOS windows map");
	tap_is_u64(l.win[0].start, 0x08000000, "q35: low window starts at the end of low RAM");
	tap_is_u64(l.win[0].end, 0xb0000000, "q35: MCFG read from QOM");
	tap_is_u64(l.win[1].start, 0xc0000000, "q35: MCFG + mcfg_size");
	tap_ok(l.win_source[0] == TSD_SRC_TOOLSTACK && l.win_source[1] == TSD_SRC_TOOLSTACK,
	       "q35: low windows from QOM once the firmware enabled MMCONFIG");
	tsd_layout_clear(&l);

	memset(&h, 0, sizeof(h));
	h.machine = QMP_MACHINE_PC;
	h.have_hole = true;
	h.hole_start = 0xfec00000;
	h.hole_end = 0x80000000;
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_E_INVALID, "an inverted hole is refused");
	tsd_layout_clear(&l);
}

static void test_hole64_drift(void)
{
	struct qmp_holes h;
	enum tsd_source src;
	uint64_t s, e;
	struct tsd_layout l = { 0 };
	struct mmio_error err = { 0 };

	/* pc, 512 MiB, default 2 GiB hole64, nothing enabled above 4 GiB: QOM's
	 * live values are the guest's. */
	memset(&h, 0, sizeof(h));
	h.machine = QMP_MACHINE_PC;
	h.have_hole = true;
	h.hole_start = 0x20000000;
	h.hole_end = 0xfec00000;
	h.have_hole64 = true;
	h.hole64_start = 0x100000000;
	h.hole64_end = 0x180000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0x100000000 && e == 0x180000000,
	       "hole64: without size/RAM the live QOM values");
	h.have_hole64_size = h.have_ram = true;
	h.hole64_size = 0x80000000;
	h.ram_size = 0x20000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0x100000000 && e == 0x180000000,
	       "hole64: computed = live while nothing is enabled above 4 GiB");
	/* tests/guest 19: the BAR at 0x100000000 unplugged, one at 0x140000000
	 * stays: QEMU says [0x140000000, 0x1c0000000), the guest still has
	 * [0x100000000, 0x180000000). */
	h.hole64_start = 0x140000000;
	h.hole64_end = 0x1c0000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0), "hole64: drifted QOM values");
	tap_is_u64(s, 0x100000000, "hole64: start as the guest's _CRS, not the lowest BAR");
	tap_is_u64(e, 0x180000000, "hole64: end = ROUND_UP(start + pci-hole64-size, 1 GiB)");
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && l.win[1].kind == MMIO_WIN_HIGH &&
	       l.win[1].start == 0x100000000 && l.win[1].end == 0x180000000,
	       "hole64: the high window is the guest's");
	tsd_layout_clear(&l);
	/* pc 5G: 3G below, 2G above 4 GiB (tests/guest 15). */
	h.hole_start = 0xc0000000;
	h.ram_size = UINT64_C(5) << 30;
	h.hole64_start = 0x1c0000000;
	h.hole64_end = 0x240000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0x180000000 && e == 0x200000000,
	       "hole64: after 2 GiB of RAM above 4 GiB");
	/* -m 512M,slots=2,maxmem=4G: device memory 0x160000000 (QEMU 7.2 -S:
	 * pci-hole64-start 0x280000000). */
	h.hole_start = 0x20000000;
	h.ram_size = 0x20000000;
	h.devmem_size = 0x160000000;
	h.hole64_start = 0x280000000;
	h.hole64_end = 0x300000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0x280000000 && e == 0x300000000,
	       "hole64: after hot-pluggable memory");
	/* pci-hole64-size=0: no 64-bit window (tests/guest 03). */
	h.devmem_size = 0;
	h.hole64_size = 0;
	h.hole64_start = 0x100000000;
	h.hole64_end = 0x100000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && e == s, "hole64: size 0, empty");
	/* Computed start above QOM's: not a layout we know, trust QOM. */
	h.hole64_size = 0x80000000;
	h.ram_size = UINT64_C(6) << 30;
	h.hole_start = 0x80000000;
	h.hole64_start = 0x100000000;
	h.hole64_end = 0x180000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0x100000000 && e == 0x180000000,
	       "hole64: an unknown layout keeps QOM's values");
}

static void test_bridge_kinds(void)
{
	tap_ok(qmp_map_bridge_multi_slot(0x1b36, 0x0001), "pci-bridge (1b36:0001) has slots");
	tap_ok(qmp_map_bridge_multi_slot(0x1b36, 0x000e), "pcie-pci-bridge (1b36:000e) has slots");
	tap_ok(qmp_map_bridge_multi_slot(0x8086, 0x244e), "i82801b11-bridge (8086:244e) has slots");
	tap_ok(!qmp_map_bridge_multi_slot(0x1b36, 0x000c), "pcie-root-port (1b36:000c) takes one device");
	tap_ok(!qmp_map_bridge_multi_slot(0x8086, 0x3420), "ioh3420 (8086:3420) takes one device");
}

/* A pc or q35 guest of 1 GiB as QEMU 7.2 shows it, 64-bit window of size
 * hole64 (live values as QOM would have them). */
static void holes_1g(struct qmp_holes *h, enum qmp_machine m, uint64_t hole64)
{
	memset(h, 0, sizeof(*h));
	h->machine = m;
	h->have_hole = true;
	h->hole_start = 0x40000000;
	h->hole_end = 0xfec00000;
	h->have_hole64 = h->have_hole64_size = h->have_ram = true;
	h->hole64_size = hole64;
	h->ram_size = 0x40000000;
	h->hole64_start = 0x100000000;
	h->hole64_end = 0x100000000 + hole64;
	if (m == QMP_MACHINE_Q35) {
		h->have_mcfg = true;
		h->mcfg_base = 0xb0000000;
		h->mcfg_size = 0x10000000;
	}
	h->phys_bits = 40;
	h->cpu_amd = true;
	h->machine_version = 702;
}

static const struct mmio_window *high_window(const struct tsd_layout *l)
{
	for (unsigned i = 0; i < l->nwin; i++)
		if (l->win[i].kind == MMIO_WIN_HIGH)
			return &l->win[i];
	return NULL;
}

static void test_hole64_boot(void)
{
	struct qmp_holes h;
	struct tsd_layout l = { 0 };
	struct mmio_error err = { 0 };
	const struct mmio_window *w;
	enum tsd_source src;
	char note[160];
	uint64_t s, e, size;

	/* q35 + OVMF 2022.11, a 1 GiB boot BAR at 0xe000000000 and a root
	 * port's 512 MiB prefetchable window after it: the guest's root bus
	 * has [mem 0xe000000000-0xe7ffffffff window] (tests/guest ovmf-02). */
	holes_1g(&h, QMP_MACHINE_Q35, UINT64_C(32) << 30);
	h.firmware = TSD_FW_OVMF;
	h.boot_read = h.have_boot64 = true;
	h.boot64_start = 0xe000000000;
	h.boot64_end = 0xe060000000;
	h.hole64_start = 0xe000000000;
	h.hole64_end = 0xe800000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, note, sizeof(note)) && s == 0xe000000000 &&
	       e == 0xe800000000 && src == TSD_SRC_TOOLSTACK && !note[0],
	       "hole64 OVMF q35: [lowest boot BAR, + pci-hole64-size), read");
	/* The live start moves when the boot device leaves or stops
	 * decoding; the guest's window does not. */
	h.hole64_start = 0xe040000000;
	h.hole64_end = 0xe840000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0xe000000000 && e == 0xe800000000,
	       "hole64 OVMF q35: the boot-time window, not QOM's live one");
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && (w = high_window(&l)) &&
	       w->start == 0xe000000000 && w->end == 0xe800000000 && l.nclip == 0 &&
	       l.firmware == TSD_FW_OVMF,
	       "windows OVMF q35: high window, no HyperTransport clip (the window stays below it)");
	/* pc + a 2 GiB boot BAR: exactly full (the pc case). */
	holes_1g(&h, QMP_MACHINE_PC, UINT64_C(2) << 30);
	h.firmware = TSD_FW_OVMF;
	h.boot_read = h.have_boot64 = true;
	h.boot64_start = 0xe000000000;
	h.boot64_end = 0xe080000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0xe000000000 && e == 0xe080000000,
	       "hole64 OVMF pc: [0xe000000000, 0xe080000000), exactly the 2 GiB BAR");
	/* BARs beyond start + size: the end covers them (QEMU's -end). */
	h.boot64_end = 0xe100000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && e == 0xe100000000,
	       "hole64: the end covers the highest boot BAR");
	/* Nothing 64-bit above 4 GiB at boot: QEMU's default, whatever was
	 * enabled later. */
	h.have_boot64 = false;
	h.hole64_start = 0x140000000;
	h.hole64_end = 0x1c0000000;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0x100000000 && e == 0x180000000 &&
	       src == TSD_SRC_TOOLSTACK, "hole64: nothing at boot -> QEMU's default window");
	/* Before OVMF ran: its aperture, assumed.  TCG's AMD CPU with 40
	 * phys-bits on a 7.2 machine: QEMU reserves the HyperTransport hole,
	 * OVMF 2025.02 opens its 128 GiB at 0xc000000000 below it (measured:
	 * pc [0xc000000000, 0xc07fffffff], q35 [0xc000000000, 0xc7ffffffff]),
	 * 2022.11 at 0xe000000000 (measured); QEMU does not show which. */
	h.boot_unplaced = true;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, note, sizeof(note)) && s == 0xc000000000 &&
	       e == 0xc080000000 && src == TSD_SRC_ASSUMED && strstr(note, "OVMF has not placed") &&
	       strstr(note, "2022.11 at 0xe000000000"),
	       "hole64 before OVMF ran: below the HyperTransport hole (2025.02), assumed, "
	       "2022.11's base named");
	uint64_t older;
	tap_ok(qmp_map_ovmf_aperture(&h, 0x100000000, &size, &older) == 0xc000000000 &&
	       size == UINT64_C(128) << 30 && older == 0xe000000000,
	       "OVMF aperture, AMD 40 bits: 0xc000000000 (2025.02), 0xe000000000 (2022.11)");
	struct { uint64_t mb, base, older; } ap[] = {
		{ 65536, 0xc000000000, 0xe000000000 },  /* < the top eighth: still dynamic */
		{ 131072, 0x2000000000, UINT64_MAX },   /* = it: the classic one, aligned */
		{ 262144, 0x4000000000, UINT64_MAX },
	};
	for (size_t i = 0; i < sizeof(ap) / sizeof(ap[0]); i++) {
		h.ovmf_mmio64_mb = ap[i].mb;
		tap_ok(qmp_map_ovmf_aperture(&h, 0x100000000, &size, &older) == ap[i].base &&
		       older == ap[i].older,
		       "OVMF aperture with X-PciMmio64Mb=%" PRIu64 " (2022.11 measured)", ap[i].mb);
	}
	h.ovmf_mmio64_mb = 0;
	/* No HyperTransport reservation (pc-*-7.0, or an Intel CPU): both
	 * OVMFs agree. */
	h.machine_version = 700;
	tap_ok(qmp_map_ovmf_aperture(&h, 0x100000000, &size, &older) == 0xe000000000 &&
	       older == UINT64_MAX, "OVMF aperture, pc-*-7.0: the top eighth, no move");
	h.machine_version = 702;
	/* OVMF trusts 40 phys-bits only from an AMD CPU: on an Intel one the
	 * classic 32 GiB above RAM. */
	h.cpu_amd = false;
	tap_ok(qmp_map_ovmf_aperture(&h, 0x140000000, &size, &older) == 0x800000000 &&
	       size == UINT64_C(32) << 30, "OVMF aperture, Intel 40 bits: classic, 32 GiB aligned");
	h.phys_bits = 39;
	tap_ok(qmp_map_ovmf_aperture(&h, 0x140000000, &size, &older) == 0x7000000000 &&
	       size == UINT64_C(64) << 30, "OVMF aperture, Intel 39 bits: the top eighth");
	h.phys_bits = 48;
	tap_ok(qmp_map_ovmf_aperture(&h, 0x140000000, &size, &older) == 0x380000000000 &&
	       size == UINT64_C(8) << 40, "OVMF aperture, 48 bits: capped at 46");
	h.cpu_amd = true;
	h.phys_bits = 36;
	tap_ok(qmp_map_ovmf_aperture(&h, 0x140000000, &size, &older) == 0x800000000 &&
	       size == UINT64_C(32) << 30, "OVMF aperture, 36 bits: 32 GiB above RAM, aligned");
	h.phys_bits = 40;
	/* SeaBIOS before it ran: QEMU's default window, as before. */
	h.firmware = TSD_FW_SEABIOS;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, NULL, 0) && s == 0x100000000 && e == 0x180000000 &&
	       src == TSD_SRC_TOOLSTACK, "hole64 before SeaBIOS ran: QEMU's default");
	/* A boot device left: the window is assumed. */
	h.boot_unplaced = false;
	h.boot_left = true;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, note, sizeof(note)) && s == 0x100000000 &&
	       src == TSD_SRC_ASSUMED && strstr(note, "left"), "hole64: a boot device left -> assumed");
	h.boot_left = false;
	tsd_layout_clear(&l);

	/* phys-bits: q35 with a 256 GiB hole from 0xe000000000 -> Linux keeps
	 * [0xe000000000, 1 TiB) (measured, "not CPU addressable"). */
	holes_1g(&h, QMP_MACHINE_Q35, UINT64_C(256) << 30);
	h.firmware = TSD_FW_OVMF;
	h.boot_read = h.have_boot64 = true;
	h.boot64_start = 0xe000000000;
	h.boot64_end = 0xe040000000;
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && (w = high_window(&l)) &&
	       w->start == 0xe000000000 && w->end == UINT64_C(1) << 40,
	       "windows: phys-bits 40 clips the high window at 1 TiB");
	tap_ok(l.nclip == 1 && l.clip[0].start == 0xfd00000000,
	       "windows: OVMF, AMD: the HyperTransport hole clips (2025.02 reserves it; which "
	       "OVMF is not shown, so kept out)");
	/* SeaBIOS passes QEMU's E820 on: the HyperTransport hole is clipped
	 * out of the gaps (an AMD CPU, 40 bits, a 7.1+ machine). */
	h.firmware = TSD_FW_SEABIOS;
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && l.nclip == 1 &&
	       l.clip[0].start == 0xfd00000000 && l.clip[0].end == 0x10000000000,
	       "windows: SeaBIOS, AMD: the HyperTransport hole clips");
	h.machine_version = 700;
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && l.nclip == 0,
	       "windows: pc-q35-7.0 has no HyperTransport hole");
	h.machine_version = 702;
	h.cpu_amd = false;
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && l.nclip == 0,
	       "windows: an Intel CPU has no HyperTransport hole");
	tsd_layout_clear(&l);
}

static void test_boot64(void)
{
	struct tsd_layout l = { 0 };
	struct tsd_live_bar bars[5] = { 0 };
	struct tsd_port port = { 0 };
	struct qmp_qom_dev devs[3] = { 0 };
	struct qmp_holes h;

	/* 00:02.0 boot, BAR2 mem64 1 GiB, not decoded now, last mapped at
	 * 0xe000000000 (QOM memory region addr); BAR0 mem32 4 KiB decoded. */
	snprintf(bars[0].device, sizeof(bars[0].device), "b1");
	snprintf(bars[0].guest_slot, sizeof(bars[0].guest_slot), "00:02.0");
	bars[0].bar = (struct mmio_bar){ .index = 2, .kind = MMIO_BAR_MEM64, .prefetch = true,
					 .size = 0x40000000 };
	bars[0].addr = TSD_ADDR_UNASSIGNED;
	bars[1] = bars[0];
	bars[1].bar = (struct mmio_bar){ .index = 0, .kind = MMIO_BAR_MEM32, .size = 0x1000 };
	bars[1].addr = 0xc0201000;
	/* 00:03.0 hot-plugged, BAR0 mem64 at 0x100000000: not a boot range */
	snprintf(bars[2].device, sizeof(bars[2].device), "h1");
	snprintf(bars[2].guest_slot, sizeof(bars[2].guest_slot), "00:03.0");
	bars[2].bar = (struct mmio_bar){ .index = 0, .kind = MMIO_BAR_MEM64, .size = 0x100000 };
	bars[2].addr = 0x100000000;
	/* 00:04.0 boot, mem64 BAR below 4 GiB (SeaBIOS puts them low) */
	snprintf(bars[3].device, sizeof(bars[3].device), "b2");
	snprintf(bars[3].guest_slot, sizeof(bars[3].guest_slot), "00:04.0");
	bars[3].bar = (struct mmio_bar){ .index = 0, .kind = MMIO_BAR_MEM64, .size = 0x100000 };
	bars[3].addr = 0xc0300000;
	l.bars = bars;
	l.nbars = 4;
	devs[0] = (struct qmp_qom_dev){ .bus = 0, .index = 4, .devfn = 2 << 3, .hotplugged = 0,
					.nmr = 3 };
	/* its regions: a 4 KiB subregion at offset 0, the 1 GiB BAR, the mmio BAR */
	devs[0].mr[0] = (struct qmp_qom_mr){ 0x1000, 0 };
	devs[0].mr[1] = (struct qmp_qom_mr){ 0x40000000, 0xe000000000 };
	devs[0].mr[2] = (struct qmp_qom_mr){ 0x1000, 0xc0201000 };
	devs[1] = (struct qmp_qom_dev){ .bus = 0, .index = 6, .devfn = 3 << 3, .hotplugged = 1 };
	devs[2] = (struct qmp_qom_dev){ .bus = 0, .index = 5, .devfn = 4 << 3, .hotplugged = 0 };
	qmp_map_arrivals(&l, devs, 3);
	tap_ok(bars[0].arrival == TSD_ARRIVAL_BOOT && bars[0].last_mapped == 0xe000000000,
	       "arrivals: a boot BAR's last mapped address from its region of that size");
	tap_ok(bars[1].last_mapped == 0xc0201000, "arrivals: the 4 KiB BAR's region, not the subregion");
	tap_ok(bars[2].arrival == TSD_ARRIVAL_HOTPLUG && bars[2].last_mapped == 0,
	       "arrivals: no regions known, nothing last mapped");
	memset(&h, 0, sizeof(h));
	qmp_map_boot64(&l, devs, 3, &h);
	tap_ok(h.boot_read && h.have_boot64 && h.boot64_start == 0xe000000000 &&
	       h.boot64_end == 0xe040000000 && !h.boot_unplaced,
	       "boot64: the boot BAR where the firmware put it; hot-plugged and low ones left out");
	/* A q35 root port at 00:05.0 with a 512 MiB pref window after it. */
	snprintf(port.id, sizeof(port.id), "rp1");
	snprintf(port.guest_slot, sizeof(port.guest_slot), "00:05.0");
	port.windows_known = true;
	port.present[TSD_PORT_WIN_PREF] = true;
	port.win[TSD_PORT_WIN_PREF] = (struct mmio_window){ .kind = MMIO_WIN_HIGH,
		.flags = MMIO_WF_PREFETCH | MMIO_WF_MEM64, .start = 0xe040000000, .end = 0xe060000000 };
	l.ports = &port;
	l.nports = 1;
	qmp_map_boot64(&l, devs, 3, &h);
	tap_ok(h.have_boot64 && h.boot64_start == 0xe000000000 && h.boot64_end == 0xe060000000,
	       "boot64: a boot port's prefetchable window counts");
	/* Before the firmware ran: neither the BAR nor the port is placed. */
	bars[0].last_mapped = 0;
	port.windows_known = false;
	qmp_map_boot64(&l, devs, 3, &h);
	tap_ok(!h.have_boot64 && h.boot_unplaced, "boot64: before the firmware ran, unplaced");
	l.bars = NULL;
	l.ports = NULL;
}

/* QOM's devices onto a layout (qmp_map_qom_apply, both QMP-speaking back
 * ends): pc + OVMF 2022.11, a 2 GiB boot BAR OVMF put at 0xe000000000 (the
 * guest no longer decodes it: query-pci shows it unassigned), a device
 * hot-plugged behind a pci-bridge with secondary bus 1. */
static void test_qom_apply(void)
{
	struct tsd_layout l = { 0 };
	struct tsd_live_bar bars[2] = { 0 };
	struct tsd_port port = { 0 };
	struct qmp_qom_dev devs[3] = { 0 };
	struct mmio_error err = { 0 };
	struct qmp_holes h;
	const struct mmio_window *w;

	holes_1g(&h, QMP_MACHINE_PC, UINT64_C(2) << 30);
	h.firmware = TSD_FW_OVMF;
	snprintf(bars[0].device, sizeof(bars[0].device), "gpu");
	snprintf(bars[0].guest_slot, sizeof(bars[0].guest_slot), "00:02.0");
	bars[0].bar = (struct mmio_bar){ .index = 2, .kind = MMIO_BAR_MEM64, .prefetch = true,
					 .size = UINT64_C(2) << 30 };
	bars[0].addr = TSD_ADDR_UNASSIGNED;
	snprintf(bars[1].device, sizeof(bars[1].device), "nic");
	snprintf(bars[1].guest_slot, sizeof(bars[1].guest_slot), "01:01.0");
	bars[1].bar = (struct mmio_bar){ .index = 0, .kind = MMIO_BAR_MEM32, .size = 0x20000 };
	bars[1].addr = 0x40000000;
	snprintf(port.id, sizeof(port.id), "br1");
	snprintf(port.guest_slot, sizeof(port.guest_slot), "00:03.0");
	port.secondary = 1;
	port.windows_known = true;     /* programmed by OVMF: no 64-bit window */
	l.bars = bars;
	l.nbars = 2;
	l.ports = &port;
	l.nports = 1;
	devs[0] = (struct qmp_qom_dev){ .index = 0, .devfn = 2 << 3, .hotplugged = 0, .nmr = 1 };
	devs[0].mr[0] = (struct qmp_qom_mr){ UINT64_C(2) << 30, 0xe000000000 };
	devs[1] = (struct qmp_qom_dev){ .index = 1, .devfn = 3 << 3, .hotplugged = 0 };
	devs[2] = (struct qmp_qom_dev){ .port = "br1", .index = 0, .devfn = 1 << 3, .hotplugged = 1 };
	tap_ok(qmp_map_qom_apply(&h, &l, devs, 3, &err) == MMIO_OK && devs[2].bus == 1 &&
	       devs[0].bus == 0 && bars[1].arrival == TSD_ARRIVAL_HOTPLUG &&
	       bars[0].arrival == TSD_ARRIVAL_BOOT && bars[0].last_mapped == 0xe000000000,
	       "qom apply: a port's devices on its secondary bus, arrivals, last mapped");
	tap_ok((w = high_window(&l)) && w->start == 0xe000000000 && w->end == 0xe080000000 &&
	       !h.boot_left && !l.window_note[0],
	       "qom apply, OVMF pc: the 64-bit window from where OVMF put the boot BAR");
	/* A boot device left the root bus (child[1] gone, child[0]... kept):
	 * the window stays but is assumed. */
	devs[1].index = 2;
	devs[1].hotplugged = 0;
	tap_ok(qmp_map_qom_apply(&h, &l, devs, 3, &err) == MMIO_OK && h.boot_left &&
	       (w = high_window(&l)) && w->start == 0xe000000000 &&
	       strstr(l.window_note, "has left"),
	       "qom apply: a gap below a boot device's child[N] -> a boot device left, assumed");
	tap_ok(!qmp_map_boot_left(devs + 2, 1), "boot left: a hot-plugged device alone, none");
	l.bars = NULL;
	l.nbars = 0;
	l.ports = NULL;
	l.nports = 0;
	tsd_layout_clear(&l);
}

/* q35, -m 1G, a 1 GiB 64-bit boot BAR (pci-testdev on pcie.0) under OVMF
 * 2025.02 on QEMU 10.0.2, captured before (-S) and after the firmware ran
 * (tests/qmp/README.md): before, mmiod predicts the windows 2025.02 then
 * makes (assumed); after, it reads the same ones from QEMU. */
static void test_ovmf2025_capture(void)
{
	struct qmp_holes h;
	struct tsd_layout before = { .free_slots = -1 }, after = { .free_slots = -1 };
	struct qmp_pci_slots slots;
	struct mmio_error err = { 0 };
	struct qmp_qom_dev dev = { .index = 0, .devfn = 5 << 3, .hotplugged = 0, .nmr = 2 };
	const struct mmio_window *w;

	holes_from("qom-q35-ovmf2025-S.json", QMP_MACHINE_Q35, &h);
	h.have_ram = true;
	h.ram_size = 0x40000000;        /* -m 1G (query-memory-size-summary) */
	h.firmware = TSD_FW_OVMF;
	h.phys_bits = 40;               /* TCG's qemu64: AMD, 40 bits */
	h.cpu_amd = true;
	h.machine_version = 1000;
	h.boot_read = h.boot_unplaced = true;   /* QOM: the BAR not mapped yet */
	tap_ok(qmp_map_windows(&h, &before, &err) == MMIO_OK && before.nwin >= 3 &&
	       before.win[0].start == 0x40000000 && before.win[0].end == 0xe0000000 &&
	       before.win[1].start == 0xf0000000 && before.win[1].end == 0xfec00000 &&
	       (w = high_window(&before)) && w->start == 0xc000000000 && w->end == 0xc800000000 &&
	       before.win_source[0] == TSD_SRC_ASSUMED && before.win_source[2] == TSD_SRC_ASSUMED,
	       "OVMF 2025.02 capture, -S: MMCONFIG at 0xe0000000 and [0xc000000000, "
	       "0xc800000000) predicted, assumed");
	holes_from("qom-q35-ovmf2025.json", QMP_MACHINE_Q35, &h);
	h.have_ram = true;
	h.ram_size = 0x40000000;
	h.firmware = TSD_FW_OVMF;
	h.phys_bits = 40;
	h.cpu_amd = true;
	h.machine_version = 1000;
	json_object *pci = load("query-pci-q35-ovmf2025.json");
	dev.mr[0] = (struct qmp_qom_mr){ 0x40000000, 0xc000000000 };   /* QOM's membar region */
	dev.mr[1] = (struct qmp_qom_mr){ 0x1000, 0x80001000 };
	tap_ok(pci && qmp_map_windows(&h, &after, &err) == MMIO_OK &&
	       qmp_map_pci(pci, &after, &slots, &err) == MMIO_OK &&
	       qmp_map_qom_apply(&h, &after, &dev, 1, &err) == MMIO_OK,
	       "OVMF 2025.02 capture, after the firmware: maps (%s)", err.msg);
	tap_ok(h.have_boot64 && h.boot64_start == 0xc000000000 && !h.boot_unplaced,
	       "OVMF 2025.02 capture: the boot BAR at 0xc000000000 (below the HyperTransport hole)");
	bool same = after.nwin == before.nwin;
	for (size_t i = 0; same && i < after.nwin; i++)
		same = after.win[i].start == before.win[i].start && after.win[i].end == before.win[i].end;
	tap_ok(same && after.win_source[0] == TSD_SRC_TOOLSTACK &&
	       after.win_source[2] == TSD_SRC_TOOLSTACK && !after.window_note[0],
	       "OVMF 2025.02 capture: read from QEMU, the windows are the ones predicted at -S");
	json_object_put(pci);
	tsd_layout_clear(&before);
	tsd_layout_clear(&after);
}

static void test_facts(void)
{
	static const char cmd[] = "qemu-system-x86_64\0-m\0001G\0-fw_cfg\0"
				  "name=opt/ovmf/X-PciMmio64Mb,string=131072\0-nodefaults";
	static const char cmd2[] = "qemu\0-fw_cfg=opt/ovmf/X-PciMmio64Mb,string=262144";
	static const char cmd3[] = "qemu\0-fw_cfg\0name=opt/ovmf/X-PciMmio64Mb,file=/x\0"
				   "-append\0opt/ovmf/X-PciMmio64Mb,string=1";

	tap_is_u64(qmp_map_cmdline_mmio64_mb(cmd, sizeof(cmd)), 131072, "cmdline: -fw_cfg name=...,string=");
	tap_is_u64(qmp_map_cmdline_mmio64_mb(cmd2, sizeof(cmd2)), 262144, "cmdline: -fw_cfg=...");
	tap_is_u64(qmp_map_cmdline_mmio64_mb(cmd3, sizeof(cmd3)), 0,
		   "cmdline: a file= value and another option's text do not count");
	tap_is_u64(qmp_map_machine_version("pc-q35-7.2-machine"), 702, "machine version 7.2");
	tap_is_u64(qmp_map_machine_version("pc-i440fx-10.0-machine"), 1000, "machine version 10.0");
	tap_is_u64(qmp_map_machine_version("microvm-machine"), 0, "no machine version");
	tap_ok(qmp_map_firmware("pflash0", "bios-256k.bin") == TSD_FW_OVMF, "firmware: pflash -> OVMF");
	tap_ok(qmp_map_firmware("", "bios-256k.bin") == TSD_FW_SEABIOS, "firmware: default -> SeaBIOS");
	tap_ok(qmp_map_firmware("", "/usr/share/ovmf/OVMF.fd") == TSD_FW_OVMF, "firmware: -bios OVMF.fd");
	tap_ok(qmp_map_firmware(NULL, NULL) == TSD_FW_UNKNOWN, "firmware: unknown");
}

/* q35 guests hot-plug only behind ports (pcie.0 takes none). */
static void test_ports_only(void)
{
	struct qmp_holes h;
	struct tsd_layout l = { 0 };
	struct mmio_error err = { 0 };

	holes_from("qom-q35-devs-bios.json", QMP_MACHINE_Q35, &h);
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && l.ports_only, "q35 (bios): ports_only");
	tsd_layout_clear(&l);
	holes_from("qom-q35-S.json", QMP_MACHINE_Q35, &h);
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && l.ports_only, "q35 (-S): ports_only");
	/* mapping pc windows into the same layout clears it again */
	holes_from("qom-pc-S.json", QMP_MACHINE_PC, &h);
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && !l.ports_only,
	       "pc (-S): not ports_only (even over a q35 layout)");
	tsd_layout_clear(&l);
	holes_from("qom-pc-devs-bios.json", QMP_MACHINE_PC, &h);
	tap_ok(qmp_map_windows(&h, &l, &err) == MMIO_OK && !l.ports_only, "pc (bios): not ports_only");
	tsd_layout_clear(&l);
}

int main(void)
{
	test_u64();
	test_bridge_kinds();
	test_windows_pc();
	test_windows_q35();
	test_hole64_drift();
	test_hole64_boot();
	test_boot64();
	test_qom_apply();
	test_ovmf2025_capture();
	test_ports_only();
	test_facts();
	tap_done();
	return tap_exit();
}
