/* SPDX-License-Identifier: MIT */
/*
 * books-past.c — what the guest holds that the toolstack does not show.
 *
 * QEMU's query-pci reports every ROM BAR, and every BAR of a device whose
 * decode the guest has not enabled, as unassigned, although Linux placed
 * them (docs/verification.md).  For devices mmiod attached, the books pass
 * the placement they predicted in.  For every other device whose past the
 * back end can tell (boot or hot-plug, order of arrival: the QMP back end
 * reads both from QOM), this file replays the guest's history with
 * lib/replay.c; the books count what it infers as used.  It computes from
 * what it is given (a layout, the predictions, the devices seen leaving)
 * and knows nothing of the books; books.c calls it.
 *
 * The replay needs the devices that have left too: a device that was there
 * when another arrived pushed that one's BARs up.  So when a layout
 * replaces the last one, every device that is gone is kept here with the
 * addresses the books had for it, and when it left as far as mmiod can
 * tell: after every arrival it had seen, before every arrival it had not.
 * Devices that came and went while mmiod did not look leave a gap in the
 * order of arrival and are unknown; so is everything before mmiod started
 * that left no device behind.  history_note() says so.
 */
#include "config.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books-past.h"
#include "cleanup.h"
#include "range-vector.h"
#include "strbuf.h"

/* Devices that left, kept for the replay (the oldest are forgotten). */
#define PAST_MAX 32

struct past_dev {
	char device[64];
	struct mmio_device dev;
	uint64_t addr[MMIO_MAX_DEVICE_BARS];   /* MMIO_ADDR_* as in struct mmio_past_device */
	uint8_t arrival;                /* enum mmio_arrival */
	bool vga;
	int bus;                        /* the guest's bus number it was on */
	uint32_t seq, gone_from, gone_to;
	uint32_t seqs[MMIO_MAX_FUNCTIONS];      /* every function's seq */
	unsigned nseqs;
};

struct books_history {
	size_t npast;
	struct past_dev past[PAST_MAX];
	/* the reading of the present layout, and what it was computed from */
	bool valid;
	uint64_t layout_gen;
	size_t npred;
	uint64_t *predicted;            /* per layout.bars[i], as given to history_read */
	struct books_live_view *view;   /* per layout.bars[i] */
	size_t nused;
	struct mmio_range *used;        /* every range the live devices may hold */
	struct history_reading r;
};

struct books_history *history_new(void)
{
	return calloc(1, sizeof(struct books_history));
}

static void reading_drop(struct books_history *h)
{
	free(h->predicted);
	free(h->view);
	free(h->used);
	h->predicted = NULL;
	h->view = NULL;
	h->used = NULL;
	h->npred = h->nused = 0;
	h->valid = false;
}

void history_free(struct books_history *h)
{
	if (!h)
		return;
	reading_drop(h);
	free(h);
}

/* ---- the live devices ------------------------------------------------------- */

/* One device of the layout as the guest saw it arrive: the indices of its
 * BARs in layout.bars.  The functions of one hot-plugged slot are one
 * device (Linux assigns their BARs as one list sorted across functions
 * when function 0 arrives: QEMU takes the other functions first and tells
 * the guest only then, docs/model.md), so is every multi-function device
 * present at boot. */
struct group {
	const struct tsd_live_bar *first;       /* function 0's first BAR, else the first */
	size_t bar[MMIO_MAX_DEVICE_BARS];
	unsigned n;
	struct mmio_device dev;
	int bus;                /* the guest's bus number, -1 if unknown */
	int slot;               /* the guest's slot (device) number, -1: a device of its own */
	uint32_t seq;           /* when the guest saw it arrive: function 0's seq */
	uint32_t seqs[MMIO_MAX_FUNCTIONS];      /* every function's seq (QEMU numbers each) */
	unsigned nseqs;
	bool unseen;            /* hot-plugged functions whose function 0 has not come yet:
				 * the guest does not know them */
};

static bool same_device(const struct tsd_live_bar *a, const struct tsd_live_bar *b)
{
	return a->seq == b->seq && strcmp(a->device, b->device) == 0;
}

/* The guest's bus, slot and function of a live BAR ("BB:dd.f"); false if unknown. */
static bool guest_bdf(const struct tsd_live_bar *lb, int *bus, int *slot, int *fn)
{
	unsigned b, s, f;
	char tail;
	if (sscanf(lb->guest_slot, "%x:%x.%x%c", &b, &s, &f, &tail) != 3 || b > 255 || s > 31 || f > 7)
		return false;
	*bus = (int)b;
	*slot = (int)s;
	*fn = (int)f;
	return true;
}

/* The guest's bus number of a live BAR, -1 if unknown. */
static int bus_of(const struct tsd_live_bar *lb)
{
	int bus, slot, fn;
	return guest_bdf(lb, &bus, &slot, &fn) ? bus : -1;
}

static bool replayable(const struct tsd_live_bar *lb)
{
	return lb->arrival == TSD_ARRIVAL_BOOT || lb->arrival == TSD_ARRIVAL_HOTPLUG;
}

/* Whether live BAR lb belongs to group g: the same device, or another
 * function of the same slot with the same kind of arrival. */
static bool in_group(const struct group *g, const struct tsd_live_bar *lb)
{
	int bus, slot, fn;

	if (same_device(g->first, lb))
		return true;
	if (g->slot < 0 || !replayable(lb) || lb->arrival != g->first->arrival ||
	    !guest_bdf(lb, &bus, &slot, &fn))
		return false;
	return bus == g->bus && slot == g->slot;
}

/* Orders a group's BARs as Linux lists them (function, then BAR index),
 * numbers its functions and tells when the guest saw it. */
static void group_finish(struct group *g, const struct tsd_layout *l)
{
	bool has_fn0 = false;
	uint32_t seq0 = 0, seqmax = 0;

	for (unsigned i = 1; i < g->n; i++)
		for (unsigned j = i; j > 0; j--) {
			const struct mmio_bar *x = &g->dev.bars[j - 1], *y = &g->dev.bars[j];
			if (x->fn < y->fn || (x->fn == y->fn && x->index <= y->index))
				break;
			struct mmio_bar tb = *x;
			size_t ti = g->bar[j - 1];
			g->dev.bars[j - 1] = *y;
			g->dev.bars[j] = tb;
			g->bar[j - 1] = g->bar[j];
			g->bar[j] = ti;
		}
	g->dev.nfn = 0;
	for (unsigned i = 0; i < g->n; i++) {
		const struct tsd_live_bar *lb = &l->bars[g->bar[i]];
		unsigned fn = g->dev.bars[i].fn;
		if (!g->dev.nfn || g->dev.fns[g->dev.nfn - 1].fn != fn)
			g->dev.fns[g->dev.nfn++] = (struct mmio_function){ .fn = (uint8_t)fn };
		if (fn == 0) {
			has_fn0 = true;
			seq0 = lb->seq;
			if (g->first->bar.fn != 0 || lb->bar.index < g->first->bar.index)
				g->first = lb;
		}
		if (lb->seq > seqmax)
			seqmax = lb->seq;
	}
	if (g->dev.nfn < 2) {
		g->dev.nfn = 0;         /* a single function, numbered 0 */
		for (unsigned i = 0; i < g->n; i++)
			g->dev.bars[i].fn = 0;
	}
	g->seq = has_fn0 ? seq0 : seqmax;
	g->unseen = g->slot >= 0 && !has_fn0 && g->first->arrival == TSD_ARRIVAL_HOTPLUG;
}

/* Groups layout.bars by device (a slot's functions together); returns the
 * number of groups or -1. */
static ssize_t group_bars(const struct tsd_layout *l, struct group **out)
{
	struct group *g = calloc(l->nbars ? l->nbars : 1, sizeof(*g));
	size_t n = 0;

	if (!g)
		return -1;
	for (size_t i = 0; i < l->nbars; i++) {
		const struct tsd_live_bar *lb = &l->bars[i];
		int bus = -1, slot = -1, fn = 0;
		size_t k = 0;
		bool known = guest_bdf(lb, &bus, &slot, &fn);

		while (k < n && !in_group(&g[k], lb))
			k++;
		if (k == n) {
			g[n].first = lb;
			g[n].bus = known ? bus : -1;
			g[n].slot = known && replayable(lb) ? slot : -1;
			snprintf(g[n].dev.name, sizeof(g[n].dev.name), "%s", lb->device);
			n++;
		}
		if (!known || g[k].slot < 0)
			fn = 0;
		bool new_fn = true;
		for (unsigned j = 0; j < g[k].nseqs; j++)
			new_fn &= g[k].seqs[j] != lb->seq;
		if (new_fn && g[k].nseqs < MMIO_MAX_FUNCTIONS)
			g[k].seqs[g[k].nseqs++] = lb->seq;
		if (g[k].n < MMIO_MAX_DEVICE_BARS) {
			g[k].bar[g[k].n] = i;
			g[k].dev.bars[g[k].dev.nbars] = lb->bar;
			g[k].dev.bars[g[k].dev.nbars++].fn = (uint8_t)fn;
			g[k].n++;
		}
	}
	for (size_t k = 0; k < n; k++)
		group_finish(&g[k], l);
	*out = g;
	return (ssize_t)n;
}

/* ---- the reading ------------------------------------------------------------- */

/* Seq numbers between the lowest and highest hot-plug arrival that no
 * function, present or remembered, has: arrivals mmiod never saw (a device
 * added and removed, or a device_add that failed after it took a number). */
static unsigned count_gaps(const uint32_t *seqs, size_t n)
{
	uint32_t lo = UINT32_MAX, hi = 0;
	unsigned have = 0;

	for (size_t i = 0; i < n; i++) {
		lo = seqs[i] < lo ? seqs[i] : lo;
		hi = seqs[i] > hi ? seqs[i] : hi;
	}
	if (hi < lo)
		return 0;
	for (uint32_t s = lo; s <= hi && s - lo < 4096; s++)
		for (size_t i = 0; i < n; i++)
			if (seqs[i] == s) {
				have++;
				break;
			}
	return hi - lo + 1 - have;
}

/* The bus a replay covers: the root bus with the root windows, or the bus
 * behind a programmed port with the port's windows. */
struct bus_ctx {
	int bus;
	unsigned nwin;
	struct mmio_window win[MMIO_MAX_WINDOWS];
};

static void bus_ctx_port(const struct tsd_port *p, struct bus_ctx *c)
{
	c->bus = p->secondary;
	c->nwin = 0;
	for (unsigned w = 0; w < 3; w++)
		if (p->present[w])
			c->win[c->nwin++] = p->win[w];
}

/* A boot BAR the guest's firmware leaves unassigned, for Linux to assign
 * at boot: OVMF leaves every ROM BAR so (it may have mapped the ROM for a
 * moment to read it: where QEMU last mapped it says nothing). */
static bool fw_leaves(const struct tsd_layout *l, const struct tsd_live_bar *lb)
{
	return l->firmware == TSD_FW_OVMF && lb->arrival == TSD_ARRIVAL_BOOT &&
	       lb->bar.index == MMIO_BAR_ROM && lb->addr == TSD_ADDR_UNASSIGNED;
}

/* Replays the devices of one bus; fills h->view for them and adds every
 * place a kept reading gives an inferred BAR to *used. */
static int replay_bus(const struct tsd_layout *l, struct books_history *h, const struct group *g,
		      ssize_t ng, const struct bus_ctx *bc, const struct rangev *fixed,
		      struct rangev *used)
{
	size_t cap = (size_t)(ng > 0 ? ng : 0) + h->npast + 1;
	_cleanup_free_ struct mmio_past_device *pd = calloc(cap, sizeof(*pd));
	_cleanup_free_ size_t *gidx = calloc(cap, sizeof(*gidx));
	_cleanup_free_ uint32_t *seqs = calloc(cap * MMIO_MAX_FUNCTIONS, sizeof(*seqs));
	_cleanup_(rangev_clear) struct rangev base = { 0 };
	_cleanup_(mmio_replay_free) struct mmio_replay r = { 0 };
	size_t npd = 0, nlive, nseqs = 0;

	if (!pd || !gidx || !seqs)
		return -1;
	for (size_t i = 0; i < fixed->n; i++)
		if (rangev_push(&base, fixed->v[i].start, fixed->v[i].end - fixed->v[i].start) < 0)
			return -1;
	for (ssize_t k = 0; k < ng; k++) {
		const struct tsd_live_bar *f = g[k].first;
		if (g[k].bus != bc->bus)
			continue;
		if (f->arrival == TSD_ARRIVAL_HOTPLUG)
			for (unsigned j = 0; j < g[k].nseqs; j++)
				seqs[nseqs++] = g[k].seqs[j];
		if (g[k].unseen)
			continue;       /* not in the guest yet: it holds nothing */
		if (!replayable(f)) {
			/* its past is unknown: what is shown or predicted is used */
			for (unsigned j = 0; j < g[k].n; j++) {
				const struct books_live_view *v = &h->view[g[k].bar[j]];
				if (v->addr != TSD_ADDR_UNASSIGNED &&
				    rangev_push(&base, v->addr, l->bars[g[k].bar[j]].bar.size) < 0)
					return -1;
			}
			continue;
		}
		struct mmio_past_device *p = &pd[npd];
		gidx[npd++] = (size_t)k;
		p->dev = &g[k].dev;
		p->arrival = f->arrival == TSD_ARRIVAL_BOOT ? MMIO_ARRIVAL_BOOT : MMIO_ARRIVAL_HOTPLUG;
		p->vga = f->pci_class == 0x0300;
		p->seq = g[k].seq;
		for (unsigned j = 0; j < g[k].n; j++) {
			const struct books_live_view *v = &h->view[g[k].bar[j]];
			const struct tsd_live_bar *lb = &l->bars[g[k].bar[j]];
			p->addr[j] = v->addr != TSD_ADDR_UNASSIGNED ? v->addr :
				     fw_leaves(l, lb) ? MMIO_ADDR_FW_UNASSIGNED : MMIO_ADDR_UNKNOWN;
		}
	}
	nlive = npd;
	if (!nlive)
		return 0;
	/* the devices that left this bus, as the books last had them */
	for (size_t i = 0; i < h->npast; i++) {
		const struct past_dev *q = &h->past[i];
		struct mmio_past_device *p;
		if (q->bus != bc->bus)
			continue;
		if (q->arrival == MMIO_ARRIVAL_HOTPLUG)
			for (unsigned j = 0; j < q->nseqs; j++)
				seqs[nseqs++] = q->seqs[j];
		p = &pd[npd++];
		p->dev = &q->dev;
		memcpy(p->addr, q->addr, sizeof(p->addr));
		p->arrival = q->arrival;
		p->vga = q->vga;
		p->seq = q->seq;
		p->gone = true;
		p->gone_from = q->gone_from;
		p->gone_to = q->gone_to;
	}
	struct mmio_space_params sp = {
		.windows = bc->win, .nwin = bc->nwin, .used = base.v, .nused = base.n,
		.clip = l->clip, .nclip = l->nclip, .min_mem = l->min_mem,
	};
	if (mmio_replay(&sp, pd, npd, &r, NULL) != MMIO_OK)
		return -1;
	h->r.replayed = true;
	h->r.readings += r.readings;
	h->r.kept += r.kept;
	h->r.disagreements += r.disagreements;
	h->r.exact &= r.exact;
	h->r.gaps += count_gaps(seqs, nseqs);
	for (size_t d = 0; d < nlive; d++) {
		const struct group *gg = &g[gidx[d]];
		bool decodes = false;   /* the firmware ran and left the device decoding */
		for (unsigned j = 0; j < gg->n; j++)
			decodes |= l->bars[gg->bar[j]].addr != TSD_ADDR_UNASSIGNED;
		for (unsigned j = 0; j < gg->n; j++) {
			struct books_live_view *v = &h->view[gg->bar[j]];
			const struct mmio_replay_bar *rb = &r.bars[d][j];
			if (!rb->inferred)
				continue;
			if (rb->addr == MMIO_ADDR_UNKNOWN) {
				/* said only when the firmware has run: before, no
				 * boot BAR is anywhere yet */
				h->r.unknown_boot += decodes;
				continue;
			}
			v->addr = rb->addr == MMIO_ADDR_NONE ? TSD_ADDR_UNASSIGNED : rb->addr;
			v->source = rb->uncertain ? TSD_SRC_UNCERTAIN : TSD_SRC_INFERRED;
		}
	}
	for (size_t i = 0; i < r.nused; i++)
		if (rangev_push(used, r.used[i].start, r.used[i].end - r.used[i].start) < 0)
			return -1;
	return 0;
}

static int read_present(const struct tsd_layout *l, const uint64_t *predicted, struct books_history *h)
{
	_cleanup_free_ struct group *g = NULL;
	ssize_t ng = group_bars(l, &g);
	_cleanup_(rangev_clear) struct rangev ports = { 0 }, used = { 0 }, all = { 0 };
	const struct rangev none = { 0 };

	h->view = calloc(l->nbars ? l->nbars : 1, sizeof(*h->view));
	if (ng < 0 || !h->view)
		return -1;
	memset(&h->r, 0, sizeof(h->r));
	h->r.exact = true;
	/* What the toolstack shows, or mmiod predicted for its attaches, or
	 * the firmware left for a boot device's ROM. */
	for (size_t i = 0; i < l->nbars; i++) {
		const struct tsd_live_bar *lb = &l->bars[i];
		uint64_t pr = lb->addr == TSD_ADDR_UNASSIGNED && predicted ? predicted[i] : TSD_ADDR_UNASSIGNED;

		if (lb->addr != TSD_ADDR_UNASSIGNED)
			h->view[i] = (struct books_live_view){ lb->addr, TSD_SRC_TOOLSTACK };
		else if (pr != TSD_ADDR_UNASSIGNED)
			h->view[i] = (struct books_live_view){ pr, TSD_SRC_PREDICTED };
		else if (lb->arrival == TSD_ARRIVAL_BOOT && lb->last_mapped && !fw_leaves(l, lb))
			/* where the firmware put it; Linux claims it there */
			h->view[i] = (struct books_live_view){ lb->last_mapped, TSD_SRC_INFERRED };
		else
			h->view[i] = (struct books_live_view){ TSD_ADDR_UNASSIGNED, lb->source };
	}
	/* The root bus: the ports' windows are used whatever the history. */
	for (size_t i = 0; i < l->nports; i++)
		for (unsigned w = 0; w < 3; w++)
			if (l->ports[i].windows_known && l->ports[i].present[w] &&
			    rangev_push(&ports, l->ports[i].win[w].start,
					l->ports[i].win[w].end - l->ports[i].win[w].start) < 0)
				return -1;
	struct bus_ctx root = { .bus = 0, .nwin = l->nwin };
	memcpy(root.win, l->win, sizeof(root.win));
	if (replay_bus(l, h, g, ng, &root, &ports, &used) < 0)
		return -1;
	/* Behind every programmed port: its windows. */
	for (size_t i = 0; i < l->nports; i++) {
		struct bus_ctx pc;
		if (!l->ports[i].windows_known || !l->ports[i].secondary)
			continue;
		bus_ctx_port(&l->ports[i], &pc);
		if (replay_bus(l, h, g, ng, &pc, &none, &used) < 0)
			return -1;
	}
	/* Used: every shown, predicted or inferred live BAR, and the other
	 * places the readings give an uncertain one. */
	for (size_t i = 0; i < l->nbars; i++)
		if (h->view[i].addr != TSD_ADDR_UNASSIGNED &&
		    rangev_push(&all, h->view[i].addr, l->bars[i].bar.size) < 0)
			return -1;
	for (size_t i = 0; i < used.n; i++)
		if (rangev_push(&all, used.v[i].start, used.v[i].end - used.v[i].start) < 0)
			return -1;
	h->nused = all.n;
	h->used = TAKE_PTR(all.v);
	h->r.view = h->view;
	h->r.used = h->used;
	h->r.nused = h->nused;
	return 0;
}

const struct history_reading *history_read(struct books_history *h, const struct tsd_layout *l, uint64_t gen,
					   const uint64_t *predicted)
{
	size_t n = l->nbars;

	assert(predicted || !n);
	if (!h)
		return NULL;
	if (h->valid && h->layout_gen == gen && h->npred == n &&
	    (!n || memcmp(h->predicted, predicted, n * sizeof(*predicted)) == 0))
		return &h->r;
	reading_drop(h);
	h->predicted = malloc((n ? n : 1) * sizeof(*h->predicted));
	if (!h->predicted)
		return NULL;
	if (n)
		memcpy(h->predicted, predicted, n * sizeof(*predicted));
	h->npred = n;
	if (read_present(l, predicted, h) < 0) {
		reading_drop(h);
		return NULL;
	}
	h->layout_gen = gen;
	h->valid = true;
	return &h->r;
}

void history_note(const struct history_reading *r, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!r || !r->replayed)
		return;
	if (!r->exact)
		strbuf_appendf(buf, len, "%sthe order of some devices' arrivals and removals in the guest is "
			    "not known (%u readings fit what QEMU shows): BARs QEMU does not show count as "
			    "used wherever a reading puts them", buf[0] ? "; " : "", r->kept);
	if (r->disagreements)
		strbuf_appendf(buf, len, "%s%u BAR(s) QEMU shows are not where the replay of the guest's "
			    "history puts them (a device that came and went before mmiod looked?): "
			    "inferred addresses may be off", buf[0] ? "; " : "", r->disagreements);
	if (r->gaps)
		strbuf_appendf(buf, len, "%s%u hot-plug(s) in the guest's history were never seen by mmiod "
			    "(added and removed before it looked, or a device_add that failed)",
			    buf[0] ? "; " : "", r->gaps);
	if (r->unknown_boot)
		strbuf_appendf(buf, len, "%s%u BAR(s) of boot devices hidden by QEMU and not placed by mmiod "
			    "(where the firmware put them is not known)", buf[0] ? "; " : "",
			    r->unknown_boot);
}

/* ---- departures ----------------------------------------------------------------- */

/* The latest arrival on a bus (orders of arrival are per bus). */
static uint32_t max_seq(const struct tsd_layout *l, int bus)
{
	uint32_t m = 0;
	for (size_t i = 0; i < l->nbars; i++)
		if (replayable(&l->bars[i]) && bus_of(&l->bars[i]) == bus && l->bars[i].seq > m)
			m = l->bars[i].seq;
	return m;
}

static bool layout_has(const struct tsd_layout *l, const struct tsd_live_bar *lb)
{
	for (size_t i = 0; i < l->nbars; i++)
		if (same_device(&l->bars[i], lb))
			return true;
	return false;
}

void history_departures(struct books_history *h, const struct tsd_layout *l, uint64_t gen,
			const uint64_t *predicted, const struct tsd_layout *next)
{
	struct group *g = NULL;
	ssize_t ng;
	uint32_t from, to;

	if (!history_read(h, l, gen, predicted))
		return;
	ng = group_bars(l, &g);
	for (ssize_t k = 0; k < ng; k++) {
		const struct tsd_live_bar *f = g[k].first;
		struct past_dev *q;
		if (!replayable(f) || !g[k].seq || layout_has(next, f))
			continue;
		/* it left after every arrival mmiod had seen on its bus and
		 * before every one it had not */
		from = max_seq(l, g[k].bus);
		to = max_seq(next, g[k].bus);
		if (to < from)
			to = from;
		if (h->npast == PAST_MAX) {
			memmove(&h->past[0], &h->past[1], (PAST_MAX - 1) * sizeof(h->past[0]));
			h->npast--;
		}
		q = &h->past[h->npast++];
		memset(q, 0, sizeof(*q));
		snprintf(q->device, sizeof(q->device), "%s", f->device);
		q->dev = g[k].dev;
		if (g[k].unseen)
			q->dev.nbars = 0;       /* the guest never had it; its numbers are no gap */
		for (unsigned j = 0; j < g[k].n; j++) {
			uint64_t a = h->view[g[k].bar[j]].addr;
			q->addr[j] = a == TSD_ADDR_UNASSIGNED ? MMIO_ADDR_NONE : a;
		}
		q->arrival = f->arrival == TSD_ARRIVAL_BOOT ? MMIO_ARRIVAL_BOOT : MMIO_ARRIVAL_HOTPLUG;
		q->vga = f->pci_class == 0x0300;
		q->bus = g[k].bus;
		q->seq = g[k].seq;
		memcpy(q->seqs, g[k].seqs, sizeof(q->seqs));
		q->nseqs = g[k].nseqs;
		q->gone_from = from;
		q->gone_to = to;
	}
	free(g);
}
