/* SPDX-License-Identifier: MIT */
/* test-qmp-map-pci.c — the QMP back end's query-pci mapping (BARs, slots,
 * declarations compared) and device_add specs, against replies captured from QEMU 7.2. */
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

int main(void)
{
	test_pci_pc();
	test_pci_q35();
	test_compare();
	test_spec();
	test_bad();
	test_spec_value();
	tap_done();
	return tap_exit();
}
