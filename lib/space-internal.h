/* SPDX-License-Identifier: MIT */
/* space-internal.h — helpers shared by space.c and place.c only. */
#ifndef MMIO_SPACE_INTERNAL_H
#define MMIO_SPACE_INTERNAL_H

#include "mmio-model.h"

bool mmio_gap_clip(struct mmio_range *g, struct mmio_range c);
bool mmio_gap_usable_mem(const struct mmio_space *sp, struct mmio_range *g);
void mmio_window_stats(const struct mmio_space *sp, struct mmio_window_space *ws, bool *inexact);
/* Removes r (inside gaps[i]) from the sorted gap array; needs one spare slot. */
void mmio_gaps_split(struct mmio_range *gaps, size_t *n, size_t i, struct mmio_range r);

/* (Re)builds ws->tree from ws->gaps. */
enum mmio_status mmio_window_index(struct mmio_window_space *ws);
/* Smallest gap index >= i whose raw order is >= k, or -1. */
long mmio_window_next(const struct mmio_window_space *ws, size_t i, int k);

/* One hot-plugged device placed as mmio_place() places it, except that a
 * BAR whose address is known (pinned[i] is neither MMIO_ADDR_UNKNOWN nor
 * NULL) is taken where it is, or left out when it is MMIO_ADDR_NONE
 * (known unassigned).  addr[i] receives every BAR's address
 * (MMIO_ADDR_NONE = not placed).  Returns how many known BARs are not
 * where first fit puts them: 0 when the space explains the device. */
unsigned mmio_place_pinned(const struct mmio_space *sp, const struct mmio_device *dev,
			   const uint64_t *pinned, uint64_t *addr);

/* One request of _pci_assign_resource(): a BAR (align = size) or a bridge
 * window (align = its start alignment, size any multiple of it). */
struct mmio_request {
	uint8_t kind;           /* enum mmio_bar_kind: a 64-bit request tries above 4 GiB first */
	bool prefetch;
	uint64_t size, align;   /* align a power of two */
};
/* Where the modelled kernel puts one request on sp as it is (first fit
 * from the bottom, the type-mask passes, windows in order). */
bool mmio_assign(const struct mmio_space *sp, const struct mmio_request *rq, unsigned *wi,
		 uint64_t *addr);

#endif
