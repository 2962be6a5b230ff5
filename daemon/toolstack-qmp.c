/* SPDX-License-Identifier: MIT */
/* toolstack-qmp.c — the QEMU QMP back end (--backend qmp:DIR).
 * First cut: the driver table exists so the daemon links; the real
 * implementation follows. */
#include "config.h"

#include <string.h>

#include "toolstack.h"

static int tsd_qmp_open(const struct tsd_host *host, const char *arg, unsigned flags,
			struct tsd_backend **out, struct mmio_error *err)
{
	(void)host;
	(void)arg;
	(void)flags;
	(void)out;
	mmio_error_set(err, MMIO_E_UNSUPPORTED, "qmp back end: not implemented yet");
	return -1;
}

static void tsd_qmp_close(struct tsd_backend *be)
{
	(void)be;
}

const struct tsd_driver tsd_qmp_driver = {
	.name = "qmp",
	.open = tsd_qmp_open,
	.close = tsd_qmp_close,
};
