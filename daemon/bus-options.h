/* SPDX-License-Identifier: MIT */
/*
 * bus-options.h — the a{sv} options of org.mmiod1.Manager's methods,
 * unpacked: each method names the keys it takes, anything else is refused
 * (InvalidArgs, named by bus-errors.c).
 */
#ifndef MMIOD_BUS_OPTIONS_H
#define MMIOD_BUS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "books.h"

/* Plan's options: not in mmiod-names.h (the client does not send them yet). */
#define BUS_OPT_MACHINE        "machine"
#define BUS_OPT_XEN_MEMORY_MIB "xen-memory-mib"
#define BUS_OPT_XEN_VERSION    "xen-version"
#define BUS_OPT_FIRMWARE       "firmware"

struct bus_opts {
	int refresh, wait, interactive, persistent, assignable;
	char qemu_device[BOOKS_SPEC_MAX];
	char reservation[BOOKS_ID_MAX];
	char label[128];
	char port[64];
	char machine[16];
	char xen_version[16];
	char firmware[16];
	uint32_t xen_memory_mib;
	bool have_xen_memory;
};

/* Reads a{sv} into o (wait defaults to true, the rest to 0 or "");
 * accepts only the keys in `allowed` (space-separated). */
int bus_opts_read(sd_bus_message *m, const char *allowed, struct bus_opts *o, sd_bus_error *error);

#endif
