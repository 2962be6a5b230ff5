/* SPDX-License-Identifier: MIT */
/*
 * test-libxl-stall.c — the libxl back end with one domain's device model
 * stopped (fake-libxl.c: libxl's calls to it never finish, as with a
 * SIGSTOPped qemu-xen), no hypervisor needed:
 *  - its refresh fails with TSD_E_UNRESPONSIVE at the call deadline, the
 *    ao is aborted, the domain is reported not answering (once), and from
 *    then on its calls fail at once;
 *  - 1,000 refreshes of the other domain all answer while the stopped
 *    domain's refresh is out (its deadline set to 30 s for this part):
 *    asserted by the order of events, each answer came while the stopped
 *    domain's call was still outstanding, so none waited for it; their
 *    latency is printed (p50/p99/max), never asserted (a loaded machine
 *    decides it);
 *  - the loop turns all the while (timer ticks counted while a call hangs);
 *  - once the domain is marked, its calls are refused on the loop's next
 *    turn without a libxl call, while the other domain keeps answering;
 *  - after the device model answers again the probe reports the domain
 *    answering and its refresh works; an attach in flight when it stops
 *    fails UNRESPONSIVE and nothing is left outstanding in libxl.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "fake-libxl.h"
#include "toolstack.h"
#include "../tap.h"
#include "fixture.h"

#define CALL_MS 500
#define LONG_CALL_MS 30000      /* while the other domain's calls are timed */
#define ATTACH_MS 1000
#define N_CALLS 1000

static struct event_base *base;
static int nup, answering_false, answering_true;
static char last_msg[400];

static void on_up(void *ud, struct tsd_backend *be, const struct tsd_guest *g,
		  const struct tsd_layout *l)
{
	nup++;
}

static void on_log(void *ud, struct tsd_backend *be, int prio, const char *msg)
{
	if (prio <= LOG_NOTICE)
		tap_diag("log: %s", msg);
}

static void on_answering(void *ud, struct tsd_backend *be, const char *id, bool answering,
			 const char *msg)
{
	if (answering) {
		answering_true++;
	} else {
		answering_false++;
		snprintf(last_msg, sizeof(last_msg), "%s: %s", id, msg ? msg : "");
	}
}

struct call {
	bool done;
	enum tsd_rc rc;
	bool have_layout;
	char msg[512];
	double t0, t1;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void layout_cb(void *ud, enum tsd_rc rc, const struct tsd_layout *l, const char *msg)
{
	struct call *c = ud;
	c->done = true;
	c->rc = rc;
	c->have_layout = l != NULL;
	snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : "");
	c->t1 = now_ms();
}

static void done_cb(void *ud, const struct tsd_result *res)
{
	struct call *c = ud;
	c->done = true;
	c->rc = res->rc;
	snprintf(c->msg, sizeof(c->msg), "%s", res->msg);
	c->t1 = now_ms();
}

static int ticks;
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	ticks++;
}

static int turns;        /* loop turns the last turn_until took */

/* Turns the loop until *flag (or about 20 s of turns). */
static bool turn_until(const bool *flag, const int *count, int want)
{
	for (turns = 0; turns < 20000; turns++) {
		if ((flag && *flag) || (count && *count >= want))
			return true;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return (flag && *flag) || (count && *count >= want);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int refresh(struct tsd_backend *be, const char *id, struct call *c)
{
	struct mmio_error err = { 0 };
	memset(c, 0, sizeof(*c));
	c->t0 = now_ms();
	int r = tsd_libxl_driver.refresh(be, id, 0, layout_cb, c, &err);
	if (r < 0)
		tap_diag("refresh %s: %s", id, err.msg);
	return r;
}

int main(void)
{
	struct tsd_host host;
	struct tsd_backend *be = NULL;
	struct mmio_error err = { 0 };
	struct call c;
	char *info = fixture_read("info-pci-qemu72-boot.txt");
	static double lat[N_CALLS];

	base = event_base_new();
	host = (struct tsd_host){ .base = base, .call_timeout_ms = CALL_MS,
				  .attach_timeout_ms = ATTACH_MS, .guest_up = on_up, .log = on_log,
				  .guest_answering = on_answering };
	fake_libxl_reset();
	fake_libxl_add(1, "vm-a", info);
	fake_libxl_add(2, "vm-b", info);
	tap_ok(tsd_libxl_driver.open(&host, "", 0, &be, &err) == 0, "open on the fake libxl: %s",
	       err.msg);
	turn_until(NULL, &nup, 2);
	tap_ok(nup == 2, "both domains announced (%d)", nup);

	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval five_ms = { 0, 5000 };
	event_add(tick, &five_ms);

	/* ---- 1,000 calls on domain 1 while domain 2's refresh is out ----
	 * The back end reads the deadline at each call (as after SIGHUP):
	 * 30 s for this part, so that the order of events, not the speed of
	 * the machine, says whether domain 1's calls waited for domain 2. */
	host.call_timeout_ms = LONG_CALL_MS;
	fake_libxl_stop(2);
	struct call out2;
	tap_ok(refresh(be, "2", &out2) == 0, "a refresh of the stopped domain starts (deadline %d ms)",
	       LONG_CALL_MS);
	int ok = 0, while_out = 0;
	for (int i = 0; i < N_CALLS; i++) {
		if (refresh(be, "1", &c) == 0 && turn_until(&c.done, NULL, 0) && c.rc == TSD_OK &&
		    c.have_layout)
			ok++;
		while_out += !out2.done;
		lat[i] = c.t1 - c.t0;
	}
	qsort(lat, N_CALLS, sizeof(lat[0]), cmp_double);
	tap_ok(ok == N_CALLS, "%d of %d refreshes of the other domain answered with a layout", ok,
	       N_CALLS);
	tap_ok(while_out == N_CALLS && !out2.done && answering_false == 0,
	       "none waited for the stopped domain: all %d answered while its refresh was still out "
	       "(%d; its deadline not reached, the domain not reported)", N_CALLS, while_out);
	tap_diag("latency of the other domain's refresh while the stopped domain's is out: "
		 "p50 %.3f ms, p99 %.3f ms, max %.3f ms", lat[N_CALLS / 2], lat[N_CALLS * 99 / 100],
		 lat[N_CALLS - 1]);
	fake_libxl_cont(2);
	bool answered = turn_until(&out2.done, NULL, 0);
	tap_ok(answered && out2.rc == TSD_OK && out2.have_layout,
	       "... and that refresh was answered when the device model ran again (%s, after %.0f ms)",
	       tsd_rc_name(out2.rc), out2.t1 - out2.t0);
	tap_ok(fake_libxl_stats()->outstanding == 0 && fake_libxl_stats()->aborted == 0,
	       "nothing outstanding or aborted in libxl");
	host.call_timeout_ms = CALL_MS;

	/* ---- domain 2's device model stops ---- */
	fake_libxl_stop(2);
	ticks = 0;
	tap_ok(refresh(be, "2", &c) == 0, "refresh of the stopped domain starts");
	tap_ok(turn_until(&c.done, NULL, 0), "... and ends");
	tap_ok(c.rc == TSD_E_UNRESPONSIVE, "... unresponsive (%s): %s", tsd_rc_name(c.rc), c.msg);
	tap_diag("the stopped domain's refresh failed after %.0f ms (deadline %d ms)", c.t1 - c.t0,
		 CALL_MS);
	/* generous: the deadline plus 5 s of a loaded machine */
	tap_ok(c.t1 - c.t0 >= CALL_MS - 20 && c.t1 - c.t0 < CALL_MS + 5000,
	       "... at its deadline, not later (%.0f ms)", c.t1 - c.t0);
	tap_ok(ticks >= 5, "the loop kept turning while it hung (%d ticks of 5 ms)", ticks);
	tap_ok(answering_false == 1, "the domain was reported not answering once");
	tap_contains(last_msg, "2: ", "... by its id");
	tap_ok(fake_libxl_stats()->aborted == 1, "the hanging ao was aborted (libxl_ao_abort)");

	/* ---- domain 2 marked: its calls are refused at once, domain 1 answers ---- */
	int fast_fail = 0, refused = 0, worst_turns = 0;
	double worst_fail = 0;
	ok = 0;
	for (int i = 0; i < N_CALLS; i++) {
		if (refresh(be, "1", &c) == 0 && turn_until(&c.done, NULL, 0) && c.rc == TSD_OK &&
		    c.have_layout)
			ok++;
		lat[i] = c.t1 - c.t0;
		if (i % 50 == 0) {
			struct call c2;
			if (refresh(be, "2", &c2) == 0 && turn_until(&c2.done, NULL, 0) &&
			    c2.rc == TSD_E_UNRESPONSIVE)
				fast_fail++;
			/* refused, not timed out: op_refuse_unresponsive's words,
			 * delivered on the loop's first turn */
			refused += strstr(c2.msg, "is not answering") != NULL;
			if (turns > worst_turns)
				worst_turns = turns;
			if (c2.t1 - c2.t0 > worst_fail)
				worst_fail = c2.t1 - c2.t0;
		}
	}
	qsort(lat, N_CALLS, sizeof(lat[0]), cmp_double);
	tap_ok(ok == N_CALLS, "%d of %d refreshes of the other domain answered with a layout while the "
	       "stopped one is marked", ok, N_CALLS);
	tap_diag("latency of the other domain's refresh meanwhile: p50 %.3f ms, p99 %.3f ms, max %.3f ms",
		 lat[N_CALLS / 2], lat[N_CALLS * 99 / 100], lat[N_CALLS - 1]);
	tap_ok(fast_fail == N_CALLS / 50, "the stopped domain's %d calls meanwhile failed unresponsive",
	       fast_fail);
	tap_ok(refused == N_CALLS / 50 && worst_turns <= 1, "... each refused at once: on the loop's "
	       "first turn, without a libxl call (%d refused, at most %d turn, worst %.3f ms)", refused,
	       worst_turns, worst_fail);

	struct call a;
	struct tsd_attach_req req = { .host_bdf = "0000:03:00.0" };
	memset(&a, 0, sizeof(a));
	a.t0 = now_ms();
	bool started = tsd_libxl_driver.attach(be, "2", &req, 0, done_cb, &a, &err) == 0;
	turn_until(&a.done, NULL, 0);
	tap_ok(started && a.done && a.rc == TSD_E_UNRESPONSIVE,
	       "an attach to it fails at once too (%s, %.3f ms)", tsd_rc_name(a.rc), a.t1 - a.t0);
	tap_ok(fake_libxl_stats()->pci_added == 0, "... without reaching libxl");

	/* ---- it answers again ---- */
	fake_libxl_cont(2);
	tap_ok(turn_until(NULL, &answering_true, 1), "the probe found it answering again");
	started = refresh(be, "2", &c) == 0;
	turn_until(&c.done, NULL, 0);
	tap_ok(started && c.rc == TSD_OK && c.have_layout, "its refresh works again (%s%s%s)",
	       tsd_rc_name(c.rc), c.msg[0] ? ": " : "", c.msg);

	/* ---- an attach in flight while it is stopped (not yet known to be) ---- */
	fake_libxl_stop(2);
	memset(&a, 0, sizeof(a));
	a.t0 = now_ms();
	tap_ok(tsd_libxl_driver.attach(be, "2", &req, 0, done_cb, &a, &err) == 0, "attach starts");
	turn_until(&a.done, NULL, 0);
	tap_ok(a.rc == TSD_E_UNRESPONSIVE,
	       "an attach in flight fails unresponsive at the attach deadline (%s, %.0f ms): %s",
	       tsd_rc_name(a.rc), a.t1 - a.t0, a.msg);
	tap_ok(answering_false == 2, "reported not answering again");
	fake_libxl_cont(2);
	tap_ok(turn_until(NULL, &answering_true, 2), "and answering once it runs");
	tap_ok(fake_libxl_stats()->outstanding == 0, "nothing is left outstanding in libxl (%u)",
	       fake_libxl_stats()->outstanding);

	event_free(tick);
	tsd_libxl_driver.close(be);
	event_base_free(base);
	free(info);
	tap_done();
	return tap_exit();
}
