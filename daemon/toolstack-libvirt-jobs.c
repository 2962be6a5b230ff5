/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libvirt-jobs.c — the libvirt back end's calls on the worker
 * pool (see toolstack-libvirt.c for the design): libvirt's event thread,
 * the guests by uuid, one job per libvirt call, one call at a time per
 * guest (the others wait in its queue), and each job's way back to the
 * loop, where the driver's job_result says what its answer means.
 */
#include "config.h"

#include <libvirt/virterror.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "toolstack-libvirt-internal.h"

/* ---- libvirt's event loop, on a thread of its own (the one global) ------ */

static struct {
	pthread_mutex_t lock;
	bool registered;                /* virEventRegisterDefaultImpl, once per process */
	bool running, quit;
	unsigned users;
	pthread_t thread;
} lvloop = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void quiet_errors(void *ud, virErrorPtr e)
{
	/* libvirt prints every error on stderr by default; the back end
	 * reports them itself, with context. */
}

static void *lvloop_main(void *arg)
{
	while (!__atomic_load_n(&lvloop.quit, __ATOMIC_ACQUIRE))
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

static void lvloop_wake(int timer, void *opaque)
{
	virEventRemoveTimeout(timer);
}

int lv_loop_use(struct mmio_error *err)
{
	sigset_t all, old;
	int e = 0;

	pthread_mutex_lock(&lvloop.lock);
	if (!lvloop.registered) {
		virSetErrorFunc(NULL, quiet_errors);
		if (virEventRegisterDefaultImpl() < 0) {
			pthread_mutex_unlock(&lvloop.lock);
			mmio_error_set(err, MMIO_E_IO, "libvirt: cannot set up libvirt's event loop");
			return -1;
		}
		lvloop.registered = true;
	}
	if (!lvloop.running) {
		__atomic_store_n(&lvloop.quit, false, __ATOMIC_RELEASE);
		/* its signals are the daemon's, handled on the loop */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		e = pthread_create(&lvloop.thread, NULL, lvloop_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e) {
			pthread_mutex_unlock(&lvloop.lock);
			mmio_error_set(err, MMIO_E_NOMEM, "libvirt: cannot start the event thread: %s",
				       strerror(e));
			return -1;
		}
		pthread_setname_np(lvloop.thread, "mmiod-libvirt");
		lvloop.running = true;
	}
	lvloop.users++;
	pthread_mutex_unlock(&lvloop.lock);
	return 0;
}

void lv_loop_unuse(void)
{
	pthread_mutex_lock(&lvloop.lock);
	if (--lvloop.users == 0 && lvloop.running) {
		__atomic_store_n(&lvloop.quit, true, __ATOMIC_RELEASE);
		/* a timer makes virEventRunDefaultImpl return */
		virEventAddTimeout(0, lvloop_wake, NULL, NULL);
		pthread_join(lvloop.thread, NULL);
		lvloop.running = false;
	}
	pthread_mutex_unlock(&lvloop.lock);
}

/* ---- guests by uuid ----------------------------------------------------------------- */

static size_t uuid_hash(const char *uuid)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *uuid; uuid++)
		h = (h ^ (unsigned char)*uuid) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

struct tsd_libvirt_guest *lv_guest_find(struct tsd_libvirt *be, const char *uuid)
{
	if (!be->hcap)
		return NULL;
	for (struct tsd_libvirt_guest *g = be->htab[uuid_hash(uuid) & (be->hcap - 1)]; g; g = g->hnext)
		if (strcmp(g->uuid, uuid) == 0)
			return g;
	return NULL;
}

/* Lists t (its uuid set); false when out of memory. */
static bool guest_add(struct tsd_libvirt *be, struct tsd_libvirt_guest *t)
{
	if (be->nguests + 1 > be->hcap) {
		size_t cap = be->hcap ? be->hcap * 2 : 64;
		struct tsd_libvirt_guest **h = calloc(cap, sizeof(*h));
		if (!h)
			return false;
		for (struct tsd_libvirt_guest *g = be->guests; g; g = g->next) {
			size_t b = uuid_hash(g->uuid) & (cap - 1);
			g->hnext = h[b];
			h[b] = g;
		}
		free(be->htab);
		be->htab = h;
		be->hcap = cap;
	}
	size_t b = uuid_hash(t->uuid) & (be->hcap - 1);
	t->hnext = be->htab[b];
	be->htab[b] = t;
	t->next = be->guests;
	t->pprev = &be->guests;
	if (be->guests)
		be->guests->pprev = &t->next;
	be->guests = t;
	be->nguests++;
	return true;
}

static void guest_unlist(struct tsd_libvirt *be, struct tsd_libvirt_guest *g)
{
	for (struct tsd_libvirt_guest **p = &be->htab[uuid_hash(g->uuid) & (be->hcap - 1)]; *p;
	     p = &(*p)->hnext)
		if (*p == g) {
			*p = g->hnext;
			break;
		}
	*g->pprev = g->next;
	if (g->next)
		g->next->pprev = g->pprev;
	be->nguests--;
}

static void guest_drop_waiting(struct tsd_libvirt_guest *t, bool ops_only, enum tsd_rc rc,
			       const char *msg);

void lv_guest_free(struct tsd_libvirt_guest *g)
{
	guest_drop_waiting(g, false, TSD_E_NOGUEST, "libvirt: the domain is no longer defined");
	if (g->recheck_ev)
		event_free(g->recheck_ev);
	free(g);
}

void lv_guest_down(struct tsd_libvirt *be, const char *uuid)
{
	struct tsd_libvirt_guest *g = lv_guest_find(be, uuid);
	if (!g)
		return;
	guest_unlist(be, g);
	tsd_log(&be->base, LOG_INFO, "guest %s (%s) is no longer defined", g->name, g->uuid);
	if (g->announced && be->base.host->guest_down)
		be->base.host->guest_down(be->base.host->ud, &be->base, g->uuid);
	lv_guest_free(g);
}

struct tsd_libvirt_guest *lv_guest_new(struct tsd_libvirt *be, const char *uuid)
{
	struct tsd_libvirt_guest *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->be = be;
	t->facts.domid = -1;
	snprintf(t->uuid, sizeof(t->uuid), "%.36s", uuid);
	if (!guest_add(be, t)) {
		free(t);
		return NULL;
	}
	return t;
}

/* A guest's toolstack answered a call (or did not, in time). */
void lv_guest_answering(struct tsd_libvirt *be, struct tsd_libvirt_guest *t, bool answering,
			    const char *why)
{
	if (!t || t->unresponsive == !answering)
		return;
	t->unresponsive = !answering;
	if (answering) {
		tsd_log(&be->base, LOG_NOTICE, "guest %s answers again", t->name);
		tsd_guest_answering(&be->base, t->uuid, true, NULL);
		return;
	}
	snprintf(t->unresponsive_msg, sizeof(t->unresponsive_msg), "%s", why);
	tsd_log(&be->base, LOG_WARNING, "guest %s: %s; its calls fail at once until it answers again",
		t->name, why);
	/* the ops waiting behind the stuck call fail now, as later ones do */
	char msg[sizeof(t->unresponsive_msg) + 160];
	snprintf(msg, sizeof(msg), "guest %s is not answering: %s", t->name, why);
	guest_drop_waiting(t, true, TSD_E_UNRESPONSIVE, msg);
	tsd_guest_answering(&be->base, t->uuid, false, "%s", why);
}

/* ---- jobs: one libvirt call each, on the worker pool ------------------------------- */

long long lv_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void job_done(void *arg);

/* No connection for the call: it fails as if libvirt had said so. */
static void job_no_conn(struct lv_job *j, const char *msg)
{
	j->no_conn = true;
	switch (j->kind) {
	case J_LIST:
		j->u.list.rc = TSD_E_FAILED;
		snprintf(j->u.list.msg, sizeof(j->u.list.msg), "%s", msg);
		break;
	case J_ANNOUNCE: case J_STOPPED: case J_UNDEFINED: case J_CHANGED: case J_REFRESH:
		j->u.read.rc = TSD_E_FAILED;
		j->u.read.active = j->u.read.persistent = -1;
		snprintf(j->u.read.msg, sizeof(j->u.read.msg), "libvirt: %s", msg);
		break;
	case J_PROBE:
		j->u.probe.answered = false;
		break;
	case J_ATTACH: case J_DETACH:
		j->u.hostdev.rc = TSD_E_FAILED;
		snprintf(j->u.hostdev.msg, sizeof(j->u.hostdev.msg), "libvirt: %s", msg);
		break;
	case J_CONNECT: case J_DISCONNECT:
		break;
	}
}

static void job_run(void *arg)
{
	struct lv_job *j = arg;
	virConnectPtr conn;
	unsigned gen;
	char msg[300];

	__atomic_store_n(&j->started_us, lv_now_us(), __ATOMIC_RELEASE);
	switch (j->kind) {
	case J_CONNECT: lv_connect(&j->u.connect); return;
	case J_DISCONNECT: lv_disconnect(&j->u.disconnect); return;
	default: break;
	}
	if (!(conn = lv_conns_get(j->conns, &gen, msg, sizeof(msg)))) {
		job_no_conn(j, msg);
		return;
	}
	switch (j->kind) {
	case J_LIST: j->u.list.conn = conn; lv_list_domains(&j->u.list); break;
	case J_ANNOUNCE: case J_STOPPED: case J_UNDEFINED: case J_CHANGED: case J_REFRESH:
		j->u.read.conn = conn;
		lv_read_domain(&j->u.read);
		break;
	case J_PROBE: j->u.probe.conn = conn; lv_probe(&j->u.probe); break;
	case J_ATTACH: case J_DETACH: j->u.hostdev.conn = conn; lv_hostdev(&j->u.hostdev); break;
	case J_CONNECT: case J_DISCONNECT: break;
	}
	/* back to the idle ones, or closed here: the loop never closes a
	 * connection (the last close is an RPC) */
	lv_conns_put(j->conns, conn, gen);
}

/* The pool is going away with the job still out (mmiod exits). */
static void job_dispose(void *arg)
{
	struct lv_job *j = arg;
	if (j->kind == J_ANNOUNCE || j->kind == J_STOPPED || j->kind == J_UNDEFINED ||
	    j->kind == J_CHANGED || j->kind == J_REFRESH)
		tsd_layout_clear(&j->u.read.layout);
	if (j->kind == J_LIST)
		free(j->u.list.uuids);
	free(j);
}

/* A job for kind (about guest uuid, or NULL). */
struct lv_job *lv_job_new(struct tsd_libvirt *be, enum lv_job_kind kind, const char *uuid)
{
	struct lv_job *j = calloc(1, sizeof(*j));
	struct tsd_libvirt_guest *t = uuid ? lv_guest_find(be, uuid) : NULL;
	const struct tsd_host *host = be->base.host;

	if (!j)
		return NULL;
	j->kind = kind;
	j->be = be;
	j->conns = be->conns;
	snprintf(j->uuid, sizeof(j->uuid), "%s", uuid ? uuid : "");
	j->deadline_ms = kind == J_ATTACH || kind == J_DETACH ? host->attach_timeout_ms :
			 host->call_timeout_ms;
	switch (kind) {
	case J_CONNECT: case J_DISCONNECT: case J_LIST:
		break;
	case J_ANNOUNCE: case J_STOPPED: case J_UNDEFINED: case J_CHANGED: case J_REFRESH:
		snprintf(j->u.read.uuid, sizeof(j->u.read.uuid), "%s", uuid);
		j->u.read.is_qemu = be->is_qemu;
		j->u.read.want_layout = kind != J_UNDEFINED;
		j->u.read.facts = t ? t->facts : (struct lv_facts){ .domid = -1 };
		j->u.read.layout.free_slots = -1;
		break;
	case J_PROBE:
		snprintf(j->u.probe.uuid, sizeof(j->u.probe.uuid), "%s", uuid);
		j->u.probe.is_qemu = be->is_qemu;
		break;
	case J_ATTACH: case J_DETACH:
		snprintf(j->u.hostdev.uuid, sizeof(j->u.hostdev.uuid), "%s", uuid);
		j->u.hostdev.attach = kind == J_ATTACH;
		j->u.hostdev.is_qemu = be->is_qemu;
		j->u.hostdev.facts = t ? t->facts : (struct lv_facts){ .domid = -1 };
		break;
	}
	return j;
}

/* Hands j to the pool; false when its queue is full. */
static bool job_to_pool(struct lv_job *j)
{
	return worker_submit(j->be->base.host->pool, job_run, job_done, job_dispose, j) == 0;
}

/* A job of the op's that will not run (its guest does not answer, or is
 * gone): the op fails with rc and msg. */
static void op_job_dropped(struct lv_job *j, enum tsd_rc rc, const char *msg)
{
	struct tsd_libvirt_op *op = j->op;

	j->op = NULL;
	op->job = NULL;
	op->base.pending--;
	tsd_op_finish(&op->base, rc, "%s", msg);
	tsd_op_release(&op->base);
}

/* A job that will not run: its op (if any) fails with rc and msg, its
 * guest's count and the back end's reference go.  The caller has taken it
 * out of every queue. */
void lv_job_drop(struct lv_job *j, enum tsd_rc rc, const char *msg)
{
	struct tsd_libvirt *be = j->be;
	struct tsd_libvirt_guest *t = j->uuid[0] && !be->closed ? lv_guest_find(be, j->uuid) : NULL;

	if (t) {
		if (t->jobs)
			t->jobs--;
		if (j->kind == J_CHANGED)
			t->reading = false;
	}
	if (j->op)
		op_job_dropped(j, rc, msg);
	job_dispose(j);
	lv_be_unref(be);
}

/* The guest's next waiting job to the pool, if its call is back. */
static void guest_pump(struct tsd_libvirt *be, struct tsd_libvirt_guest *t)
{
	while (t && !t->running && t->wait_head) {
		struct lv_job *j = t->wait_head;
		t->wait_head = j->next;
		if (!t->wait_head)
			t->wait_tail = NULL;
		j->next = NULL;
		j->queued = false;
		if (job_to_pool(j)) {
			t->running = j;
			return;
		}
		tsd_log(&be->base, LOG_WARNING, "too many libvirt calls waiting; one for guest %s dropped",
			t->name[0] ? t->name : t->uuid);
		lv_job_drop(j, TSD_E_FAILED, "libvirt: too many calls waiting (libvirtd answers none?)");
	}
}

/* Hands j to the pool, or to its guest's queue while the guest has a call
 * out; false (j freed) when the pool's queue is full. */
bool lv_job_submit(struct lv_job *j, const char *uuid)
{
	struct tsd_libvirt *be = j->be;
	struct tsd_libvirt_guest *t = uuid ? lv_guest_find(be, uuid) : NULL;

	if (t && t->running) {
		j->queued = true;
		if (t->wait_tail)
			t->wait_tail->next = j;
		else
			t->wait_head = j;
		t->wait_tail = j;
	} else if (!job_to_pool(j)) {
		tsd_log(&be->base, LOG_WARNING, "too many libvirt calls waiting; one dropped");
		job_dispose(j);
		return false;
	} else if (t) {
		t->running = j;
	}
	be->refs++;
	if (t)
		t->jobs++;
	return true;
}

/* Drops the guest's waiting jobs (only those of ops: ops_only), their ops
 * failing with rc and msg. */
static void guest_drop_waiting(struct tsd_libvirt_guest *t, bool ops_only, enum tsd_rc rc,
			       const char *msg)
{
	struct lv_job **pp = &t->wait_head, *j;

	t->wait_tail = NULL;
	while ((j = *pp)) {
		if (ops_only && !j->op) {
			t->wait_tail = j;
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->next = NULL;
		j->queued = false;
		lv_job_drop(j, rc, msg);
	}
}

/* Takes j out of its guest's queue (it never reached the pool). */
void lv_guest_unqueue(struct tsd_libvirt_guest *t, struct lv_job *j)
{
	struct lv_job *prev = NULL;
	for (struct lv_job *q = t->wait_head; q; prev = q, q = q->next) {
		if (q != j)
			continue;
		if (prev)
			prev->next = q->next;
		else
			t->wait_head = q->next;
		if (t->wait_tail == q)
			t->wait_tail = prev;
		q->next = NULL;
		q->queued = false;
		return;
	}
}

/* ---- a job back on the loop -------------------------------------------------------------- */

/* The guest's count, whether it answers, then what the answer means (the
 * driver's job_result), then the guest's next call. */
static void job_done(void *arg)
{
	struct lv_job *j = arg;
	struct tsd_libvirt *be = j->be;
	struct tsd_libvirt_guest *t;

	t = j->uuid[0] && !be->closed ? lv_guest_find(be, j->uuid) : NULL;
	if (t) {
		if (t->jobs)    /* 0: a guest record made anew while its call was out */
			t->jobs--;
		if (t->running == j)
			t->running = NULL;
		/* any answer but libvirtd's own timeout says the guest answers */
		bool timeout = j->no_conn ? true :
			       j->kind == J_PROBE ? !j->u.probe.answered :
			       (j->kind == J_ATTACH || j->kind == J_DETACH) ? j->u.hostdev.rc == TSD_E_TIMEOUT :
			       j->u.read.rc == TSD_E_TIMEOUT;
		if (!timeout)
			lv_guest_answering(be, t, true, NULL);
	}
	be->job_result(be, j, t);
	if (j->op)
		j->op->job = NULL;
	/* the guest's next call, now that this one is back */
	if (!be->closed && j->uuid[0])
		guest_pump(be, lv_guest_find(be, j->uuid));
	job_dispose(j);
	lv_be_unref(be);
}

/* The last reference: no call is out any more.  libvirt's event thread
 * stops only now, once the last connection's deregistrations ran. */
void lv_be_unref(struct tsd_libvirt *be)
{
	if (--be->refs > 0)
		return;
	lv_conns_free(be->conns);
	free(be);
	lv_loop_unuse();
}
