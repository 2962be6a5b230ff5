/* SPDX-License-Identifier: MIT */
/*
 * test-ops.c — daemon/ops.c without a bus: the Attach workflow (admission,
 * the hold while the back end works, a back end's failure, a reservation
 * consumed, the state file written before the toolstack is called),
 * Detach, Reserve/Release, Check, Plan's planner chosen by the back end's
 * platform, and the errors each operation decides.
 *
 * The back end is a fake driver built on the operation base (toolstack.c):
 * it serves one guest with a 4 MiB low window, records what it was asked,
 * and answers an attach at once, with a failure, or only when the test
 * says so (to look at the books while the attach is in flight).
 */
#include "config.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mmiod-names.h"
#include "bus-errors.h"
#include "ops.h"
#include "../tap.h"

#define M   (UINT64_C(1) << 20)
#define LOW UINT64_C(0xE0000000)

/* ---- a fake back end ------------------------------------------------------------ */

enum fake_mode { ANSWER_OK, ANSWER_FAIL, ANSWER_LATER };

static struct fake {
	struct tsd_backend base;
	struct tsd_layout layout;       /* what refresh reports */
	enum fake_mode mode;
	unsigned attaches, detaches, refreshes;
	char last_id[64];
	bool state_had_attach;          /* the state file held the attach when the back end was called */
	struct tsd_op *held;            /* ANSWER_LATER: the attach in flight */
	struct mmio_device held_dev;
	const char *state_dir;
} fake;

/* The device is in the guest now: its BARs show, unassigned (the guest
 * placed them where mmiod predicted, as QEMU shows before a driver binds). */
static void fake_plug(const char *id, const struct mmio_device *dev)
{
	struct tsd_layout *l = &fake.layout;
	struct tsd_live_bar *v = realloc(l->bars, (l->nbars + dev->nbars) * sizeof(*v));

	if (!v)
		abort();
	l->bars = v;
	for (unsigned i = 0; i < dev->nbars; i++) {
		struct tsd_live_bar *lb = &l->bars[l->nbars++];
		memset(lb, 0, sizeof(*lb));
		snprintf(lb->device, sizeof(lb->device), "%s", id);
		lb->bar = dev->bars[i];
		lb->addr = TSD_ADDR_UNASSIGNED;
	}
}

static void fake_unplug(const char *id)
{
	struct tsd_layout *l = &fake.layout;
	size_t n = 0;

	for (size_t i = 0; i < l->nbars; i++)
		if (strcmp(l->bars[i].device, id) != 0)
			l->bars[n++] = l->bars[i];
	l->nbars = n;
}

static void fake_layout(struct tsd_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->nwin = 1;
	l->win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = LOW, .end = LOW + 4 * M };
	l->free_slots = -1;
}

static int fake_open(const struct tsd_host *host, const char *arg, unsigned flags,
		     struct tsd_backend **out, struct mmio_error *err);

static int fake_refresh(struct tsd_backend *be, const char *guest_id, unsigned flags, tsd_layout_fn cb,
			void *ud, struct mmio_error *err)
{
	struct tsd_op *op = tsd_op_new(be, sizeof(*op), TSD_OP_REFRESH, NULL, err);

	if (!op)
		return -1;
	fake.refreshes++;
	op->layout_cb = cb;
	op->ud = ud;
	if (tsd_layout_copy(&op->layout, &fake.layout) < 0)
		return -1;
	op->have_layout = true;
	tsd_op_finish(op, TSD_OK, NULL);
	return 0;
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[8192] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

static int fake_attach(struct tsd_backend *be, const char *guest_id, const struct tsd_attach_req *req,
		       unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err)
{
	struct tsd_op *op = tsd_op_new(be, sizeof(*op), TSD_OP_ATTACH, NULL, err);
	char path[512];

	if (!op)
		return -1;
	fake.attaches++;
	snprintf(fake.last_id, sizeof(fake.last_id), "%s", req->attach_id);
	snprintf(path, sizeof(path), "%s/%s", fake.state_dir, MMIOD_STATE_FILE);
	fake.state_had_attach = file_contains(path, req->attach_id) && file_contains(path, "attaching");
	op->done_cb = cb;
	op->ud = ud;
	snprintf(op->res.attached_id, sizeof(op->res.attached_id), "%s", req->attach_id);
	if (fake.mode == ANSWER_LATER) {
		fake.held = op;
		fake.held_dev = *req->device;
	} else if (fake.mode == ANSWER_FAIL) {
		tsd_op_finish(op, TSD_E_FAILED, "device_add: the toolstack said no");
	} else {
		fake_plug(req->attach_id, req->device);
		tsd_op_finish(op, TSD_OK, NULL);
	}
	return 0;
}

static int fake_detach(struct tsd_backend *be, const char *guest_id, const char *attached_id,
		       unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err)
{
	struct tsd_op *op = tsd_op_new(be, sizeof(*op), TSD_OP_DETACH, NULL, err);

	if (!op)
		return -1;
	fake.detaches++;
	fake_unplug(attached_id);
	op->done_cb = cb;
	op->ud = ud;
	tsd_op_finish(op, TSD_OK, NULL);
	return 0;
}

static const struct tsd_driver fake_driver = {
	.name = "fake", .platform = TSD_PLATFORM_QEMU, .open = fake_open,
	.refresh = fake_refresh, .attach = fake_attach, .detach = fake_detach,
};

static int fake_open(const struct tsd_host *host, const char *arg, unsigned flags,
		     struct tsd_backend **out, struct mmio_error *err)
{
	fake.base.drv = &fake_driver;
	fake.base.host = host;
	fake_layout(&fake.layout);
	*out = &fake.base;
	return 0;
}

/* ---- the daemon around it ----------------------------------------------------------- */

static struct daemon d;
static struct backend_inst bi;
static struct backend_inst *bis[1] = { &bi };

/* What the observer heard. */
static struct {
	unsigned changed, finished, finished_ok;
	char finished_error[512];
} heard;

static void on_changed(void *ud, struct guest *g, unsigned what)
{
	heard.changed |= what;
}

static void on_attach_finished(void *ud, struct guest *g, const char *attach_id, const char *device,
			       const struct ops_error *err)
{
	heard.finished++;
	heard.finished_ok += err == NULL;
	snprintf(heard.finished_error, sizeof(heard.finished_error), "%s", err ? err->msg : "");
}

static const struct daemon_observer observer = {
	.guest_changed = on_changed,
	.attach_finished = on_attach_finished,
};

static void run_until(const bool *flag)
{
	for (int i = 0; i < 1000 && !*flag; i++)
		event_base_loop(d.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static struct guest *the_guest(void)
{
	return d.nguests ? d.guests[0] : NULL;
}

static void setup(char *state_dir)
{
	struct mmio_error err = { 0 };
	struct tsd_guest tg = { .id = "vm1", .name = "vm1", .can_attach = true };

	log_init(0);
	d.base = event_base_new();
	d.cfg.state_dir = state_dir;
	d.cfg.sysfs_root = (char *)"/nonexistent";
	d.obs = &observer;
	daemon_host_init(&d);
	fake.state_dir = state_dir;
	bi = (struct backend_inst){ .d = &d, .drv = &fake_driver, .spec = "fake:" };
	d.backends = bis;
	d.nbackends = 1;
	if (fake_driver.open(&d.host, "", 0, &bi.be, &err) < 0)
		abort();
	d.host.guest_up(d.host.ud, bi.be, &tg, &fake.layout);
}

/* ---- attach ------------------------------------------------------------------------ */

static struct {
	bool admitted, finished;
	struct ops_error err;
	bool failed;
	char id[64];
	uint64_t addr;
	unsigned nattach_at_admission;
} at;

static void at_admitted(void *ud, const char *id, const struct books_entry *e)
{
	at.admitted = true;
	at.nattach_at_admission = (unsigned)the_guest()->books.nattach;
	at.addr = e && e->nbars ? e->bars[0].addr : 0;
}

static void at_finished(void *ud, const struct ops_error *err, const char *id, const struct books_entry *e)
{
	at.finished = true;
	at.failed = err != NULL;
	if (err)
		at.err = *err;
	snprintf(at.id, sizeof(at.id), "%s", id);
}

static const struct ops_attach_cbs at_cbs = { .admitted = at_admitted, .finished = at_finished };

static int attach(const char *device, const char *reservation, struct ops_error *err)
{
	struct ops_attach_req req = { .guest = "vm1", .device = device, .reservation = reservation };

	memset(&at, 0, sizeof(at));
	memset(&heard, 0, sizeof(heard));
	memset(err, 0, sizeof(*err));
	int r = ops_attach(&d, &req, &at_cbs, NULL, err);
	if (r == 0)
		run_until(&at.finished);
	return r;
}

static void test_attach(void)
{
	struct ops_error err;

	fake.mode = ANSWER_OK;
	tap_ok(attach("bars:mem32:1M", NULL, &err) == 0 && at.finished && !at.failed,
	       "attach of a 1 MiB device succeeds");
	tap_ok(at.admitted && at.nattach_at_admission == 1, "admitted (held in the books) before the end");
	tap_is_u64(at.addr, LOW, "placed at the bottom of the low window");
	tap_ok(fake.state_had_attach, "the state file held the attach in flight when the back end was called");
	struct guest *g = the_guest();
	ssize_t i = books_find_attach(&g->books, at.id);
	tap_ok(i >= 0 && g->books.attaches[i].state == BOOKS_ATTACH_ATTACHED, "the record is attached");
	tap_is_str(i >= 0 ? g->books.attaches[i].tsd_id : "", at.id, "with the back end's id");
	tap_ok(heard.finished == 1 && heard.finished_ok == 1, "the observer heard it finish");
	tap_ok((heard.changed & (GUEST_CHANGED_ATTACHES | GUEST_CHANGED_WINDOWS)) ==
	       (GUEST_CHANGED_ATTACHES | GUEST_CHANGED_WINDOWS), "and that Attaches and Windows changed");
}

static void test_hold(void)
{
	struct ops_error err;
	struct ops_attach_req req = { .guest = "vm1", .device = "bars:mem32:2M" };

	/* 3 MiB free after the first test's 1 MiB; the 2 MiB device is held
	 * while the back end works, so a second 2 MiB cannot be admitted */
	fake.mode = ANSWER_LATER;
	memset(&at, 0, sizeof(at));
	tap_ok(ops_attach(&d, &req, &at_cbs, NULL, &err) == 0, "an attach the back end answers later starts");
	run_until(&at.admitted);
	tap_ok(at.admitted && !at.finished && fake.held, "it is admitted and in flight");
	struct guest *g = the_guest();
	ssize_t i = books_find_attach(&g->books, fake.last_id);
	tap_ok(i >= 0 && g->books.attaches[i].state == BOOKS_ATTACH_INFLIGHT, "the books hold it");

	struct { bool admitted, finished; } first = { at.admitted, at.finished };
	fake.mode = ANSWER_OK;
	tap_ok(attach("bars:mem32:2M", NULL, &err) == 0 && at.failed, "a second 2 MiB device is refused");
	tap_ok(at.err.code == OPS_E_MODEL && at.err.status == MMIO_E_NOSPACE, "NoSpace, decided by the books");
	tap_ok(fake.attaches == 2, "and the back end was not called for it");

	/* the first one completes */
	memset(&at, 0, sizeof(at));
	at.admitted = first.admitted;
	fake_plug(fake.held->res.attached_id, &fake.held_dev);
	tsd_op_finish(fake.held, TSD_OK, NULL);
	fake.held = NULL;
	run_until(&at.finished);
	tap_ok(at.finished && !at.failed, "the held attach finishes");
}

static void test_backend_failure(void)
{
	struct ops_error err;
	struct guest *g = the_guest();
	size_t before = g->books.nattach;
	char path[512];

	fake.mode = ANSWER_FAIL;
	tap_ok(attach("bars:mem32:1M", NULL, &err) == 0 && at.finished && at.failed,
	       "an attach the back end fails ends in failure");
	tap_ok(at.err.code == OPS_E_TOOLSTACK && at.err.rc == TSD_E_FAILED, "as the back end's failure");
	tap_contains(at.err.msg, "the toolstack said no", "in the back end's words");
	tap_ok(g->books.nattach == before, "the hold is released");
	snprintf(path, sizeof(path), "%s/%s", fake.state_dir, MMIOD_STATE_FILE);
	tap_ok(!file_contains(path, fake.last_id), "and the state file forgot it");
	tap_ok(heard.finished == 1 && heard.finished_ok == 0, "the observer heard the failure");
	fake.mode = ANSWER_OK;
}

/* ---- reserve, release --------------------------------------------------------------- */

static struct {
	bool done, failed;
	struct ops_error err;
	char id[64];
} rs;

static void rs_done(void *ud, const struct ops_error *err, const char *id, const struct books_entry *e,
		    size_t n)
{
	rs.done = true;
	rs.failed = err != NULL;
	if (err)
		rs.err = *err;
	snprintf(rs.id, sizeof(rs.id), "%s", id ? id : "");
}

static void test_reservation(void)
{
	char *one[] = { (char *)"bars:mem32:1M", NULL };
	struct ops_reserve_req req = { .guest = "vm1", .devices = one, .label = "later" };
	struct ops_error err = { 0 };
	struct guest *g = the_guest();

	/* 1 MiB free now (1 + 2 attached): reserve it */
	memset(&rs, 0, sizeof(rs));
	tap_ok(ops_reserve(&d, &req, rs_done, NULL, &err) == 0, "reserve starts");
	run_until(&rs.done);
	tap_ok(rs.done && !rs.failed && g->books.nres == 1, "the last 1 MiB is reserved");

	tap_ok(attach("bars:mem32:1M", NULL, &err) == 0 && at.failed &&
	       at.err.status == MMIO_E_NOSPACE, "an attach without the reservation is refused");
	tap_contains(at.err.msg, rs.id, "naming the reservation it would break");

	tap_ok(attach("bars:mem32:1M", "r-none", &err) == 0 && at.failed &&
	       at.err.code == OPS_E_NO_SUCH_RESERVATION, "an unknown reservation: NoSuchReservation");

	tap_ok(attach("bars:mem32:1M", rs.id, &err) == 0 && !at.failed, "the attach consuming it succeeds");
	tap_ok(g->books.nres == 0, "the reservation is consumed");

	/* release: one more reservation would not fit; release of a known one */
	memset(&rs, 0, sizeof(rs));
	tap_ok(ops_reserve(&d, &req, rs_done, NULL, &err) == 0, "reserve starts again");
	run_until(&rs.done);
	tap_ok(rs.failed && rs.err.status == MMIO_E_NOSPACE, "a full guest takes no reservation");

	struct ops_release_req rel = { .guest = "vm1", .id = "r-none" };
	tap_ok(ops_release(&d, &rel, &err) < 0 && err.code == OPS_E_NO_SUCH_RESERVATION,
	       "release of an unknown reservation: NoSuchReservation");
}

/* ---- detach, check ----------------------------------------------------------------- */

static struct {
	bool done, failed;
	struct ops_error err;
} dt;

static void dt_done(void *ud, const struct ops_error *err)
{
	dt.done = true;
	dt.failed = err != NULL;
	if (err)
		dt.err = *err;
}

static struct {
	bool done, fits;
	char reason[512];
} ck;

static void ck_done(void *ud, const struct ops_error *err, bool fits, const char *reason,
		    const struct books_entry *e, size_t n)
{
	ck.done = true;
	ck.fits = !err && fits;
	snprintf(ck.reason, sizeof(ck.reason), "%s", err ? err->msg : reason);
}

static void test_detach_check(void)
{
	struct ops_error err = { 0 };
	struct guest *g = the_guest();
	char *one[] = { (char *)"bars:mem32:1M", NULL };
	struct ops_check_req cr = { .guest = "vm1", .devices = one };

	memset(&ck, 0, sizeof(ck));
	tap_ok(ops_check(&d, &cr, ck_done, NULL, &err) == 0 && ck.done && !ck.fits,
	       "Check: nothing fits a full guest (answered at once)");
	/* an answer on a window the back end could only assume says so */
	snprintf(g->books.layout.window_note, sizeof(g->books.layout.window_note),
		 "the 64-bit window is assumed: the firmware has not placed every boot device");
	memset(&ck, 0, sizeof(ck));
	tap_ok(ops_check(&d, &cr, ck_done, NULL, &err) == 0 && ck.done && !ck.fits,
	       "Check on an assumed window answers");
	tap_contains(ck.reason, "window is assumed", "and its reason says the window is assumed");
	g->books.layout.window_note[0] = '\0';

	struct ops_detach_req dr = { .guest = "vm1", .device = g->books.attaches[0].id };
	size_t before = g->books.nattach;
	memset(&dt, 0, sizeof(dt));
	tap_ok(ops_detach(&d, &dr, dt_done, NULL, &err) == 0, "detach starts");
	run_until(&dt.done);
	tap_ok(dt.done && !dt.failed && g->books.nattach == before - 1, "detach removes the record");

	cr.refresh = true;
	memset(&ck, 0, sizeof(ck));
	tap_ok(ops_check(&d, &cr, ck_done, NULL, &err) == 0, "Check with a re-read starts");
	run_until(&ck.done);
	tap_ok(ck.fits, "after the detach 1 MiB fits again");

	dr.device = "nothing-attached";
	tap_ok(ops_detach(&d, &dr, dt_done, NULL, &err) < 0 && err.code == OPS_E_NO_SUCH_DEVICE,
	       "detach of a device mmiod did not attach: NoSuchDevice");
}

/* ---- a guest whose toolstack stops answering (issue #15) ----------------------------- */

/* An attach in flight when the toolstack stops answering: the back end's
 * deadline ends it TSD_E_UNRESPONSIVE and reports the guest not answering. */
static void unanswered_attach(const char *device)
{
	struct ops_error err;
	struct ops_attach_req req = { .guest = "vm1", .device = device };

	fake.mode = ANSWER_LATER;
	memset(&at, 0, sizeof(at));
	memset(&heard, 0, sizeof(heard));
	if (ops_attach(&d, &req, &at_cbs, NULL, &err) < 0)
		abort();
	run_until(&at.admitted);
	tsd_op_finish(fake.held, TSD_E_UNRESPONSIVE, "qemu: no answer within 60000 ms");
	fake.held = NULL;
	d.host.guest_answering(d.host.ud, bi.be, "vm1", false, "QEMU did not answer (attach)");
	run_until(&at.finished);
	fake.mode = ANSWER_OK;
}

static void test_unresponsive(void)
{
	struct ops_error err = { 0 };
	struct guest *g = the_guest();
	char *one[] = { (char *)"bars:mem32:1M", NULL };
	struct ops_check_req cr = { .guest = "vm1", .devices = one };
	struct ops_reserve_req rr = { .guest = "vm1", .devices = one };
	struct ops_attach_req ar = { .guest = "vm1", .device = "bars:mem32:1M" };
	char id[64];
	ssize_t i;

	/* the device_add never happened */
	unanswered_attach("bars:mem32:1M");
	tap_ok(at.finished && at.failed && at.err.code == OPS_E_TOOLSTACK &&
	       at.err.rc == TSD_E_UNRESPONSIVE, "an attach the toolstack leaves unanswered fails "
	       "unresponsive (%s)", bus_error_name(&at.err));
	tap_contains(at.err.msg, "is not known", "saying its outcome is not known");
	snprintf(id, sizeof(id), "%s", at.id);
	i = books_find_attach(&g->books, id);
	tap_ok(i >= 0 && g->books.attaches[i].state == BOOKS_ATTACH_UNSETTLED,
	       "its record stays, unsettled, its space held");
	tap_ok(heard.finished == 0, "the observer hears nothing of it yet");
	tap_ok(g->unresponsive && (heard.changed & GUEST_CHANGED_ANSWERING), "the guest is unresponsive");
	memset(&ck, 0, sizeof(ck));
	tap_ok(ops_check(&d, &cr, ck_done, NULL, &err) < 0 && err.code == OPS_E_GUEST_UNRESPONSIVE,
	       "Check fails at once: %s", err.msg);
	tap_ok(ops_attach_validate(&d, &ar, &err) < 0 && err.code == OPS_E_GUEST_UNRESPONSIVE,
	       "Attach too");
	tap_ok(ops_reserve_validate(&d, &rr, &err) < 0 && err.code == OPS_E_GUEST_UNRESPONSIVE,
	       "Reserve too");
	unsigned before = fake.refreshes;
	d.host.guest_answering(d.host.ud, bi.be, "vm1", true, NULL);
	for (int k = 0; k < 100 && heard.finished == 0; k++)
		event_base_loop(d.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	tap_ok(!g->unresponsive && fake.refreshes == before + 1, "it answers again: re-read once");
	tap_ok(books_find_attach(&g->books, id) < 0, "the device is not there: the hold is released");
	tap_ok(heard.finished == 1 && heard.finished_ok == 0, "and the observer hears the attach failed");

	/* the device_add happened */
	unanswered_attach("bars:mem32:1M");
	snprintf(id, sizeof(id), "%s", at.id);
	tap_ok(at.failed && books_find_attach(&g->books, id) >= 0, "another one left unanswered");
	fake_plug(id, &fake.held_dev);
	memset(&heard, 0, sizeof(heard));
	d.host.guest_answering(d.host.ud, bi.be, "vm1", true, NULL);
	for (int k = 0; k < 100 && heard.finished == 0; k++)
		event_base_loop(d.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	i = books_find_attach(&g->books, id);
	tap_ok(i >= 0 && g->books.attaches[i].state == BOOKS_ATTACH_ATTACHED,
	       "the device is there: kept as attached");
	tap_ok(heard.finished == 1 && heard.finished_ok == 1, "and the observer hears it succeeded");

	/* room again for the tests after this one */
	struct ops_detach_req dr = { .guest = "vm1", .device = id };
	memset(&dt, 0, sizeof(dt));
	if (ops_detach(&d, &dr, dt_done, NULL, &err) == 0)
		run_until(&dt.done);
	tap_ok(dt.done && !dt.failed, "detached again");
}

/* ---- what each operation decides before acting ------------------------------------- */

static void test_validation(void)
{
	struct ops_error err = { 0 };
	struct ops_attach_req req = { .guest = "nobody", .device = "bars:mem32:1M" };
	struct guest *g = the_guest();

	tap_ok(ops_attach_validate(&d, &req, &err) < 0 && err.code == OPS_E_NO_SUCH_GUEST,
	       "an unknown guest: NoSuchGuest");
	tap_contains(err.msg, "vm1", "naming the known guests");
	req.guest = "vm1";
	req.device = "bars:mem33:1M";
	tap_ok(ops_attach_validate(&d, &req, &err) < 0 && err.code == OPS_E_INVALID_DEVICE,
	       "an unreadable device: InvalidDevice");
	req.device = "bars:mem32:1M";
	g->info.can_attach = false;
	snprintf(g->info.why_not, sizeof(g->info.why_not), "a PV guest");
	tap_ok(ops_attach_validate(&d, &req, &err) < 0 && err.code == OPS_E_NOT_SUPPORTED,
	       "a guest that cannot attach: NotSupported");
	tap_contains(err.msg, "a PV guest", "with the back end's reason");
	g->info.can_attach = true;
	tap_ok(ops_attach_validate(&d, &req, &err) == 0, "a good attach validates");
}

/* ---- a guest that takes no host device (Xen, passthrough disabled) ----------------- */

static void test_no_host(const char *dir)
{
	char sys[600], path[700];
	struct ops_error err = { 0 };
	struct guest *g = the_guest();
	FILE *f;

	/* a host device 0000:03:00.0 with one 1 MiB BAR, in a sysfs of our own */
	snprintf(sys, sizeof(sys), "%s/sys", dir);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:03:00.0", sys);
	mkdir(sys, 0700);
	for (char *p = path + strlen(sys) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	mkdir(path, 0700);
	strcat(path, "/resource");
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs("0x00000000fe000000 0x00000000fe0fffff 0x0000000000040200\n", f);
	for (int i = 1; i < 7; i++)
		fputs("0x0000000000000000 0x0000000000000000 0x0000000000000000\n", f);
	fclose(f);
	d.cfg.sysfs_root = sys;

	char *host[] = { (char *)"0000:03:00.0", NULL };
	char *declared[] = { (char *)"bars:mem32:1M", NULL };
	struct ops_check_req cr = { .guest = "vm1", .devices = host };
	struct ops_attach_req ar = { .guest = "vm1", .device = "0000:03:00.0" };

	memset(&ck, 0, sizeof(ck));
	tap_ok(ops_check(&d, &cr, ck_done, NULL, &err) == 0 && ck.done && ck.fits,
	       "Check of a host device into a guest that takes them: fits");
	tap_ok(ops_attach_validate(&d, &ar, &err) == 0, "... and its Attach validates");

	snprintf(g->info.why_no_host, sizeof(g->info.why_no_host),
		 "the domain was created with passthrough disabled; create it with "
		 "passthrough=\"enabled\"");
	memset(&ck, 0, sizeof(ck));
	tap_ok(ops_check(&d, &cr, ck_done, NULL, &err) == 0 && ck.done && !ck.fits,
	       "passthrough disabled: Check of a host device does not fit");
	tap_contains(ck.reason, "0000:03:00.0 cannot be attached to guest vm1",
		     "... naming the device and the guest");
	tap_contains(ck.reason, "passthrough=\"enabled\"", "... with the back end's cause and fix");
	tap_ok(ops_attach_validate(&d, &ar, &err) < 0 && err.code == OPS_E_NOT_SUPPORTED,
	       "... its Attach: NotSupported");
	tap_contains(err.msg, "passthrough disabled", "... with the reason");

	cr.devices = declared;
	memset(&ck, 0, sizeof(ck));
	tap_ok(ops_check(&d, &cr, ck_done, NULL, &err) == 0 && ck.done && ck.fits,
	       "... a declared device (bars:) is still answered for space");
	tap_contains(ck.reason, "no host device could be attached to this guest",
		     "... saying a host device could not be attached");
	ar.device = "bars:mem32:1M";
	tap_ok(ops_attach_validate(&d, &ar, &err) == 0, "... and a declared device's Attach validates");
	tap_ok(g->info.can_attach, "the guest still takes hot-plugs (its windows stay shown)");

	g->info.why_no_host[0] = '\0';
	d.cfg.sysfs_root = (char *)"/nonexistent";
	unlink(path);
	for (char *p; (p = strrchr(path, '/')) != NULL && (size_t)(p - path) > strlen(dir);) {
		*p = '\0';
		rmdir(path);    /* the device's directory up to <dir>/sys */
	}
}

/* ---- plan ---------------------------------------------------------------------------- */

static void test_plan(void)
{
	char *one[] = { (char *)"bars:mem64p:8G", NULL };
	struct ops_plan_req req = { .devices = one, .guest = "vm1" };
	struct ops_error err = { 0 };
	static struct ops_plan plan;

	tap_ok(ops_plan(&d, &req, &plan, &err) == 0 && plan.have_qemu && !plan.have_xen,
	       "Plan for a guest of a QEMU-platform back end: the QEMU planner alone");
	req.guest = "";
	tap_ok(ops_plan(&d, &req, &plan, &err) == 0 && plan.have_qemu && plan.have_xen,
	       "Plan without a guest: both planners");
	req.machine = "isapc";
	tap_ok(ops_plan(&d, &req, &plan, &err) < 0 && err.code == OPS_E_INVALID_ARGS,
	       "an unknown machine: InvalidArgs");
	req.machine = "";
	req.xen_version = "3.0";
	tap_ok(ops_plan(&d, &req, &plan, &err) < 0 && err.code == OPS_E_INVALID_ARGS,
	       "an unknown Xen version: InvalidArgs");

	/* the advice is spelled by the back end's config_form, not its name */
	static struct tsd_driver xml_driver;
	const struct tsd_driver *was = bi.drv;
	xml_driver = fake_driver;
	xml_driver.config_form = TSD_CONFIG_LIBVIRT_XML;
	req = (struct ops_plan_req){ .devices = one, .guest = "vm1", .machine = "q35" };
	tap_ok(ops_plan(&d, &req, &plan, &err) == 0 && !strstr(plan.reason, "libvirt's domain XML"),
	       "Plan for a guest whose back end takes a command line: no libvirt XML advice");
	bi.drv = &xml_driver;
	tap_ok(ops_plan(&d, &req, &plan, &err) == 0 && strstr(plan.reason, "libvirt's domain XML"),
	       "Plan for a guest whose back end writes libvirt's domain XML: its advice too");
	bi.drv = was;

	/* OVMF's aperture rule: unknown, the advice names both generations;
	 * a 64-bit window QEMU showed after the firmware ran tells the rule */
	struct tsd_layout *l = &the_guest()->books.layout;
	const struct tsd_layout saved = *l;
	l->phys_bits = 40;
	req = (struct ops_plan_req){ .devices = one, .guest = "vm1", .machine = "q35",
				     .firmware = "ovmf" };
	tap_ok(ops_plan(&d, &req, &plan, &err) == 0 && plan.have_ovmf &&
	       plan.ovmf.aperture_base_below_ht == 0xc000000000 && strstr(plan.reason, "OVMF 2025.02"),
	       "Plan, OVMF guest, 40 phys-bits: OVMF 2022.11's and 2025.02's apertures both weighed");
	const uint64_t starts[] = { 0xc000000000, 0xe000000000 };
	const char *says[] = { "as OVMF 2025.02 does", "as OVMF 2022.11 does" };
	for (int i = 0; i < 2 && l->nwin < MMIO_MAX_WINDOWS; i++) {
		l->win[l->nwin] = (struct mmio_window){ .start = starts[i], .end = starts[i] + (UINT64_C(32) << 30) };
		l->win_source[l->nwin] = TSD_SRC_TOOLSTACK;
		l->nwin++;
		tap_ok(ops_plan(&d, &req, &plan, &err) == 0 && strstr(plan.reason, says[i]),
		       "Plan, OVMF guest whose 64-bit window was read at 0x%" PRIx64 ": %s", starts[i],
		       says[i]);
		l->nwin--;
	}
	*l = saved;
}

/* ---- the state file first ----------------------------------------------------------- */

static void test_state_first(void)
{
	struct ops_error err;
	unsigned before = fake.attaches;
	char *saved = d.cfg.state_dir;

	d.cfg.state_dir = (char *)"/nonexistent/mmiod-test-ops";
	tap_ok(attach("bars:mem32:1M", NULL, &err) == 0 && at.failed && at.err.code == OPS_E_STATE_IO,
	       "an attach whose hold cannot be saved fails");
	tap_ok(fake.attaches == before, "before the back end was called");
	tap_ok(the_guest()->books.nattach == 0 || books_find_attach(&the_guest()->books, at.id) < 0,
	       "and holds nothing");
	d.cfg.state_dir = saved;
}

int main(void)
{
	char dir[] = "/tmp/test-ops.XXXXXX";
	char path[600];

	if (!mkdtemp(dir))
		return 1;
	setup(dir);
	test_validation();
	test_no_host(dir);
	test_attach();
	test_hold();
	test_backend_failure();
	test_reservation();
	test_detach_check();
	test_unresponsive();
	test_plan();
	test_state_first();

	/* the guest goes; the back end's ops and the guests are freed */
	d.host.guest_down(d.host.ud, bi.be, "vm1");
	tsd_ops_free(&fake.base);
	tsd_layout_clear(&fake.layout);
	free(d.guests);
	daemon_guest_index_free(&d);
	if (d.pending_state)
		json_object_put(d.pending_state);
	event_base_free(d.base);
	snprintf(path, sizeof(path), "%s/%s", dir, MMIOD_STATE_FILE);
	unlink(path);
	rmdir(dir);
	tap_done();
	return tap_exit();
}
