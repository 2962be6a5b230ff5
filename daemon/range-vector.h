/* SPDX-License-Identifier: MIT */
/*
 * range-vector.h — a growing list of address ranges [start, end), as the
 * books (books.c, books-ports.c, books-past.c) collect what is used before
 * they place anything.
 */
#ifndef MMIOD_RANGE_VECTOR_H
#define MMIOD_RANGE_VECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "mmio-model.h"

struct rangev {
	size_t n, cap;
	struct mmio_range *v;
};

/* Appends [start, start + size); a zero size is skipped.  -1 when out of memory. */
int rangev_push(struct rangev *rv, uint64_t start, uint64_t size);
/* Frees the ranges and empties rv: _cleanup_(rangev_clear) struct rangev rv = { 0 }. */
void rangev_clear(struct rangev *rv);

#endif
