/* SPDX-License-Identifier: MIT */
/*
 * toolstack-qmp.c — the QEMU QMP back end: --backend qmp:DIR.
 *
 * DIR holds QMP unix sockets, one guest each (guest id = file name without
 * its extension: "vm1.sock" -> "vm1"), watched by sockdir.c (rescanned
 * every second, and at once on an inotify event).  Each socket gets one
 * connection (qmp.c): greeting, qmp_capabilities, then query-name,
 * query-uuid, qom-list /machine (which host bridge), the windows (qom-get)
 * and query-pci; then host->guest_up.  The connection closing, the socket
 * file vanishing or being replaced, or a SHUTDOWN event, takes the guest
 * down (host->guest_down).  A socket that refuses connections (stale file,
 * QEMU gone) is retried every RETRY_S seconds, logged once at LOG_DEBUG.
 *
 * A QEMU that stops answering (SIGSTOP, a monitor blocked in QEMU) keeps
 * its connection: each op has a deadline (the base's, re-armed per step:
 * the call timeout for reads, the attach timeout for device_add); when it
 * passes the op fails with TSD_E_UNRESPONSIVE and the guest is reported
 * not answering.  From then on its ops fail at once without sending
 * anything (so nothing piles up in the connection); the replies QEMU still
 * owes come when it runs again, and the first line it sends reports the
 * guest answering again.  Should a reply never come (a QEMU that dropped a
 * command), a query-status sent every call timeout, one at a time, is
 * what it answers.  A probe that times out drops the connection and
 * tries again later (the guest was never announced).
 *
 * What QEMU was seen to do, which the code below relies on (window
 * properties, query-pci's all-ones addresses, device_add's typing, q35
 * ports, unplug without a guest OS, one monitor client at a time), is
 * written down in docs/qemu-observations.md.
 *
 * Not done: min_mem is unknown (0).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "qmp-map.h"
#include "qmp.h"
#include "sockdir.h"
#include "strbuf.h"
#include "toolstack.h"

#define SCAN_INTERVAL_S      1
#define RETRY_S              3
#define UNPLUG_TIMEOUT_MS    10000
#define MAX_BUSY             32
#define NOTFOUND_GRACE_MS    500
#define BOOKS_QMP_SPEC_MAX   256       /* one function's part of a qemu-device spec */

struct tsd_qmp_op;

enum guest_state { G_IDLE, G_CONNECTING, G_PROBING, G_UP };

struct tsd_qmp_guest {
	struct tsd_qmp_guest *next;
	struct tsd_qmp *qb;
	char id[64];
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	bool seen;                      /* found by the current scan */
	enum guest_state st;
	bool logged_refused;
	unsigned refusals;              /* in a row */
	struct timespec retry_at;
	struct qmp_conn *conn;
	struct tsd_guest info;
	enum qmp_machine machine;
	struct tsd_layout layout;       /* last read */
	struct qmp_pci_slots slots;
	/* q35: ICH9-LPC's acpi-pci-hotplug-with-bridge-support is off, so the
	 * guest's _OSC gets native PCIe hot-plug and pciehp drives the root
	 * ports (read once per connection). */
	bool native_hotplug;
	char busy[MAX_BUSY][64];        /* slots ("0x5") / ports taken by attaches in flight */
	struct tsd_qmp_op *probe;
	/* QEMU did not answer an op in time and has sent nothing since */
	bool unresponsive;
	char unresponsive_msg[200];
	struct event *greeting_timer;   /* logs a socket that accepts but never greets */
	bool logged_silent;
	struct event *liveness_timer;   /* while unresponsive: one query-status at a time */
	bool liveness_out;
	/* QOM's word on each device of the root bus and of the buses behind
	 * ports, by bus and child[N] index (a device keeps its index; a new
	 * one gets a new index). */
	struct qom_child *children;
	size_t nchildren;
};

/* One device on the root bus or behind a port as QOM shows it (see
 * children_read). */
struct qom_child {
	char port[64];                  /* the port (tsd_port id) whose bus it is on; "" = root */
	struct qmp_qom_dev q;           /* index, devfn, hotplugged, rom_mapped */
	bool listed;                    /* in the bus's last qom-list */
	bool asked;                     /* its path and properties were asked for */
	char path[128];
	char rom_mr[64];                /* its ROM's memory region ("e1000.rom[0]"), "" if none */
};

struct tsd_qmp {
	struct tsd_backend pub;         /* first: the daemon sees this */
	struct event_base *base;
	char dir[PATH_MAX];
	struct sockdir *watch;
	bool logged_nodir;
	struct tsd_qmp_guest *guests;
	unsigned unplug_timeout_ms;
};

struct tsd_qmp_op {
	struct tsd_op base;             /* first: kind, callback, result, layout, pending */
	struct tsd_qmp *qb;
	struct tsd_qmp_guest *g;        /* NULL once the guest is gone */
	unsigned int_retries;           /* device_add sent again with an integer (B2) */
	void (*on_all)(struct tsd_qmp_op *);   /* called when base.pending drops to 0 */
	bool orphaned;
	struct event *timer;
	/* what went wrong while replies were coming in */
	enum tsd_rc err_rc;
	char err_msg[512];
	/* layout read (into base.layout) */
	struct qmp_holes holes;
	json_object *pci;
	struct qmp_pci_slots slots;
	bool changed;                   /* also tell host->guest_changed */
	/* attach / detach */
	json_object *add_args;          /* the device_add being sent (one function) */
	/* A multi-function slot: one device_add per function, the functions
	 * other than 0 first, then function 0 with multifunction=on (QEMU
	 * tells the guest about the slot when function 0 arrives). */
	unsigned nfn, next_fn, added;
	json_object *fn_args[MMIO_MAX_FUNCTIONS];   /* in sending order */
	uint8_t fn_num[MMIO_MAX_FUNCTIONS];
	char fn_id[MMIO_MAX_FUNCTIONS][64];
	bool has_decl;
	bool host_dev;                  /* vfio-pci: the ROM is not compared */
	struct mmio_device decl;
	char dev_id[64];
	char busy[64];
	bool got_event, waiting_event;
	bool notfound;                  /* device_del said "not found": a short grace wait */
	void (*after_layout)(struct tsd_qmp_op *);
	bool port_taken[QMP_MAX_PORTS];
	bool port_io_ro[QMP_MAX_PORTS];  /* by layout port: io-reserve=0 (registers read-only) */
	char lpc_path[128];             /* probe: ICH9-LPC's QOM path */
	char want_port[64];             /* attach: the port mmiod placed the device behind */
};

/* ---- small helpers ----------------------------------------------------------- */

static struct timespec now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

static bool ts_before(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static struct tsd_qmp_guest *guest_find(struct tsd_qmp *qb, const char *id)
{
	for (struct tsd_qmp_guest *g = qb->guests; g; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static bool busy_has(const struct tsd_qmp_guest *g, const char *what)
{
	for (int i = 0; i < MAX_BUSY; i++)
		if (g->busy[i][0] && strcmp(g->busy[i], what) == 0)
			return true;
	return false;
}

static bool busy_add(struct tsd_qmp_guest *g, const char *what)
{
	for (int i = 0; i < MAX_BUSY; i++)
		if (!g->busy[i][0]) {
			snprintf(g->busy[i], sizeof(g->busy[i]), "%s", what);
			return true;
		}
	return false;
}

static void busy_del(struct tsd_qmp_guest *g, const char *what)
{
	for (int i = 0; i < MAX_BUSY; i++)
		if (strcmp(g->busy[i], what) == 0) {
			g->busy[i][0] = '\0';
			return;
		}
}

/* ---- operations: completion is always deferred -------------------------------- */

static void op_dispose(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	if (op->g && op->busy[0])
		busy_del(op->g, op->busy);
	if (op->timer)
		event_free(op->timer);
	json_object_put(op->pci);
	json_object_put(op->add_args);
	for (unsigned i = 0; i < op->nfn; i++)
		json_object_put(op->fn_args[i]);
}

static void op_free(struct tsd_qmp_op *op)
{
	tsd_op_free(&op->base);
}

/* An op may go only when its result was delivered and no reply can still
 * arrive for it (a reply callback holds op as its ud). */
static void op_maybe_free(struct tsd_qmp_op *op)
{
	tsd_op_release(&op->base);
}

/* The slot or port an attach took is free again before its caller hears. */
static void op_before_delivery(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	if (op->g && op->busy[0]) {
		busy_del(op->g, op->busy);
		op->busy[0] = '\0';
	}
}

/* The daemon books the attach first, then sees the layout holding it. */
static void op_after_delivery(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	struct tsd_qmp *qb = op->qb;
	if (op->changed && op->g && (base->res.rc == TSD_OK || base->res.rc == TSD_E_MISMATCH) &&
	    qb->pub.host->guest_changed)
		qb->pub.host->guest_changed(qb->pub.host->ud, &qb->pub, op->g->id, &op->g->layout);
}

static void op_finish(struct tsd_qmp_op *op, enum tsd_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void op_finish(struct tsd_qmp_op *op, enum tsd_rc rc, const char *fmt, ...)
{
	va_list ap;
	if (op->base.finished)
		return;
	op->on_all = NULL;
	if (op->timer)
		event_del(op->timer);
	va_start(ap, fmt);
	tsd_op_vfinish(&op->base, rc, fmt, ap);
	va_end(ap);
}

static void guest_disconnect(struct tsd_qmp_guest *g, bool tell);
static void liveness_start(struct tsd_qmp_guest *g);

static const char *op_kind_name(const struct tsd_qmp_op *op)
{
	switch (op->base.kind) {
	case TSD_OP_INTERNAL: return "probe";
	case TSD_OP_REFRESH: return "read of the layout";
	case TSD_OP_ATTACH: return "attach";
	case TSD_OP_DETACH: return "detach";
	}
	return "operation";
}

/* The base's deadline passed: QEMU owes replies it has not sent. */
static void op_timeout(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	struct tsd_qmp_guest *g = op->g;
	struct tsd_qmp *qb = op->qb;

	if (!g)
		return;
	if (g->st != G_UP) {
		/* Not announced yet: nobody to tell; start again later. */
		tsd_log(&qb->pub, LOG_NOTICE, "guest %s: QEMU did not answer its probe within %u ms; "
			"reconnecting later", g->id, base->deadline_ms);
		op_finish(op, TSD_E_UNRESPONSIVE, "QEMU did not answer the probe");
		g->refusals = 2;        /* retry after RETRY_S, not at the next scan */
		guest_disconnect(g, false);
		return;
	}
	op_finish(op, TSD_E_UNRESPONSIVE,
		  "guest %s: QEMU did not answer within %u ms (%s); it is marked unresponsive until "
		  "it answers again", g->id, base->deadline_ms, op_kind_name(op));
	if (g->unresponsive)
		return;
	g->unresponsive = true;
	snprintf(g->unresponsive_msg, sizeof(g->unresponsive_msg),
		 "QEMU did not answer QMP within %u ms (%s)", base->deadline_ms, op_kind_name(op));
	liveness_start(g);
	tsd_log(&qb->pub, LOG_WARNING, "guest %s: %s; its calls fail at once until it answers again",
		g->id, g->unresponsive_msg);
	tsd_guest_answering(&qb->pub, g->id, false, "%s", g->unresponsive_msg);
}

static void liveness_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_guest *g = ud;
	g->liveness_out = false;        /* on_heard saw the line already */
}

static void liveness_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_qmp_guest *g = arg;
	(void)fd;
	(void)what;
	if (!g->unresponsive || !g->conn || g->liveness_out)
		return;
	if (qmp_send(g->conn, "query-status", NULL, liveness_reply, g) == 0)
		g->liveness_out = true;
}

static void liveness_start(struct tsd_qmp_guest *g)
{
	unsigned ms = g->qb->pub.host->call_timeout_ms;
	struct timeval tv;

	if (ms < 1000)
		ms = 1000;
	tv = (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
	if (!g->liveness_timer &&
	    !(g->liveness_timer = event_new(g->qb->base, -1, EV_PERSIST, liveness_cb, g)))
		return;
	event_add(g->liveness_timer, &tv);
}

static void liveness_stop(struct tsd_qmp_guest *g)
{
	if (g->liveness_timer)
		event_del(g->liveness_timer);
}

static struct tsd_qmp_op *op_new(struct tsd_qmp *qb, struct tsd_qmp_guest *g, enum tsd_op_kind kind)
{
	struct tsd_qmp_op *op = tsd_op_new(&qb->pub, sizeof(*op), kind, op_dispose, NULL);
	if (!op)
		return NULL;
	op->base.before_delivery = op_before_delivery;
	op->base.after_delivery = op_after_delivery;
	op->base.on_timeout = op_timeout;
	op->qb = qb;
	op->g = g;
	return op;
}

/* A guest that has not answered since an op timed out: the op fails at
 * once (delivered from the loop), nothing is sent. */
static bool op_refuse_unresponsive(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	if (!g || !g->unresponsive)
		return false;
	op_finish(op, TSD_E_UNRESPONSIVE, "guest %s is not answering: %s", g->id, g->unresponsive_msg);
	return true;
}

/* Bookkeeping common to every reply: returns false when the op no longer
 * wants replies (finished, or its guest went away). */
static bool reply_enter(struct tsd_qmp_op *op, const char *cls, const char *desc)
{
	op->base.pending--;
	if (op->base.finished)
		return false;
	if (!op->g || (cls && strcmp(cls, "Disconnected") == 0)) {
		if (!op->err_rc) {
			op->err_rc = TSD_E_NOGUEST;
			snprintf(op->err_msg, sizeof(op->err_msg), "guest went away: %s",
				 desc ? desc : "connection closed");
		}
	}
	return true;
}

/* After a reply was handled: the next step once every reply is in. */
static void reply_leave(struct tsd_qmp_op *op)
{
	if (op->base.finished) {
		op_maybe_free(op);
		return;
	}
	if (op->base.pending == 0 && op->on_all) {
		void (*fn)(struct tsd_qmp_op *) = op->on_all;
		op->on_all = NULL;
		if (op->err_rc) {
			op_finish(op, op->err_rc, "%s", op->err_msg);
			return;
		}
		fn(op);
	}
}

static int op_send(struct tsd_qmp_op *op, const char *cmd, json_object *args, qmp_reply_fn cb)
{
	if (!op->g || !op->g->conn || qmp_send(op->g->conn, cmd, args, cb, op) < 0) {
		if (!op->err_rc) {
			op->err_rc = TSD_E_NOGUEST;
			snprintf(op->err_msg, sizeof(op->err_msg), "guest %s: QMP connection is down",
				 op->g ? op->g->id : "?");
		}
		return -1;
	}
	op->base.pending++;
	return 0;
}

/* ---- reading a guest's layout ---------------------------------------------------- */

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
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
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
	reply_leave(op);
}

static void pci_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (ret) {
		json_object_put(op->pci);
		op->pci = json_object_get(ret);
	} else if (!op->err_rc) {
		op->err_rc = TSD_E_FAILED;
		snprintf(op->err_msg, sizeof(op->err_msg), "query-pci: %s", desc);
	}
	reply_leave(op);
}

/* query-memory-size-summary: base-memory is the RAM size; with
 * pci-hole-start it says how much RAM lies above 4 GiB.  Missing: the
 * 64-bit window stays what QOM says. */
static void mem_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	json_object *v;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (ret && json_object_object_get_ex(ret, "base-memory", &v) &&
	    qmp_map_u64(v, &op->holes.ram_size))
		op->holes.have_ram = true;
	reply_leave(op);
}

/* ---- QOM: the order devices arrived in, boot or hot-plug, ROMs last mapped ---- */

enum { CHILD_PATH, CHILD_ADDR, CHILD_HOTPLUGGED, CHILD_MRS, CHILD_ROM };

struct child_req {
	struct tsd_qmp_op *op;
	char port[64];
	unsigned index;
	int what;
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

static void child_ask(struct tsd_qmp_op *op, struct qom_child *c, int what, const char *path,
		      const char *prop)
{
	struct child_req *cr = malloc(sizeof(*cr));
	json_object *args = json_object_new_object();

	if (!cr || !args || !op->g || !op->g->conn) {
		free(cr);
		json_object_put(args);
		return;
	}
	*cr = (struct child_req){ .op = op, .index = c->q.index, .what = what };
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

static void child_ask_rom(struct tsd_qmp_op *op, struct qom_child *c)
{
	char path[sizeof(c->path) + sizeof(c->rom_mr) + 1];

	snprintf(path, sizeof(path), "%s/%s", c->path, c->rom_mr);
	child_ask(op, c, CHILD_ROM, path, "addr");
}

/* A missing answer (an older QEMU without the property) just leaves that
 * fact unknown: the layout is read all the same. */
static void child_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct child_req *cr = ud;
	struct tsd_qmp_op *op = cr->op;
	struct qom_child *c;
	uint64_t v;

	if (!reply_enter(op, cls, desc)) {
		free(cr);
		op_maybe_free(op);
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
			break;
		case CHILD_ROM:
			if (qmp_map_u64(ret, &v))
				c->q.rom_mapped = v;
			break;
		}
	}
	free(cr);
	reply_leave(op);
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

	if (!reply_enter(op, cls, desc)) {
		free(br);
		op_maybe_free(op);
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
		} else if (c->rom_mr[0] && !c->q.rom_mapped) {
			/* not mapped yet when first asked (before the firmware ran) */
			child_ask_rom(op, c);
		}
	}
	free(br);
	reply_leave(op);
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

/* The facts QOM gave, onto the layout's BARs: a port's bus by the number
 * the firmware gave it. */
static void children_apply(struct tsd_qmp_guest *g, struct tsd_layout *l)
{
	struct qmp_qom_dev *q = g->nchildren ? malloc(g->nchildren * sizeof(*q)) : NULL;

	for (size_t i = 0; q && i < g->nchildren; i++) {
		q[i] = g->children[i].q;
		q[i].bus = 0;
		for (size_t p = 0; g->children[i].port[0] && p < l->nports; p++)
			if (strcmp(l->ports[p].id, g->children[i].port) == 0)
				q[i].bus = l->ports[p].secondary ? l->ports[p].secondary : -1;
	}
	qmp_map_arrivals(l, q, q ? g->nchildren : 0);
	free(q);
}

static void layout_mapped(struct tsd_qmp_op *op);

/* Sends the qom-gets and query-pci; once all replies are in, maps them
 * into op->base.layout (and the guest's copy) and continues with next. */
static void layout_read(struct tsd_qmp_op *op, void (*next)(struct tsd_qmp_op *))
{
	struct tsd_qmp_guest *g = op->g;
	const char *path = qmp_machine_host_path(g->machine);
	int nprops = g->machine == QMP_MACHINE_Q35 ? Q_NPROPS : Q_MCFG;

	tsd_op_deadline(&op->base, op->qb->pub.host->call_timeout_ms);
	memset(&op->holes, 0, sizeof(op->holes));
	op->holes.machine = g->machine;
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
		op_send(op, "query-memory-size-summary", NULL, mem_reply);
	if (!op->err_rc)
		op_send(op, "query-pci", NULL, pci_reply);
	if (!op->err_rc)
		children_read(op, "");
	op->on_all = layout_mapped;
	if (op->base.pending == 0) {
		/* Nothing went out: fail now (still deferred to the caller). */
		op->on_all = NULL;
		op_finish(op, op->err_rc ? op->err_rc : TSD_E_FAILED, "%s", op->err_msg);
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
			if (!(s->root_used & (UINT32_C(1) << slot)) && !busy_has(g, key))
				n++;
		}
		return n;
	case QMP_MACHINE_Q35:
		for (unsigned i = 0; i < s->nports; i++)
			if (!busy_has(g, s->ports[i]))
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
	children_apply(g, &op->base.layout);
	op->base.layout.min_mem = 0;         /* QMP cannot tell where the guest's E820 gap starts */
	op->base.layout.free_slots = free_slots(g, &op->slots);
	if (tsd_layout_copy(&copy, &op->base.layout) < 0) {
		op_finish(op, TSD_E_FAILED, "out of memory");
		return;
	}
	tsd_layout_clear(&g->layout);
	g->layout = copy;
	g->slots = op->slots;
	op->base.have_layout = true;
	if (next)
		next(op);
	else
		op_finish(op, TSD_OK, NULL);
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
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	/* A bus lists its devices as link properties "child[N]". */
	if (ret && json_object_is_type(ret, json_type_array))
		for (size_t i = 0; i < json_object_array_length(ret); i++) {
			json_object *p = json_object_array_get_idx(ret, i), *n;
			if (json_object_object_get_ex(p, "name", &n) &&
			    strncmp(json_object_get_string(n), "child[", 6) == 0)
				op->port_taken[idx] = true;
		}
	reply_leave(op);
}

static void port_io_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct port_req *pr = ud;
	struct tsd_qmp_op *op = pr->op;
	unsigned idx = pr->idx;
	uint64_t v;
	free(pr);
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	/* No such property (not a pcie-root-port): nothing to model. */
	if (ret && qmp_map_u64(ret, &v) && v == 0 && idx < QMP_MAX_PORTS)
		op->port_io_ro[idx] = true;
	reply_leave(op);
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
		op_finish(op, TSD_E_FAILED, "guest %s: windows: %s", g->id, err.msg);
		return;
	}
	if (!op->pci || qmp_map_pci(op->pci, &op->base.layout, &op->slots, &err) != MMIO_OK) {
		op_finish(op, TSD_E_FAILED, "guest %s: %s", g->id, op->pci ? err.msg : "no query-pci");
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

/* ---- guests: connect, probe, events, disconnect --------------------------------- */

static void name_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	json_object *v;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (op->g && ret && json_object_object_get_ex(ret, "name", &v) &&
	    json_object_is_type(v, json_type_string) && *json_object_get_string(v))
		snprintf(op->g->info.name, sizeof(op->g->info.name), "%s", json_object_get_string(v));
	reply_leave(op);
}

static void uuid_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	json_object *v;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	/* QEMU answers all zeros when -uuid was not given: that is no uuid. */
	if (op->g && ret && json_object_object_get_ex(ret, "UUID", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "00000000-0000-0000-0000-000000000000") != 0)
		snprintf(op->g->info.uuid, sizeof(op->g->info.uuid), "%s", json_object_get_string(v));
	reply_leave(op);
}

static void machine_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (op->g && ret && json_object_is_type(ret, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(ret); i++) {
			json_object *p = json_object_array_get_idx(ret, i), *n, *t;
			if (!json_object_object_get_ex(p, "name", &n) ||
			    !json_object_object_get_ex(p, "type", &t))
				continue;
			const char *name = json_object_get_string(n), *type = json_object_get_string(t);
			if (strcmp(name, "i440fx") == 0 || strcmp(type, "child<i440FX-pcihost>") == 0)
				op->g->machine = QMP_MACHINE_PC;
			else if (strcmp(name, "q35") == 0 || strcmp(type, "child<q35-pcihost>") == 0)
				op->g->machine = QMP_MACHINE_Q35;
		}
	}
	reply_leave(op);
}

static void probe_announce(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	struct tsd_qmp *qb = op->qb;

	g->st = G_UP;
	g->probe = NULL;
	tsd_log(&qb->pub, LOG_INFO, "guest %s (%s): QEMU %s, %s machine, %d free slot(s)", g->id, g->info.name,
	     qmp_conn_version(g->conn),
	     g->machine == QMP_MACHINE_PC ? "pc" : g->machine == QMP_MACHINE_Q35 ? "q35" : "unknown",
	     g->layout.free_slots);
	op_finish(op, TSD_OK, NULL);
	if (qb->pub.host->guest_up)
		qb->pub.host->guest_up(qb->pub.host->ud, &qb->pub, &g->info, &g->layout);
}

static void lpc_hotplug_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (op->g && ret && json_object_is_type(ret, json_type_boolean))
		op->g->native_hotplug = !json_object_get_boolean(ret);
	reply_leave(op);
}

static void probe_layout(struct tsd_qmp_op *op)
{
	layout_read(op, probe_announce);
}

static void probe_lpc(struct tsd_qmp_op *op)
{
	json_object *args;

	if (!op->lpc_path[0]) {
		probe_layout(op);
		return;
	}
	args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string(op->lpc_path));
	json_object_object_add(args, "property",
			       json_object_new_string("acpi-pci-hotplug-with-bridge-support"));
	op->on_all = probe_layout;
	if (op_send(op, "qom-get", args, lpc_hotplug_reply) < 0 && op->base.pending == 0) {
		op->on_all = NULL;
		op_finish(op, op->err_rc, "%s", op->err_msg);
	}
}

/* QEMU 7.2 puts ICH9-LPC at /machine/unattached/device[N]. */
static void unattached_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (ret && json_object_is_type(ret, json_type_array))
		for (size_t i = 0; i < json_object_array_length(ret); i++) {
			json_object *p = json_object_array_get_idx(ret, i), *n, *t;
			if (json_object_object_get_ex(p, "name", &n) &&
			    json_object_object_get_ex(p, "type", &t) &&
			    strcmp(json_object_get_string(t), "child<ICH9-LPC>") == 0)
				snprintf(op->lpc_path, sizeof(op->lpc_path), "/machine/unattached/%s",
					 json_object_get_string(n));
		}
	reply_leave(op);
}

static void probe_basics(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	g->native_hotplug = false;
	if (g->machine == QMP_MACHINE_UNKNOWN) {
		g->info.can_attach = false;
		snprintf(g->info.why_not, sizeof(g->info.why_not),
			 "QEMU machine has no i440FX or Q35 host bridge (only pc and q35 are supported)");
	}
	if (g->machine == QMP_MACHINE_Q35) {
		/* Which hot-plug driver the guest uses behind root ports. */
		json_object *args = json_object_new_object();
		json_object_object_add(args, "path", json_object_new_string("/machine/unattached"));
		op->lpc_path[0] = '\0';
		op->on_all = probe_lpc;
		if (op_send(op, "qom-list", args, unattached_reply) < 0 && op->base.pending == 0) {
			op->on_all = NULL;
			op_finish(op, op->err_rc, "%s", op->err_msg);
		}
		return;
	}
	layout_read(op, probe_announce);
}

static void probe_start(struct tsd_qmp_guest *g)
{
	struct tsd_qmp_op *op = op_new(g->qb, g, TSD_OP_INTERNAL);
	json_object *args = json_object_new_object();
	if (!op || !args) {
		json_object_put(args);
		if (op)
			op_free(op);
		guest_disconnect(g, false);
		return;
	}
	g->probe = op;
	snprintf(g->info.id, sizeof(g->info.id), "%s", g->id);
	snprintf(g->info.name, sizeof(g->info.name), "%s", g->id);
	g->info.uuid[0] = '\0';
	g->info.can_attach = true;
	g->info.why_not[0] = '\0';
	g->machine = QMP_MACHINE_UNKNOWN;
	json_object_object_add(args, "path", json_object_new_string("/machine"));
	op_send(op, "query-name", NULL, name_reply);
	op_send(op, "query-uuid", NULL, uuid_reply);
	op_send(op, "qom-list", args, machine_reply);
	op->on_all = probe_basics;
	if (op->base.pending == 0)
		op_finish(op, TSD_E_NOGUEST, "QMP connection is down");
}

/* A background refresh after a change nobody here made (DEVICE_DELETED of
 * a device mmiod did not detach): ends in host->guest_changed. */
static void background_refresh(struct tsd_qmp_guest *g)
{
	struct tsd_qmp_op *op = op_new(g->qb, g, TSD_OP_REFRESH);
	if (!op)
		return;
	op->changed = true;
	layout_read(op, NULL);
}

static void detach_removed(struct tsd_qmp_op *op);

static void on_event(void *ud, const char *event, json_object *data)
{
	struct tsd_qmp_guest *g = ud;
	struct tsd_qmp *qb = g->qb;
	json_object *v;

	if (strcmp(event, "DEVICE_DELETED") == 0) {
		const char *dev = NULL;
		bool mine = false;
		if (data && json_object_object_get_ex(data, "device", &v) &&
		    json_object_is_type(v, json_type_string))
			dev = json_object_get_string(v);
		for (struct tsd_op *o = qb->pub.ops; dev && o; o = o->next) {
			struct tsd_qmp_op *op = (struct tsd_qmp_op *)o;
			if (op->g == g && op->base.kind == TSD_OP_DETACH && op->waiting_event &&
			    strcmp(op->dev_id, dev) == 0) {
				op->waiting_event = false;
				op->got_event = true;
				event_del(op->timer);
				layout_read(op, detach_removed);
				mine = true;
			}
		}
		if (!mine && g->st == G_UP)
			background_refresh(g);
	} else if (strcmp(event, "SHUTDOWN") == 0) {
		tsd_log(&qb->pub, LOG_INFO, "guest %s: shut down", g->id);
		/* If QEMU lives on (-no-shutdown), the next scan finds it again. */
		guest_disconnect(g, true);
	}
}

static void on_state(void *ud, enum qmp_state st, bool refused, const char *why)
{
	struct tsd_qmp_guest *g = ud;
	struct tsd_qmp *qb = g->qb;

	if (st == QMP_READY) {
		g->logged_refused = false;
		g->logged_silent = false;
		g->refusals = 0;
		g->st = G_PROBING;
		probe_start(g);
		return;
	}
	if (refused) {
		g->refusals++;
		/* A stale socket or QEMU not listening yet: quietly, once. */
		if (!g->logged_refused)
			tsd_log(&qb->pub, LOG_DEBUG, "guest %s: %s; will retry", g->id, why);
		g->logged_refused = true;
	} else if (g->st == G_UP || g->st == G_PROBING) {
		tsd_log(&qb->pub, LOG_INFO, "guest %s: %s", g->id, why);
	}
	guest_disconnect(g, true);
}

/* QEMU sent something: it answers again. */
static void on_heard(void *ud)
{
	struct tsd_qmp_guest *g = ud;
	struct tsd_qmp *qb = g->qb;

	if (!g->unresponsive)
		return;
	g->unresponsive = false;
	liveness_stop(g);
	tsd_log(&qb->pub, LOG_NOTICE, "guest %s: QEMU answers again", g->id);
	tsd_guest_answering(&qb->pub, g->id, true, NULL);
}

/* A socket that accepts but never greets: another client holds QEMU's
 * monitor (one client at a time), or QEMU is stopped.  Not an error, the
 * greeting comes when that ends; said once. */
static void greeting_late(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_qmp_guest *g = arg;
	(void)fd;
	(void)what;
	if (g->st != G_CONNECTING || g->logged_silent)
		return;
	g->logged_silent = true;
	tsd_log(&g->qb->pub, LOG_NOTICE, "guest %s: %s accepts connections but QEMU sent no "
		"greeting within %u ms (another QMP client connected, or QEMU stopped); waiting",
		g->id, g->path, g->qb->pub.host->call_timeout_ms);
}

static void guest_connect(struct tsd_qmp_guest *g)
{
	struct qmp_callbacks cb = { .state = on_state, .event = on_event, .heard = on_heard,
				    .ud = g };
	unsigned ms = g->qb->pub.host->call_timeout_ms;

	g->conn = qmp_conn_new(g->qb->base, g->path, &cb);
	if (!g->conn) {
		tsd_log(&g->qb->pub, LOG_WARNING, "guest %s: %s", g->id, strerror(errno));
		g->retry_at = now_mono();
		g->retry_at.tv_sec += RETRY_S;
		return;
	}
	g->st = G_CONNECTING;
	if (ms && (g->greeting_timer || (g->greeting_timer = evtimer_new(g->qb->base, greeting_late, g)))) {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		evtimer_add(g->greeting_timer, &tv);
	}
}

/* Drops the connection; every operation of the guest ends (NOGUEST).  tell:
 * announce guest_down when the guest was up. */
static void guest_disconnect(struct tsd_qmp_guest *g, bool tell)
{
	struct tsd_qmp *qb = g->qb;
	bool was_up = g->st == G_UP;
	struct qmp_conn *c = g->conn;

	g->conn = NULL;
	g->st = G_IDLE;
	g->probe = NULL;
	g->unresponsive = false;        /* a new connection starts afresh */
	liveness_stop(g);
	if (g->greeting_timer)
		evtimer_del(g->greeting_timer);
	g->retry_at = now_mono();
	/* The first refusal retries at the next scan (QEMU may have bound its
	 * socket but not be listening yet); later ones every RETRY_S. */
	g->retry_at.tv_sec += g->refusals > 1 ? RETRY_S : 0;
	for (struct tsd_op *o = qb->pub.ops; o; o = o->next) {
		struct tsd_qmp_op *op = (struct tsd_qmp_op *)o;
		if (op->g == g) {
			op->g = NULL;
			op->orphaned = true;
			op->busy[0] = '\0';
		}
	}
	/* Pending replies come back "Disconnected" from inside this call. */
	qmp_conn_free(c);
	for (struct tsd_op *o = qb->pub.ops, *next; o; o = next) {
		struct tsd_qmp_op *op = (struct tsd_qmp_op *)o;
		next = o->next;
		if (op->orphaned && !op->base.finished)
			op_finish(op, TSD_E_NOGUEST, "guest %s went away", g->id);
	}
	memset(g->busy, 0, sizeof(g->busy));
	free(g->children);
	g->children = NULL;
	g->nchildren = 0;
	tsd_layout_clear(&g->layout);
	if (was_up && tell && qb->pub.host->guest_down)
		qb->pub.host->guest_down(qb->pub.host->ud, &qb->pub, g->id);
}

static void guest_remove(struct tsd_qmp *qb, struct tsd_qmp_guest *g, bool tell)
{
	struct tsd_qmp_guest **pp;
	guest_disconnect(g, tell);
	for (pp = &qb->guests; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	if (g->greeting_timer)
		event_free(g->greeting_timer);
	if (g->liveness_timer)
		event_free(g->liveness_timer);
	free(g);
}

/* ---- the directory (sockdir.c watches it) ------------------------------------------ */

static void scanned(void *ud, const struct sockdir_entry *v, size_t n, int errnum)
{
	struct tsd_qmp *qb = ud;
	struct tsd_qmp_guest **pp, *g;

	if (errnum) {
		if (!qb->logged_nodir)
			tsd_log(&qb->pub, LOG_WARNING, "%s: %s; watching for it", qb->dir, strerror(errnum));
		qb->logged_nodir = true;
		while (qb->guests)
			guest_remove(qb, qb->guests, true);
		return;
	}
	qb->logged_nodir = false;
	for (g = qb->guests; g; g = g->next)
		g->seen = false;
	for (size_t i = 0; i < n; i++) {
		const struct sockdir_entry *e = &v[i];
		g = guest_find(qb, e->id);
		if (g && strcmp(g->path, e->path) != 0)
			continue;       /* "vm.sock" and "vm.qmp": the first one wins */
		if (g && (g->dev != e->dev || g->ino != e->ino)) {
			/* A new QEMU bound the same path. */
			guest_remove(qb, g, true);
			g = NULL;
		}
		if (!g) {
			g = calloc(1, sizeof(*g));
			if (!g)
				break;
			g->qb = qb;
			snprintf(g->id, sizeof(g->id), "%s", e->id);
			snprintf(g->path, sizeof(g->path), "%s", e->path);
			g->dev = e->dev;
			g->ino = e->ino;
			g->st = G_IDLE;
			g->layout.free_slots = -1;
			g->retry_at = now_mono();
			g->next = qb->guests;
			qb->guests = g;
		}
		g->seen = true;
	}
	for (pp = &qb->guests; *pp;) {
		g = *pp;
		if (!g->seen) {
			guest_remove(qb, g, true);
			continue;       /* *pp is now the next one */
		}
		pp = &g->next;
	}
	struct timespec now = now_mono();
	for (g = qb->guests; g; g = g->next)
		if (g->st == G_IDLE && !ts_before(now, g->retry_at))
			guest_connect(g);
}

/* ---- the driver operations ------------------------------------------------------------- */

static struct tsd_qmp_guest *guest_up_find(struct tsd_qmp *qb, const char *id, struct mmio_error *err)
{
	struct tsd_qmp_guest *g = id ? guest_find(qb, id) : NULL;
	if (!g || g->st != G_UP) {
		mmio_error_set(err, MMIO_E_NOTFOUND, "qmp: no guest %s%s", id ? id : "(null)",
			       g ? " (not connected)" : "");
		return NULL;
	}
	return g;
}

static int tsd_qmp_open(const struct tsd_host *host, const char *arg, unsigned flags,
			struct tsd_backend **out, struct mmio_error *err)
{
	struct tsd_qmp *qb;
	const char *env;

	tsd_check_flags("qmp", "open", flags, 0, err);
	if (!arg || !*arg) {
		mmio_error_set(err, MMIO_E_INVALID,
			       "qmp: a directory of QMP sockets is needed: --backend qmp:DIR");
		return -1;
	}
	if (strlen(arg) >= PATH_MAX - 64) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: directory name too long");
		return -1;
	}
	qb = calloc(1, sizeof(*qb));
	if (!qb) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	qb->pub.drv = &tsd_qmp_driver;
	qb->pub.host = host;
	/* spec is informational; a long DIR is cut there, not in qb->dir. */
	size_t room = sizeof(qb->pub.spec) - 5;
	memcpy(qb->pub.spec, "qmp:", 4);
	memcpy(qb->pub.spec + 4, arg, strlen(arg) < room ? strlen(arg) + 1 : room);
	qb->pub.spec[sizeof(qb->pub.spec) - 1] = '\0';
	qb->base = host->base;
	snprintf(qb->dir, sizeof(qb->dir), "%s", arg);
	/* Trailing slashes would end up in every socket path. */
	for (size_t n = strlen(qb->dir); n > 1 && qb->dir[n - 1] == '/'; n--)
		qb->dir[n - 1] = '\0';
	qb->unplug_timeout_ms = UNPLUG_TIMEOUT_MS;
	env = getenv("MMIOD_QMP_UNPLUG_TIMEOUT_MS");
	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);
		if (!*end && v > 0 && v < 3600000)
			qb->unplug_timeout_ms = (unsigned)v;
	}
	if (sockdir_open(qb->base, qb->dir, SCAN_INTERVAL_S, scanned, qb, &qb->watch) < 0) {
		free(qb);
		mmio_error_set(err, MMIO_E_NOMEM, "qmp: cannot set up the scan timer");
		return -1;
	}
	*out = &qb->pub;
	return 0;
}

/* Operations still in flight are dropped without their callbacks: after
 * close() the daemon is not listening any more. */
static void tsd_qmp_close(struct tsd_backend *be)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	if (!qb)
		return;
	sockdir_close(qb->watch);
	while (qb->guests)
		guest_remove(qb, qb->guests, false);
	tsd_ops_free(&qb->pub);
	free(qb);
}

static int tsd_qmp_refresh(struct tsd_backend *be, const char *guest_id, unsigned flags,
			   tsd_layout_fn cb, void *ud, struct mmio_error *err)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	struct tsd_qmp_guest *g;
	struct tsd_qmp_op *op;

	tsd_check_flags("qmp", "refresh", flags, 0, err);
	if (!(g = guest_up_find(qb, guest_id, err)))
		return -1;
	if (!(op = op_new(qb, g, TSD_OP_REFRESH))) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	op->base.layout_cb = cb;
	op->base.ud = ud;
	if (!op_refuse_unresponsive(op))
		layout_read(op, NULL);
	return 0;
}

/* ---- attach ----------------------------------------------------------------------------- */

static void attach_added(struct tsd_qmp_op *op);

static void undo_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	(void)ret;
	(void)cls;
	(void)desc;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	reply_leave(op);
}

static void add_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (!ret && !op->err_rc && op->int_retries < 8 && op->g &&
	    qmp_map_integer_retry(op->add_args, desc)) {
		/* one property at a time, as QEMU names them; bounded */
		op->int_retries++;
		if (op_send(op, "device_add", json_object_get(op->add_args), add_reply) == 0) {
			reply_leave(op);
			return;
		}
	}
	if (!ret && !op->err_rc) {
		op->err_rc = TSD_E_FAILED;
		snprintf(op->err_msg, sizeof(op->err_msg), "device_add %s: %s",
			 op->nfn ? op->fn_id[op->next_fn - 1] : op->dev_id, desc);
		/* the functions QEMU took already never reached the guest
		 * (function 0 comes last): take them out again */
		for (unsigned i = 0; op->nfn && i + 1 < op->next_fn; i++) {
			json_object *args = json_object_new_object();
			if (!args)
				break;
			json_object_object_add(args, "id", json_object_new_string(op->fn_id[i]));
			if (op_send(op, "device_del", args, undo_reply) == 0)
				strbuf_appendf(op->err_msg, sizeof(op->err_msg), "%s%s",
					       i ? ", " : "; device_del requested for ", op->fn_id[i]);
		}
	} else if (ret && op->nfn && op->next_fn < op->nfn && op->g) {
		/* the next function of the slot */
		json_object_put(op->add_args);
		op->add_args = json_object_get(op->fn_args[op->next_fn++]);
		op->int_retries = 0;
		tsd_op_deadline(&op->base, op->qb->pub.host->attach_timeout_ms);
		if (op_send(op, "device_add", json_object_get(op->add_args), add_reply) < 0 && !op->err_rc) {
			op->err_rc = TSD_E_NOGUEST;
			snprintf(op->err_msg, sizeof(op->err_msg), "QMP connection lost");
		}
	}
	reply_leave(op);
}

static void attach_place(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	char key[64] = "";
	json_object *busv;

	if (op->want_port[0]) {
		/* mmiod's books chose the port (its windows are what the
		 * placement was computed in): plug exactly there. */
		if (json_object_object_get_ex(op->add_args, "bus", &busv) &&
		    strcmp(json_object_get_string(busv), op->want_port) != 0) {
			op_finish(op, TSD_E_FAILED,
				  "guest %s: the device spec says bus=%s but mmiod placed the device "
				  "behind port %s", g->id, json_object_get_string(busv), op->want_port);
			return;
		}
		json_object_object_add(op->add_args, "bus", json_object_new_string(op->want_port));
		if (busy_add(g, op->want_port))
			snprintf(op->busy, sizeof(op->busy), "%s", op->want_port);
	} else if (!json_object_object_get_ex(op->add_args, "bus", NULL) &&
	    !json_object_object_get_ex(op->add_args, "addr", NULL)) {
		if (g->machine == QMP_MACHINE_PC) {
			for (int slot = 1; slot < 32 && !key[0]; slot++) {
				char k[16];
				snprintf(k, sizeof(k), "0x%x", slot);
				if (!(op->slots.root_used & (UINT32_C(1) << slot)) && !busy_has(g, k))
					snprintf(key, sizeof(key), "%s", k);
			}
			if (!key[0]) {
				op_finish(op, TSD_E_FAILED, "guest %s: no free slot on pci.0", g->id);
				return;
			}
			json_object_object_add(op->add_args, "bus", json_object_new_string("pci.0"));
			json_object_object_add(op->add_args, "addr", json_object_new_string(key));
		} else if (g->machine == QMP_MACHINE_Q35) {
			for (unsigned i = 0; i < op->slots.nports && !key[0]; i++)
				if (!busy_has(g, op->slots.ports[i]))
					snprintf(key, sizeof(key), "%s", op->slots.ports[i]);
			if (!key[0]) {
				op_finish(op, TSD_E_FAILED,
					  "guest %s: no empty pcie-root-port with an id to hot-plug into "
					  "(q35's pcie.0 does not support hot-plug; start QEMU with spare "
					  "-device pcie-root-port,id=...)", g->id);
				return;
			}
			json_object_object_add(op->add_args, "bus", json_object_new_string(key));
		}
		if (key[0] && busy_add(g, key))
			snprintf(op->busy, sizeof(op->busy), "%s", key);
	}
	/* device_add of a vfio-pci device maps (pins) guest RAM: its own,
	 * longer deadline */
	tsd_op_deadline(&op->base, op->qb->pub.host->attach_timeout_ms);
	if (op->nfn) {
		/* the slot's functions at the bus and slot function 0 got */
		json_object *bv = NULL, *av = NULL;
		char bus[64] = "";
		unsigned long slot = 0;

		/* copied out: setting "bus" and "addr" below frees the old values */
		if (json_object_object_get_ex(op->add_args, "bus", &bv))
			snprintf(bus, sizeof(bus), "%s", json_object_get_string(bv));
		if (json_object_object_get_ex(op->add_args, "addr", &av))
			slot = strtoul(json_object_get_string(av), NULL, 16);
		for (unsigned i = 0; i < op->nfn; i++) {
			json_object *a = op->fn_args[i];
			char fa[16];
			unsigned fn = op->fn_num[i];
			if (bus[0])
				json_object_object_add(a, "bus", json_object_new_string(bus));
			snprintf(fa, sizeof(fa), "0x%lx.%x", slot, fn);
			json_object_object_add(a, "addr", json_object_new_string(fa));
			if (fn == 0)
				json_object_object_add(a, "multifunction", json_object_new_string("on"));
		}
		json_object_put(op->add_args);
		op->add_args = json_object_get(op->fn_args[0]);
		op->next_fn = 1;
	}
	op_send(op, "device_add", json_object_get(op->add_args), add_reply);
	op->on_all = attach_added;
	if (op->base.pending == 0)
		op_finish(op, op->err_rc ? op->err_rc : TSD_E_NOGUEST, "%s", op->err_msg);
}

static void attach_checked(struct tsd_qmp_op *op);

static void attach_added(struct tsd_qmp_op *op)
{
	layout_read(op, attach_checked);
}

static void mismatch_del_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	size_t n;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	n = strlen(op->base.res.msg);
	if (ret)
		snprintf(op->base.res.msg + n, sizeof(op->base.res.msg) - n,
			 "; device_del %s requested (on pc it stays until the guest OS ejects it)",
			 op->dev_id);
	else
		snprintf(op->base.res.msg + n, sizeof(op->base.res.msg) - n, "; device_del %s failed: %s",
			 op->dev_id, desc);
	op->err_rc = 0;         /* the result is the mismatch, whatever device_del said */
	reply_leave(op);
}

static void attach_mismatch_done(struct tsd_qmp_op *op)
{
	op->changed = true;
	op_finish(op, TSD_E_MISMATCH, NULL);
}

/* Compares every function of the device with what QEMU built. */
static bool compare_functions(struct tsd_qmp_op *op, char *diff, size_t len)
{
	struct mmio_device *f;
	bool same = true;

	if (!op->nfn)
		return qmp_map_compare(&op->decl, &op->base.layout, op->dev_id, op->host_dev, diff, len);
	f = malloc(sizeof(*f));
	if (!f)
		return true;    /* nothing to compare with: the attach stands */
	diff[0] = '\0';
	for (unsigned i = 0; i < op->nfn; i++) {
		unsigned fn = op->fn_num[i];
		const struct mmio_function *mf = mmio_device_function(&op->decl, fn);
		char d1[300];

		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s function %u", op->decl.name, fn);
		for (unsigned b = 0; b < op->decl.nbars; b++)
			if (op->decl.bars[b].fn == fn) {
				f->bars[f->nbars] = op->decl.bars[b];
				f->bars[f->nbars++].fn = 0;
			}
		if (!qmp_map_compare(f, &op->base.layout, op->fn_id[i], mf && mf->has_bdf, d1, sizeof(d1))) {
			strbuf_appendf(diff, len, "%sfunction %u: %s", same ? "" : "; ", fn, d1);
			same = false;
		}
	}
	free(f);
	return same;
}

static void attach_checked(struct tsd_qmp_op *op)
{
	char diff[400];
	const char *slot = "";

	for (size_t i = 0; i < op->base.layout.nbars; i++)
		if (strcmp(op->base.layout.bars[i].device, op->dev_id) == 0) {
			slot = op->base.layout.bars[i].guest_slot;
			break;
		}
	if (op->has_decl && !qmp_map_has_device(op->pci, op->dev_id)) {
		/* Behind a root port the firmware has not numbered yet (-S):
		 * QEMU accepted the device but query-pci cannot show it. */
		snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%s", op->dev_id);
		op->changed = true;
		op_finish(op, TSD_OK,
			  "attached %s; query-pci does not show it yet (behind a bridge the firmware "
			  "has not numbered), so its BARs were not checked", op->dev_id);
		return;
	}
	if (op->has_decl && !compare_functions(op, diff, sizeof(diff))) {
		json_object *args = json_object_new_object();
		snprintf(op->base.res.msg, sizeof(op->base.res.msg),
			 "QEMU device %s does not match %s: %s", op->dev_id, op->decl.name, diff);
		if (args)
			json_object_object_add(args, "id", json_object_new_string(op->dev_id));
		op_send(op, "device_del", args, mismatch_del_reply);
		op->on_all = attach_mismatch_done;
		if (op->base.pending == 0)
			attach_mismatch_done(op);
		return;
	}
	snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%s", op->dev_id);
	op->changed = true;
	if (op->nfn)
		op_finish(op, TSD_OK, "attached %s (%u functions) at %s", op->dev_id, op->nfn,
			  slot[0] ? slot : "(no BARs)");
	else
		op_finish(op, TSD_OK, "attached %s at %s", op->dev_id, slot[0] ? slot : "(no BARs)");
}

/* The device_add arguments of one function: vfio-pci for a host function,
 * else its part of the QEMU device spec. */
static json_object *function_args(const struct mmio_function *f, const char *spec_part,
				  struct mmio_error *err)
{
	json_object *args;

	if (f && f->has_bdf && !*spec_part) {
		char bdf[16];
		mmio_bdf_format(&f->bdf, bdf, sizeof(bdf));
		args = json_object_new_object();
		if (!args) {
			mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
			return NULL;
		}
		json_object_object_add(args, "driver", json_object_new_string("vfio-pci"));
		json_object_object_add(args, "host", json_object_new_string(bdf));
		return args;
	}
	if (!*spec_part) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: function %u is not a host device and has no QEMU device spec "
			       "(qemu-device: one spec per function, joined with \"+\")", f ? f->fn : 0);
		return NULL;
	}
	args = qmp_map_device_spec(spec_part, err);
	if (args && (json_object_object_get_ex(args, "addr", NULL) ||
		     json_object_object_get_ex(args, "multifunction", NULL))) {
		json_object_put(args);
		mmio_error_set(err, MMIO_E_INVALID,
			       "qmp: \"%.100s\": mmiod sets addr and multifunction of each function of a slot",
			       spec_part);
		return NULL;
	}
	return args;
}

/* A multi-function slot: op->fn_args in sending order (functions other
 * than 0 first), ids "ID" for function 0 and "ID.N" for function N. */
static int slot_args(struct tsd_qmp_op *op, const struct tsd_attach_req *req, struct mmio_error *err)
{
	const struct mmio_device *d = req->device;
	char parts[MMIO_MAX_FUNCTIONS][BOOKS_QMP_SPEC_MAX];
	unsigned nparts = 0;

	memset(parts, 0, sizeof(parts));
	if (req->qemu_device) {
		const char *p = req->qemu_device;
		for (;;) {
			const char *end = strchr(p, '+');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			if (nparts >= MMIO_MAX_FUNCTIONS || len >= sizeof(parts[0])) {
				mmio_error_set(err, MMIO_E_INVALID, "qmp: qemu-device: too many or too long "
					       "function specs");
				return -1;
			}
			memcpy(parts[nparts++], p, len);
			if (!end)
				break;
			p = end + 1;
		}
		if (nparts != d->nfn) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "qmp: qemu-device has %u function specs joined with \"+\", the device "
				       "%u functions", nparts, d->nfn);
			return -1;
		}
	}
	if (strlen(req->attach_id) + 2 >= sizeof(op->fn_id[0])) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: attach id too long for a slot");
		return -1;
	}
	for (unsigned k = 0; k < d->nfn; k++) {
		/* function 0 last */
		unsigned src = k + 1 < d->nfn ? k + 1 : 0;
		const struct mmio_function *f = &d->fns[src];
		json_object *args = function_args(f, parts[src], err);

		if (!args)
			return -1;
		if (f->fn)
			snprintf(op->fn_id[op->nfn], sizeof(op->fn_id[0]), "%s.%u", req->attach_id, f->fn);
		else
			snprintf(op->fn_id[op->nfn], sizeof(op->fn_id[0]), "%s", req->attach_id);
		json_object_object_add(args, "id", json_object_new_string(op->fn_id[op->nfn]));
		op->fn_num[op->nfn] = f->fn;
		op->fn_args[op->nfn++] = args;
	}
	op->add_args = json_object_get(op->fn_args[0]);
	return 0;
}

static int tsd_qmp_attach(struct tsd_backend *be, const char *guest_id,
			  const struct tsd_attach_req *req, unsigned flags, tsd_done_fn cb,
			  void *ud, struct mmio_error *err)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	struct tsd_qmp_guest *g;
	struct tsd_qmp_op *op;
	json_object *args;

	tsd_check_flags("qmp", "attach", flags, TSD_ATTACH_KNOWN_FLAGS, err);
	if (flags & TSD_ATTACH_PERSISTENT) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: QEMU has no persistent configuration; add the device to its "
			       "command line yourself");
		return -1;
	}
	if (flags & TSD_ATTACH_ASSIGNABLE) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: cannot make a host device assignable; bind it to vfio-pci first");
		return -1;
	}
	if (!req || !req->attach_id || !*req->attach_id || strlen(req->attach_id) >= 64) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: attach needs an id of 1..63 characters");
		return -1;
	}
	if (!(g = guest_up_find(qb, guest_id, err)))
		return -1;
	if (!g->info.can_attach) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "qmp: guest %s: %s", g->id, g->info.why_not);
		return -1;
	}
	if (req->device && mmio_device_is_slot(req->device)) {
		args = NULL;    /* one device_add per function: slot_args */
	} else if (req->host_bdf) {
		args = json_object_new_object();
		if (args) {
			json_object_object_add(args, "driver", json_object_new_string("vfio-pci"));
			json_object_object_add(args, "host", json_object_new_string(req->host_bdf));
		}
	} else if (req->qemu_device) {
		args = qmp_map_device_spec(req->qemu_device, err);
		if (!args)
			return -1;
	} else {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: cannot attach %s without a QEMU device spec "
			       "(e.g. qemu-device=pci-testdev,membar=1M)",
			       req->device ? req->device->name : "a declared device");
		return -1;
	}
	if (!args && !(req->device && mmio_device_is_slot(req->device))) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	if (args)
		json_object_object_add(args, "id", json_object_new_string(req->attach_id));
	if (!(op = op_new(qb, g, TSD_OP_ATTACH))) {
		json_object_put(args);
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	if (args)
		op->add_args = args;
	else if (slot_args(op, req, err) < 0) {
		op_free(op);
		return -1;
	}
	op->base.done_cb = cb;
	op->base.ud = ud;
	snprintf(op->dev_id, sizeof(op->dev_id), "%s", req->attach_id);
	if (req->port)
		snprintf(op->want_port, sizeof(op->want_port), "%s", req->port);
	op->host_dev = req->host_bdf != NULL;
	if (req->device) {
		op->decl = *req->device;
		op->has_decl = true;
	}
	/* A fresh query-pci first: the free slot must be free now. */
	if (!op_refuse_unresponsive(op))
		layout_read(op, attach_place);
	return 0;
}

/* ---- detach ------------------------------------------------------------------------------ */

static void detach_removed(struct tsd_qmp_op *op)
{
	snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%s", op->dev_id);
	op->changed = true;
	op_finish(op, TSD_OK, "removed %s", op->dev_id);
}

static void del_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!reply_enter(op, cls, desc)) {
		op_maybe_free(op);
		return;
	}
	if (op->waiting_event)
		tsd_op_deadline(&op->base, 0);  /* QEMU answered; the rest is the guest's */
	/* "already in the process of unplug": an earlier request is pending,
	 * its DEVICE_DELETED is what we wait for anyway. */
	if (!ret && op->waiting_event && op->g && strcmp(cls, "DeviceNotFound") == 0) {
		/* Right after a reset (or an unplug the guest just completed)
		 * the id is already free while DEVICE_DELETED is still on its
		 * way (QEMU 7.2: ~50 ms later).  Wait a little for it. */
		struct timeval tv = { 0, NOTFOUND_GRACE_MS * 1000 };
		op->notfound = true;
		snprintf(op->err_msg, sizeof(op->err_msg), "device_del %s: %s", op->dev_id, desc);
		evtimer_add(op->timer, &tv);
	} else if (!ret && op->waiting_event && op->g && !strstr(desc, "in the process of unplug")) {
		op->waiting_event = false;
		op_finish(op, TSD_E_FAILED, "device_del %s: %s", op->dev_id, desc);
		op_maybe_free(op);
		return;
	}
	reply_leave(op);
}

static void detach_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_qmp_op *op = arg;
	(void)fd;
	(void)what;
	if (!op->waiting_event)
		return;
	op->waiting_event = false;
	if (op->notfound) {
		op_finish(op, TSD_E_FAILED, "%s", op->err_msg);
		return;
	}
	op_finish(op, TSD_E_TIMEOUT,
		  "QEMU did not remove %s within %u s: the unplug is pending until the guest OS "
		  "ejects the device (on pc, ACPI hot-plug needs a running guest OS with acpiphp; "
		  "without one it completes only at the next reset); the device is still there",
		  op->dev_id, op->qb->unplug_timeout_ms / 1000);
}

static int tsd_qmp_detach(struct tsd_backend *be, const char *guest_id, const char *attached_id,
			  unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	struct tsd_qmp_guest *g;
	struct tsd_qmp_op *op;
	json_object *args;
	struct timeval tv;

	tsd_check_flags("qmp", "detach", flags, 0, err);
	if (!attached_id || !*attached_id || strlen(attached_id) >= 64) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: detach needs an id of 1..63 characters");
		return -1;
	}
	if (!(g = guest_up_find(qb, guest_id, err)))
		return -1;
	if (!(op = op_new(qb, g, TSD_OP_DETACH)) ||
	    !(op->timer = evtimer_new(qb->base, detach_timeout, op)) ||
	    !(args = json_object_new_object())) {
		if (op)
			op_free(op);
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	op->base.done_cb = cb;
	op->base.ud = ud;
	snprintf(op->dev_id, sizeof(op->dev_id), "%s", attached_id);
	if (op_refuse_unresponsive(op)) {
		json_object_put(args);
		return 0;
	}
	/* device_del's reply is QEMU's to give; the unplug is the guest OS's
	 * (the unplug timer below) */
	tsd_op_deadline(&op->base, qb->pub.host->call_timeout_ms);
	/* Waiting before sending: on q35 DEVICE_DELETED may come before the reply. */
	op->waiting_event = true;
	json_object_object_add(args, "id", json_object_new_string(attached_id));
	if (op_send(op, "device_del", args, del_reply) < 0) {
		op_free(op);
		mmio_error_set(err, MMIO_E_NOTFOUND, "qmp: guest %s: QMP connection is down", guest_id);
		return -1;
	}
	tv.tv_sec = qb->unplug_timeout_ms / 1000;
	tv.tv_usec = (qb->unplug_timeout_ms % 1000) * 1000;
	evtimer_add(op->timer, &tv);
	return 0;
}

const struct tsd_driver tsd_qmp_driver = {
	.name = "qmp",
	.platform = TSD_PLATFORM_QEMU,
	.open = tsd_qmp_open,
	.close = tsd_qmp_close,
	.refresh = tsd_qmp_refresh,
	.attach = tsd_qmp_attach,
	.detach = tsd_qmp_detach,
};
