/* SPDX-License-Identifier: MIT */
/* test-qmp-map.c — the QMP back end's pure mappings against replies captured
 * from QEMU 7.2 (tests/qmp/README.md says how). */
#include "config.h"

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
	tap_ok(qmp_map_hole64(&h, &s, &e) && s == 0x100000000 && e == 0x180000000,
	       "hole64: without size/RAM the live QOM values");
	h.have_hole64_size = h.have_ram = true;
	h.hole64_size = 0x80000000;
	h.ram_size = 0x20000000;
	tap_ok(qmp_map_hole64(&h, &s, &e) && s == 0x100000000 && e == 0x180000000,
	       "hole64: computed = live while nothing is enabled above 4 GiB");
	/* tests/guest 19: the BAR at 0x100000000 unplugged, one at 0x140000000
	 * stays: QEMU says [0x140000000, 0x1c0000000), the guest still has
	 * [0x100000000, 0x180000000). */
	h.hole64_start = 0x140000000;
	h.hole64_end = 0x1c0000000;
	tap_ok(qmp_map_hole64(&h, &s, &e), "hole64: drifted QOM values");
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
	tap_ok(qmp_map_hole64(&h, &s, &e) && s == 0x180000000 && e == 0x200000000,
	       "hole64: after 2 GiB of RAM above 4 GiB");
	/* -m 512M,slots=2,maxmem=4G: device memory 0x160000000 (QEMU 7.2 -S:
	 * pci-hole64-start 0x280000000). */
	h.hole_start = 0x20000000;
	h.ram_size = 0x20000000;
	h.devmem_size = 0x160000000;
	h.hole64_start = 0x280000000;
	h.hole64_end = 0x300000000;
	tap_ok(qmp_map_hole64(&h, &s, &e) && s == 0x280000000 && e == 0x300000000,
	       "hole64: after hot-pluggable memory");
	/* pci-hole64-size=0: no 64-bit window (tests/guest 03). */
	h.devmem_size = 0;
	h.hole64_size = 0;
	h.hole64_start = 0x100000000;
	h.hole64_end = 0x100000000;
	tap_ok(qmp_map_hole64(&h, &s, &e) && e == s, "hole64: size 0, empty");
	/* Computed start above QOM's: not a layout we know, trust QOM. */
	h.hole64_size = 0x80000000;
	h.ram_size = UINT64_C(6) << 30;
	h.hole_start = 0x80000000;
	h.hole64_start = 0x100000000;
	h.hole64_end = 0x180000000;
	tap_ok(qmp_map_hole64(&h, &s, &e) && s == 0x100000000 && e == 0x180000000,
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
	tap_ok(a && qmp_map_integer_retry(a, "Parameter 'romsize' expects integer"),
	       "integer retry: romsize converted");
	{
		json_object *jv = NULL;
		tap_ok(json_object_object_get_ex(a, "romsize", &jv) && json_object_is_type(jv, json_type_int) &&
		       json_object_get_int64(jv) == 65536, "integer retry: romsize is now the number 65536");
	}
	tap_ok(!qmp_map_integer_retry(a, "Parameter 'romsize' expects integer"),
	       "integer retry: not twice for the same key");
	tap_ok(!qmp_map_integer_retry(a, "Parameter 'romfile' expects integer"),
	       "integer retry: not for a value that is no integer");
	tap_ok(!qmp_map_integer_retry(a, "Device 'e1000' not found"), "integer retry: other errors untouched");
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

int main(void)
{
	test_u64();
	test_windows_pc();
	test_windows_q35();
	test_hole64_drift();
	test_pci_pc();
	test_pci_q35();
	test_compare();
	test_spec();
	test_bad();
	tap_done();
	return tap_exit();
}
