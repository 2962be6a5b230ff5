/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libvirt-internal.h — what the libvirt back end's files share.
 * They stack without a loop: toolstack-libvirt-jobs.c (libvirt's event
 * thread, guests by uuid, calls on the worker pool, one at a time per
 * guest) < toolstack-libvirt-guests.c (domains listed, read, announced,
 * gone) < toolstack-libvirt-conn.c (the connection, and libvirt's events
 * posted to the loop) < toolstack-libvirt.c (what an answer means, the
 * operations, the driver).  A job's answer reaches the driver through
 * be->job_result, set by open.
 */
#ifndef MMIOD_TOOLSTACK_LIBVIRT_INTERNAL_H
#define MMIOD_TOOLSTACK_LIBVIRT_INTERNAL_H

#include <event2/event.h>
#include <libvirt/libvirt.h>
#include <limits.h>
#include <stdbool.h>

#include "libvirt-calls.h"
#include "worker.h"

struct lv_job;

struct tsd_libvirt;

struct tsd_libvirt_guest {
	struct tsd_libvirt_guest *next, **pprev;   /* be->guests */
	struct tsd_libvirt_guest *hnext;           /* be->htab chain */
	char uuid[VIR_UUID_STRING_BUFLEN];
	char name[128];
	bool active;
	bool seen;
	bool announced;                 /* guest_up was called */
	struct lv_facts facts;          /* per-run facts the reads keep */
	unsigned jobs;                  /* calls out for it: running and waiting */
	struct lv_job *running;         /* its one call in libvirt (or queued on the pool) */
	struct lv_job *wait_head, *wait_tail;   /* its later calls, in order */
	bool reading, read_again;       /* a device event's re-read, coalesced */
	bool unresponsive;              /* an op's deadline passed, no answer since */
	char unresponsive_msg[200];
	/* A domain that just started: QEMU runs before the guest's firmware
	 * has numbered the buses and placed the BARs.  Re-read after 2, 4
	 * ... 32 s until it has (at most RECHECK_BUDGET_MS in all). */
	struct tsd_libvirt *be;
	struct event *recheck_ev;
	unsigned recheck_ms, recheck_spent_ms;
};

/* The connection a libvirt callback came from: the back end while that
 * connection is its current one, NULL after.  Counted (libvirt's
 * registrations and the messages on their way hold references). */
struct lv_link {
	struct tsd_libvirt *be;         /* read and written on the loop only */
	struct worker_pool *pool;
	int refs;                       /* atomic */
};

/* One operation of the daemon's (refresh, attach, detach). */
struct tsd_libvirt_op {
	struct tsd_op base;             /* first */
	struct lv_job *job;             /* the call out for it, NULL once back */
	char uuid[VIR_UUID_STRING_BUFLEN];
	long long started_us;           /* when the daemon asked */
};

struct tsd_libvirt {
	struct tsd_backend base;        /* first */
	int refs;                       /* open, and one per job out */
	bool closed;
	char uri[256];
	virConnectPtr conn;             /* the back end's reference (events); NULL while down */
	struct lv_conns *conns;         /* the calls' connections */
	struct lv_link *link;           /* the current connection's */
	int ids[4];
	bool close_cb;
	bool is_qemu;                   /* the connection's driver is QEMU */
	bool calls_share;               /* calls run on the back end's connection (test://) */
	bool connecting;                /* a connect job is out */
	bool was_connected;             /* a reconnection re-reads every guest */
	bool gave_up;                   /* a URI no driver takes: not tried again */
	/* connection life */
	bool connected;
	char down_msg[300];             /* why not connected */
	struct event *reconnect;
	int backoff;
	char sockdir[PATH_MAX];         /* a local daemon's socket directory, "" if remote */
	int ino_fd, ino_wd;
	char ino_dir[PATH_MAX];         /* what ino_wd watches: sockdir or its nearest parent */
	struct event *ino_ev;
	struct event *prober;           /* probes unresponsive guests */
	struct tsd_libvirt_guest *guests;
	/* guests by uuid: O(1) lookups with thousands of domains */
	struct tsd_libvirt_guest **htab;
	size_t hcap, nguests;
	/* what a call's answer means (toolstack-libvirt.c's), on the loop */
	void (*job_result)(struct tsd_libvirt *be, struct lv_job *j, struct tsd_libvirt_guest *t);
};

enum lv_job_kind {
	J_CONNECT, J_DISCONNECT, J_LIST,
	J_ANNOUNCE,                     /* a domain to (re)announce */
	J_STOPPED, J_UNDEFINED,         /* lifecycle events: still listed? */
	J_CHANGED,                      /* a device came or went: re-read */
	J_PROBE,                        /* does an unresponsive guest answer? */
	J_REFRESH, J_ATTACH, J_DETACH,  /* the daemon's ops */
};

struct lv_job {
	enum lv_job_kind kind;
	struct tsd_libvirt *be;         /* counted in be->refs */
	struct lv_conns *conns;         /* be's: the only part of it a pool thread touches */
	struct tsd_libvirt_op *op;      /* J_REFRESH/ATTACH/DETACH; NULL once the op is gone */
	char uuid[VIR_UUID_STRING_BUFLEN];      /* its guest's, "" for none */
	struct lv_job *next;            /* in its guest's queue */
	bool queued;                    /* in its guest's queue, not handed to the pool yet */
	unsigned deadline_ms;           /* how long libvirt may take before the guest is blamed */
	long long started_us;           /* when a pool thread took it, 0 before (atomic) */
	bool no_conn;                   /* no connection for it: nobody was asked */
	bool force;                     /* J_ANNOUNCE: re-announce even if unchanged */
	union {
		struct lv_connect connect;
		struct lv_disconnect disconnect;
		struct lv_list list;
		struct lv_read read;
		struct lv_probe probe;
		struct lv_hostdev hostdev;
	} u;
};

/* ---- toolstack-libvirt-jobs.c -------------------------------------------------------- */

/* libvirt's event thread (one per process): started by the first back end,
 * stopped after the last one's last call. */
int lv_loop_use(struct mmio_error *err);
void lv_loop_unuse(void);
/* Drops a reference (open's, or a job's); the last one frees be. */
void lv_be_unref(struct tsd_libvirt *be);
/* CLOCK_MONOTONIC in microseconds. */
long long lv_now_us(void);

struct tsd_libvirt_guest *lv_guest_find(struct tsd_libvirt *be, const char *uuid);
/* A new guest record, listed; NULL when out of memory. */
struct tsd_libvirt_guest *lv_guest_new(struct tsd_libvirt *be, const char *uuid);
/* Frees g (unlisted), its waiting jobs dropped. */
void lv_guest_free(struct tsd_libvirt_guest *g);
/* The domain is gone: guest_down if it was announced, and freed. */
void lv_guest_down(struct tsd_libvirt *be, const char *uuid);
void lv_guest_answering(struct tsd_libvirt *be, struct tsd_libvirt_guest *t, bool answering,
			const char *why);
void lv_guest_unqueue(struct tsd_libvirt_guest *t, struct lv_job *j);

struct lv_job *lv_job_new(struct tsd_libvirt *be, enum lv_job_kind kind, const char *uuid);
bool lv_job_submit(struct lv_job *j, const char *uuid);
void lv_job_drop(struct lv_job *j, enum tsd_rc rc, const char *msg);

/* ---- toolstack-libvirt-guests.c ------------------------------------------------------ */

void lv_guest_read(struct tsd_libvirt *be, const char *uuid, enum lv_job_kind kind, bool force);
/* Lists the domains again (force: re-announce every one). */
void lv_guests_sync(struct tsd_libvirt *be, bool force);
void lv_guests_listed(struct tsd_libvirt *be, struct lv_list *l, bool force);
void lv_guest_recheck(struct tsd_libvirt_guest *t, const struct tsd_layout *l, bool first);
void lv_guest_announce(struct tsd_libvirt *be, struct lv_read *r, bool force);

/* ---- toolstack-libvirt-conn.c -------------------------------------------------------- */

void lv_conn_socket_dir(const char *uri, char *buf, size_t len);
/* Connects (on the pool) unless connected, connecting or given up. */
void lv_conn_try(struct tsd_libvirt *be);
void lv_conn_reconnect_cb(evutil_socket_t fd, short what, void *arg);
void lv_conn_drop(struct tsd_libvirt *be, bool last);
void lv_conn_unwatch(struct tsd_libvirt *be);
void lv_conn_done(struct tsd_libvirt *be, struct lv_connect *c);
void lv_conn_abandoned(struct tsd_libvirt *be, struct lv_connect *c);

#endif
