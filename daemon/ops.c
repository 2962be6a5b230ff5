/* SPDX-License-Identifier: MIT */
/*
 * ops.c — Check, Attach, Detach, Reserve, Release (see ops.h).  Plan is
 * ops-plan.c.
 *
 * One Attach: the guest is re-read (daemon_refresh); a consumed
 * reservation is released; books_admit does admission and the hold in
 * one step (no await between, so two racing attaches never both get the
 * last block); the state file is written; the caller hears "admitted";
 * the back end attaches behind the held port if any; on failure the hold
 * is released and saved; on success the record becomes "attached" with
 * the back end's id, the guest is re-read, the state saved, the observer
 * told, the caller answered, and the observer hears attach_end.
 */
#include "config.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mmiod-names.h"
#include "ops.h"

/* ---- helpers ----------------------------------------------------------------- */
/* Caller-given strings are echoed in errors at most 200 bytes long ("%.200s"):
 * a 1 MiB guest name must not come back as a 1 MiB error. */

static bool empty(const char *s)
{
	return !s || !s[0];
}

int ops_resolve_devices(struct daemon *d, char *const *devices, struct mmio_device *devs, size_t *n,
			struct ops_error *err)
{
	struct mmio_error e = { 0 };
	size_t k = 0;

	for (; devices && devices[k]; k++) {
		if (k >= OPS_MAX_DEVICES)
			return ops_fail(err, OPS_E_INVALID_ARGS, "at most %d devices at once",
					OPS_MAX_DEVICES);
		if (daemon_resolve(d, devices[k], &devs[k], &e) != MMIO_OK)
			return ops_fail(err, OPS_E_INVALID_DEVICE, "%.200s: %s", devices[k], e.msg);
	}
	if (k == 0)
		return ops_fail(err, OPS_E_INVALID_ARGS, "no devices given");
	*n = k;
	return 0;
}

/* The state file, then the observer: what every mutation ends with.
 * -1 when the state file could not be written (the observer hears nothing). */
static int save_and_tell(struct guest *g, unsigned what)
{
	if (daemon_save(g->d) < 0)
		return -1;
	daemon_guest_changed(g, what);
	return 0;
}

/* A re-read that failed, or a guest that went away meanwhile. */
static void fail_refresh(struct ops_error *e, const struct guest *g, enum tsd_rc rc, const char *msg)
{
	if (g->gone)
		ops_fail(e, OPS_E_NO_SUCH_GUEST, "the guest went away");
	else
		ops_fail_toolstack(e, rc, msg);
}

/* Whether a device is (or has a function that is) a host device, which
 * needs passthrough; bars: and profile: devices are declarations. */
static bool device_is_host(const struct mmio_device *dev)
{
	if (dev->has_bdf)
		return true;
	for (unsigned i = 0; i < dev->nfn && i < MMIO_MAX_FUNCTIONS; i++)
		if (dev->fns[i].has_bdf)
			return true;
	return false;
}

static const char *guest_name(const struct guest *g)
{
	return g->info.name[0] ? g->info.name : g->id;
}

/* A call's devices, resolved. */
struct dev_set {
	char *const *specs;
	size_t n;
	struct mmio_device devs[OPS_MAX_DEVICES];
};

/* The guest, and the call's devices resolved into ds; NULL with err. */
static struct guest *guest_devices(struct daemon *d, const char *guest, char *const *devices,
				   struct dev_set *ds, struct ops_error *err)
{
	struct guest *g = daemon_guest_lookup(d, guest, err);

	if (!g || daemon_guest_answering(g, err) < 0)
		return NULL;
	ds->specs = devices;
	return ops_resolve_devices(d, devices, ds->devs, &ds->n, err) < 0 ? NULL : g;
}

/* What Check and Reserve hold while they run: first in their contexts. */
struct devices_call {
	struct daemon *d;
	struct guest *g;
	void *ud;
	struct dev_set ds;
};

/* A context of `size` bytes starting with a devices_call for the guest and
 * devices; NULL with err.  Not calloc: devs[] is large and resolving fills
 * what is used; zeroing it was the largest cost of a Check. */
static void *devices_call_new(size_t size, struct daemon *d, const char *guest, char *const *devices,
			      void *ud, struct ops_error *err)
{
	struct devices_call *c = malloc(size);

	if (!c) {
		ops_fail_nomem(err);
		return NULL;
	}
	c->g = guest_devices(d, guest, devices, &c->ds, err);
	if (!c->g) {
		free(c);
		return NULL;
	}
	c->d = d;
	c->ud = ud;
	return c;
}

/* ---- Check ------------------------------------------------------------------- */

struct check_ctx {
	struct devices_call call;       /* first */
	ops_check_fn cb;
	char port[64];
};

static void check_now(struct check_ctx *c)
{
	struct books_entry *ents = calloc(c->call.ds.n, sizeof(*ents));
	struct mmio_error err = { 0 };
	struct ops_error oe = { 0 };
	enum mmio_status st;

	if (!ents) {
		ops_fail_nomem(&oe);
		c->cb(c->call.ud, &oe, false, NULL, NULL, 0);
		return;
	}
	st = books_check_port(&c->call.g->books, c->call.ds.devs, (const char *const *)c->call.ds.specs, c->call.ds.n,
			      empty(c->port) ? NULL : c->port, ents, &err);
	if (st != MMIO_OK && st != MMIO_E_NOSPACE) {
		ops_fail_model(&oe, &err);
		c->cb(c->call.ud, &oe, false, NULL, NULL, 0);
	} else {
		/* An answer that rests on a guessed history says so (books-past.c). */
		char note[1024], reason[sizeof(err.msg) + sizeof(note) + 4];
		books_history_note(&c->call.g->books, note, sizeof(note));
		/* ... and one that rests on an assumed window too (qmp-map-windows.c) */
		const char *wn = c->call.g->books.layout.window_note;
		if (wn[0] && strlen(note) + strlen(wn) + 3 < sizeof(note))
			snprintf(note + strlen(note), sizeof(note) - strlen(note), "%s%s",
				 note[0] ? "; " : "", wn);
		/* A guest that takes no host device (Xen, passthrough disabled):
		 * a host device does not fit whatever the space; declared BARs
		 * are answered for space, with the warning. */
		const char *no_host = c->call.g->info.why_no_host;
		size_t host = c->call.ds.n;
		for (size_t i = 0; no_host[0] && i < c->call.ds.n; i++)
			if (device_is_host(&c->call.ds.devs[i])) {
				host = i;
				break;
			}
		if (host < c->call.ds.n) {
			snprintf(reason, sizeof(reason), "%.200s cannot be attached to guest %.128s: %s",
				 c->call.ds.specs[host], guest_name(c->call.g), no_host);
			c->cb(c->call.ud, NULL, false, reason, ents, c->call.ds.n);
			free(ents);
			return;
		}
		if (no_host[0])
			snprintf(note + strlen(note), sizeof(note) - strlen(note),
				 "%sno host device could be attached to this guest: %s",
				 note[0] ? "; " : "", no_host);
		snprintf(reason, sizeof(reason), "%s%s%s%s", st == MMIO_OK ? "" : err.msg,
			 st != MMIO_OK && note[0] ? " (" : "", note,
			 st != MMIO_OK && note[0] ? ")" : "");
		c->cb(c->call.ud, NULL, st == MMIO_OK, reason, ents, c->call.ds.n);
	}
	free(ents);
}

static void check_after_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct check_ctx *c = ud;
	struct ops_error oe = { 0 };

	if (g->gone || rc != TSD_OK) {
		fail_refresh(&oe, g, rc, msg);
		c->cb(c->call.ud, &oe, false, NULL, NULL, 0);
	} else {
		check_now(c);
	}
	free(c);
}

int ops_check(struct daemon *d, const struct ops_check_req *req, ops_check_fn cb, void *ud,
	      struct ops_error *err)
{
	struct check_ctx *c;
	struct guest *g;

	assert(d && req && cb);
	c = devices_call_new(sizeof(*c), d, req->guest, req->devices, ud, err);
	if (!c)
		return -1;
	g = c->call.g;
	c->cb = cb;
	snprintf(c->port, sizeof(c->port), "%s", req->port ? req->port : "");
	if (req->refresh || !g->books.have_layout) {
		struct mmio_error e = { 0 };
		if (daemon_refresh(g, check_after_refresh, c, &e) < 0) {
			free(c);
			return ops_fail(err, OPS_E_TOOLSTACK_FAILED, "%s", e.msg);
		}
		return 0;
	}
	check_now(c);
	free(c);
	return 0;
}

/* ---- Attach ------------------------------------------------------------------ */

struct attach_ctx {
	struct daemon *d;
	struct guest *g;
	struct ops_attach_cbs cbs;
	void *ud;
	char spec[BOOKS_SPEC_MAX];
	char qemu_device[BOOKS_SPEC_MAX];
	char reservation[BOOKS_ID_MAX];
	char port[64];
	bool persistent, assignable;
	char host_bdf[16];
	char id[BOOKS_ID_MAX];
	bool unsettled;                 /* ended unanswered: settled later (daemon.c) */
	struct mmio_device dev;
};

static const struct books_entry *attach_entry(const struct attach_ctx *c)
{
	ssize_t i = books_find_attach(&c->g->books, c->id);
	return i >= 0 ? &c->g->books.attaches[i].e : NULL;
}

/* The end of an attach: logged, the caller answered, the observer told. */
static void attach_end(struct attach_ctx *c, const struct ops_error *e)
{
	struct daemon *d = c->d;
	struct log_fields lf = { .guest = c->g->id, .device = c->spec,
				 .message_id = e ? MMIOD_MESSAGE_ATTACH_FAILED : MMIOD_MESSAGE_ATTACH_DONE };

	log_full(e ? LOG_WARNING : LOG_INFO, &lf, "attach %s of %s %s%s", c->id, c->spec,
		 e ? "failed: " : "done", e ? e->msg : "");
	c->cbs.finished(c->ud, e, c->id, e ? NULL : attach_entry(c));
	/* an unsettled attach ends for the observer when it is settled */
	if (!c->unsettled && d->obs && d->obs->attach_finished)
		d->obs->attach_finished(d->obs_ud, c->g, c->id, c->spec, e);
	daemon_guest_unref_op(c->g);
	free(c);
}

__attribute__((format(printf, 3, 4)))
static void attach_fail(struct attach_ctx *c, enum ops_errc code, const char *fmt, ...)
{
	struct ops_error e = { .code = code };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	attach_end(c, &e);
}

static void attach_release_hold(struct attach_ctx *c)
{
	ssize_t i = books_find_attach(&c->g->books, c->id);

	if (i >= 0)
		books_remove_attach(&c->g->books, (size_t)i);
	daemon_save(c->d);
	daemon_guest_changed(c->g, GUEST_CHANGED_ATTACHES | GUEST_CHANGED_WINDOWS);
}

static void attach_after_final_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct attach_ctx *c = ud;

	if (rc != TSD_OK)
		log_full(LOG_WARNING, &(struct log_fields){ .guest = g->id },
			 "re-reading the guest after attach %s failed: %s", c->id, msg ? msg : "");
	if (save_and_tell(g, GUEST_CHANGED_ATTACHES | GUEST_CHANGED_DEVICES | GUEST_CHANGED_WINDOWS) < 0)
		attach_fail(c, OPS_E_STATE_IO, "the device is attached but the state file could not be written");
	else
		attach_end(c, NULL);
}

static void attach_done(void *ud, const struct tsd_result *res)
{
	struct attach_ctx *c = ud;
	struct guest *g = c->g;
	struct mmio_error err = { 0 };
	struct ops_error oe = { 0 };

	daemon_test_abort_at("after-toolstack");
	if (g->gone) {
		attach_fail(c, OPS_E_NO_SUCH_GUEST, "the guest went away during the attach");
		return;
	}
	if (res->rc == TSD_E_UNRESPONSIVE) {
		/* device_add may have happened or not: the hold stays until the
		 * guest answers again and shows (daemon.c settles it) */
		ssize_t i = books_find_attach(&g->books, c->id);
		if (i >= 0) {
			g->books.attaches[i].state = BOOKS_ATTACH_UNSETTLED;
			g->books.attaches[i].unsettled_call = BOOKS_ATTACH_INFLIGHT;
		}
		daemon_save(c->d);
		daemon_guest_changed(g, GUEST_CHANGED_ATTACHES);
		c->unsettled = true;
		ops_fail_toolstack(&oe, res->rc, NULL);
		snprintf(oe.msg, sizeof(oe.msg), "%.200s; whether attach %.64s happened is not known: "
			 "its space stays held (Attaches: unsettled) until the guest answers again, then "
			 "it is kept or released and AttachFinished says which", res->msg, c->id);
		attach_end(c, &oe);
		return;
	}
	if (res->rc != TSD_OK && res->rc != TSD_E_UNASSIGNED) {
		attach_release_hold(c);
		ops_fail_toolstack(&oe, res->rc, res->msg);
		attach_end(c, &oe);
		return;
	}
	ssize_t i = books_find_attach(&g->books, c->id);
	if (i >= 0) {
		struct books_attach *a = &g->books.attaches[i];
		a->state = BOOKS_ATTACH_ATTACHED;
		snprintf(a->tsd_id, sizeof(a->tsd_id), "%s", res->attached_id[0] ? res->attached_id : c->id);
	}
	if (res->rc == TSD_E_UNASSIGNED) {
		/* attached, but the guest left a BAR unassigned: the device stays
		 * (detach it by its id), the caller learns it failed */
		daemon_save(c->d);
		daemon_guest_changed(g, GUEST_CHANGED_ATTACHES | GUEST_CHANGED_DEVICES | GUEST_CHANGED_WINDOWS);
		attach_fail(c, OPS_E_TOOLSTACK_FAILED, "%s", res->msg);
		return;
	}
	if (daemon_refresh(g, attach_after_final_refresh, c, &err) < 0)
		attach_after_final_refresh(c, g, TSD_E_FAILED, err.msg);
}

/* The port: the caller's, else the bus= of an explicit QEMU device spec
 * when that names one of the guest's ports (the device will go there
 * whatever mmiod predicts), else NULL: the books choose. */
static const char *attach_port(const struct attach_ctx *c, char *buf, size_t len)
{
	const struct tsd_layout *l = &c->g->books.layout;

	if (c->port[0])
		return c->port;
	if (c->qemu_device[0] && tsd_spec_value(c->qemu_device, "bus", buf, len))
		for (size_t pi = 0; pi < l->nports; pi++)
			if (strcmp(l->ports[pi].id, buf) == 0)
				return buf;
	return NULL;
}

static void attach_log_admitted(const struct attach_ctx *c, const struct books_entry *e)
{
	struct log_fields lf = { .guest = c->g->id, .device = c->spec,
				 .message_id = MMIOD_MESSAGE_ADMIT };

	for (unsigned i = 0; i < e->nbars; i++) {
		char win[80];
		books_bar_window_name(e, &e->bars[i], win, sizeof(win));
		lf.window = win;
		lf.size = e->bars[i].bar.size;
		log_full(LOG_INFO, &lf, "admitted %s BAR %u (%s, 0x%" PRIx64 " bytes) at 0x%" PRIx64,
			 c->spec, e->bars[i].bar.index, mmio_bar_kind_name(&e->bars[i].bar),
			 e->bars[i].bar.size, e->bars[i].addr);
	}
}

static void attach_admit(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct attach_ctx *c = ud;
	struct daemon *d = c->d;
	struct mmio_error err = { 0 };
	struct ops_error oe = { 0 };
	char spec_bus[64];
	size_t idx;
	int r;

	if (g->gone || rc != TSD_OK) {
		fail_refresh(&oe, g, rc, msg);
		attach_end(c, &oe);
		return;
	}
	/* a consumed reservation is released before admission */
	if (c->reservation[0]) {
		ssize_t ri = books_find_reservation(&g->books, c->reservation);
		if (ri < 0) {
			attach_fail(c, OPS_E_NO_SUCH_RESERVATION, "no reservation \"%s\" on guest %s",
				    c->reservation, g->id);
			return;
		}
		books_release(&g->books, (size_t)ri);
	}
	/* admission and hold: one step, no await in between */
	if (books_admit(&g->books, &c->dev, c->spec, c->id, c->host_bdf, c->qemu_device,
			attach_port(c, spec_bus, sizeof(spec_bus)), &idx, &err) != MMIO_OK) {
		log_full(LOG_NOTICE, &(struct log_fields){ .guest = g->id, .device = c->spec,
							   .message_id = MMIOD_MESSAGE_REJECT },
			 "rejected %s: %s", c->spec, err.msg);
		if (c->reservation[0]) {   /* the reservation is gone: persist that */
			daemon_save(d);
			daemon_guest_changed(g, GUEST_CHANGED_RESERVATIONS | GUEST_CHANGED_WINDOWS);
		}
		ops_fail_model(&oe, &err);
		attach_end(c, &oe);
		return;
	}
	attach_log_admitted(c, &g->books.attaches[idx].e);
	if (daemon_save(d) < 0) {
		attach_release_hold(c);
		attach_fail(c, OPS_E_STATE_IO, "cannot write the state file");
		return;
	}
	daemon_guest_changed(g, GUEST_CHANGED_ATTACHES | GUEST_CHANGED_WINDOWS |
				(c->reservation[0] ? GUEST_CHANGED_RESERVATIONS : 0));
	if (c->cbs.admitted)
		c->cbs.admitted(c->ud, c->id, &g->books.attaches[idx].e);

	daemon_test_abort_at("before-toolstack");
	const struct books_entry *e = attach_entry(c);
	struct tsd_attach_req req = {
		.device = &c->dev,
		.host_bdf = c->host_bdf[0] ? c->host_bdf : NULL,
		.qemu_device = c->qemu_device[0] ? c->qemu_device : NULL,
		.attach_id = c->id,
		.port = e && e->port[0] ? e->port : NULL,
	};
	unsigned flags = (c->persistent ? TSD_ATTACH_PERSISTENT : 0) |
			 (c->assignable ? TSD_ATTACH_ASSIGNABLE : 0);
	g->ops++;   /* for the toolstack operation; the ctx holds one already */
	r = g->bi->drv->attach(g->bi->be, g->tsd_id, &req, flags, attach_done, c, &err);
	daemon_guest_unref_op(g);
	if (r < 0) {
		attach_release_hold(c);
		attach_fail(c, err.code == MMIO_E_INVALID ? OPS_E_INVALID_DEVICE :
			    err.code == MMIO_E_UNSUPPORTED ? OPS_E_NOT_SUPPORTED : OPS_E_TOOLSTACK_FAILED,
			    "%s", err.msg[0] ? err.msg : "the back end refused");
		return;
	}
	daemon_test_abort_at("during-toolstack");
}

/* The guest, the device and the host BDF, or -1 with err. */
static struct guest *attach_check(struct daemon *d, const struct ops_attach_req *req,
				  struct mmio_device *dev, char *host_bdf, size_t bdf_len,
				  struct ops_error *err)
{
	struct mmio_error e = { 0 };
	struct guest *g;

	if (strlen(req->device) >= BOOKS_SPEC_MAX) {
		ops_fail(err, OPS_E_INVALID_ARGS, "device spec too long");
		return NULL;
	}
	g = daemon_guest_lookup(d, req->guest, err);
	if (!g || daemon_guest_answering(g, err) < 0)
		return NULL;
	if (daemon_resolve(d, req->device, dev, &e) != MMIO_OK) {
		ops_fail(err, OPS_E_INVALID_DEVICE, "%.200s: %s", req->device, e.msg);
		return NULL;
	}
	host_bdf[0] = '\0';
	if (dev->has_bdf)
		mmio_bdf_format(&dev->bdf, host_bdf, bdf_len);
	if (!g->info.can_attach) {
		ops_fail(err, OPS_E_NOT_SUPPORTED, "guest %s cannot take hot-plugged devices: %s",
			 g->info.name[0] ? g->info.name : g->id,
			 g->info.why_not[0] ? g->info.why_not : "the back end says so");
		return NULL;
	}
	if (g->info.why_no_host[0] && device_is_host(dev)) {
		ops_fail(err, OPS_E_NOT_SUPPORTED, "%.200s cannot be attached to guest %.128s: %s",
			 req->device, guest_name(g), g->info.why_no_host);
		return NULL;
	}
	if (!g->bi->drv->attach) {
		ops_fail(err, OPS_E_NOT_SUPPORTED, "the %s back end cannot attach devices",
			 g->bi->drv->name);
		return NULL;
	}
	for (size_t i = 0; host_bdf[0] && i < g->books.nattach; i++) {
		const struct books_attach *a = &g->books.attaches[i];
		if (a->state != BOOKS_ATTACH_ATTACHED && strcmp(a->host_bdf, host_bdf) == 0) {
			ops_fail(err, OPS_E_BUSY, "%s is being %s (attach %s)", host_bdf,
				 a->state == BOOKS_ATTACH_INFLIGHT ? "attached" : "detached", a->id);
			return NULL;
		}
	}
	return g;
}

int ops_attach_validate(struct daemon *d, const struct ops_attach_req *req, struct ops_error *err)
{
	struct mmio_device dev;
	char bdf[16];

	assert(d && req && req->guest && req->device);
	return attach_check(d, req, &dev, bdf, sizeof(bdf), err) ? 0 : -1;
}

int ops_attach(struct daemon *d, const struct ops_attach_req *req, const struct ops_attach_cbs *cbs,
	       void *ud, struct ops_error *err)
{
	struct attach_ctx *c;
	struct mmio_error e = { 0 };
	struct guest *g;

	assert(d && req && req->guest && req->device && cbs && cbs->finished);
	c = calloc(1, sizeof(*c));
	if (!c)
		return ops_fail_nomem(err);
	g = attach_check(d, req, &c->dev, c->host_bdf, sizeof(c->host_bdf), err);
	if (!g) {
		free(c);
		return -1;
	}
	c->d = d;
	c->g = g;
	c->cbs = *cbs;
	c->ud = ud;
	snprintf(c->spec, sizeof(c->spec), "%s", req->device);
	snprintf(c->qemu_device, sizeof(c->qemu_device), "%s", req->qemu_device ? req->qemu_device : "");
	snprintf(c->reservation, sizeof(c->reservation), "%s", req->reservation ? req->reservation : "");
	snprintf(c->port, sizeof(c->port), "%s", req->port ? req->port : "");
	c->persistent = req->persistent;
	c->assignable = req->assignable;
	/* The id from the start: a failure before admission (the re-read, no
	 * space) is reported under it too. */
	daemon_new_id(d, 'a', c->id, sizeof(c->id));
	g->ops++;
	/* Attach always re-reads the guest first; its callback never runs
	 * from inside daemon_refresh. */
	if (daemon_refresh(g, attach_admit, c, &e) < 0) {
		struct ops_error oe = { 0 };
		ops_fail_toolstack(&oe, TSD_E_FAILED, e.msg);
		attach_end(c, &oe);
	}
	return 0;
}

/* ---- Detach ------------------------------------------------------------------ */

struct done_ctx {
	struct daemon *d;
	struct guest *g;
	ops_done_fn cb;
	void *ud;
	char key[BOOKS_SPEC_MAX];
};

static void done_finish(struct done_ctx *c, const struct ops_error *e)
{
	c->cb(c->ud, e);
	daemon_guest_unref_op(c->g);
	free(c);
}

static void detach_after_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct done_ctx *c = ud;
	struct ops_error oe = { 0 };
	(void)rc;
	(void)msg;

	if (save_and_tell(g, GUEST_CHANGED_ATTACHES | GUEST_CHANGED_DEVICES | GUEST_CHANGED_WINDOWS) < 0) {
		ops_fail(&oe, OPS_E_STATE_IO, "detached, but the state file could not be written");
		done_finish(c, &oe);
	} else {
		done_finish(c, NULL);
	}
}

static void detach_done(void *ud, const struct tsd_result *res)
{
	struct done_ctx *c = ud;
	struct guest *g = c->g;
	struct mmio_error err = { 0 };
	struct ops_error oe = { 0 };
	ssize_t i = books_find_attach(&g->books, c->key);

	if (g->gone) {
		ops_fail(&oe, OPS_E_NO_SUCH_GUEST, "the guest went away");
		done_finish(c, &oe);
		return;
	}
	if (res->rc == TSD_E_UNRESPONSIVE && i >= 0) {
		/* device_del may have reached the toolstack: settled when the
		 * guest answers again */
		g->books.attaches[i].state = BOOKS_ATTACH_UNSETTLED;
		g->books.attaches[i].unsettled_call = BOOKS_ATTACH_DETACHING;
		daemon_save(c->d);
		daemon_guest_changed(g, GUEST_CHANGED_ATTACHES);
		ops_fail_toolstack(&oe, res->rc, NULL);
		snprintf(oe.msg, sizeof(oe.msg), "%.200s; whether the detach happened is not known: "
			 "settled when the guest answers again (Attaches)", res->msg);
		done_finish(c, &oe);
		return;
	}
	if (res->rc != TSD_OK) {
		if (i >= 0)
			g->books.attaches[i].state = BOOKS_ATTACH_ATTACHED;
		daemon_guest_changed(g, GUEST_CHANGED_ATTACHES);
		ops_fail_toolstack(&oe, res->rc, res->msg);
		done_finish(c, &oe);
		return;
	}
	if (i >= 0)
		books_remove_attach(&g->books, (size_t)i);
	log_full(LOG_INFO, &(struct log_fields){ .guest = g->id, .device = c->key }, "detached %s", c->key);
	if (daemon_refresh(g, detach_after_refresh, c, &err) < 0)
		detach_after_refresh(c, g, TSD_E_FAILED, err.msg);
}

/* The guest and the attach, or NULL with err. */
static struct guest *detach_check(struct daemon *d, const struct ops_detach_req *req, ssize_t *index,
				  struct ops_error *err)
{
	struct guest *g = daemon_guest_lookup(d, req->guest, err);

	if (!g || daemon_guest_answering(g, err) < 0)
		return NULL;
	*index = books_find_attach(&g->books, req->device);
	if (*index < 0) {
		ops_fail(err, OPS_E_NO_SUCH_DEVICE,
			 "\"%.200s\" is not a device mmiod attached to %s (give the attach id, host BDF or device spec)",
			 req->device, g->id);
		return NULL;
	}
	if (!g->bi->drv->detach) {
		ops_fail(err, OPS_E_NOT_SUPPORTED, "the %s back end cannot detach devices", g->bi->drv->name);
		return NULL;
	}
	return g;
}

int ops_detach_validate(struct daemon *d, const struct ops_detach_req *req, struct ops_error *err)
{
	ssize_t i;

	assert(d && req && req->guest && req->device);
	return detach_check(d, req, &i, err) ? 0 : -1;
}

int ops_detach(struct daemon *d, const struct ops_detach_req *req, ops_done_fn cb, void *ud,
	       struct ops_error *err)
{
	struct mmio_error e = { 0 };
	struct done_ctx *c;
	struct guest *g;
	ssize_t i;

	assert(d && req && req->guest && req->device && cb);
	g = detach_check(d, req, &i, err);
	if (!g)
		return -1;
	struct books_attach *a = &g->books.attaches[i];
	if (a->state != BOOKS_ATTACH_ATTACHED)
		return ops_fail(err, OPS_E_BUSY, "the device is being attached or detached");
	c = calloc(1, sizeof(*c));
	if (!c)
		return ops_fail_nomem(err);
	*c = (struct done_ctx){ .d = d, .g = g, .cb = cb, .ud = ud };
	snprintf(c->key, sizeof(c->key), "%s", a->id);
	a->state = BOOKS_ATTACH_DETACHING;
	daemon_guest_changed(g, GUEST_CHANGED_ATTACHES);
	g->ops++;
	if (g->bi->drv->detach(g->bi->be, g->tsd_id, a->tsd_id[0] ? a->tsd_id : a->id, 0, detach_done,
			       c, &e) < 0) {
		a->state = BOOKS_ATTACH_ATTACHED;
		daemon_guest_changed(g, GUEST_CHANGED_ATTACHES);
		daemon_guest_unref_op(g);
		free(c);
		return ops_fail(err, OPS_E_TOOLSTACK_FAILED, "%s", e.msg);
	}
	return 0;
}

/* ---- Reserve, Release -------------------------------------------------------- */

struct reserve_ctx {
	struct devices_call call;       /* first */
	ops_reserve_fn cb;
	char label[128];
};

static void reserve_finish(struct reserve_ctx *c, const struct ops_error *e, const char *id)
{
	const struct books *b = &c->call.g->books;

	c->cb(c->call.ud, e, id, e ? NULL : b->res[b->nres - 1].devs, e ? 0 : c->call.ds.n);
	daemon_guest_unref_op(c->call.g);
	free(c);
}

static void reserve_now(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct reserve_ctx *c = ud;
	struct mmio_error err = { 0 };
	struct ops_error oe = { 0 };
	char id[BOOKS_ID_MAX];

	if (g->gone || rc != TSD_OK) {
		fail_refresh(&oe, g, rc, msg);
		reserve_finish(c, &oe, NULL);
		return;
	}
	daemon_new_id(c->call.d, 'r', id, sizeof(id));
	if (books_reserve(&g->books, c->call.ds.devs, (const char *const *)c->call.ds.specs, c->call.ds.n, id, c->label,
			  &err) != MMIO_OK) {
		log_full(LOG_NOTICE, &(struct log_fields){ .guest = g->id, .message_id = MMIOD_MESSAGE_REJECT },
			 "reservation refused: %s", err.msg);
		ops_fail_model(&oe, &err);
		reserve_finish(c, &oe, NULL);
		return;
	}
	if (daemon_save(c->call.d) < 0) {
		books_release(&g->books, g->books.nres - 1);
		ops_fail(&oe, OPS_E_STATE_IO, "cannot write the state file");
		reserve_finish(c, &oe, NULL);
		return;
	}
	log_full(LOG_INFO, &(struct log_fields){ .guest = g->id, .message_id = MMIOD_MESSAGE_RESERVE },
		 "reservation %s (%s): %zu device(s), %" PRIu64 " bytes", id, c->label, c->call.ds.n,
		 books_reservation_bytes(&g->books.res[g->books.nres - 1]));
	daemon_guest_changed(g, GUEST_CHANGED_RESERVATIONS | GUEST_CHANGED_WINDOWS);
	reserve_finish(c, NULL, id);
}

int ops_reserve_validate(struct daemon *d, const struct ops_reserve_req *req, struct ops_error *err)
{
	struct dev_set *ds = malloc(sizeof(*ds));
	struct guest *g;

	assert(d && req && req->guest);
	if (!ds)
		return ops_fail_nomem(err);
	g = guest_devices(d, req->guest, req->devices, ds, err);
	free(ds);
	return g ? 0 : -1;
}

int ops_reserve(struct daemon *d, const struct ops_reserve_req *req, ops_reserve_fn cb, void *ud,
		struct ops_error *err)
{
	struct mmio_error e = { 0 };
	struct reserve_ctx *c;
	struct guest *g;

	assert(d && req && req->guest && cb);
	c = devices_call_new(sizeof(*c), d, req->guest, req->devices, ud, err);
	if (!c)
		return -1;
	g = c->call.g;
	c->cb = cb;
	snprintf(c->label, sizeof(c->label), "%s", req->label ? req->label : "");
	g->ops++;
	if (!g->books.have_layout) {
		if (daemon_refresh(g, reserve_now, c, &e) < 0) {
			daemon_guest_unref_op(g);
			free(c);
			return ops_fail(err, OPS_E_TOOLSTACK_FAILED, "%s", e.msg);
		}
		return 0;
	}
	reserve_now(c, g, TSD_OK, NULL);
	return 0;
}

static struct guest *release_check(struct daemon *d, const struct ops_release_req *req, ssize_t *index,
				   struct ops_error *err)
{
	struct guest *g = daemon_guest_lookup(d, req->guest, err);

	if (!g)
		return NULL;
	*index = books_find_reservation(&g->books, req->id);
	if (*index < 0) {
		ops_fail(err, OPS_E_NO_SUCH_RESERVATION, "guest %s has no reservation \"%.200s\"", g->id,
			 req->id);
		return NULL;
	}
	return g;
}

int ops_release_validate(struct daemon *d, const struct ops_release_req *req, struct ops_error *err)
{
	ssize_t i;

	assert(d && req && req->guest && req->id);
	return release_check(d, req, &i, err) ? 0 : -1;
}

int ops_release(struct daemon *d, const struct ops_release_req *req, struct ops_error *err)
{
	struct guest *g;
	ssize_t i;

	assert(d && req && req->guest && req->id);
	g = release_check(d, req, &i, err);
	if (!g)
		return -1;
	books_release(&g->books, (size_t)i);
	if (daemon_save(d) < 0)
		return ops_fail(err, OPS_E_STATE_IO, "released, but the state file could not be written");
	log_full(LOG_INFO, &(struct log_fields){ .guest = g->id, .message_id = MMIOD_MESSAGE_RELEASE },
		 "reservation %s released", req->id);
	daemon_guest_changed(g, GUEST_CHANGED_RESERVATIONS | GUEST_CHANGED_WINDOWS);
	return 0;
}
