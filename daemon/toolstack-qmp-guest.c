/* SPDX-License-Identifier: MIT */
/*
 * toolstack-qmp-guest.c — the QMP back end's guests: one connection per
 * socket of the directory, the probe that announces a guest, QEMU's events,
 * a QEMU that stops answering, disconnect.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "strbuf.h"
#include "toolstack-qmp-internal.h"

#define RETRY_S              3

static struct timespec now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

static bool ts_before(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static struct tsd_qmp_guest *guest_find(struct tsd_qmp *qb, const char *id)
{
	for (struct tsd_qmp_guest *g = qb->guests; g; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static void guest_disconnect(struct tsd_qmp_guest *g, bool tell);
static void liveness_start(struct tsd_qmp_guest *g);

static const char *op_kind_name(const struct tsd_qmp_op *op)
{
	switch (op->base.kind) {
	case TSD_OP_INTERNAL: return "probe";
	case TSD_OP_REFRESH: return "read of the layout";
	case TSD_OP_ATTACH: return "attach";
	case TSD_OP_DETACH: return "detach";
	}
	return "operation";
}

/* The base's deadline passed: QEMU owes replies it has not sent. */
static void op_timeout(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	struct tsd_qmp_guest *g = op->g;
	struct tsd_qmp *qb = op->qb;

	if (!g)
		return;
	if (g->st != G_UP) {
		/* Not announced yet: nobody to tell; start again later. */
		tsd_log(&qb->pub, LOG_NOTICE, "guest %s: QEMU did not answer its probe within %u ms; "
			"reconnecting later", g->id, base->deadline_ms);
		tsd_qmp_op_finish(op, TSD_E_UNRESPONSIVE, "QEMU did not answer the probe");
		g->refusals = 2;        /* retry after RETRY_S, not at the next scan */
		guest_disconnect(g, false);
		return;
	}
	tsd_qmp_op_finish(op, TSD_E_UNRESPONSIVE,
		  "guest %s: QEMU did not answer within %u ms (%s); it is marked unresponsive until "
		  "it answers again", g->id, base->deadline_ms, op_kind_name(op));
	if (g->unresponsive)
		return;
	g->unresponsive = true;
	snprintf(g->unresponsive_msg, sizeof(g->unresponsive_msg),
		 "QEMU did not answer QMP within %u ms (%s)", base->deadline_ms, op_kind_name(op));
	liveness_start(g);
	tsd_log(&qb->pub, LOG_WARNING, "guest %s: %s; its calls fail at once until it answers again",
		g->id, g->unresponsive_msg);
	tsd_guest_answering(&qb->pub, g->id, false, "%s", g->unresponsive_msg);
}

static void liveness_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_guest *g = ud;
	g->liveness_out = false;        /* on_heard saw the line already */
}

static void liveness_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_qmp_guest *g = arg;
	(void)fd;
	(void)what;
	if (!g->unresponsive || !g->conn || g->liveness_out)
		return;
	if (qmp_send(g->conn, "query-status", NULL, liveness_reply, g) == 0)
		g->liveness_out = true;
}

static void liveness_start(struct tsd_qmp_guest *g)
{
	unsigned ms = g->qb->pub.host->call_timeout_ms;
	struct timeval tv;

	if (ms < 1000)
		ms = 1000;
	tv = (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
	if (!g->liveness_timer &&
	    !(g->liveness_timer = event_new(g->qb->base, -1, EV_PERSIST, liveness_cb, g)))
		return;
	event_add(g->liveness_timer, &tv);
}

static void liveness_stop(struct tsd_qmp_guest *g)
{
	if (g->liveness_timer)
		event_del(g->liveness_timer);
}

struct tsd_qmp_op *tsd_qmp_op_new(struct tsd_qmp *qb, struct tsd_qmp_guest *g, enum tsd_op_kind kind)
{
	struct tsd_qmp_op *op = tsd_op_new(&qb->pub, sizeof(*op), kind, tsd_qmp_op_dispose, NULL);
	if (!op)
		return NULL;
	op->base.before_delivery = tsd_qmp_op_before_delivery;
	op->base.after_delivery = tsd_qmp_op_after_delivery;
	op->base.on_timeout = op_timeout;
	op->qb = qb;
	op->g = g;
	return op;
}

/* ---- guests: connect, probe, events, disconnect --------------------------------- */

static void name_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	json_object *v;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (op->g && ret && json_object_object_get_ex(ret, "name", &v) &&
	    json_object_is_type(v, json_type_string) && *json_object_get_string(v))
		snprintf(op->g->info.name, sizeof(op->g->info.name), "%s", json_object_get_string(v));
	tsd_qmp_reply_leave(op);
}

static void uuid_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	json_object *v;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	/* QEMU answers all zeros when -uuid was not given: that is no uuid. */
	if (op->g && ret && json_object_object_get_ex(ret, "UUID", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "00000000-0000-0000-0000-000000000000") != 0)
		snprintf(op->g->info.uuid, sizeof(op->g->info.uuid), "%s", json_object_get_string(v));
	tsd_qmp_reply_leave(op);
}

static void machine_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (op->g && ret && json_object_is_type(ret, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(ret); i++) {
			json_object *p = json_object_array_get_idx(ret, i), *n, *t;
			if (!json_object_object_get_ex(p, "name", &n) ||
			    !json_object_object_get_ex(p, "type", &t))
				continue;
			const char *name = json_object_get_string(n), *type = json_object_get_string(t);
			if (strcmp(name, "i440fx") == 0 || strcmp(type, "child<i440FX-pcihost>") == 0)
				op->g->machine = QMP_MACHINE_PC;
			else if (strcmp(name, "q35") == 0 || strcmp(type, "child<q35-pcihost>") == 0)
				op->g->machine = QMP_MACHINE_Q35;
		}
	}
	tsd_qmp_reply_leave(op);
}

/* ---- what decides the 64-bit window besides the host bridge --------------------- */

enum { FACT_TYPE, FACT_PFLASH0, FACT_BIOS, FACT_CPUS, FACT_PHYS_BITS, FACT_VENDOR };

struct fact_req {
	struct tsd_qmp_op *op;
	int what;
};

static void fact_reply(void *ud, json_object *ret, const char *cls, const char *desc);

static void fact_ask(struct tsd_qmp_op *op, int what, const char *cmd, const char *path,
		     const char *prop)
{
	struct fact_req *fr = malloc(sizeof(*fr));
	json_object *args = path ? json_object_new_object() : NULL;

	if (!fr || (path && !args) || !op->g || !op->g->conn) {
		free(fr);
		json_object_put(args);
		return;
	}
	*fr = (struct fact_req){ .op = op, .what = what };
	if (path) {
		json_object_object_add(args, "path", json_object_new_string(path));
		json_object_object_add(args, "property", json_object_new_string(prop));
	}
	if (qmp_send(op->g->conn, cmd, args, fact_reply, fr) < 0) {
		free(fr);
		return;
	}
	op->base.pending++;
}

/* A missing answer leaves the fact unknown (an older QEMU, another CPU
 * model): the window is read all the same. */
static void fact_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct fact_req *fr = ud;
	struct tsd_qmp_op *op = fr->op;
	struct tsd_qmp_guest *g = op->g;
	const char *str = ret && json_object_is_type(ret, json_type_string) ?
			  json_object_get_string(ret) : NULL;
	int what = fr->what;
	json_object *v;
	uint64_t u;

	free(fr);
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	switch (g && ret ? what : -1) {
	case FACT_TYPE:
		g->machine_version = qmp_map_machine_version(str);
		break;
	case FACT_PFLASH0:
		snprintf(g->fw_pflash0, sizeof(g->fw_pflash0), "%s", str ? str : "");
		break;
	case FACT_BIOS:
		snprintf(g->fw_bios, sizeof(g->fw_bios), "%s", str ? str : "");
		break;
	case FACT_CPUS:
		/* the first vCPU speaks for all */
		if (json_object_is_type(ret, json_type_array) && json_object_array_length(ret) &&
		    json_object_object_get_ex(json_object_array_get_idx(ret, 0), "qom-path", &v) &&
		    json_object_is_type(v, json_type_string)) {
			char path[128];
			snprintf(path, sizeof(path), "%s", json_object_get_string(v));
			fact_ask(op, FACT_PHYS_BITS, "qom-get", path, "phys-bits");
			fact_ask(op, FACT_VENDOR, "qom-get", path, "vendor");
		}
		break;
	case FACT_PHYS_BITS:
		if (qmp_map_u64(ret, &u) && u < 64)
			g->phys_bits = (unsigned)u;
		break;
	case FACT_VENDOR:
		g->cpu_amd = str && strcmp(str, "AuthenticAMD") == 0;
		break;
	}
	tsd_qmp_reply_leave(op);
}

/* X-PciMmio64Mb from the command line of the QEMU at the other end of the
 * socket; 0 when it is not given or cannot be read (another user's QEMU
 * under ProtectProc=invisible, a socket forwarded from elsewhere). */
static uint64_t cmdline_mmio64_mb(const struct tsd_qmp_guest *g)
{
	pid_t pid = qmp_conn_peer_pid(g->conn);
	char path[64], buf[16384];
	size_t n = 0;
	ssize_t r;
	int fd;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)r;
	close(fd);
	return qmp_map_cmdline_mmio64_mb(buf, n);
}

static void probe_facts(struct tsd_qmp_guest *g, struct tsd_qmp_op *op)
{
	g->phys_bits = 0;
	g->cpu_amd = false;
	g->machine_version = 0;
	g->fw_pflash0[0] = g->fw_bios[0] = '\0';
	g->ovmf_mmio64_mb = cmdline_mmio64_mb(g);
	fact_ask(op, FACT_TYPE, "qom-get", "/machine", "type");
	fact_ask(op, FACT_PFLASH0, "qom-get", "/machine", "pflash0");
	fact_ask(op, FACT_BIOS, "qom-get", "/machine", "firmware");
	fact_ask(op, FACT_CPUS, "query-cpus-fast", NULL, NULL);
}

static void background_refresh(struct tsd_qmp_guest *g);

/* A guest met before its firmware placed the boot devices: read it again
 * after 2, 4 ... 64 s (OVMF takes a minute under TCG) until it has, so
 * that its windows stop being assumed without waiting for a change. */
static void settle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_qmp_guest *g = arg;
	(void)fd;
	(void)what;
	if (g->st != G_UP || !g->unsettled)
		return;
	background_refresh(g);
	g->settle_s *= 2;
	if (g->settle_s <= 64) {
		struct timeval tv = { .tv_sec = g->settle_s };
		evtimer_add(g->settle_timer, &tv);
	}
}

static void settle_start(struct tsd_qmp_guest *g)
{
	struct timeval tv = { .tv_sec = 2 };
	if (!g->unsettled ||
	    (!g->settle_timer && !(g->settle_timer = evtimer_new(g->qb->base, settle_cb, g))))
		return;
	g->settle_s = 2;
	evtimer_add(g->settle_timer, &tv);
}

static void probe_announce(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	struct tsd_qmp *qb = op->qb;

	g->st = G_UP;
	g->probe = NULL;
	tsd_log(&qb->pub, LOG_INFO, "guest %s (%s): QEMU %s, %s machine, %d free slot(s)", g->id, g->info.name,
	     qmp_conn_version(g->conn),
	     g->machine == QMP_MACHINE_PC ? "pc" : g->machine == QMP_MACHINE_Q35 ? "q35" : "unknown",
	     g->layout.free_slots);
	tsd_qmp_op_finish(op, TSD_OK, NULL);
	if (qb->pub.host->guest_up)
		qb->pub.host->guest_up(qb->pub.host->ud, &qb->pub, &g->info, &g->layout);
	settle_start(g);
}

static void lpc_hotplug_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (op->g && ret && json_object_is_type(ret, json_type_boolean))
		op->g->native_hotplug = !json_object_get_boolean(ret);
	tsd_qmp_reply_leave(op);
}

static void probe_layout(struct tsd_qmp_op *op)
{
	tsd_qmp_layout_read(op, probe_announce);
}

static void probe_lpc(struct tsd_qmp_op *op)
{
	json_object *args;

	if (!op->lpc_path[0]) {
		probe_layout(op);
		return;
	}
	args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string(op->lpc_path));
	json_object_object_add(args, "property",
			       json_object_new_string("acpi-pci-hotplug-with-bridge-support"));
	op->on_all = probe_layout;
	if (tsd_qmp_op_send(op, "qom-get", args, lpc_hotplug_reply) < 0 && op->base.pending == 0) {
		op->on_all = NULL;
		tsd_qmp_op_finish(op, op->err_rc, "%s", op->err_msg);
	}
}

/* QEMU 7.2 puts ICH9-LPC at /machine/unattached/device[N]. */
static void unattached_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (ret && json_object_is_type(ret, json_type_array))
		for (size_t i = 0; i < json_object_array_length(ret); i++) {
			json_object *p = json_object_array_get_idx(ret, i), *n, *t;
			if (json_object_object_get_ex(p, "name", &n) &&
			    json_object_object_get_ex(p, "type", &t) &&
			    strcmp(json_object_get_string(t), "child<ICH9-LPC>") == 0)
				snprintf(op->lpc_path, sizeof(op->lpc_path), "/machine/unattached/%s",
					 json_object_get_string(n));
		}
	tsd_qmp_reply_leave(op);
}

static void probe_basics(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	g->native_hotplug = false;
	g->firmware = qmp_map_firmware(g->fw_pflash0, g->fw_bios[0] ? g->fw_bios : NULL);
	if (g->machine == QMP_MACHINE_UNKNOWN) {
		g->info.can_attach = false;
		snprintf(g->info.why_not, sizeof(g->info.why_not),
			 "QEMU machine has no i440FX or Q35 host bridge (only pc and q35 are supported)");
	}
	if (g->machine == QMP_MACHINE_Q35) {
		/* Which hot-plug driver the guest uses behind root ports. */
		json_object *args = json_object_new_object();
		json_object_object_add(args, "path", json_object_new_string("/machine/unattached"));
		op->lpc_path[0] = '\0';
		op->on_all = probe_lpc;
		if (tsd_qmp_op_send(op, "qom-list", args, unattached_reply) < 0 && op->base.pending == 0) {
			op->on_all = NULL;
			tsd_qmp_op_finish(op, op->err_rc, "%s", op->err_msg);
		}
		return;
	}
	tsd_qmp_layout_read(op, probe_announce);
}

static void probe_start(struct tsd_qmp_guest *g)
{
	struct tsd_qmp_op *op = tsd_qmp_op_new(g->qb, g, TSD_OP_INTERNAL);
	json_object *args = json_object_new_object();
	if (!op || !args) {
		json_object_put(args);
		if (op)
			tsd_qmp_op_free(op);
		guest_disconnect(g, false);
		return;
	}
	g->probe = op;
	snprintf(g->info.id, sizeof(g->info.id), "%s", g->id);
	snprintf(g->info.name, sizeof(g->info.name), "%s", g->id);
	g->info.uuid[0] = '\0';
	g->info.can_attach = true;
	g->info.why_not[0] = '\0';
	g->machine = QMP_MACHINE_UNKNOWN;
	json_object_object_add(args, "path", json_object_new_string("/machine"));
	tsd_qmp_op_send(op, "query-name", NULL, name_reply);
	tsd_qmp_op_send(op, "query-uuid", NULL, uuid_reply);
	tsd_qmp_op_send(op, "qom-list", args, machine_reply);
	probe_facts(g, op);
	op->on_all = probe_basics;
	if (op->base.pending == 0)
		tsd_qmp_op_finish(op, TSD_E_NOGUEST, "QMP connection is down");
}

/* A background refresh after a change nobody here made (DEVICE_DELETED of
 * a device mmiod did not detach): ends in host->guest_changed. */
static void background_refresh(struct tsd_qmp_guest *g)
{
	struct tsd_qmp_op *op = tsd_qmp_op_new(g->qb, g, TSD_OP_REFRESH);
	if (!op)
		return;
	op->changed = true;
	tsd_qmp_layout_read(op, NULL);
}


static void detach_removed(struct tsd_qmp_op *op)
{
	snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%s", op->dev_id);
	op->changed = true;
	tsd_qmp_op_finish(op, TSD_OK, "removed %s", op->dev_id);
}

static void on_event(void *ud, const char *event, json_object *data)
{
	struct tsd_qmp_guest *g = ud;
	struct tsd_qmp *qb = g->qb;
	json_object *v;

	if (strcmp(event, "DEVICE_DELETED") == 0) {
		const char *dev = NULL;
		bool mine = false;
		if (data && json_object_object_get_ex(data, "device", &v) &&
		    json_object_is_type(v, json_type_string))
			dev = json_object_get_string(v);
		for (struct tsd_op *o = qb->pub.ops; dev && o; o = o->next) {
			struct tsd_qmp_op *op = (struct tsd_qmp_op *)o;
			if (op->g == g && op->base.kind == TSD_OP_DETACH && op->waiting_event &&
			    strcmp(op->dev_id, dev) == 0) {
				op->waiting_event = false;
				op->got_event = true;
				event_del(op->timer);
				tsd_qmp_layout_read(op, detach_removed);
				mine = true;
			}
		}
		if (!mine && g->st == G_UP)
			background_refresh(g);
	} else if (strcmp(event, "SHUTDOWN") == 0) {
		tsd_log(&qb->pub, LOG_INFO, "guest %s: shut down", g->id);
		/* If QEMU lives on (-no-shutdown), the next scan finds it again. */
		guest_disconnect(g, true);
	}
}

static void on_state(void *ud, enum qmp_state st, bool refused, const char *why)
{
	struct tsd_qmp_guest *g = ud;
	struct tsd_qmp *qb = g->qb;

	if (st == QMP_READY) {
		g->logged_refused = false;
		g->logged_silent = false;
		g->refusals = 0;
		g->st = G_PROBING;
		probe_start(g);
		return;
	}
	if (refused) {
		g->refusals++;
		/* A stale socket or QEMU not listening yet: quietly, once. */
		if (!g->logged_refused)
			tsd_log(&qb->pub, LOG_DEBUG, "guest %s: %s; will retry", g->id, why);
		g->logged_refused = true;
	} else if (g->st == G_UP || g->st == G_PROBING) {
		tsd_log(&qb->pub, LOG_INFO, "guest %s: %s", g->id, why);
	}
	guest_disconnect(g, true);
}

/* QEMU sent something: it answers again. */
static void on_heard(void *ud)
{
	struct tsd_qmp_guest *g = ud;
	struct tsd_qmp *qb = g->qb;

	if (!g->unresponsive)
		return;
	g->unresponsive = false;
	liveness_stop(g);
	tsd_log(&qb->pub, LOG_NOTICE, "guest %s: QEMU answers again", g->id);
	tsd_guest_answering(&qb->pub, g->id, true, NULL);
}

/* A socket that accepts but never greets: another client holds QEMU's
 * monitor (one client at a time), or QEMU is stopped.  Not an error, the
 * greeting comes when that ends; said once. */
static void greeting_late(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_qmp_guest *g = arg;
	(void)fd;
	(void)what;
	if (g->st != G_CONNECTING || g->logged_silent)
		return;
	g->logged_silent = true;
	tsd_log(&g->qb->pub, LOG_NOTICE, "guest %s: %s accepts connections but QEMU sent no "
		"greeting within %u ms (another QMP client connected, or QEMU stopped); waiting",
		g->id, g->path, g->qb->pub.host->call_timeout_ms);
}

static void guest_connect(struct tsd_qmp_guest *g)
{
	struct qmp_callbacks cb = { .state = on_state, .event = on_event, .heard = on_heard,
				    .ud = g };
	unsigned ms = g->qb->pub.host->call_timeout_ms;

	g->conn = qmp_conn_new(g->qb->base, g->path, &cb);
	if (!g->conn) {
		tsd_log(&g->qb->pub, LOG_WARNING, "guest %s: %s", g->id, strerror(errno));
		g->retry_at = now_mono();
		g->retry_at.tv_sec += RETRY_S;
		return;
	}
	g->st = G_CONNECTING;
	if (ms && (g->greeting_timer || (g->greeting_timer = evtimer_new(g->qb->base, greeting_late, g)))) {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		evtimer_add(g->greeting_timer, &tv);
	}
}

/* Drops the connection; every operation of the guest ends (NOGUEST).  tell:
 * announce guest_down when the guest was up. */
static void guest_disconnect(struct tsd_qmp_guest *g, bool tell)
{
	struct tsd_qmp *qb = g->qb;
	bool was_up = g->st == G_UP;
	struct qmp_conn *c = g->conn;

	g->conn = NULL;
	g->st = G_IDLE;
	g->probe = NULL;
	g->unresponsive = false;        /* a new connection starts afresh */
	liveness_stop(g);
	if (g->greeting_timer)
		evtimer_del(g->greeting_timer);
	if (g->settle_timer)
		evtimer_del(g->settle_timer);
	g->unsettled = false;
	g->retry_at = now_mono();
	/* The first refusal retries at the next scan (QEMU may have bound its
	 * socket but not be listening yet); later ones every RETRY_S. */
	g->retry_at.tv_sec += g->refusals > 1 ? RETRY_S : 0;
	for (struct tsd_op *o = qb->pub.ops; o; o = o->next) {
		struct tsd_qmp_op *op = (struct tsd_qmp_op *)o;
		if (op->g == g) {
			op->g = NULL;
			op->orphaned = true;
			op->busy[0] = '\0';
		}
	}
	/* Pending replies come back "Disconnected" from inside this call. */
	qmp_conn_free(c);
	for (struct tsd_op *o = qb->pub.ops, *next; o; o = next) {
		struct tsd_qmp_op *op = (struct tsd_qmp_op *)o;
		next = o->next;
		if (op->orphaned && !op->base.finished)
			tsd_qmp_op_finish(op, TSD_E_NOGUEST, "guest %s went away", g->id);
	}
	memset(g->busy, 0, sizeof(g->busy));
	free(g->children);
	g->children = NULL;
	g->nchildren = 0;
	tsd_layout_clear(&g->layout);
	if (was_up && tell && qb->pub.host->guest_down)
		qb->pub.host->guest_down(qb->pub.host->ud, &qb->pub, g->id);
}

void tsd_qmp_guest_remove(struct tsd_qmp *qb, struct tsd_qmp_guest *g, bool tell)
{
	struct tsd_qmp_guest **pp;
	guest_disconnect(g, tell);
	for (pp = &qb->guests; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	if (g->greeting_timer)
		event_free(g->greeting_timer);
	if (g->liveness_timer)
		event_free(g->liveness_timer);
	if (g->settle_timer)
		event_free(g->settle_timer);
	free(g);
}

/* ---- the directory (sockdir.c watches it) ------------------------------------------ */

void tsd_qmp_scanned(void *ud, const struct sockdir_entry *v, size_t n, int errnum)
{
	struct tsd_qmp *qb = ud;
	struct tsd_qmp_guest **pp, *g;

	if (errnum) {
		if (!qb->logged_nodir)
			tsd_log(&qb->pub, LOG_WARNING, "%s: %s; watching for it", qb->dir, strerror(errnum));
		qb->logged_nodir = true;
		while (qb->guests)
			tsd_qmp_guest_remove(qb, qb->guests, true);
		return;
	}
	qb->logged_nodir = false;
	for (g = qb->guests; g; g = g->next)
		g->seen = false;
	for (size_t i = 0; i < n; i++) {
		const struct sockdir_entry *e = &v[i];
		g = guest_find(qb, e->id);
		if (g && strcmp(g->path, e->path) != 0)
			continue;       /* "vm.sock" and "vm.qmp": the first one wins */
		if (g && (g->dev != e->dev || g->ino != e->ino)) {
			/* A new QEMU bound the same path. */
			tsd_qmp_guest_remove(qb, g, true);
			g = NULL;
		}
		if (!g) {
			g = calloc(1, sizeof(*g));
			if (!g)
				break;
			g->qb = qb;
			snprintf(g->id, sizeof(g->id), "%s", e->id);
			snprintf(g->path, sizeof(g->path), "%s", e->path);
			g->dev = e->dev;
			g->ino = e->ino;
			g->st = G_IDLE;
			g->layout.free_slots = -1;
			g->retry_at = now_mono();
			g->next = qb->guests;
			qb->guests = g;
		}
		g->seen = true;
	}
	for (pp = &qb->guests; *pp;) {
		g = *pp;
		if (!g->seen) {
			tsd_qmp_guest_remove(qb, g, true);
			continue;       /* *pp is now the next one */
		}
		pp = &g->next;
	}
	struct timespec now = now_mono();
	for (g = qb->guests; g; g = g->next)
		if (g->st == G_IDLE && !ts_before(now, g->retry_at))
			guest_connect(g);
}

struct tsd_qmp_guest *tsd_qmp_guest_up_find(struct tsd_qmp *qb, const char *id, struct mmio_error *err)
{
	struct tsd_qmp_guest *g = id ? guest_find(qb, id) : NULL;
	if (!g || g->st != G_UP) {
		mmio_error_set(err, MMIO_E_NOTFOUND, "qmp: no guest %s%s", id ? id : "(null)",
			       g ? " (not connected)" : "");
		return NULL;
	}
	return g;
}
