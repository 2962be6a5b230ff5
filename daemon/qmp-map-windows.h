/* SPDX-License-Identifier: MIT */
/*
 * qmp-map-windows.h — the machine, the host bridge's holes and the windows
 * the firmware and QEMU leave the guest (qmp-map-windows.c): the lower half
 * of the QMP back end's pure mappings, which qmp-map.c (query-pci, QOM)
 * builds on.  No I/O: unit-tested against captured QEMU replies.
 */
#ifndef MMIOD_QMP_MAP_WINDOWS_H
#define MMIOD_QMP_MAP_WINDOWS_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "mmio-model.h"
#include "toolstack.h"

enum qmp_machine {
	QMP_MACHINE_UNKNOWN = 0,
	QMP_MACHINE_PC,         /* i440FX: /machine/i440fx, root bus pci.0 (ACPI hot-plug) */
	QMP_MACHINE_Q35,        /* Q35: /machine/q35, root bus pcie.0 (no hot-plug on it) */
};

/* QOM path of the host bridge and name of the root bus. */
const char *qmp_machine_host_path(enum qmp_machine m);
const char *qmp_machine_root_bus(enum qmp_machine m);
/* The root bus's QOM path ("/machine/i440fx/pci.0"). */
const char *qmp_machine_root_bus_path(enum qmp_machine m);

/* The host bridge's QOM properties, as qom-get returned them. */
struct qmp_holes {
	enum qmp_machine machine;
	bool have_hole;
	uint64_t hole_start, hole_end;          /* pci-hole-start, pci-hole-end */
	bool have_hole64;
	uint64_t hole64_start, hole64_end;      /* pci-hole64-start, pci-hole64-end */
	/* The 64-bit window as the guest's ACPI _CRS has it.  QEMU's
	 * pci-hole64-start/-end are live: they follow the enabled 64-bit BARs
	 * above 4 GiB, the guest's window does not (docs/verification.md B3).
	 * From pci-hole64-size, the RAM size (query-memory-size-summary
	 * base-memory; RAM above 4 GiB = that - pci-hole-start) and /machine's
	 * device-memory-region-size, as QEMU 7.2's pc_pci_hole64_start(). */
	bool have_hole64_size, have_ram;
	uint64_t hole64_size, ram_size, devmem_size;
	/* q35: MCFG (all-ones while the firmware has not enabled MMCONFIG) and
	 * mcfg_size (0 then). */
	bool have_mcfg;
	uint64_t mcfg_base, mcfg_size;
	/* What QEMU built the guest's _CRS 64-bit window from.  QEMU builds
	 * the ACPI tables when the firmware reads them, after it placed the
	 * boot devices, from the 64-bit ranges at or above 4 GiB enabled then:
	 * the boot devices' 64-bit BARs (SeaBIOS leaves them enabled, OVMF
	 * enables every device while it reads the tables) and the boot
	 * bridges' prefetchable windows.  The window becomes [lowest, max(end
	 * of the highest, ROUND_UP(lowest + pci-hole64-size, 1 GiB))), or
	 * QEMU's default one when there is none (docs/verification.md,
	 * "UEFI guests").  qmp_map_boot64() fills these. */
	bool boot_read;                 /* the boot devices were looked at */
	bool have_boot64;               /* at least one such range */
	uint64_t boot64_start, boot64_end;      /* their hull [start, end) */
	bool boot_unplaced;             /* a boot device's 64-bit BAR or a boot bridge the
					 * firmware has not placed yet (or never will) */
	bool boot_left;                 /* a device present at boot has left since (its
					 * BARs are not known any more) */
	/* The CPU: Linux drops what lies at or above 2^phys-bits from a
	 * window; QEMU (machine types >= 7.1) reserves AMD's HyperTransport
	 * hole [0xfd00000000, 1 TiB) in its E820 for an AMD CPU with >= 40
	 * phys-bits (TCG's default qemu64 is one), which Linux's allocator
	 * keeps out of every free gap - when the firmware passes it on. */
	unsigned phys_bits;             /* 0: unknown */
	bool cpu_amd;
	unsigned machine_version;       /* major * 100 + minor of pc-*-X.Y; 0 unknown */
	uint8_t firmware;               /* TSD_FW_* */
	/* opt/ovmf/X-PciMmio64Mb from QEMU's command line (0: not given or
	 * not readable): the size OVMF gives its 64-bit aperture. */
	uint64_t ovmf_mmio64_mb;
};

/* The memory regions of one device as QOM lists them, with where each was
 * last mapped (its "addr" property: 0 = never mapped).  A BAR's region is
 * mapped while the guest decodes it and keeps its address when unmapped,
 * so this is where the firmware (or the guest) last put each BAR. */
#define QMP_QOM_MAX_MRS 12
struct qmp_qom_mr {
	uint64_t size, addr;
};

/* What QOM says about one device on the root bus: the bus lists its
 * devices as links "child[N]", N counting up as devices are added (so N
 * is the order of arrival; a removed device leaves a gap), and each
 * device says whether it was hot-plugged (false: on the command line,
 * there when the firmware ran).  Its ROM's memory region keeps the address
 * it was last mapped at: where SeaBIOS put the ROM of a boot device when it
 * ran it (query-pci shows every ROM unmapped). */
struct qmp_qom_dev {
	char port[64];          /* the port (tsd_port id) whose bus it is on; "" = the root bus */
	int bus;                /* the guest's bus number: 0 root, a port's secondary; -1 unknown */
	unsigned index;         /* N of child[N] */
	int devfn;              /* its "addr" property: slot << 3 | function; -1 unknown */
	int hotplugged;         /* 0, 1; -1 unknown */
	uint64_t rom_mapped;    /* 0: no ROM, never mapped, or unknown */
	unsigned nmr;           /* its memory regions other than the ROM (the BARs among them) */
	struct qmp_qom_mr mr[QMP_QOM_MAX_MRS];
};

/* The I/O ports QEMU 7.2 itself decodes above 0x0d00 (from `info mtree`). */
struct qmp_fixed_ports {
	uint32_t start, end;    /* [start, end) */
	const char *what;
};
const struct qmp_fixed_ports *qmp_machine_fixed_ports(enum qmp_machine m, size_t *n);

/* A qom-get "return" value -> uint64.  QEMU prints uint64 properties as
 * unsigned decimals (json-c keeps them exact) and int64 ones signed. */
bool qmp_map_u64(json_object *v, uint64_t *out);

/* The guest's 64-bit window [*start, *end) as its _CRS has it (see struct
 * qmp_holes), before phys-bits clip it; *src says whether it follows from
 * what QEMU shows (TSD_SRC_TOOLSTACK) or is mmiod's guess
 * (TSD_SRC_ASSUMED; note, if not NULL, says why).  False when QEMU has
 * none. */
bool qmp_map_hole64(const struct qmp_holes *h, uint64_t *start, uint64_t *end,
		    enum tsd_source *src, char *note, size_t notelen);

/* Where OVMF (edk2 2022.11 and later) opens its 64-bit aperture, as far as
 * QEMU shows what decides it: X-PciMmio64Mb (default 32 GiB) aligned above
 * RAM, or, when larger and OVMF trusts the CPU's phys-bits, the top eighth
 * of the address space; newer OVMF (2025.02) moves that below AMD's
 * HyperTransport hole when QEMU reserves it.  *older: where OVMF 2022.11
 * opens it when that differs, else UINT64_MAX (QEMU does not show which
 * OVMF the guest runs). */
uint64_t qmp_map_ovmf_aperture(const struct qmp_holes *h, uint64_t first_free, uint64_t *size,
			       uint64_t *older);

/* The boot-time 64-bit ranges (struct qmp_holes) from a layout whose BARs
 * carry their arrival and last-mapped address (qmp_map_arrivals) and from
 * the QOM devices (a bridge is a boot one unless QOM says it was
 * hot-plugged). */
void qmp_map_boot64(const struct tsd_layout *l, const struct qmp_qom_dev *devs, size_t n,
		    struct qmp_holes *h);

/* "pc-q35-7.2-machine", "pc-i440fx-10.0-machine" -> 702, 1000; 0 if none. */
unsigned qmp_map_machine_version(const char *type);

/* The firmware from /machine's QOM: "pflash0" names a drive (UEFI code in
 * flash: OVMF on x86), else "firmware" (-bios; QEMU's default is SeaBIOS's
 * bios-256k.bin); either may be NULL (not read). */
uint8_t qmp_map_firmware(const char *pflash0, const char *bios);

/* X-PciMmio64Mb in QEMU's command line (NUL-separated, as in
 * /proc/PID/cmdline): -fw_cfg [name=]opt/ovmf/X-PciMmio64Mb,string=N.
 * 0 when absent. */
uint64_t qmp_map_cmdline_mmio64_mb(const char *cmdline, size_t len);

/* Fills l->win / l->win_source / l->nwin from the host bridge's holes. */
enum mmio_status qmp_map_windows(const struct qmp_holes *h, struct tsd_layout *l,
				 struct mmio_error *err);

#endif
