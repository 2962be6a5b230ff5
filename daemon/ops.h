/* SPDX-License-Identifier: MIT */
/*
 * ops.h — what mmiod does for its callers, as plain C: Check, Attach,
 * Detach, Reserve, Release, Plan.  No D-Bus here: the bus layer
 * (bus-manager.c) unpacks a call, authorizes it (authz.c), calls one of
 * these and packs what the callback gives back; a test calls them
 * directly (tests/daemon/test-ops.c).
 *
 * Conventions:
 *  - ops_X_validate checks what can be checked at once (guest known,
 *    device readable, back end able); the bus layer runs it before it asks
 *    for authorization, so a wrong call is answered without polkit.
 *  - ops_X validates again (the world may have changed meanwhile) and
 *    starts.  It returns -1 with err filled and never calls back, or 0:
 *    then the callback runs exactly once, possibly before ops_X returns
 *    (Check without a re-read, Release).
 *  - Every decision of admission is the books' (books.c); ops keep the
 *    order of a mutation: books, state file, observer, caller.
 */
#ifndef MMIOD_OPS_H
#define MMIOD_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "books.h"
#include "daemon.h"
#include "ops-error.h"
#include "plan.h"

#define OPS_MAX_DEVICES 64

/* ---- Check ---------------------------------------------------------------- */
struct ops_check_req {
	const char *guest;
	char *const *devices;           /* NULL-terminated specs */
	const char *port;               /* "" or NULL: the books choose */
	bool refresh;                   /* re-read the guest first */
};
/* err NULL: fits says whether they fit (reason when not); placement[0..n)
 * is the predicted placement, valid during the call. */
typedef void (*ops_check_fn)(void *ud, const struct ops_error *err, bool fits, const char *reason,
			     const struct books_entry *placement, size_t n);
int ops_check(struct daemon *d, const struct ops_check_req *req, ops_check_fn cb, void *ud,
	      struct ops_error *err);

/* ---- Attach --------------------------------------------------------------- */
struct ops_attach_req {
	const char *guest;
	const char *device;
	const char *qemu_device;        /* "" or NULL: none */
	const char *reservation;        /* "" or NULL: none; consumed by the attach */
	const char *port;               /* "" or NULL: the books choose */
	bool persistent, assignable;
};
/* admitted: the device is admitted, held and on disk; the toolstack is
 * about to be called (a caller that does not wait answers now).
 * finished: the end (err NULL: attached).  placement (valid during the
 * call) is the attach's predicted placement, NULL when there is none. */
struct ops_attach_cbs {
	void (*admitted)(void *ud, const char *attach_id, const struct books_entry *placement);
	void (*finished)(void *ud, const struct ops_error *err, const char *attach_id,
			 const struct books_entry *placement);
};
int ops_attach_validate(struct daemon *d, const struct ops_attach_req *req, struct ops_error *err);
int ops_attach(struct daemon *d, const struct ops_attach_req *req, const struct ops_attach_cbs *cbs,
	       void *ud, struct ops_error *err);

/* ---- Detach --------------------------------------------------------------- */
struct ops_detach_req {
	const char *guest;
	const char *device;             /* attach id, host BDF or spec */
};
typedef void (*ops_done_fn)(void *ud, const struct ops_error *err);
int ops_detach_validate(struct daemon *d, const struct ops_detach_req *req, struct ops_error *err);
int ops_detach(struct daemon *d, const struct ops_detach_req *req, ops_done_fn cb, void *ud,
	       struct ops_error *err);

/* ---- Reserve, Release ----------------------------------------------------- */
struct ops_reserve_req {
	const char *guest;
	char *const *devices;           /* NULL-terminated specs */
	const char *label;
};
typedef void (*ops_reserve_fn)(void *ud, const struct ops_error *err, const char *id,
			       const struct books_entry *placement, size_t n);
int ops_reserve_validate(struct daemon *d, const struct ops_reserve_req *req, struct ops_error *err);
int ops_reserve(struct daemon *d, const struct ops_reserve_req *req, ops_reserve_fn cb, void *ud,
		struct ops_error *err);

struct ops_release_req {
	const char *guest;
	const char *id;
};
int ops_release_validate(struct daemon *d, const struct ops_release_req *req, struct ops_error *err);
/* Synchronous: 0 released (and saved), -1 with err. */
int ops_release(struct daemon *d, const struct ops_release_req *req, struct ops_error *err);

/* ---- Plan (ops-plan.c) ---------------------------------------------------- */
struct ops_plan_req {
	char *const *devices;           /* NULL-terminated specs */
	const char *guest;              /* "" or NULL: no guest */
	const char *machine;            /* "", "pc", "i440fx", "q35" */
	const char *xen_version;        /* "" or a mmio_xen_rule_name() */
	bool have_xen_memory;
	uint32_t xen_memory_mib;
	const char *firmware;           /* "", "seabios", "ovmf" (QEMU guests; default: the guest's) */
};
struct ops_plan {
	bool possible;
	char reason[2048];
	bool have_qemu, have_xen;
	struct mmio_qemu_plan q;
	enum mmio_qemu_machine machine;
	struct mmio_plan_result x;
	char xl_cfg[128], qemu_args[256], libvirt_xml[256];
	char port_args[1024];           /* q35: one -device pcie-root-port per device */
	char libvirt_port_xml[3072];    /* q35: the same ports in libvirt's domain XML */
	bool have_ovmf;                 /* OVMF's aperture was planned (mmio_plan_ovmf) */
	struct mmio_ovmf_plan ovmf;
};
/* Synchronous: 0 with *out filled, -1 with err. */
int ops_plan(struct daemon *d, const struct ops_plan_req *req, struct ops_plan *out,
	     struct ops_error *err);

/* Resolves devices[] (at most OPS_MAX_DEVICES) into devs; *n gets the count. */
int ops_resolve_devices(struct daemon *d, char *const *devices, struct mmio_device *devs, size_t *n,
			struct ops_error *err);

#endif
