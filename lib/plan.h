/* SPDX-License-Identifier: MIT */
/*
 * plan.h — how to create a guest so that devices hot-plugged later fit.
 *
 * Xen: the smallest xl.cfg mmio_hole (MiB) with which, after hvmloader has
 * placed the boot devices (lib/hvmloader.h), a Linux guest can still place
 * every later device (lib/place.c, one hot-plug after another).
 *
 * QEMU/libvirt: the pci-hole64-size that makes the 64-bit BARs of the
 * needed devices fit, and how much 32-bit space they need.
 *
 * Pure: no I/O, no globals, no printing.  See docs/hvmloader-model.md.
 */
#ifndef MMIO_PLAN_H
#define MMIO_PLAN_H

#include "hvmloader.h"

/* ---- Xen ---------------------------------------------------------------- */

struct mmio_plan_params {
	const struct mmio_device *boot;   /* devices on bus 0 at boot, devfn order,
					   * emulated ones included (VGA, platform) */
	size_t nboot;
	const struct mmio_device *later;  /* hot-plugged later, in this order */
	size_t nlater;
	uint64_t max_memkb;               /* xl maxmem (or memory) in KiB */
	uint64_t video_memkb;             /* xl videoram in KiB (8192 for Cirrus) */
	bool allow_memory_relocate;       /* false for qemu-xen (what libxl writes) */
	const struct mmio_range *reserved;/* RDM/RMRR entries of the guest map */
	size_t nreserved;
	unsigned phys_bits;               /* 0 = unknown (36) */
	enum mmio_xen_rule rule;
	bool platform_bar_wb;             /* 4.21+, see struct mmio_hvm_params */
	size_t platform_dev;
};

enum mmio_plan_verdict {
	MMIO_PLAN_FITS_DEFAULT = 0,       /* fits without mmio_hole */
	MMIO_PLAN_NEEDS_HOLE,             /* set mmio_hole = hole_mb */
	MMIO_PLAN_IMPOSSIBLE,             /* no mmio_hole in 256..3840 works */
};

const char *mmio_plan_verdict_name(enum mmio_plan_verdict v); /* "fits", "needs-mmio-hole", "impossible" */

struct mmio_plan_result {
	enum mmio_plan_verdict verdict;
	unsigned hole_mb;                 /* NEEDS_HOLE: the smallest mmio_hole that works */
	/* The layout after boot for the answer (the default layout for
	 * FITS_DEFAULT and IMPOSSIBLE). */
	uint64_t low_start, low_end;      /* _CRS low window [pci_mem_start, 0xFC000000) */
	bool high_exists;                 /* hvmloader created a 64-bit window */
	uint64_t high_start, high_end;
	bool high_needed;                 /* a later BAR lands in the high window */
	uint64_t high_used;               /* bytes of later BARs placed high */
	uint64_t low_used;                /* bytes of later BARs placed low */
	/* Demand (sums of sizes). */
	uint64_t later32;                 /* later 32-bit memory BARs and ROMs */
	uint64_t later64;                 /* later 64-bit memory BARs */
	uint64_t later_io;
	uint64_t largest64;               /* largest later 64-bit BAR */
	size_t boot_pending;              /* boot BARs hvmloader left unprogrammed; Linux
					   * assigns them at boot, before any hot-plug */
	unsigned candidates;              /* hole sizes evaluated */
	char reason[1024];                /* one paragraph for a human */
};

/* MMIO_OK with a verdict (IMPOSSIBLE is a verdict, not an error);
 * MMIO_E_INVALID for malformed input; MMIO_E_NOMEM. */
enum mmio_status mmio_plan_xen(const struct mmio_plan_params *p, struct mmio_plan_result *out,
			       struct mmio_error *err);

/* Evaluates one setting: hole_mb = 0 is "no mmio_hole".  *fits tells
 * whether every later device (and every pending boot BAR) fits; res (may
 * be NULL) receives the layout; err->msg names the first BAR that failed. */
enum mmio_status mmio_plan_xen_eval(const struct mmio_plan_params *p, unsigned hole_mb, bool *fits,
				    struct mmio_plan_result *res, struct mmio_error *err);

/* ---- QEMU / libvirt ------------------------------------------------------ */

enum mmio_qemu_machine {
	MMIO_QEMU_I440FX = 0,   /* root-bus hot-plug (acpiphp); pci-hole64-size default 2 GiB */
	MMIO_QEMU_Q35,          /* hot-plug behind pcie-root-port; default 32 GiB */
};

#define MMIO_QEMU_I440FX_HOLE64_DEFAULT (UINT64_C(2) << 30)
#define MMIO_QEMU_Q35_HOLE64_DEFAULT    (UINT64_C(32) << 30)

struct mmio_qemu_plan {
	uint64_t hole64_size;      /* pci-hole64-size to set: a power of two, >= 1 GiB; 0 = no 64-bit BARs */
	uint64_t hole64_need;      /* bytes needed, including alignment slack for a 1 GiB-aligned start */
	uint64_t hole64_default;
	bool default_ok;           /* hole64_size <= hole64_default */
	uint64_t low_need;         /* 32-bit memory BARs and ROMs, packed largest first */
	uint64_t io_need;
	uint64_t largest64;
	char reason[512];
};

/* devs: every device that must fit in the 64-bit hole (cold-plugged ones
 * the firmware places there, and the hot-plugged ones).  On q35 the
 * devices sit behind root ports, whose non-prefetchable window is 32-bit
 * only, so a 64-bit non-prefetchable BAR counts as 32-bit there. */
enum mmio_status mmio_plan_qemu(enum mmio_qemu_machine machine, const struct mmio_device *devs,
				size_t ndev, struct mmio_qemu_plan *out, struct mmio_error *err);

/* ---- OVMF's 64-bit aperture ---------------------------------------------- */

/* OVMF (UEFI) places the boot devices' 64-bit BARs and q35 root ports'
 * prefetchable windows in a 64-bit aperture of its own; QEMU's _CRS 64-bit
 * window then starts at the lowest of them and is pci-hole64-size long
 * (docs/verification.md B4).  OVMF 2022.11 sizes the aperture 32 GiB, or
 * X-PciMmio64Mb, aligned above RAM; or, when larger, the top eighth of the
 * phys-bits address space at its top (0xe000000000 with 40 bits).  Linux
 * drops the part of a window at or above 2^phys-bits, so a window starting
 * that high holds at most an eighth of the address space.  An
 * X-PciMmio64Mb no larger than that eighth changes nothing.  OVMF 2025.02
 * moves that top-eighth aperture below an E820 reservation it overlaps,
 * aligned to its size: below AMD's HyperTransport hole [0xfd00000000,
 * 1 TiB), which QEMU reserves for an AMD CPU with >= 40 phys-bits on 7.1+
 * machine types (0xc000000000 with 40 bits; docs/verification.md V1).  An
 * X-PciMmio64Mb that takes effect gives both the same classic aperture. */
enum mmio_ovmf_rule {
	MMIO_OVMF_RULE_UNKNOWN,     /* either: the advice must do for both */
	MMIO_OVMF_RULE_TOP,         /* the top eighth (2022.11, or no reservation) */
	MMIO_OVMF_RULE_BELOW_HT,    /* moved below the HyperTransport hole (2025.02) */
};
struct mmio_ovmf_plan {
	unsigned phys_bits;         /* the ones assumed (40 when not told: QEMU's default) */
	uint64_t aperture_size, aperture_base;         /* what OVMF does by itself */
	uint64_t aperture_base_below_ht; /* 2025.02's base when it differs, else 0 */
	uint64_t boot64;            /* what it must place there: BARs, ports' windows */
	uint64_t window;            /* the 64-bit window the guest needs: max(boot64, hole64) */
	uint64_t mmio64_mb;         /* X-PciMmio64Mb to set; 0 = none needed */
	uint64_t new_base;          /* the aperture with it */
	bool impossible;            /* no X-PciMmio64Mb gets the window below 2^phys-bits */
	bool newer_needs_none;      /* advised for 2022.11; 2025.02's own aperture does */
	char qemu_args[96];         /* -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=N */
	char libvirt_xml[384];      /* the same as <qemu:commandline> */
	char reason[1024];
};
/* boot64: the 64-bit ranges at boot (sum); hole64: the pci-hole64-size the
 * guest runs with; ram_above_4g: bytes; phys_bits: 0 = unknown; ht_reserved:
 * QEMU may reserve the HyperTransport hole (then the guest's window also
 * stays below it); rule: which aperture rule the guest's OVMF follows, when
 * known (mmio_ovmf_rule_seen). */
void mmio_plan_ovmf(uint64_t boot64, uint64_t hole64, uint64_t ram_above_4g, unsigned phys_bits,
		    bool ht_reserved, enum mmio_ovmf_rule rule, struct mmio_ovmf_plan *out);
/* The rule a guest's OVMF followed, from where its 64-bit window starts as
 * read after the firmware ran (the lowest boot range OVMF placed): inside
 * 2025.02's moved aperture or inside the top eighth.  UNKNOWN when the two
 * coincide or the start is in neither. */
enum mmio_ovmf_rule mmio_ovmf_rule_seen(uint64_t window_start, unsigned phys_bits, bool ht_reserved);

/* ---- a hot-plug port's reservations (q35 pcie-root-port) ---------------- */

/* What `-device pcie-root-port,...,io-reserve=,mem-reserve=,pref64-reserve=`
 * must ask the firmware for so that one device hot-plugged behind the port
 * later fits (Linux's acpiphp assigns inside the port's windows and never
 * grows them).  Linux routes a 64-bit prefetchable BAR to the 64-bit
 * prefetchable window and every other memory BAR (and the ROM) to the
 * non-prefetchable one, which it tries first (lib/place.c).  SeaBIOS
 * aligns a reserved window only to 1 MiB (4 KiB for I/O), so a window
 * must hold the BARs packed largest first plus one largest BAR of slack:
 * sum + largest, rounded up to 1 MiB.  I/O: x86 skips ports with bits 8-9
 * set, so each KiB holds 256 usable ports: ceil(sum / 256) KiB, rounded up
 * to 4 KiB.  0 = no BAR of that kind. */
struct mmio_port_plan {
	uint64_t io_reserve, mem_reserve, pref64_reserve;
	char qemu_props[160];      /* ",io-reserve=4K,mem-reserve=2M,pref64-reserve=1G" (non-zero ones) */
};
void mmio_plan_port(const struct mmio_device *dev, struct mmio_port_plan *out);

/* The same port in libvirt's domain XML.  libvirt (9.0) has no element for
 * a root port's reservations: they go through <qemu:override> (libvirt
 * 8.2 and later; <domain> needs
 * xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0') on the port's
 * alias, which libvirt makes "pci.INDEX".  controller gets
 * "<controller type='pci' index='INDEX' model='pcie-root-port'/>",
 * device the <qemu:device alias='pci.INDEX'> element for <qemu:override>
 * ("" when the port needs no reservation).  Both NUL-terminated, cut
 * when too small. */
void mmio_plan_port_libvirt(const struct mmio_port_plan *pp, unsigned index, char *controller,
			    size_t clen, char *device, size_t dlen);

#endif
