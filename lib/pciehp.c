/* SPDX-License-Identifier: MIT */
/*
 * pciehp.c — where a Linux guest puts a device hot-plugged behind a port
 * it drives with native PCIe hot-plug (pciehp), which may re-size the
 * port's windows.
 *
 * pciehp_configure_device() -> pci_assign_unassigned_bridge_resources(port)
 * (drivers/pci/setup-bus.c, 4.19 .. 6.12), for a port whose windows the
 * kernel assigned at boot:
 *
 *  Try 1.  __pci_bus_size_bridges() sizes only windows without a parent
 *  (none), then the new device's BARs are assigned inside the current
 *  windows exactly as acpiphp does (mmio_place() on the port's windows).
 *  A failed BAR is reset; a failed ROM is not put on the fail list and,
 *  reset, is gone for good (it never triggers re-sizing).
 *
 *  Try 2 ("PCI: No. 2 try to assign unassigned res"), only if a BAR
 *  failed: for each failure pci_bridge_release_resources() releases one
 *  window of the port: I/O BAR -> I/O window; non-prefetchable -> mem;
 *  64-bit prefetchable with a 64-bit pref window -> pref; prefetchable
 *  with a 32-bit pref window -> pref; any other prefetchable (a 32-bit
 *  prefetchable BAR under QEMU's 64-bit pref window) -> mem.  BARs inside
 *  a released window become unassigned too; the window keeps its old
 *  size.  Then:
 *   - pbus_size_io()/pbus_size_mem() size every window without a parent
 *     from the unassigned BARs of its type: the 64-bit pref window takes
 *     64-bit prefetchable BARs; the mem window everything else when the
 *     pref window was sized, else every memory BAR (a 32-bit pref window
 *     takes all prefetchable ones).  size = max(sum, old size) aligned to
 *     calculate_mem_align()'s alignment (at least 1 MiB; I/O: 4 KiB).  A
 *     hot-plug bridge asks for 2 MiB mem, 2 MiB pref (4 MiB mem when no
 *     pref window was sized) and 256 I/O ports as optional extra, which
 *     pci_bridge_distribute_available_resources() drops again for every
 *     window with a size (drop_add()).
 *   - pdev_assign_resources_sorted(port): the port's unassigned windows,
 *     largest alignment first, go into the root bus with the type-mask
 *     passes (a 64-bit pref window tries above 4 GiB first), with the
 *     optional extra first; if any fails, the requested sizes, then each
 *     extra alone (reallocate_resource: grow or move).  A window that
 *     fails now is gone.
 *   - the device's unassigned BARs are assigned in the windows as in try 1.
 *  What fails now stays unassigned (tried_times >= 2).
 *
 * Windows the port does not have at hot-plug (not present) are taken as
 * windows the bridge does not forward; Linux would size and assign one of
 * a supported type at try 1.  QEMU's root ports have all three after boot.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmio-model.h"
#include "space-internal.h"

#define HOTPLUG_IO_ADD   UINT64_C(256)          /* DEFAULT_HOTPLUG_IO_SIZE */
#define HOTPLUG_MEM_ADD  (2 * MMIO_1M)          /* DEFAULT_HOTPLUG_MMIO_SIZE */
#define HOTPLUG_PREF_ADD (2 * MMIO_1M)          /* DEFAULT_HOTPLUG_MMIO_PREF_SIZE */
#define IO_WINDOW_ALIGN  UINT64_C(0x1000)

struct win {
	bool supported;         /* the bridge forwards this type */
	bool assigned;
	bool released;          /* released at try 2 */
	bool failed;            /* could not be assigned in the root windows: gone */
	uint8_t flags;          /* MMIO_WF_PREFETCH | MMIO_WF_MEM64 */
	uint64_t start, size;   /* start valid when assigned */
	uint64_t align;         /* start alignment once sized */
	uint64_t add;           /* optional extra (the realloc list) */
};

struct bar {
	bool valid;             /* a failed ROM is reset and gone */
	bool assigned;
	int win;
	uint64_t addr;
};

struct ctx {
	const struct mmio_space_params *root;
	const struct mmio_device *dev;
	struct win w[3];
	struct bar b[MMIO_MAX_DEVICE_BARS];
	/* the failures of one try, in the order Linux met them */
	unsigned nfail;
	uint8_t fail[MMIO_MAX_DEVICE_BARS];
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* ---- the root bus ------------------------------------------------------------ */

/* The root bus's free space with the port's assigned windows (except
 * `except`) taken. */
static enum mmio_status root_space(const struct ctx *c, int except, struct mmio_space *sp,
				   struct mmio_error *err)
{
	struct mmio_space_params p = *c->root;
	struct mmio_range *used = malloc((c->root->nused + 3) * sizeof(*used));
	enum mmio_status st;

	if (!used)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for the root windows");
	if (c->root->nused)
		memcpy(used, c->root->used, c->root->nused * sizeof(*used));
	p.nused = c->root->nused;
	for (int i = 0; i < 3; i++)
		if (i != except && c->w[i].assigned)
			used[p.nused++] = (struct mmio_range){ c->w[i].start, c->w[i].start + c->w[i].size };
	p.used = used;
	st = mmio_space_init(sp, &p, err);
	free(used);
	return st;
}

static struct mmio_request win_request(const struct win *w, unsigned idx, uint64_t size,
				       uint64_t align)
{
	return (struct mmio_request){
		.kind = idx == MMIO_BRIDGE_IO ? MMIO_BAR_IO :
			(w->flags & MMIO_WF_MEM64) ? MMIO_BAR_MEM64 : MMIO_BAR_MEM32,
		.prefetch = (w->flags & MMIO_WF_PREFETCH) != 0,
		.size = size, .align = align,
	};
}

/* pci_assign_resource() of window idx at `size` in the root bus. */
static enum mmio_status win_assign(struct ctx *c, unsigned idx, uint64_t size, bool *ok,
				   struct mmio_error *err)
{
	struct mmio_space sp;
	struct mmio_request rq = win_request(&c->w[idx], idx, size, c->w[idx].align);
	enum mmio_status st = root_space(c, -1, &sp, err);
	unsigned wi;
	uint64_t addr;

	if (st != MMIO_OK)
		return st;
	*ok = mmio_assign(&sp, &rq, &wi, &addr);
	if (*ok) {
		c->w[idx].assigned = true;
		c->w[idx].start = addr;
		c->w[idx].size = size;
	}
	mmio_space_free(&sp);
	return MMIO_OK;
}

/* pci_reassign_resource(): grow window idx by its extra, in place or
 * moved (reallocate_resource: its own range counts as free). */
static enum mmio_status win_grow(struct ctx *c, unsigned idx, struct mmio_error *err)
{
	struct mmio_space sp;
	struct win *w = &c->w[idx];
	struct mmio_request rq = win_request(w, idx, w->size + w->add, w->align);
	enum mmio_status st = root_space(c, (int)idx, &sp, err);
	unsigned wi;
	uint64_t addr;

	if (st != MMIO_OK)
		return st;
	if (mmio_assign(&sp, &rq, &wi, &addr)) {
		w->start = addr;
		w->size += w->add;
	}
	mmio_space_free(&sp);
	return MMIO_OK;
}

/* ---- sizing ---------------------------------------------------------------------- */

/* pci_bridge_distribute_available_resources() on the hot-plug port itself
 * hands each sized window its own size back, and the optional extra is not
 * given (in 6.1 adjust_bridge_window() takes the window off the realloc
 * list; verified on Linux 6.1 and 6.12: a 2M+4K mem window comes out 3M,
 * not the 4M the hot-plug extra would give).  A window sized to 0 keeps
 * its extra. */
static void drop_add(struct win *w)
{
	if (w->size)
		w->add = 0;
}

/* calculate_mem_align(): the smallest start alignment that still lets the
 * BARs (sorted by size) pack without holes. */
static uint64_t mem_align(const uint64_t aligns[64], int max_order)
{
	uint64_t align = 0, min_align = 0;

	for (int order = 0; order <= max_order; order++) {
		uint64_t align1 = MMIO_1M << order;

		if (!align)
			min_align = align1;
		else if (align_up(align + min_align, min_align) < align1)
			min_align = align1 >> 1;
		align += aligns[order];
	}
	return min_align;
}

/* Does an unassigned BAR of these flags count towards the window pbus_size_mem
 * is sizing?  kinds: bit 0 non-pref 32, 1 non-pref 64, 2 pref 32, 3 pref 64. */
static unsigned bar_class(const struct mmio_bar *bar)
{
	return (bar->prefetch ? 2u : 0u) + (bar->kind == MMIO_BAR_MEM64 ? 1u : 0u);
}

/* pbus_size_mem() for window idx, counting the memory BARs whose class is
 * in `classes` (bit mask of bar_class values). */
static void size_mem(struct ctx *c, unsigned idx, unsigned classes, uint64_t add_size)
{
	struct win *w = &c->w[idx];
	uint64_t aligns[64] = { 0 }, size = 0, size0, size1, min_align;
	int max_order = 0;

	for (unsigned i = 0; i < c->dev->nbars; i++) {
		const struct mmio_bar *bar = &c->dev->bars[i];
		int order;

		if (!c->b[i].valid || c->b[i].assigned || bar->kind == MMIO_BAR_IO ||
		    !(classes & (1u << bar_class(bar))))
			continue;
		order = (int)mmio_log2(bar->size) - 20;
		if (order < 0)
			order = 0;
		size += bar->size;
		aligns[order] += bar->size;
		if (order > max_order)
			max_order = order;
	}
	min_align = mem_align(aligns, max_order);
	if (min_align < MMIO_1M)
		min_align = MMIO_1M;
	/* calculate_memsize(): never smaller than before (the released size) */
	size0 = align_up(size > w->size ? size : w->size, min_align);
	size1 = size > add_size ? size : add_size;
	size1 = align_up(size1 > w->size ? size1 : w->size, min_align);
	w->align = min_align;
	if (!size0 && !size1) {
		w->supported = false;   /* "disabling bridge window": nothing needs it */
		return;
	}
	w->size = size0;
	w->add = size1 > size0 ? size1 - size0 : 0;
	drop_add(w);
}

/* pbus_size_io(). */
static void size_io(struct ctx *c)
{
	struct win *w = &c->w[MMIO_BRIDGE_IO];
	uint64_t size = 0, size0, size1;

	for (unsigned i = 0; i < c->dev->nbars; i++)
		if (c->b[i].valid && !c->b[i].assigned && c->dev->bars[i].kind == MMIO_BAR_IO)
			size += c->dev->bars[i].size;
	/* calculate_iosize(), without CONFIG_ISA/EISA (x86_64) */
	size0 = align_up(size > w->size ? size : w->size, IO_WINDOW_ALIGN);
	size1 = size > w->size ? size : w->size;
	size1 = align_up(size1 > HOTPLUG_IO_ADD ? size1 : HOTPLUG_IO_ADD, IO_WINDOW_ALIGN);
	w->align = IO_WINDOW_ALIGN;
	if (!size0 && !size1) {
		w->supported = false;
		return;
	}
	w->size = size0;
	w->add = size1 > size0 ? size1 - size0 : 0;
	drop_add(w);
}

/* __pci_bus_size_bridges() on the port's bus: every window without a parent. */
static void size_windows(struct ctx *c)
{
	struct win *io = &c->w[MMIO_BRIDGE_IO], *mem = &c->w[MMIO_BRIDGE_MEM], *pref = &c->w[MMIO_BRIDGE_PREF];
	/* classes: 0 np32, 1 np64, 2 p32, 3 p64 */
	unsigned mem_classes = 0xf;
	uint64_t mem_add = HOTPLUG_MEM_ADD;
	bool pref_sized = false;

	if (io->supported && !io->assigned)
		size_io(c);
	if (pref->supported && !pref->assigned && (pref->flags & MMIO_WF_MEM64)) {
		size_mem(c, MMIO_BRIDGE_PREF, 1u << 3, HOTPLUG_PREF_ADD);
		mem_classes = 0x7;      /* everything but 64-bit prefetchable */
		pref_sized = true;
	}
	if (!pref_sized) {
		if (pref->supported && !pref->assigned && !(pref->flags & MMIO_WF_MEM64)) {
			size_mem(c, MMIO_BRIDGE_PREF, (1u << 2) | (1u << 3), HOTPLUG_PREF_ADD);
			mem_classes = 0x3;
		} else {
			mem_add += HOTPLUG_PREF_ADD;
		}
	}
	if (mem->supported && !mem->assigned)
		size_mem(c, MMIO_BRIDGE_MEM, mem_classes, mem_add);
}

/* ---- assignment ---------------------------------------------------------------- */

/* pdev_assign_resources_sorted(port) -> __assign_resources_sorted() with the
 * realloc list: the port's unassigned windows into the root bus. */
static enum mmio_status assign_windows(struct ctx *c, struct mmio_error *err)
{
	unsigned order[3], n = 0;
	bool any_add = false, ok;
	enum mmio_status st;

	for (unsigned i = 0; i < 3; i++)
		if (c->w[i].supported && !c->w[i].assigned && !c->w[i].failed &&
		    (c->w[i].size || c->w[i].add)) {
			unsigned j = n++;
			/* descending alignment, ties in resource order */
			while (j > 0 && c->w[order[j - 1]].align < c->w[i].align) {
				order[j] = order[j - 1];
				j--;
			}
			order[j] = i;
			any_add |= c->w[i].add != 0;
		}
	if (!n)
		return MMIO_OK;
	if (any_add) {
		/* requested + optional first; out early if everything fits */
		unsigned failed_types = 0;   /* 1 io, 2 mem, 4 pref */
		bool all = true;

		for (unsigned k = 0; k < n; k++) {
			struct win *w = &c->w[order[k]];
			if ((w->size + w->add) == 0)
				continue;
			st = win_assign(c, order[k], w->size + w->add, &ok, err);
			if (st != MMIO_OK)
				return st;
			if (!ok) {
				all = false;
				failed_types |= order[k] == MMIO_BRIDGE_IO ? 1u :
						(w->flags & MMIO_WF_PREFETCH) ? 6u : 2u;
			}
		}
		if (all) {
			for (unsigned k = 0; k < n; k++)
				c->w[order[k]].add = 0;
			return MMIO_OK;
		}
		/* keep what need not be released (pci_need_to_release), undo the rest */
		for (unsigned k = 0; k < n; k++) {
			struct win *w = &c->w[order[k]];
			bool release;

			if (!w->assigned)
				continue;
			if (order[k] == MMIO_BRIDGE_IO)
				release = failed_types & 1u;
			else if (w->flags & MMIO_WF_PREFETCH)
				/* its parent is a root window, never prefetchable */
				release = (failed_types & 4u) || (failed_types & 2u);
			else
				release = failed_types & 2u;
			if (release) {
				w->assigned = false;
				w->size -= w->add;
			} else {
				w->add = 0;     /* done with its extra */
				order[k] = 3;   /* off the list */
			}
		}
	}
	/* the must-have sizes */
	for (unsigned k = 0; k < n; k++) {
		struct win *w;

		if (order[k] == 3)
			continue;
		w = &c->w[order[k]];
		if (!w->size)
			continue;
		st = win_assign(c, order[k], w->size, &ok, err);
		if (st != MMIO_OK)
			return st;
		if (!ok)
			w->failed = true;
	}
	/* then each optional extra (reassign_resources_sorted, in sizing order) */
	static const unsigned realloc_order[3] = { MMIO_BRIDGE_IO, MMIO_BRIDGE_PREF, MMIO_BRIDGE_MEM };
	for (unsigned k = 0; k < 3; k++) {
		unsigned i = realloc_order[k];
		struct win *w = &c->w[i];
		bool listed = false;

		for (unsigned j = 0; j < n; j++)
			listed |= order[j] == i;
		if (!listed || !w->add || w->failed)
			continue;
		if (!w->size) {
			w->size = w->add;
			st = win_assign(c, i, w->size, &ok, err);
			if (st != MMIO_OK)
				return st;
			if (!ok)
				w->failed = true;
		} else if (w->assigned) {
			st = win_grow(c, i, err);
			if (st != MMIO_OK)
				return st;
		}
		w->add = 0;
	}
	return MMIO_OK;
}

/* The port's assigned windows as a space, minus the BARs already in them. */
static enum mmio_status port_space(const struct ctx *c, struct mmio_space *sp, int map[MMIO_MAX_WINDOWS],
				   struct mmio_error *err)
{
	struct mmio_window w[3];
	struct mmio_range used[MMIO_MAX_DEVICE_BARS];
	struct mmio_space_params p = {
		.windows = w, .used = used, .clip = c->root->clip, .nclip = c->root->nclip,
		.min_mem = c->root->min_mem,
	};

	for (unsigned i = 0; i < 3; i++) {
		const struct win *x = &c->w[i];
		if (!x->supported || !x->assigned)
			continue;
		map[p.nwin] = (int)i;
		w[p.nwin++] = (struct mmio_window){
			.kind = i == MMIO_BRIDGE_IO ? MMIO_WIN_IO : x->start >= MMIO_4G ? MMIO_WIN_HIGH : MMIO_WIN_LOW,
			.flags = (uint8_t)(x->flags | MMIO_WF_BRIDGE),
			.start = x->start, .end = x->start + x->size,
		};
	}
	for (unsigned i = 0; i < c->dev->nbars; i++)
		if (c->b[i].assigned)
			used[p.nused++] = (struct mmio_range){ c->b[i].addr, c->b[i].addr + c->dev->bars[i].size };
	return mmio_space_init(sp, &p, err);
}

/* __pci_bus_assign_resources() on the port's bus: the device's unassigned
 * BARs, sorted, into the windows.  Failures go to c->fail (ROMs are reset
 * and dropped instead).  why gets the first failure's reason. */
static enum mmio_status assign_bars(struct ctx *c, struct mmio_error *why)
{
	struct mmio_device *sub = calloc(1, sizeof(*sub));
	struct mmio_placement *pl = mmio_placement_alloc(1);
	uint8_t idx[MMIO_MAX_DEVICE_BARS];
	int map[MMIO_MAX_WINDOWS];
	struct mmio_space sp;
	enum mmio_status st;

	c->nfail = 0;
	if (!sub || !pl) {
		free(sub);
		free(pl);
		return mmio_error_set(why, MMIO_E_NOMEM, "out of memory placing behind a port");
	}
	memcpy(sub, c->dev, sizeof(*sub));
	sub->nbars = 0;
	for (unsigned i = 0; i < c->dev->nbars; i++)
		if (c->b[i].valid && !c->b[i].assigned) {
			idx[sub->nbars] = (uint8_t)i;
			sub->bars[sub->nbars++] = c->dev->bars[i];
		}
	st = port_space(c, &sp, map, why);
	if (st != MMIO_OK) {
		free(sub);
		free(pl);
		return st;
	}
	st = mmio_place(&sp, sub, 1, pl, why);
	if (st == MMIO_OK || st == MMIO_E_NOSPACE) {
		for (size_t k = 0; k < pl->n; k++) {
			const struct mmio_bar_place *it = &pl->items[k];
			unsigned i = idx[it->bar];

			if (it->placed) {
				c->b[i].assigned = true;
				c->b[i].win = map[it->window];
				c->b[i].addr = it->addr;
			} else if (c->dev->bars[i].index == MMIO_BAR_ROM) {
				c->b[i].valid = false;
			} else {
				c->fail[c->nfail++] = (uint8_t)i;
			}
		}
		st = MMIO_OK;
	}
	mmio_space_free(&sp);
	free(sub);
	free(pl);
	return st;
}

/* pci_bridge_release_resources(): which window a failed BAR releases. */
static unsigned release_target(const struct ctx *c, const struct mmio_bar *bar)
{
	const struct win *pref = &c->w[MMIO_BRIDGE_PREF];

	if (bar->kind == MMIO_BAR_IO)
		return MMIO_BRIDGE_IO;
	if (!bar->prefetch)
		return MMIO_BRIDGE_MEM;
	if (bar->kind == MMIO_BAR_MEM64 && (pref->flags & MMIO_WF_MEM64))
		return MMIO_BRIDGE_PREF;
	if (!(pref->flags & MMIO_WF_MEM64) && (pref->flags & MMIO_WF_PREFETCH))
		return MMIO_BRIDGE_PREF;
	return MMIO_BRIDGE_MEM;
}

static void release(struct ctx *c, unsigned idx)
{
	struct win *w = &c->w[idx];

	if (!w->assigned)
		return;
	w->assigned = false;
	w->released = true;
	for (unsigned i = 0; i < c->dev->nbars; i++)
		if (c->b[i].assigned && c->b[i].win == (int)idx)
			c->b[i].assigned = false;
}

/* The reason a BAR is left unassigned after try 2. */
static void explain(const struct ctx *c, const struct mmio_error *why, struct mmio_error *err)
{
	const struct mmio_bar *bar = &c->dev->bars[c->fail[0]];
	unsigned t = release_target(c, bar);
	const struct win *w = &c->w[t];
	char owner[MMIO_DEVICE_NAME_MAX + 16], what[80], sz[32], al[32], buf[sizeof(err->msg)];
	struct mmio_space sp;
	size_t off;

	if (!w->failed) {
		mmio_error_set(err, MMIO_E_NOSPACE, "%s (after pciehp re-sized the port's windows)", why->msg);
		return;
	}
	mmio_bar_owner(c->dev, bar, owner, sizeof(owner));
	mmio_bar_describe(bar, what, sizeof(what));
	mmio_size_format(w->size, sz, sizeof(sz));
	mmio_size_format(w->align, al, sizeof(al));
	off = (size_t)snprintf(buf, sizeof(buf),
			       "%s BAR %u [%s]: can't assign; no space: pciehp released the port's %s "
			       "window and asked the root bus for %s (%s-aligned): no room",
			       owner, bar->index, what, t == MMIO_BRIDGE_IO ? "I/O" :
			       t == MMIO_BRIDGE_PREF ? "prefetchable" : "memory", sz, al);
	if (root_space(c, -1, &sp, NULL) == MMIO_OK) {
		for (unsigned i = 0; i < sp.nwin && off < sizeof(buf); i++) {
			char lg[32];
			bool io = sp.w[i].win.kind == MMIO_WIN_IO;

			if (io != (t == MMIO_BRIDGE_IO) ||
			    (!io && !(w->flags & MMIO_WF_MEM64) && sp.w[i].win.start >= MMIO_4G))
				continue;
			mmio_size_format(sp.w[i].largest_block, lg, sizeof(lg));
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
						"; %s window [0x%" PRIx64 "-0x%" PRIx64 "]: largest aligned free block %s",
						mmio_window_kind_name(sp.w[i].win.kind), sp.w[i].win.start,
						sp.w[i].win.end - 1, lg);
		}
		mmio_space_free(&sp);
	}
	mmio_error_set(err, MMIO_E_NOSPACE, "%s", buf);
}

static void explain_rom(const struct ctx *c, struct mmio_error *err)
{
	char owner[MMIO_DEVICE_NAME_MAX + 16], what[80];

	for (unsigned i = 0; i < c->dev->nbars; i++) {
		const struct mmio_bar *bar = &c->dev->bars[i];
		if (c->b[i].valid)
			continue;
		mmio_bar_owner(c->dev, bar, owner, sizeof(owner));
		mmio_bar_describe(bar, what, sizeof(what));
		mmio_error_set(err, MMIO_E_NOSPACE,
			       "%s ROM [%s]: can't assign; no space in the port's windows (pciehp leaves "
			       "a ROM that does not fit unassigned and re-sizes no window for it)",
			       owner, what);
		return;
	}
}

enum mmio_status mmio_place_pciehp(const struct mmio_space_params *root, const struct mmio_bridge *port,
				   const struct mmio_device *dev, struct mmio_placement *out,
				   struct mmio_pciehp *res, struct mmio_error *err)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct mmio_error why = { 0 };
	enum mmio_status st = MMIO_OK;
	unsigned tries = 0;

	if (!c)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory placing behind a port");
	if (dev->nbars > MMIO_MAX_DEVICE_BARS) {
		free(c);
		return mmio_error_set(err, MMIO_E_INVALID, "%s has %u BARs, at most %d", dev->name,
				      dev->nbars, MMIO_MAX_DEVICE_BARS);
	}
	c->root = root;
	c->dev = dev;
	for (unsigned i = 0; i < 3; i++) {
		struct win *w = &c->w[i];
		w->supported = port->present[i];
		w->assigned = port->present[i];
		w->flags = i == MMIO_BRIDGE_IO ? 0 :
			   (uint8_t)(port->win[i].flags & (MMIO_WF_PREFETCH | MMIO_WF_MEM64));
		if (i == MMIO_BRIDGE_PREF && !(w->flags & MMIO_WF_PREFETCH))
			w->flags = MMIO_WF_PREFETCH | MMIO_WF_MEM64;
		if (w->assigned) {
			w->start = port->win[i].start;
			w->size = port->win[i].end - port->win[i].start;
		}
	}
	for (unsigned i = 0; i < dev->nbars; i++)
		c->b[i].valid = true;

	for (tries = 1; tries <= 2; tries++) {
		if (tries == 2) {
			/* release what failed, then size and place the released windows */
			for (unsigned k = 0; k < c->nfail; k++)
				release(c, release_target(c, &dev->bars[c->fail[k]]));
			size_windows(c);
			st = assign_windows(c, err);
			if (st != MMIO_OK)
				break;
		}
		why = (struct mmio_error){ 0 };
		st = assign_bars(c, &why);
		if (st != MMIO_OK) {
			*err = why;
			break;
		}
		if (!c->nfail)
			break;
	}
	if (tries > 2)
		tries = 2;
	if (st == MMIO_OK) {
		bool all = true;

		for (unsigned i = 0; i < dev->nbars; i++)
			all &= c->b[i].valid && c->b[i].assigned;
		if (!all) {
			st = MMIO_E_NOSPACE;
			if (err) {
				if (c->nfail)
					explain(c, &why, err);
				else    /* only a ROM is left out: pciehp never re-sizes for one */
					explain_rom(c, err);
			}
		}
		if (out) {
			out->n = 0;
			for (unsigned i = 0; i < dev->nbars; i++) {
				const struct bar *b = &c->b[i];
				bool placed = b->valid && b->assigned;
				out->items[out->n++] = (struct mmio_bar_place){
					.device = 0, .bar = (uint8_t)i, .placed = placed,
					.window = placed ? (int8_t)b->win : -1, .addr = placed ? b->addr : 0,
					.size = dev->bars[i].size,
				};
			}
		}
		if (res) {
			memset(res, 0, sizeof(*res));
			res->tries = tries;
			for (unsigned i = 0; i < 3; i++) {
				const struct win *w = &c->w[i];
				res->resized[i] = w->released;
				res->after.present[i] = w->supported && w->assigned;
				res->after.win[i] = port->win[i];
				if (res->after.present[i]) {
					res->after.win[i].start = w->start;
					res->after.win[i].end = w->start + w->size;
					res->after.win[i].kind = i == MMIO_BRIDGE_IO ? MMIO_WIN_IO :
								 w->start >= MMIO_4G ? MMIO_WIN_HIGH : MMIO_WIN_LOW;
					res->after.win[i].flags = (uint8_t)(w->flags |
									    (port->win[i].flags & MMIO_WF_BRIDGE));
				}
			}
		}
	}
	free(c);
	return st;
}
