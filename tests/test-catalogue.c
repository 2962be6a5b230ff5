/* SPDX-License-Identifier: MIT */
/* test-catalogue.c — data/profiles.ini, the catalogue loader's errors, and
 * the fixture sysfs trees read back against the catalogue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmio-model.h"
#include "tap-mmio.h"

static const char *srcdir(void)
{
	const char *s = getenv("top_srcdir");
	return s && *s ? s : ".";
}

/* Compares two devices BAR by BAR, naming the first difference. */
static void same_bars(const struct mmio_device *got, const struct mmio_device *want,
		      const char *what)
{
	if (got->nbars != want->nbars) {
		tap_ok(0, "%s: %u BARs, catalogue has %u", what, got->nbars, want->nbars);
		return;
	}
	for (unsigned i = 0; i < got->nbars; i++) {
		const struct mmio_bar *g = &got->bars[i], *w = &want->bars[i];

		if (g->index != w->index || g->kind != w->kind || g->prefetch != w->prefetch ||
		    g->size != w->size) {
			tap_ok(0, "%s: BAR %u differs", what, i);
			tap_diag("  sysfs BAR%u %s 0x%" PRIx64 ", catalogue BAR%u %s 0x%" PRIx64,
				 g->index, mmio_bar_kind_name(g), g->size, w->index,
				 mmio_bar_kind_name(w), w->size);
			return;
		}
	}
	tap_ok(1, "%s: all %u BARs match the catalogue", what, got->nbars);
}

static void test_shipped(void)
{
	static const char *const required[] = {
		"nvidia-t4", "nvidia-v100-16g", "nvidia-a100-40g", "nvidia-a100-80g",
		"nvidia-h100-sxm5", "nvidia-l4", "amd-navi21", "intel-x710", "intel-x710-vf",
		"mellanox-cx6dx", "nvme-generic", "nvidia-p100", "intel-82599", "intel-arc-a770",
	};
	char path[1024], root[1024];
	struct mmio_catalogue cat;
	struct mmio_error e;
	const struct mmio_profile *p;
	enum mmio_status st;

	snprintf(path, sizeof(path), "%s/data/profiles.ini", srcdir());
	st = mmio_catalogue_load(path, &cat, &e);
	if (!tap_ok(st == MMIO_OK, "data/profiles.ini loads")) {
		tap_diag("  %s", e.msg);
		return;
	}
	tap_ok(cat.n >= sizeof(required) / sizeof(required[0]), "catalogue has %zu profiles", cat.n);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		char want[64];

		p = mmio_catalogue_find(&cat, required[i]);
		if (!tap_ok(p != NULL, "profile %s present", required[i]))
			continue;
		snprintf(want, sizeof(want), "profile:%s", required[i]);
		tap_ok(strcmp(p->device.name, want) == 0 && p->device.nbars > 0 &&
		       !p->device.has_bdf && p->description[0] && p->source[0],
		       "profile %s: name, BARs, description, source", required[i]);
	}
	/* Every BAR of every profile passes the same rules as user input. */
	{
		int ok = 1;
		for (size_t i = 0; i < cat.n; i++)
			for (unsigned b = 0; b < cat.profiles[i].device.nbars; b++)
				if (mmio_bar_validate(&cat.profiles[i].device.bars[b], &e) != MMIO_OK) {
					tap_diag("  %s: %s", cat.profiles[i].name, e.msg);
					ok = 0;
				}
		tap_ok(ok, "every catalogue BAR validates");
	}

	p = mmio_catalogue_find(&cat, "nvidia-t4");
	if (p) {
		tap_ok(p->device.nbars == 3 && p->device.bars[0].index == 0 &&
		       p->device.bars[0].kind == MMIO_BAR_MEM32 && !p->device.bars[0].prefetch &&
		       p->device.bars[1].index == 1 && p->device.bars[1].size == UINT64_C(256) << 20 &&
		       p->device.bars[2].index == 3 && p->device.bars[2].size == UINT64_C(32) << 20,
		       "nvidia-t4: BAR0 mem32 16M, BAR1 mem64p 256M, BAR3 mem64p 32M");
		tap_ok(!p->uncertain, "nvidia-t4 is certain");
		tap_contains(p->source, "cloud-hypervisor", "nvidia-t4 cites its source");
	}
	p = mmio_catalogue_find(&cat, "nvidia-h100-sxm5");
	if (p)
		tap_ok(p->device.nbars == 3 && p->device.bars[0].kind == MMIO_BAR_MEM64 &&
		       p->device.bars[0].prefetch && p->device.bars[1].index == 2 &&
		       p->device.bars[1].size == UINT64_C(128) << 30 && p->device.bars[2].index == 4,
		       "nvidia-h100-sxm5: three 64-bit prefetchable BARs at 0, 2, 4");
	p = mmio_catalogue_find(&cat, "amd-navi21");
	if (p)
		tap_ok(p->device.nbars == 5 && p->device.bars[2].index == 4 &&
		       p->device.bars[2].kind == MMIO_BAR_IO && p->device.bars[2].size == 256 &&
		       p->device.bars[3].index == 5 && p->device.bars[3].kind == MMIO_BAR_MEM32 &&
		       p->device.bars[4].index == MMIO_BAR_ROM,
		       "amd-navi21: I/O BAR4, mem32 BAR5, ROM");
	p = mmio_catalogue_find(&cat, "intel-x710-vf");
	if (p)
		tap_ok(p->device.nbars == 2 && p->device.bars[1].index == 3 && p->uncertain,
		       "intel-x710-vf: BAR3 by explicit index, marked uncertain");
	p = mmio_catalogue_find(&cat, "nvidia-l4");
	if (p)
		tap_ok(p->uncertain, "nvidia-l4 is marked uncertain (flags not seen)");
	tap_ok(mmio_catalogue_find(&cat, "nvidia-t5") == NULL, "find: unknown name");
	tap_ok(mmio_catalogue_find(&cat, "") == NULL, "find: empty name");
	tap_ok(mmio_catalogue_find(NULL, "nvidia-t4") == NULL, "find: NULL catalogue");

	/* Fixture sysfs trees against the catalogue. */
	snprintf(root, sizeof(root), "%s/tests/fixtures/sysfs", srcdir());
	{
		static const struct {
			const char *bdf, *profile;
		} fx[] = {
			{ "0000:3b:00.0", "nvidia-t4" },
			{ "0000:5e:00.0", "mellanox-cx6dx" },
			{ "0000:18:00.0", "intel-x710" },
		};
		for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
			struct mmio_device d;
			char what[96];

			snprintf(what, sizeof(what), "sysfs %s vs %s", fx[i].bdf, fx[i].profile);
			p = mmio_catalogue_find(&cat, fx[i].profile);
			st = mmio_device_resolve(fx[i].bdf, root, &cat, &d, &e);
			if (!tap_ok(st == MMIO_OK && p, "%s: reads", what)) {
				tap_diag("  %s", st ? e.msg : "no profile");
				continue;
			}
			same_bars(&d, &p->device, what);
		}
	}

	/* The resolver's profile path. */
	{
		struct mmio_device d;

		st = mmio_device_resolve("profile:mellanox-cx6dx", root, &cat, &d, &e);
		tap_ok(st == MMIO_OK && strcmp(d.name, "profile:mellanox-cx6dx") == 0 &&
		       d.nbars == 2 && d.bars[1].index == MMIO_BAR_ROM &&
		       d.bars[1].size == UINT64_C(1) << 20,
		       "resolve profile:mellanox-cx6dx");
		expect_err(mmio_device_resolve("profile:nvidia-t5", root, &cat, &d, &e), &e,
			   MMIO_E_NOTFOUND, "unknown profile",
			   "unknown profile \"nvidia-t5\"; known: nvidia-t4, ");
		tap_contains(e.msg, "nvme-generic", "unknown profile: lists the known ones");
		expect_err(mmio_device_resolve("profile:", root, &cat, &d, &e), &e,
			   MMIO_E_NOTFOUND, "empty profile name", "unknown profile \"\"");
	}
	mmio_catalogue_free(&cat);
	tap_ok(cat.n == 0 && cat.profiles == NULL, "free empties the catalogue");
	mmio_catalogue_free(&cat);
	mmio_catalogue_free(NULL);
	tap_ok(1, "free is idempotent and NULL-safe");
}

#define GOOD "[a]\ndescription=A\nbars=mem32:16M\nsource=here\n"

static void test_errors(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "", "t.ini: no profiles" },
		{ "# only a comment\n", "t.ini: no profiles" },
		{ GOOD "this is not ini\n", "t.ini:5: syntax error" },
		{ GOOD "[b\n", "t.ini:5: syntax error" },
		{ "bars=mem32:16M\n", "t.ini:1: key \"bars\" outside any [profile] section" },
		{ GOOD "colour=blue\n", "t.ini:5: profile [a]: unknown key \"colour\"" },
		{ GOOD "bars=mem32:1M\n", "t.ini:5: profile [a]: bars given twice" },
		{ GOOD "[b]\ndescription=B\n[a]\nbars=io:4\n", "t.ini:8: duplicate profile [a]" },
		{ "[Bad Name]\nbars=io:4\n", "t.ini:2: bad profile name [Bad Name]" },
		{ "[a]\nuncertain=maybe\n", "t.ini:2: profile [a]: uncertain=\"maybe\" must be true or false" },
		{ "[a]\ndescription=A\n\n# why\nbars=mem32:12K\n",
		  "t.ini:5: profile [a]: BAR size 0x3000 is not a power of two in item 1 \"mem32:12K\"" },
		{ "[a]\nbars=mem32:16M,mem64q:1M\n", "t.ini:2: profile [a]: unknown BAR kind \"mem64q\" in item 2" },
		{ "[a]\nbars=\n", "t.ini:2: profile [a]: empty BAR list" },
		{ "[a]\ndescription=A\nsource=s\n", "t.ini: profile [a] has no bars=" },
		{ "[a]\nbars=io:4\nsource=s\n", "t.ini: profile [a] has no description=" },
		{ "[a]\nbars=io:4\ndescription=A\n", "t.ini: profile [a] has no source=" },
		{ GOOD "[b]\nbars=io:4\ndescription=B\n", "profile [b] has no source=" },
		{ "[a]\ndescription=0123456789012345678901234567890123456789012345678901234567890123456789"
		  "012345678901234567890123456789012345678901234567890123456789\n",
		  "t.ini:2: profile [a]: description is 130 characters, at most 127 allowed" },
		{ "[a]\nsource=0123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789"
		  "01234567890123456789012345\n",
		  "t.ini:2: profile [a]: source is 166 characters, at most 159 allowed" },
		{ "[a]\n# 0123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789\n"
		  "bars=io:4\n",
		  "t.ini:2: line longer than 199 characters" },
		{ "[0123456789012345678901234567890123456789012345678]\nbars=io:4\n",
		  "bad profile name [0123456789" },
	};
	struct mmio_catalogue cat;
	struct mmio_error e;
	char name[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cat.n = 99;
		cat.profiles = NULL;
		snprintf(name, sizeof(name), "bad catalogue %zu", i);
		expect_err(mmio_catalogue_load_string(bad[i].text, "t.ini", &cat, &e), &e,
			   MMIO_E_INVALID, name, bad[i].want);
	}
	tap_ok(cat.n == 99, "a failed load leaves the caller's catalogue alone");

	/* A minimal good one: defaults, true, sections with comments between. */
	{
		enum mmio_status st = mmio_catalogue_load_string(
			"; a comment\n" GOOD "uncertain=true\n\n[b.2_x]\nbars=rom:2K\n"
			"description=B ; inline comment\nsource=s\n", NULL, &cat, &e);
		const struct mmio_profile *p;

		tap_ok(st == MMIO_OK && cat.n == 2, "small catalogue loads") ||
			(tap_diag("  %s", e.msg), 0);
		p = mmio_catalogue_find(&cat, "a");
		tap_ok(p && p->uncertain && strcmp(p->description, "A") == 0, "uncertain=true read");
		p = mmio_catalogue_find(&cat, "b.2_x");
		tap_ok(p && !p->uncertain && strcmp(p->description, "B") == 0 &&
		       p->device.bars[0].index == MMIO_BAR_ROM,
		       "uncertain defaults to false; inline comment stripped");
		mmio_catalogue_free(&cat);
	}
	tap_ok(mmio_catalogue_load_string("bars=x\n", NULL, &cat, &e) == MMIO_E_INVALID &&
	       strstr(e.msg, "<string>:1:") != NULL, "default origin is <string>");

	/* Many profiles: growth, and the "known:" list is cut, not overrun. */
	{
		char *text = malloc(100 * 80), *q = text;
		struct mmio_device d;
		enum mmio_status st;

		for (int i = 0; i < 100; i++)
			q += sprintf(q, "[profile-number-%03d]\nbars=mem32:4K\ndescription=x\nsource=y\n", i);
		st = mmio_catalogue_load_string(text, "many", &cat, &e);
		tap_ok(st == MMIO_OK && cat.n == 100, "100 profiles load") ||
			(tap_diag("  %s", e.msg), 0);
		tap_ok(mmio_catalogue_find(&cat, "profile-number-099") != NULL, "last of 100 found");
		expect_err(mmio_device_resolve("profile:nope", NULL, &cat, &d, &e), &e,
			   MMIO_E_NOTFOUND, "unknown profile among 100", "known: profile-number-000, ");
		tap_contains(e.msg, ", ...", "long known list ends with \", ...\"");
		mmio_catalogue_free(&cat);
		free(text);
	}

	/* File errors. */
	expect_err(mmio_catalogue_load("/nonexistent/profiles.ini", &cat, &e), &e, MMIO_E_IO,
		   "missing catalogue file", "cannot open /nonexistent/profiles.ini: ");
	{
		char tmpl[] = "/tmp/test-catalogue-XXXXXX";
		const char *dir = mkdtemp(tmpl);

		if (dir) {
			expect_err(mmio_catalogue_load(dir, &cat, &e), &e, MMIO_E_IO,
				   "catalogue path is a directory", "cannot read ");
			rmdir(dir);
		} else {
			tap_ok(0, "mkdtemp: %s", strerror(errno));
		}
	}
	{
		char path[1024];
		snprintf(path, sizeof(path), "%s/tests/fixtures/sysfs/bus/pci/devices/0000:3b:00.0/resource",
			 srcdir());
		expect_err(mmio_catalogue_load(path, &cat, &e), &e, MMIO_E_INVALID,
			   "a non-INI file", "resource:1: syntax error");
	}
}

int main(void)
{
	test_shipped();
	test_errors();
	tap_done();
	return tap_exit();
}
