/* SPDX-License-Identifier: MIT */
/* test-qmp-map.c — the QMP back end's pure mappings against replies captured
 * from QEMU 7.2 (tests/qmp/README.md says how). */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "qmp-map.h"
#include "../tap.h"

#ifndef QMP_FIXTURES
#define QMP_FIXTURES "tests/qmp"
#endif

static json_object *load(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", QMP_FIXTURES, name);
	json_object *o = json_object_from_file(path);
	if (!o)
		tap_diag("cannot read %s: %s", path, json_util_get_last_err());
	return o;
}

static void holes_from(const char *name, enum qmp_machine m, struct qmp_holes *h)
{
	json_object *o = load(name), *v;
	memset(h, 0, sizeof(*h));
	h->machine = m;
	if (!o)
		return;
	if (json_object_object_get_ex(o, "pci-hole-start", &v))
		h->have_hole = qmp_map_u64(v, &h->hole_start);
	if (json_object_object_get_ex(o, "pci-hole-end", &v))
		qmp_map_u64(v, &h->hole_end);
	if (json_object_object_get_ex(o, "pci-hole64-start", &v))
		h->have_hole64 = qmp_map_u64(v, &h->hole64_start);
	if (json_object_object_get_ex(o, "pci-hole64-end", &v))
		qmp_map_u64(v, &h->hole64_end);
	if (json_object_object_get_ex(o, "MCFG", &v))
		h->have_mcfg = qmp_map_u64(v, &h->mcfg_base);
	if (json_object_object_get_ex(o, "mcfg_size", &v))
		qmp_map_u64(v, &h->mcfg_size);
	json_object_put(o);
}

static const struct tsd_live_bar *find_bar(const struct tsd_layout *l, const char *dev, unsigned idx)
{
	for (size_t i = 0; i < l->nbars; i++)
		if (strcmp(l->bars[i].device, dev) == 0 && l->bars[i].bar.index == idx)
			return &l->bars[i];
	return NULL;
}

static int pci_from(const char *name, struct tsd_layout *l, struct qmp_pci_slots *s)
{
	struct mmio_error err = { 0 };
	json_object *o = load(name);
	if (!o)
		return -1;
	enum mmio_status st = qmp_map_pci(o, l, s, &err);
	json_object_put(o);
	if (st != MMIO_OK)
		tap_diag("%s: %s", name, err.msg);
	return st == MMIO_OK ? 0 : -1;
}

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

static void test_pci_pc(void)
{
	struct tsd_layout l = { 0 };
	struct qmp_pci_slots s;
	const struct tsd_live_bar *b;

	tap_ok(pci_from("query-pci-pc-S.json", &l, &s) == 0, "pc -S query-pci maps");
	tap_is_u64(l.nbars, 4, "pc -S: IDE BAR4 and the VGA's three");
	b = find_bar(&l, "00:01.1", 4);
	tap_ok(b && b->bar.kind == MMIO_BAR_IO && b->bar.size == 16 && b->addr == TSD_ADDR_UNASSIGNED,
	       "pc -S: IDE bmdma is io 16, unassigned before the firmware");
	tap_ok(b && strcmp(b->guest_slot, "00:01.1") == 0, "pc -S: guest slot");
	b = find_bar(&l, "00:02.0", 0);
	tap_ok(b && b->bar.kind == MMIO_BAR_MEM32 && b->bar.prefetch && b->bar.size == 16u << 20,
	       "pc -S: VGA framebuffer mem32p 16 MiB");
	b = find_bar(&l, "00:02.0", MMIO_BAR_ROM);
	tap_ok(b && b->bar.kind == MMIO_BAR_MEM32 && b->bar.prefetch && b->bar.size == 64u << 10,
	       "pc -S: ROM is a prefetchable mem32 as Linux sees it");
	tap_is_u64(s.root_used, 0x7, "pc -S: slots 0, 1, 2 used");
	tap_is_u64(qmp_map_free_slots(QMP_MACHINE_PC, &s), 29, "pc -S: 29 free slots");
	tap_is_u64(qmp_map_free_root_slot(&s), 3, "pc -S: slot 3 is the first free one");
	tsd_layout_clear(&l);

	tap_ok(pci_from("query-pci-pc-devs-bios.json", &l, &s) == 0, "pc after SeaBIOS maps");
	b = find_bar(&l, "ptd", 0);
	tap_ok(b && b->addr == 0xfebf5000 && b->bar.size == 4096, "pci-testdev BAR0 placed by SeaBIOS");
	b = find_bar(&l, "ptd", 1);
	tap_ok(b && b->bar.kind == MMIO_BAR_IO && b->addr == 0xc000 && b->bar.size == 256,
	       "pci-testdev BAR1 io 256 at 0xc000");
	b = find_bar(&l, "nic0", MMIO_BAR_ROM);
	tap_ok(b && b->addr == TSD_ADDR_UNASSIGNED && b->bar.size == 256u << 10,
	       "e1000 ROM 256 KiB stays unassigned (SeaBIOS leaves ROM decode off)");
	b = find_bar(&l, "nic0", 1);
	tap_ok(b && b->bar.kind == MMIO_BAR_IO && b->bar.size == 64 && b->addr == 0xc100,
	       "e1000 io 64 at 0xc100");
	b = find_bar(&l, "nvme0", 0);
	tap_ok(b && b->bar.kind == MMIO_BAR_MEM64 && !b->bar.prefetch && b->addr == 0xfebf0000,
	       "nvme BAR0 mem64 non-prefetchable below 4 GiB");
	b = find_bar(&l, "ivs", 2);
	tap_ok(b && b->bar.kind == MMIO_BAR_MEM64 && b->bar.prefetch && b->bar.size == 1u << 20 &&
	       b->addr == 0xfe000000, "ivshmem-plain BAR2 mem64p 1 MiB");
	tap_is_u64(qmp_map_free_slots(QMP_MACHINE_PC, &s), 25, "pc with 4 devices: 25 free slots");
	tsd_layout_clear(&l);

	tap_ok(pci_from("query-pci-pc-devs-S.json", &l, &s) == 0, "pc -S with devices maps");
	size_t unassigned = 0;
	for (size_t i = 0; i < l.nbars; i++)
		unassigned += l.bars[i].addr == TSD_ADDR_UNASSIGNED;
	tap_is_u64(unassigned, l.nbars, "pc -S: every BAR unassigned before the firmware");
	tsd_layout_clear(&l);
}

static void test_pci_q35(void)
{
	struct tsd_layout l = { 0 };
	struct qmp_pci_slots s;
	const struct tsd_live_bar *b;

	tap_ok(pci_from("query-pci-q35-S.json", &l, &s) == 0, "q35 -S maps");
	tap_is_u64(s.nports, 2, "q35 -S: two empty root ports");
	tap_ok(s.nports == 2 && strcmp(s.ports[0], "rp1") == 0 && strcmp(s.ports[1], "rp2") == 0,
	       "q35 -S: by their ids");
	tap_is_u64(qmp_map_free_slots(QMP_MACHINE_Q35, &s), 2, "q35: free slots = empty ports");
	tsd_layout_clear(&l);

	tap_ok(pci_from("query-pci-q35-devs-bios.json", &l, &s) == 0, "q35 after SeaBIOS maps");
	b = find_bar(&l, "ptd2", 0);
	tap_ok(b && strcmp(b->guest_slot, "01:00.0") == 0 && b->addr == 0xfe800000,
	       "a device behind a root port is found (bus 1)");
	b = find_bar(&l, "rp1", 0);
	tap_ok(b && b->bar.size == 4096, "the root port's own BAR");
	tap_ok(s.nports == 1 && strcmp(s.ports[0], "rp2") == 0, "q35: only rp2 is empty");
	json_object *o = load("query-pci-q35-devs-bios.json");
	tap_ok(qmp_map_has_device(o, "ptd2") && qmp_map_has_device(o, "nic0") &&
	       !qmp_map_has_device(o, "nosuch") && !qmp_map_has_device(o, ""),
	       "has_device finds devices behind bridges and only those");
	json_object_put(o);
	tsd_layout_clear(&l);
}

static void test_compare(void)
{
	struct tsd_layout l = { 0 };
	struct qmp_pci_slots s;
	struct mmio_device d;
	struct mmio_error err = { 0 };
	char diff[400];

	tap_ok(pci_from("query-pci-pc-hotplug-S.json", &l, &s) == 0, "pc hot-plug capture maps");
	tap_ok(mmio_bars_parse("bars:mem32:4K,io:256,mem64p:1M", &d, &err) == MMIO_OK, "declaration parses");
	tap_ok(qmp_map_compare(&d, &l, "hp1", false, diff, sizeof(diff)), "pci-testdev,membar=1M matches its declaration");
	mmio_bars_parse("bars:mem32:4K,io:256,mem64p:2M", &d, &err);
	tap_ok(!qmp_map_compare(&d, &l, "hp1", false, diff, sizeof(diff)), "a 2 MiB declaration does not");
	tap_is_str(diff, "BAR2: declared mem64p 2 MiB, QEMU has mem64p 1 MiB", "the difference is spelled out");
	mmio_bars_parse("bars:mem32:128K,io:64", &d, &err);
	tap_ok(!qmp_map_compare(&d, &l, "hp2", false, diff, sizeof(diff)), "e1000 without its ROM does not match");
	tap_is_str(diff, "BAR6: QEMU has rom 256 KiB, not declared", "the undeclared ROM is named");
	tap_ok(qmp_map_compare(&d, &l, "hp2", true, diff, sizeof(diff)), "unless the ROM is ignored (vfio)");
	mmio_bars_parse("bars:mem32:4K", &d, &err);
	tap_ok(!qmp_map_compare(&d, &l, "nosuch", false, diff, sizeof(diff)), "a device QEMU does not show");
	tap_contains(diff, "QEMU has none", "says QEMU has no such BAR");
	tsd_layout_clear(&l);
}

static void test_spec(void)
{
	struct mmio_error err = { 0 };
	json_object *a, *v;

	a = qmp_map_device_spec("pci-testdev,membar=1M", &err);
	tap_ok(a && json_object_object_get_ex(a, "driver", &v) &&
	       strcmp(json_object_get_string(v), "pci-testdev") == 0, "spec: driver");
	tap_ok(a && json_object_object_get_ex(a, "membar", &v) && json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), "1M") == 0, "spec: membar stays the string \"1M\"");
	json_object_put(a);
	a = qmp_map_device_spec("e1000,romfile=a,,b,rombar=0", &err);
	tap_ok(a && json_object_object_get_ex(a, "romfile", &v) &&
	       strcmp(json_object_get_string(v), "a,b") == 0, "spec: \",,\" is a literal comma");
	tap_ok(a && json_object_object_length(a) == 3, "spec: three arguments");
	json_object_put(a);
	/* An empty value passes through: QEMU's "none" (verification.md B1). */
	a = qmp_map_device_spec("e1000,romfile=", &err);
	{
		json_object *jv = NULL;
		tap_ok(a && json_object_object_get_ex(a, "romfile", &jv) &&
		       strcmp(json_object_get_string(jv), "") == 0, "spec: romfile= is an empty string");
	}
	json_object_put(a);
	/* B2: "Parameter 'romsize' expects integer" -> send the number */
	a = qmp_map_device_spec("e1000,romfile=x.rom,romsize=65536", &err);
	tap_ok(a && qmp_map_typed_retry(a, "Parameter 'romsize' expects integer"),
	       "integer retry: romsize converted");
	{
		json_object *jv = NULL;
		tap_ok(json_object_object_get_ex(a, "romsize", &jv) && json_object_is_type(jv, json_type_int) &&
		       json_object_get_int64(jv) == 65536, "integer retry: romsize is now the number 65536");
	}
	tap_ok(!qmp_map_typed_retry(a, "Parameter 'romsize' expects integer"),
	       "integer retry: not twice for the same key");
	tap_ok(!qmp_map_typed_retry(a, "Parameter 'romfile' expects integer"),
	       "integer retry: not for a value that is no integer");
	tap_ok(!qmp_map_typed_retry(a, "Device 'e1000' not found"), "integer retry: other errors untouched");
	json_object_put(a);
	/* QEMU 10 types every argument: sizes, booleans, the other message */
	a = qmp_map_device_spec("pci-testdev,membar=1M,rombar=0,multifunction=on,x=-3,y=4k", &err);
	{
		json_object *jv = NULL;
		tap_ok(a && qmp_map_typed_retry(a, "Parameter 'membar' expects uint64") &&
		       json_object_object_get_ex(a, "membar", &jv) && json_object_is_type(jv, json_type_int) &&
		       json_object_get_int64(jv) == 1048576, "typed retry (QEMU 10): membar=1M -> 1048576");
		tap_ok(qmp_map_typed_retry(a, "Invalid parameter type for 'rombar', expected: integer") &&
		       json_object_object_get_ex(a, "rombar", &jv) && json_object_get_int64(jv) == 0,
		       "typed retry (QEMU 10): rombar -> 0");
		tap_ok(qmp_map_typed_retry(a, "Invalid parameter type for 'multifunction', expected: boolean") &&
		       json_object_object_get_ex(a, "multifunction", &jv) &&
		       json_object_is_type(jv, json_type_boolean) && json_object_get_boolean(jv),
		       "typed retry (QEMU 10): multifunction=on -> true");
		tap_ok(qmp_map_typed_retry(a, "Parameter 'x' expects int32") &&
		       json_object_object_get_ex(a, "x", &jv) && json_object_get_int64(jv) == -3,
		       "typed retry: a negative int32");
		tap_ok(!qmp_map_typed_retry(a, "Parameter 'y' expects uint32"),
		       "typed retry: no size suffix where QEMU's -device takes none");
		tap_ok(qmp_map_typed_retry(a, "Parameter 'y' expects size") &&
		       json_object_object_get_ex(a, "y", &jv) && json_object_get_int64(jv) == 4096,
		       "typed retry: 4k as a size");
	}
	json_object_put(a);
	a = qmp_map_device_spec("vfio-pci", &err);
	tap_ok(a && json_object_object_length(a) == 1, "spec: a driver alone");
	json_object_put(a);
	static const char *const bad[] = {
		"", "pci-testdev,id=x", "pci-testdev,membar", "pci-testdev,=1", ",membar=1",
		"pci-testdev,membar=1M,membar=2M", "pci-testdev,",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		a = qmp_map_device_spec(bad[i], &err);
		tap_ok(!a && err.code == MMIO_E_INVALID && err.msg[0], "spec \"%s\" refused: %s", bad[i],
		       err.msg);
		json_object_put(a);
	}
}

static void test_bad(void)
{
	struct tsd_layout l = { 0 };
	struct mmio_error err = { 0 };
	static const char *const bad[] = {
		"{\"return\": {}}",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}",
		"[{\"bus\": 0}]",
		"[{\"bus\": 0, \"devices\": [{\"bus\": 0, \"slot\": 40, \"function\": 0}]}]",
		"[{\"bus\": 0, \"devices\": [{\"bus\": 0, \"slot\": 3, \"function\": 0, \"regions\": "
		"[{\"bar\": 9, \"type\": \"io\", \"size\": 16, \"address\": -1}]}]}]",
		"[{\"bus\": 0, \"devices\": [{\"bus\": 0, \"slot\": 3, \"function\": 0, \"regions\": "
		"[{\"bar\": 0, \"type\": \"rom\", \"size\": 16, \"address\": -1}]}]}]",
		"[{\"bus\": 0, \"devices\": [{\"bus\": 0, \"slot\": 3, \"function\": 0, \"regions\": "
		"[{\"bar\": 0, \"type\": \"io\", \"size\": 0, \"address\": -1}]}]}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *o = json_tokener_parse(bad[i]);
		memset(&err, 0, sizeof(err));
		tap_ok(o && qmp_map_pci(o, &l, NULL, &err) == MMIO_E_INVALID && l.nbars == 0,
		       "bad query-pci %zu refused: %s", i, err.msg);
		json_object_put(o);
	}
	tsd_layout_clear(&l);
}

/* ---- hot-plug ports (q35 pcie-root-port) ------------------------------------ */

static const struct tsd_port *find_port(const struct tsd_layout *l, const char *id)
{
	for (size_t i = 0; i < l->nports; i++)
		if (strcmp(l->ports[i].id, id) == 0)
			return &l->ports[i];
	return NULL;
}

/* Window w of port p is present and exactly [start, end) of that kind and flags. */
static int port_win_is(const struct tsd_port *p, unsigned w, uint8_t kind, uint32_t flags,
		       uint64_t start, uint64_t end, const char *name)
{
	if (!p)
		return tap_ok(0, "%s (no such port)", name);
	int ok = p->present[w] && p->win[w].kind == kind && p->win[w].flags == flags &&
		 p->win[w].start == start && p->win[w].end == end;
	tap_ok(ok, "%s", name);
	if (!ok)
		tap_diag("  got present %d kind %u flags 0x%x [0x%" PRIx64 ", 0x%" PRIx64 ")",
			 (int)p->present[w], (unsigned)p->win[w].kind, (unsigned)p->win[w].flags,
			 p->win[w].start, p->win[w].end);
	return ok;
}

#define PREF_FLAGS (MMIO_WF_PREFETCH | MMIO_WF_MEM64)

static void test_ports_q35_bios(void)
{
	struct tsd_layout l = { 0 };
	struct qmp_pci_slots s;
	const struct tsd_port *p;

	tap_ok(pci_from("query-pci-q35-devs-bios.json", &l, &s) == 0, "ports: q35 after SeaBIOS maps");
	tap_is_u64(l.nports, 2, "ports: rp1 and rp2 (bridges on the root bus with an id)");
	tap_ok(l.nports == 2 && strcmp(l.ports[0].id, "rp1") == 0 && strcmp(l.ports[1].id, "rp2") == 0,
	       "ports: in the guest's slot order");
	p = find_port(&l, "rp1");
	tap_ok(p && strcmp(p->guest_slot, "00:06.0") == 0, "rp1: guest slot 00:06.0");
	tap_ok(p && !p->empty, "rp1: not empty (ptd2 is behind it)");
	tap_ok(p && p->windows_known, "rp1: windows known (secondary bus 1)");
	tap_ok(p && !p->native_hotplug, "rp1: native_hotplug left false (a QOM property)");
	tap_ok(p && p->present[TSD_PORT_WIN_IO] && p->present[TSD_PORT_WIN_MEM] &&
	       p->present[TSD_PORT_WIN_PREF], "rp1: io, mem and pref windows present");
	port_win_is(p, TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0xc000, 0xd000,
		    "rp1: io [0xc000, 0xd000) (limit 0xcfff inclusive)");
	port_win_is(p, TSD_PORT_WIN_MEM, MMIO_WIN_LOW, 0, 0xfe800000, 0xfea00000,
		    "rp1: mem [0xfe800000, 0xfea00000), LOW, no flags");
	port_win_is(p, TSD_PORT_WIN_PREF, MMIO_WIN_LOW, PREF_FLAGS, 0xfe200000, 0xfe400000,
		    "rp1: pref [0xfe200000, 0xfe400000), LOW, PREFETCH|MEM64");
	tap_ok(p && p->win_source[TSD_PORT_WIN_IO] == TSD_SRC_TOOLSTACK &&
	       p->win_source[TSD_PORT_WIN_MEM] == TSD_SRC_TOOLSTACK &&
	       p->win_source[TSD_PORT_WIN_PREF] == TSD_SRC_TOOLSTACK,
	       "rp1: windows are the toolstack's word");

	p = find_port(&l, "rp2");
	tap_ok(p && strcmp(p->guest_slot, "00:07.0") == 0, "rp2: guest slot 00:07.0");
	tap_ok(p && p->empty, "rp2: empty");
	tap_ok(p && p->windows_known, "rp2: windows known (secondary bus 2)");
	tap_ok(p && !p->present[TSD_PORT_WIN_IO],
	       "rp2: no io window (base 0xd000 > limit 0xcfff: disabled)");
	port_win_is(p, TSD_PORT_WIN_MEM, MMIO_WIN_LOW, 0, 0xfe600000, 0xfe800000,
		    "rp2: mem [0xfe600000, 0xfe800000)");
	port_win_is(p, TSD_PORT_WIN_PREF, MMIO_WIN_LOW, PREF_FLAGS, 0xfe000000, 0xfe200000,
		    "rp2: pref [0xfe000000, 0xfe200000), LOW, PREFETCH|MEM64");
	tap_ok(!find_port(&l, "ptd2") && !find_port(&l, "ptd") && !find_port(&l, ""),
	       "ports: endpoints and id-less devices are not ports");

	/* a second map replaces the ports (no duplicates, no leak) */
	tap_ok(pci_from("query-pci-q35-devs-bios.json", &l, &s) == 0 && l.nports == 2,
	       "ports: mapping again replaces them");
	/* the layout copy carries them */
	struct tsd_layout c;
	tap_ok(tsd_layout_copy(&c, &l) == 0 && c.nports == 2 && c.ports != l.ports &&
	       memcmp(c.ports, l.ports, 2 * sizeof(*c.ports)) == 0, "ports: tsd_layout_copy deep-copies them");
	tsd_layout_clear(&c);
	tsd_layout_clear(&l);
	tap_ok(l.nports == 0 && l.ports == NULL && !l.ports_only, "ports: tsd_layout_clear drops them");
}

static void test_ports_q35_S(void)
{
	struct tsd_layout l = { 0 };
	struct qmp_pci_slots s;

	tap_ok(pci_from("query-pci-q35-S.json", &l, &s) == 0, "ports: q35 -S maps");
	tap_is_u64(l.nports, 2, "ports -S: rp1 and rp2");
	for (size_t i = 0; i < l.nports && i < 2; i++) {
		const struct tsd_port *p = &l.ports[i];
		tap_is_str(p->id, i == 0 ? "rp1" : "rp2", "ports -S: id");
		tap_is_str(p->guest_slot, i == 0 ? "00:02.0" : "00:03.0", "ports -S: guest slot");
		tap_ok(p->empty, "ports -S: %s empty", p->id);
		tap_ok(!p->windows_known, "ports -S: %s windows not known (secondary 0: not numbered)",
		       p->id);
		tap_ok(!p->present[0] && !p->present[1] && !p->present[2],
		       "ports -S: %s has no window present", p->id);
	}
	tsd_layout_clear(&l);
}

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

/* One root bridge "rpx" at 00:05.0 with the given pci_bridge.bus body. */
static int map_one_bridge(const char *bus_json, struct tsd_layout *l)
{
	char buf[2048];
	struct mmio_error err = { 0 };
	snprintf(buf, sizeof(buf),
		 "[{\"bus\": 0, \"devices\": [{\"bus\": 0, \"slot\": 5, \"function\": 0, "
		 "\"qdev_id\": \"rpx\", \"regions\": [], \"pci_bridge\": {\"bus\": %s}}]}]", bus_json);
	json_object *o = json_tokener_parse(buf);
	if (!o) {
		tap_diag("bad test JSON: %s", buf);
		return -1;
	}
	enum mmio_status st = qmp_map_pci(o, l, NULL, &err);
	json_object_put(o);
	if (st != MMIO_OK)
		tap_diag("qmp_map_pci: %s", err.msg);
	return st == MMIO_OK && l->nports == 1 ? 0 : -1;
}

static void test_ports_hand(void)
{
	struct tsd_layout l = { 0 };
	const struct tsd_port *p;

	/* a 1 GiB prefetchable window at 32 GiB; io and mem disabled */
	tap_ok(map_one_bridge("{\"number\": 0, \"secondary\": 3, \"subordinate\": 3, "
			      "\"io_range\": {\"base\": 61440, \"limit\": 4095}, "
			      "\"memory_range\": {\"base\": 4293918720, \"limit\": 1048575}, "
			      "\"prefetchable_range\": {\"base\": 34359738368, \"limit\": 35433480191}}",
			      &l) == 0, "hand: a root port with a pref window above 4 GiB maps");
	p = l.nports ? &l.ports[0] : NULL;
	tap_ok(p && strcmp(p->id, "rpx") == 0 && strcmp(p->guest_slot, "00:05.0") == 0 && p->empty &&
	       p->windows_known, "hand: rpx at 00:05.0, empty, programmed");
	tap_ok(p && !p->present[TSD_PORT_WIN_IO] && !p->present[TSD_PORT_WIN_MEM],
	       "hand: io and mem disabled (limit < base)");
	port_win_is(p, TSD_PORT_WIN_PREF, MMIO_WIN_HIGH, PREF_FLAGS, 0x800000000, 0x840000000,
		    "hand: pref [32 GiB, 33 GiB) is HIGH, PREFETCH|MEM64");
	tsd_layout_clear(&l);

	/* a pref window ending exactly at 4 GiB is still LOW */
	tap_ok(map_one_bridge("{\"secondary\": 1, \"prefetchable_range\": "
			      "{\"base\": 4026531840, \"limit\": 4294967295}}", &l) == 0,
	       "hand: a pref window ending at 4 GiB maps");
	p = l.nports ? &l.ports[0] : NULL;
	port_win_is(p, TSD_PORT_WIN_PREF, MMIO_WIN_LOW, PREF_FLAGS, 0xf0000000, MMIO_4G,
		    "hand: pref [0xf0000000, 4 GiB) is LOW");
	tap_ok(p && !p->present[TSD_PORT_WIN_IO] && !p->present[TSD_PORT_WIN_MEM],
	       "hand: missing io_range/memory_range = not present");
	tsd_layout_clear(&l);

	/* a one-granule I/O window: base == limit & ~0xfff */
	tap_ok(map_one_bridge("{\"secondary\": 1, \"io_range\": {\"base\": 4096, \"limit\": 8191}, "
			      "\"memory_range\": {\"base\": 4271898624, \"limit\": 4272947199}}", &l) == 0,
	       "hand: io and mem only");
	p = l.nports ? &l.ports[0] : NULL;
	port_win_is(p, TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0x1000, 0x2000, "hand: io [0x1000, 0x2000)");
	port_win_is(p, TSD_PORT_WIN_MEM, MMIO_WIN_LOW, 0, 0xfea00000, 0xfeb00000,
		    "hand: mem [0xfea00000, 0xfeb00000)");
	tap_ok(p && !p->present[TSD_PORT_WIN_PREF], "hand: no pref window");
	tsd_layout_clear(&l);

	/* secondary 0: nothing is known even with plausible ranges */
	tap_ok(map_one_bridge("{\"secondary\": 0, \"io_range\": {\"base\": 4096, \"limit\": 8191}}",
			      &l) == 0 && !l.ports[0].windows_known && !l.ports[0].present[0],
	       "hand: secondary 0 = windows not known, io ignored");
	tsd_layout_clear(&l);
	tap_ok(map_one_bridge("{\"io_range\": {\"base\": 4096, \"limit\": 8191}}", &l) == 0 &&
	       !l.ports[0].windows_known && !l.ports[0].present[0],
	       "hand: no secondary = windows not known");
	tsd_layout_clear(&l);

	/* a bridge without an id, or behind another bridge, is no port */
	json_object *o = json_tokener_parse(
		"[{\"bus\": 0, \"devices\": ["
		"{\"bus\": 0, \"slot\": 5, \"function\": 0, \"qdev_id\": \"\", \"pci_bridge\": "
		"{\"bus\": {\"secondary\": 1}}},"
		"{\"bus\": 0, \"slot\": 6, \"function\": 0, \"qdev_id\": \"br\", \"pci_bridge\": "
		"{\"bus\": {\"secondary\": 2, \"subordinate\": 3}, \"devices\": ["
		"{\"bus\": 2, \"slot\": 0, \"function\": 0, \"qdev_id\": \"inner\", \"pci_bridge\": "
		"{\"bus\": {\"secondary\": 3}}}]}}]}]");
	struct mmio_error err = { 0 };
	tap_ok(o && qmp_map_pci(o, &l, NULL, &err) == MMIO_OK, "hand: nested bridges map");
	tap_ok(l.nports == 1 && strcmp(l.ports[0].id, "br") == 0 && !l.ports[0].empty,
	       "hand: only the root bridge with an id is a port, and it is not empty");
	json_object_put(o);
	tsd_layout_clear(&l);
}

static void test_port_io_model_bios(void)
{
	struct qmp_holes h;
	struct tsd_layout l = { 0 };
	struct qmp_pci_slots s;
	struct mmio_error err = { 0 };
	const struct tsd_port *p;

	holes_from("qom-q35-devs-bios.json", QMP_MACHINE_Q35, &h);
	tap_ok(pci_from("query-pci-q35-devs-bios.json", &l, &s) == 0 &&
	       qmp_map_windows(&h, &l, &err) == MMIO_OK, "io model: q35 bios layout");
	/* Root I/O windows [0x0d00, 0x5658) and [0x5659, 0x10000); root I/O
	 * BARs ptd 0xd000/256, nic0 0xd100/64, 00:1f.2 0xd180/32, 00:1f.3
	 * 0x700/64; rp1's window [0xc000, 0xd000).  First 4 KiB block from
	 * 0x1000 inside a root I/O window and clear of all that: 0x1000. */
	struct tsd_port rp1 = l.ports[0];
	qmp_map_port_io_model(&l, 1);
	p = find_port(&l, "rp2");
	port_win_is(p, TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0x1000, 0x2000,
		    "io model: rp2 gets [0x1000, 0x2000)");
	tap_ok(p && p->win_source[TSD_PORT_WIN_IO] == TSD_SRC_MODEL, "io model: marked TSD_SRC_MODEL");
	tap_ok(p && p->win_source[TSD_PORT_WIN_MEM] == TSD_SRC_TOOLSTACK &&
	       p->win[TSD_PORT_WIN_MEM].start == 0xfe600000 && p->win[TSD_PORT_WIN_PREF].start == 0xfe000000,
	       "io model: the memory windows are untouched");
	qmp_map_port_io_model(&l, 0);
	tap_ok(memcmp(&l.ports[0], &rp1, sizeof(rp1)) == 0, "io model: rp1 (has an I/O window) left alone");
	qmp_map_port_io_model(&l, 2);
	qmp_map_port_io_model(&l, 99);
	tap_ok(l.nports == 2, "io model: an index past the ports is a no-op");
	/* modelled again: already present now, stays where it is */
	qmp_map_port_io_model(&l, 1);
	tap_ok(l.ports[1].win[TSD_PORT_WIN_IO].start == 0x1000, "io model: idempotent");
	tsd_layout_clear(&l);
}

static void io_layout(struct tsd_layout *l, struct tsd_port *ports, size_t nports)
{
	memset(l, 0, sizeof(*l));
	l->nwin = 1;
	l->win[0] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x0d00, .end = 0x10000 };
	l->ports = ports;
	l->nports = nports;
	l->free_slots = -1;
}

static void test_port_io_model_hand(void)
{
	struct tsd_layout l;
	struct tsd_port ports[3];

	memset(ports, 0, sizeof(ports));
	for (int i = 0; i < 3; i++) {
		snprintf(ports[i].id, sizeof(ports[i].id), "p%d", i);
		ports[i].empty = ports[i].windows_known = true;
	}
	ports[0].present[TSD_PORT_WIN_IO] = true;
	ports[0].win[TSD_PORT_WIN_IO] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x1000,
							      .end = 0x2000 };
	ports[2].windows_known = false;
	io_layout(&l, ports, 3);
	qmp_map_port_io_model(&l, 1);
	port_win_is(&ports[1], TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0x2000, 0x3000,
		    "io model: port 0 holds 0x1000-0x1fff, port 1 gets 0x2000");
	tap_ok(ports[1].win_source[TSD_PORT_WIN_IO] == TSD_SRC_MODEL, "io model: port 1's is the model's");
	qmp_map_port_io_model(&l, 2);
	tap_ok(!ports[2].present[TSD_PORT_WIN_IO] && ports[2].win[TSD_PORT_WIN_IO].end == 0,
	       "io model: a port with windows_known false is left alone");
	ports[2].windows_known = true;
	qmp_map_port_io_model(&l, 2);
	port_win_is(&ports[2], TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0x3000, 0x4000,
		    "io model: in port order, the next one gets 0x3000");
	qmp_map_port_io_model(&l, 0);
	tap_ok(ports[0].win[TSD_PORT_WIN_IO].start == 0x1000 &&
	       ports[0].win_source[TSD_PORT_WIN_IO] == TSD_SRC_TOOLSTACK,
	       "io model: a port with an I/O window already is left alone");

	/* root I/O BARs: an assigned one blocks its block, an unassigned one does not */
	struct tsd_live_bar bars[3] = {
		{ .device = "a", .bar = { .kind = MMIO_BAR_IO, .size = 0x40 }, .addr = 0x1fc0 },
		{ .device = "b", .bar = { .kind = MMIO_BAR_IO, .size = 0x100 }, .addr = TSD_ADDR_UNASSIGNED },
		{ .device = "c", .bar = { .kind = MMIO_BAR_MEM32, .size = 0x1000 }, .addr = 0x2000 },
	};
	memset(ports, 0, sizeof(ports));
	ports[0].windows_known = ports[0].empty = true;
	io_layout(&l, ports, 1);
	l.bars = bars;
	l.nbars = 3;
	qmp_map_port_io_model(&l, 0);
	port_win_is(&ports[0], TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0x2000, 0x3000,
		    "io model: an I/O BAR at 0x1fc0 pushes it to 0x2000 (unassigned and memory BARs do not count)");

	/* the block must lie inside one root I/O window */
	memset(ports, 0, sizeof(ports));
	ports[0].windows_known = true;
	io_layout(&l, ports, 1);
	l.nwin = 2;
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x0d00, .end = 0x1800 };
	l.win[1] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x1801, .end = 0x10000 };
	qmp_map_port_io_model(&l, 0);
	port_win_is(&ports[0], TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0x2000, 0x3000,
		    "io model: a block split between two root I/O windows is skipped");

	/* no room at all: no window */
	memset(ports, 0, sizeof(ports));
	ports[0].windows_known = true;
	io_layout(&l, ports, 1);
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x0d00, .end = 0x1fff };
	qmp_map_port_io_model(&l, 0);
	tap_ok(!ports[0].present[TSD_PORT_WIN_IO], "io model: no free 4 KiB block, no I/O window");
	/* memory windows do not count as I/O room */
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0x0, .end = 0x10000 };
	qmp_map_port_io_model(&l, 0);
	tap_ok(!ports[0].present[TSD_PORT_WIN_IO], "io model: only I/O windows hold it");
	/* not below PCIBIOS_MIN_IO */
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x0, .end = 0x10000 };
	qmp_map_port_io_model(&l, 0);
	port_win_is(&ports[0], TSD_PORT_WIN_IO, MMIO_WIN_IO, 0, 0x1000, 0x2000,
		    "io model: an I/O window from 0 still gives 0x1000 (PCIBIOS_MIN_IO)");
	/* nothing here is owned by l: the arrays are on the stack */
}

static void test_spec_value(void)
{
	char buf[64];

	tap_ok(tsd_spec_value("pci-testdev,bus=rp1,membar=1M", "bus", buf, sizeof(buf)) &&
	       strcmp(buf, "rp1") == 0, "spec_value: bus=rp1 found");
	tap_ok(tsd_spec_value("pci-testdev,bus=rp1,membar=1M", "membar", buf, sizeof(buf)) &&
	       strcmp(buf, "1M") == 0, "spec_value: the last item");
	tap_ok(!tsd_spec_value("pci-testdev,membar=1M", "bus", buf, sizeof(buf)),
	       "spec_value: an absent key");
	tap_ok(!tsd_spec_value("pci-testdev,busx=1", "bus", buf, sizeof(buf)),
	       "spec_value: bus does not match busx=1");
	tap_ok(tsd_spec_value("pci-testdev,busx=1,bus=rp2", "bus", buf, sizeof(buf)) &&
	       strcmp(buf, "rp2") == 0, "spec_value: bus after busx=1");
	tap_ok(tsd_spec_value("pci-testdev,busx=1,bus=rp2", "busx", buf, sizeof(buf)) &&
	       strcmp(buf, "1") == 0, "spec_value: busx itself");
	tap_ok(!tsd_spec_value("pci-testdev,xbus=1", "bus", buf, sizeof(buf)),
	       "spec_value: bus does not match xbus=1");
	tap_ok(tsd_spec_value("e1000,romfile=a,,b,bus=rp1", "romfile", buf, sizeof(buf)) &&
	       strcmp(buf, "a,b") == 0, "spec_value: \",,\" is a literal comma in the value");
	tap_ok(tsd_spec_value("e1000,romfile=a,,b,bus=rp1", "bus", buf, sizeof(buf)) &&
	       strcmp(buf, "rp1") == 0, "spec_value: the item after a \",,\" value");
	tap_ok(!tsd_spec_value("e1000,romfile=a,,bus=rp1", "bus", buf, sizeof(buf)),
	       "spec_value: \",,bus=rp1\" is inside romfile's value, no bus");
	tap_ok(tsd_spec_value("e1000,romfile=a,,bus=rp1", "romfile", buf, sizeof(buf)) &&
	       strcmp(buf, "a,bus=rp1") == 0, "spec_value: and romfile has it all");
	tap_ok(tsd_spec_value("e1000,romfile=a,,,bus=rp1", "bus", buf, sizeof(buf)) &&
	       strcmp(buf, "rp1") == 0, "spec_value: \",,,\" = a comma, then the next item");
	tap_ok(tsd_spec_value("e1000,romfile=a,,,bus=rp1", "romfile", buf, sizeof(buf)) &&
	       strcmp(buf, "a,") == 0, "spec_value: ... whose value ends in a comma");
	tap_ok(tsd_spec_value("e1000,romfile=", "romfile", buf, sizeof(buf)) && buf[0] == '\0',
	       "spec_value: an empty value is found, empty");
	tap_ok(tsd_spec_value("pci-testdev,bus=rp1,", "bus", buf, sizeof(buf)) &&
	       strcmp(buf, "rp1") == 0, "spec_value: a trailing comma");
	tap_ok(tsd_spec_value("pci-testdev,bus=rp1,bus=rp2", "bus", buf, sizeof(buf)) &&
	       strcmp(buf, "rp1") == 0, "spec_value: the first of two");
	/* the driver (first item, no '=') never matches */
	tap_ok(!tsd_spec_value("pci-testdev,bus=rp1", "pci-testdev", buf, sizeof(buf)),
	       "spec_value: the driver is no key");
	tap_ok(!tsd_spec_value("bus,membar=1M", "bus", buf, sizeof(buf)),
	       "spec_value: a driver named like the key is no key");
	tap_ok(!tsd_spec_value("pci-testdev", "bus", buf, sizeof(buf)), "spec_value: a driver alone");
	tap_ok(!tsd_spec_value("", "bus", buf, sizeof(buf)), "spec_value: an empty spec");
	/* buf sizes */
	char small[4];
	memset(small, 'x', sizeof(small));
	tap_ok(tsd_spec_value("d,bus=rp1", "bus", small, sizeof(small)) && strcmp(small, "rp1") == 0,
	       "spec_value: a value that exactly fits (3 + NUL in 4)");
	memset(small, 'x', sizeof(small));
	tap_ok(!tsd_spec_value("d,bus=rp10", "bus", small, sizeof(small)),
	       "spec_value: a value one byte too long -> false");
	tap_ok(!tsd_spec_value("d,romfile=a,,bc", "romfile", small, sizeof(small)),
	       "spec_value: too long after unescaping \",,\" -> false");
	tap_ok(tsd_spec_value("d,romfile=a,,b", "romfile", small, sizeof(small)) &&
	       strcmp(small, "a,b") == 0, "spec_value: \"a,,b\" unescaped fits in 4");
	tap_ok(!tsd_spec_value("d,bus=rp1", "bus", small, 0), "spec_value: len 0 -> false");
	char big[300];
	memset(big, 'v', sizeof(big));
	memcpy(big, "d,bus=", 6);
	big[sizeof(big) - 1] = '\0';
	tap_ok(!tsd_spec_value(big, "bus", buf, sizeof(buf)), "spec_value: a 293-byte value in 64 -> false");
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
	       "windows OVMF q35: high window, no HyperTransport clip (OVMF's E820 has none)");
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
	/* Before OVMF ran: its aperture, assumed. */
	h.boot_unplaced = true;
	tap_ok(qmp_map_hole64(&h, &s, &e, &src, note, sizeof(note)) && s == 0xe000000000 &&
	       e == 0xe080000000 && src == TSD_SRC_ASSUMED && strstr(note, "OVMF has not placed"),
	       "hole64 before OVMF ran: the top eighth of 40 bits, assumed, said why");
	struct { uint64_t mb, base; } ap[] = {
		{ 65536, 0xe000000000 }, { 131072, 0x2000000000 }, { 262144, 0x4000000000 },
	};
	for (size_t i = 0; i < sizeof(ap) / sizeof(ap[0]); i++) {
		h.ovmf_mmio64_mb = ap[i].mb;
		tap_is_u64(qmp_map_ovmf_aperture(&h, 0x100000000, &size), ap[i].base,
			   "OVMF aperture with X-PciMmio64Mb (as measured)");
	}
	h.ovmf_mmio64_mb = 0;
	h.phys_bits = 36;
	tap_ok(qmp_map_ovmf_aperture(&h, 0x140000000, &size) == 0x800000000 &&
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

int main(void)
{
	test_u64();
	test_bridge_kinds();
	test_windows_pc();
	test_windows_q35();
	test_hole64_drift();
	test_hole64_boot();
	test_boot64();
	test_facts();
	test_pci_pc();
	test_pci_q35();
	test_compare();
	test_spec();
	test_bad();
	test_ports_q35_bios();
	test_ports_q35_S();
	test_ports_only();
	test_ports_hand();
	test_port_io_model_bios();
	test_port_io_model_hand();
	test_spec_value();
	tap_done();
	return tap_exit();
}
