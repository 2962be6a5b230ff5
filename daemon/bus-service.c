/* SPDX-License-Identifier: MIT */
/*
 * bus-service.c — mmiod on D-Bus: the connection (system, session or a
 * given address), driven by the libevent loop (bus-loop.c); the Manager
 * and Guest objects; the daemon's observer, which turns what changes into
 * signals; the well-known name, requested last, once the objects exist.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "authz.h"
#include "bus-errors.h"
#include "bus-loop.h"
#include "bus-util.h"
#include "bus.h"
#include "log.h"
#include "mmiod-names.h"

/* ---- the daemon's observer ------------------------------------------------- */

static void on_guest_added(void *ud, struct guest *g)
{
	bus_guest_announce(ud, g, true);
}

static void on_guest_removed(void *ud, struct guest *g)
{
	bus_guest_announce(ud, g, false);
}

static void on_guest_changed(void *ud, struct guest *g, unsigned what)
{
	bus_guest_changed(ud, g, what);
}

static void on_backends_changed(void *ud)
{
	bus_manager_backends_changed(ud);
}

static void on_attach_finished(void *ud, struct guest *g, const char *attach_id, const char *device,
			       const struct ops_error *err)
{
	bus_manager_attach_finished(ud, g, attach_id, device, err);
}

static const struct daemon_observer bus_observer = {
	.guest_added = on_guest_added,
	.guest_removed = on_guest_removed,
	.guest_changed = on_guest_changed,
	.backends_changed = on_backends_changed,
	.attach_finished = on_attach_finished,
};

/* ---- connection ------------------------------------------------------------------ */

static void bus_failed(void *ud, int r)
{
	struct bus_ctx *bc = ud;
	struct daemon *d = bc->d;

	if (d->quitting)
		return;
	log_error("the bus connection failed: %s; exiting", strerror(-r));
	d->quitting = true;
	event_base_loopbreak(d->base);
}

static int bus_connect(struct bus_ctx *bc, const struct daemon_config *cfg)
{
	int r;

	r = bus_open(cfg->bus_address, cfg->session_bus, &bc->bus);
	if (r < 0) {
		log_error("cannot connect to the %s bus: %s",
			  cfg->bus_address ? cfg->bus_address : cfg->session_bus ? "session" : "system",
			  strerror(-r));
		return r;
	}
	bus_errors_register();
	return 0;
}

int bus_service_start(struct bus_ctx *bc, struct daemon *d)
{
	int r;

	assert(bc && d);
	*bc = (struct bus_ctx){ .d = d };
	r = bus_connect(bc, &d->cfg);
	if (r < 0)
		return r;
	bc->loop = bus_loop_new(bc->bus, d->base, bus_failed, bc);
	bc->authz = authz_new(bc->bus);
	if (!bc->loop || !bc->authz) {
		log_error("out of memory setting up the bus");
		return -ENOMEM;
	}
	r = bus_manager_register(bc);
	if (r >= 0)
		r = bus_guest_register(bc);
	if (r < 0) {
		log_error("cannot register the bus objects: %s", strerror(-r));
		return r;
	}
	d->obs = &bus_observer;
	d->obs_ud = bc;
	return 0;
}

int bus_service_own_name(struct bus_ctx *bc)
{
	int r = sd_bus_request_name(bc->bus, MMIOD_BUS_NAME, 0);

	if (r < 0) {
		log_error("cannot own %s: %s", MMIOD_BUS_NAME, strerror(-r));
		return r;
	}
	bus_kick(bc);
	return 0;
}

void bus_service_stop(struct bus_ctx *bc)
{
	if (bc->d && bc->d->obs == &bus_observer) {
		bc->d->obs = NULL;
		bc->d->obs_ud = NULL;
	}
	authz_free(bc->authz);
	bc->authz = NULL;
	bus_loop_free(bc->loop);
	bc->loop = NULL;
	if (bc->bus) {
		sd_bus_flush(bc->bus);
		sd_bus_flush_close_unref(bc->bus);
		bc->bus = NULL;
	}
}
