/* SPDX-License-Identifier: MIT */
/*
 * hvmloader.h — a pure model of Xen hvmloader's boot-time PCI BAR placement
 * (tools/firmware/hvmloader/pci.c pci_setup(), steps 2–7 of
 * shared/ref/xen.md 1.3) and of libxl's guest RAM layout (libxl_dom.c
 * libxl__build_hvm).  See docs/hvmloader-model.md.
 *
 * Given the devices present at boot, it says where the low and high MMIO
 * windows end up, what the guest's ACPI _CRS will show, and where every boot
 * BAR was programmed (or that it got "no space for resource").  The result
 * can be turned into a struct mmio_space (mmio_hvm_space_params) so that
 * hot-plugged devices can be tested against what the boot left free.
 *
 * No I/O, no globals, no printing.
 */
#ifndef MMIO_HVMLOADER_H
#define MMIO_HVMLOADER_H

#include "mmio-model.h"

/* Constants of hvmloader and libxl (xen.md 1.1). */
#define MMIO_HVM_BELOW_4G_MMIO_START UINT64_C(0xF0000000) /* default pci_mem_start */
#define MMIO_HVM_PCI_MEM_END         UINT64_C(0xFC000000) /* RESERVED_MEMBASE */
#define MMIO_HVM_IO_START            UINT64_C(0xC000)
#define MMIO_HVM_IO_END              UINT64_C(0x10000)
#define MMIO_HVM_BAR_RELOC_THRESH    (UINT64_C(1) << 30)  /* 4.17.4+: 1 GiB */
#define MMIO_HVM_PHYS_BITS_DEFAULT   36u                  /* cpu_phys_addr() without CPUID 0x80000008 */
#define MMIO_HVM_MMIO_HOLE_MIN_MB    256u                 /* xl.cfg mmio_hole range */
#define MMIO_HVM_MMIO_HOLE_MAX_MB    3840u

/* Which hvmloader rules to apply. */
enum mmio_xen_rule {
	/* 4.17.0–4.17.3 and 4.18.0: no size threshold; every BAR counts in
	 * mmio_total. */
	MMIO_XEN_4_17_0 = 0,
	/* 4.17.4+, 4.18.1+, 4.19, 4.20: a 64-bit BAR above 1 GiB
	 * (BAR_RELOC_THRESH) always goes high and is left out of mmio_total. */
	MMIO_XEN_4_17_4_PLUS,
	/* 4.21+: as 4.17.4+, and with xen_platform_pci_bar_uc=0 the Xen
	 * platform device's 32-bit memory BAR is pinned at the top of the low
	 * window before sorting (commit 22650d6054). */
	MMIO_XEN_4_21_PLUS,
};

const char *mmio_xen_rule_name(enum mmio_xen_rule rule); /* "4.17.0", "4.17.4+", "4.21+" */

/* ---- guest RAM layout as libxl computes it ----------------------------- */

struct mmio_hvm_ram {
	uint64_t low_mem_end;     /* bytes: hvm_info low_mem_pgend << 12 */
	uint64_t high_mem_end;    /* bytes: hvm_info high_mem_pgend << 12; 0 = no RAM above 4 GiB */
	uint64_t mmio_hole_size;  /* bytes written to platform/mmio_hole_size; 0 = not written */
};

/* libxl__build_hvm (4.17): mem = max_memkb - video_memkb; the hole is
 * mmio_hole_memkb when set and 4 GiB - hole < 0xF0000000, else 256 MiB;
 * low RAM ends at min(mem, 4 GiB - hole), the rest goes above 4 GiB.
 * mmio_hole_size follows libxl_create.c (written when 4 GiB - hole <=
 * 0xF0000000).  RDM (rdm_mem_boundary) lowering is not modelled. */
enum mmio_status mmio_hvm_ram_layout(uint64_t max_memkb, uint64_t video_memkb,
				     uint64_t mmio_hole_memkb, struct mmio_hvm_ram *out,
				     struct mmio_error *err);

/* ---- the hvmloader model ------------------------------------------------ */

struct mmio_hvm_params {
	const struct mmio_device *devs; /* boot devices on bus 0, in devfn order */
	size_t ndev;
	uint64_t low_mem_end;           /* see struct mmio_hvm_ram */
	uint64_t high_mem_end;
	uint64_t mmio_hole_size;        /* bytes, platform/mmio_hole_size; 0 = unset */
	bool allow_memory_relocate;     /* hvmloader/allow-memory-relocate (libxl: 0 for qemu-xen) */
	const struct mmio_range *reserved; /* E820_RESERVED entries of the guest map (RDM/RMRR) */
	size_t nreserved;
	unsigned phys_bits;             /* guest CPUID 0x80000008 EAX[7:0]; 0 = unknown (36) */
	enum mmio_xen_rule rule;
	/* 4.21+ only: xen_platform_pci_bar_uc=0 pins the platform device's
	 * memory BAR; platform_dev is its index in devs (ignored otherwise). */
	bool platform_bar_wb;
	size_t platform_dev;
};

enum mmio_hvm_where {
	MMIO_HVM_NOSPACE = 0,   /* "no space for resource": left unprogrammed */
	MMIO_HVM_LOW,           /* [pci_mem_start, pci_mem_end) */
	MMIO_HVM_HIGH,          /* above 4 GiB */
	MMIO_HVM_IO,            /* I/O ports from 0xC000 */
	MMIO_HVM_PINNED,        /* 4.21 platform BAR at the top of the low window */
};

const char *mmio_hvm_where_name(enum mmio_hvm_where w); /* "no-space", "low", "high", "io", "pinned" */

/* One boot BAR, in hvmloader's allocation order. */
struct mmio_hvm_bar {
	uint16_t device;        /* index into params->devs */
	uint8_t bar;            /* index into that device's bars[] */
	uint8_t where;          /* enum mmio_hvm_where */
	bool is_64bar;          /* as hvmloader saw it (the ROM never is) */
	bool using_64bar;       /* hvmloader's decision for this BAR */
	uint64_t addr;          /* valid unless where == MMIO_HVM_NOSPACE */
	uint64_t size;
};

#define MMIO_HVM_NWIN 3

struct mmio_hvm_result {
	/* Step 2: scan. */
	uint64_t mmio_total;            /* after the scan (bytes; see rule) */
	bool bar64_relocate;            /* after step 3c */
	/* Step 3: low window. */
	bool hole_size_used;            /* mmio_hole_size set and accepted */
	bool hole_size_ignored;         /* mmio_hole_size set but 4 GiB - hole > 0xF0000000 */
	bool rmrr_adjusted;             /* step 3b lowered pci_mem_start to low_mem_end */
	uint32_t pci_mem_start;
	uint32_t pci_mem_end;           /* 0xFC000000, lower after 4.21 pinning */
	/* Step 4: RAM relocation. */
	uint64_t relocated_bytes;
	uint64_t low_mem_end, high_mem_end; /* after relocation */
	/* Steps 5–7. */
	unsigned phys_bits;
	uint64_t low_next;              /* final low bump pointer */
	uint64_t high_base;             /* initial high resource base */
	uint64_t high_next;             /* final high bump pointer */
	uint64_t high_max;              /* 1 << phys_bits */
	uint64_t io_next;               /* final I/O bump pointer */
	uint64_t pci_hi_mem_start, pci_hi_mem_end; /* 0, 0 when nothing went high */
	bool has_high;                  /* pci_hi_mem_end > pci_hi_mem_start: a QWordMemory in _CRS */

	/* Every boot BAR (memory and I/O, pinned ones too), allocation order. */
	size_t nbars;
	size_t nunplaced;               /* BARs with where == MMIO_HVM_NOSPACE */
	struct mmio_hvm_bar *bars;

	/* The guest's windows as its _CRS shows them: low
	 * [pci_mem_start, 0xFC000000), the high window if any, then the I/O
	 * window.  The I/O window is hvmloader's own [0xC000, 0x10000), not
	 * _CRS's 0x0D00–0xFFFF: see docs/hvmloader-model.md. */
	unsigned nwin;
	struct mmio_window windows[MMIO_HVM_NWIN];
	/* Occupied: every placed boot BAR (memory and I/O), nused_bars of
	 * them, followed by the reserved entries (nused = both). */
	size_t nused_bars;
	size_t nused;
	struct mmio_range *used;
	/* The guest's E820_RESERVED entries (copied from params). */
	size_t nreserved;
	struct mmio_range *reserved;
	/* Linux's PCIBIOS_MIN_MEM: start of the largest E820 gap below 4 GiB,
	 * i.e. of the largest piece of [low_mem_end, 0xFC000000) not covered
	 * by a reserved entry. */
	uint64_t min_mem;
};

/* Runs steps 2–7.  BARs that get "no space" are not an error (hvmloader
 * carries on): look at res->nunplaced.  Errors: MMIO_E_INVALID for
 * malformed input (size not a power of two, two BARs with one index, a
 * 32-bit BAR over 2 GiB, an I/O BAR over 64 KiB, phys_bits out of 32..52,
 * low_mem_end above 4 GiB), MMIO_E_NOMEM.  res must be freed with
 * mmio_hvm_result_free (also after an error). */
enum mmio_status mmio_hvm_run(const struct mmio_hvm_params *p, struct mmio_hvm_result *res,
			      struct mmio_error *err);
void mmio_hvm_result_free(struct mmio_hvm_result *res);

/* Fills sp (pointers into res, which must outlive it) so that
 * mmio_space_init builds the free space the guest sees after boot: the
 * windows, the placed BARs and reserved entries as used, the reserved
 * entries as E820 clips, and min_mem. */
void mmio_hvm_space_params(const struct mmio_hvm_result *res, struct mmio_space_params *sp);

#endif
