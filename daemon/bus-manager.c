/* SPDX-License-Identifier: MIT */
/*
 * bus-manager.c — org.mmiod1.Manager at /org/mmiod1: its properties,
 * methods and signals, with its vtable at the end.  Translation only: the
 * decisions are in books.c (admission), authz.c (who may), the back ends
 * (how to attach).
 *
 * Every handler runs in the same order: read args → validate → authorize
 * → act → persist → emit PropertiesChanged → reply.  Attach holds the
 * request and replies when the toolstack finished and the books are on disk.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "bus-errors.h"
#include "daemon.h"
#include "log.h"
#include "mmiod-names.h"
#include "plan.h"
#include "strv.h"

#define MAX_DEVICES 64

/* ---- options ------------------------------------------------------------ */

/* Plan's options: not in mmiod-names.h (the client does not send them yet). */
#define OPT_MACHINE        "machine"
#define OPT_XEN_MEMORY_MIB "xen-memory-mib"
#define QEMU_MAX_LOW_BYTES UINT64_C(0xF0000000)
#define OPT_XEN_VERSION    "xen-version"

struct opts {
	int refresh, wait, interactive, persistent, assignable;
	char qemu_device[BOOKS_SPEC_MAX];
	char reservation[BOOKS_ID_MAX];
	char label[128];
	char port[64];
	char machine[16];
	char xen_version[16];
	uint32_t xen_memory_mib;
	bool have_xen_memory;
};

/* Reads a{sv}; accepts only the keys in `allowed` (space-separated). */
static int read_opts(sd_bus_message *m, const char *allowed, struct opts *o, sd_bus_error *error)
{
	int r;

	memset(o, 0, sizeof(*o));
	o->wait = 1;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;
		char want;
		char *sdst = NULL;
		size_t slen = 0;
		int *bdst = NULL;
		uint32_t *udst = NULL;

		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		char needle[64];
		snprintf(needle, sizeof(needle), " %s ", key);
		char hay[256];
		snprintf(hay, sizeof(hay), " %s ", allowed);
		if (!strstr(hay, needle))
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "unknown option \"%.200s\" (this method takes: %s)", key,
						 allowed[0] ? allowed : "none");
		if (strcmp(key, MMIOD_OPT_REFRESH) == 0) bdst = &o->refresh;
		else if (strcmp(key, MMIOD_OPT_WAIT) == 0) bdst = &o->wait;
		else if (strcmp(key, MMIOD_OPT_INTERACTIVE) == 0) bdst = &o->interactive;
		else if (strcmp(key, MMIOD_OPT_PERSISTENT) == 0) bdst = &o->persistent;
		else if (strcmp(key, MMIOD_OPT_ASSIGNABLE) == 0) bdst = &o->assignable;
		else if (strcmp(key, MMIOD_OPT_QEMU_DEVICE) == 0) sdst = o->qemu_device, slen = sizeof(o->qemu_device);
		else if (strcmp(key, MMIOD_OPT_RESERVATION) == 0) sdst = o->reservation, slen = sizeof(o->reservation);
		else if (strcmp(key, MMIOD_OPT_LABEL) == 0) sdst = o->label, slen = sizeof(o->label);
		else if (strcmp(key, MMIOD_OPT_PORT) == 0) sdst = o->port, slen = sizeof(o->port);
		else if (strcmp(key, OPT_MACHINE) == 0) sdst = o->machine, slen = sizeof(o->machine);
		else if (strcmp(key, OPT_XEN_VERSION) == 0) sdst = o->xen_version, slen = sizeof(o->xen_version);
		else if (strcmp(key, OPT_XEN_MEMORY_MIB) == 0) udst = &o->xen_memory_mib, o->have_xen_memory = true;
		want = bdst ? 'b' : udst ? 'u' : 's';
		const char *contents = NULL;
		char type;
		r = sd_bus_message_peek_type(m, &type, &contents);
		if (r < 0)
			return r;
		if (!contents || contents[0] != want || contents[1])
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "option \"%s\" must be of type %c, got %s", key, want,
						 contents ? contents : "?");
		if (bdst)
			r = sd_bus_message_read(m, "v", "b", bdst);
		else if (udst)
			r = sd_bus_message_read(m, "v", "u", udst);
		else {
			const char *s;
			r = sd_bus_message_read(m, "v", "s", &s);
			if (r >= 0 && strlen(s) >= slen)
				return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
							 "option \"%s\" is too long (%zu bytes, at most %zu)",
							 key, strlen(s), slen - 1);
			if (r >= 0)
				snprintf(sdst, slen, "%s", s);
		}
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* ---- helpers ----------------------------------------------------------------- */
/* Caller-given strings are echoed in errors at most 200 bytes long ("%.200s"):
 * a 1 MiB guest name must not come back as a 1 MiB error. */

int bus_append_placement(sd_bus_message *m, const struct books_entry *e, size_t n)
{
	int r = sd_bus_message_open_container(m, 'a', MMIOD_SIG_PLACE);

	for (size_t d = 0; r >= 0 && d < n; d++)
		for (unsigned i = 0; r >= 0 && i < e[d].nbars; i++) {
			const struct books_bar *b = &e[d].bars[i];
			char win[80];
			books_bar_window_name(&e[d], b, win, sizeof(win));
			r = sd_bus_message_append(m, MMIOD_SIG_PLACE, e[d].spec, (uint32_t)b->bar.index,
						  mmio_bar_kind_name(&b->bar), b->bar.size, win,
						  b->placed ? b->addr : UINT64_C(0), (int)b->placed);
		}
	return r < 0 ? r : sd_bus_message_close_container(m);
}

static int resolve_devices(struct daemon *d, char **specs, struct mmio_device *devs, size_t *n,
			   sd_bus_error *error)
{
	struct mmio_error err = { 0 };
	size_t k = 0;

	for (; specs && specs[k]; k++) {
		if (k >= MAX_DEVICES)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "at most %d devices at once", MAX_DEVICES);
		if (daemon_resolve(d, specs[k], &devs[k], &err) != MMIO_OK)
			return sd_bus_error_setf(error, MMIOD_ERROR_INVALID_DEVICE, "%.200s: %s", specs[k],
						 err.msg);
	}
	if (k == 0)
		return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "no devices given");
	*n = k;
	return 0;
}

static void reply_error(struct daemon *d, sd_bus_message *m, const char *name, const char *msg)
{
	sd_bus_reply_method_errorf(m, name, "%s", msg);
	daemon_bus_kick(d);
}

static void reply_sd_error(struct daemon *d, sd_bus_message *m, const sd_bus_error *e)
{
	sd_bus_reply_method_error(m, e);
	daemon_bus_kick(d);
}

/* ---- Check ------------------------------------------------------------------ */

struct check_ctx {
	sd_bus_message *m;
	char port[64];
	size_t n;
	char **specs;
	struct mmio_device devs[MAX_DEVICES];
};

static void check_free(struct check_ctx *c)
{
	sd_bus_message_unref(c->m);
	strv_free(c->specs);
	free(c);
}

static int check_reply(struct guest *g, struct check_ctx *c)
{
	struct books_entry *ents = calloc(c->n, sizeof(*ents));
	struct mmio_error err = { 0 };
	sd_bus_message *reply = NULL;
	enum mmio_status st;
	int r;

	if (!ents)
		return -ENOMEM;
	st = books_check_port(&g->books, c->devs, (const char *const *)c->specs, c->n,
			      c->port[0] ? c->port : NULL, ents, &err);
	if (st != MMIO_OK && st != MMIO_E_NOSPACE) {
		free(ents);
		return sd_bus_reply_method_errorf(c->m, bus_error_from_status(st), "%s", err.msg);
	}
	r = sd_bus_message_new_method_return(c->m, &reply);
	if (r >= 0)
		r = sd_bus_message_append(reply, "bs", st == MMIO_OK, st == MMIO_OK ? "" : err.msg);
	if (r >= 0)
		r = bus_append_placement(reply, ents, c->n);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	free(ents);
	return r;
}

static void check_after_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct check_ctx *c = ud;

	if (g->gone)
		reply_error(g->d, c->m, MMIOD_ERROR_NO_SUCH_GUEST, "the guest went away");
	else if (rc != TSD_OK)
		reply_error(g->d, c->m, bus_error_from_rc(rc), msg ? msg : tsd_rc_name(rc));
	else if (check_reply(g, c) < 0)
		reply_error(g->d, c->m, SD_BUS_ERROR_FAILED, "cannot build the reply");
	daemon_bus_kick(g->d);
	check_free(c);
}

static int method_check(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	struct check_ctx *c;
	const char *gname;
	struct opts o;
	struct guest *g;
	int r;

	/* Not calloc: devs[] is large and resolve_devices() fills what is used;
	 * zeroing it was the largest cost of a Check. */
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n = 0;
	c->specs = NULL;
	c->m = sd_bus_message_ref(m);
	r = sd_bus_message_read(m, "s", &gname);
	if (r >= 0)
		r = sd_bus_message_read_strv(m, &c->specs);
	if (r >= 0)
		r = read_opts(m, MMIOD_OPT_REFRESH " " MMIOD_OPT_PORT, &o, error);
	if (r < 0)
		goto fail;
	snprintf(c->port, sizeof(c->port), "%s", o.port);
	g = daemon_guest_lookup(d, gname, error);
	if (!g) {
		r = -ENOENT;
		goto fail;
	}
	r = resolve_devices(d, c->specs, c->devs, &c->n, error);
	if (r < 0)
		goto fail;
	if (o.refresh || !g->books.have_layout) {
		struct mmio_error err = { 0 };
		if (daemon_refresh(g, check_after_refresh, c, &err) < 0) {
			r = sd_bus_error_set(error, MMIOD_ERROR_TOOLSTACK_FAILED, err.msg);
			goto fail;
		}
		return 1;
	}
	r = check_reply(g, c);
	check_free(c);
	return r < 0 ? r : 1;
fail:
	check_free(c);
	return r;
}

/* ---- Attach --------------------------------------------------------------- */

struct attach_ctx {
	struct daemon *d;
	struct guest *g;
	sd_bus_message *m;      /* NULL once replied (wait=false) */
	struct opts o;
	char spec[BOOKS_SPEC_MAX];
	char host_bdf[16];
	char id[BOOKS_ID_MAX];
	struct mmio_device dev;
	bool held;
	/* Authorization and the first re-read of the guest run side by side
	 * (one bus round trip less before the toolstack is called); admission
	 * waits for both.  The refresh only reads: Check does the same for
	 * any caller. */
	unsigned pending;               /* authz and/or refresh outstanding */
	bool denied;                    /* replied with the authz error already */
	enum tsd_rc refresh_rc;
	char refresh_msg[512];
};

static void attach_free(struct attach_ctx *c)
{
	sd_bus_message_unref(c->m);
	if (c->g)
		daemon_guest_unref_op(c->g);
	free(c);
}

static void attach_finished(struct attach_ctx *c, const char *error_name, const char *msg)
{
	struct daemon *d = c->d;
	struct log_fields lf = { .guest = c->g->id, .device = c->spec,
				 .message_id = error_name ? MMIOD_MESSAGE_ATTACH_FAILED : MMIOD_MESSAGE_ATTACH_DONE };

	log_full(error_name ? LOG_WARNING : LOG_INFO, &lf, "attach %s of %s %s%s%s", c->id, c->spec,
		 error_name ? "failed: " : "done", error_name ? msg : "",
		 error_name ? "" : "");
	if (c->m) {
		if (error_name)
			sd_bus_reply_method_errorf(c->m, error_name, "%s", msg);
		else {
			sd_bus_message *reply = NULL;
			ssize_t i = books_find_attach(&c->g->books, c->id);
			int r = sd_bus_message_new_method_return(c->m, &reply);
			if (r >= 0)
				r = sd_bus_message_append(reply, "s", c->id);
			if (r >= 0)
				r = bus_append_placement(reply, i >= 0 ? &c->g->books.attaches[i].e : NULL,
							 i >= 0 ? 1 : 0);
			if (r >= 0)
				sd_bus_send(NULL, reply, NULL);
			else
				sd_bus_reply_method_errorf(c->m, SD_BUS_ERROR_FAILED, "cannot build the reply");
			sd_bus_message_unref(reply);
		}
	}
	sd_bus_emit_signal(d->bus, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER, "AttachFinished", "sssbss",
			   c->g->id, c->id, c->spec, error_name == NULL, error_name ? error_name : "",
			   msg ? msg : "");
	daemon_bus_kick(d);
	attach_free(c);
}

static void attach_release_hold(struct attach_ctx *c)
{
	ssize_t i = books_find_attach(&c->g->books, c->id);

	if (i >= 0)
		books_remove_attach(&c->g->books, (size_t)i);
	c->held = false;
	daemon_save(c->d);
	daemon_guest_changed(c->g, "Attaches", "Windows", NULL);
}

static void attach_after_final_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct attach_ctx *c = ud;

	if (rc != TSD_OK)
		log_full(LOG_WARNING, &(struct log_fields){ .guest = g->id },
			 "re-reading the guest after attach %s failed: %s", c->id, msg ? msg : "");
	if (daemon_save(c->d) < 0) {
		attach_finished(c, SD_BUS_ERROR_IO_ERROR,
				"the device is attached but the state file could not be written");
		return;
	}
	daemon_guest_changed(g, "Attaches", "Devices", "Windows", NULL);
	attach_finished(c, NULL, "attached");
}

static void attach_done(void *ud, const struct tsd_result *res)
{
	struct attach_ctx *c = ud;
	struct guest *g = c->g;
	struct mmio_error err = { 0 };

	daemon_test_abort_at("after-toolstack");
	if (g->gone) {
		attach_finished(c, MMIOD_ERROR_NO_SUCH_GUEST, "the guest went away during the attach");
		return;
	}
	if (res->rc != TSD_OK && res->rc != TSD_E_UNASSIGNED) {
		attach_release_hold(c);
		attach_finished(c, bus_error_from_rc(res->rc), res->msg[0] ? res->msg : tsd_rc_name(res->rc));
		return;
	}
	ssize_t i = books_find_attach(&g->books, c->id);
	if (i >= 0) {
		struct books_attach *a = &g->books.attaches[i];
		a->state = BOOKS_ATTACH_ATTACHED;
		snprintf(a->tsd_id, sizeof(a->tsd_id), "%s", res->attached_id[0] ? res->attached_id : c->id);
	}
	c->held = false;
	if (res->rc == TSD_E_UNASSIGNED) {
		/* attached, but the guest left a BAR unassigned: the device stays
		 * (detach it by its id), the caller learns it failed */
		daemon_save(c->d);
		daemon_guest_changed(g, "Attaches", "Devices", "Windows", NULL);
		attach_finished(c, MMIOD_ERROR_TOOLSTACK_FAILED, res->msg);
		return;
	}
	if (daemon_refresh(g, attach_after_final_refresh, c, &err) < 0)
		attach_after_final_refresh(c, g, TSD_E_FAILED, err.msg);
}

static void attach_admit(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct attach_ctx *c = ud;
	struct daemon *d = c->d;
	struct mmio_error err = { 0 };
	struct log_fields lf = { .guest = g->id, .device = c->spec };
	size_t idx;
	int r;

	if (g->gone) {
		attach_finished(c, MMIOD_ERROR_NO_SUCH_GUEST, "the guest went away");
		return;
	}
	if (rc != TSD_OK) {
		attach_finished(c, bus_error_from_rc(rc), msg ? msg : tsd_rc_name(rc));
		return;
	}
	/* a consumed reservation is released before admission */
	if (c->o.reservation[0]) {
		ssize_t ri = books_find_reservation(&g->books, c->o.reservation);
		if (ri < 0) {
			snprintf(err.msg, sizeof(err.msg), "no reservation \"%s\" on guest %s",
				 c->o.reservation, g->id);
			attach_finished(c, MMIOD_ERROR_NO_SUCH_RESERVATION, err.msg);
			return;
		}
		books_release(&g->books, (size_t)ri);
	}
	/* admission and hold: one step, no await in between */
	daemon_new_id(d, 'a', c->id, sizeof(c->id));
	/* The port: the caller's, else the bus= of an explicit QEMU device
	 * spec when that names one of the guest's ports (the device will go
	 * there whatever mmiod predicts), else the books choose. */
	const char *port = c->o.port[0] ? c->o.port : NULL;
	char spec_bus[64];
	if (!port && c->o.qemu_device[0] &&
	    tsd_spec_value(c->o.qemu_device, "bus", spec_bus, sizeof(spec_bus)))
		for (size_t pi = 0; pi < g->books.layout.nports && !port; pi++)
			if (strcmp(g->books.layout.ports[pi].id, spec_bus) == 0)
				port = spec_bus;
	if (books_admit(&g->books, &c->dev, c->spec, c->id, c->host_bdf, c->o.qemu_device, port,
			&idx, &err) != MMIO_OK) {
		lf.message_id = MMIOD_MESSAGE_REJECT;
		log_full(LOG_NOTICE, &lf, "rejected %s: %s", c->spec, err.msg);
		if (c->o.reservation[0]) {   /* the reservation is gone: persist that */
			daemon_save(d);
			daemon_guest_changed(g, "Reservations", "Windows", NULL);
		}
		attach_finished(c, bus_error_from_status(err.code), err.msg);
		return;
	}
	c->held = true;
	const struct books_entry *e = &g->books.attaches[idx].e;
	for (unsigned i = 0; i < e->nbars; i++) {
		char win[80];
		books_bar_window_name(e, &e->bars[i], win, sizeof(win));
		lf.message_id = MMIOD_MESSAGE_ADMIT;
		lf.window = win;
		lf.size = e->bars[i].bar.size;
		log_full(LOG_INFO, &lf, "admitted %s BAR %u (%s, 0x%" PRIx64 " bytes) at 0x%" PRIx64,
			 c->spec, e->bars[i].bar.index, mmio_bar_kind_name(&e->bars[i].bar),
			 e->bars[i].bar.size, e->bars[i].addr);
	}
	if (daemon_save(d) < 0) {
		attach_release_hold(c);
		attach_finished(c, SD_BUS_ERROR_IO_ERROR, "cannot write the state file");
		return;
	}
	daemon_guest_changed(g, "Attaches", "Windows", c->o.reservation[0] ? "Reservations" : NULL,
			     NULL);
	if (!c->o.wait) {
		sd_bus_message *reply = NULL;
		r = sd_bus_message_new_method_return(c->m, &reply);
		if (r >= 0)
			r = sd_bus_message_append(reply, "s", c->id);
		if (r >= 0)
			r = bus_append_placement(reply, e, 1);
		if (r >= 0)
			sd_bus_send(NULL, reply, NULL);
		sd_bus_message_unref(reply);
		sd_bus_message_unref(c->m);
		c->m = NULL;
		daemon_bus_kick(d);
	}

	daemon_test_abort_at("before-toolstack");
	struct tsd_attach_req req = {
		.device = &c->dev,
		.host_bdf = c->host_bdf[0] ? c->host_bdf : NULL,
		.qemu_device = c->o.qemu_device[0] ? c->o.qemu_device : NULL,
		.attach_id = c->id,
		.port = NULL,
	};
	ssize_t ai = books_find_attach(&g->books, c->id);
	if (ai >= 0 && g->books.attaches[ai].e.port[0])
		req.port = g->books.attaches[ai].e.port;
	unsigned flags = (c->o.persistent ? TSD_ATTACH_PERSISTENT : 0) |
			 (c->o.assignable ? TSD_ATTACH_ASSIGNABLE : 0);
	g->ops++;   /* for the toolstack operation; the ctx holds one already */
	r = g->bi->drv->attach(g->bi->be, g->tsd_id, &req, flags, attach_done, c, &err);
	daemon_guest_unref_op(g);
	if (r < 0) {
		attach_release_hold(c);
		attach_finished(c, err.code == MMIO_E_INVALID ? MMIOD_ERROR_INVALID_DEVICE :
				   MMIOD_ERROR_TOOLSTACK_FAILED, err.msg[0] ? err.msg : "the back end refused");
		return;
	}
	daemon_test_abort_at("during-toolstack");
}

/* Both the authorization and the re-read are in: admit, or report. */
static void attach_joined(struct attach_ctx *c)
{
	if (c->denied) {
		attach_free(c);
		return;
	}
	if (c->g->gone) {
		reply_error(c->d, c->m, MMIOD_ERROR_NO_SUCH_GUEST, "the guest went away");
		attach_free(c);
		return;
	}
	attach_admit(c, c->g, c->refresh_rc, c->refresh_rc == TSD_OK ? NULL : c->refresh_msg);
}

static void attach_refreshed(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct attach_ctx *c = ud;

	c->refresh_rc = rc;
	snprintf(c->refresh_msg, sizeof(c->refresh_msg), "%s", msg ? msg : tsd_rc_name(rc));
	if (--c->pending == 0)
		attach_joined(c);
}

static void attach_authorized(void *ud, bool allowed, const sd_bus_error *e)
{
	struct attach_ctx *c = ud;

	if (!allowed) {
		reply_sd_error(c->d, c->m, e);
		c->denied = true;
	}
	if (--c->pending == 0)
		attach_joined(c);
}

static int method_attach(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	struct mmio_error err = { 0 };
	struct attach_ctx *c;
	const char *gname, *spec;
	struct guest *g;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = d;
	r = sd_bus_message_read(m, "ss", &gname, &spec);
	if (r >= 0)
		r = read_opts(m, MMIOD_OPT_QEMU_DEVICE " " MMIOD_OPT_RESERVATION " " MMIOD_OPT_PERSISTENT
			      " " MMIOD_OPT_ASSIGNABLE " " MMIOD_OPT_WAIT " " MMIOD_OPT_INTERACTIVE
			      " " MMIOD_OPT_PORT,
			      &c->o, error);
	if (r < 0)
		goto fail;
	if (strlen(spec) >= sizeof(c->spec)) {
		r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "device spec too long");
		goto fail;
	}
	snprintf(c->spec, sizeof(c->spec), "%s", spec);
	g = daemon_guest_lookup(d, gname, error);
	if (!g) {
		r = -ENOENT;
		goto fail;
	}
	if (daemon_resolve(d, spec, &c->dev, &err) != MMIO_OK) {
		r = sd_bus_error_setf(error, MMIOD_ERROR_INVALID_DEVICE, "%.200s: %s", spec, err.msg);
		goto fail;
	}
	if (c->dev.has_bdf)
		mmio_bdf_format(&c->dev.bdf, c->host_bdf, sizeof(c->host_bdf));
	if (!g->info.can_attach) {
		r = sd_bus_error_setf(error, MMIOD_ERROR_NOT_SUPPORTED, "guest %s cannot take hot-plugged devices: %s",
				      g->id, g->info.why_not[0] ? g->info.why_not : "the back end says so");
		goto fail;
	}
	if (!g->bi->drv->attach) {
		r = sd_bus_error_setf(error, MMIOD_ERROR_NOT_SUPPORTED, "the %s back end cannot attach devices",
				      g->bi->drv->name);
		goto fail;
	}
	for (size_t i = 0; i < g->books.nattach; i++) {
		const struct books_attach *a = &g->books.attaches[i];
		if (a->state != BOOKS_ATTACH_ATTACHED && c->host_bdf[0] && strcmp(a->host_bdf, c->host_bdf) == 0) {
			r = sd_bus_error_setf(error, MMIOD_ERROR_BUSY, "%s is being %s (attach %s)", c->host_bdf,
					      a->state == BOOKS_ATTACH_INFLIGHT ? "attached" : "detached", a->id);
			goto fail;
		}
	}
	c->g = g;
	g->ops++;
	c->m = sd_bus_message_ref(m);
	/* Attach always re-reads the guest first; its callback never runs
	 * from inside daemon_refresh. */
	c->pending = 2;
	if (daemon_refresh(g, attach_refreshed, c, &err) < 0) {
		/* reported after the authorization, as before */
		c->refresh_rc = TSD_E_FAILED;
		snprintf(c->refresh_msg, sizeof(c->refresh_msg), "%s", err.msg);
		c->pending--;
	}
	r = authz_check(d->bus, m, MMIOD_POLKIT_ACTION_MANAGE, c->o.interactive, attach_authorized, c);
	if (r < 0) {
		/* the refresh is in flight: answer now, free when it is in */
		sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "cannot check authorization: %s",
				  strerror(-r));
		sd_bus_reply_method_error(m, error);
		sd_bus_error_free(error);
		c->denied = true;
		if (--c->pending == 0)
			attach_free(c);
		return 1;
	}
	return 1;
fail:
	free(c);
	return r;
}

/* ---- Detach ----------------------------------------------------------------- */

struct simple_ctx {
	struct daemon *d;
	struct guest *g;
	sd_bus_message *m;
	struct opts o;
	char key[BOOKS_SPEC_MAX];
	size_t n;
	char **specs;
	struct mmio_device devs[MAX_DEVICES];
};

static void simple_free(struct simple_ctx *c)
{
	sd_bus_message_unref(c->m);
	strv_free(c->specs);
	if (c->g)
		daemon_guest_unref_op(c->g);
	free(c);
}

static void detach_after_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct simple_ctx *c = ud;

	if (daemon_save(c->d) < 0)
		reply_error(c->d, c->m, SD_BUS_ERROR_IO_ERROR, "detached, but the state file could not be written");
	else {
		daemon_guest_changed(g, "Attaches", "Devices", "Windows", NULL);
		sd_bus_reply_method_return(c->m, "");
		daemon_bus_kick(c->d);
	}
	simple_free(c);
}

static void detach_done(void *ud, const struct tsd_result *res)
{
	struct simple_ctx *c = ud;
	struct guest *g = c->g;
	struct mmio_error err = { 0 };
	ssize_t i = books_find_attach(&g->books, c->key);

	if (g->gone) {
		reply_error(c->d, c->m, MMIOD_ERROR_NO_SUCH_GUEST, "the guest went away");
		simple_free(c);
		return;
	}
	if (res->rc != TSD_OK) {
		if (i >= 0)
			g->books.attaches[i].state = BOOKS_ATTACH_ATTACHED;
		daemon_guest_changed(g, "Attaches", NULL);
		reply_error(c->d, c->m, bus_error_from_rc(res->rc), res->msg);
		simple_free(c);
		return;
	}
	if (i >= 0)
		books_remove_attach(&g->books, (size_t)i);
	log_full(LOG_INFO, &(struct log_fields){ .guest = g->id, .device = c->key }, "detached %s", c->key);
	if (daemon_refresh(g, detach_after_refresh, c, &err) < 0)
		detach_after_refresh(c, g, TSD_E_FAILED, err.msg);
}

static void detach_authorized(void *ud, bool allowed, const sd_bus_error *e)
{
	struct simple_ctx *c = ud;
	struct guest *g = c->g;
	struct mmio_error err = { 0 };
	ssize_t i;

	if (!allowed || g->gone) {
		if (!allowed)
			reply_sd_error(c->d, c->m, e);
		else
			reply_error(c->d, c->m, MMIOD_ERROR_NO_SUCH_GUEST, "the guest went away");
		simple_free(c);
		return;
	}
	i = books_find_attach(&g->books, c->key);
	if (i < 0 || g->books.attaches[i].state != BOOKS_ATTACH_ATTACHED) {
		reply_error(c->d, c->m, i < 0 ? MMIOD_ERROR_NO_SUCH_DEVICE : MMIOD_ERROR_BUSY,
			    i < 0 ? "no such device attached by mmiod" : "the device is being attached or detached");
		simple_free(c);
		return;
	}
	struct books_attach *a = &g->books.attaches[i];
	snprintf(c->key, sizeof(c->key), "%s", a->id);
	a->state = BOOKS_ATTACH_DETACHING;
	daemon_guest_changed(g, "Attaches", NULL);
	if (g->bi->drv->detach(g->bi->be, g->tsd_id, a->tsd_id[0] ? a->tsd_id : a->id, 0, detach_done,
			       c, &err) < 0) {
		a->state = BOOKS_ATTACH_ATTACHED;
		daemon_guest_changed(g, "Attaches", NULL);
		reply_error(c->d, c->m, MMIOD_ERROR_TOOLSTACK_FAILED, err.msg);
		simple_free(c);
	}
}

static struct simple_ctx *simple_new(struct daemon *d, sd_bus_message *m)
{
	struct simple_ctx *c = calloc(1, sizeof(*c));
	if (c) {
		c->d = d;
		c->m = sd_bus_message_ref(m);
	}
	return c;
}

static int method_detach(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	struct simple_ctx *c = simple_new(d, m);
	const char *gname, *key;
	ssize_t i;
	int r;

	if (!c)
		return -ENOMEM;
	r = sd_bus_message_read(m, "ss", &gname, &key);
	if (r >= 0)
		r = read_opts(m, MMIOD_OPT_INTERACTIVE, &c->o, error);
	if (r < 0)
		goto fail;
	c->g = daemon_guest_lookup(d, gname, error);
	if (!c->g) {
		r = -ENOENT;
		goto fail;
	}
	c->g->ops++;
	snprintf(c->key, sizeof(c->key), "%s", key);
	i = books_find_attach(&c->g->books, key);
	if (i < 0) {
		r = sd_bus_error_setf(error, MMIOD_ERROR_NO_SUCH_DEVICE,
				      "\"%.200s\" is not a device mmiod attached to %s (give the attach id, host BDF or device spec)",
				      key, c->g->id);
		goto fail;
	}
	if (!c->g->bi->drv->detach) {
		r = sd_bus_error_setf(error, MMIOD_ERROR_NOT_SUPPORTED, "the %s back end cannot detach devices",
				      c->g->bi->drv->name);
		goto fail;
	}
	r = authz_check(d->bus, m, MMIOD_POLKIT_ACTION_MANAGE, c->o.interactive, detach_authorized, c);
	if (r < 0)
		goto fail;
	return 1;
fail:
	simple_free(c);
	return r;
}

/* ---- Reserve / Release -------------------------------------------------------- */

static void reserve_now(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct simple_ctx *c = ud;
	struct mmio_error err = { 0 };
	sd_bus_message *reply = NULL;
	char id[BOOKS_ID_MAX];
	int r;

	if (g->gone || rc != TSD_OK) {
		reply_error(c->d, c->m, g->gone ? MMIOD_ERROR_NO_SUCH_GUEST : bus_error_from_rc(rc),
			    g->gone ? "the guest went away" : msg ? msg : tsd_rc_name(rc));
		simple_free(c);
		return;
	}
	daemon_new_id(c->d, 'r', id, sizeof(id));
	if (books_reserve(&g->books, c->devs, (const char *const *)c->specs, c->n, id, c->o.label,
			  &err) != MMIO_OK) {
		log_full(LOG_NOTICE, &(struct log_fields){ .guest = g->id, .message_id = MMIOD_MESSAGE_REJECT },
			 "reservation refused: %s", err.msg);
		reply_error(c->d, c->m, bus_error_from_status(err.code), err.msg);
		simple_free(c);
		return;
	}
	if (daemon_save(c->d) < 0) {
		books_release(&g->books, g->books.nres - 1);
		reply_error(c->d, c->m, SD_BUS_ERROR_IO_ERROR, "cannot write the state file");
		simple_free(c);
		return;
	}
	log_full(LOG_INFO, &(struct log_fields){ .guest = g->id, .message_id = MMIOD_MESSAGE_RESERVE },
		 "reservation %s (%s): %zu device(s), %" PRIu64 " bytes", id, c->o.label, c->n,
		 books_reservation_bytes(&g->books.res[g->books.nres - 1]));
	daemon_guest_changed(g, "Reservations", "Windows", NULL);
	r = sd_bus_message_new_method_return(c->m, &reply);
	if (r >= 0)
		r = sd_bus_message_append(reply, "s", id);
	if (r >= 0)
		r = bus_append_placement(reply, g->books.res[g->books.nres - 1].devs, c->n);
	if (r >= 0)
		sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	daemon_bus_kick(c->d);
	simple_free(c);
}

static void reserve_authorized(void *ud, bool allowed, const sd_bus_error *e)
{
	struct simple_ctx *c = ud;
	struct mmio_error err = { 0 };

	if (!allowed) {
		reply_sd_error(c->d, c->m, e);
		simple_free(c);
		return;
	}
	if (!c->g->books.have_layout) {
		if (daemon_refresh(c->g, reserve_now, c, &err) < 0) {
			reply_error(c->d, c->m, MMIOD_ERROR_TOOLSTACK_FAILED, err.msg);
			simple_free(c);
		}
		return;
	}
	reserve_now(c, c->g, TSD_OK, NULL);
}

static int method_reserve(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	struct simple_ctx *c = simple_new(d, m);
	const char *gname;
	int r;

	if (!c)
		return -ENOMEM;
	r = sd_bus_message_read(m, "s", &gname);
	if (r >= 0)
		r = sd_bus_message_read_strv(m, &c->specs);
	if (r >= 0)
		r = read_opts(m, MMIOD_OPT_LABEL " " MMIOD_OPT_INTERACTIVE, &c->o, error);
	if (r < 0)
		goto fail;
	c->g = daemon_guest_lookup(d, gname, error);
	if (!c->g) {
		r = -ENOENT;
		goto fail;
	}
	c->g->ops++;
	r = resolve_devices(d, c->specs, c->devs, &c->n, error);
	if (r < 0)
		goto fail;
	r = authz_check(d->bus, m, MMIOD_POLKIT_ACTION_MANAGE, c->o.interactive, reserve_authorized, c);
	if (r < 0)
		goto fail;
	return 1;
fail:
	simple_free(c);
	return r;
}

static void release_authorized(void *ud, bool allowed, const sd_bus_error *e)
{
	struct simple_ctx *c = ud;
	struct guest *g = c->g;
	ssize_t i;

	if (!allowed || g->gone) {
		if (!allowed)
			reply_sd_error(c->d, c->m, e);
		else
			reply_error(c->d, c->m, MMIOD_ERROR_NO_SUCH_GUEST, "the guest went away");
		simple_free(c);
		return;
	}
	i = books_find_reservation(&g->books, c->key);
	if (i < 0) {
		reply_error(c->d, c->m, MMIOD_ERROR_NO_SUCH_RESERVATION, "no such reservation");
		simple_free(c);
		return;
	}
	books_release(&g->books, (size_t)i);
	if (daemon_save(c->d) < 0) {
		reply_error(c->d, c->m, SD_BUS_ERROR_IO_ERROR, "released, but the state file could not be written");
	} else {
		log_full(LOG_INFO, &(struct log_fields){ .guest = g->id, .message_id = MMIOD_MESSAGE_RELEASE },
			 "reservation %s released", c->key);
		daemon_guest_changed(g, "Reservations", "Windows", NULL);
		sd_bus_reply_method_return(c->m, "");
		daemon_bus_kick(c->d);
	}
	simple_free(c);
}

static int method_release(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	struct simple_ctx *c = simple_new(d, m);
	const char *gname, *id;
	int r;

	if (!c)
		return -ENOMEM;
	r = sd_bus_message_read(m, "ss", &gname, &id);
	if (r >= 0)
		r = read_opts(m, MMIOD_OPT_INTERACTIVE, &c->o, error);
	if (r < 0)
		goto fail;
	c->g = daemon_guest_lookup(d, gname, error);
	if (!c->g) {
		r = -ENOENT;
		goto fail;
	}
	c->g->ops++;
	if (books_find_reservation(&c->g->books, id) < 0) {
		r = sd_bus_error_setf(error, MMIOD_ERROR_NO_SUCH_RESERVATION,
				      "guest %s has no reservation \"%.200s\"", c->g->id, id);
		goto fail;
	}
	snprintf(c->key, sizeof(c->key), "%s", id);
	r = authz_check(d->bus, m, MMIOD_POLKIT_ACTION_MANAGE, c->o.interactive, release_authorized, c);
	if (r < 0)
		goto fail;
	return 1;
fail:
	simple_free(c);
	return r;
}

/* ---- Plan, ListProfiles ---------------------------------------------------- */

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

struct plan_out {
	bool possible;
	char reason[2048];
	bool have_qemu, have_xen;
	struct mmio_qemu_plan q;
	enum mmio_qemu_machine machine;
	struct mmio_plan_result x;
	char xl_cfg[128], qemu_args[256], libvirt_xml[256];
	char port_args[1024];   /* q35: one -device pcie-root-port per device */
};

static void reason_append(struct plan_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason_append(struct plan_out *o, const char *fmt, ...)
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

static enum mmio_status plan_qemu(struct plan_out *o, const struct mmio_device *devs, size_t n,
				  const struct guest *g, struct mmio_error *err)
{
	/* the 64-bit hole must hold what the guest has as well as the new devices */
	struct mmio_device *all = calloc(n + 2 * MAX_DEVICES, sizeof(*all));
	size_t k = 0;
	enum mmio_status st;
	char sz[32];

	if (!all)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	if (g)
		live_devices(g, all, &k, 2 * MAX_DEVICES);
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
	if (g) {
		reason_append(o, "QEMU (%s), counting the %zu device(s) guest %s has: ",
			      o->machine == MMIO_QEMU_Q35 ? "q35" : "pc", nlive, g->id);
	} else {
		reason_append(o, "QEMU (%s): ", o->machine == MMIO_QEMU_Q35 ? "q35" : "pc");
	}
	reason_append(o, "%s", o->q.reason);
	/* Behind hot-plug ports the port's own windows bound each device:
	 * what to reserve per port (one device each). */
	if (o->machine == MMIO_QEMU_Q35) {
		size_t off = 0;
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
		}
		reason_append(o, " (a reserved window is aligned only to 1 MiB, so each reserves the "
			      "BARs plus one largest BAR of slack).");
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
	return MMIO_OK;
}

static enum mmio_status plan_xen(struct plan_out *o, const struct mmio_device *devs, size_t n,
				 const struct guest *g, const struct opts *opt, struct mmio_error *err)
{
	struct mmio_device boot[2 * MAX_DEVICES];
	size_t nboot = 0;
	enum mmio_xen_rule rule = MMIO_XEN_4_17_4_PLUS;
	uint32_t mib = opt->have_xen_memory ? opt->xen_memory_mib : XEN_DEFAULT_MEMORY_MIB;
	enum mmio_status st;

	if (opt->xen_version[0]) {
		bool found = false;
		for (int r = MMIO_XEN_4_17_0; r <= MMIO_XEN_4_21_PLUS; r++)
			if (strcmp(opt->xen_version, mmio_xen_rule_name((enum mmio_xen_rule)r)) == 0)
				rule = (enum mmio_xen_rule)r, found = true;
		if (!found)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "option \"" OPT_XEN_VERSION "\": \"%s\" is not one of %s, %s, %s",
					      opt->xen_version, mmio_xen_rule_name(MMIO_XEN_4_17_0),
					      mmio_xen_rule_name(MMIO_XEN_4_17_4_PLUS),
					      mmio_xen_rule_name(MMIO_XEN_4_21_PLUS));
	}
	if (mib < 64 || mib > (UINT32_C(1) << 24))
		return mmio_error_set(err, MMIO_E_INVALID,
				      "option \"" OPT_XEN_MEMORY_MIB "\": %" PRIu32 " MiB is out of range (64..16777216)", mib);
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
	st = mmio_plan_xen(&p, &o->x, err);
	if (st != MMIO_OK)
		return st;
	o->have_xen = true;
	if (o->x.verdict == MMIO_PLAN_NEEDS_HOLE)
		snprintf(o->xl_cfg, sizeof(o->xl_cfg), "mmio_hole = %u", o->x.hole_mb);
	if (o->reason[0])
		reason_append(o, "\n");
	reason_append(o, "Xen %s (maxmem %" PRIu32 " MiB%s, %s boot devices): %s",
		      mmio_xen_rule_name(rule), mib, opt->have_xen_memory ? "" : " assumed",
		      from_guest ? "the guest's" : "xl's default", o->x.reason);
	return MMIO_OK;
}

static int plan_reply(sd_bus_message *m, const struct plan_out *o)
{
	sd_bus_message *reply = NULL;
	int r = sd_bus_message_new_method_return(m, &reply);

	if (r >= 0)
		r = sd_bus_message_append(reply, "bs", (int)o->possible, o->reason);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "{sv}");
	if (r >= 0 && o->have_xen) {
		r = sd_bus_message_append(reply, "{sv}", "mmio_hole_mib", "u",
					  (uint32_t)(o->x.verdict == MMIO_PLAN_NEEDS_HOLE ? o->x.hole_mb : 0));
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "high_window_bytes", "t", o->x.high_used);
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "xl_cfg", "s", o->xl_cfg);
	}
	if (r >= 0 && o->have_qemu) {
		r = sd_bus_message_append(reply, "{sv}", "pci_hole64_bytes", "t", o->q.hole64_size);
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "qemu_args", "s", o->qemu_args);
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "libvirt_xml", "s", o->libvirt_xml);
		if (r >= 0 && o->machine == MMIO_QEMU_Q35)
			r = sd_bus_message_append(reply, "{sv}", "port_args", "s", o->port_args);
	}
	/* 32-bit demand: QEMU's packed figure when there is one, else Xen's sum */
	if (r >= 0 && (o->have_qemu || o->have_xen))
		r = sd_bus_message_append(reply, "{sv}", "low_bytes_needed", "t",
					  o->have_qemu ? o->q.low_need : o->x.later32);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int method_plan(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	struct mmio_device devs[MAX_DEVICES];
	struct mmio_error err = { 0 };
	struct plan_out *o = NULL;
	struct guest *g = NULL;
	char **specs = NULL;
	const char *gname;
	struct opts opt;
	size_t n = 0;
	int r;

	r = sd_bus_message_read_strv(m, &specs);
	if (r >= 0)
		r = sd_bus_message_read(m, "s", &gname);
	if (r >= 0)
		r = read_opts(m, OPT_MACHINE " " OPT_XEN_MEMORY_MIB " " OPT_XEN_VERSION, &opt, error);
	if (r < 0)
		goto out;
	if (gname[0] && !(g = daemon_guest_lookup(d, gname, error))) {
		r = -ENOENT;
		goto out;
	}
	r = resolve_devices(d, specs, devs, &n, error);
	if (r < 0)
		goto out;
	o = calloc(1, sizeof(*o));
	if (!o) {
		r = -ENOMEM;
		goto out;
	}
	if (!opt.machine[0] && g && g->books.layout.ports_only)
		o->machine = MMIO_QEMU_Q35;     /* the guest's back end knows (QMP: q35) */
	else if (!opt.machine[0] || strcmp(opt.machine, "pc") == 0 || strcmp(opt.machine, "i440fx") == 0)
		o->machine = MMIO_QEMU_I440FX;
	else if (strcmp(opt.machine, "q35") == 0)
		o->machine = MMIO_QEMU_Q35;
	else {
		r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
				      "option \"" OPT_MACHINE "\": \"%s\" is not pc, i440fx or q35", opt.machine);
		goto out;
	}
	/* With a guest its back end decides which planner applies; without
	 * one both are planned (Xen with xl's defaults unless the xen-*
	 * options say otherwise), since the admin asks before choosing. */
	bool xen_guest = g && strcmp(g->bi->drv->name, "libxl") == 0;
	bool want_xen = g ? xen_guest : true;
	bool want_qemu = !xen_guest;
	enum mmio_status st = MMIO_OK;
	if (want_qemu)
		st = plan_qemu(o, devs, n, g, &err);
	if (st == MMIO_OK && want_xen)
		st = plan_xen(o, devs, n, g, &opt, &err);
	if (st != MMIO_OK) {
		r = sd_bus_error_set(error, st == MMIO_E_INVALID && strstr(err.msg, "option \"") ?
				     SD_BUS_ERROR_INVALID_ARGS : bus_error_from_status(st), err.msg);
		goto out;
	}
	/* Possible = some planned toolstack can take the devices.  QEMU's
	 * 64-bit hole is a setting that can always grow; its 32-bit hole cannot
	 * pass 3.75 GiB (RAM starts at 0, the I/O APIC, LAPIC and firmware sit
	 * at the top), whatever the machine. */
	bool qemu_ok = o->have_qemu && o->q.low_need <= QEMU_MAX_LOW_BYTES;
	bool xen_ok = o->have_xen && o->x.verdict != MMIO_PLAN_IMPOSSIBLE;
	o->possible = qemu_ok || xen_ok;
	if (o->have_qemu && !qemu_ok) {
		char need[32];
		mmio_size_format(o->q.low_need, need, sizeof(need));
		reason_append(o, "\nQEMU: %s of 32-bit BARs cannot fit below 4 GiB on any machine.", need);
	}
	r = plan_reply(m, o);
	if (r >= 0)
		r = 1;
out:
	free(o);
	strv_free(specs);
	return r;
}

static void bars_spec(const struct mmio_device *dev, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "bars:");

	for (unsigned i = 0; i < dev->nbars && off < len; i++) {
		uint64_t s = dev->bars[i].size;
		const char *u = "";
		if (s >= (UINT64_C(1) << 40) && !(s & ((UINT64_C(1) << 40) - 1))) s >>= 40, u = "T";
		else if (s >= (UINT64_C(1) << 30) && !(s & ((UINT64_C(1) << 30) - 1))) s >>= 30, u = "G";
		else if (s >= (UINT64_C(1) << 20) && !(s & ((UINT64_C(1) << 20) - 1))) s >>= 20, u = "M";
		else if (s >= 1024 && !(s & 1023)) s >>= 10, u = "K";
		off += (size_t)snprintf(buf + off, len - off, "%s%s:%" PRIu64 "%s", i ? "," : "",
					mmio_bar_kind_name(&dev->bars[i]), s, u);
	}
}

static int method_list_profiles(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	sd_bus_message *reply = NULL;
	char spec[512];
	int r;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_PROFILE);
	for (size_t i = 0; r >= 0 && d->have_cat && i < d->cat.n; i++) {
		const struct mmio_profile *p = &d->cat.profiles[i];
		bars_spec(&p->device, spec, sizeof(spec));
		r = sd_bus_message_append(reply, MMIOD_SIG_PROFILE, p->name, p->description, spec, p->source);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

/* ---- properties ------------------------------------------------------------ */

static int get_version(sd_bus *bus, const char *path, const char *iface, const char *prop,
		       sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "u", MMIOD_API_VERSION);
}

static int get_backends(sd_bus *bus, const char *path, const char *iface, const char *prop,
			sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct daemon *d = ud;
	int r = sd_bus_message_open_container(reply, 'a', "s");

	for (size_t i = 0; r >= 0 && i < d->nbackends; i++)
		if (d->backends[i]->be)
			r = sd_bus_message_append(reply, "s", d->backends[i]->spec);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* Everything is SD_BUS_VTABLE_UNPRIVILEGED: read-only calls need no
 * credentials at all (sd-bus would otherwise fetch them on every call);
 * the state-changing ones ask authz.c. */
#define OPEN SD_BUS_VTABLE_UNPRIVILEGED
const sd_bus_vtable bus_manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "u", get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Backends", "as", get_backends, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_ARGS("Check",
		SD_BUS_ARGS("s", guest, "as", devices, "a{sv}", options),
		SD_BUS_RESULT("b", fits, "s", reason, "a(suststb)", placement),
		method_check, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Attach",
		SD_BUS_ARGS("s", guest, "s", device, "a{sv}", options),
		SD_BUS_RESULT("s", attach_id, "a(suststb)", placement),
		method_attach, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Detach",
		SD_BUS_ARGS("s", guest, "s", device, "a{sv}", options),
		SD_BUS_NO_RESULT,
		method_detach, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Reserve",
		SD_BUS_ARGS("s", guest, "as", devices, "a{sv}", options),
		SD_BUS_RESULT("s", id, "a(suststb)", placement),
		method_reserve, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Release",
		SD_BUS_ARGS("s", guest, "s", id, "a{sv}", options),
		SD_BUS_NO_RESULT,
		method_release, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Plan",
		SD_BUS_ARGS("as", devices, "s", guest, "a{sv}", options),
		SD_BUS_RESULT("b", possible, "s", reason, "a{sv}", result),
		method_plan, OPEN),
	SD_BUS_METHOD_WITH_ARGS("ListProfiles",
		SD_BUS_NO_ARGS,
		SD_BUS_RESULT("a(ssss)", profiles),
		method_list_profiles, OPEN),
	SD_BUS_SIGNAL_WITH_ARGS("AttachFinished",
		SD_BUS_ARGS("s", guest, "s", attach_id, "s", device, "b", success, "s", error_name,
			    "s", message), 0),
	SD_BUS_SIGNAL_WITH_ARGS("GuestAdded", SD_BUS_ARGS("s", guest, "o", path), 0),
	SD_BUS_SIGNAL_WITH_ARGS("GuestRemoved", SD_BUS_ARGS("s", guest, "o", path), 0),
	SD_BUS_VTABLE_END
};

int bus_manager_register(struct daemon *d)
{
	int r = sd_bus_add_object_vtable(d->bus, NULL, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER,
					 bus_manager_vtable, d);
	if (r >= 0)
		r = sd_bus_add_object_manager(d->bus, NULL, MMIOD_PATH_ROOT);
	return r;
}
