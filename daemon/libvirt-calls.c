/* SPDX-License-Identifier: MIT */
/*
 * libvirt-calls.c — the libvirt back end's calls that block, each run on
 * a worker pool thread (see libvirt-calls.h).  What libvirt and QEMU say
 * is mapped by libvirt-map.c; this file only asks.
 */
#include "config.h"

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "libvirt-calls.h"

/* libvirt's last error is per thread: this thread's. */
static const char *last_error(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

/* ---- the connections the calls run on ------------------------------------------------ */

/* Idle connections kept for the next calls; more are closed when given
 * back (a burst of calls on many guests opens as many). */
#define LV_IDLE_MAX 8

struct lv_conns {
	pthread_mutex_t lock;
	char uri[256];
	virConnectPtr shared;           /* the back end's connection, when calls share it */
	unsigned gen;                   /* of the connection the back end has now */
	bool closing;
	virConnectPtr idle[LV_IDLE_MAX];
	unsigned idle_gen[LV_IDLE_MAX];
	unsigned nidle;
	unsigned long opened;
};

struct lv_conns *lv_conns_new(const char *uri)
{
	struct lv_conns *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	snprintf(p->uri, sizeof(p->uri), "%s", uri);
	return p;
}

void lv_conns_share(struct lv_conns *p, virConnectPtr conn, bool share)
{
	pthread_mutex_lock(&p->lock);
	p->gen++;
	/* not a reference: the back end's own outlives every job that takes
	 * one from here (lv_conns_get, on the loop's word) */
	p->shared = share ? conn : NULL;
	pthread_mutex_unlock(&p->lock);
}

virConnectPtr lv_conns_get(struct lv_conns *p, unsigned *gen, char *msg, size_t msglen)
{
	virConnectPtr c = NULL, stale = NULL;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		*gen = p->gen;
		if (p->shared) {
			c = p->shared;
			virConnectRef(c);       /* local: no RPC */
			pthread_mutex_unlock(&p->lock);
			return c;
		}
		if (p->nidle) {
			p->nidle--;
			c = p->idle[p->nidle];
			if (p->idle_gen[p->nidle] != p->gen)
				stale = c, c = NULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (stale) {
			virConnectClose(stale);
			stale = NULL;
			continue;
		}
		if (!c)
			break;
		if (virConnectIsAlive(c) == 1)  /* local: no RPC */
			return c;
		virConnectClose(c);
	}
	c = virConnectOpen(p->uri);
	if (!c) {
		snprintf(msg, msglen, "cannot connect to %.200s: %s", p->uri, last_error());
		return NULL;
	}
	/* as the back end's own: a daemon that hangs fails the call after
	 * about 5 s x 3 unanswered probes, so the thread comes back */
	virConnectSetKeepAlive(c, 5, 3);
	virResetLastError();
	pthread_mutex_lock(&p->lock);
	p->opened++;
	pthread_mutex_unlock(&p->lock);
	return c;
}

void lv_conns_put(struct lv_conns *p, virConnectPtr c, unsigned gen)
{
	if (!c)
		return;
	pthread_mutex_lock(&p->lock);
	bool keep = !p->shared && !p->closing && gen == p->gen && p->nidle < LV_IDLE_MAX &&
		    virConnectIsAlive(c) == 1;
	if (keep) {
		p->idle_gen[p->nidle] = gen;
		p->idle[p->nidle++] = c;
	}
	pthread_mutex_unlock(&p->lock);
	if (!keep)
		virConnectClose(c);     /* the call's reference; the last one is an RPC */
	virResetLastError();
}

void lv_conns_close_idle(struct lv_conns *p)
{
	virConnectPtr idle[LV_IDLE_MAX];
	unsigned n;

	pthread_mutex_lock(&p->lock);
	p->closing = true;
	n = p->nidle;
	memcpy(idle, p->idle, n * sizeof(idle[0]));
	p->nidle = 0;
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < n; i++)
		virConnectClose(idle[i]);
	virResetLastError();
}

void lv_conns_stats(struct lv_conns *p, unsigned long *opened, unsigned *idle)
{
	pthread_mutex_lock(&p->lock);
	*opened = p->opened;
	*idle = p->nidle;
	pthread_mutex_unlock(&p->lock);
}

void lv_conns_free(struct lv_conns *p)
{
	if (!p)
		return;
	lv_conns_close_idle(p);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- QEMU's own view, through libvirt's monitor pass-through ------------------------- */

/* Runs one QMP command; the parsed reply's "return" (a new reference: put
 * it) or NULL with msg set. */
static json_object *qmp_call(virDomainPtr dom, const char *cmd, char *msg, size_t msglen)
{
	char *out = NULL;
	json_object *root, *ret = NULL, *e, *desc;

	if (virDomainQemuMonitorCommand(dom, cmd, &out, 0) < 0) {
		snprintf(msg, msglen, "%s: %s", cmd, last_error());
		return NULL;
	}
	root = out ? json_tokener_parse(out) : NULL;
	free(out);
	if (root && json_object_object_get_ex(root, "return", &ret))
		json_object_get(ret);
	else if (root && json_object_object_get_ex(root, "error", &e) &&
		 json_object_object_get_ex(e, "desc", &desc))
		snprintf(msg, msglen, "%s: %s", cmd, json_object_get_string(desc));
	else
		snprintf(msg, msglen, "%s: no reply QEMU would give", cmd);
	json_object_put(root);
	return ret;
}

static bool qom_u64(virDomainPtr dom, const char *path, const char *prop, uint64_t *v)
{
	char cmd[300], msg[200];
	snprintf(cmd, sizeof(cmd), "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"%s\","
		 "\"property\":\"%s\"}}", path, prop);
	json_object *r = qmp_call(dom, cmd, msg, sizeof(msg));
	bool ok = r && qmp_map_u64(r, v);
	json_object_put(r);
	return ok;
}

/* q35: whether the guest gets native PCIe hot-plug (pciehp) behind root
 * ports: ICH9-LPC's acpi-pci-hotplug-with-bridge-support off.  QEMU 7.2
 * puts ICH9-LPC at /machine/unattached/device[N]. */
static bool q35_native_hotplug(virDomainPtr dom)
{
	char msg[200], path[128] = "", cmd[300];
	json_object *r = qmp_call(dom, "{\"execute\":\"qom-list\",\"arguments\":"
				  "{\"path\":\"/machine/unattached\"}}", msg, sizeof(msg));
	bool native = false;

	for (size_t i = 0; r && json_object_is_type(r, json_type_array) &&
			   i < json_object_array_length(r); i++) {
		json_object *p = json_object_array_get_idx(r, i), *n, *t;
		if (json_object_object_get_ex(p, "name", &n) && json_object_object_get_ex(p, "type", &t) &&
		    strcmp(json_object_get_string(t), "child<ICH9-LPC>") == 0)
			snprintf(path, sizeof(path), "/machine/unattached/%s", json_object_get_string(n));
	}
	json_object_put(r);
	if (!path[0])
		return false;
	snprintf(cmd, sizeof(cmd), "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"%s\","
		 "\"property\":\"acpi-pci-hotplug-with-bridge-support\"}}", path);
	r = qmp_call(dom, cmd, msg, sizeof(msg));
	if (r && json_object_is_type(r, json_type_boolean))
		native = !json_object_get_boolean(r);
	json_object_put(r);
	return native;
}

/* A qom-get's value (a new reference: put it), NULL when QEMU would not say. */
static json_object *qom_get(virDomainPtr dom, const char *path, const char *prop)
{
	json_object *cmd = json_object_new_object(), *args = json_object_new_object(), *r;
	char msg[200];

	if (!cmd || !args) {
		json_object_put(cmd);
		json_object_put(args);
		return NULL;
	}
	json_object_object_add(cmd, "execute", json_object_new_string(prop ? "qom-get" : "qom-list"));
	json_object_object_add(args, "path", json_object_new_string(path));
	if (prop)
		json_object_object_add(args, "property", json_object_new_string(prop));
	json_object_object_add(cmd, "arguments", args);
	r = qmp_call(dom, json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN), msg,
		     sizeof(msg));
	json_object_put(cmd);
	return r;
}

static const char *json_str(json_object *v)
{
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The machine type's version, the firmware, the CPU's phys-bits and vendor:
 * fixed while the domain runs, read once per run (QMP back end:
 * toolstack-qmp-guest.c probe_facts).  A missing answer leaves the fact
 * unknown. */
static void qemu_facts(struct lv_facts *f, virDomainPtr dom, const struct tsd_libvirt_domain *d)
{
	int id = virDomainGetID(dom);
	char msg[200];

	if (f->fw_known && f->fw_domid == id)
		return;
	f->fw_known = true;
	f->fw_domid = id;
	json_object *type = qom_get(dom, "/machine", "type");
	json_object *pflash0 = qom_get(dom, "/machine", "pflash0");
	json_object *bios = qom_get(dom, "/machine", "firmware");
	f->machine_version = qmp_map_machine_version(json_str(type));
	f->firmware = qmp_map_firmware(json_str(pflash0), json_str(bios));
	if (f->firmware == TSD_FW_UNKNOWN && d->efi)
		f->firmware = TSD_FW_OVMF;
	json_object_put(type);
	json_object_put(pflash0);
	json_object_put(bios);
	f->phys_bits = 0;
	f->cpu_amd = false;
	json_object *cpus = qmp_call(dom, "{\"execute\":\"query-cpus-fast\"}", msg, sizeof(msg)), *qp;
	/* the first vCPU speaks for all */
	if (cpus && json_object_is_type(cpus, json_type_array) && json_object_array_length(cpus) &&
	    json_object_object_get_ex(json_object_array_get_idx(cpus, 0), "qom-path", &qp) &&
	    json_str(qp)) {
		json_object *pb = qom_get(dom, json_str(qp), "phys-bits");
		json_object *vendor = qom_get(dom, json_str(qp), "vendor");
		uint64_t u;
		if (pb && qmp_map_u64(pb, &u) && u < 64)
			f->phys_bits = (unsigned)u;
		f->cpu_amd = json_str(vendor) && strcmp(json_str(vendor), "AuthenticAMD") == 0;
		json_object_put(pb);
		json_object_put(vendor);
	}
	json_object_put(cpus);
}

/* The devices on one bus as QOM shows them: order of arrival, boot or
 * hot-plug, where their ROMs and BARs were last mapped (the QMP back end's
 * children_read, one call at a time).  Appends to *devs. */
static void qom_bus_devices(virDomainPtr dom, const char *bus, const char *port,
			    struct qmp_qom_dev **devs, size_t *n)
{
	json_object *list = qom_get(dom, bus, NULL);
	unsigned idx[256];
	size_t nidx = list ? qmp_map_bus_children(list, idx, 256) : 0;

	json_object_put(list);
	for (size_t i = 0; i < nidx && i < 256; i++) {
		char prop[32], path[128], mr_path[200], rom_mr[64] = "", names[QMP_QOM_MAX_MRS][64];
		uint64_t v;
		snprintf(prop, sizeof(prop), "child[%u]", idx[i]);
		json_object *p = qom_get(dom, bus, prop);
		bool ok = json_str(p) && strlen(json_str(p)) < sizeof(path);
		if (ok)
			snprintf(path, sizeof(path), "%s", json_str(p));
		json_object_put(p);
		struct qmp_qom_dev *grown = ok ? realloc(*devs, (*n + 1) * sizeof(**devs)) : NULL;
		if (!grown)
			continue;
		*devs = grown;
		struct qmp_qom_dev *q = &grown[(*n)++];
		*q = (struct qmp_qom_dev){ .index = idx[i], .devfn = -1, .hotplugged = -1 };
		snprintf(q->port, sizeof(q->port), "%s", port);
		json_object *r = qom_get(dom, path, "addr");
		if (r && qmp_map_u64(r, &v) && v < 256)
			q->devfn = (int)v;
		json_object_put(r);
		r = qom_get(dom, path, "hotplugged");
		if (r && json_object_is_type(r, json_type_boolean))
			q->hotplugged = json_object_get_boolean(r);
		json_object_put(r);
		r = qom_get(dom, path, NULL);
		bool has_rom = r && qmp_map_rom_region(r, rom_mr, sizeof(rom_mr));
		q->nmr = r ? (unsigned)qmp_map_bar_regions(r, names, QMP_QOM_MAX_MRS) : 0;
		json_object_put(r);
		if (has_rom) {
			snprintf(mr_path, sizeof(mr_path), "%s/%s", path, rom_mr);
			r = qom_get(dom, mr_path, "addr");
			if (r && qmp_map_u64(r, &v))
				q->rom_mapped = v;
			json_object_put(r);
		}
		for (unsigned m = 0; m < q->nmr; m++) {
			snprintf(mr_path, sizeof(mr_path), "%s/%s", path, names[m]);
			r = qom_get(dom, mr_path, "size");
			if (r && qmp_map_u64(r, &v))
				q->mr[m].size = v;
			json_object_put(r);
			r = qom_get(dom, mr_path, "addr");
			if (r && qmp_map_u64(r, &v))
				q->mr[m].addr = v;
			json_object_put(r);
		}
	}
}

/* The guest's layout as QEMU has it (the same reading as the QMP back
 * end: the host bridge's holes, RAM, query-pci), in libvirt's terms
 * (tsd_libvirt_qemu_layout).  false with msg when QEMU would not say. */
static bool qemu_layout(struct lv_facts *f, virDomainPtr dom, const struct tsd_libvirt_domain *d,
			struct tsd_layout *l, char *msg, size_t msglen)
{
	static const char *const hole_props[] = { "pci-hole-start", "pci-hole-end",
						  "pci-hole64-start", "pci-hole64-end",
						  "pci-hole64-size", "MCFG", "mcfg_size" };
	struct qmp_holes h = { .machine = d->chipset == TSD_LIBVIRT_CHIPSET_Q35 ? QMP_MACHINE_Q35 :
					  QMP_MACHINE_PC };
	const char *hb = qmp_machine_host_path(h.machine);
	int nprops = h.machine == QMP_MACHINE_Q35 ? 7 : 5;
	uint64_t v[7];
	bool have[7];
	json_object *r, *pci;
	struct mmio_error err;

	for (int i = 0; i < nprops; i++)
		have[i] = qom_u64(dom, hb, hole_props[i], &v[i]);
	h.have_hole = have[0] && have[1];
	h.hole_start = v[0];
	h.hole_end = v[1];
	h.have_hole64 = have[2] && have[3];
	h.hole64_start = v[2];
	h.hole64_end = v[3];
	h.have_hole64_size = have[4];
	h.hole64_size = v[4];
	if (nprops > 5) {
		h.have_mcfg = have[5];
		h.mcfg_base = v[5];
		h.mcfg_size = have[6] ? v[6] : 0;
	}
	qom_u64(dom, "/machine", "device-memory-region-size", &h.devmem_size);
	qemu_facts(f, dom, d);
	h.firmware = f->firmware;
	h.phys_bits = f->phys_bits;
	h.cpu_amd = f->cpu_amd;
	h.machine_version = f->machine_version;
	h.ovmf_mmio64_mb = d->ovmf_mmio64_mb;
	r = qmp_call(dom, "{\"execute\":\"query-memory-size-summary\"}", msg, msglen);
	json_object *bm;
	if (r && json_object_object_get_ex(r, "base-memory", &bm) && qmp_map_u64(bm, &h.ram_size))
		h.have_ram = true;
	json_object_put(r);
	if (!(pci = qmp_call(dom, "{\"execute\":\"query-pci\"}", msg, msglen)))
		return false;
	if (h.machine == QMP_MACHINE_Q35) {
		int id = virDomainGetID(dom);
		if (!f->lpc_known || f->domid != id) {
			f->native_hotplug = q35_native_hotplug(dom);
			f->lpc_known = true;
			f->domid = id;
		}
	}
	enum mmio_status st = tsd_libvirt_qemu_layout(d, &h, pci, f->native_hotplug, l, &err);
	json_object_put(pci);
	if (st == MMIO_OK && h.firmware == TSD_FW_OVMF) {
		/* OVMF's guest has its 64-bit window where OVMF put the boot
		 * devices' 64-bit BARs: QOM's devices say which those are and
		 * where they were (qmp_map_qom_apply, as the QMP back end).
		 * SeaBIOS guests keep the live reading (fewer calls). */
		struct qmp_qom_dev *devs = NULL;
		size_t ndev = 0;
		char bus[160];
		qom_bus_devices(dom, qmp_machine_root_bus_path(h.machine), "", &devs, &ndev);
		for (size_t i = 0; i < l->nports; i++) {
			snprintf(bus, sizeof(bus), "/machine/peripheral/%s/%s", l->ports[i].id,
				 l->ports[i].id);
			qom_bus_devices(dom, bus, l->ports[i].id, &devs, &ndev);
		}
		st = qmp_map_qom_apply(&h, l, devs, ndev, &err);
		free(devs);
	}
	if (st != MMIO_OK) {
		snprintf(msg, msglen, "%.250s", err.msg);
		return false;
	}
	/* A programmed port without an I/O window: with io-reserve=0 QEMU's
	 * registers are read-only and Linux's window is invisible there
	 * (qmp_map_port_io_model). */
	for (size_t i = 0; i < l->nports; i++) {
		char path[160];
		uint64_t io;
		if (!l->ports[i].windows_known || l->ports[i].present[TSD_PORT_WIN_IO])
			continue;
		snprintf(path, sizeof(path), "/machine/peripheral/%s", l->ports[i].id);
		if (qom_u64(dom, path, "io-reserve", &io) && io == 0)
			qmp_map_port_io_model(l, i);
	}
	return true;
}

/* Reads one domain: the guest, and its layout when it runs. */
static enum tsd_rc read_domain(struct lv_read *r, virDomainPtr dom)
{
	struct tsd_guest *g = &r->g;
	_cleanup_(tsd_libvirt_domain_clear) struct tsd_libvirt_domain d = { 0 };
	struct mmio_error err;
	char *xml;

	memset(g, 0, sizeof(*g));
	r->have_layout = false;
	virDomainGetUUIDString(dom, g->uuid);
	snprintf(g->id, sizeof(g->id), "%s", g->uuid);
	snprintf(g->name, sizeof(g->name), "%s", virDomainGetName(dom));
	r->active = virDomainIsActive(dom);
	r->persistent = virDomainIsPersistent(dom);
	if (r->active < 0 || !(xml = virDomainGetXMLDesc(dom, 0))) {
		snprintf(r->msg, sizeof(r->msg), "libvirt: %s", last_error());
		return tsd_libvirt_rc(virGetLastErrorCode());
	}
	enum mmio_status st = tsd_libvirt_parse_domain(xml, &d, &err);
	free(xml);
	if (st != MMIO_OK) {
		snprintf(g->why_not, sizeof(g->why_not), "domain XML not understood: %.120s", err.msg);
		snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
		return TSD_E_FAILED;
	}
	if (!r->active) {
		snprintf(g->why_not, sizeof(g->why_not), "the domain is shut off (start it: "
			 "virsh start %.80s)", g->name);
		/* No windows while it is off: an empty layout, not the last one. */
		r->have_layout = true;
		return TSD_OK;
	}
	g->can_attach = tsd_libvirt_attachable(&d, g->why_not, sizeof(g->why_not));
	if (!g->can_attach || !r->want_layout)
		return TSD_OK;
	if (r->is_qemu && strcmp(d.type, "xen") != 0 && d.chipset != TSD_LIBVIRT_CHIPSET_OTHER) {
		char why[300];
		if (qemu_layout(&r->facts, dom, &d, &r->layout, why, sizeof(why))) {
			r->have_layout = true;
			return TSD_OK;
		}
		snprintf(r->note, sizeof(r->note), "guest %.60s: QEMU's own view unavailable, using "
			 "QEMU's defaults for its machine type: %.250s", g->name, why);
	}
	if (tsd_libvirt_model_layout(&d, &r->layout, &err) != MMIO_OK) {
		/* Xen HVM through libvirt: the hvmloader model needs libxl's
		 * view; without it the layout is unknown. */
		tsd_layout_clear(&r->layout);
		return TSD_OK;
	}
	r->have_layout = true;
	return TSD_OK;
}

void lv_read_domain(struct lv_read *r)
{
	virDomainPtr dom = virDomainLookupByUUIDString(r->conn, r->uuid);

	r->active = r->persistent = -1;
	if (!dom) {
		r->rc = tsd_libvirt_rc(virGetLastErrorCode());
		snprintf(r->msg, sizeof(r->msg), "libvirt: %s", last_error());
		return;
	}
	r->rc = read_domain(r, dom);
	virDomainFree(dom);
}

/* ---- attach, detach -------------------------------------------------------------------- */

/* The hostdev XML of an attach or detach; on attach behind a port, its
 * address (the port's controller index as the bus, the slot). */
static enum tsd_rc hostdev_xml(struct lv_hostdev *h, virDomainPtr dom, char *xml, size_t len)
{
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	int bus = -1, slot = 0;
	enum tsd_rc rc = TSD_OK;
	char *dx;

	if (!h->attach || !h->port[0]) {
		tsd_libvirt_hostdev_xml(&h->bdf, -1, 0, xml, len);
		return TSD_OK;
	}
	if (!(dx = virDomainGetXMLDesc(dom, 0))) {
		snprintf(h->msg, sizeof(h->msg), "libvirt: %s", last_error());
		return tsd_libvirt_rc(virGetLastErrorCode());
	}
	enum mmio_status st = tsd_libvirt_parse_domain(dx, &d, &err);
	free(dx);
	const struct tsd_libvirt_controller *c =
		st == MMIO_OK ? tsd_libvirt_controller_by_alias(&d, h->port) : NULL;
	if (st != MMIO_OK) {
		snprintf(h->msg, sizeof(h->msg), "%s", err.msg);
		rc = TSD_E_FAILED;
	} else if (!c || !tsd_libvirt_port_model(c->model)) {
		snprintf(h->msg, sizeof(h->msg), "the domain has no hot-plug port controller with "
			 "alias %s", h->port);
		rc = TSD_E_FAILED;
	} else {
		/* Behind a pci-bridge: a slot neither libvirt nor QEMU uses. */
		uint32_t used = 0;
		struct tsd_layout l = { .free_slots = -1 };
		char why[200];
		if (strcmp(c->model, "pci-bridge") == 0 &&
		    qemu_layout(&h->facts, dom, &d, &l, why, sizeof(why))) {
			for (size_t i = 0; i < l.nports; i++) {
				if (strcmp(l.ports[i].id, h->port) != 0 || !l.ports[i].secondary)
					continue;
				for (size_t b = 0; b < l.nbars; b++) {
					unsigned bb, ss, ff;
					if (sscanf(l.bars[b].guest_slot, "%x:%x.%x", &bb, &ss, &ff) == 3 &&
					    bb == l.ports[i].secondary && ss < 32)
						used |= UINT32_C(1) << ss;
				}
			}
		}
		tsd_layout_clear(&l);
		bus = c->index;
		slot = tsd_libvirt_port_slot(&d, c, used);
		if (slot < 0) {
			snprintf(h->msg, sizeof(h->msg), "no free slot behind %s", h->port);
			rc = TSD_E_FAILED;
		}
	}
	tsd_libvirt_domain_clear(&d);
	if (rc == TSD_OK)
		tsd_libvirt_hostdev_xml(&h->bdf, bus, (unsigned)slot, xml, len);
	return rc;
}

void lv_hostdev(struct lv_hostdev *h)
{
	virDomainPtr dom = virDomainLookupByUUIDString(h->conn, h->uuid);
	char xml[512];

	if (!dom) {
		h->rc = tsd_libvirt_rc(virGetLastErrorCode());
		snprintf(h->msg, sizeof(h->msg), "libvirt: %s", last_error());
		return;
	}
	h->rc = hostdev_xml(h, dom, xml, sizeof(xml));
	if (h->rc == TSD_OK &&
	    (h->attach ? virDomainAttachDeviceFlags(dom, xml, h->vflags)
		       : virDomainDetachDeviceFlags(dom, xml, h->vflags)) < 0) {
		h->rc = tsd_libvirt_rc(virGetLastErrorCode());
		snprintf(h->msg, sizeof(h->msg), "libvirt: %s", last_error());
	}
	virDomainFree(dom);
}

/* ---- the connection ---------------------------------------------------------------------- */

void lv_list_domains(struct lv_list *l)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(l->conn, &doms, 0);

	if (n < 0) {
		l->rc = tsd_libvirt_rc(virGetLastErrorCode());
		snprintf(l->msg, sizeof(l->msg), "listing domains: %s", last_error());
		return;
	}
	l->uuids = calloc(n ? (size_t)n : 1, sizeof(*l->uuids));
	if (!l->uuids) {
		l->rc = TSD_E_FAILED;
		snprintf(l->msg, sizeof(l->msg), "listing domains: out of memory");
	}
	for (int i = 0; i < n; i++) {
		if (l->uuids)
			virDomainGetUUIDString(doms[i], l->uuids[l->n++]);
		virDomainFree(doms[i]);
	}
	free(doms);
}

void lv_probe(struct lv_probe *p)
{
	virDomainPtr dom = virDomainLookupByUUIDString(p->conn, p->uuid);
	int r;

	if (!dom) {
		p->answered = virGetLastErrorCode() != VIR_ERR_OPERATION_TIMEOUT;
		return;
	}
	if (p->is_qemu) {
		char *out = NULL;
		r = virDomainQemuMonitorCommand(dom, "{\"execute\":\"query-status\"}", &out, 0);
		free(out);
	} else {
		virDomainInfo info;
		r = virDomainGetInfo(dom, &info);
	}
	/* libvirtd's own timeout waiting for the domain's job: still stuck */
	p->answered = r == 0 || (virGetLastErrorCode() != VIR_ERR_OPERATION_TIMEOUT &&
				 virGetLastErrorCode() != VIR_ERR_AGENT_UNRESPONSIVE);
	virDomainFree(dom);
}

void lv_connect(struct lv_connect *c)
{
	const struct lv_event_cbs *cb = &c->cbs;
	const char *type;

	for (int i = 0; i < 4; i++)
		c->ids[i] = -1;
	c->conn = virConnectOpen(c->uri);
	if (!c->conn) {
		c->err_code = virGetLastErrorCode();
		c->err_domain = virGetLastErrorDomain();
		snprintf(c->msg, sizeof(c->msg), "cannot connect to %.200s: %s", c->uri, last_error());
		return;
	}
	type = virConnectGetType(c->conn);
	c->is_qemu = type && strcmp(type, "QEMU") == 0;
	c->share = type && strcmp(type, "TEST") == 0;
	cb->ref(cb->opaque);
	c->ids[0] = virConnectDomainEventRegisterAny(c->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
						     VIR_DOMAIN_EVENT_CALLBACK(cb->lifecycle),
						     cb->opaque, cb->unref);
	if (c->ids[0] < 0) {
		cb->unref(cb->opaque);
		c->err_code = virGetLastErrorCode();
		c->err_domain = virGetLastErrorDomain();
		snprintf(c->msg, sizeof(c->msg), "no lifecycle events from %.200s: %s", c->uri,
			 last_error());
		virConnectClose(c->conn);
		c->conn = NULL;
		return;
	}
	/* Device events: where a driver has none (test://) the guests are
	 * re-read on demand only. */
	cb->ref(cb->opaque);
	c->ids[1] = virConnectDomainEventRegisterAny(c->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
						     VIR_DOMAIN_EVENT_CALLBACK(cb->device_added),
						     cb->opaque, cb->unref);
	if (c->ids[1] < 0)
		cb->unref(cb->opaque);
	cb->ref(cb->opaque);
	c->ids[2] = virConnectDomainEventRegisterAny(c->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
						     VIR_DOMAIN_EVENT_CALLBACK(cb->device_removed),
						     cb->opaque, cb->unref);
	if (c->ids[2] < 0)
		cb->unref(cb->opaque);
	if (c->is_qemu) {
		cb->ref(cb->opaque);
		c->ids[3] = virConnectDomainQemuMonitorEventRegister(c->conn, NULL, "DEVICE_DELETED",
								     cb->qemu_event, cb->opaque,
								     cb->unref, 0);
		if (c->ids[3] < 0)
			cb->unref(cb->opaque);
	}
	/* Local drivers (test://) have no connection to lose: they accept the
	 * registration and keep nothing, so libvirt would never call a free
	 * callback; the reference is dropped by lv_disconnect instead. */
	cb->ref(cb->opaque);
	c->close_cb = virConnectRegisterCloseCallback(c->conn, cb->closed, cb->opaque, NULL) == 0;
	if (!c->close_cb)
		cb->unref(cb->opaque);
	/* A lost daemon is noticed by the socket closing; keepalive covers a
	 * daemon that hangs (or a remote host that vanishes): its calls fail
	 * and the connection closes after about 5 s x 3 unanswered probes. */
	virConnectSetKeepAlive(c->conn, 5, 3);
	virResetLastError();
}

void lv_disconnect(struct lv_disconnect *d)
{
	if (d->conns)
		lv_conns_close_idle(d->conns);
	if (!d->conn)
		return;
	for (int i = 0; i < 3; i++)
		if (d->ids[i] >= 0)
			virConnectDomainEventDeregisterAny(d->conn, d->ids[i]);
	if (d->ids[3] >= 0)
		virConnectDomainQemuMonitorEventDeregister(d->conn, d->ids[3]);
	if (d->close_cb) {
		/* the close callback runs under the lock this takes: it is not
		 * running once this returns */
		virConnectUnregisterCloseCallback(d->conn, d->closed);
		d->unref(d->opaque);
	}
	virConnectClose(d->conn);
	virResetLastError();
}
