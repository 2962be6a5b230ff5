/* SPDX-License-Identifier: MIT */
/*
 * books-internal.h — what books.c (the data, used ranges, spaces),
 * books-ports.c (hot-plug ports) and books-admit.c (the admission rule)
 * share.  Not for use outside the books.
 */
#ifndef MMIOD_BOOKS_INTERNAL_H
#define MMIOD_BOOKS_INTERNAL_H

#include "books.h"

/* A growing list of used ranges. */
struct rangev {
	size_t n, cap;
	struct mmio_range *v;
};
/* Appends [start, start + size); a zero size is skipped.  -1 when out of memory. */
int books_rangev_push(struct rangev *rv, uint64_t start, uint64_t size);
/* Appends the placed BARs of e. */
int books_push_entry(struct rangev *rv, const struct books_entry *e);
/* How many devices all reservations hold. */
size_t books_count_reserved(const struct books *b);

/* books_check_port for a guest whose devices go behind ports (or when the
 * caller named a port): devs[0..n) behind the ports, then every
 * reservation behind the ports left. */
enum mmio_status books_check_in_ports(const struct books *b, const struct mmio_device *devs,
				      const char *const *specs, size_t n, const char *want_port,
				      struct books_entry *out, struct mmio_error *err);
/* devs[0..n) one after another behind the ports (a reservation's devices
 * after the earlier reservations'); out gets each one's placement and port. */
enum mmio_status books_place_in_ports(const struct books *b, const struct mmio_device *devs,
				      const char *const *specs, size_t n, struct books_entry *out,
				      struct mmio_error *err);

/* Every range the live devices may hold (shown, predicted, inferred by
 * books-past.c, every reading of an uncertain one).  -1 when out of memory. */
int books_push_live(const struct books *b, struct rangev *rv);

#endif
