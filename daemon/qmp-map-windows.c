/* SPDX-License-Identifier: MIT */
/*
 * qmp-map-windows.c — the guest's address windows for the QMP back end
 * (see qmp-map.h): the machine's fixed tables, the host bridge's holes as
 * QOM shows them, and what the firmware (SeaBIOS, OVMF) makes of them: the
 * 64-bit window at boot, OVMF's aperture, AMD's HyperTransport hole.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp-map-windows.h"

/* QEMU's PCI I/O window on pc and q35 (the DSDT's _CRS offers 0x0d00-0xffff
 * above the config ports; the model clips it to MMIO_X86_MIN_IO). */
#define QMP_IO_START 0x0d00u
#define QMP_IO_END   0x10000u

/* Where SeaBIOS and OVMF put MMCONFIG on q35 when QEMU still shows it
 * disabled (-S: the firmware has not run): Q35_HOST_BRIDGE_PCIEXBAR_ADDR
 * and OVMF 2022.11's PcdPciExpressBaseAddress, 256 MiB for 256 buses;
 * newer OVMF (2025.02, measured) puts it at 0xE0000000, after its 32-bit
 * aperture. */
#define QMP_Q35_MCFG_DEFAULT      UINT64_C(0xB0000000)
#define QMP_Q35_MCFG_OVMF_NEW     UINT64_C(0xE0000000)
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

/* The QOM names of each machine's host bridge and root bus. */
static const struct machine_names {
	const char *host_path, *root_bus, *root_bus_path;
} machine_names[] = {
	[QMP_MACHINE_PC] = { "/machine/i440fx", "pci.0", "/machine/i440fx/pci.0" },
	[QMP_MACHINE_Q35] = { "/machine/q35", "pcie.0", "/machine/q35/pcie.0" },
};

static const struct machine_names *names_of(enum qmp_machine m)
{
	return m == QMP_MACHINE_PC || m == QMP_MACHINE_Q35 ? &machine_names[m] : NULL;
}

const char *qmp_machine_host_path(enum qmp_machine m)
{
	return names_of(m) ? names_of(m)->host_path : NULL;
}

const char *qmp_machine_root_bus(enum qmp_machine m)
{
	return names_of(m) ? names_of(m)->root_bus : NULL;
}

const char *qmp_machine_root_bus_path(enum qmp_machine m)
{
	return names_of(m) ? names_of(m)->root_bus_path : NULL;
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

/* QEMU reserves AMD's HyperTransport hole in its E820 (fw_cfg etc/e820)
 * for an AMD CPU with 40 or more phys-bits on a 7.1+ machine type. */
static bool amd_ht_reserved(const struct qmp_holes *h)
{
	return h->cpu_amd && h->phys_bits >= 40 && h->phys_bits < 64 && h->machine_version >= 701;
}

uint64_t qmp_map_ovmf_aperture(const struct qmp_holes *h, uint64_t first_free, uint64_t *size,
			       uint64_t *older)
{
	/* OvmfPkg PlatformInitLib: PcdPciMmio64Size 32 GiB unless
	 * X-PciMmio64Mb says otherwise, at the first free address aligned to
	 * 1 GiB and then to the size's highest power of two
	 * (PlatformGetFirstNonAddress). */
	uint64_t sz = h->ovmf_mmio64_mb ? h->ovmf_mmio64_mb << 20 : UINT64_C(32) << 30;
	sz = round_up_gib(sz);
	uint64_t align = UINT64_C(1) << (63 - __builtin_clzll(sz | 1));
	uint64_t base = (round_up_gib(first_free) + align - 1) & ~(align - 1);
	/* PlatformAddressWidthFromCpuid trusts CPUID's phys-bits when above
	 * 40, or 40 on AMD, or 36/39 on Intel (QEMU's TCG default of 40 on
	 * an Intel model is not a real CPU's); above 46 it takes 46. */
	unsigned pb = h->phys_bits < 64 ? h->phys_bits : 0;
	bool valid = pb >= 41 || (pb == 40 && h->cpu_amd) || ((pb == 36 || pb == 39) && !h->cpu_amd);
	if (pb > 46)
		pb = 46;
	*older = UINT64_MAX;
	if (valid) {
		/* PlatformDynamicMmioWindow: the top eighth of the address
		 * space when larger and above the classic base.  Measured:
		 * TCG's 40 bits -> 128 GiB at 0xe000000000 (2022.11);
		 * X-PciMmio64Mb=131072 -> 0x2000000000, 262144 -> 0x4000000000. */
		uint64_t space = UINT64_C(1) << pb, mmio = space >> 3;
		if (sz < mmio && base + mmio < space) {
			sz = mmio;
			base = space - mmio;
			/* Newer OVMF (2025.02, measured: 0xc000000000 with
			 * 40 bits) moves the window below an E820 reservation
			 * it overlaps, aligned to its size
			 * (PlatformReservationConflictCB); 2022.11 does not. */
			if (amd_ht_reserved(h) && base < QMP_AMD_HT_END && base + sz > QMP_AMD_HT_START) {
				*older = base;
				base = (QMP_AMD_HT_START - sz) & ~(sz - 1);
			}
		}
	}
	*size = sz;
	return base;
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
		uint64_t size, older;
		*start = qmp_map_ovmf_aperture(h, ds, &size, &older);
		*end = round_up_gib(*start + h->hole64_size);
		*src = TSD_SRC_ASSUMED;
		/* Which OVMF it is QEMU does not show: the newer one's
		 * placement, and the older one's named. */
		if (note && older != UINT64_MAX)
			snprintf(note, notelen, "the 64-bit window is assumed: OVMF has not placed "
				 "the boot devices yet (it opens its aperture at 0x%" PRIx64 ", OVMF "
				 "2022.11 at 0x%" PRIx64 ")", *start, older);
		else if (note)
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
			} else if (h->firmware == TSD_FW_OVMF) {
				/* which OVMF it is QEMU does not show */
				mb = QMP_Q35_MCFG_OVMF_NEW;
				ms = QMP_Q35_MCFG_SIZE_DEFAULT;
				msrc = TSD_SRC_ASSUMED;
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
		/* AMD's HyperTransport hole, when QEMU's E820 reserves it:
		 * SeaBIOS and newer OVMF (2025.02) pass the reservation on,
		 * OVMF 2022.11 does not; which OVMF it is QEMU does not
		 * show, so it is kept out for OVMF too (conservative: only
		 * a window reaching 0xfd00000000 loses space). */
		if (e64 > s64 && amd_ht_reserved(h) && s64 < QMP_AMD_HT_END && e64 > QMP_AMD_HT_START) {
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
