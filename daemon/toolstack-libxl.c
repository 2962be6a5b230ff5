/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libxl.c — the libxenlight back end (Xen hosts).
 *
 * One libxl_ctx for the back end's life.  libxl's file descriptors and
 * timeouts are put on the daemon's libevent loop through
 * libxl_osevent_register_hooks; its events (domain death) come through
 * libxl_event_register_callbacks; its children (the flock helper of the QMP
 * lock, ...) are reaped by libxl itself, selectively, so the daemon may keep
 * children of its own.  Every libxl call that can take long is made
 * asynchronously (an ao_how callback), and results reach the daemon through
 * a deferred libevent callback so that a callback never runs inside the
 * call that started it, whatever libxl does.
 *
 * Every asynchronous libxl call has a deadline (the op base's, re-armed per
 * call: the call timeout for reads, the attach timeout for pci_add and
 * pci_remove).  When it passes, the ao is aborted (libxl_ao_abort: a
 * qemu-xen that does not answer its QMP socket leaves libxl waiting
 * forever otherwise), the op fails with TSD_E_UNRESPONSIVE and the domain
 * is reported not answering; its ops fail at once from then on, and every
 * twice the call timeout (at least a second) a small probe (`info version`
 * through libxl's QMP) looks whether it answers again.
 *
 * Everything that maps libxl's data lives in libxl-map.c and is tested
 * there; libxl's fds, timeouts and log messages are put on the loop by
 * toolstack-libxl-loop.c; this file only sequences calls.  Without a hypervisor
 * libxl_ctx_alloc fails, and open() declines with one line.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>

#include "libxl-map.h"
#include "toolstack-libxl-internal.h"
#include <libxl_utils.h>
#include <xentoollog.h>

/* How often to look for new domains: libxl has no "domain created" event. */
#define TSD_LIBXL_RESCAN_SEC 5
/* A domain found before it is ready (xl create: the domain exists before
 * libxl stored its configuration, before its device model answers, before
 * hvmloader placed the BARs) is read again after 0.5, 1, 2 ... at most
 * 30 s; after TSD_LIBXL_NOT_READY_TRIES reads (some 8 minutes: hvmloader
 * under nested TCG takes minutes) it is announced as it is. */
#define TSD_LIBXL_NOT_READY_FIRST_MS 500u
#define TSD_LIBXL_NOT_READY_MAX_MS 30000u
#define TSD_LIBXL_NOT_READY_TRIES 24
/* How long close waits for aborted calls to come back. */
#define TSD_LIBXL_CLOSE_DRAIN_MS 5000
/* How often an unresponsive domain is probed without a call timeout. */
#define TSD_LIBXL_PROBE_SEC 5
/* After a successful pci_add the guest places the BARs on its own time
 * (ACPI hot-plug): look this many times, this far apart. */
#define TSD_LIBXL_SETTLE_TRIES 10
#define TSD_LIBXL_SETTLE_MS 500

struct tsd_libxl_guest {
	struct tsd_libxl_guest *next;
	struct tsd_libxl *be;
	uint32_t domid;
	char id[16];
	bool up;                        /* announced through guest_up */
	bool seen;                      /* in the last libxl_list_domain */
	bool discovering;               /* a discovery op is in flight */
	unsigned not_ready;             /* discoveries that found it not ready */
	struct event *retry;            /* the next discovery of a not ready one */
	libxl_evgen_domain_death *death;
	bool unresponsive;              /* a call timed out; no answer since */
	bool probing;                   /* a probe op is in flight */
	char unresponsive_msg[200];
};

/* One asynchronous operation: retrieve config -> info pci -> result, or
 * pci_add -> info pci (until settled) -> result, or pci_remove -> result. */
struct tsd_libxl_op {
	struct tsd_op base;             /* first: kind (discovery is internal), callback, result */
	struct tsd_libxl *be;
	uint32_t domid;
	libxl_domain_config cfg;
	bool cfg_init;
	libxl_device_pci pci;
	bool pci_init;
	char *monitor_out;
	int tries;
	struct event *ev;               /* deferral and settle timer */
	void (*next_step)(struct tsd_libxl_op *op);
	libxl_asyncop_how how;          /* the same for every ao of the op: libxl_ao_abort finds it */
	bool ao_owed;                   /* an ao was started and its step has not run */
	bool ao_back;                   /* ... but libxl called back (the step is scheduled) */
	const char *ao_what;            /* which, for messages */
	bool probe;                     /* TSD_OP_INTERNAL: a probe of an unresponsive domain */
	char not_ready[200];            /* discovery: why the domain is not ready yet */
	int libxl_rc;
	struct tsd_guest guest;         /* discovery */
};


/* snprintf that may truncate on purpose (log lines, messages built from
 * other messages); through vsnprintf so -Wformat-truncation stays quiet
 * where cutting is the intent. */
static void fmt_cut(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fmt_cut(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- guests --------------------------------------------------------------- */

static struct tsd_libxl_guest *guest_find(struct tsd_libxl *be, uint32_t domid)
{
	for (struct tsd_libxl_guest *g = be->guests; g; g = g->next)
		if (g->domid == domid)
			return g;
	return NULL;
}

static void guest_forget(struct tsd_libxl *be, uint32_t domid, bool announce)
{
	for (struct tsd_libxl_guest **p = &be->guests; *p; p = &(*p)->next) {
		struct tsd_libxl_guest *g = *p;
		if (g->domid != domid)
			continue;
		*p = g->next;
		if (g->death)
			libxl_evdisable_domain_death(be->ctx, g->death);
		if (g->retry)
			event_free(g->retry);
		if (announce && g->up && be->base.host->guest_down)
			be->base.host->guest_down(be->base.host->ud, &be->base, g->id);
		free(g);
		return;
	}
}

static void event_occurs(void *user, libxl_event *ev)
{
	struct tsd_libxl *be = user;
	if (ev->type == LIBXL_EVENT_TYPE_DOMAIN_DEATH) {
		tsd_log(&be->base, LOG_INFO, "domain %" PRIu32 " died", ev->domid);
		guest_forget(be, ev->domid, true);
	} else if (ev->type == LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN) {
		/* A reboot keeps the domid; the death event follows a real
		 * shutdown.  Nothing to do yet. */
		tsd_log(&be->base, LOG_DEBUG, "domain %" PRIu32 " shut down (reason %d)", ev->domid,
		       (int)ev->u.domain_shutdown.shutdown_reason);
	}
	libxl_event_free(be->ctx, ev);
}

static void disaster(void *user, libxl_event_type type, const char *msg, int errnoval)
{
	struct tsd_libxl *be = user;
	/* Without this hook libxl would exit(-1) the whole daemon. */
	tsd_log(&be->base, LOG_CRIT, "libxl disaster (event type %d): %s%s%s; libxl guests are no "
	       "longer tracked reliably", (int)type, msg, errnoval ? ": " : "",
	       errnoval ? strerror(errnoval) : "");
}

/* ---- operations ------------------------------------------------------------ */

static void op_dispose(struct tsd_op *base)
{
	struct tsd_libxl_op *op = (struct tsd_libxl_op *)base;
	if (op->ev)
		event_free(op->ev);
	if (op->cfg_init)
		libxl_domain_config_dispose(&op->cfg);
	if (op->pci_init)
		libxl_device_pci_dispose(&op->pci);
	free(op->monitor_out);
}

static void op_free(struct tsd_libxl_op *op)
{
	tsd_op_free(&op->base);
}

static void op_step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libxl_op *op = arg;
	if (op->ao_owed) {
		/* the ao came back (ao_done scheduled this step) */
		op->ao_owed = false;
		op->ao_back = false;
		op->base.pending--;
	}
	if (op->base.finished) {
		/* the deadline passed meanwhile: nobody waits for this step */
		tsd_op_release(&op->base);
		return;
	}
	op->next_step(op);
}

/* Runs step after delay_ms on the loop: the only way results travel, so
 * no daemon callback runs inside a libxl call. */
static void op_then(struct tsd_libxl_op *op, void (*step)(struct tsd_libxl_op *), int delay_ms)
{
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	if (delay_ms)
		tsd_op_deadline(&op->base, 0);  /* our own wait; the next call re-arms it */
	op->next_step = step;
	if (!op->ev)
		op->ev = evtimer_new(op->be->base.host->base, op_step_cb, op);
	if (!op->ev || evtimer_add(op->ev, &tv) < 0) {
		/* Out of memory in libevent: nothing sane left to do. */
		tsd_log(&op->be->base, LOG_CRIT, "cannot schedule a libxl step");
	}
}

static void ao_done(libxl_ctx *ctx, int rc, void *for_callback);
static void op_timeout(struct tsd_op *base);

static struct tsd_libxl_op *op_new(struct tsd_libxl *be, enum tsd_op_kind kind, uint32_t domid)
{
	struct tsd_libxl_op *op = tsd_op_new(&be->base, sizeof(*op), kind, op_dispose, NULL);
	if (!op)
		return NULL;
	op->be = be;
	op->domid = domid;
	op->how = (libxl_asyncop_how){ .callback = ao_done, .u.for_callback = op };
	op->base.on_timeout = op_timeout;
	return op;
}

/* An ao was started (rc 0): the op waits for it, within ms. */
static int ao_started(struct tsd_libxl_op *op, int rc, const char *what, unsigned ms)
{
	if (rc == 0) {
		op->ao_owed = true;
		op->ao_what = what;
		op->base.pending++;
		tsd_op_deadline(&op->base, ms);
	}
	return rc;
}

/* A domain that does not answer: every op of it fails at once. */
static bool op_refuse_unresponsive(struct tsd_libxl_op *op, struct mmio_error *err)
{
	struct tsd_libxl_guest *g = guest_find(op->be, op->domid);
	if (!g || !g->unresponsive)
		return false;
	tsd_op_finish(&op->base, TSD_E_UNRESPONSIVE, "domain %" PRIu32 " is not answering: %s",
		      op->domid, g->unresponsive_msg);
	return true;
}

static void op_fail(struct tsd_libxl_op *op, int libxl_rc, const char *what)
{
	op->base.res.rc = tsd_libxl_rc(libxl_rc);
	snprintf(op->base.res.msg, sizeof(op->base.res.msg), "libxl: %s of domain %" PRIu32 " failed: %s (%d)",
		 what, op->domid, tsd_libxl_rc_name(libxl_rc), libxl_rc);
}

static void op_finish(struct tsd_libxl_op *op);
static void retry_cb(evutil_socket_t fd, short what, void *arg);

/* Every ao callback lands here: record rc, continue on the loop. */
static void ao_done(libxl_ctx *ctx, int rc, void *for_callback)
{
	struct tsd_libxl_op *op = for_callback;
	op->libxl_rc = rc;
	op->ao_back = true;
	op_then(op, op->next_step, 0);
}

static void probe_answered(struct tsd_libxl *be, uint32_t domid, bool answered);

/* The base's deadline passed with an ao still out: abort it (it comes
 * back later with ERROR_ABORTED, or done anyway) and report the domain. */
static void op_timeout(struct tsd_op *base)
{
	struct tsd_libxl_op *op = (struct tsd_libxl_op *)base;
	struct tsd_libxl *be = op->be;
	struct tsd_libxl_guest *g = guest_find(be, op->domid);

	if (op->ao_owed)
		libxl_ao_abort(be->ctx, &op->how);
	if (op->probe) {
		probe_answered(be, op->domid, false);
		return;
	}
	tsd_op_finish(base, TSD_E_UNRESPONSIVE, "domain %" PRIu32 ": %s did not finish within %u ms "
		      "(aborted); the domain is marked unresponsive until it answers again",
		      op->domid, op->ao_what ? op->ao_what : "libxl", base->deadline_ms);
	if (!g)
		return;
	if (!g->up) {
		/* discovery: forget it, the next rescan tries again */
		tsd_log(&be->base, LOG_NOTICE, "domain %" PRIu32 ": %s did not finish within %u ms; "
			"trying again at the next rescan", op->domid,
			op->ao_what ? op->ao_what : "libxl", base->deadline_ms);
		guest_forget(be, op->domid, false);
		return;
	}
	if (g->unresponsive)
		return;
	g->unresponsive = true;
	fmt_cut(g->unresponsive_msg, sizeof(g->unresponsive_msg), "%s did not finish within %u ms",
		op->ao_what ? op->ao_what : "libxl", base->deadline_ms);
	tsd_log(&be->base, LOG_WARNING, "domain %" PRIu32 ": %s; its calls fail at once until it "
		"answers again", op->domid, g->unresponsive_msg);
	tsd_guest_answering(&be->base, g->id, false, "%s", g->unresponsive_msg);
}

static int op_start_monitor(struct tsd_libxl_op *op, const char *cmd,
			    void (*then)(struct tsd_libxl_op *))
{
	free(op->monitor_out);
	op->monitor_out = NULL;
	op->next_step = then;
	return ao_started(op, libxl_qemu_monitor_command(op->be->ctx, op->domid, cmd,
							 &op->monitor_out, &op->how),
			  "the device model's monitor", op->be->base.host->call_timeout_ms);
}

/* info pci answered (refresh, discover): build the layout. */
static void step_layout(struct tsd_libxl_op *op)
{
	struct tsd_libxl_model_input in;
	struct tsd_live_bar *bars = NULL;
	size_t nbars = 0;
	struct mmio_error err;
	char note[256];

	if (op->libxl_rc) {
		op_fail(op, op->libxl_rc, "info pci");
		fmt_cut(op->not_ready, sizeof(op->not_ready), "its device model does not answer "
			"yet (info pci: %s)", tsd_libxl_rc_name(op->libxl_rc));
		op_finish(op);
		return;
	}
	if (tsd_libxl_model_input(&op->cfg, &in, &err) != MMIO_OK ||
	    tsd_libxl_parse_info_pci(op->monitor_out ? op->monitor_out : "", &bars, &nbars,
				     &err) != MMIO_OK ||
	    tsd_libxl_layout(&in, bars, nbars, &op->base.layout, note, sizeof(note), &err) != MMIO_OK) {
		op->base.res.rc = TSD_E_FAILED;
		fmt_cut(op->base.res.msg, sizeof(op->base.res.msg), "domain %" PRIu32 ": %s", op->domid, err.msg);
	} else {
		op->base.have_layout = true;
		if (!tsd_libxl_firmware_done(bars, nbars))
			snprintf(op->not_ready, sizeof(op->not_ready),
				 "hvmloader has not placed the BARs yet");
		else if (note[0])
			tsd_log(&op->be->base, LOG_NOTICE, "domain %" PRIu32 ": %s", op->domid, note);
	}
	free(bars);
	op_finish(op);
}

/* The configuration arrived: decide attachability, then ask QEMU. */
static void step_config(struct tsd_libxl_op *op)
{
	if (op->libxl_rc) {
		op_fail(op, op->libxl_rc, "retrieving the configuration");
		fmt_cut(op->not_ready, sizeof(op->not_ready), "no libxl configuration (yet?): %s",
			tsd_libxl_rc_name(op->libxl_rc));
		op_finish(op);
		return;
	}
	snprintf(op->guest.id, sizeof(op->guest.id), "%" PRIu32, op->domid);
	if (op->cfg.c_info.name)
		snprintf(op->guest.name, sizeof(op->guest.name), "%s", op->cfg.c_info.name);
	snprintf(op->guest.uuid, sizeof(op->guest.uuid), LIBXL_UUID_FMT,
		 LIBXL_UUID_BYTES(op->cfg.c_info.uuid));
	op->guest.can_attach = tsd_libxl_attachable(&op->cfg, op->guest.why_not,
						    sizeof(op->guest.why_not));
	tsd_libxl_passthrough(&op->cfg, op->guest.why_no_host, sizeof(op->guest.why_no_host));
	if (!op->guest.can_attach) {
		/* PV and PVH guests are listed, with the reason; no layout. */
		op_finish(op);
		return;
	}
	int rc = op_start_monitor(op, "info pci", step_layout);
	if (rc) {
		op->libxl_rc = rc;
		op_then(op, step_layout, 0);
	}
}

static int op_start_config(struct tsd_libxl_op *op)
{
	libxl_domain_config_init(&op->cfg);
	op->cfg_init = true;
	op->next_step = step_config;
	return ao_started(op, libxl_retrieve_domain_configuration(op->be->ctx, op->domid, &op->cfg,
								  &op->how),
			  "libxl_retrieve_domain_configuration", op->be->base.host->call_timeout_ms);
}

/* After pci_add: look at the new device's BARs until the guest placed them
 * or we stop waiting. */
static void step_settle(struct tsd_libxl_op *op);

static void step_settled(struct tsd_libxl_op *op)
{
	struct tsd_live_bar *bars = NULL;
	size_t nbars = 0;
	struct mmio_error err;
	char which[256], qdev[16];

	if (op->libxl_rc) {
		/* Attached, but we cannot see it: say so, keep it attached. */
		op->base.res.rc = TSD_OK;
		snprintf(op->base.res.msg, sizeof(op->base.res.msg), "attached; info pci failed afterwards (%s): "
			 "BAR placement not verified", tsd_libxl_rc_name(op->libxl_rc));
		op_finish(op);
		return;
	}
	tsd_libxl_pt_id(&(struct mmio_bdf){ (uint16_t)op->pci.domain, op->pci.bus, op->pci.dev,
					    op->pci.func }, qdev, sizeof(qdev));
	if (tsd_libxl_parse_info_pci(op->monitor_out ? op->monitor_out : "", &bars, &nbars,
				     &err) != MMIO_OK) {
		op->base.res.rc = TSD_OK;
		fmt_cut(op->base.res.msg, sizeof(op->base.res.msg), "attached; info pci unreadable (%s): BAR "
			 "placement not verified", err.msg);
		op_finish(op);
		return;
	}
	size_t n = tsd_libxl_unassigned(bars, nbars, qdev, which, sizeof(which));
	size_t total = tsd_libxl_bar_count(bars, nbars, qdev);
	free(bars);
	if (n && ++op->tries < TSD_LIBXL_SETTLE_TRIES) {
		op_then(op, step_settle, TSD_LIBXL_SETTLE_MS);
		return;
	}
	if (n && n == total) {
		/* Every BAR unassigned: the guest has not enabled the device yet
		 * (no driver, or a slow guest), which hides where it put them. */
		op->base.res.rc = TSD_OK;
		snprintf(op->base.res.msg, sizeof(op->base.res.msg), "%s attached to domain %" PRIu32
			 "; the guest has not enabled it within %d s (qemu-xen shows its BARs only "
			 "then): placement not verified", qdev, op->domid,
			 TSD_LIBXL_SETTLE_TRIES * TSD_LIBXL_SETTLE_MS / 1000);
	} else if (n) {
		op->base.res.rc = TSD_E_UNASSIGNED;
		snprintf(op->base.res.msg, sizeof(op->base.res.msg), "%s attached to domain %" PRIu32 ", but the "
			 "guest left %zu BAR%s unassigned after %d s: %s", qdev, op->domid, n,
			 n == 1 ? "" : "s", TSD_LIBXL_SETTLE_TRIES * TSD_LIBXL_SETTLE_MS / 1000,
			 which);
	} else {
		op->base.res.rc = TSD_OK;
	}
	op_finish(op);
}

static void step_settle(struct tsd_libxl_op *op)
{
	int rc = op_start_monitor(op, "info pci", step_settled);
	if (rc) {
		op->libxl_rc = rc;
		op_then(op, step_settled, 0);
	}
}

static void step_added(struct tsd_libxl_op *op)
{
	if (op->libxl_rc) {
		op_fail(op, op->libxl_rc, "libxl_device_pci_add");
		op_finish(op);
		return;
	}
	op_then(op, step_settle, 0);
}

/* A slot: info pci answered; plug at the lowest free guest slot. */
static void step_slot_chosen(struct tsd_libxl_op *op)
{
	int slot;

	if (op->libxl_rc) {
		op_fail(op, op->libxl_rc, "info pci");
		op_finish(op);
		return;
	}
	slot = tsd_libxl_free_slot(op->monitor_out ? op->monitor_out : "");
	if (slot < 0) {
		op->base.res.rc = TSD_E_FAILED;
		snprintf(op->base.res.msg, sizeof(op->base.res.msg),
			 "domain %" PRIu32 ": no free slot on the guest's bus 0 for a multi-function device",
			 op->domid);
		op_finish(op);
		return;
	}
	op->pci.vdevfn = (uint32_t)slot << 3;
	op->next_step = step_added;
	int rc = ao_started(op, libxl_device_pci_add(op->be->ctx, op->domid, &op->pci, &op->how),
			    "libxl_device_pci_add", op->be->base.host->attach_timeout_ms);
	if (rc) {
		op->libxl_rc = rc;
		op_then(op, step_added, 0);
	}
}

static void step_removed(struct tsd_libxl_op *op)
{
	if (op->libxl_rc)
		op_fail(op, op->libxl_rc, "libxl_device_pci_remove");
	op_finish(op);
}

static void op_finish(struct tsd_libxl_op *op)
{
	struct tsd_libxl *be = op->be;
	const struct tsd_host *h = be->base.host;

	if (op->base.kind == TSD_OP_INTERNAL && !op->probe) {
		/* discovery: announce the guest, or read it again later */
		struct tsd_libxl_guest *g = guest_find(be, op->domid);
		if (g)
			g->discovering = false;
		if (!g) {
			/* died meanwhile */
		} else if (op->base.res.rc == TSD_E_NOGUEST) {
			guest_forget(be, op->domid, false);
		} else if (op->not_ready[0] && ++g->not_ready < TSD_LIBXL_NOT_READY_TRIES) {
			unsigned ms = TSD_LIBXL_NOT_READY_MAX_MS;
			if (g->not_ready < 8 && TSD_LIBXL_NOT_READY_FIRST_MS << (g->not_ready - 1) < ms)
				ms = TSD_LIBXL_NOT_READY_FIRST_MS << (g->not_ready - 1);
			struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
			if (!g->retry)
				g->retry = evtimer_new(h->base, retry_cb, g);
			if (!g->retry || evtimer_add(g->retry, &tv) < 0)
				tsd_log(&be->base, LOG_ERR, "domain %" PRIu32 ": cannot schedule its "
					"next reading", op->domid);
			tsd_log(&be->base, LOG_DEBUG, "domain %" PRIu32 " not ready: %s; read again "
				"in %u ms", op->domid, op->not_ready, ms);
		} else if (op->base.res.rc != TSD_OK && !op->guest.id[0]) {
			/* No configuration after all the tries (not created by
			 * libxl, e.g. a stubdomain): not a guest mmiod can serve. */
			tsd_log(&be->base, LOG_DEBUG, "%s", op->base.res.msg);
		} else {
			if (op->base.res.rc != TSD_OK)
				tsd_log(&be->base, LOG_WARNING, "%s", op->base.res.msg);
			else if (op->not_ready[0])
				tsd_log(&be->base, LOG_WARNING, "domain %" PRIu32 ": still not ready "
					"after %u reads (%s); announced as it is", op->domid,
					g->not_ready, op->not_ready);
			g->up = true;
			if (h->guest_up)
				h->guest_up(h->ud, &be->base, &op->guest,
					    op->base.have_layout ? &op->base.layout : NULL);
		}
	}
	/* the caller's callback runs from the loop (toolstack.c) */
	tsd_op_finish(&op->base, op->base.res.rc, NULL);
}

/* ---- probing domains that do not answer -------------------------------------- */

static void probe_answered(struct tsd_libxl *be, uint32_t domid, bool answered)
{
	struct tsd_libxl_guest *g = guest_find(be, domid);
	if (!g)
		return;
	g->probing = false;
	if (!answered || !g->unresponsive)
		return;
	g->unresponsive = false;
	tsd_log(&be->base, LOG_NOTICE, "domain %" PRIu32 " answers again", domid);
	tsd_guest_answering(&be->base, g->id, true, NULL);
}

static void step_probed(struct tsd_libxl_op *op)
{
	/* Any answer of the device model will do; an abort is none. */
	probe_answered(op->be, op->domid, op->libxl_rc == 0);
	tsd_op_finish(&op->base, TSD_OK, NULL);
}

static void prober_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libxl *be = arg;
	for (struct tsd_libxl_guest *g = be->guests; g; g = g->next) {
		if (!g->unresponsive || g->probing)
			continue;
		struct tsd_libxl_op *op = op_new(be, TSD_OP_INTERNAL, g->domid);
		if (!op)
			return;
		op->probe = true;
		g->probing = true;
		if (op_start_monitor(op, "info version", step_probed)) {
			g->probing = false;
			tsd_op_finish(&op->base, TSD_E_FAILED, NULL);
		}
	}
}

/* ---- discovery --------------------------------------------------------------- */

/* Reads a known, not yet announced domain (again). */
static void discover_start(struct tsd_libxl *be, struct tsd_libxl_guest *g)
{
	struct tsd_libxl_op *op = op_new(be, TSD_OP_INTERNAL, g->domid);
	if (!op) {
		tsd_log(&be->base, LOG_ERR, "out of memory discovering domain %" PRIu32, g->domid);
		return;
	}
	g->discovering = true;
	int rc = op_start_config(op);
	if (rc) {
		op->libxl_rc = rc;
		op_then(op, step_config, 0);
	}
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libxl_guest *g = arg;
	if (!g->up && !g->discovering)
		discover_start(g->be, g);
}

static void discover(struct tsd_libxl *be, uint32_t domid)
{
	struct tsd_libxl_guest *g = calloc(1, sizeof(*g));
	if (!g) {
		tsd_log(&be->base, LOG_ERR, "out of memory discovering domain %" PRIu32, domid);
		return;
	}
	g->be = be;
	g->domid = domid;
	g->seen = true;
	snprintf(g->id, sizeof(g->id), "%" PRIu32, domid);
	g->next = be->guests;
	be->guests = g;
	int rc = libxl_evenable_domain_death(be->ctx, domid, domid, &g->death);
	if (rc) {
		g->death = NULL;
		tsd_log(&be->base, LOG_WARNING, "domain %" PRIu32 ": no death events (%s); the rescan "
		       "will notice it going", domid, tsd_libxl_rc_name(rc));
	}
	discover_start(be, g);
}

static void rescan(struct tsd_libxl *be)
{
	int n = 0;
	libxl_dominfo *info = libxl_list_domain(be->ctx, &n);
	if (!info) {
		tsd_log(&be->base, LOG_WARNING, "libxl_list_domain failed");
		return;
	}
	for (struct tsd_libxl_guest *g = be->guests; g; g = g->next)
		g->seen = false;
	for (int i = 0; i < n; i++) {
		if (info[i].domid == 0 || info[i].dying)
			continue; /* dom0 is not a guest; dying ones are leaving */
		struct tsd_libxl_guest *g = guest_find(be, info[i].domid);
		if (g)
			g->seen = true;
		else
			discover(be, info[i].domid);
	}
	libxl_dominfo_list_free(info, n);
	/* A domain gone without a death event (events not enabled). */
	for (struct tsd_libxl_guest *g = be->guests, *next; g; g = next) {
		next = g->next;
		if (!g->seen)
			guest_forget(be, g->domid, true);
	}
}

static void rescan_cb(evutil_socket_t fd, short what, void *arg)
{
	rescan(arg);
}

/* ---- the driver ---------------------------------------------------------------- */

static unsigned aos_out(struct tsd_libxl *be)
{
	unsigned n = 0;
	for (struct tsd_op *o = be->base.ops; o; o = o->next) {
		struct tsd_libxl_op *op = (struct tsd_libxl_op *)o;
		n += op->ao_owed && !op->ao_back;
	}
	return n;
}

/* libxl_ctx_free must not run while an ao is in flight: libxl asserts
 * then that none of its fds and timeouts is registered, and the daemon
 * would abort on its way out.  Every ao still out is aborted and libxl
 * turned by hand until they have come back or ms passed. */
static bool drain_aos(struct tsd_libxl *be, unsigned ms)
{
	struct timeval now, deadline, d = { ms / 1000, (ms % 1000) * 1000 };

	for (struct tsd_op *o = be->base.ops; o; o = o->next) {
		struct tsd_libxl_op *op = (struct tsd_libxl_op *)o;
		if (op->ao_owed && !op->ao_back)
			libxl_ao_abort(be->ctx, &op->how);
	}
	gettimeofday(&now, NULL);
	timeradd(&now, &d, &deadline);
	while (aos_out(be))
		if (!tsd_libxl_turn(be, &deadline))
			return false;
	return true;
}

static void tsd_libxl_close(struct tsd_backend *tbe)
{
	struct tsd_libxl *be = (struct tsd_libxl *)tbe;
	if (!be)
		return;
	if (be->rescan)
		event_free(be->rescan);
	if (be->prober)
		event_free(be->prober);
	bool drained = !aos_out(be) || drain_aos(be, TSD_LIBXL_CLOSE_DRAIN_MS);
	if (!drained)
		tsd_log(&be->base, LOG_ERR, "%u libxl call(s) still out %d ms after libxl_ao_abort; "
			"the libxl context is left allocated", aos_out(be), TSD_LIBXL_CLOSE_DRAIN_MS);
	/* Outstanding operations: their callers get nothing more; the
	 * daemon closes back ends only when it is going away. */
	tsd_ops_free(&be->base);
	while (be->guests)
		guest_forget(be, be->guests->domid, false);
	if (drained)
		libxl_ctx_free(be->ctx);
	/* libxl never deregisters timeouts (libxl_event.h): free what is
	 * left; after a failed drain its fds too (nothing enters libxl
	 * again). */
	tsd_libxl_timeouts_free(be);
	tsd_libxl_fds_free(be);
	free(be);
}

static int tsd_libxl_open(const struct tsd_host *host, const char *arg, unsigned flags,
			  struct tsd_backend **out, struct mmio_error *err)
{
	tsd_check_flags("libxl", "open", flags, 0, err);
	if (arg && arg[0]) {
		mmio_error_set(err, MMIO_E_INVALID, "libxl: takes no argument (got \"%s\")", arg);
		return -1;
	}
	struct tsd_libxl *be = calloc(1, sizeof(*be));
	if (!be) {
		mmio_error_set(err, MMIO_E_NOMEM, "libxl: out of memory");
		return -1;
	}
	be->base.drv = &tsd_libxl_driver;
	be->base.host = host;
	snprintf(be->base.spec, sizeof(be->base.spec), "libxl%s%s", arg && arg[0] ? ":" : "",
		 arg ? arg : "");
	tsd_libxl_logger_init(be);
	be->opening = true;
	int rc = libxl_ctx_alloc(&be->ctx, LIBXL_VERSION, 0, &be->logger.vtable);
	be->opening = false;
	if (rc) {
		/* No /dev/xen/privcmd or no xenstored: not a Xen dom0. */
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "libxl: not a Xen dom0 (libxl_ctx_alloc: "
			       "%s%s%s)", tsd_libxl_rc_name(rc), be->first_error[0] ? "; " : "",
			       be->first_error);
		free(be);
		return TSD_DECLINED;
	}
	/* The hooks first: libxl_childproc_setmode below registers the fd of
	 * libxl's SIGCHLD self-pipe at once ("always" modes), and an fd
	 * registered before the hooks stays with libxl's internal poller,
	 * which nothing runs here.  Then no child of libxl is ever seen to
	 * exit: libxl 4.17 takes a domain's QMP lock in a forked child, so
	 * every call through QMP waited for it until its deadline. */
	tsd_libxl_osevent_register(be);
	/* libxl forks helpers; reap only those, so the daemon can keep
	 * children (and libevent's SIGCHLD handling) of its own.  Must come
	 * before libxl has any child. */
	be->child_hooks = (libxl_childproc_hooks){
		.chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
	};
	libxl_childproc_setmode(be->ctx, &be->child_hooks, be);
	be->ev_hooks = (libxl_event_hooks){
		.event_occurs_mask = LIBXL_EVENTMASK_ALL, .event_occurs = event_occurs,
		.disaster = disaster,
	};
	libxl_event_register_callbacks(be->ctx, &be->ev_hooks, be);

	be->rescan = event_new(host->base, -1, EV_PERSIST, rescan_cb, be);
	be->prober = event_new(host->base, -1, EV_PERSIST, prober_cb, be);
	/* probes: every twice the call timeout, at least every second */
	unsigned probe_ms = host->call_timeout_ms ? 2 * host->call_timeout_ms : TSD_LIBXL_PROBE_SEC * 1000;
	if (probe_ms < 1000)
		probe_ms = 1000;
	struct timeval tv = { TSD_LIBXL_RESCAN_SEC, 0 },
		       ptv = { probe_ms / 1000, (probe_ms % 1000) * 1000 };
	if (!be->rescan || event_add(be->rescan, &tv) < 0 || !be->prober ||
	    event_add(be->prober, &ptv) < 0) {
		mmio_error_set(err, MMIO_E_NOMEM, "libxl: cannot arm the rescan timer");
		tsd_libxl_close(&be->base);
		return -1;
	}
	rescan(be);
	*out = &be->base;
	return 0;
}

static int parse_domid(const char *id, uint32_t *domid, struct mmio_error *err)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(id, &end, 10);
	if (errno || end == id || *end || v == 0 || v >= 0x7FF0) {
		mmio_error_set(err, MMIO_E_INVALID, "libxl: \"%s\" is not a domid", id);
		return -1;
	}
	*domid = (uint32_t)v;
	return 0;
}

static int tsd_libxl_refresh(struct tsd_backend *tbe, const char *guest_id, unsigned flags,
			     tsd_layout_fn cb, void *ud, struct mmio_error *err)
{
	struct tsd_libxl *be = (struct tsd_libxl *)tbe;
	uint32_t domid;
	tsd_check_flags("libxl", "refresh", flags, 0, err);
	if (parse_domid(guest_id, &domid, err) < 0)
		return -1;
	struct tsd_libxl_op *op = op_new(be, TSD_OP_REFRESH, domid);
	if (!op) {
		mmio_error_set(err, MMIO_E_NOMEM, "libxl: out of memory");
		return -1;
	}
	op->base.layout_cb = cb;
	op->base.ud = ud;
	if (op_refuse_unresponsive(op, err))
		return 0;
	int rc = op_start_config(op);
	if (rc) {
		op->libxl_rc = rc;
		op_then(op, step_config, 0);
	}
	return 0;
}

/* An attach or detach op for one host PCI function; attached_id is its
 * canonical BDF, which is what the next `info pci` reading reports. */
static struct tsd_libxl_op *op_new_pci(struct tsd_libxl *be, enum tsd_op_kind kind, uint32_t domid,
				       const struct mmio_bdf *bdf, tsd_done_fn cb, void *ud,
				       struct mmio_error *err)
{
	struct tsd_libxl_op *op = op_new(be, kind, domid);

	if (!op) {
		mmio_error_set(err, MMIO_E_NOMEM, "libxl: out of memory");
		return NULL;
	}
	op->base.done_cb = cb;
	op->base.ud = ud;
	libxl_device_pci_init(&op->pci);
	op->pci_init = true;
	op->pci.domain = bdf->domain;
	op->pci.bus = bdf->bus;
	op->pci.dev = bdf->dev;
	op->pci.func = bdf->fn;
	mmio_bdf_format(bdf, op->base.res.attached_id, sizeof(op->base.res.attached_id));
	return op;
}

static int tsd_libxl_attach(struct tsd_backend *tbe, const char *guest_id,
			    const struct tsd_attach_req *req, unsigned flags, tsd_done_fn cb,
			    void *ud, struct mmio_error *err)
{
	struct tsd_libxl *be = (struct tsd_libxl *)tbe;
	struct mmio_bdf bdf;
	uint32_t domid;

	tsd_check_flags("libxl", "attach", flags, TSD_ATTACH_KNOWN_FLAGS, err);
	if (parse_domid(guest_id, &domid, err) < 0)
		return -1;
	bool slot = req->device && mmio_device_is_slot(req->device);
	char why[300];

	if (slot && !tsd_libxl_whole_slot(req->device, &bdf, why, sizeof(why))) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "%s", why);
		return -1;
	}
	if (!slot && !req->host_bdf) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "libxl attaches host PCI devices only; "
			       "\"%s\" is not one", req->device ? req->device->name : "?");
		return -1;
	}
	if (!slot && mmio_bdf_parse(req->host_bdf, &bdf, err) != MMIO_OK)
		return -1;
	struct tsd_libxl_op *op = op_new_pci(be, TSD_OP_ATTACH, domid, &bdf, cb, ud, err);
	if (!op)
		return -1;
	if (op_refuse_unresponsive(op, err))
		return 0;
	if (slot) {
		/* as xl pci-attach BDF.*: every function of the host slot, each
		 * at its own function number of one guest slot, function 0 last */
		op->pci.vfunc_mask = LIBXL_PCI_FUNC_ALL;
		snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%04x:%02x:%02x.*",
			 bdf.domain, bdf.bus, bdf.dev);
	}
	if (flags & TSD_ATTACH_ASSIGNABLE) {
		/* Synchronous and quick (sysfs writes); idempotent. */
		int rc = 0;
		for (unsigned i = 0; rc == 0 && i < (slot ? req->device->nfn : 1); i++) {
			libxl_device_pci one = op->pci;
			if (slot)
				one.func = req->device->fns[i].bdf.fn;
			one.vfunc_mask = 0;
			rc = libxl_device_pci_assignable_add(be->ctx, &one, 1);
		}
		if (rc) {
			mmio_error_set(err, MMIO_E_IO, "libxl: making %s assignable failed: %s",
				       op->base.res.attached_id, tsd_libxl_rc_name(rc));
			op_free(op);
			return -1;
		}
	}
	if (slot) {
		/* libxl places a multi-function device only at a slot it is given */
		int rc = op_start_monitor(op, "info pci", step_slot_chosen);
		if (rc) {
			mmio_error_set(err, MMIO_E_IO, "libxl: info pci of domain %" PRIu32 " failed to start: %s",
				       domid, tsd_libxl_rc_name(rc));
			op_free(op);
			return -1;
		}
		return 0;
	}
	op->next_step = step_added;
	int rc = ao_started(op, libxl_device_pci_add(be->ctx, domid, &op->pci, &op->how),
			    "libxl_device_pci_add", be->base.host->attach_timeout_ms);
	if (rc) {
		mmio_error_set(err, MMIO_E_IO, "libxl: libxl_device_pci_add of %s to domain %"
			       PRIu32 " failed to start: %s", op->base.res.attached_id, domid,
			       tsd_libxl_rc_name(rc));
		op_free(op);
		return -1;
	}
	return 0;
}

static int tsd_libxl_detach(struct tsd_backend *tbe, const char *guest_id,
			    const char *attached_id, unsigned flags, tsd_done_fn cb, void *ud,
			    struct mmio_error *err)
{
	struct tsd_libxl *be = (struct tsd_libxl *)tbe;
	struct mmio_bdf bdf;
	uint32_t domid;

	tsd_check_flags("libxl", "detach", flags, 0, err);
	/* "0000:03:00.*": a slot attached as xl pci-attach BDF.* does */
	char one[16];
	size_t n = strlen(attached_id);
	bool slot = n >= 2 && n < sizeof(one) && strcmp(attached_id + n - 2, ".*") == 0;
	if (slot) {
		snprintf(one, sizeof(one), "%.*s.0", (int)(n - 2), attached_id);
		attached_id = one;
	}
	if (parse_domid(guest_id, &domid, err) < 0 ||
	    mmio_bdf_parse(attached_id, &bdf, err) != MMIO_OK)
		return -1;
	struct tsd_libxl_op *op = op_new_pci(be, TSD_OP_DETACH, domid, &bdf, cb, ud, err);
	if (!op)
		return -1;
	if (slot)
		op->pci.vfunc_mask = LIBXL_PCI_FUNC_ALL;
	if (op_refuse_unresponsive(op, err))
		return 0;
	op->next_step = step_removed;
	int rc = ao_started(op, libxl_device_pci_remove(be->ctx, domid, &op->pci, &op->how),
			    "libxl_device_pci_remove", be->base.host->attach_timeout_ms);
	if (rc) {
		mmio_error_set(err, MMIO_E_IO, "libxl: libxl_device_pci_remove of %s failed to "
			       "start: %s", attached_id, tsd_libxl_rc_name(rc));
		op_free(op);
		return -1;
	}
	return 0;
}

const struct tsd_driver tsd_libxl_driver = {
	.name = "libxl",
	.platform = TSD_PLATFORM_XEN_HVM,
	.open = tsd_libxl_open,
	.close = tsd_libxl_close,
	.refresh = tsd_libxl_refresh,
	.attach = tsd_libxl_attach,
	.detach = tsd_libxl_detach,
};
