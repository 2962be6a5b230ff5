/* SPDX-License-Identifier: MIT */
/* bus-loop.c — sd-bus on libevent (bus-loop.h). */
#include "config.h"

#include <assert.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "bus-loop.h"
#include "event-util.h"

struct bus_loop {
	sd_bus *bus;
	struct event_base *base;
	struct event *io, *timer, *kick;
	void (*failed)(void *ud, int r);
	void *ud;
	bool broken;
};

static void rearm(struct bus_loop *l);

static void process(struct bus_loop *l)
{
	int r;

	if (l->broken)
		return;
	do {
		r = sd_bus_process(l->bus, NULL);
	} while (r > 0);
	if (r < 0) {
		l->broken = true;
		l->failed(l->ud, r);
		return;
	}
	rearm(l);
}

static void io_cb(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	process(ud);
}

/* Re-arms the fd for what sd-bus wants now (POLLIN and/or POLLOUT) and the
 * timer for its next timeout. */
static void rearm(struct bus_loop *l)
{
	int events = sd_bus_get_events(l->bus);
	uint64_t usec = UINT64_MAX;
	short ev = EV_PERSIST;

	if (events < 0)
		return;
	if (events & POLLIN)
		ev |= EV_READ;
	if (events & POLLOUT)
		ev |= EV_WRITE;
	event_freep(&l->io);
	l->io = event_new(l->base, sd_bus_get_fd(l->bus), ev, io_cb, l);
	event_add(l->io, NULL);

	event_del(l->timer);
	if (sd_bus_get_timeout(l->bus, &usec) >= 0 && usec != UINT64_MAX) {
		struct timespec ts;
		uint64_t now;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
		uint64_t rel = usec > now ? usec - now : 0;
		struct timeval tv = { (time_t)(rel / 1000000u), (suseconds_t)(rel % 1000000u) };
		event_add(l->timer, &tv);
	}
}

struct bus_loop *bus_loop_new(sd_bus *bus, struct event_base *base, void (*failed)(void *ud, int r),
			      void *ud)
{
	struct bus_loop *l;

	assert(bus && base && failed);
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	*l = (struct bus_loop){ .bus = bus, .base = base, .failed = failed, .ud = ud };
	l->timer = evtimer_new(base, io_cb, l);
	l->kick = event_new(base, -1, 0, io_cb, l);
	if (!l->timer || !l->kick) {
		bus_loop_free(l);
		return NULL;
	}
	return l;
}

void bus_loop_kick(struct bus_loop *l)
{
	if (l)
		event_active(l->kick, 0, 0);
}

void bus_loop_free(struct bus_loop *l)
{
	if (!l)
		return;
	event_freep(&l->io);
	event_freep(&l->timer);
	event_freep(&l->kick);
	free(l);
}
