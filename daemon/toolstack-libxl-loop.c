/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libxl-loop.c — libxl on the daemon's libevent loop: its log
 * messages become the daemon's log lines, its file descriptors and timeouts
 * become libevent events (libxl_osevent_register_hooks).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>

#include "strbuf.h"
#include "toolstack-libxl-internal.h"

struct tsd_libxl_fd {
	struct tsd_libxl_fd *next, **prev;
	struct tsd_libxl *be;
	struct event *ev;
	int fd;
	short events;                   /* poll(2) bits libxl asked for */
	void *for_libxl;
};

/* ---- logger: libxl's messages become the daemon's log lines ------------ */

static void logger_vmessage(xentoollog_logger *l, xentoollog_level level, int errnoval,
			    const char *context, const char *format, va_list al)
	__attribute__((format(printf, 5, 0)));
static void logger_vmessage(xentoollog_logger *l, xentoollog_level level, int errnoval,
			    const char *context, const char *format, va_list al)
{
	struct tsd_libxl *be = ((struct tsd_libxl_logger *)l)->be;
	char msg[400];

	vsnprintf(msg, sizeof(msg), format, al);
	if (be->opening) {
		/* While opening, keep only the first error: it becomes the one
		 * line of TSD_DECLINED on a host without Xen. */
		if (level >= XTL_ERROR && !be->first_error[0])
			strbuf_appendf(be->first_error, sizeof(be->first_error), "%s%s%s%s%s",
				 context ? context : "", context ? ": " : "", msg,
				 errnoval >= 0 ? ": " : "", errnoval >= 0 ? strerror(errnoval) : "");
		return;
	}
	if (level < XTL_NOTICE)
		return;
	tsd_log(&be->base, level >= XTL_ERROR ? LOG_ERR : level >= XTL_WARN ? LOG_WARNING : LOG_NOTICE,
	       "%s%s%s%s%s", context ? context : "", context ? ": " : "", msg,
	       errnoval >= 0 ? ": " : "", errnoval >= 0 ? strerror(errnoval) : "");
}

static void logger_progress(xentoollog_logger *l, const char *context, const char *doing_what,
			    int percent, unsigned long done, unsigned long total)
{
}

static void logger_destroy(xentoollog_logger *l)
{
	/* Embedded in struct tsd_libxl: nothing to free. */
}

/* ---- osevent hooks: libxl's fds and timeouts on libevent --------------- */

static void fd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libxl_fd *r = arg;
	short revents = 0;
	if (what & EV_READ)
		revents |= POLLIN;
	if (what & EV_WRITE)
		revents |= POLLOUT;
	libxl_osevent_occurred_fd(r->be->ctx, r->for_libxl, r->fd, r->events, revents & r->events);
}

static int fd_arm(struct tsd_libxl_fd *r)
{
	short ev = EV_PERSIST;
	if (r->events & (POLLIN | POLLPRI))
		ev |= EV_READ;
	if (r->events & POLLOUT)
		ev |= EV_WRITE;
	if (r->ev) {
		event_free(r->ev);
		r->ev = NULL;
	}
	if (!(ev & (EV_READ | EV_WRITE)))
		return 0; /* events == 0 is legal: registered, but idle */
	r->ev = event_new(r->be->base.host->base, r->fd, ev, fd_cb, r);
	if (!r->ev || event_add(r->ev, NULL) < 0)
		return ERROR_OSEVENT_REG_FAIL;
	return 0;
}

static int hook_fd_register(void *user, int fd, void **reg, short events, void *for_libxl)
{
	struct tsd_libxl_fd *r = calloc(1, sizeof(*r));
	if (!r)
		return ERROR_NOMEM;
	struct tsd_libxl *be = user;
	*r = (struct tsd_libxl_fd){ .be = be, .fd = fd, .events = events, .for_libxl = for_libxl };
	int rc = fd_arm(r);
	if (rc) {
		free(r);
		return rc;
	}
	r->next = be->fds;
	r->prev = &be->fds;
	if (r->next)
		r->next->prev = &r->next;
	be->fds = r;
	*reg = r;
	return 0;
}

static int hook_fd_modify(void *user, int fd, void **reg, short events)
{
	struct tsd_libxl_fd *r = *reg;
	r->events = events;
	return fd_arm(r);
}

static void fd_unlink(struct tsd_libxl_fd *r)
{
	*r->prev = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->ev)
		event_free(r->ev);
	free(r);
}

static void hook_fd_deregister(void *user, int fd, void *reg)
{
	fd_unlink(reg);
}

static void timeout_unlink(struct tsd_libxl_timeout *t)
{
	*t->prev = t->next;
	if (t->next)
		t->next->prev = t->prev;
	event_free(t->ev);
	free(t);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libxl_timeout *t = arg;
	struct tsd_libxl *be = t->be;
	void *for_libxl = t->for_libxl;
	/* A fired timeout counts as deregistered: free it first, libxl may
	 * register a new one from inside the call. */
	timeout_unlink(t);
	libxl_osevent_occurred_timeout(be->ctx, for_libxl);
}

static struct timeval until(struct timeval abs)
{
	struct timeval now, d = { 0, 0 };
	gettimeofday(&now, NULL);
	if (timercmp(&abs, &now, >))
		timersub(&abs, &now, &d);
	return d;
}

static int hook_timeout_register(void *user, void **reg, struct timeval abs, void *for_libxl)
{
	struct tsd_libxl *be = user;
	struct tsd_libxl_timeout *t = calloc(1, sizeof(*t));
	if (!t)
		return ERROR_NOMEM;
	t->be = be;
	t->abs = abs;
	t->for_libxl = for_libxl;
	t->ev = evtimer_new(be->base.host->base, timeout_cb, t);
	struct timeval d = until(abs);
	if (!t->ev || evtimer_add(t->ev, &d) < 0) {
		if (t->ev)
			event_free(t->ev);
		free(t);
		return ERROR_OSEVENT_REG_FAIL;
	}
	t->next = be->timeouts;
	t->prev = &be->timeouts;
	if (t->next)
		t->next->prev = &t->next;
	be->timeouts = t;
	*reg = t;
	return 0;
}

static int hook_timeout_modify(void *user, void **reg, struct timeval abs)
{
	/* libxl only ever passes {0,0}: "fire as soon as possible". */
	struct tsd_libxl_timeout *t = *reg;
	struct timeval d = until(abs);
	t->abs = abs;
	evtimer_del(t->ev);
	return evtimer_add(t->ev, &d) < 0 ? ERROR_OSEVENT_REG_FAIL : 0;
}

static void hook_timeout_deregister(void *user, void *reg)
{
	/* Never called by libxl 4.17 (libxl_event.h); kept for completeness. */
	timeout_unlink(reg);
}


void tsd_libxl_logger_init(struct tsd_libxl *be)
{
	be->logger.vtable = (xentoollog_logger){ .vmessage = logger_vmessage,
						 .progress = logger_progress,
						 .destroy = logger_destroy };
	be->logger.be = be;
}

void tsd_libxl_osevent_register(struct tsd_libxl *be)
{
	be->os_hooks = (libxl_osevent_hooks){
		.fd_register = hook_fd_register, .fd_modify = hook_fd_modify,
		.fd_deregister = hook_fd_deregister, .timeout_register = hook_timeout_register,
		.timeout_modify = hook_timeout_modify, .timeout_deregister = hook_timeout_deregister,
	};
	libxl_osevent_register_hooks(be->ctx, &be->os_hooks, be);
}

void tsd_libxl_timeouts_free(struct tsd_libxl *be)
{
	while (be->timeouts)
		timeout_unlink(be->timeouts);
}

void tsd_libxl_fds_free(struct tsd_libxl *be)
{
	while (be->fds)
		fd_unlink(be->fds);
}

bool tsd_libxl_turn(struct tsd_libxl *be, const struct timeval *deadline)
{
	struct timeval now;
	struct tsd_libxl_timeout *due = NULL;

	gettimeofday(&now, NULL);
	for (struct tsd_libxl_timeout *t = be->timeouts; t; t = t->next)
		if (!timercmp(&t->abs, &now, >) && (!due || timercmp(&t->abs, &due->abs, <)))
			due = t;
	if (due) {
		void *for_libxl = due->for_libxl;
		timeout_unlink(due);
		libxl_osevent_occurred_timeout(be->ctx, for_libxl);
		return true;
	}
	if (!timercmp(&now, deadline, <))
		return false;
	struct pollfd pfd[64];
	struct tsd_libxl_fd *reg[64];
	nfds_t n = 0;
	for (struct tsd_libxl_fd *r = be->fds; r && n < 64; r = r->next) {
		if (!r->events)
			continue;
		reg[n] = r;
		pfd[n++] = (struct pollfd){ .fd = r->fd, .events = r->events };
	}
	struct timeval wait = until(*deadline);
	for (struct tsd_libxl_timeout *t = be->timeouts; t; t = t->next) {
		struct timeval tw = until(t->abs);
		if (timercmp(&tw, &wait, <))
			wait = tw;
	}
	int w = poll(pfd, n, (int)(wait.tv_sec * 1000 + (wait.tv_usec + 999) / 1000));
	for (nfds_t i = 0; w > 0 && i < n; i++) {
		if (pfd[i].revents) {
			libxl_osevent_occurred_fd(be->ctx, reg[i]->for_libxl, reg[i]->fd,
						  reg[i]->events, pfd[i].revents);
			break;
		}
	}
	return true;
}
