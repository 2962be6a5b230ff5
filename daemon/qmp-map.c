/* SPDX-License-Identifier: MIT */
/*
 * qmp-map.c — query-pci and QOM replies -> a layout's BARs, hot-plug ports
 * and free slots (see qmp-map.h; the windows are in qmp-map-windows.c, the
 * device specs in qmp-map-spec.c).
 *
 * Facts these mappings rest on, checked on QEMU 7.2.22 (Debian 7.2+dfsg-7):
 *  - query-pci prints "address" as a signed int64; an unmapped BAR
 *    (PCI_BAR_UNMAPPED, all-ones) reads -1 for 32-bit, 64-bit and I/O BARs
 *    alike.  Before the firmware ran (-S) every BAR is -1; after SeaBIOS,
 *    only ROM BARs stay -1 (SeaBIOS does not enable ROM decode), and a
 *    hot-plugged device stays -1 until a guest OS programs and enables it.
 *  - "prefetch" / "mem_type_64" appear only on memory regions; the ROM
 *    (bar 6) is reported with prefetch false.
 *  - class_info.desc is missing for classes QEMU has no name for
 *    (pci-testdev, nvme), so nothing here depends on it.
 *  - Bridges carry "pci_bridge": {"bus": {...windows...}, "devices": [...]}
 *    ("devices" is absent for an empty bridge).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp-map.h"

/* ---- query-pci ------------------------------------------------------------ */

struct pci_acc {
	struct tsd_live_bar *bars;
	size_t n, cap;
	struct qmp_pci_slots *slots;
	struct tsd_port *ports;
	size_t nports, capports;
};

static bool jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static enum mmio_status pci_region(json_object *reg, const char *dev, const char *slot,
				   unsigned pci_class, struct pci_acc *acc, struct mmio_error *err)
{
	int64_t idx, size, addr;
	const char *type = jstr(reg, "type");

	if (!jint(reg, "bar", &idx) || idx < 0 || idx > MMIO_BAR_ROM)
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: %s: region without a valid \"bar\"",
				      slot);
	/* BAR sizes are powers of two by construction (the low bits of a BAR
	 * are hard-wired); anything else is a damaged reply. */
	if (!jint(reg, "size", &size) || size <= 0 || !mmio_is_pow2((uint64_t)size))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: %s BAR%d: bad \"size\"", slot,
				      (int)idx);
	if (!type || (strcmp(type, "io") != 0 && strcmp(type, "memory") != 0))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: %s BAR%d: bad \"type\"", slot,
				      (int)idx);
	if (!jint(reg, "address", &addr))
		addr = -1;
	if (acc->n == acc->cap) {
		size_t nc = acc->cap ? acc->cap * 2 : 32;
		struct tsd_live_bar *nb = realloc(acc->bars, nc * sizeof(*nb));
		if (!nb)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		acc->bars = nb;
		acc->cap = nc;
	}
	struct tsd_live_bar *b = &acc->bars[acc->n++];
	memset(b, 0, sizeof(*b));
	snprintf(b->device, sizeof(b->device), "%s", dev);
	snprintf(b->guest_slot, sizeof(b->guest_slot), "%s", slot);
	b->bar.index = (uint8_t)idx;
	b->bar.size = (uint64_t)size;
	if (strcmp(type, "io") == 0) {
		b->bar.kind = MMIO_BAR_IO;
	} else if (idx == MMIO_BAR_ROM) {
		/* QEMU says prefetch false for the ROM; the model (like Linux)
		 * calls it a prefetchable 32-bit BAR. */
		b->bar.kind = MMIO_BAR_MEM32;
		b->bar.prefetch = true;
	} else {
		b->bar.kind = jbool(reg, "mem_type_64") ? MMIO_BAR_MEM64 : MMIO_BAR_MEM32;
		b->bar.prefetch = jbool(reg, "prefetch");
	}
	/* All-ones is PCI_BAR_UNMAPPED (-1 as QEMU prints it).  0xffffffff is
	 * accepted too for a 32-bit BAR or I/O, which no real assignment can
	 * produce (BARs are naturally aligned). */
	uint64_t a = (uint64_t)addr;
	if (addr == -1 || (b->bar.kind != MMIO_BAR_MEM64 && a == UINT32_MAX))
		b->addr = TSD_ADDR_UNASSIGNED;
	else
		b->addr = a;
	b->source = TSD_SRC_TOOLSTACK;
	b->pci_class = (uint16_t)pci_class;
	return MMIO_OK;
}

/* One forwarding range of pci_bridge.bus: {"base": B, "limit": L}, L
 * inclusive (QEMU's pci_bridge_get_limit ORs in the granule).  A bridge
 * that does not forward the type reads limit < base (QEMU prints what the
 * registers hold: a disabled I/O window is base 0xf000, limit 0x0fff). */
static bool bridge_range(json_object *bus, const char *key, uint64_t *start, uint64_t *end)
{
	json_object *r;
	int64_t base, limit;

	if (!json_object_object_get_ex(bus, key, &r) || !jint(r, "base", &base) ||
	    !jint(r, "limit", &limit) || base < 0 || limit < base || limit == INT64_MAX)
		return false;
	*start = (uint64_t)base;
	*end = (uint64_t)limit + 1;
	return true;
}

void qmp_map_port_windows(json_object *bus, struct tsd_port *p)
{
	int64_t secondary = 0;
	uint64_t s, e;

	memset(p->present, 0, sizeof(p->present));
	memset(p->win, 0, sizeof(p->win));
	memset(p->win_source, 0, sizeof(p->win_source));
	/* Before the firmware ran (-S) the bus is not numbered and the
	 * windows are whatever reset left: not the guest's. */
	p->windows_known = jint(bus, "secondary", &secondary) && secondary > 0 && secondary < 256;
	p->secondary = p->windows_known ? (uint8_t)secondary : 0;
	if (!p->windows_known)
		return;
	if (bridge_range(bus, "io_range", &s, &e) && e <= 0x10000) {
		p->present[TSD_PORT_WIN_IO] = true;
		p->win[TSD_PORT_WIN_IO] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = s, .end = e };
	}
	if (bridge_range(bus, "memory_range", &s, &e) && e <= MMIO_4G) {
		p->present[TSD_PORT_WIN_MEM] = true;
		p->win[TSD_PORT_WIN_MEM] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = s, .end = e };
	}
	if (bridge_range(bus, "prefetchable_range", &s, &e)) {
		p->present[TSD_PORT_WIN_PREF] = true;
		p->win[TSD_PORT_WIN_PREF] = (struct mmio_window){
			.kind = e <= MMIO_4G ? MMIO_WIN_LOW : MMIO_WIN_HIGH,
			.flags = MMIO_WF_PREFETCH | MMIO_WF_MEM64, .start = s, .end = e,
		};
	}
}

void qmp_map_port_io_model(struct tsd_layout *l, size_t i)
{
	struct tsd_port *p;

	if (i >= l->nports)
		return;
	p = &l->ports[i];
	if (!p->windows_known || p->present[TSD_PORT_WIN_IO])
		return;
	for (uint64_t at = MMIO_X86_MIN_IO; at + 0x1000 <= 0x10000; at += 0x1000) {
		uint64_t end = at + 0x1000;
		bool inside = false, taken = false;

		for (unsigned w = 0; w < l->nwin && !inside; w++)
			inside = l->win[w].kind == MMIO_WIN_IO && l->win[w].start <= at &&
				 end <= l->win[w].end;
		for (size_t b = 0; inside && !taken && b < l->nbars; b++) {
			const struct tsd_live_bar *lb = &l->bars[b];
			taken = lb->bar.kind == MMIO_BAR_IO && lb->addr != TSD_ADDR_UNASSIGNED &&
				lb->addr < end && lb->addr + lb->bar.size > at;
		}
		for (size_t q = 0; inside && !taken && q < l->nports; q++) {
			const struct mmio_window *w = &l->ports[q].win[TSD_PORT_WIN_IO];
			taken = q != i && l->ports[q].present[TSD_PORT_WIN_IO] && w->start < end &&
				w->end > at;
		}
		if (inside && !taken) {
			p->present[TSD_PORT_WIN_IO] = true;
			p->win[TSD_PORT_WIN_IO] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = at,
									.end = end };
			p->win_source[TSD_PORT_WIN_IO] = TSD_SRC_MODEL;
			return;
		}
	}
}

bool qmp_map_bridge_multi_slot(unsigned vendor, unsigned device)
{
	/* QEMU 7.2's conventional PCI bridges: pci-bridge (1b36:0001),
	 * pcie-pci-bridge (1b36:000e), i82801b11-bridge (8086:244e).  Every
	 * other bridge on a root bus is a PCIe port (pcie-root-port 1b36:000c,
	 * ioh3420 8086:3420, ...) with one slot behind it. */
	return (vendor == 0x1b36 && (device == 0x0001 || device == 0x000e)) ||
	       (vendor == 0x8086 && device == 0x244e);
}

bool qmp_map_bridge_downstream(unsigned vendor, unsigned device)
{
	/* QEMU 7.2's xio3130-downstream (TI XIO3130, 104c:8233): what
	 * libvirt's pcie-switch-downstream-port is. */
	return vendor == 0x104c && device == 0x8233;
}

static enum mmio_status add_port(struct pci_acc *acc, const char *id, const char *slot,
				 json_object *br, bool empty, unsigned vendor, unsigned device,
				 struct mmio_error *err)
{
	json_object *bus;

	if (acc->nports == acc->capports) {
		size_t nc = acc->capports ? acc->capports * 2 : 8;
		struct tsd_port *np = realloc(acc->ports, nc * sizeof(*np));
		if (!np)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		acc->ports = np;
		acc->capports = nc;
	}
	struct tsd_port *p = &acc->ports[acc->nports++];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->guest_slot, sizeof(p->guest_slot), "%s", slot);
	p->empty = empty;
	p->multi_slot = qmp_map_bridge_multi_slot(vendor, device);
	if (json_object_object_get_ex(br, "bus", &bus) && json_object_is_type(bus, json_type_object))
		qmp_map_port_windows(bus, p);
	return MMIO_OK;
}

static enum mmio_status pci_devices(json_object *devs, int depth, struct pci_acc *acc,
				    struct mmio_error *err)
{
	if (!json_object_is_type(devs, json_type_array))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: \"devices\" is not a list");
	if (depth > 16)
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: bridges nested too deep");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *dev = json_object_array_get_idx(devs, i), *regions, *br;
		int64_t bus, slot, fn;
		char bdf[16], name[64];

		if (!json_object_is_type(dev, json_type_object) || !jint(dev, "bus", &bus) ||
		    !jint(dev, "slot", &slot) || !jint(dev, "function", &fn) || bus < 0 ||
		    bus > 255 || slot < 0 || slot > 31 || fn < 0 || fn > 7)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "query-pci: device %zu without bus/slot/function", i);
		snprintf(bdf, sizeof(bdf), "%02x:%02x.%x", (unsigned)bus, (unsigned)slot,
			 (unsigned)fn);
		const char *qid = jstr(dev, "qdev_id");
		snprintf(name, sizeof(name), "%s", qid && *qid ? qid : bdf);
		if (bus == 0 && acc->slots)
			acc->slots->root_used |= UINT32_C(1) << slot;
		json_object *ci;
		int64_t cls = 0;
		if (json_object_object_get_ex(dev, "class_info", &ci))
			jint(ci, "class", &cls);
		if (json_object_object_get_ex(dev, "regions", &regions)) {
			if (!json_object_is_type(regions, json_type_array))
				return mmio_error_set(err, MMIO_E_INVALID,
						      "query-pci: %s: \"regions\" is not a list", bdf);
			for (size_t r = 0; r < json_object_array_length(regions); r++) {
				enum mmio_status st = pci_region(json_object_array_get_idx(regions, r),
								 name, bdf, (unsigned)cls & 0xffff, acc,
								 err);
				if (st != MMIO_OK)
					return st;
			}
		}
		if (json_object_object_get_ex(dev, "pci_bridge", &br)) {
			json_object *sub;
			bool has_devs = json_object_object_get_ex(br, "devices", &sub) &&
					json_object_is_type(sub, json_type_array) &&
					json_object_array_length(sub) > 0;
			/* An empty bridge with an id is where q35 hot-plugs
			 * (pcie-root-port); device_add needs the id as bus=. */
			if (!has_devs && qid && *qid && acc->slots &&
			    acc->slots->nports < QMP_MAX_PORTS)
				snprintf(acc->slots->ports[acc->slots->nports++],
					 sizeof(acc->slots->ports[0]), "%s", qid);
			/* Bridges on the root bus with an id are the ports a device
			 * can be hot-plugged behind; their windows bound it.  So
			 * are a PCIe switch's downstream ports, wherever the
			 * switch sits (a Linux 6.1 q35 guest places a device
			 * plugged there inside the downstream port's windows). */
			json_object *idobj;
			int64_t ven = 0, did = 0;
			if (json_object_object_get_ex(dev, "id", &idobj)) {
				jint(idobj, "vendor", &ven);
				jint(idobj, "device", &did);
			}
			if (qid && *qid && ((depth == 0 && bus == 0) ||
					    qmp_map_bridge_downstream((unsigned)ven & 0xffff,
								      (unsigned)did & 0xffff))) {
				enum mmio_status st = add_port(acc, qid, bdf, br, !has_devs,
							       (unsigned)ven & 0xffff,
							       (unsigned)did & 0xffff, err);
				if (st != MMIO_OK)
					return st;
			}
			if (has_devs) {
				enum mmio_status st = pci_devices(sub, depth + 1, acc, err);
				if (st != MMIO_OK)
					return st;
			}
		}
	}
	return MMIO_OK;
}

enum mmio_status qmp_map_pci(json_object *reply, struct tsd_layout *l,
			     struct qmp_pci_slots *slots, struct mmio_error *err)
{
	json_object *ret = reply;
	struct pci_acc acc = { .slots = slots };

	if (json_object_is_type(reply, json_type_object) &&
	    !json_object_object_get_ex(reply, "return", &ret))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: no \"return\"");
	if (!json_object_is_type(ret, json_type_array))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: the reply is not a list of buses");
	if (slots)
		memset(slots, 0, sizeof(*slots));
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		json_object *bus = json_object_array_get_idx(ret, i), *devs;
		if (!json_object_is_type(bus, json_type_object) ||
		    !json_object_object_get_ex(bus, "devices", &devs)) {
			free(acc.bars);
			free(acc.ports);
			return mmio_error_set(err, MMIO_E_INVALID, "query-pci: bus %zu without devices", i);
		}
		enum mmio_status st = pci_devices(devs, 0, &acc, err);
		if (st != MMIO_OK) {
			free(acc.bars);
			free(acc.ports);
			return st;
		}
	}
	free(l->bars);
	l->bars = acc.bars;
	l->nbars = acc.n;
	free(l->ports);
	l->ports = acc.ports;
	l->nports = acc.nports;
	return MMIO_OK;
}

size_t qmp_map_bus_children(json_object *qom_list, unsigned *idx, size_t max)
{
	size_t n = 0;

	if (!qom_list || !json_object_is_type(qom_list, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(qom_list); i++) {
		const char *name = jstr(json_object_array_get_idx(qom_list, i), "name");
		unsigned v;
		char tail;
		if (name && sscanf(name, "child[%u%c", &v, &tail) == 2 && tail == ']') {
			if (n < max)
				idx[n] = v;
			n++;
		}
	}
	return n;
}

bool qmp_map_rom_region(json_object *qom_list, char *name, size_t len)
{
	static const char suffix[] = ".rom[0]";

	if (!qom_list || !json_object_is_type(qom_list, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(qom_list); i++) {
		json_object *p = json_object_array_get_idx(qom_list, i);
		const char *n = jstr(p, "name"), *t = jstr(p, "type");
		size_t l = n ? strlen(n) : 0;
		/* pci_add_option_rom() names it "<type>.rom" ("vga.rom" for VGA) */
		if (t && strcmp(t, "child<memory-region>") == 0 && l > sizeof(suffix) - 1 &&
		    strcmp(n + l - (sizeof(suffix) - 1), suffix) == 0 && l < len) {
			memcpy(name, n, l + 1);
			return true;
		}
	}
	return false;
}

size_t qmp_map_bar_regions(json_object *qom_list, char (*names)[64], size_t max)
{
	size_t n = 0;

	if (!qom_list || !json_object_is_type(qom_list, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(qom_list); i++) {
		json_object *p = json_object_array_get_idx(qom_list, i);
		const char *nm = jstr(p, "name"), *t = jstr(p, "type");
		if (!nm || !t || strcmp(t, "child<memory-region>") != 0 || strlen(nm) >= 64 ||
		    strstr(nm, ".rom[") || strncmp(nm, "bus master", 10) == 0)
			continue;
		if (n < max)
			snprintf(names[n], 64, "%s", nm);
		n++;
	}
	return n < max ? n : max;
}

/* Where the memory region of BAR i (of l) was last mapped: the device's
 * region of the BAR's size whose address lies where such a BAR can (64-bit
 * BARs may lie above 4 GiB, others not), the k-th one of that size for the
 * k-th BAR of that size; 0 when none (never mapped, not known). */
static uint64_t bar_region_addr(const struct tsd_layout *l, size_t i, const struct qmp_qom_dev *d)
{
	const struct tsd_live_bar *b = &l->bars[i];
	unsigned rank = 0;

	for (size_t j = 0; j < l->nbars; j++)
		if (j < i && strcmp(l->bars[j].device, b->device) == 0 &&
		    strcmp(l->bars[j].guest_slot, b->guest_slot) == 0 &&
		    l->bars[j].bar.index != MMIO_BAR_ROM && l->bars[j].bar.kind != MMIO_BAR_IO &&
		    l->bars[j].bar.size == b->bar.size)
			rank++;
	for (unsigned m = 0; m < d->nmr && m < QMP_QOM_MAX_MRS; m++) {
		const struct qmp_qom_mr *r = &d->mr[m];
		/* 0: never mapped, or a subregion at the start of its BAR */
		if (r->size != b->bar.size || !r->addr || r->addr % r->size ||
		    (b->bar.kind != MMIO_BAR_MEM64 && r->addr + r->size > MMIO_4G))
			continue;
		if (rank-- == 0)
			return r->addr;
	}
	return 0;
}

void qmp_map_arrivals(struct tsd_layout *l, const struct qmp_qom_dev *devs, size_t n)
{
	for (size_t i = 0; i < l->nbars; i++) {
		struct tsd_live_bar *b = &l->bars[i];
		unsigned bus, slot, fn;
		char tail;
		if (sscanf(b->guest_slot, "%x:%x.%x%c", &bus, &slot, &fn, &tail) != 3)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (devs[k].devfn < 0 || (unsigned)devs[k].devfn != (slot << 3 | fn) ||
			    devs[k].bus < 0 || (unsigned)devs[k].bus != bus)
				continue;
			b->seq = devs[k].index + 1;
			b->arrival = devs[k].hotplugged < 0 ? TSD_ARRIVAL_UNKNOWN :
				     devs[k].hotplugged ? TSD_ARRIVAL_HOTPLUG : TSD_ARRIVAL_BOOT;
			if (b->bar.index == MMIO_BAR_ROM)
				b->last_mapped = devs[k].rom_mapped;
			else if (b->bar.kind != MMIO_BAR_IO)
				b->last_mapped = bar_region_addr(l, i, &devs[k]);
		}
	}
}

bool qmp_map_boot_left(const struct qmp_qom_dev *devs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned below = 0;
		if (devs[i].hotplugged != 0)
			continue;
		for (size_t j = 0; j < n; j++)
			if (strcmp(devs[j].port, devs[i].port) == 0 && devs[j].index < devs[i].index)
				below++;
		if (below < devs[i].index)
			return true;
	}
	return false;
}

enum mmio_status qmp_map_qom_apply(struct qmp_holes *h, struct tsd_layout *l,
				   struct qmp_qom_dev *devs, size_t n, struct mmio_error *err)
{
	for (size_t i = 0; i < n; i++) {
		devs[i].bus = 0;
		for (size_t p = 0; devs[i].port[0] && p < l->nports; p++)
			if (strcmp(l->ports[p].id, devs[i].port) == 0)
				devs[i].bus = l->ports[p].secondary ? l->ports[p].secondary : -1;
	}
	qmp_map_arrivals(l, devs, n);
	qmp_map_boot64(l, devs, n, h);
	h->boot_left = qmp_map_boot_left(devs, n);
	return h->machine == QMP_MACHINE_UNKNOWN ? MMIO_OK : qmp_map_windows(h, l, err);
}

static bool has_device(json_object *devs, const char *id, int depth)
{
	if (!json_object_is_type(devs, json_type_array) || depth > 16)
		return false;
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *dev = json_object_array_get_idx(devs, i), *br, *sub;
		const char *qid = jstr(dev, "qdev_id");
		if (qid && strcmp(qid, id) == 0)
			return true;
		if (json_object_object_get_ex(dev, "pci_bridge", &br) &&
		    json_object_object_get_ex(br, "devices", &sub) && has_device(sub, id, depth + 1))
			return true;
	}
	return false;
}

bool qmp_map_has_device(json_object *reply, const char *qdev_id)
{
	json_object *ret = reply, *devs;
	if (!reply || !qdev_id || !*qdev_id)
		return false;
	if (json_object_is_type(reply, json_type_object) &&
	    !json_object_object_get_ex(reply, "return", &ret))
		return false;
	if (!json_object_is_type(ret, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(ret); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(ret, i), "devices", &devs) &&
		    has_device(devs, qdev_id, 0))
			return true;
	return false;
}

int qmp_map_free_root_slot(const struct qmp_pci_slots *s)
{
	for (int slot = 1; slot < 32; slot++)
		if (!(s->root_used & (UINT32_C(1) << slot)))
			return slot;
	return -1;
}

int qmp_map_free_slots(enum qmp_machine m, const struct qmp_pci_slots *s)
{
	switch (m) {
	case QMP_MACHINE_PC: {
		int n = 0;
		for (int slot = 1; slot < 32; slot++)
			if (!(s->root_used & (UINT32_C(1) << slot)))
				n++;
		return n;
	}
	case QMP_MACHINE_Q35:
		return (int)s->nports;
	case QMP_MACHINE_UNKNOWN:
		break;
	}
	return -1;
}
