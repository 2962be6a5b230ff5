/* SPDX-License-Identifier: MIT */
/*
 * toolstack-qmp-internal.h — what the files of the QMP back end share: its
 * guest, operation and back-end types and the functions one file offers the
 * next.  The files stack without a loop: toolstack-qmp-op.c (the operation
 * plumbing) < toolstack-qmp-layout.c (reading a guest's layout) <
 * toolstack-qmp-guest.c (connect, probe, events, the socket directory) <
 * toolstack-qmp-attach.c (attach, detach) < toolstack-qmp.c (the driver).
 */
#ifndef MMIOD_TOOLSTACK_QMP_INTERNAL_H
#define MMIOD_TOOLSTACK_QMP_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>

#include "qmp-map.h"
#include "qmp.h"
#include "sockdir.h"
#include "toolstack.h"

#define MAX_BUSY             32

struct tsd_qmp_op;

enum guest_state { G_IDLE, G_CONNECTING, G_PROBING, G_UP };

struct tsd_qmp_guest {
	struct tsd_qmp_guest *next;
	struct tsd_qmp *qb;
	char id[64];
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	bool seen;                      /* found by the current scan */
	enum guest_state st;
	bool logged_refused;
	unsigned refusals;              /* in a row */
	struct timespec retry_at;
	struct qmp_conn *conn;
	struct tsd_guest info;
	enum qmp_machine machine;
	struct tsd_layout layout;       /* last read */
	struct qmp_pci_slots slots;
	/* q35: ICH9-LPC's acpi-pci-hotplug-with-bridge-support is off, so the
	 * guest's _OSC gets native PCIe hot-plug and pciehp drives the root
	 * ports (read once per connection). */
	bool native_hotplug;
	/* What decides the guest's 64-bit window besides the host bridge
	 * (struct qmp_holes; read once per connection): the CPU's phys-bits
	 * and vendor, the machine type's version, the firmware (QOM) and
	 * X-PciMmio64Mb (QEMU's command line, /proc/PID/cmdline). */
	unsigned phys_bits;
	bool cpu_amd;
	unsigned machine_version;
	uint8_t firmware;
	char fw_pflash0[64], fw_bios[128];
	uint64_t ovmf_mmio64_mb;
	/* The firmware has not placed the boot devices yet (the windows are
	 * assumed): read again after 2, 4 ... 64 s until it has. */
	bool unsettled;
	unsigned settle_s;
	struct event *settle_timer;
	char busy[MAX_BUSY][64];        /* slots ("0x5") / ports taken by attaches in flight */
	struct tsd_qmp_op *probe;
	/* QEMU did not answer an op in time and has sent nothing since */
	bool unresponsive;
	char unresponsive_msg[200];
	struct event *greeting_timer;   /* logs a socket that accepts but never greets */
	bool logged_silent;
	struct event *liveness_timer;   /* while unresponsive: one query-status at a time */
	bool liveness_out;
	/* QOM's word on each device of the root bus and of the buses behind
	 * ports, by bus and child[N] index (a device keeps its index; a new
	 * one gets a new index). */
	struct qom_child *children;
	size_t nchildren;
};

/* One device on the root bus or behind a port as QOM shows it (see
 * children_read). */
struct qom_child {
	char port[64];                  /* the port (tsd_port id) whose bus it is on; "" = root */
	struct qmp_qom_dev q;           /* index, devfn, hotplugged, rom_mapped */
	bool listed;                    /* in the bus's last qom-list */
	bool asked;                     /* its path and properties were asked for */
	char path[128];
	char rom_mr[64];                /* its ROM's memory region ("e1000.rom[0]"), "" if none */
	char mr_name[QMP_QOM_MAX_MRS][64];      /* its other regions (q.mr[i] is mr_name[i]'s) */
};

struct tsd_qmp {
	struct tsd_backend pub;         /* first: the daemon sees this */
	struct event_base *base;
	char dir[PATH_MAX];
	struct sockdir *watch;
	bool logged_nodir;
	struct tsd_qmp_guest *guests;
	unsigned unplug_timeout_ms;
};

struct tsd_qmp_op {
	struct tsd_op base;             /* first: kind, callback, result, layout, pending */
	struct tsd_qmp *qb;
	struct tsd_qmp_guest *g;        /* NULL once the guest is gone */
	unsigned int_retries;           /* device_add sent again with a typed value (B2) */
	void (*on_all)(struct tsd_qmp_op *);   /* called when base.pending drops to 0 */
	bool orphaned;
	struct event *timer;
	/* what went wrong while replies were coming in */
	enum tsd_rc err_rc;
	char err_msg[512];
	/* layout read (into base.layout) */
	struct qmp_holes holes;
	json_object *pci;
	struct qmp_pci_slots slots;
	bool changed;                   /* also tell host->guest_changed */
	/* attach / detach */
	json_object *add_args;          /* the device_add being sent (one function) */
	/* A multi-function slot: one device_add per function, the functions
	 * other than 0 first, then function 0 with multifunction=on (QEMU
	 * tells the guest about the slot when function 0 arrives). */
	unsigned nfn, next_fn, added;
	json_object *fn_args[MMIO_MAX_FUNCTIONS];   /* in sending order */
	uint8_t fn_num[MMIO_MAX_FUNCTIONS];
	char fn_id[MMIO_MAX_FUNCTIONS][64];
	bool has_decl;
	bool host_dev;                  /* vfio-pci: the ROM is not compared */
	struct mmio_device decl;
	char dev_id[64];
	char busy[64];
	bool got_event, waiting_event;
	bool notfound;                  /* device_del said "not found": a short grace wait */
	void (*after_layout)(struct tsd_qmp_op *);
	bool port_taken[QMP_MAX_PORTS];
	bool port_io_ro[QMP_MAX_PORTS];  /* by layout port: io-reserve=0 (registers read-only) */
	char lpc_path[128];             /* probe: ICH9-LPC's QOM path */
	char want_port[64];             /* attach: the port mmiod placed the device behind */
};

/* toolstack-qmp-op.c: the operation plumbing */
bool tsd_qmp_busy_has(const struct tsd_qmp_guest *g, const char *what);
bool tsd_qmp_busy_add(struct tsd_qmp_guest *g, const char *what);
void tsd_qmp_op_dispose(struct tsd_op *base);
void tsd_qmp_op_before_delivery(struct tsd_op *base);
void tsd_qmp_op_after_delivery(struct tsd_op *base);
void tsd_qmp_op_free(struct tsd_qmp_op *op);
void tsd_qmp_op_maybe_free(struct tsd_qmp_op *op);
void tsd_qmp_op_finish(struct tsd_qmp_op *op, enum tsd_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool tsd_qmp_op_refuse_unresponsive(struct tsd_qmp_op *op);
/* false: the op finished and was released (do not touch it again) */
bool tsd_qmp_reply_enter(struct tsd_qmp_op *op, const char *cls, const char *desc);
void tsd_qmp_reply_leave(struct tsd_qmp_op *op);
int tsd_qmp_op_send(struct tsd_qmp_op *op, const char *cmd, json_object *args, qmp_reply_fn cb);

/* toolstack-qmp-layout.c */
void tsd_qmp_layout_read(struct tsd_qmp_op *op, void (*next)(struct tsd_qmp_op *));

/* toolstack-qmp-guest.c */
struct tsd_qmp_op *tsd_qmp_op_new(struct tsd_qmp *qb, struct tsd_qmp_guest *g, enum tsd_op_kind kind);
struct tsd_qmp_guest *tsd_qmp_guest_up_find(struct tsd_qmp *qb, const char *id, struct mmio_error *err);
void tsd_qmp_guest_remove(struct tsd_qmp *qb, struct tsd_qmp_guest *g, bool tell);
void tsd_qmp_scanned(void *ud, const struct sockdir_entry *v, size_t n, int errnum);

/* toolstack-qmp-attach.c */
int tsd_qmp_attach(struct tsd_backend *be, const char *guest_id, const struct tsd_attach_req *req,
		   unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err);
int tsd_qmp_detach(struct tsd_backend *be, const char *guest_id, const char *attached_id,
		   unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err);

#endif
