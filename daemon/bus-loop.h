/* SPDX-License-Identifier: MIT */
/*
 * bus-loop.h — sd-bus driven by libevent: the connection's fd is watched
 * for what sd_bus_get_events() asks, its next timeout (method call
 * timeouts, authentication) is a libevent timer, and everything is
 * processed until sd-bus has nothing left to do.
 */
#ifndef MMIOD_BUS_LOOP_H
#define MMIOD_BUS_LOOP_H

#include <systemd/sd-bus.h>

struct event_base;
struct bus_loop;

/* failed(ud, r) runs once when processing fails (r: negative errno); the
 * loop stops processing then. */
struct bus_loop *bus_loop_new(sd_bus *bus, struct event_base *base, void (*failed)(void *ud, int r),
			      void *ud);
/* Processes the bus soon and re-arms: after sending from outside a
 * method handler (a reply to a held call, a signal). */
void bus_loop_kick(struct bus_loop *l);
void bus_loop_free(struct bus_loop *l);

#endif
