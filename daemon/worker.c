/* SPDX-License-Identifier: MIT */
/*
 * worker.c — the pool of threads for blocking toolstack calls (worker.h).
 *
 * One mutex guards everything shared: the queue of work to run, the list
 * of finished work for the loop, the thread records.  A pool thread takes
 * work from the queue, runs it without the lock, puts it on the finished
 * list and writes the eventfd; the loop reads the eventfd and calls done
 * for everything on the list, in order.  The pool's memory is counted:
 * one reference for the loop, one per thread, so a thread still blocked in
 * a call when the daemon frees the pool can return later and clean up.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "worker.h"

struct job {
	struct job *next;
	worker_fn run, done, dispose;
	void *arg;
};

struct thread_rec {
	struct thread_rec *next;
	struct worker_pool *pool;
	pthread_t tid;
	bool in_run;
};

struct worker_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *q_head, *q_tail;    /* to run */
	struct job *d_head, *d_tail;    /* finished: done on the loop */
	unsigned queued, max_queued;
	unsigned threads, idle, busy, max_threads;
	unsigned long finished;
	struct thread_rec *recs;
	unsigned refs;                  /* the loop's, and one per thread */
	bool quitting;
	int efd;
	struct event *ev;
};

static void pool_destroy(struct worker_pool *p)
{
	while (p->recs) {
		struct thread_rec *r = p->recs;
		p->recs = r->next;
		free(r);
	}
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Drops one reference; the last one frees the pool.  Called unlocked. */
static void pool_unref(struct worker_pool *p)
{
	pthread_mutex_lock(&p->lock);
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last)
		pool_destroy(p);
}

static void wake_loop(struct worker_pool *p)
{
	uint64_t one = 1;
	/* EAGAIN: the counter is already non-zero, the loop will look. */
	while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void push(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *thread_main(void *arg)
{
	struct thread_rec *self = arg;
	struct worker_pool *p = self->pool;
	struct job *j;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->q_head && !p->quitting) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
		}
		if (!p->q_head)
			break;          /* quitting, nothing left to run */
		j = p->q_head;
		p->q_head = j->next;
		if (!p->q_head)
			p->q_tail = NULL;
		p->queued--;
		p->busy++;
		self->in_run = true;
		pthread_mutex_unlock(&p->lock);

		j->run(j->arg);

		pthread_mutex_lock(&p->lock);
		self->in_run = false;
		p->busy--;
		p->finished++;
		if (p->quitting) {
			/* Nobody is listening any more. */
			pthread_mutex_unlock(&p->lock);
			if (j->dispose)
				j->dispose(j->arg);
			free(j);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		push(&p->d_head, &p->d_tail, j);
		wake_loop(p);
	}
	pthread_mutex_unlock(&p->lock);
	pool_unref(p);
	return NULL;
}

/* Starts one thread (lock held).  Pool threads block every signal: the
 * daemon's handlers run on the loop, and a toolstack library's system
 * calls are not interrupted. */
static int thread_start(struct worker_pool *p)
{
	struct thread_rec *r = calloc(1, sizeof(*r));
	sigset_t all, old;
	int e;

	if (!r)
		return ENOMEM;
	r->pool = p;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&r->tid, NULL, thread_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		free(r);
		return e;
	}
	pthread_setname_np(r->tid, "mmiod-worker");
	r->next = p->recs;
	p->recs = r;
	p->threads++;
	p->refs++;
	return 0;
}

static void loop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_pool *p = arg;
	uint64_t n;
	struct job *list;
	(void)what;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&p->lock);
	list = p->d_head;
	p->d_head = p->d_tail = NULL;
	pthread_mutex_unlock(&p->lock);
	while (list) {
		struct job *j = list;
		list = j->next;
		if (j->done)
			j->done(j->arg);
		free(j);
	}
}

struct worker_pool *worker_pool_new(struct event_base *base, unsigned max_threads,
				    unsigned max_queued)
{
	struct worker_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->max_threads = max_threads ? max_threads : 1;
	p->max_queued = max_queued ? max_queued : 1;
	p->refs = 1;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		free(p);
		return NULL;
	}
	p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, loop_cb, p);
	if (!p->ev || event_add(p->ev, NULL) < 0) {
		if (p->ev)
			event_free(p->ev);
		close(p->efd);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	return p;
}

int worker_submit(struct worker_pool *p, worker_fn run, worker_fn done, worker_fn dispose,
		  void *arg)
{
	struct job *j;
	int e = 0;

	pthread_mutex_lock(&p->lock);
	if (p->quitting || p->queued >= p->max_queued) {
		pthread_mutex_unlock(&p->lock);
		errno = EAGAIN;
		return -1;
	}
	pthread_mutex_unlock(&p->lock);
	j = calloc(1, sizeof(*j));
	if (!j) {
		errno = ENOMEM;
		return -1;
	}
	*j = (struct job){ .run = run, .done = done, .dispose = dispose, .arg = arg };
	pthread_mutex_lock(&p->lock);
	/* Work waiting beyond the idle threads gets a new thread, while
	 * there is room for one. */
	if (p->idle <= p->queued && p->threads < p->max_threads)
		e = thread_start(p);
	if (e && p->threads == 0) {
		pthread_mutex_unlock(&p->lock);
		free(j);
		errno = e == ENOMEM ? ENOMEM : EAGAIN;
		return -1;
	}
	push(&p->q_head, &p->q_tail, j);
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int worker_post(struct worker_pool *p, worker_fn fn, worker_fn dispose, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		errno = ENOMEM;
		return -1;
	}
	*j = (struct job){ .done = fn, .dispose = dispose, .arg = arg };
	pthread_mutex_lock(&p->lock);
	if (p->quitting) {
		pthread_mutex_unlock(&p->lock);
		free(j);
		errno = ECANCELED;
		return -1;
	}
	push(&p->d_head, &p->d_tail, j);
	wake_loop(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void worker_pool_stats(struct worker_pool *p, struct worker_stats *st)
{
	pthread_mutex_lock(&p->lock);
	st->threads = p->threads;
	st->busy = p->busy;
	st->queued = p->queued;
	st->finished = p->finished;
	pthread_mutex_unlock(&p->lock);
}

bool worker_pool_drain(struct worker_pool *p, unsigned timeout_ms)
{
	struct worker_stats st;
	bool drained;

	for (unsigned waited = 0;; waited += 10) {
		/* dones may submit more (a last close after a read) */
		loop_cb(p->efd, EV_READ, p);
		worker_pool_stats(p, &st);
		drained = !st.busy && !st.queued;
		if (drained || waited >= timeout_ms)
			break;
		usleep(10000);
	}
	loop_cb(p->efd, EV_READ, p);
	return drained;
}

static void dispose_all(struct job *list)
{
	while (list) {
		struct job *j = list;
		list = j->next;
		if (j->dispose)
			j->dispose(j->arg);
		free(j);
	}
}

void worker_pool_free(struct worker_pool *p)
{
	struct job *queued, *finished;
	struct thread_rec *joinable = NULL;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->quitting = true;
	queued = p->q_head;
	finished = p->d_head;
	p->q_head = p->q_tail = p->d_head = p->d_tail = NULL;
	p->queued = 0;
	/* Threads inside run() are left to finish on their own; the others
	 * are waiting for work and end now. */
	for (struct thread_rec *r = p->recs; r; r = r->next) {
		if (r->in_run) {
			pthread_detach(r->tid);
		} else {
			struct thread_rec *c = malloc(sizeof(*c));
			if (c) {
				*c = *r;
				c->next = joinable;
				joinable = c;
			} else {
				pthread_detach(r->tid);
			}
		}
	}
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	dispose_all(queued);
	dispose_all(finished);
	while (joinable) {
		struct thread_rec *c = joinable;
		joinable = c->next;
		pthread_join(c->tid, NULL);
		free(c);
	}
	event_free(p->ev);
	close(p->efd);
	pool_unref(p);
}
