/* SPDX-License-Identifier: MIT */
/* fuzz-sysfs-file.c — mmio_sysfs_read_device on a whole "resource" file
 * written into a private temporary sysfs tree (created once, removed at
 * exit): line splitting, long lines, line counts, NUL bytes. */
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "../tests/sysfs-tree.h"

static char root[PATH_MAX], dev_dir[PATH_MAX], res_path[PATH_MAX];

static void cleanup(void)
{
	unlink(res_path);
	sysfs_tree_remove(root, "0000:03:00.0");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/mmiod-fuzz-sysfs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root) || sysfs_tree_make(root, "0000:03:00.0", dev_dir, sizeof(dev_dir)) != 0)
		abort();
	snprintf(res_path, sizeof(res_path), "%s/resource", dev_dir);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mmio_bdf bdf = { .domain = 0, .bus = 3, .dev = 0, .fn = 0 };
	struct mmio_device d;
	struct mmio_error err;
	enum mmio_status st;
	FILE *f = fopen(res_path, "w");

	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();
	st = FUZZ_ERR_CALL(err, mmio_sysfs_read_device(root, &bdf, &d, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID);
	if (st == MMIO_OK) {
		/* A region in the upper half of a 64-bit BAR is refused
		 * (docs/reliability.md, Found 2), so the register rule holds. */
		fuzz_device_check(&d);
		FUZZ_CHECK(d.has_bdf && d.bdf.bus == 3);
		FUZZ_CHECK(strcmp(d.name, "0000:03:00.0") == 0);
	}
	return 0;
}
