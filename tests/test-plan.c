/* SPDX-License-Identifier: MIT */
/* test-plan.c — the mmio_hole planner and the pci-hole64-size planner. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan.h"
#include "rng.h"
#include "tap.h"
#include "xen-devices.h"

static const struct mmio_device nic = {
	.name = "nic", .nbars = 3, .bars = { M32(0, 128 * KiB), M64(2, 16 * KiB), ROM(256 * KiB) } };
static const struct mmio_device fb256 = {
	.name = "fb256", .nbars = 1, .bars = { M32P(0, 256 * MiB) } };
static const struct mmio_device big4g = {
	.name = "big4g", .nbars = 2, .bars = { M32(0, 16 * MiB), M64P(1, 4 * GiB) } };
static const struct mmio_device twogig32 = {
	.name = "twogig32", .nbars = 1, .bars = { M32P(0, 2 * GiB) } };

static struct mmio_plan_params params(const struct mmio_device *boot, size_t nboot,
				      const struct mmio_device *later, size_t nlater)
{
	return (struct mmio_plan_params){
		.boot = boot, .nboot = nboot, .later = later, .nlater = nlater,
		.max_memkb = 4096 * 1024, .video_memkb = 8 * 1024,
		.rule = MMIO_XEN_4_17_4_PLUS,
	};
}

static void plan(const struct mmio_plan_params *p, struct mmio_plan_result *r, const char *what)
{
	struct mmio_error err = { 0 };
	enum mmio_status st = mmio_plan_xen(p, r, &err);

	if (!tap_ok(st == MMIO_OK, "%s: planner runs", what))
		tap_diag("  %s: %s", mmio_status_name(st), err.msg);
	tap_diag("%s: %s, hole %u, %u candidates: %s", what, mmio_plan_verdict_name(r->verdict),
		 r->hole_mb, r->candidates, r->reason);
}

/* The hvmloader result turned into a free-space map. */
static void test_space_from_model(void)
{
	const struct mmio_device devs[] = { cirrus, platform, gpu };
	struct mmio_hvm_params p = {
		.devs = devs, .ndev = 3, .low_mem_end = 0xF0000000, .high_mem_end = 0x10F800000,
		.rule = MMIO_XEN_4_17_4_PLUS,
	};
	struct mmio_hvm_result r;
	struct mmio_space_params spp;
	struct mmio_space sp;
	struct mmio_error err = { 0 };
	enum mmio_status st;

	mmio_hvm_run(&p, &r, &err);
	mmio_hvm_space_params(&r, &spp);
	st = mmio_space_init(&sp, &spp, &err);
	if (!tap_ok(st == MMIO_OK, "space from model: mmio_space_init accepts it"))
		tap_diag("  %s", err.msg);
	tap_is_u64(sp.nwin, 3, "space from model: three windows");
	tap_is_u64(sp.w[0].free_bytes, 0x5F7F000, "space from model: ~95.5 MiB free low");
	tap_is_u64(sp.w[1].free_bytes, 0, "space from model: high window full");
	tap_is_u64(sp.min_mem, 0xF0000000, "space from model: min_mem");
	tap_ok(mmio_fits(&sp, &nic), "space from model: a small NIC fits");
	tap_ok(!mmio_fits(&sp, &fb256), "space from model: a 256 MiB 32-bit BAR does not");
	mmio_space_free(&sp);
	mmio_hvm_result_free(&r);
}

static void test_default_fits(void)
{
	const struct mmio_device boot[] = { cirrus, platform, gpu };
	struct mmio_plan_params p = params(boot, 3, &nic, 1);
	struct mmio_plan_result r;

	plan(&p, &r, "default fits");
	tap_ok(r.verdict == MMIO_PLAN_FITS_DEFAULT, "default fits: verdict");
	tap_is_u64(r.hole_mb, 0, "default fits: no hole");
	tap_ok(r.high_exists && r.high_start == 0x110000000 && r.high_end == 0x120000000,
	       "default fits: reports the 64-bit window");
	tap_ok(!r.high_needed, "default fits: NIC does not need it (window full)");
	tap_is_u64(r.later32, 384 * KiB, "default fits: 32-bit demand incl. ROM");
	tap_is_u64(r.later64, 16 * KiB, "default fits: 64-bit demand");
	tap_contains(r.reason, "without mmio_hole", "default fits: reason");
}

/* A later 256 MiB 32-bit BAR needs a second free 256 MiB-aligned block:
 * only from mmio_hole=1024 (start 0xC0000000) up, worked out by hand. */
static void test_needs_hole(void)
{
	const struct mmio_device boot[] = { cirrus, platform, gpu };
	struct mmio_plan_params p = params(boot, 3, &fb256, 1);
	struct mmio_plan_result r;
	struct mmio_error err = { 0 };
	bool fits;

	plan(&p, &r, "fb256");
	tap_ok(r.verdict == MMIO_PLAN_NEEDS_HOLE, "fb256: needs mmio_hole");
	tap_is_u64(r.hole_mb, 1024, "fb256: smallest hole 1024 MiB");
	tap_is_u64(r.low_start, 0xC0000000, "fb256: low window starts at 0xC0000000");
	tap_ok(!r.high_exists, "fb256: GPU BAR1 stays low, no 64-bit window");
	tap_contains(r.reason, "mmio_hole=1024", "fb256: reason names the setting");

	tap_ok(mmio_plan_xen_eval(&p, 1023, &fits, &r, &err) == MMIO_OK && !fits,
	       "fb256: 1023 does not fit");
	tap_contains(r.reason, "0x10000000", "fb256: failure names the BAR size");
	tap_ok(mmio_plan_xen_eval(&p, 1000, &fits, &r, &err) == MMIO_OK && !fits,
	       "fb256: 1000 (start 0xC1800000) does not fit");
}

/* The seed thread: two 512 MiB + one 1 GiB 64-bit BARs hot-plugged into a
 * guest that booted with only emulated devices (no 64-bit window). */
static void test_seed(void)
{
	const struct mmio_device boot[] = { cirrus, platform };
	struct mmio_plan_params p = params(boot, 2, &seed, 1);
	struct mmio_plan_result r;
	struct mmio_error err = { 0 };
	bool fits;

	plan(&p, &r, "seed");
	tap_ok(r.verdict == MMIO_PLAN_NEEDS_HOLE, "seed: needs mmio_hole");
	tap_is_u64(r.hole_mb, 2624, "seed: smallest hole 2624 MiB (boot BARs below 0x60000000)");
	tap_is_u64(r.low_start, 0x5C000000, "seed: low window from 0x5C000000");
	tap_ok(!r.high_exists && !r.high_needed, "seed: all low, no 64-bit window");
	tap_is_u64(r.low_used, 2 * GiB, "seed: 2 GiB placed low");
	tap_ok(mmio_plan_xen_eval(&p, 2623, &fits, NULL, &err) == MMIO_OK && !fits,
	       "seed: 2623 leaves the platform BAR in the way");

	/* Booted with the seed device instead: hvmloader puts the 1 GiB BAR
	 * high and then the 512 MiB ones too (the window is only 192 MiB). */
	const struct mmio_device boot2[] = { cirrus, platform, seed };
	p = params(boot2, 3, &nic, 1);
	plan(&p, &r, "seed at boot");
	tap_ok(r.verdict == MMIO_PLAN_FITS_DEFAULT, "seed at boot: a NIC still fits");
	tap_ok(r.high_exists && r.high_start == 0x140000000 && r.high_end == 0x1C0000000,
	       "seed at boot: 64-bit window [0x140000000, 0x1C0000000)");
}

static void test_impossible(void)
{
	const struct mmio_device boot[] = { cirrus, platform };
	const struct mmio_device later32[] = { twogig32, twogig32 };
	struct mmio_plan_params p = params(boot, 2, later32, 2);
	struct mmio_plan_result r;
	struct timespec t0, t1;
	double ms;

	plan(&p, &r, "32-bit over 3.75 GiB");
	tap_ok(r.verdict == MMIO_PLAN_IMPOSSIBLE, "32-bit over 3.75 GiB: impossible");
	tap_contains(r.reason, "32-bit", "32-bit over 3.75 GiB: reason says 32-bit");
	tap_ok(r.candidates == 1, "32-bit over 3.75 GiB: decided without a search");

	p = params(boot, 2, &big4g, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	plan(&p, &r, "4 GiB 64-bit BAR, no 64-bit window");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	tap_ok(r.verdict == MMIO_PLAN_IMPOSSIBLE, "4 GiB 64-bit: impossible");
	tap_contains(r.reason, "cannot create a 64-bit window", "4 GiB 64-bit: says why");
	tap_contains(r.reason, "boot the guest with", "4 GiB 64-bit: suggests the fix");
	tap_is_u64(r.candidates, 1 + 3840 - 256 + 1 - 0, "4 GiB 64-bit: whole range searched");
	tap_diag("worst case: %u candidates in %.1f ms", r.candidates, ms);

	/* The suggested fix: boot with the 8 GiB device (4.17.4 sends it high;
	 * the window is rounded up to 16 GiB, ~7.75 GiB slack). */
	const struct mmio_device boot2[] = { cirrus, platform, gpu, big8g };
	p = params(boot2, 4, &big4g, 1);
	plan(&p, &r, "4 GiB 64-bit after booting with 8 GiB BAR");
	tap_ok(r.verdict == MMIO_PLAN_FITS_DEFAULT, "boot with 8 GiB BAR: later 4 GiB BAR fits");
	tap_ok(r.high_exists && r.high_end == 0x600000000, "boot with 8 GiB BAR: window to 0x600000000");
	tap_ok(r.high_needed && r.high_used == 4 * GiB, "boot with 8 GiB BAR: used 4 GiB high");
}

/* A boot BAR that hvmloader leaves unprogrammed is placed by Linux first. */
static void test_pending(void)
{
	const struct mmio_device a = { .name = "a", .nbars = 1, .bars = { M32(0, 128 * MiB) } };
	const struct mmio_device boot[] = { a, a };
	const struct mmio_device later = { .name = "l", .nbars = 1, .bars = { M32(0, 64 * MiB) } };
	struct mmio_plan_params p = params(boot, 2, &later, 1);
	struct mmio_plan_result r;

	plan(&p, &r, "pending boot BAR");
	tap_is_u64(r.verdict, MMIO_PLAN_NEEDS_HOLE, "pending boot BAR: needs a hole");
	tap_is_u64(r.hole_mb, 384, "pending boot BAR: 384 MiB, start 128 MiB-aligned");
}

static void test_rule_difference(void)
{
	/* Boot with a 2 GiB 64-bit BAR device on a 2 GiB guest, then hot-plug
	 * a 512 MiB 32-bit BAR: 4.17.0 grew the hole to 2 GiB at boot, 4.17.4
	 * did not. */
	const struct mmio_device huge2g = { .name = "huge2g", .nbars = 1, .bars = { M64P(0, 2 * GiB) } };
	const struct mmio_device boot[] = { cirrus, platform, huge2g };
	const struct mmio_device l = { .name = "l", .nbars = 1, .bars = { M32P(0, 512 * MiB) } };
	struct mmio_plan_params p = params(boot, 3, &l, 1);
	struct mmio_plan_result r;

	p.max_memkb = 2048 * 1024;
	p.rule = MMIO_XEN_4_17_0;
	plan(&p, &r, "rule 4.17.0");
	tap_ok(r.verdict == MMIO_PLAN_FITS_DEFAULT, "rule 4.17.0: fits thanks to the inflated hole");
	tap_is_u64(r.low_start, 0x80000000, "rule 4.17.0: low window from 0x80000000");
	p.rule = MMIO_XEN_4_17_4_PLUS;
	plan(&p, &r, "rule 4.17.4");
	tap_ok(r.verdict == MMIO_PLAN_NEEDS_HOLE, "rule 4.17.4: needs mmio_hole");
	tap_is_u64(r.hole_mb, 1088, "rule 4.17.4: hole 1088 MiB (boot BARs end below 0xC0000000)");
}

static void test_qemu(void)
{
	const struct mmio_device a100 = { .name = "a100", .nbars = 4,
		.bars = { M32(0, 16 * MiB), M64P(1, 32 * GiB), M64P(3, 32 * MiB), ROM(512 * KiB) } };
	const struct mmio_device nvme = { .name = "nvme", .nbars = 1, .bars = { M64(0, 16 * KiB) } };
	struct mmio_qemu_plan q;
	struct mmio_error err = { 0 };

	tap_ok(mmio_plan_qemu(MMIO_QEMU_Q35, &a100, 1, &q, &err) == MMIO_OK, "qemu q35 a100: runs");
	tap_is_u64(q.hole64_need, 32 * GiB + 32 * MiB + 31 * GiB, "qemu q35 a100: need incl. slack");
	tap_is_u64(q.hole64_size, 64 * GiB, "qemu q35 a100: pci-hole64-size 64 GiB");
	tap_ok(!q.default_ok, "qemu q35 a100: default 32 GiB too small");
	tap_is_u64(q.low_need, 16 * MiB + 512 * KiB, "qemu q35 a100: low need");
	tap_contains(q.reason, "pci-hole64-size=64G", "qemu q35 a100: reason gives the option");
	tap_diag("%s", q.reason);

	tap_ok(mmio_plan_qemu(MMIO_QEMU_I440FX, &seed, 1, &q, &err) == MMIO_OK, "qemu i440fx seed: runs");
	tap_is_u64(q.hole64_size, 2 * GiB, "qemu i440fx seed: 2 GiB");
	tap_ok(q.default_ok, "qemu i440fx seed: default is enough");

	tap_ok(mmio_plan_qemu(MMIO_QEMU_Q35, &nvme, 1, &q, &err) == MMIO_OK, "qemu q35 nvme: runs");
	tap_is_u64(q.hole64_size, 0, "qemu q35 nvme: 64-bit non-pref BAR needs no hole64");
	tap_is_u64(q.low_need, 16 * KiB, "qemu q35 nvme: counted as 32-bit behind a root port");
	tap_ok(mmio_plan_qemu(MMIO_QEMU_I440FX, &nvme, 1, &q, &err) == MMIO_OK && q.hole64_size == GiB,
	       "qemu i440fx nvme: root bus, 1 GiB minimum hole");

	/* a multi-function slot with more BARs than one function can have */
	struct mmio_device slot = { .name = "slot", .nfn = 2 };
	for (unsigned f = 0; f < 2; f++)
		for (unsigned i = 0; i < 5; i++) {
			struct mmio_bar b = M32((uint8_t)i, 1 * MiB);
			b.fn = (uint8_t)f;
			slot.bars[slot.nbars++] = b;
		}
	slot.fns[1].fn = 1;
	tap_ok(mmio_plan_qemu(MMIO_QEMU_I440FX, &slot, 1, &q, &err) == MMIO_OK && q.low_need == 10 * MiB,
	       "qemu i440fx: a slot of 2 functions x 5 BARs is planned as one device (%s)", err.msg);
}

/* A port started with mmio_plan_port's reservations holds the device
 * wherever the firmware puts the windows (1 MiB / 4 KiB aligned): checked
 * with the placement model on random devices and random window starts. */
static void test_port_plan(void)
{
	const struct mmio_device testdev = { .name = "pci-testdev", .nbars = 3,
		.bars = { M32(0, 4 * KiB), IO(1, 256), M64P(2, 2 * GiB) } };
	const struct mmio_device vga = { .name = "secondary-vga", .nbars = 2,
		.bars = { M32P(0, 32 * MiB), M32(2, 4 * KiB) } };
	struct mmio_port_plan pp;
	uint64_t st = 0x9e3779b97f4a7c15ull;
	unsigned bad = 0, cases = 0;

	mmio_plan_port(&testdev, &pp);
	tap_is_u64(pp.pref64_reserve, 4 * GiB, "port plan pci-testdev 2G: pref64-reserve 2G + 2G slack");
	tap_is_u64(pp.mem_reserve, 1 * MiB, "port plan pci-testdev: mem-reserve rounded up to 1 MiB");
	tap_is_u64(pp.io_reserve, 4 * KiB, "port plan pci-testdev: io-reserve 4 KiB");
	tap_ok(strcmp(pp.qemu_props, ",io-reserve=4K,mem-reserve=1M,pref64-reserve=4G") == 0,
	       "port plan pci-testdev: QEMU properties (%s)", pp.qemu_props);
	const struct mmio_device ios = { .name = "six-io", .nbars = 6,
		.bars = { IO(0, 256), IO(1, 256), IO(2, 256), IO(3, 256), IO(4, 256), IO(5, 4) } };
	mmio_plan_port(&ios, &pp);
	tap_is_u64(pp.io_reserve, 8 * KiB, "port plan 5x256+4 I/O ports: 6 KiB of 1 KiB blocks -> 8 KiB");
	mmio_plan_port(&vga, &pp);
	tap_is_u64(pp.pref64_reserve, 0, "port plan vga: a 32-bit prefetchable BAR needs no pref64");
	tap_is_u64(pp.mem_reserve, 65 * MiB, "port plan vga: 32M + 4K + 32M slack -> 65 MiB");
	tap_ok(strcmp(pp.qemu_props, ",mem-reserve=65M") == 0, "port plan vga: %s", pp.qemu_props);
	char ctrl[128], dev[512];
	mmio_plan_port(&testdev, &pp);
	mmio_plan_port_libvirt(&pp, 7, ctrl, sizeof(ctrl), dev, sizeof(dev));
	tap_ok(strcmp(ctrl, "<controller type='pci' index='7' model='pcie-root-port'/>") == 0,
	       "port plan, libvirt: the controller (%s)", ctrl);
	tap_ok(strcmp(dev, "<qemu:device alias='pci.7'><qemu:frontend>"
		      "<qemu:property name='io-reserve' type='unsigned' value='4096'/>"
		      "<qemu:property name='mem-reserve' type='unsigned' value='1048576'/>"
		      "<qemu:property name='pref64-reserve' type='unsigned' value='4294967296'/>"
		      "</qemu:frontend></qemu:device>") == 0,
	       "port plan, libvirt: the reservations in bytes for <qemu:override> (%s)", dev);
	struct mmio_port_plan none = { 0 };
	mmio_plan_port_libvirt(&none, 3, ctrl, sizeof(ctrl), dev, sizeof(dev));
	tap_ok(dev[0] == '\0', "port plan, libvirt: no reservation, no override");
	mmio_plan_port_libvirt(&pp, 7, ctrl, 20, dev, 50);
	tap_ok(strlen(ctrl) == 19 && strlen(dev) < 50, "port plan, libvirt: cut to the buffers");

	for (int it = 0; it < 20000; it++) {
		struct mmio_device d = { .name = "random" };
		unsigned nb = 1 + (unsigned)(xorshift64(&st) % 6);
		bool io_only = it % 4 == 0;     /* I/O-heavy devices: the ISA alias rule */
		for (unsigned i = 0; i < nb; i++) {
			unsigned k = io_only ? 0 : (unsigned)(xorshift64(&st) % 5);
			struct mmio_bar b = { .index = (uint8_t)i };
			if (k == 0) {
				b.kind = MMIO_BAR_IO;
				b.size = UINT64_C(4) << (xorshift64(&st) % 7);
			} else {
				b.kind = k >= 3 ? MMIO_BAR_MEM64 : MMIO_BAR_MEM32;
				b.prefetch = k == 2 || k == 4;
				b.size = UINT64_C(16) << (xorshift64(&st) % (b.kind == MMIO_BAR_MEM64 ? 32 : 24));
			}
			d.bars[d.nbars++] = b;
		}
		mmio_plan_port(&d, &pp);
		struct mmio_window w[3];
		unsigned nw = 0;
		if (pp.io_reserve) {
			uint64_t a = 0x1000 + (xorshift64(&st) % 8) * 0x1000;
			w[nw++] = (struct mmio_window){ .kind = MMIO_WIN_IO, .flags = MMIO_WF_BRIDGE,
							.start = a, .end = a + pp.io_reserve };
			if (w[nw - 1].end > 0x10000)
				nw--, w[nw] = (struct mmio_window){ 0 };
		}
		if (pp.mem_reserve) {
			uint64_t a = 0x80000000 + (xorshift64(&st) % 512) * MiB;
			if (a + pp.mem_reserve > UINT64_C(0xfec00000))
				continue;       /* larger than a 32-bit window can be */
			w[nw++] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .flags = MMIO_WF_BRIDGE,
							.start = a, .end = a + pp.mem_reserve };
		}
		if (pp.pref64_reserve) {
			uint64_t a = (UINT64_C(1) << 32) + (xorshift64(&st) % 4096) * MiB;
			w[nw++] = (struct mmio_window){ .kind = MMIO_WIN_HIGH,
							.flags = MMIO_WF_BRIDGE | MMIO_WF_PREFETCH | MMIO_WF_MEM64,
							.start = a, .end = a + pp.pref64_reserve };
		}
		struct mmio_space sp;
		struct mmio_space_params prm = { .windows = w, .nwin = nw };
		struct mmio_error err = { 0 };
		if (pp.io_reserve && !(nw && w[0].kind == MMIO_WIN_IO))
			continue;
		if (mmio_space_init(&sp, &prm, &err) != MMIO_OK) {
			bad++;
			continue;
		}
		cases++;
		if (mmio_place(&sp, &d, 1, NULL, &err) != MMIO_OK) {
			if (bad++ < 3)
				tap_diag("port plan %s too small: %s", pp.qemu_props, err.msg);
		}
		mmio_space_free(&sp);
	}
	tap_ok(bad == 0 && cases > 10000,
	       "port plan: %u random devices all fit ports reserved as advised, windows at random "
	       "1 MiB / 4 KiB-aligned starts (%u failures)", cases, bad);
}

static void test_ovmf(void)
{
	struct mmio_ovmf_plan o;
	const uint64_t G = UINT64_C(1) << 30;

	/* nothing 64-bit at boot: QEMU's default window, no setting */
	mmio_plan_ovmf(0, 32 * G, 0, 40, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 0 && !o.impossible && strstr(o.reason, "does not matter"),
	       "ovmf: no 64-bit range at boot -> nothing to set");
	/* 40 bits: the top eighth, 128 GiB at 0xe000000000, holds a 1 GiB BAR
	 * and a 32 GiB window (tests/guest ovmf-02) */
	mmio_plan_ovmf(G + 512 * MMIO_1M, 32 * G, 0, 40, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.aperture_base == 0xe000000000 && o.aperture_size == 128 * G && o.mmio64_mb == 0,
	       "ovmf: 40 bits, 128 GiB aperture at 0xe000000000, enough");
	/* a 256 GiB window from 0xe000000000 would pass 1 TiB: Linux cuts it.
	 * 131072 (the smallest that takes effect) moves the aperture to
	 * 0x2000000000 (measured). */
	mmio_plan_ovmf(G, 256 * G, 0, 40, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 131072 && o.new_base == 0x2000000000 &&
	       strstr(o.qemu_args, "X-PciMmio64Mb,string=131072") &&
	       strstr(o.libvirt_xml, "<qemu:arg value='-fw_cfg'/>") &&
	       strstr(o.reason, "smaller values than 131072 change nothing"),
	       "ovmf: a window past 2^40 -> X-PciMmio64Mb=131072 at 0x2000000000 (%s)", o.qemu_args);
	/* more boot ranges than the aperture holds */
	mmio_plan_ovmf(200 * G, 32 * G, 0, 40, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 262144 && o.new_base == 0x4000000000,
	       "ovmf: 200 GiB at boot -> a 256 GiB aperture at 0x4000000000");
	/* 36 bits (64 GiB): OVMF's 32 GiB aperture above RAM; a 64 GiB window
	 * cannot fit anywhere */
	mmio_plan_ovmf(G, 64 * G, 0, 36, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.impossible && strstr(o.reason, "phys-bits"), "ovmf: 36 bits, 64 GiB window: impossible");
	mmio_plan_ovmf(G, 8 * G, 0, 36, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(!o.impossible && o.mmio64_mb == 0 && o.aperture_base == 32 * G,
	       "ovmf: 36 bits, 32 GiB aperture at 32 GiB, an 8 GiB window fits");
	mmio_plan_ovmf(G, 32 * G, 0, 0, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.phys_bits == 40, "ovmf: unknown phys-bits -> QEMU's default 40");
}

/* OVMF 2022.11 and 2025.02 (docs/verification.md V1): with AMD's
 * HyperTransport hole reserved, 2025.02 opens the top-eighth aperture at
 * 0xc000000000 instead of 0xe000000000; the advice must do for both unless
 * the window read after the firmware ran tells the rule. */
static void test_ovmf_generations(void)
{
	struct mmio_ovmf_plan o;
	const uint64_t G = UINT64_C(1) << 30;
	const uint64_t pc_boot = G, q35_boot = G + 512 * MMIO_1M; /* BAR (+ a port's 512 MiB) */

	/* pc, 32 GiB window: both hold it, no setting; both bases named */
	mmio_plan_ovmf(pc_boot, 32 * G, 0, 40, true, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 0 && o.aperture_base == 0xe000000000 &&
	       o.aperture_base_below_ht == 0xc000000000 &&
	       strstr(o.reason, "at 0xe000000000 (OVMF 2025.02 moves it below AMD's HyperTransport "
			       "hole, to 0xc000000000; QEMU does not show which OVMF"),
	       "ovmf gens: pc, HT reserved, 32 GiB window: none needed, both bases named");
	/* q35, 200 GiB window: from 0xe000000000 it reaches the hole, from
	 * 0xc000000000 it ends at 0xf200000000: only 2022.11 needs 131072 */
	mmio_plan_ovmf(q35_boot, 200 * G, 0, 40, true, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 131072 && o.new_base == 0x2000000000 && o.newer_needs_none &&
	       strstr(o.reason, "opens a 128 GiB aperture at 0xe000000000;") &&
	       strstr(o.reason, "reach AMD's HyperTransport hole") &&
	       strstr(o.reason, "with either OVMF") &&
	       strstr(o.reason, "OVMF 2025.02 would not need it: its own aperture at "
			       "0xc000000000 holds the window; OVMF 2022.11 does"),
	       "ovmf gens: q35, HT, 200 GiB window, OVMF unknown: 131072, 2025.02 would not need it");
	/* the same guest whose window QEMU showed at 0xc000000000 after the
	 * firmware ran: 2025.02's rule, nothing to set */
	tap_ok(mmio_ovmf_rule_seen(0xc000000000, 40, true) == MMIO_OVMF_RULE_BELOW_HT,
	       "ovmf gens: window seen at 0xc000000000 -> 2025.02's rule");
	mmio_plan_ovmf(q35_boot, 200 * G, 0, 40, true, MMIO_OVMF_RULE_BELOW_HT, &o);
	tap_ok(o.mmio64_mb == 0 && !o.impossible &&
	       strstr(o.reason, "aperture at 0xc000000000 (below AMD's HyperTransport hole, as "
			       "OVMF 2025.02 does"),
	       "ovmf gens: q35, HT, 200 GiB window, 2025.02 seen: none needed");
	/* ... seen at 0xe000000000 (plus the first BAR's offset): 2022.11's */
	tap_ok(mmio_ovmf_rule_seen(0xe000000000 + 4 * G, 40, true) == MMIO_OVMF_RULE_TOP,
	       "ovmf gens: window seen in the top eighth -> 2022.11's rule");
	mmio_plan_ovmf(q35_boot, 200 * G, 0, 40, true, MMIO_OVMF_RULE_TOP, &o);
	tap_ok(o.mmio64_mb == 131072 && !o.newer_needs_none &&
	       !strstr(o.reason, "would not need it"),
	       "ovmf gens: q35, HT, 200 GiB window, 2022.11 seen: 131072, no note");
	/* pc, 120 GiB: 2022.11's 0xe000000000 + 120 GiB reaches the hole */
	mmio_plan_ovmf(pc_boot, 120 * G, 0, 40, true, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 131072 && o.newer_needs_none,
	       "ovmf gens: pc, HT, 120 GiB window: 131072 for 2022.11 only");
	/* without the reservation both open it at 0xe000000000: 120 GiB fits */
	mmio_plan_ovmf(pc_boot, 120 * G, 0, 40, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 0 && o.aperture_base_below_ht == 0 &&
	       !strstr(o.reason, "2025.02") && !strstr(o.reason, "HyperTransport"),
	       "ovmf gens: pc, no HT, 120 GiB window: none needed, one base");
	mmio_plan_ovmf(q35_boot, 200 * G, 0, 40, false, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 131072 && !o.newer_needs_none && !strstr(o.reason, "2025.02"),
	       "ovmf gens: q35, no HT, 200 GiB window: 131072 for both");
	tap_ok(mmio_ovmf_rule_seen(0xc000000000, 40, false) == MMIO_OVMF_RULE_UNKNOWN &&
	       mmio_ovmf_rule_seen(0x2000000000, 40, true) == MMIO_OVMF_RULE_UNKNOWN &&
	       mmio_ovmf_rule_seen(0xc000000000, 41, true) == MMIO_OVMF_RULE_UNKNOWN,
	       "ovmf gens: no reservation, classic aperture or 41 bits: the rule is not told");
	/* q35, 250 GiB: more than the 244 GiB below the hole from 0xc000000000,
	 * so both need it */
	mmio_plan_ovmf(q35_boot, 250 * G, 0, 40, true, MMIO_OVMF_RULE_UNKNOWN, &o);
	tap_ok(o.mmio64_mb == 131072 && !o.newer_needs_none && strstr(o.reason, "0xc000000000"),
	       "ovmf gens: q35, HT, 250 GiB window: 131072 for both");
}

int main(void)
{
	test_space_from_model();
	test_default_fits();
	test_needs_hole();
	test_seed();
	test_impossible();
	test_pending();
	test_rule_difference();
	test_qemu();
	test_port_plan();
	test_ovmf();
	test_ovmf_generations();
	tap_done();
	return tap_exit();
}
