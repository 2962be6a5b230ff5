/* SPDX-License-Identifier: MIT */
/*
 * test-qmp-live.c — the QMP back end against real QEMUs (TCG, -S, no guest
 * OS): a pc guest and a q35 guest in a watched directory, each with a
 * second QMP socket outside it for the test's own checks.  Skipped when
 * qemu-system-x86_64 is not installed.  QEMU is killed on every exit path
 * (atexit, fatal signals, the watchdog alarm, and PDEATHSIG if we crash).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "qmp.h"
#include "toolstack.h"
#include "../tap.h"

#define QEMU "qemu-system-x86_64"
#define UUID1 "6f1d3c2a-0000-4000-8000-000000000001"

static pid_t qemu_pid[2] = { -1, -1 };
static char tmpdir[256];

static void kill_qemus(void)
{
	for (int i = 0; i < 2; i++)
		if (qemu_pid[i] > 0) {
			kill(qemu_pid[i], SIGKILL);
			waitpid(qemu_pid[i], NULL, 0);
			qemu_pid[i] = -1;
		}
}

static void cleanup(void)
{
	char cmd[300];
	kill_qemus();
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", tmpdir);
		tmpdir[0] = '\0';
	}
}

static void on_signal(int sig)
{
	for (int i = 0; i < 2; i++)
		if (qemu_pid[i] > 0)
			kill(qemu_pid[i], SIGKILL);
	if (sig == SIGALRM) {
		static const char msg[] = "not ok - watchdog: the test took too long\n";
		if (write(1, msg, sizeof(msg) - 1) < 0)
			_exit(1);
	}
	_exit(1);
}

static bool have_qemu(void)
{
	const char *path = getenv("PATH");
	char buf[4096];
	if (!path)
		return false;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save, *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char p[4200];
		snprintf(p, sizeof(p), "%s/%s", dir, QEMU);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

static pid_t start_qemu(const char *const *argv, const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644), nul = open("/dev/null", O_RDONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (nul >= 0)
			dup2(nul, 0);
		execvp(QEMU, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* ---- the host side ---------------------------------------------------------------- */

struct rec {
	int ups, downs, changes;
	struct tsd_guest up[4];
	struct tsd_layout up_layout[4];
	int nup;
	char down_id[64];
	char changed_id[64];
};
static struct rec rec;
static struct event_base *base;

static void h_up(void *ud, struct tsd_backend *be, const struct tsd_guest *g,
		 const struct tsd_layout *layout)
{
	(void)ud;
	(void)be;
	rec.ups++;
	if (rec.nup < 4) {
		rec.up[rec.nup] = *g;
		if (layout)
			tsd_layout_copy(&rec.up_layout[rec.nup], layout);
		rec.nup++;
	}
}

static void h_down(void *ud, struct tsd_backend *be, const char *id)
{
	(void)ud;
	(void)be;
	rec.downs++;
	snprintf(rec.down_id, sizeof(rec.down_id), "%s", id);
}

static void h_changed(void *ud, struct tsd_backend *be, const char *id, const struct tsd_layout *l)
{
	(void)ud;
	(void)be;
	(void)l;
	rec.changes++;
	snprintf(rec.changed_id, sizeof(rec.changed_id), "%s", id);
}

static void h_log(void *ud, struct tsd_backend *be, int prio, const char *msg)
{
	(void)ud;
	(void)be;
	if (prio <= LOG_INFO)
		tap_diag("log: %s", msg);
}

static const struct tsd_guest *up_guest(const char *id, const struct tsd_layout **l)
{
	for (int i = rec.nup - 1; i >= 0; i--)
		if (strcmp(rec.up[i].id, id) == 0) {
			if (l)
				*l = &rec.up_layout[i];
			return &rec.up[i];
		}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until *flag becomes nonzero or timeout_s passes. */
static bool run_until(volatile int *flag, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (!*flag && now_s() < end)
		event_base_loop(base, EVLOOP_ONCE);
	return *flag != 0;
}

/* ---- results of driver operations ------------------------------------------------- */

struct done {
	int called;
	bool in_call;           /* set while the initiating call runs */
	bool called_inside;
	struct tsd_result res;
};

static void done_cb(void *ud, const struct tsd_result *res)
{
	struct done *d = ud;
	if (d->in_call)
		d->called_inside = true;
	d->called++;
	d->res = *res;
}

struct lay {
	int called;
	enum tsd_rc rc;
	struct tsd_layout l;
	char msg[512];
};

static void lay_cb(void *ud, enum tsd_rc rc, const struct tsd_layout *l, const char *msg)
{
	struct lay *x = ud;
	x->called++;
	x->rc = rc;
	tsd_layout_clear(&x->l);
	if (l)
		tsd_layout_copy(&x->l, l);
	snprintf(x->msg, sizeof(x->msg), "%s", msg ? msg : "");
}

/* ---- a control QMP connection (the test's own, outside the watched dir) ------------ */

struct ctl {
	struct qmp_conn *c;
	int ready;
};

struct reply {
	int called;
	json_object *ret;
	char desc[300];
};

static void ctl_state(void *ud, enum qmp_state st, bool refused, const char *why)
{
	struct ctl *c = ud;
	(void)refused;
	(void)why;
	c->ready = st == QMP_READY ? 1 : -1;
}

static void ctl_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct reply *r = ud;
	(void)cls;
	r->called = 1;
	r->ret = ret ? json_object_get(ret) : NULL;
	snprintf(r->desc, sizeof(r->desc), "%s", desc ? desc : "");
}

static bool ctl_open(struct ctl *c, const char *path)
{
	struct qmp_callbacks cb = { .state = ctl_state, .ud = c };
	for (int tries = 0; tries < 50; tries++) {
		c->ready = 0;
		c->c = qmp_conn_new(base, path, &cb);
		if (c->c && run_until(&c->ready, 5) && c->ready == 1)
			return true;
		qmp_conn_free(c->c);
		c->c = NULL;
		usleep(100000);
	}
	return false;
}

/* Sends cmd with args (JSON text or NULL) and waits for the reply. */
static struct reply ctl_cmd(struct ctl *c, const char *cmd, const char *args)
{
	struct reply r = { 0 };
	json_object *a = args ? json_tokener_parse(args) : NULL;
	if (qmp_send(c->c, cmd, a, ctl_reply, &r) < 0) {
		snprintf(r.desc, sizeof(r.desc), "connection down");
		return r;
	}
	run_until(&r.called, 10);
	return r;
}

static uint64_t ctl_qom_u64(struct ctl *c, const char *path, const char *prop)
{
	char args[200];
	snprintf(args, sizeof(args), "{\"path\": \"%s\", \"property\": \"%s\"}", path, prop);
	struct reply r = ctl_cmd(c, "qom-get", args);
	uint64_t v = r.ret ? json_object_get_uint64(r.ret) : 0;
	json_object_put(r.ret);
	return v;
}

static const struct tsd_live_bar *find_bar(const struct tsd_layout *l, const char *dev, unsigned idx)
{
	for (size_t i = 0; i < l->nbars; i++)
		if (strcmp(l->bars[i].device, dev) == 0 && l->bars[i].bar.index == idx)
			return &l->bars[i];
	return NULL;
}

static int do_attach(struct tsd_backend *be, const char *guest, const char *bars, const char *spec,
		     const char *id, struct done *d, struct mmio_error *err)
{
	static struct mmio_device dev;
	struct tsd_attach_req req = { .qemu_device = spec, .attach_id = id };
	if (bars) {
		if (mmio_bars_parse(bars, &dev, err) != MMIO_OK)
			return -1;
		req.device = &dev;
	}
	memset(d, 0, sizeof(*d));
	d->in_call = true;
	int r = tsd_qmp_driver.attach(be, guest, &req, 0, done_cb, d, err);
	d->in_call = false;
	return r;
}

int main(void)
{
	struct tsd_host host = { 0 };
	struct tsd_backend *be = NULL;
	struct mmio_error err = { 0 };
	struct ctl ctl_pc = { 0 }, ctl_q35 = { 0 };
	char watch[300], s_pc[320], s_q35[320], c_pc[320], c_q35[320], log_pc[320], log_q35[320];
	char qmp1[400], qmp2[400], qmp3[400], qmp4[400];
	const struct tsd_layout *ul = NULL;
	const struct tsd_guest *g;
	struct done d;
	struct lay lay = { 0 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!have_qemu()) {
		printf("1..0 # SKIP " QEMU " not found\n");
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mmiod-qmp-live-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("1..0 # SKIP cannot make a temporary directory: %s\n", strerror(errno));
		return 0;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	alarm(60);

	snprintf(watch, sizeof(watch), "%s/watch", tmpdir);
	mkdir(watch, 0700);
	snprintf(s_pc, sizeof(s_pc), "%s/pcvm.sock", watch);
	snprintf(s_q35, sizeof(s_q35), "%s/q35vm.qmp", watch);
	snprintf(c_pc, sizeof(c_pc), "%s/ctl-pc.sock", tmpdir);
	snprintf(c_q35, sizeof(c_q35), "%s/ctl-q35.sock", tmpdir);
	snprintf(log_pc, sizeof(log_pc), "%s/pc.log", tmpdir);
	snprintf(log_q35, sizeof(log_q35), "%s/q35.log", tmpdir);
	snprintf(qmp1, sizeof(qmp1), "unix:%s,server=on,wait=off", s_pc);
	snprintf(qmp2, sizeof(qmp2), "unix:%s,server=on,wait=off", c_pc);
	snprintf(qmp3, sizeof(qmp3), "unix:%s,server=on,wait=off", s_q35);
	snprintf(qmp4, sizeof(qmp4), "unix:%s,server=on,wait=off", c_q35);
	const char *const argv_pc[] = {
		QEMU, "-machine", "pc", "-accel", "tcg", "-nographic", "-nic", "none", "-display", "none",
		"-serial", "none", "-monitor", "none", "-S", "-name", "live-pc", "-uuid", UUID1,
		"-qmp", qmp1, "-qmp", qmp2, NULL,
	};
	const char *const argv_q35[] = {
		QEMU, "-machine", "q35", "-accel", "tcg", "-nographic", "-nic", "none", "-display", "none",
		"-serial", "none", "-monitor", "none", "-S",
		"-device", "pcie-root-port,id=rp1,chassis=1", "-qmp", qmp3, "-qmp", qmp4, NULL,
	};
	qemu_pid[0] = start_qemu(argv_pc, log_pc);
	qemu_pid[1] = start_qemu(argv_q35, log_q35);

	/* Short unplug timeout: without a guest OS pc never completes an unplug. */
	setenv("MMIOD_QMP_UNPLUG_TIMEOUT_MS", "1500", 1);
	base = event_base_new();
	struct event *ticker = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = { 0, 50000 };
	event_add(ticker, &tv);
	host.base = base;
	host.guest_up = h_up;
	host.guest_down = h_down;
	host.guest_changed = h_changed;
	host.log = h_log;

	tap_ok(tsd_qmp_driver.open(&host, "", 0, &be, &err) < 0 && err.msg[0],
	       "open without a directory is a configuration error");
	tap_ok(tsd_qmp_driver.open(&host, watch, 0x80, &be, &err) < 0, "open rejects unknown flags");
	be = NULL;
	tap_ok(tsd_qmp_driver.open(&host, watch, 0, &be, &err) == 0 && be, "open qmp:%s", watch);
	if (!be)
		goto out;
	tap_ok(rec.ups == 0, "nothing announced from inside open()");

	/* ---- discovery ---- */
	volatile int two_up = 0;
	double t0 = now_s();
	while (rec.ups < 2 && now_s() < t0 + 15)
		event_base_loop(base, EVLOOP_ONCE);
	two_up = rec.ups >= 2;
	tap_ok(two_up, "both guests announced (%.1f s)", now_s() - t0);
	g = up_guest("pcvm", &ul);
	tap_ok(g != NULL, "pc guest id is the socket name without extension");
	if (!g)
		goto out;
	tap_is_str(g->name, "live-pc", "name from query-name (-name)");
	tap_is_str(g->uuid, UUID1, "uuid from query-uuid");
	tap_ok(g->can_attach, "pc guest can attach");
	tap_ok(ul->nwin >= 3 && ul->win[0].kind == MMIO_WIN_LOW && ul->win[1].kind == MMIO_WIN_HIGH,
	       "pc layout has low, high and I/O windows");
	tap_is_u64(ul->free_slots, 29, "pc: 29 free root-bus slots");
	const struct tsd_layout *lq = NULL;
	const struct tsd_guest *gq = up_guest("q35vm", &lq);
	tap_ok(gq && strcmp(gq->name, "q35vm") == 0 && gq->uuid[0] == '\0',
	       "q35 guest without -name/-uuid: name is the id, no uuid");
	const struct tsd_live_bar *rpb = lq ? find_bar(lq, "rp1", 0) : NULL;
	tap_ok(rpb && rpb->arrival == TSD_ARRIVAL_BOOT && rpb->seq > 0,
	       "q35: the root port on pcie.0 was there at boot (QOM), arrival %u", rpb ? rpb->seq : 0);

	if (!ctl_open(&ctl_pc, c_pc) || !ctl_open(&ctl_q35, c_q35)) {
		tap_ok(0, "control QMP connections");
		goto out;
	}
	tap_is_u64(ul->win[0].start, ctl_qom_u64(&ctl_pc, "/machine/i440fx", "pci-hole-start"),
		   "low window start = qom-get pci-hole-start");
	tap_is_u64(ul->win[0].end, ctl_qom_u64(&ctl_pc, "/machine/i440fx", "pci-hole-end"),
		   "low window end = qom-get pci-hole-end");
	tap_is_u64(ul->win[1].start, ctl_qom_u64(&ctl_pc, "/machine/i440fx", "pci-hole64-start"),
		   "high window start = qom-get pci-hole64-start");
	tap_is_u64(ul->win[1].end, ctl_qom_u64(&ctl_pc, "/machine/i440fx", "pci-hole64-end"),
		   "high window end = qom-get pci-hole64-end");
	tap_ok(ul->win_source[0] == TSD_SRC_TOOLSTACK && ul->win_source[1] == TSD_SRC_TOOLSTACK,
	       "windows read from QOM are marked toolstack");

	/* ---- synchronous refusals ---- */
	struct tsd_attach_req req0 = { .attach_id = "x" };
	tap_ok(tsd_qmp_driver.attach(be, "pcvm", &req0, 0, done_cb, &d, &err) < 0 &&
	       strstr(err.msg, "QEMU device spec"), "attach without a qemu-device spec is refused: %s",
	       err.msg);
	req0.qemu_device = "pci-testdev";
	tap_ok(tsd_qmp_driver.attach(be, "pcvm", &req0, 0x100, done_cb, &d, &err) < 0,
	       "attach rejects unknown flags");
	tap_ok(tsd_qmp_driver.attach(be, "pcvm", &req0, TSD_ATTACH_PERSISTENT, done_cb, &d, &err) < 0,
	       "attach refuses PERSISTENT (QEMU has no persistent config)");
	tap_ok(tsd_qmp_driver.attach(be, "nosuch", &req0, 0, done_cb, &d, &err) < 0,
	       "attach to an unknown guest is refused");
	tap_ok(tsd_qmp_driver.refresh(be, "pcvm", 1, lay_cb, &lay, &err) < 0, "refresh rejects flags");
	tap_ok(tsd_qmp_driver.detach(be, "pcvm", "x", 1, done_cb, &d, &err) < 0, "detach rejects flags");

	/* ---- attach that matches ---- */
	int r = do_attach(be, "pcvm", "bars:mem32:4K,io:256,mem64p:1M", "pci-testdev,membar=1M", "mm1", &d, &err);
	tap_ok(r == 0, "attach pci-testdev,membar=1M started (%s)", r ? err.msg : "");
	tap_ok(!d.called && !d.called_inside, "no callback from inside attach()");
	int changes = rec.changes;
	run_until(&d.called, 10);
	tap_ok(d.called == 1 && d.res.rc == TSD_OK, "attach succeeded: %s", d.res.msg);
	tap_is_str(d.res.attached_id, "mm1", "attached_id is the attach id");
	tap_ok(rec.changes > changes && strcmp(rec.changed_id, "pcvm") == 0, "guest_changed after attach");
	tsd_layout_clear(&lay.l);
	memset(&lay, 0, sizeof(lay));
	tap_ok(tsd_qmp_driver.refresh(be, "pcvm", 0, lay_cb, &lay, &err) == 0, "refresh started");
	tap_ok(lay.called == 0, "no refresh callback from inside refresh()");
	run_until(&lay.called, 10);
	tap_ok(lay.called == 1 && lay.rc == TSD_OK, "refresh done %s", lay.msg);
	const struct tsd_live_bar *b = find_bar(&lay.l, "mm1", 2);
	tap_ok(b && b->bar.kind == MMIO_BAR_MEM64 && b->bar.prefetch && b->bar.size == 1u << 20,
	       "refreshed layout shows mm1 BAR2 mem64p 1 MiB");
	b = find_bar(&lay.l, "mm1", 0);
	tap_ok(b && b->bar.size == 4096 && b->addr == TSD_ADDR_UNASSIGNED,
	       "mm1 BAR0 4 KiB, unassigned (no guest OS to place it)");
	tap_ok(b && strcmp(b->guest_slot, "00:03.0") == 0, "mm1 went to the first free slot 00:03.0");
	const struct tsd_live_bar *ide = find_bar(&lay.l, "00:01.1", 4);
	tap_ok(b && b->arrival == TSD_ARRIVAL_HOTPLUG && b->seq > 0,
	       "mm1 is hot-plugged (QOM hotplugged), with an order of arrival (%u)", b ? b->seq : 0);
	tap_ok(ide && b && ide->arrival == TSD_ARRIVAL_BOOT && ide->seq > 0 && ide->seq < b->seq,
	       "the IDE controller was there at boot and arrived before mm1 (%u)", ide ? ide->seq : 0);
	tap_ok(ide && ide->pci_class == 0x0101, "its PCI class from query-pci (IDE 0x0101)");
	tap_is_u64(lay.l.free_slots, 28, "one slot fewer");

	/* ---- a declaration that does not match ---- */
	r = do_attach(be, "pcvm", "bars:mem32:4K,io:256,mem64p:2M", "pci-testdev,membar=1M", "mm2", &d, &err);
	tap_ok(r == 0, "mismatching attach started");
	run_until(&d.called, 10);
	tap_ok(d.called == 1 && d.res.rc == TSD_E_MISMATCH, "mismatch reported (%s)", tsd_rc_name(d.res.rc));
	tap_contains(d.res.msg, "BAR2: declared mem64p 2 MiB, QEMU has mem64p 1 MiB", "difference spelled out");
	tap_contains(d.res.msg, "device_del mm2 requested", "removal requested");
	struct reply rr = ctl_cmd(&ctl_pc, "device_del", "{\"id\": \"mm2\"}");
	tap_contains(rr.desc, "already in the process of unplug",
		     "QEMU has mm2's unplug pending (pc, no guest OS)");
	json_object_put(rr.ret);

	/* ---- bad specs: QEMU's own words ---- */
	r = do_attach(be, "pcvm", NULL, "pci-testdev,membar=bogus", "mm3", &d, &err);
	run_until(&d.called, 10);
	tap_ok(r == 0 && d.res.rc == TSD_E_FAILED, "bad property value fails");
	tap_contains(d.res.msg, "Parameter 'membar' expects size", "with QEMU's error text");
	r = do_attach(be, "pcvm", NULL, "nosuchdev", "mm4", &d, &err);
	run_until(&d.called, 10);
	tap_ok(r == 0 && d.res.rc == TSD_E_FAILED, "unknown driver fails");
	tap_contains(d.res.msg, "'nosuchdev' is not a valid device model name", "with QEMU's error text");
	tap_ok(do_attach(be, "pcvm", NULL, "pci-testdev,id=zz", "mm5", &d, &err) < 0 &&
	       strstr(err.msg, "id"), "a spec setting id is refused at once: %s", err.msg);

	/* ---- detach on pc without a guest OS: times out ---- */
	memset(&d, 0, sizeof(d));
	double td = now_s();
	tap_ok(tsd_qmp_driver.detach(be, "pcvm", "mm1", 0, done_cb, &d, &err) == 0, "detach mm1 started");
	run_until(&d.called, 10);
	tap_ok(d.called == 1 && d.res.rc == TSD_E_TIMEOUT, "detach times out without a guest OS (%s, %.1f s)",
	       tsd_rc_name(d.res.rc), now_s() - td);
	tap_contains(d.res.msg, "guest OS", "and says why");
	/* Again, and this time reset the VM: the pending unplugs complete. */
	memset(&d, 0, sizeof(d));
	tap_ok(tsd_qmp_driver.detach(be, "pcvm", "mm1", 0, done_cb, &d, &err) == 0, "detach mm1 again");
	changes = rec.changes;
	rr = ctl_cmd(&ctl_pc, "system_reset", NULL);
	json_object_put(rr.ret);
	run_until(&d.called, 10);
	tap_ok(d.called == 1 && d.res.rc == TSD_OK, "DEVICE_DELETED at reset completes the detach: %s", d.res.msg);
	volatile int more = 0;
	double tc = now_s();
	while (rec.changes < changes + 2 && now_s() < tc + 5)
		event_base_loop(base, EVLOOP_ONCE);
	more = rec.changes >= changes + 2;
	tap_ok(more, "guest_changed for the detach and for mm2 going away");
	tsd_layout_clear(&lay.l);
	memset(&lay, 0, sizeof(lay));
	tsd_qmp_driver.refresh(be, "pcvm", 0, lay_cb, &lay, &err);
	run_until(&lay.called, 10);
	tap_ok(lay.rc == TSD_OK && !find_bar(&lay.l, "mm1", 0) && !find_bar(&lay.l, "mm2", 0),
	       "mm1 and mm2 are gone");
	tsd_layout_clear(&lay.l);

	/* ---- q35 -S: into the empty root port; query-pci cannot see behind it ---- */
	r = do_attach(be, "q35vm", "bars:mem32:4K,io:256", "pci-testdev", "qq1", &d, &err);
	run_until(&d.called, 10);
	tap_ok(r == 0 && d.res.rc == TSD_OK, "q35: attach into pcie-root-port rp1: %s", d.res.msg);
	tap_contains(d.res.msg, "not checked", "q35 -S: BARs behind an unnumbered port cannot be checked");
	r = do_attach(be, "q35vm", NULL, "pci-testdev", "qq2", &d, &err);
	run_until(&d.called, 10);
	tap_ok(r == 0 && d.res.rc == TSD_E_FAILED && strstr(d.res.msg, "pcie-root-port"),
	       "q35: rp1 is taken (QOM knows): %s", d.res.msg);
	memset(&d, 0, sizeof(d));
	tsd_qmp_driver.detach(be, "q35vm", "qq1", 0, done_cb, &d, &err);
	run_until(&d.called, 10);
	tap_ok(d.res.rc == TSD_E_TIMEOUT, "q35 -S: the unplug stays pending too (%s)", tsd_rc_name(d.res.rc));
	memset(&d, 0, sizeof(d));
	tsd_qmp_driver.detach(be, "q35vm", "nope", 0, done_cb, &d, &err);
	run_until(&d.called, 10);
	tap_ok(d.res.rc == TSD_E_FAILED && strstr(d.res.msg, "Device 'nope' not found"),
	       "detaching an unknown id fails with QEMU's words: %s", d.res.msg);

	/* ---- QEMU goes away ---- */
	qmp_conn_free(ctl_pc.c);
	ctl_pc.c = NULL;
	kill(qemu_pid[0], SIGTERM);
	waitpid(qemu_pid[0], NULL, 0);
	qemu_pid[0] = -1;
	volatile int down = 0;
	double tk = now_s();
	while (!rec.downs && now_s() < tk + 5)
		event_base_loop(base, EVLOOP_ONCE);
	down = rec.downs;
	tap_ok(down == 1 && strcmp(rec.down_id, "pcvm") == 0, "guest_down when QEMU dies (%.1f s)",
	       now_s() - tk);
	tsd_layout_clear(&lay.l);
	memset(&lay, 0, sizeof(lay));
	tap_ok(tsd_qmp_driver.refresh(be, "pcvm", 0, lay_cb, &lay, &err) < 0, "the gone guest is unknown");
	/* A stale socket file left behind must not bring it back or spam the log. */
	int ups = rec.ups;
	double ts = now_s();
	while (now_s() < ts + 1.5)
		event_base_loop(base, EVLOOP_ONCE);
	tap_ok(rec.ups == ups, "no guest_up for a dead socket");

out:
	if (ctl_pc.c)
		qmp_conn_free(ctl_pc.c);
	if (ctl_q35.c)
		qmp_conn_free(ctl_q35.c);
	if (be)
		tsd_qmp_driver.close(be);
	for (int i = 0; i < rec.nup; i++)
		tsd_layout_clear(&rec.up_layout[i]);
	tsd_layout_clear(&lay.l);
	event_free(ticker);
	event_base_free(base);
	kill_qemus();
	tap_done();
	return tap_exit();
}
