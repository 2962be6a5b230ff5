/* SPDX-License-Identifier: MIT */
/*
 * layout.h — a guest's PCI layout as a back end reports it and the books
 * keep it: the windows, the BARs of the devices present, the hot-plug
 * ports.  Plain data: the books (books.h) use it without knowing the
 * back-end interface (toolstack.h), which fills it.
 */
#ifndef MMIOD_LAYOUT_H
#define MMIOD_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmio-model.h"

/* Where a number came from; shown by `mmioctl status GUEST`. */
enum tsd_source {
	TSD_SRC_TOOLSTACK = 0, /* the device model's own live view (query-pci, info pci, qom-get) */
	TSD_SRC_MODEL,         /* computed: hvmloader model from the domain config, or defaults */
	TSD_SRC_PREDICTED,     /* mmiod's own prediction (an attach in flight, or a BAR the
				* toolstack shows unassigned although the guest placed it) */
	TSD_SRC_INFERRED,      /* a BAR of a device someone else plugged that the toolstack
				* shows unassigned: where the guest put it, from the replay
				* of its history (books-past.c, lib/replay.c) */
	TSD_SRC_UNCERTAIN,     /* the same, but the guest's history is not known well enough
				* to tell which of several places: it counts at all of them */
	TSD_SRC_ASSUMED,       /* a window the facts that decide it cannot be read for (the
				* firmware has not placed the boot devices yet, a boot device
				* left): mmiod's best guess (tsd_layout.window_note says why) */
};
/* "toolstack", "model", "predicted", "inferred", "uncertain", "assumed" */
const char *tsd_source_name(enum tsd_source s);

#define TSD_ADDR_UNASSIGNED UINT64_MAX

/* One BAR of a device present in the guest. */
struct tsd_live_bar {
	char device[64];        /* the toolstack's id for the device: qdev id, hostdev BDF */
	char guest_slot[16];    /* "00:03.0" as the guest sees it, "" if unknown */
	struct mmio_bar bar;
	uint64_t addr;          /* TSD_ADDR_UNASSIGNED when the guest has not placed it */
	uint8_t source;         /* enum tsd_source */
	/* The device's past, as far as the back end can tell (0 = unknown):
	 * what the books need to work out where the guest put the BARs the
	 * toolstack shows unassigned (lib/replay.c, docs/model.md). */
	uint8_t arrival;        /* TSD_ARRIVAL_*, the same on every BAR of a device */
	uint32_t seq;           /* order of arrival on its bus: QEMU's bus child[N] index + 1 */
	uint16_t pci_class;     /* class code: 0x0300 = VGA (a boot VGA's ROM is shadowed) */
	uint64_t last_mapped;   /* where the device model last mapped this BAR, though it is
				 * not mapped now (QEMU: its memory region's "addr"; for a
				 * boot ROM, where SeaBIOS put it when it ran the ROM) */
};

/* tsd_live_bar.arrival */
#define TSD_ARRIVAL_UNKNOWN 0
#define TSD_ARRIVAL_BOOT    1   /* present when the firmware ran (QOM hotplugged false) */
#define TSD_ARRIVAL_HOTPLUG 2   /* hot-plugged later (QOM hotplugged true) */

/* A hot-plug port: a bridge whose secondary bus takes one hot-plugged
 * device (a q35 pcie-root-port).  A device plugged there gets its BARs
 * from the port's windows only: Linux's acpiphp assigns them inside the
 * windows the bridge already has and never grows them (docs/model.md). */
#define TSD_PORT_WIN_IO   0
#define TSD_PORT_WIN_MEM  1
#define TSD_PORT_WIN_PREF 2
struct tsd_port {
	char id[64];            /* the toolstack's id for the port: device_add bus= */
	char guest_slot[16];    /* the port itself as the guest sees it: "00:10.0" */
	bool empty;             /* nothing behind it */
	/* A conventional PCI bridge (QEMU pci-bridge, pcie-pci-bridge) has 32
	 * slots: several devices share its windows.  A PCIe root port takes
	 * one device (slot 0) and is full once something is behind it. */
	bool multi_slot;
	uint8_t secondary;      /* its bus number (live BARs "SS:dd.f" behind it); 0 = unknown */
	bool windows_known;     /* the firmware numbered its bus and programmed its windows */
	bool native_hotplug;    /* the guest uses native PCIe hot-plug (pciehp) here, which
				 * re-sizes the windows at hot-plug: not modelled */
	/* Indexed by TSD_PORT_WIN_*; present[i] false = the bridge does not
	 * forward that type.  In Linux's bus-resource order (io, mem, pref):
	 * the order placement tries them in.  mem: MMIO_WIN_LOW, no flags;
	 * pref: MMIO_WF_PREFETCH | MMIO_WF_MEM64 (QEMU's bridges are 64-bit
	 * prefetchable), kind LOW or HIGH by address. */
	bool present[3];
	struct mmio_window win[3];
	uint8_t win_source[3];  /* enum tsd_source */
};

/* tsd_layout.firmware */
#define TSD_FW_UNKNOWN 0
#define TSD_FW_SEABIOS 1        /* SeaBIOS (QEMU's default BIOS) */
#define TSD_FW_OVMF    2        /* UEFI (OVMF, edk2) */
const char *tsd_firmware_name(unsigned fw);   /* "unknown", "seabios", "ovmf" */

/* A guest's windows and occupancy as its back end reports them. */
struct tsd_layout {
	unsigned nwin;
	struct mmio_window win[MMIO_MAX_WINDOWS];
	uint8_t win_source[MMIO_MAX_WINDOWS];   /* enum tsd_source */
	size_t nbars;
	struct tsd_live_bar *bars;              /* malloc'd; freed by tsd_layout_clear */
	size_t nclip;
	struct mmio_range *clip;                /* E820 entries inside windows; malloc'd */
	uint64_t min_mem;                       /* PCIBIOS_MIN_MEM if known, else 0 */
	int free_slots;                         /* hot-pluggable root-bus slots left; -1 unknown */
	/* Devices are hot-plugged into ports, never onto the root bus (q35:
	 * "Bus 'pcie.0' does not support hotplugging").  Placement then uses
	 * the windows of the port the device goes into. */
	bool ports_only;
	/* The guest's firmware (TSD_FW_*): where it leaves boot BARs and ROMs. */
	uint8_t firmware;
	uint8_t phys_bits;                      /* the guest CPU's; 0 unknown */
	/* Why a window is TSD_SRC_ASSUMED ("" when none is). */
	char window_note[160];
	size_t nports;
	struct tsd_port *ports;                 /* malloc'd; in the guest's slot order */
};
void tsd_layout_clear(struct tsd_layout *l);
int tsd_layout_copy(struct tsd_layout *dst, const struct tsd_layout *src);

#endif
