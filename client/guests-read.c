/* SPDX-License-Identifier: MIT */
/* guests-read.c — the guests and back ends as mmiod shows them (guests-read.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "guests-read.h"

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

void guest_list_free(struct guest_list *l)
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

int fetch_guests(struct mmioctl *c, struct guest_list *out, const char *what)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = bus_connect(c);
	if (r)
		return r;
	r = sd_bus_message_new_method_call(c->bus, &m, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					   "org.freedesktop.DBus.ObjectManager",
					   "GetManagedObjects");
	r = bus_call_built(c, m, r, false, what, &reply);
	if (r)
		return r;
	r = read_managed_objects(reply, out);
	if (r >= 0)
		r = fetch_backend_status(c, out);
	if (r < 0) {
		guest_list_free(out);
		return bus_report_errno(c, r, what);
	}
	return 0;
}

bool guest_matches(const struct guest *g, const char *name)
{
	return (g->id && strcmp(g->id, name) == 0) || (g->name && strcmp(g->name, name) == 0) ||
	       (g->uuid && *g->uuid && strcasecmp(g->uuid, name) == 0);
}
