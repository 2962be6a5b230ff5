/* SPDX-License-Identifier: MIT */
/*
 * qmp-map.h — pure mappings for the QMP back end: QEMU's replies (already
 * parsed by json-c) -> struct tsd_layout, and a QEMU device spec
 * ("pci-testdev,membar=1M") -> device_add arguments.  No I/O, no libevent:
 * everything here is unit-tested against replies captured from QEMU 7.2
 * (tests/qmp/ fixtures).
 */
#ifndef MMIOD_QMP_MAP_H
#define MMIOD_QMP_MAP_H

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

/* The guest's 64-bit window [*start, *end) (see struct qmp_holes); false
 * when QEMU has none. */
bool qmp_map_hole64(const struct qmp_holes *h, uint64_t *start, uint64_t *end);

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
	int bus;                /* the guest's bus number: 0 root, a port's secondary; -1 unknown */
	unsigned index;         /* N of child[N] */
	int devfn;              /* its "addr" property: slot << 3 | function; -1 unknown */
	int hotplugged;         /* 0, 1; -1 unknown */
	uint64_t rom_mapped;    /* 0: no ROM, never mapped, or unknown */
};
/* The N of every "child[N]" in a qom-list reply of a bus; returns how many
 * (at most max are stored). */
size_t qmp_map_bus_children(json_object *qom_list, unsigned *idx, size_t max);
/* The name of the ROM's memory region ("e1000.rom[0]") in a qom-list reply
 * of a PCI device; false if it has none. */
bool qmp_map_rom_region(json_object *qom_list, char *name, size_t len);
/* Annotates the BARs of l (guest slot "BB:SS.F") with the arrival, order
 * of arrival and the ROM's last mapped address of the device at that bus
 * and devfn. */
void qmp_map_arrivals(struct tsd_layout *l, const struct qmp_qom_dev *devs, size_t n);

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
 * some integer ones ("Parameter 'romsize' expects integer").  When desc
 * says so for a string argument holding an integer, replaces it with the
 * number and returns true (send again); false otherwise. */
bool qmp_map_integer_retry(json_object *args, const char *desc);

json_object *qmp_map_device_spec(const char *spec, struct mmio_error *err);

/* Compares a device's real BARs (live bars whose device == id) with the
 * declared ones: index, kind, prefetch and size.  Returns true when they
 * agree; otherwise diff says how, e.g. "BAR2: declared mem64p 2 MiB, QEMU
 * has mem64p 1 MiB; BAR6: QEMU has rom 256 KiB, not declared".  ignore_rom:
 * leave BAR6 out (vfio-pci may hide a host ROM that sysfs lists). */
bool qmp_map_compare(const struct mmio_device *declared, const struct tsd_layout *l,
		     const char *id, bool ignore_rom, char *diff, size_t difflen);

#endif
