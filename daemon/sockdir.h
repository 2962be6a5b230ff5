/* SPDX-License-Identifier: MIT */
/*
 * sockdir.h — watching a directory of unix sockets (the QMP back end's
 * --backend qmp:DIR, one socket a guest).
 *
 * The directory is rescanned every interval and, when inotify is
 * available, at once on a change (an inotify fd on the libevent loop;
 * without it the interval alone).  Each scan reports every socket in it,
 * in readdir order; what the sockets mean is the caller's business.  The
 * first scan runs from the loop right after sockdir_open, never inside it.
 */
#ifndef MMIOD_SOCKDIR_H
#define MMIOD_SOCKDIR_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct sockdir;

struct sockdir_entry {
	char id[64];            /* the file name without its extension: "vm1.sock" -> "vm1" */
	char path[PATH_MAX];
	dev_t dev;              /* a new process binding the same path changes these */
	ino_t ino;
};

/* One scan: v[0..n) are the sockets found now (n may be 0).  errnum is 0,
 * or why the directory could not be read (then n = 0; the watch goes on). */
typedef void (*sockdir_scan_fn)(void *ud, const struct sockdir_entry *v, size_t n, int errnum);

/* dir has no trailing slash and is shorter than PATH_MAX - 64.  Returns 0,
 * or -1 when the timer cannot be set up (errno). */
int sockdir_open(struct event_base *base, const char *dir, unsigned interval_s,
		 sockdir_scan_fn fn, void *ud, struct sockdir **out);
void sockdir_close(struct sockdir *sd);

#endif
