/* SPDX-License-Identifier: MIT */
/*
 * place.c — where a Linux guest will put a hot-plugged device's BARs.
 *
 * mmio_place() replays, step for step, what Linux x86 does when an endpoint
 * appears on a bus through ACPI hot-plug (acpiphp enable_slot ->
 * __pci_bus_assign_resources), 4.19 .. 6.1:
 *
 *  1. pdev_sort_resources(): every BAR and the ROM in one list, descending
 *     alignment (= size), ties in BAR-index order.
 *  2. Each resource is assigned independently; a failure leaves the others
 *     (partial assignment), and is not retried.
 *  3. _pci_assign_resource(): up to three passes with a type mask — exact
 *     match of PREFETCH and MEM_64; then, for 64-bit prefetchable BARs, any
 *     prefetchable window; then any memory window.  A non-prefetchable BAR
 *     never goes into a prefetchable window.
 *  4. pci_bus_alloc_resource(): a 64-bit BAR first tries every window
 *     clipped to [4 GiB, max], then [0, max]; others use [0, 4 GiB).
 *     Windows are tried in bus-resource (_CRS) order.
 *  5. __find_resource(): the gaps between the window's children, in address
 *     order; each gap is clamped to [min, max] (min = PCIBIOS_MIN_MEM or
 *     PCIBIOS_MIN_IO), then arch_remove_reservations() cuts the BIOS ROM
 *     area and E820 entries out keeping the larger side, then the start is
 *     aligned to the size and passed through pcibios_align_resource()
 *     (memory: not below 1 MiB; I/O: a start with bits 8-9 set moves to the
 *     next 1 KiB).  Only that one candidate per gap is tried: the first gap
 *     it fits in wins — first fit from the bottom.
 *
 * Root windows from ACPI _CRS carry neither PREFETCH nor MEM_64, so on a
 * root bus every 64-bit BAR tries above 4 GiB first, then below; 32-bit
 * BARs and the ROM only below.  Largest-first with that preference is
 * exact (see docs/model.md): it fails only when no placement exists, which
 * is what lets mmio_fits() answer from counts alone.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmio-model.h"
#include "space-internal.h"

#define RES_PREFETCH 0x1u
#define RES_MEM64    0x2u

/* What one call has placed so far, per window, in address order.  The
 * space itself is never copied: a base gap minus these ranges is exactly
 * the list of gaps the kernel would walk after those placements. */
struct scratch {
	size_t n[MMIO_MAX_WINDOWS];
	struct mmio_range *taken[MMIO_MAX_WINDOWS];
	struct mmio_range *buf;
};

struct mmio_placement *mmio_placement_alloc(size_t ndevices)
{
	struct mmio_placement *p;

	p = calloc(1, sizeof(*p) + ndevices * MMIO_MAX_DEVICE_BARS * sizeof(p->items[0]));
	return p;
}

static enum mmio_status scratch_init(struct scratch *s, const struct mmio_space *sp, size_t nbars)
{
	s->buf = malloc((sp->nwin * nbars + 1) * sizeof(*s->buf));
	if (!s->buf)
		return MMIO_E_NOMEM;
	for (unsigned i = 0; i < sp->nwin; i++) {
		s->taken[i] = s->buf + i * nbars;
		s->n[i] = 0;
	}
	return MMIO_OK;
}

static void scratch_take(struct scratch *s, unsigned wi, struct mmio_range r)
{
	size_t j = s->n[wi];

	while (j > 0 && s->taken[wi][j - 1].start > r.start) {
		s->taken[wi][j] = s->taken[wi][j - 1];
		j--;
	}
	s->taken[wi][j] = r;
	s->n[wi]++;
}

static uint64_t align_up(uint64_t v, uint64_t a, bool *overflow)
{
	uint64_t r = (v + a - 1) & ~(a - 1);

	*overflow = r < v;
	return r;
}

/* One gap of __find_resource(): clamp, clip, align, alignf, fit. */
static bool try_gap(const struct mmio_space *sp, struct mmio_range t, const struct mmio_request *rq,
		    uint64_t lo, uint64_t hi, uint64_t *addr)
{
	bool io = rq->kind == MMIO_BAR_IO, ovf;
	uint64_t cand;

	if (t.start < lo)
		t.start = lo;
	if (t.end > hi)
		t.end = hi;
	if (t.start >= t.end)
		return false;
	if (!io && (mmio_gap_usable_mem(sp, &t), t.start >= t.end))
		return false;
	cand = align_up(t.start, rq->align, &ovf);
	if (ovf)
		return false;
	if (io) {
		if (cand & 0x300)
			cand = (cand + 0x3ff) & ~UINT64_C(0x3ff);
	} else if (cand < MMIO_1M) {
		cand = MMIO_1M;
	}
	if (cand >= t.start && cand + rq->size > cand && cand + rq->size <= t.end) {
		*addr = cand;
		return true;
	}
	return false;
}

/* __find_resource() on one window within [lo, hi): the gaps in address
 * order, first fit wins.  Base gaps that cannot hold even one aligned
 * block of the request's alignment are skipped through the window's
 * max-tree (every placement starts with such a block). */
static bool find_in_window(const struct mmio_space *sp, const struct scratch *s, unsigned wi,
			   const struct mmio_request *rq, uint64_t lo, uint64_t hi, uint64_t *addr)
{
	const struct mmio_window_space *ws = &sp->w[wi];
	const struct mmio_range *taken = s ? s->taken[wi] : NULL;
	size_t ntaken = s ? s->n[wi] : 0, first = 0, top = ws->ngaps;
	int k = (int)mmio_log2(rq->align);
	long i;

	/* the first base gap that ends above lo */
	while (first < top) {
		size_t mid = first + (top - first) / 2;
		if (ws->gaps[mid].end <= lo)
			first = mid + 1;
		else
			top = mid;
	}
	for (i = mmio_window_next(ws, first, k); i >= 0; i = mmio_window_next(ws, (size_t)i + 1, k)) {
		struct mmio_range g = ws->gaps[i];
		uint64_t cur = g.start;

		if (g.start >= hi)
			break;
		/* the base gap minus what this call already placed in it */
		for (size_t j = 0; j < ntaken && cur < g.end; j++) {
			if (taken[j].end <= cur || taken[j].start >= g.end)
				continue;
			if (taken[j].start > cur &&
			    try_gap(sp, (struct mmio_range){ cur, taken[j].start }, rq, lo, hi, addr))
				return true;
			cur = taken[j].end;
		}
		if (cur < g.end && try_gap(sp, (struct mmio_range){ cur, g.end }, rq, lo, hi, addr))
			return true;
	}
	return false;
}

static bool try_regions(const struct mmio_space *sp, const struct scratch *s,
			const struct mmio_request *rq, unsigned mask, unsigned *wi, uint64_t *addr)
{
	bool io = rq->kind == MMIO_BAR_IO;
	unsigned bflags = (rq->prefetch ? RES_PREFETCH : 0) | (rq->kind == MMIO_BAR_MEM64 ? RES_MEM64 : 0);
	/* pci_high then pci_64_bit for 64-bit BARs; pci_32_bit otherwise */
	static const struct mmio_range r64[] = { { MMIO_4G, UINT64_MAX }, { 0, UINT64_MAX } };
	static const struct mmio_range r32[] = { { 0, MMIO_4G } };
	const struct mmio_range *regions = rq->kind == MMIO_BAR_MEM64 ? r64 : r32;
	unsigned nreg = rq->kind == MMIO_BAR_MEM64 ? 2 : 1;
	uint64_t min = io ? MMIO_X86_MIN_IO : sp->min_mem;

	for (unsigned r = 0; r < nreg; r++) {
		for (unsigned w = 0; w < sp->nwin; w++) {
			const struct mmio_window *win = &sp->w[w].win;
			unsigned wflags = win->flags & (MMIO_WF_PREFETCH | MMIO_WF_MEM64);
			uint64_t lo, hi;

			if ((win->kind == MMIO_WIN_IO) != io)
				continue;
			if (!io && ((bflags ^ wflags) & mask))
				continue;
			if (!io && (wflags & RES_PREFETCH) && !(bflags & RES_PREFETCH))
				continue;
			lo = win->start > regions[r].start ? win->start : regions[r].start;
			hi = win->end < regions[r].end ? win->end : regions[r].end;
			if (lo >= hi)
				continue;
			if (lo < min)
				lo = min;
			if (find_in_window(sp, s, w, rq, lo, hi, addr)) {
				*wi = w;
				return true;
			}
		}
	}
	return false;
}

/* _pci_assign_resource(): the type-mask passes. */
static bool assign_one(const struct mmio_space *sp, const struct scratch *s,
		       const struct mmio_request *rq, unsigned *wi, uint64_t *addr)
{
	bool pref = rq->prefetch, m64 = rq->kind == MMIO_BAR_MEM64;

	if (rq->kind == MMIO_BAR_IO)
		return try_regions(sp, s, rq, 0, wi, addr);
	if (try_regions(sp, s, rq, RES_PREFETCH | RES_MEM64, wi, addr))
		return true;
	if (pref && m64 && try_regions(sp, s, rq, RES_PREFETCH, wi, addr))
		return true;
	if ((pref || m64) && try_regions(sp, s, rq, 0, wi, addr))
		return true;
	return false;
}

static struct mmio_request bar_request(const struct mmio_bar *bar)
{
	return (struct mmio_request){
		.kind = bar->kind, .prefetch = bar->prefetch, .size = bar->size, .align = bar->size,
	};
}

bool mmio_assign(const struct mmio_space *sp, const struct mmio_request *rq, unsigned *wi,
		 uint64_t *addr)
{
	if (!rq->size || !mmio_is_pow2(rq->align))
		return false;
	return assign_one(sp, NULL, rq, wi, addr);
}

static uint64_t largest_in(const struct mmio_space *sp, const struct scratch *s, unsigned wi,
			   bool io)
{
	uint64_t best = 0;

	/* The largest block a BAR of this window's type could take now: try sizes down. */
	for (int k = io ? 8 : 63; k >= (io ? 2 : 4); k--) {
		struct mmio_request probe = {
			.kind = io ? MMIO_BAR_IO : MMIO_BAR_MEM64, .size = UINT64_C(1) << k,
			.align = UINT64_C(1) << k,
		};
		uint64_t lo = sp->w[wi].win.start, hi = sp->w[wi].win.end, a;
		uint64_t min = io ? MMIO_X86_MIN_IO : sp->min_mem;

		if (lo < min)
			lo = min;
		if (find_in_window(sp, s, wi, &probe, lo, hi, &a)) {
			best = probe.size;
			break;
		}
	}
	return best;
}

static void explain(const struct mmio_space *sp, const struct scratch *s,
		    const struct mmio_device *dev, const struct mmio_bar *bar, struct mmio_error *err)
{
	char what[80], sz[32], lg[32], owner[MMIO_DEVICE_NAME_MAX + 16], buf[sizeof(err->msg)];
	size_t off;
	bool io = bar->kind == MMIO_BAR_IO, any = false;

	mmio_bar_describe(bar, what, sizeof(what));
	mmio_size_format(bar->size, sz, sizeof(sz));
	/* The kernel's own words first, because that is what the admin will
	 * find in the guest's dmesg: "BAR 0 [mem size 0x10000000]: can't assign;
	 * no space" (Linux >= 6.8, and Debian 12's 6.1.1xx; older kernels said
	 * "BAR 0: no space for [mem size 0x10000000]"). */
	mmio_bar_owner(dev, bar, owner, sizeof(owner));
	off = (size_t)snprintf(buf, sizeof(buf),
			       "%s BAR %u [%s]: can't assign; no space (%s %s needs a %s-aligned block)",
			       owner, bar->index, what, sz, mmio_bar_kind_name(bar), sz);
	for (unsigned w = 0; w < sp->nwin && off < sizeof(buf); w++) {
		const struct mmio_window *win = &sp->w[w].win;
		bool eligible;

		if (io)
			eligible = win->kind == MMIO_WIN_IO;
		else if (bar->kind == MMIO_BAR_MEM64)
			eligible = win->kind != MMIO_WIN_IO;
		else
			eligible = win->kind != MMIO_WIN_IO && win->start < MMIO_4G;
		/* a non-prefetchable BAR never goes into a prefetchable window */
		if (!io && (win->flags & MMIO_WF_PREFETCH) && !bar->prefetch)
			eligible = false;
		if (!eligible)
			continue;
		mmio_size_format(largest_in(sp, s, w, io), lg, sizeof(lg));
		if (win->flags & MMIO_WF_BRIDGE)
			/* Linux's words: "bridge window [mem 0xfe800000-0xfe9fffff 64bit pref]" */
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
						"%s bridge window [%s 0x%" PRIx64 "-0x%" PRIx64 "%s%s]: "
						"largest aligned free block %s",
						any ? ";" : ":", io ? "io " : "mem", win->start, win->end - 1,
						(win->flags & MMIO_WF_MEM64) ? " 64bit" : "",
						(win->flags & MMIO_WF_PREFETCH) ? " pref" : "", lg);
		else
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
						"%s %s window [0x%" PRIx64 "-0x%" PRIx64 "]: largest aligned free block %s",
						any ? ";" : ":", mmio_window_kind_name(win->kind), win->start,
						win->end - 1, lg);
		any = true;
	}
	if (!any && off < sizeof(buf))
		snprintf(buf + off, sizeof(buf) - off, ": the guest has no %s",
			 io ? "I/O window" :
			 bar->kind == MMIO_BAR_MEM64 ? "memory window" : "memory window below 4 GiB");
	mmio_error_set(err, MMIO_E_NOSPACE, "%s", buf);
}

static void sort_bars(const struct mmio_device *dev, uint8_t order[MMIO_MAX_DEVICE_BARS])
{
	/* stable insertion sort by descending size: pdev_sort_resources(),
	 * fed function by function in bus->devices (= function) order, so
	 * equal sizes stay in (function, BAR index) order */
	for (unsigned i = 0; i < dev->nbars; i++) {
		unsigned j = i;
		while (j > 0 && dev->bars[order[j - 1]].size < dev->bars[i].size) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = (uint8_t)i;
	}
}

enum mmio_status mmio_place(const struct mmio_space *sp, const struct mmio_device *devs,
			    size_t ndev, struct mmio_placement *out, struct mmio_error *err)
{
	struct scratch s;
	size_t nbars = 0, n = 0;
	enum mmio_status st = MMIO_OK;

	for (size_t d = 0; d < ndev; d++) {
		if (devs[d].nbars > MMIO_MAX_DEVICE_BARS)
			return mmio_error_set(err, MMIO_E_INVALID, "%s has %u BARs, at most %d",
					      devs[d].name, devs[d].nbars, MMIO_MAX_DEVICE_BARS);
		for (unsigned b = 0; b < devs[d].nbars; b++)
			if (!mmio_is_pow2(devs[d].bars[b].size))
				return mmio_error_set(err, MMIO_E_INVALID,
						      "%s BAR %u: size 0x%" PRIx64 " is not a power of two",
						      devs[d].name, devs[d].bars[b].index,
						      devs[d].bars[b].size);
		nbars += devs[d].nbars;
	}
	if (scratch_init(&s, sp, nbars) != MMIO_OK)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory placing %zu BARs", nbars);

	for (size_t d = 0; d < ndev; d++) {
		const struct mmio_device *dev = &devs[d];
		uint8_t order[MMIO_MAX_DEVICE_BARS];

		sort_bars(dev, order);
		for (unsigned k = 0; k < dev->nbars; k++) {
			const struct mmio_bar *bar = &dev->bars[order[k]];
			struct mmio_request rq = bar_request(bar);
			unsigned wi = 0;
			uint64_t addr = 0;
			bool ok = assign_one(sp, &s, &rq, &wi, &addr);

			if (out) {
				out->items[n] = (struct mmio_bar_place){
					.device = (uint16_t)d, .bar = order[k], .placed = ok,
					.window = ok ? (int8_t)wi : -1, .addr = ok ? addr : 0,
					.size = bar->size,
				};
				n++;
			}
			if (ok) {
				scratch_take(&s, wi, (struct mmio_range){ addr, addr + bar->size });
			} else if (st == MMIO_OK) {
				/* the reason probes every window: only when asked for */
				if (err)
					explain(sp, &s, dev, bar, err);
				st = MMIO_E_NOSPACE;
			}
		}
	}
	if (out)
		out->n = n;
	free(s.buf);
	return st;
}

/* The window of sp holding [addr, addr + size) for a BAR of this kind, or -1. */
static int window_of(const struct mmio_space *sp, const struct mmio_bar *bar, uint64_t addr)
{
	bool io = bar->kind == MMIO_BAR_IO;

	for (unsigned w = 0; w < sp->nwin; w++) {
		const struct mmio_window *win = &sp->w[w].win;
		if ((win->kind == MMIO_WIN_IO) == io && win->start <= addr && addr < win->end)
			return (int)w;
	}
	return -1;
}

unsigned mmio_place_pinned(const struct mmio_space *sp, const struct mmio_device *dev,
			   const uint64_t *pinned, uint64_t *addr)
{
	struct scratch s;
	uint8_t order[MMIO_MAX_DEVICE_BARS];
	unsigned off = 0;

	for (unsigned b = 0; b < dev->nbars; b++)
		addr[b] = MMIO_ADDR_NONE;
	if (dev->nbars > MMIO_MAX_DEVICE_BARS || scratch_init(&s, sp, dev->nbars) != MMIO_OK)
		return dev->nbars;
	sort_bars(dev, order);
	for (unsigned k = 0; k < dev->nbars; k++) {
		unsigned b = order[k], wi = 0;
		const struct mmio_bar *bar = &dev->bars[b];
		struct mmio_request rq = bar_request(bar);
		uint64_t at = 0;
		bool ok = mmio_is_pow2(bar->size) && assign_one(sp, &s, &rq, &wi, &at);
		uint64_t want = pinned ? pinned[b] : MMIO_ADDR_UNKNOWN;

		if (want == MMIO_ADDR_UNKNOWN) {
			if (ok) {
				addr[b] = at;
				scratch_take(&s, wi, (struct mmio_range){ at, at + bar->size });
			}
			continue;
		}
		/* Where the device really has it: first fit must agree. */
		if (want == MMIO_ADDR_NONE ? ok : !ok || at != want)
			off++;
		if (want == MMIO_ADDR_NONE)
			continue;
		addr[b] = want;
		int w = window_of(sp, bar, want);
		if (w >= 0)
			scratch_take(&s, (unsigned)w, (struct mmio_range){ want, want + bar->size });
	}
	free(s.buf);
	return off;
}

/* Closed form, per size order from the largest down (docs/model.md):
 * S_k = 2 (S_{k+1} - used_{k+1}) + c_k slots; 64-bit items take high slots
 * first, the rest and all 32-bit items take low slots. */
#define SLOTS_CAP (UINT64_C(1) << 40)

static uint64_t carry(uint64_t left, uint32_t c)
{
	uint64_t v = left > SLOTS_CAP ? SLOTS_CAP : left;
	v = 2 * v + c;
	return v > SLOTS_CAP ? SLOTS_CAP : v;
}

bool mmio_fits(const struct mmio_space *sp, const struct mmio_device *dev)
{
	uint8_t n32[64], n64[64], nio[64];  /* at most MMIO_MAX_DEVICE_BARS each */
	const uint32_t *cl = sp->class_blocks[0], *ch = sp->class_blocks[1], *ci = sp->class_blocks[2];
	uint64_t sl = 0, sh = 0, si = 0;
	int top = -1, bottom = 64, start;

	if (!sp->closed_form_exact)
		return mmio_place(sp, dev, 1, NULL, NULL) == MMIO_OK;
	for (unsigned b = 0; b < dev->nbars; b++) {
		int k;

		if (!mmio_is_pow2(dev->bars[b].size))
			return false;
		k = (int)mmio_log2(dev->bars[b].size);
		top = k > top ? k : top;
		bottom = k < bottom ? k : bottom;
	}
	if (top < 0)
		return true;
	/* only the orders the device uses are touched: this is the hot path */
	for (int j = bottom; j <= top; j++)
		n32[j] = n64[j] = nio[j] = 0;
	for (unsigned b = 0; b < dev->nbars; b++) {
		const struct mmio_bar *bar = &dev->bars[b];
		int k = (int)mmio_log2(bar->size);

		if (bar->kind == MMIO_BAR_IO)
			nio[k]++;
		else if (bar->kind == MMIO_BAR_MEM64)
			n64[k]++;
		else
			n32[k]++;
	}
	/* Blocks above the largest BAR only matter through the slots they carry down. */
	start = sp->class_top[0];
	if (sp->class_top[1] > start)
		start = sp->class_top[1];
	if (sp->class_top[2] > start)
		start = sp->class_top[2];
	if (start < top)
		return false; /* no block as large as the largest BAR anywhere */
	for (int k = start; k > top; k--) {
		sl = carry(sl, cl[k]);
		sh = carry(sh, ch[k]);
		si = carry(si, ci[k]);
	}
	for (int k = top; k >= bottom; k--) {
		uint64_t h, need;

		sl = carry(sl, cl[k]);
		sh = carry(sh, ch[k]);
		si = carry(si, ci[k]);
		h = n64[k] < sh ? n64[k] : sh;
		sh -= h;
		need = n32[k] + (uint64_t)(n64[k] - h);
		if (need > sl || nio[k] > si)
			return false;
		sl -= need;
		si -= nio[k];
	}
	return true;
}
