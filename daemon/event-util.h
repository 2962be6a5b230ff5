/* SPDX-License-Identifier: MIT */
/* event-util.h — libevent helpers: event_free() takes no NULL. */
#ifndef MMIOD_EVENT_UTIL_H
#define MMIOD_EVENT_UTIL_H

#include <event2/event.h>

/* Frees *ev if set and clears it (also as _cleanup_(event_freep)). */
static inline void event_freep(struct event **ev)
{
	if (*ev) {
		event_free(*ev);
		*ev = NULL;
	}
}

#endif
