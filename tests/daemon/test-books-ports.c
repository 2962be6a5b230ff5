/* SPDX-License-Identifier: MIT */
/*
 * test-books-ports.c — daemon/books-ports.c without a bus or a back end: a
 * device placed behind a hot-plug port, holds and reservations in a port's
 * windows, edge cases, ports in the state file; multi-function slots.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "books-fixture.h"
#include "state.h"
#include "../tap.h"

/* ---- hot-plug ports (q35: a device goes behind a pcie-root-port) ---------------
 *
 * The port guest:
 *   root low  [0xC0000000, 0xFEC00000), high [32 GiB, 64 GiB), io [0x1000, 0x10000)
 *   rp1 00:02.0 empty: io [0x1000, 0x2000), mem [0xFE800000, +2 MiB),
 *                      pref [0xFE200000, +2 MiB) (LOW)
 *   rp2 00:03.0 empty: no io, mem [0xFE600000, +2 MiB), pref [32 GiB, +1 GiB) (HIGH)
 *   rp3 00:04.0 a device behind it: mem [0xFE000000, +2 MiB), pref [33 GiB, +1 GiB)
 */
#define G       (UINT64_C(1) << 30)
#define RP1_IO   UINT64_C(0x1000)
#define RP1_MEM  UINT64_C(0xFE800000)
#define RP1_PREF UINT64_C(0xFE200000)
#define RP2_MEM  UINT64_C(0xFE600000)
#define RP2_PREF (32 * G)
#define RP3_MEM  UINT64_C(0xFE000000)
#define RP3_PREF (33 * G)
#define PREF_FLAGS (MMIO_WF_PREFETCH | MMIO_WF_MEM64)

static void port_set(struct tsd_port *p, const char *id, const char *slot, bool empty)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->guest_slot, sizeof(p->guest_slot), "%s", slot);
	p->empty = empty;
	p->windows_known = true;
}

static void port_win(struct tsd_port *p, unsigned w, uint64_t start, uint64_t size)
{
	p->present[w] = true;
	p->win[w] = (struct mmio_window){
		.kind = w == TSD_PORT_WIN_IO ? MMIO_WIN_IO : start + size <= MMIO_4G ? MMIO_WIN_LOW :
			MMIO_WIN_HIGH,
		.flags = w == TSD_PORT_WIN_PREF ? PREF_FLAGS : 0,
		.start = start, .end = start + size,
	};
}

static void ports_make(struct tsd_port ports[3])
{
	port_set(&ports[0], "rp1", "00:02.0", true);
	port_win(&ports[0], TSD_PORT_WIN_IO, RP1_IO, 0x1000);
	port_win(&ports[0], TSD_PORT_WIN_MEM, RP1_MEM, 2 * M);
	port_win(&ports[0], TSD_PORT_WIN_PREF, RP1_PREF, 2 * M);
	port_set(&ports[1], "rp2", "00:03.0", true);
	port_win(&ports[1], TSD_PORT_WIN_MEM, RP2_MEM, 2 * M);
	port_win(&ports[1], TSD_PORT_WIN_PREF, RP2_PREF, 1 * G);
	port_set(&ports[2], "rp3", "00:04.0", false);
	port_win(&ports[2], TSD_PORT_WIN_MEM, RP3_MEM, 2 * M);
	port_win(&ports[2], TSD_PORT_WIN_PREF, RP3_PREF, 1 * G);
}

/* books over the port guest with ports[0..n) (copied in) */
static void books_with_ports(struct books *b, const struct tsd_port *ports, size_t n)
{
	struct tsd_layout l;
	struct mmio_error err = { 0 };

	books_init(b);
	memset(&l, 0, sizeof(l));
	l.nwin = 3;
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xC0000000, .end = 0xFEC00000 };
	l.win[1] = (struct mmio_window){ .kind = MMIO_WIN_HIGH, .start = 32 * G, .end = 64 * G };
	l.win[2] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x1000, .end = 0x10000 };
	l.free_slots = -1;
	l.ports_only = true;
	l.ports = (struct tsd_port *)ports;
	l.nports = n;
	if (books_set_layout(b, &l, &err) != MMIO_OK) {
		tap_diag("books_set_layout: %s", err.msg);
		abort();
	}
}

static void books_with_port_guest(struct books *b)
{
	struct tsd_port ports[3];
	ports_make(ports);
	books_with_ports(b, ports, 3);
}

static enum mmio_status check1(const struct books *b, const char *spec, const char *port,
			       struct books_entry *out, struct mmio_error *err)
{
	struct mmio_device d = dev(spec);

	memset(err, 0, sizeof(*err));
	return books_check_port(b, &d, &spec, 1, port, out, err);
}

static enum mmio_status admit_port(struct books *b, const char *spec, const char *id, const char *port,
				   struct mmio_error *err)
{
	struct mmio_device d = dev(spec);
	size_t idx;

	memset(err, 0, sizeof(*err));
	return books_admit(b, &d, spec, id, NULL, NULL, port, &idx, err);
}

static const char *win_name(const struct books_entry *e, unsigned bar)
{
	static char buf[80];
	books_bar_window_name(e, &e->bars[bar], buf, sizeof(buf));
	return buf;
}

/* books_ports' row for port id, or a zeroed one */
static struct books_port_view port_view(const struct books *b, const char *id)
{
	struct books_port_view v[8];
	size_t n = books_ports(b, v, 8);

	for (size_t i = 0; i < n && i < 8; i++)
		if (strcmp(v[i].port->id, id) == 0)
			return v[i];
	return (struct books_port_view){ .state = "(none)", .by = "" };
}

static void test_ports_place(void)
{
	struct books b;
	struct mmio_error err;
	struct books_entry out;

	books_with_port_guest(&b);
	tap_ok(books_port_mode(&b), "ports: port mode (ports_only, windows programmed)");

	tap_ok(check1(&b, "bars:mem64p:512M", NULL, &out, &err) == MMIO_OK,
	       "ports: a 512 MiB mem64p device fits behind some port");
	tap_is_str(out.port, "rp2", "ports: behind rp2 (rp1's 2 MiB pref is too small, rp3 is occupied)");
	tap_ok(out.bars[0].placed && out.bars[0].window == MMIO_WIN_HIGH && out.bars[0].pref_window,
	       "ports: in rp2's prefetchable window (HIGH)");
	tap_is_u64(out.bars[0].addr, RP2_PREF, "ports: at the start of rp2's pref window");
	tap_is_str(win_name(&out, 0), "rp2:pref", "ports: window name rp2:pref");
	tap_ok(b.nattach == 0 && b.nres == 0, "ports: Check holds nothing");

	tap_ok(check1(&b, "bars:mem64p:512M", "rp1", &out, &err) == MMIO_E_NOSPACE,
	       "ports: asked behind rp1, it does not fit");
	tap_contains(err.msg, "bridge window", "ports: the reason names the bridge window");
	tap_contains(err.msg, "rp1", "ports: and the port rp1");
	tap_ok(strstr(err.msg, "rp2") == NULL, "ports: and not rp2 (only the port asked for is tried)");
	tap_is_str(out.port, "rp1", "ports: the partial placement is behind rp1");
	tap_ok(!out.bars[0].placed, "ports: BAR not placed");
	tap_is_str(win_name(&out, 0), "", "ports: an unplaced BAR has no window name");

	tap_ok(check1(&b, "bars:mem64p:512M", "rp2", &out, &err) == MMIO_OK &&
	       strcmp(out.port, "rp2") == 0 && out.bars[0].addr == RP2_PREF,
	       "ports: asked behind rp2, it fits there");

	tap_ok(check1(&b, "bars:mem64p:512M", "nosuch", &out, &err) == MMIO_E_NOTFOUND,
	       "ports: an unknown port is NOTFOUND");
	tap_contains(err.msg, "nosuch", "ports: the unknown port is named");
	tap_contains(err.msg, "rp1, rp2, rp3", "ports: and the guest's ports listed");

	tap_ok(check1(&b, "bars:mem32:1M", "rp3", &out, &err) == MMIO_E_NOSPACE,
	       "ports: behind rp3 (occupied): NOSPACE");
	tap_contains(err.msg, "a device is behind it", "ports: says a device is behind it");

	/* smaller devices go behind the first free port, in bus-resource order */
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out, &err) == MMIO_OK, "ports: a 1 MiB mem32 fits");
	tap_ok(strcmp(out.port, "rp1") == 0 && out.bars[0].addr == RP1_MEM && !out.bars[0].pref_window &&
	       out.bars[0].window == MMIO_WIN_LOW, "ports: behind rp1, in its mem window");
	tap_is_str(win_name(&out, 0), "rp1:mem", "ports: window name rp1:mem");
	tap_ok(check1(&b, "bars:mem64p:1M", NULL, &out, &err) == MMIO_OK &&
	       strcmp(out.port, "rp1") == 0 && out.bars[0].addr == RP1_PREF && out.bars[0].pref_window,
	       "ports: a 1 MiB mem64p goes to rp1's pref window");
	tap_is_str(win_name(&out, 0), "rp1:pref", "ports: window name rp1:pref");
	tap_ok(check1(&b, "bars:io:256", NULL, &out, &err) == MMIO_OK &&
	       strcmp(out.port, "rp1") == 0 && out.bars[0].addr == RP1_IO &&
	       out.bars[0].window == MMIO_WIN_IO, "ports: an I/O BAR goes to rp1's I/O window");
	tap_is_str(win_name(&out, 0), "rp1:io", "ports: window name rp1:io");
	tap_ok(check1(&b, "bars:io:256", "rp2", &out, &err) == MMIO_E_NOSPACE,
	       "ports: rp2 has no I/O window: an I/O BAR does not fit there");

	/* two devices in one Check take two ports */
	struct mmio_device two[2] = { dev("bars:mem32:1M"), dev("bars:mem32:1M") };
	struct books_entry out2[2];
	tap_ok(books_check_port(&b, two, NULL, 2, NULL, out2, &err) == MMIO_OK &&
	       strcmp(out2[0].port, "rp1") == 0 && strcmp(out2[1].port, "rp2") == 0 &&
	       out2[1].bars[0].addr == RP2_MEM, "ports: two devices in one Check: rp1, then rp2");
	struct mmio_device three[3] = { dev("bars:mem32:1M"), dev("bars:mem32:1M"), dev("bars:mem32:1M") };
	struct books_entry out3[3];
	tap_ok(books_check_port(&b, three, NULL, 3, NULL, out3, &err) == MMIO_E_NOSPACE,
	       "ports: a third device has no free port");
	tap_contains(err.msg, "no free hot-plug port", "ports: says so");
	books_free(&b);
}

static void test_ports_hold(void)
{
	struct books b;
	struct mmio_error err;
	struct books_entry out;
	struct books_port_view v;

	books_with_port_guest(&b);
	v = port_view(&b, "rp1");
	tap_is_str(v.state, "empty", "ports view: rp1 empty");
	v = port_view(&b, "rp3");
	tap_is_str(v.state, "occupied", "ports view: rp3 occupied");
	tap_is_u64(books_ports(&b, NULL, 0), 3, "ports view: three ports (max 0 writes nothing)");

	tap_ok(admit_port(&b, "bars:mem64p:512M", "a1", NULL, &err) == MMIO_OK, "ports: a1 admitted");
	const struct books_attach *a = attach(&b, "a1");
	tap_ok(a && strcmp(a->e.port, "rp2") == 0 && a->e.bars[0].addr == RP2_PREF &&
	       a->e.bars[0].pref_window, "ports: a1 holds rp2, BAR at rp2's pref window");
	v = port_view(&b, "rp2");
	tap_is_str(v.state, "held", "ports view: rp2 held");
	tap_is_str(v.by, "a1", "ports view: by a1");
	tap_is_str(port_view(&b, "rp1").state, "empty", "ports view: rp1 still empty");

	tap_ok(check1(&b, "bars:mem64p:512M", NULL, &out, &err) == MMIO_E_NOSPACE,
	       "ports: a second 512 MiB device has nowhere to go");
	tap_contains(err.msg, "behind port rp1", "ports: rp1 was tried");
	tap_ok(strstr(err.msg, "rp2") == NULL, "ports: rp2 (held) was skipped");
	tap_ok(check1(&b, "bars:mem64p:512M", "rp2", &out, &err) == MMIO_E_NOSPACE,
	       "ports: asked behind the held rp2: NOSPACE");
	tap_contains(err.msg, "an attach holds it", "ports: an attach holds it");
	tap_ok(admit_port(&b, "bars:mem32:1M", "a2", NULL, &err) == MMIO_OK &&
	       strcmp(attach(&b, "a2")->e.port, "rp1") == 0, "ports: a 1 MiB device goes behind rp1");
	tap_ok(admit_port(&b, "bars:mem32:1M", "a3", NULL, &err) == MMIO_E_NOSPACE && b.nattach == 2,
	       "ports: every free port held: refused, nothing held");
	tap_contains(err.msg, "no free hot-plug port", "ports: no free hot-plug port");

	/* once attached, the device itself keeps the port (the back end shows
	 * it behind the port: "occupied"); an attached device that left the
	 * guest outside mmiod keeps nothing, and removing the attach frees it too */
	b.attaches[books_find_attach(&b, "a1")].state = BOOKS_ATTACH_DETACHING;
	tap_is_str(port_view(&b, "rp2").state, "empty",
		   "ports view: an attach whose device left the guest no longer holds its port");
	b.attaches[books_find_attach(&b, "a1")].state = BOOKS_ATTACH_INFLIGHT;
	tap_is_str(port_view(&b, "rp2").state, "held", "ports view: in flight again: held");
	books_remove_attach(&b, (size_t)books_find_attach(&b, "a1"));
	tap_is_str(port_view(&b, "rp2").state, "empty", "ports view: removing the attach frees rp2");
	tap_ok(admit_port(&b, "bars:mem64p:512M", "a4", "rp2", &err) == MMIO_OK &&
	       strcmp(attach(&b, "a4")->e.port, "rp2") == 0, "ports: admitted with port rp2 explicitly");
	tap_ok(admit_port(&b, "bars:mem32:1M", "a5", "nosuch", &err) == MMIO_E_NOTFOUND &&
	       !attach(&b, "a5"), "ports: admit with an unknown port: NOTFOUND, nothing held");
	books_free(&b);
}

static void test_ports_reserve(void)
{
	struct books b;
	struct mmio_error err;
	struct books_entry out;

	books_with_port_guest(&b);
	tap_ok(reserve(&b, "bars:mem64p:512M", "r1", &err) == MMIO_OK, "ports: reserve 512 MiB");
	tap_ok(b.nres == 1 && strcmp(b.res[0].devs[0].port, "rp2") == 0 &&
	       b.res[0].devs[0].bars[0].addr == RP2_PREF, "ports: the reservation is predicted behind rp2");
	struct books_port_view v = port_view(&b, "rp2");
	tap_is_str(v.state, "reserved", "ports view: rp2 reserved");
	tap_is_str(v.by, "r1", "ports view: by r1");
	tap_is_str(port_view(&b, "rp1").state, "empty", "ports view: rp1 empty");

	tap_ok(check1(&b, "bars:mem64p:512M", NULL, &out, &err) == MMIO_E_NOSPACE,
	       "ports: a device that needs rp2 breaks the reservation");
	tap_contains(err.msg, "fits only by breaking reservation r1", "ports: the reason names r1");
	tap_ok(admit_port(&b, "bars:mem64p:512M", "a1", NULL, &err) == MMIO_E_NOSPACE && b.nattach == 0,
	       "ports: admission agrees, nothing held");
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out, &err) == MMIO_OK && strcmp(out.port, "rp1") == 0,
	       "ports: a device that leaves rp2 free fits behind rp1");
	tap_ok(check1(&b, "bars:mem32:1M", "rp2", &out, &err) == MMIO_E_NOSPACE,
	       "ports: but not when asked behind rp2");
	tap_contains(err.msg, "reservation r1", "ports: again r1 is named");

	tap_ok(reserve(&b, "bars:mem64p:512M", "r2", &err) == MMIO_E_NOSPACE && b.nres == 1,
	       "ports: a second 512 MiB reservation does not fit");
	tap_ok(reserve(&b, "bars:mem32:1M", "r2", &err) == MMIO_OK && b.nres == 2 &&
	       strcmp(b.res[1].devs[0].port, "rp1") == 0, "ports: a 1 MiB reservation goes behind rp1");
	tap_is_str(port_view(&b, "rp1").state, "reserved", "ports view: rp1 reserved");
	tap_is_str(port_view(&b, "rp1").by, "r2", "ports view: by r2");
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out, &err) == MMIO_E_NOSPACE,
	       "ports: both free ports reserved: nothing more fits");
	books_release(&b, (size_t)books_find_reservation(&b, "r1"));
	tap_is_str(port_view(&b, "rp2").state, "empty", "ports view: releasing r1 frees rp2");
	tap_ok(check1(&b, "bars:mem64p:512M", NULL, &out, &err) == MMIO_OK && strcmp(out.port, "rp2") == 0,
	       "ports: and the 512 MiB device fits again");
	books_free(&b);
}

/* A pc guest (devices on the root bus) with a pci-bridge named by the
 * caller: root reservations stay on the root bus and do not take the port. */
static void test_ports_named_on_root_guest(void)
{
	struct books b;
	struct mmio_error err = { 0 };
	struct books_entry out;
	struct tsd_layout l;
	struct tsd_port br;

	books_init(&b);
	memset(&l, 0, sizeof(l));
	memset(&br, 0, sizeof(br));
	snprintf(br.id, sizeof(br.id), "br1");
	br.empty = br.windows_known = true;
	br.present[TSD_PORT_WIN_MEM] = true;
	br.win[TSD_PORT_WIN_MEM] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xE0600000,
							 .end = 0xE0800000 };
	l.nwin = 1;
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xE0000000, .end = 0xE0800000 };
	l.free_slots = -1;
	l.ports = &br;
	l.nports = 1;
	if (books_set_layout(&b, &l, &err) != MMIO_OK)
		abort();
	tap_ok(!books_port_mode(&b), "root guest with a bridge: not port mode");
	tap_ok(reserve(&b, "bars:mem32:1M", "r1", &err) == MMIO_OK, "root guest: reservation r1 on the root bus");
	tap_ok(check1(&b, "bars:mem32:1M", "br1", &out, &err) == MMIO_OK && strcmp(out.port, "br1") == 0 &&
	       out.bars[0].addr == 0xE0600000,
	       "root guest: a device asked behind br1 fits there; root reservation r1 is not moved "
	       "behind the port (%s)", err.msg);
	tap_is_str(port_view(&b, "br1").state, "empty", "root guest: br1 stays empty, not reserved");
	books_free(&b);
}

/* A conventional PCI bridge has slots: devices share its windows, the
 * live BARs on its bus are used, and it is never "full". */
static void test_ports_multi_slot(void)
{
	struct books b;
	struct mmio_error err = { 0 };
	struct books_entry out[2];
	struct tsd_layout l;
	struct tsd_port br;
	struct tsd_live_bar live = { .device = "x1", .guest_slot = "02:01.0",
				     .bar = { .index = 0, .kind = MMIO_BAR_MEM32, .size = 1 << 20 },
				     .addr = 0xE0600000, .source = TSD_SRC_TOOLSTACK };

	books_init(&b);
	memset(&l, 0, sizeof(l));
	memset(&br, 0, sizeof(br));
	snprintf(br.id, sizeof(br.id), "br1");
	br.multi_slot = true;
	br.secondary = 2;
	br.windows_known = true;
	br.empty = false;
	br.present[TSD_PORT_WIN_MEM] = true;
	br.win[TSD_PORT_WIN_MEM] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xE0600000,
							 .end = 0xE0A00000 };
	l.nwin = 1;
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xE0000000, .end = 0xE1000000 };
	l.free_slots = -1;
	l.ports = &br;
	l.nports = 1;
	l.bars = &live;
	l.nbars = 1;
	l.ports_only = true;
	if (books_set_layout(&b, &l, &err) != MMIO_OK)
		abort();
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out[0], &err) == MMIO_OK && strcmp(out[0].port, "br1") == 0 &&
	       out[0].bars[0].addr == 0xE0700000,
	       "multi-slot bridge: a device goes behind it although a device is there, after that "
	       "device's live BAR (%s)", err.msg);
	tap_is_str(port_view(&b, "br1").state, "in-use", "multi-slot bridge: state in-use");
	struct mmio_device two[2] = { dev("bars:mem32:2M"), dev("bars:mem32:2M") };
	const char *specs[2] = { "bars:mem32:2M", "bars:mem32:2M" };
	tap_ok(books_check_port(&b, two, specs, 2, NULL, out, &err) == MMIO_E_NOSPACE &&
	       out[0].bars[0].placed && out[0].bars[0].addr == 0xE0800000 && !out[1].bars[0].placed &&
	       strcmp(out[1].port, "br1") == 0,
	       "multi-slot bridge: two 2M devices in one check share the 4M window: the second finds "
	       "no room (%s)", err.msg);
	tap_ok(admit_port(&b, "bars:mem32:1M", "a1", NULL, &err) == MMIO_OK &&
	       strcmp(b.attaches[0].e.port, "br1") == 0 && b.attaches[0].e.bars[0].addr == 0xE0700000,
	       "multi-slot bridge: an attach is held behind it");
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out[0], &err) == MMIO_OK &&
	       out[0].bars[0].addr == 0xE0800000,
	       "multi-slot bridge: the next device goes after the held one, the bridge stays usable");
	tap_is_str(port_view(&b, "br1").by, "a1", "multi-slot bridge: in use by the attach");
	books_free(&b);
}

static void test_ports_edge(void)
{
	struct books b;
	struct mmio_error err;
	struct books_entry out;
	struct tsd_port ports[3];

	/* pciehp: what fits the current windows is placed as with acpiphp (its
	 * first pass); what does not makes the guest re-size them (lib/pciehp.c) */
	ports_make(ports);
	for (int i = 0; i < 3; i++)
		ports[i].native_hotplug = true;
	books_with_ports(&b, ports, 3);
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out, &err) == MMIO_OK && strcmp(out.port, "rp1") == 0 &&
	       !out.port_resized, "ports, pciehp: a device that fits the current windows is placed (%s)", err.msg);
	tap_ok(check1(&b, "bars:mem64p:512M", NULL, &out, &err) == MMIO_OK && strcmp(out.port, "rp2") == 0 &&
	       !out.port_resized, "ports, pciehp: the first port whose current windows fit it (%s)", err.msg);
	tap_ok(check1(&b, "bars:mem64p:2G", NULL, &out, &err) == MMIO_OK && strcmp(out.port, "rp1") == 0,
	       "ports, pciehp: fits no port's current windows: pciehp re-sizes rp1's (%s)", err.msg);
	tap_ok(out.port_resized && out.port_after.present[TSD_PORT_WIN_PREF] &&
	       out.port_after.win[TSD_PORT_WIN_PREF].start == 34 * G &&
	       out.port_after.win[TSD_PORT_WIN_PREF].end == 36 * G,
	       "ports, pciehp: rp1's pref window becomes [34G, 36G) (the first 2G-aligned free block high)");
	tap_ok(out.bars[0].placed && out.bars[0].addr == 34 * G && out.bars[0].pref_window &&
	       out.bars[0].window == MMIO_WIN_HIGH, "ports, pciehp: the BAR at 34G");
	tap_is_str(win_name(&out, 0), "rp1:pref", "ports, pciehp: window name rp1:pref");
	tap_ok(check1(&b, "bars:mem64p:64G", NULL, &out, &err) == MMIO_E_NOSPACE,
	       "ports, pciehp: 64G does not fit even after re-sizing");
	tap_contains(err.msg, "behind port rp1", "ports, pciehp: rp1 named");
	tap_contains(err.msg, "pciehp released the port's prefetchable window and asked the root bus for 64 GiB",
		     "ports, pciehp: the reason says what pciehp asked for");

	const struct mmio_space *sp;
	uint64_t high_before = 0, high_after = 0;
	if (books_space_ref(&b, BOOKS_USE_ALL, &sp, &err) == MMIO_OK)
		high_before = sp->w[1].free_bytes;
	tap_ok(admit_port(&b, "bars:mem64p:2G", "a1", NULL, &err) == MMIO_OK && b.nattach == 1 &&
	       attach(&b, "a1")->e.port_resized, "ports, pciehp: admitted, the hold records the new windows");
	if (books_space_ref(&b, BOOKS_USE_ALL, &sp, &err) == MMIO_OK)
		high_after = sp->w[1].free_bytes;
	tap_is_u64(high_before - high_after, 2 * G, "ports, pciehp: the held window takes 2 GiB of the root's high window");
	tap_ok(check1(&b, "bars:mem64p:2G", NULL, &out, &err) == MMIO_OK && strcmp(out.port, "rp2") == 0 &&
	       out.bars[0].addr == 36 * G,
	       "ports, pciehp: the next 2G goes behind rp2, re-sized above rp1's new window (%s)", err.msg);
	books_free(&b);

	/* no ports at all */
	books_with_ports(&b, NULL, 0);
	tap_ok(books_port_mode(&b), "ports: ports_only without ports is port mode");
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out, &err) == MMIO_E_NOSPACE,
	       "ports: ports_only and no port: NOSPACE");
	tap_contains(err.msg, "no free hot-plug port", "ports: no free hot-plug port");
	tap_ok(reserve(&b, "bars:mem32:1M", "r1", &err) == MMIO_E_NOSPACE && b.nres == 0,
	       "ports: nor a reservation");
	tap_ok(check1(&b, "bars:mem32:1M", "rp1", &out, &err) == MMIO_E_NOTFOUND,
	       "ports: no port rp1");
	tap_contains(err.msg, "ports: none", "ports: lists none");
	books_free(&b);

	/* before the firmware: no port's windows are known -> the root bus as before */
	ports_make(ports);
	for (int i = 0; i < 3; i++) {
		ports[i].windows_known = false;
		memset(ports[i].present, 0, sizeof(ports[i].present));
	}
	books_with_ports(&b, ports, 3);
	tap_ok(!books_port_mode(&b), "ports: no programmed port: not port mode");
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out, &err) == MMIO_OK,
	       "ports: unprogrammed: placed on the root windows");
	tap_ok(out.port[0] == '\0' && out.bars[0].window == MMIO_WIN_LOW && out.bars[0].addr == 0xC0000000 &&
	       !out.bars[0].pref_window, "ports: at the bottom of the root low window, no port");
	tap_is_str(win_name(&out, 0), "low", "ports: window name low");
	tap_ok(check1(&b, "bars:mem64p:512M", NULL, &out, &err) == MMIO_OK && out.port[0] == '\0' &&
	       out.bars[0].window == MMIO_WIN_HIGH && out.bars[0].addr == 32 * G,
	       "ports: a 64-bit BAR to the root high window");
	tap_is_str(win_name(&out, 0), "high", "ports: window name high");
	tap_is_str(port_view(&b, "rp1").state, "unprogrammed", "ports view: unprogrammed");
	tap_ok(check1(&b, "bars:mem32:1M", "rp1", &out, &err) == MMIO_E_NOSPACE,
	       "ports: asked behind an unprogrammed port: NOSPACE");
	tap_contains(err.msg, "not programmed", "ports: the firmware has not programmed it");
	books_free(&b);

	/* one programmed port is enough for port mode */
	ports_make(ports);
	ports[0].windows_known = false;
	books_with_ports(&b, ports, 3);
	tap_ok(books_port_mode(&b), "ports: one programmed port: port mode");
	books_free(&b);

	/* not ports_only (pc with a pci-bridge): root placement, port windows used */
	ports_make(ports);
	books_with_ports(&b, ports, 3);
	b.layout.ports_only = false;
	b.layout_gen++;
	tap_ok(!books_port_mode(&b), "ports: not ports_only: not port mode");
	tap_ok(check1(&b, "bars:mem32:1M", NULL, &out, &err) == MMIO_OK && out.port[0] == '\0' &&
	       out.bars[0].addr == 0xC0000000, "ports: not ports_only: root placement");
	tap_ok(check1(&b, "bars:mem32:1M", "rp1", &out, &err) == MMIO_OK && strcmp(out.port, "rp1") == 0 &&
	       out.bars[0].addr == RP1_MEM, "ports: not ports_only, port asked for: behind it");
	books_free(&b);

	/* a non-prefetchable BAR never goes into a pref window */
	ports_make(ports);
	ports[1].win[TSD_PORT_WIN_PREF] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .flags = PREF_FLAGS,
							       .start = 0xF0000000, .end = 0xF4000000 };
	books_with_ports(&b, ports, 2);
	tap_ok(check1(&b, "bars:mem32:1M", "rp2", &out, &err) == MMIO_OK && !out.bars[0].pref_window &&
	       out.bars[0].addr == RP2_MEM, "ports: mem32 1 MiB behind rp2: its mem window");
	tap_is_str(win_name(&out, 0), "rp2:mem", "ports: window name rp2:mem");
	tap_ok(check1(&b, "bars:mem32:4M", "rp2", &out, &err) == MMIO_E_NOSPACE && !out.bars[0].placed,
	       "ports: mem32 4 MiB does not fit rp2's 2 MiB mem window, and not its 64 MiB pref one");
	tap_contains(err.msg, "bridge window", "ports: the reason names the bridge window");
	tap_ok(strstr(err.msg, "pref") == NULL, "ports: only the mem window was eligible");
	tap_ok(check1(&b, "bars:mem64:4M", "rp2", &out, &err) == MMIO_E_NOSPACE,
	       "ports: a non-prefetchable 64-bit BAR neither");
	tap_ok(check1(&b, "bars:mem64p:4M", "rp2", &out, &err) == MMIO_OK && out.bars[0].pref_window &&
	       out.bars[0].addr == 0xF0000000, "ports: a prefetchable 64-bit BAR does go there");
	tap_ok(check1(&b, "bars:mem32:4M", NULL, &out, &err) == MMIO_E_NOSPACE,
	       "ports: no port fits a 4 MiB mem32 (both mem windows are 2 MiB)");
	tap_contains(err.msg, "behind port rp1", "ports: both ports named (rp1 first)");
	tap_contains(err.msg, "rp2", "ports: both ports named (rp2)");
	books_free(&b);
}

static void test_ports_state(void)
{
	struct books b, b2;
	struct mmio_error err = { 0 };

	books_with_port_guest(&b);
	tap_ok(admit_port(&b, "bars:mem64p:512M", "a1", "rp2", &err) == MMIO_OK, "state: a1 behind rp2");
	tap_ok(reserve(&b, "bars:mem32:1M", "r1", &err) == MMIO_OK, "state: r1 behind rp1");
	struct json_object *o = state_books_to_json(&b);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	tap_contains(text, "\"port\":\"rp2\"", "state: the attach's port is saved");
	tap_contains(text, "\"pref_window\":true", "state: pref_window is saved");

	/* reload into fresh books over the same guest */
	struct json_object *back = json_tokener_parse(text);
	books_with_port_guest(&b2);
	tap_ok(back && state_books_from_json(back, &b2, &err) == MMIO_OK, "state: loads back");
	json_object_put(back);
	const struct books_attach *a = attach(&b2, "a1");
	tap_ok(a != NULL, "state: a1 restored");
	tap_is_str(a ? a->e.port : "", "rp2", "state: port rp2 restored");
	tap_ok(a && a->e.nbars == 1 && a->e.bars[0].placed && a->e.bars[0].pref_window &&
	       a->e.bars[0].window == MMIO_WIN_HIGH && a->e.bars[0].addr == RP2_PREF,
	       "state: BAR placed in the pref window (HIGH, 32 GiB) restored");
	tap_is_str(a ? win_name(&a->e, 0) : "", "rp2:pref", "state: window name rp2:pref after reload");
	tap_ok(b2.nres == 1 && strcmp(b2.res[0].devs[0].port, "rp1") == 0 &&
	       !b2.res[0].devs[0].bars[0].pref_window && b2.res[0].devs[0].bars[0].addr == RP1_MEM,
	       "state: the reservation's port rp1 and mem window restored");
	tap_is_str(port_view(&b2, "rp2").state, "held", "state: the reloaded attach holds rp2");
	tap_is_str(port_view(&b2, "rp2").by, "a1", "state: by a1");
	struct books_entry out;
	tap_ok(check1(&b2, "bars:mem64p:512M", NULL, &out, &err) == MMIO_E_NOSPACE,
	       "state: after reload no second 512 MiB device fits");

	/* a root-bus entry has no port and no pref_window in the file */
	struct books b3;
	books_with_guest(&b3);
	tap_ok(admit(&b3, "bars:mem32:1M", "r", &err) == MMIO_OK, "state: a root-bus attach");
	struct json_object *o3 = state_books_to_json(&b3);
	const char *t3 = json_object_to_json_string_ext(o3, JSON_C_TO_STRING_PLAIN);
	tap_ok(strstr(t3, "\"port\"") == NULL && strstr(t3, "pref_window") == NULL,
	       "state: a root-bus attach saves neither port nor pref_window");
	struct books b4;
	books_with_guest(&b4);
	back = json_tokener_parse(t3);
	tap_ok(back && state_books_from_json(back, &b4, &err) == MMIO_OK && b4.nattach == 1 &&
	       b4.attaches[0].e.port[0] == '\0' && !b4.attaches[0].e.bars[0].pref_window,
	       "state: and loads back with port \"\"");
	json_object_put(back);

	/* a port name too long for the books is refused */
	back = json_tokener_parse(
		"{\"attaches\": [{\"id\": \"x\", \"state\": \"attached\", \"device\": {\"spec\": \"s\", "
		"\"name\": \"n\", \"port\": \"p123456789012345678901234567890123456789012345678901234567890123\", "
		"\"bars\": []}}]}");
	tap_ok(back && state_books_from_json(back, &b4, &err) == MMIO_E_INVALID && b4.nattach == 1,
	       "state: a 64-byte port name is refused");
	json_object_put(back);

	json_object_put(o);
	json_object_put(o3);
	books_free(&b);
	books_free(&b2);
	books_free(&b3);
	books_free(&b4);
}

/* A multi-function slot: its functions' BARs sorted together, each BAR
 * numbered F*8+index for D-Bus, live BARs of function N (qdev "ID.N")
 * matched to their prediction, the slot saved and loaded back. */
static void test_slots(void)
{
	struct books b, b2;
	struct mmio_error err = { 0 };
	struct tsd_layout l;
	struct books_entry out;
	const char *spec = "bars:mem32:1M+bars:mem32:2M";
	struct mmio_device d = dev(spec);

	books_with_guest(&b);
	/* one after another the 2M needs the 2 MiB block, which the 1M took
	 * nothing of: fits; as one slot the 2M goes first too */
	tap_ok(books_check(&b, &d, &spec, 1, &out, &err) == MMIO_OK, "slot: 1M + 2M as one slot fits (%s)",
	       err.msg);
	tap_ok(out.nbars == 2 && out.bars[1].bar.fn == 1 && out.bars[1].addr == LOW + 2 * M &&
	       out.bars[0].addr == LOW + 1 * M, "slot: function 1's 2M at 0xE0200000, function 0's 1M below");
	tap_ok(books_bar_number(&out.bars[1].bar) == 8 && books_bar_number(&out.bars[0].bar) == 0,
	       "slot: D-Bus numbers F*8+index");

	tap_ok(admit(&b, spec, "s1", &err) == MMIO_OK, "slot: admitted");
	struct books_attach *a = attached_as(&b, "s1", "s1");
	struct tsd_live_bar bars[3] = {
		live_vga,
		{ .device = "s1", .guest_slot = "00:05.0",
		  .bar = { .index = 0, .kind = MMIO_BAR_MEM32, .size = 1 * M },
		  .addr = TSD_ADDR_UNASSIGNED, .source = TSD_SRC_TOOLSTACK },
		{ .device = "s1.1", .guest_slot = "00:05.1",
		  .bar = { .index = 0, .kind = MMIO_BAR_MEM32, .size = 2 * M },
		  .addr = TSD_ADDR_UNASSIGNED, .source = TSD_SRC_TOOLSTACK },
	};
	layout_make(&l, bars, 3);
	tap_ok(books_set_layout(&b, &l, &err) == MMIO_OK, "slot: layout with both functions unassigned");
	unsigned fn = 9;
	tap_ok(books_attach_of_device(&b, "s1.1", &fn) == a && fn == 1, "slot: qdev s1.1 is function 1 of s1");
	tap_ok(books_attach_of_device(&b, "s1", &fn) == a && fn == 0, "slot: qdev s1 is function 0");
	tap_ok(books_attach_of_device(&b, "s1.8", &fn) == NULL && books_attach_of_device(&b, "s10", &fn) == NULL,
	       "slot: s1.8 and s10 are not");
	tap_is_u64(low_view(&b).free, 0, "slot: both functions count at their predicted addresses");

	struct json_object *o = state_books_to_json(&b);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	struct json_object *back = json_tokener_parse(text);
	books_with_guest(&b2);
	tap_ok(back && state_books_from_json(back, &b2, &err) == MMIO_OK && b2.nattach == 1,
	       "slot: state loads back (%s)", err.msg);
	const struct books_attach *a2 = b2.nattach ? &b2.attaches[0] : NULL;
	tap_ok(a2 && a2->e.dev.nfn == 2 && a2->e.dev.fns[1].fn == 1 && a2->e.nbars == 2 &&
	       a2->e.bars[1].bar.fn == 1 && a2->e.bars[1].addr == LOW + 2 * M,
	       "slot: functions and each BAR's function restored");
	json_object_put(back);
	json_object_put(o);
	books_free(&b2);
	books_free(&b);

	/* a pciehp hold: the port's new windows survive a restart */
	struct tsd_port ports[3];
	ports_make(ports);
	for (int i = 0; i < 3; i++)
		ports[i].native_hotplug = true;
	books_with_ports(&b, ports, 3);
	tap_ok(admit_port(&b, "bars:mem64p:2G", "p1", NULL, &err) == MMIO_OK, "pciehp hold admitted (%s)",
	       err.msg);
	o = state_books_to_json(&b);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	tap_contains(text, "\"port_windows_after\"", "pciehp: the new windows are saved");
	back = json_tokener_parse(text);
	books_with_ports(&b2, ports, 3);
	tap_ok(back && state_books_from_json(back, &b2, &err) == MMIO_OK && b2.nattach == 1 &&
	       b2.attaches[0].e.port_resized &&
	       b2.attaches[0].e.port_after.win[TSD_PORT_WIN_PREF].start == 34 * G &&
	       b2.attaches[0].e.port_after.win[TSD_PORT_WIN_PREF].end == 36 * G &&
	       b2.attaches[0].e.port_after.present[TSD_PORT_WIN_MEM],
	       "pciehp: and restored (%s)", err.msg);
	json_object_put(back);
	json_object_put(o);
	books_free(&b2);
	books_free(&b);
}

int main(void)
{
	test_ports_place();
	test_ports_hold();
	test_ports_reserve();
	test_ports_edge();
	test_ports_named_on_root_guest();
	test_ports_multi_slot();
	test_ports_state();
	test_slots();
	tap_done();
	return tap_exit();
}
