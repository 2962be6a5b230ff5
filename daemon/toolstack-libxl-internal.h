/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libxl-internal.h — what the libxl back end's two files share:
 * toolstack-libxl-loop.c puts libxl's log messages, file descriptors and
 * timeouts on the daemon's loop; toolstack-libxl.c (guests, operations,
 * the driver) sequences libxl's calls on top of it.
 */
#ifndef MMIOD_TOOLSTACK_LIBXL_INTERNAL_H
#define MMIOD_TOOLSTACK_LIBXL_INTERNAL_H

#include <stdbool.h>
#include <sys/time.h>

#include <event2/event.h>
#include <libxl.h>
#include <xentoollog.h>

#include "toolstack.h"

struct tsd_libxl;
struct tsd_libxl_guest;
struct tsd_libxl_fd;

struct tsd_libxl_logger {
	xentoollog_logger vtable;       /* first: libxl calls through it */
	struct tsd_libxl *be;
};

struct tsd_libxl_timeout {
	struct tsd_libxl_timeout *next, **prev;
	struct tsd_libxl *be;
	struct event *ev;
	struct timeval abs;             /* when libxl wants it (gettimeofday) */
	void *for_libxl;
};

struct tsd_libxl {
	struct tsd_backend base;        /* first: the daemon sees this */
	struct tsd_libxl_logger logger;
	libxl_ctx *ctx;
	/* libxl keeps pointers to these: they live as long as the ctx. */
	libxl_osevent_hooks os_hooks;
	libxl_event_hooks ev_hooks;
	libxl_childproc_hooks child_hooks;
	struct event *rescan;
	struct event *prober;           /* probes unresponsive domains */
	struct tsd_libxl_guest *guests;
	struct tsd_libxl_timeout *timeouts;
	struct tsd_libxl_fd *fds;
	char first_error[256];          /* captured while opening */
	bool opening;
};

/* Before libxl_ctx_alloc: be->logger turns libxl's messages into the
 * daemon's log lines (while be->opening, only the first error is kept, in
 * be->first_error). */
void tsd_libxl_logger_init(struct tsd_libxl *be);
/* After libxl_ctx_alloc: libxl's fds and timeouts on the daemon's loop. */
void tsd_libxl_osevent_register(struct tsd_libxl *be);
/* At close: the timeouts libxl never deregisters. */
void tsd_libxl_timeouts_free(struct tsd_libxl *be);
/* At close, when libxl is not entered again: the fds it left registered. */
void tsd_libxl_fds_free(struct tsd_libxl *be);
/* Turns libxl once outside the daemon's loop (close may run from one of its
 * callbacks, and the loop cannot be entered again): the earliest due
 * timeout, else the first fd that is ready, waiting at most until
 * deadline.  One occurrence per turn: it may deregister others.  false
 * when the deadline has passed with nothing to do. */
bool tsd_libxl_turn(struct tsd_libxl *be, const struct timeval *deadline);

#endif
