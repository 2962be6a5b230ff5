/* SPDX-License-Identifier: MIT */
/* range-vector.c — a growing list of address ranges (see range-vector.h). */
#include "config.h"

#include <stdlib.h>

#include "range-vector.h"

int rangev_push(struct rangev *rv, uint64_t start, uint64_t size)
{
	if (!size)
		return 0;
	if (rv->n == rv->cap) {
		size_t cap = rv->cap ? rv->cap * 2 : 16;
		struct mmio_range *v = realloc(rv->v, cap * sizeof(*v));
		if (!v)
			return -1;
		rv->v = v;
		rv->cap = cap;
	}
	rv->v[rv->n++] = (struct mmio_range){ start, start + size };
	return 0;
}

void rangev_clear(struct rangev *rv)
{
	free(rv->v);
	*rv = (struct rangev){ 0 };
}
