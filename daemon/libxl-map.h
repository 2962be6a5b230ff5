/* SPDX-License-Identifier: MIT */
/*
 * libxl-map.h — the pure half of the libxenlight back end: everything that
 * turns what libxl says into what mmiod needs, with no libxl_ctx, no I/O and
 * no event loop, so that `make check` can test it on a machine without Xen.
 *
 *  - a domain's configuration (libxl_domain_config) -> attachability and the
 *    inputs of the hvmloader model (RAM layout, device model, boot devices);
 *  - QEMU's `info pci` text (HMP, through libxl_qemu_monitor_command) -> the
 *    live BARs;
 *  - the live BARs + model inputs -> the guest's windows, by hvmloader's rules;
 *  - libxl error codes -> enum tsd_rc.
 *
 * Every translation unit that includes libxl.h must agree on the API
 * version, so it is fixed here: 0x041300 gives the 4-argument (asynchronous)
 * forms of libxl_retrieve_domain_configuration and
 * libxl_qemu_monitor_command, which exist since Xen 4.13.
 */
#ifndef MMIOD_LIBXL_MAP_H
#define MMIOD_LIBXL_MAP_H

#ifndef LIBXL_API_VERSION
#define LIBXL_API_VERSION 0x041300
#endif
#include <libxl.h>

#include "toolstack.h"

/* What the hvmloader model needs from a domain's configuration
 * (shared/ref/xen.md 1.2 and 2.2).  Sizes in bytes. */
#define TSD_LIBXL_MAX_PCI 32

struct tsd_libxl_model_input {
	libxl_domain_type type;
	uint64_t max_mem;               /* b_info.max_memkb */
	uint64_t video_mem;             /* b_info.video_memkb */
	uint64_t mmio_hole;             /* b_info.u.hvm.mmio_hole_memkb; 0 = default */
	/* libxl__build_hvm (4.17), computed by mmio_hvm_ram_layout
	 * (lib/hvmloader.h).  RDM lowering is not modelled. */
	uint64_t lowmem_end;
	uint64_t highmem_end;           /* 0 = no RAM above 4 GiB */
	bool hole_size_written;         /* platform/mmio_hole_size present */
	libxl_device_model_version dm_version;
	bool stubdomain;
	/* hvmloader/allow-memory-relocate as libxl 4.17.4+ leaves it: 0 for
	 * qemu-xen (dom0 or stubdomain), 1 for qemu-traditional without vNUMA. */
	bool allow_memory_relocate;
	libxl_bios_type bios;
	libxl_vga_interface_type vga;
	bool xen_platform_pci;
	unsigned nemulated_nics;        /* nictype VIF_IOEMU: an emulated NIC on bus 0 */
	unsigned nrdms;
	unsigned npci;                  /* passthrough devices assigned at boot (or since) */
	struct mmio_bdf pci[TSD_LIBXL_MAX_PCI];
};

/* Can mmiod admit hot-attaches to this domain?  Fills why (one sentence)
 * when not: PV and PVH guests, HVM guests without a device model. */
bool tsd_libxl_attachable(const libxl_domain_config *cfg, char *why, size_t whylen);

/* Can host devices be passed through to this domain?  Fills why (the
 * cause and the fix) when not: a domain created without pci= and without
 * passthrough= has c_info.passthrough "disabled" (libxl decides at create),
 * Xen gave it no IOMMU context and libxl refuses every PCI device ("cannot
 * be assigned - no IOMMU?"; seen on Xen 4.17, verification.md section 9).
 * "default" (a hand-built configuration) is taken as possible. */
bool tsd_libxl_passthrough(const libxl_domain_config *cfg, char *why, size_t whylen);

/* Fills in from the configuration.  MMIO_E_UNSUPPORTED for a non-HVM
 * domain (with the reason of tsd_libxl_attachable). */
enum mmio_status tsd_libxl_model_input(const libxl_domain_config *cfg,
				       struct tsd_libxl_model_input *in, struct mmio_error *err);

/* Parses QEMU's HMP `info pci` (QEMU 2.x .. 9.x wording, "\r\n" or "\n").
 * Every BAR of every function becomes one tsd_live_bar: device = the qdev
 * id ("pci-pt-03_00.0" for a passthrough device) or, when empty, the guest
 * slot; addr = TSD_ADDR_UNASSIGNED when QEMU prints all-ones; source =
 * TSD_SRC_TOOLSTACK.  *bars is malloc'd (NULL when there are none). */
enum mmio_status tsd_libxl_parse_info_pci(const char *text, struct tsd_live_bar **bars,
					  size_t *nbars, struct mmio_error *err);

/* Builds a layout: windows by hvmloader's rules from in and the live BARs,
 * and a copy of the BARs.  The low window starts at 4 GiB - mmio_hole when
 * that was written, otherwise at the largest start hvmloader's doubling loop
 * can reach (0xF0000000, 0xE0000000, 0xC0000000, 0x80000000) that lies at
 * or below the lowest live BAR under 4 GiB: hvmloader places its largest
 * boot BAR at pci_mem_start itself.  The high window, if any live BAR lies
 * above 4 GiB, runs from the lowest such BAR to the highest BAR's end
 * rounded up to the alignment of its start (step 7).  The I/O windows are
 * the guest's: [0x0D00, 0x10000) (hvmloader's DSDT) minus the ports the
 * guest has claimed there.  note gets a sentence when the live view
 * contradicts the configuration (written "" otherwise). */
enum mmio_status tsd_libxl_layout(const struct tsd_libxl_model_input *in,
				  const struct tsd_live_bar *bars, size_t nbars,
				  struct tsd_layout *out, char *note, size_t notelen,
				  struct mmio_error *err);

/* Whether hvmloader has run: false while the guest's devices have memory
 * BARs and QEMU shows none of them placed (a domain read during xl
 * create, before it was unpaused or while hvmloader runs), true otherwise. */
bool tsd_libxl_firmware_done(const struct tsd_live_bar *bars, size_t nbars);

/* Every BAR of the device with the given id that the guest left unassigned,
 * ROMs excepted (QEMU shows a ROM unassigned whenever its enable bit is
 * clear, which is how guests normally leave it).  Returns how many; names
 * them in msg ("BAR2 (mem64p, 64 MiB)"). */
size_t tsd_libxl_unassigned(const struct tsd_live_bar *bars, size_t nbars, const char *device,
			    char *msg, size_t msglen);

/* How many BARs, ROMs excepted, the device with the given id has.  When the
 * guest left all of them unassigned in qemu-xen's view it has most likely
 * not enabled the device yet (qemu-xen shows a BAR only while its decode is
 * enabled, and Linux enables a device when a driver takes it), not failed
 * to place it: on a real Xen guest, pci-testdev passed through from dom0 sat
 * placed in the guest and unassigned in info pci. */
size_t tsd_libxl_bar_count(const struct tsd_live_bar *bars, size_t nbars, const char *device);

/* The qdev id libxl gives a passthrough device: "pci-pt-03_00.0"
 * (libxl_pci.c pci_add_qmp_device_add).  buf >= 16 bytes. */
void tsd_libxl_pt_id(const struct mmio_bdf *bdf, char *buf, size_t len);

/* A guest slot for a multi-function hot-plug, which libxl places only at a
 * slot it is given ("Must specify a v-slot for multi-function devices"):
 * the lowest slot from 3 to 31 of bus 0 where `info pci` lists no function
 * (0-2 are the host bridge, PIIX3 and qemu-xen's graphics slot); -1 if none. */
int tsd_libxl_free_slot(const char *info_pci);

/* Whether dev (a multi-function slot) can go in as xl pci-attach BDF.*
 * does: every function a host function of one host slot, each at its own
 * function number.  Otherwise why says what libxl cannot do, false. *slot
 * gets the host slot (function 0). */
bool tsd_libxl_whole_slot(const struct mmio_device *dev, struct mmio_bdf *slot, char *why, size_t len);

/* libxl error code -> tsd_rc, and its name ("DOMAIN_NOTFOUND"). */
enum tsd_rc tsd_libxl_rc(int libxl_rc);
const char *tsd_libxl_rc_name(int libxl_rc);

#endif
