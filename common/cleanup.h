/* SPDX-License-Identifier: MIT */
/*
 * cleanup.h — scope-based cleanup as systemd and bolt use it: a variable
 * declared _cleanup_(fn) has fn(&var) run when it goes out of scope, so an
 * early return frees what was taken so far.  sd-bus ships its own
 * (sd_bus_message_unrefp, sd_bus_error_free, ...); these are for ours.
 *
 *	_cleanup_free_ char *s = strdup(x);
 *	_cleanup_(strv_freep) char **v = NULL;
 *	return TAKE_PTR(s);             // hand it on: the cleanup sees NULL
 */
#ifndef MMIOD_CLEANUP_H
#define MMIOD_CLEANUP_H

#include <stdlib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* fnp(type *p) calling fn(*p) when *p is set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, fn)          \
	static inline void fn##p(type *p)              \
	{                                              \
		if (*p)                                \
			fn(*p);                        \
	}

/* Returns *ptr and sets it to NULL: ownership leaves the scope. */
#define TAKE_PTR(ptr)                                  \
	({                                             \
		__typeof__(ptr) *_pp = &(ptr);         \
		__typeof__(ptr) _p = *_pp;             \
		*_pp = NULL;                           \
		_p;                                    \
	})

#endif
