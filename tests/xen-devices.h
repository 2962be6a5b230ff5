/* SPDX-License-Identifier: MIT */
/* xen-devices.h — BARs in one line each, and the devices of
 * shared/ref/xen.md 1.6 that the hvmloader model and the planners are
 * tested with (test-hvmloader.c, test-plan.c). */
#ifndef MMIO_TESTS_XEN_DEVICES_H
#define MMIO_TESTS_XEN_DEVICES_H

#include "mmio-model.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

#define IO(i, s)     { .index = (i), .kind = MMIO_BAR_IO, .size = (s) }
#define M32(i, s)    { .index = (i), .kind = MMIO_BAR_MEM32, .size = (s) }
#define M32P(i, s)   { .index = (i), .kind = MMIO_BAR_MEM32, .prefetch = true, .size = (s) }
#define M64(i, s)    { .index = (i), .kind = MMIO_BAR_MEM64, .size = (s) }
#define M64P(i, s)   { .index = (i), .kind = MMIO_BAR_MEM64, .prefetch = true, .size = (s) }
#define ROM(s)       { .index = MMIO_BAR_ROM, .kind = MMIO_BAR_MEM32, .prefetch = true, .size = (s) }

static const struct mmio_device cirrus = {
	.name = "cirrus", .nbars = 2, .bars = { M32P(0, 32 * MiB), M32(1, 4 * KiB) } };
static const struct mmio_device platform = {
	.name = "xen-platform", .nbars = 2, .bars = { IO(0, 256), M32P(1, 16 * MiB) } };
static const struct mmio_device gpu = {
	.name = "gpu", .nbars = 5,
	.bars = { M32(0, 16 * MiB), M64P(1, 256 * MiB), M64P(3, 32 * MiB), IO(5, 128), ROM(512 * KiB) } };
static const struct mmio_device big8g = {
	.name = "big8g", .nbars = 1, .bars = { M64P(0, 8 * GiB) } };
/* The seed thread: two 512 MiB and one 1 GiB 64-bit BARs. */
static const struct mmio_device seed = {
	.name = "seed", .nbars = 3,
	.bars = { M64P(0, 512 * MiB), M64P(2, 512 * MiB), M64P(4, 1 * GiB) } };

#endif
