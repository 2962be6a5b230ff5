/* SPDX-License-Identifier: MIT */
/*
 * books-admit.c — the admission rule, over the books (books.c).
 *
 * Admission of device D: mmio_place(D) on the space built from the windows
 * minus (live assigned BARs ∪ in-flight holds); then every outstanding
 * reservation's devices must still fit after D (mmio_place of
 * [D, reserved devices...] in reservation creation order), because a
 * reservation is a capacity promise the guest kernel knows nothing about:
 * it will put D at the lowest free address whatever we promised.  On a
 * guest whose devices go behind hot-plug ports, the same behind the ports
 * (books-ports.c).
 *
 * The safety margin (mmiod.conf safety_margin, bytes): after D and every
 * reservation are placed, each memory window D puts a BAR into must still
 * have at least that many bytes free (usable, E820-clipped bytes, with
 * reservations counted where they were predicted).  It keeps headroom for
 * what mmiod cannot see: a guest driver resizing a BAR, firmware or the
 * kernel reassigning, another tool hot-plugging behind mmiod's back.  I/O
 * windows are exempt (ports, not bytes; a margin in bytes means nothing
 * there).  Check, Attach and Reserve apply the same rule.
 */
#include "config.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "books-internal.h"
#include "books-ports.h"
#include "cleanup.h"

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* The safety margin check (see the top of this file): pl is the placement
 * of the new BARs on sp_held (live + holds).  Returns MMIO_OK or NOSPACE
 * naming the window. */
static enum mmio_status check_margin(const struct books *b, const struct mmio_placement *pl,
				     struct mmio_error *err)
{
	const struct mmio_space *all;
	uint64_t take[MMIO_MAX_WINDOWS] = { 0 };
	bool touched[MMIO_MAX_WINDOWS] = { false };
	enum mmio_status st;

	if (!b->safety_margin)
		return MMIO_OK;
	for (size_t i = 0; i < pl->n; i++)
		if (pl->items[i].placed && pl->items[i].window >= 0 &&
		    pl->items[i].window < MMIO_MAX_WINDOWS) {
			take[pl->items[i].window] += pl->items[i].size;
			touched[pl->items[i].window] = true;
		}
	/* windows are in layout order in both spaces (mmio_space_init keeps it) */
	st = books_space_ref(b, BOOKS_USE_ALL, &all, err);
	if (st != MMIO_OK)
		return st;
	for (unsigned w = 0; w < all->nwin; w++) {
		if (!touched[w] || all->w[w].win.kind == MMIO_WIN_IO)
			continue;
		uint64_t free_now = all->w[w].free_bytes;
		uint64_t left = free_now > take[w] ? free_now - take[w] : 0;
		if (left < b->safety_margin) {
			char l[32], m[32];
			mmio_size_format(left, l, sizeof(l));
			mmio_size_format(b->safety_margin, m, sizeof(m));
			st = mmio_error_set(err, MMIO_E_NOSPACE,
					    "fits, but would leave %s free in the %s window [0x%" PRIx64 ", 0x%" PRIx64
					    "), less than the safety margin of %s (safety_margin in mmiod.conf)",
					    l, mmio_window_kind_name(all->w[w].win.kind), all->w[w].win.start,
					    all->w[w].win.end, m);
			break;
		}
	}
	return st;
}


/* Places devs (then every reserved device) as sequential hot-plugs on the
 * space minus live BARs and holds; then applies the safety margin. */
static enum mmio_status place_with_reservations(const struct books *b, const struct mmio_device *devs,
						const char *const *specs, size_t n, const char *want_port,
						struct books_entry *out, struct mmio_error *err)
{
	_cleanup_free_ struct mmio_placement *pl = NULL;
	_cleanup_free_ struct mmio_device *all = NULL;
	const struct mmio_space *sp;
	size_t nres = books_count_reserved(b);
	enum mmio_status st;

	assert(b && (devs || n == 0));
	if (!b->have_layout)
		return mmio_error_set(err, MMIO_E_UNSUPPORTED,
				      "the guest's windows are not known yet (back end has not read them)");
	if (books_port_mode(b) || want_port)
		return books_check_in_ports(b, devs, specs, n, want_port, out, err);

	st = books_space_ref(b, BOOKS_USE_LIVE | BOOKS_USE_HOLDS, &sp, err);
	if (st != MMIO_OK)
		return st;
	pl = mmio_placement_alloc(n ? n : 1);
	if (!pl)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for a placement");
	st = mmio_place(sp, devs, n, pl, err);
	books_entries_fill(sp, devs, specs, n, pl, out);
	if (st != MMIO_OK)
		return st;
	if (nres == 0)
		return check_margin(b, pl, err);

	/* Reservations are capacity promises: they must still fit after devs. */
	all = malloc((n + nres) * sizeof(*all));
	if (!all)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for a placement");
	memcpy(all, devs, n * sizeof(*all));
	size_t k = n;
	for (size_t i = 0; i < b->nres; i++)
		for (size_t j = 0; j < b->res[i].n; j++)
			all[k++] = b->res[i].devs[j].dev;
	struct mmio_error why = { 0 };
	st = mmio_place(sp, all, k, NULL, &why);
	if (st == MMIO_E_NOSPACE) {
		/* which reservation broke: the first one that does not fit */
		const char *rid = "?";
		size_t acc = n;
		for (size_t i = 0; i < b->nres; i++) {
			acc += b->res[i].n;
			if (mmio_place(sp, all, acc, NULL, NULL) != MMIO_OK) {
				rid = b->res[i].id;
				break;
			}
		}
		return mmio_error_set(err, MMIO_E_NOSPACE,
				      "fits only by breaking reservation %s: %s", rid, why.msg);
	}
	if (st != MMIO_OK) {
		*err = why;
		return st;
	}
	return check_margin(b, pl, err);
}

enum mmio_status books_check(const struct books *b, const struct mmio_device *devs,
			     const char *const *specs, size_t n, struct books_entry *out,
			     struct mmio_error *err)
{
	return place_with_reservations(b, devs, specs, n, NULL, out, err);
}

enum mmio_status books_check_port(const struct books *b, const struct mmio_device *devs,
				  const char *const *specs, size_t n, const char *port,
				  struct books_entry *out, struct mmio_error *err)
{
	return place_with_reservations(b, devs, specs, n, port, out, err);
}

enum mmio_status books_admit(struct books *b, const struct mmio_device *dev, const char *spec,
			     const char *attach_id, const char *host_bdf, const char *qemu_device,
			     const char *port, size_t *index, struct mmio_error *err)
{
	struct books_attach a;
	enum mmio_status st;

	assert(b && dev && attach_id);
	if (books_find_attach(b, attach_id) >= 0)
		return mmio_error_set(err, MMIO_E_INVALID, "attach id %s is already in use", attach_id);
	memset(&a, 0, sizeof(a));
	st = place_with_reservations(b, dev, &spec, 1, port, &a.e, err);
	if (st != MMIO_OK)
		return st;
	copy_str(a.id, sizeof(a.id), attach_id);
	copy_str(a.host_bdf, sizeof(a.host_bdf), host_bdf);
	copy_str(a.qemu_device, sizeof(a.qemu_device), qemu_device);
	a.state = BOOKS_ATTACH_INFLIGHT;
	st = books_add_attach(b, &a, err);
	if (st == MMIO_OK && index)
		*index = b->nattach - 1;
	return st;
}

/* A reservation on the root bus: all[0..k) placed as sequential hot-plugs
 * (the nres devices of the reservations before it first) into ents; the
 * margin counts only the new reservation's BARs (the old ones are in the
 * space already). */
static enum mmio_status reserve_on_root(const struct books *b, const struct mmio_device *all,
				       const char *const *allspecs, size_t k, size_t nres,
				       struct books_entry *ents, struct mmio_error *err)
{
	_cleanup_free_ struct mmio_placement *pl = NULL;
	const struct mmio_space *sp;
	enum mmio_status st;

	st = books_space_ref(b, BOOKS_USE_LIVE | BOOKS_USE_HOLDS, &sp, err);
	if (st != MMIO_OK)
		return st;
	pl = mmio_placement_alloc(k);
	if (!pl)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for a placement");
	st = mmio_place(sp, all, k, pl, err);
	books_entries_fill(sp, all, allspecs, k, pl, ents);
	if (st != MMIO_OK)
		return st;
	size_t m = 0;
	for (size_t i = 0; i < pl->n; i++)
		if (pl->items[i].device >= nres)
			pl->items[m++] = pl->items[i];
	pl->n = m;
	return check_margin(b, pl, err);
}

enum mmio_status books_reserve(struct books *b, const struct mmio_device *devs,
			       const char *const *specs, size_t n, const char *id,
			       const char *label, struct mmio_error *err)
{
	size_t nres = books_count_reserved(b);
	_cleanup_free_ struct mmio_device *all = NULL;
	_cleanup_free_ const char **allspecs = NULL;
	_cleanup_free_ struct books_entry *ents = NULL;
	struct books_reservation r;
	enum mmio_status st;

	assert(b && id && (devs || n == 0));
	if (n == 0)
		return mmio_error_set(err, MMIO_E_INVALID, "a reservation needs at least one device");
	if (books_find_reservation(b, id) >= 0)
		return mmio_error_set(err, MMIO_E_INVALID, "reservation id %s is already in use", id);
	all = calloc(nres + n, sizeof(*all));
	allspecs = calloc(nres + n, sizeof(*allspecs));
	ents = calloc(nres + n, sizeof(*ents));
	if (!all || !allspecs || !ents)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for a reservation");
	size_t k = 0;
	for (size_t i = 0; i < b->nres; i++)
		for (size_t j = 0; j < b->res[i].n; j++) {
			allspecs[k] = b->res[i].devs[j].spec;
			all[k++] = b->res[i].devs[j].dev;
		}
	for (size_t i = 0; i < n; i++) {
		allspecs[k] = specs ? specs[i] : devs[i].name;
		all[k++] = devs[i];
	}
	/* existing reservations first (creation order), then the new one */
	if (books_port_mode(b))
		st = books_place_in_ports(b, all, allspecs, k, ents, err);
	else
		st = reserve_on_root(b, all, allspecs, k, nres, ents, err);
	if (st != MMIO_OK)
		return st;
	memset(&r, 0, sizeof(r));
	copy_str(r.id, sizeof(r.id), id);
	copy_str(r.label, sizeof(r.label), label);
	r.n = n;
	r.devs = ents + nres;
	return books_add_reservation(b, &r, err);
}
