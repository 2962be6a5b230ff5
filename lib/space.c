/* SPDX-License-Identifier: MIT */
/*
 * space.c — a guest's free MMIO space: windows minus occupied ranges.
 *
 * Two views are kept per window:
 *  - the raw gaps (window minus used), which is what Linux's __find_resource
 *    walks; the placement simulation (place.c) works on these, applying the
 *    same per-gap clamps and clips the kernel applies at allocation time;
 *  - counts of maximal naturally aligned blocks per size order, taken from
 *    the gaps after those clamps and clips, for the closed-form test.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mmio-model.h"
#include "space-internal.h"

static int cmp_range(const void *a, const void *b)
{
	const struct mmio_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* Linux kernel/resource.c resource_clip() is a clamp; arch/x86
 * resource_clip() cuts a conflict out and keeps the larger side (the upper
 * side on a tie).  Both on [start, end) here. */
bool mmio_gap_clip(struct mmio_range *g, struct mmio_range c)
{
	uint64_t low = 0, high = 0;

	if (g->end <= c.start || g->start >= c.end || g->start >= g->end)
		return false;
	if (g->start < c.start)
		low = c.start - g->start;
	if (g->end > c.end)
		high = g->end - c.end;
	if (low > high)
		g->end = c.start;
	else
		g->start = c.end;
	if (g->start > g->end)
		g->end = g->start;
	return true;
}

/* The part of a raw gap a memory BAR can use, by the rules applied before
 * alignment: PCIBIOS_MIN_MEM, the BIOS ROM area, then E820 entries. */
bool mmio_gap_usable_mem(const struct mmio_space *sp, struct mmio_range *g)
{
	bool clipped = false;

	if (g->start < sp->min_mem)
		g->start = sp->min_mem;
	if (g->start >= g->end)
		return false;
	clipped |= mmio_gap_clip(g, (struct mmio_range){ MMIO_X86_BIOS_ROM_START, MMIO_4G });
	for (size_t i = 0; i < sp->nclip; i++)
		clipped |= mmio_gap_clip(g, sp->clip[i]);
	return clipped;
}

static void count_blocks(uint32_t blocks[64], uint64_t s, uint64_t e)
{
	while (s < e) {
		unsigned k = mmio_log2(e - s);
		if (s) {
			unsigned a = (unsigned)__builtin_ctzll(s);
			if (a < k)
				k = a;
		}
		if (blocks[k] < UINT32_MAX)
			blocks[k]++;
		s += UINT64_C(1) << k;
	}
}

/* Small I/O BARs (all are: at most 256 bytes) may only start where bits
 * 8-9 are clear (x86 pcibios_align_resource, the ISA alias rule), so only
 * the first 256 ports of every 1 KiB are usable to them. */
static void count_io_blocks(uint32_t blocks[64], uint64_t s, uint64_t e)
{
	for (uint64_t b = s & ~UINT64_C(0x3ff); b < e; b += 0x400) {
		uint64_t ps = s > b ? s : b;
		uint64_t pe = b + 0x100 < e ? b + 0x100 : e;
		if (ps < pe)
			count_blocks(blocks, ps, pe);
	}
}

void mmio_window_stats(const struct mmio_space *sp, struct mmio_window_space *ws, bool *inexact)
{
	memset(ws->blocks, 0, sizeof(ws->blocks));
	ws->free_bytes = 0;
	ws->largest_block = 0;
	for (size_t i = 0; i < ws->ngaps; i++) {
		struct mmio_range g = ws->gaps[i];

		if (ws->win.kind == MMIO_WIN_IO) {
			if (g.start < MMIO_X86_MIN_IO)
				g.start = MMIO_X86_MIN_IO;
			if (g.start >= g.end)
				continue;
			ws->free_bytes += g.end - g.start;
			count_io_blocks(ws->blocks, g.start, g.end);
			continue;
		}
		if (g.start < MMIO_1M && inexact)
			*inexact = true; /* Linux pushes starts below 1 MiB up unaligned */
		if (mmio_gap_usable_mem(sp, &g) && inexact)
			*inexact = true; /* clipping is re-applied after every placement */
		if (g.start >= g.end)
			continue;
		if (g.start < MMIO_4G && g.end > MMIO_4G && inexact)
			*inexact = true; /* a gap across 4 GiB serves both classes */
		ws->free_bytes += g.end - g.start;
		count_blocks(ws->blocks, g.start, g.end);
	}
	for (int k = 63; k >= 0; k--)
		if (ws->blocks[k]) {
			ws->largest_block = UINT64_C(1) << k;
			break;
		}
}

static int gap_order(uint64_t s, uint64_t e)
{
	int best = -1;

	while (s < e) {
		int k = (int)mmio_log2(e - s);
		if (s && __builtin_ctzll(s) < k)
			k = __builtin_ctzll(s);
		if (k > best)
			best = k;
		s += UINT64_C(1) << k;
	}
	return best;
}

enum mmio_status mmio_window_index(struct mmio_window_space *ws)
{
	size_t p = 1;
	int8_t *t;

	while (p < ws->ngaps)
		p <<= 1;
	t = realloc(ws->tree, 2 * p);
	if (!t)
		return MMIO_E_NOMEM;
	memset(t, -1, 2 * p);
	for (size_t i = 0; i < ws->ngaps; i++)
		t[p + i] = (int8_t)gap_order(ws->gaps[i].start, ws->gaps[i].end);
	for (size_t i = p - 1; i >= 1; i--)
		t[i] = t[2 * i] > t[2 * i + 1] ? t[2 * i] : t[2 * i + 1];
	ws->tree = t;
	ws->tree_leaves = p;
	return MMIO_OK;
}

long mmio_window_next(const struct mmio_window_space *ws, size_t i, int k)
{
	size_t p = ws->tree_leaves, pos;

	if (!ws->tree || i >= ws->ngaps)
		return -1;
	pos = i + p;
	if (ws->tree[pos] >= k)
		return (long)i;
	/* climb until a right sibling holds a large enough gap, then descend leftmost */
	for (;;) {
		if (pos == 1)
			return -1;
		if (!(pos & 1) && ws->tree[pos + 1] >= k) {
			pos++;
			break;
		}
		pos >>= 1;
	}
	while (pos < p)
		pos = ws->tree[2 * pos] >= k ? 2 * pos : 2 * pos + 1;
	return pos - p < ws->ngaps ? (long)(pos - p) : -1;
}

static enum mmio_status window_gaps(struct mmio_window_space *ws, const struct mmio_range *used,
				    size_t nused, struct mmio_error *err)
{
	uint64_t cursor = ws->win.start;
	size_t n = 0;

	ws->gaps = malloc((nused + 1) * sizeof(*ws->gaps));
	if (!ws->gaps)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for %zu free gaps", nused + 1);
	for (size_t i = 0; i < nused && cursor < ws->win.end; i++) {
		const struct mmio_range *u = &used[i];

		if (u->end <= cursor || u->start >= u->end)
			continue;
		if (u->start >= ws->win.end)
			break;
		if (u->start > cursor)
			ws->gaps[n++] = (struct mmio_range){ cursor, u->start };
		cursor = u->end;
	}
	if (cursor < ws->win.end)
		ws->gaps[n++] = (struct mmio_range){ cursor, ws->win.end };
	ws->ngaps = n;
	if (mmio_window_index(ws) != MMIO_OK)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory indexing %zu gaps", n);
	return MMIO_OK;
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* Which closed-form class a window's blocks count for: by address, as the
 * kernel decides (a window straddling 4 GiB makes the form inexact). */
static unsigned window_class(const struct mmio_window *w)
{
	if (w->kind == MMIO_WIN_IO)
		return 2;
	return w->start >= MMIO_4G ? 1 : 0;
}

static void space_sum_classes(struct mmio_space *sp)
{
	memset(sp->class_blocks, 0, sizeof(sp->class_blocks));
	for (unsigned i = 0; i < sp->nwin; i++) {
		uint32_t *c = sp->class_blocks[window_class(&sp->w[i].win)];
		for (unsigned k = 0; k < 64; k++)
			c[k] = c[k] + sp->w[i].blocks[k] < c[k] ? UINT32_MAX : c[k] + sp->w[i].blocks[k];
	}
	for (unsigned c = 0; c < 3; c++) {
		sp->class_top[c] = -1;
		for (int k = 63; k >= 0; k--)
			if (sp->class_blocks[c][k]) {
				sp->class_top[c] = (int8_t)k;
				break;
			}
	}
}

static void space_classify(struct mmio_space *sp)
{
	bool inexact = false;

	for (unsigned i = 0; i < sp->nwin; i++) {
		const struct mmio_window *w = &sp->w[i].win;

		if (w->flags)
			inexact = true; /* bridge windows: type-matched passes, not two classes */
		if (w->kind != MMIO_WIN_IO && w->start < MMIO_4G && w->end > MMIO_4G)
			inexact = true;
		for (unsigned j = 0; j < i; j++) {
			const struct mmio_window *v = &sp->w[j].win;
			if ((v->kind == MMIO_WIN_IO) == (w->kind == MMIO_WIN_IO) &&
			    overlaps(v->start, v->end, w->start, w->end))
				inexact = true;
		}
		mmio_window_stats(sp, &sp->w[i], &inexact);
	}
	sp->closed_form_exact = !inexact;
	space_sum_classes(sp);
}

enum mmio_status mmio_space_init(struct mmio_space *sp, const struct mmio_space_params *p,
				 struct mmio_error *err)
{
	struct mmio_range *sorted = NULL;
	enum mmio_status st;

	memset(sp, 0, sizeof(*sp));
	if (p->nwin > MMIO_MAX_WINDOWS)
		return mmio_error_set(err, MMIO_E_INVALID, "%u windows given, at most %d supported",
				      p->nwin, MMIO_MAX_WINDOWS);
	for (unsigned i = 0; i < p->nwin; i++) {
		const struct mmio_window *w = &p->windows[i];

		if (w->kind > MMIO_WIN_IO)
			return mmio_error_set(err, MMIO_E_INVALID, "window %u has unknown kind %u", i,
					      w->kind);
		if (w->start >= w->end)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "%s window %u is empty or inverted: [0x%" PRIx64
					      ", 0x%" PRIx64 ")",
					      mmio_window_kind_name(w->kind), i, w->start, w->end);
		if (w->kind == MMIO_WIN_IO && w->end > 0x10000)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "I/O window [0x%" PRIx64 ", 0x%" PRIx64
					      ") goes beyond the 64 KiB x86 port space",
					      w->start, w->end);
		if (w->kind == MMIO_WIN_LOW && w->end > MMIO_4G)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "low window [0x%" PRIx64 ", 0x%" PRIx64 ") ends above 4 GiB",
					      w->start, w->end);
	}
	sp->nwin = p->nwin;
	sp->min_mem = p->min_mem;

	if (p->nused) {
		sorted = malloc(p->nused * sizeof(*sorted));
		if (!sorted)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for %zu used ranges",
					      p->nused);
		memcpy(sorted, p->used, p->nused * sizeof(*sorted));
		qsort(sorted, p->nused, sizeof(*sorted), cmp_range);
	}
	if (p->nclip) {
		sp->clip = malloc(p->nclip * sizeof(*sp->clip));
		if (!sp->clip) {
			st = mmio_error_set(err, MMIO_E_NOMEM, "out of memory for %zu E820 ranges",
					    p->nclip);
			goto fail;
		}
		memcpy(sp->clip, p->clip, p->nclip * sizeof(*sp->clip));
		/* e820 tables are sanitized into address order; clip in that order */
		qsort(sp->clip, p->nclip, sizeof(*sp->clip), cmp_range);
		sp->nclip = p->nclip;
	}
	for (unsigned i = 0; i < p->nwin; i++) {
		sp->w[i].win = p->windows[i];
		st = window_gaps(&sp->w[i], sorted, p->nused, err);
		if (st != MMIO_OK)
			goto fail;
	}
	free(sorted);
	space_classify(sp);
	return MMIO_OK;
fail:
	free(sorted);
	mmio_space_free(sp);
	return st;
}

void mmio_space_free(struct mmio_space *sp)
{
	for (unsigned i = 0; i < MMIO_MAX_WINDOWS; i++) {
		free(sp->w[i].gaps);
		free(sp->w[i].tree);
	}
	free(sp->clip);
	memset(sp, 0, sizeof(*sp));
}

enum mmio_status mmio_space_copy(struct mmio_space *dst, const struct mmio_space *src,
				 struct mmio_error *err)
{
	*dst = *src;
	dst->clip = NULL;
	for (unsigned i = 0; i < MMIO_MAX_WINDOWS; i++) {
		dst->w[i].gaps = NULL;
		dst->w[i].tree = NULL;
	}
	if (src->nclip) {
		dst->clip = malloc(src->nclip * sizeof(*dst->clip));
		if (!dst->clip)
			goto nomem;
		memcpy(dst->clip, src->clip, src->nclip * sizeof(*dst->clip));
	}
	for (unsigned i = 0; i < src->nwin; i++) {
		/* one spare slot: a take may split a gap in two */
		dst->w[i].gaps = malloc((src->w[i].ngaps + 1) * sizeof(*dst->w[i].gaps));
		if (!dst->w[i].gaps)
			goto nomem;
		memcpy(dst->w[i].gaps, src->w[i].gaps, src->w[i].ngaps * sizeof(*dst->w[i].gaps));
		if (mmio_window_index(&dst->w[i]) != MMIO_OK)
			goto nomem;
	}
	return MMIO_OK;
nomem:
	mmio_space_free(dst);
	return mmio_error_set(err, MMIO_E_NOMEM, "out of memory copying a free-space map");
}

enum mmio_status mmio_space_take(struct mmio_space *sp, unsigned wi, struct mmio_range r,
				 struct mmio_error *err)
{
	struct mmio_window_space *ws;
	struct mmio_range *g, *ng;
	bool inexact = !sp->closed_form_exact;

	if (wi >= sp->nwin)
		return mmio_error_set(err, MMIO_E_INVALID, "no window %u", wi);
	ws = &sp->w[wi];
	for (size_t i = 0; i < ws->ngaps; i++) {
		g = &ws->gaps[i];
		if (r.start < g->start || r.end > g->end || r.start >= r.end)
			continue;
		ng = realloc(ws->gaps, (ws->ngaps + 1) * sizeof(*ng));
		if (!ng)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory splitting a gap");
		ws->gaps = ng;
		mmio_gaps_split(ws->gaps, &ws->ngaps, i, r);
		if (mmio_window_index(ws) != MMIO_OK)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory indexing gaps");
		mmio_window_stats(sp, ws, &inexact);
		sp->closed_form_exact = !inexact;
		space_sum_classes(sp);
		return MMIO_OK;
	}
	return mmio_error_set(err, MMIO_E_INVALID,
			      "range [0x%" PRIx64 ", 0x%" PRIx64 ") is not free in the %s window",
			      r.start, r.end, mmio_window_kind_name(ws->win.kind));
}

void mmio_gaps_split(struct mmio_range *gaps, size_t *n, size_t i, struct mmio_range r)
{
	struct mmio_range g = gaps[i];
	bool left = g.start < r.start, right = r.end < g.end;

	if (left && right) {
		memmove(&gaps[i + 2], &gaps[i + 1], (*n - i - 1) * sizeof(*gaps));
		gaps[i] = (struct mmio_range){ g.start, r.start };
		gaps[i + 1] = (struct mmio_range){ r.end, g.end };
		(*n)++;
	} else if (left) {
		gaps[i].end = r.start;
	} else if (right) {
		gaps[i].start = r.end;
	} else {
		memmove(&gaps[i], &gaps[i + 1], (*n - i - 1) * sizeof(*gaps));
		(*n)--;
	}
}
