/* SPDX-License-Identifier: MIT */
/*
 * test-worker.c — the pool of threads for blocking toolstack calls
 * (daemon/worker.c): runs happen on pool threads and dones on the loop, in
 * order; the loop keeps turning while a run blocks; the queue is bounded;
 * worker_post works from any thread; freeing the pool with a run still
 * blocked leaves that thread to clean up after itself.  No wall-clock
 * assertions: "the loop keeps turning" is counted in timer ticks that
 * happen while a run is known to be blocked.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "worker.h"
#include "../tap.h"

static pthread_t loop_thread;
static struct event_base *base;

/* A gate a run waits at until the test opens it. */
struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool open, entered;
};
static struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };

static void gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	g->entered = true;
	pthread_cond_broadcast(&g->c);
	while (!g->open)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	g->open = true;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

static bool gate_entered(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	bool e = g->entered;
	pthread_mutex_unlock(&g->m);
	return e;
}

struct item {
	int n;
	bool ran_off_loop;
	bool done_on_loop;
	bool block;
};

static int done_order[64], ndone;

static void item_run(void *arg)
{
	struct item *it = arg;
	it->ran_off_loop = !pthread_equal(pthread_self(), loop_thread);
	if (it->block)
		gate_wait(&gate);
	it->n *= 2;
}

static void item_done(void *arg)
{
	struct item *it = arg;
	it->done_on_loop = pthread_equal(pthread_self(), loop_thread);
	if (ndone < 64)
		done_order[ndone++] = it->n;
}

static int disposed;
static pthread_mutex_t disposed_m = PTHREAD_MUTEX_INITIALIZER;

static void item_dispose(void *arg)
{
	pthread_mutex_lock(&disposed_m);
	disposed++;
	pthread_mutex_unlock(&disposed_m);
	free(arg);
}

static int ticks;

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	ticks++;
}

/* Turns the loop until cond or about 10 s of 1 ms turns. */
static bool turn_until(bool (*cond)(void))
{
	for (int i = 0; i < 10000; i++) {
		if (cond())
			return true;
		struct timeval tv = { 0, 1000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return cond();
}

static struct worker_pool *cur;

static bool one_busy(void)
{
	struct worker_stats st;
	worker_pool_stats(cur, &st);
	return st.busy == 1;
}

static int want_done;
static bool all_done(void) { return ndone >= want_done; }
static bool gate_is_entered(void) { return gate_entered(&gate); }

struct poster {
	struct worker_pool *p;
	int *slot;
};

static void posted(void *arg)
{
	int *slot = arg;
	*slot = pthread_equal(pthread_self(), loop_thread) ? 1 : -1;
	ndone++;
}

static void *poster_main(void *arg)
{
	struct poster *ps = arg;
	worker_post(ps->p, posted, NULL, ps->slot);
	return NULL;
}

int main(void)
{
	struct worker_pool *p;
	struct item items[8];
	struct worker_stats st;

	loop_thread = pthread_self();
	base = event_base_new();

	/* ---- runs off the loop, dones on it, in order (one thread) ---- */
	p = worker_pool_new(base, 1, 16);
	tap_ok(p != NULL, "pool made");
	for (int i = 0; i < 8; i++) {
		items[i] = (struct item){ .n = i + 1 };
		tap_ok(worker_submit(p, item_run, item_done, NULL, &items[i]) == 0, "submit %d", i);
	}
	want_done = 8;
	tap_ok(turn_until(all_done), "every done came back");
	bool off = true, on = true, order = true;
	for (int i = 0; i < 8; i++) {
		off &= items[i].ran_off_loop;
		on &= items[i].done_on_loop;
		order &= done_order[i] == 2 * (i + 1);
	}
	tap_ok(off, "every run ran on a pool thread");
	tap_ok(on, "every done ran on the loop");
	tap_ok(order, "dones in the order of the runs (one thread)");
	worker_pool_stats(p, &st);
	tap_ok(st.threads == 1 && st.finished == 8 && st.queued == 0 && st.busy == 0,
	       "stats: 1 thread, 8 finished (threads %u finished %lu)", st.threads, st.finished);

	/* ---- the loop turns while a run blocks; the queue is bounded ---- */
	struct item blocked = { .n = 100, .block = true };
	struct item waiting[2] = { { .n = 1 }, { .n = 2 } };
	struct item refused = { .n = 3 };
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval ms = { 0, 1000 };
	event_add(tick, &ms);
	ndone = 0;
	tap_ok(worker_submit(p, item_run, item_done, NULL, &blocked) == 0, "submit a run that blocks");
	tap_ok(turn_until(gate_is_entered), "the blocking run started");
	ticks = 0;
	for (int i = 0; i < 50; i++) {
		struct timeval tv = { 0, 2000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	tap_ok(ticks >= 10 && gate_entered(&gate) && ndone == 0,
	       "the loop kept turning while the run was blocked (%d ticks)", ticks);
	/* the pool's only thread is busy: work waits in the queue (max 16) */
	worker_pool_free(p);    /* a pool with max_queued 2 for the bound */
	tap_ok(true, "a pool freed while its only run is blocked");
	p = worker_pool_new(base, 1, 2);
	struct item b2 = { .n = 7, .block = true };
	tap_ok(worker_submit(p, item_run, item_done, NULL, &b2) == 0, "second pool: a blocking run");
	cur = p;
	tap_ok(turn_until(one_busy), "... its thread took it");
	tap_ok(worker_submit(p, item_run, item_done, NULL, &waiting[0]) == 0 &&
	       worker_submit(p, item_run, item_done, NULL, &waiting[1]) == 0, "two more queue up");
	errno = 0;
	tap_ok(worker_submit(p, item_run, item_done, NULL, &refused) < 0 && errno == EAGAIN,
	       "a third is refused with EAGAIN: the queue does not grow");
	gate_open(&gate);
	/* b2 and the two behind it; the first pool's run ends without a done */
	ndone = 0;
	want_done = 3;
	tap_ok(turn_until(all_done), "the queued runs ran once the gate opened");
	tap_ok(blocked.n == 200, "the run of the freed pool finished on its own thread");
	tap_ok(!blocked.done_on_loop, "... and its done was not called (the pool was gone)");
	event_free(tick);

	/* ---- worker_post from a foreign thread ---- */
	int slots[4] = { 0 };
	pthread_t th[4];
	struct poster ps[4];
	ndone = 0;
	for (int i = 0; i < 4; i++) {
		ps[i] = (struct poster){ p, &slots[i] };
		pthread_create(&th[i], NULL, poster_main, &ps[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	want_done = 4;
	tap_ok(turn_until(all_done), "four posts from four threads arrived");
	tap_ok(slots[0] == 1 && slots[1] == 1 && slots[2] == 1 && slots[3] == 1,
	       "each ran on the loop");

	/* ---- freed with a run still blocked: the thread disposes its arg ---- */
	gate.open = false;
	gate.entered = false;
	struct item *stuck = calloc(1, sizeof(*stuck));
	struct item *never = calloc(1, sizeof(*never));
	stuck->block = true;
	tap_ok(worker_submit(p, item_run, item_done, item_dispose, stuck) == 0 &&
	       worker_submit(p, item_run, item_done, item_dispose, never) == 0,
	       "a blocking run and one queued behind it");
	tap_ok(turn_until(gate_is_entered), "the blocking run started");
	disposed = 0;
	worker_pool_free(p);
	pthread_mutex_lock(&disposed_m);
	int d1 = disposed;
	pthread_mutex_unlock(&disposed_m);
	tap_ok(d1 == 1, "free disposed the queued work at once (%d)", d1);
	gate_open(&gate);
	for (int i = 0; i < 10000; i++) {
		pthread_mutex_lock(&disposed_m);
		d1 = disposed;
		pthread_mutex_unlock(&disposed_m);
		if (d1 == 2)
			break;
		usleep(1000);
	}
	tap_ok(d1 == 2, "the blocked run's thread disposed its arg when it returned");
	event_base_free(base);
	tap_done();
	return tap_exit();
}
