/* SPDX-License-Identifier: MIT */
/*
 * qmp-map.h — pure mappings for the QMP back end: QEMU's replies (already
 * parsed by json-c) -> struct tsd_layout, and a QEMU device spec
 * ("pci-testdev,membar=1M") -> device_add arguments.  No I/O, no libevent:
 * everything here is unit-tested against replies captured from QEMU 7.2
 * (tests/qmp/ fixtures).  Three files implement it: qmp-map-windows.c (the
 * machine, the host bridge's holes, the firmware's windows; declared in
 * qmp-map-windows.h, which this header includes), qmp-map.c
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
#include "qmp-map-windows.h"

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
