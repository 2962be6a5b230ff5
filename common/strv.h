/* SPDX-License-Identifier: MIT */
/*
 * strv.h — NULL-terminated string vectors (char **), as sd-bus reads them
 * (sd_bus_message_read_strv) and as the daemon's configuration and the
 * client's arguments keep them.
 */
#ifndef MMIOD_STRV_H
#define MMIOD_STRV_H

#include <stddef.h>

/* Frees every string and the vector; NULL is fine. */
void strv_free(char **v);
/* For _cleanup_(strv_freep). */
static inline void strv_freep(char ***v)
{
	strv_free(*v);
	*v = NULL;
}
size_t strv_length(char *const *v);
/* Appends a copy of s.  Returns 0, or -1 when out of memory (*v unchanged). */
int strv_push(char ***v, const char *s);

#endif
