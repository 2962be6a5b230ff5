/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libvirt.c — the libvirt back end (KVM/QEMU, Xen through
 * libvirt's libxl driver, and libvirt's test driver for the tests).
 *
 * libvirt's event loop is implemented on the daemon's libevent loop
 * (virEventRegisterImpl).  libvirt allows exactly one implementation per
 * process, registered before the first connection and never removed, and
 * its callbacks carry no user pointer: that is why this file keeps the one
 * global of the back ends, `loop`, holding the event_base and the handle
 * and timeout records.  All --backend libvirt:URI instances share it and
 * must run on the same event_base.
 *
 * libvirt's API is synchronous (one RPC per call).  Operations are
 * therefore started from a zero-delay libevent timer, so that their
 * callback never runs inside the daemon's call, and each call blocks the
 * loop for one round-trip.
 */
#include "config.h"

#include <event2/event.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "libvirt-map.h"

/* ---- libvirt's event loop on libevent (the one global) -------------------- */

struct tsd_libvirt_ev {
	struct tsd_libvirt_ev *next;
	int id;
	bool timer;
	int fd;
	int events;                     /* VIR_EVENT_HANDLE_* */
	int freq;                       /* timers: -1 off, 0 every iteration, N ms */
	virEventHandleCallback hcb;
	virEventTimeoutCallback tcb;
	void *opaque;
	virFreeCallback ff;
	struct event *ev;
};

static struct {
	struct event_base *base;
	bool registered;
	int next_id;
	struct tsd_libvirt_ev *live;
	/* Removed records whose ff is still to be called: libvirt forbids
	 * calling it from inside the remove call (it may take a lock the
	 * caller holds), so it runs from the loop, or at close. */
	struct tsd_libvirt_ev *dead;
	struct event *reaper;
	unsigned users;
} loop;

static void ev_reap(void)
{
	while (loop.dead) {
		struct tsd_libvirt_ev *r = loop.dead;
		loop.dead = r->next;
		if (r->ff)
			r->ff(r->opaque);
		free(r);
	}
}

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	ev_reap();
}

static struct tsd_libvirt_ev *ev_find(int id)
{
	for (struct tsd_libvirt_ev *r = loop.live; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void handle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt_ev *r = arg;
	int ev = 0;
	if (what & EV_READ)
		ev |= VIR_EVENT_HANDLE_READABLE;
	if (what & EV_WRITE)
		ev |= VIR_EVENT_HANDLE_WRITABLE;
	r->hcb(r->id, r->fd, ev, r->opaque);
}

static int handle_arm(struct tsd_libvirt_ev *r)
{
	short what = EV_PERSIST;
	if (r->events & VIR_EVENT_HANDLE_READABLE)
		what |= EV_READ;
	if (r->events & VIR_EVENT_HANDLE_WRITABLE)
		what |= EV_WRITE;
	if (r->ev)
		event_free(r->ev);
	r->ev = NULL;
	/* libevent reports hang-up and error as readable, as poll does. */
	if (!(what & (EV_READ | EV_WRITE)))
		return 0;
	r->ev = event_new(loop.base, r->fd, what, handle_cb, r);
	return r->ev && event_add(r->ev, NULL) == 0 ? 0 : -1;
}

static struct tsd_libvirt_ev *ev_new(void)
{
	struct tsd_libvirt_ev *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->id = ++loop.next_id;
	r->next = loop.live;
	loop.live = r;
	return r;
}

static int ev_remove(int id)
{
	for (struct tsd_libvirt_ev **p = &loop.live; *p; p = &(*p)->next) {
		struct tsd_libvirt_ev *r = *p;
		if (r->id != id)
			continue;
		*p = r->next;
		if (r->ev)
			event_free(r->ev);
		r->ev = NULL;
		r->next = loop.dead;
		loop.dead = r;
		if (loop.reaper)
			event_active(loop.reaper, EV_TIMEOUT, 0);
		return 0;
	}
	return -1;
}

static int vir_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
			  virFreeCallback ff)
{
	struct tsd_libvirt_ev *r = ev_new();
	if (!r)
		return -1;
	r->fd = fd;
	r->events = events;
	r->hcb = cb;
	r->opaque = opaque;
	r->ff = ff;
	if (handle_arm(r) < 0) {
		r->ff = NULL; /* failed add: libvirt keeps ownership of opaque */
		ev_remove(r->id);
		return -1;
	}
	return r->id;
}

static void vir_update_handle(int id, int events)
{
	struct tsd_libvirt_ev *r = ev_find(id);
	if (r && !r->timer) {
		r->events = events;
		handle_arm(r);
	}
}

static int vir_remove_handle(int id)
{
	return ev_remove(id);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt_ev *r = arg;
	r->tcb(r->id, r->opaque);
}

static void timer_arm(struct tsd_libvirt_ev *r)
{
	event_del(r->ev);
	if (r->freq >= 0) {
		struct timeval tv = { r->freq / 1000, (r->freq % 1000) * 1000 };
		event_add(r->ev, &tv);
	}
}

static int vir_add_timeout(int freq, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
	struct tsd_libvirt_ev *r = ev_new();
	if (!r)
		return -1;
	r->timer = true;
	r->freq = freq;
	r->tcb = cb;
	r->opaque = opaque;
	r->ff = ff;
	/* EV_PERSIST: a frequency of N ms fires every N ms until changed. */
	r->ev = event_new(loop.base, -1, EV_PERSIST, timer_cb, r);
	if (!r->ev) {
		r->ff = NULL;
		ev_remove(r->id);
		return -1;
	}
	timer_arm(r);
	return r->id;
}

static void vir_update_timeout(int id, int freq)
{
	struct tsd_libvirt_ev *r = ev_find(id);
	if (r && r->timer) {
		r->freq = freq;
		timer_arm(r);
	}
}

static int vir_remove_timeout(int id)
{
	return ev_remove(id);
}

static void quiet_errors(void *ud, virErrorPtr e)
{
	/* libvirt prints every error on stderr by default; the back end
	 * reports them itself, with context. */
}

static int loop_use(struct event_base *base, struct mmio_error *err)
{
	if (loop.base && loop.base != base) {
		if (loop.live) {
			mmio_error_set(err, MMIO_E_UNSUPPORTED, "libvirt: every libvirt back end "
				       "must run on the same event loop");
			return -1;
		}
		ev_reap();
		if (loop.reaper)
			event_free(loop.reaper);
		loop.reaper = NULL;
	}
	loop.base = base;
	if (!loop.reaper && !(loop.reaper = event_new(base, -1, 0, reaper_cb, NULL))) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return -1;
	}
	if (!loop.registered) {
		virSetErrorFunc(NULL, quiet_errors);
		virEventRegisterImpl(vir_add_handle, vir_update_handle, vir_remove_handle,
				     vir_add_timeout, vir_update_timeout, vir_remove_timeout);
		loop.registered = true;
	}
	loop.users++;
	return 0;
}

static void loop_unuse(void)
{
	/* Not inside a libvirt call: the free callbacks may run now. */
	ev_reap();
	if (--loop.users == 0 && !loop.live && loop.reaper) {
		event_free(loop.reaper);
		loop.reaper = NULL;
	}
}

/* ---- the back end ------------------------------------------------------------- */

#define RECONNECT_MAX_SEC 60

struct tsd_libvirt_guest {
	struct tsd_libvirt_guest *next, **pprev;   /* be->guests */
	struct tsd_libvirt_guest *hnext;           /* be->htab chain */
	char uuid[VIR_UUID_STRING_BUFLEN];
	bool active;
	bool seen;
};

/* One call: run from the loop (libvirt's calls are synchronous), its
 * result delivered by the base (toolstack.c). */
struct tsd_libvirt_op {
	struct tsd_op base;             /* first */
	struct tsd_libvirt *be;
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct mmio_bdf bdf;
	unsigned flags;
	struct event *ev;               /* runs the call */
};

struct tsd_libvirt {
	struct tsd_backend base;        /* first */
	char uri[256];
	virConnectPtr conn;
	int lifecycle_id;
	bool close_cb;
	bool is_qemu;                   /* the connection's driver is QEMU */
	struct event *reconnect;
	int backoff;
	struct tsd_libvirt_guest *guests;
	/* guests by uuid: O(1) lookups with thousands of domains */
	struct tsd_libvirt_guest **htab;
	size_t hcap, nguests;
};

static const char *last_error(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

void *tsd_libvirt_test_connection(struct tsd_backend *tbe)
{
	return ((struct tsd_libvirt *)tbe)->conn;
}

static size_t uuid_hash(const char *uuid)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *uuid; uuid++)
		h = (h ^ (unsigned char)*uuid) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

static struct tsd_libvirt_guest *guest_find(struct tsd_libvirt *be, const char *uuid)
{
	if (!be->hcap)
		return NULL;
	for (struct tsd_libvirt_guest *g = be->htab[uuid_hash(uuid) & (be->hcap - 1)]; g; g = g->hnext)
		if (strcmp(g->uuid, uuid) == 0)
			return g;
	return NULL;
}

/* Lists t (its uuid set); false when out of memory. */
static bool guest_add(struct tsd_libvirt *be, struct tsd_libvirt_guest *t)
{
	if (be->nguests + 1 > be->hcap) {
		size_t cap = be->hcap ? be->hcap * 2 : 64;
		struct tsd_libvirt_guest **h = calloc(cap, sizeof(*h));
		if (!h)
			return false;
		for (struct tsd_libvirt_guest *g = be->guests; g; g = g->next) {
			size_t b = uuid_hash(g->uuid) & (cap - 1);
			g->hnext = h[b];
			h[b] = g;
		}
		free(be->htab);
		be->htab = h;
		be->hcap = cap;
	}
	size_t b = uuid_hash(t->uuid) & (be->hcap - 1);
	t->hnext = be->htab[b];
	be->htab[b] = t;
	t->next = be->guests;
	t->pprev = &be->guests;
	if (be->guests)
		be->guests->pprev = &t->next;
	be->guests = t;
	be->nguests++;
	return true;
}

static void guest_unlist(struct tsd_libvirt *be, struct tsd_libvirt_guest *g)
{
	for (struct tsd_libvirt_guest **p = &be->htab[uuid_hash(g->uuid) & (be->hcap - 1)]; *p;
	     p = &(*p)->hnext)
		if (*p == g) {
			*p = g->hnext;
			break;
		}
	*g->pprev = g->next;
	if (g->next)
		g->next->pprev = g->pprev;
	be->nguests--;
}

static void guest_down(struct tsd_libvirt *be, const char *uuid)
{
	struct tsd_libvirt_guest *g = guest_find(be, uuid);
	if (!g)
		return;
	guest_unlist(be, g);
	if (be->base.host->guest_down)
		be->base.host->guest_down(be->base.host->ud, &be->base, g->uuid);
	free(g);
}

/* Live windows and BARs from QEMU itself; false when QEMU would not say. */
static bool qemu_live(struct tsd_libvirt *be, virDomainPtr dom,
		      const struct tsd_libvirt_domain *d, struct tsd_layout *l)
{
	char *out = NULL;
	struct mmio_error err;
	struct tsd_live_bar *bars;
	size_t n;
	const char *hb = d->chipset == TSD_LIBVIRT_CHIPSET_Q35 ? "/machine/q35" : "/machine/i440fx";
	static const char *const props[] = { "pci-hole-start", "pci-hole-end",
					     "pci-hole64-start", "pci-hole64-end" };
	uint64_t v[4];

	if (virDomainQemuMonitorCommand(dom, "{\"execute\":\"query-pci\"}", &out, 0) < 0) {
		tsd_log(&be->base, LOG_WARNING, "%s: query-pci failed: %s", virDomainGetName(dom),
		       last_error());
		return false;
	}
	enum mmio_status st = tsd_libvirt_parse_query_pci(out, &bars, &n, &err);
	free(out);
	if (st != MMIO_OK) {
		tsd_log(&be->base, LOG_WARNING, "%s: %s", virDomainGetName(dom), err.msg);
		return false;
	}
	free(l->bars);
	l->bars = bars;
	l->nbars = n;
	for (int i = 0; i < 4; i++) {
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"%s\","
			 "\"property\":\"%s\"}}", hb, props[i]);
		out = NULL;
		if (virDomainQemuMonitorCommand(dom, cmd, &out, 0) < 0)
			return true; /* BARs are live; windows stay modelled */
		const char *r = out ? strstr(out, "\"return\":") : NULL;
		unsigned long long x;
		bool ok = r && sscanf(r + 9, " %llu", &x) == 1;
		free(out);
		if (!ok)
			return true;
		v[i] = x;
	}
	tsd_libvirt_live_windows(l, v[0], v[1], v[2], v[3]);
	return true;
}

/* Reads one domain: the guest, and its layout when it runs. */
static int read_domain(struct tsd_libvirt *be, virDomainPtr dom, struct tsd_guest *g,
		       struct tsd_layout *l, bool *have_layout, char *msg, size_t msglen)
{
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	char *xml;

	memset(g, 0, sizeof(*g));
	*have_layout = false;
	virDomainGetUUIDString(dom, g->uuid);
	snprintf(g->id, sizeof(g->id), "%s", g->uuid);
	snprintf(g->name, sizeof(g->name), "%s", virDomainGetName(dom));
	int active = virDomainIsActive(dom);
	if (active < 0 || !(xml = virDomainGetXMLDesc(dom, 0))) {
		snprintf(msg, msglen, "libvirt: %s", last_error());
		return tsd_libvirt_rc(virGetLastErrorCode());
	}
	enum mmio_status st = tsd_libvirt_parse_domain(xml, &d, &err);
	free(xml);
	if (st != MMIO_OK) {
		snprintf(g->why_not, sizeof(g->why_not), "domain XML not understood");
		snprintf(msg, msglen, "%s", err.msg);
		return TSD_E_FAILED;
	}
	if (!active) {
		snprintf(g->why_not, sizeof(g->why_not), "domain is shut off");
		return TSD_OK;
	}
	g->can_attach = tsd_libvirt_attachable(&d, g->why_not, sizeof(g->why_not));
	if (!g->can_attach)
		return TSD_OK;
	if (tsd_libvirt_model_layout(&d, l, &err) != MMIO_OK) {
		/* Xen HVM through libvirt: the hvmloader model needs libxl's
		 * view; without it the layout is unknown. */
		tsd_layout_clear(l);
		return TSD_OK;
	}
	if (be->is_qemu)
		qemu_live(be, dom, &d, l);
	*have_layout = true;
	return TSD_OK;
}

static void announce(struct tsd_libvirt *be, virDomainPtr dom)
{
	struct tsd_guest g;
	struct tsd_layout l = { .free_slots = -1 };
	bool have;
	char msg[512];

	if (read_domain(be, dom, &g, &l, &have, msg, sizeof(msg)) == TSD_E_NOGUEST) {
		tsd_layout_clear(&l);
		return;
	}
	struct tsd_libvirt_guest *t = guest_find(be, g.uuid);
	bool active = virDomainIsActive(dom) == 1;
	if (t && t->active == active) {
		t->seen = true;
		tsd_layout_clear(&l);
		return; /* nothing new */
	}
	if (t)
		guest_down(be, g.uuid); /* a change of state is down, then up */
	t = calloc(1, sizeof(*t));
	if (t)
		snprintf(t->uuid, sizeof(t->uuid), "%.36s", g.uuid);
	if (!t || !guest_add(be, t)) {
		free(t);
		tsd_layout_clear(&l);
		return;
	}
	t->active = active;
	t->seen = true;
	if (be->base.host->guest_up)
		be->base.host->guest_up(be->base.host->ud, &be->base, &g, have ? &l : NULL);
	tsd_layout_clear(&l);
}

static void sync_all(struct tsd_libvirt *be)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(be->conn, &doms, 0);
	if (n < 0) {
		tsd_log(&be->base, LOG_ERR, "listing domains: %s", last_error());
		return;
	}
	for (struct tsd_libvirt_guest *g = be->guests; g; g = g->next)
		g->seen = false;
	for (int i = 0; i < n; i++) {
		announce(be, doms[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
	for (struct tsd_libvirt_guest *g = be->guests, *next; g; g = next) {
		next = g->next;
		if (!g->seen)
			guest_down(be, g->uuid);
	}
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail,
			void *opaque)
{
	struct tsd_libvirt *be = opaque;
	char uuid[VIR_UUID_STRING_BUFLEN];
	virDomainGetUUIDString(dom, uuid);

	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
	case VIR_DOMAIN_EVENT_DEFINED:
		announce(be, dom);
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		/* A persistent domain stays listed, shut off; a transient one
		 * is gone. */
		if (virDomainIsPersistent(dom) == 1)
			announce(be, dom);
		else
			guest_down(be, uuid);
		break;
	case VIR_DOMAIN_EVENT_UNDEFINED:
		if (virDomainIsActive(dom) != 1)
			guest_down(be, uuid);
		break;
	default:
		break; /* suspend, resume, ...: the layout does not change */
	}
	return 0;
}

static void disconnect(struct tsd_libvirt *be);
static int connect_uri(struct tsd_libvirt *be, struct mmio_error *err);

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt *be = arg;
	struct mmio_error err;
	if (connect_uri(be, &err) == 0) {
		tsd_log(&be->base, LOG_NOTICE, "reconnected to %s", be->uri);
		be->backoff = 0;
		sync_all(be);
		return;
	}
	be->backoff = be->backoff ? be->backoff * 2 : 1;
	if (be->backoff > RECONNECT_MAX_SEC)
		be->backoff = RECONNECT_MAX_SEC;
	struct timeval tv = { be->backoff, 0 };
	event_add(be->reconnect, &tv);
}

static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct tsd_libvirt *be = opaque;
	tsd_log(&be->base, LOG_WARNING, "connection to %s closed (reason %d); reconnecting", be->uri,
	       reason);
	/* Not from inside libvirt's callback: the connection is torn down
	 * from the loop. */
	struct timeval tv = { 0, 0 };
	event_add(be->reconnect, &tv);
	be->backoff = 0;
}

static void disconnect(struct tsd_libvirt *be)
{
	if (!be->conn)
		return;
	if (be->lifecycle_id >= 0)
		virConnectDomainEventDeregisterAny(be->conn, be->lifecycle_id);
	if (be->close_cb)
		virConnectUnregisterCloseCallback(be->conn, close_cb);
	be->lifecycle_id = -1;
	be->close_cb = false;
	virConnectClose(be->conn);
	be->conn = NULL;
}

static int connect_uri(struct tsd_libvirt *be, struct mmio_error *err)
{
	disconnect(be);
	be->conn = virConnectOpen(be->uri);
	if (!be->conn) {
		mmio_error_set(err, MMIO_E_IO, "libvirt: cannot connect to %s: %s", be->uri,
			       last_error());
		return -1;
	}
	const char *type = virConnectGetType(be->conn);
	be->is_qemu = type && strcmp(type, "QEMU") == 0;
	be->lifecycle_id = virConnectDomainEventRegisterAny(
		be->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), be, NULL);
	if (be->lifecycle_id < 0) {
		mmio_error_set(err, MMIO_E_IO, "libvirt: no lifecycle events from %s: %s", be->uri,
			       last_error());
		disconnect(be);
		return -1;
	}
	/* Local drivers (test://) have no connection to lose. */
	be->close_cb = virConnectRegisterCloseCallback(be->conn, close_cb, be, NULL) == 0;
	return 0;
}

/* ---- operations ---------------------------------------------------------------- */

static void op_dispose(struct tsd_op *base)
{
	struct tsd_libvirt_op *op = (struct tsd_libvirt_op *)base;
	if (op->ev)
		event_free(op->ev);
}

static void op_run(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt_op *op = arg;
	struct tsd_libvirt *be = op->be;
	struct tsd_result *res = &op->base.res;
	virDomainPtr dom = be->conn ? virDomainLookupByUUIDString(be->conn, op->uuid) : NULL;
	(void)fd;
	(void)what;

	if (!dom) {
		tsd_op_finish(&op->base, be->conn ? tsd_libvirt_rc(virGetLastErrorCode()) : TSD_E_FAILED,
			      "libvirt: %s", be->conn ? last_error() : "not connected");
	} else if (op->base.kind == TSD_OP_REFRESH) {
		struct tsd_guest g;
		bool have;
		res->rc = read_domain(be, dom, &g, &op->base.layout, &have, res->msg, sizeof(res->msg));
		if (res->rc == TSD_OK && !have) {
			res->rc = TSD_E_NOTSUPPORTED;
			snprintf(res->msg, sizeof(res->msg), "no layout for %s: %s", g.name,
				 g.why_not[0] ? g.why_not : "no model for this guest");
		}
		op->base.have_layout = have;
		virDomainFree(dom);
		tsd_op_finish(&op->base, res->rc, NULL);
	} else {
		char xml[256];
		unsigned vflags = VIR_DOMAIN_AFFECT_LIVE;
		if (op->flags & TSD_ATTACH_PERSISTENT)
			vflags |= VIR_DOMAIN_AFFECT_CONFIG;
		tsd_libvirt_hostdev_xml(&op->bdf, xml, sizeof(xml));
		int rc = op->base.kind == TSD_OP_ATTACH ? virDomainAttachDeviceFlags(dom, xml, vflags)
							: virDomainDetachDeviceFlags(dom, xml, vflags);
		if (rc < 0) {
			tsd_op_finish(&op->base, tsd_libvirt_rc(virGetLastErrorCode()), "libvirt: %s",
				      last_error());
		} else {
			mmio_bdf_format(&op->bdf, res->attached_id, sizeof(res->attached_id));
			/* libvirt does not tell which qdev id it gave the hostdev
			 * in reply; placement is checked by the daemon's next
			 * refresh, not here. */
			tsd_op_finish(&op->base, TSD_OK, op->base.kind == TSD_OP_ATTACH ?
				      "attached; BAR placement not verified by the libvirt back end" :
				      NULL);
		}
		virDomainFree(dom);
	}
}

static struct tsd_libvirt_op *op_start(struct tsd_libvirt *be, enum tsd_op_kind kind,
				       const char *uuid, struct mmio_error *err)
{
	struct tsd_libvirt_op *op = tsd_op_new(&be->base, sizeof(*op), kind, op_dispose, err);
	struct timeval zero = { 0, 0 };

	if (!op)
		return NULL;
	if (!(op->ev = evtimer_new(be->base.host->base, op_run, op))) {
		tsd_op_free(&op->base);
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return NULL;
	}
	op->be = be;
	snprintf(op->uuid, sizeof(op->uuid), "%s", uuid);
	evtimer_add(op->ev, &zero);
	return op;
}

/* ---- the driver -------------------------------------------------------------- */

static void tsd_libvirt_close(struct tsd_backend *tbe)
{
	struct tsd_libvirt *be = (struct tsd_libvirt *)tbe;
	if (!be)
		return;
	tsd_ops_free(&be->base);
	disconnect(be);
	if (be->reconnect)
		event_free(be->reconnect);
	while (be->guests) {
		struct tsd_libvirt_guest *g = be->guests;
		be->guests = g->next;
		free(g);
	}
	free(be->htab);
	loop_unuse();
	free(be);
}

static int tsd_libvirt_open(const struct tsd_host *host, const char *arg, unsigned flags,
			    struct tsd_backend **out, struct mmio_error *err)
{
	tsd_check_flags("libvirt", "open", flags, 0, err);
	if (!arg || !arg[0]) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: a URI is required "
			       "(--backend libvirt:qemu:///system)");
		return -1;
	}
	struct tsd_libvirt *be = calloc(1, sizeof(*be));
	if (!be) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return -1;
	}
	be->base.drv = &tsd_libvirt_driver;
	be->base.host = host;
	be->lifecycle_id = -1;
	snprintf(be->base.spec, sizeof(be->base.spec), "libvirt:%s", arg);
	if (strlen(arg) >= sizeof(be->uri)) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: URI too long");
		free(be);
		return -1;
	}
	snprintf(be->uri, sizeof(be->uri), "%s", arg);
	if (loop_use(host->base, err) < 0) {
		free(be);
		return -1;
	}
	be->reconnect = evtimer_new(host->base, reconnect_cb, be);
	if (!be->reconnect) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		tsd_libvirt_close(&be->base);
		return -1;
	}
	if (connect_uri(be, err) < 0) {
		tsd_libvirt_close(&be->base);
		return -1;
	}
	sync_all(be);
	*out = &be->base;
	return 0;
}

static int tsd_libvirt_refresh(struct tsd_backend *tbe, const char *guest_id, unsigned flags,
			       tsd_layout_fn cb, void *ud, struct mmio_error *err)
{
	tsd_check_flags("libvirt", "refresh", flags, 0, err);
	struct tsd_libvirt_op *op = op_start((struct tsd_libvirt *)tbe, TSD_OP_REFRESH, guest_id, err);
	if (!op)
		return -1;
	op->base.layout_cb = cb;
	op->base.ud = ud;
	return 0;
}

/* Starts an attach or detach of one <hostdev>; 0, or -1 with err. */
static int op_start_hostdev(struct tsd_libvirt *be, enum tsd_op_kind kind, const char *guest_id,
			    const struct mmio_bdf *bdf, unsigned flags, tsd_done_fn cb, void *ud,
			    struct mmio_error *err)
{
	struct tsd_libvirt_op *op = op_start(be, kind, guest_id, err);

	if (!op)
		return -1;
	op->bdf = *bdf;
	op->flags = flags;
	op->base.done_cb = cb;
	op->base.ud = ud;
	return 0;
}

static int tsd_libvirt_attach(struct tsd_backend *tbe, const char *guest_id,
			      const struct tsd_attach_req *req, unsigned flags, tsd_done_fn cb,
			      void *ud, struct mmio_error *err)
{
	struct mmio_bdf bdf;
	tsd_check_flags("libvirt", "attach", flags, TSD_ATTACH_KNOWN_FLAGS, err);
	if (req->device && mmio_device_is_slot(req->device)) {
		/* libvirt reserves a whole slot per hot-plugged device and refuses
		 * any other function (virDomainPCIAddressEnsureAddr, libvirt 9.0
		 * and later: "Only PCI device addresses with function=0 are
		 * supported"), so a multi-function slot cannot go in live */
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "libvirt cannot hot-plug a multi-function slot (%.100s): it hot-plugs PCI "
			       "devices at function 0 only; attach the functions one by one (each in a slot "
			       "of its own), or add the slot to the domain XML with multifunction='on' and "
			       "restart the guest", req->device->name);
		return -1;
	}
	if (!req->host_bdf) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "libvirt attaches host PCI devices only; "
			       "\"%s\" is not one", req->device ? req->device->name : "?");
		return -1;
	}
	if (mmio_bdf_parse(req->host_bdf, &bdf, err) != MMIO_OK)
		return -1;
	/* managed='yes': libvirt detaches the device from its host driver
	 * itself, so TSD_ATTACH_ASSIGNABLE needs no step of ours. */
	return op_start_hostdev((struct tsd_libvirt *)tbe, TSD_OP_ATTACH, guest_id, &bdf, flags, cb, ud,
				err);
}

static int tsd_libvirt_detach(struct tsd_backend *tbe, const char *guest_id,
			      const char *attached_id, unsigned flags, tsd_done_fn cb, void *ud,
			      struct mmio_error *err)
{
	struct mmio_bdf bdf;
	tsd_check_flags("libvirt", "detach", flags, TSD_ATTACH_PERSISTENT, err);
	if (mmio_bdf_parse(attached_id, &bdf, err) != MMIO_OK)
		return -1;
	return op_start_hostdev((struct tsd_libvirt *)tbe, TSD_OP_DETACH, guest_id, &bdf, flags, cb, ud,
				err);
}

const struct tsd_driver tsd_libvirt_driver = {
	.name = "libvirt",
	.platform = TSD_PLATFORM_QEMU,
	.open = tsd_libvirt_open,
	.close = tsd_libvirt_close,
	.refresh = tsd_libvirt_refresh,
	.attach = tsd_libvirt_attach,
	.detach = tsd_libvirt_detach,
};
