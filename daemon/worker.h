/* SPDX-License-Identifier: MIT */
/*
 * worker.h — a small pool of threads for the toolstack calls that block
 * (libvirt's RPCs, ...): the call runs on a pool thread, its result comes
 * back to the daemon's libevent loop, so the loop never waits for a guest.
 *
 * Rules:
 *  - run(arg) runs on a pool thread and may block as long as it likes; it
 *    touches only arg (and thread-safe libraries), never the loop's data.
 *  - done(arg) runs later on the loop, after run returned, in the order the
 *    runs finished.  arg belongs to the pool from worker_submit until done
 *    (or dispose) was called: whoever submitted it must not free it.
 *  - dispose(arg), when not NULL, is called instead of done when the pool
 *    is freed first; it may run on a pool thread (a run still blocked when
 *    the daemon exits), so it only frees memory.
 *  - The pool never touches libevent from a pool thread: results travel
 *    through an eventfd the loop watches (worker_post likewise), so
 *    libevent needs no thread support.
 *  - Threads are started when work waits and none is idle, up to
 *    max_threads; a thread blocked forever in a toolstack call (a stopped
 *    libvirtd) is one thread lost until that call returns, and the queue is
 *    bounded: worker_submit refuses (EAGAIN) rather than grow.
 */
#ifndef MMIOD_WORKER_H
#define MMIOD_WORKER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct worker_pool;

typedef void (*worker_fn)(void *arg);

#define WORKER_DEFAULT_THREADS 16
#define WORKER_DEFAULT_QUEUE   256

/* NULL with errno set (ENOMEM, or what eventfd/libevent said). */
struct worker_pool *worker_pool_new(struct event_base *base, unsigned max_threads,
				    unsigned max_queued);
/* Calls dispose for work that never ran or never came back; idle threads
 * are joined, a thread still inside run() is left to finish on its own
 * (it frees the pool's remains when it returns). */
void worker_pool_free(struct worker_pool *p);

/* 0, or -1 with errno EAGAIN (max_queued jobs are waiting) or ENOMEM;
 * then nothing will be called. */
int worker_submit(struct worker_pool *p, worker_fn run, worker_fn done, worker_fn dispose,
		  void *arg);

/* From any thread, a pool thread or a library's own: fn(arg) runs on the
 * loop soon, in the order of posting.  0, or -1 with errno ENOMEM. */
int worker_post(struct worker_pool *p, worker_fn fn, worker_fn dispose, void *arg);

struct worker_stats {
	unsigned threads;       /* started and not ended */
	unsigned busy;          /* inside run() */
	unsigned queued;        /* submitted, not started */
	unsigned long finished; /* runs returned since the pool was made */
};
void worker_pool_stats(struct worker_pool *p, struct worker_stats *st);

/* Waits until nothing is queued or running, or timeout_ms passed, and runs
 * the dones of what finished, without turning the loop (nothing else of
 * the daemon runs meanwhile): at exit, so that the calls of closing back
 * ends (a connection's last close) finish.  Returns whether it drained. */
bool worker_pool_drain(struct worker_pool *p, unsigned timeout_ms);

#endif
