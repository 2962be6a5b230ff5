/* SPDX-License-Identifier: MIT */
/*
 * toolstack-registry.h — the back ends compiled into this build, by name.
 * Above the back ends (it lists each one's driver) and below main.c: the
 * operation base in toolstack.c knows none of them.
 */
#ifndef MMIOD_TOOLSTACK_REGISTRY_H
#define MMIOD_TOOLSTACK_REGISTRY_H

#include "toolstack.h"

/* The driver called NAME, NULL when this build has none. */
const struct tsd_driver *tsd_driver_find(const char *name);
/* Comma-separated names of compiled-in drivers, for --help and the Backends property. */
const char *tsd_driver_names(void);

#endif
