/* SPDX-License-Identifier: MIT */
/*
 * authz.h — the only authorization decision in mmiod.  State-changing
 * methods (Attach, Detach, Reserve, Release) need uid 0 or the polkit
 * action org.mmiod1.manage; read-only methods need nothing.  Both steps
 * are asynchronous (the caller's uid from the bus driver, then polkit's
 * CheckAuthorization), so the loop never blocks on them.
 *
 * The flow is systemd's (hostnamed, timedated: bus_verify_polkit_async):
 * a method calls authz_verify; the first time it asks and returns 0, and
 * the method returns 1 having sent nothing.  When the answer is in, the
 * very call is queued again (sd_bus_enqueue_for_read) and the method runs
 * a second time from the start; now authz_verify returns 1 (allowed) or
 * < 0 with error set (AccessDenied and the reason).  So each method is one
 * function, and it validates again what may have changed meanwhile.
 */
#ifndef MMIOD_AUTHZ_H
#define MMIOD_AUTHZ_H

#include <stdbool.h>
#include <systemd/sd-bus.h>

struct authz;

struct authz *authz_new(sd_bus *bus);
/* Drops the queries still in flight (their calls get no answer). */
void authz_free(struct authz *a);

/* 1: allowed; 0: asked, the method runs again later; < 0: denied or the
 * question could not be asked (error set). */
int authz_verify(struct authz *a, sd_bus_message *m, const char *action, bool interactive,
		 sd_bus_error *error);

/* True while the question about m is out (the method will run again). */
bool authz_pending(struct authz *a, sd_bus_message *m);

#endif
