/* SPDX-License-Identifier: MIT */
/*
 * toolstack-qmp-attach.c — attach and detach over QMP: device_add of a device
 * or of each function of a slot at the place mmiod chose, the result read
 * back and compared with the declaration; device_del and the wait for the
 * guest to let the device go.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "strbuf.h"
#include "toolstack-qmp-internal.h"

#define NOTFOUND_GRACE_MS    500
#define BOOKS_QMP_SPEC_MAX   256       /* one function's part of a qemu-device spec */

static void attach_added(struct tsd_qmp_op *op);

static void undo_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	(void)ret;
	(void)cls;
	(void)desc;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	tsd_qmp_reply_leave(op);
}

static void add_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (!ret && !op->err_rc && op->int_retries < 16 && op->g &&
	    qmp_map_typed_retry(op->add_args, desc)) {
		/* one property at a time, as QEMU names them; bounded */
		op->int_retries++;
		if (tsd_qmp_op_send(op, "device_add", json_object_get(op->add_args), add_reply) == 0) {
			tsd_qmp_reply_leave(op);
			return;
		}
	}
	if (!ret && !op->err_rc) {
		op->err_rc = TSD_E_FAILED;
		snprintf(op->err_msg, sizeof(op->err_msg), "device_add %s: %s",
			 op->nfn ? op->fn_id[op->next_fn - 1] : op->dev_id, desc);
		/* the functions QEMU took already never reached the guest
		 * (function 0 comes last): take them out again */
		for (unsigned i = 0; op->nfn && i + 1 < op->next_fn; i++) {
			json_object *args = json_object_new_object();
			if (!args)
				break;
			json_object_object_add(args, "id", json_object_new_string(op->fn_id[i]));
			if (tsd_qmp_op_send(op, "device_del", args, undo_reply) == 0)
				strbuf_appendf(op->err_msg, sizeof(op->err_msg), "%s%s",
					       i ? ", " : "; device_del requested for ", op->fn_id[i]);
		}
	} else if (ret && op->nfn && op->next_fn < op->nfn && op->g) {
		/* the next function of the slot */
		json_object_put(op->add_args);
		op->add_args = json_object_get(op->fn_args[op->next_fn++]);
		op->int_retries = 0;
		tsd_op_deadline(&op->base, op->qb->pub.host->attach_timeout_ms);
		if (tsd_qmp_op_send(op, "device_add", json_object_get(op->add_args), add_reply) < 0 && !op->err_rc) {
			op->err_rc = TSD_E_NOGUEST;
			snprintf(op->err_msg, sizeof(op->err_msg), "QMP connection lost");
		}
	}
	tsd_qmp_reply_leave(op);
}

static void attach_place(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	char key[64] = "";
	json_object *busv;

	if (op->want_port[0]) {
		/* mmiod's books chose the port (its windows are what the
		 * placement was computed in): plug exactly there. */
		if (json_object_object_get_ex(op->add_args, "bus", &busv) &&
		    strcmp(json_object_get_string(busv), op->want_port) != 0) {
			tsd_qmp_op_finish(op, TSD_E_FAILED,
				  "guest %s: the device spec says bus=%s but mmiod placed the device "
				  "behind port %s", g->id, json_object_get_string(busv), op->want_port);
			return;
		}
		json_object_object_add(op->add_args, "bus", json_object_new_string(op->want_port));
		if (tsd_qmp_busy_add(g, op->want_port))
			snprintf(op->busy, sizeof(op->busy), "%s", op->want_port);
	} else if (!json_object_object_get_ex(op->add_args, "bus", NULL) &&
	    !json_object_object_get_ex(op->add_args, "addr", NULL)) {
		if (g->machine == QMP_MACHINE_PC) {
			for (int slot = 1; slot < 32 && !key[0]; slot++) {
				char k[16];
				snprintf(k, sizeof(k), "0x%x", slot);
				if (!(op->slots.root_used & (UINT32_C(1) << slot)) && !tsd_qmp_busy_has(g, k))
					snprintf(key, sizeof(key), "%s", k);
			}
			if (!key[0]) {
				tsd_qmp_op_finish(op, TSD_E_FAILED, "guest %s: no free slot on pci.0", g->id);
				return;
			}
			json_object_object_add(op->add_args, "bus", json_object_new_string("pci.0"));
			json_object_object_add(op->add_args, "addr", json_object_new_string(key));
		} else if (g->machine == QMP_MACHINE_Q35) {
			for (unsigned i = 0; i < op->slots.nports && !key[0]; i++)
				if (!tsd_qmp_busy_has(g, op->slots.ports[i]))
					snprintf(key, sizeof(key), "%s", op->slots.ports[i]);
			if (!key[0]) {
				tsd_qmp_op_finish(op, TSD_E_FAILED,
					  "guest %s: no empty pcie-root-port with an id to hot-plug into "
					  "(q35's pcie.0 does not support hot-plug; start QEMU with spare "
					  "-device pcie-root-port,id=...)", g->id);
				return;
			}
			json_object_object_add(op->add_args, "bus", json_object_new_string(key));
		}
		if (key[0] && tsd_qmp_busy_add(g, key))
			snprintf(op->busy, sizeof(op->busy), "%s", key);
	}
	/* device_add of a vfio-pci device maps (pins) guest RAM: its own,
	 * longer deadline */
	tsd_op_deadline(&op->base, op->qb->pub.host->attach_timeout_ms);
	if (op->nfn) {
		/* the slot's functions at the bus and slot function 0 got */
		json_object *bv = NULL, *av = NULL;
		char bus[64] = "";
		unsigned long slot = 0;

		/* copied out: setting "bus" and "addr" below frees the old values */
		if (json_object_object_get_ex(op->add_args, "bus", &bv))
			snprintf(bus, sizeof(bus), "%s", json_object_get_string(bv));
		if (json_object_object_get_ex(op->add_args, "addr", &av))
			slot = strtoul(json_object_get_string(av), NULL, 16);
		for (unsigned i = 0; i < op->nfn; i++) {
			json_object *a = op->fn_args[i];
			char fa[16];
			unsigned fn = op->fn_num[i];
			if (bus[0])
				json_object_object_add(a, "bus", json_object_new_string(bus));
			snprintf(fa, sizeof(fa), "0x%lx.%x", slot, fn);
			json_object_object_add(a, "addr", json_object_new_string(fa));
			if (fn == 0)
				json_object_object_add(a, "multifunction", json_object_new_string("on"));
		}
		json_object_put(op->add_args);
		op->add_args = json_object_get(op->fn_args[0]);
		op->next_fn = 1;
	}
	tsd_qmp_op_send(op, "device_add", json_object_get(op->add_args), add_reply);
	op->on_all = attach_added;
	if (op->base.pending == 0)
		tsd_qmp_op_finish(op, op->err_rc ? op->err_rc : TSD_E_NOGUEST, "%s", op->err_msg);
}

static void attach_checked(struct tsd_qmp_op *op);

static void attach_added(struct tsd_qmp_op *op)
{
	tsd_qmp_layout_read(op, attach_checked);
}

static void mismatch_del_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	size_t n;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	n = strlen(op->base.res.msg);
	if (ret)
		snprintf(op->base.res.msg + n, sizeof(op->base.res.msg) - n,
			 "; device_del %s requested (on pc it stays until the guest OS ejects it)",
			 op->dev_id);
	else
		snprintf(op->base.res.msg + n, sizeof(op->base.res.msg) - n, "; device_del %s failed: %s",
			 op->dev_id, desc);
	op->err_rc = 0;         /* the result is the mismatch, whatever device_del said */
	tsd_qmp_reply_leave(op);
}

static void attach_mismatch_done(struct tsd_qmp_op *op)
{
	op->changed = true;
	tsd_qmp_op_finish(op, TSD_E_MISMATCH, NULL);
}

/* Compares every function of the device with what QEMU built. */
static bool compare_functions(struct tsd_qmp_op *op, char *diff, size_t len)
{
	struct mmio_device *f;
	bool same = true;

	if (!op->nfn)
		return qmp_map_compare(&op->decl, &op->base.layout, op->dev_id, op->host_dev, diff, len);
	f = malloc(sizeof(*f));
	if (!f)
		return true;    /* nothing to compare with: the attach stands */
	diff[0] = '\0';
	for (unsigned i = 0; i < op->nfn; i++) {
		unsigned fn = op->fn_num[i];
		const struct mmio_function *mf = mmio_device_function(&op->decl, fn);
		char d1[300];

		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s function %u", op->decl.name, fn);
		for (unsigned b = 0; b < op->decl.nbars; b++)
			if (op->decl.bars[b].fn == fn) {
				f->bars[f->nbars] = op->decl.bars[b];
				f->bars[f->nbars++].fn = 0;
			}
		if (!qmp_map_compare(f, &op->base.layout, op->fn_id[i], mf && mf->has_bdf, d1, sizeof(d1))) {
			strbuf_appendf(diff, len, "%sfunction %u: %s", same ? "" : "; ", fn, d1);
			same = false;
		}
	}
	free(f);
	return same;
}

static void attach_checked(struct tsd_qmp_op *op)
{
	char diff[400];
	const char *slot = "";

	for (size_t i = 0; i < op->base.layout.nbars; i++)
		if (strcmp(op->base.layout.bars[i].device, op->dev_id) == 0) {
			slot = op->base.layout.bars[i].guest_slot;
			break;
		}
	if (op->has_decl && !qmp_map_has_device(op->pci, op->dev_id)) {
		/* Behind a root port the firmware has not numbered yet (-S):
		 * QEMU accepted the device but query-pci cannot show it. */
		snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%s", op->dev_id);
		op->changed = true;
		tsd_qmp_op_finish(op, TSD_OK,
			  "attached %s; query-pci does not show it yet (behind a bridge the firmware "
			  "has not numbered), so its BARs were not checked", op->dev_id);
		return;
	}
	if (op->has_decl && !compare_functions(op, diff, sizeof(diff))) {
		json_object *args = json_object_new_object();
		snprintf(op->base.res.msg, sizeof(op->base.res.msg),
			 "QEMU device %s does not match %s: %s", op->dev_id, op->decl.name, diff);
		if (args)
			json_object_object_add(args, "id", json_object_new_string(op->dev_id));
		tsd_qmp_op_send(op, "device_del", args, mismatch_del_reply);
		op->on_all = attach_mismatch_done;
		if (op->base.pending == 0)
			attach_mismatch_done(op);
		return;
	}
	snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%s", op->dev_id);
	op->changed = true;
	if (op->nfn)
		tsd_qmp_op_finish(op, TSD_OK, "attached %s (%u functions) at %s", op->dev_id, op->nfn,
			  slot[0] ? slot : "(no BARs)");
	else
		tsd_qmp_op_finish(op, TSD_OK, "attached %s at %s", op->dev_id, slot[0] ? slot : "(no BARs)");
}

/* The device_add arguments of one function: vfio-pci for a host function,
 * else its part of the QEMU device spec. */
static json_object *function_args(const struct mmio_function *f, const char *spec_part,
				  struct mmio_error *err)
{
	json_object *args;

	if (f && f->has_bdf && !*spec_part) {
		char bdf[16];
		mmio_bdf_format(&f->bdf, bdf, sizeof(bdf));
		args = json_object_new_object();
		if (!args) {
			mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
			return NULL;
		}
		json_object_object_add(args, "driver", json_object_new_string("vfio-pci"));
		json_object_object_add(args, "host", json_object_new_string(bdf));
		return args;
	}
	if (!*spec_part) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: function %u is not a host device and has no QEMU device spec "
			       "(qemu-device: one spec per function, joined with \"+\")", f ? f->fn : 0);
		return NULL;
	}
	args = qmp_map_device_spec(spec_part, err);
	if (args && (json_object_object_get_ex(args, "addr", NULL) ||
		     json_object_object_get_ex(args, "multifunction", NULL))) {
		json_object_put(args);
		mmio_error_set(err, MMIO_E_INVALID,
			       "qmp: \"%.100s\": mmiod sets addr and multifunction of each function of a slot",
			       spec_part);
		return NULL;
	}
	return args;
}

/* A multi-function slot: op->fn_args in sending order (functions other
 * than 0 first), ids "ID" for function 0 and "ID.N" for function N. */
static int slot_args(struct tsd_qmp_op *op, const struct tsd_attach_req *req, struct mmio_error *err)
{
	const struct mmio_device *d = req->device;
	char parts[MMIO_MAX_FUNCTIONS][BOOKS_QMP_SPEC_MAX];
	unsigned nparts = 0;

	memset(parts, 0, sizeof(parts));
	if (req->qemu_device) {
		const char *p = req->qemu_device;
		for (;;) {
			const char *end = strchr(p, '+');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			if (nparts >= MMIO_MAX_FUNCTIONS || len >= sizeof(parts[0])) {
				mmio_error_set(err, MMIO_E_INVALID, "qmp: qemu-device: too many or too long "
					       "function specs");
				return -1;
			}
			memcpy(parts[nparts++], p, len);
			if (!end)
				break;
			p = end + 1;
		}
		if (nparts != d->nfn) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "qmp: qemu-device has %u function specs joined with \"+\", the device "
				       "%u functions", nparts, d->nfn);
			return -1;
		}
	}
	if (strlen(req->attach_id) + 2 >= sizeof(op->fn_id[0])) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: attach id too long for a slot");
		return -1;
	}
	for (unsigned k = 0; k < d->nfn; k++) {
		/* function 0 last */
		unsigned src = k + 1 < d->nfn ? k + 1 : 0;
		const struct mmio_function *f = &d->fns[src];
		json_object *args = function_args(f, parts[src], err);

		if (!args)
			return -1;
		if (f->fn)
			snprintf(op->fn_id[op->nfn], sizeof(op->fn_id[0]), "%s.%u", req->attach_id, f->fn);
		else
			snprintf(op->fn_id[op->nfn], sizeof(op->fn_id[0]), "%s", req->attach_id);
		json_object_object_add(args, "id", json_object_new_string(op->fn_id[op->nfn]));
		op->fn_num[op->nfn] = f->fn;
		op->fn_args[op->nfn++] = args;
	}
	op->add_args = json_object_get(op->fn_args[0]);
	return 0;
}

int tsd_qmp_attach(struct tsd_backend *be, const char *guest_id,
			  const struct tsd_attach_req *req, unsigned flags, tsd_done_fn cb,
			  void *ud, struct mmio_error *err)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	struct tsd_qmp_guest *g;
	struct tsd_qmp_op *op;
	json_object *args;

	tsd_check_flags("qmp", "attach", flags, TSD_ATTACH_KNOWN_FLAGS, err);
	if (flags & TSD_ATTACH_PERSISTENT) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: QEMU has no persistent configuration; add the device to its "
			       "command line yourself");
		return -1;
	}
	if (flags & TSD_ATTACH_ASSIGNABLE) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: cannot make a host device assignable; bind it to vfio-pci first");
		return -1;
	}
	if (!req || !req->attach_id || !*req->attach_id || strlen(req->attach_id) >= 64) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: attach needs an id of 1..63 characters");
		return -1;
	}
	if (!(g = tsd_qmp_guest_up_find(qb, guest_id, err)))
		return -1;
	if (!g->info.can_attach) {
		mmio_error_set(err, MMIO_E_UNSUPPORTED, "qmp: guest %s: %s", g->id, g->info.why_not);
		return -1;
	}
	if (req->device && mmio_device_is_slot(req->device)) {
		args = NULL;    /* one device_add per function: slot_args */
	} else if (req->host_bdf) {
		args = json_object_new_object();
		if (args) {
			json_object_object_add(args, "driver", json_object_new_string("vfio-pci"));
			json_object_object_add(args, "host", json_object_new_string(req->host_bdf));
		}
	} else if (req->qemu_device) {
		args = qmp_map_device_spec(req->qemu_device, err);
		if (!args)
			return -1;
	} else {
		mmio_error_set(err, MMIO_E_UNSUPPORTED,
			       "qmp: cannot attach %s without a QEMU device spec "
			       "(e.g. qemu-device=pci-testdev,membar=1M)",
			       req->device ? req->device->name : "a declared device");
		return -1;
	}
	if (!args && !(req->device && mmio_device_is_slot(req->device))) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	if (args)
		json_object_object_add(args, "id", json_object_new_string(req->attach_id));
	if (!(op = tsd_qmp_op_new(qb, g, TSD_OP_ATTACH))) {
		json_object_put(args);
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	if (args)
		op->add_args = args;
	else if (slot_args(op, req, err) < 0) {
		tsd_qmp_op_free(op);
		return -1;
	}
	op->base.done_cb = cb;
	op->base.ud = ud;
	snprintf(op->dev_id, sizeof(op->dev_id), "%s", req->attach_id);
	if (req->port)
		snprintf(op->want_port, sizeof(op->want_port), "%s", req->port);
	op->host_dev = req->host_bdf != NULL;
	if (req->device) {
		op->decl = *req->device;
		op->has_decl = true;
	}
	/* A fresh query-pci first: the free slot must be free now. */
	if (!tsd_qmp_op_refuse_unresponsive(op))
		tsd_qmp_layout_read(op, attach_place);
	return 0;
}

/* ---- detach ------------------------------------------------------------------------------ */

static bool layout_has_device(const struct tsd_layout *l, const char *dev_id)
{
	for (size_t i = 0; i < l->nbars; i++)
		if (strcmp(l->bars[i].device, dev_id) == 0)
			return true;
	return false;
}

/* device_del said "not found" for a device the last read still showed:
 * QEMU already removed it (a reset or the guest completed an earlier
 * unplug) and its DEVICE_DELETED may come much later on a loaded host.
 * What QEMU has now decides, not how long the event takes. */
static void detach_recheck(struct tsd_qmp_op *op)
{
	if (layout_has_device(&op->base.layout, op->dev_id)) {
		tsd_qmp_op_finish(op, TSD_E_FAILED, "%s", op->err_msg);
		return;
	}
	snprintf(op->base.res.attached_id, sizeof(op->base.res.attached_id), "%s", op->dev_id);
	op->changed = true;
	tsd_qmp_op_finish(op, TSD_OK, "removed %s", op->dev_id);
}

static void del_reply(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct tsd_qmp_op *op = ud;
	if (!tsd_qmp_reply_enter(op, cls, desc))
		return;
	if (op->waiting_event)
		tsd_op_deadline(&op->base, 0);  /* QEMU answered; the rest is the guest's */
	/* "already in the process of unplug": an earlier request is pending,
	 * its DEVICE_DELETED is what we wait for anyway. */
	if (!ret && op->waiting_event && op->g && strcmp(cls, "DeviceNotFound") == 0 &&
	    layout_has_device(&op->g->layout, op->dev_id)) {
		/* Its DEVICE_DELETED no longer completes this op: the re-read does. */
		op->waiting_event = false;
		event_del(op->timer);
		snprintf(op->err_msg, sizeof(op->err_msg), "device_del %s: %s", op->dev_id, desc);
		tsd_qmp_layout_read(op, detach_recheck);
	} else if (!ret && op->waiting_event && op->g && strcmp(cls, "DeviceNotFound") == 0) {
		/* Right after a reset (or an unplug the guest just completed)
		 * the id is already free while DEVICE_DELETED is still on its
		 * way (QEMU 7.2: ~50 ms later).  Wait a little for it. */
		struct timeval tv = { 0, NOTFOUND_GRACE_MS * 1000 };
		op->notfound = true;
		snprintf(op->err_msg, sizeof(op->err_msg), "device_del %s: %s", op->dev_id, desc);
		evtimer_add(op->timer, &tv);
	} else if (!ret && op->waiting_event && op->g && !strstr(desc, "in the process of unplug")) {
		op->waiting_event = false;
		tsd_qmp_op_finish(op, TSD_E_FAILED, "device_del %s: %s", op->dev_id, desc);
		tsd_qmp_op_maybe_free(op);
		return;
	}
	tsd_qmp_reply_leave(op);
}

static void detach_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_qmp_op *op = arg;
	(void)fd;
	(void)what;
	if (!op->waiting_event)
		return;
	op->waiting_event = false;
	if (op->notfound) {
		tsd_qmp_op_finish(op, TSD_E_FAILED, "%s", op->err_msg);
		return;
	}
	tsd_qmp_op_finish(op, TSD_E_TIMEOUT,
		  "QEMU did not remove %s within %u s: the unplug is pending until the guest OS "
		  "ejects the device (on pc, ACPI hot-plug needs a running guest OS with acpiphp; "
		  "without one it completes only at the next reset); the device is still there",
		  op->dev_id, op->qb->unplug_timeout_ms / 1000);
}

int tsd_qmp_detach(struct tsd_backend *be, const char *guest_id, const char *attached_id,
			  unsigned flags, tsd_done_fn cb, void *ud, struct mmio_error *err)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	struct tsd_qmp_guest *g;
	struct tsd_qmp_op *op;
	json_object *args;
	struct timeval tv;

	tsd_check_flags("qmp", "detach", flags, 0, err);
	if (!attached_id || !*attached_id || strlen(attached_id) >= 64) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: detach needs an id of 1..63 characters");
		return -1;
	}
	if (!(g = tsd_qmp_guest_up_find(qb, guest_id, err)))
		return -1;
	if (!(op = tsd_qmp_op_new(qb, g, TSD_OP_DETACH)) ||
	    !(op->timer = evtimer_new(qb->base, detach_timeout, op)) ||
	    !(args = json_object_new_object())) {
		if (op)
			tsd_qmp_op_free(op);
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	op->base.done_cb = cb;
	op->base.ud = ud;
	snprintf(op->dev_id, sizeof(op->dev_id), "%s", attached_id);
	if (tsd_qmp_op_refuse_unresponsive(op)) {
		json_object_put(args);
		return 0;
	}
	/* device_del's reply is QEMU's to give; the unplug is the guest OS's
	 * (the unplug timer below) */
	tsd_op_deadline(&op->base, qb->pub.host->call_timeout_ms);
	/* Waiting before sending: on q35 DEVICE_DELETED may come before the reply. */
	op->waiting_event = true;
	json_object_object_add(args, "id", json_object_new_string(attached_id));
	if (tsd_qmp_op_send(op, "device_del", args, del_reply) < 0) {
		tsd_qmp_op_free(op);
		mmio_error_set(err, MMIO_E_NOTFOUND, "qmp: guest %s: QMP connection is down", guest_id);
		return -1;
	}
	tv.tv_sec = qb->unplug_timeout_ms / 1000;
	tv.tv_usec = (qb->unplug_timeout_ms % 1000) * 1000;
	evtimer_add(op->timer, &tv);
	return 0;
}
