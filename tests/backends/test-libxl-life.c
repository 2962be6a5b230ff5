/* SPDX-License-Identifier: MIT */
/*
 * test-libxl-life.c — the libxl back end's life with libxl as a real Xen
 * host showed it (tests/xen), on the fake libxl (no hypervisor needed):
 *  - libxl's osevent hooks are registered before libxl_childproc_setmode
 *    (which registers the SIGCHLD self-pipe's fd at once);
 *  - a domain found in the making (xl create: its configuration not stored
 *    yet, then its device model not answering, then hvmloader not done) is
 *    not announced until it is ready, and then with hvmloader's windows,
 *    without waiting for the next rescan;
 *  - closing the back end with a call in flight aborts it and lets it come
 *    back before libxl_ctx_free (which asserts that no ao is in flight).
 * The info pci texts are qemu-xen's of a real 512 MiB domain (Xen 4.17.7,
 * tests/xen), before and after hvmloader.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <event2/event.h>

#include "fake-libxl.h"
#include "toolstack.h"
#include "../tap.h"
#include "fixture.h"

static struct event_base *base;
static int nup, not_ready_logs;
static char up_id[64], up_why_no_host[256];
static struct tsd_layout up_layout;
static bool up_had_layout;

static void on_up(void *ud, struct tsd_backend *be, const struct tsd_guest *g,
		  const struct tsd_layout *l)
{
	nup++;
	snprintf(up_id, sizeof(up_id), "%s", g->id);
	snprintf(up_why_no_host, sizeof(up_why_no_host), "%s", g->why_no_host);
	up_had_layout = l != NULL;
	tsd_layout_clear(&up_layout);
	if (l)
		tsd_layout_copy(&up_layout, l);
}

static void on_log(void *ud, struct tsd_backend *be, int prio, const char *msg)
{
	if (strstr(msg, "not ready"))
		not_ready_logs++;
	if (prio <= LOG_NOTICE)
		tap_diag("log: %s", msg);
}

static void turn_ms(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static bool turn_until(const int *count, int want, int max_ms)
{
	for (int t = 0; t < max_ms && *count < want; t += 50)
		turn_ms(50);
	return *count >= want;
}

struct call {
	bool done;
	enum tsd_rc rc;
};

static void layout_cb(void *ud, enum tsd_rc rc, const struct tsd_layout *l, const char *msg)
{
	struct call *c = ud;
	c->done = true;
	c->rc = rc;
}

int main(void)
{
	struct tsd_host host;
	struct tsd_backend *be = NULL;
	struct mmio_error err = { 0 };
	char *placed = fixture_read("info-pci-xen417-512.txt");
	char *unplaced = fixture_read("info-pci-xen417-512-before-hvmloader.txt");

	base = event_base_new();
	host = (struct tsd_host){ .base = base, .call_timeout_ms = 10000,
				  .attach_timeout_ms = 10000, .guest_up = on_up, .log = on_log };
	fake_libxl_reset();
	struct fake_domain *making = fake_libxl_add(3, "in-the-making", unplaced);
	making->config_fails = 1;
	making->dm_fails = 1;
	tap_ok(tsd_libxl_driver.open(&host, "", 0, &be, &err) == 0, "open on the fake libxl: %s",
	       err.msg);
	tap_ok(!fake_libxl_stats()->setmode_before_hooks,
	       "osevent hooks registered before libxl_childproc_setmode");

	/* ---- a domain in the making ---- */
	turn_ms(1200);
	tap_ok(nup == 0, "not announced while its configuration, device model and hvmloader are "
	       "not ready (%d announced)", nup);
	tap_ok(not_ready_logs >= 2, "... each reading says why (%d)", not_ready_logs);
	making->info_pci = placed;              /* hvmloader has run */
	tap_ok(turn_until(&nup, 1, 8000), "announced once hvmloader placed the BARs, before the "
	       "next rescan");
	tap_is_str(up_id, "3", "... as domain 3");
	tap_ok(up_had_layout && up_layout.nwin >= 2, "... with its layout");
	tap_is_u64(up_layout.nwin ? up_layout.win[0].start : 0, 0xF0000000,
		   "... the low window hvmloader made ([0xf0000000, 0xfc000000))");
	tap_is_u64(up_layout.nwin ? up_layout.win[0].end : 0, 0xFC000000, "... to 0xfc000000");
	tap_is_str(up_why_no_host, "", "... taking host devices (passthrough \"default\")");

	/* ---- a domain created with passthrough disabled (no pci=, no passthrough=) ---- */
	struct fake_domain *nopt = fake_libxl_add(4, "no-passthrough", placed);
	nopt->passthrough = LIBXL_PASSTHROUGH_DISABLED;
	tap_ok(turn_until(&nup, 2, 8000), "a domain with passthrough disabled is announced");
	tap_is_str(up_id, "4", "... as domain 4");
	tap_ok(up_had_layout && up_layout.nwin >= 2, "... with its windows (it takes hot-plugs)");
	tap_contains(up_why_no_host, "passthrough disabled",
		     "... saying why no host device can be attached");

	/* ---- close with a call in flight ---- */
	fake_libxl_stop(3);
	struct call c = { 0 };
	tap_ok(tsd_libxl_driver.refresh(be, "3", 0, layout_cb, &c, &err) == 0,
	       "a refresh of a domain whose device model hangs");
	turn_ms(100);
	tap_ok(!c.done && fake_libxl_stats()->outstanding == 1, "... is in flight in libxl");
	tsd_libxl_driver.close(be);
	tap_ok(fake_libxl_stats()->aborted == 1, "close aborted it (libxl_ao_abort)");
	tap_ok(fake_libxl_stats()->freed_with_aos == 0,
	       "... and libxl_ctx_free ran with no ao in flight (%u)",
	       fake_libxl_stats()->freed_with_aos);

	tsd_layout_clear(&up_layout);
	free(placed);
	free(unplaced);
	event_base_free(base);
	tap_done();
	return tap_exit();
}
