/* SPDX-License-Identifier: MIT */
/*
 * toolstack-qmp-layout.c — reading a guest's layout over QMP: the windows
 * (qom-get), query-pci, and QOM's word on each device (order of arrival,
 * boot or hot-plug, ROMs last mapped) and on each port.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "toolstack-qmp-internal.h"

enum {
	Q_HOLE_START, Q_HOLE_END, Q_HOLE64_START, Q_HOLE64_END, Q_HOLE64_SIZE, Q_DEVMEM,
	Q_MCFG, Q_MCFG_SIZE, Q_NPROPS
};
static const char *const hole_props[Q_NPROPS] = {
	"pci-hole-start", "pci-hole-end", "pci-hole64-start", "pci-hole64-end", "pci-hole64-size",
	"device-memory-region-size", "MCFG", "mcfg_size",
};

struct prop_req {
	struct tsd_qmp_op *op;
	int which;
};

static void prop_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct prop_req *pr = ud;
	struct tsd_qmp_op *op = pr->op;
	int which = pr->which;
	uint64_t v;
	free(pr);
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	/* A missing property just leaves that window out. */
	if (ret && qmp_map_u64(ret, &v)) {
		struct qmp_holes *h = &op->holes;
		switch (which) {
		case Q_HOLE_START: h->hole_start = v; h->have_hole = true; break;
		case Q_HOLE_END: h->hole_end = v; break;
		case Q_HOLE64_START: h->hole64_start = v; h->have_hole64 = true; break;
		case Q_HOLE64_END: h->hole64_end = v; break;
		case Q_HOLE64_SIZE: h->hole64_size = v; h->have_hole64_size = true; break;
		case Q_DEVMEM: h->devmem_size = v; break;
		case Q_MCFG: h->mcfg_base = v; h->have_mcfg = true; break;
		case Q_MCFG_SIZE: h->mcfg_size = v; break;
		}
	} else if (which == Q_HOLE_END) {
		op->holes.have_hole = false;
	}
	tsd_qmp_reply_leave(op);
}

static void pci_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (ret) {
		json_object_put(op->pci);
		op->pci = json_object_get(ret);
	} else if (!op->err_rc) {
		op->err_rc = TSD_E_FAILED;
		snprintf(op->err_msg, sizeof(op->err_msg), "query-pci: %s", desc);
	}
	tsd_qmp_reply_leave(op);
}

/* query-memory-size-summary: base-memory is the RAM size; with
 * pci-hole-start it says how much RAM lies above 4 GiB.  Missing: the
 * 64-bit window stays what QOM says. */
static void mem_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	json_object *v;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (ret && json_object_object_get_ex(ret, "base-memory", &v) &&
	    qmp_map_u64(v, &op->holes.ram_size))
		op->holes.have_ram = true;
	tsd_qmp_reply_leave(op);
}

/* ---- QOM: the order devices arrived in, boot or hot-plug, ROMs last mapped ---- */

enum { CHILD_PATH, CHILD_ADDR, CHILD_HOTPLUGGED, CHILD_MRS, CHILD_ROM, CHILD_MR_SIZE,
       CHILD_MR_ADDR };

struct child_req {
	struct tsd_qmp_op *op;
	char port[64];
	unsigned index;
	int what;
	unsigned mr;                    /* CHILD_MR_*: which of c->mr_name */
};

static struct qom_child *child_find(struct tsd_qmp_guest *g, const char *port, unsigned index)
{
	for (size_t i = 0; g && i < g->nchildren; i++)
		if (g->children[i].q.index == index && strcmp(g->children[i].port, port) == 0)
			return &g->children[i];
	return NULL;
}

/* The QOM path of a bus: the root bus, or the one a port (bridge with an
 * id) opens, which QEMU names after the port. */
static void bus_path(const struct tsd_qmp_guest *g, const char *port, char *buf, size_t len)
{
	if (*port)
		snprintf(buf, len, "/machine/peripheral/%s/%s", port, port);
	else
		snprintf(buf, len, "%s", qmp_machine_root_bus_path(g->machine) ?
			 qmp_machine_root_bus_path(g->machine) : "");
}

static void child_reply(void *ud, json_object *ret, const char *cls, const char *desc);

static void child_ask_n(struct tsd_qmp_op *op, struct qom_child *c, int what, unsigned mr,
			const char *path, const char *prop)
{
	struct child_req *cr = malloc(sizeof(*cr));
	json_object *args = json_object_new_object();

	if (!cr || !args || !op->g || !op->g->conn) {
		free(cr);
		json_object_put(args);
		return;
	}
	*cr = (struct child_req){ .op = op, .index = c->q.index, .what = what, .mr = mr };
	snprintf(cr->port, sizeof(cr->port), "%s", c->port);
	json_object_object_add(args, "path", json_object_new_string(path));
	if (prop)
		json_object_object_add(args, "property", json_object_new_string(prop));
	if (qmp_send(op->g->conn, prop ? "qom-get" : "qom-list", args, child_reply, cr) < 0) {
		free(cr);
		return;
	}
	op->base.pending++;
}

static void child_ask(struct tsd_qmp_op *op, struct qom_child *c, int what, const char *path,
		      const char *prop)
{
	child_ask_n(op, c, what, 0, path, prop);
}

static void child_ask_rom(struct tsd_qmp_op *op, struct qom_child *c)
{
	char path[sizeof(c->path) + sizeof(c->rom_mr) + 1];

	snprintf(path, sizeof(path), "%s/%s", c->path, c->rom_mr);
	child_ask(op, c, CHILD_ROM, path, "addr");
}

/* One of the device's other memory regions: its size or where it was last
 * mapped (a BAR's region keeps the address after the guest stops decoding
 * it: where the firmware put a boot device's BAR, qmp_map_boot64). */
static void child_ask_mr(struct tsd_qmp_op *op, struct qom_child *c, unsigned i, int what)
{
	char path[sizeof(c->path) + sizeof(c->mr_name[0]) + 1];

	snprintf(path, sizeof(path), "%s/%s", c->path, c->mr_name[i]);
	child_ask_n(op, c, what, i, path, what == CHILD_MR_SIZE ? "size" : "addr");
}

/* A missing answer (an older QEMU without the property) just leaves that
 * fact unknown: the layout is read all the same. */
static void child_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct child_req *cr = ud;
	struct tsd_qmp_op *op = cr->op;
	struct qom_child *c;
	uint64_t v;

	if (!tsd_qmp_reply_enter(op, cls, desc)) {
		free(cr);
		return;
	}
	c = child_find(op->g, cr->port, cr->index);
	if (c && ret) {
		switch (cr->what) {
		case CHILD_PATH:
			if (json_object_is_type(ret, json_type_string) &&
			    strlen(json_object_get_string(ret)) < sizeof(c->path)) {
				snprintf(c->path, sizeof(c->path), "%s", json_object_get_string(ret));
				child_ask(op, c, CHILD_ADDR, c->path, "addr");
				child_ask(op, c, CHILD_HOTPLUGGED, c->path, "hotplugged");
				child_ask(op, c, CHILD_MRS, c->path, NULL);
			}
			break;
		case CHILD_ADDR:
			if (qmp_map_u64(ret, &v) && v < 256)
				c->q.devfn = (int)v;
			break;
		case CHILD_HOTPLUGGED:
			if (json_object_is_type(ret, json_type_boolean))
				c->q.hotplugged = json_object_get_boolean(ret);
			break;
		case CHILD_MRS:
			if (qmp_map_rom_region(ret, c->rom_mr, sizeof(c->rom_mr)))
				child_ask_rom(op, c);
			c->q.nmr = (unsigned)qmp_map_bar_regions(ret, c->mr_name, QMP_QOM_MAX_MRS);
			memset(c->q.mr, 0, sizeof(c->q.mr));
			for (unsigned i = 0; i < c->q.nmr; i++) {
				child_ask_mr(op, c, i, CHILD_MR_SIZE);
				child_ask_mr(op, c, i, CHILD_MR_ADDR);
			}
			break;
		case CHILD_ROM:
			if (qmp_map_u64(ret, &v))
				c->q.rom_mapped = v;
			break;
		case CHILD_MR_SIZE:
		case CHILD_MR_ADDR:
			if (cr->mr < c->q.nmr && qmp_map_u64(ret, &v)) {
				if (cr->what == CHILD_MR_SIZE)
					c->q.mr[cr->mr].size = v;
				else
					c->q.mr[cr->mr].addr = v;
			}
			break;
		}
	}
	free(cr);
	tsd_qmp_reply_leave(op);
}

/* qom-list of a bus: its child[N] links, N in the order of arrival. */
struct bus_req {
	struct tsd_qmp_op *op;
	char port[64];
};

static void bus_list_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct bus_req *br = ud;
	struct tsd_qmp_op *op = br->op;
	struct tsd_qmp_guest *g;
	unsigned idx[256];
	size_t n, k = 0;

	if (!tsd_qmp_reply_enter(op, cls, desc)) {
		free(br);
		return;
	}
	g = op->g;
	n = ret ? qmp_map_bus_children(ret, idx, 256) : 0;
	if (n > 256)
		n = 256;
	for (size_t i = 0; g && ret && i < g->nchildren; i++)
		if (strcmp(g->children[i].port, br->port) == 0)
			g->children[i].listed = false;
	for (size_t i = 0; g && ret && i < n; i++) {
		struct qom_child *c = child_find(g, br->port, idx[i]);
		if (!c) {
			struct qom_child *v = realloc(g->children, (g->nchildren + 1) * sizeof(*v));
			if (!v)
				break;
			g->children = v;
			c = &v[g->nchildren++];
			memset(c, 0, sizeof(*c));
			snprintf(c->port, sizeof(c->port), "%s", br->port);
			c->q = (struct qmp_qom_dev){ .index = idx[i], .devfn = -1, .hotplugged = -1 };
		}
		c->listed = true;
	}
	/* forget the devices that left this bus (their index is never reused) */
	for (size_t i = 0; g && ret && i < g->nchildren; i++)
		if (g->children[i].listed || strcmp(g->children[i].port, br->port) != 0)
			g->children[k++] = g->children[i];
	if (g && ret)
		g->nchildren = k;
	for (size_t i = 0; g && i < g->nchildren; i++) {
		struct qom_child *c = &g->children[i];
		char prop[32], path[160];
		if (strcmp(c->port, br->port) != 0)
			continue;
		if (!c->asked) {
			c->asked = true;
			snprintf(prop, sizeof(prop), "child[%u]", c->q.index);
			bus_path(g, c->port, path, sizeof(path));
			child_ask(op, c, CHILD_PATH, path, prop);
		} else {
			/* not mapped yet when first asked (before the firmware ran) */
			if (c->rom_mr[0] && !c->q.rom_mapped)
				child_ask_rom(op, c);
			for (unsigned m = 0; c->q.hotplugged == 0 && m < c->q.nmr; m++)
				if (!c->q.mr[m].addr && c->q.mr[m].size)
					child_ask_mr(op, c, m, CHILD_MR_ADDR);
		}
	}
	free(br);
	tsd_qmp_reply_leave(op);
}

/* Asks for a bus's children: the root bus (port "") or a port's. */
static void children_read(struct tsd_qmp_op *op, const char *port)
{
	struct bus_req *br = malloc(sizeof(*br));
	json_object *args = json_object_new_object();
	char path[160];

	if (!br || !args || !op->g || !op->g->conn) {
		free(br);
		json_object_put(args);
		return;
	}
	br->op = op;
	snprintf(br->port, sizeof(br->port), "%s", port);
	bus_path(op->g, port, path, sizeof(path));
	json_object_object_add(args, "path", json_object_new_string(path));
	if (!path[0] || qmp_send(op->g->conn, "qom-list", args, bus_list_reply, br) < 0) {
		free(br);
		return;
	}
	op->base.pending++;
}

/* The facts QOM gave, onto the layout's BARs (a port's bus by the number
 * the firmware gave it), and what they say about the 64-bit window the
 * guest's _CRS has (qmp_map_boot64): the windows are mapped again. */
static enum mmio_status children_apply(struct tsd_qmp_op *op, struct mmio_error *err)
{
	struct tsd_qmp_guest *g = op->g;
	struct qmp_qom_dev *q = g->nchildren ? malloc(g->nchildren * sizeof(*q)) : NULL;

	if (g->nchildren && !q)
		return MMIO_OK;         /* out of memory: the windows as QOM has them */
	for (size_t i = 0; i < g->nchildren; i++) {
		q[i] = g->children[i].q;
		snprintf(q[i].port, sizeof(q[i].port), "%s", g->children[i].port);
	}
	enum mmio_status st = qmp_map_qom_apply(&op->holes, &op->base.layout, q, g->nchildren, err);
	free(q);
	return st;
}

static void layout_mapped(struct tsd_qmp_op *op);

/* Sends the qom-gets and query-pci; once all replies are in, maps them
 * into op->base.layout (and the guest's copy) and continues with next. */
void tsd_qmp_layout_read(struct tsd_qmp_op *op, void (*next)(struct tsd_qmp_op *))
{
	struct tsd_qmp_guest *g = op->g;
	const char *path = qmp_machine_host_path(g->machine);
	int nprops = g->machine == QMP_MACHINE_Q35 ? Q_NPROPS : Q_MCFG;

	tsd_op_deadline(&op->base, op->qb->pub.host->call_timeout_ms);
	memset(&op->holes, 0, sizeof(op->holes));
	op->holes.machine = g->machine;
	op->holes.phys_bits = g->phys_bits;
	op->holes.cpu_amd = g->cpu_amd;
	op->holes.machine_version = g->machine_version;
	op->holes.firmware = g->firmware;
	op->holes.ovmf_mmio64_mb = g->ovmf_mmio64_mb;
	json_object_put(op->pci);
	op->pci = NULL;
	op->after_layout = next;
	/* (query-memory-size-summary and /machine's device-memory-region-size
	 * too: the 64-bit window as the guest has it, qmp_map_hole64().) */
	for (int i = 0; path && i < nprops; i++) {
		struct prop_req *pr = malloc(sizeof(*pr));
		json_object *args = json_object_new_object();
		if (!pr || !args) {
			free(pr);
			json_object_put(args);
			op->err_rc = TSD_E_FAILED;
			snprintf(op->err_msg, sizeof(op->err_msg), "out of memory");
			break;
		}
		pr->op = op;
		pr->which = i;
		json_object_object_add(args, "path",
				       json_object_new_string(i == Q_DEVMEM ? "/machine" : path));
		json_object_object_add(args, "property", json_object_new_string(hole_props[i]));
		if (!g->conn || qmp_send(g->conn, "qom-get", args, prop_reply, pr) < 0) {
			free(pr);
			op->err_rc = TSD_E_NOGUEST;
			snprintf(op->err_msg, sizeof(op->err_msg), "QMP connection is down");
			break;
		}
		op->base.pending++;
	}
	if (!op->err_rc)
		tsd_qmp_op_send(op, "query-memory-size-summary", NULL, mem_reply);
	if (!op->err_rc)
		tsd_qmp_op_send(op, "query-pci", NULL, pci_reply);
	if (!op->err_rc)
		children_read(op, "");
	op->on_all = layout_mapped;
	if (op->base.pending == 0) {
		/* Nothing went out: fail now (still deferred to the caller). */
		op->on_all = NULL;
		tsd_qmp_op_finish(op, op->err_rc ? op->err_rc : TSD_E_FAILED, "%s", op->err_msg);
	}
}

static int free_slots(const struct tsd_qmp_guest *g, const struct qmp_pci_slots *s)
{
	int n = 0;
	char key[64];
	switch (g->machine) {
	case QMP_MACHINE_PC:
		for (int slot = 1; slot < 32; slot++) {
			snprintf(key, sizeof(key), "0x%x", slot);
			if (!(s->root_used & (UINT32_C(1) << slot)) && !tsd_qmp_busy_has(g, key))
				n++;
		}
		return n;
	case QMP_MACHINE_Q35:
		for (unsigned i = 0; i < s->nports; i++)
			if (!tsd_qmp_busy_has(g, s->ports[i]))
				n++;
		return n;
	case QMP_MACHINE_UNKNOWN:
		break;
	}
	return -1;
}

static void layout_finish(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	void (*next)(struct tsd_qmp_op *) = op->after_layout;
	struct tsd_layout copy;
	unsigned n = 0;

	op->after_layout = NULL;
	/* Drop the ports QOM says are occupied although query-pci shows them
	 * empty (a device behind a port the firmware has not numbered yet). */
	for (unsigned i = 0; i < op->slots.nports; i++)
		if (!op->port_taken[i]) {
			if (n != i)
				memcpy(op->slots.ports[n], op->slots.ports[i], sizeof(op->slots.ports[0]));
			n++;
		}
	op->slots.nports = n;
	/* The layout's ports: QOM's word on emptiness (before the firmware
	 * ran query-pci cannot see behind a port), the guest's hot-plug
	 * driver, and the I/O window Linux gives a port whose registers
	 * cannot hold one. */
	for (size_t i = 0; i < op->base.layout.nports; i++) {
		struct tsd_port *p = &op->base.layout.ports[i];
		bool listed = false;
		for (unsigned j = 0; j < op->slots.nports; j++)
			listed |= strcmp(op->slots.ports[j], p->id) == 0;
		if (p->empty && !listed)
			p->empty = false;
		p->native_hotplug = g->machine == QMP_MACHINE_Q35 && g->native_hotplug;
		if (i < QMP_MAX_PORTS && op->port_io_ro[i])
			qmp_map_port_io_model(&op->base.layout, i);
	}
	struct mmio_error err = { 0 };
	if (children_apply(op, &err) != MMIO_OK) {
		tsd_qmp_op_finish(op, TSD_E_FAILED, "guest %s: windows: %s", g->id, err.msg);
		return;
	}
	op->base.layout.min_mem = 0;         /* QMP cannot tell where the guest's E820 gap starts */
	op->base.layout.free_slots = free_slots(g, &op->slots);
	if (tsd_layout_copy(&copy, &op->base.layout) < 0) {
		tsd_qmp_op_finish(op, TSD_E_FAILED, "out of memory");
		return;
	}
	tsd_layout_clear(&g->layout);
	g->layout = copy;
	g->unsettled = op->holes.boot_unplaced ||
		       (g->machine == QMP_MACHINE_Q35 &&
			(!op->holes.have_mcfg || op->holes.mcfg_base == UINT64_MAX || !op->holes.mcfg_size));
	g->slots = op->slots;
	op->base.have_layout = true;
	if (next)
		next(op);
	else
		tsd_qmp_op_finish(op, TSD_OK, NULL);
}

struct port_req {
	struct tsd_qmp_op *op;
	unsigned idx;
};

static void port_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct port_req *pr = ud;
	struct tsd_qmp_op *op = pr->op;
	unsigned idx = pr->idx;
	free(pr);
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	/* A bus lists its devices as link properties "child[N]". */
	if (ret && json_object_is_type(ret, json_type_array))
		for (size_t i = 0; i < json_object_array_length(ret); i++) {
			json_object *p = json_object_array_get_idx(ret, i), *n;
			if (json_object_object_get_ex(p, "name", &n) &&
			    strncmp(json_object_get_string(n), "child[", 6) == 0)
				op->port_taken[idx] = true;
		}
	tsd_qmp_reply_leave(op);
}

static void port_io_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct port_req *pr = ud;
	struct tsd_qmp_op *op = pr->op;
	unsigned idx = pr->idx;
	uint64_t v;
	free(pr);
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	/* No such property (not a pcie-root-port): nothing to model. */
	if (ret && qmp_map_u64(ret, &v) && v == 0 && idx < QMP_MAX_PORTS)
		op->port_io_ro[idx] = true;
	tsd_qmp_reply_leave(op);
}

static void layout_mapped(struct tsd_qmp_op *op)
{
	struct mmio_error err = { 0 };
	struct tsd_qmp_guest *g = op->g;

	tsd_layout_clear(&op->base.layout);
	memset(op->port_taken, 0, sizeof(op->port_taken));
	memset(op->port_io_ro, 0, sizeof(op->port_io_ro));
	if (g->machine != QMP_MACHINE_UNKNOWN &&
	    qmp_map_windows(&op->holes, &op->base.layout, &err) != MMIO_OK) {
		tsd_qmp_op_finish(op, TSD_E_FAILED, "guest %s: windows: %s", g->id, err.msg);
		return;
	}
	if (!op->pci || qmp_map_pci(op->pci, &op->base.layout, &op->slots, &err) != MMIO_OK) {
		tsd_qmp_op_finish(op, TSD_E_FAILED, "guest %s: %s", g->id, op->pci ? err.msg : "no query-pci");
		return;
	}
	/* Before the firmware numbered the buses (-S), query-pci cannot see
	 * behind a root port; QOM can: /machine/peripheral/ID/ID is its bus. */
	for (unsigned i = 0; i < op->slots.nports; i++) {
		struct port_req *pr = malloc(sizeof(*pr));
		json_object *args = json_object_new_object();
		char path[160];
		if (!pr || !args) {
			free(pr);
			json_object_put(args);
			break;
		}
		pr->op = op;
		pr->idx = i;
		snprintf(path, sizeof(path), "/machine/peripheral/%s/%s", op->slots.ports[i],
			 op->slots.ports[i]);
		json_object_object_add(args, "path", json_object_new_string(path));
		if (!g->conn || qmp_send(g->conn, "qom-list", args, port_reply, pr) < 0) {
			free(pr);
			break;
		}
		op->base.pending++;
	}
	/* The devices behind programmed ports: their order of arrival. */
	for (size_t i = 0; i < op->base.layout.nports; i++)
		if (op->base.layout.ports[i].windows_known && !op->base.layout.ports[i].empty)
			children_read(op, op->base.layout.ports[i].id);
	/* A programmed port without an I/O window: io-reserve=0 makes QEMU's
	 * registers read-only (qmp_map_port_io_model). */
	for (size_t i = 0; i < op->base.layout.nports && i < QMP_MAX_PORTS; i++) {
		const struct tsd_port *p = &op->base.layout.ports[i];
		struct port_req *pr;
		json_object *args;
		char path[160];
		if (!p->windows_known || p->present[TSD_PORT_WIN_IO])
			continue;
		pr = malloc(sizeof(*pr));
		args = json_object_new_object();
		if (!pr || !args) {
			free(pr);
			json_object_put(args);
			break;
		}
		pr->op = op;
		pr->idx = (unsigned)i;
		snprintf(path, sizeof(path), "/machine/peripheral/%s", p->id);
		json_object_object_add(args, "path", json_object_new_string(path));
		json_object_object_add(args, "property", json_object_new_string("io-reserve"));
		if (!g->conn || qmp_send(g->conn, "qom-get", args, port_io_reply, pr) < 0) {
			free(pr);
			break;
		}
		op->base.pending++;
	}
	if (op->base.pending) {
		op->on_all = layout_finish;
		return;
	}
	layout_finish(op);
}
