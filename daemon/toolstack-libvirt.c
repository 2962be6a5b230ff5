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
#include <libxml/parser.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <syslog.h>
#include <unistd.h>

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

/* Reconnection: a failed connect is tried again after 1, 2, 4 ... s, at most
 * RECONNECT_MAX_SEC apart; a local libvirtd's socket directory is watched
 * too (inotify), so a daemon that starts is found at once. */
#define RECONNECT_MAX_SEC 30
/* Without a watch on the socket, a local libvirtd is looked for at least
 * this often: mmiod serves its guests within 5 s of libvirtd starting. */
#define RECONNECT_MAX_UNWATCHED_SEC 4

struct tsd_libvirt;

struct tsd_libvirt_guest {
	struct tsd_libvirt_guest *next, **pprev;   /* be->guests */
	struct tsd_libvirt_guest *hnext;           /* be->htab chain */
	struct tsd_libvirt *be;
	char uuid[VIR_UUID_STRING_BUFLEN];
	char name[128];
	bool active;
	bool seen;
	/* q35: which hot-plug driver the guest gets (ICH9-LPC's
	 * acpi-pci-hotplug-with-bridge-support), read once per run. */
	int domid;
	bool lpc_known, native_hotplug;
	struct event *changed;          /* a device event: re-read, coalesced */
	/* A domain that just started: QEMU runs before the guest's firmware
	 * has numbered the buses and placed the BARs.  Re-read after 2, 4
	 * ... 32 s until it has (at most RECHECK_BUDGET_MS in all). */
	unsigned recheck_ms, recheck_spent_ms;
};

/* One call: run from the loop (libvirt's calls are synchronous), its
 * result delivered by the base (toolstack.c). */
struct tsd_libvirt_op {
	struct tsd_op base;             /* first */
	struct tsd_libvirt *be;
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct mmio_bdf bdf;
	char port[64];
	unsigned flags;
	struct event *ev;               /* runs the call */
};

struct tsd_libvirt {
	struct tsd_backend base;        /* first */
	char uri[256];
	virConnectPtr conn;
	int lifecycle_id, added_id, removed_id, qemu_deleted_id;
	bool close_cb;
	bool is_qemu;                   /* the connection's driver is QEMU */
	/* connection life */
	bool connected;
	char down_msg[300];             /* why not connected */
	struct event *reconnect;
	int backoff;
	char sockdir[PATH_MAX];         /* a local daemon's socket directory, "" if remote */
	int ino_fd, ino_wd;
	char ino_dir[PATH_MAX];         /* what ino_wd watches: sockdir or its nearest parent */
	struct event *ino_ev;
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

static void set_connected(struct tsd_libvirt *be, bool up, const char *msg)
{
	if (be->connected == up && (up || strcmp(be->down_msg, msg) == 0))
		return;
	be->connected = up;
	snprintf(be->down_msg, sizeof(be->down_msg), "%s", up ? "" : msg);
	if (be->base.host->backend_state)
		be->base.host->backend_state(be->base.host->ud, &be->base, up, be->down_msg);
}

/* ---- guests by uuid ----------------------------------------------------------------- */

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

static void guest_free(struct tsd_libvirt_guest *g)
{
	if (g->changed)
		event_free(g->changed);
	free(g);
}

static void guest_down(struct tsd_libvirt *be, const char *uuid)
{
	struct tsd_libvirt_guest *g = guest_find(be, uuid);
	if (!g)
		return;
	guest_unlist(be, g);
	tsd_log(&be->base, LOG_INFO, "guest %s (%s) is no longer defined", g->name, g->uuid);
	if (be->base.host->guest_down)
		be->base.host->guest_down(be->base.host->ud, &be->base, g->uuid);
	guest_free(g);
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

/* The guest's layout as QEMU has it (the same reading as the QMP back
 * end: the host bridge's holes, RAM, query-pci), in libvirt's terms
 * (tsd_libvirt_qemu_layout).  false with msg when QEMU would not say. */
static bool qemu_layout(struct tsd_libvirt_guest *t, virDomainPtr dom,
			const struct tsd_libvirt_domain *d, struct tsd_layout *l, char *msg,
			size_t msglen)
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
	r = qmp_call(dom, "{\"execute\":\"query-memory-size-summary\"}", msg, msglen);
	json_object *bm;
	if (r && json_object_object_get_ex(r, "base-memory", &bm) && qmp_map_u64(bm, &h.ram_size))
		h.have_ram = true;
	json_object_put(r);
	if (!(pci = qmp_call(dom, "{\"execute\":\"query-pci\"}", msg, msglen)))
		return false;
	if (t && h.machine == QMP_MACHINE_Q35) {
		int id = virDomainGetID(dom);
		if (!t->lpc_known || t->domid != id) {
			t->native_hotplug = q35_native_hotplug(dom);
			t->lpc_known = true;
			t->domid = id;
		}
	}
	enum mmio_status st = tsd_libvirt_qemu_layout(d, &h, pci, t && t->native_hotplug, l, &err);
	json_object_put(pci);
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

/* Reads one domain: the guest, and its layout when it runs.  t: the
 * back end's record of it, if any (per-run facts are kept there). */
static int read_domain(struct tsd_libvirt *be, struct tsd_libvirt_guest *t, virDomainPtr dom,
		       struct tsd_guest *g, struct tsd_layout *l, bool *have_layout, char *msg,
		       size_t msglen)
{
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	char *xml;
	int rc = TSD_OK;

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
		snprintf(g->why_not, sizeof(g->why_not), "domain XML not understood: %.120s", err.msg);
		snprintf(msg, msglen, "%s", err.msg);
		rc = TSD_E_FAILED;
		goto out;
	}
	if (!active) {
		snprintf(g->why_not, sizeof(g->why_not), "the domain is shut off (start it: "
			 "virsh start %.80s)", g->name);
		/* No windows while it is off: an empty layout, not the last one. */
		*have_layout = true;
		goto out;
	}
	g->can_attach = tsd_libvirt_attachable(&d, g->why_not, sizeof(g->why_not));
	if (!g->can_attach)
		goto out;
	if (be->is_qemu && strcmp(d.type, "xen") != 0 && d.chipset != TSD_LIBVIRT_CHIPSET_OTHER) {
		char why[300];
		if (qemu_layout(t, dom, &d, l, why, sizeof(why))) {
			*have_layout = true;
			goto out;
		}
		tsd_log(&be->base, LOG_WARNING, "guest %s: QEMU's own view unavailable, using QEMU's defaults "
		       "for its machine type: %s", g->name, why);
	}
	if (tsd_libvirt_model_layout(&d, l, &err) != MMIO_OK) {
		/* Xen HVM through libvirt: the hvmloader model needs libxl's
		 * view; without it the layout is unknown. */
		tsd_layout_clear(l);
		goto out;
	}
	*have_layout = true;
out:
	tsd_libvirt_domain_clear(&d);
	return rc;
}

static struct tsd_libvirt_guest *guest_new(struct tsd_libvirt *be, const char *uuid)
{
	struct tsd_libvirt_guest *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->be = be;
	t->domid = -1;
	snprintf(t->uuid, sizeof(t->uuid), "%.36s", uuid);
	if (!guest_add(be, t)) {
		free(t);
		return NULL;
	}
	return t;
}

static void recheck(struct tsd_libvirt_guest *t, const struct tsd_layout *l, bool first);

/* Reads a domain and tells the daemon: a new guest, or a known one whose
 * state changed (started, shut off, re-defined) or that must be re-read
 * (force: after a reconnection).  A guest that starts or stops stays the
 * same guest (its properties change); only an undefined one goes away. */
static void announce(struct tsd_libvirt *be, virDomainPtr dom, bool force)
{
	struct tsd_guest g;
	struct tsd_layout l = { .free_slots = -1 };
	bool have;
	char msg[512], uuid[VIR_UUID_STRING_BUFLEN];

	virDomainGetUUIDString(dom, uuid);
	struct tsd_libvirt_guest *t = guest_find(be, uuid);
	bool fresh = !t;
	if (!t && !(t = guest_new(be, uuid)))
		return;
	t->seen = true;
	if (read_domain(be, t, dom, &g, &l, &have, msg, sizeof(msg)) == TSD_E_NOGUEST) {
		tsd_layout_clear(&l);
		if (fresh) {
			guest_unlist(be, t);
			guest_free(t);
		}
		return;
	}
	bool active = virDomainIsActive(dom) == 1;
	if (!fresh && !force && t->active == active && strcmp(t->name, g.name) == 0) {
		tsd_layout_clear(&l);
		return; /* nothing new */
	}
	if (!fresh && t->active != active)
		tsd_log(&be->base, LOG_INFO, "guest %s %s", g.name, active ? "started" : "shut off");
	t->active = active;
	snprintf(t->name, sizeof(t->name), "%s", g.name);
	if (be->base.host->guest_up)
		be->base.host->guest_up(be->base.host->ud, &be->base, &g, have ? &l : NULL);
	if (active && have)
		recheck(t, &l, true);
	tsd_layout_clear(&l);
}

static void sync_all(struct tsd_libvirt *be, bool force)
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
		announce(be, doms[i], force);
		virDomainFree(doms[i]);
	}
	free(doms);
	for (struct tsd_libvirt_guest *g = be->guests, *next; g; g = next) {
		next = g->next;
		if (!g->seen)
			guest_down(be, g->uuid);
	}
}

/* A device came or went outside mmiod's own attach (virsh attach-device,
 * detach-device, a monitor device_del): re-read the guest and tell the
 * daemon.  Events come in bursts (a detach is removed + a refresh of its
 * own); one re-read from the loop answers them all. */
#define RECHECK_FIRST_MS  2000u
#define RECHECK_MAX_MS    32000u
#define RECHECK_BUDGET_MS 120000u

static void changed_cb(evutil_socket_t fd, short what, void *arg);

/* QEMU's view from before the guest's firmware ran: a port not numbered
 * yet, or not one BAR placed. */
static bool layout_unsettled(const struct tsd_layout *l)
{
	size_t placed = 0;
	for (size_t i = 0; i < l->nports; i++)
		if (!l->ports[i].windows_known)
			return true;
	for (size_t i = 0; i < l->nbars; i++)
		placed += l->bars[i].addr != TSD_ADDR_UNASSIGNED;
	return l->nbars && !placed;
}

/* Re-reads t later while its layout is unsettled (first: it just started). */
static void recheck(struct tsd_libvirt_guest *t, const struct tsd_layout *l, bool first)
{
	if (first) {
		t->recheck_ms = RECHECK_FIRST_MS;
		t->recheck_spent_ms = 0;
	}
	if (!l || !layout_unsettled(l) || !t->recheck_ms ||
	    t->recheck_spent_ms >= RECHECK_BUDGET_MS) {
		t->recheck_ms = 0;
		return;
	}
	if (!t->changed && !(t->changed = evtimer_new(t->be->base.host->base, changed_cb, t)))
		return;
	struct timeval tv = { t->recheck_ms / 1000, (t->recheck_ms % 1000) * 1000 };
	evtimer_add(t->changed, &tv);
	t->recheck_spent_ms += t->recheck_ms;
	if (t->recheck_ms < RECHECK_MAX_MS)
		t->recheck_ms *= 2;
}

static void changed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt_guest *t = arg;
	struct tsd_libvirt *be = t->be;
	struct tsd_guest g;
	struct tsd_layout l = { .free_slots = -1 };
	bool have;
	char msg[512];
	virDomainPtr dom = be->conn ? virDomainLookupByUUIDString(be->conn, t->uuid) : NULL;

	if (!dom)
		return;
	if (read_domain(be, t, dom, &g, &l, &have, msg, sizeof(msg)) == TSD_OK && have) {
		if (be->base.host->guest_changed)
			be->base.host->guest_changed(be->base.host->ud, &be->base, t->uuid, &l);
		recheck(t, &l, false);
	}
	tsd_layout_clear(&l);
	virDomainFree(dom);
}

static void device_changed(struct tsd_libvirt *be, virDomainPtr dom, const char *alias,
			   const char *what)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct timeval now = { 0, 0 };

	virDomainGetUUIDString(dom, uuid);
	struct tsd_libvirt_guest *t = guest_find(be, uuid);
	if (!t)
		return;
	tsd_log(&be->base, LOG_INFO, "guest %s: device %s %s", t->name, alias, what);
	if (!t->changed && !(t->changed = evtimer_new(be->base.host->base, changed_cb, t)))
		return;
	evtimer_add(t->changed, &now);
}

static void device_added_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	device_changed(opaque, dom, alias, "added");
}

static void device_removed_cb(virConnectPtr conn, virDomainPtr dom, const char *alias,
			      void *opaque)
{
	device_changed(opaque, dom, alias, "removed");
}

/* QEMU's own DEVICE_DELETED: also for devices added behind libvirt's back
 * (virsh qemu-monitor-command device_add), which libvirt does not report. */
static void qemu_event_cb(virConnectPtr conn, virDomainPtr dom, const char *event,
			  long long seconds, unsigned int micros, const char *details, void *opaque)
{
	json_object *o = details ? json_tokener_parse(details) : NULL, *dev;
	const char *id = o && json_object_object_get_ex(o, "device", &dev) ?
			 json_object_get_string(dev) : "(no id)";
	device_changed(opaque, dom, id, "deleted by QEMU");
	json_object_put(o);
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
		announce(be, dom, event == VIR_DOMAIN_EVENT_DEFINED);
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		/* A persistent domain stays listed, shut off; a transient one
		 * is gone. */
		if (virDomainIsPersistent(dom) == 1)
			announce(be, dom, false);
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

/* ---- connection life ---------------------------------------------------------------- */

static void disconnect(struct tsd_libvirt *be);
static int connect_uri(struct tsd_libvirt *be, struct mmio_error *err);
static void watch_socket(struct tsd_libvirt *be);

static void reconnect_later(struct tsd_libvirt *be)
{
	int cap = be->ino_wd >= 0 || !be->sockdir[0] ? RECONNECT_MAX_SEC : RECONNECT_MAX_UNWATCHED_SEC;
	be->backoff = be->backoff ? be->backoff * 2 : 1;
	if (be->backoff > cap)
		be->backoff = cap;
	struct timeval tv = { be->backoff, 0 };
	event_add(be->reconnect, &tv);
}

static void try_connect(struct tsd_libvirt *be)
{
	struct mmio_error err;
	if (connect_uri(be, &err) == 0) {
		tsd_log(&be->base, LOG_NOTICE, "connected to %s", be->uri);
		be->backoff = 0;
		event_del(be->reconnect);
		set_connected(be, true, "");
		sync_all(be, true);
		return;
	}
	if (strcmp(be->down_msg, err.msg) != 0)
		tsd_log(&be->base, LOG_WARNING, "%s; retrying%s", err.msg,
		       be->ino_wd >= 0 ? " when its socket appears" : "");
	set_connected(be, false, err.msg);
	watch_socket(be);
	reconnect_later(be);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	try_connect(arg);
}

/* The socket directory of a local libvirt daemon, for the URI forms mmiod
 * can tell ("" for a remote URI): ?socket=PATH, qemu:///system (and any
 * DRIVER:///system: libvirtd's or the modular virtqemud's socket, both
 * in LOCALSTATEDIR/run/libvirt), DRIVER:///session. */
static void socket_dir(const char *uri, char *buf, size_t len)
{
	const char *sep = strstr(uri, "://"), *q = strchr(uri, '?'), *s;
	size_t plen;

	buf[0] = '\0';
	if (!sep || sep[3] != '/' || memchr(uri, '+', (size_t)(sep - uri)))
		return; /* a host, or a transport (qemu+ssh://): remote */
	if (q && ((s = strstr(q, "socket=")) != NULL)) {
		const char *e = strchr(s, '&');
		size_t n = e ? (size_t)(e - s - 7) : strlen(s + 7);
		char path[PATH_MAX];
		if (n == 0 || n >= sizeof(path))
			return;
		memcpy(path, s + 7, n);
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		if (slash && slash != path) {
			*slash = '\0';
			snprintf(buf, len, "%s", path);
		}
		return;
	}
	plen = q ? (size_t)(q - (sep + 3)) : strlen(sep + 3);
	if (plen == 7 && strncmp(sep + 3, "/system", 7) == 0) {
		snprintf(buf, len, "/run/libvirt");
	} else if (plen == 8 && strncmp(sep + 3, "/session", 8) == 0) {
		const char *rt = getenv("XDG_RUNTIME_DIR");
		if (rt && rt[0])
			snprintf(buf, len, "%s/libvirt", rt);
	}
}

static void ino_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt *be = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool poke = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			poke |= e->len > 0 || (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED));
			p += sizeof(*e) + e->len;
		}
	}
	if (!poke || be->conn)
		return;
	/* Something appeared where the socket will be (or on the way to
	 * it): move the watch nearer, and try now. */
	watch_socket(be);
	event_del(be->reconnect);
	be->backoff = 0;
	try_connect(be);
}

/* Watches the socket directory, or its nearest existing parent while it
 * does not exist yet (/run/libvirt appears with the daemon). */
static void watch_socket(struct tsd_libvirt *be)
{
	char dir[PATH_MAX];

	if (!be->sockdir[0])
		return;
	if (be->ino_fd < 0) {
		be->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (be->ino_fd < 0)
			return;
		be->ino_ev = event_new(be->base.host->base, be->ino_fd, EV_READ | EV_PERSIST, ino_cb, be);
		if (!be->ino_ev || event_add(be->ino_ev, NULL) < 0) {
			if (be->ino_ev)
				event_free(be->ino_ev);
			be->ino_ev = NULL;
			close(be->ino_fd);
			be->ino_fd = -1;
			return;
		}
	}
	snprintf(dir, sizeof(dir), "%s", be->sockdir);
	while (access(dir, F_OK) != 0) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			snprintf(dir, sizeof(dir), "/");
			break;
		}
		*slash = '\0';
	}
	if (be->ino_wd >= 0 && strcmp(dir, be->ino_dir) == 0)
		return;
	if (be->ino_wd >= 0)
		inotify_rm_watch(be->ino_fd, be->ino_wd);
	be->ino_wd = inotify_add_watch(be->ino_fd, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB |
				       IN_DELETE_SELF | IN_MOVE_SELF);
	snprintf(be->ino_dir, sizeof(be->ino_dir), "%s", be->ino_wd >= 0 ? dir : "");
}

static void unwatch_socket(struct tsd_libvirt *be)
{
	if (be->ino_ev)
		event_free(be->ino_ev);
	be->ino_ev = NULL;
	if (be->ino_fd >= 0)
		close(be->ino_fd);
	be->ino_fd = be->ino_wd = -1;
	be->ino_dir[0] = '\0';
}

static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct tsd_libvirt *be = opaque;
	char msg[sizeof(be->down_msg)];
	snprintf(msg, sizeof(msg), "the connection to %.200s was lost (%s)", be->uri,
		 reason == VIR_CONNECT_CLOSE_REASON_EOF ? "libvirt's daemon went away" :
		 reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out" :
		 reason == VIR_CONNECT_CLOSE_REASON_CLIENT ? "closed by the client" : "error");
	tsd_log(&be->base, LOG_WARNING, "%s; its guests are kept as last read until it is back", msg);
	set_connected(be, false, msg);
	/* Not from inside libvirt's callback: the connection is torn down
	 * from the loop. */
	struct timeval tv = { 0, 0 };
	be->backoff = 0;
	event_add(be->reconnect, &tv);
}

static void disconnect(struct tsd_libvirt *be)
{
	if (!be->conn)
		return;
	int *ids[] = { &be->lifecycle_id, &be->added_id, &be->removed_id };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (*ids[i] >= 0)
			virConnectDomainEventDeregisterAny(be->conn, *ids[i]);
		*ids[i] = -1;
	}
	if (be->qemu_deleted_id >= 0)
		virConnectDomainQemuMonitorEventDeregister(be->conn, be->qemu_deleted_id);
	be->qemu_deleted_id = -1;
	if (be->close_cb)
		virConnectUnregisterCloseCallback(be->conn, close_cb);
	be->close_cb = false;
	virConnectClose(be->conn);
	be->conn = NULL;
}

static int connect_uri(struct tsd_libvirt *be, struct mmio_error *err)
{
	disconnect(be);
	be->conn = virConnectOpen(be->uri);
	if (!be->conn) {
		mmio_error_set(err, MMIO_E_IO, "cannot connect to %s: %s", be->uri, last_error());
		return -1;
	}
	const char *type = virConnectGetType(be->conn);
	be->is_qemu = type && strcmp(type, "QEMU") == 0;
	be->lifecycle_id = virConnectDomainEventRegisterAny(
		be->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), be, NULL);
	if (be->lifecycle_id < 0) {
		mmio_error_set(err, MMIO_E_IO, "no lifecycle events from %s: %s", be->uri,
			       last_error());
		disconnect(be);
		return -1;
	}
	/* Device events: where a driver has none (test://) the guests are
	 * re-read on demand only. */
	be->added_id = virConnectDomainEventRegisterAny(
		be->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
		VIR_DOMAIN_EVENT_CALLBACK(device_added_cb), be, NULL);
	be->removed_id = virConnectDomainEventRegisterAny(
		be->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
		VIR_DOMAIN_EVENT_CALLBACK(device_removed_cb), be, NULL);
	be->qemu_deleted_id = be->is_qemu ?
		virConnectDomainQemuMonitorEventRegister(be->conn, NULL, "DEVICE_DELETED",
							 qemu_event_cb, be, NULL, 0) : -1;
	/* Local drivers (test://) have no connection to lose. */
	be->close_cb = virConnectRegisterCloseCallback(be->conn, close_cb, be, NULL) == 0;
	/* A lost daemon is noticed by the socket closing; keepalive covers a
	 * daemon that hangs (or a remote host that vanishes). */
	virConnectSetKeepAlive(be->conn, 5, 3);
	return 0;
}

/* ---- operations ---------------------------------------------------------------- */

static void op_dispose(struct tsd_op *base)
{
	struct tsd_libvirt_op *op = (struct tsd_libvirt_op *)base;
	if (op->ev)
		event_free(op->ev);
}
/* The hostdev XML of an attach or detach; on attach behind a port, its
 * address (the port's controller index as the bus, the slot). */
static int hostdev_xml(struct tsd_libvirt *be, struct tsd_libvirt_op *op, virDomainPtr dom,
		       char *xml, size_t len, char *msg, size_t msglen)
{
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	int bus = -1, slot = 0, rc = TSD_OK;
	char *dx;

	if (op->base.kind != TSD_OP_ATTACH || !op->port[0]) {
		tsd_libvirt_hostdev_xml(&op->bdf, -1, 0, xml, len);
		return TSD_OK;
	}
	if (!(dx = virDomainGetXMLDesc(dom, 0))) {
		snprintf(msg, msglen, "libvirt: %s", last_error());
		return tsd_libvirt_rc(virGetLastErrorCode());
	}
	enum mmio_status st = tsd_libvirt_parse_domain(dx, &d, &err);
	free(dx);
	const struct tsd_libvirt_controller *c =
		st == MMIO_OK ? tsd_libvirt_controller_by_alias(&d, op->port) : NULL;
	if (st != MMIO_OK) {
		snprintf(msg, msglen, "%s", err.msg);
		rc = TSD_E_FAILED;
	} else if (!c || !tsd_libvirt_port_model(c->model)) {
		snprintf(msg, msglen, "the domain has no hot-plug port controller with alias %s",
			 op->port);
		rc = TSD_E_FAILED;
	} else {
		/* Behind a pci-bridge: a slot neither libvirt nor QEMU uses. */
		uint32_t used = 0;
		struct tsd_layout l = { .free_slots = -1 };
		struct tsd_libvirt_guest *t = guest_find(be, op->uuid);
		char why[200];
		if (strcmp(c->model, "pci-bridge") == 0 &&
		    qemu_layout(t, dom, &d, &l, why, sizeof(why))) {
			for (size_t i = 0; i < l.nports; i++) {
				if (strcmp(l.ports[i].id, op->port) != 0 || !l.ports[i].secondary)
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
			snprintf(msg, msglen, "no free slot behind %s", op->port);
			rc = TSD_E_FAILED;
		}
	}
	tsd_libvirt_domain_clear(&d);
	if (rc == TSD_OK)
		tsd_libvirt_hostdev_xml(&op->bdf, bus, (unsigned)slot, xml, len);
	return rc;
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
			      "libvirt: %s", be->conn ? last_error() :
			      be->down_msg[0] ? be->down_msg : "not connected");
	} else if (op->base.kind == TSD_OP_REFRESH) {
		struct tsd_guest g;
		bool have;
		res->rc = read_domain(be, guest_find(be, op->uuid), dom, &g, &op->base.layout, &have,
				      res->msg, sizeof(res->msg));
		/* A shut-off domain has no windows to re-read: say why. */
		if (res->rc == TSD_OK && (!have || (!g.can_attach && op->base.layout.nwin == 0))) {
			have = false;
			res->rc = TSD_E_NOTSUPPORTED;
			snprintf(res->msg, sizeof(res->msg), "no layout for %s: %s", g.name,
				 g.why_not[0] ? g.why_not : "no model for this guest");
		}
		op->base.have_layout = have;
		virDomainFree(dom);
		tsd_op_finish(&op->base, res->rc, NULL);
	} else {
		char xml[512], msg[sizeof(res->msg)];
		unsigned vflags = VIR_DOMAIN_AFFECT_LIVE;
		if (op->flags & TSD_ATTACH_PERSISTENT)
			vflags |= VIR_DOMAIN_AFFECT_CONFIG;
		enum tsd_rc rc = hostdev_xml(be, op, dom, xml, sizeof(xml), msg, sizeof(msg));
		if (rc != TSD_OK)
			tsd_op_finish(&op->base, rc, "%s", msg);
		else if ((op->base.kind == TSD_OP_ATTACH ? virDomainAttachDeviceFlags(dom, xml, vflags)
							 : virDomainDetachDeviceFlags(dom, xml, vflags)) < 0)
			tsd_op_finish(&op->base, tsd_libvirt_rc(virGetLastErrorCode()), "libvirt: %s",
				      last_error());
		else {
			mmio_bdf_format(&op->bdf, res->attached_id, sizeof(res->attached_id));
			/* libvirt does not tell which qdev id it gave the hostdev
			 * in reply; placement is checked by the daemon's next
			 * refresh, not here. */
			if (op->base.kind == TSD_OP_ATTACH)
				tsd_op_finish(&op->base, TSD_OK, "attached%s%s; BAR placement not "
					      "verified by the libvirt back end",
					      op->port[0] ? " behind " : "", op->port);
			else
				tsd_op_finish(&op->base, TSD_OK, NULL);
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
	unwatch_socket(be);
	if (be->reconnect)
		event_free(be->reconnect);
	while (be->guests) {
		struct tsd_libvirt_guest *g = be->guests;
		be->guests = g->next;
		guest_free(g);
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
	if (!strstr(arg, ":/")) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: \"%.200s\" is not a libvirt URI "
			       "(qemu:///system, test:///default, ...)", arg);
		return -1;
	}
	struct tsd_libvirt *be = calloc(1, sizeof(*be));
	if (!be) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return -1;
	}
	be->base.drv = &tsd_libvirt_driver;
	be->base.host = host;
	be->lifecycle_id = be->added_id = be->removed_id = be->qemu_deleted_id = -1;
	be->ino_fd = be->ino_wd = -1;
	be->connected = true;           /* until told otherwise: set_connected reports changes */
	snprintf(be->base.spec, sizeof(be->base.spec), "libvirt:%s", arg);
	if (strlen(arg) >= sizeof(be->uri)) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: URI too long");
		free(be);
		return -1;
	}
	snprintf(be->uri, sizeof(be->uri), "%s", arg);
	socket_dir(be->uri, be->sockdir, sizeof(be->sockdir));
	xmlInitParser();
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
	if (connect_uri(be, err) == 0) {
		sync_all(be, false);
		*out = &be->base;
		return 0;
	}
	/* A URI no driver takes is a configuration error; a daemon that is
	 * not there (yet) is waited for. */
	if (virGetLastErrorCode() == VIR_ERR_NO_CONNECT && !be->sockdir[0] &&
	    virGetLastErrorDomain() != VIR_FROM_RPC) {
		tsd_libvirt_close(&be->base);
		return -1;
	}
	tsd_log(&be->base, LOG_WARNING, "%s; retrying%s", err->msg,
	       be->sockdir[0] ? " (and watching for its socket)" : "");
	set_connected(be, false, err->msg);
	watch_socket(be);
	reconnect_later(be);
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
			    const struct mmio_bdf *bdf, const char *port, unsigned flags,
			    tsd_done_fn cb, void *ud, struct mmio_error *err)
{
	if (port && strlen(port) >= sizeof(((struct tsd_libvirt_op *)0)->port)) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: port name too long");
		return -1;
	}
	struct tsd_libvirt_op *op = op_start(be, kind, guest_id, err);

	if (!op)
		return -1;
	op->bdf = *bdf;
	snprintf(op->port, sizeof(op->port), "%s", port ? port : "");
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
	return op_start_hostdev((struct tsd_libvirt *)tbe, TSD_OP_ATTACH, guest_id, &bdf, req->port,
				flags, cb, ud, err);
}

static int tsd_libvirt_detach(struct tsd_backend *tbe, const char *guest_id,
			      const char *attached_id, unsigned flags, tsd_done_fn cb, void *ud,
			      struct mmio_error *err)
{
	struct mmio_bdf bdf;
	tsd_check_flags("libvirt", "detach", flags, TSD_ATTACH_PERSISTENT, err);
	if (mmio_bdf_parse(attached_id, &bdf, err) != MMIO_OK)
		return -1;
	return op_start_hostdev((struct tsd_libvirt *)tbe, TSD_OP_DETACH, guest_id, &bdf, NULL, flags,
				cb, ud, err);
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
