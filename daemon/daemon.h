/* SPDX-License-Identifier: MIT */
/*
 * daemon.h — the daemon's objects: the daemon itself, its running back
 * ends and its guests (each with its books).  Knows nothing of D-Bus:
 * what changes reaches the bus (or a test) through the observer.
 */
#ifndef MMIOD_DAEMON_H
#define MMIOD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "books.h"
#include "mmio-model.h"
#include "ops-error.h"
#include "toolstack.h"

struct event_base;
struct event;
struct worker_pool;
struct json_object;

struct backend_inst {
	struct daemon *d;
	const struct tsd_driver *drv;
	struct tsd_backend *be;
	char spec[256];                 /* "qmp:/run/mmiod/qmp" */
	/* The back end's link to its toolstack (tsd_host.backend_state):
	 * while it is down its guests are stale. */
	bool disconnected;
	uint64_t state_since_usec;      /* CLOCK_REALTIME of the last change; 0 = since it opened */
	char state_msg[256];            /* why it is not connected */
};

struct guest {
	struct daemon *d;
	struct backend_inst *bi;
	char id[64];                    /* Id: unique within mmiod */
	char tsd_id[64];                /* the back end's id */
	struct tsd_guest info;
	struct books books;
	unsigned ops;                   /* toolstack operations in flight (refresh/attach/detach) */
	uint64_t refreshed_usec;        /* CLOCK_MONOTONIC of the last layout read; 0: never */
	bool gone;                      /* removed; freed when ops drops to 0 */
	/* Its toolstack did not answer a call in time and has not answered
	 * since (tsd_host.guest_answering): calls that need it fail at once
	 * (OPS_E_GUEST_UNRESPONSIVE), its books stay as they are. */
	bool unresponsive;
	uint64_t unresponsive_since_usec;       /* CLOCK_REALTIME; 0 while answering */
	char unresponsive_msg[256];
	struct guest *hnext[4];         /* chains of the daemon's guest index (daemon.c) */
};

struct daemon_config {
	char **backends;                /* NULL-terminated "NAME:ARG" */
	char *catalogue;
	char *state_dir;
	char *sysfs_root;
	char *config_file;
	uint64_t safety_margin;
	/* Deadlines of toolstack calls (mmiod.conf toolstack_timeout,
	 * attach_timeout), in ms. */
	unsigned call_timeout_ms, attach_timeout_ms;
	bool session_bus;
	char *bus_address;
	int verbose;
	bool cli_backends;              /* --backend given: the config file's backends = is ignored */
	bool cli_catalogue;             /* --catalogue or $MMIOD_CATALOGUE given */
};

/* What changed in a guest (each is one or more of its bus properties). */
#define GUEST_CHANGED_INFO         0x01u  /* name, uuid, whether it can attach */
#define GUEST_CHANGED_ATTACHES     0x02u
#define GUEST_CHANGED_DEVICES      0x04u
#define GUEST_CHANGED_RESERVATIONS 0x08u
#define GUEST_CHANGED_WINDOWS      0x10u  /* free space, and so who holds each port */
#define GUEST_CHANGED_ANSWERING    0x20u  /* whether its toolstack answers */
#define GUEST_CHANGED_STALE        0x40u  /* its back end lost or regained its toolstack */

/* Who hears of changes (the bus layer; NULL members are skipped). */
struct daemon_observer {
	void (*guest_added)(void *ud, struct guest *g);
	void (*guest_removed)(void *ud, struct guest *g);       /* g still listed */
	void (*guest_changed)(void *ud, struct guest *g, unsigned what);
	void (*backends_changed)(void *ud);
	/* An attach ended (err NULL: it succeeded), after its caller was answered. */
	void (*attach_finished)(void *ud, struct guest *g, const char *attach_id, const char *device,
				const struct ops_error *err);
};

/* Defaults of the toolstack call deadlines (mmiod.conf(5)). */
#define DAEMON_CALL_TIMEOUT_MS   5000u
#define DAEMON_ATTACH_TIMEOUT_MS 60000u

struct daemon {
	struct event_base *base;
	struct worker_pool *pool;       /* for back ends' blocking calls (worker.h) */
	const struct daemon_observer *obs;
	void *obs_ud;
	struct tsd_host host;
	struct daemon_config cfg;

	size_t nbackends;
	struct backend_inst **backends;
	size_t nguests;
	struct guest **guests;
	/* Hash index of the listed guests by id, (back end, tsd_id), name and
	 * uuid: lookups stay O(1) with thousands of guests (daemon.c). */
	size_t gcap;
	struct guest **gidx[4];

	struct mmio_catalogue cat;
	bool have_cat;

	struct json_object *pending_state;  /* per-guest books loaded, guest not announced yet */
	unsigned long next_serial;
	bool ready;
	bool quitting;
};

/* A guest's data is stale: its back end has lost its toolstack. */
static inline bool daemon_guest_stale(const struct guest *g)
{
	return g->bi && g->bi->disconnected;
}

/* Reload (SIGHUP): whether a back end's guests have toolstack operations
 * in flight (it cannot be closed then: a closing back end drops its
 * operations without calling back), and taking all its guests down as if
 * they went away (reservations are kept for their return). */
bool daemon_backend_busy(const struct daemon *d, const struct backend_inst *bi);
/* Whether the back end configured as spec is running (it opened), and how
 * many of its guests are present. */
bool daemon_backend_state(const struct daemon *d, const char *spec, uint32_t *guests);
void daemon_backend_drop_guests(struct daemon *d, struct backend_inst *bi);

/* ---- guests ---------------------------------------------------------------- */
/* Finds a guest by id, name or uuid.  On failure fills err (OPS_E_NO_SUCH_GUEST)
 * naming the known guests (or the ambiguity). */
struct guest *daemon_guest_lookup(struct daemon *d, const char *key, struct ops_error *err);
/* By id alone. */
struct guest *daemon_guest_by_id(struct daemon *d, const char *id);
/* -1 with err (OPS_E_GUEST_UNRESPONSIVE) when g's toolstack is not
 * answering: what every call that needs it checks first. */
int daemon_guest_answering(const struct guest *g, struct ops_error *err);
void daemon_guest_unref_op(struct guest *g);
/* Frees the guest index (at exit, after the guests). */
void daemon_guest_index_free(struct daemon *d);

/* A fresh id "a<serial>-<time>" / "r..." */
void daemon_new_id(struct daemon *d, char prefix, char *buf, size_t len);

/* Saves the whole state atomically; < 0 with a message logged on failure. */
int daemon_save(struct daemon *d);

/* Tells the observer what changed in g (GUEST_CHANGED_*). */
void daemon_guest_changed(struct guest *g, unsigned what);
/* CLOCK_MONOTONIC in microseconds. */
uint64_t daemon_now_usec(void);
void daemon_backends_changed(struct daemon *d);

/* Connects the back ends' host callbacks to d (before any back end opens). */
void daemon_host_init(struct daemon *d);

/* The TEST-ONLY fault hook: abort() if MMIOD_TEST_ABORT_AT equals step. */
void daemon_test_abort_at(const char *step);

/* Resolves a device spec with the daemon's catalogue and sysfs root. */
enum mmio_status daemon_resolve(struct daemon *d, const char *spec, struct mmio_device *out,
				struct mmio_error *err);

/* Refreshes a guest's layout from its back end; cb(ud, guest, rc, msg)
 * is called exactly once (possibly after the guest went away: check g->gone). */
typedef void (*daemon_refresh_fn)(void *ud, struct guest *g, enum tsd_rc rc, const char *msg);
int daemon_refresh(struct guest *g, daemon_refresh_fn cb, void *ud, struct mmio_error *err);

#endif
