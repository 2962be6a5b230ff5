/* SPDX-License-Identifier: MIT */
/*
 * test-libxl-map.c — the pure half of the libxl back end, with no Xen:
 * hand-built libxl_domain_config values (libxl_domain_config_init and
 * friends need no libxl_ctx), and real `info pci` text.
 *
 * info-pci-xen417-*.txt are qemu-xen's (Xen 4.17.7, Debian 12), read in
 * the rig of tests/xen.  The older `info pci` fixtures were captured from QEMU 7.2 (Debian
 * 1:7.2+dfsg-7+deb12u18) running a diskless `-machine pc` guest under TCG
 * with SeaBIOS, not from qemu-xen: Xen 4.17's qemu-xen is QEMU 7.x and prints
 * `info pci` with the same hmp_info_pci code, which is close enough for the
 * parser.  The addresses are SeaBIOS's, not hvmloader's, so the window tests
 * use hand-built BARs laid out as hvmloader lays them (shared/ref/xen.md 1.6).
 * See tests/backends/README.md for how the fixtures were made.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "libxl-map.h"
#include "../tap.h"
#include "fixture.h"

/* An empty domain config of that type (dispose it). */
static void typed_config(libxl_domain_config *c, libxl_domain_type type)
{
	libxl_domain_config_init(c);
	c->c_info.type = type;
	libxl_domain_build_info_init_type(&c->b_info, type);
}

static void hvm_config(libxl_domain_config *c, uint64_t mem_mib, uint64_t video_mib,
		       uint64_t hole_mib)
{
	typed_config(c, LIBXL_DOMAIN_TYPE_HVM);
	c->b_info.max_memkb = mem_mib * 1024;
	c->b_info.video_memkb = video_mib * 1024;
	c->b_info.u.hvm.mmio_hole_memkb = hole_mib * 1024;
	c->b_info.device_model_version = LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN;
	c->b_info.u.hvm.vga.kind = LIBXL_VGA_INTERFACE_TYPE_CIRRUS;
}

static void test_config(void)
{
	libxl_domain_config c;
	struct tsd_libxl_model_input in;
	struct mmio_error err;
	char why[160];

	/* xen.md 1.6: 4096 MiB, Cirrus with 8 MiB, qemu-xen in dom0. */
	hvm_config(&c, 4096, 8, 0);
	c.num_pcidevs = 1;
	c.pcidevs = calloc(1, sizeof(*c.pcidevs));
	libxl_device_pci_init(&c.pcidevs[0]);
	c.pcidevs[0].bus = 3;
	c.pcidevs[0].func = 1;
	c.num_nics = 1;
	c.nics = calloc(1, sizeof(*c.nics));
	libxl_device_nic_init(&c.nics[0]);
	c.nics[0].nictype = LIBXL_NIC_TYPE_VIF_IOEMU;
	tap_ok(tsd_libxl_attachable(&c, why, sizeof(why)), "HVM qemu-xen guest can attach");
	tap_ok(tsd_libxl_model_input(&c, &in, &err) == MMIO_OK, "model input from HVM config");
	tap_is_u64(in.lowmem_end, 0xF0000000, "low RAM ends at 0xF0000000 (xen.md 1.6)");
	tap_is_u64(in.highmem_end, 0x10F800000, "high RAM ends at 0x10F800000 (xen.md 1.6)");
	tap_ok(!in.allow_memory_relocate, "qemu-xen: no RAM relocation");
	tap_ok(!in.hole_size_written, "no mmio_hole: nothing written");
	tap_is_u64(in.npci, 1, "one assigned PCI device");
	tap_is_u64(in.pci[0].bus, 3, "its bus");
	tap_is_u64(in.pci[0].fn, 1, "its function");
	tap_is_u64(in.nemulated_nics, 1, "one emulated NIC");
	tap_ok(in.xen_platform_pci, "platform device defaults on");
	libxl_domain_config_dispose(&c);

	hvm_config(&c, 8192, 8, 1024);
	tap_ok(tsd_libxl_model_input(&c, &in, &err) == MMIO_OK, "model input with mmio_hole=1024");
	tap_ok(in.hole_size_written, "mmio_hole=1024 is written to xenstore");
	tap_is_u64(in.mmio_hole, UINT64_C(1) << 30, "hole size 1 GiB");
	tap_is_u64(in.lowmem_end, 0xC0000000, "low RAM ends at 4 GiB - hole");
	libxl_domain_config_dispose(&c);

	hvm_config(&c, 1024, 8, 0);
	c.b_info.device_model_version = LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN_TRADITIONAL;
	tap_ok(tsd_libxl_model_input(&c, &in, &err) == MMIO_OK, "qemu-traditional config");
	tap_ok(in.allow_memory_relocate, "qemu-traditional in dom0 relocates RAM");
	libxl_domain_config_dispose(&c);

	typed_config(&c, LIBXL_DOMAIN_TYPE_PV);
	tap_ok(!tsd_libxl_attachable(&c, why, sizeof(why)), "PV guest refused");
	tap_contains(why, "PV guest", "PV reason names the type");
	tap_ok(tsd_libxl_model_input(&c, &in, &err) == MMIO_E_UNSUPPORTED, "PV: no model input");
	tap_contains(err.msg, "HVM guests only", "PV: the error says why");
	libxl_domain_config_dispose(&c);

	typed_config(&c, LIBXL_DOMAIN_TYPE_PVH);
	tap_ok(!tsd_libxl_attachable(&c, why, sizeof(why)), "PVH guest refused");
	tap_contains(why, "PVH guest", "PVH reason names the type");
	libxl_domain_config_dispose(&c);

	hvm_config(&c, 1024, 8, 0);
	c.b_info.device_model_version = LIBXL_DEVICE_MODEL_VERSION_UNKNOWN;
	tap_ok(!tsd_libxl_attachable(&c, why, sizeof(why)), "HVM without device model refused");
	libxl_domain_config_dispose(&c);

	/* verification.md section 9 stage 4: created without pci= and
	 * passthrough=, every xl pci-attach fails "no IOMMU?" */
	char why_host[256];
	hvm_config(&c, 1024, 8, 0);
	tap_ok(tsd_libxl_passthrough(&c, why_host, sizeof(why_host)) && !why_host[0],
	       "passthrough \"default\" (a hand-built configuration): host devices possible");
	c.c_info.passthrough = LIBXL_PASSTHROUGH_DISABLED;
	tap_ok(tsd_libxl_attachable(&c, why, sizeof(why)),
	       "passthrough disabled: the guest still takes hot-plugs (its windows stay visible)");
	tap_ok(!tsd_libxl_passthrough(&c, why_host, sizeof(why_host)),
	       "passthrough disabled: no host device");
	tap_contains(why_host, "passthrough disabled", "... the reason names the cause");
	tap_contains(why_host, "passthrough=\"enabled\" or a pci= list", "... and the fix");
	c.c_info.passthrough = LIBXL_PASSTHROUGH_SYNC_PT;
	tap_ok(tsd_libxl_passthrough(&c, why_host, sizeof(why_host)) && !why_host[0],
	       "passthrough enabled (sync_pt, as libxl stores \"enabled\"): host devices");
	libxl_domain_config_dispose(&c);
}

static const struct tsd_live_bar *find(const struct tsd_live_bar *b, size_t n, const char *dev,
				       unsigned idx)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(b[i].device, dev) == 0 && b[i].bar.index == idx)
			return &b[i];
	return NULL;
}

static void test_info_pci(void)
{
	char *text = fixture_read("info-pci-qemu72-boot.txt");
	struct tsd_live_bar *bars = NULL;
	size_t n = 0;
	struct mmio_error err;
	char msg[256];

	if (!tap_ok(text != NULL, "boot fixture readable"))
		return;
	tap_ok(tsd_libxl_parse_info_pci(text, &bars, &n, &err) == MMIO_OK, "boot info pci parses");
	tap_is_u64(n, 10, "ten BARs (IDE 1, VGA 3, e1000 3, pci-testdev 3)");
	const struct tsd_live_bar *b = find(bars, n, "00:02.0", 0);
	tap_ok(b && b->addr == 0xfc000000 && b->bar.size == 32 << 20 &&
	       b->bar.kind == MMIO_BAR_MEM32 && b->bar.prefetch, "VGA BAR0: 32 MiB mem32p at 0xfc000000");
	tap_is_str(b ? b->guest_slot : "", "00:02.0", "VGA guest slot");
	b = find(bars, n, "00:02.0", MMIO_BAR_ROM);
	tap_ok(b && b->addr == TSD_ADDR_UNASSIGNED && b->bar.size == 0x10000,
	       "VGA ROM: 64 KiB, unassigned (all-ones wraps the bracket)");
	b = find(bars, n, "nic0", 1);
	tap_ok(b && b->bar.kind == MMIO_BAR_IO && b->addr == 0xc100 && b->bar.size == 0x40,
	       "e1000 (id nic0) BAR1: 64 ports at 0xc100");
	b = find(bars, n, "t0", 2);
	tap_ok(b && b->bar.kind == MMIO_BAR_MEM64 && b->bar.prefetch && b->addr == 0xfe000000 &&
	       b->bar.size == 1 << 20, "pci-testdev (id t0) BAR2: 1 MiB mem64p at 0xfe000000");
	tap_ok(b && b->source == TSD_SRC_TOOLSTACK, "source is the toolstack");
	tap_is_u64(tsd_libxl_unassigned(bars, n, "nic0", msg, sizeof(msg)), 0,
		   "an unassigned ROM is not an unassigned BAR");
	free(bars);
	free(text);

	text = fixture_read("info-pci-qemu72-hotplug.txt");
	if (!tap_ok(text != NULL, "hot-plug fixture readable"))
		return;
	tap_ok(tsd_libxl_parse_info_pci(text, &bars, &n, &err) == MMIO_OK, "hot-plug info pci parses");
	b = find(bars, n, "hot0", 2);
	tap_ok(b && b->addr == TSD_ADDR_UNASSIGNED && b->bar.size == 64 << 20,
	       "hot-plugged BAR2 (64 MiB) left unassigned by a guest without an OS");
	tap_is_u64(tsd_libxl_unassigned(bars, n, "hot0", msg, sizeof(msg)), 3,
		   "three unassigned BARs on hot0");
	tap_contains(msg, "BAR2 (mem64p, 64 MiB)", "message names BAR2");
	tap_contains(msg, "BAR1 (io, 256 B)", "message names the I/O BAR");
	tap_is_u64(tsd_libxl_bar_count(bars, n, "hot0"), 3,
		   "hot0 has three BARs: all unassigned is a device the guest has not enabled");
	free(bars);
	free(text);

	const char *bad = "  Bus  0, device   3, function 0:\n      BAR0: 32 bit memory at 0x1000 [0x2ffe].\n";
	tap_ok(tsd_libxl_parse_info_pci(bad, &bars, &n, &err) == MMIO_E_INVALID,
	       "a BAR whose size is not a power of two is rejected");
	tap_contains(err.msg, "line 2", "error names the line");
	tap_ok(tsd_libxl_parse_info_pci("", &bars, &n, &err) == MMIO_OK && n == 0 && !bars,
	       "empty output: no BARs");
	const char *unaligned = "  Bus  0, device   3, function 0:\n      BAR0: 32 bit memory at 0xf0000400 [0xf0000bff].\n";
	tap_ok(tsd_libxl_parse_info_pci(unaligned, &bars, &n, &err) == MMIO_E_INVALID,
	       "a BAR address not aligned to its size is rejected (fuzz finding)");
	/* a line cut after the width: " bit" never matched, so %n was never
	 * stored; the stale "BARn: " length used to move past the end
	 * (fuzz finding, ASan stack-buffer-overflow) */
	static const char cut[] = "  Bus  0, device   3, function 0:\n      BAR0: 32";
	char *heap = malloc(sizeof(cut));
	memcpy(heap, cut, sizeof(cut));
	tap_ok(tsd_libxl_parse_info_pci(heap, &bars, &n, &err) == MMIO_E_INVALID,
	       "a BAR line cut after its width is rejected (fuzz finding)");
	free(heap);
}

static struct tsd_live_bar mk(const char *dev, unsigned idx, enum mmio_bar_kind kind,
			      uint64_t size, uint64_t addr)
{
	struct tsd_live_bar b;
	memset(&b, 0, sizeof(b));
	snprintf(b.device, sizeof(b.device), "%s", dev);
	snprintf(b.guest_slot, sizeof(b.guest_slot), "%s", dev);
	b.bar = (struct mmio_bar){ .index = (uint8_t)idx, .kind = (uint8_t)kind, .size = size };
	b.addr = addr;
	return b;
}

static void test_layout(void)
{
	libxl_domain_config c;
	struct tsd_libxl_model_input in;
	struct tsd_layout l;
	struct mmio_error err;
	char note[256];

	hvm_config(&c, 4096, 8, 0);
	tsd_libxl_model_input(&c, &in, &err);
	libxl_domain_config_dispose(&c);

	/* xen.md 1.6, first example, as hvmloader placed it. */
	struct tsd_live_bar bars[] = {
		mk("00:02.0", 0, MMIO_BAR_MEM32, 32 << 20, 0xF2000000),
		mk("00:02.0", 1, MMIO_BAR_MEM32, 4096, 0xF6080000),
		mk("00:03.0", 0, MMIO_BAR_IO, 256, 0xC000),
		mk("00:03.0", 1, MMIO_BAR_MEM32, 16 << 20, 0xF5000000),
		mk("00:04.0", 0, MMIO_BAR_MEM32, 16 << 20, 0xF4000000),
		mk("00:04.0", 1, MMIO_BAR_MEM64, 256 << 20, 0x110000000),
		mk("00:04.0", 3, MMIO_BAR_MEM64, 32 << 20, 0xF0000000),
	};
	size_t n = sizeof(bars) / sizeof(bars[0]);
	tap_ok(tsd_libxl_layout(&in, bars, n, &l, note, sizeof(note), &err) == MMIO_OK,
	       "layout from live BARs");
	tap_is_u64(l.nwin, 8, "low, high and six I/O windows");
	tap_is_u64(l.win[0].start, 0xF0000000, "low window from 0xF0000000");
	tap_is_u64(l.win[0].end, 0xFC000000, "low window to 0xFC000000");
	tap_is_u64(l.win[1].start, 0x110000000, "high window starts at the relocated BAR");
	tap_is_u64(l.win[1].end, 0x120000000, "high window ends at 0x120000000");
	tap_is_u64(l.win[2].kind, MMIO_WIN_IO, "I/O window");
	/* The guest's own (tests/xen): _CRS [0x0D00, 0x10000) less what it
	 * has claimed there; Linux puts hot-plugged I/O BARs from 0x1000. */
	tap_is_u64(l.win[2].start, 0x0D00, "I/O from the _CRS start 0x0d00");
	tap_is_u64(l.win[2].end, 0xAE00, "... up to the DSDT's hot-plug ports");
	tap_is_u64(l.win[5].start, 0xB040, "the PIIX4 ACPI block [0xb000, 0xb040) is left out");
	tap_is_u64(l.win[7].start, 0xB110, "the last I/O window starts after the SMBus block");
	tap_is_u64(l.win[7].end, 0x10000, "... and ends at 0x10000");
	tap_is_u64(l.win_source[0], TSD_SRC_MODEL, "windows come from the model");
	tap_is_u64(l.nbars, n, "BARs copied");
	tap_is_u64(l.min_mem, 0xF0000000, "PCIBIOS_MIN_MEM is the end of low RAM");
	tsd_layout_clear(&l);

	/* xen.md 1.6, third example: an 8 GiB BAR makes a 16 GiB high window. */
	bars[5] = mk("00:04.0", 1, MMIO_BAR_MEM64, 256 << 20, 0x400000000);
	struct tsd_live_bar big = mk("00:05.0", 0, MMIO_BAR_MEM64, UINT64_C(8) << 30, 0x200000000);
	struct tsd_live_bar more[8];
	memcpy(more, bars, sizeof(bars));
	more[n] = big;
	tap_ok(tsd_libxl_layout(&in, more, n + 1, &l, note, sizeof(note), &err) == MMIO_OK,
	       "layout with an 8 GiB BAR");
	tap_is_u64(l.win[1].start, 0x200000000, "high window starts at the 8 GiB BAR");
	tap_is_u64(l.win[1].end, 0x600000000, "end rounded up to the start's alignment");
	tsd_layout_clear(&l);

	/* A 2 GiB guest where the BARs sit from 0xE0000000: the hole doubled. */
	hvm_config(&c, 2048, 8, 0);
	tsd_libxl_model_input(&c, &in, &err);
	libxl_domain_config_dispose(&c);
	struct tsd_live_bar two[] = {
		mk("00:04.0", 1, MMIO_BAR_MEM64, 256 << 20, 0xE0000000),
		mk("00:02.0", 0, MMIO_BAR_MEM32, 32 << 20, 0xF0000000),
	};
	tap_ok(tsd_libxl_layout(&in, two, 2, &l, note, sizeof(note), &err) == MMIO_OK,
	       "layout of a 2 GiB guest");
	tap_is_u64(l.win[0].start, 0xE0000000, "low window doubled to 0xE0000000");
	tap_is_u64(l.nwin, 7, "no high window");
	tsd_layout_clear(&l);

	/* Fuzz finding: a guest-programmed 64-bit BAR that wraps past 2^64
	 * must not turn into an inverted high window. */
	struct tsd_live_bar wrap[] = {
		mk("00:03.0", 0, MMIO_BAR_MEM64, 16, UINT64_C(0xfffffffffffffff0)),
		mk("00:02.0", 0, MMIO_BAR_MEM32, 32 << 20, 0xF0000000),
	};
	tap_ok(tsd_libxl_layout(&in, wrap, 2, &l, note, sizeof(note), &err) == MMIO_OK,
	       "layout with a wrapping 64-bit BAR");
	{
		struct mmio_space sp;
		struct mmio_space_params sp_p = { .windows = l.win, .nwin = l.nwin };
		tap_ok(mmio_space_init(&sp, &sp_p, &err) == MMIO_OK,
		       "its windows are valid for the model (no inverted high window)");
		mmio_space_free(&sp);
	}
	tsd_layout_clear(&l);

	/* No live BARs (QEMU not answering yet): the hvmloader model decides. */
	tap_ok(tsd_libxl_layout(&in, NULL, 0, &l, note, sizeof(note), &err) == MMIO_OK,
	       "layout with no live BARs");
	tap_is_u64(l.win[0].start, 0xF0000000, "model: empty bus keeps 0xF0000000");
	tsd_layout_clear(&l);

	/* A BAR below what hvmloader could reach for a 4 GiB qemu-xen guest. */
	hvm_config(&c, 4096, 8, 0);
	tsd_libxl_model_input(&c, &in, &err);
	libxl_domain_config_dispose(&c);
	struct tsd_live_bar odd[] = { mk("00:04.0", 0, MMIO_BAR_MEM32, 16 << 20, 0xC0000000) };
	tap_ok(tsd_libxl_layout(&in, odd, 1, &l, note, sizeof(note), &err) == MMIO_OK,
	       "layout with a BAR below the reachable hole");
	tap_is_u64(l.win[0].start, 0xC0000000, "the live view wins");
	tap_contains(note, "below the lowest hole start", "and the note says so");
	tsd_layout_clear(&l);
}

/* A real domain: 512 MiB, xl's defaults (Cirrus, the Xen platform
 * device), qemu-xen 7.2 on Xen 4.17.7, read by tests/xen before and after
 * hvmloader ran. */
static void test_real_xen(void)
{
	libxl_domain_config c;
	struct tsd_libxl_model_input in;
	struct tsd_live_bar *bars = NULL;
	size_t n = 0;
	struct tsd_layout l;
	struct mmio_error err;
	char note[256];
	char *after = fixture_read("info-pci-xen417-512.txt");
	char *before = fixture_read("info-pci-xen417-512-before-hvmloader.txt");

	hvm_config(&c, 512, 8, 0);
	/* read back from libxl: its JSON leaves mmio_hole out */
	c.b_info.u.hvm.mmio_hole_memkb = LIBXL_MEMKB_DEFAULT;
	tap_ok(tsd_libxl_model_input(&c, &in, &err) == MMIO_OK,
	       "a configuration read back with no mmio_hole (LIBXL_MEMKB_DEFAULT) is no hole: %s",
	       err.msg);
	tap_ok(!in.hole_size_written && in.lowmem_end == 504 << 20,
	       "... RAM below 4 GiB: 512 MiB less the 8 MiB of video memory");
	libxl_domain_config_dispose(&c);
	tap_ok(after && tsd_libxl_parse_info_pci(after, &bars, &n, &err) == MMIO_OK,
	       "qemu-xen's info pci after hvmloader parses");
	tap_is_u64(n, 6, "six BARs (IDE, the Xen platform device, Cirrus)");
	tap_ok(tsd_libxl_firmware_done(bars, n), "hvmloader has placed them");
	tap_ok(tsd_libxl_layout(&in, bars, n, &l, note, sizeof(note), &err) == MMIO_OK,
	       "its layout");
	/* the guest kernel: root bus resource [mem 0xf0000000-0xfbffffff window] */
	tap_is_u64(l.win[0].start, 0xF0000000, "low window as the guest's root bus resource");
	tap_is_u64(l.win[0].end, 0xFC000000, "... to 0xfbffffff");
	tap_is_u64(l.win[1].kind, MMIO_WIN_IO, "no 64-bit window (no 64-bit boot BAR)");
	/* the guest: 1000-100f : 0000:00:01.1; qemu-xen: BAR4 unassigned */
	for (size_t i = 0; i < l.nbars; i++)
		if (strcmp(l.bars[i].guest_slot, "00:01.1") == 0 && l.bars[i].bar.index == 4) {
			tap_is_u64(l.bars[i].addr, 0x1000, "the IDE BAR4 qemu-xen shows unassigned is "
				   "where Linux put it at boot");
			tap_is_u64(l.bars[i].source, TSD_SRC_INFERRED, "... inferred");
		}
	tsd_layout_clear(&l);
	free(bars);
	tap_ok(before && tsd_libxl_parse_info_pci(before, &bars, &n, &err) == MMIO_OK,
	       "... before hvmloader ran it parses too");
	tap_ok(!tsd_libxl_firmware_done(bars, n), "nothing is placed yet: hvmloader has not run");
	free(bars);
	free(after);
	free(before);
}

/* A real domain with a 64-bit boot BAR hvmloader could not keep low: 3 GiB
 * (RAM to 0xbf800000, the hole from 0xc0000000), a pci-testdev with a 1 GiB
 * 64-bit BAR added through device_model_args_hvm; tests/xen's xen-boot64,
 * qemu-xen's info pci after the guest booted. */
static void test_real_xen_boot64(void)
{
	libxl_domain_config c;
	struct tsd_libxl_model_input in;
	struct tsd_live_bar *bars = NULL;
	size_t n = 0;
	struct tsd_layout l;
	struct mmio_error err;
	char note[256];
	char *text = fixture_read("info-pci-xen417-boot64.txt");

	hvm_config(&c, 3072, 8, 0);
	c.b_info.u.hvm.mmio_hole_memkb = LIBXL_MEMKB_DEFAULT;
	tap_ok(tsd_libxl_model_input(&c, &in, &err) == MMIO_OK, "3 GiB, no mmio_hole: %s", err.msg);
	libxl_domain_config_dispose(&c);
	tap_ok(text && tsd_libxl_parse_info_pci(text, &bars, &n, &err) == MMIO_OK,
	       "qemu-xen's info pci with a relocated 64-bit BAR parses");
	tap_ok(tsd_libxl_firmware_done(bars, n), "hvmloader has placed the BARs");
	tap_ok(tsd_libxl_layout(&in, bars, n, &l, note, sizeof(note), &err) == MMIO_OK,
	       "its layout: %s", err.msg);
	/* the guest kernel: root bus resource [mem 0xc0000000-0xfbffffff window]
	 * and [mem 0x100000000-0x1ffffffff window] */
	const struct mmio_window *low = NULL, *high = NULL;
	for (unsigned i = 0; i < l.nwin; i++) {
		if (l.win[i].kind == MMIO_WIN_LOW)
			low = &l.win[i];
		else if (l.win[i].kind == MMIO_WIN_HIGH)
			high = &l.win[i];
	}
	tap_ok(low && low->start == 0xC0000000 && low->end == 0xFC000000,
	       "low window [0xc0000000, 0xfc000000) as the guest's root bus resource");
	tap_ok(high && high->start == 0x100000000 && high->end == 0x200000000,
	       "64-bit window [4 GiB, 8 GiB): the relocated BAR's start, the end rounded up to "
	       "its alignment, as the guest's root bus resource");
	tsd_layout_clear(&l);
	free(bars);
	free(text);
}

static void test_rc(void)
{
	tap_is_u64(tsd_libxl_rc(0), TSD_OK, "0 -> ok");
	tap_is_u64(tsd_libxl_rc(ERROR_DOMAIN_NOTFOUND), TSD_E_NOGUEST, "DOMAIN_NOTFOUND -> no-guest");
	tap_is_u64(tsd_libxl_rc(ERROR_DOMAIN_DESTROYED), TSD_E_NOGUEST, "DOMAIN_DESTROYED -> no-guest");
	tap_is_u64(tsd_libxl_rc(ERROR_NI), TSD_E_NOTSUPPORTED, "NI -> not-supported");
	tap_is_u64(tsd_libxl_rc(ERROR_TIMEDOUT), TSD_E_TIMEOUT, "TIMEDOUT -> timeout");
	tap_is_u64(tsd_libxl_rc(ERROR_FAIL), TSD_E_FAILED, "FAIL -> failed");
	tap_is_u64(tsd_libxl_rc(ERROR_QMP_DEVICE_NOT_FOUND), TSD_E_FAILED, "QMP_DEVICE_NOT_FOUND -> failed");
	tap_is_str(tsd_libxl_rc_name(ERROR_DOMAIN_NOTFOUND), "domain_notfound", "rc name, in libxl_error_to_string's spelling");
	char id[16];
	struct mmio_bdf bdf = { 0, 3, 0, 1 };
	tsd_libxl_pt_id(&bdf, id, sizeof(id));
	tap_is_str(id, "pci-pt-03_00.1", "passthrough qdev id as libxl names it");
}

/* A slot goes in as xl pci-attach BDF.* does: a whole host slot at a
 * guest slot mmiod chooses (libxl wants one for a multi-function device). */
static void test_slot(void)
{
	char *text = fixture_read("info-pci-qemu72-hotplug.txt");
	char why[300];
	struct mmio_bdf slot;
	struct mmio_device d;

	tap_ok(text && tsd_libxl_free_slot(text) == 6, "free guest slot: 6 (0-5 listed in info pci)");
	free(text);
	tap_ok(tsd_libxl_free_slot("") == 3, "free guest slot of an empty bus: 3 (0-2 kept)");
	tap_ok(tsd_libxl_free_slot("  Bus  1, device   3, function 0:\n") == 3, "other buses do not count");

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "0000:65:00");
	d.nfn = 2;
	d.fns[0] = (struct mmio_function){ .fn = 0, .has_bdf = true, .bdf = { 0, 0x65, 0, 0 } };
	d.fns[1] = (struct mmio_function){ .fn = 1, .has_bdf = true, .bdf = { 0, 0x65, 0, 1 } };
	tap_ok(tsd_libxl_whole_slot(&d, &slot, why, sizeof(why)) && slot.bus == 0x65 && slot.fn == 0,
	       "a host slot at its own function numbers goes in as BDF.*");
	d.fns[1].bdf.fn = 2;
	tap_ok(!tsd_libxl_whole_slot(&d, &slot, why, sizeof(why)), "host function 2 as guest function 1: refused");
	tap_contains(why, "function 1 of 0000:65:00 is not", "  the reason names the function");
	d.fns[1].bdf = (struct mmio_bdf){ 0, 0x66, 0, 1 };
	tap_ok(!tsd_libxl_whole_slot(&d, &slot, why, sizeof(why)), "functions of two host slots: refused");
	d.fns[1].has_bdf = false;
	tap_ok(!tsd_libxl_whole_slot(&d, &slot, why, sizeof(why)), "a function that is no host device: refused");
	tap_contains(why, "xl pci-attach BDF.*", "  the reason says what libxl can do");
}

int main(void)
{
	test_config();
	test_info_pci();
	test_layout();
	test_real_xen();
	test_real_xen_boot64();
	test_rc();
	test_slot();
	tap_done();
	return tap_exit();
}
