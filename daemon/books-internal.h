/* SPDX-License-Identifier: MIT */
/*
 * books-internal.h — what books.c (the data, used ranges, spaces) offers
 * the other files of the books (books-ports.c, books-admit.c).  Not for use
 * outside the books.  It names the books' types without including books.h,
 * so books.c can include it without a loop.
 */
#ifndef MMIOD_BOOKS_INTERNAL_H
#define MMIOD_BOOKS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "range-vector.h"

struct books;
struct books_entry;

/* Appends the placed BARs of e. */
int books_push_entry(struct rangev *rv, const struct books_entry *e);
/* How many devices all reservations hold. */
size_t books_count_reserved(const struct books *b);

/* Every range the live devices may hold (shown, predicted, inferred by
 * books-past.c, every reading of an uncertain one).  -1 when out of memory. */
int books_push_live(const struct books *b, struct rangev *rv);

#endif
