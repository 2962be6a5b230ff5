/* SPDX-License-Identifier: MIT */
/*
 * libvirt-map.h — the pure half of the libvirt back end: domain XML -> the
 * few facts mmiod needs, QEMU's defaults -> model windows, query-pci JSON ->
 * live BARs, libvirt error numbers -> enum tsd_rc.  No connection, no I/O.
 *
 * Why not libxml2: libvirt's pkg-config file does not pull it in, and the
 * daemon takes no new dependency for six elements.  libvirt writes domain
 * XML itself (virDomainGetXMLDesc), in a stable, canonical form: elements
 * are found by exact tag match, attributes with either quote.  The reader
 * refuses what it does not understand rather than guess.
 */
#ifndef MMIOD_LIBVIRT_MAP_H
#define MMIOD_LIBVIRT_MAP_H

#include "toolstack.h"

#define TSD_LIBVIRT_MAX_HOSTDEV 32

enum tsd_libvirt_chipset {
	TSD_LIBVIRT_CHIPSET_OTHER = 0,  /* not x86 pc/q35: no model */
	TSD_LIBVIRT_CHIPSET_I440FX,
	TSD_LIBVIRT_CHIPSET_Q35,
};

struct tsd_libvirt_domain {
	char type[16];                  /* <domain type=...>: kvm, qemu, xen, test */
	char os_type[8];                /* hvm, xen (PV), linux (PV), exe */
	char machine[64];               /* <type machine=...> */
	enum tsd_libvirt_chipset chipset;
	uint64_t memory;                /* bytes, <memory> (maximum) */
	uint64_t pcihole64;             /* bytes, <pcihole64>; 0 = absent */
	bool has_pcihole64;
	unsigned nhostdev;
	struct mmio_bdf hostdev[TSD_LIBVIRT_MAX_HOSTDEV]; /* PCI hostdevs, in order */
};

/* Reads the domain XML.  MMIO_E_INVALID names what is missing or bad. */
enum mmio_status tsd_libvirt_parse_domain(const char *xml, struct tsd_libvirt_domain *d,
					  struct mmio_error *err);

/* Can mmiod admit hot-attaches to this (running) domain?  why gets one
 * sentence when not: Xen PV guests, non-x86 machines. */
bool tsd_libvirt_attachable(const struct tsd_libvirt_domain *d, char *why, size_t whylen);

/* QEMU's defaults for the domain's machine (hw/i386/pc_piix.c, pc_q35.c,
 * pc.c as of QEMU 7.2), win_source = TSD_SRC_MODEL:
 *  - RAM below 4 GiB: i440fx min(RAM, 0xC0000000 when RAM >= 0xE0000000);
 *    q35 min(RAM, 0x80000000 when RAM >= 0xB0000000, else 0xB0000000);
 *  - low window [end of low RAM, 0xFEC00000) (pci-hole-start/-end);
 *  - high window from 4 GiB + RAM above 4 GiB, rounded up to 1 GiB, of
 *    <pcihole64> bytes or 2 GiB (i440fx) / 32 GiB (q35);
 *  - q35's MMCONFIG [0xB0000000, 0xC0000000) is an E820 reservation: clip;
 *  - I/O window [0x0D00, 0x10000) as QEMU's _CRS has it;
 *  - min_mem = end of RAM below 4 GiB.
 * No BARs.  MMIO_E_UNSUPPORTED for another chipset. */
enum mmio_status tsd_libvirt_model_layout(const struct tsd_libvirt_domain *d,
					  struct tsd_layout *out, struct mmio_error *err);

/* QMP `query-pci` reply ({"return": [...]}, or the bare array) -> live BARs,
 * every bus, bridges' devices included.  device = qdev_id or the slot. */
enum mmio_status tsd_libvirt_parse_query_pci(const char *json, struct tsd_live_bar **bars,
					     size_t *nbars, struct mmio_error *err);

/* Replaces out's low and high windows by QEMU's own numbers (qom-get
 * pci-hole-start/-end, pci-hole64-start/-end of the host bridge), marking
 * them TSD_SRC_TOOLSTACK.  hole64 end <= start removes the high window. */
void tsd_libvirt_live_windows(struct tsd_layout *out, uint64_t hole_start, uint64_t hole_end,
			      uint64_t hole64_start, uint64_t hole64_end);

/* <hostdev mode='subsystem' type='pci' managed='yes'> for a host BDF. */
void tsd_libvirt_hostdev_xml(const struct mmio_bdf *bdf, char *buf, size_t len);

/* virErrorNumber -> tsd_rc. */
enum tsd_rc tsd_libvirt_rc(int vir_error_code);

/* Test hook: the back end's virConnectPtr, for tests that must act through
 * the back end's own connection (the test driver keeps state per
 * connection).  Defined in toolstack-libvirt.c. */
void *tsd_libvirt_test_connection(struct tsd_backend *be);

#endif
