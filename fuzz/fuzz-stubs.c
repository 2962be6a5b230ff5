/* SPDX-License-Identifier: MIT */
/* fuzz-stubs.c — what daemon/toolstack.c's driver registry refers to, so
 * the daemon-mapping targets can link toolstack.c's shared helpers
 * and layout.c (tsd_layout_clear, ...) without the back ends' event-loop code.  The
 * generated config.h of run-fuzzers defines neither HAVE_LIBVIRT nor
 * HAVE_LIBXL, so the registry names only the QMP driver. */
#include "toolstack.h"

const struct tsd_driver tsd_qmp_driver = { .name = "qmp" };
