/* SPDX-License-Identifier: MIT */
/*
 * bus-guest.c — org.mmiod1.Guest: one object per guest under
 * /org/mmiod1/guest, served by one fallback vtable (find callback +
 * node enumerator), announced through the ObjectManager at /org/mmiod1.
 * Translation only: every number comes from the guest's books.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cleanup.h"
#include "mmiod-names.h"
#include "strv.h"

static int get_str(sd_bus *bus, const char *path, const char *iface, const char *prop,
		   sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	const char *v = "";

	if (strcmp(prop, "Id") == 0)
		v = g->id;
	else if (strcmp(prop, "Name") == 0)
		v = g->info.name;
	else if (strcmp(prop, "Uuid") == 0)
		v = g->info.uuid;
	else if (strcmp(prop, "Backend") == 0)
		v = g->bi->spec;
	else if (strcmp(prop, "UnresponsiveReason") == 0)
		v = g->unresponsive ? g->unresponsive_msg : "";
	else if (strcmp(prop, "CannotAttachReason") == 0)
		v = g->info.can_attach ? "" : g->info.why_not[0] ? g->info.why_not
								 : "the back end says so";
	return sd_bus_message_append(reply, "s", v);
}

static int get_unresponsive(sd_bus *bus, const char *path, const char *iface, const char *prop,
			    sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	if (strcmp(prop, "UnresponsiveSince") == 0)
		return sd_bus_message_append(reply, "t", g->unresponsive_since_usec);
	return sd_bus_message_append(reply, "b", (int)g->unresponsive);
}

static int get_can_attach(sd_bus *bus, const char *path, const char *iface, const char *prop,
			  sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	return sd_bus_message_append(reply, "b", (int)g->info.can_attach);
}

/* How long ago the layout was last read; UINT64_MAX: never.  An age, not a
 * timestamp: a reader on another host (mmioctl -H) needs no shared clock. */
static int get_refresh_age(sd_bus *bus, const char *path, const char *iface, const char *prop,
			   sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	uint64_t age = g->refreshed_usec ? daemon_now_usec() - g->refreshed_usec : UINT64_MAX;
	return sd_bus_message_append(reply, "t", age);
}

/* Per window (kind, start): the free blocks by size order, as (order,
 * count) for the orders present.  The capacity a scheduler compares with
 * a device's largest BAR (and how many such BARs still fit). */
static int get_free_blocks(sd_bus *bus, const char *path, const char *iface, const char *prop,
			   sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	struct books_window_view v[MMIO_MAX_WINDOWS];
	unsigned n = books_windows(&g->books, v);
	int r = sd_bus_message_open_container(reply, 'a', "(sta(yu))");

	for (unsigned i = 0; r >= 0 && i < n; i++) {
		r = sd_bus_message_open_container(reply, 'r', "sta(yu)");
		if (r >= 0)
			r = sd_bus_message_append(reply, "st", mmio_window_kind_name(v[i].kind), v[i].start);
		if (r >= 0)
			r = sd_bus_message_open_container(reply, 'a', "(yu)");
		for (unsigned k = 0; r >= 0 && k < 64; k++)
			if (v[i].blocks[k])
				r = sd_bus_message_append(reply, "(yu)", (uint8_t)k, v[i].blocks[k]);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_stale(sd_bus *bus, const char *path, const char *iface, const char *prop,
		     sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "b", (int)daemon_guest_stale(ud));
}

static int get_windows(sd_bus *bus, const char *path, const char *iface, const char *prop,
		       sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	struct books_window_view w[MMIO_MAX_WINDOWS];
	unsigned n = g->books.have_layout ? books_windows(&g->books, w) : 0;
	int r;

	r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_WINDOW);
	for (unsigned i = 0; r >= 0 && i < n; i++)
		r = sd_bus_message_append(reply, MMIOD_SIG_WINDOW,
					  mmio_window_kind_name(w[i].kind), w[i].start, w[i].end,
					  w[i].free, w[i].largest, tsd_source_name(w[i].source));
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_ports(sd_bus *bus, const char *path, const char *iface, const char *prop,
		     sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	static const char *const win_names[3] = { "io", "mem", "pref" };
	struct guest *g = ud;
	size_t n = g->books.have_layout ? g->books.layout.nports : 0;
	struct books_port_view *v = n ? calloc(n, sizeof(*v)) : NULL;
	int r;

	if (n && !v)
		return -ENOMEM;
	if (n)
		n = books_ports(&g->books, v, n);
	r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_PORT);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct tsd_port *p = v[i].port;
		r = sd_bus_message_open_container(reply, 'r', "ssssa(sstts)");
		if (r >= 0)
			r = sd_bus_message_append(reply, "ssss", p->id, p->guest_slot, v[i].state,
						  v[i].by);
		if (r >= 0)
			r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_PORT_WINDOW);
		for (unsigned w = 0; r >= 0 && w < 3; w++)
			if (p->present[w])
				r = sd_bus_message_append(reply, MMIOD_SIG_PORT_WINDOW, win_names[w],
							  mmio_window_kind_name(p->win[w].kind),
							  p->win[w].start, p->win[w].end,
							  tsd_source_name(p->win_source[w]));
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	free(v);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_devices(sd_bus *bus, const char *path, const char *iface, const char *prop,
		       sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	const struct tsd_layout *l = &g->books.layout;
	/* shown, predicted for mmiod's attaches, inferred for the others */
	const struct books_live_view *v = books_live_bars(&g->books);
	int r;

	r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_DEVICE);
	for (size_t i = 0; r >= 0 && i < l->nbars; i++) {
		const struct tsd_live_bar *lb = &l->bars[i];
		uint64_t addr = v ? v[i].addr : lb->addr;
		const char *src = tsd_source_name(v ? v[i].source : lb->source);
		r = sd_bus_message_append(reply, MMIOD_SIG_DEVICE, lb->device, lb->guest_slot,
					  (uint32_t)lb->bar.index, mmio_bar_kind_name(&lb->bar),
					  lb->bar.size, addr, src);
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_reservations(sd_bus *bus, const char *path, const char *iface, const char *prop,
			    sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	int r;

	r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_RESERVATION);
	for (size_t i = 0; r >= 0 && i < g->books.nres; i++) {
		const struct books_reservation *res = &g->books.res[i];
		r = sd_bus_message_open_container(reply, 'r', "ssast");
		if (r >= 0)
			r = sd_bus_message_append(reply, "ss", res->id, res->label);
		if (r >= 0)
			r = sd_bus_message_open_container(reply, 'a', "s");
		for (size_t j = 0; r >= 0 && j < res->n; j++)
			r = sd_bus_message_append(reply, "s", res->devs[j].spec);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r >= 0)
			r = sd_bus_message_append(reply, "t", books_reservation_bytes(res));
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_attaches(sd_bus *bus, const char *path, const char *iface, const char *prop,
			sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct guest *g = ud;
	int r;

	r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_ATTACH);
	for (size_t i = 0; r >= 0 && i < g->books.nattach; i++) {
		const struct books_attach *a = &g->books.attaches[i];
		if (a->state == BOOKS_ATTACH_ATTACHED)
			continue;
		r = sd_bus_message_append(reply, MMIOD_SIG_ATTACH, a->id, a->e.spec,
					  books_attach_state_name(a->state));
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

const sd_bus_vtable bus_guest_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "s", get_str, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Name", "s", get_str, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Uuid", "s", get_str, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Backend", "s", get_str, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("CanAttach", "b", get_can_attach, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Unresponsive", "b", get_unresponsive, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("UnresponsiveSince", "t", get_unresponsive, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("UnresponsiveReason", "s", get_str, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("CannotAttachReason", "s", get_str, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Stale", "b", get_stale, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Windows", "a" MMIOD_SIG_WINDOW, get_windows, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Ports", "a" MMIOD_SIG_PORT, get_ports, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Devices", "a" MMIOD_SIG_DEVICE, get_devices, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Reservations", "a" MMIOD_SIG_RESERVATION, get_reservations, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Attaches", "a" MMIOD_SIG_ATTACH, get_attaches, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("FreeBlocks", "a(sta(yu))", get_free_blocks, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
	SD_BUS_PROPERTY("RefreshAgeUSec", "t", get_refresh_age, 0, 0),
	SD_BUS_VTABLE_END
};

/* A guest's object path: the prefix and its encoded id (NULL when out of memory). */
static char *guest_path(const struct guest *g)
{
	char *path = NULL;
	return sd_bus_path_encode(MMIOD_PATH_GUEST_PREFIX, g->id, &path) < 0 ? NULL : path;
}

static int guest_find(sd_bus *bus, const char *path, const char *iface, void *ud, void **found,
		      sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	_cleanup_free_ char *id = NULL;
	struct guest *g;

	if (sd_bus_path_decode(path, MMIOD_PATH_GUEST_PREFIX, &id) <= 0 || !id)
		return 0;
	g = daemon_guest_by_id(bc->d, id);
	if (!g)
		return 0;
	*found = g;
	return 1;
}

static int guest_enumerate(sd_bus *bus, const char *prefix, void *ud, char ***nodes,
			   sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	const struct daemon *d = bc->d;
	_cleanup_(strv_freep) char **v = calloc(d->nguests + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < d->nguests; i++)
		if (!(v[i] = guest_path(d->guests[i])))
			return -ENOMEM;
	*nodes = TAKE_PTR(v);
	return 0;
}

int bus_guest_register(struct bus_ctx *bc)
{
	int r;

	r = sd_bus_add_fallback_vtable(bc->bus, NULL, MMIOD_PATH_GUEST_PREFIX, MMIOD_IFACE_GUEST,
				       bus_guest_vtable, guest_find, bc);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(bc->bus, NULL, MMIOD_PATH_GUEST_PREFIX, guest_enumerate, bc);
	return r;
}

/* ---- signals (the daemon's observer, bus-service.c) ---------------------------- */

void bus_guest_announce(struct bus_ctx *bc, const struct guest *g, bool added)
{
	_cleanup_free_ char *path = guest_path(g);

	if (!path)
		return;
	if (added)
		sd_bus_emit_object_added(bc->bus, path);
	else
		sd_bus_emit_object_removed(bc->bus, path);
	sd_bus_emit_signal(bc->bus, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER,
			   added ? "GuestAdded" : "GuestRemoved", "so", g->id, path);
	bus_kick(bc);
}

void bus_guest_changed(struct bus_ctx *bc, const struct guest *g, unsigned what)
{
	_cleanup_free_ char *path = guest_path(g);
	const char *names[16];
	unsigned n = 0;

	if (!path)
		return;
	if (what & GUEST_CHANGED_INFO) {
		names[n++] = "Name";
		names[n++] = "Uuid";
		names[n++] = "CanAttach";
		names[n++] = "CannotAttachReason";
	}
	if (what & GUEST_CHANGED_STALE)
		names[n++] = "Stale";
	if (what & GUEST_CHANGED_ATTACHES)
		names[n++] = "Attaches";
	if (what & GUEST_CHANGED_DEVICES)
		names[n++] = "Devices";
	if (what & GUEST_CHANGED_RESERVATIONS)
		names[n++] = "Reservations";
	if (what & GUEST_CHANGED_WINDOWS) {
		names[n++] = "Windows";
		names[n++] = "Ports";   /* who holds each port changes with the free space */
		names[n++] = "FreeBlocks";
	}
	if (what & GUEST_CHANGED_ANSWERING) {
		names[n++] = "Unresponsive";
		names[n++] = "UnresponsiveSince";
		names[n++] = "UnresponsiveReason";
	}
	names[n] = NULL;
	if (n)
		sd_bus_emit_properties_changed_strv(bc->bus, path, MMIOD_IFACE_GUEST, (char **)names);
	bus_kick(bc);
}
