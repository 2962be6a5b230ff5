/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libvirt.c — the libvirt back end (KVM/QEMU, Xen through
 * libvirt's libxl driver, and libvirt's test driver for the tests).
 *
 * Nothing here talks to libvirt on the daemon's loop.  libvirt's API is
 * synchronous (every call is an RPC to libvirtd, which may itself wait
 * for a guest's QEMU, or hang): every call runs as a job on the daemon's
 * worker pool (libvirt-calls.c, worker.h) with what it needs copied into
 * the job, and the back end takes the result back on the loop (its four
 * files stack as toolstack-libvirt-internal.h says).  libvirt's own
 * events (lifecycle, devices, a closed connection, keepalive) run on
 * libvirt's default event loop in a thread of its own (`lvloop`, the one
 * global: libvirt allows one event implementation per process); its
 * callbacks only copy what they are given and post it to the loop
 * (worker_post), tagged with the connection they came from (`lv_link`) so
 * that late ones of an old connection are dropped.
 *
 * A job never points into the back end's guests or ops: it names a guest
 * by uuid, takes a connection of its own on its thread (lv_conns: one call
 * at a time per connection, so a call stuck on one guest holds up nobody
 * else's), and holds the back end itself by a reference count, so close()
 * can free everything else while calls are still out; an op whose job is
 * out counts it in base.pending.
 *
 * One call at a time per guest: a guest's later jobs wait in its own
 * queue (in mmiod's memory, not on a pool thread nor in libvirtd) until
 * its call returns.  A guest whose QEMU hangs thus holds one pool thread,
 * one connection and one libvirtd worker, however many clients ask about
 * it, and never fills libvirtd's workers (20) nor mmiod's pool (16).
 *
 * Deadlines measure the toolstack's time: an op (refresh, attach, detach)
 * has the base's, but when it passes the guest is blamed only if the call
 * it waits for (its own, or the one before it in the guest's queue) has
 * been running in libvirt for that call's whole deadline; otherwise the
 * deadline is moved to when that call's would pass.  A call that never got
 * a pool thread (all of them in calls to other guests) fails the op
 * without blaming the guest.  A blamed guest is marked unresponsive
 * (tsd_guest_answering), its waiting ops fail and its later ops fail at
 * once; the call still out comes back when libvirtd answers, and that
 * answer (or a probe every twice the call timeout, when no call is out)
 * reports the guest answering again.  A libvirtd that hangs is the same
 * for every guest, and keepalive (5 s x 3) closes its connection: the back
 * end is then disconnected (Stale) and reconnects with back-off, one
 * attempt at a time; ops still run meanwhile, each call on a connection
 * of its own (op_start).
 */
#include "config.h"

#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "toolstack-libvirt-internal.h"

void *tsd_libvirt_test_connection(struct tsd_backend *tbe)
{
	return ((struct tsd_libvirt *)tbe)->conn;
}

/* ---- a job back on the loop -------------------------------------------------------------- */

static void op_result(struct tsd_libvirt *be, struct lv_job *j);

/* What a call's answer means, on the loop (t: its guest, NULL if none or
 * gone); the jobs' bookkeeping around it is job_done's. */
static void job_result(struct tsd_libvirt *be, struct lv_job *j, struct tsd_libvirt_guest *t)
{
	if (!be->closed && j->no_conn && (j->kind == J_ANNOUNCE || j->kind == J_STOPPED ||
					  j->kind == J_UNDEFINED)) {
		/* nobody was asked: the guest stays as it was */
		tsd_log(&be->base, LOG_WARNING, "%s", j->u.read.msg);
		return;
	}
	if (be->closed) {
		if (j->kind == J_CONNECT)
			lv_conn_abandoned(be, &j->u.connect);
		return;
	}
	switch (j->kind) {
	case J_CONNECT:
		lv_conn_done(be, &j->u.connect);
		break;
	case J_DISCONNECT:
		break;
	case J_LIST:
		lv_guests_listed(be, &j->u.list, j->force);
		break;
	case J_ANNOUNCE:
		if (j->u.read.note[0])
			tsd_log(&be->base, LOG_WARNING, "%s", j->u.read.note);
		lv_guest_announce(be, &j->u.read, j->force);
		break;
	case J_STOPPED:
		if (j->u.read.rc == TSD_E_NOGUEST || j->u.read.persistent == 0)
			lv_guest_down(be, j->u.read.uuid);
		else
			lv_guest_announce(be, &j->u.read, false);
		break;
	case J_UNDEFINED:
		if (j->u.read.rc == TSD_E_NOGUEST || j->u.read.active != 1)
			lv_guest_down(be, j->u.read.uuid);
		break;
	case J_CHANGED:
		if (t) {
			t->reading = false;
			t->facts = j->u.read.facts;
			if (j->u.read.rc == TSD_OK && j->u.read.have_layout) {
				if (be->base.host->guest_changed)
					be->base.host->guest_changed(be->base.host->ud, &be->base,
								     t->uuid, &j->u.read.layout);
				lv_guest_recheck(t, &j->u.read.layout, false);
			}
			if (t->read_again) {
				t->read_again = false;
				lv_guest_read(be, t->uuid, J_CHANGED, false);
			}
		}
		break;
	case J_PROBE:
		break;
	case J_REFRESH: case J_ATTACH: case J_DETACH:
		if (t && j->kind == J_REFRESH)
			t->facts = j->u.read.facts;
		op_result(be, j);
		break;
	}
}

/* ---- operations ------------------------------------------------------------------ */

static void op_dispose(struct tsd_op *base)
{
	struct tsd_libvirt_op *op = (struct tsd_libvirt_op *)base;
	if (op->job)
		op->job->op = NULL;     /* the call comes back to nobody */
}

static const char *job_what(const struct lv_job *j)
{
	switch (j->kind) {
	case J_ATTACH: return "attach";
	case J_DETACH: return "detach";
	case J_PROBE: return "probe";
	default: return "read of the layout";
	}
}

/* The op's deadline passed with its call not back.  The guest is to blame
 * only for libvirt's own time: the call the op waits for (its own, or the
 * guest's call before it) must have run in libvirt for that call's whole
 * deadline.  One that ran less moves the op's deadline to when it would
 * pass; one that never got a pool thread (every thread in a call to some
 * other guest) fails the op, the guest not blamed, after twice the op's
 * deadline. */
static void op_timeout(struct tsd_op *base)
{
	struct tsd_libvirt_op *op = (struct tsd_libvirt_op *)base;
	struct tsd_libvirt *be = (struct tsd_libvirt *)base->be;
	struct tsd_libvirt_guest *t = lv_guest_find(be, op->uuid);
	struct lv_job *j = op->job;
	struct lv_job *front = j && j->queued && t && t->running ? t->running : j;
	long long now = lv_now_us(), started;
	const char *name = t ? t->name : op->uuid;
	char why[200];

	if (!front)
		return;         /* the base finishes it */
	started = __atomic_load_n(&front->started_us, __ATOMIC_ACQUIRE);
	if (started) {
		long long ran = now - started, due = (long long)front->deadline_ms * 1000;
		if (ran + 1000 < due) {
			tsd_op_deadline(base, (unsigned)((due - ran + 999) / 1000));
			return;
		}
		snprintf(why, sizeof(why), "libvirt did not answer within %u ms (%s)", front->deadline_ms,
			 job_what(front));
		tsd_op_finish(base, TSD_E_UNRESPONSIVE, "guest %s: %s; it is marked unresponsive until "
			      "it answers again", name, why);
		if (j->queued && t) {
			/* never sent: for an attach, nothing happened */
			lv_guest_unqueue(t, j);
			lv_job_drop(j, TSD_E_UNRESPONSIVE, "");
		}
		lv_guest_answering(be, t, false, why);
		return;
	}
	unsigned own_ms = j->deadline_ms ? j->deadline_ms : 1000;
	if (now - op->started_us < 2LL * own_ms * 1000) {
		tsd_op_deadline(base, own_ms / 2 ? own_ms / 2 : 1);
		return;
	}
	struct worker_stats st;
	worker_pool_stats(be->base.host->pool, &st);
	tsd_log(&be->base, LOG_WARNING, "guest %s: no libvirt call could start within %u ms: all %u "
		"worker threads are in calls (%u waiting)", name, 2 * own_ms, st.busy, st.queued);
	tsd_op_finish(base, TSD_E_FAILED, "libvirt: the call for guest %s could not start within %u ms: "
		      "all %u of mmiod's worker threads are in libvirt calls (to guests, or a libvirtd, "
		      "that do not answer); the guest itself is not blamed", name, 2 * own_ms, st.busy);
	if (j->queued && t) {
		lv_guest_unqueue(t, j);
		lv_job_drop(j, TSD_E_FAILED, "");
	}
}

static void op_result(struct tsd_libvirt *be, struct lv_job *j)
{
	struct tsd_libvirt_op *op = j->op;
	struct tsd_result *res;

	if (!op)
		return;
	/* the op may be freed below (a late answer to an op already
	 * delivered): neither points to the other any more */
	j->op = NULL;
	op->job = NULL;
	op->base.pending--;
	res = &op->base.res;
	if (op->base.finished) {
		tsd_op_release(&op->base);
		return;
	}
	if (j->kind == J_REFRESH) {
		struct lv_read *r = &j->u.read;
		if (r->note[0])
			tsd_log(&be->base, LOG_WARNING, "%s", r->note);
		/* A shut-off domain has no windows to re-read: say why. */
		if (r->rc == TSD_OK && (!r->have_layout || (!r->g.can_attach && r->layout.nwin == 0))) {
			tsd_op_finish(&op->base, TSD_E_NOTSUPPORTED, "no layout for %s: %s", r->g.name,
				      r->g.why_not[0] ? r->g.why_not : "no model for this guest");
			return;
		}
		if (r->rc != TSD_OK) {
			tsd_op_finish(&op->base, r->rc, "%s", r->msg);
			return;
		}
		tsd_layout_clear(&op->base.layout);
		op->base.layout = r->layout;
		memset(&r->layout, 0, sizeof(r->layout));
		op->base.have_layout = true;
		tsd_op_finish(&op->base, TSD_OK, NULL);
		return;
	}
	struct lv_hostdev *h = &j->u.hostdev;
	if (h->rc != TSD_OK) {
		tsd_op_finish(&op->base, h->rc, "%s", h->msg);
		return;
	}
	mmio_bdf_format(&h->bdf, res->attached_id, sizeof(res->attached_id));
	/* libvirt does not tell which qdev id it gave the hostdev in reply;
	 * placement is checked by the daemon's next refresh, not here. */
	if (j->kind == J_ATTACH)
		tsd_op_finish(&op->base, TSD_OK, "attached%s%s; BAR placement not verified by the "
			      "libvirt back end", h->port[0] ? " behind " : "", h->port);
	else
		tsd_op_finish(&op->base, TSD_OK, NULL);
}

/* An op and its call.  A guest that does not answer gets an op that
 * fails at once, delivered from the loop; so does a back end that has no
 * connection a call could run on (see below). */
static struct tsd_libvirt_op *op_start(struct tsd_libvirt *be, enum tsd_op_kind kind,
				       const char *uuid, struct lv_job **jobp, struct mmio_error *err)
{
	struct tsd_libvirt_op *op = tsd_op_new(&be->base, sizeof(*op), kind, op_dispose, err);
	struct tsd_libvirt_guest *t = lv_guest_find(be, uuid);
	enum lv_job_kind jk = kind == TSD_OP_REFRESH ? J_REFRESH : kind == TSD_OP_ATTACH ? J_ATTACH : J_DETACH;

	*jobp = NULL;
	if (!op)
		return NULL;
	op->base.on_timeout = op_timeout;
	op->started_us = lv_now_us();
	snprintf(op->uuid, sizeof(op->uuid), "%s", uuid);
	if (t && t->unresponsive) {
		tsd_op_finish(&op->base, TSD_E_UNRESPONSIVE, "guest %s is not answering: %s", t->name,
			      t->unresponsive_msg);
		return op;
	}
	/* The back end's own connection down (lost, being made again) does
	 * not stop a call: every call runs on a connection of its own
	 * (lv_conns), so the first call after libvirtd answers again is
	 * answered, instead of repeating why the old connection went until
	 * the reconnection is through (a libvirtd resumed after a hang longer
	 * than keepalive).  Refused: before any connection (is_qemu unknown),
	 * a URI given up, a driver whose calls share the back end's
	 * connection (test://). */
	if (!be->conn && (!be->was_connected || be->gave_up || be->calls_share)) {
		tsd_op_finish(&op->base, TSD_E_FAILED, "libvirt: %s",
			      be->down_msg[0] ? be->down_msg : "not connected");
		return op;
	}
	if (!(*jobp = lv_job_new(be, jk, uuid))) {
		tsd_op_finish(&op->base, TSD_E_FAILED, "libvirt: out of memory");
		return op;
	}
	(*jobp)->op = op;
	return op;
}

/* Hands the op's call to the pool. */
static void op_go(struct tsd_libvirt_op *op, struct lv_job *j)
{
	if (!j)
		return;
	if (!lv_job_submit(j, op->uuid)) {
		tsd_op_finish(&op->base, TSD_E_FAILED, "libvirt: too many calls waiting (libvirtd "
			      "answers none?)");
		return;
	}
	op->job = j;
	op->base.pending++;
}

/* ---- probing guests that do not answer ----------------------------------------------- */

static void prober_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt *be = arg;

	if (!be->conn)
		return;
	/* one call at a time per guest: a guest with a call still out
	 * answers by that call */
	for (struct tsd_libvirt_guest *t = be->guests; t; t = t->next) {
		if (!t->unresponsive || t->jobs)
			continue;
		struct lv_job *j = lv_job_new(be, J_PROBE, t->uuid);
		if (j)
			lv_job_submit(j, t->uuid);
	}
}

static void tsd_libvirt_close(struct tsd_backend *tbe)
{
	struct tsd_libvirt *be = (struct tsd_libvirt *)tbe;
	if (!be)
		return;
	/* ops first: their calls still out come back to nobody */
	tsd_ops_free(&be->base);
	if (be->conns)
		lv_conn_drop(be, true);
	lv_conn_unwatch(be);
	if (be->reconnect)
		event_free(be->reconnect);
	if (be->prober)
		event_free(be->prober);
	be->reconnect = be->prober = NULL;
	while (be->guests) {
		struct tsd_libvirt_guest *g = be->guests;
		be->guests = g->next;
		lv_guest_free(g);
	}
	free(be->htab);
	be->htab = NULL;
	be->hcap = be->nguests = 0;
	be->closed = true;
	lv_be_unref(be);
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
	if (strlen(arg) >= sizeof(((struct tsd_libvirt *)0)->uri)) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: URI too long");
		return -1;
	}
	if (!host->pool) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "libvirt: needs the daemon's worker pool");
		return -1;
	}
	struct tsd_libvirt *be = calloc(1, sizeof(*be));
	if (!be) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return -1;
	}
	be->refs = 1;
	be->base.drv = &tsd_libvirt_driver;
	be->job_result = job_result;
	be->base.host = host;
	for (int i = 0; i < 4; i++)
		be->ids[i] = -1;
	be->ino_fd = be->ino_wd = -1;
	be->connected = true;           /* until told otherwise: set_connected reports changes */
	snprintf(be->base.spec, sizeof(be->base.spec), "libvirt:%.240s", arg);
	snprintf(be->uri, sizeof(be->uri), "%s", arg);
	lv_conn_socket_dir(be->uri, be->sockdir, sizeof(be->sockdir));
	xmlInitParser();
	if (!(be->conns = lv_conns_new(be->uri))) {
		free(be);
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return -1;
	}
	if (lv_loop_use(err) < 0) {
		lv_conns_free(be->conns);
		free(be);
		return -1;
	}
	unsigned probe_ms = host->call_timeout_ms ? 2 * host->call_timeout_ms : 10000;
	if (probe_ms < 1000)
		probe_ms = 1000;
	struct timeval ptv = { probe_ms / 1000, (probe_ms % 1000) * 1000 };
	be->reconnect = evtimer_new(host->base, lv_conn_reconnect_cb, be);
	be->prober = event_new(host->base, -1, EV_PERSIST, prober_cb, be);
	if (!be->reconnect || !be->prober || event_add(be->prober, &ptv) < 0) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		tsd_libvirt_close(&be->base);
		return -1;
	}
	/* the connection is made on the pool: guests come once it is up */
	lv_conn_try(be);
	*out = &be->base;
	return 0;
}

static int tsd_libvirt_refresh(struct tsd_backend *tbe, const char *guest_id, unsigned flags,
			       tsd_layout_fn cb, void *ud, struct mmio_error *err)
{
	struct lv_job *j;
	tsd_check_flags("libvirt", "refresh", flags, 0, err);
	struct tsd_libvirt_op *op = op_start((struct tsd_libvirt *)tbe, TSD_OP_REFRESH, guest_id, &j,
					     err);
	if (!op)
		return -1;
	op->base.layout_cb = cb;
	op->base.ud = ud;
	op_go(op, j);
	return 0;
}

/* Starts an attach or detach of one <hostdev>; 0, or -1 with err. */
static int op_start_hostdev(struct tsd_libvirt *be, enum tsd_op_kind kind, const char *guest_id,
			    const struct mmio_bdf *bdf, const char *port, unsigned flags,
			    tsd_done_fn cb, void *ud, struct mmio_error *err)
{
	struct lv_job *j;

	if (port && strlen(port) >= sizeof(j->u.hostdev.port)) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: port name too long");
		return -1;
	}
	struct tsd_libvirt_op *op = op_start(be, kind, guest_id, &j, err);
	if (!op)
		return -1;
	op->base.done_cb = cb;
	op->base.ud = ud;
	if (j) {
		j->u.hostdev.bdf = *bdf;
		snprintf(j->u.hostdev.port, sizeof(j->u.hostdev.port), "%s", port ? port : "");
		j->u.hostdev.vflags = VIR_DOMAIN_AFFECT_LIVE |
				      (flags & TSD_ATTACH_PERSISTENT ? VIR_DOMAIN_AFFECT_CONFIG : 0);
	}
	op_go(op, j);
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
	.config_form = TSD_CONFIG_LIBVIRT_XML,
	.open = tsd_libvirt_open,
	.close = tsd_libvirt_close,
	.refresh = tsd_libvirt_refresh,
	.attach = tsd_libvirt_attach,
	.detach = tsd_libvirt_detach,
};
