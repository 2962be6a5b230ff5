/* SPDX-License-Identifier: MIT */
/*
 * replay.c — where the guest put the BARs nobody shows (see mmio-model.h).
 *
 * The guest behaviour replayed (Linux x86, checked on 6.1 and 6.12 guests
 * under QEMU + SeaBIOS, docs/verification.md):
 *  - At boot Linux claims every BAR the firmware programmed where it is,
 *    the ROM included: pcibios_allocate_dev_rom_resource() claims a ROM BAR
 *    that holds an address even with its enable bit clear (QEMU then shows
 *    it unmapped forever).  The one exception is a VGA-class device with
 *    decode enabled: pci_fixup_video() releases its ROM BAR and points the
 *    ROM at the shadow copy ("Video device with shadowed ROM at [mem
 *    0x000c0000-0x000dffff]"), so the ROM BAR holds no space.
 *  - Then (pci_assign_unassigned_resources) it assigns every boot BAR the
 *    firmware left unassigned (OVMF leaves the ROM BARs so), of all the
 *    boot devices of the bus at once: one list sorted by size, equal sizes
 *    in device order, placed as one hot-plug is.
 *  - A hot-plugged device's BARs, ROM included, are placed when it
 *    arrives, one device at a time, exactly as mmio_place() places one
 *    hot-plug (a multi-function slot is one device: its functions' BARs in
 *    one list sorted across functions, when function 0 arrives), whether or not a driver ever enables decode.  A BAR that did
 *    not fit stays unassigned and is never retried (its flags are reset),
 *    and the BARs that did fit stay where they are (partial assignment).
 *  - Removing a device frees all of its BARs; later arrivals may take them.
 *
 * A reading is one complete order of events: which of the arrivals with the
 * same seq came first, and between which arrivals each removal happened.
 * Every reading is replayed (up to MMIO_REPLAY_READINGS); the ones whose
 * placements put the fewest shown BARs somewhere else than where the guest
 * has them are kept, and an inferred BAR counts as used at every address a
 * kept reading gives it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mmio-model.h"
#include "space-internal.h"

#define NO_OWNER SIZE_MAX

struct owned {
	struct mmio_range r;
	size_t dev;
};

struct usedv {
	size_t n, cap;
	struct owned *v;
};

static int usedv_push(struct usedv *u, uint64_t start, uint64_t size, size_t dev)
{
	if (!size || start + size < start)
		return 0;
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 32;
		struct owned *v = realloc(u->v, cap * sizeof(*v));
		if (!v)
			return -1;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = (struct owned){ { start, start + size }, dev };
	return 0;
}

static void usedv_drop(struct usedv *u, size_t dev)
{
	size_t k = 0;
	for (size_t i = 0; i < u->n; i++)
		if (u->v[i].dev != dev)
			u->v[k++] = u->v[i];
	u->n = k;
}

static bool is_addr(uint64_t a)
{
	return a != MMIO_ADDR_UNKNOWN && a != MMIO_ADDR_NONE && a != MMIO_ADDR_FW_UNASSIGNED;
}

/* A boot BAR the guest does not hold: the ROM of a VGA device (function 0
 * of its slot: a GPU's audio function keeps its ROM). */
static bool shadowed(const struct mmio_past_device *d, unsigned i)
{
	return d->arrival == MMIO_ARRIVAL_BOOT && d->vga &&
	       d->dev->bars[i].index == MMIO_BAR_ROM && d->dev->bars[i].fn == 0;
}

/* ---- the unknowns of the history ------------------------------------------ */

enum { CH_TIE, CH_GONE };

struct choice {
	int kind;
	size_t first, count;    /* CH_TIE: hot[first .. first + count) */
	size_t dev;             /* CH_GONE: the removed device */
	size_t lo;              /* CH_GONE: removed before arrival group lo + option */
	unsigned nopt;
};

struct history {
	const struct mmio_past_device *devs;
	size_t n;
	size_t *hot;            /* hot-plugged devices by (seq, index) */
	size_t nhot;
	size_t *group;          /* group[g] = first position in hot of arrival group g */
	size_t ngroups;         /* group[ngroups] = nhot */
	struct choice *ch;
	size_t nch;
};

static unsigned factorial(size_t m)
{
	unsigned f = 1;
	for (size_t i = 2; i <= m; i++)
		f *= (unsigned)i;
	return f;
}

/* Permutation number k of m items (Lehmer code); only identity and reverse
 * for groups larger than 4 (their orders are not enumerated). */
static void permutation(size_t m, unsigned k, size_t *out)
{
	size_t pool[32];

	if (m > 4) {
		for (size_t i = 0; i < m; i++)
			out[i] = k ? m - 1 - i : i;
		return;
	}
	for (size_t i = 0; i < m; i++)
		pool[i] = i;
	for (size_t i = 0; i < m; i++) {
		unsigned f = factorial(m - 1 - i), q = k / f;
		k %= f;
		out[i] = pool[q];
		memmove(&pool[q], &pool[q + 1], (m - 1 - q - i) * sizeof(pool[0]));
	}
}

static int cmp_hot(const void *a, const void *b, const struct mmio_past_device *devs)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (devs[x].seq != devs[y].seq)
		return devs[x].seq < devs[y].seq ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void sort_hot(size_t *v, size_t n, const struct mmio_past_device *devs)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && cmp_hot(&v[j - 1], &v[j], devs) > 0; j--) {
			size_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* The first arrival group with seq > s. */
static size_t group_after(const struct history *h, uint32_t s)
{
	size_t g = 0;
	while (g < h->ngroups && h->devs[h->hot[h->group[g]]].seq <= s)
		g++;
	return g;
}

static int history_init(struct history *h, const struct mmio_past_device *devs, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->devs = devs;
	h->n = n;
	h->hot = calloc(n + 1, sizeof(*h->hot));
	h->group = calloc(n + 1, sizeof(*h->group));
	h->ch = calloc(2 * n + 1, sizeof(*h->ch));
	if (!h->hot || !h->group || !h->ch)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (devs[i].arrival == MMIO_ARRIVAL_HOTPLUG)
			h->hot[h->nhot++] = i;
	sort_hot(h->hot, h->nhot, devs);
	for (size_t i = 0; i < h->nhot; i++)
		if (i == 0 || devs[h->hot[i]].seq != devs[h->hot[i - 1]].seq)
			h->group[h->ngroups++] = i;
	h->group[h->ngroups] = h->nhot;
	for (size_t g = 0; g < h->ngroups; g++) {
		size_t m = h->group[g + 1] - h->group[g];
		if (m < 2)
			continue;
		h->ch[h->nch++] = (struct choice){
			.kind = CH_TIE, .first = h->group[g], .count = m,
			.nopt = m > 4 ? 2 : factorial(m),
		};
	}
	for (size_t i = 0; i < n; i++) {
		const struct mmio_past_device *d = &devs[i];
		if (!d->gone)
			continue;
		/* not before its own arrival */
		uint32_t from = d->gone_from, to = d->gone_to;
		if (d->arrival == MMIO_ARRIVAL_HOTPLUG && from < d->seq)
			from = d->seq;
		if (to < from)
			to = from;
		size_t lo = group_after(h, from), hi = group_after(h, to);
		h->ch[h->nch++] = (struct choice){
			.kind = CH_GONE, .dev = i, .lo = lo, .nopt = (unsigned)(hi - lo + 1),
		};
	}
	return 0;
}

static void history_free(struct history *h)
{
	free(h->hot);
	free(h->group);
	free(h->ch);
}

/* The readings to replay: every combination of options when there are few
 * enough, else all-first, all-last, and each choice point through its
 * options with the others at their first. */
static unsigned *readings_list(const struct history *h, unsigned *count)
{
	uint64_t total = 1;
	unsigned *sel, n = 0, cap = MMIO_REPLAY_READINGS;

	for (size_t c = 0; c < h->nch; c++) {
		total *= h->ch[c].nopt;
		if (total > cap)
			total = cap + 1;
	}
	sel = calloc((size_t)cap * (h->nch ? h->nch : 1), sizeof(*sel));
	if (!sel)
		return NULL;
	if (total <= cap) {
		for (uint64_t r = 0; r < total; r++, n++) {
			uint64_t k = r;
			for (size_t c = 0; c < h->nch; c++) {
				sel[(size_t)n * h->nch + c] = (unsigned)(k % h->ch[c].nopt);
				k /= h->ch[c].nopt;
			}
		}
	} else {
		n = 1;  /* all first */
		for (size_t c = 0; c < h->nch; c++)
			sel[(size_t)n * h->nch + c] = h->ch[c].nopt - 1;
		n++;    /* all last */
		for (size_t c = 0; c < h->nch && n < cap; c++)
			for (unsigned o = 1; o + 1 < h->ch[c].nopt && n < cap; o++)
				sel[(size_t)n++ * h->nch + c] = o;
	}
	*count = n;
	return sel;
}

/* ---- one reading ------------------------------------------------------------ */

struct replay_ctx {
	const struct mmio_space_params *base;
	const struct history *h;
	struct usedv used;
	struct mmio_range *flat;        /* used ranges handed to mmio_space_init */
	size_t flatcap;
};

/* Places pd's device on the space of this moment (first fit, its shown
 * BARs pinned); addr[i] per BAR.  Returns the shown BARs first fit puts
 * elsewhere, -1 when out of memory. */
static int place_bars(struct replay_ctx *x, const struct mmio_past_device *pd, uint64_t *addr)
{
	struct mmio_space sp;
	struct mmio_space_params p = *x->base;
	size_t need = x->base->nused + x->used.n;
	unsigned off;

	if (need > x->flatcap) {
		struct mmio_range *f = realloc(x->flat, (need + 16) * sizeof(*f));
		if (!f)
			return -1;
		x->flat = f;
		x->flatcap = need + 16;
	}
	if (x->base->nused)
		memcpy(x->flat, x->base->used, x->base->nused * sizeof(*x->flat));
	for (size_t i = 0; i < x->used.n; i++)
		x->flat[x->base->nused + i] = x->used.v[i].r;
	p.used = x->flat;
	p.nused = need;
	if (mmio_space_init(&sp, &p, NULL) != MMIO_OK)
		return -1;
	off = mmio_place_pinned(&sp, pd->dev, pd->addr, addr);
	mmio_space_free(&sp);
	return (int)off;
}

static int place_arrival(struct replay_ctx *x, size_t d, uint64_t *addr, unsigned *off)
{
	const struct mmio_past_device *pd = &x->h->devs[d];
	int o = place_bars(x, pd, addr);

	if (o < 0)
		return -1;
	*off += (unsigned)o;
	for (unsigned i = 0; i < pd->dev->nbars; i++)
		if (is_addr(addr[i]) && usedv_push(&x->used, addr[i], pd->dev->bars[i].size, d) < 0)
			return -1;
	return 0;
}

/* A boot BAR nobody shows that the firmware left unassigned: Linux
 * assigns it at boot. */
static bool boot_unassigned(const struct mmio_past_device *d, unsigned i)
{
	return d->arrival == MMIO_ARRIVAL_BOOT && d->addr[i] == MMIO_ADDR_FW_UNASSIGNED && !shadowed(d, i);
}

/* Linux's boot pass (pci_assign_unassigned_resources, after the claims):
 * every boot BAR the firmware left unassigned, of every device on the bus,
 * in one list sorted by size, equal sizes in device order, placed as one
 * hot-plug is (pbus_assign_resources_sorted). */
static int boot_pass(struct replay_ctx *x, uint64_t *addr)
{
	const struct history *h = x->h;
	struct mmio_device all = { .name = "boot" };
	size_t owner[MMIO_MAX_DEVICE_BARS];
	unsigned bar[MMIO_MAX_DEVICE_BARS];
	uint64_t at[MMIO_MAX_DEVICE_BARS];
	struct mmio_past_device pass = { .dev = &all, .arrival = MMIO_ARRIVAL_HOTPLUG };

	for (size_t d = 0; d < h->n; d++)
		for (unsigned i = 0; i < h->devs[d].dev->nbars && all.nbars < MMIO_MAX_DEVICE_BARS; i++)
			if (boot_unassigned(&h->devs[d], i)) {
				owner[all.nbars] = d;
				bar[all.nbars] = i;
				all.bars[all.nbars] = h->devs[d].dev->bars[i];
				all.bars[all.nbars++].fn = 0;
			}
	if (!all.nbars)
		return 0;
	for (unsigned k = 0; k < MMIO_MAX_DEVICE_BARS; k++)
		pass.addr[k] = MMIO_ADDR_UNKNOWN;
	if (place_bars(x, &pass, at) < 0)
		return -1;
	for (unsigned k = 0; k < all.nbars; k++) {
		addr[owner[k] * MMIO_MAX_DEVICE_BARS + bar[k]] = at[k];
		if (is_addr(at[k]) && usedv_push(&x->used, at[k], all.bars[k].size, owner[k]) < 0)
			return -1;
	}
	return 0;
}

/* Replays reading `sel`: addr[d * MMIO_MAX_DEVICE_BARS + i] receives BAR i of
 * device d; *off the shown BARs first fit puts elsewhere. */
static int replay_one(struct replay_ctx *x, const unsigned *sel, uint64_t *addr, unsigned *off)
{
	const struct history *h = x->h;
	size_t *order = NULL, *removal = NULL;
	int r = -1;

	*off = 0;
	x->used.n = 0;
	order = malloc((h->nhot + 1) * sizeof(*order));
	removal = malloc((h->n + 1) * sizeof(*removal));
	if (!order || !removal)
		goto out;
	/* arrivals in this reading's order; when each removal happens */
	memcpy(order, h->hot, h->nhot * sizeof(*order));
	for (size_t i = 0; i < h->n; i++)
		removal[i] = SIZE_MAX;
	for (size_t c = 0; c < h->nch; c++) {
		const struct choice *ch = &h->ch[c];
		if (ch->kind == CH_TIE) {
			size_t perm[32], tmp[32];
			if (ch->count > 32)
				continue;       /* kept in index order */
			permutation(ch->count, sel[c], perm);
			for (size_t i = 0; i < ch->count; i++)
				tmp[i] = h->hot[ch->first + perm[i]];
			memcpy(&order[ch->first], tmp, ch->count * sizeof(*tmp));
		} else {
			removal[ch->dev] = ch->lo + sel[c];
		}
	}
	for (size_t i = 0; i < h->n * MMIO_MAX_DEVICE_BARS; i++)
		addr[i] = MMIO_ADDR_NONE;
	/* boot devices as the firmware left them, as Linux claimed them */
	for (size_t d = 0; d < h->n; d++) {
		const struct mmio_past_device *pd = &h->devs[d];
		if (pd->arrival != MMIO_ARRIVAL_BOOT)
			continue;
		for (unsigned i = 0; i < pd->dev->nbars; i++) {
			addr[d * MMIO_MAX_DEVICE_BARS + i] = pd->addr[i];
			if (shadowed(pd, i) || pd->addr[i] == MMIO_ADDR_FW_UNASSIGNED)
				/* none, or placed by the boot pass below */
				addr[d * MMIO_MAX_DEVICE_BARS + i] = MMIO_ADDR_NONE;
			else if (is_addr(pd->addr[i]) &&
				 usedv_push(&x->used, pd->addr[i], pd->dev->bars[i].size, d) < 0)
				goto out;
		}
	}
	if (boot_pass(x, addr) < 0)
		goto out;
	for (size_t g = 0; g <= h->ngroups; g++) {
		for (size_t d = 0; d < h->n; d++)
			if (removal[d] == g)
				usedv_drop(&x->used, d);
		if (g == h->ngroups)
			break;
		for (size_t k = h->group[g]; k < h->group[g + 1]; k++)
			if (place_arrival(x, order[k], &addr[order[k] * MMIO_MAX_DEVICE_BARS], off) < 0)
				goto out;
	}
	r = 0;
out:
	free(order);
	free(removal);
	return r;
}

/* ---- the result --------------------------------------------------------------- */

static int push_unique(struct mmio_replay *out, uint64_t start, uint64_t size, size_t *cap)
{
	for (size_t i = 0; i < out->nused; i++)
		if (out->used[i].start == start && out->used[i].end == start + size)
			return 0;
	if (out->nused == *cap) {
		size_t nc = *cap ? 2 * *cap : 32;
		struct mmio_range *v = realloc(out->used, nc * sizeof(*v));
		if (!v)
			return -1;
		out->used = v;
		*cap = nc;
	}
	out->used[out->nused++] = (struct mmio_range){ start, start + size };
	return 0;
}

void mmio_replay_free(struct mmio_replay *r)
{
	free(r->bars);
	free(r->used);
	memset(r, 0, sizeof(*r));
}

enum mmio_status mmio_replay(const struct mmio_space_params *base, const struct mmio_past_device *devs,
			     size_t n, struct mmio_replay *out, struct mmio_error *err)
{
	struct history h;
	struct replay_ctx x = { .base = base };
	unsigned *sel = NULL, nread = 0, *offs = NULL, best = UINT32_MAX;
	uint64_t *addrs = NULL;
	size_t usedcap = 0;
	enum mmio_status st = MMIO_OK;

	memset(out, 0, sizeof(*out));
	for (size_t d = 0; d < n; d++)
		if (!devs[d].dev || devs[d].dev->nbars > MMIO_MAX_DEVICE_BARS)
			return mmio_error_set(err, MMIO_E_INVALID, "replay: device %zu has no valid BAR list", d);
	x.h = &h;
	if (history_init(&h, devs, n) < 0 || !(sel = readings_list(&h, &nread))) {
		st = mmio_error_set(err, MMIO_E_NOMEM, "out of memory replaying %zu devices", n);
		goto out;
	}
	addrs = malloc((size_t)nread * (n ? n : 1) * MMIO_MAX_DEVICE_BARS * sizeof(*addrs));
	offs = calloc(nread, sizeof(*offs));
	out->bars = calloc(n ? n : 1, sizeof(*out->bars));
	if (!addrs || !offs || !out->bars) {
		st = mmio_error_set(err, MMIO_E_NOMEM, "out of memory replaying %zu devices", n);
		goto out;
	}
	for (unsigned r = 0; r < nread; r++) {
		if (replay_one(&x, &sel[(size_t)r * h.nch], &addrs[(size_t)r * n * MMIO_MAX_DEVICE_BARS],
			       &offs[r]) < 0) {
			st = mmio_error_set(err, MMIO_E_NOMEM, "out of memory replaying %zu devices", n);
			goto out;
		}
		if (offs[r] < best)
			best = offs[r];
	}
	out->ndev = n;
	out->readings = nread;
	out->disagreements = best;
	out->exact = nread == 1;
	for (unsigned r = 0; r < nread; r++)
		out->kept += offs[r] == best;
	for (size_t d = 0; d < n; d++) {
		const struct mmio_past_device *pd = &devs[d];
		if (pd->gone)
			continue;
		for (unsigned i = 0; i < pd->dev->nbars; i++) {
			struct mmio_replay_bar *rb = &out->bars[d][i];
			uint64_t size = pd->dev->bars[i].size;
			bool first = true;

			rb->addr = pd->addr[i];
			if (pd->arrival == MMIO_ARRIVAL_HOTPLUG ? pd->addr[i] != MMIO_ADDR_UNKNOWN
								: !boot_unassigned(pd, i)) {
				if (shadowed(pd, i)) {
					rb->addr = MMIO_ADDR_NONE;
					rb->inferred = true;
				} else if (rb->addr == MMIO_ADDR_UNKNOWN || rb->addr == MMIO_ADDR_FW_UNASSIGNED) {
					/* a boot BAR nobody shows, somewhere the firmware put it */
					rb->addr = MMIO_ADDR_UNKNOWN;
					rb->inferred = true;
				} else if (is_addr(rb->addr) && push_unique(out, rb->addr, size, &usedcap) < 0) {
					goto nomem;
				}
				continue;
			}
			rb->inferred = true;
			for (unsigned r = 0; r < nread; r++) {
				uint64_t a = addrs[((size_t)r * n + d) * MMIO_MAX_DEVICE_BARS + i];
				if (offs[r] != best)
					continue;
				if (first)
					rb->addr = a;
				else if (a != rb->addr)
					rb->uncertain = true;
				first = false;
				if (is_addr(a) && push_unique(out, a, size, &usedcap) < 0)
					goto nomem;
			}
		}
	}
	goto out;
nomem:
	st = mmio_error_set(err, MMIO_E_NOMEM, "out of memory replaying %zu devices", n);
out:
	if (st != MMIO_OK)
		mmio_replay_free(out);
	free(addrs);
	free(offs);
	free(sel);
	free(x.used.v);
	free(x.flat);
	history_free(&h);
	return st;
}
