/* SPDX-License-Identifier: MIT */
/*
 * toolstack.h — the one small interface every toolstack back end implements
 * (QEMU QMP, libvirt, libxenlight), in the manner of libvirt's driver tables,
 * and the operation base they build on.
 *
 * "tsd" stands for toolstack driver: tsd_driver is one back end's table of
 * operations, tsd_backend one opened instance of it, tsd_op one operation
 * in flight.  (Not POSIX thread-specific data: mmiod has no threads.)
 *
 * Rules:
 *  - Functions and types of a driver are named tsd_<driver>_... (tsd_qmp_op,
 *    tsd_libvirt_guest; never the library's own libxl_/vir prefix).  A NULL
 *    operation means "not supported" and the daemon reports it as
 *    org.mmiod1.Error.NotSupported.
 *  - Every operation takes `unsigned flags` and rejects unknown bits
 *    (tsd_check_flags).
 *  - Everything runs on the daemon's libevent loop (host->base).  A
 *    toolstack call that can block (a library's synchronous RPC) runs on
 *    the daemon's worker pool (host->pool, worker.h) and its result comes
 *    back to the loop: the loop never waits for a guest.
 *  - Operations are asynchronous: they return 0 once started and call their
 *    callback exactly once later (never from inside the initiating call), or
 *    return < 0 with err filled and never call the callback.
 *  - Every operation has a deadline (the op base arms it from
 *    host->call_timeout_ms or host->attach_timeout_ms): a toolstack that
 *    does not answer in time fails the operation with TSD_E_UNRESPONSIVE,
 *    and the back end reports the guest through host->guest_answering
 *    (false now, true again as soon as its toolstack answers anything).
 *  - A back end tells the daemon about guests through the host callbacks;
 *    the daemon owns the books (holds, reservations), the back end owns only
 *    the connection to its toolstack.
 */
#ifndef MMIOD_TOOLSTACK_H
#define MMIOD_TOOLSTACK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "mmio-model.h"

struct event_base;
struct tsd_backend;

struct tsd_guest {
	char id[64];            /* unique within its back end: QMP socket name, libvirt UUID, domid */
	char name[128];
	char uuid[40];          /* "" if the toolstack has none */
	bool can_attach;        /* false for PV/PVH Xen guests, inactive domains, ... */
	char why_not[160];      /* the reason when !can_attach */
	/* Why no host device (a BDF: passthrough) can be attached although the
	 * guest takes hot-plugs ("" when it can): a Xen guest created with
	 * passthrough disabled.  Declared devices (bars:) may still be checked
	 * for space. */
	char why_no_host[256];
};

/* Result codes of asynchronous operations; the D-Bus layer maps them to errors. */
enum tsd_rc {
	TSD_OK = 0,
	TSD_E_FAILED,           /* the toolstack refused or failed  -> Error.ToolstackFailed */
	TSD_E_UNASSIGNED,       /* attached, but the guest left a BAR unassigned -> ToolstackFailed */
	TSD_E_NOGUEST,          /* the guest went away              -> Error.NoSuchGuest */
	TSD_E_NOTSUPPORTED,     /*                                  -> Error.NotSupported */
	TSD_E_TIMEOUT,          /* the guest did not act in time (an unplug the
				 * guest OS did not complete)      -> ToolstackFailed */
	TSD_E_MISMATCH,         /* the device's real BARs differ from the declaration -> InvalidDevice */
	TSD_E_UNRESPONSIVE,     /* the toolstack did not answer within the call's
				 * deadline                        -> Error.GuestUnresponsive */
};
const char *tsd_rc_name(enum tsd_rc rc);

struct tsd_result {
	enum tsd_rc rc;
	char msg[512];          /* human-readable, with the toolstack's own words */
	char attached_id[64];   /* on attach success: the id to detach it by (qdev id, BDF) */
};

#define TSD_ATTACH_PERSISTENT  0x1u  /* libvirt: also change the persistent config */
#define TSD_ATTACH_ASSIGNABLE  0x2u  /* libxl: make the host device assignable first */
#define TSD_ATTACH_KNOWN_FLAGS (TSD_ATTACH_PERSISTENT | TSD_ATTACH_ASSIGNABLE)

struct tsd_attach_req {
	const struct mmio_device *device;  /* what mmiod admitted (BARs as declared or read) */
	const char *host_bdf;              /* "0000:03:00.0" for a host device, else NULL */
	const char *qemu_device;           /* explicit QEMU device spec ("pci-testdev,membar=1M"),
					    * required by the QMP back end for bars:/profile: */
	const char *attach_id;             /* the id mmiod chose for it (qdev id); back ends use it */
	const char *port;                  /* the hot-plug port mmiod placed it behind (its
					    * tsd_port id), NULL = the root bus / back end's choice */
};

typedef void (*tsd_done_fn)(void *ud, const struct tsd_result *res);
typedef void (*tsd_layout_fn)(void *ud, enum tsd_rc rc, const struct tsd_layout *layout,
			      const char *msg);

/* How a back end talks back to the daemon. */
struct worker_pool;

struct tsd_host {
	struct event_base *base;
	void *ud;
	/* Where calls that block run (worker.h); NULL in tests that have none:
	 * then a back end that needs it declines to open. */
	struct worker_pool *pool;
	/* Deadlines of toolstack calls, in ms (0 = none): reads (refresh,
	 * discovery) and attach/detach.  Read when an op starts, so a reload
	 * applies to the next calls. */
	unsigned call_timeout_ms;
	unsigned attach_timeout_ms;
	/* A guest appeared (or is known at start-up).  layout may be NULL if not read yet. */
	void (*guest_up)(void *ud, struct tsd_backend *be, const struct tsd_guest *g,
			 const struct tsd_layout *layout);
	/* A guest went away (shut down, destroyed, socket closed). */
	void (*guest_down)(void *ud, struct tsd_backend *be, const char *guest_id);
	/* A guest's layout changed outside mmiod (device added/removed by someone else). */
	void (*guest_changed)(void *ud, struct tsd_backend *be, const char *guest_id,
			      const struct tsd_layout *layout);
	/* One line for the log, attributed to the back end. priority as syslog (LOG_INFO...). */
	void (*log)(void *ud, struct tsd_backend *be, int priority, const char *msg);
	/* A guest's toolstack stopped answering in time (answering false; msg
	 * says which call, since when) or answers again (true; msg NULL).
	 * Called on changes only; a guest starts answering. */
	void (*guest_answering)(void *ud, struct tsd_backend *be, const char *guest_id,
				bool answering, const char *msg);
	/* The back end's link to its toolstack came up or went down (libvirt:
	 * libvirtd not running, restarted).  While it is down the back end
	 * keeps its guests as last read (they are stale) and reconnects by
	 * itself; msg says why it is down ("" when up).  A back end that never
	 * calls this is taken as connected. */
	void (*backend_state)(void *ud, struct tsd_backend *be, bool connected, const char *msg);
};

#define TSD_DECLINED 1  /* open(): this back end cannot run on this host (reason in err) */

/* Who places a guest's BARs, which decides how to plan for it (Plan). */
enum tsd_platform {
	TSD_PLATFORM_QEMU = 0,  /* QEMU's firmware and the guest kernel: the 64-bit hole is a setting */
	TSD_PLATFORM_XEN_HVM,   /* Xen's hvmloader: the MMIO hole below 4 GiB (mmio_hole) */
};

/* How a guest's configuration is written, which decides how Plan spells
 * its advice. */
enum tsd_config_form {
	TSD_CONFIG_CMDLINE = 0, /* QEMU's command line, or xl.cfg */
	TSD_CONFIG_LIBVIRT_XML, /* libvirt's domain XML */
};

struct tsd_driver {
	const char *name;       /* "qmp", "libvirt", "libxl" */
	enum tsd_platform platform;
	enum tsd_config_form config_form;
	/* arg: what follows "NAME:" in --backend (a directory, a URI), may be "".
	 * Returns 0 (running; guests are announced through host), TSD_DECLINED,
	 * or < 0 on a configuration error. */
	int (*open)(const struct tsd_host *host, const char *arg, unsigned flags,
		    struct tsd_backend **out, struct mmio_error *err);
	void (*close)(struct tsd_backend *be);
	/* Re-read one guest's windows and occupancy from the toolstack. */
	int (*refresh)(struct tsd_backend *be, const char *guest_id, unsigned flags,
		       tsd_layout_fn cb, void *ud, struct mmio_error *err);
	/* Perform the hot-attach; on success the callback's result carries attached_id.
	 * Back ends re-read the layout after the attach and report TSD_E_UNASSIGNED
	 * when the guest left any BAR of the new device unassigned (where they can tell). */
	int (*attach)(struct tsd_backend *be, const char *guest_id, const struct tsd_attach_req *req,
		      unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err);
	int (*detach)(struct tsd_backend *be, const char *guest_id, const char *attached_id,
		      unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err);
};

/* Every back end's handle starts with this. */
struct tsd_op;
struct tsd_backend {
	const struct tsd_driver *drv;
	const struct tsd_host *host;
	char spec[256];         /* the --backend argument it was opened with */
	struct tsd_op *ops;     /* operations in flight (tsd_op_new) */
};

/* ---- the operation base (toolstack.c) ----------------------------------------
 * Every back end's operation starts with a struct tsd_op.  The base keeps
 * the caller's callback, the result, and the promise of toolstack.h's
 * rules: tsd_op_finish never calls back at once, delivery runs from the
 * loop; an op stays allocated until it was delivered and no reply of its
 * toolstack can still arrive for it (pending: a late reply, a worker run
 * still blocked).  And its deadline: one timer per op, armed by
 * tsd_op_new, that finishes it with TSD_E_UNRESPONSIVE when the toolstack
 * has not answered in time (after the back end's on_timeout hook). */
typedef void (*tsd_op_fn)(struct tsd_op *op);

enum tsd_op_kind {
	TSD_OP_INTERNAL = 0,    /* the back end's own (probe, discovery): nobody to call back */
	TSD_OP_REFRESH,         /* delivers a layout to layout_cb */
	TSD_OP_ATTACH,          /* delivers a tsd_result to done_cb */
	TSD_OP_DETACH,          /* likewise */
};

struct tsd_op {
	struct tsd_op *next, **pprev;   /* in be->ops */
	struct tsd_backend *be;
	enum tsd_op_kind kind;
	tsd_layout_fn layout_cb;        /* TSD_OP_REFRESH */
	tsd_done_fn done_cb;            /* TSD_OP_ATTACH, TSD_OP_DETACH */
	void *ud;
	struct tsd_result res;          /* what the caller gets */
	struct tsd_layout layout;       /* the layout read (a refresh delivers it when
					 * have_layout and res.rc is TSD_OK) */
	bool have_layout;
	unsigned pending;               /* replies still to come; the op stays until 0 */
	bool finished;                  /* tsd_op_finish was called */
	bool delivered;                 /* the caller was called back (or there is none) */
	struct event *done_ev;          /* runs the delivery from the loop */
	tsd_op_fn before_delivery;      /* optional hooks of the back end */
	tsd_op_fn after_delivery;
	tsd_op_fn dispose;              /* frees what the back end's op holds beyond the base */
	struct event *deadline_ev;
	unsigned deadline_ms;           /* as armed last, for messages */
	/* The deadline passed, the op is not finished: the back end cancels
	 * what it can and reports the guest (tsd_guest_answering); if it
	 * neither finishes the op itself nor re-arms its deadline
	 * (tsd_op_deadline: the time so far was not the toolstack's), the
	 * base finishes it with TSD_E_UNRESPONSIVE. */
	tsd_op_fn on_timeout;
};

/* A zeroed op of `size` bytes (the back end's struct, tsd_op first), in
 * be->ops, its deadline armed: attach_timeout_ms for TSD_OP_ATTACH and
 * TSD_OP_DETACH, call_timeout_ms otherwise.  NULL with err when out of
 * memory. */
void *tsd_op_new(struct tsd_backend *be, size_t size, enum tsd_op_kind kind, tsd_op_fn dispose,
		 struct mmio_error *err);
/* Sets the result (fmt NULL keeps res.msg) and schedules the delivery;
 * an internal op is released at once.  A second call does nothing. */
void tsd_op_finish(struct tsd_op *op, enum tsd_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tsd_op_vfinish(struct tsd_op *op, enum tsd_rc rc, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Re-arms op's deadline ms from now (0: none), e.g. for a step that waits
 * for the guest OS rather than the toolstack.  A finished op has none. */
void tsd_op_deadline(struct tsd_op *op, unsigned ms);
/* Frees op if it was delivered and nothing is pending. */
void tsd_op_release(struct tsd_op *op);
/* Frees op now, without calling back (close()). */
void tsd_op_free(struct tsd_op *op);
/* Frees every op of be without calling back: after close() the daemon is
 * not listening any more. */
void tsd_ops_free(struct tsd_backend *be);

/* Tells the daemon whether a guest's toolstack answers (host->guest_answering);
 * fmt may be NULL when answering. */
void tsd_guest_answering(struct tsd_backend *be, const char *guest_id, bool answering,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One line for the daemon's log, attributed to be. */
void tsd_log(struct tsd_backend *be, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Unknown bits in flags: fails the calling operation with err (as
 * libvirt's virCheckFlags does), returning -1 from it. */
#define tsd_check_flags(be_name, what, flags, known, err)                            \
	do {                                                                          \
		if ((flags) & ~(unsigned)(known)) {                                   \
			mmio_error_set((err), MMIO_E_INVALID, "%s: unknown %s flags 0x%x", \
				       (be_name), (what), (flags) & ~(unsigned)(known));  \
			return -1;                                                    \
		}                                                                     \
	} while (0)

/* The value of KEY in a QEMU -device style spec ("pci-testdev,bus=rp1,membar=1M";
 * ",," is a literal comma).  Returns false when KEY is absent or the value does
 * not fit buf. */
bool tsd_spec_value(const char *spec, const char *key, char *buf, size_t len);

/* The drivers, each defined by its back end (listed by name in
 * toolstack-registry.c). */
extern const struct tsd_driver tsd_qmp_driver;
#ifdef HAVE_LIBVIRT
extern const struct tsd_driver tsd_libvirt_driver;
#endif
#ifdef HAVE_LIBXL
extern const struct tsd_driver tsd_libxl_driver;
#endif

#endif
