/* SPDX-License-Identifier: MIT */
/*
 * hvmloader.c — Xen hvmloader's boot-time BAR placement, replayed.
 *
 * A transcription of pci_setup() steps 2–7 (shared/ref/xen.md 1.3) with
 * hvmloader's integer widths kept: pci_mem_start, pci_mem_end and the
 * hvm_info page numbers are 32-bit; mmio_total, BAR sizes and the resource
 * bases are 64-bit.  Variable names follow pci.c where that helps a reader
 * compare the two.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hvmloader.h"

#define PAGE_SHIFT 12

const char *mmio_xen_rule_name(enum mmio_xen_rule rule)
{
	switch (rule) {
	case MMIO_XEN_4_17_0: return "4.17.0";
	case MMIO_XEN_4_17_4_PLUS: return "4.17.4+";
	case MMIO_XEN_4_21_PLUS: return "4.21+";
	}
	return "?";
}

const char *mmio_hvm_where_name(enum mmio_hvm_where w)
{
	switch (w) {
	case MMIO_HVM_NOSPACE: return "no-space";
	case MMIO_HVM_LOW: return "low";
	case MMIO_HVM_HIGH: return "high";
	case MMIO_HVM_IO: return "io";
	case MMIO_HVM_PINNED: return "pinned";
	}
	return "?";
}

enum mmio_status mmio_hvm_ram_layout(uint64_t max_memkb, uint64_t video_memkb,
				     uint64_t mmio_hole_memkb, struct mmio_hvm_ram *out,
				     struct mmio_error *err)
{
	uint64_t mem, mmio_size = 0, mmio_start, lowmem_end, highmem_end = 0;

	if (video_memkb > max_memkb)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "video memory (%" PRIu64 " KiB) exceeds maxmem (%" PRIu64 " KiB)",
				      video_memkb, max_memkb);
	if (max_memkb > (UINT64_C(1) << 52) || mmio_hole_memkb > (UINT64_C(1) << 22))
		return mmio_error_set(err, MMIO_E_INVALID, "memory size out of range");
	/* libxl__build_hvm */
	mem = (max_memkb - video_memkb) << 10;
	if (mmio_hole_memkb) {
		uint64_t max_ram_below_4g = MMIO_4G - (mmio_hole_memkb << 10);

		if (max_ram_below_4g < MMIO_HVM_BELOW_4G_MMIO_START)
			mmio_size = mmio_hole_memkb << 10;
	}
	if (mmio_size == 0)
		mmio_size = MMIO_4G - MMIO_HVM_BELOW_4G_MMIO_START; /* HVM_BELOW_4G_MMIO_LENGTH */
	lowmem_end = mem;
	mmio_start = MMIO_4G - mmio_size;
	if (lowmem_end > mmio_start) {
		highmem_end = MMIO_4G + (lowmem_end - mmio_start);
		lowmem_end = mmio_start;
	}
	out->low_mem_end = lowmem_end;
	out->high_mem_end = highmem_end;
	/* libxl_create.c: platform/mmio_hole_size */
	out->mmio_hole_size = 0;
	if (mmio_hole_memkb && MMIO_4G - (mmio_hole_memkb << 10) <= MMIO_HVM_BELOW_4G_MMIO_START)
		out->mmio_hole_size = mmio_hole_memkb << 10;
	return MMIO_OK;
}

void mmio_hvm_result_free(struct mmio_hvm_result *res)
{
	if (!res)
		return;
	free(res->bars);
	free(res->used);
	free(res->reserved);
	res->bars = NULL;
	res->used = NULL;
	res->reserved = NULL;
	res->nbars = res->nused = res->nused_bars = res->nreserved = 0;
}

/* util.c check_overlap() */
static bool check_overlap(uint64_t start, uint64_t size, uint64_t rstart, uint64_t rsize)
{
	return (start + size > rstart) && (start < rstart + rsize);
}

static bool check_overlap_all(const struct mmio_hvm_params *p, uint64_t start, uint64_t size)
{
	for (size_t i = 0; i < p->nreserved; i++)
		if (check_overlap(start, size, p->reserved[i].start,
				  p->reserved[i].end - p->reserved[i].start))
			return true;
	return false;
}

/* pci.c find_next_rmrr(): the reserved entry with the lowest end above
 * base and at most 4 GiB; base is a uint32_t parameter there. */
static long find_next_rmrr(const struct mmio_hvm_params *p, uint32_t base)
{
	long next = -1;
	uint64_t min_end = MMIO_4G;

	for (size_t i = 0; i < p->nreserved; i++) {
		uint64_t end = p->reserved[i].end;

		if (end > base && end <= min_end) {
			next = (long)i;
			min_end = end;
		}
	}
	return next;
}

static enum mmio_status check_bar(const struct mmio_device *d, size_t di,
				  const struct mmio_bar *b, struct mmio_error *err)
{
	if (b->index > MMIO_BAR_ROM)
		return mmio_error_set(err, MMIO_E_INVALID, "device %zu (%s): BAR index %u out of range",
				      di, d->name, b->index);
	if (b->kind > MMIO_BAR_MEM64)
		return mmio_error_set(err, MMIO_E_INVALID, "device %zu (%s): BAR %u has an unknown kind",
				      di, d->name, b->index);
	if (!mmio_is_pow2(b->size))
		return mmio_error_set(err, MMIO_E_INVALID,
				      "device %zu (%s): BAR %u size 0x%" PRIx64 " is not a power of two",
				      di, d->name, b->index, b->size);
	if (b->index == MMIO_BAR_ROM || b->kind == MMIO_BAR_MEM32) {
		if (b->size > (UINT64_C(1) << 31))
			return mmio_error_set(err, MMIO_E_INVALID,
					      "device %zu (%s): 32-bit BAR %u of 0x%" PRIx64 " bytes cannot exist",
					      di, d->name, b->index, b->size);
	} else if (b->kind == MMIO_BAR_IO) {
		if (b->size > 0x10000)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "device %zu (%s): I/O BAR %u of 0x%" PRIx64 " bytes exceeds 64 KiB",
					      di, d->name, b->index, b->size);
	} else if (b->size > (UINT64_C(1) << 62)) {
		return mmio_error_set(err, MMIO_E_INVALID, "device %zu (%s): BAR %u is too large",
				      di, d->name, b->index);
	}
	return MMIO_OK;
}

static int range_cmp(const void *a, const void *b)
{
	const struct mmio_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Largest piece of [lo, hi) not covered by a reserved entry; lowest wins a
 * tie (Linux e820_search_gap walks from the top with ">="). */
static uint64_t largest_gap_start(const struct mmio_range *rsv, size_t n, uint64_t lo, uint64_t hi)
{
	uint64_t best_start = lo, best = 0, pos = lo;

	for (size_t i = 0; i <= n; i++) {
		uint64_t s = i < n ? rsv[i].start : hi, e = i < n ? rsv[i].end : hi;

		if (e <= pos)
			continue;
		if (s > hi)
			s = hi;
		if (s > pos && s - pos > best) {
			best = s - pos;
			best_start = pos;
		}
		if (e > pos)
			pos = e;
		if (pos >= hi)
			break;
	}
	return best_start;
}

enum mmio_status mmio_hvm_run(const struct mmio_hvm_params *p, struct mmio_hvm_result *res,
			      struct mmio_error *err)
{
	const bool thresh = p->rule != MMIO_XEN_4_17_0;
	const bool pin = p->rule == MMIO_XEN_4_21_PLUS && p->platform_bar_wb;
	struct mmio_hvm_bar *bars; /* sorted list (memory and I/O) */
	size_t nr_bars = 0, npinned = 0, maxbars = 0;
	uint64_t mmio_total = 0;
	bool bar64_relocate = false;
	uint32_t pci_mem_start = (uint32_t)MMIO_HVM_BELOW_4G_MMIO_START;
	uint32_t pci_mem_end = (uint32_t)MMIO_HVM_PCI_MEM_END;
	uint32_t low_mem_pgend, high_mem_pgend;
	struct { uint64_t base, max; } mem, high, io, *resource;
	uint64_t pci_hi_mem_start = 0, pci_hi_mem_end = 0;
	enum mmio_status st;

	memset(res, 0, sizeof(*res));
	if (p->ndev && !p->devs)
		return mmio_error_set(err, MMIO_E_INVALID, "no device array");
	if (p->ndev > 256)
		return mmio_error_set(err, MMIO_E_INVALID, "%zu devices: bus 0 has 256 functions", p->ndev);
	if (p->low_mem_end > MMIO_4G || (p->high_mem_end && p->high_mem_end < MMIO_4G) ||
	    p->high_mem_end >= (UINT64_C(1) << 44))
		return mmio_error_set(err, MMIO_E_INVALID,
				      "bad RAM layout: low end 0x%" PRIx64 ", high end 0x%" PRIx64,
				      p->low_mem_end, p->high_mem_end);
	res->phys_bits = p->phys_bits ? p->phys_bits : MMIO_HVM_PHYS_BITS_DEFAULT;
	if (res->phys_bits < 32 || res->phys_bits > 52)
		return mmio_error_set(err, MMIO_E_INVALID, "phys_bits %u out of range 32..52", p->phys_bits);
	for (size_t i = 0; i < p->nreserved; i++)
		if (p->reserved[i].end <= p->reserved[i].start)
			return mmio_error_set(err, MMIO_E_INVALID, "reserved range %zu is empty or inverted", i);

	for (size_t d = 0; d < p->ndev; d++) {
		unsigned seen = 0;

		if (p->devs[d].nbars > MMIO_MAX_BARS)
			return mmio_error_set(err, MMIO_E_INVALID, "device %zu (%s): %u BARs",
					      d, p->devs[d].name, p->devs[d].nbars);
		for (unsigned b = 0; b < p->devs[d].nbars; b++) {
			const struct mmio_bar *bar = &p->devs[d].bars[b];

			if ((st = check_bar(&p->devs[d], d, bar, err)) != MMIO_OK)
				return st;
			if (seen & (1u << bar->index))
				return mmio_error_set(err, MMIO_E_INVALID, "device %zu (%s): BAR %u given twice",
						      d, p->devs[d].name, bar->index);
			seen |= 1u << bar->index;
		}
		maxbars += p->devs[d].nbars;
	}

	bars = calloc(maxbars ? maxbars : 1, sizeof(*bars));
	res->used = calloc(maxbars + p->nreserved + 1, sizeof(*res->used));
	res->reserved = calloc(p->nreserved + 1, sizeof(*res->reserved));
	if (!bars || !res->used || !res->reserved) {
		free(bars);
		mmio_hvm_result_free(res);
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	}
	res->bars = bars;

	/* ---- step 2: scan, devfn order, BAR0..5 then the ROM -------------- */
	/* The pinned platform BAR (4.21) is kept apart at the end of bars[]. */
	for (size_t d = 0; d < p->ndev; d++) {
		const struct mmio_device *dev = &p->devs[d];

		for (unsigned idx = 0; idx <= MMIO_BAR_ROM; idx++) {
			const struct mmio_bar *bar = NULL;
			unsigned bi = 0;
			bool is_rom, is_mem, is_64bar;
			uint64_t bar_sz;
			size_t i;

			for (unsigned b = 0; b < dev->nbars; b++)
				if (dev->bars[b].index == idx) {
					bar = &dev->bars[b];
					bi = b;
				}
			if (!bar)
				continue;
			is_rom = idx == MMIO_BAR_ROM;
			/* A ROM with its enable bit clear reads as a memory BAR. */
			is_mem = is_rom || bar->kind != MMIO_BAR_IO;
			is_64bar = !is_rom && bar->kind == MMIO_BAR_MEM64;
			bar_sz = bar->size;

			if (pin && d == p->platform_dev && is_mem && !is_64bar &&
			    !(bar_sz > pci_mem_end ||
			      ((pci_mem_end - bar_sz) & ~(bar_sz - 1)) < pci_mem_start)) {
				struct mmio_hvm_bar *pb;

				pci_mem_end -= (uint32_t)bar_sz;
				pci_mem_end &= ~(uint32_t)(bar_sz - 1);
				npinned++;
				pb = &bars[maxbars - npinned];
				pb->device = (uint16_t)d;
				pb->bar = (uint8_t)bi;
				pb->where = MMIO_HVM_PINNED;
				pb->addr = pci_mem_end;
				pb->size = bar_sz;
				continue;
			}

			for (i = 0; i < nr_bars; i++)
				if (bars[i].size < bar_sz)
					break;
			if (i != nr_bars)
				memmove(&bars[i + 1], &bars[i], (nr_bars - i) * sizeof(*bars));
			memset(&bars[i], 0, sizeof(bars[i]));
			bars[i].device = (uint16_t)d;
			bars[i].bar = (uint8_t)bi;
			bars[i].is_64bar = is_64bar;
			bars[i].size = bar_sz;
			/* where temporarily holds is_mem: fixed in step 6. */
			bars[i].where = is_mem ? MMIO_HVM_LOW : MMIO_HVM_IO;

			if (thresh && is_64bar && bar_sz > MMIO_HVM_BAR_RELOC_THRESH)
				bar64_relocate = true;
			else if (is_mem)
				mmio_total += bar_sz;
			nr_bars++;
		}
	}
	res->mmio_total = mmio_total;

	/* ---- step 3: size the low window ----------------------------------- */
	low_mem_pgend = (uint32_t)(p->low_mem_end >> PAGE_SHIFT);
	high_mem_pgend = (uint32_t)(p->high_mem_end >> PAGE_SHIFT);
	if (p->mmio_hole_size) {
		uint64_t max_ram_below_4g = MMIO_4G - p->mmio_hole_size;

		if (max_ram_below_4g > MMIO_HVM_BELOW_4G_MMIO_START) {
			res->hole_size_ignored = true;
		} else {
			pci_mem_start = (uint32_t)max_ram_below_4g;
			res->hole_size_used = true;
		}
	} else {
		while (mmio_total > (uint32_t)(pci_mem_end - pci_mem_start) &&
		       (uint32_t)(pci_mem_start << 1) != 0 &&
		       (p->allow_memory_relocate ||
			((uint32_t)(pci_mem_start << 1) >> PAGE_SHIFT) >= low_mem_pgend))
			pci_mem_start <<= 1;

		if (pci_mem_start > (uint32_t)(low_mem_pgend << PAGE_SHIFT) &&
		    check_overlap_all(p, pci_mem_start, (uint32_t)(pci_mem_end - pci_mem_start))) {
			pci_mem_start = (uint32_t)(low_mem_pgend << PAGE_SHIFT);
			res->rmrr_adjusted = true;
		}
	}
	/* 3c; in 4.17.4+ "|| bar64_relocate", which is already set then. */
	if (mmio_total > (uint32_t)(pci_mem_end - pci_mem_start))
		bar64_relocate = true;
	res->bar64_relocate = bar64_relocate;
	res->pci_mem_start = pci_mem_start;
	res->pci_mem_end = pci_mem_end;

	/* ---- step 4: relocate RAM that overlaps the hole ------------------- */
	if ((pci_mem_start >> PAGE_SHIFT) < low_mem_pgend) {
		uint32_t nr_pages = low_mem_pgend - (pci_mem_start >> PAGE_SHIFT);

		if (high_mem_pgend == 0)
			high_mem_pgend = UINT32_C(1) << (32 - PAGE_SHIFT);
		low_mem_pgend -= nr_pages;
		high_mem_pgend += nr_pages;
		res->relocated_bytes = (uint64_t)nr_pages << PAGE_SHIFT;
	}
	res->low_mem_end = (uint64_t)low_mem_pgend << PAGE_SHIFT;
	res->high_mem_end = (uint64_t)high_mem_pgend << PAGE_SHIFT;

	/* ---- step 5: allocators -------------------------------------------- */
	high.base = (uint64_t)high_mem_pgend << PAGE_SHIFT;
	if (high.base < MMIO_4G)
		high.base = MMIO_4G;
	high.max = UINT64_C(1) << res->phys_bits;
	mem.base = pci_mem_start;
	mem.max = pci_mem_end;
	io.base = MMIO_HVM_IO_START;
	io.max = MMIO_HVM_IO_END;
	res->high_base = high.base;
	res->high_max = high.max;

	/* ---- step 6: assign, largest first --------------------------------- */
	for (size_t i = 0; i < nr_bars; i++) {
		struct mmio_hvm_bar *b = &bars[i];
		uint64_t bar_sz = b->size, base;
		bool is_mem = b->where == MMIO_HVM_LOW;
		bool using_64bar = b->is_64bar && bar64_relocate &&
			(mmio_total > (mem.max - mem.base) ||
			 (thresh && bar_sz > MMIO_HVM_BAR_RELOC_THRESH));

		b->using_64bar = using_64bar;
		if (is_mem) {
			if (using_64bar) {
				if (high.base & (bar_sz - 1))
					high.base = high.base - (high.base & (bar_sz - 1)) + bar_sz;
				if (!pci_hi_mem_start)
					pci_hi_mem_start = high.base;
				resource = &high;
			} else {
				resource = &mem;
			}
			if (!thresh || bar_sz <= MMIO_HVM_BAR_RELOC_THRESH)
				mmio_total -= bar_sz;
		} else {
			resource = &io;
		}

		base = (resource->base + bar_sz - 1) & ~(bar_sz - 1);
		if (resource == &mem) {
			long next = find_next_rmrr(p, (uint32_t)base);

			while (next >= 0 &&
			       check_overlap(base, bar_sz, p->reserved[next].start,
					     p->reserved[next].end - p->reserved[next].start)) {
				base = p->reserved[next].end;
				base = (base + bar_sz - 1) & ~(bar_sz - 1);
				next = find_next_rmrr(p, (uint32_t)base);
			}
		}

		b->addr = base;
		base += bar_sz;
		if (base < resource->base || base > resource->max) {
			b->where = MMIO_HVM_NOSPACE;
			res->nunplaced++;
			continue;
		}
		resource->base = base;
		b->where = resource == &high ? MMIO_HVM_HIGH : resource == &mem ? MMIO_HVM_LOW : MMIO_HVM_IO;
	}

	/* ---- step 7: end of the high window -------------------------------- */
	if (pci_hi_mem_start)
		pci_hi_mem_end = ((high.base - 1) | ((pci_hi_mem_start & -pci_hi_mem_start) - 1)) + 1;
	res->pci_hi_mem_start = pci_hi_mem_start;
	res->pci_hi_mem_end = pci_hi_mem_end;
	res->has_high = pci_hi_mem_end > pci_hi_mem_start;
	res->low_next = mem.base;
	res->high_next = high.base;
	res->io_next = io.base;

	/* Pinned BARs go after the sorted ones. */
	for (size_t k = 0; k < npinned; k++)
		bars[nr_bars + k] = bars[maxbars - npinned + k];
	res->nbars = nr_bars + npinned;

	/* ---- outputs for the daemon ---------------------------------------- */
	res->windows[res->nwin++] = (struct mmio_window){
		.kind = MMIO_WIN_LOW, .start = pci_mem_start, .end = MMIO_HVM_PCI_MEM_END };
	if (res->has_high)
		res->windows[res->nwin++] = (struct mmio_window){
			.kind = MMIO_WIN_HIGH, .start = pci_hi_mem_start, .end = pci_hi_mem_end };
	res->windows[res->nwin++] = (struct mmio_window){
		.kind = MMIO_WIN_IO, .start = MMIO_HVM_IO_START, .end = MMIO_HVM_IO_END };

	for (size_t i = 0; i < res->nbars; i++)
		if (bars[i].where != MMIO_HVM_NOSPACE)
			res->used[res->nused++] = (struct mmio_range){ bars[i].addr, bars[i].addr + bars[i].size };
	res->nused_bars = res->nused;
	for (size_t i = 0; i < p->nreserved; i++) {
		res->used[res->nused++] = p->reserved[i];
		res->reserved[i] = p->reserved[i];
	}
	res->nreserved = p->nreserved;
	qsort(res->reserved, res->nreserved, sizeof(*res->reserved), range_cmp);
	res->min_mem = largest_gap_start(res->reserved, res->nreserved, res->low_mem_end,
					 MMIO_HVM_PCI_MEM_END);
	return MMIO_OK;
}

void mmio_hvm_space_params(const struct mmio_hvm_result *res, struct mmio_space_params *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->windows = res->windows;
	sp->nwin = res->nwin;
	sp->used = res->used;
	sp->nused = res->nused;
	sp->clip = res->reserved;
	sp->nclip = res->nreserved;
	sp->min_mem = res->min_mem;
}
