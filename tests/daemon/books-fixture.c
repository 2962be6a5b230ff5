/* SPDX-License-Identifier: MIT */
/* books-fixture.c — the books tests' guest and helpers (books-fixture.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "books-fixture.h"
#include "../tap.h"

struct tsd_live_bar live_vga = {
	.device = "vga", .guest_slot = "00:02.0",
	.bar = { .index = 0, .kind = MMIO_BAR_MEM32, .prefetch = true, .size = 1 * M },
	.addr = LOW, .source = TSD_SRC_TOOLSTACK,
};

void layout_make(struct tsd_layout *l, struct tsd_live_bar *bars, size_t nbars)
{
	memset(l, 0, sizeof(*l));
	l->nwin = 3;
	l->win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = LOW, .end = LOW + 4 * M };
	l->win[1] = (struct mmio_window){ .kind = MMIO_WIN_HIGH, .start = HIGH, .end = HIGH + 1024 * M };
	l->win[2] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x1000, .end = 0x2000 };
	l->nbars = nbars;
	l->bars = bars;
	l->free_slots = -1;
}

void books_with_guest(struct books *b)
{
	struct tsd_layout l;
	struct mmio_error err = { 0 };

	books_init(b);
	layout_make(&l, &live_vga, 1);
	if (books_set_layout(b, &l, &err) != MMIO_OK) {
		tap_diag("books_set_layout: %s", err.msg);
		abort();
	}
}

struct mmio_device dev(const char *spec)
{
	struct mmio_device d;
	struct mmio_error err = { 0 };

	if (mmio_device_resolve(spec, NULL, NULL, &d, &err) != MMIO_OK) {
		tap_diag("%s: %s", spec, err.msg);
		abort();
	}
	return d;
}

enum mmio_status admit(struct books *b, const char *spec, const char *id, struct mmio_error *err)
{
	struct mmio_device d = dev(spec);
	size_t idx;

	memset(err, 0, sizeof(*err));
	return books_admit(b, &d, spec, id, NULL, NULL, NULL, &idx, err);
}

enum mmio_status reserve(struct books *b, const char *spec, const char *id, struct mmio_error *err)
{
	struct mmio_device d = dev(spec);

	memset(err, 0, sizeof(*err));
	return books_reserve(b, &d, &spec, 1, id, "test", err);
}

struct books_window_view low_view(const struct books *b)
{
	struct books_window_view w[MMIO_MAX_WINDOWS];
	unsigned n = books_windows(b, w);

	for (unsigned i = 0; i < n; i++)
		if (w[i].kind == MMIO_WIN_LOW)
			return w[i];
	return (struct books_window_view){ 0 };
}

const struct books_attach *attach(const struct books *b, const char *id)
{
	ssize_t i = books_find_attach(b, id);
	return i >= 0 ? &b->attaches[i] : NULL;
}

struct books_attach *attached_as(struct books *b, const char *id, const char *tsd_id)
{
	ssize_t i = books_find_attach(b, id);
	if (i < 0)
		abort();
	struct books_attach *a = &b->attaches[i];
	a->state = BOOKS_ATTACH_ATTACHED;
	snprintf(a->tsd_id, sizeof(a->tsd_id), "%s", tsd_id);
	return a;
}
