/* SPDX-License-Identifier: MIT */
/*
 * books.c — one guest's books as data: the layout the back end reported,
 * the attaches, the reservations, and what counts as used when building
 * the guest's free space (books_space, with its cache).  The admission
 * rule is books-admit.c; placement behind hot-plug ports is books-ports.c.
 *
 * Memory and I/O ranges go into one used list: x86 I/O ports lie below
 * 0x10000 and no memory window starts that low, so they never collide.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "books-internal.h"
#include "books-past.h"
#include "cleanup.h"
#include "table.h"

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* As the state file and the Attaches property spell them. */
static const char *const attach_state_names[] = {
	[BOOKS_ATTACH_INFLIGHT] = "attaching",
	[BOOKS_ATTACH_ATTACHED] = "attached",
	[BOOKS_ATTACH_DETACHING] = "detaching",
	[BOOKS_ATTACH_UNSETTLED] = "unsettled",
};

const char *books_attach_state_name(enum books_attach_state s)
{
	return table_name(attach_state_names, ELEMENTSOF(attach_state_names), s, "unknown");
}

int books_attach_state_from_name(const char *s)
{
	return table_find(attach_state_names, ELEMENTSOF(attach_state_names), s);
}

void books_init(struct books *b)
{
	memset(b, 0, sizeof(*b));
	b->layout.free_slots = -1;
}

static void reservation_free(struct books_reservation *r)
{
	free(r->devs);
	r->devs = NULL;
	r->n = 0;
}

/* One cached space per `use` combination (BOOKS_USE_* are three bits). */
#define CACHE_SLOTS 8

struct books_cache_slot {
	bool valid;
	uint64_t layout_gen;
	size_t nused;
	struct mmio_range *used;        /* the ranges the space was built from */
	struct mmio_space sp;
};

/* Slots are allocated when first used (a space is ~3.5 KiB; most guests
 * use one or two `use` combinations, many none until checked). */
struct books_cache {
	struct books_cache_slot *slot[CACHE_SLOTS];
};

static void cache_free(struct books_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if (c->slot[i]) {
			if (c->slot[i]->valid) {
				mmio_space_free(&c->slot[i]->sp);
				free(c->slot[i]->used);
			}
			free(c->slot[i]);
		}
	free(c);
}

void books_free(struct books *b)
{
	uint64_t margin = b->safety_margin;   /* configuration, not books */
	uint64_t gen = b->layout_gen;         /* stays monotonic across a reset */

	cache_free(b->cache);
	history_free(b->hist);

	tsd_layout_clear(&b->layout);
	free(b->attaches);
	for (size_t i = 0; i < b->nres; i++)
		reservation_free(&b->res[i]);
	free(b->res);
	books_init(b);
	b->safety_margin = margin;
	b->layout_gen = gen + 1;
}

static uint64_t *predictions(const struct books *b);
static struct books_history *history_of(const struct books *b);

enum mmio_status books_set_layout(struct books *b, const struct tsd_layout *l, struct mmio_error *err)
{
	struct tsd_layout copy;

	if (tsd_layout_copy(&copy, l) < 0)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory copying a guest layout");
	if (b->have_layout) {
		/* remember the devices that leave, for the replay (books-past.c) */
		uint64_t *pred = predictions(b);
		if (pred)
			history_departures(history_of(b), &b->layout, b->layout_gen, pred, &copy);
		free(pred);
	}
	tsd_layout_clear(&b->layout);
	b->layout = copy;
	b->have_layout = true;
	b->layout_gen++;
	return MMIO_OK;
}

/* ---- used ranges ----------------------------------------------------------- */

int books_push_entry(struct rangev *rv, const struct books_entry *e)
{
	for (unsigned i = 0; i < e->nbars; i++)
		if (e->bars[i].placed && rangev_push(rv, e->bars[i].addr, e->bars[i].bar.size) < 0)
			return -1;
	return 0;
}

const struct books_attach *books_attach_of_device(const struct books *b, const char *dev,
						  unsigned *fn)
{
	for (size_t i = 0; i < b->nattach; i++) {
		const struct books_attach *a = &b->attaches[i];
		const char *id = a->tsd_id[0] ? a->tsd_id : a->id;
		size_t n = strlen(id);

		if (strcmp(id, dev) == 0) {
			if (fn)
				*fn = 0;
			return a;
		}
		if (!mmio_device_is_slot(&a->e.dev))
			continue;
		if (strncmp(dev, id, n) == 0 && dev[n] == '.' && dev[n + 1] >= '1' && dev[n + 1] <= '7' &&
		    !dev[n + 2]) {
			if (fn)
				*fn = (unsigned)(dev[n + 1] - '0');
			return a;
		}
		for (unsigned f = 0; f < a->e.dev.nfn && f < MMIO_MAX_FUNCTIONS; f++) {
			char bdf[16];
			if (!a->e.dev.fns[f].has_bdf)
				continue;
			mmio_bdf_format(&a->e.dev.fns[f].bdf, bdf, sizeof(bdf));
			if (strcmp(bdf, dev) == 0) {
				if (fn)
					*fn = a->e.dev.fns[f].fn;
				return a;
			}
		}
	}
	return NULL;
}

/* The predicted BAR of an attached device matching a live BAR the toolstack
 * shows unassigned (Linux placed it; QEMU shows all-ones until the driver
 * enables decode). */
const struct books_bar *books_predicted_bar(const struct books_attach *a, unsigned fn, unsigned index)
{
	for (unsigned i = 0; i < a->e.nbars; i++)
		if (a->e.bars[i].bar.fn == fn && a->e.bars[i].bar.index == index && a->e.bars[i].placed)
			return &a->e.bars[i];
	return NULL;
}

/* ---- what the guest holds that the toolstack does not show --------------- */

static struct books_history *history_of(const struct books *b)
{
	struct books *mb = (struct books *)b;   /* the history is not part of the books' value */

	if (!mb->hist)
		mb->hist = history_new();
	return mb->hist;
}

/* Per live BAR the toolstack shows unassigned: the address mmiod predicted
 * when it attached the device, else TSD_ADDR_UNASSIGNED.  NULL when out of
 * memory. */
static uint64_t *predictions(const struct books *b)
{
	uint64_t *p = malloc((b->layout.nbars ? b->layout.nbars : 1) * sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < b->layout.nbars; i++) {
		const struct tsd_live_bar *lb = &b->layout.bars[i];
		unsigned fn = 0;
		const struct books_attach *a = lb->addr == TSD_ADDR_UNASSIGNED ?
					       books_attach_of_device(b, lb->device, &fn) : NULL;
		const struct books_bar *pb = a ? books_predicted_bar(a, fn, lb->bar.index) : NULL;
		p[i] = pb ? pb->addr : TSD_ADDR_UNASSIGNED;
	}
	return p;
}

static const struct history_reading *reading(const struct books *b)
{
	const struct history_reading *r = NULL;
	uint64_t *pred;

	if (!b->have_layout || !(pred = predictions(b)))
		return NULL;
	if (history_of(b))
		r = history_read(b->hist, &b->layout, b->layout_gen, pred);
	free(pred);
	return r;
}

const struct books_live_view *books_live_bars(const struct books *b)
{
	const struct history_reading *r = reading(b);
	return r ? r->view : NULL;
}

int books_push_live(const struct books *b, struct rangev *rv)
{
	const struct history_reading *r;

	if (!b->have_layout)
		return 0;
	if (!(r = reading(b)))
		return -1;
	for (size_t i = 0; i < r->nused; i++)
		if (rangev_push(rv, r->used[i].start, r->used[i].end - r->used[i].start) < 0)
			return -1;
	return 0;
}

void books_history_note(const struct books *b, char *buf, size_t len)
{
	history_note(reading(b), buf, len);
}

static enum mmio_status space_get(const struct books *b, unsigned use, const struct mmio_space **out,
				  struct mmio_space *tmp, struct mmio_error *err);

/* Reservations are capacity promises, not addresses: where each reserved
 * device lies is where it would go now, placed in creation order after
 * everything else in `base_use` -- the placement admission checks.  The
 * address stored at creation goes stale as soon as an earlier reservation
 * is released or a device is attached (a device's own placement ignores
 * reservations), and pushing stale addresses let them overlap live BARs
 * or each other, so Windows showed too much free space.  Reserved BARs
 * that no longer fit (the guest shrank) keep their stored address. */
static int push_reservations(const struct books *b, unsigned base_use, struct rangev *rv)
{
	size_t nres = books_count_reserved(b), k = 0;
	const struct mmio_space *sp;
	struct mmio_device *all;
	struct mmio_placement *pl;
	int r = 0;

	if (nres == 0 || books_port_mode(b))
		return 0;       /* behind ports: inside port windows, already used */
	all = malloc(nres * sizeof(*all));
	pl = mmio_placement_alloc(nres);
	if (!all || !pl || space_get(b, base_use, &sp, NULL, NULL) != MMIO_OK) {
		free(all);
		free(pl);
		for (size_t i = 0; i < b->nres; i++)
			for (size_t j = 0; j < b->res[i].n; j++)
				if (books_push_entry(rv, &b->res[i].devs[j]) < 0)
					return -1;
		return 0;
	}
	for (size_t i = 0; i < b->nres; i++)
		for (size_t j = 0; j < b->res[i].n; j++)
			all[k++] = b->res[i].devs[j].dev;
	pl->n = 0;
	enum mmio_status st = mmio_place(sp, all, nres, pl, NULL);
	bool *done = calloc(nres * MMIO_MAX_DEVICE_BARS, sizeof(*done));
	for (size_t i = 0; r == 0 && i < pl->n; i++) {
		const struct mmio_bar_place *it = &pl->items[i];
		if (!it->placed)
			continue;
		if (done)
			done[(size_t)it->device * MMIO_MAX_DEVICE_BARS + it->bar] = true;
		r = rangev_push(rv, it->addr, it->size);
	}
	if (st != MMIO_OK) {
		/* what did not fit keeps its stored address */
		k = 0;
		for (size_t i = 0; r == 0 && i < b->nres; i++)
			for (size_t j = 0; r == 0 && j < b->res[i].n; j++, k++) {
				const struct books_entry *e = &b->res[i].devs[j];
				for (unsigned x = 0; r == 0 && x < e->nbars; x++)
					if (e->bars[x].placed && !(done && done[k * MMIO_MAX_DEVICE_BARS + x]))
						r = rangev_push(rv, e->bars[x].addr, e->bars[x].bar.size);
			}
	}
	free(done);
	free(pl);
	free(all);
	return r;
}

static int collect_used(const struct books *b, unsigned use, struct rangev *rv)
{
	/* A port's programmed windows are the bridge's: gone from the root
	 * bus's free space whatever is behind them. */
	for (size_t i = 0; (use & BOOKS_USE_LIVE) && i < b->layout.nports; i++)
		for (unsigned w = 0; w < 3; w++)
			if (b->layout.ports[i].windows_known && b->layout.ports[i].present[w] &&
			    rangev_push(rv, b->layout.ports[i].win[w].start,
					b->layout.ports[i].win[w].end - b->layout.ports[i].win[w].start) < 0)
				return -1;
	/* Shown, predicted for mmiod's attaches, inferred for the others
	 * (books-past.c). */
	if ((use & BOOKS_USE_LIVE) && books_push_live(b, rv) < 0)
		return -1;
	for (size_t i = 0; i < b->nattach; i++) {
		const struct books_attach *a = &b->attaches[i];
		/* an unsettled one holds its space until the layout shows
		 * the device (then its live BARs count) or it is released */
		bool held = books_attach_holds(b, a);
		if ((use & BOOKS_USE_HOLDS) && held && books_push_entry(rv, &a->e) < 0)
			return -1;
		/* the windows pciehp will give the port (the old ones stay
		 * counted through the layout until the guest is read again) */
		for (unsigned w = 0; (use & BOOKS_USE_HOLDS) && held && a->e.port_resized && w < 3; w++)
			if (a->e.port_after.present[w] &&
			    rangev_push(rv, a->e.port_after.win[w].start,
					      a->e.port_after.win[w].end - a->e.port_after.win[w].start) < 0)
				return -1;
	}
	if ((use & BOOKS_USE_RESERVATIONS) &&
	    push_reservations(b, use & ~BOOKS_USE_RESERVATIONS, rv) < 0)
		return -1;
	return 0;
}

/* The used ranges for `use` (the caller frees rv->v). */
static enum mmio_status used_ranges(const struct books *b, unsigned use, struct rangev *rv,
				    struct mmio_error *err)
{
	if (!b->have_layout)
		return mmio_error_set(err, MMIO_E_UNSUPPORTED,
				      "the guest's windows are not known yet (back end has not read them)");
	if (collect_used(b, use, rv) < 0) {
		free(rv->v);
		rv->v = NULL;
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory collecting used ranges");
	}
	return MMIO_OK;
}

static struct mmio_space_params space_params(const struct books *b, const struct rangev *rv)
{
	return (struct mmio_space_params){
		.windows = b->layout.win,
		.nwin = b->layout.nwin,
		.used = rv->v,
		.nused = rv->n,
		.clip = b->layout.clip,
		.nclip = b->layout.nclip,
		.min_mem = b->layout.min_mem,
	};
}

enum mmio_status books_space(const struct books *b, unsigned use, struct mmio_space *sp,
			     struct mmio_error *err)
{
	_cleanup_(rangev_clear) struct rangev rv = { 0 };
	enum mmio_status st = used_ranges(b, use, &rv, err);

	if (st != MMIO_OK)
		return st;
	struct mmio_space_params p = space_params(b, &rv);
	return mmio_space_init(sp, &p, err);
}

/* The space for `use`: the cached one when it is current; else a new one,
 * cached when tmp is NULL, built in *tmp (the caller frees it) otherwise. */
static enum mmio_status space_get(const struct books *b, unsigned use, const struct mmio_space **out,
				  struct mmio_space *tmp, struct mmio_error *err)
{
	_cleanup_(rangev_clear) struct rangev rv = { 0 };
	struct books_cache_slot *slot = NULL;
	struct books *mb = (struct books *)b; /* the cache is not part of the books' value */
	/* Keyed by content, not by who changed what: attach states are also
	 * written outside books.c, and collecting the ranges is cheap next to
	 * building a map (sorting, block counts, gap index). */
	enum mmio_status st = used_ranges(b, use, &rv, err);

	if (st != MMIO_OK)
		return st;
	if (mb->cache)
		slot = mb->cache->slot[use % CACHE_SLOTS];
	if (slot && slot->valid && slot->layout_gen == b->layout_gen && slot->nused == rv.n &&
	    (rv.n == 0 || memcmp(slot->used, rv.v, rv.n * sizeof(*rv.v)) == 0)) {
		*out = &slot->sp;
		return MMIO_OK;
	}
	struct mmio_space_params p = space_params(b, &rv);
	if (tmp) {
		st = mmio_space_init(tmp, &p, err);
		if (st == MMIO_OK)
			*out = tmp;
		return st;
	}
	if (!mb->cache && !(mb->cache = calloc(1, sizeof(*mb->cache))))
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for the space cache");
	if (!slot && !(slot = mb->cache->slot[use % CACHE_SLOTS] = calloc(1, sizeof(*slot))))
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for the space cache");
	if (slot->valid) {
		mmio_space_free(&slot->sp);
		free(slot->used);
		slot->valid = false;
	}
	st = mmio_space_init(&slot->sp, &p, err);
	if (st != MMIO_OK)
		return st;
	slot->nused = rv.n;
	slot->used = TAKE_PTR(rv.v);
	slot->layout_gen = b->layout_gen;
	slot->valid = true;
	*out = &slot->sp;
	return MMIO_OK;
}

enum mmio_status books_space_ref(const struct books *b, unsigned use, const struct mmio_space **out,
				 struct mmio_error *err)
{
	return space_get(b, use, out, NULL, err);
}

/* ---- placement ------------------------------------------------------------- */

bool books_port_mode(const struct books *b)
{
	if (!b->layout.ports_only)
		return false;
	if (b->layout.nports == 0)
		return true;
	for (size_t i = 0; i < b->layout.nports; i++)
		if (b->layout.ports[i].windows_known)
			return true;
	return false;
}

void books_entries_fill(const struct mmio_space *sp, const struct mmio_device *devs,
			const char *const *specs, size_t n, const struct mmio_placement *pl,
			struct books_entry *out)
{
	for (size_t d = 0; d < n; d++) {
		struct books_entry *e = &out[d];
		memset(e, 0, sizeof(*e));
		copy_str(e->spec, sizeof(e->spec), specs ? specs[d] : devs[d].name);
		e->dev = devs[d];
		e->nbars = devs[d].nbars;
		for (unsigned i = 0; i < devs[d].nbars; i++)
			e->bars[i].bar = devs[d].bars[i];
	}
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n; i++) {
		const struct mmio_bar_place *p = &pl->items[i];
		if (p->device >= n || p->bar >= out[p->device].nbars)
			continue;
		struct books_bar *bb = &out[p->device].bars[p->bar];
		bb->placed = p->placed && p->window >= 0;
		if (bb->placed) {
			bb->window = sp->w[p->window].win.kind;
			bb->pref_window = (sp->w[p->window].win.flags & MMIO_WF_PREFETCH) != 0;
			bb->addr = p->addr;
		}
	}
}

size_t books_count_reserved(const struct books *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->nres; i++)
		n += b->res[i].n;
	return n;
}

ssize_t books_find_reservation(const struct books *b, const char *id)
{
	for (size_t i = 0; i < b->nres; i++)
		if (strcmp(b->res[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

void books_release(struct books *b, size_t index)
{
	if (index >= b->nres)
		return;
	reservation_free(&b->res[index]);
	memmove(&b->res[index], &b->res[index + 1], (b->nres - index - 1) * sizeof(*b->res));
	b->nres--;
}

ssize_t books_find_attach(const struct books *b, const char *key)
{
	for (size_t i = 0; i < b->nattach; i++)
		if (strcmp(b->attaches[i].id, key) == 0)
			return (ssize_t)i;
	for (size_t i = 0; i < b->nattach; i++) {
		const struct books_attach *a = &b->attaches[i];
		if ((a->tsd_id[0] && strcmp(a->tsd_id, key) == 0) ||
		    (a->host_bdf[0] && strcmp(a->host_bdf, key) == 0) ||
		    strcmp(a->e.spec, key) == 0)
			return (ssize_t)i;
	}
	return -1;
}

void books_remove_attach(struct books *b, size_t index)
{
	if (index >= b->nattach)
		return;
	memmove(&b->attaches[index], &b->attaches[index + 1],
		(b->nattach - index - 1) * sizeof(*b->attaches));
	b->nattach--;
}

enum mmio_status books_add_attach(struct books *b, const struct books_attach *a,
				  struct mmio_error *err)
{
	struct books_attach *v = realloc(b->attaches, (b->nattach + 1) * sizeof(*v));
	if (!v)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for an attach");
	b->attaches = v;
	v[b->nattach++] = *a;
	return MMIO_OK;
}

enum mmio_status books_add_reservation(struct books *b, const struct books_reservation *r,
				       struct mmio_error *err)
{
	struct books_reservation *v = realloc(b->res, (b->nres + 1) * sizeof(*v));
	struct books_entry *devs = malloc((r->n ? r->n : 1) * sizeof(*devs));
	if (!v || !devs) {
		free(devs);
		if (v)
			b->res = v;
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for a reservation");
	}
	memcpy(devs, r->devs, r->n * sizeof(*devs));
	b->res = v;
	v[b->nres] = *r;
	v[b->nres].devs = devs;
	b->nres++;
	return MMIO_OK;
}

bool books_layout_has_device(const struct books *b, const char *tsd_id)
{
	if (!tsd_id[0])
		return false;
	for (size_t i = 0; i < b->layout.nbars; i++)
		if (strcmp(b->layout.bars[i].device, tsd_id) == 0)
			return true;
	return false;
}

unsigned books_windows(const struct books *b, struct books_window_view out[MMIO_MAX_WINDOWS])
{
	const struct mmio_space *sp = NULL;
	struct mmio_space tmp;
	struct mmio_error err;
	unsigned n = b->layout.nwin;
	bool have_space;

	if (n > MMIO_MAX_WINDOWS)
		n = MMIO_MAX_WINDOWS;
	/* Reading Windows does not create a cached space: with thousands of
	 * guests, one per guest listed would stay resident (~3.5 KiB each). */
	have_space = space_get(b, BOOKS_USE_ALL, &sp, &tmp, &err) == MMIO_OK;
	for (unsigned i = 0; i < n; i++) {
		const struct mmio_window *w = &b->layout.win[i];
		out[i] = (struct books_window_view){
			.kind = w->kind,
			.start = w->start,
			.end = w->end,
			.free = have_space ? sp->w[i].free_bytes : 0,
			.largest = have_space ? sp->w[i].largest_block : 0,
			.source = b->layout.win_source[i],
		};
		if (have_space)
			memcpy(out[i].blocks, sp->w[i].blocks, sizeof(out[i].blocks));
	}
	if (sp == &tmp)
		mmio_space_free(&tmp);
	return n;
}

uint64_t books_reservation_bytes(const struct books_reservation *r)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < r->n; i++)
		for (unsigned j = 0; j < r->devs[i].nbars; j++)
			sum += r->devs[i].bars[j].bar.size;
	return sum;
}
