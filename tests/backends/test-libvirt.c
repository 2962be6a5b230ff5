/* SPDX-License-Identifier: MIT */
/*
 * test-libvirt.c — tsd_libvirt_driver against libvirt's own test driver
 * (test:///ABS/node.xml), on a libevent loop: discovery, lifecycle events
 * (a guest shut off stays the same guest), an attach the test driver
 * refuses, a libvirtd that is not there.
 *
 * The test driver keeps its state per connection for test:///PATH URIs
 * (checked: a domain destroyed through a second connection stays running in
 * the first), so the test destroys and creates domains through the back
 * end's own connection (tsd_libvirt_test_connection).
 */
#include "config.h"

#include <event2/event.h>
#include <libvirt/libvirt.h>
#include <stdlib.h>
#include <time.h>

#include "libvirt-map.h"
#include "worker.h"
#include "../tap.h"

struct rec {
	struct event_base *base;
	int ups, downs, up_attachable, up_with_layout;
	char last_down[64];
	struct tsd_guest last_up;
	struct tsd_layout q35;
	bool done;
	struct tsd_result res;
	int states;
	bool connected;
	char state_msg[300];
};

static void on_up(void *ud, struct tsd_backend *be, const struct tsd_guest *g,
		  const struct tsd_layout *l)
{
	struct rec *r = ud;
	r->ups++;
	r->last_up = *g;
	r->up_attachable += g->can_attach;
	r->up_with_layout += l && l->nwin;
	if (l && strcmp(g->name, "q35-big") == 0) {
		tsd_layout_clear(&r->q35);
		tsd_layout_copy(&r->q35, l);
	}
	tap_diag("up %s %s can_attach=%d %s", g->name, g->id, g->can_attach, g->why_not);
}

static void on_down(void *ud, struct tsd_backend *be, const char *id)
{
	struct rec *r = ud;
	r->downs++;
	snprintf(r->last_down, sizeof(r->last_down), "%s", id);
	event_base_loopbreak(r->base);
}

static void on_state(void *ud, struct tsd_backend *be, bool connected, const char *msg)
{
	struct rec *r = ud;
	r->states++;
	r->connected = connected;
	snprintf(r->state_msg, sizeof(r->state_msg), "%s", msg);
}

static void on_log(void *ud, struct tsd_backend *be, int prio, const char *msg)
{
	tap_diag("log: %s", msg);
}

static void on_done(void *ud, const struct tsd_result *res)
{
	struct rec *r = ud;
	r->done = true;
	r->res = *res;
	event_base_loopbreak(r->base);
}

static void on_layout(void *ud, enum tsd_rc rc, const struct tsd_layout *l, const char *msg)
{
	struct rec *r = ud;
	r->done = true;
	r->res.rc = rc;
	r->up_with_layout = l ? (int)l->nwin : -1;
	event_base_loopbreak(r->base);
}

/* Turns the loop until *count reaches want (or about 30 s: a cap for a
 * broken back end, never a wait that a result depends on). */
static void run_until_count(struct event_base *base, const int *count, int want)
{
	for (int i = 0; i < 3000 && *count < want; i++) {
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* Turns the loop until *done (the operation's callback ran; same cap). */
static void run_until_done(struct event_base *base, const bool *done)
{
	for (int i = 0; i < 3000 && !*done; i++) {
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* Until the pool has nothing out (the back end's calls came back). */
static void run_until_idle(struct event_base *base, struct worker_pool *pool)
{
	struct worker_stats st;
	for (int i = 0; i < 1000; i++) {
		worker_pool_stats(pool, &st);
		if (!st.busy && !st.queued)
			break;
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
}

int main(void)
{
	struct rec r;
	memset(&r, 0, sizeof(r));
	r.q35.free_slots = -1;
	r.base = event_base_new();
	struct worker_pool *pool = worker_pool_new(r.base, 4, 64);
	struct tsd_host host = { .base = r.base, .ud = &r, .guest_up = on_up, .guest_down = on_down,
				 .log = on_log, .pool = pool, .call_timeout_ms = 5000,
				 .attach_timeout_ms = 5000 };
	struct tsd_backend *be = NULL;
	struct mmio_error err = { 0 };
	char uri[600];
	snprintf(uri, sizeof(uri), "test://%s/node.xml", BACKENDS_FIXTURES);

	tap_ok(tsd_libvirt_driver.open(&host, "", 0, &be, &err) < 0, "a URI is required");
	int rc = tsd_libvirt_driver.open(&host, uri, 0, &be, &err);
	if (!tap_ok(rc == 0, "open %s (%s)", uri, rc ? err.msg : "ok")) {
		tap_done();
		return 1;
	}
	tap_ok(r.ups == 0, "nothing announced from inside open (the connection is made on the pool)");
	run_until_count(r.base, &r.ups, 3);
	tap_is_u64(r.ups, 3, "three domains announced");
	tap_is_u64(r.up_attachable, 2, "the two running ones can attach");
	tap_is_u64(r.up_with_layout, 2, "running ones come with a layout");
	tap_ok(r.q35.nwin == 4 && r.q35.win[0].start == 0x80000000 && r.q35.win[0].end == 0xB0000000 &&
	       r.q35.win[1].start == 0xC0000000 && r.q35.win[2].start == 0x280000000 &&
	       r.q35.win[2].end == 0xA80000000 && r.q35.win_source[2] == TSD_SRC_MODEL,
	       "q35, 8 GiB: low from 2 GiB around MMCONFIG, 32 GiB hole64 above RAM, from the model");

	/* Destroy pc-small through the back end's connection: it stays the
	 * same guest, now shut off (not removed and added again). */
	virConnectPtr conn = tsd_libvirt_test_connection(be);
	virDomainPtr dom = virDomainLookupByName(conn, "pc-small");
	int ups0 = r.ups;
	tap_ok(dom && virDomainDestroy(dom) == 0, "destroy pc-small");
	run_until_count(r.base, &r.ups, ups0 + 1);
	tap_ok(r.downs == 0 && r.ups == ups0 + 1, "no guest_down, one guest_up (%d downs, %d ups)",
	       r.downs, r.ups - ups0);
	tap_ok(!r.last_up.can_attach && strcmp(r.last_up.name, "pc-small") == 0 &&
	       strcmp(r.last_up.id, "11111111-1111-1111-1111-111111111111") == 0,
	       "pc-small, same id, shut off: %s", r.last_up.why_not);
	tap_contains(r.last_up.why_not, "shut off", "says why it cannot attach");
	r.done = false;
	rc = tsd_libvirt_driver.refresh(be, "11111111-1111-1111-1111-111111111111", 0, on_layout,
					&r, &err);
	run_until_done(r.base, &r.done);
	tap_ok(rc == 0 && r.done && r.res.rc == TSD_E_NOTSUPPORTED,
	       "refresh of the shut-off guest: not-supported (%s)", tsd_rc_name(r.res.rc));

	int ups = r.ups;
	tap_ok(virDomainCreate(dom) == 0, "start pc-small again");
	r.downs = 0;
	run_until_count(r.base, &r.ups, ups + 1);
	tap_ok(r.ups > ups && r.last_up.can_attach && strcmp(r.last_up.name, "pc-small") == 0,
	       "guest_up for the started domain");
	virDomainFree(dom);

	/* The test driver does not do hostdev hot-plug: refused, in libvirt's words. */
	struct tsd_attach_req req = { .host_bdf = "0000:03:00.0" };
	memset(&err, 0, sizeof(err));
	r.done = false;
	rc = tsd_libvirt_driver.attach(be, "22222222-2222-2222-2222-222222222222", &req, 0,
				       on_done, &r, &err);
	tap_ok(rc == 0 && !r.done, "attach started, callback not yet run");
	run_until_done(r.base, &r.done);
	tap_ok(r.done && r.res.rc != TSD_OK, "attach refused (%s)", tsd_rc_name(r.res.rc));
	tap_contains(r.res.msg, "not supported", "with libvirt's message");
	tap_ok(tsd_libvirt_driver.attach(be, "x", &req, 0x80, on_done, &r, &err) < 0,
	       "unknown attach flags refused");
	struct tsd_attach_req noh = { .host_bdf = NULL };
	tap_ok(tsd_libvirt_driver.attach(be, "x", &noh, 0, on_done, &r, &err) < 0,
	       "only host devices");

	r.done = false;
	rc = tsd_libvirt_driver.refresh(be, "22222222-2222-2222-2222-222222222222", 0, on_layout,
					&r, &err);
	run_until_done(r.base, &r.done);
	tap_ok(rc == 0 && r.done && r.res.rc == TSD_OK && r.up_with_layout == 4,
	       "refresh gives four windows");
	r.done = false;
	rc = tsd_libvirt_driver.refresh(be, "44444444-4444-4444-4444-444444444444", 0, on_layout,
					&r, &err);
	run_until_done(r.base, &r.done);
	tap_ok(r.done && r.res.rc == TSD_E_NOGUEST, "refresh of an unknown domain: no-guest");

	tsd_libvirt_driver.close(be);
	run_until_idle(r.base, pool);

	/* No daemon behind the URI: the back end runs, says it is not
	 * connected, and keeps trying. */
	tap_ok(tsd_libvirt_driver.open(&host, "nonsense", 0, &be, &err) < 0, "not a URI: refused");
	host.backend_state = on_state;
	rc = tsd_libvirt_driver.open(&host, "qemu:///system?socket=/nonexistent/mmiod-test/libvirt-sock",
				     0, &be, &err);
	tap_ok(rc == 0, "open with no libvirtd: running (%s)", rc ? err.msg : "ok");
	run_until_count(r.base, &r.states, 1);
	tap_ok(r.states == 1 && !r.connected, "reported as not connected");
	tap_contains(r.state_msg, "cannot connect", "with the reason");
	r.done = false;
	rc = tsd_libvirt_driver.refresh(be, "11111111-1111-1111-1111-111111111111", 0, on_layout,
					&r, &err);
	run_until_done(r.base, &r.done);
	tap_ok(rc == 0 && r.done && r.res.rc == TSD_E_FAILED, "refresh while not connected fails");
	if (rc == 0)
		tsd_libvirt_driver.close(be);
	run_until_idle(r.base, pool);
	worker_pool_free(pool);
	tsd_layout_clear(&r.q35);
	/* libvirt keeps its own event-state timers until the connection is
	 * gone; one pass lets pending frees run. */
	event_base_loop(r.base, EVLOOP_NONBLOCK);
	event_base_free(r.base);
	tap_done();
	return tap_exit();
}
