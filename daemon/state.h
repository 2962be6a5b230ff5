/* SPDX-License-Identifier: MIT */
/*
 * state.h — the books on disk: JSON (json-c) with a "version" field,
 * written atomically (temp file in the same directory, write, fflush,
 * fsync, rename, fsync of the directory) before any reply.
 */
#ifndef MMIOD_STATE_H
#define MMIOD_STATE_H

#include <json-c/json.h>

#include "books.h"

/* Reservations and attaches of one guest's books (the layout is not saved). */
struct json_object *state_books_to_json(const struct books *b);
/* Appends what o holds to b. */
enum mmio_status state_books_from_json(struct json_object *o, struct books *b,
				       struct mmio_error *err);

/* Writes text to dir/name atomically.  between_cb (may be NULL) runs after
 * the data is synced and before the rename (the while-saving fault hook). */
enum mmio_status state_write_atomic(const char *dir, const char *name, const char *text,
				    void (*between_cb)(void), struct mmio_error *err);

/* Loads dir/name.  MMIO_E_NOTFOUND when there is none; on a damaged file
 * it is moved aside to name.corrupt-<time>, err says so and *out is NULL
 * with MMIO_E_INVALID. */
enum mmio_status state_load(const char *dir, const char *name, struct json_object **out,
			    struct mmio_error *err);

#endif
