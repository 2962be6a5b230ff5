/* SPDX-License-Identifier: MIT */
/* test-qmp-map-ports.c — the QMP back end's hot-plug ports (q35 pcie-root-port
 * bridges' windows) and the I/O window model, captured and by hand. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qmp-fixture.h"

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

int main(void)
{
	test_ports_q35_bios();
	test_ports_q35_S();
	test_ports_only();
	test_ports_hand();
	test_port_io_model_bios();
	test_port_io_model_hand();
	tap_done();
	return tap_exit();
}
