/* SPDX-License-Identifier: MIT */
/* fake-libxl.h — the test's handle on fake-libxl.c (see there). */
#ifndef MMIOD_FAKE_LIBXL_H
#define MMIOD_FAKE_LIBXL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "libxl-map.h"          /* libxl.h with the back end's LIBXL_API_VERSION */
#include <libxl_event.h>

#define FAKE_LIBXL_MAX_DOMS 8

struct fake_domain {
	uint32_t domid;
	char name[32];
	const char *info_pci;   /* what `info pci` prints */
	bool dm_stopped;        /* its device model does not answer */
	/* A domain in the making (xl create): this many configuration
	 * retrievals fail (ERROR_FAIL) before one works; then this many
	 * monitor commands fail (ERROR_FAIL: no QMP socket yet). */
	unsigned config_fails, dm_fails;
	libxl_passthrough passthrough;  /* c_info.passthrough (0: "default") */
};

struct fake_libxl_stats {
	unsigned long started, completed, aborted, pci_added;
	unsigned outstanding;   /* aos not completed */
	bool setmode_before_hooks;      /* libxl_childproc_setmode came first */
	unsigned freed_with_aos;        /* aos in flight at libxl_ctx_free (libxl asserts) */
};

void fake_libxl_reset(void);
struct fake_domain *fake_libxl_add(uint32_t domid, const char *name, const char *info_pci);
/* The domain's device model stops answering (SIGSTOP) / answers again
 * (SIGCONT: what it owes completes). */
void fake_libxl_stop(uint32_t domid);
void fake_libxl_cont(uint32_t domid);
const struct fake_libxl_stats *fake_libxl_stats(void);

#endif
