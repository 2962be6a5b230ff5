/* SPDX-License-Identifier: MIT */
/* bus-errors.h — the one error table: mmiod's error kinds (ops-error.h) and
 * the model's and back ends' codes ↔ D-Bus names ↔ errno.  No other file
 * picks a D-Bus error name for a failure. */
#ifndef MMIOD_BUS_ERRORS_H
#define MMIOD_BUS_ERRORS_H

#include <systemd/sd-bus.h>

#include "mmio-model.h"
#include "ops-error.h"
#include "toolstack.h"

extern const sd_bus_error_map bus_error_map[];

/* Registers the map (idempotent); the client calls it too. */
int bus_errors_register(void);
const char *bus_error_from_status(enum mmio_status st);   /* D-Bus error name */
const char *bus_error_from_rc(enum tsd_rc rc);
/* Fills e (sd_bus_error_set, returns its negative errno) */
int bus_error_set_status(sd_bus_error *e, enum mmio_status st, const char *msg);
int bus_error_set_rc(sd_bus_error *e, enum tsd_rc rc, const char *msg);

/* The D-Bus name of an operation's error. */
const char *bus_error_name(const struct ops_error *err);
/* Fills e from err; returns its negative errno (for a method's return). */
int bus_error_set_ops(sd_bus_error *e, const struct ops_error *err);
/* Answers a held call with err. */
int bus_reply_ops_error(sd_bus_message *m, const struct ops_error *err);
/* Answers a held call whose reply could not be built. */
int bus_reply_unbuilt(sd_bus_message *m);

#endif
