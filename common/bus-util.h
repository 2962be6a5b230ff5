/* SPDX-License-Identifier: MIT */
/*
 * bus-util.h — what the daemon and the client do alike on D-Bus: open
 * the connection, read an a{sv} (options, property sets, Plan's result:
 * each entry's key goes to a callback that reads its variant or skips it).
 */
#ifndef MMIOD_BUS_UTIL_H
#define MMIOD_BUS_UTIL_H

#include <stdbool.h>
#include <systemd/sd-bus.h>

/* The bus at address (a private connection that says Hello), else the
 * session bus, else the system bus (honouring DBUS_SYSTEM_BUS_ADDRESS).
 * Returns 0 or a negative errno (*out NULL). */
int bus_open(const char *address, bool session, sd_bus **out);

/* Reads or skips the variant of key; < 0 stops the walk with that error. */
typedef int (*bus_dict_entry_fn)(sd_bus_message *m, const char *key, void *ud);

/* Walks the a{sv} at m's read position. */
int bus_dict_read(sd_bus_message *m, bus_dict_entry_fn entry, void *ud);

#endif
