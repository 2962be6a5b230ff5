/* SPDX-License-Identifier: MIT */
/* bus-errors.h — the one error table: model/toolstack codes ↔ D-Bus names ↔ errno. */
#ifndef MMIOD_BUS_ERRORS_H
#define MMIOD_BUS_ERRORS_H

#include <systemd/sd-bus.h>

#include "mmio-model.h"
#include "toolstack.h"

extern const sd_bus_error_map bus_error_map[];

/* Registers the map (idempotent); the client calls it too. */
int bus_errors_register(void);
const char *bus_error_from_status(enum mmio_status st);   /* D-Bus error name */
const char *bus_error_from_rc(enum tsd_rc rc);
/* Fills e (sd_bus_error_set, returns its negative errno) */
int bus_error_set_status(sd_bus_error *e, enum mmio_status st, const char *msg);
int bus_error_set_rc(sd_bus_error *e, enum tsd_rc rc, const char *msg);

#endif
