/* SPDX-License-Identifier: MIT */
/* test-parse.c — BDFs, sizes, BAR lists, sysfs lines and files, the resolver. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmio-model.h"
#include "sysfs-tree.h"
#include "tap-mmio.h"

/* ---- helpers ------------------------------------------------------------ */

static void check_bar(const struct mmio_bar *b, unsigned index, const char *kind, uint64_t size,
		      const char *what)
{
	char name[256];

	snprintf(name, sizeof(name), "%s: BAR%u %s 0x%" PRIx64, what, index, kind, size);
	tap_ok(b->index == index && strcmp(mmio_bar_kind_name(b), kind) == 0 && b->size == size,
	       "%s", name) ||
		(tap_diag("  got BAR%u %s 0x%" PRIx64, b->index, mmio_bar_kind_name(b), b->size), 0);
}

/* ---- BDF ---------------------------------------------------------------- */

static void test_bdf(void)
{
	static const struct {
		const char *in, *full;
	} good[] = {
		{ "0000:03:00.0", "0000:03:00.0" },
		{ "03:00.0", "0000:03:00.0" },
		{ "ffff:ff:1f.7", "ffff:ff:1f.7" },
		{ "ABCD:3B:1F.7", "abcd:3b:1f.7" },
		{ "00:02.1", "0000:00:02.1" },
	};
	static const struct {
		const char *in, *want;
	} bad[] = {
		{ "", "empty PCI address" },
		{ "00:20.0", "device 0x20 out of range 0x00-0x1f in \"00:20.0\"" },
		{ "0000:00:ff.0", "device 0xff out of range 0x00-0x1f" },
		{ "00:00.8", "function 8 out of range 0-7 in \"00:00.8\"" },
		{ "00:00.12", "function 12 out of range 0-7" },
		{ "00:00.", "missing function after '.'" },
		{ "03-00.0", "expected ':' after bus in \"03-00.0\"" },
		{ "0300.0", "bus \"0300\" must be 2 hex digits" },
		{ "03.00.0", "expected ':' after bus in \"03.00.0\"" },
		{ "03:000", "device \"000\" must be 2 hex digits in \"03:000\"" },
		{ "03:00-0", "expected '.' after device in \"03:00-0\"" },
		{ "03:00:0", "domain \"03\" must be 4 hex digits" },
		{ "0000:03:00:0", "expected '.' after device" },
		{ "3:00.0", "bus \"3\" must be 2 hex digits" },
		{ "003:00.0", "bus \"003\" must be 2 hex digits" },
		{ ":00.0", "missing bus" },
		{ "03:0.0", "device \"0\" must be 2 hex digits" },
		{ "03:.0", "missing device" },
		{ "000:03:00.0", "domain \"000\" must be 4 hex digits" },
		{ "00000:03:00.0", "domain \"00000\" must be 4 hex digits" },
		{ "g000:03:00.0", "domain \"g000\" must be 4 hex digits" },
		{ "0000.03:00:0", "domain \"0000.03\" must be 4 hex digits" },
		{ "03:00.0 ", "unexpected \" \" after function" },
		{ "03:00.0x", "unexpected \"x\" after function" },
		{ "0000:03:00.0:1", "unexpected \":1\" after function" },
		{ "zz:00.0", "bus \"zz\" must be 2 hex digits" },
	};
	struct mmio_bdf b;
	struct mmio_error e;
	char buf[16], name[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		enum mmio_status st = mmio_bdf_parse(good[i].in, &b, &e);

		snprintf(name, sizeof(name), "BDF \"%s\" parses", good[i].in);
		tap_ok(st == MMIO_OK, "%s", name) || (tap_diag("  %s", e.msg), 0);
		mmio_bdf_format(&b, buf, sizeof(buf));
		snprintf(name, sizeof(name), "BDF \"%s\" formats as %s", good[i].in, good[i].full);
		tap_is_str(buf, good[i].full, name);
	}
	mmio_bdf_parse("0000:3b:1f.6", &b, &e);
	tap_ok(b.domain == 0 && b.bus == 0x3b && b.dev == 0x1f && b.fn == 6, "BDF fields");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "BDF \"%s\"", bad[i].in);
		expect_err(mmio_bdf_parse(bad[i].in, &b, &e), &e, MMIO_E_INVALID, name, bad[i].want);
	}
	expect_err(mmio_bdf_parse(NULL, &b, &e), &e, MMIO_E_INVALID, "NULL BDF", "empty");

	/* Round trip over every device and function of one bus. */
	{
		int ok = 1;
		for (unsigned d = 0; d < 32 && ok; d++)
			for (unsigned f = 0; f < 8 && ok; f++) {
				struct mmio_bdf in = { 0x1234, 0xa5, (uint8_t)d, (uint8_t)f }, outb;
				mmio_bdf_format(&in, buf, sizeof(buf));
				/* field by field: memcmp would read the padding byte */
				ok = mmio_bdf_parse(buf, &outb, &e) == MMIO_OK && in.domain == outb.domain &&
				     in.bus == outb.bus && in.dev == outb.dev && in.fn == outb.fn;
			}
		tap_ok(ok, "BDF format/parse round trip for all 256 dev.fn");
	}
	/* Failure leaves the output and the caller's unrelated state alone. */
	b.bus = 0x42;
	mmio_bdf_parse("00:20.0", &b, &e);
	tap_is_u64(b.bus, 0x42, "failed BDF parse leaves output untouched");
}

/* ---- sizes -------------------------------------------------------------- */

static void test_size(void)
{
	static const struct {
		const char *in;
		uint64_t want;
	} good[] = {
		{ "256M", UINT64_C(256) << 20 },
		{ "32G", UINT64_C(32) << 30 },
		{ "4K", 4096 },
		{ "1T", UINT64_C(1) << 40 },
		{ "0x10000000", 0x10000000 },
		{ "0X1b", 0x1b },
		{ "4096", 4096 },
		{ "256MiB", UINT64_C(256) << 20 },
		{ "256MB", UINT64_C(256) << 20 },
		{ "256mib", UINT64_C(256) << 20 },
		{ "256mb", UINT64_C(256) << 20 },
		{ "16k", 16384 },
		{ "2g", UINT64_C(2) << 30 },
		{ "100B", 100 },
		{ "0", 0 },
		{ "1P", UINT64_C(1) << 50 },
		{ "15E", UINT64_C(15) << 60 },
		{ "18446744073709551615", UINT64_MAX },
		{ "0xffffffffffffffff", UINT64_MAX },
		{ "16777215T", UINT64_C(16777215) << 40 },
		{ "0x0000000000001000", 0x1000 },
	};
	static const struct {
		const char *in, *want;
	} bad[] = {
		{ "", "empty size" },
		{ "-1", "negative size \"-1\"" },
		{ "-256M", "negative size" },
		{ "abc", "size \"abc\" is not a number" },
		{ "M", "size \"M\" is not a number" },
		{ " 4K", "is not a number" },
		{ "256Mx", "trailing junk \"x\" after size in \"256Mx\"" },
		{ "256M ", "trailing junk \" \" after size" },
		{ "256MiBs", "trailing junk \"s\"" },
		{ "4KB2", "trailing junk \"2\"" },
		{ "256Q", "unknown unit \"Q\" in size \"256Q\"" },
		{ "1.5G", "fractional size \"1.5G\" not supported" },
		{ "+4K", "size \"+4K\" is not a number" },
		{ "4 K", "unknown unit \" K\"" },
		{ "0x", "no hex digits after \"0x\"" },
		{ "0xg", "no hex digits after \"0x\"" },
		{ "0x10M", "trailing junk \"M\" after hex size" },
		{ "18446744073709551616", "overflows 64 bits" },
		{ "99999999999999999999999", "overflows 64 bits" },
		{ "0x10000000000000000", "overflows 64 bits" },
		{ "16E", "size \"16E\" overflows 64 bits" },
		{ "16777216T", "overflows 64 bits" },
	};
	struct mmio_error e;
	uint64_t v;
	char name[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		enum mmio_status st = mmio_size_parse(good[i].in, &v, &e);

		snprintf(name, sizeof(name), "size \"%s\"", good[i].in);
		if (st != MMIO_OK) {
			tap_ok(0, "%s parses", name);
			tap_diag("  %s", e.msg);
			continue;
		}
		tap_is_u64(v, good[i].want, name);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "size \"%s\"", bad[i].in);
		expect_err(mmio_size_parse(bad[i].in, &v, &e), &e, MMIO_E_INVALID, name, bad[i].want);
	}
	expect_err(mmio_size_parse(NULL, &v, &e), &e, MMIO_E_INVALID, "NULL size", "empty size");

	/* Every power of two through hex and through its binary unit. */
	{
		int ok = 1;
		for (unsigned b = 0; b < 64 && ok; b++) {
			char buf[32];
			uint64_t want = UINT64_C(1) << b;
			snprintf(buf, sizeof(buf), "0x%" PRIx64, want);
			ok = mmio_size_parse(buf, &v, &e) == MMIO_OK && v == want;
			snprintf(buf, sizeof(buf), "%" PRIu64 "%c", UINT64_C(1) << (b % 10),
				 "BKMGTPE"[b / 10]);
			ok = ok && mmio_size_parse(buf, &v, &e) == MMIO_OK && v == want;
			snprintf(buf, sizeof(buf), "%" PRIu64, want);
			ok = ok && mmio_size_parse(buf, &v, &e) == MMIO_OK && v == want;
		}
		tap_ok(ok, "size round trip for 2^0..2^63 (hex, unit, decimal)");
	}
}

/* ---- BAR validation ----------------------------------------------------- */

static void test_validate(void)
{
	static const struct {
		struct mmio_bar bar;
		const char *want;
	} bad[] = {
		{ { 0, MMIO_BAR_MEM32, false, 0x3000, 0 }, "BAR size 0x3000 is not a power of two" },
		{ { 0, MMIO_BAR_MEM32, false, 0, 0 }, "BAR size 0x0 is not a power of two" },
		{ { 0, MMIO_BAR_MEM32, false, 8, 0 }, "memory BAR size 0x8 below minimum 16" },
		{ { 0, MMIO_BAR_MEM64, true, 8, 0 }, "memory BAR size 0x8 below minimum 16" },
		{ { 4, MMIO_BAR_IO, false, 2, 0 }, "I/O BAR size 0x2 below minimum 4" },
		{ { 4, MMIO_BAR_IO, false, 512, 0 }, "I/O BAR size 0x200 exceeds 256 bytes" },
		{ { 4, MMIO_BAR_IO, true, 256, 0 }, "I/O BAR cannot be prefetchable" },
		{ { 6, MMIO_BAR_MEM32, true, 1024, 0 }, "ROM size 0x400 below minimum 2 KiB" },
		{ { 6, MMIO_BAR_MEM64, true, 4096, 0 }, "ROM must be a 32-bit memory BAR" },
		{ { 6, MMIO_BAR_MEM32, true, UINT64_C(1) << 32, 0 }, "ROM size 0x100000000 exceeds 2 GiB" },
		{ { 7, MMIO_BAR_MEM32, false, 4096, 0 }, "BAR index 7 out of range" },
		{ { 0, 9, false, 4096, 0 }, "BAR0 has unknown kind 9" },
		{ { 5, MMIO_BAR_MEM64, false, 4096, 0 }, "64-bit BAR5 needs two registers" },
		{ { 0, MMIO_BAR_MEM32, false, UINT64_C(1) << 32, 0 }, "32-bit BAR size 0x100000000 exceeds 2 GiB" },
	};
	static const struct mmio_bar good[] = {
		{ 0, MMIO_BAR_MEM32, false, 16, 0 },
		{ 0, MMIO_BAR_MEM32, false, UINT64_C(1) << 31, 0 },
		{ 4, MMIO_BAR_MEM64, true, UINT64_C(1) << 63, 0 },
		{ 5, MMIO_BAR_IO, false, 4, 0 },
		{ 5, MMIO_BAR_IO, false, 256, 0 },
		{ 6, MMIO_BAR_MEM32, true, 2048, 0 },
	};
	struct mmio_error e;
	char name[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(name, sizeof(name), "valid BAR%u %s 0x%" PRIx64, good[i].index,
			 mmio_bar_kind_name(&good[i]), good[i].size);
		tap_ok(mmio_bar_validate(&good[i], &e) == MMIO_OK, "%s", name) ||
			(tap_diag("  %s", e.msg), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "validate case %zu", i);
		expect_err(mmio_bar_validate(&bad[i].bar, &e), &e, MMIO_E_INVALID, name, bad[i].want);
	}
	tap_ok(mmio_bar_validate(&bad[0].bar, NULL) == MMIO_E_INVALID, "validate with err NULL");
}

/* ---- BAR lists ---------------------------------------------------------- */

static void test_bars(void)
{
	static const struct {
		const char *in, *want;
	} bad[] = {
		{ "mem32:16M", "must start with \"bars:\"" },
		{ "BARS:mem32:16M", "must start with \"bars:\"" },
		{ "bars:", "empty BAR list \"bars:\"" },
		{ "bars:mem32:16M,,mem32:1M", "empty item 2" },
		{ "bars:mem32:16M,", "empty item 2" },
		{ "bars:mem32", "expected KIND:SIZE in item 1 \"mem32\"" },
		{ "bars:mem16:4K", "unknown BAR kind \"mem16\" in item 1 \"mem16:4K\"" },
		{ "bars::4K", "unknown BAR kind \"\" in item 1" },
		{ "bars:mem64p:256M,mem32:12K", "BAR size 0x3000 is not a power of two in item 2 \"mem32:12K\"" },
		{ "bars:mem32:", "empty size in item 1 \"mem32:\"" },
		{ "bars:mem32:-4K", "negative size \"-4K\" in item 1" },
		{ "bars:mem32:4Kx", "trailing junk \"x\" after size in \"4Kx\" in item 1" },
		{ "bars:mem32:99999999999999999999", "overflows 64 bits (max 2^64-1) in item 1" },
		{ "bars:mem32:8", "memory BAR size 0x8 below minimum 16 in item 1" },
		{ "bars:io:2", "I/O BAR size 0x2 below minimum 4 in item 1 \"io:2\"" },
		{ "bars:io:512", "I/O BAR size 0x200 exceeds 256 bytes (PCI 3.0 6.2.5.1) in item 1" },
		{ "bars:rom:1K", "ROM size 0x400 below minimum 2 KiB (0x800) in item 1 \"rom:1K\"" },
		{ "bars:rom:64K,mem32:16M,rom:64K", "second ROM in item 3 \"rom:64K\"" },
		{ "bars:mem64:1M,mem64:1M,mem64:1M,mem32:1M",
		  "more than 6 BAR registers: item 4 \"mem32:1M\" would need BAR6" },
		{ "bars:mem32:1M,mem32:1M,mem32:1M,mem32:1M,mem32:1M,mem64:1M",
		  "item 6 \"mem64:1M\" would need BAR5+1 but only BAR0-BAR5 exist" },
		{ "bars:mem32:1M,mem32:1M,mem32:1M,mem32:1M,mem32:1M,mem32:1M,io:4",
		  "more than 6 BAR registers: item 7 \"io:4\"" },
		{ "bars:mem64:1M@5", "item 1 \"mem64:1M@5\" would need BAR5+1" },
		{ "bars:mem64:1M,mem32:1M@1", "BAR index 1 already taken (next free is BAR2) in item 2" },
		{ "bars:mem32:1M@6", "BAR index 6 out of range 0-5 in item 1" },
		{ "bars:mem32:1M@x", "BAR index \"x\" is not a number in item 1" },
		{ "bars:mem32:1M@", "BAR index \"\" is not a number" },
		{ "bars:mem32:1M@2x", "BAR index \"2x\" is not a number" },
		{ "bars:mem32:1M@-1", "BAR index \"-1\" is not a number" },
		{ "bars:rom:64K@5", "ROM index must be 6, not 5, in item 1" },
		{ "bars:mem32:0x1234567890123456789012345678901234567890123456789012345678901234567890",
		  "item 1 \"mem32:0x12345678901234567890" },
	};
	struct mmio_device d;
	struct mmio_error e;
	char name[160];
	enum mmio_status st;

	st = mmio_bars_parse("bars:mem32:16M,mem64p:256M,mem64p:32M", &d, &e);
	tap_ok(st == MMIO_OK, "T4 BAR list parses") || (tap_diag("  %s", e.msg), 0);
	tap_is_u64(d.nbars, 3, "T4: three BARs");
	check_bar(&d.bars[0], 0, "mem32", 16 << 20, "T4");
	check_bar(&d.bars[1], 1, "mem64p", 256 << 20, "T4");
	check_bar(&d.bars[2], 3, "mem64p", 32 << 20, "T4");
	tap_is_str(d.name, "bars:mem32:16M,mem64p:256M,mem64p:32M", "name is the spec");
	tap_ok(!d.has_bdf, "a BAR list has no BDF");

	/* The ROM is stored last whatever its position; io and mem32p kinds. */
	st = mmio_bars_parse("bars:rom:128K,mem64p:256M,mem64p:2M,io:256,mem32:1M", &d, &e);
	tap_ok(st == MMIO_OK, "Navi21-like list with a leading ROM parses") ||
		(tap_diag("  %s", e.msg), 0);
	tap_is_u64(d.nbars, 5, "Navi21: five BARs");
	check_bar(&d.bars[0], 0, "mem64p", 256 << 20, "Navi21");
	check_bar(&d.bars[1], 2, "mem64p", 2 << 20, "Navi21");
	check_bar(&d.bars[2], 4, "io", 256, "Navi21");
	check_bar(&d.bars[3], 5, "mem32", 1 << 20, "Navi21");
	check_bar(&d.bars[4], 6, "rom", 128 << 10, "Navi21");
	tap_ok(d.bars[4].kind == MMIO_BAR_MEM32 && d.bars[4].prefetch,
	       "ROM is MEM32 and prefetchable");
	tap_ok(d.bars[2].kind == MMIO_BAR_IO && !d.bars[2].prefetch, "io BAR kind");
	char back[128];
	mmio_bars_format(&d, back, sizeof(back));
	tap_is_str(back, "bars:mem64p:256M,mem64p:2M,io:256,mem32:1M,rom:128K",
		   "mmio_bars_format: the list back, ROM last, sizes in their largest exact unit");

	/* Explicit indices. */
	st = mmio_bars_parse("bars:mem64p:16M,mem64p:32K@3,rom:512K@6", &d, &e);
	tap_ok(st == MMIO_OK, "explicit @3 and rom@6 parse") || (tap_diag("  %s", e.msg), 0);
	check_bar(&d.bars[0], 0, "mem64p", 16 << 20, "X710");
	check_bar(&d.bars[1], 3, "mem64p", 32 << 10, "X710");
	check_bar(&d.bars[2], 6, "rom", 512 << 10, "X710");
	st = mmio_bars_parse("bars:mem32p:4K@5", &d, &e);
	tap_ok(st == MMIO_OK && d.nbars == 1 && d.bars[0].index == 5 &&
	       d.bars[0].kind == MMIO_BAR_MEM32 && d.bars[0].prefetch, "mem32p@5");
	st = mmio_bars_parse("bars:mem32:1M@2,mem32:1M", &d, &e);
	tap_ok(st == MMIO_OK && d.bars[1].index == 3, "numbering continues after an explicit index");
	st = mmio_bars_parse("bars:MEM64P:1m,IO:0x20", &d, &e);
	tap_ok(st == MMIO_OK && d.bars[0].kind == MMIO_BAR_MEM64 && d.bars[1].size == 32,
	       "kinds and units are case-insensitive");
	st = mmio_bars_parse("bars:mem32:1M,mem32:1M,mem32:1M,mem32:1M,mem32:1M,mem32:1M,rom:2K",
			     &d, &e);
	tap_ok(st == MMIO_OK && d.nbars == MMIO_MAX_BARS, "six registers plus a ROM fill bars[]");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "BAR list \"%.60s\"", bad[i].in);
		expect_err(mmio_bars_parse(bad[i].in, &d, &e), &e, MMIO_E_INVALID, name, bad[i].want);
	}
	expect_err(mmio_bars_parse(NULL, &d, &e), &e, MMIO_E_INVALID, "NULL BAR list",
		   "must start with \"bars:\"");

	/* A long spec is cut safely, and says so. */
	{
		char spec[200] = "bars:mem32p:0x00010000";

		for (int i = 1; i < 6; i++)
			strcat(spec, ",mem32p:0x00010000");
		tap_ok(strlen(spec) >= MMIO_DEVICE_NAME_MAX, "long spec is longer than a name");
		st = mmio_bars_parse(spec, &d, &e);
		tap_ok(st == MMIO_OK, "long spec parses") || (tap_diag("  %s", e.msg), 0);
		tap_ok(strlen(d.name) == MMIO_DEVICE_NAME_MAX - 1 &&
		       strcmp(d.name + MMIO_DEVICE_NAME_MAX - 4, "...") == 0 &&
		       strncmp(d.name, spec, MMIO_DEVICE_NAME_MAX - 4) == 0,
		       "long spec name truncated with \"...\"");
	}

	/* Round trip: every kind and a range of sizes, formatted back with the
	 * model's own words. */
	{
		static const char *const kinds[] = { "mem32", "mem32p", "mem64", "mem64p", "io", "rom" };
		int ok = 1;
		for (size_t k = 0; k < 6 && ok; k++)
			for (unsigned b = 2; b < 40 && ok; b++) {
				char spec[64];
				struct mmio_bar want = { 0 };
				if (k == 4 && b > 8)
					break;
				if (k == 5 && b < 11)
					continue;
				if ((k < 2 || k == 5) && b > 31)
					break;
				if (k < 4 && b < 4)
					continue;
				snprintf(spec, sizeof(spec), "bars:%s:0x%" PRIx64, kinds[k],
					 UINT64_C(1) << b);
				st = mmio_bars_parse(spec, &d, &e);
				want.size = UINT64_C(1) << b;
				ok = st == MMIO_OK && d.nbars == 1 &&
				     strcmp(mmio_bar_kind_name(&d.bars[0]), kinds[k]) == 0 &&
				     d.bars[0].size == want.size;
				if (!ok)
					tap_diag("  %s: %s", spec, st ? e.msg : "wrong BAR");
			}
		tap_ok(ok, "BAR list round trip over kinds and sizes");
	}
}

/* ---- sysfs lines -------------------------------------------------------- */

static void test_sysfs_line(void)
{
	struct mmio_bar b;
	struct mmio_error e;
	bool present;
	enum mmio_status st;
	static const struct {
		const char *line;
		unsigned index;
		const char *want;
	} bad[] = {
		{ "", 0, "resource line 0: expected 3 hex numbers" },
		{ "0x0 0x0", 1, "resource line 1: expected 3 hex numbers" },
		{ "00000000d8000000 0x00000000d8ffffff 0x0000000000040200\n", 2,
		  "resource line 2: expected 3 hex numbers" },
		{ "0x00000000d8000000 0x00000000d8ffffff 0x0000000000040200 0x1\n", 0,
		  "resource line 0: trailing junk \"0x1\"" },
		{ "0x00000000d8000000 0x00000000d7ffffff 0x0000000000040200\n", 0,
		  "resource line 0: end 0xd7ffffff below start 0xd8000000" },
		{ "0x00000000d8000000 0x00000000d8bfffff 0x0000000000040200\n", 3,
		  "resource line 3: BAR size 0xc00000 is not a power of two" },
		{ "0x000000000000e000 0x000000000000e1ff 0x0000000000040101\n", 4,
		  "resource line 4: I/O BAR size 0x200 exceeds 256 bytes" },
		{ "0x00000000d8000000 0x00000000d8ffffff 0x0000000000000001\n", 0,
		  "resource line 0: flags 0x1 are neither I/O (0x100) nor memory (0x200)" },
		{ "0x00000000c0000000 0x00000000c00003ff 0x0000000000046200\n", 6,
		  "resource line 6: ROM size 0x400 below minimum 2 KiB" },
		{ "0x0000000000000000 0xffffffffffffffff 0x0000000000040200\n", 0,
		  "region covers all 2^64 bytes" },
		{ "0x00000000d8000000 0x00000000d8ffffff 0x0000000000140200\n", 5,
		  "64-bit BAR5 needs two registers" },
		{ "0x10000000000000000 0x0 0x200", 0, "expected 3 hex numbers" },
	};
	char name[128];

	st = mmio_sysfs_line_parse("0x00000000d8000000 0x00000000d8ffffff 0x0000000000040200\n", 0,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && present, "mem32 line parses");
	check_bar(&b, 0, "mem32", 16 << 20, "sysfs line 0");
	st = mmio_sysfs_line_parse("0x000038bfe0000000 0x000038bfefffffff 0x000000000014220c", 1, &b,
				   &present, &e);
	tap_ok(st == MMIO_OK && present, "mem64p line without newline parses");
	check_bar(&b, 1, "mem64p", 256 << 20, "sysfs line 1");
	st = mmio_sysfs_line_parse("0x0000000000140000 0x0000000000147fff 0x0000000000140204\n", 2,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && present && b.kind == MMIO_BAR_MEM64 && !b.prefetch,
	       "mem64 non-prefetchable line");
	st = mmio_sysfs_line_parse("0x000000000000e000 0x000000000000e07f 0x0000000000040101\n", 5,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && present, "I/O line parses");
	check_bar(&b, 5, "io", 128, "sysfs line 5");
	st = mmio_sysfs_line_parse("0x00000000fb000000 0x00000000fb07ffff 0x0000000000046200\n", 6,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && present && b.kind == MMIO_BAR_MEM32 && b.prefetch,
	       "ROM line: MEM32, prefetchable");
	check_bar(&b, 6, "rom", 512 << 10, "sysfs line 6");
	/* The ROM is the ROM whatever flags the kernel attached. */
	st = mmio_sysfs_line_parse("0x00000000fb000000 0x00000000fb07ffff 0x0000000000040200\n", 6,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && b.prefetch && b.index == MMIO_BAR_ROM, "ROM line without PREFETCH flag");

	b.size = 12345;
	st = mmio_sysfs_line_parse("0x0000000000000000 0x0000000000000000 0x0000000000000000\n", 2,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && !present, "all-zero line is absent");
	tap_is_u64(b.size, 12345, "absent line leaves the BAR alone");
	st = mmio_sysfs_line_parse("0x00000000d8000000 0x00000000d8ffffff 0x0000000000000000\n", 2,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && !present, "flags 0 is absent");
	/* SR-IOV totals need not be powers of two (63 VFs x 16K). */
	st = mmio_sysfs_line_parse("0x0000000000000000 0x00000000000fbfff 0x000000000014220c\n", 10,
				   &b, &present, &e);
	tap_ok(st == MMIO_OK && present && b.size == 63 * 16384, "SR-IOV line: size not checked");
	st = mmio_sysfs_line_parse("\t0x1000  0x1fff\t0x200  \r\n", 0, &b, &present, &e);
	tap_ok(st == MMIO_OK && present && b.size == 4096, "short hex and extra whitespace");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "sysfs line case %zu", i);
		expect_err(mmio_sysfs_line_parse(bad[i].line, bad[i].index, &b, &present, &e), &e,
			   MMIO_E_INVALID, name, bad[i].want);
	}
}

/* ---- sysfs files -------------------------------------------------------- */

static const char *srcdir(void)
{
	const char *s = getenv("top_srcdir");
	return s && *s ? s : ".";
}

static void test_sysfs_read(void)
{
	char root[1024];
	struct mmio_bdf bdf;
	struct mmio_device d;
	struct mmio_error e;
	enum mmio_status st;

	snprintf(root, sizeof(root), "%s/tests/fixtures/sysfs", srcdir());

	mmio_bdf_parse("0000:3b:00.0", &bdf, &e);
	st = mmio_sysfs_read_device(root, &bdf, &d, &e);
	tap_ok(st == MMIO_OK, "T4 fixture reads") || (tap_diag("  %s", e.msg), 0);
	tap_is_u64(d.nbars, 3, "T4 fixture: three BARs");
	check_bar(&d.bars[0], 0, "mem32", 16 << 20, "T4 fixture");
	check_bar(&d.bars[1], 1, "mem64p", 256 << 20, "T4 fixture");
	check_bar(&d.bars[2], 3, "mem64p", 32 << 20, "T4 fixture");
	tap_is_str(d.name, "0000:3b:00.0", "sysfs device name is its BDF");
	tap_ok(d.has_bdf && d.bdf.bus == 0x3b, "sysfs device carries its BDF");

	mmio_bdf_parse("18:00.0", &bdf, &e);
	st = mmio_sysfs_read_device(root, &bdf, &d, &e);
	tap_ok(st == MMIO_OK, "X710 fixture reads") || (tap_diag("  %s", e.msg), 0);
	tap_is_u64(d.nbars, 3, "X710 fixture: SR-IOV lines ignored");

	mmio_bdf_parse("0000:99:00.0", &bdf, &e);
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_NOTFOUND,
		   "missing sysfs device", "no PCI device 0000:99:00.0:");
	tap_contains(e.msg, "fixtures/sysfs/bus/pci/devices/0000:99:00.0 does not exist",
		     "missing device: message names the path");
	expect_err(mmio_sysfs_read_device("/nonexistent-root", &bdf, &d, &e), &e, MMIO_E_NOTFOUND,
		   "missing sysfs root", "/nonexistent-root/bus/pci/devices/0000:99:00.0");
}

/* Broken sysfs trees, built in a temporary directory. */
static void test_sysfs_broken(void)
{
	char tmpl[] = "/tmp/test-parse-XXXXXX", dir[256], path[300];
	const char *root = mkdtemp(tmpl);
	struct mmio_bdf bdf = { 0, 1, 0, 0 };
	struct mmio_device d;
	struct mmio_error e;
	FILE *f;
	const char *z = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";

	if (!root) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	sysfs_tree_make(root, "0000:01:00.0", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/resource", dir);

	/* Device directory without a resource file. */
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_IO,
		   "missing resource file", "cannot open ");
	tap_contains(e.msg, "0000:01:00.0/resource", "missing resource: path named");

	/* resource is a directory: open works, read fails. */
	mkdir(path, 0700);
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_IO,
		   "unreadable resource", "cannot read ");
	rmdir(path);

	/* Too few lines. */
	f = fopen(path, "w");
	fprintf(f, "%s%s", z, z);
	fclose(f);
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_INVALID,
		   "short resource file", "resource: 2 lines, expected at least 7");

	/* A bad size on line 3: the path and the line are named. */
	f = fopen(path, "w");
	fprintf(f, "%s%s%s", z, z, z);
	fprintf(f, "0x00000000d8000000 0x00000000d8bfffff 0x0000000000040200\n");
	fprintf(f, "%s%s%s", z, z, z);
	fclose(f);
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_INVALID,
		   "non-power-of-two BAR in sysfs",
		   "0000:01:00.0/resource: resource line 3: BAR size 0xc00000 is not a power of two");

	/* A region in the upper register of a 64-bit BAR (fuzz finding). */
	f = fopen(path, "w");
	fprintf(f, "0x00000000d8000000 0x00000000d8ffffff 0x0000000000140200\n");
	fprintf(f, "0x00000000d9000000 0x00000000d9ffffff 0x0000000000040200\n");
	for (int i = 2; i < 7; i++)
		fputs(z, f);
	fclose(f);
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_INVALID,
		   "region in the upper half of a 64-bit BAR",
		   "resource line 1: a region in the upper half of 64-bit BAR 0");

	/* A bad SR-IOV line is never looked at. */
	f = fopen(path, "w");
	fprintf(f, "0x00000000d8000000 0x00000000d8ffffff 0x0000000000040200\n");
	for (int i = 1; i < 7; i++)
		fputs(z, f);
	fprintf(f, "garbage\n");
	fclose(f);
	tap_ok(mmio_sysfs_read_device(root, &bdf, &d, &e) == MMIO_OK && d.nbars == 1,
	       "garbage SR-IOV line ignored");

	/* An overlong line. */
	f = fopen(path, "w");
	for (int i = 0; i < 300; i++)
		fputc(' ', f);
	fputs(z, f);
	fclose(f);
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_INVALID,
		   "overlong sysfs line", "resource line 0: line too long");

	/* Too many lines. */
	f = fopen(path, "w");
	for (int i = 0; i < 40; i++)
		fputs(z, f);
	fclose(f);
	expect_err(mmio_sysfs_read_device(root, &bdf, &d, &e), &e, MMIO_E_INVALID,
		   "too many sysfs lines", "more than 32 lines");

	unlink(path);
	sysfs_tree_remove(root, "0000:01:00.0");
}

/* ---- resolver (without a catalogue: test-catalogue covers profiles) ----- */

static void test_resolve(void)
{
	char root[1024];
	struct mmio_device d;
	struct mmio_error e;
	enum mmio_status st;

	snprintf(root, sizeof(root), "%s/tests/fixtures/sysfs", srcdir());
	st = mmio_device_resolve("bars:mem64p:32M,rom:1M", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.nbars == 2 && !d.has_bdf, "resolve bars:");
	st = mmio_device_resolve("5e:00.0", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.nbars == 2 && d.has_bdf, "resolve short BDF from sysfs") ||
		(tap_diag("  %s", e.msg), 0);
	tap_is_str(d.name, "0000:5e:00.0", "resolved BDF name is the full form");
	expect_err(mmio_device_resolve("profile:nvidia-t4", root, NULL, &d, &e), &e,
		   MMIO_E_NOTFOUND, "profile without catalogue",
		   "unknown profile \"nvidia-t4\"; no device catalogue loaded");
	expect_err(mmio_device_resolve("", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "empty device spec", "empty device");
	expect_err(mmio_device_resolve(NULL, root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "NULL device spec", "empty device");
	expect_err(mmio_device_resolve("gpu0", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "unknown spelling", "unrecognised device \"gpu0\": expected a PCI address");
	expect_err(mmio_device_resolve("00:20.0", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "bad BDF through resolve", "device 0x20 out of range 0x00-0x1f in \"00:20.0\"");
	expect_err(mmio_device_resolve("bars:mem32:12K", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "bad BAR list through resolve", "not a power of two in item 1");
	expect_err(mmio_device_resolve("0000:77:00.0", root, NULL, &d, &e), &e, MMIO_E_NOTFOUND,
		   "absent BDF through resolve", "no PCI device 0000:77:00.0");
}

static void test_resolve_slots(void)
{
	char root[1024];
	struct mmio_device d;
	struct mmio_error e;
	enum mmio_status st;

	snprintf(root, sizeof(root), "%s/tests/fixtures/sysfs", srcdir());
	st = mmio_device_resolve("bars:mem64p:512M+bars:mem64p:512M+bars:mem64p:1G", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.nfn == 3 && d.nbars == 3, "three functions joined with +") ||
		(tap_diag("  %s", e.msg), 0);
	tap_ok(d.fns[0].fn == 0 && d.fns[1].fn == 1 && d.fns[2].fn == 2 && d.bars[0].fn == 0 &&
	       d.bars[1].fn == 1 && d.bars[2].fn == 2 && d.bars[2].size == UINT64_C(1) << 30,
	       "  function N is the Nth, its BARs carry it");
	tap_is_str(d.name, "bars:mem64p:512M+bars:mem64p:512M+bars:mem64p:1G", "  named as given");
	tap_ok(!d.has_bdf, "  no host function 0");

	st = mmio_device_resolve("0000:65:00", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.nfn == 2 && d.nbars == 6, "a host slot: every function from sysfs") ||
		(tap_diag("  %s", e.msg), 0);
	tap_ok(d.has_bdf && d.bdf.bus == 0x65 && d.bdf.fn == 0 && d.fns[1].has_bdf && d.fns[1].bdf.fn == 1 &&
	       d.fns[1].fn == 1, "  both functions with their host addresses");
	tap_ok(d.bars[5].fn == 1 && d.bars[5].index == 0 && d.bars[5].size == 16 * 1024 &&
	       d.bars[4].fn == 0 && d.bars[4].index == MMIO_BAR_ROM, "  BARs by function, then index");
	st = mmio_device_resolve("65:00.*", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.nfn == 2 && d.nbars == 6 && d.bdf.domain == 0, "\"65:00.*\" is the same slot");
	st = mmio_device_resolve("0000:5e:00", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.nfn == 0 && d.has_bdf && d.bdf.fn == 0,
	       "a host slot with only function 0 is a single function");
	st = mmio_device_resolve("bars:mem64p:1G+0000:af:00.1", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.nfn == 2 && !d.fns[0].has_bdf && d.fns[1].has_bdf &&
	       d.fns[1].bdf.fn == 1 && d.nbars == 3 && d.bars[1].fn == 1 && d.bars[2].index == MMIO_BAR_ROM,
	       "bars: and a host function joined") || (tap_diag("  %s", e.msg), 0);
	st = mmio_device_resolve("0000:af:00.1+0000:af:00.0", root, NULL, &d, &e);
	tap_ok(st == MMIO_OK && d.fns[0].bdf.fn == 1 && d.fns[1].bdf.fn == 0 && d.bdf.fn == 1,
	       "host functions in any order: the first becomes function 0");

	expect_err(mmio_device_resolve("bars:mem32:4K+", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "an empty function", "function 1 is empty");
	expect_err(mmio_device_resolve("+bars:mem32:4K", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "an empty function 0", "function 0 is empty");
	expect_err(mmio_device_resolve("0000:65:00+bars:mem32:4K", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "a slot joined with +", "0000:65:00 is a whole slot");
	expect_err(mmio_device_resolve("0000:77:00", root, NULL, &d, &e), &e, MMIO_E_NOTFOUND,
		   "a host slot without function 0", "no PCI slot 0000:77:00: its function 0 is missing");
	expect_err(mmio_device_resolve("bars:io:4+bars:io:4+bars:io:4+bars:io:4+bars:io:4+bars:io:4+"
				       "bars:io:4+bars:io:4+bars:io:4", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "nine functions", "a slot has at most 8 functions");
	expect_err(mmio_device_resolve("bars:mem32:4K+bars:mem32:12K", root, NULL, &d, &e), &e,
		   MMIO_E_INVALID, "a bad function", "not a power of two");
	expect_err(mmio_device_resolve("bars:mem32:4K+gpu0", root, NULL, &d, &e), &e, MMIO_E_INVALID,
		   "an unknown spelling in a slot", "unrecognised device \"gpu0\"");
}

int main(void)
{
	test_bdf();
	test_size();
	test_validate();
	test_bars();
	test_sysfs_line();
	test_sysfs_read();
	test_sysfs_broken();
	test_resolve();
	test_resolve_slots();
	tap_done();
	return tap_exit();
}
