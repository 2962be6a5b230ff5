/* SPDX-License-Identifier: MIT */
/* test-qmp-map-pci.c — the QMP back end's query-pci mapping (BARs, slots,
 * declarations compared, hot-plug ports and their windows, the I/O window
 * model) and device_add specs, against replies captured from QEMU 7.2 and
 * hand-made ones. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qmp-fixture.h"

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

/* tsd_spec_value(spec, key, buf, len): found (value != NULL) with exactly
 * that value, or not found; buf is a heap block of exactly len bytes. */
static void test_spec_value(void)
{
	static const struct {
		const char *spec, *key;
		size_t len;
		const char *value;	/* NULL: not found (or does not fit) */
		const char *name;
	} cases[] = {
		{ "pci-testdev,bus=rp1,membar=1M", "bus", 64, "rp1",
		  "spec_value: bus=rp1 found" },
		{ "pci-testdev,bus=rp1,membar=1M", "membar", 64, "1M",
		  "spec_value: the last item" },
		{ "pci-testdev,membar=1M", "bus", 64, NULL,
		  "spec_value: an absent key" },
		{ "pci-testdev,busx=1", "bus", 64, NULL,
		  "spec_value: bus does not match busx=1" },
		{ "pci-testdev,busx=1,bus=rp2", "bus", 64, "rp2",
		  "spec_value: bus after busx=1" },
		{ "pci-testdev,busx=1,bus=rp2", "busx", 64, "1",
		  "spec_value: busx itself" },
		{ "pci-testdev,xbus=1", "bus", 64, NULL,
		  "spec_value: bus does not match xbus=1" },
		{ "e1000,romfile=a,,b,bus=rp1", "romfile", 64, "a,b",
		  "spec_value: \",,\" is a literal comma in the value" },
		{ "e1000,romfile=a,,b,bus=rp1", "bus", 64, "rp1",
		  "spec_value: the item after a \",,\" value" },
		{ "e1000,romfile=a,,bus=rp1", "bus", 64, NULL,
		  "spec_value: \",,bus=rp1\" is inside romfile's value, no bus" },
		{ "e1000,romfile=a,,bus=rp1", "romfile", 64, "a,bus=rp1",
		  "spec_value: and romfile has it all" },
		{ "e1000,romfile=a,,,bus=rp1", "bus", 64, "rp1",
		  "spec_value: \",,,\" = a comma, then the next item" },
		{ "e1000,romfile=a,,,bus=rp1", "romfile", 64, "a,",
		  "spec_value: ... whose value ends in a comma" },
		{ "e1000,romfile=", "romfile", 64, "",
		  "spec_value: an empty value is found, empty" },
		{ "pci-testdev,bus=rp1,", "bus", 64, "rp1",
		  "spec_value: a trailing comma" },
		{ "pci-testdev,bus=rp1,bus=rp2", "bus", 64, "rp1",
		  "spec_value: the first of two" },
		/* the driver (first item, no '=') never matches */
		{ "pci-testdev,bus=rp1", "pci-testdev", 64, NULL,
		  "spec_value: the driver is no key" },
		{ "bus,membar=1M", "bus", 64, NULL,
		  "spec_value: a driver named like the key is no key" },
		{ "pci-testdev", "bus", 64, NULL,
		  "spec_value: a driver alone" },
		{ "", "bus", 64, NULL,
		  "spec_value: an empty spec" },
		/* buffer sizes */
		{ "d,bus=rp1", "bus", 4, "rp1",
		  "spec_value: a value that exactly fits (3 + NUL in 4)" },
		{ "d,bus=rp10", "bus", 4, NULL,
		  "spec_value: a value one byte too long -> false" },
		{ "d,romfile=a,,bc", "romfile", 4, NULL,
		  "spec_value: too long after unescaping \",,\" -> false" },
		{ "d,romfile=a,,b", "romfile", 4, "a,b",
		  "spec_value: \"a,,b\" unescaped fits in 4" },
		{ "d,bus=rp1", "bus", 0, NULL,
		  "spec_value: len 0 -> false" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *buf = malloc(cases[i].len ? cases[i].len : 1);
		bool found = tsd_spec_value(cases[i].spec, cases[i].key, buf, cases[i].len);
		tap_ok(cases[i].value ? found && strcmp(buf, cases[i].value) == 0 : !found, "%s", cases[i].name);
		free(buf);
	}
	char buf[64], big[300];
	memset(big, 'v', sizeof(big));
	memcpy(big, "d,bus=", 6);
	big[sizeof(big) - 1] = '\0';
	tap_ok(!tsd_spec_value(big, "bus", buf, sizeof(buf)), "spec_value: a 293-byte value in 64 -> false");
}

/* ---- hot-plug ports (q35 pcie-root-port bridges' windows) ------------------ */

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

int main(void)
{
	test_pci_pc();
	test_pci_q35();
	test_compare();
	test_spec();
	test_bad();
	test_spec_value();
	test_ports_q35_bios();
	test_ports_q35_S();
	test_ports_hand();
	test_port_io_model_bios();
	test_port_io_model_hand();
	tap_done();
	return tap_exit();
}
