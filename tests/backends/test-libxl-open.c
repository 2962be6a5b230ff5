/* SPDX-License-Identifier: MIT */
/*
 * test-libxl-open.c — the real libxenlight on a machine without Xen:
 * libxl_ctx_alloc fails (no /dev/xen/privcmd), so tsd_libxl_driver.open
 * must decline with one line and log nothing else.  On a Xen dom0 the test
 * skips: there the back end really opens.
 */
#include "config.h"

#include <event2/event.h>
#include <stdlib.h>
#include <unistd.h>

#include "toolstack-registry.h"
#include "../tap.h"

static int nlog;

static void on_log(void *ud, struct tsd_backend *be, int prio, const char *msg)
{
	nlog++;
	tap_diag("log: %s", msg);
}

int main(void)
{
	struct event_base *base = event_base_new();
	struct tsd_host host = { .base = base, .log = on_log };
	struct tsd_backend *be = NULL;
	struct mmio_error err = { 0 };

	if (access("/dev/xen/privcmd", F_OK) == 0 || access("/proc/xen/privcmd", F_OK) == 0) {
		printf("1..0 # SKIP this is a Xen host: libxl opens for real\n");
		event_base_free(base);
		return 0;
	}
	tap_ok(tsd_driver_find("libxl") == &tsd_libxl_driver, "libxl driver registered");
	int rc = tsd_libxl_driver.open(&host, "", 0, &be, &err);
	tap_ok(rc == TSD_DECLINED, "open declines without a hypervisor (rc %d)", rc);
	tap_ok(be == NULL, "no back end handed out");
	tap_contains(err.msg, "not a Xen dom0", "the reason says why");
	tap_ok(strchr(err.msg, '\n') == NULL, "the reason is one line: %s", err.msg);
	tap_ok(nlog == 0, "libxl's own messages were folded into the reason");
	tap_ok(tsd_libxl_driver.open(&host, "x", 0, &be, &err) < 0, "an argument is a configuration error");
	tap_ok(tsd_libxl_driver.open(&host, "", 1, &be, &err) < 0, "unknown flags are refused");
	event_base_free(base);
	tap_done();
	return tap_exit();
}
