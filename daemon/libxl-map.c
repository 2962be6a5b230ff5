/* SPDX-License-Identifier: MIT */
/* libxl-map.c — pure mappings of the libxenlight back end (see libxl-map.h). */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hvmloader.h"
#include "libxl-map.h"

#define GiB4 (UINT64_C(1) << 32)
#define HVM_PCI_MEM_END UINT64_C(0xFC000000) /* RESERVED_MEMBASE */

/* libxl_defbool_val() asserts on an unset value; a retrieved configuration
 * has its defaults filled, a hand-built one may not. */
static bool defbool_or(libxl_defbool db, bool dflt)
{
	return libxl_defbool_is_default(db) ? dflt : libxl_defbool_val(db);
}

bool tsd_libxl_attachable(const libxl_domain_config *cfg, char *why, size_t whylen)
{
	switch (cfg->c_info.type) {
	case LIBXL_DOMAIN_TYPE_HVM:
		break;
	case LIBXL_DOMAIN_TYPE_PV:
		/* A PV guest reaches its devices through pcifront: no emulated
		 * bus, no MMIO windows for mmiod to check. */
		snprintf(why, whylen, "PV guest: PCI devices reach it through pcifront, "
			 "there are no MMIO windows to check; mmiod admits HVM guests only");
		return false;
	case LIBXL_DOMAIN_TYPE_PVH:
		/* xen.md 6: no hvmloader, and libxl 4.17 does not pass PCI
		 * devices through to PVH domUs. */
		snprintf(why, whylen, "PVH guest: Xen 4.17 does not pass PCI devices through "
			 "to PVH guests");
		return false;
	default:
		snprintf(why, whylen, "domain type %d unknown to libxl 4.17",
			 (int)cfg->c_info.type);
		return false;
	}
	if (cfg->b_info.device_model_version == LIBXL_DEVICE_MODEL_VERSION_UNKNOWN) {
		snprintf(why, whylen, "HVM guest without a known device model version");
		return false;
	}
	if (whylen)
		why[0] = '\0';
	return true;
}

bool tsd_libxl_passthrough(const libxl_domain_config *cfg, char *why, size_t whylen)
{
	if (whylen)
		why[0] = '\0';
#ifdef LIBXL_HAVE_CREATEINFO_PASSTHROUGH
	if (cfg->c_info.passthrough == LIBXL_PASSTHROUGH_DISABLED) {
		snprintf(why, whylen, "the domain was created with passthrough disabled (no pci= "
			 "and no passthrough= in its xl config): Xen gave it no IOMMU context and "
			 "libxl refuses every host device (\"no IOMMU?\"); create it with "
			 "passthrough=\"enabled\" or a pci= list");
		return false;
	}
#else
	(void)cfg;
#endif
	return true;
}

enum mmio_status tsd_libxl_model_input(const libxl_domain_config *cfg,
				       struct tsd_libxl_model_input *in, struct mmio_error *err)
{
	char why[160];

	memset(in, 0, sizeof(*in));
	in->type = cfg->c_info.type;
	if (!tsd_libxl_attachable(cfg, why, sizeof(why)))
		return mmio_error_set(err, MMIO_E_UNSUPPORTED, "%s", why);

	const libxl_domain_build_info *b = &cfg->b_info;
	/* A configuration read back (libxl_retrieve_domain_configuration)
	 * has LIBXL_MEMKB_DEFAULT where the stored JSON leaves a field out,
	 * as it does mmio_hole for every domain created without mmio_hole=
	 * (seen on Xen 4.17): no hole asked for. */
	uint64_t hole_kb = b->u.hvm.mmio_hole_memkb == LIBXL_MEMKB_DEFAULT ? 0 :
			   b->u.hvm.mmio_hole_memkb;
	if (b->max_memkb == LIBXL_MEMKB_DEFAULT || b->video_memkb == LIBXL_MEMKB_DEFAULT)
		return mmio_error_set(err, MMIO_E_INVALID, "the domain's configuration gives no "
				      "maxmem or video memory");
	in->max_mem = b->max_memkb * 1024;
	in->video_mem = b->video_memkb * 1024;
	in->mmio_hole = hole_kb * 1024;
	in->dm_version = b->device_model_version;
	in->stubdomain = defbool_or(b->device_model_stubdomain, false);
	in->bios = b->u.hvm.bios;
	in->vga = b->u.hvm.vga.kind;
	in->xen_platform_pci = defbool_or(b->u.hvm.xen_platform_pci, true);
	in->nrdms = cfg->num_rdms > 0 ? (unsigned)cfg->num_rdms : 0;
	/* libxl__build_hvm and libxl_create.c, as the hvmloader model has them. */
	struct mmio_hvm_ram ram;
	enum mmio_status st = mmio_hvm_ram_layout(b->max_memkb, b->video_memkb, hole_kb, &ram, err);
	if (st != MMIO_OK)
		return st;
	in->lowmem_end = ram.low_mem_end;
	in->highmem_end = ram.high_mem_end;
	in->hole_size_written = ram.mmio_hole_size != 0;
	if (in->hole_size_written)
		in->mmio_hole = ram.mmio_hole_size;

	/* xen.md 1.2: qemu-xen cannot cope with RAM relocation, so libxl
	 * (4.17.4+ also for stubdomains) writes 0; qemu-traditional in dom0
	 * gets 1 unless vNUMA; a traditional stubdomain gets nothing, and
	 * hvmloader defaults to 1. */
	if (in->dm_version == LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN)
		in->allow_memory_relocate = false;
	else if (in->stubdomain)
		in->allow_memory_relocate = true;
	else
		in->allow_memory_relocate = b->num_vnuma_nodes == 0;

	for (int i = 0; i < cfg->num_nics; i++)
		if (cfg->nics[i].nictype == LIBXL_NIC_TYPE_VIF_IOEMU)
			in->nemulated_nics++;
	for (int i = 0; i < cfg->num_pcidevs; i++) {
		if (in->npci == TSD_LIBXL_MAX_PCI)
			return mmio_error_set(err, MMIO_E_UNSUPPORTED,
					      "more than %d PCI devices assigned",
					      TSD_LIBXL_MAX_PCI);
		const libxl_device_pci *p = &cfg->pcidevs[i];
		in->pci[in->npci++] = (struct mmio_bdf){
			.domain = (uint16_t)p->domain, .bus = p->bus, .dev = p->dev, .fn = p->func,
		};
	}
	return MMIO_OK;
}

/* ---- info pci ------------------------------------------------------------ */

struct info_dev {
	char slot[16];
	size_t first;           /* index of its first BAR in the output */
};

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static int grow(struct tsd_live_bar **bars, size_t n, size_t *cap)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	struct tsd_live_bar *nb = realloc(*bars, ncap * sizeof(*nb));
	if (!nb)
		return -1;
	*bars = nb;
	*cap = ncap;
	return 0;
}

/* One "BARn: ..." line (after the indentation).  QEMU's
 * hmp_info_pci_device:
 *   "BAR%d: I/O at 0x%04x [0x%04x]."
 *   "BAR%d: %d bit%s memory at 0x%08x [0x%08x]."  (%s = " prefetchable")
 * The bracket holds the last address, addr + size - 1, computed with
 * wrap-around, so an unassigned BAR (addr all-ones) shows size - 2. */
static int parse_bar_line(const char *s, struct tsd_live_bar *out)
{
	unsigned idx;
	int n = 0;
	unsigned long long addr, last;

	if (sscanf(s, "BAR%u: %n", &idx, &n) != 1 || n == 0 || idx > MMIO_BAR_ROM)
		return -1;
	s += n;
	memset(out, 0, sizeof(*out));
	out->bar.index = (uint8_t)idx;
	if (strncmp(s, "I/O at ", 7) == 0) {
		out->bar.kind = MMIO_BAR_IO;
		s += 7;
	} else {
		unsigned bits;
		/* %n is only stored when " bit" matched: n must not keep the
		 * length of the "BARn: " scan above (a line cut after the
		 * number made s run past the end: found by fuzz-info-pci) */
		n = 0;
		if (sscanf(s, "%u bit%n", &bits, &n) != 1 || n == 0 || (bits != 32 && bits != 64))
			return -1;
		s += n;
		if (strncmp(s, " prefetchable", 13) == 0) {
			out->bar.prefetch = true;
			s += 13;
		}
		if (strncmp(s, " memory at ", 11) != 0)
			return -1;
		s += 11;
		out->bar.kind = bits == 64 ? MMIO_BAR_MEM64 : MMIO_BAR_MEM32;
	}
	if (sscanf(s, "0x%llx [0x%llx]", &addr, &last) != 2)
		return -1;
	out->bar.size = (uint64_t)last - (uint64_t)addr + 1;
	if (!mmio_is_pow2(out->bar.size))
		return -1;
	if (idx == MMIO_BAR_ROM) {
		/* mmio-model.h: the ROM is MEM32 and prefetchable, as Linux
		 * flags it. */
		out->bar.kind = MMIO_BAR_MEM32;
		out->bar.prefetch = true;
	}
	out->addr = (uint64_t)addr == UINT64_MAX ? TSD_ADDR_UNASSIGNED : (uint64_t)addr;
	/* A BAR's low address bits are hard-wired to zero, so an unaligned
	 * address is not something QEMU can print: the text is damaged. */
	if (out->addr != TSD_ADDR_UNASSIGNED && (out->addr & (out->bar.size - 1)))
		return -1;
	out->source = TSD_SRC_TOOLSTACK;
	return 0;
}

enum mmio_status tsd_libxl_parse_info_pci(const char *text, struct tsd_live_bar **bars,
					  size_t *nbars, struct mmio_error *err)
{
	_cleanup_free_ struct tsd_live_bar *out = NULL;
	size_t n = 0, cap = 0;
	struct info_dev dev = { "", 0 };
	bool in_dev = false;
	unsigned lineno = 0;

	assert(text && bars && nbars);
	*bars = NULL;
	*nbars = 0;
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[256];

		lineno++;
		if (len && p[len - 1] == '\r')
			len--;
		if (len >= sizeof(line))
			len = sizeof(line) - 1; /* no line we read is this long */
		memcpy(line, p, len);
		line[len] = '\0';
		p = eol ? eol + 1 : p + strlen(p);

		const char *s = skip_ws(line);
		unsigned bus, devno, fn;
		if (sscanf(s, "Bus %u, device %u, function %u:", &bus, &devno, &fn) == 3) {
			if (bus > 255 || devno > 31 || fn > 7)
				return mmio_error_set(err, MMIO_E_INVALID,
						      "info pci line %u: bad address \"%s\"",
						      lineno, s);
			/* A device whose id line was missing keeps its slot
			 * as its name (already set when its BARs were read). */
			snprintf(dev.slot, sizeof(dev.slot), "%02x:%02x.%x", bus, devno, fn);
			dev.first = n;
			in_dev = true;
		} else if (strncmp(s, "BAR", 3) == 0 && isdigit((unsigned char)s[3])) {
			if (!in_dev)
				return mmio_error_set(err, MMIO_E_INVALID,
						      "info pci line %u: BAR outside a device", lineno);
			if (grow(&out, n, &cap) < 0)
				return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
			if (parse_bar_line(s, &out[n]) < 0)
				return mmio_error_set(err, MMIO_E_INVALID,
						      "info pci line %u: cannot read \"%s\"", lineno, s);
			snprintf(out[n].guest_slot, sizeof(out[n].guest_slot), "%s", dev.slot);
			snprintf(out[n].device, sizeof(out[n].device), "%s", dev.slot);
			n++;
		} else if (in_dev && strncmp(s, "id \"", 4) == 0) {
			/* `id "qdev-id"` closes a device in QEMU's output. */
			const char *q = s + 4, *end = strrchr(q, '"');
			if (end && end > q) {
				char id[64];
				size_t l = (size_t)(end - q);
				if (l >= sizeof(id))
					l = sizeof(id) - 1;
				memcpy(id, q, l);
				id[l] = '\0';
				for (size_t i = dev.first; i < n; i++)
					snprintf(out[i].device, sizeof(out[i].device), "%s", id);
			}
		}
		/* Everything else (class, subsystem, IRQ, bridge ranges) is
		 * not occupancy of a root-bus window by itself: bridges'
		 * devices are listed with their own BARs. */
	}
	*bars = TAKE_PTR(out);
	*nbars = n;
	return MMIO_OK;
}

/* ---- windows ------------------------------------------------------------- */

#define X86_PHYS_LIMIT (UINT64_C(1) << 52)

/* The guest's I/O window: hvmloader's DSDT (Xen 4.17 libacpi) offers
 * 0x0000-0x0CF7 and 0x0D00-0xFFFF, as QEMU's own does. */
#define HVM_IO_START 0x0D00u
#define HVM_IO_END   0x10000u

/* The ports a Linux HVM guest of Xen 4.17 with qemu-xen 7.2 has claimed
 * above 0x0D00 (its /proc/ioports, tests/xen): two ranges of one device
 * of hvmloader's DSDT ("pnp 00:07"), the GPE0 block, and the PIIX4 ACPI
 * and SMBus blocks the PIIX4 quirks claim at the bases hvmloader
 * programmed.  Linux places no BAR over them.  In address order. */
static const struct {
	uint32_t start, end;
} hvm_fixed_ports[] = {
	{ 0xAE00, 0xAE10 },     /* pnp 00:07 */
	{ 0xAFE0, 0xAFE4 },     /* ACPI GPE0_BLK */
	{ 0xB000, 0xB040 },     /* PIIX4 ACPI: PM1a_EVT_BLK, PM1a_CNT_BLK, PM_TMR */
	{ 0xB044, 0xB048 },     /* pnp 00:07 */
	{ 0xB100, 0xB110 },     /* PIIX4 SMBus */
};

static uint64_t bar_end(const struct tsd_live_bar *b)
{
	return b->addr + b->bar.size;
}

static bool is_mem(const struct tsd_live_bar *b)
{
	return b->bar.kind != MMIO_BAR_IO;
}

/* Replays hvmloader on the bus-0 devices QEMU shows (all of them, as if
 * present at boot) and returns its pci_mem_start, or 0 when the model
 * cannot run.  Devices hot-attached since boot make the replay differ from
 * what hvmloader really did, so this is only a cross-check. */
static uint64_t model_low_start(const struct tsd_libxl_model_input *in,
				const struct tsd_live_bar *bars, size_t nbars)
{
	struct mmio_device *devs = calloc(nbars ? nbars : 1, sizeof(*devs));
	size_t ndev = 0;
	uint64_t start = 0;

	if (!devs)
		return 0;
	for (size_t i = 0; i < nbars; i++) {
		if (strncmp(bars[i].guest_slot, "00:", 3) != 0)
			continue; /* hvmloader scans bus 0 only */
		if (!ndev || strcmp(devs[ndev - 1].name, bars[i].guest_slot) != 0) {
			snprintf(devs[ndev].name, sizeof(devs[ndev].name), "%s", bars[i].guest_slot);
			ndev++;
		}
		struct mmio_device *d = &devs[ndev - 1];
		if (d->nbars < MMIO_MAX_BARS)
			d->bars[d->nbars++] = bars[i].bar;
	}
	struct mmio_hvm_params p = {
		.devs = devs, .ndev = ndev,
		.low_mem_end = in->lowmem_end, .high_mem_end = in->highmem_end,
		.mmio_hole_size = in->hole_size_written ? in->mmio_hole : 0,
		.allow_memory_relocate = in->allow_memory_relocate,
		/* Debian's 4.17.7 carries the BAR_RELOC_THRESH backport (xen.md 1.5). */
		.rule = MMIO_XEN_4_17_4_PLUS,
	};
	struct mmio_hvm_result res;
	struct mmio_error e;
	memset(&res, 0, sizeof(res));
	if (mmio_hvm_run(&p, &res, &e) == MMIO_OK)
		start = res.pci_mem_start;
	mmio_hvm_result_free(&res);
	free(devs);
	return start;
}

static bool io_used(const struct tsd_layout *l, uint64_t start, uint64_t size)
{
	for (size_t i = 0; i < l->nbars; i++) {
		const struct tsd_live_bar *b = &l->bars[i];
		if (b->bar.kind == MMIO_BAR_IO && b->addr != TSD_ADDR_UNASSIGNED &&
		    b->addr < start + size && start < b->addr + b->bar.size)
			return true;
	}
	return false;
}

/* The PIIX3 IDE function's BAR4 (bus master): hvmloader places it, then the
 * guest's unplug of the emulated disks through the Xen platform device
 * resets the controller (qemu-xen), so qemu-xen shows it unassigned while
 * Linux assigned it again at boot, first fit from PCIBIOS_MIN_IO in the I/O
 * windows (0x1000 in every guest tests/xen made).  It is a boot BAR no
 * hot-plug ever moves: placed here as Linux placed it, source inferred. */
static void infer_ide_bar4(struct tsd_layout *l)
{
	for (size_t i = 0; i < l->nbars; i++) {
		struct tsd_live_bar *b = &l->bars[i];
		if (strcmp(b->guest_slot, "00:01.1") != 0 || b->bar.index != 4 ||
		    b->bar.kind != MMIO_BAR_IO || b->addr != TSD_ADDR_UNASSIGNED || !b->bar.size)
			continue;
		for (unsigned w = 0; w < l->nwin; w++) {
			const struct mmio_window *win = &l->win[w];
			if (win->kind != MMIO_WIN_IO)
				continue;
			uint64_t at = win->start < MMIO_X86_MIN_IO ? MMIO_X86_MIN_IO : win->start;
			at = (at + b->bar.size - 1) & ~(b->bar.size - 1);
			for (; at + b->bar.size <= win->end; at += b->bar.size) {
				if (!io_used(l, at, b->bar.size)) {
					b->addr = at;
					b->source = TSD_SRC_INFERRED;
					return;
				}
			}
		}
	}
}

enum mmio_status tsd_libxl_layout(const struct tsd_libxl_model_input *in,
				  const struct tsd_live_bar *bars, size_t nbars,
				  struct tsd_layout *out, char *note, size_t notelen,
				  struct mmio_error *err)
{
	static const uint64_t starts[] = {
		UINT64_C(0xF0000000), UINT64_C(0xE0000000), UINT64_C(0xC0000000),
		UINT64_C(0x80000000),
	};
	uint64_t low_min = UINT64_MAX, hi_min = UINT64_MAX, hi_end = 0;

	memset(out, 0, sizeof(*out));
	out->free_slots = -1;
	if (notelen)
		note[0] = '\0';
	if (in->type != LIBXL_DOMAIN_TYPE_HVM)
		return mmio_error_set(err, MMIO_E_UNSUPPORTED, "not an HVM guest");

	for (size_t i = 0; i < nbars; i++) {
		const struct tsd_live_bar *b = &bars[i];
		if (!is_mem(b) || b->addr == TSD_ADDR_UNASSIGNED)
			continue;
		/* A guest may program a 64-bit BAR anywhere, even where it wraps
		 * or lies past any CPU's physical address width (52 bits on
		 * x86): such a BAR decodes nothing and says nothing about the
		 * windows hvmloader made. */
		if (bar_end(b) < b->addr || bar_end(b) > X86_PHYS_LIMIT)
			continue;
		if (b->addr >= GiB4) {
			if (b->addr < hi_min)
				hi_min = b->addr;
			if (bar_end(b) > hi_end)
				hi_end = bar_end(b);
		} else if (b->addr >= starts[3] && b->addr < HVM_PCI_MEM_END && b->addr < low_min) {
			/* Below 0x80000000 nothing of hvmloader's lives; above
			 * 0xFC000000 only the fixed devices (IOAPIC, ...). */
			low_min = b->addr;
		}
	}

	uint64_t lo;
	if (in->hole_size_written) {
		lo = GiB4 - in->mmio_hole;
		if (low_min < lo && notelen)
			snprintf(note, notelen, "a live BAR at 0x%" PRIx64 " lies below the "
				 "configured hole start 0x%" PRIx64, low_min, lo);
	} else {
		/* The doubling loop: reachable starts are those at or above
		 * low RAM's end when relocation is off. */
		uint64_t reach = starts[0];
		for (size_t i = 1; i < sizeof(starts) / sizeof(starts[0]); i++)
			if (in->allow_memory_relocate || starts[i] >= in->lowmem_end)
				reach = starts[i];
		/* The largest start at or below the lowest live BAR. */
		lo = starts[0];
		for (size_t i = 0; low_min != UINT64_MAX && i < sizeof(starts) / sizeof(starts[0]); i++) {
			lo = starts[i];
			if (starts[i] <= low_min)
				break;
		}
		if (lo < reach && notelen)
			/* The guest moved a BAR below what hvmloader could
			 * have chosen (pci=realloc, RMRR adjustment): trust
			 * the live view, and say so. */
			snprintf(note, notelen, "live BARs start at 0x%" PRIx64 ", below the "
				 "lowest hole start hvmloader could reach (0x%" PRIx64 ")",
				 low_min, reach);
	}
	uint64_t model = model_low_start(in, bars, nbars);
	if (low_min == UINT64_MAX && !in->hole_size_written && model) {
		/* Nothing placed yet (the guest has not run hvmloader, or QEMU
		 * did not answer): the model is all there is. */
		lo = model;
	} else if (model && model != lo && notelen && !note[0]) {
		snprintf(note, notelen, "hvmloader model gives a low window from 0x%" PRIx64
			 ", the live BARs say 0x%" PRIx64 " (devices attached since boot?)",
			 model, lo);
	}
	out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = lo,
						    .end = HVM_PCI_MEM_END };
	out->win_source[out->nwin++] = TSD_SRC_MODEL;
	if (hi_min != UINT64_MAX) {
		/* Step 7: pci_hi_mem_end = ((high.base - 1) | (lowbit(start) - 1)) + 1 */
		uint64_t lowbit = hi_min & (~hi_min + 1);
		uint64_t end = ((hi_end - 1) | (lowbit - 1)) + 1;
		out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_HIGH,
							    .flags = MMIO_WF_MEM64,
							    .start = hi_min, .end = end };
		out->win_source[out->nwin++] = TSD_SRC_MODEL;
	}
	/* I/O: the _CRS window hvmloader's DSDT gives, minus the ports the
	 * guest sees claimed there, as separate windows (a BAR never
	 * straddles them).  Linux places hot-plugged I/O BARs from 0x1000 up
	 * (PCIBIOS_MIN_IO, applied by the model), not in hvmloader's
	 * [0xC000, 0x10000) of the boot BARs. */
	uint64_t at = HVM_IO_START;
	for (size_t i = 0; i < sizeof(hvm_fixed_ports) / sizeof(hvm_fixed_ports[0]); i++) {
		out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = at,
							    .end = hvm_fixed_ports[i].start };
		out->win_source[out->nwin++] = TSD_SRC_MODEL;
		at = hvm_fixed_ports[i].end;
	}
	out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = at,
						    .end = HVM_IO_END };
	out->win_source[out->nwin++] = TSD_SRC_MODEL;
	/* The E820 gap below 4 GiB runs from the end of low RAM to
	 * 0xFC000000 (no relocation under qemu-xen). */
	out->min_mem = in->allow_memory_relocate ? lo : in->lowmem_end;

	if (nbars) {
		out->bars = malloc(nbars * sizeof(*out->bars));
		if (!out->bars)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		memcpy(out->bars, bars, nbars * sizeof(*out->bars));
		out->nbars = nbars;
		infer_ide_bar4(out);
	}
	return MMIO_OK;
}

bool tsd_libxl_firmware_done(const struct tsd_live_bar *bars, size_t nbars)
{
	bool any = false;
	for (size_t i = 0; i < nbars; i++) {
		if (!is_mem(&bars[i]) || bars[i].bar.index == MMIO_BAR_ROM)
			continue;
		if (bars[i].addr != TSD_ADDR_UNASSIGNED)
			return true;
		any = true;
	}
	return !any;
}

size_t tsd_libxl_unassigned(const struct tsd_live_bar *bars, size_t nbars, const char *device,
			    char *msg, size_t msglen)
{
	size_t count = 0, used = 0;

	if (msglen)
		msg[0] = '\0';
	for (size_t i = 0; i < nbars; i++) {
		const struct tsd_live_bar *b = &bars[i];
		if (strcmp(b->device, device) != 0 || b->addr != TSD_ADDR_UNASSIGNED ||
		    b->bar.index == MMIO_BAR_ROM)
			continue;
		char size[32];
		mmio_size_format(b->bar.size, size, sizeof(size));
		if (used < msglen) {
			int w = snprintf(msg + used, msglen - used, "%sBAR%u (%s, %s)",
					 count ? ", " : "", b->bar.index,
					 mmio_bar_kind_name(&b->bar), size);
			if (w > 0)
				used += (size_t)w;
		}
		count++;
	}
	return count;
}

size_t tsd_libxl_bar_count(const struct tsd_live_bar *bars, size_t nbars, const char *device)
{
	size_t count = 0;

	for (size_t i = 0; i < nbars; i++)
		if (strcmp(bars[i].device, device) == 0 && bars[i].bar.index != MMIO_BAR_ROM)
			count++;
	return count;
}

void tsd_libxl_pt_id(const struct mmio_bdf *bdf, char *buf, size_t len)
{
	snprintf(buf, len, "pci-pt-%02x_%02x.%01x", bdf->bus, bdf->dev, bdf->fn);
}

int tsd_libxl_free_slot(const char *text)
{
	uint32_t used = 0;

	for (const char *s = text; s && *s; ) {
		unsigned bus, devno, fn;
		while (*s == ' ' || *s == '\t')
			s++;
		if (sscanf(s, "Bus %u, device %u, function %u:", &bus, &devno, &fn) == 3 && bus == 0 &&
		    devno < 32)
			used |= UINT32_C(1) << devno;
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	for (int slot = 3; slot < 32; slot++)
		if (!(used & (UINT32_C(1) << slot)))
			return slot;
	return -1;
}

bool tsd_libxl_whole_slot(const struct mmio_device *dev, struct mmio_bdf *slot, char *why, size_t len)
{
	for (unsigned i = 0; i < dev->nfn && i < MMIO_MAX_FUNCTIONS; i++) {
		const struct mmio_function *f = &dev->fns[i];
		if (!f->has_bdf || f->bdf.fn != f->fn ||
		    (i && (f->bdf.domain != dev->fns[0].bdf.domain || f->bdf.bus != dev->fns[0].bdf.bus ||
			   f->bdf.dev != dev->fns[0].bdf.dev))) {
			snprintf(why, len, "libxl hot-plugs a multi-function slot only as a whole host slot "
				 "(xl pci-attach BDF.*): every function a host function of one slot, at its "
				 "own function number; function %u of %.100s is not", f->fn, dev->name);
			return false;
		}
	}
	*slot = dev->fns[0].bdf;
	slot->fn = 0;
	return true;
}

/* ---- error codes ----------------------------------------------------------- */

enum tsd_rc tsd_libxl_rc(int rc)
{
	switch (rc) {
	case 0:
		return TSD_OK;
	case ERROR_DOMAIN_NOTFOUND:
	case ERROR_DOMAIN_DESTROYED:
		return TSD_E_NOGUEST;
	case ERROR_NI:
	case ERROR_FEATURE_REMOVED:
	case ERROR_QMP_COMMAND_NOT_FOUND:
		return TSD_E_NOTSUPPORTED;
	case ERROR_TIMEDOUT:
	case ERROR_GUEST_TIMEDOUT:
		return TSD_E_TIMEOUT;
	default:
		return TSD_E_FAILED;
	}
}

const char *tsd_libxl_rc_name(int rc)
{
	if (rc == 0)
		return "OK";
	const char *s = libxl_error_to_string((libxl_error)rc);
	return s ? s : "unknown libxl error";
}
