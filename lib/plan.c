/* SPDX-License-Identifier: MIT */
/*
 * plan.c — the smallest mmio_hole for a Xen guest, pci-hole64-size for QEMU.
 *
 * Xen: each candidate is evaluated the way it would happen: libxl lays out
 * RAM, hvmloader places the boot BARs (lib/hvmloader.c), the guest's free
 * space is built from the result (mmio_space_init) and the Linux hot-plug
 * model places the later devices one after another (mmio_place).  Because
 * the outcome is not monotonic in the hole size (a bigger low window can
 * keep a boot BAR low that would otherwise have created a 64-bit window;
 * non-power-of-two window starts change the alignment slack), candidates
 * are tried one MiB at a time from a lower bound that no smaller hole can
 * beat: every 32-bit BAR and ROM must fit below 0xFC000000.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

const char *mmio_plan_verdict_name(enum mmio_plan_verdict v)
{
	switch (v) {
	case MMIO_PLAN_FITS_DEFAULT: return "fits";
	case MMIO_PLAN_NEEDS_HOLE: return "needs-mmio-hole";
	case MMIO_PLAN_IMPOSSIBLE: return "impossible";
	}
	return "?";
}

static bool is_32bit_mem(const struct mmio_bar *b)
{
	return b->index == MMIO_BAR_ROM || b->kind == MMIO_BAR_MEM32;
}

static bool is_64bit_mem(const struct mmio_bar *b)
{
	return b->index != MMIO_BAR_ROM && b->kind == MMIO_BAR_MEM64;
}

/* The devices handed to mmio_place: the boot BARs hvmloader left
 * unprogrammed (Linux assigns all of a bus's unassigned resources at boot
 * in one list sorted by size, so they go first, in hvmloader's order, in
 * chunks of MMIO_MAX_BARS), then the later devices. */
static struct mmio_device *build_devices(const struct mmio_plan_params *p,
					 const struct mmio_hvm_result *hr, size_t *n)
{
	size_t nchunks = (hr->nunplaced + MMIO_MAX_BARS - 1) / MMIO_MAX_BARS;
	struct mmio_device *devs = calloc(nchunks + p->nlater + 1, sizeof(*devs));
	size_t k = 0;

	if (!devs)
		return NULL;
	for (size_t i = 0; i < hr->nbars; i++) {
		const struct mmio_hvm_bar *b = &hr->bars[i];
		struct mmio_device *d = &devs[k / MMIO_MAX_BARS];

		if (b->where != MMIO_HVM_NOSPACE)
			continue;
		if (d->nbars == 0)
			snprintf(d->name, sizeof(d->name), "boot BARs hvmloader left unassigned");
		d->bars[d->nbars++] = p->boot[b->device].bars[b->bar];
		k++;
	}
	if (p->nlater)
		memcpy(&devs[nchunks], p->later, p->nlater * sizeof(*devs));
	*n = nchunks + p->nlater;
	return devs;
}

enum mmio_status mmio_plan_xen_eval(const struct mmio_plan_params *p, unsigned hole_mb, bool *fits,
				    struct mmio_plan_result *res, struct mmio_error *err)
{
	struct mmio_hvm_ram ram;
	struct mmio_hvm_params hp;
	struct mmio_hvm_result hr;
	struct mmio_space_params spp;
	struct mmio_space sp;
	struct mmio_device *devs = NULL;
	struct mmio_placement *pl = NULL;
	struct mmio_error perr = { 0 };
	size_t ndev = 0;
	enum mmio_status st;

	*fits = false;
	st = mmio_hvm_ram_layout(p->max_memkb, p->video_memkb, (uint64_t)hole_mb * 1024, &ram, err);
	if (st != MMIO_OK)
		return st;
	hp = (struct mmio_hvm_params){
		.devs = p->boot, .ndev = p->nboot,
		.low_mem_end = ram.low_mem_end, .high_mem_end = ram.high_mem_end,
		.mmio_hole_size = ram.mmio_hole_size,
		.allow_memory_relocate = p->allow_memory_relocate,
		.reserved = p->reserved, .nreserved = p->nreserved,
		.phys_bits = p->phys_bits, .rule = p->rule,
		.platform_bar_wb = p->platform_bar_wb, .platform_dev = p->platform_dev,
	};
	st = mmio_hvm_run(&hp, &hr, err);
	if (st != MMIO_OK) {
		mmio_hvm_result_free(&hr);
		return st;
	}
	mmio_hvm_space_params(&hr, &spp);
	st = mmio_space_init(&sp, &spp, err);
	if (st != MMIO_OK) {
		mmio_hvm_result_free(&hr);
		return st;
	}
	devs = build_devices(p, &hr, &ndev);
	pl = mmio_placement_alloc(ndev);
	if (!devs || !pl) {
		st = mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		goto out;
	}
	st = mmio_place(&sp, devs, ndev, pl, &perr);
	if (st != MMIO_OK && st != MMIO_E_NOSPACE) {
		mmio_error_set(err, st, "%s", perr.msg);
		goto out;
	}
	*fits = st == MMIO_OK;
	if (res) {
		res->low_start = hr.windows[0].start;
		res->low_end = hr.windows[0].end;
		res->high_exists = hr.has_high;
		res->high_start = hr.has_high ? hr.pci_hi_mem_start : 0;
		res->high_end = hr.has_high ? hr.pci_hi_mem_end : 0;
		res->boot_pending = hr.nunplaced;
		res->high_used = res->low_used = 0;
		for (size_t i = 0; i < pl->n; i++) {
			const struct mmio_bar_place *it = &pl->items[i];

			if (!it->placed || it->window < 0)
				continue;
			if (sp.w[it->window].win.kind == MMIO_WIN_HIGH)
				res->high_used += it->size;
			else if (sp.w[it->window].win.kind == MMIO_WIN_LOW)
				res->low_used += it->size;
		}
		res->high_needed = res->high_used > 0;
		if (*fits)
			res->reason[0] = '\0';
		else
			snprintf(res->reason, sizeof(res->reason), "%s", perr.msg);
	}
	st = MMIO_OK;
out:
	free(pl);
	free(devs);
	mmio_space_free(&sp);
	mmio_hvm_result_free(&hr);
	return st;
}

/* Whole GiB or MiB when exact (window sizes such as 1984 MiB read better
 * than mmio_size_format's exact byte fallback), else mmio_size_format. */
static void fmt_size(uint64_t v, char *buf, size_t len)
{
	if (v && v % GiB == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", v / GiB);
	else if (v && v % MiB == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", v / MiB);
	else
		mmio_size_format(v, buf, len);
}

static void describe_layout(const struct mmio_plan_result *r, char *buf, size_t len)
{
	char lo[32], hi[32];

	fmt_size(r->low_end - r->low_start, lo, sizeof(lo));
	if (r->high_exists) {
		fmt_size(r->high_end - r->high_start, hi, sizeof(hi));
		snprintf(buf, len,
			 "low window [0x%" PRIx64 ", 0x%" PRIx64 ") (%s), 64-bit window [0x%" PRIx64
			 ", 0x%" PRIx64 ") (%s)",
			 r->low_start, r->low_end, lo, r->high_start, r->high_end, hi);
	} else {
		snprintf(buf, len, "low window [0x%" PRIx64 ", 0x%" PRIx64 ") (%s), no 64-bit window",
			 r->low_start, r->low_end, lo);
	}
}

enum mmio_status mmio_plan_xen(const struct mmio_plan_params *p, struct mmio_plan_result *out,
			       struct mmio_error *err)
{
	uint64_t s32 = 0;
	uint64_t min_hole;
	struct mmio_plan_result cand = { 0 };
	bool fits, any_high = false;
	uint64_t best_high = 0;
	char layout[256], a[32], b[32];
	enum mmio_status st;

	memset(out, 0, sizeof(*out));
	if ((p->nboot && !p->boot) || (p->nlater && !p->later))
		return mmio_error_set(err, MMIO_E_INVALID, "no device array");
	for (size_t d = 0; d < p->nboot; d++)
		for (unsigned i = 0; i < p->boot[d].nbars && i < MMIO_MAX_BARS; i++)
			if (is_32bit_mem(&p->boot[d].bars[i]))
				s32 += p->boot[d].bars[i].size;
	for (size_t d = 0; d < p->nlater; d++) {
		if (p->later[d].nbars > MMIO_MAX_DEVICE_BARS)
			return mmio_error_set(err, MMIO_E_INVALID, "%s has %u BARs", p->later[d].name,
					      p->later[d].nbars);
		for (unsigned i = 0; i < p->later[d].nbars; i++) {
			const struct mmio_bar *bar = &p->later[d].bars[i];

			if (!mmio_is_pow2(bar->size))
				return mmio_error_set(err, MMIO_E_INVALID,
						      "%s BAR %u: size 0x%" PRIx64 " is not a power of two",
						      p->later[d].name, bar->index, bar->size);
			if (is_32bit_mem(bar))
				out->later32 += bar->size;
			else if (is_64bit_mem(bar)) {
				out->later64 += bar->size;
				if (bar->size > out->largest64)
					out->largest64 = bar->size;
			} else
				out->later_io += bar->size;
		}
	}
	s32 += out->later32;

	/* The default layout first: no mmio_hole at all. */
	st = mmio_plan_xen_eval(p, 0, &fits, out, err);
	if (st != MMIO_OK)
		return st;
	out->candidates = 1;
	describe_layout(out, layout, sizeof(layout));
	if (fits) {
		out->verdict = MMIO_PLAN_FITS_DEFAULT;
		fmt_size(out->low_used, a, sizeof(a));
		fmt_size(out->high_used, b, sizeof(b));
		snprintf(out->reason, sizeof(out->reason),
			 "Fits without mmio_hole: %s; the later devices take %s low and %s in the "
			 "64-bit window.", layout, a, b);
		return MMIO_OK;
	}
	any_high = out->high_exists;
	best_high = out->high_exists ? out->high_end - out->high_start : 0;

	/* hvmloader's usable low window is [4 GiB - hole, 0xFC000000): hole -
	 * 64 MiB.  Every 32-bit BAR and ROM, boot or later, must fit in it. */
	min_hole = (s32 + MiB - 1) / MiB + 64;
	if (min_hole < MMIO_HVM_MMIO_HOLE_MIN_MB)
		min_hole = MMIO_HVM_MMIO_HOLE_MIN_MB;
	if (min_hole > MMIO_HVM_MMIO_HOLE_MAX_MB) {
		out->verdict = MMIO_PLAN_IMPOSSIBLE;
		fmt_size(s32, a, sizeof(a));
		snprintf(out->reason, sizeof(out->reason),
			 "Impossible: the 32-bit BARs and ROMs (boot and later) need %s below 4 GiB, "
			 "more than the largest low window Xen can give (mmio_hole=3840 leaves "
			 "[0x10000000, 0xFC000000), 3776 MiB).  Attach fewer 32-bit devices, or "
			 "disable option ROMs (rombar=0 where the toolstack allows it).", a);
		return MMIO_OK;
	}

	for (unsigned h = (unsigned)min_hole; h <= MMIO_HVM_MMIO_HOLE_MAX_MB; h++) {
		memset(&cand, 0, sizeof(cand));
		st = mmio_plan_xen_eval(p, h, &fits, &cand, err);
		if (st != MMIO_OK)
			return st;
		out->candidates++;
		if (cand.high_exists) {
			any_high = true;
			if (cand.high_end - cand.high_start > best_high)
				best_high = cand.high_end - cand.high_start;
		}
		if (!fits)
			continue;
		out->verdict = MMIO_PLAN_NEEDS_HOLE;
		out->hole_mb = h;
		out->low_start = cand.low_start;
		out->low_end = cand.low_end;
		out->high_exists = cand.high_exists;
		out->high_start = cand.high_start;
		out->high_end = cand.high_end;
		out->high_used = cand.high_used;
		out->low_used = cand.low_used;
		out->high_needed = cand.high_needed;
		out->boot_pending = cand.boot_pending;
		describe_layout(&cand, layout, sizeof(layout));
		fmt_size(cand.low_used, a, sizeof(a));
		fmt_size(cand.high_used, b, sizeof(b));
		snprintf(out->reason, sizeof(out->reason),
			 "Set mmio_hole=%u (MiB) in the guest's xl.cfg (creation time only; qemu-xen): "
			 "hvmloader then gives %s; the later devices take %s low and %s in the "
			 "64-bit window.  The usable low window is the hole minus 64 MiB.",
			 h, layout, a, b);
		return MMIO_OK;
	}

	/* Nothing works: say why, most specific cause first. */
	out->verdict = MMIO_PLAN_IMPOSSIBLE;
	if (out->largest64 >= 2 * GiB && best_high < out->largest64) {
		fmt_size(out->largest64, a, sizeof(a));
		if (!any_high)
			snprintf(out->reason, sizeof(out->reason),
				 "Impossible: a later 64-bit BAR of %s cannot go below 4 GiB (a naturally "
				 "aligned block of 2 GiB or more never fits under 0xFC000000) and hvmloader "
				 "creates no 64-bit window for these boot devices, whatever mmio_hole is.  "
				 "Plain Xen cannot create a 64-bit window for hot-plug: boot the guest with "
				 "the large 64-bit device attached (with Xen 4.17.4+ any 64-bit BAR over "
				 "1 GiB goes high and creates the window, whose end is rounded up to its "
				 "start's alignment), or assign the device at creation time.", a);
		else {
			fmt_size(best_high, b, sizeof(b));
			snprintf(out->reason, sizeof(out->reason),
				 "Impossible: a later 64-bit BAR of %s cannot go below 4 GiB, and the "
				 "largest 64-bit window hvmloader creates for these boot devices is %s.  "
				 "Boot with a larger 64-bit device attached so that the window (rounded up "
				 "to its start's alignment) has room, or assign the device at creation "
				 "time.", a, b);
		}
		return MMIO_OK;
	}
	snprintf(out->reason, sizeof(out->reason),
		 "Impossible: no mmio_hole between 256 and 3840 MiB lets every later device fit "
		 "(default layout: %s; there: %.200s).  Attach the device at creation time, or "
		 "boot with a large 64-bit device so that hvmloader creates a 64-bit window.",
		 layout, cand.reason[0] ? cand.reason : "no space");
	return MMIO_OK;
}

/* ---- QEMU ------------------------------------------------------------------ */

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Largest first from an aligned start: with power-of-two sizes in
 * descending order every BAR lands right after the previous one. */
static uint64_t pack(uint64_t *sz, size_t n)
{
	uint64_t pos = 0;

	qsort(sz, n, sizeof(*sz), cmp_desc);
	for (size_t i = 0; i < n; i++)
		pos = ((pos + sz[i] - 1) & ~(sz[i] - 1)) + sz[i];
	return pos;
}

enum mmio_status mmio_plan_qemu(enum mmio_qemu_machine machine, const struct mmio_device *devs,
				size_t ndev, struct mmio_qemu_plan *out, struct mmio_error *err)
{
	size_t nbars = 0, n32 = 0, n64 = 0;
	uint64_t *s32, *s64;
	char need[32], set[32], dflt[32], low[32];
	const char *mname = machine == MMIO_QEMU_Q35 ? "q35" : "i440fx";

	memset(out, 0, sizeof(*out));
	if (machine != MMIO_QEMU_I440FX && machine != MMIO_QEMU_Q35)
		return mmio_error_set(err, MMIO_E_INVALID, "unknown machine type %d", (int)machine);
	if (ndev && !devs)
		return mmio_error_set(err, MMIO_E_INVALID, "no device array");
	for (size_t d = 0; d < ndev; d++) {
		if (devs[d].nbars > MMIO_MAX_DEVICE_BARS)
			return mmio_error_set(err, MMIO_E_INVALID, "%s has %u BARs", devs[d].name,
					      devs[d].nbars);
		for (unsigned i = 0; i < devs[d].nbars; i++)
			if (!mmio_is_pow2(devs[d].bars[i].size) || devs[d].bars[i].size > (UINT64_C(1) << 56))
				return mmio_error_set(err, MMIO_E_INVALID,
						      "%s BAR %u: size 0x%" PRIx64 " is not a valid BAR size",
						      devs[d].name, devs[d].bars[i].index,
						      devs[d].bars[i].size);
		nbars += devs[d].nbars;
	}
	s32 = calloc(nbars + 1, sizeof(*s32));
	s64 = calloc(nbars + 1, sizeof(*s64));
	if (!s32 || !s64) {
		free(s32);
		free(s64);
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	}
	for (size_t d = 0; d < ndev; d++)
		for (unsigned i = 0; i < devs[d].nbars; i++) {
			const struct mmio_bar *b = &devs[d].bars[i];

			if (b->kind == MMIO_BAR_IO && b->index != MMIO_BAR_ROM)
				out->io_need += b->size;
			else if (is_64bit_mem(b) && (machine == MMIO_QEMU_I440FX || b->prefetch))
				s64[n64++] = b->size;
			else
				s32[n32++] = b->size;
		}
	out->low_need = pack(s32, n32);
	out->hole64_need = pack(s64, n64);
	out->largest64 = n64 ? s64[0] : 0;
	/* QEMU only promises a 1 GiB-aligned start for the 64-bit hole
	 * (pc_pci_hole64_start rounds up to 1 GiB), so a larger first BAR may
	 * lose up to its size minus 1 GiB to alignment. */
	if (out->largest64 > GiB)
		out->hole64_need += out->largest64 - GiB;
	out->hole64_default = machine == MMIO_QEMU_Q35 ? MMIO_QEMU_Q35_HOLE64_DEFAULT
						       : MMIO_QEMU_I440FX_HOLE64_DEFAULT;
	if (n64) {
		out->hole64_size = GiB;
		while (out->hole64_size < out->hole64_need)
			out->hole64_size <<= 1;
	}
	out->default_ok = out->hole64_size <= out->hole64_default;
	free(s32);
	free(s64);

	fmt_size(out->hole64_need, need, sizeof(need));
	fmt_size(out->hole64_size, set, sizeof(set));
	fmt_size(out->hole64_default, dflt, sizeof(dflt));
	fmt_size(out->low_need, low, sizeof(low));
	if (!n64)
		snprintf(out->reason, sizeof(out->reason),
			 "No 64-bit BARs to place above 4 GiB (%s): the default pci-hole64-size "
			 "will do; the devices need %s of 32-bit memory space.", mname, low);
	else if (out->default_ok)
		snprintf(out->reason, sizeof(out->reason),
			 "The 64-bit BARs need %s (with alignment slack); %s's default "
			 "pci-hole64-size of %s is enough (%s would do).  They also need %s of "
			 "32-bit memory space.", need, mname, dflt, set, low);
	else
		snprintf(out->reason, sizeof(out->reason),
			 "The 64-bit BARs need %s (with alignment slack), more than %s's default "
			 "pci-hole64-size of %s: start QEMU with -global %s.pci-hole64-size=%" PRIu64
			 "G (libvirt: <pcihole64 unit='GiB'>%" PRIu64 "</pcihole64> on the %s "
			 "controller); OVMF guests may also need a larger X-PciMmio64Mb.  They also "
			 "need %s of 32-bit memory space.",
			 need, mname, dflt, machine == MMIO_QEMU_Q35 ? "q35-pcihost" : "i440FX-pcihost",
			 out->hole64_size / GiB, out->hole64_size / GiB,
			 machine == MMIO_QEMU_Q35 ? "pcie-root" : "pci-root", low);
	return MMIO_OK;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static void size_prop(uint64_t v, char *buf, size_t len)
{
	/* QEMU's size syntax: the largest unit that divides exactly */
	if (v % GiB == 0)
		snprintf(buf, len, "%" PRIu64 "G", v / GiB);
	else if (v % MMIO_1M == 0)
		snprintf(buf, len, "%" PRIu64 "M", v / MMIO_1M);
	else
		snprintf(buf, len, "%" PRIu64 "K", v / 1024);
}

void mmio_plan_port_libvirt(const struct mmio_port_plan *pp, unsigned index, char *controller,
			    size_t clen, char *device, size_t dlen)
{
	static const char *const names[3] = { "io-reserve", "mem-reserve", "pref64-reserve" };
	const uint64_t v[3] = { pp->io_reserve, pp->mem_reserve, pp->pref64_reserve };
	size_t off;
	int n;

	if (clen)
		snprintf(controller, clen, "<controller type='pci' index='%u' model='pcie-root-port'/>",
			 index);
	if (!dlen)
		return;
	device[0] = '\0';
	if (!v[0] && !v[1] && !v[2])
		return;
	n = snprintf(device, dlen, "<qemu:device alias='pci.%u'><qemu:frontend>", index);
	off = n > 0 ? (size_t)n : 0;
	for (unsigned w = 0; w < 3 && off < dlen; w++)
		if (v[w]) {
			/* bytes: QEMU's size properties take a plain number */
			n = snprintf(device + off, dlen - off,
				     "<qemu:property name='%s' type='unsigned' value='%" PRIu64 "'/>",
				     names[w], v[w]);
			off += n > 0 ? (size_t)n : 0;
		}
	if (off < dlen)
		snprintf(device + off, dlen - off, "</qemu:frontend></qemu:device>");
}

void mmio_plan_port(const struct mmio_device *dev, struct mmio_port_plan *out)
{
	uint64_t sum[3] = { 0, 0, 0 }, big[3] = { 0, 0, 0 };
	static const char *const names[3] = { "io-reserve", "mem-reserve", "pref64-reserve" };
	uint64_t *res[3];
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	res[0] = &out->io_reserve;
	res[1] = &out->mem_reserve;
	res[2] = &out->pref64_reserve;
	for (unsigned i = 0; i < dev->nbars; i++) {
		const struct mmio_bar *b = &dev->bars[i];
		unsigned w = b->kind == MMIO_BAR_IO ? 0 :
			     (b->kind == MMIO_BAR_MEM64 && b->prefetch) ? 2 : 1;
		sum[w] += b->size;
		if (b->size > big[w])
			big[w] = b->size;
	}
	for (unsigned w = 0; w < 3; w++) {
		char v[32];
		if (!sum[w])
			continue;
		if (w == 0)
			/* x86 keeps I/O BARs off addresses with bits 8-9 set (ISA
			 * aliases): only the first 256 ports of each 1 KiB are usable,
			 * and the 4 KiB-aligned window starts on such a block */
			*res[w] = round_up((sum[w] + 255) / 256 * 1024, 4096);
		else
			*res[w] = round_up(sum[w] + big[w], MMIO_1M);
		size_prop(*res[w], v, sizeof(v));
		off += (size_t)snprintf(out->qemu_props + off,
					off < sizeof(out->qemu_props) ? sizeof(out->qemu_props) - off : 0,
					",%s=%s", names[w], v);
	}
}

/* ---- OVMF's 64-bit aperture ---------------------------------------------- */

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;
	while (p < v && p < (UINT64_C(1) << 62))
		p <<= 1;
	return p;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* AMD's HyperTransport hole, which QEMU reserves in its E820. */
#define OVMF_HT_START UINT64_C(0xfd00000000)
#define OVMF_HT_END   UINT64_C(0x10000000000)

/* Whether a window from base, window long, stays usable: below 2^phys-bits
 * (Linux cuts the rest) and, with the hole reserved, below it or past it. */
static bool ovmf_window_fits(uint64_t base, uint64_t window, uint64_t space, bool ht)
{
	if (ht && base < OVMF_HT_END && base + window > OVMF_HT_START)
		return false;
	return base + window <= space;
}

/* 2025.02's top-eighth aperture, moved below the hole it overlaps
 * (PlatformReservationConflictCB); the top eighth itself when it does not. */
static uint64_t ovmf_base_below_ht(uint64_t top, uint64_t size, bool ht)
{
	if (ht && top < OVMF_HT_END && top + size > OVMF_HT_START && OVMF_HT_START >= size)
		return (OVMF_HT_START - size) & ~(size - 1);
	return top;
}

static unsigned ovmf_phys_bits(unsigned phys_bits)
{
	return phys_bits >= 36 && phys_bits <= 52 ? phys_bits : 40;
}

enum mmio_ovmf_rule mmio_ovmf_rule_seen(uint64_t window_start, unsigned phys_bits, bool ht_reserved)
{
	const uint64_t def = UINT64_C(32) << 30, space = UINT64_C(1) << ovmf_phys_bits(phys_bits);
	const uint64_t eighth = space >> 3, top = space - eighth;
	if (eighth <= def)
		return MMIO_OVMF_RULE_UNKNOWN;
	uint64_t moved = ovmf_base_below_ht(top, eighth, ht_reserved);
	if (moved == top)
		return MMIO_OVMF_RULE_UNKNOWN;
	if (window_start >= moved && window_start < moved + eighth)
		return MMIO_OVMF_RULE_BELOW_HT;
	if (window_start >= top && window_start < space)
		return MMIO_OVMF_RULE_TOP;
	return MMIO_OVMF_RULE_UNKNOWN;
}

void mmio_plan_ovmf(uint64_t boot64, uint64_t hole64, uint64_t ram_above_4g, unsigned phys_bits,
		    bool ht_reserved, enum mmio_ovmf_rule rule, struct mmio_ovmf_plan *out)
{
	const uint64_t gib = UINT64_C(1) << 30, def = UINT64_C(32) << 30;
	char a[32], b[32], w[32];

	memset(out, 0, sizeof(*out));
	out->phys_bits = ovmf_phys_bits(phys_bits);
	const uint64_t space = UINT64_C(1) << out->phys_bits, eighth = space >> 3;
	const uint64_t first_free = align_up(MMIO_4G + ram_above_4g, gib);
	const bool ht = ht_reserved && space > OVMF_HT_START;
	out->boot64 = boot64;
	out->window = boot64 > hole64 ? boot64 : hole64;
	if (eighth > def) {
		out->aperture_size = eighth;
		out->aperture_base = space - eighth;
		uint64_t moved = ovmf_base_below_ht(out->aperture_base, eighth, ht);
		if (moved != out->aperture_base)
			out->aperture_base_below_ht = moved;
	} else {
		out->aperture_size = def;
		out->aperture_base = align_up(first_free, def);
	}
	mmio_size_format(out->aperture_size, a, sizeof(a));
	mmio_size_format(out->window, w, sizeof(w));
	if (!boot64) {
		snprintf(out->reason, sizeof(out->reason),
			 "OVMF: no 64-bit BAR or port window at boot, so the 64-bit window is QEMU's "
			 "default one and OVMF's aperture does not matter.");
		return;
	}
	/* Which OVMF the guest runs is not visible (docs/verification.md V1):
	 * unless the window read after its firmware ran tells the rule, the
	 * advice must do for both; the newer's aperture is the lower one, so
	 * it fits whenever the older's does. */
	char lim[64];
	snprintf(lim, sizeof(lim), "2^%u%s", out->phys_bits,
		 ht ? " or AMD's HyperTransport hole at 0xfd00000000" : "");
	const uint64_t moved = out->aperture_base_below_ht;
	const bool holds = boot64 <= out->aperture_size;
	const bool top_fits = holds && ovmf_window_fits(out->aperture_base, out->window, space, ht);
	const bool moved_fits = holds && moved && ovmf_window_fits(moved, out->window, space, ht);
	const bool need_top = rule != MMIO_OVMF_RULE_BELOW_HT || !moved;
	const bool need_moved = moved && rule != MMIO_OVMF_RULE_TOP;
	char gens[192] = "";
	if (moved && rule == MMIO_OVMF_RULE_UNKNOWN)
		snprintf(gens, sizeof(gens), " (OVMF 2025.02 moves it below AMD's HyperTransport "
			 "hole, to 0x%" PRIx64 "; QEMU does not show which OVMF the guest runs)", moved);
	else if (moved && rule == MMIO_OVMF_RULE_BELOW_HT)
		snprintf(gens, sizeof(gens), " (below AMD's HyperTransport hole, as OVMF 2025.02 "
			 "does: where its 64-bit window was read after the firmware ran)");
	else if (moved)
		snprintf(gens, sizeof(gens), " (the top eighth, as OVMF 2022.11 does: where its "
			 "64-bit window was read after the firmware ran)");
	const uint64_t own_base = need_top ? out->aperture_base : moved;
	if ((!need_top || top_fits) && (!need_moved || moved_fits)) {
		snprintf(out->reason, sizeof(out->reason),
			 "OVMF: its %s aperture at 0x%" PRIx64 "%s holds the %s of 64-bit ranges it "
			 "places at boot, and the guest's 64-bit window (%s from there) stays below "
			 "%s: no X-PciMmio64Mb needed.", a, own_base, gens,
			 (mmio_size_format(boot64, b, sizeof(b)), b), w, lim);
		return;
	}
	out->newer_needs_none = need_top && need_moved && moved_fits;
	/* The smallest size that takes effect (not below the top eighth) and
	 * holds the boot ranges; its base is RAM's end aligned to it, for
	 * both generations (the move below the hole is only the top
	 * eighth's). */
	uint64_t size = pow2_ceil(boot64);
	if (size < def)
		size = def;
	if (eighth > def && size < eighth)
		size = eighth;
	for (; size && size <= space; size <<= 1) {
		uint64_t base = align_up(first_free, size);
		if (ovmf_window_fits(base, out->window, space, ht)) {
			out->mmio64_mb = size >> 20;
			out->new_base = base;
			break;
		}
	}
	if (!out->mmio64_mb) {
		out->impossible = true;
		out->newer_needs_none = false;
		snprintf(out->reason, sizeof(out->reason),
			 "OVMF: no aperture leaves room for a %s 64-bit window below %s (the "
			 "guest's phys-bits): give the guest more (-cpu ...,phys-bits=N or "
			 "host-phys-bits=on) or a smaller pci-hole64-size.", w, lim);
		return;
	}
	snprintf(out->qemu_args, sizeof(out->qemu_args),
		 "-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=%" PRIu64, out->mmio64_mb);
	snprintf(out->libvirt_xml, sizeof(out->libvirt_xml),
		 "<qemu:commandline>\n"
		 "  <qemu:arg value='-fw_cfg'/>\n"
		 "  <qemu:arg value='name=opt/ovmf/X-PciMmio64Mb,string=%" PRIu64 "'/>\n"
		 "</qemu:commandline>", out->mmio64_mb);
	mmio_size_format(size, b, sizeof(b));
	char below[96] = "";
	if (eighth > def)
		snprintf(below, sizeof(below), " (smaller values than %" PRIu64 " change nothing "
			 "with %u phys-bits)", eighth >> 20, out->phys_bits);
	char newer[224] = "";
	if (out->newer_needs_none)
		snprintf(newer, sizeof(newer), " OVMF 2025.02 would not need it: its own aperture "
			 "at 0x%" PRIx64 " holds the window; OVMF 2022.11 does, and QEMU does not show "
			 "which one the guest runs, so the value is for both.", moved);
	snprintf(out->reason, sizeof(out->reason),
		 "OVMF: by itself it opens a %s aperture at 0x%" PRIx64 "%s; %s. X-PciMmio64Mb=%" PRIu64
		 " (%s) moves it to 0x%" PRIx64 " with either OVMF, where the %s window fits below "
		 "%s%s.%s",
		 a, need_top ? out->aperture_base : moved, out->newer_needs_none ? "" : gens,
		 !holds ? "the 64-bit ranges it places at boot do not fit"
		 : ht	? "the guest's 64-bit window from there would pass the phys-bits limit, "
			  "where Linux cuts it, or reach AMD's HyperTransport hole"
			: "the guest's 64-bit window from there would pass the phys-bits limit, "
			  "where Linux cuts it",
		 out->mmio64_mb, b, out->new_base, w, lim, below, newer);
}
