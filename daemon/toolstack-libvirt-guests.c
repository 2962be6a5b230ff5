/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libvirt-guests.c — the libvirt back end's domains as guests:
 * listed, read, announced (guest_up), re-read when a device came or went
 * and, after a start, until the firmware has placed the BARs; gone when
 * undefined (see toolstack-libvirt.c for the design).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "toolstack-libvirt-internal.h"

/* ---- guests: announced, changed, gone -------------------------------------------------- */

/* Reads a domain (kind: why) unless a call for it is stuck. */
void lv_guest_read(struct tsd_libvirt *be, const char *uuid, enum lv_job_kind kind, bool force)
{
	struct tsd_libvirt_guest *t = lv_guest_find(be, uuid);
	struct lv_job *j;

	if (!be->conn || (t && t->unresponsive))
		return;
	if (kind == J_CHANGED && t) {
		if (t->reading) {
			t->read_again = true;
			return;
		}
		t->reading = true;
	}
	j = lv_job_new(be, kind, uuid);
	if (!j) {
		if (t)
			t->reading = false;
		return;
	}
	j->force = force;
	if (!lv_job_submit(j, uuid) && t)
		t->reading = false;
}

void lv_guests_sync(struct tsd_libvirt *be, bool force)
{
	struct lv_job *j = lv_job_new(be, J_LIST, NULL);
	if (j) {
		j->force = force;
		lv_job_submit(j, NULL);
	}
}

void lv_guests_listed(struct tsd_libvirt *be, struct lv_list *l, bool force)
{
	if (l->rc != TSD_OK) {
		tsd_log(&be->base, LOG_ERR, "%s", l->msg);
		return;
	}
	for (struct tsd_libvirt_guest *g = be->guests; g; g = g->next)
		g->seen = false;
	for (size_t i = 0; i < l->n; i++) {
		struct tsd_libvirt_guest *t = lv_guest_find(be, l->uuids[i]);
		if (t)
			t->seen = true;
		lv_guest_read(be, l->uuids[i], J_ANNOUNCE, force);
	}
	for (struct tsd_libvirt_guest *g = be->guests, *next; g; g = next) {
		next = g->next;
		if (!g->seen && g->announced)
			lv_guest_down(be, g->uuid);
	}
}

#define RECHECK_FIRST_MS  2000u
#define RECHECK_MAX_MS    32000u
#define RECHECK_BUDGET_MS 120000u

static void recheck_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt_guest *t = arg;
	lv_guest_read(t->be, t->uuid, J_CHANGED, false);
}

/* QEMU's view from before the guest's firmware ran: a port not numbered
 * yet, or not one BAR placed. */
static bool layout_unsettled(const struct tsd_layout *l)
{
	size_t placed = 0;
	for (size_t i = 0; i < l->nports; i++)
		if (!l->ports[i].windows_known)
			return true;
	for (size_t i = 0; i < l->nbars; i++)
		placed += l->bars[i].addr != TSD_ADDR_UNASSIGNED;
	return l->nbars && !placed;
}

/* Re-reads t later while its layout is unsettled (first: it just started). */
void lv_guest_recheck(struct tsd_libvirt_guest *t, const struct tsd_layout *l, bool first)
{
	if (first) {
		t->recheck_ms = RECHECK_FIRST_MS;
		t->recheck_spent_ms = 0;
	}
	if (!l || !layout_unsettled(l) || !t->recheck_ms ||
	    t->recheck_spent_ms >= RECHECK_BUDGET_MS) {
		t->recheck_ms = 0;
		return;
	}
	if (!t->recheck_ev &&
	    !(t->recheck_ev = evtimer_new(t->be->base.host->base, recheck_cb, t)))
		return;
	struct timeval tv = { t->recheck_ms / 1000, (t->recheck_ms % 1000) * 1000 };
	evtimer_add(t->recheck_ev, &tv);
	t->recheck_spent_ms += t->recheck_ms;
	if (t->recheck_ms < RECHECK_MAX_MS)
		t->recheck_ms *= 2;
}

/* A domain read: a new guest, or a known one whose state changed (started,
 * shut off, re-defined) or that must be re-read (force: after a
 * reconnection).  A guest that starts or stops stays the same guest (its
 * properties change); only an undefined one goes away. */
void lv_guest_announce(struct tsd_libvirt *be, struct lv_read *r, bool force)
{
	struct tsd_libvirt_guest *t = lv_guest_find(be, r->uuid);
	bool fresh = !t || !t->announced;

	if (r->rc == TSD_E_NOGUEST) {
		if (t && !t->announced)
			lv_guest_down(be, r->uuid);
		return;
	}
	if (!t && !(t = lv_guest_new(be, r->uuid)))
		return;
	t->seen = true;
	t->facts = r->facts;
	bool active = r->active == 1;
	if (!fresh && !force && t->active == active && strcmp(t->name, r->g.name) == 0)
		return; /* nothing new */
	if (!fresh && t->active != active)
		tsd_log(&be->base, LOG_INFO, "guest %s %s", r->g.name, active ? "started" : "shut off");
	t->active = active;
	t->announced = true;
	snprintf(t->name, sizeof(t->name), "%s", r->g.name);
	if (be->base.host->guest_up)
		be->base.host->guest_up(be->base.host->ud, &be->base, &r->g,
					r->have_layout ? &r->layout : NULL);
	if (active && r->have_layout)
		lv_guest_recheck(t, &r->layout, true);
}
