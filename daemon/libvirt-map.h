/* SPDX-License-Identifier: MIT */
/*
 * libvirt-map.h — the pure half of the libvirt back end: domain XML -> the
 * facts mmiod needs (libxml2, XPath), QEMU's defaults -> model windows,
 * QEMU's own replies (query-pci, qom-get, through the qmp-map.h mappings)
 * + the domain -> the guest's layout with its hot-plug ports named by
 * libvirt alias, the <hostdev> XML of an attach, libvirt error numbers ->
 * enum tsd_rc.  No connection, no I/O.
 *
 * libvirt writes domain XML itself (virDomainGetXMLDesc) and parses it
 * with libxml2; reading it with the same parser means entities, comments,
 * CDATA and namespaced elements (<qemu:commandline>) are read as libvirt
 * reads them.
 */
#ifndef MMIOD_LIBVIRT_MAP_H
#define MMIOD_LIBVIRT_MAP_H

#include <json-c/json.h>

#include "qmp-map.h"
#include "toolstack.h"

#define TSD_LIBVIRT_MAX_HOSTDEV 32

enum tsd_libvirt_chipset {
	TSD_LIBVIRT_CHIPSET_OTHER = 0,  /* not x86 pc/q35: no model */
	TSD_LIBVIRT_CHIPSET_I440FX,
	TSD_LIBVIRT_CHIPSET_Q35,
};

/* A PCI address as libvirt writes it in <address type='pci'>: bus is the
 * index of the <controller type='pci'> providing the bus, not a guest bus
 * number. */
struct tsd_libvirt_pci_addr {
	bool set;
	uint8_t bus, slot, fn;
};

/* <controller type='pci' index= model=>: index is the bus number libvirt
 * gives the devices behind it; alias ("pci.2", live XML only) is the QEMU
 * id, which query-pci reports as qdev_id. */
struct tsd_libvirt_controller {
	uint8_t index;
	char model[32];                 /* pcie-root-port, pci-bridge, ... */
	char alias[32];
	struct tsd_libvirt_pci_addr addr;  /* where the controller itself sits */
};

struct tsd_libvirt_hostdev {
	struct mmio_bdf source;         /* the host device */
	char alias[32];                 /* "hostdev0": the QEMU id (live XML) */
	struct tsd_libvirt_pci_addr addr;  /* the guest side */
};

struct tsd_libvirt_domain {
	char type[16];                  /* <domain type=...>: kvm, qemu, xen, test */
	char name[128];
	char os_type[8];                /* hvm, xen (PV), linux (PV), exe */
	char machine[64];               /* <type machine=...> */
	enum tsd_libvirt_chipset chipset;
	bool efi;                       /* <os firmware='efi'> or a pflash <loader> */
	uint64_t ovmf_mmio64_mb;        /* X-PciMmio64Mb given to OVMF (qemu:commandline, fwcfg); 0 none */
	uint64_t memory;                /* bytes, <memory> (maximum) */
	uint64_t pcihole64;             /* bytes, <pcihole64> on the root controller; 0 = absent */
	bool has_pcihole64;
	unsigned nhostdev;
	struct tsd_libvirt_hostdev hostdev[TSD_LIBVIRT_MAX_HOSTDEV]; /* PCI hostdevs, in order */
	size_t ncontroller;
	struct tsd_libvirt_controller *controller;   /* malloc'd: tsd_libvirt_domain_clear */
	/* The guest-side PCI address of every device of the domain that has
	 * one (controllers included): what is behind which controller. */
	size_t naddr;
	struct tsd_libvirt_pci_addr *addr;           /* malloc'd */
};

/* Reads the domain XML into d (which owns memory afterwards: clear it,
 * also after a failure).  MMIO_E_INVALID names what is missing or bad. */
enum mmio_status tsd_libvirt_parse_domain(const char *xml, struct tsd_libvirt_domain *d,
					  struct mmio_error *err);
void tsd_libvirt_domain_clear(struct tsd_libvirt_domain *d);

/* The controller with this alias (a port id), NULL if none. */
const struct tsd_libvirt_controller *tsd_libvirt_controller_by_alias(
	const struct tsd_libvirt_domain *d, const char *alias);

/* Whether a controller of this model is a place for hot-plugged devices:
 * pcie-root-port, pcie-switch-downstream-port (one device each) and
 * pci-bridge (32 slots sharing its windows). */
bool tsd_libvirt_port_model(const char *model);

/* Can mmiod admit hot-attaches to this domain?  why gets one sentence when
 * not: Xen PV guests, non-x86 machines. */
bool tsd_libvirt_attachable(const struct tsd_libvirt_domain *d, char *why, size_t whylen);

/* QEMU's defaults for the domain's machine (hw/i386/pc_piix.c, pc_q35.c,
 * pc.c as of QEMU 7.2), win_source = TSD_SRC_MODEL, for when QEMU itself
 * cannot be asked (libvirt's test driver, a monitor that does not answer):
 *  - RAM below 4 GiB: i440fx min(RAM, 0xC0000000 when RAM >= 0xE0000000);
 *    q35 min(RAM, 0x80000000 when RAM >= 0xB0000000, else 0xB0000000);
 *  - low window [end of low RAM, 0xFEC00000) (pci-hole-start/-end); on q35
 *    two, around the firmware's MMCONFIG [0xB0000000, 0xC0000000), as
 *    QEMU's _CRS gives them to the guest;
 *  - high window from 4 GiB + RAM above 4 GiB, rounded up to 1 GiB, of
 *    <pcihole64> bytes or 2 GiB (i440fx) / 32 GiB (q35);
 *  - I/O window [0x0D00, 0x10000) as QEMU's _CRS has it;
 *  - min_mem = end of RAM below 4 GiB; ports_only on q35;
 *  - the port controllers as ports with unknown windows (the firmware
 *    programs them: placement behind them waits for QEMU's view).
 * No BARs.  MMIO_E_UNSUPPORTED for another chipset. */
enum mmio_status tsd_libvirt_model_layout(const struct tsd_libvirt_domain *d,
					  struct tsd_layout *out, struct mmio_error *err);

/* The layout of a running QEMU guest from QEMU's own answers, as the QMP
 * back end reads a guest (qmp_map_windows, qmp_map_pci), then in libvirt's
 * terms: ports are the port controllers (tsd_libvirt_port_model) named by
 * alias, a port is occupied when query-pci shows a device behind it or
 * the domain XML puts one there (before the firmware numbered the buses
 * query-pci cannot see behind a port), native_hotplug as given (q35:
 * ICH9-LPC's acpi-pci-hotplug-with-bridge-support off), and the BARs of a
 * <hostdev> carry its host BDF as device (the id Attach returns and
 * Detach takes) instead of libvirt's alias.  out is replaced. */
enum mmio_status tsd_libvirt_qemu_layout(const struct tsd_libvirt_domain *d,
					 const struct qmp_holes *holes, json_object *query_pci,
					 bool native_hotplug, struct tsd_layout *out,
					 struct mmio_error *err);

/* <hostdev mode='subsystem' type='pci' managed='yes'> for a host BDF;
 * behind the controller `bus` (its index; < 0 = libvirt chooses) in
 * `slot`.  Returns false when buf is too small. */
bool tsd_libvirt_hostdev_xml(const struct mmio_bdf *bdf, int bus, unsigned slot, char *buf,
			     size_t len);

/* Whether some device of the domain sits behind controller `index`. */
bool tsd_libvirt_bus_used(const struct tsd_libvirt_domain *d, uint8_t index);

/* The slot a device plugged behind controller c takes: 0 behind a PCIe
 * port; behind a pci-bridge the lowest of 1..31 that neither the domain
 * nor `slots_used` (bit n = slot n, the caller's view of the guest: what
 * query-pci shows behind it) uses -- libvirt keeps a pci-bridge's slot 0
 * for its SHPC; -1 if none. */
int tsd_libvirt_port_slot(const struct tsd_libvirt_domain *d,
			  const struct tsd_libvirt_controller *c, uint32_t slots_used);

/* virErrorNumber -> tsd_rc. */
enum tsd_rc tsd_libvirt_rc(int vir_error_code);

/* Test hook: the back end's virConnectPtr, for tests that must act through
 * the back end's own connection (the test driver keeps state per
 * connection).  Defined in toolstack-libvirt.c. */
void *tsd_libvirt_test_connection(struct tsd_backend *be);

#endif
