/* SPDX-License-Identifier: MIT */
/*
 * bus.h — what the D-Bus layer (bus-*.c) shares.  The bus files only
 * unpack a call, ask authz.c, call the operations (ops.h) and pack what
 * comes back; the daemon hears nothing of them but through its observer
 * (bus-service.c installs it).
 */
#ifndef MMIOD_BUS_H
#define MMIOD_BUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "books.h"
#include "bus-loop.h"
#include "daemon.h"
#include "ops-error.h"

struct authz;
struct bus_loop;

/* Manager methods whose calls and error replies are counted (the Calls
 * property; mmioctl metrics), in the order of bus_counted_methods[]. */
#define BUS_COUNTED_METHODS 7
extern const char *const bus_counted_methods[BUS_COUNTED_METHODS];

struct bus_ctx {
	struct daemon *d;
	sd_bus *bus;
	struct bus_loop *loop;
	struct authz *authz;            /* polkit queries in flight */
	uint64_t calls[BUS_COUNTED_METHODS];    /* since start; a call asking polkit counts once */
	uint64_t errors[BUS_COUNTED_METHODS];   /* error replies among them */
};

/* Processes the bus soon (after sending from outside a method handler). */
static inline void bus_kick(struct bus_ctx *bc)
{
	bus_loop_kick(bc->loop);
}

/* ---- bus-service.c: connection, objects, observer, name ---------------------- */
int bus_service_start(struct bus_ctx *bc, struct daemon *d);
int bus_service_own_name(struct bus_ctx *bc);
void bus_service_stop(struct bus_ctx *bc);

/* ---- bus-manager.c ---------------------------------------------------------- */
extern const sd_bus_vtable bus_manager_vtable[];
int bus_manager_register(struct bus_ctx *bc);
void bus_manager_backends_changed(struct bus_ctx *bc);
void bus_manager_attach_finished(struct bus_ctx *bc, const struct guest *g, const char *attach_id,
				 const char *device, const struct ops_error *err);
/* Placement array "a(suststb)" from entries (n may be 0 with e NULL). */
int bus_append_placement(sd_bus_message *m, const struct books_entry *e, size_t n);

/* ---- bus-guest.c ---------------------------------------------------------------- */
extern const sd_bus_vtable bus_guest_vtable[];
int bus_guest_register(struct bus_ctx *bc);
void bus_guest_announce(struct bus_ctx *bc, const struct guest *g, bool added);
void bus_guest_changed(struct bus_ctx *bc, const struct guest *g, unsigned what);

/* ---- introspection without a bus (introspect.c) --------------------------- */
/* Prints <interface> XML generated from a vtable. */
void bus_introspect_print(FILE *f, const char *iface, const sd_bus_vtable *vt);

#endif
