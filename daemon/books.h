/* SPDX-License-Identifier: MIT */
/*
 * books.h — one guest's books: what the back end reports (windows, live
 * BARs), what mmiod holds (attaches in flight, each with its predicted
 * placement), what it promised (reservations) and what it attached.
 *
 * Pure functions over the lib/ model: no D-Bus, no libevent, no I/O.
 * Admission and the hold happen in one call (books_admit) so that two
 * racing attaches can never both get the last block.
 */
#ifndef MMIOD_BOOKS_H
#define MMIOD_BOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mmio-model.h"
#include "layout.h"
#include "books-past.h"

#define BOOKS_ID_MAX   64
#define BOOKS_SPEC_MAX 256

/* One BAR with where the model predicts the guest will put it. */
struct books_bar {
	struct mmio_bar bar;
	bool placed;
	uint8_t window;         /* enum mmio_window_kind when placed */
	bool pref_window;       /* placed in a bridge's prefetchable window */
	uint64_t addr;
};

/* One device (one function, or the functions of one slot) with its
 * predicted placement. */
struct books_entry {
	char spec[BOOKS_SPEC_MAX];      /* as the caller gave it */
	char port[64];                  /* the hot-plug port (tsd_port id) it goes behind;
					 * "" = the root bus */
	/* The port's windows once the device is in: native PCIe hot-plug
	 * (pciehp) re-sized some of them (lib/pciehp.c).  While the attach is
	 * in flight they, not the port's current ones, take root space. */
	bool port_resized;
	struct mmio_bridge port_after;
	struct mmio_device dev;
	unsigned nbars;
	struct books_bar bars[MMIO_MAX_DEVICE_BARS];
};

/* The BAR bar.fn.index of a device for D-Bus: function F's BAR i is F*8+i
 * (a single function's BARs keep their index). */
static inline uint32_t books_bar_number(const struct mmio_bar *bar)
{
	return (uint32_t)bar->fn * 8u + bar->index;
}

enum books_attach_state {
	BOOKS_ATTACH_INFLIGHT = 0,   /* admitted, held, toolstack working */
	BOOKS_ATTACH_ATTACHED,       /* done; the device is in the guest */
	BOOKS_ATTACH_DETACHING,      /* detach in progress */
	BOOKS_ATTACH_UNSETTLED,      /* the toolstack did not answer an attach or detach in
				      * time: the outcome is unknown, the space stays held
				      * until the guest answers again (daemon.c settles it) */
};
const char *books_attach_state_name(enum books_attach_state s);
int books_attach_state_from_name(const char *s);   /* -1 if unknown */

struct books_attach {
	char id[BOOKS_ID_MAX];          /* mmiod's attach id (also the qdev id asked for) */
	char tsd_id[BOOKS_ID_MAX];      /* the back end's id to detach by; "" until known */
	char host_bdf[16];              /* "" unless a host device */
	char qemu_device[BOOKS_SPEC_MAX];
	uint8_t state;                  /* enum books_attach_state */
	/* BOOKS_ATTACH_UNSETTLED: which call's outcome is unknown, INFLIGHT
	 * (an attach) or DETACHING (not saved: a restart reconciles both alike) */
	uint8_t unsettled_call;
	struct books_entry e;
};

struct books_reservation {
	char id[BOOKS_ID_MAX];
	char label[128];
	size_t n;
	struct books_entry *devs;       /* malloc'd, predicted placement at creation */
};

struct books {
	bool have_layout;
	/* Bytes each memory window must keep free after an admission or a
	 * reservation (mmiod.conf safety_margin); 0 = none.  See books.c. */
	uint64_t safety_margin;
	struct tsd_layout layout;       /* as last read from the back end */
	size_t nattach;
	struct books_attach *attaches;
	size_t nres;
	struct books_reservation *res;  /* in creation order */
	/* Built free-space maps, reused while the used ranges they were built
	 * from are the same (books.c books_space_ref); private to books.c. */
	uint64_t layout_gen;
	struct books_cache *cache;
	/* Devices that left and the reading of the guest's history
	 * (books-past.h); kept by books.c, computed by books-past.c. */
	struct books_history *hist;
};

void books_init(struct books *b);
void books_free(struct books *b);
/* Replaces the layout (deep copy). */
enum mmio_status books_set_layout(struct books *b, const struct tsd_layout *l, struct mmio_error *err);

/* What counts as used when building a space. */
#define BOOKS_USE_LIVE         0x1u  /* assigned live BARs + predicted BARs of devices mmiod attached */
#define BOOKS_USE_HOLDS        0x2u  /* in-flight attaches */
#define BOOKS_USE_RESERVATIONS 0x4u  /* reservations' predicted ranges */
#define BOOKS_USE_ALL (BOOKS_USE_LIVE | BOOKS_USE_HOLDS | BOOKS_USE_RESERVATIONS)

/* Builds the guest's free space (windows minus what `use` names).
 * Fails with MMIO_E_UNSUPPORTED when the layout is not known yet. */
enum mmio_status books_space(const struct books *b, unsigned use, struct mmio_space *sp,
			     struct mmio_error *err);
/* The same space, shared and read-only: valid until the next call on b.
 * Rebuilt only when the layout or the used ranges changed. */
enum mmio_status books_space_ref(const struct books *b, unsigned use, const struct mmio_space **sp,
				 struct mmio_error *err);

/* Fills out[0..n) from a placement of devs on sp. */
void books_entries_fill(const struct mmio_space *sp, const struct mmio_device *devs,
			const char *const *specs, size_t n, const struct mmio_placement *pl,
			struct books_entry *out);

/* Check: places devs[0..n) as sequential hot-plugs on the space minus live
 * BARs and holds, then requires every outstanding reservation to still fit
 * after them.  Returns MMIO_OK (fits), MMIO_E_NOSPACE (err->msg = reason;
 * out still holds the partial placement), or another error.
 * out[0..n) receives the predicted placement. */
enum mmio_status books_check(const struct books *b, const struct mmio_device *devs,
			     const char *const *specs, size_t n, struct books_entry *out,
			     struct mmio_error *err);

/* The same, with the first device going behind port `port` (a tsd_port
 * id; NULL = the first empty port it fits, or the root bus when the guest
 * hot-plugs there).  Unknown port: MMIO_E_NOTFOUND. */
enum mmio_status books_check_port(const struct books *b, const struct mmio_device *devs,
				  const char *const *specs, size_t n, const char *port,
				  struct books_entry *out, struct mmio_error *err);

/* Does this guest take hot-plugged devices behind ports (books_entry.port)?
 * True when its back end says so (q35) and the firmware has programmed
 * the ports' windows, or there are no ports at all (then nothing fits).
 * Before the firmware ran, the firmware itself will size the ports'
 * windows around a device present at boot: placement uses the root
 * windows then, as for a root-bus hot-plug. */
bool books_port_mode(const struct books *b);

/* "low", "high", "io" on the root bus; "PORT:mem", "PORT:pref",
 * "PORT:io" behind a port; "" when not placed. */
void books_bar_window_name(const struct books_entry *e, const struct books_bar *bb, char *buf,
			   size_t len);

/* Admission + hold in one step: books_check of the one device and, if it
 * fits, a new in-flight attach holding its predicted placement.
 * *index receives the position of the new attach in b->attaches.
 * port as for books_check_port. */
enum mmio_status books_admit(struct books *b, const struct mmio_device *dev, const char *spec,
			     const char *attach_id, const char *host_bdf, const char *qemu_device,
			     const char *port, size_t *index, struct mmio_error *err);

/* A reservation of devs: they must fit after the existing reservations,
 * placed in creation order after everything held.  Appends it. */
enum mmio_status books_reserve(struct books *b, const struct mmio_device *devs,
			       const char *const *specs, size_t n, const char *id,
			       const char *label, struct mmio_error *err);

ssize_t books_find_reservation(const struct books *b, const char *id);
void books_release(struct books *b, size_t index);
ssize_t books_find_attach(const struct books *b, const char *key); /* id, tsd id, BDF or spec */
void books_remove_attach(struct books *b, size_t index);
/* Appends a copy of a (used by the state loader). */
enum mmio_status books_add_attach(struct books *b, const struct books_attach *a,
				  struct mmio_error *err);
enum mmio_status books_add_reservation(struct books *b, const struct books_reservation *r,
				       struct mmio_error *err);

/* Is the device mmiod attached under tsd_id present in the live layout? */
bool books_layout_has_device(const struct books *b, const char *tsd_id);

/* Does attach a hold its predicted space (in flight, or unsettled while
 * the layout does not show its device)? */
static inline bool books_attach_holds(const struct books *b, const struct books_attach *a)
{
	return a->state == BOOKS_ATTACH_INFLIGHT ||
	       (a->state == BOOKS_ATTACH_UNSETTLED &&
		!books_layout_has_device(b, a->tsd_id[0] ? a->tsd_id : a->id));
}

/* The attach a live device (a tsd_live_bar's device id) belongs to, NULL if
 * none: its back-end id is function 0; "ID.N" (the QMP back end's qdev ids)
 * or the host address of function N are the other functions of a slot.
 * *fn (may be NULL) gets the function. */
const struct books_attach *books_attach_of_device(const struct books *b, const char *dev,
						  unsigned *fn);
/* The placed predicted BAR `index` of function fn of a's device, or NULL. */
const struct books_bar *books_predicted_bar(const struct books_attach *a, unsigned fn,
					    unsigned index);

/* One row of the Windows property. */
struct books_window_view {
	uint8_t kind;
	uint64_t start, end, free, largest;
	uint8_t source;         /* enum tsd_source */
	uint32_t blocks[64];    /* maximal naturally aligned free blocks per order (2^order bytes) */
};
/* Free/largest with everything (live, holds, reservations) counted as used.
 * Returns the number of rows written (at most MMIO_MAX_WINDOWS). */
unsigned books_windows(const struct books *b, struct books_window_view out[MMIO_MAX_WINDOWS]);

/* One row of the Ports property: a hot-plug port and who has it. */
struct books_port_view {
	const struct tsd_port *port;
	const char *state;      /* "empty", "occupied", "held", "reserved", "unprogrammed" */
	const char *by;         /* the attach or reservation id for held/reserved, else "" */
};
/* Fills out[0..max) in port order; returns the number of ports. */
size_t books_ports(const struct books *b, struct books_port_view *out, size_t max);

/* Where the guest has each live BAR (struct books_live_view, books-past.h):
 * one view per layout.bars[i]; valid until the books change.  NULL before
 * the first layout or when out of memory. */
const struct books_live_view *books_live_bars(const struct books *b);
/* "" or what mmiod could not know about the guest's history (an order of
 * events it had to guess, hot-plugs it never saw): one sentence for an
 * answer that rests on it. */
void books_history_note(const struct books *b, char *buf, size_t len);

/* Total bytes of a reservation's BARs. */
uint64_t books_reservation_bytes(const struct books_reservation *r);

#endif
