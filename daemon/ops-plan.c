/* SPDX-License-Identifier: MIT */
/*
 * ops-plan.c — Plan: how to configure a guest so that devices fit later
 * (the planners are lib/plan.c).  Which planner applies is the guest's
 * back end's platform (tsd_driver.platform): QEMU's 64-bit hole for QEMU
 * guests (QMP, libvirt), Xen's mmio_hole for Xen HVM guests (libxl); with
 * no guest both are planned, since the admin asks before choosing.
 */
#include "config.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* The 32-bit hole of any QEMU machine cannot pass 3.75 GiB: RAM starts at
 * 0, the I/O APIC, LAPIC and firmware sit at the top. */
#define QEMU_MAX_LOW_BYTES UINT64_C(0xF0000000)

/* The Xen HVM boot devices xl creates by default (qemu-xen, no vif, no
 * USB), in devfn order: PIIX3 IDE 00:01.1 (BAR4, 16 I/O ports), Cirrus VGA
 * 00:02.0 (32 MiB prefetchable framebuffer, 4 KiB registers) and the Xen
 * platform device 00:03.0 (256 I/O ports, 16 MiB prefetchable).  Used when
 * Plan has no live guest to take the boot devices from. */
static const struct mmio_device xen_default_boot[] = {
	{ .name = "piix3-ide", .nbars = 1,
	  .bars = { { .index = 4, .kind = MMIO_BAR_IO, .size = 16 } } },
	{ .name = "cirrus-vga", .nbars = 2,
	  .bars = { { .index = 0, .kind = MMIO_BAR_MEM32, .prefetch = true, .size = 32 * MMIO_1M },
		    { .index = 1, .kind = MMIO_BAR_MEM32, .size = 4096 } } },
	{ .name = "xen-platform", .nbars = 2,
	  .bars = { { .index = 0, .kind = MMIO_BAR_IO, .size = 256 },
		    { .index = 1, .kind = MMIO_BAR_MEM32, .prefetch = true, .size = 16 * MMIO_1M } } },
};
#define XEN_DEFAULT_MEMORY_MIB 4096u
#define XEN_DEFAULT_VIDEORAM_KIB 8192u   /* Cirrus */

static void reason_append(struct ops_plan *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason_append(struct ops_plan *o, const char *fmt, ...)
{
	size_t off = strlen(o->reason);
	va_list ap;

	if (off >= sizeof(o->reason) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(o->reason + off, sizeof(o->reason) - off, fmt, ap);
	va_end(ap);
}

/* A guest's live devices (one mmio_device per toolstack device id, in the
 * order the layout lists them) appended to devs[*n..cap). */
static void live_devices(const struct guest *g, struct mmio_device *devs, size_t *n, size_t cap)
{
	const struct tsd_layout *l = &g->books.layout;

	for (size_t i = 0; i < l->nbars; i++) {
		const struct tsd_live_bar *lb = &l->bars[i];
		struct mmio_device *d = NULL;
		for (size_t k = 0; k < *n; k++)
			if (strcmp(devs[k].name, lb->device) == 0)
				d = &devs[k];
		if (!d) {
			if (*n >= cap)
				continue;
			d = &devs[(*n)++];
			memset(d, 0, sizeof(*d));
			snprintf(d->name, sizeof(d->name), "%s", lb->device);
		}
		if (d->nbars < MMIO_MAX_BARS)
			d->bars[d->nbars++] = lb->bar;
	}
}

/* OVMF pads a q35 root port without a hint with a 512 MiB 64-bit
 * prefetchable window (measured with OVMF 2022.11). */
#define OVMF_PORT_PREF64_DEFAULT (UINT64_C(512) << 20)

/* OVMF guests: what OVMF must place in its 64-bit aperture at boot (the
 * guest's boot devices' 64-bit BARs, its ports' prefetchable windows, the
 * new ports' reservations) against where it opens it (mmio_plan_ovmf). */
static void plan_ovmf(struct ops_plan *o, const struct mmio_device *devs, size_t n,
		      const struct guest *g)
{
	const struct tsd_layout *l = g ? &g->books.layout : NULL;
	uint64_t boot64 = 0, hole64 = o->q.default_ok ? o->q.hole64_default : o->q.hole64_size;

	for (size_t i = 0; l && i < l->nbars; i++)
		if (l->bars[i].arrival == TSD_ARRIVAL_BOOT && l->bars[i].bar.kind == MMIO_BAR_MEM64 &&
		    l->bars[i].bar.index != MMIO_BAR_ROM)
			boot64 += l->bars[i].bar.size;
	for (size_t i = 0; l && i < l->nports; i++)
		if (l->ports[i].windows_known && l->ports[i].present[TSD_PORT_WIN_PREF])
			boot64 += l->ports[i].win[TSD_PORT_WIN_PREF].end -
				  l->ports[i].win[TSD_PORT_WIN_PREF].start;
	for (size_t i = 0; o->machine == MMIO_QEMU_Q35 && i < n; i++) {
		struct mmio_port_plan pp;
		mmio_plan_port(&devs[i], &pp);
		boot64 += pp.pref64_reserve ? pp.pref64_reserve : OVMF_PORT_PREF64_DEFAULT;
	}
	/* QEMU reserves AMD's HyperTransport hole for an AMD CPU with >= 40
	 * phys-bits on 7.1+ machine types; the layout tells neither vendor nor
	 * machine version, so with >= 40 bits the advice assumes it may be
	 * (then it must do for OVMF 2022.11 and 2025.02 alike), unless the
	 * 64-bit window QEMU showed after the firmware ran tells which
	 * aperture rule the guest's OVMF followed. */
	unsigned pb = l ? l->phys_bits : 0;
	bool ht = pb == 0 || pb >= 40;
	enum mmio_ovmf_rule rule = MMIO_OVMF_RULE_UNKNOWN;
	for (size_t i = 0; l && rule == MMIO_OVMF_RULE_UNKNOWN && i < l->nwin; i++)
		if (l->win_source[i] == TSD_SRC_TOOLSTACK && l->win[i].start >= MMIO_4G)
			rule = mmio_ovmf_rule_seen(l->win[i].start, pb, ht);
	mmio_plan_ovmf(boot64, hole64, 0, pb, ht, rule, &o->ovmf);
	o->have_ovmf = true;
	reason_append(o, "  %s%s", g ? "" : "If the guest boots OVMF (UEFI): ", o->ovmf.reason);
	if (o->ovmf.libvirt_xml[0] && (!g || g->bi->drv->config_form == TSD_CONFIG_LIBVIRT_XML))
		reason_append(o, " In libvirt's domain XML a <qemu:commandline> passes it on "
			      "(<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>).");
}

static enum mmio_status plan_qemu(struct ops_plan *o, const struct mmio_device *devs, size_t n,
				  const struct guest *g, const char *firmware, struct mmio_error *err)
{
	/* the 64-bit hole must hold what the guest has as well as the new devices */
	struct mmio_device *all = calloc(n + 2 * OPS_MAX_DEVICES, sizeof(*all));
	size_t k = 0;
	enum mmio_status st;
	char sz[32];

	if (!all)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	if (g)
		live_devices(g, all, &k, 2 * OPS_MAX_DEVICES);
	size_t nlive = k;
	memcpy(all + k, devs, n * sizeof(*devs));
	k += n;
	st = mmio_plan_qemu(o->machine, all, k, &o->q, err);
	free(all);
	if (st != MMIO_OK)
		return st;
	o->have_qemu = true;
	const char *host = o->machine == MMIO_QEMU_Q35 ? "q35-pcihost" : "i440FX-pcihost";
	const char *root = o->machine == MMIO_QEMU_Q35 ? "pcie-root" : "pci-root";
	/* only when the default is too small: setting a smaller hole would
	 * take space away from the guest */
	if (!o->q.default_ok) {
		snprintf(o->qemu_args, sizeof(o->qemu_args), "-global %s.pci-hole64-size=%" PRIu64 "G",
			 host, o->q.hole64_size >> 30);
		snprintf(o->libvirt_xml, sizeof(o->libvirt_xml),
			 "<controller type='pci' index='0' model='%s'>\n"
			 "  <pcihole64 unit='GiB'>%" PRIu64 "</pcihole64>\n"
			 "</controller>", root, o->q.hole64_size >> 30);
	}
	bool libvirt = g && g->bi->drv->config_form == TSD_CONFIG_LIBVIRT_XML;
	if (g) {
		reason_append(o, "QEMU (%s), counting the %zu device(s) guest %s has: ",
			      o->machine == MMIO_QEMU_Q35 ? "q35" : "pc", nlive,
			      g->info.name[0] ? g->info.name : g->id);
	} else {
		reason_append(o, "QEMU (%s): ", o->machine == MMIO_QEMU_Q35 ? "q35" : "pc");
	}
	reason_append(o, "%s", o->q.reason);
	/* Behind hot-plug ports the port's own windows bound each device:
	 * what to reserve per port (one device each). */
	if (o->machine == MMIO_QEMU_Q35) {
		size_t off = 0, loff = 0;
		char ctrl[128], dev[512], over[1536] = "";
		/* libvirt: new controllers after the guest's highest port index
		 * (its aliases are "pci.INDEX") */
		unsigned next = 1;
		for (size_t i = 0; g && i < g->books.layout.nports; i++) {
			unsigned idx;
			if (sscanf(g->books.layout.ports[i].id, "pci.%u", &idx) == 1 && idx + 1 > next)
				next = idx + 1;
		}
		reason_append(o, "  Each device goes behind its own pcie-root-port, whose windows the "
			      "firmware sizes at boot and Linux's ACPI hot-plug never grows: start one "
			      "port per device with");
		for (size_t i = 0; i < n; i++) {
			struct mmio_port_plan pp;
			mmio_plan_port(&devs[i], &pp);
			reason_append(o, "%s -device pcie-root-port,id=...%s (for %s)", i ? ";" : "",
				      pp.qemu_props, devs[i].name);
			if (off < sizeof(o->port_args))
				off += (size_t)snprintf(o->port_args + off, sizeof(o->port_args) - off,
							"%s-device pcie-root-port,id=hp%zu,chassis=%zu%s",
							i ? " " : "", i + 1, 100 + i, pp.qemu_props);
			mmio_plan_port_libvirt(&pp, next + (unsigned)i, ctrl, sizeof(ctrl), dev, sizeof(dev));
			if (loff < sizeof(o->libvirt_port_xml))
				loff += (size_t)snprintf(o->libvirt_port_xml + loff,
							 sizeof(o->libvirt_port_xml) - loff, "%s%s",
							 i ? "\n" : "", ctrl);
			if (dev[0] && strlen(over) + strlen(dev) + 4 < sizeof(over))
				snprintf(over + strlen(over), sizeof(over) - strlen(over), "\n  %s", dev);
		}
		if (over[0] && loff < sizeof(o->libvirt_port_xml))
			snprintf(o->libvirt_port_xml + loff, sizeof(o->libvirt_port_xml) - loff,
				 "\n<qemu:override>%s\n</qemu:override>", over);
		reason_append(o, " (a reserved window is aligned only to 1 MiB, so each reserves the "
			      "BARs plus one largest BAR of slack).");
		if (libvirt)
			reason_append(o, "  In libvirt's domain XML: one <controller type='pci' "
				      "model='pcie-root-port'/> per device, its reservations as QEMU "
				      "properties in <qemu:override> (libvirt has no element for them; "
				      "<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>).");
	}
	for (unsigned i = 0; g && i < g->books.layout.nwin; i++) {
		const struct mmio_window *w = &g->books.layout.win[i];
		if (w->kind != MMIO_WIN_HIGH)
			continue;
		mmio_size_format(w->end - w->start, sz, sizeof(sz));
		reason_append(o, "  The guest's 64-bit window now is %s%s.", sz,
			      o->q.hole64_need <= w->end - w->start ? ", which is enough" :
			      ", too small: the setting takes effect when the guest is restarted");
		break;
	}
	/* OVMF's aperture: for an OVMF guest, for one whose firmware the back
	 * end cannot tell, and without a guest unless told it is SeaBIOS. */
	bool ovmf = firmware[0] ? strcmp(firmware, "ovmf") == 0 :
		    !g || g->books.layout.firmware != TSD_FW_SEABIOS;
	if (ovmf)
		plan_ovmf(o, devs, n, g);
	return MMIO_OK;
}

static int plan_xen(struct ops_plan *o, const struct mmio_device *devs, size_t n,
		    const struct guest *g, const struct ops_plan_req *opt, struct ops_error *err)
{
	struct mmio_error e = { 0 };
	struct mmio_device boot[2 * OPS_MAX_DEVICES];
	size_t nboot = 0;
	enum mmio_xen_rule rule = MMIO_XEN_4_17_4_PLUS;
	uint32_t mib = opt->have_xen_memory ? opt->xen_memory_mib : XEN_DEFAULT_MEMORY_MIB;
	enum mmio_status st;

	if (opt->xen_version && opt->xen_version[0]) {
		bool found = false;
		for (int r = MMIO_XEN_4_17_0; r <= MMIO_XEN_4_21_PLUS; r++)
			if (strcmp(opt->xen_version, mmio_xen_rule_name((enum mmio_xen_rule)r)) == 0)
				rule = (enum mmio_xen_rule)r, found = true;
		if (!found)
			return ops_fail(err, OPS_E_INVALID_ARGS,
					"option \"xen-version\": \"%s\" is not one of %s, %s, %s",
					opt->xen_version, mmio_xen_rule_name(MMIO_XEN_4_17_0),
					mmio_xen_rule_name(MMIO_XEN_4_17_4_PLUS),
					mmio_xen_rule_name(MMIO_XEN_4_21_PLUS));
	}
	if (mib < 64 || mib > (UINT32_C(1) << 24))
		return ops_fail(err, OPS_E_INVALID_ARGS,
				"option \"xen-memory-mib\": %" PRIu32 " MiB is out of range (64..16777216)", mib);
	/* the guest's present devices are its boot devices as far as mmiod
	 * can tell; with none known, xl's defaults */
	if (g)
		live_devices(g, boot, &nboot, sizeof(boot) / sizeof(boot[0]));
	bool from_guest = nboot > 0;
	if (!nboot) {
		nboot = sizeof(xen_default_boot) / sizeof(xen_default_boot[0]);
		memcpy(boot, xen_default_boot, sizeof(xen_default_boot));
	}
	struct mmio_plan_params p = {
		.boot = boot, .nboot = nboot, .later = devs, .nlater = n,
		.max_memkb = (uint64_t)mib * 1024, .video_memkb = XEN_DEFAULT_VIDEORAM_KIB,
		.rule = rule,
	};
	st = mmio_plan_xen(&p, &o->x, &e);
	if (st != MMIO_OK)
		return ops_fail_model(err, &e);
	o->have_xen = true;
	if (o->x.verdict == MMIO_PLAN_NEEDS_HOLE)
		snprintf(o->xl_cfg, sizeof(o->xl_cfg), "mmio_hole = %u", o->x.hole_mb);
	if (o->reason[0])
		reason_append(o, "\n");
	reason_append(o, "Xen %s (maxmem %" PRIu32 " MiB%s, %s boot devices): %s",
		      mmio_xen_rule_name(rule), mib, opt->have_xen_memory ? "" : " assumed",
		      from_guest ? "the guest's" : "xl's default", o->x.reason);
	return 0;
}

int ops_plan(struct daemon *d, const struct ops_plan_req *req, struct ops_plan *o,
	     struct ops_error *err)
{
	struct mmio_device devs[OPS_MAX_DEVICES];
	struct mmio_error e = { 0 };
	struct guest *g = NULL;
	const char *machine = req->machine ? req->machine : "";
	size_t n = 0;

	assert(d && req && o);
	memset(o, 0, sizeof(*o));
	if (req->guest && req->guest[0] && !(g = daemon_guest_lookup(d, req->guest, err)))
		return -1;
	if (ops_resolve_devices(d, req->devices, devs, &n, err) < 0)
		return -1;
	if (!machine[0] && g && g->books.layout.ports_only)
		o->machine = MMIO_QEMU_Q35;     /* the guest's back end knows (QMP: q35) */
	else if (!machine[0] || strcmp(machine, "pc") == 0 || strcmp(machine, "i440fx") == 0)
		o->machine = MMIO_QEMU_I440FX;
	else if (strcmp(machine, "q35") == 0)
		o->machine = MMIO_QEMU_Q35;
	else
		return ops_fail(err, OPS_E_INVALID_ARGS,
				"option \"machine\": \"%s\" is not pc, i440fx or q35", machine);
	/* With a guest its back end's platform decides which planner applies;
	 * without one both are planned (Xen with xl's defaults unless the
	 * xen-* options say otherwise). */
	bool xen_guest = g && g->bi->drv->platform == TSD_PLATFORM_XEN_HVM;
	bool want_xen = g ? xen_guest : true;
	bool want_qemu = !xen_guest;
	const char *firmware = req->firmware ? req->firmware : "";
	if (firmware[0] && strcmp(firmware, "ovmf") != 0 && strcmp(firmware, "seabios") != 0)
		return ops_fail(err, OPS_E_INVALID_ARGS,
				"option \"firmware\": \"%s\" is not seabios or ovmf", firmware);
	if (want_qemu && plan_qemu(o, devs, n, g, firmware, &e) != MMIO_OK)
		return ops_fail_model(err, &e);
	if (want_xen && plan_xen(o, devs, n, g, req, err) < 0)
		return -1;
	/* Possible = some planned toolstack can take the devices.  QEMU's
	 * 64-bit hole is a setting that can always grow; its 32-bit hole
	 * cannot pass QEMU_MAX_LOW_BYTES, whatever the machine. */
	bool qemu_ok = o->have_qemu && o->q.low_need <= QEMU_MAX_LOW_BYTES;
	bool xen_ok = o->have_xen && o->x.verdict != MMIO_PLAN_IMPOSSIBLE;
	o->possible = qemu_ok || xen_ok;
	if (o->have_qemu && !qemu_ok) {
		char need[32];
		mmio_size_format(o->q.low_need, need, sizeof(need));
		reason_append(o, "\nQEMU: %s of 32-bit BARs cannot fit below 4 GiB on any machine.", need);
	}
	return 0;
}
