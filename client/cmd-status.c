/* SPDX-License-Identifier: MIT */
/*
 * cmd-status.c — `mmioctl status [GUEST]` and the hidden `list-guests`:
 * the snapshot guests-read.c fetches, as text or JSON.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guests-read.h"

/* ---- JSON ---- */

static json_object *guest_json(const struct guest *g)
{
	json_object *o = json_object_new_object(), *a;

	json_object_object_add(o, "id", json_str(g->id));
	json_object_object_add(o, "name", json_str(g->name));
	json_object_object_add(o, "uuid", json_str(g->uuid));
	json_object_object_add(o, "backend", json_str(g->backend));
	json_object_object_add(o, "can_attach", json_object_new_boolean(g->can_attach));
	json_object_object_add(o, "cannot_attach_reason", json_str(g->why_not));
	json_object_object_add(o, "stale", json_object_new_boolean(g->stale));
	json_object_object_add(o, "unresponsive", json_object_new_boolean(g->unresponsive));
	json_object_object_add(o, "unresponsive_since", g->unresponsive && g->unresponsive_since ?
			       json_u64(g->unresponsive_since / 1000000u) : NULL);
	json_object_object_add(o, "unresponsive_reason",
			       json_str(g->unresponsive ? g->unresponsive_reason : ""));
	a = json_object_new_array();
	for (size_t i = 0; i < g->nwin; i++) {
		const struct window *w = &g->win[i];
		json_object *wo = json_object_new_object();

		json_object_object_add(wo, "kind", json_str(w->kind));
		json_object_object_add(wo, "start", json_u64(w->start));
		json_object_object_add(wo, "end", json_u64(w->end));
		json_object_object_add(wo, "size", json_u64(w->end - w->start));
		json_object_object_add(wo, "free", json_u64(w->free));
		json_object_object_add(wo, "largest_free", json_u64(w->largest));
		json_object_object_add(wo, "source", json_str(w->source));
		json_object_array_add(a, wo);
	}
	json_object_object_add(o, "windows", a);
	a = json_object_new_array();
	for (size_t i = 0; i < g->nport; i++) {
		const struct port *p = &g->port[i];
		json_object *po = json_object_new_object(), *wa = json_object_new_array();

		json_object_object_add(po, "id", json_str(p->id));
		json_object_object_add(po, "slot", json_str(p->slot));
		json_object_object_add(po, "state", json_str(p->state));
		json_object_object_add(po, "by", json_str(p->by));
		for (size_t w = 0; w < p->nwin; w++) {
			json_object *wo = json_object_new_object();
			json_object_object_add(wo, "name", json_str(p->win[w].name));
			json_object_object_add(wo, "kind", json_str(p->win[w].kind));
			json_object_object_add(wo, "start", json_u64(p->win[w].start));
			json_object_object_add(wo, "end", json_u64(p->win[w].end));
			json_object_object_add(wo, "size", json_u64(p->win[w].end - p->win[w].start));
			json_object_object_add(wo, "source", json_str(p->win[w].source));
			json_object_array_add(wa, wo);
		}
		json_object_object_add(po, "windows", wa);
		json_object_array_add(a, po);
	}
	json_object_object_add(o, "ports", a);
	a = json_object_new_array();
	for (size_t i = 0; i < g->ndev; i++) {
		const struct dev_bar *d = &g->dev[i];
		json_object *dobj = json_object_new_object();

		json_object_object_add(dobj, "device", json_str(d->device));
		json_object_object_add(dobj, "slot", json_str(d->slot));
		json_object_object_add(dobj, "bar", json_u64(d->bar));
		json_object_object_add(dobj, "kind", json_str(d->kind));
		json_object_object_add(dobj, "size", json_u64(d->size));
		json_object_object_add(dobj, "address",
				       d->address == UINT64_MAX ? NULL : json_u64(d->address));
		json_object_object_add(dobj, "source", json_str(d->source));
		json_object_array_add(a, dobj);
	}
	json_object_object_add(o, "devices", a);
	a = json_object_new_array();
	for (size_t i = 0; i < g->nres; i++) {
		const struct reservation *res = &g->res[i];
		json_object *ro = json_object_new_object(), *da = json_object_new_array();

		json_object_object_add(ro, "id", json_str(res->id));
		json_object_object_add(ro, "label", json_str(res->label));
		for (char **p = res->devices; p && *p; p++)
			json_object_array_add(da, json_str(*p));
		json_object_object_add(ro, "devices", da);
		json_object_object_add(ro, "bytes", json_u64(res->bytes));
		json_object_array_add(a, ro);
	}
	json_object_object_add(o, "reservations", a);
	a = json_object_new_array();
	for (size_t i = 0; i < g->natt; i++) {
		json_object *ao = json_object_new_object();

		json_object_object_add(ao, "id", json_str(g->att[i].id));
		json_object_object_add(ao, "device", json_str(g->att[i].device));
		json_object_object_add(ao, "state", json_str(g->att[i].state));
		json_object_array_add(a, ao);
	}
	json_object_object_add(o, "attaches", a);
	return o;
}

static json_object *backends_json(const struct guest_list *l)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < l->nbe; i++) {
		const struct backend_status *b = &l->be[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "backend", json_str(b->spec));
		json_object_object_add(o, "connected", json_object_new_boolean(b->connected));
		json_object_object_add(o, "since", b->since_usec ? json_u64(b->since_usec / 1000000u) : NULL);
		json_object_object_add(o, "message", json_str(b->message));
		json_object_array_add(a, o);
	}
	return a;
}

/* ---- text ---- */

/* "since 2026-12-02 07:31:10 UTC (2 min ago)"; "" when unknown. */
static void fmt_since(uint64_t since_usec, char *buf, size_t len)
{
	time_t t = (time_t)(since_usec / 1000000u), now = time(NULL);
	struct tm tm;
	char when[32];

	buf[0] = '\0';
	if (!since_usec || !gmtime_r(&t, &tm))
		return;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	long ago = now > t ? (long)(now - t) : 0;
	if (ago < 120)
		snprintf(buf, len, " since %s (%ld s ago)", when, ago);
	else if (ago < 7200)
		snprintf(buf, len, " since %s (%ld min ago)", when, ago / 60);
	else
		snprintf(buf, len, " since %s (%ld h ago)", when, ago / 3600);
}

/* One line per back end that is not connected, before anything else: the
 * guests shown for it are as last read. */
static void print_backend_problems(const struct guest_list *l, const char *only_spec)
{
	for (size_t i = 0; i < l->nbe; i++) {
		const struct backend_status *b = &l->be[i];
		char since[96];

		if (b->connected || (only_spec && strcmp(only_spec, b->spec) != 0))
			continue;
		fmt_since(b->since_usec, since, sizeof(since));
		printf("Back end %s is NOT CONNECTED%s: %s\n", b->spec, since,
		       *b->message ? b->message : "no reason given");
		printf("  Its guests are shown as last read (stale); mmiod reconnects by itself.\n\n");
	}
}

static void fmt_range(const struct window *w, char *buf, size_t len)
{
	/* Inclusive end, the way Linux prints resources in /proc/iomem. */
	if (w->end > w->start)
		snprintf(buf, len, "0x%" PRIx64 "-0x%" PRIx64, w->start, w->end - 1);
	else
		snprintf(buf, len, "-");
}

/* Width of the free-space bar: wide enough to read, narrow enough that a
 * status line stays within 100 columns. */
#define FREE_BAR_WIDTH 20

static void add_window_rows(struct mmioctl *c, struct table *t, const struct guest *g,
			    bool guest_cols)
{
	if (g->nwin == 0) {
		if (guest_cols)
			table_addf(t, g->id, g->name, g->backend, "-", "", "", "", "",
				   g->stale ? "(stale)" : g->unresponsive ? "(not answering)" : "");
		return;
	}
	for (size_t i = 0; i < g->nwin; i++) {
		const struct window *w = &g->win[i];
		char range[48], size[48], fr[48], lg[48], bar[FREE_BAR_WIDTH + 3] = "";
		const char *kind = strcmp(w->kind, "io") == 0 ? "I/O" : w->kind;

		fmt_range(w, range, sizeof(range));
		fmt_size(w->end - w->start, size, sizeof(size));
		fmt_size(w->free, fr, sizeof(fr));
		fmt_size(w->largest, lg, sizeof(lg));
		if (c->stdout_tty)
			fmt_bar(w->end - w->start, w->free, FREE_BAR_WIDTH, bar, sizeof(bar));
		/* The guest's columns only on its first line: one block per guest. */
		if (g->stale && i == 0)
			snprintf(bar, sizeof(bar), "(stale)");
		else if (g->unresponsive && i == 0)
			snprintf(bar, sizeof(bar), "(not answering)");
		if (guest_cols)
			table_addf(t, i == 0 ? g->id : "", i == 0 ? g->name : "",
				   i == 0 ? g->backend : "", kind, range, size, fr, lg, bar);
		else
			table_addf(t, kind, range, size, fr, lg, w->source, bar);
	}
}

static void print_all(struct mmioctl *c, const struct guest_list *l)
{
	static const char *const hdr[] = { "GUEST", "NAME", "BACKEND", "WINDOW", "RANGE", "SIZE",
					   "FREE", "LARGEST FREE", "" };
	struct table *t = table_new(9, hdr);

	if (c->legend)
		print_backend_problems(l, NULL);
	for (size_t i = 0; i < l->n; i++)
		add_window_rows(c, t, &l->v[i], true);
	if (l->n)
		table_print(t, c->legend, NULL);
	else if (c->legend)
		printf("No guests.\n");
	table_free(t);
}

static void print_one(struct mmioctl *c, const struct guest_list *l, const struct guest *g)
{
	static const char *const whdr[] = { "WINDOW", "RANGE", "SIZE", "FREE", "LARGEST FREE",
					    "SOURCE", "" };
	static const char *const dhdr[] = { "DEVICE", "SLOT", "BAR", "KIND", "ADDRESS", "SIZE",
					    "SOURCE" };
	static const char *const rhdr[] = { "RESERVATION", "LABEL", "SIZE", "DEVICES" };
	static const char *const ahdr[] = { "ATTACH", "DEVICE", "STATE" };
	static const char *const phdr[] = { "PORT", "SLOT", "STATE", "WINDOW", "RANGE", "SIZE" };
	struct table *t;

	if (c->legend) {
		printf("Guest:      %s\n", g->id);
		printf("Name:       %s\n", g->name && *g->name ? g->name : "-");
		printf("UUID:       %s\n", g->uuid && *g->uuid ? g->uuid : "-");
		printf("Back end:   %s\n", g->backend && *g->backend ? g->backend : "-");
		if (g->can_attach)
			printf("Can attach: yes\n");
		else
			printf("Can attach: no: %s\n", g->why_not && *g->why_not ? g->why_not :
			       "the back end gives no reason");
		if (g->stale)
			printf("Stale:      yes: its back end is not connected; shown as last read\n");
		if (g->unresponsive) {
			char since[96];
			fmt_since(g->unresponsive_since, since, sizeof(since));
			printf("Answering:  NO%s: %s\n", since,
			       g->unresponsive_reason && *g->unresponsive_reason ?
			       g->unresponsive_reason : "a toolstack call timed out");
			printf("            Check, attach, detach and reserve fail at once; its books are "
			       "kept; mmiod notices by itself when it answers again.\n");
		}
		printf("\n");
	}

	t = table_new(7, whdr);
	add_window_rows(c, t, g, false);
	table_print(t, c->legend, NULL);
	table_free(t);

	/* Hot-plug ports: one line per window, the port's columns on its first. */
	t = table_new(6, phdr);
	for (size_t i = 0; i < g->nport; i++) {
		const struct port *p = &g->port[i];
		char state[96];

		snprintf(state, sizeof(state), "%s%s%s", p->state, *p->by ? " by " : "", p->by);
		if (p->nwin == 0)
			table_addf(t, p->id, *p->slot ? p->slot : "-", state, "-", "", "");
		for (size_t w = 0; w < p->nwin; w++) {
			struct window rw = { .start = p->win[w].start, .end = p->win[w].end };
			char range[48], size[48];

			fmt_range(&rw, range, sizeof(range));
			fmt_size(rw.end - rw.start, size, sizeof(size));
			table_addf(t, w == 0 ? p->id : "", w == 0 ? (*p->slot ? p->slot : "-") : "",
				   w == 0 ? state : "", p->win[w].name, range, size);
		}
	}
	if (table_rows(t)) {
		if (c->legend)
			printf("\n");
		table_print(t, c->legend, NULL);
	}
	table_free(t);

	t = table_new(7, dhdr);
	for (size_t i = 0; i < g->ndev; i++) {
		const struct dev_bar *d = &g->dev[i];
		char bar[12], addr[24], size[48];

		if (d->address == UINT64_MAX)
			snprintf(addr, sizeof(addr), "unassigned");
		else
			fmt_hex(d->address, addr, sizeof(addr));
		fmt_size(d->size, size, sizeof(size));
		table_addf(t, d->device, *d->slot ? d->slot : "-", bar_name(d->bar, bar, sizeof(bar)),
			   d->kind, addr, size, d->source);
	}
	if (c->legend)
		printf("\n");
	if (table_rows(t))
		table_print(t, c->legend, NULL);
	else if (c->legend)
		printf("No placed BARs.\n");
	table_free(t);

	t = table_new(4, rhdr);
	for (size_t i = 0; i < g->nres; i++) {
		const struct reservation *res = &g->res[i];
		char size[48], devs[512] = "";
		size_t o = 0;

		fmt_size(res->bytes, size, sizeof(size));
		for (char **p = res->devices; p && *p && o < sizeof(devs); p++)
			o += (size_t)snprintf(devs + o, sizeof(devs) - o, "%s%s",
					      p == res->devices ? "" : ",", *p);
		table_addf(t, res->id, *res->label ? res->label : "-", size, devs);
	}
	if (table_rows(t)) {
		if (c->legend)
			printf("\n");
		table_print(t, c->legend, NULL);
	}
	table_free(t);

	t = table_new(3, ahdr);
	for (size_t i = 0; i < g->natt; i++)
		table_addf(t, g->att[i].id, g->att[i].device, g->att[i].state);
	if (table_rows(t)) {
		if (c->legend)
			printf("\n");
		table_print(t, c->legend, NULL);
	}
	table_free(t);
}

int cmd_status(struct mmioctl *c, int argc, char **argv)
{
	struct guest_list l = { 0 };
	const struct guest *one = NULL;
	int r;

	if (argc > 0 && (r = guest_validate(argv[0], "status")))
		return r;
	r = fetch_guests(c, &l, "status");
	if (r)
		return r;
	if (argc > 0) {
		for (size_t i = 0; i < l.n && !one; i++)
			if (guest_matches(&l.v[i], argv[0]))
				one = &l.v[i];
		if (!one) {
			mmioctl_error("status: no such guest \"%s\" (see: mmioctl status)", argv[0]);
			guest_list_free(&l);
			return MMIOCTL_EXIT_USAGE;
		}
	}
	if (c->json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		for (size_t i = 0; i < l.n; i++)
			if (!one || one == &l.v[i])
				json_object_array_add(a, guest_json(&l.v[i]));
		json_object_object_add(o, "guests", a);
		json_object_object_add(o, "backends", backends_json(&l));
		json_print(c, o);
	} else if (one) {
		if (c->legend)
			print_backend_problems(&l, one->stale ? one->backend : "");
		print_one(c, &l, one);
	} else {
		print_all(c, &l);
	}
	guest_list_free(&l);
	return 0;
}

int cmd_list_guests(struct mmioctl *c, int argc, char **argv)
{
	struct guest_list l = { 0 };
	int r = fetch_guests(c, &l, "list-guests");

	if (r)
		return r;
	/* Names too: completion offers what a user would type. */
	for (size_t i = 0; i < l.n; i++) {
		puts(l.v[i].id);
		if (l.v[i].name && *l.v[i].name && strcmp(l.v[i].name, l.v[i].id) != 0)
			puts(l.v[i].name);
	}
	guest_list_free(&l);
	return 0;
}
