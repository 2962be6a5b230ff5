/* SPDX-License-Identifier: MIT */
/*
 * cmd-status.c — `mmioctl status [GUEST]` and the hidden `list-guests`.
 *
 * One GetManagedObjects call fetches every guest with all its properties,
 * so the picture printed is one consistent snapshot, not a property-by-
 * property walk that races with attaches.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "mmioctl.h"

struct window {
	char *kind;
	uint64_t start, end, free, largest;
	char *source;
};

struct dev_bar {
	char *device, *slot;
	uint32_t bar;
	char *kind;
	uint64_t size, address;
	char *source;
};

struct reservation {
	char *id, *label;
	char **devices;
	uint64_t bytes;
};

struct attach {
	char *id, *device, *state;
};

struct port_window {
	char *name, *kind, *source;
	uint64_t start, end;
};

struct port {
	char *id, *slot, *state, *by;
	size_t nwin;
	struct port_window win[3];
};

/* One row of FreeBlocks: a window's free blocks per size order. */
struct free_blocks {
	char *kind;
	uint64_t start;
	uint32_t count[64];
};

struct guest {
	char *path;
	char *id, *name, *uuid, *backend, *why_not;
	bool can_attach, stale;
	bool unresponsive;              /* its toolstack does not answer (Unresponsive) */
	uint64_t unresponsive_since;    /* UnresponsiveSince, usec since the epoch */
	char *unresponsive_reason;
	bool have_refresh_age;
	uint64_t refresh_age_usec;      /* RefreshAgeUSec (UINT64_MAX: never read) */
	size_t nfb;
	struct free_blocks *fb;
	size_t nwin, ndev, nres, natt, nport;
	struct window *win;
	struct port *port;
	struct dev_bar *dev;
	struct reservation *res;
	struct attach *att;
};

/* A back end's link to its toolstack (the Manager's BackendStatus). */
struct backend_status {
	char *spec, *message;
	bool connected;
	uint64_t since_usec;
};

struct guest_list {
	size_t n;
	struct guest *v;
	size_t nbe;
	struct backend_status *be;
};

static void guest_free(struct guest *g)
{
	free(g->path);
	free(g->id);
	free(g->name);
	free(g->uuid);
	free(g->backend);
	free(g->why_not);
	free(g->unresponsive_reason);
	for (size_t i = 0; i < g->nwin; i++) {
		free(g->win[i].kind);
		free(g->win[i].source);
	}
	free(g->win);
	for (size_t i = 0; i < g->ndev; i++) {
		free(g->dev[i].device);
		free(g->dev[i].slot);
		free(g->dev[i].kind);
		free(g->dev[i].source);
	}
	free(g->dev);
	for (size_t i = 0; i < g->nres; i++) {
		free(g->res[i].id);
		free(g->res[i].label);
		strv_free(g->res[i].devices);
	}
	free(g->res);
	for (size_t i = 0; i < g->natt; i++) {
		free(g->att[i].id);
		free(g->att[i].device);
		free(g->att[i].state);
	}
	free(g->att);
	for (size_t i = 0; i < g->nport; i++) {
		free(g->port[i].id);
		free(g->port[i].slot);
		free(g->port[i].state);
		free(g->port[i].by);
		for (size_t w = 0; w < g->port[i].nwin; w++) {
			free(g->port[i].win[w].name);
			free(g->port[i].win[w].kind);
			free(g->port[i].win[w].source);
		}
	}
	free(g->port);
	for (size_t i = 0; i < g->nfb; i++)
		free(g->fb[i].kind);
	free(g->fb);
}

static void guest_list_free(struct guest_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		guest_free(&l->v[i]);
	free(l->v);
	for (size_t i = 0; i < l->nbe; i++) {
		free(l->be[i].spec);
		free(l->be[i].message);
	}
	free(l->be);
	*l = (struct guest_list){ 0 };
}

/* Grows *v (of *n elements of size sz) by one zeroed element. */
static void *grow(void *pv, size_t *n, size_t sz)
{
	void **v = pv;
	char *nv = realloc(*v, (*n + 1) * sz);

	if (!nv)
		return NULL;
	memset(nv + *n * sz, 0, sz);
	*v = nv;
	return nv + (*n)++ * sz;
}

static int dup_str(char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static int read_string_prop(sd_bus_message *m, char **dst)
{
	const char *s;
	int r = sd_bus_message_read(m, "v", "s", &s);

	return r < 0 ? r : dup_str(dst, s);
}

/* One element of an array property: > 0 read, 0 the array ended, < 0 error. */
typedef int (*elem_reader)(sd_bus_message *m, struct guest *g);

/* A property of type "a" ELEM in its variant, each element through read. */
static int read_array_prop(sd_bus_message *m, const char *elem, elem_reader read, struct guest *g)
{
	char sig[64];
	int r;

	snprintf(sig, sizeof(sig), "a%s", elem);
	r = sd_bus_message_enter_container(m, 'v', sig);
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', elem);
	while (r >= 0 && (r = read(m, g)) > 0)
		;
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int read_window(sd_bus_message *m, struct guest *g)
{
	const char *kind, *src;
	uint64_t s, e, f, l;
	struct window *w;
	int r = sd_bus_message_read(m, "(stttts)", &kind, &s, &e, &f, &l, &src);

	if (r <= 0)
		return r;
	w = grow(&g->win, &g->nwin, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct window){ .start = s, .end = e, .free = f, .largest = l };
	if (dup_str(&w->kind, kind) < 0 || dup_str(&w->source, src) < 0)
		return -ENOMEM;
	return 1;
}

static int read_port_window(struct port *p, sd_bus_message *m)
{
	const char *name, *kind, *src;
	uint64_t st, en;
	int r = sd_bus_message_read(m, "(sstts)", &name, &kind, &st, &en, &src);

	if (r <= 0 || p->nwin >= 3)
		return r;
	struct port_window *w = &p->win[p->nwin++];
	w->start = st;
	w->end = en;
	if (dup_str(&w->name, name) < 0 || dup_str(&w->kind, kind) < 0 ||
	    dup_str(&w->source, src) < 0)
		return -ENOMEM;
	return 1;
}

static int read_port(sd_bus_message *m, struct guest *g)
{
	const char *id, *slot, *state, *by;
	struct port *p;
	int r = sd_bus_message_enter_container(m, 'r', "ssssa(sstts)");

	if (r <= 0)
		return r;
	r = sd_bus_message_read(m, "ssss", &id, &slot, &state, &by);
	if (r < 0)
		return r;
	p = grow(&g->port, &g->nport, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (dup_str(&p->id, id) < 0 || dup_str(&p->slot, slot) < 0 ||
	    dup_str(&p->state, state) < 0 || dup_str(&p->by, by) < 0)
		return -ENOMEM;
	r = sd_bus_message_enter_container(m, 'a', "(sstts)");
	while (r >= 0 && (r = read_port_window(p, m)) > 0)
		;
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r < 0 ? r : 1;
}

static int read_device(sd_bus_message *m, struct guest *g)
{
	const char *dev, *slot, *kind, *src;
	uint32_t bar;
	uint64_t size, addr;
	struct dev_bar *d;
	int r = sd_bus_message_read(m, "(ssustts)", &dev, &slot, &bar, &kind, &size, &addr, &src);

	if (r <= 0)
		return r;
	d = grow(&g->dev, &g->ndev, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = (struct dev_bar){ .bar = bar, .size = size, .address = addr };
	if (dup_str(&d->device, dev) < 0 || dup_str(&d->slot, slot) < 0 ||
	    dup_str(&d->kind, kind) < 0 || dup_str(&d->source, src) < 0)
		return -ENOMEM;
	return 1;
}

static int read_reservation(sd_bus_message *m, struct guest *g)
{
	const char *id, *label;
	struct reservation *res;
	int r = sd_bus_message_enter_container(m, 'r', "ssast");

	if (r <= 0)
		return r;
	r = sd_bus_message_read(m, "ss", &id, &label);
	if (r < 0)
		return r;
	res = grow(&g->res, &g->nres, sizeof(*res));
	if (!res)
		return -ENOMEM;
	if (dup_str(&res->id, id) < 0 || dup_str(&res->label, label) < 0)
		return -ENOMEM;
	r = sd_bus_message_read_strv(m, &res->devices);
	if (r >= 0)
		r = sd_bus_message_read(m, "t", &res->bytes);
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r < 0 ? r : 1;
}

static int read_attach(sd_bus_message *m, struct guest *g)
{
	const char *id, *dev, *state;
	struct attach *a;
	int r = sd_bus_message_read(m, "(sss)", &id, &dev, &state);

	if (r <= 0)
		return r;
	a = grow(&g->att, &g->natt, sizeof(*a));
	if (!a)
		return -ENOMEM;
	if (dup_str(&a->id, id) < 0 || dup_str(&a->device, dev) < 0 ||
	    dup_str(&a->state, state) < 0)
		return -ENOMEM;
	return 1;
}

static int read_free_block(sd_bus_message *m, struct guest *g)
{
	const char *kind;
	uint64_t start;
	uint8_t order;
	uint32_t count;
	struct free_blocks *f;
	int r = sd_bus_message_enter_container(m, 'r', "sta(yu)");

	if (r <= 0)
		return r;
	r = sd_bus_message_read(m, "st", &kind, &start);
	if (r < 0)
		return r;
	f = grow(&g->fb, &g->nfb, sizeof(*f));
	if (!f)
		return -ENOMEM;
	*f = (struct free_blocks){ .start = start };
	if (dup_str(&f->kind, kind) < 0)
		return -ENOMEM;
	r = sd_bus_message_enter_container(m, 'a', "(yu)");
	while (r >= 0 && (r = sd_bus_message_read(m, "(yu)", &order, &count)) > 0)
		if (order < 64)
			f->count[order] = count;
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r < 0 ? r : 1;
}

/* One property of org.mmiod1.Guest.  Unknown properties are skipped so a
 * newer daemon with more properties still works with this client. */
static int guest_prop(sd_bus_message *m, const char *name, void *ud)
{
	struct guest *g = ud;

	if (strcmp(name, "Id") == 0)
		return read_string_prop(m, &g->id);
	if (strcmp(name, "Name") == 0)
		return read_string_prop(m, &g->name);
	if (strcmp(name, "Uuid") == 0)
		return read_string_prop(m, &g->uuid);
	if (strcmp(name, "Backend") == 0)
		return read_string_prop(m, &g->backend);
	if (strcmp(name, "CannotAttachReason") == 0)
		return read_string_prop(m, &g->why_not);
	if (strcmp(name, "UnresponsiveReason") == 0)
		return read_string_prop(m, &g->unresponsive_reason);
	if (strcmp(name, "CanAttach") == 0 || strcmp(name, "Stale") == 0 ||
	    strcmp(name, "Unresponsive") == 0) {
		int b = 0;
		int r = sd_bus_message_read(m, "v", "b", &b);
		*(name[0] == 'C' ? &g->can_attach : name[0] == 'S' ? &g->stale : &g->unresponsive) = b;
		return r;
	}
	if (strcmp(name, "UnresponsiveSince") == 0)
		return sd_bus_message_read(m, "v", "t", &g->unresponsive_since);
	if (strcmp(name, "RefreshAgeUSec") == 0) {
		int r = sd_bus_message_read(m, "v", "t", &g->refresh_age_usec);
		g->have_refresh_age = r >= 0;
		return r;
	}
	if (strcmp(name, "FreeBlocks") == 0)
		return read_array_prop(m, "(sta(yu))", read_free_block, g);
	if (strcmp(name, "Windows") == 0)
		return read_array_prop(m, MMIOD_SIG_WINDOW, read_window, g);
	if (strcmp(name, "Devices") == 0)
		return read_array_prop(m, MMIOD_SIG_DEVICE, read_device, g);
	if (strcmp(name, "Ports") == 0)
		return read_array_prop(m, MMIOD_SIG_PORT, read_port, g);
	if (strcmp(name, "Reservations") == 0)
		return read_array_prop(m, MMIOD_SIG_RESERVATION, read_reservation, g);
	if (strcmp(name, "Attaches") == 0)
		return read_array_prop(m, MMIOD_SIG_ATTACH, read_attach, g);
	return sd_bus_message_skip(m, "v");
}

static int read_guest_props(sd_bus_message *m, struct guest *g)
{
	return bus_dict_read(m, guest_prop, g);
}

static int guest_cmp(const void *a, const void *b)
{
	const struct guest *x = a, *y = b;

	return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

/* a{oa{sa{sv}}} -> the objects that carry org.mmiod1.Guest. */
static int read_managed_objects(sd_bus_message *m, struct guest_list *out)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
		const char *path;
		struct guest *g = NULL;

		r = sd_bus_message_read(m, "o", &path);
		if (r < 0)
			return r;
		r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
		if (r < 0)
			return r;
		while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
			const char *iface;

			r = sd_bus_message_read(m, "s", &iface);
			if (r < 0)
				return r;
			if (strcmp(iface, MMIOD_IFACE_GUEST) == 0) {
				g = grow(&out->v, &out->n, sizeof(*g));
				if (!g || dup_str(&g->path, path) < 0)
					return -ENOMEM;
				r = read_guest_props(m, g);
			} else {
				r = sd_bus_message_skip(m, "a{sv}");
			}
			if (r < 0)
				return r;
			r = sd_bus_message_exit_container(m);
			if (r < 0)
				return r;
		}
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
		/* An id is what every verb takes; fall back to the path's tail. */
		if (g && !g->id) {
			char *id = NULL;

			if (sd_bus_path_decode(path, MMIOD_PATH_GUEST_PREFIX, &id) > 0)
				g->id = id;
			else if (dup_str(&g->id, path) < 0)
				return -ENOMEM;
		}
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), guest_cmp);
	return 0;
}

/* The Manager's BackendStatus; a daemon without it (older) leaves none. */
static int fetch_backend_status(struct mmioctl *c, struct guest_list *out)
{
	sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_get_property(c->bus, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER,
				    "BackendStatus", &e, &reply, "a" MMIOD_SIG_BACKEND);

	sd_bus_error_free(&e);
	if (r < 0)
		return 0;
	r = sd_bus_message_enter_container(reply, 'a', MMIOD_SIG_BACKEND);
	while (r >= 0) {
		const char *spec, *msg;
		int connected;
		uint64_t since;
		struct backend_status *b;

		r = sd_bus_message_read(reply, MMIOD_SIG_BACKEND, &spec, &connected, &since, &msg);
		if (r <= 0)
			break;
		if (!(b = grow(&out->be, &out->nbe, sizeof(*b))) || dup_str(&b->spec, spec) < 0 ||
		    dup_str(&b->message, msg) < 0) {
			r = -ENOMEM;
			break;
		}
		b->connected = connected;
		b->since_usec = since;
	}
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

static int fetch_guests(struct mmioctl *c, struct guest_list *out, const char *what)
{
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = bus_connect(c);
	if (r)
		return r;
	r = sd_bus_message_new_method_call(c->bus, &m, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					   "org.freedesktop.DBus.ObjectManager",
					   "GetManagedObjects");
	if (r < 0)
		return bus_report_errno(c, r, what);
	r = bus_call(c, m, false, what, &reply);
	sd_bus_message_unref(m);
	if (r)
		return r;
	r = read_managed_objects(reply, out);
	sd_bus_message_unref(reply);
	if (r >= 0)
		r = fetch_backend_status(c, out);
	if (r < 0) {
		guest_list_free(out);
		return bus_report_errno(c, r, what);
	}
	return 0;
}

static bool guest_matches(const struct guest *g, const char *name)
{
	return (g->id && strcmp(g->id, name) == 0) || (g->name && strcmp(g->name, name) == 0) ||
	       (g->uuid && *g->uuid && strcasecmp(g->uuid, name) == 0);
}

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

/* ---- metrics: the Prometheus text format ---------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void put_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_guest_labels(FILE *f, const struct guest *g)
{
	put_label(f, "guest", g->id);
	fputc(',', f);
	put_label(f, "name", g->name ? g->name : "");
	fputc(',', f);
	put_label(f, "backend", g->backend ? g->backend : "");
}

static void put_window_labels(FILE *f, const struct guest *g, const char *kind, uint64_t start)
{
	char hex[32];

	put_guest_labels(f, g);
	fputc(',', f);
	put_label(f, "window", kind);
	snprintf(hex, sizeof(hex), "0x%" PRIx64, start);
	fputc(',', f);
	put_label(f, "start", hex);
}

/* Reads Manager's Calls and BackendStates and prints them. */
static int put_daemon_metrics(struct mmioctl *c, FILE *f)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *calls = NULL, *states = NULL;
	const char *name, *state;
	uint64_t n, errors;
	uint32_t guests;
	int r;

	r = sd_bus_get_property(c->bus, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER, "Calls",
				&e, &calls, "a(stt)");
	if (r >= 0)
		r = sd_bus_get_property(c->bus, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER,
					"BackendStates", &e, &states, "a(ssu)");
	if (r < 0) {
		int code = sd_bus_error_is_set(&e) ? bus_report_error(c, &e, "metrics")
						   : bus_report_errno(c, r, "metrics");
		sd_bus_error_free(&e);
		sd_bus_message_unref(calls);
		return code;
	}
	put_family(f, "mmiod_calls_total", "counter",
		   "D-Bus calls of a Manager method answered since mmiod started.");
	r = sd_bus_message_enter_container(calls, 'a', "(stt)");
	while (r >= 0 && (r = sd_bus_message_read(calls, "(stt)", &name, &n, &errors)) > 0) {
		fputs("mmiod_calls_total{", f);
		put_label(f, "method", name);
		fprintf(f, "} %" PRIu64 "\n", n);
	}
	put_family(f, "mmiod_call_errors_total", "counter",
		   "Error replies among them (refused, no space, invalid input, toolstack failures).");
	/* sd_bus_get_property left us inside the variant: rewind the array only */
	if (r >= 0)
		r = sd_bus_message_rewind(calls, false);
	while (r >= 0 && (r = sd_bus_message_read(calls, "(stt)", &name, &n, &errors)) > 0) {
		fputs("mmiod_call_errors_total{", f);
		put_label(f, "method", name);
		fprintf(f, "} %" PRIu64 "\n", errors);
	}
	put_family(f, "mmiod_backend_up", "gauge",
		   "1 when a configured toolstack back end is open, 0 when it failed to open.");
	r = sd_bus_message_enter_container(states, 'a', "(ssu)");
	while (r >= 0 && (r = sd_bus_message_read(states, "(ssu)", &name, &state, &guests)) > 0) {
		fputs("mmiod_backend_up{", f);
		put_label(f, "backend", name);
		fprintf(f, "} %d\n", strcmp(state, "running") == 0);
	}
	put_family(f, "mmiod_backend_guests", "gauge", "Guests a back end reports now.");
	if (r >= 0)
		r = sd_bus_message_rewind(states, false);
	while (r >= 0 && (r = sd_bus_message_read(states, "(ssu)", &name, &state, &guests)) > 0) {
		fputs("mmiod_backend_guests{", f);
		put_label(f, "backend", name);
		fprintf(f, "} %" PRIu32 "\n", guests);
	}
	sd_bus_message_unref(calls);
	sd_bus_message_unref(states);
	return r < 0 ? bus_report_errno(c, r, "metrics") : 0;
}

static void put_guest_metrics(FILE *f, const struct guest_list *l)
{
	static const struct {
		const char *name, *help;
	} win_families[] = {
		{ "mmiod_window_size_bytes", "Size of a guest's MMIO or I/O window." },
		{ "mmiod_window_free_bytes", "Free bytes in the window (BARs, holds and reservations counted as used)." },
		{ "mmiod_window_largest_free_block_bytes",
		  "Largest naturally aligned free block: the largest BAR that still fits the window." },
	};

	for (size_t k = 0; k < 3; k++) {
		put_family(f, win_families[k].name, "gauge", win_families[k].help);
		for (size_t i = 0; i < l->n; i++)
			for (size_t w = 0; w < l->v[i].nwin; w++) {
				const struct window *win = &l->v[i].win[w];
				uint64_t v = k == 0 ? win->end - win->start : k == 1 ? win->free : win->largest;

				fprintf(f, "%s{", win_families[k].name);
				put_window_labels(f, &l->v[i], win->kind, win->start);
				fprintf(f, "} %" PRIu64 "\n", v);
			}
	}
	put_family(f, "mmiod_window_free_blocks", "gauge",
		   "Maximal naturally aligned free blocks of 2^order bytes in the window.");
	for (size_t i = 0; i < l->n; i++)
		for (size_t b = 0; b < l->v[i].nfb; b++)
			for (unsigned o = 0; o < 64; o++) {
				if (!l->v[i].fb[b].count[o])
					continue;
				fputs("mmiod_window_free_blocks{", f);
				put_window_labels(f, &l->v[i], l->v[i].fb[b].kind, l->v[i].fb[b].start);
				fprintf(f, ",order=\"%u\"} %" PRIu32 "\n", o, l->v[i].fb[b].count[o]);
			}
	put_family(f, "mmiod_guest_reservations", "gauge", "Outstanding reservations of the guest.");
	for (size_t i = 0; i < l->n; i++) {
		fputs("mmiod_guest_reservations{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %zu\n", l->v[i].nres);
	}
	put_family(f, "mmiod_guest_reserved_bytes", "gauge", "Bytes of BARs the guest's reservations hold.");
	for (size_t i = 0; i < l->n; i++) {
		uint64_t sum = 0;

		for (size_t r = 0; r < l->v[i].nres; r++)
			sum += l->v[i].res[r].bytes;
		fputs("mmiod_guest_reserved_bytes{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %" PRIu64 "\n", sum);
	}
	put_family(f, "mmiod_guest_attaches_in_flight", "gauge", "Attaches and detaches not finished yet.");
	for (size_t i = 0; i < l->n; i++) {
		fputs("mmiod_guest_attaches_in_flight{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %zu\n", l->v[i].natt);
	}
	put_family(f, "mmiod_guest_can_attach", "gauge", "1 when the guest's toolstack can hot-plug now.");
	for (size_t i = 0; i < l->n; i++) {
		fputs("mmiod_guest_can_attach{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %d\n", l->v[i].can_attach);
	}
	put_family(f, "mmiod_guest_refresh_age_seconds", "gauge",
		   "Seconds since mmiod last read the guest's layout from its toolstack.");
	for (size_t i = 0; i < l->n; i++) {
		const struct guest *g = &l->v[i];

		if (!g->have_refresh_age || g->refresh_age_usec == UINT64_MAX)
			continue;
		fputs("mmiod_guest_refresh_age_seconds{", f);
		put_guest_labels(f, g);
		fprintf(f, "} %.3f\n", (double)g->refresh_age_usec / 1e6);
	}
}

/* Writes path atomically: a temporary file beside it, then rename, so a
 * reader (the node exporter) never sees half a file. */
static int write_atomically(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	mode_t mask = umask(0);
	int fd, r = 0;

	umask(mask);
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0666 & ~mask) < 0)
		r = -errno;
	for (size_t off = 0; r == 0 && off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int cmd_metrics(struct mmioctl *c, int argc, char **argv)
{
	struct guest_list l = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	r = fetch_guests(c, &l, "metrics");
	if (r)
		return r;
	f = open_memstream(&buf, &len);
	if (!f) {
		guest_list_free(&l);
		mmioctl_error("metrics: %s", strerror(errno));
		return MMIOCTL_EXIT_NO;
	}
	put_family(f, "mmiod_up", "gauge", "1: mmiod answered (this file is only written when it does).");
	fputs("mmiod_up 1\n", f);
	r = put_daemon_metrics(c, f);
	if (r == 0)
		put_guest_metrics(f, &l);
	guest_list_free(&l);
	if (fclose(f) != 0 && r == 0) {
		mmioctl_error("metrics: %s", strerror(errno));
		r = MMIOCTL_EXIT_NO;
	}
	if (r == 0 && c->output) {
		int w = write_atomically(c->output, buf, len);
		if (w < 0) {
			mmioctl_error("metrics: writing %s: %s", c->output, strerror(-w));
			r = MMIOCTL_EXIT_NO;
		}
	} else if (r == 0) {
		fwrite(buf, 1, len, stdout);
	}
	free(buf);
	return r;
}
