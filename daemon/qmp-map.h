/* SPDX-License-Identifier: MIT */
/*
 * qmp-map.h — pure mappings for the QMP back end: QEMU's replies (already
 * parsed by json-c) -> struct tsd_layout, and a QEMU device spec
 * ("pci-testdev,membar=1M") -> device_add arguments.  No I/O, no libevent:
 * everything here is unit-tested against replies captured from QEMU 7.2
 * (tests/qmp/ fixtures).  Three files implement it: qmp-map-windows.c (the
 * machine, the host bridge's holes, the firmware's windows), qmp-map.c
 * (query-pci and QOM -> BARs, ports, slots), qmp-map-spec.c (device specs,
 * declared vs real BARs).
 */
#ifndef MMIOD_QMP_MAP_H
#define MMIOD_QMP_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "mmio-model.h"
#include "toolstack.h"

struct qmp_qom_dev;

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

/* What query-pci says about free places for a hot-plugged device. */
#define QMP_MAX_PORTS 32
struct qmp_pci_slots {
	uint32_t root_used;             /* bit n: root-bus (bus 0) slot n has a function */
	unsigned nports;                /* empty hot-plug ports (bridges with an id, no
					 * device behind them): q35 pcie-root-port */
	char ports[QMP_MAX_PORTS][64];
};

/* query-pci's "return" (or the whole {"return": ...}) -> l->bars / l->nbars
 * (replacing what was there) and, if slots is not NULL, the slot summary. */
enum mmio_status qmp_map_pci(json_object *reply, struct tsd_layout *l,
			     struct qmp_pci_slots *slots, struct mmio_error *err);

/* query-pci also fills l->ports: every bridge on the root bus with a qdev
 * id (q35 pcie-root-port, pc pci-bridge) and every switch downstream port, with its windows from
 * pci_bridge.bus (qmp_map_port_windows) and whether anything is behind it.
 * native_hotplug is left false: that is a QOM property (toolstack-qmp). */
void qmp_map_port_windows(json_object *bus, struct tsd_port *p);
/* Whether a bridge with this PCI vendor:device id is a conventional PCI
 * bridge (several devices behind it) rather than a PCIe port (one). */
bool qmp_map_bridge_multi_slot(unsigned vendor, unsigned device);
/* Whether a bridge is a PCIe switch's downstream port: a hot-plug port
 * wherever the switch sits (query-pci also reports these as ports). */
bool qmp_map_bridge_downstream(unsigned vendor, unsigned device);

/* QEMU 7.2's pcie-root-port with io-reserve=0 has read-only I/O base and
 * limit registers (they read 0xf0/0x00, "no I/O window", whatever is
 * written).  Linux does not notice: at boot it gives every hot-plug bridge
 * without an I/O window a 4 KiB one (pci_hotplug_io_size rounded to the
 * bridge granule), first fit from PCIBIOS_MIN_IO in the root I/O windows,
 * and places hot-plugged I/O BARs in it (docs/verification.md F4).  This
 * fills port `i`'s I/O window with that block, avoiding root I/O BARs and
 * other ports' I/O windows, marked TSD_SRC_MODEL.  Call in port order. */
void qmp_map_port_io_model(struct tsd_layout *l, size_t i);

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
/* The N of every "child[N]" in a qom-list reply of a bus; returns how many
 * (at most max are stored). */
size_t qmp_map_bus_children(json_object *qom_list, unsigned *idx, size_t max);
/* The name of the ROM's memory region ("e1000.rom[0]") in a qom-list reply
 * of a PCI device; false if it has none. */
bool qmp_map_rom_region(json_object *qom_list, char *name, size_t len);
/* The names of a PCI device's memory regions other than its ROM and bus
 * master regions (the candidates for its BARs' regions) in a qom-list
 * reply; returns how many (at most max stored, each < len). */
size_t qmp_map_bar_regions(json_object *qom_list, char (*names)[64], size_t max);
/* Annotates the BARs of l (guest slot "BB:SS.F") with the arrival, order
 * of arrival and last mapped address (the ROM's; a memory BAR's from the
 * region of its size, see struct qmp_qom_mr) of the device at that bus
 * and devfn. */
void qmp_map_arrivals(struct tsd_layout *l, const struct qmp_qom_dev *devs, size_t n);
/* Whether a device present at boot has left its bus: QEMU numbers a bus's
 * child[N] in the order devices arrive and never reuses N, and the boot
 * devices come first, so a missing N below a boot device's is one. */
bool qmp_map_boot_left(const struct qmp_qom_dev *devs, size_t n);
/* QOM's devices onto a layout mapped from query-pci (qmp_map_windows +
 * qmp_map_pci): each device's bus from its port's secondary number, the
 * BARs' arrivals (qmp_map_arrivals), what they say about the 64-bit window
 * the guest's _CRS has (qmp_map_boot64, qmp_map_boot_left, into h), and the
 * windows mapped again.  Every back end that reads QEMU over QMP (the QMP
 * one, libvirt's monitor pass-through) infers the windows through this. */
enum mmio_status qmp_map_qom_apply(struct qmp_holes *h, struct tsd_layout *l,
				   struct qmp_qom_dev *devs, size_t n, struct mmio_error *err);

/* Whether query-pci's reply lists a device with this qdev id (anywhere). */
bool qmp_map_has_device(json_object *reply, const char *qdev_id);

/* The lowest free hot-pluggable root-bus slot of a pc machine (1..31), -1 if none. */
int qmp_map_free_root_slot(const struct qmp_pci_slots *s);
/* free_slots for the layout: pc counts free root-bus slots 1..31, q35 the empty ports. */
int qmp_map_free_slots(enum qmp_machine m, const struct qmp_pci_slots *s);

/* "driver,key=value,..." (",," is a literal comma, as in QEMU's -device) ->
 * a new json object {"driver": ..., "key": "value", ...}.  Values stay
 * strings: QEMU 7.2's device_add accepts strings for every qdev property
 * ("membar":"1M", "addr":"0x5", "rombar":"0"), while a JSON bool for an
 * integer property is refused.  "id" is refused (mmiod chooses it). */
/* QEMU 7.2's device_add takes most qdev properties as strings but refuses
 * some integer ones ("Parameter 'romsize' expects integer"); QEMU 10's
 * takes none but strings as strings ("Parameter 'membar' expects uint64",
 * "Invalid parameter type for 'rombar', expected: integer", "... expected:
 * boolean").  When desc says so for a string argument that holds such a
 * value in -device's syntax (a number, decimal or 0x; a size with a
 * K/M/G/T/P/E suffix where a uint64 or size is expected; on/off, yes/no,
 * true/false), replaces it with the JSON value and returns true (send
 * again); false otherwise. */
bool qmp_map_typed_retry(json_object *args, const char *desc);

json_object *qmp_map_device_spec(const char *spec, struct mmio_error *err);

/* Compares a device's real BARs (live bars whose device == id) with the
 * declared ones: index, kind, prefetch and size.  Returns true when they
 * agree; otherwise diff says how, e.g. "BAR2: declared mem64p 2 MiB, QEMU
 * has mem64p 1 MiB; BAR6: QEMU has rom 256 KiB, not declared".  ignore_rom:
 * leave BAR6 out (vfio-pci may hide a host ROM that sysfs lists). */
bool qmp_map_compare(const struct mmio_device *declared, const struct tsd_layout *l,
		     const char *id, bool ignore_rom, char *diff, size_t difflen);

#endif
