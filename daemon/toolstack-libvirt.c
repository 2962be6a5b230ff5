/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libvirt.c — the libvirt back end (KVM/QEMU, Xen through
 * libvirt's libxl driver, and libvirt's test driver for the tests).
 *
 * Nothing here talks to libvirt on the daemon's loop.  libvirt's API is
 * synchronous (every call is an RPC to libvirtd, which may itself wait
 * for a guest's QEMU, or hang): every call runs as a job on the daemon's
 * worker pool (libvirt-calls.c, worker.h) with what it needs copied into
 * the job, and this file takes the result back on the loop.  libvirt's own
 * events (lifecycle, devices, a closed connection, keepalive) run on
 * libvirt's default event loop in a thread of its own (`lvloop`, the one
 * global: libvirt allows one event implementation per process); its
 * callbacks only copy what they are given and post it to the loop
 * (worker_post), tagged with the connection they came from (`lv_link`) so
 * that late ones of an old connection are dropped.
 *
 * A job never points into the back end's guests or ops: it names a guest
 * by uuid, takes a connection of its own on its thread (lv_conns: one call
 * at a time per connection, so a call stuck on one guest holds up nobody
 * else's), and holds the back end itself by a reference count, so close()
 * can free everything else while calls are still out; an op whose job is
 * out counts it in base.pending.
 *
 * One call at a time per guest: a guest's later jobs wait in its own
 * queue (in mmiod's memory, not on a pool thread nor in libvirtd) until
 * its call returns.  A guest whose QEMU hangs thus holds one pool thread,
 * one connection and one libvirtd worker, however many clients ask about
 * it, and never fills libvirtd's workers (20) nor mmiod's pool (16).
 *
 * Deadlines measure the toolstack's time: an op (refresh, attach, detach)
 * has the base's, but when it passes the guest is blamed only if the call
 * it waits for (its own, or the one before it in the guest's queue) has
 * been running in libvirt for that call's whole deadline; otherwise the
 * deadline is moved to when that call's would pass.  A call that never got
 * a pool thread (all of them in calls to other guests) fails the op
 * without blaming the guest.  A blamed guest is marked unresponsive
 * (tsd_guest_answering), its waiting ops fail and its later ops fail at
 * once; the call still out comes back when libvirtd answers, and that
 * answer (or a probe every twice the call timeout, when no call is out)
 * reports the guest answering again.  A libvirtd that hangs is the same
 * for every guest, and keepalive (5 s x 3) closes its connection: the back
 * end is then disconnected (Stale) and reconnects with back-off, one
 * attempt at a time.
 */
#include "config.h"

#include <event2/event.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "libvirt-calls.h"
#include "worker.h"

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

static int lvloop_use(struct mmio_error *err)
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

static void lvloop_unuse(void)
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

/* ---- the back end ------------------------------------------------------------- */

#define RECONNECT_MAX_SEC 30
/* Without a watch on the socket, a local libvirtd is looked for at least
 * this often: mmiod serves its guests within 5 s of libvirtd starting. */
#define RECONNECT_MAX_UNWATCHED_SEC 4

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

static void set_connected(struct tsd_libvirt *be, bool up, const char *msg)
{
	if (be->connected == up && (up || strcmp(be->down_msg, msg) == 0))
		return;
	be->connected = up;
	snprintf(be->down_msg, sizeof(be->down_msg), "%s", up ? "" : msg);
	if (be->base.host->backend_state)
		be->base.host->backend_state(be->base.host->ud, &be->base, up, be->down_msg);
}

void *tsd_libvirt_test_connection(struct tsd_backend *tbe)
{
	return ((struct tsd_libvirt *)tbe)->conn;
}

/* ---- guests by uuid ----------------------------------------------------------------- */

static size_t uuid_hash(const char *uuid)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *uuid; uuid++)
		h = (h ^ (unsigned char)*uuid) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

static struct tsd_libvirt_guest *guest_find(struct tsd_libvirt *be, const char *uuid)
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

static void guest_free(struct tsd_libvirt_guest *g)
{
	guest_drop_waiting(g, false, TSD_E_NOGUEST, "libvirt: the domain is no longer defined");
	if (g->recheck_ev)
		event_free(g->recheck_ev);
	free(g);
}

static void guest_down(struct tsd_libvirt *be, const char *uuid)
{
	struct tsd_libvirt_guest *g = guest_find(be, uuid);
	if (!g)
		return;
	guest_unlist(be, g);
	tsd_log(&be->base, LOG_INFO, "guest %s (%s) is no longer defined", g->name, g->uuid);
	if (g->announced && be->base.host->guest_down)
		be->base.host->guest_down(be->base.host->ud, &be->base, g->uuid);
	guest_free(g);
}

static struct tsd_libvirt_guest *guest_new(struct tsd_libvirt *be, const char *uuid)
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
static void guest_answering(struct tsd_libvirt *be, struct tsd_libvirt_guest *t, bool answering,
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

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void be_unref(struct tsd_libvirt *be);
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

	__atomic_store_n(&j->started_us, now_us(), __ATOMIC_RELEASE);
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
static struct lv_job *job_new(struct tsd_libvirt *be, enum lv_job_kind kind, const char *uuid)
{
	struct lv_job *j = calloc(1, sizeof(*j));
	struct tsd_libvirt_guest *t = uuid ? guest_find(be, uuid) : NULL;
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

static void op_job_dropped(struct lv_job *j, enum tsd_rc rc, const char *msg);

/* A job that will not run: its op (if any) fails with rc and msg, its
 * guest's count and the back end's reference go.  The caller has taken it
 * out of every queue. */
static void job_drop(struct lv_job *j, enum tsd_rc rc, const char *msg)
{
	struct tsd_libvirt *be = j->be;
	struct tsd_libvirt_guest *t = j->uuid[0] && !be->closed ? guest_find(be, j->uuid) : NULL;

	if (t) {
		if (t->jobs)
			t->jobs--;
		if (j->kind == J_CHANGED)
			t->reading = false;
	}
	if (j->op)
		op_job_dropped(j, rc, msg);
	job_dispose(j);
	be_unref(be);
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
		job_drop(j, TSD_E_FAILED, "libvirt: too many calls waiting (libvirtd answers none?)");
	}
}

/* Hands j to the pool, or to its guest's queue while the guest has a call
 * out; false (j freed) when the pool's queue is full. */
static bool job_submit(struct lv_job *j, const char *uuid)
{
	struct tsd_libvirt *be = j->be;
	struct tsd_libvirt_guest *t = uuid ? guest_find(be, uuid) : NULL;

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
		job_drop(j, rc, msg);
	}
}

/* Takes j out of its guest's queue (it never reached the pool). */
static void guest_unqueue(struct tsd_libvirt_guest *t, struct lv_job *j)
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

/* ---- libvirt's callbacks (its event thread) to the loop ----------------------------- */

enum lv_msg_kind { M_LIFECYCLE, M_DEVICE, M_CLOSED };

struct lv_msg {
	struct lv_link *link;
	enum lv_msg_kind kind;
	char uuid[VIR_UUID_STRING_BUFLEN];
	char what[80];                  /* M_DEVICE: alias and what happened */
	int event;                      /* M_LIFECYCLE: VIR_DOMAIN_EVENT_*; M_CLOSED: the reason */
};

static void link_ref(void *opaque)
{
	struct lv_link *l = opaque;
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_ACQ_REL);
}

static void link_unref(void *opaque)
{
	struct lv_link *l = opaque;
	if (__atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(l);
}

static void msg_on_loop(void *arg);

static void msg_dispose(void *arg)
{
	struct lv_msg *m = arg;
	link_unref(m->link);
	free(m);
}

static void post(struct lv_link *link, enum lv_msg_kind kind, virDomainPtr dom, int event,
		 const char *what)
{
	struct lv_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->link = link;
	m->kind = kind;
	m->event = event;
	if (dom)
		virDomainGetUUIDString(dom, m->uuid);   /* local, no RPC */
	snprintf(m->what, sizeof(m->what), "%s", what ? what : "");
	link_ref(link);
	if (worker_post(link->pool, msg_on_loop, msg_dispose, m) < 0)
		msg_dispose(m);
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	post(opaque, M_LIFECYCLE, dom, event, NULL);
	return 0;
}

static void device_added_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	char what[80];
	snprintf(what, sizeof(what), "%.60s added", alias);
	post(opaque, M_DEVICE, dom, 0, what);
}

static void device_removed_cb(virConnectPtr conn, virDomainPtr dom, const char *alias,
			      void *opaque)
{
	char what[80];
	snprintf(what, sizeof(what), "%.60s removed", alias);
	post(opaque, M_DEVICE, dom, 0, what);
}

/* QEMU's own DEVICE_DELETED: also for devices added behind libvirt's back
 * (virsh qemu-monitor-command device_add), which libvirt does not report. */
static void qemu_event_cb(virConnectPtr conn, virDomainPtr dom, const char *event,
			  long long seconds, unsigned int micros, const char *details, void *opaque)
{
	json_object *o = details ? json_tokener_parse(details) : NULL, *dev;
	char what[80];
	snprintf(what, sizeof(what), "%.40s deleted by QEMU",
		 o && json_object_object_get_ex(o, "device", &dev) ? json_object_get_string(dev) :
		 "(no id)");
	json_object_put(o);
	post(opaque, M_DEVICE, dom, 0, what);
}

static void closed_cb(virConnectPtr conn, int reason, void *opaque)
{
	post(opaque, M_CLOSED, NULL, reason, NULL);
}

static const struct lv_event_cbs event_cbs = {
	.lifecycle = lifecycle_cb, .device_added = device_added_cb,
	.device_removed = device_removed_cb, .qemu_event = qemu_event_cb, .closed = closed_cb,
	.ref = link_ref, .unref = link_unref,
};

/* ---- connection life ---------------------------------------------------------------- */

/* The socket directory of a local libvirt daemon, for the URI forms mmiod
 * can tell ("" for a remote URI): ?socket=PATH, qemu:///system (and any
 * DRIVER:///system: libvirtd's or the modular virtqemud's socket, both
 * in LOCALSTATEDIR/run/libvirt), DRIVER:///session. */
static void socket_dir(const char *uri, char *buf, size_t len)
{
	const char *sep = strstr(uri, "://"), *q = strchr(uri, '?'), *s;
	size_t plen;

	buf[0] = '\0';
	if (!sep || sep[3] != '/' || memchr(uri, '+', (size_t)(sep - uri)))
		return; /* a host, or a transport (qemu+ssh://): remote */
	if (q && ((s = strstr(q, "socket=")) != NULL)) {
		const char *e = strchr(s, '&');
		size_t n = e ? (size_t)(e - s - 7) : strlen(s + 7);
		char path[PATH_MAX];
		if (n == 0 || n >= sizeof(path))
			return;
		memcpy(path, s + 7, n);
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		if (slash && slash != path) {
			*slash = '\0';
			snprintf(buf, len, "%s", path);
		}
		return;
	}
	plen = q ? (size_t)(q - (sep + 3)) : strlen(sep + 3);
	if (plen == 7 && strncmp(sep + 3, "/system", 7) == 0) {
		snprintf(buf, len, "/run/libvirt");
	} else if (plen == 8 && strncmp(sep + 3, "/session", 8) == 0) {
		const char *rt = getenv("XDG_RUNTIME_DIR");
		if (rt && rt[0])
			snprintf(buf, len, "%s/libvirt", rt);
	}
}

static void try_connect(struct tsd_libvirt *be);

static void reconnect_later(struct tsd_libvirt *be)
{
	int cap = be->ino_wd >= 0 || !be->sockdir[0] ? RECONNECT_MAX_SEC : RECONNECT_MAX_UNWATCHED_SEC;
	be->backoff = be->backoff ? be->backoff * 2 : 1;
	if (be->backoff > cap)
		be->backoff = cap;
	struct timeval tv = { be->backoff, 0 };
	event_add(be->reconnect, &tv);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	try_connect(arg);
}

static void watch_socket(struct tsd_libvirt *be);

static void ino_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt *be = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool poke = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			poke |= e->len > 0 || (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED));
			p += sizeof(*e) + e->len;
		}
	}
	if (!poke || be->conn || be->connecting)
		return;
	/* Something appeared where the socket will be (or on the way to
	 * it): move the watch nearer, and try now. */
	watch_socket(be);
	event_del(be->reconnect);
	be->backoff = 0;
	try_connect(be);
}

/* Watches the socket directory, or its nearest existing parent while it
 * does not exist yet (/run/libvirt appears with the daemon). */
static void watch_socket(struct tsd_libvirt *be)
{
	char dir[PATH_MAX];

	if (!be->sockdir[0])
		return;
	if (be->ino_fd < 0) {
		be->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (be->ino_fd < 0)
			return;
		be->ino_ev = event_new(be->base.host->base, be->ino_fd, EV_READ | EV_PERSIST, ino_cb, be);
		if (!be->ino_ev || event_add(be->ino_ev, NULL) < 0) {
			if (be->ino_ev)
				event_free(be->ino_ev);
			be->ino_ev = NULL;
			close(be->ino_fd);
			be->ino_fd = -1;
			return;
		}
	}
	snprintf(dir, sizeof(dir), "%s", be->sockdir);
	while (access(dir, F_OK) != 0) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			snprintf(dir, sizeof(dir), "/");
			break;
		}
		*slash = '\0';
	}
	if (be->ino_wd >= 0 && strcmp(dir, be->ino_dir) == 0)
		return;
	if (be->ino_wd >= 0)
		inotify_rm_watch(be->ino_fd, be->ino_wd);
	be->ino_wd = inotify_add_watch(be->ino_fd, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB |
				       IN_DELETE_SELF | IN_MOVE_SELF);
	snprintf(be->ino_dir, sizeof(be->ino_dir), "%s", be->ino_wd >= 0 ? dir : "");
}

static void unwatch_socket(struct tsd_libvirt *be)
{
	if (be->ino_ev)
		event_free(be->ino_ev);
	be->ino_ev = NULL;
	if (be->ino_fd >= 0)
		close(be->ino_fd);
	be->ino_fd = be->ino_wd = -1;
	be->ino_dir[0] = '\0';
}

/* Drops the connection: its callbacks are ignored from now on, its
 * deregistration and close run as a job. */
/* Drops the back end's connection (on the pool); at close (last) the
 * calls' idle connections too. */
static void disconnect(struct tsd_libvirt *be, bool last)
{
	struct lv_link *link = be->link;
	struct lv_job *j;

	if (!be->conn && !last)
		return;
	/* later calls do not get it (nor a connection opened for it) */
	lv_conns_share(be->conns, NULL, false);
	j = job_new(be, J_DISCONNECT, NULL);
	if (j && be->conn) {
		j->u.disconnect = (struct lv_disconnect){ .conn = be->conn, .close_cb = be->close_cb,
							  .closed = closed_cb, .unref = link_unref,
							  .opaque = link };
		memcpy(j->u.disconnect.ids, be->ids, sizeof(be->ids));
	}
	if (j)
		j->u.disconnect.conns = last ? be->conns : NULL;
	if (j && !job_submit(j, NULL))
		tsd_log(&be->base, LOG_WARNING, "the old connection to %s is left open", be->uri);
	if (link) {
		link->be = NULL;
		link_unref(link);       /* the back end's */
	}
	be->link = NULL;
	be->conn = NULL;
}

static void start_connect(struct tsd_libvirt *be)
{
	struct lv_job *j = job_new(be, J_CONNECT, NULL);

	if (!j || !(j->u.connect.cbs.opaque = calloc(1, sizeof(struct lv_link)))) {
		free(j);
		reconnect_later(be);
		return;
	}
	snprintf(j->u.connect.uri, sizeof(j->u.connect.uri), "%s", be->uri);
	struct lv_link *link = j->u.connect.cbs.opaque;
	link->pool = be->base.host->pool;
	link->refs = 1;                 /* the job's; the back end's once connected */
	j->u.connect.cbs = event_cbs;
	j->u.connect.cbs.opaque = link;
	if (job_submit(j, NULL))
		be->connecting = true;
	else {
		free(link);
		reconnect_later(be);
	}
}

static void try_connect(struct tsd_libvirt *be)
{
	if (be->connecting || be->conn || be->gave_up)
		return;
	start_connect(be);
}

static void sync_all(struct tsd_libvirt *be, bool force);

static void connect_done(struct tsd_libvirt *be, struct lv_connect *c)
{
	struct lv_link *link = c->cbs.opaque;

	be->connecting = false;
	if (!c->conn) {
		link_unref(link);
		/* A URI no driver takes is a configuration error; a daemon that
		 * is not there (yet) is waited for. */
		if (c->err_code == VIR_ERR_NO_CONNECT && !be->sockdir[0] &&
		    c->err_domain != VIR_FROM_RPC) {
			tsd_log(&be->base, LOG_ERR, "%s; no libvirt driver takes this URI: not retried "
				"(fix --backend / backends = and reload)", c->msg);
			be->gave_up = true;
			set_connected(be, false, c->msg);
			return;
		}
		if (strcmp(be->down_msg, c->msg) != 0)
			tsd_log(&be->base, LOG_WARNING, "%s; retrying%s", c->msg,
				be->ino_wd >= 0 || be->sockdir[0] ? " (and watching for its socket)" : "");
		set_connected(be, false, c->msg);
		watch_socket(be);
		reconnect_later(be);
		return;
	}
	be->conn = c->conn;
	be->link = link;
	link->be = be;
	memcpy(be->ids, c->ids, sizeof(be->ids));
	be->close_cb = c->close_cb;
	be->is_qemu = c->is_qemu;
	lv_conns_share(be->conns, c->conn, c->share);
	be->backoff = 0;
	event_del(be->reconnect);
	tsd_log(&be->base, LOG_NOTICE, "connected to %s", be->uri);
	set_connected(be, true, "");
	/* a new connection: every guest is asked afresh (calls still out on
	 * the old one come back with its errors) */
	for (struct tsd_libvirt_guest *t = be->guests; t; t = t->next)
		guest_answering(be, t, true, NULL);
	sync_all(be, be->was_connected);
	be->was_connected = true;
}

static void closed(struct tsd_libvirt *be, int reason)
{
	char msg[sizeof(be->down_msg)];
	snprintf(msg, sizeof(msg), "the connection to %.200s was lost (%s)", be->uri,
		 reason == VIR_CONNECT_CLOSE_REASON_EOF ? "libvirt's daemon went away" :
		 reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out: it does not answer" :
		 reason == VIR_CONNECT_CLOSE_REASON_CLIENT ? "closed by the client" : "error");
	tsd_log(&be->base, LOG_WARNING, "%s; its guests are kept as last read until it is back", msg);
	set_connected(be, false, msg);
	disconnect(be, false);
	be->backoff = 0;
	try_connect(be);
}

/* ---- guests: announced, changed, gone -------------------------------------------------- */

/* Reads a domain (kind: why) unless a call for it is stuck. */
static void read_guest(struct tsd_libvirt *be, const char *uuid, enum lv_job_kind kind, bool force)
{
	struct tsd_libvirt_guest *t = guest_find(be, uuid);
	struct lv_job *j;

	if (!be->conn || (t && t->unresponsive))
		return;
	if (kind == J_CHANGED && t) {
		if (t->reading) {
			t->read_again = true;
			return;
		}
		t->reading = true;
	}
	j = job_new(be, kind, uuid);
	if (!j) {
		if (t)
			t->reading = false;
		return;
	}
	j->force = force;
	if (!job_submit(j, uuid) && t)
		t->reading = false;
}

static void sync_all(struct tsd_libvirt *be, bool force)
{
	struct lv_job *j = job_new(be, J_LIST, NULL);
	if (j) {
		j->force = force;
		job_submit(j, NULL);
	}
}

static void list_done(struct tsd_libvirt *be, struct lv_list *l, bool force)
{
	if (l->rc != TSD_OK) {
		tsd_log(&be->base, LOG_ERR, "%s", l->msg);
		return;
	}
	for (struct tsd_libvirt_guest *g = be->guests; g; g = g->next)
		g->seen = false;
	for (size_t i = 0; i < l->n; i++) {
		struct tsd_libvirt_guest *t = guest_find(be, l->uuids[i]);
		if (t)
			t->seen = true;
		read_guest(be, l->uuids[i], J_ANNOUNCE, force);
	}
	for (struct tsd_libvirt_guest *g = be->guests, *next; g; g = next) {
		next = g->next;
		if (!g->seen && g->announced)
			guest_down(be, g->uuid);
	}
}

#define RECHECK_FIRST_MS  2000u
#define RECHECK_MAX_MS    32000u
#define RECHECK_BUDGET_MS 120000u

static void recheck_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt_guest *t = arg;
	read_guest(t->be, t->uuid, J_CHANGED, false);
}

/* QEMU's view from before the guest's firmware ran: a port not numbered
 * yet, or not one BAR placed. */
static bool layout_unsettled(const struct tsd_layout *l)
{
	size_t placed = 0;
	for (size_t i = 0; i < l->nports; i++)
		if (!l->ports[i].windows_known)
			return true;
	for (size_t i = 0; i < l->nbars; i++)
		placed += l->bars[i].addr != TSD_ADDR_UNASSIGNED;
	return l->nbars && !placed;
}

/* Re-reads t later while its layout is unsettled (first: it just started). */
static void recheck(struct tsd_libvirt_guest *t, const struct tsd_layout *l, bool first)
{
	if (first) {
		t->recheck_ms = RECHECK_FIRST_MS;
		t->recheck_spent_ms = 0;
	}
	if (!l || !layout_unsettled(l) || !t->recheck_ms ||
	    t->recheck_spent_ms >= RECHECK_BUDGET_MS) {
		t->recheck_ms = 0;
		return;
	}
	if (!t->recheck_ev &&
	    !(t->recheck_ev = evtimer_new(t->be->base.host->base, recheck_cb, t)))
		return;
	struct timeval tv = { t->recheck_ms / 1000, (t->recheck_ms % 1000) * 1000 };
	evtimer_add(t->recheck_ev, &tv);
	t->recheck_spent_ms += t->recheck_ms;
	if (t->recheck_ms < RECHECK_MAX_MS)
		t->recheck_ms *= 2;
}

/* A domain read: a new guest, or a known one whose state changed (started,
 * shut off, re-defined) or that must be re-read (force: after a
 * reconnection).  A guest that starts or stops stays the same guest (its
 * properties change); only an undefined one goes away. */
static void announce(struct tsd_libvirt *be, struct lv_read *r, bool force)
{
	struct tsd_libvirt_guest *t = guest_find(be, r->uuid);
	bool fresh = !t || !t->announced;

	if (r->rc == TSD_E_NOGUEST) {
		if (t && !t->announced)
			guest_down(be, r->uuid);
		return;
	}
	if (!t && !(t = guest_new(be, r->uuid)))
		return;
	t->seen = true;
	t->facts = r->facts;
	bool active = r->active == 1;
	if (!fresh && !force && t->active == active && strcmp(t->name, r->g.name) == 0)
		return; /* nothing new */
	if (!fresh && t->active != active)
		tsd_log(&be->base, LOG_INFO, "guest %s %s", r->g.name, active ? "started" : "shut off");
	t->active = active;
	t->announced = true;
	snprintf(t->name, sizeof(t->name), "%s", r->g.name);
	if (be->base.host->guest_up)
		be->base.host->guest_up(be->base.host->ud, &be->base, &r->g,
					r->have_layout ? &r->layout : NULL);
	if (active && r->have_layout)
		recheck(t, &r->layout, true);
}

static void msg_on_loop(void *arg)
{
	struct lv_msg *m = arg;
	struct tsd_libvirt *be = m->link->be;

	if (be && be->link == m->link) {
		struct tsd_libvirt_guest *t = m->uuid[0] ? guest_find(be, m->uuid) : NULL;
		switch (m->kind) {
		case M_CLOSED:
			closed(be, m->event);
			break;
		case M_DEVICE:
			/* A device came or went outside mmiod's own attach
			 * (virsh attach-device, detach-device, a monitor
			 * device_del): re-read the guest, once per burst. */
			if (t) {
				tsd_log(&be->base, LOG_INFO, "guest %s: device %s", t->name, m->what);
				read_guest(be, m->uuid, J_CHANGED, false);
			}
			break;
		case M_LIFECYCLE:
			switch (m->event) {
			case VIR_DOMAIN_EVENT_STARTED:
			case VIR_DOMAIN_EVENT_DEFINED:
				if (t)
					t->facts.lpc_known = false;     /* a new run */
				read_guest(be, m->uuid, J_ANNOUNCE, m->event == VIR_DOMAIN_EVENT_DEFINED);
				break;
			case VIR_DOMAIN_EVENT_STOPPED:
				/* a persistent domain stays listed, shut off; a transient one is gone */
				read_guest(be, m->uuid, J_STOPPED, false);
				break;
			case VIR_DOMAIN_EVENT_UNDEFINED:
				read_guest(be, m->uuid, J_UNDEFINED, false);
				break;
			default:
				break;  /* suspend, resume, ...: the layout does not change */
			}
			break;
		}
	}
	msg_dispose(m);
}

/* ---- a job back on the loop -------------------------------------------------------------- */

static void op_result(struct tsd_libvirt *be, struct lv_job *j);

static void job_done(void *arg)
{
	struct lv_job *j = arg;
	struct tsd_libvirt *be = j->be;
	struct tsd_libvirt_guest *t;

	t = j->uuid[0] && !be->closed ? guest_find(be, j->uuid) : NULL;
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
			guest_answering(be, t, true, NULL);
	}
	if (!be->closed && j->no_conn && (j->kind == J_ANNOUNCE || j->kind == J_STOPPED ||
					  j->kind == J_UNDEFINED)) {
		/* nobody was asked: the guest stays as it was */
		tsd_log(&be->base, LOG_WARNING, "%s", j->u.read.msg);
	} else if (!be->closed) {
		switch (j->kind) {
		case J_CONNECT:
			connect_done(be, &j->u.connect);
			break;
		case J_DISCONNECT:
			break;
		case J_LIST:
			list_done(be, &j->u.list, j->force);
			break;
		case J_ANNOUNCE:
			if (j->u.read.note[0])
				tsd_log(&be->base, LOG_WARNING, "%s", j->u.read.note);
			announce(be, &j->u.read, j->force);
			break;
		case J_STOPPED:
			if (j->u.read.rc == TSD_E_NOGUEST || j->u.read.persistent == 0)
				guest_down(be, j->u.read.uuid);
			else
				announce(be, &j->u.read, false);
			break;
		case J_UNDEFINED:
			if (j->u.read.rc == TSD_E_NOGUEST || j->u.read.active != 1)
				guest_down(be, j->u.read.uuid);
			break;
		case J_CHANGED:
			if (t) {
				t->reading = false;
				t->facts = j->u.read.facts;
				if (j->u.read.rc == TSD_OK && j->u.read.have_layout) {
					if (be->base.host->guest_changed)
						be->base.host->guest_changed(be->base.host->ud, &be->base,
									     t->uuid, &j->u.read.layout);
					recheck(t, &j->u.read.layout, false);
				}
				if (t->read_again) {
					t->read_again = false;
					read_guest(be, t->uuid, J_CHANGED, false);
				}
			}
			break;
		case J_PROBE:
			break;
		case J_REFRESH: case J_ATTACH: case J_DETACH:
			if (t && j->kind == J_REFRESH)
				t->facts = j->u.read.facts;
			op_result(be, j);
			break;
		}
	} else if (j->kind == J_CONNECT && j->u.connect.conn) {
		/* closed meanwhile: the connection goes as it came */
		struct lv_job *d = job_new(be, J_DISCONNECT, NULL);
		if (d) {
			d->u.disconnect = (struct lv_disconnect){ .conn = j->u.connect.conn,
								  .close_cb = j->u.connect.close_cb,
								  .closed = closed_cb, .unref = link_unref,
								  .opaque = j->u.connect.cbs.opaque };
			memcpy(d->u.disconnect.ids, j->u.connect.ids, sizeof(d->u.disconnect.ids));
			job_submit(d, NULL);
		}
		link_unref(j->u.connect.cbs.opaque);
	} else if (j->kind == J_CONNECT) {
		link_unref(j->u.connect.cbs.opaque);
	}
	if (j->op)
		j->op->job = NULL;
	/* the guest's next call, now that this one is back */
	if (!be->closed && j->uuid[0])
		guest_pump(be, guest_find(be, j->uuid));
	job_dispose(j);
	be_unref(be);
}

/* ---- operations ------------------------------------------------------------------ */

static void op_dispose(struct tsd_op *base)
{
	struct tsd_libvirt_op *op = (struct tsd_libvirt_op *)base;
	if (op->job)
		op->job->op = NULL;     /* the call comes back to nobody */
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

static const char *job_what(const struct lv_job *j)
{
	switch (j->kind) {
	case J_ATTACH: return "attach";
	case J_DETACH: return "detach";
	case J_PROBE: return "probe";
	default: return "read of the layout";
	}
}

/* The op's deadline passed with its call not back.  The guest is to blame
 * only for libvirt's own time: the call the op waits for (its own, or the
 * guest's call before it) must have run in libvirt for that call's whole
 * deadline.  One that ran less moves the op's deadline to when it would
 * pass; one that never got a pool thread (every thread in a call to some
 * other guest) fails the op, the guest not blamed, after twice the op's
 * deadline. */
static void op_timeout(struct tsd_op *base)
{
	struct tsd_libvirt_op *op = (struct tsd_libvirt_op *)base;
	struct tsd_libvirt *be = (struct tsd_libvirt *)base->be;
	struct tsd_libvirt_guest *t = guest_find(be, op->uuid);
	struct lv_job *j = op->job;
	struct lv_job *front = j && j->queued && t && t->running ? t->running : j;
	long long now = now_us(), started;
	const char *name = t ? t->name : op->uuid;
	char why[200];

	if (!front)
		return;         /* the base finishes it */
	started = __atomic_load_n(&front->started_us, __ATOMIC_ACQUIRE);
	if (started) {
		long long ran = now - started, due = (long long)front->deadline_ms * 1000;
		if (ran + 1000 < due) {
			tsd_op_deadline(base, (unsigned)((due - ran + 999) / 1000));
			return;
		}
		snprintf(why, sizeof(why), "libvirt did not answer within %u ms (%s)", front->deadline_ms,
			 job_what(front));
		tsd_op_finish(base, TSD_E_UNRESPONSIVE, "guest %s: %s; it is marked unresponsive until "
			      "it answers again", name, why);
		if (j->queued && t) {
			/* never sent: for an attach, nothing happened */
			guest_unqueue(t, j);
			job_drop(j, TSD_E_UNRESPONSIVE, "");
		}
		guest_answering(be, t, false, why);
		return;
	}
	unsigned own_ms = j->deadline_ms ? j->deadline_ms : 1000;
	if (now - op->started_us < 2LL * own_ms * 1000) {
		tsd_op_deadline(base, own_ms / 2 ? own_ms / 2 : 1);
		return;
	}
	struct worker_stats st;
	worker_pool_stats(be->base.host->pool, &st);
	tsd_log(&be->base, LOG_WARNING, "guest %s: no libvirt call could start within %u ms: all %u "
		"worker threads are in calls (%u waiting)", name, 2 * own_ms, st.busy, st.queued);
	tsd_op_finish(base, TSD_E_FAILED, "libvirt: the call for guest %s could not start within %u ms: "
		      "all %u of mmiod's worker threads are in libvirt calls (to guests, or a libvirtd, "
		      "that do not answer); the guest itself is not blamed", name, 2 * own_ms, st.busy);
	if (j->queued && t) {
		guest_unqueue(t, j);
		job_drop(j, TSD_E_FAILED, "");
	}
}

static void op_result(struct tsd_libvirt *be, struct lv_job *j)
{
	struct tsd_libvirt_op *op = j->op;
	struct tsd_result *res;

	if (!op)
		return;
	/* the op may be freed below (a late answer to an op already
	 * delivered): neither points to the other any more */
	j->op = NULL;
	op->job = NULL;
	op->base.pending--;
	res = &op->base.res;
	if (op->base.finished) {
		tsd_op_release(&op->base);
		return;
	}
	if (j->kind == J_REFRESH) {
		struct lv_read *r = &j->u.read;
		if (r->note[0])
			tsd_log(&be->base, LOG_WARNING, "%s", r->note);
		/* A shut-off domain has no windows to re-read: say why. */
		if (r->rc == TSD_OK && (!r->have_layout || (!r->g.can_attach && r->layout.nwin == 0))) {
			tsd_op_finish(&op->base, TSD_E_NOTSUPPORTED, "no layout for %s: %s", r->g.name,
				      r->g.why_not[0] ? r->g.why_not : "no model for this guest");
			return;
		}
		if (r->rc != TSD_OK) {
			tsd_op_finish(&op->base, r->rc, "%s", r->msg);
			return;
		}
		tsd_layout_clear(&op->base.layout);
		op->base.layout = r->layout;
		memset(&r->layout, 0, sizeof(r->layout));
		op->base.have_layout = true;
		tsd_op_finish(&op->base, TSD_OK, NULL);
		return;
	}
	struct lv_hostdev *h = &j->u.hostdev;
	if (h->rc != TSD_OK) {
		tsd_op_finish(&op->base, h->rc, "%s", h->msg);
		return;
	}
	mmio_bdf_format(&h->bdf, res->attached_id, sizeof(res->attached_id));
	/* libvirt does not tell which qdev id it gave the hostdev in reply;
	 * placement is checked by the daemon's next refresh, not here. */
	if (j->kind == J_ATTACH)
		tsd_op_finish(&op->base, TSD_OK, "attached%s%s; BAR placement not verified by the "
			      "libvirt back end", h->port[0] ? " behind " : "", h->port);
	else
		tsd_op_finish(&op->base, TSD_OK, NULL);
}

/* An op and its call.  A guest that does not answer gets an op that
 * fails at once, delivered from the loop; a back end that is not
 * connected one that fails (its guests are stale). */
static struct tsd_libvirt_op *op_start(struct tsd_libvirt *be, enum tsd_op_kind kind,
				       const char *uuid, struct lv_job **jobp, struct mmio_error *err)
{
	struct tsd_libvirt_op *op = tsd_op_new(&be->base, sizeof(*op), kind, op_dispose, err);
	struct tsd_libvirt_guest *t = guest_find(be, uuid);
	enum lv_job_kind jk = kind == TSD_OP_REFRESH ? J_REFRESH : kind == TSD_OP_ATTACH ? J_ATTACH : J_DETACH;

	*jobp = NULL;
	if (!op)
		return NULL;
	op->base.on_timeout = op_timeout;
	op->started_us = now_us();
	snprintf(op->uuid, sizeof(op->uuid), "%s", uuid);
	if (t && t->unresponsive) {
		tsd_op_finish(&op->base, TSD_E_UNRESPONSIVE, "guest %s is not answering: %s", t->name,
			      t->unresponsive_msg);
		return op;
	}
	if (!be->conn) {
		tsd_op_finish(&op->base, TSD_E_FAILED, "libvirt: %s",
			      be->down_msg[0] ? be->down_msg : "not connected");
		return op;
	}
	if (!(*jobp = job_new(be, jk, uuid))) {
		tsd_op_finish(&op->base, TSD_E_FAILED, "libvirt: out of memory");
		return op;
	}
	(*jobp)->op = op;
	return op;
}

/* Hands the op's call to the pool. */
static void op_go(struct tsd_libvirt_op *op, struct lv_job *j)
{
	if (!j)
		return;
	if (!job_submit(j, op->uuid)) {
		tsd_op_finish(&op->base, TSD_E_FAILED, "libvirt: too many calls waiting (libvirtd "
			      "answers none?)");
		return;
	}
	op->job = j;
	op->base.pending++;
}

/* ---- probing guests that do not answer ----------------------------------------------- */

static void prober_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt *be = arg;

	if (!be->conn)
		return;
	/* one call at a time per guest: a guest with a call still out
	 * answers by that call */
	for (struct tsd_libvirt_guest *t = be->guests; t; t = t->next) {
		if (!t->unresponsive || t->jobs)
			continue;
		struct lv_job *j = job_new(be, J_PROBE, t->uuid);
		if (j)
			job_submit(j, t->uuid);
	}
}

/* ---- the driver -------------------------------------------------------------- */

/* The last reference: no call is out any more.  libvirt's event thread
 * stops only now, once the last connection's deregistrations ran. */
static void be_unref(struct tsd_libvirt *be)
{
	if (--be->refs > 0)
		return;
	lv_conns_free(be->conns);
	free(be);
	lvloop_unuse();
}

static void tsd_libvirt_close(struct tsd_backend *tbe)
{
	struct tsd_libvirt *be = (struct tsd_libvirt *)tbe;
	if (!be)
		return;
	/* ops first: their calls still out come back to nobody */
	tsd_ops_free(&be->base);
	if (be->conns)
		disconnect(be, true);
	unwatch_socket(be);
	if (be->reconnect)
		event_free(be->reconnect);
	if (be->prober)
		event_free(be->prober);
	be->reconnect = be->prober = NULL;
	while (be->guests) {
		struct tsd_libvirt_guest *g = be->guests;
		be->guests = g->next;
		guest_free(g);
	}
	free(be->htab);
	be->htab = NULL;
	be->hcap = be->nguests = 0;
	be->closed = true;
	be_unref(be);
}

static int tsd_libvirt_open(const struct tsd_host *host, const char *arg, unsigned flags,
			    struct tsd_backend **out, struct mmio_error *err)
{
	tsd_check_flags("libvirt", "open", flags, 0, err);
	if (!arg || !arg[0]) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: a URI is required "
			       "(--backend libvirt:qemu:///system)");
		return -1;
	}
	if (!strstr(arg, ":/")) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: \"%.200s\" is not a libvirt URI "
			       "(qemu:///system, test:///default, ...)", arg);
		return -1;
	}
	if (strlen(arg) >= sizeof(((struct tsd_libvirt *)0)->uri)) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: URI too long");
		return -1;
	}
	if (!host->pool) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "libvirt: needs the daemon's worker pool");
		return -1;
	}
	struct tsd_libvirt *be = calloc(1, sizeof(*be));
	if (!be) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return -1;
	}
	be->refs = 1;
	be->base.drv = &tsd_libvirt_driver;
	be->base.host = host;
	for (int i = 0; i < 4; i++)
		be->ids[i] = -1;
	be->ino_fd = be->ino_wd = -1;
	be->connected = true;           /* until told otherwise: set_connected reports changes */
	snprintf(be->base.spec, sizeof(be->base.spec), "libvirt:%.240s", arg);
	snprintf(be->uri, sizeof(be->uri), "%s", arg);
	socket_dir(be->uri, be->sockdir, sizeof(be->sockdir));
	xmlInitParser();
	if (!(be->conns = lv_conns_new(be->uri))) {
		free(be);
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		return -1;
	}
	if (lvloop_use(err) < 0) {
		lv_conns_free(be->conns);
		free(be);
		return -1;
	}
	unsigned probe_ms = host->call_timeout_ms ? 2 * host->call_timeout_ms : 10000;
	if (probe_ms < 1000)
		probe_ms = 1000;
	struct timeval ptv = { probe_ms / 1000, (probe_ms % 1000) * 1000 };
	be->reconnect = evtimer_new(host->base, reconnect_cb, be);
	be->prober = event_new(host->base, -1, EV_PERSIST, prober_cb, be);
	if (!be->reconnect || !be->prober || event_add(be->prober, &ptv) < 0) {
		mmio_error_set(err, MMIO_E_NOMEM, "libvirt: out of memory");
		tsd_libvirt_close(&be->base);
		return -1;
	}
	/* the connection is made on the pool: guests come once it is up */
	try_connect(be);
	*out = &be->base;
	return 0;
}

static int tsd_libvirt_refresh(struct tsd_backend *tbe, const char *guest_id, unsigned flags,
			       tsd_layout_fn cb, void *ud, struct mmio_error *err)
{
	struct lv_job *j;
	tsd_check_flags("libvirt", "refresh", flags, 0, err);
	struct tsd_libvirt_op *op = op_start((struct tsd_libvirt *)tbe, TSD_OP_REFRESH, guest_id, &j,
					     err);
	if (!op)
		return -1;
	op->base.layout_cb = cb;
	op->base.ud = ud;
	op_go(op, j);
	return 0;
}

/* Starts an attach or detach of one <hostdev>; 0, or -1 with err. */
static int op_start_hostdev(struct tsd_libvirt *be, enum tsd_op_kind kind, const char *guest_id,
			    const struct mmio_bdf *bdf, const char *port, unsigned flags,
			    tsd_done_fn cb, void *ud, struct mmio_error *err)
{
	struct lv_job *j;

	if (port && strlen(port) >= sizeof(j->u.hostdev.port)) {
		mmio_error_set(err, MMIO_E_INVALID, "libvirt: port name too long");
		return -1;
	}
	struct tsd_libvirt_op *op = op_start(be, kind, guest_id, &j, err);
	if (!op)
		return -1;
	op->base.done_cb = cb;
	op->base.ud = ud;
	if (j) {
		j->u.hostdev.bdf = *bdf;
		snprintf(j->u.hostdev.port, sizeof(j->u.hostdev.port), "%s", port ? port : "");
		j->u.hostdev.vflags = VIR_DOMAIN_AFFECT_LIVE |
				      (flags & TSD_ATTACH_PERSISTENT ? VIR_DOMAIN_AFFECT_CONFIG : 0);
	}
	op_go(op, j);
	return 0;
}

static int tsd_libvirt_attach(struct tsd_backend *tbe, const char *guest_id,
			      const struct tsd_attach_req *req, unsigned flags, tsd_done_fn cb,
			      void *ud, struct mmio_error *err)
{
	struct mmio_bdf bdf;
	tsd_check_flags("libvirt", "attach", flags, TSD_ATTACH_KNOWN_FLAGS, err);
	if (req->device && mmio_device_is_slot(req->device)) {
		/* libvirt reserves a whole slot per hot-plugged device and refuses
		 * any other function (virDomainPCIAddressEnsureAddr, libvirt 9.0
		 * and later: "Only PCI device addresses with function=0 are
		 * supported"), so a multi-function slot cannot go in live */
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "libvirt cannot hot-plug a multi-function slot (%.100s): it hot-plugs PCI "
			       "devices at function 0 only; attach the functions one by one (each in a slot "
			       "of its own), or add the slot to the domain XML with multifunction='on' and "
			       "restart the guest", req->device->name);
		return -1;
	}
	if (!req->host_bdf) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "libvirt attaches host PCI devices only; "
			       "\"%s\" is not one", req->device ? req->device->name : "?");
		return -1;
	}
	if (mmio_bdf_parse(req->host_bdf, &bdf, err) != MMIO_OK)
		return -1;
	/* managed='yes': libvirt detaches the device from its host driver
	 * itself, so TSD_ATTACH_ASSIGNABLE needs no step of ours. */
	return op_start_hostdev((struct tsd_libvirt *)tbe, TSD_OP_ATTACH, guest_id, &bdf, req->port,
				flags, cb, ud, err);
}

static int tsd_libvirt_detach(struct tsd_backend *tbe, const char *guest_id,
			      const char *attached_id, unsigned flags, tsd_done_fn cb, void *ud,
			      struct mmio_error *err)
{
	struct mmio_bdf bdf;
	tsd_check_flags("libvirt", "detach", flags, TSD_ATTACH_PERSISTENT, err);
	if (mmio_bdf_parse(attached_id, &bdf, err) != MMIO_OK)
		return -1;
	return op_start_hostdev((struct tsd_libvirt *)tbe, TSD_OP_DETACH, guest_id, &bdf, NULL, flags,
				cb, ud, err);
}

const struct tsd_driver tsd_libvirt_driver = {
	.name = "libvirt",
	.platform = TSD_PLATFORM_QEMU,
	.open = tsd_libvirt_open,
	.close = tsd_libvirt_close,
	.refresh = tsd_libvirt_refresh,
	.attach = tsd_libvirt_attach,
	.detach = tsd_libvirt_detach,
};
