/* SPDX-License-Identifier: MIT */
/* toolstack.c — the operation base every back end builds on, and the small
 * helpers they share (the back ends compiled in: toolstack-registry.c). */
#include "config.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "toolstack.h"

const char *tsd_rc_name(enum tsd_rc rc)
{
	switch (rc) {
	case TSD_OK: return "ok";
	case TSD_E_FAILED: return "failed";
	case TSD_E_UNASSIGNED: return "unassigned";
	case TSD_E_NOGUEST: return "no-guest";
	case TSD_E_NOTSUPPORTED: return "not-supported";
	case TSD_E_TIMEOUT: return "timeout";
	case TSD_E_MISMATCH: return "mismatch";
	case TSD_E_UNRESPONSIVE: return "unresponsive";
	}
	return "unknown";
}

bool tsd_spec_value(const char *spec, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = spec;

	/* items are separated by a single ','; ",," stays inside an item */
	while (p && *p) {
		const char *q = p;
		size_t n = 0;
		bool match = strncmp(p, key, klen) == 0 && p[klen] == '=';
		if (match)
			q = p + klen + 1;
		for (; *q; q++) {
			if (*q == ',' && q[1] == ',') {
				if (match && n + 1 < len)
					buf[n] = ',';
				n++;
				q++;
				continue;
			}
			if (*q == ',')
				break;
			if (match && n + 1 < len)
				buf[n] = *q;
			n++;
		}
		if (match) {
			if (n + 1 > len)
				return false;
			buf[n] = '\0';
			return true;
		}
		p = *q ? q + 1 : NULL;
	}
	return false;
}

/* ---- the operation base ------------------------------------------------------ */

static void op_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_op *op = arg;
	(void)fd;
	(void)what;

	op->delivered = true;
	if (op->before_delivery)
		op->before_delivery(op);
	if (op->kind == TSD_OP_REFRESH && op->layout_cb)
		op->layout_cb(op->ud, op->res.rc,
			      op->res.rc == TSD_OK && op->have_layout ? &op->layout : NULL,
			      op->res.rc == TSD_OK ? NULL : op->res.msg);
	else if ((op->kind == TSD_OP_ATTACH || op->kind == TSD_OP_DETACH) && op->done_cb)
		op->done_cb(op->ud, &op->res);
	if (op->after_delivery)
		op->after_delivery(op);
	tsd_op_release(op);
}

static void op_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_op *op = arg;
	(void)fd;
	(void)what;

	if (op->finished)
		return;
	op->pending++;          /* op stays while the back end's hook runs */
	if (op->on_timeout)
		op->on_timeout(op);
	/* a hook that re-armed the deadline waits longer */
	if (!evtimer_pending(op->deadline_ev, NULL))
		tsd_op_finish(op, TSD_E_UNRESPONSIVE, "%s: no answer from the toolstack within %u ms",
			      op->be->drv->name, op->deadline_ms);
	op->pending--;
	tsd_op_release(op);
}

void tsd_op_deadline(struct tsd_op *op, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_del(op->deadline_ev);
	op->deadline_ms = ms;
	if (ms && !op->finished)
		event_add(op->deadline_ev, &tv);
}

void *tsd_op_new(struct tsd_backend *be, size_t size, enum tsd_op_kind kind, tsd_op_fn dispose,
		 struct mmio_error *err)
{
	struct tsd_op *op;

	assert(be && be->host && size >= sizeof(*op));
	op = calloc(1, size);
	if (!op || !(op->done_ev = event_new(be->host->base, -1, 0, op_deliver, op)) ||
	    !(op->deadline_ev = evtimer_new(be->host->base, op_deadline_cb, op))) {
		if (op && op->done_ev)
			event_free(op->done_ev);
		free(op);
		mmio_error_set(err, MMIO_E_NOMEM, "%s: out of memory", be->drv->name);
		return NULL;
	}
	op->be = be;
	op->kind = kind;
	op->dispose = dispose;
	op->layout.free_slots = -1;
	op->next = be->ops;
	op->pprev = &be->ops;
	if (op->next)
		op->next->pprev = &op->next;
	be->ops = op;
	tsd_op_deadline(op, kind == TSD_OP_ATTACH || kind == TSD_OP_DETACH ?
			be->host->attach_timeout_ms : be->host->call_timeout_ms);
	return op;
}

void tsd_op_vfinish(struct tsd_op *op, enum tsd_rc rc, const char *fmt, va_list ap)
{
	if (op->finished)
		return;
	op->finished = true;
	event_del(op->deadline_ev);
	op->res.rc = rc;
	if (fmt)
		vsnprintf(op->res.msg, sizeof(op->res.msg), fmt, ap);
	if (op->kind == TSD_OP_INTERNAL) {
		op->delivered = true;
		tsd_op_release(op);
		return;
	}
	event_active(op->done_ev, EV_TIMEOUT, 0);
}

void tsd_op_finish(struct tsd_op *op, enum tsd_rc rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tsd_op_vfinish(op, rc, fmt, ap);
	va_end(ap);
}

void tsd_op_release(struct tsd_op *op)
{
	if (op->delivered && op->pending == 0)
		tsd_op_free(op);
}

void tsd_op_free(struct tsd_op *op)
{
	*op->pprev = op->next;
	if (op->next)
		op->next->pprev = op->pprev;
	if (op->dispose)
		op->dispose(op);
	event_free(op->done_ev);
	event_free(op->deadline_ev);
	tsd_layout_clear(&op->layout);
	free(op);
}

void tsd_ops_free(struct tsd_backend *be)
{
	while (be->ops)
		tsd_op_free(be->ops);
}

void tsd_guest_answering(struct tsd_backend *be, const char *guest_id, bool answering,
			 const char *fmt, ...)
{
	char msg[400] = "";
	va_list ap;

	if (!be->host || !be->host->guest_answering)
		return;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	be->host->guest_answering(be->host->ud, be, guest_id, answering, answering ? NULL : msg);
}

void tsd_log(struct tsd_backend *be, int priority, const char *fmt, ...)
{
	char line[600];
	va_list ap;

	if (!be->host || !be->host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	be->host->log(be->host->ud, be, priority, line);
}
