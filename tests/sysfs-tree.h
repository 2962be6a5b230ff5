/* SPDX-License-Identifier: MIT */
/* sysfs-tree.h — a private sysfs tree ROOT/bus/pci/devices/DEV for the
 * readers of "resource" files (tests and fuzzers): made and removed level
 * by level. */
#ifndef MMIO_TEST_SYSFS_TREE_H
#define MMIO_TEST_SYSFS_TREE_H
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSFS_TREE_LEVELS 4

static inline void sysfs_tree_level(char *buf, size_t len, const char *root, const char *dev, int level)
{
	static const char *const sub[SYSFS_TREE_LEVELS] = { "bus", "bus/pci", "bus/pci/devices",
							    "bus/pci/devices/" };
	snprintf(buf, len, "%s/%s%s", root, sub[level], level == SYSFS_TREE_LEVELS - 1 ? dev : "");
}

/* Makes each level of ROOT/bus/pci/devices/DEV below an existing ROOT;
 * the device directory's path goes to dev_dir.  0, or -1 when the device
 * directory could not be made. */
static inline int sysfs_tree_make(const char *root, const char *dev, char *dev_dir, size_t len)
{
	for (int i = 0; i < SYSFS_TREE_LEVELS; i++) {
		sysfs_tree_level(dev_dir, len, root, dev, i);
		if (mkdir(dev_dir, 0700) != 0 && i == SYSFS_TREE_LEVELS - 1)
			return -1;
	}
	return 0;
}

/* Removes the device directory (empty by now), the levels above it and ROOT. */
static inline void sysfs_tree_remove(const char *root, const char *dev)
{
	char p[512];

	for (int i = SYSFS_TREE_LEVELS - 1; i >= 0; i--) {
		sysfs_tree_level(p, sizeof(p), root, dev, i);
		rmdir(p);
	}
	rmdir(root);
}
#endif
