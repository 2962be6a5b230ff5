/* SPDX-License-Identifier: MIT */
/*
 * books-past.h — where the guest has the BARs the toolstack shows
 * unassigned (books-past.c): a replay of the guest's history computed from
 * a layout, the addresses mmiod predicted for its own attaches and the
 * devices seen leaving.  It knows nothing of the books; books.c keeps one
 * history per guest and calls it.
 */
#ifndef MMIOD_BOOKS_PAST_H
#define MMIOD_BOOKS_PAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmio-model.h"
#include "layout.h"

/* Where the guest has one live BAR (layout.bars[i]), as the books read it:
 * shown by the toolstack, predicted by mmiod (a device it attached), or
 * inferred from the guest's history (books-past.c). */
struct books_live_view {
	uint64_t addr;          /* TSD_ADDR_UNASSIGNED: holds no space (not placed, a boot
				 * VGA's shadowed ROM, or nobody can tell) */
	uint8_t source;         /* enum tsd_source */
};

/* The devices seen leaving, and the reading of the present layout (cached
 * until the layout's generation or the predictions change). */
struct books_history;

struct history_reading {
	const struct books_live_view *view;     /* per layout.bars[i] */
	size_t nused;
	const struct mmio_range *used;          /* every range the live devices may hold */
	/* for history_note: what the replay could not know */
	unsigned readings, kept, disagreements, gaps, unknown_boot;
	bool exact, replayed;
};

/* NULL when out of memory. */
struct books_history *history_new(void);
void history_free(struct books_history *h);

/* The reading of layout l (generation gen).  predicted[i] (for i <
 * l->nbars): where mmiod predicted layout bar i when it attached the
 * device and the toolstack shows the BAR unassigned, else
 * TSD_ADDR_UNASSIGNED.  Valid until the next call; NULL when out of memory. */
const struct history_reading *history_read(struct books_history *h, const struct tsd_layout *l, uint64_t gen,
					   const uint64_t *predicted);
/* Before l (generation gen, predictions as for history_read) is replaced
 * by next: remembers the devices of l that next does not have. */
void history_departures(struct books_history *h, const struct tsd_layout *l, uint64_t gen,
			const uint64_t *predicted, const struct tsd_layout *next);
/* "" or one sentence about what the reading had to guess. */
void history_note(const struct history_reading *r, char *buf, size_t len);

#endif
