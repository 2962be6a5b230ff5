/* SPDX-License-Identifier: MIT */
/*
 * qmp-map.c — pure mappings for the QMP back end (see qmp-map.h).
 *
 * Facts these mappings rest on, checked on QEMU 7.2.22 (Debian 7.2+dfsg-7):
 *  - query-pci prints "address" as a signed int64; an unmapped BAR
 *    (PCI_BAR_UNMAPPED, all-ones) reads -1 for 32-bit, 64-bit and I/O BARs
 *    alike.  Before the firmware ran (-S) every BAR is -1; after SeaBIOS,
 *    only ROM BARs stay -1 (SeaBIOS does not enable ROM decode), and a
 *    hot-plugged device stays -1 until a guest OS programs and enables it.
 *  - "prefetch" / "mem_type_64" appear only on memory regions; the ROM
 *    (bar 6) is reported with prefetch false.
 *  - class_info.desc is missing for classes QEMU has no name for
 *    (pci-testdev, nvme), so nothing here depends on it.
 *  - Bridges carry "pci_bridge": {"bus": {...windows...}, "devices": [...]}
 *    ("devices" is absent for an empty bridge).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "qmp-map.h"
#include "strbuf.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* QEMU's PCI I/O window on pc and q35 (the DSDT's _CRS offers 0x0d00-0xffff
 * above the config ports; the model clips it to MMIO_X86_MIN_IO). */
#define QMP_IO_START 0x0d00u
#define QMP_IO_END   0x10000u

/* Where SeaBIOS and OVMF put MMCONFIG on q35 when QEMU still shows it
 * disabled (-S: the firmware has not run): Q35_HOST_BRIDGE_PCIEXBAR_ADDR
 * and OVMF's PcdPciExpressBaseAddress, 256 MiB for 256 buses. */
#define QMP_Q35_MCFG_DEFAULT      UINT64_C(0xB0000000)
#define QMP_Q35_MCFG_SIZE_DEFAULT UINT64_C(0x10000000)

/* AMD's HyperTransport hole below 1 TiB (QEMU's AMD_HT_START/AMD_HT_SIZE). */
#define QMP_AMD_HT_START UINT64_C(0xfd00000000)
#define QMP_AMD_HT_END   UINT64_C(0x10000000000)

/* I/O ports QEMU 7.2 decodes itself above 0x0d00, read from `info mtree`
 * (address-space: I/O) of a running pc and q35 machine.  Everything else
 * there lies below 0x0d00 (legacy ISA, PIIX4 PM at 0x600, SMBus at 0x700,
 * q35's ICH9 PM at 0x600, its CPU hot-plug at 0x0cd8 and PCI hot-plug at
 * 0x0cc4) or is a PCI BAR, which query-pci reports.  The ACPI blocks are
 * claimed by DSDT devices, so Linux never places a BAR over them; vmport
 * is not, but a BAR there would break the VMware backdoor, so it is kept
 * out as well (one port, costs nothing). */
static const struct qmp_fixed_ports pc_ports[] = {
	{ 0x5658, 0x5659, "vmport" },
	{ 0xae00, 0xae18, "acpi-pci-hotplug" },
	{ 0xaf00, 0xaf20, "acpi-cpu-hotplug" },
	{ 0xafe0, 0xafe4, "acpi-gpe0" },
};
static const struct qmp_fixed_ports q35_ports[] = {
	{ 0x5658, 0x5659, "vmport" },
};

const struct qmp_fixed_ports *qmp_machine_fixed_ports(enum qmp_machine m, size_t *n)
{
	switch (m) {
	case QMP_MACHINE_PC:
		*n = sizeof(pc_ports) / sizeof(pc_ports[0]);
		return pc_ports;
	case QMP_MACHINE_Q35:
		*n = sizeof(q35_ports) / sizeof(q35_ports[0]);
		return q35_ports;
	case QMP_MACHINE_UNKNOWN:
		break;
	}
	*n = 0;
	return NULL;
}

const char *qmp_machine_host_path(enum qmp_machine m)
{
	switch (m) {
	case QMP_MACHINE_PC: return "/machine/i440fx";
	case QMP_MACHINE_Q35: return "/machine/q35";
	case QMP_MACHINE_UNKNOWN: break;
	}
	return NULL;
}

const char *qmp_machine_root_bus(enum qmp_machine m)
{
	switch (m) {
	case QMP_MACHINE_PC: return "pci.0";
	case QMP_MACHINE_Q35: return "pcie.0";
	case QMP_MACHINE_UNKNOWN: break;
	}
	return NULL;
}

const char *qmp_machine_root_bus_path(enum qmp_machine m)
{
	switch (m) {
	case QMP_MACHINE_PC: return "/machine/i440fx/pci.0";
	case QMP_MACHINE_Q35: return "/machine/q35/pcie.0";
	case QMP_MACHINE_UNKNOWN: break;
	}
	return NULL;
}

bool qmp_map_u64(json_object *v, uint64_t *out)
{
	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	/* json-c stores integers above INT64_MAX as uint64 and clamps them in
	 * get_int64; negative ones (query-pci's -1) are two's complement. */
	int64_t s = json_object_get_int64(v);
	if (s < 0)
		*out = (uint64_t)s;
	else if (s == INT64_MAX)
		*out = json_object_get_uint64(v);
	else
		*out = (uint64_t)s;
	return true;
}

static enum mmio_status add_window(struct tsd_layout *l, uint8_t kind, uint64_t start,
				   uint64_t end, enum tsd_source src, struct mmio_error *err)
{
	if (end <= start)
		return MMIO_OK;
	if (l->nwin >= MMIO_MAX_WINDOWS)
		return mmio_error_set(err, MMIO_E_UNSUPPORTED, "more than %d windows",
				      MMIO_MAX_WINDOWS);
	l->win[l->nwin] = (struct mmio_window){ .kind = kind, .flags = 0, .start = start, .end = end };
	l->win_source[l->nwin] = (uint8_t)src;
	l->nwin++;
	return MMIO_OK;
}

#define QMP_GIB UINT64_C(0x40000000)

static uint64_t round_up_gib(uint64_t v)
{
	return (v + QMP_GIB - 1) & ~(QMP_GIB - 1);
}

/* QEMU's default 64-bit window, the one the _CRS has when nothing 64-bit
 * lay at or above 4 GiB when the tables were built: [pc_pci_hole64_start(),
 * ROUND_UP(start + pci-hole64-size, 1 GiB)).  False when the facts for it
 * are missing or do not fit QEMU's layout (then QOM's live values). */
static bool default_hole64(const struct qmp_holes *h, uint64_t *start, uint64_t *end)
{
	if (!h->have_hole64_size || !h->have_ram || !h->have_hole || h->ram_size < h->hole_start ||
	    h->hole64_size > UINT64_C(1) << 52 || h->ram_size > UINT64_C(1) << 52 ||
	    h->devmem_size > UINT64_C(1) << 52)
		return false;
	uint64_t s = MMIO_4G + (h->ram_size - h->hole_start);
	if (h->devmem_size)
		s = round_up_gib(s) + h->devmem_size;
	s = round_up_gib(s);
	*start = s;
	*end = round_up_gib(s + h->hole64_size);
	return true;
}

uint64_t qmp_map_ovmf_aperture(const struct qmp_holes *h, uint64_t first_free, uint64_t *size)
{
	/* OvmfPkg PlatformInitLib (2022.11): PcdPciMmio64Size 32 GiB unless
	 * X-PciMmio64Mb says otherwise; the base above RAM (first_free),
	 * naturally aligned; PlatformDynamicMmioWindow: when the top eighth
	 * of the phys-bits address space is larger, that instead, at its
	 * top.  Measured: TCG's 40 bits -> 128 GiB at 0xe000000000;
	 * X-PciMmio64Mb=131072 -> 0x2000000000, 262144 -> 0x4000000000. */
	uint64_t sz = h->ovmf_mmio64_mb ? h->ovmf_mmio64_mb << 20 : UINT64_C(32) << 30;
	if (h->phys_bits >= 36 && h->phys_bits < 64) {
		uint64_t space = UINT64_C(1) << h->phys_bits;
		if (space >> 3 > sz) {
			*size = space >> 3;
			return space - (space >> 3);
		}
	}
	uint64_t align = sz & -sz;      /* its lowest set bit */
	*size = sz;
	return (first_free + align - 1) & ~(align - 1);
}

bool qmp_map_hole64(const struct qmp_holes *h, uint64_t *start, uint64_t *end,
		    enum tsd_source *src, char *note, size_t notelen)
{
	uint64_t ds, de;
	bool have_default;

	if (note && notelen)
		*note = '\0';
	*src = TSD_SRC_TOOLSTACK;
	if (!h->have_hole64)
		return false;
	*start = h->hole64_start;
	*end = h->hole64_end;
	have_default = default_hole64(h, &ds, &de);
	if (h->boot_read && h->have_boot64) {
		/* What the firmware left at boot decides, as QEMU's
		 * pci-hole64-start/-end computed it then. */
		*start = h->boot64_start;
		*end = have_default ? round_up_gib(*start + h->hole64_size) : h->hole64_end;
		if (h->boot64_end > *end)
			*end = h->boot64_end;
		if (h->boot_unplaced || h->boot_left) {
			*src = TSD_SRC_ASSUMED;
			if (note)
				snprintf(note, notelen, "the 64-bit window is assumed: %s",
					 h->boot_left ? "a device present at boot has left, its BARs are not known"
						      : "the firmware has not placed every boot device");
		}
		return true;
	}
	if (h->boot_read && h->boot_unplaced && h->firmware == TSD_FW_OVMF && have_default) {
		/* Before OVMF ran: it will open its aperture and put the boot
		 * devices' 64-bit BARs there, largest first from its base. */
		uint64_t size;
		*start = qmp_map_ovmf_aperture(h, ds, &size);
		*end = round_up_gib(*start + h->hole64_size);
		*src = TSD_SRC_ASSUMED;
		if (note)
			snprintf(note, notelen, "the 64-bit window is assumed: OVMF has not placed "
				 "the boot devices yet (it opens its aperture at 0x%" PRIx64 ")", *start);
		return true;
	}
	if (h->boot_read && h->boot_left && have_default) {
		*start = ds;
		*end = de;
		*src = TSD_SRC_ASSUMED;
		if (note)
			snprintf(note, notelen, "the 64-bit window is assumed: a device present at "
				 "boot has left, its BARs are not known");
		return true;
	}
	if (!have_default)
		return true;
	if (h->boot_read) {
		/* Nothing 64-bit at or above 4 GiB at boot: QEMU's default. */
		*start = ds;
		*end = de;
		return true;
	}
	/* Not told what was there at boot (the libvirt back end): QEMU's
	 * pci-hole64-start is the lowest enabled 64-bit BAR above 4 GiB, or
	 * pc_pci_hole64_start() when there is none; -end is the larger of the
	 * highest such BAR and ROUND_UP(start + size, 1 GiB).  The live
	 * start can only be higher than the default one. */
	if (ds > h->hole64_start)
		return true;            /* not QEMU 7.2's layout: keep what QOM says */
	*start = ds;
	/* Same start: the live end is exact (it also covers 64-bit BARs the
	 * firmware put above start + size, which the _CRS includes). */
	*end = ds == h->hole64_start && h->hole64_end > de ? h->hole64_end : de;
	return true;
}

void qmp_map_boot64(const struct tsd_layout *l, const struct qmp_qom_dev *devs, size_t n,
		    struct qmp_holes *h)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	h->boot_read = true;
	h->have_boot64 = false;
	h->boot_unplaced = false;
	for (size_t i = 0; i < l->nbars; i++) {
		const struct tsd_live_bar *b = &l->bars[i];
		uint64_t at;
		if (b->arrival != TSD_ARRIVAL_BOOT || b->bar.kind != MMIO_BAR_MEM64 ||
		    b->bar.index == MMIO_BAR_ROM)
			continue;
		at = b->addr != TSD_ADDR_UNASSIGNED ? b->addr : b->last_mapped;
		if (!at) {
			h->boot_unplaced = true;
			continue;
		}
		if (at + b->bar.size <= MMIO_4G || at + b->bar.size < at)
			continue;
		if ((at < MMIO_4G ? MMIO_4G : at) < lo)
			lo = at < MMIO_4G ? MMIO_4G : at;
		if (at + b->bar.size > hi)
			hi = at + b->bar.size;
	}
	for (size_t i = 0; i < l->nports; i++) {
		const struct tsd_port *p = &l->ports[i];
		unsigned bus = 0, slot, fn;
		bool hotplugged = false;
		if (sscanf(p->guest_slot, "%x:%x.%x", &bus, &slot, &fn) == 3)
			for (size_t k = 0; k < n; k++)
				if (devs[k].bus == (int)bus && devs[k].devfn == (int)(slot << 3 | fn))
					hotplugged = devs[k].hotplugged == 1;
		if (hotplugged)
			continue;
		if (!p->windows_known) {
			h->boot_unplaced = true;
			continue;
		}
		const struct mmio_window *w = &p->win[TSD_PORT_WIN_PREF];
		if (!p->present[TSD_PORT_WIN_PREF] || w->end <= MMIO_4G)
			continue;
		if ((w->start < MMIO_4G ? MMIO_4G : w->start) < lo)
			lo = w->start < MMIO_4G ? MMIO_4G : w->start;
		if (w->end > hi)
			hi = w->end;
	}
	if (hi > lo) {
		h->have_boot64 = true;
		h->boot64_start = lo;
		h->boot64_end = hi;
	}
}

unsigned qmp_map_machine_version(const char *type)
{
	unsigned major, minor;
	const char *p;

	if (!type)
		return 0;
	/* "pc-i440fx-7.2-machine", "pc-q35-10.0-machine", "pc-q35-7.2" */
	for (p = type; *p; p++)
		if (*p == '-' && sscanf(p + 1, "%u.%u", &major, &minor) == 2 && major < 100 &&
		    minor < 100)
			return major * 100 + minor;
	return 0;
}

uint8_t qmp_map_firmware(const char *pflash0, const char *bios)
{
	if (pflash0 && *pflash0)
		return TSD_FW_OVMF;
	if (!bios)
		return TSD_FW_UNKNOWN;
	if (strcasestr(bios, "ovmf") || strcasestr(bios, "edk2") || strcasestr(bios, "uefi"))
		return TSD_FW_OVMF;
	if (!*bios || strstr(bios, "bios-256k") || strstr(bios, "bios.bin") ||
	    strcasestr(bios, "seabios"))
		return TSD_FW_SEABIOS;
	return TSD_FW_UNKNOWN;
}

uint64_t qmp_map_cmdline_mmio64_mb(const char *cmdline, size_t len)
{
	static const char key[] = "opt/ovmf/X-PciMmio64Mb,";
	uint64_t mb = 0;
	bool fw_cfg = false;

	/* One argument after another; the value follows -fw_cfg (or
	 * --fw_cfg, -fw_cfg=...). */
	for (size_t at = 0; at < len;) {
		const char *arg = cmdline + at;
		size_t n = strnlen(arg, len - at);
		const char *v = NULL;
		if (fw_cfg)
			v = arg;
		else if (strncmp(arg, "-fw_cfg=", 8) == 0 || strncmp(arg, "--fw_cfg=", 9) == 0)
			v = strchr(arg, '=') + 1;
		fw_cfg = strcmp(arg, "-fw_cfg") == 0 || strcmp(arg, "--fw_cfg") == 0;
		if (v) {
			const char *k = strstr(v, key), *str;
			if (k && (k == v || k[-1] == ',' || k[-1] == '=') &&
			    (str = strstr(k, "string=")) && (str == v || str[-1] == ',')) {
				char *e;
				errno = 0;
				unsigned long long x = strtoull(str + 7, &e, 10);
				if (!errno && e != str + 7 && (*e == '\0' || *e == ',') && x < (UINT64_C(1) << 40))
					mb = x;
			}
		}
		at += n + 1;
	}
	return mb;
}

enum mmio_status qmp_map_windows(const struct qmp_holes *h, struct tsd_layout *l,
				 struct mmio_error *err)
{
	enum mmio_status st;

	l->nwin = 0;
	l->window_note[0] = '\0';
	free(l->clip);
	l->clip = NULL;
	l->nclip = 0;
	l->firmware = h->firmware;
	l->phys_bits = (uint8_t)(h->phys_bits < 64 ? h->phys_bits : 0);
	/* q35's pcie.0 takes no hot-plugged device: they go into root ports. */
	l->ports_only = h->machine == QMP_MACHINE_Q35;
	/* Low window.  pci-hole-end is exclusive (0xfec00000, the IO-APIC). */
	if (h->have_hole) {
		if (h->hole_end <= h->hole_start || h->hole_end > MMIO_4G)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "pci-hole [0x%" PRIx64 ", 0x%" PRIx64 ") makes no sense",
					      h->hole_start, h->hole_end);
		uint64_t mb = 0, ms = 0;
		enum tsd_source msrc = TSD_SRC_TOOLSTACK;
		if (h->machine == QMP_MACHINE_Q35) {
			/* QEMU's q35 DSDT cuts MMCONFIG out of the low window
			 * (two _CRS ranges), while pci-hole-start stays the end
			 * of low RAM.  Before the firmware ran MCFG reads
			 * all-ones: predict the firmware's placement. */
			if (h->have_mcfg && h->mcfg_base != UINT64_MAX && h->mcfg_size) {
				mb = h->mcfg_base;
				ms = h->mcfg_size;
			} else {
				mb = QMP_Q35_MCFG_DEFAULT;
				ms = QMP_Q35_MCFG_SIZE_DEFAULT;
				msrc = TSD_SRC_MODEL;
			}
		}
		if (ms && mb < h->hole_end && mb + ms > h->hole_start) {
			st = add_window(l, MMIO_WIN_LOW, h->hole_start, mb, msrc, err);
			if (st == MMIO_OK)
				st = add_window(l, MMIO_WIN_LOW, mb + ms, h->hole_end, msrc, err);
		} else {
			st = add_window(l, MMIO_WIN_LOW, h->hole_start, h->hole_end,
					TSD_SRC_TOOLSTACK, err);
		}
		if (st != MMIO_OK)
			return st;
	}
	/* High window: only when QEMU has one (x-pci-hole64-fix machines
	 * always do; its end includes 64-bit BARs the firmware placed). */
	uint64_t s64, e64;
	enum tsd_source src64;
	if (qmp_map_hole64(h, &s64, &e64, &src64, l->window_note, sizeof(l->window_note))) {
		/* Linux drops the part no CPU address reaches ("host bridge
		 * window ... ignored, not CPU addressable"). */
		if (h->phys_bits >= 32 && h->phys_bits < 64 && e64 > UINT64_C(1) << h->phys_bits)
			e64 = UINT64_C(1) << h->phys_bits;
		if (e64 > s64) {
			st = add_window(l, MMIO_WIN_HIGH, s64, e64, src64, err);
			if (st != MMIO_OK)
				return st;
		}
		/* AMD's HyperTransport hole, when the guest's E820 has it:
		 * SeaBIOS passes QEMU's on, OVMF 2022.11 does not. */
		if (e64 > s64 && h->cpu_amd && h->phys_bits >= 40 && h->machine_version >= 701 &&
		    h->firmware != TSD_FW_OVMF && s64 < QMP_AMD_HT_END && e64 > QMP_AMD_HT_START) {
			l->clip = malloc(sizeof(*l->clip));
			if (!l->clip)
				return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
			l->clip[0] = (struct mmio_range){ QMP_AMD_HT_START, QMP_AMD_HT_END };
			l->nclip = 1;
		}
	}
	/* I/O: QEMU's window minus the ports QEMU decodes itself, as separate
	 * windows (a BAR never straddles them, so this is exact).  These are
	 * not read from QEMU: they are QEMU 7.2's fixed layout. */
	size_t n;
	const struct qmp_fixed_ports *fp = qmp_machine_fixed_ports(h->machine, &n);
	uint64_t at = QMP_IO_START;
	for (size_t i = 0; i < n; i++) {
		st = add_window(l, MMIO_WIN_IO, at, fp[i].start, TSD_SRC_MODEL, err);
		if (st != MMIO_OK)
			return st;
		at = fp[i].end;
	}
	return add_window(l, MMIO_WIN_IO, at, QMP_IO_END, TSD_SRC_MODEL, err);
}

/* ---- query-pci ------------------------------------------------------------ */

struct pci_acc {
	struct tsd_live_bar *bars;
	size_t n, cap;
	struct qmp_pci_slots *slots;
	struct tsd_port *ports;
	size_t nports, capports;
};

static bool jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static enum mmio_status pci_region(json_object *reg, const char *dev, const char *slot,
				   unsigned pci_class, struct pci_acc *acc, struct mmio_error *err)
{
	int64_t idx, size, addr;
	const char *type = jstr(reg, "type");

	if (!jint(reg, "bar", &idx) || idx < 0 || idx > MMIO_BAR_ROM)
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: %s: region without a valid \"bar\"",
				      slot);
	/* BAR sizes are powers of two by construction (the low bits of a BAR
	 * are hard-wired); anything else is a damaged reply. */
	if (!jint(reg, "size", &size) || size <= 0 || !mmio_is_pow2((uint64_t)size))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: %s BAR%d: bad \"size\"", slot,
				      (int)idx);
	if (!type || (strcmp(type, "io") != 0 && strcmp(type, "memory") != 0))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: %s BAR%d: bad \"type\"", slot,
				      (int)idx);
	if (!jint(reg, "address", &addr))
		addr = -1;
	if (acc->n == acc->cap) {
		size_t nc = acc->cap ? acc->cap * 2 : 32;
		struct tsd_live_bar *nb = realloc(acc->bars, nc * sizeof(*nb));
		if (!nb)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		acc->bars = nb;
		acc->cap = nc;
	}
	struct tsd_live_bar *b = &acc->bars[acc->n++];
	memset(b, 0, sizeof(*b));
	snprintf(b->device, sizeof(b->device), "%s", dev);
	snprintf(b->guest_slot, sizeof(b->guest_slot), "%s", slot);
	b->bar.index = (uint8_t)idx;
	b->bar.size = (uint64_t)size;
	if (strcmp(type, "io") == 0) {
		b->bar.kind = MMIO_BAR_IO;
	} else if (idx == MMIO_BAR_ROM) {
		/* QEMU says prefetch false for the ROM; the model (like Linux)
		 * calls it a prefetchable 32-bit BAR. */
		b->bar.kind = MMIO_BAR_MEM32;
		b->bar.prefetch = true;
	} else {
		b->bar.kind = jbool(reg, "mem_type_64") ? MMIO_BAR_MEM64 : MMIO_BAR_MEM32;
		b->bar.prefetch = jbool(reg, "prefetch");
	}
	/* All-ones is PCI_BAR_UNMAPPED (-1 as QEMU prints it).  0xffffffff is
	 * accepted too for a 32-bit BAR or I/O, which no real assignment can
	 * produce (BARs are naturally aligned). */
	uint64_t a = (uint64_t)addr;
	if (addr == -1 || (b->bar.kind != MMIO_BAR_MEM64 && a == UINT32_MAX))
		b->addr = TSD_ADDR_UNASSIGNED;
	else
		b->addr = a;
	b->source = TSD_SRC_TOOLSTACK;
	b->pci_class = (uint16_t)pci_class;
	return MMIO_OK;
}

/* One forwarding range of pci_bridge.bus: {"base": B, "limit": L}, L
 * inclusive (QEMU's pci_bridge_get_limit ORs in the granule).  A bridge
 * that does not forward the type reads limit < base (QEMU prints what the
 * registers hold: a disabled I/O window is base 0xf000, limit 0x0fff). */
static bool bridge_range(json_object *bus, const char *key, uint64_t *start, uint64_t *end)
{
	json_object *r;
	int64_t base, limit;

	if (!json_object_object_get_ex(bus, key, &r) || !jint(r, "base", &base) ||
	    !jint(r, "limit", &limit) || base < 0 || limit < base || limit == INT64_MAX)
		return false;
	*start = (uint64_t)base;
	*end = (uint64_t)limit + 1;
	return true;
}

void qmp_map_port_windows(json_object *bus, struct tsd_port *p)
{
	int64_t secondary = 0;
	uint64_t s, e;

	memset(p->present, 0, sizeof(p->present));
	memset(p->win, 0, sizeof(p->win));
	memset(p->win_source, 0, sizeof(p->win_source));
	/* Before the firmware ran (-S) the bus is not numbered and the
	 * windows are whatever reset left: not the guest's. */
	p->windows_known = jint(bus, "secondary", &secondary) && secondary > 0 && secondary < 256;
	p->secondary = p->windows_known ? (uint8_t)secondary : 0;
	if (!p->windows_known)
		return;
	if (bridge_range(bus, "io_range", &s, &e) && e <= 0x10000) {
		p->present[TSD_PORT_WIN_IO] = true;
		p->win[TSD_PORT_WIN_IO] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = s, .end = e };
	}
	if (bridge_range(bus, "memory_range", &s, &e) && e <= MMIO_4G) {
		p->present[TSD_PORT_WIN_MEM] = true;
		p->win[TSD_PORT_WIN_MEM] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = s, .end = e };
	}
	if (bridge_range(bus, "prefetchable_range", &s, &e)) {
		p->present[TSD_PORT_WIN_PREF] = true;
		p->win[TSD_PORT_WIN_PREF] = (struct mmio_window){
			.kind = e <= MMIO_4G ? MMIO_WIN_LOW : MMIO_WIN_HIGH,
			.flags = MMIO_WF_PREFETCH | MMIO_WF_MEM64, .start = s, .end = e,
		};
	}
}

void qmp_map_port_io_model(struct tsd_layout *l, size_t i)
{
	struct tsd_port *p;

	if (i >= l->nports)
		return;
	p = &l->ports[i];
	if (!p->windows_known || p->present[TSD_PORT_WIN_IO])
		return;
	for (uint64_t at = MMIO_X86_MIN_IO; at + 0x1000 <= 0x10000; at += 0x1000) {
		uint64_t end = at + 0x1000;
		bool inside = false, taken = false;

		for (unsigned w = 0; w < l->nwin && !inside; w++)
			inside = l->win[w].kind == MMIO_WIN_IO && l->win[w].start <= at &&
				 end <= l->win[w].end;
		for (size_t b = 0; inside && !taken && b < l->nbars; b++) {
			const struct tsd_live_bar *lb = &l->bars[b];
			taken = lb->bar.kind == MMIO_BAR_IO && lb->addr != TSD_ADDR_UNASSIGNED &&
				lb->addr < end && lb->addr + lb->bar.size > at;
		}
		for (size_t q = 0; inside && !taken && q < l->nports; q++) {
			const struct mmio_window *w = &l->ports[q].win[TSD_PORT_WIN_IO];
			taken = q != i && l->ports[q].present[TSD_PORT_WIN_IO] && w->start < end &&
				w->end > at;
		}
		if (inside && !taken) {
			p->present[TSD_PORT_WIN_IO] = true;
			p->win[TSD_PORT_WIN_IO] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = at,
									.end = end };
			p->win_source[TSD_PORT_WIN_IO] = TSD_SRC_MODEL;
			return;
		}
	}
}

bool qmp_map_bridge_multi_slot(unsigned vendor, unsigned device)
{
	/* QEMU 7.2's conventional PCI bridges: pci-bridge (1b36:0001),
	 * pcie-pci-bridge (1b36:000e), i82801b11-bridge (8086:244e).  Every
	 * other bridge on a root bus is a PCIe port (pcie-root-port 1b36:000c,
	 * ioh3420 8086:3420, ...) with one slot behind it. */
	return (vendor == 0x1b36 && (device == 0x0001 || device == 0x000e)) ||
	       (vendor == 0x8086 && device == 0x244e);
}

bool qmp_map_bridge_downstream(unsigned vendor, unsigned device)
{
	/* QEMU 7.2's xio3130-downstream (TI XIO3130, 104c:8233): what
	 * libvirt's pcie-switch-downstream-port is. */
	return vendor == 0x104c && device == 0x8233;
}

static enum mmio_status add_port(struct pci_acc *acc, const char *id, const char *slot,
				 json_object *br, bool empty, unsigned vendor, unsigned device,
				 struct mmio_error *err)
{
	json_object *bus;

	if (acc->nports == acc->capports) {
		size_t nc = acc->capports ? acc->capports * 2 : 8;
		struct tsd_port *np = realloc(acc->ports, nc * sizeof(*np));
		if (!np)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		acc->ports = np;
		acc->capports = nc;
	}
	struct tsd_port *p = &acc->ports[acc->nports++];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->guest_slot, sizeof(p->guest_slot), "%s", slot);
	p->empty = empty;
	p->multi_slot = qmp_map_bridge_multi_slot(vendor, device);
	if (json_object_object_get_ex(br, "bus", &bus) && json_object_is_type(bus, json_type_object))
		qmp_map_port_windows(bus, p);
	return MMIO_OK;
}

static enum mmio_status pci_devices(json_object *devs, int depth, struct pci_acc *acc,
				    struct mmio_error *err)
{
	if (!json_object_is_type(devs, json_type_array))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: \"devices\" is not a list");
	if (depth > 16)
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: bridges nested too deep");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *dev = json_object_array_get_idx(devs, i), *regions, *br;
		int64_t bus, slot, fn;
		char bdf[16], name[64];

		if (!json_object_is_type(dev, json_type_object) || !jint(dev, "bus", &bus) ||
		    !jint(dev, "slot", &slot) || !jint(dev, "function", &fn) || bus < 0 ||
		    bus > 255 || slot < 0 || slot > 31 || fn < 0 || fn > 7)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "query-pci: device %zu without bus/slot/function", i);
		snprintf(bdf, sizeof(bdf), "%02x:%02x.%x", (unsigned)bus, (unsigned)slot,
			 (unsigned)fn);
		const char *qid = jstr(dev, "qdev_id");
		snprintf(name, sizeof(name), "%s", qid && *qid ? qid : bdf);
		if (bus == 0 && acc->slots)
			acc->slots->root_used |= UINT32_C(1) << slot;
		json_object *ci;
		int64_t cls = 0;
		if (json_object_object_get_ex(dev, "class_info", &ci))
			jint(ci, "class", &cls);
		if (json_object_object_get_ex(dev, "regions", &regions)) {
			if (!json_object_is_type(regions, json_type_array))
				return mmio_error_set(err, MMIO_E_INVALID,
						      "query-pci: %s: \"regions\" is not a list", bdf);
			for (size_t r = 0; r < json_object_array_length(regions); r++) {
				enum mmio_status st = pci_region(json_object_array_get_idx(regions, r),
								 name, bdf, (unsigned)cls & 0xffff, acc,
								 err);
				if (st != MMIO_OK)
					return st;
			}
		}
		if (json_object_object_get_ex(dev, "pci_bridge", &br)) {
			json_object *sub;
			bool has_devs = json_object_object_get_ex(br, "devices", &sub) &&
					json_object_is_type(sub, json_type_array) &&
					json_object_array_length(sub) > 0;
			/* An empty bridge with an id is where q35 hot-plugs
			 * (pcie-root-port); device_add needs the id as bus=. */
			if (!has_devs && qid && *qid && acc->slots &&
			    acc->slots->nports < QMP_MAX_PORTS)
				snprintf(acc->slots->ports[acc->slots->nports++],
					 sizeof(acc->slots->ports[0]), "%s", qid);
			/* Bridges on the root bus with an id are the ports a device
			 * can be hot-plugged behind; their windows bound it.  So
			 * are a PCIe switch's downstream ports, wherever the
			 * switch sits (a Linux 6.1 q35 guest places a device
			 * plugged there inside the downstream port's windows). */
			json_object *idobj;
			int64_t ven = 0, did = 0;
			if (json_object_object_get_ex(dev, "id", &idobj)) {
				jint(idobj, "vendor", &ven);
				jint(idobj, "device", &did);
			}
			if (qid && *qid && ((depth == 0 && bus == 0) ||
					    qmp_map_bridge_downstream((unsigned)ven & 0xffff,
								      (unsigned)did & 0xffff))) {
				enum mmio_status st = add_port(acc, qid, bdf, br, !has_devs,
							       (unsigned)ven & 0xffff,
							       (unsigned)did & 0xffff, err);
				if (st != MMIO_OK)
					return st;
			}
			if (has_devs) {
				enum mmio_status st = pci_devices(sub, depth + 1, acc, err);
				if (st != MMIO_OK)
					return st;
			}
		}
	}
	return MMIO_OK;
}

enum mmio_status qmp_map_pci(json_object *reply, struct tsd_layout *l,
			     struct qmp_pci_slots *slots, struct mmio_error *err)
{
	json_object *ret = reply;
	struct pci_acc acc = { .slots = slots };

	if (json_object_is_type(reply, json_type_object) &&
	    !json_object_object_get_ex(reply, "return", &ret))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: no \"return\"");
	if (!json_object_is_type(ret, json_type_array))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: the reply is not a list of buses");
	if (slots)
		memset(slots, 0, sizeof(*slots));
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		json_object *bus = json_object_array_get_idx(ret, i), *devs;
		if (!json_object_is_type(bus, json_type_object) ||
		    !json_object_object_get_ex(bus, "devices", &devs)) {
			free(acc.bars);
			free(acc.ports);
			return mmio_error_set(err, MMIO_E_INVALID, "query-pci: bus %zu without devices", i);
		}
		enum mmio_status st = pci_devices(devs, 0, &acc, err);
		if (st != MMIO_OK) {
			free(acc.bars);
			free(acc.ports);
			return st;
		}
	}
	free(l->bars);
	l->bars = acc.bars;
	l->nbars = acc.n;
	free(l->ports);
	l->ports = acc.ports;
	l->nports = acc.nports;
	return MMIO_OK;
}

size_t qmp_map_bus_children(json_object *qom_list, unsigned *idx, size_t max)
{
	size_t n = 0;

	if (!qom_list || !json_object_is_type(qom_list, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(qom_list); i++) {
		const char *name = jstr(json_object_array_get_idx(qom_list, i), "name");
		unsigned v;
		char tail;
		if (name && sscanf(name, "child[%u%c", &v, &tail) == 2 && tail == ']') {
			if (n < max)
				idx[n] = v;
			n++;
		}
	}
	return n;
}

bool qmp_map_rom_region(json_object *qom_list, char *name, size_t len)
{
	static const char suffix[] = ".rom[0]";

	if (!qom_list || !json_object_is_type(qom_list, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(qom_list); i++) {
		json_object *p = json_object_array_get_idx(qom_list, i);
		const char *n = jstr(p, "name"), *t = jstr(p, "type");
		size_t l = n ? strlen(n) : 0;
		/* pci_add_option_rom() names it "<type>.rom" ("vga.rom" for VGA) */
		if (t && strcmp(t, "child<memory-region>") == 0 && l > sizeof(suffix) - 1 &&
		    strcmp(n + l - (sizeof(suffix) - 1), suffix) == 0 && l < len) {
			memcpy(name, n, l + 1);
			return true;
		}
	}
	return false;
}

size_t qmp_map_bar_regions(json_object *qom_list, char (*names)[64], size_t max)
{
	size_t n = 0;

	if (!qom_list || !json_object_is_type(qom_list, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(qom_list); i++) {
		json_object *p = json_object_array_get_idx(qom_list, i);
		const char *nm = jstr(p, "name"), *t = jstr(p, "type");
		if (!nm || !t || strcmp(t, "child<memory-region>") != 0 || strlen(nm) >= 64 ||
		    strstr(nm, ".rom[") || strncmp(nm, "bus master", 10) == 0)
			continue;
		if (n < max)
			snprintf(names[n], 64, "%s", nm);
		n++;
	}
	return n < max ? n : max;
}

/* Where the memory region of BAR i (of l) was last mapped: the device's
 * region of the BAR's size whose address lies where such a BAR can (64-bit
 * BARs may lie above 4 GiB, others not), the k-th one of that size for the
 * k-th BAR of that size; 0 when none (never mapped, not known). */
static uint64_t bar_region_addr(const struct tsd_layout *l, size_t i, const struct qmp_qom_dev *d)
{
	const struct tsd_live_bar *b = &l->bars[i];
	unsigned rank = 0;

	for (size_t j = 0; j < l->nbars; j++)
		if (j < i && strcmp(l->bars[j].device, b->device) == 0 &&
		    strcmp(l->bars[j].guest_slot, b->guest_slot) == 0 &&
		    l->bars[j].bar.index != MMIO_BAR_ROM && l->bars[j].bar.kind != MMIO_BAR_IO &&
		    l->bars[j].bar.size == b->bar.size)
			rank++;
	for (unsigned m = 0; m < d->nmr && m < QMP_QOM_MAX_MRS; m++) {
		const struct qmp_qom_mr *r = &d->mr[m];
		/* 0: never mapped, or a subregion at the start of its BAR */
		if (r->size != b->bar.size || !r->addr || r->addr % r->size ||
		    (b->bar.kind != MMIO_BAR_MEM64 && r->addr + r->size > MMIO_4G))
			continue;
		if (rank-- == 0)
			return r->addr;
	}
	return 0;
}

void qmp_map_arrivals(struct tsd_layout *l, const struct qmp_qom_dev *devs, size_t n)
{
	for (size_t i = 0; i < l->nbars; i++) {
		struct tsd_live_bar *b = &l->bars[i];
		unsigned bus, slot, fn;
		char tail;
		if (sscanf(b->guest_slot, "%x:%x.%x%c", &bus, &slot, &fn, &tail) != 3)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (devs[k].devfn < 0 || (unsigned)devs[k].devfn != (slot << 3 | fn) ||
			    devs[k].bus < 0 || (unsigned)devs[k].bus != bus)
				continue;
			b->seq = devs[k].index + 1;
			b->arrival = devs[k].hotplugged < 0 ? TSD_ARRIVAL_UNKNOWN :
				     devs[k].hotplugged ? TSD_ARRIVAL_HOTPLUG : TSD_ARRIVAL_BOOT;
			if (b->bar.index == MMIO_BAR_ROM)
				b->last_mapped = devs[k].rom_mapped;
			else if (b->bar.kind != MMIO_BAR_IO)
				b->last_mapped = bar_region_addr(l, i, &devs[k]);
		}
	}
}

static bool has_device(json_object *devs, const char *id, int depth)
{
	if (!json_object_is_type(devs, json_type_array) || depth > 16)
		return false;
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *dev = json_object_array_get_idx(devs, i), *br, *sub;
		const char *qid = jstr(dev, "qdev_id");
		if (qid && strcmp(qid, id) == 0)
			return true;
		if (json_object_object_get_ex(dev, "pci_bridge", &br) &&
		    json_object_object_get_ex(br, "devices", &sub) && has_device(sub, id, depth + 1))
			return true;
	}
	return false;
}

bool qmp_map_has_device(json_object *reply, const char *qdev_id)
{
	json_object *ret = reply, *devs;
	if (!reply || !qdev_id || !*qdev_id)
		return false;
	if (json_object_is_type(reply, json_type_object) &&
	    !json_object_object_get_ex(reply, "return", &ret))
		return false;
	if (!json_object_is_type(ret, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(ret); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(ret, i), "devices", &devs) &&
		    has_device(devs, qdev_id, 0))
			return true;
	return false;
}

int qmp_map_free_root_slot(const struct qmp_pci_slots *s)
{
	for (int slot = 1; slot < 32; slot++)
		if (!(s->root_used & (UINT32_C(1) << slot)))
			return slot;
	return -1;
}

int qmp_map_free_slots(enum qmp_machine m, const struct qmp_pci_slots *s)
{
	switch (m) {
	case QMP_MACHINE_PC: {
		int n = 0;
		for (int slot = 1; slot < 32; slot++)
			if (!(s->root_used & (UINT32_C(1) << slot)))
				n++;
		return n;
	}
	case QMP_MACHINE_Q35:
		return (int)s->nports;
	case QMP_MACHINE_UNKNOWN:
		break;
	}
	return -1;
}

/* ---- device specs ---------------------------------------------------------- */

/* Copies one comma-separated item of s into buf (",," -> ','), returns the
 * position after it, or NULL when it does not fit. */
static const char *spec_item(const char *s, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		if (*s == ',' && s[1] == ',') {
			s += 2;
			if (n + 1 >= len)
				return NULL;
			buf[n++] = ',';
			continue;
		}
		if (*s == ',' || *s == '\0')
			break;
		if (n + 1 >= len)
			return NULL;
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	return s;
}

/* The key and type a device_add error names, if it is a typing error. */
static bool typing_error(const char *desc, char *key, size_t klen, char *type, size_t tlen)
{
	static const char *const forms[][2] = {
		{ "Parameter '", "' expects " },                    /* QEMU 7.2, 10 */
		{ "Invalid parameter type for '", "', expected: " },    /* QEMU 10 */
	};
	for (size_t f = 0; desc && f < sizeof(forms) / sizeof(forms[0]); f++) {
		const char *k = strstr(desc, forms[f][0]), *e, *t;
		size_t n;
		if (!k)
			continue;
		k += strlen(forms[f][0]);
		e = strchr(k, '\'');
		if (!e || (size_t)(e - k) >= klen || strncmp(e, forms[f][1], strlen(forms[f][1])) != 0)
			continue;
		memcpy(key, k, (size_t)(e - k));
		key[e - k] = '\0';
		t = e + strlen(forms[f][1]);
		n = strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789");
		if (!n || n >= tlen)
			continue;
		memcpy(type, t, n);
		type[n] = '\0';
		return true;
	}
	return false;
}

/* "65536", "0x10000", "-1"; with sizes "1M", "2G" (QEMU's -device syntax). */
static bool typed_number(const char *s, bool sizes, bool is_signed, json_object **out)
{
	char *end;
	errno = 0;
	if (is_signed && *s == '-') {
		long long v = strtoll(s, &end, 0);
		if (errno || end == s || *end)
			return false;
		*out = json_object_new_int64(v);
		return *out != NULL;
	}
	if (*s == '-' || *s == '+')
		return false;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	if (*end && sizes) {
		static const char units[] = "KMGTPE";
		const char *u = strchr(units, end[0] == 'k' ? 'K' : end[0]);
		unsigned shift = u ? 10u * (unsigned)(u - units + 1) : 0;
		if (!u || end[1] || (v && v > (UINT64_MAX >> shift)))
			return false;
		v <<= shift;
		end++;
	}
	if (*end)
		return false;
	*out = v > INT64_MAX ? json_object_new_uint64(v) : json_object_new_int64((int64_t)v);
	return *out != NULL;
}

bool qmp_map_typed_retry(json_object *args, const char *desc)
{
	char key[64], type[16];
	json_object *v, *nv = NULL;
	const char *s;

	if (!typing_error(desc, key, sizeof(key), type, sizeof(type)) ||
	    !json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (strcmp(type, "boolean") == 0 || strcmp(type, "bool") == 0) {
		if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true"))
			nv = json_object_new_boolean(1);
		else if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false"))
			nv = json_object_new_boolean(0);
	} else if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0 ||
		   strncmp(type, "int", 3) == 0 || strncmp(type, "uint", 4) == 0 ||
		   strcmp(type, "size") == 0) {
		bool sizes = strcmp(type, "uint64") == 0 || strcmp(type, "size") == 0;
		bool is_signed = strncmp(type, "int", 3) == 0 || strcmp(type, "integer") == 0 ||
				 strcmp(type, "number") == 0;
		if (!typed_number(s, sizes, is_signed, &nv))
			nv = NULL;
	}
	if (!nv)
		return false;
	json_object_object_add(args, key, nv);
	return true;
}

json_object *qmp_map_device_spec(const char *spec, struct mmio_error *err)
{
	char item[512];
	const char *p = spec;
	_cleanup_(json_object_putp) json_object *args = NULL;

	if (!spec || !*spec) {
		mmio_error_set(err, MMIO_E_INVALID, "empty QEMU device spec");
		return NULL;
	}
	args = json_object_new_object();
	if (!args) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return NULL;
	}
	for (bool first = true;; first = false) {
		p = spec_item(p, item, sizeof(item));
		if (!p) {
			mmio_error_set(err, MMIO_E_INVALID, "QEMU device spec \"%s\": item too long", spec);
			return NULL;
		}
		char *eq = strchr(item, '=');
		const char *key = item, *val;
		if (first && !eq) {
			key = "driver";
			val = item;
		} else if (!eq) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "QEMU device spec \"%s\": \"%s\" is not key=value", spec, item);
			return NULL;
		} else {
			*eq = '\0';
			val = eq + 1;
		}
		/* An empty value is QEMU's own way to say "none" (romfile= for a
		 * device without an option ROM); an empty key or driver is not. */
		if (!*key || (first && !eq && !*val)) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "QEMU device spec \"%s\": empty %s", spec,
				       first ? "driver" : "key");
			return NULL;
		}
		if (strcmp(key, "id") == 0) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "QEMU device spec \"%s\": do not set id, mmiod names the device",
				       spec);
			return NULL;
		}
		if (json_object_object_get_ex(args, key, NULL)) {
			mmio_error_set(err, MMIO_E_INVALID, "QEMU device spec \"%s\": \"%s\" given twice",
				       spec, key);
			return NULL;
		}
		json_object *v = json_object_new_string(val);
		if (!v || json_object_object_add(args, key, v) != 0) {
			json_object_put(v);
			mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
			return NULL;
		}
		if (*p == '\0')
			break;
		p++;    /* the separating comma */
	}
	return TAKE_PTR(args);
}

/* ---- declared vs real BARs -------------------------------------------------- */


static void bar_words(const struct mmio_bar *b, char *buf, size_t len)
{
	char sz[32];
	mmio_size_format(b->size, sz, sizeof(sz));
	snprintf(buf, len, "%s %s", mmio_bar_kind_name(b), sz);
}

bool qmp_map_compare(const struct mmio_device *declared, const struct tsd_layout *l,
		     const char *id, bool ignore_rom, char *diff, size_t difflen)
{
	const struct mmio_bar *dec[MMIO_MAX_BARS] = { 0 }, *real[MMIO_MAX_BARS] = { 0 };
	bool same = true;
	char a[64], b[64];

	diff[0] = '\0';
	for (unsigned i = 0; i < declared->nbars; i++)
		if (declared->bars[i].index < MMIO_MAX_BARS)
			dec[declared->bars[i].index] = &declared->bars[i];
	for (size_t i = 0; i < l->nbars; i++)
		if (strcmp(l->bars[i].device, id) == 0 && l->bars[i].bar.index < MMIO_MAX_BARS)
			real[l->bars[i].bar.index] = &l->bars[i].bar;
	for (unsigned i = 0; i < MMIO_MAX_BARS; i++) {
		const struct mmio_bar *d = dec[i], *r = real[i];
		if ((!d && !r) || (ignore_rom && i == MMIO_BAR_ROM))
			continue;
		if (d && r && d->kind == r->kind && d->prefetch == r->prefetch && d->size == r->size)
			continue;
		same = false;
		if (diff[0])
			strbuf_appendf(diff, difflen, "; ");
		if (d)
			bar_words(d, a, sizeof(a));
		if (r)
			bar_words(r, b, sizeof(b));
		if (d && r)
			strbuf_appendf(diff, difflen, "BAR%u: declared %s, QEMU has %s", i, a, b);
		else if (d)
			strbuf_appendf(diff, difflen, "BAR%u: declared %s, QEMU has none", i, a);
		else
			strbuf_appendf(diff, difflen, "BAR%u: QEMU has %s, not declared", i, b);
	}
	return same;
}
