/* SPDX-License-Identifier: MIT */
/*
 * authz.h — the only authorization decision in mmiod.  State-changing
 * methods (Attach, Detach, Reserve, Release) need uid 0 or the polkit
 * action org.mmiod1.manage; read-only methods need nothing.  Both steps
 * are asynchronous (the caller's uid from the bus driver, then polkit's
 * CheckAuthorization), so the loop never blocks on them.
 */
#ifndef MMIOD_AUTHZ_H
#define MMIOD_AUTHZ_H

#include <stdbool.h>
#include <systemd/sd-bus.h>

/* Called exactly once.  allowed=false: error holds AccessDenied with a reason. */
typedef void (*authz_fn)(void *ud, bool allowed, const sd_bus_error *error);

/* Starts the check for the sender of m.  Returns 0 when started (cb will run
 * later), < 0 on failure (cb not called). */
int authz_check(sd_bus *bus, sd_bus_message *m, const char *action, bool interactive,
		authz_fn cb, void *ud);

#endif
