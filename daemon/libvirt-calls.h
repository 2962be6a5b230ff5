/* SPDX-License-Identifier: MIT */
/*
 * libvirt-calls.h — every call of the libvirt back end that talks to
 * libvirt, i.e. that can block (each public libvirt function is an RPC to
 * libvirtd, which may itself wait for a guest's QEMU).  Each function runs
 * on a worker pool thread (worker.h): it takes everything it needs in its
 * argument and leaves everything it learnt there, never touching the back
 * end's state; the back end (toolstack-libvirt-jobs.c) hands the argument
 * out and takes the result back on the loop.  libvirt is thread-safe: a connection may be
 * used from several threads at once (each call holds a reference).
 *
 * Messages are built here, logging is the loop's: a call leaves what the
 * back end should log in `note`.
 */
#ifndef MMIOD_LIBVIRT_CALLS_H
#define MMIOD_LIBVIRT_CALLS_H

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>

#include "libvirt-map.h"

/* ---- the connections the calls run on -------------------------------------------------
 * One call at a time on a connection.  libvirt's client lets several
 * threads call on one connection, but while one call waits (a stopped
 * QEMU's monitor, a domain job held for 30 s) another thread's call there
 * can wait until the connection's next keepalive tick, 5 s later (libvirt
 * 9.0, measured: docs/reliability.md): the waiting thread owns the socket
 * and the wake-up that should make it send the other call is lost now and
 * then.  So every call takes a connection of its own from this pool and
 * gives it back when it returns; a call that is stuck keeps its
 * connection, and nobody else's call waits behind it.  The back end's own
 * connection carries only libvirt's events, its keepalive and its close.
 *
 * A driver whose connections do not share state (test:///FILE: every
 * connection has a copy of the file's domains) runs every call on the back
 * end's connection instead (lv_conns_share).
 *
 * lv_conns_get and lv_conns_put run on pool threads (they may open and
 * close connections: RPCs); the rest on the loop. */
struct lv_conns;
struct lv_conns *lv_conns_new(const char *uri);
/* After a (re)connection: later calls on conn itself (shared: a reference
 * per call) when share, else on connections of their own; idle ones from
 * before are not used again (they are closed by the next thread that
 * finds them). */
void lv_conns_share(struct lv_conns *p, virConnectPtr conn, bool share);
/* The connection for one call (a reference of the call's own), or NULL
 * with msg.  gen: give it back with it. */
virConnectPtr lv_conns_get(struct lv_conns *p, unsigned *gen, char *msg, size_t msglen);
/* The call returned: conn goes back to the idle ones, or is closed (dead,
 * from before a reconnection, too many idle, the pool closing). */
void lv_conns_put(struct lv_conns *p, virConnectPtr conn, unsigned gen);
/* Closes the idle connections; later ones given back are closed too
 * (the back end closes). */
void lv_conns_close_idle(struct lv_conns *p);
/* Connections opened, and idle now (figures for the log). */
void lv_conns_stats(struct lv_conns *p, unsigned long *opened, unsigned *idle);
/* Frees the pool: no call may use it any more (nothing idle is left, or
 * what is left is closed here). */
void lv_conns_free(struct lv_conns *p);

/* What the back end keeps per guest between reads (per run of the domain). */
struct lv_facts {
	int domid;                      /* the run they were read in; -1 none */
	bool lpc_known, native_hotplug; /* q35: pciehp behind root ports */
	/* What decides the 64-bit window besides the host bridge (as the QMP
	 * back end reads them), for the run fw_domid. */
	int fw_domid;
	bool fw_known, cpu_amd;
	uint8_t firmware;               /* TSD_FW_* */
	unsigned phys_bits, machine_version;
};

/* Read one domain (by uuid): the guest and its layout when it runs, whether
 * it is active and persistent.  rc TSD_E_NOGUEST when it is gone. */
struct lv_read {
	/* in */
	virConnectPtr conn;             /* a reference of the call's own */
	char uuid[VIR_UUID_STRING_BUFLEN];
	bool is_qemu;                   /* the connection's driver is QEMU */
	bool want_layout;               /* false: the guest alone (lifecycle checks) */
	struct lv_facts facts;          /* updated */
	/* out */
	enum tsd_rc rc;
	struct tsd_guest g;
	struct tsd_layout layout;       /* owned: tsd_layout_clear */
	bool have_layout;
	int active, persistent;         /* 1, 0, or -1 unknown */
	char msg[512];
	char note[400];                 /* a warning for the log, "" for none */
};
void lv_read_domain(struct lv_read *r);

/* Attach or detach one <hostdev> (managed='yes'), behind a port on attach. */
struct lv_hostdev {
	virConnectPtr conn;
	char uuid[VIR_UUID_STRING_BUFLEN];
	bool attach;
	bool is_qemu;
	struct mmio_bdf bdf;
	char port[64];                  /* "" = libvirt's choice */
	unsigned vflags;                /* VIR_DOMAIN_AFFECT_* */
	struct lv_facts facts;
	enum tsd_rc rc;
	char msg[512];
};
void lv_hostdev(struct lv_hostdev *h);

/* The uuids of every domain of the connection. */
struct lv_list {
	virConnectPtr conn;
	enum tsd_rc rc;
	char msg[300];
	size_t n;
	char (*uuids)[VIR_UUID_STRING_BUFLEN];  /* malloc'd */
};
void lv_list_domains(struct lv_list *l);

/* Asks the guest's QEMU (or libvirt, for another driver) something
 * trivial: whether it answers at all. */
struct lv_probe {
	virConnectPtr conn;
	char uuid[VIR_UUID_STRING_BUFLEN];
	bool is_qemu;
	bool answered;                  /* an answer, even an error, that was not a timeout */
};
void lv_probe(struct lv_probe *p);

/* The callbacks a connection delivers, on libvirt's event thread.  They
 * only copy what they are given and post it to the loop. */
struct lv_event_cbs {
	virConnectDomainEventCallback lifecycle;
	virConnectDomainEventDeviceAddedCallback device_added;
	virConnectDomainEventDeviceRemovedCallback device_removed;
	virConnectDomainQemuMonitorEventCallback qemu_event;
	virConnectCloseFunc closed;
	void *opaque;                   /* a reference per registration ... */
	void (*ref)(void *opaque);      /* ... taken here ... */
	virFreeCallback unref;          /* ... and dropped by libvirt */
};

/* Opens the URI and registers the callbacks and keepalive. */
struct lv_connect {
	char uri[256];
	struct lv_event_cbs cbs;
	virConnectPtr conn;             /* out; NULL on failure */
	bool is_qemu;
	bool share;                     /* the driver's connections do not share state (test://) */
	int ids[4];                     /* lifecycle, device added, removed, QEMU DEVICE_DELETED */
	bool close_cb;
	int err_code, err_domain;       /* libvirt's, on failure */
	char msg[300];
};
void lv_connect(struct lv_connect *c);

/* Deregisters what lv_connect registered and drops the connection (if
 * any), and closes the idle connections of conns (if any). */
struct lv_disconnect {
	virConnectPtr conn;
	struct lv_conns *conns;
	int ids[4];
	bool close_cb;
	virConnectCloseFunc closed;
	virFreeCallback unref;          /* dropped for the close callback's registration */
	void *opaque;
};
void lv_disconnect(struct lv_disconnect *d);

#endif
