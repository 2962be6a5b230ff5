/* SPDX-License-Identifier: MIT */
/*
 * toolstack-qmp-op.c — the QMP back end's operations: completion is always
 * deferred (the operation base in toolstack.c); replies counted until the
 * last is in; the slots and ports attaches in flight have taken.
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

#include "toolstack-qmp-internal.h"

bool tsd_qmp_busy_has(const struct tsd_qmp_guest *g, const char *what)
{
	for (int i = 0; i < MAX_BUSY; i++)
		if (g->busy[i][0] && strcmp(g->busy[i], what) == 0)
			return true;
	return false;
}

bool tsd_qmp_busy_add(struct tsd_qmp_guest *g, const char *what)
{
	for (int i = 0; i < MAX_BUSY; i++)
		if (!g->busy[i][0]) {
			snprintf(g->busy[i], sizeof(g->busy[i]), "%s", what);
			return true;
		}
	return false;
}

static void busy_del(struct tsd_qmp_guest *g, const char *what)
{
	for (int i = 0; i < MAX_BUSY; i++)
		if (strcmp(g->busy[i], what) == 0) {
			g->busy[i][0] = '\0';
			return;
		}
}

void tsd_qmp_op_dispose(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	if (op->g && op->busy[0])
		busy_del(op->g, op->busy);
	if (op->timer)
		event_free(op->timer);
	json_object_put(op->pci);
	json_object_put(op->add_args);
	for (unsigned i = 0; i < op->nfn; i++)
		json_object_put(op->fn_args[i]);
}

void tsd_qmp_op_free(struct tsd_qmp_op *op)
{
	tsd_op_free(&op->base);
}

/* An op may go only when its result was delivered and no reply can still
 * arrive for it (a reply callback holds op as its ud). */
void tsd_qmp_op_maybe_free(struct tsd_qmp_op *op)
{
	tsd_op_release(&op->base);
}

/* The slot or port an attach took is free again before its caller hears. */
void tsd_qmp_op_before_delivery(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	if (op->g && op->busy[0]) {
		busy_del(op->g, op->busy);
		op->busy[0] = '\0';
	}
}

/* The daemon books the attach first, then sees the layout holding it. */
void tsd_qmp_op_after_delivery(struct tsd_op *base)
{
	struct tsd_qmp_op *op = (struct tsd_qmp_op *)base;
	struct tsd_qmp *qb = op->qb;
	if (op->changed && op->g && (base->res.rc == TSD_OK || base->res.rc == TSD_E_MISMATCH) &&
	    qb->pub.host->guest_changed)
		qb->pub.host->guest_changed(qb->pub.host->ud, &qb->pub, op->g->id, &op->g->layout);
}

void tsd_qmp_op_finish(struct tsd_qmp_op *op, enum tsd_rc rc, const char *fmt, ...)
{
	va_list ap;
	if (op->base.finished)
		return;
	op->on_all = NULL;
	if (op->timer)
		event_del(op->timer);
	va_start(ap, fmt);
	tsd_op_vfinish(&op->base, rc, fmt, ap);
	va_end(ap);
}

/* A guest that has not answered since an op timed out: the op fails at
 * once (delivered from the loop), nothing is sent. */
bool tsd_qmp_op_refuse_unresponsive(struct tsd_qmp_op *op)
{
	struct tsd_qmp_guest *g = op->g;
	if (!g || !g->unresponsive)
		return false;
	tsd_qmp_op_finish(op, TSD_E_UNRESPONSIVE, "guest %s is not answering: %s", g->id, g->unresponsive_msg);
	return true;
}

/* Bookkeeping common to every reply: returns false when the op no longer
 * wants replies (it finished); it was then released and may be gone.  A
 * guest that went away is an error the op finishes with (reply_leave). */
bool tsd_qmp_reply_enter(struct tsd_qmp_op *op, const char *cls, const char *desc)
{
	op->base.pending--;
	if (op->base.finished) {
		tsd_qmp_op_maybe_free(op);
		return false;
	}
	if (!op->g || (cls && strcmp(cls, "Disconnected") == 0)) {
		if (!op->err_rc) {
			op->err_rc = TSD_E_NOGUEST;
			snprintf(op->err_msg, sizeof(op->err_msg), "guest went away: %s",
				 desc ? desc : "connection closed");
		}
	}
	return true;
}

/* After a reply was handled: the next step once every reply is in. */
void tsd_qmp_reply_leave(struct tsd_qmp_op *op)
{
	if (op->base.finished) {
		tsd_qmp_op_maybe_free(op);
		return;
	}
	if (op->base.pending == 0 && op->on_all) {
		void (*fn)(struct tsd_qmp_op *) = op->on_all;
		op->on_all = NULL;
		if (op->err_rc) {
			tsd_qmp_op_finish(op, op->err_rc, "%s", op->err_msg);
			return;
		}
		fn(op);
	}
}

int tsd_qmp_op_send(struct tsd_qmp_op *op, const char *cmd, json_object *args, qmp_reply_fn cb)
{
	if (!op->g || !op->g->conn || qmp_send(op->g->conn, cmd, args, cb, op) < 0) {
		if (!op->err_rc) {
			op->err_rc = TSD_E_NOGUEST;
			snprintf(op->err_msg, sizeof(op->err_msg), "guest %s: QMP connection is down",
				 op->g ? op->g->id : "?");
		}
		return -1;
	}
	op->base.pending++;
	return 0;
}
