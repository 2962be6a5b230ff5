/* SPDX-License-Identifier: MIT */
/*
 * cmd-watch.c — `mmioctl watch`: one line per event until interrupted.
 *
 * The matches are installed before anything else is asked, so no event that
 * happens while watch starts up is lost.  Each line is flushed at once: the
 * usual reader is another program at the end of a pipe.
 *
 * Guests are named by their toolstack name (a libvirt domain's name, not
 * its UUID id).  Devices that come or go (any attach or detach, mmiod's or
 * the toolstack's own: virsh attach-device) are told from the Devices
 * property's PropertiesChanged, compared with what watch saw before; the
 * first view of every guest comes from one GetManagedObjects at start.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-event.h>

#include "mmioctl.h"

/* What watch knows of one guest: enough to name it and tell changes. */
struct wguest {
	char *path, *id, *name;
	bool can_attach, have_can_attach;
	/* Unresponsive comes before UnresponsiveReason in one signal: the line
	 * is printed at the reason */
	bool unresponsive, have_unresponsive, unresponsive_told;
	size_t ndev;
	char **dev;                     /* device names (unique), "SLOT" kept beside */
	char **slot;
};

struct wstate {
	struct mmioctl *c;
	size_t n;
	struct wguest *g;
	size_t nbe;
	char **be_spec;                 /* back ends and whether they were connected */
	bool *be_up;
};

static void emit(struct mmioctl *c, json_object *o, const char *text)
{
	if (c->json)
		json_print(c, o);
	else {
		json_object_put(o);
		puts(text);
	}
	fflush(stdout);
}

static void strv_free_n(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static struct wguest *wguest_find(struct wstate *w, const char *path, bool create)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->g[i].path, path) == 0)
			return &w->g[i];
	if (!create)
		return NULL;
	struct wguest *v = realloc(w->g, (w->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	w->g = v;
	memset(&v[w->n], 0, sizeof(v[0]));
	if (!(v[w->n].path = strdup(path)))
		return NULL;
	return &v[w->n++];
}

static void wguest_drop(struct wstate *w, struct wguest *g)
{
	free(g->path);
	free(g->id);
	free(g->name);
	strv_free_n(g->dev, g->ndev);
	strv_free_n(g->slot, g->ndev);
	*g = w->g[--w->n];
}

static const char *wguest_label(const struct wguest *g, const char *fallback)
{
	if (g && g->name && *g->name)
		return g->name;
	if (g && g->id)
		return g->id;
	return fallback;
}

/* Reads a Devices value "a(ssustts)" into a list of unique device names. */
static int read_device_names(sd_bus_message *m, char ***names, char ***slots, size_t *n)
{
	const char *dev, *slot, *kind, *src;
	uint32_t bar;
	uint64_t size, addr;
	int r = sd_bus_message_enter_container(m, 'a', MMIOD_SIG_DEVICE);

	*names = *slots = NULL;
	*n = 0;
	while (r >= 0 && (r = sd_bus_message_read(m, MMIOD_SIG_DEVICE, &dev, &slot, &bar, &kind,
						   &size, &addr, &src)) > 0) {
		bool seen = false;
		for (size_t i = 0; i < *n && !seen; i++)
			seen = strcmp((*names)[i], dev) == 0;
		if (seen)
			continue;
		char **nv = realloc(*names, (*n + 1) * sizeof(*nv));
		char **sv = nv ? realloc(*slots, (*n + 1) * sizeof(*sv)) : NULL;
		if (nv)
			*names = nv;
		if (sv)
			*slots = sv;
		if (!nv || !sv || !((*names)[*n] = strdup(dev)))
			return -ENOMEM;
		if (!((*slots)[*n] = strdup(slot))) {
			free((*names)[*n]);
			return -ENOMEM;
		}
		(*n)++;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static bool in_list(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void device_event(struct wstate *w, const struct wguest *g, const char *ev,
			 const char *dev, const char *slot)
{
	char line[512];
	json_object *o = json_object_new_object();
	json_object_object_add(o, "event", json_str(ev));
	json_object_object_add(o, "guest", json_str(g->id));
	json_object_object_add(o, "name", json_str(g->name));
	json_object_object_add(o, "device", json_str(dev));
	json_object_object_add(o, "slot", json_str(slot));
	snprintf(line, sizeof(line), "%s %s %s%s%s", ev, wguest_label(g, "?"), dev,
		 slot && *slot ? " " : "", slot ? slot : "");
	emit(w->c, o, line);
}

/* Applies one guest property (name, value in m) to the cache; tell: print
 * what changed. */
static int guest_prop(struct wstate *w, struct wguest *g, const char *name, sd_bus_message *m,
		      bool tell)
{
	int r;

	if (strcmp(name, "Id") == 0 || strcmp(name, "Name") == 0) {
		const char *v;
		r = sd_bus_message_read(m, "v", "s", &v);
		char **dst = name[0] == 'I' ? &g->id : &g->name;
		if (r >= 0) {
			free(*dst);
			*dst = strdup(v);
		}
		return r;
	}
	if (strcmp(name, "CanAttach") == 0) {
		int b = 0;
		r = sd_bus_message_read(m, "v", "b", &b);
		if (r >= 0 && tell && g->have_can_attach && g->can_attach != (bool)b) {
			char line[256];
			json_object *o = json_object_new_object();
			json_object_object_add(o, "event", json_str("can-attach"));
			json_object_object_add(o, "guest", json_str(g->id));
			json_object_object_add(o, "name", json_str(g->name));
			json_object_object_add(o, "can_attach", json_object_new_boolean(b));
			snprintf(line, sizeof(line), "can-attach %s %s", wguest_label(g, "?"),
				 b ? "yes" : "no");
			emit(w->c, o, line);
		}
		g->can_attach = b;
		g->have_can_attach = true;
		return r;
	}
	if (strcmp(name, "Unresponsive") == 0) {
		int b = 0;
		r = sd_bus_message_read(m, "v", "b", &b);
		if (r >= 0 && g->have_unresponsive && g->unresponsive != (bool)b)
			g->unresponsive_told = !tell;   /* tell it at the reason */
		g->unresponsive = b;
		g->have_unresponsive = true;
		return r;
	}
	if (strcmp(name, "UnresponsiveReason") == 0) {
		const char *why;
		r = sd_bus_message_read(m, "v", "s", &why);
		if (r >= 0 && tell && !g->unresponsive_told) {
			char line[600];
			json_object *o = json_object_new_object();
			json_object_object_add(o, "event", json_str("unresponsive"));
			json_object_object_add(o, "guest", json_str(g->id));
			json_object_object_add(o, "name", json_str(g->name));
			json_object_object_add(o, "unresponsive", json_object_new_boolean(g->unresponsive));
			json_object_object_add(o, "reason", json_str(why));
			if (g->unresponsive)
				snprintf(line, sizeof(line), "unresponsive %s yes: %.400s",
					 wguest_label(g, "?"), why);
			else
				snprintf(line, sizeof(line), "unresponsive %s no", wguest_label(g, "?"));
			emit(w->c, o, line);
		}
		g->unresponsive_told = true;
		return r;
	}
	if (strcmp(name, "Devices") == 0) {
		char **names, **slots;
		size_t n;
		r = sd_bus_message_enter_container(m, 'v', "a" MMIOD_SIG_DEVICE);
		if (r < 0)
			return r;
		r = read_device_names(m, &names, &slots, &n);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0) {
			strv_free_n(names, n);
			strv_free_n(slots, n);
			return r;
		}
		for (size_t i = 0; tell && i < n; i++)
			if (!in_list(g->dev, g->ndev, names[i]))
				device_event(w, g, "device-added", names[i], slots[i]);
		for (size_t i = 0; tell && i < g->ndev; i++)
			if (!in_list(names, n, g->dev[i]))
				device_event(w, g, "device-removed", g->dev[i], g->slot[i]);
		strv_free_n(g->dev, g->ndev);
		strv_free_n(g->slot, g->ndev);
		g->dev = names;
		g->slot = slots;
		g->ndev = n;
		return 0;
	}
	return sd_bus_message_skip(m, "v");
}

/* a{sv} of org.mmiod1.Guest into g. */
static int guest_props(struct wstate *w, struct wguest *g, sd_bus_message *m, bool tell)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;
		r = sd_bus_message_read(m, "s", &name);
		if (r >= 0)
			r = guest_prop(w, g, name, m, tell);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

/* Reads a BackendStatus value; tell: print the back ends whose link changed. */
static int backend_status(struct wstate *w, sd_bus_message *m, bool tell)
{
	const char *spec, *msg;
	int up;
	uint64_t since;
	int r = sd_bus_message_enter_container(m, 'a', MMIOD_SIG_BACKEND);

	while (r >= 0 && (r = sd_bus_message_read(m, MMIOD_SIG_BACKEND, &spec, &up, &since, &msg)) > 0) {
		size_t i;
		for (i = 0; i < w->nbe && strcmp(w->be_spec[i], spec) != 0; i++)
			;
		if (i == w->nbe) {
			char **sv = realloc(w->be_spec, (w->nbe + 1) * sizeof(*sv));
			bool *uv = sv ? realloc(w->be_up, (w->nbe + 1) * sizeof(*uv)) : NULL;
			if (sv)
				w->be_spec = sv;
			if (uv)
				w->be_up = uv;
			if (!sv || !uv || !(w->be_spec[i] = strdup(spec)))
				return -ENOMEM;
			w->be_up[i] = true;
			w->nbe++;
		}
		if (tell && w->be_up[i] != (bool)up) {
			char line[700];
			json_object *o = json_object_new_object();
			const char *ev = up ? "backend-connected" : "backend-disconnected";
			json_object_object_add(o, "event", json_str(ev));
			json_object_object_add(o, "backend", json_str(spec));
			json_object_object_add(o, "message", json_str(msg));
			snprintf(line, sizeof(line), "%s %s%s%s", ev, spec, *msg ? ": " : "", msg);
			emit(w->c, o, line);
		}
		w->be_up[i] = up;
	}
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct wstate *w = userdata;
	const char *iface, *path = sd_bus_message_get_path(m);
	int r = sd_bus_message_read(m, "s", &iface);

	if (r < 0 || !path)
		return 0;
	if (strcmp(iface, MMIOD_IFACE_GUEST) == 0) {
		struct wguest *g = wguest_find(w, path, false);
		if (g)
			guest_props(w, g, m, true);
		return 0;
	}
	if (strcmp(iface, MMIOD_IFACE_MANAGER) != 0)
		return 0;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;
		r = sd_bus_message_read(m, "s", &name);
		if (r >= 0 && strcmp(name, "BackendStatus") == 0) {
			r = sd_bus_message_enter_container(m, 'v', "a" MMIOD_SIG_BACKEND);
			if (r >= 0)
				r = backend_status(w, m, true);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		} else if (r >= 0) {
			r = sd_bus_message_skip(m, "v");
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	return 0;
}

/* The first view of every guest and back end, after the matches are in. */
static void load_state(struct wstate *w)
{
	sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(w->c->bus, MMIOD_BUS_NAME, MMIOD_PATH_ROOT,
				   "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &e, &reply,
				   "");
	if (r >= 0)
		r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
		const char *path, *iface;
		r = sd_bus_message_read(reply, "o", &path);
		if (r >= 0)
			r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
		while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
			r = sd_bus_message_read(reply, "s", &iface);
			struct wguest *g = r >= 0 && strcmp(iface, MMIOD_IFACE_GUEST) == 0 ?
					   wguest_find(w, path, true) : NULL;
			if (g)
				r = guest_props(w, g, reply, false);
			else if (r >= 0)
				r = sd_bus_message_skip(reply, "a{sv}");
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	sd_bus_message_unref(reply);
	sd_bus_error_free(&e);
	reply = NULL;
	r = sd_bus_get_property(w->c->bus, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER,
				"BackendStatus", &e, &reply, "a" MMIOD_SIG_BACKEND);
	if (r >= 0)
		backend_status(w, reply, false);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&e);
}

static int on_guest_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct wstate *w = userdata;
	bool added = sd_bus_message_is_signal(m, MMIOD_IFACE_MANAGER, "GuestAdded");
	const char *guest, *path, *ev = added ? "guest-added" : "guest-removed";
	char line[1024];
	json_object *o;
	struct wguest *g;

	if (sd_bus_message_read(m, "so", &guest, &path) < 0)
		return 0; /* a malformed signal is not worth ending the watch for */
	g = wguest_find(w, path, added);
	if (added && g) {
		/* Its name and devices now: later changes are told against them. */
		sd_bus_message *reply = NULL;
		sd_bus_error e = SD_BUS_ERROR_NULL;
		if (sd_bus_call_method(w->c->bus, MMIOD_BUS_NAME, path, "org.freedesktop.DBus.Properties",
				       "GetAll", &e, &reply, "s", MMIOD_IFACE_GUEST) >= 0)
			guest_props(w, g, reply, false);
		sd_bus_message_unref(reply);
		sd_bus_error_free(&e);
		if (!g->id)
			g->id = strdup(guest);
	}
	o = json_object_new_object();
	json_object_object_add(o, "event", json_str(ev));
	json_object_object_add(o, "guest", json_str(guest));
	json_object_object_add(o, "path", json_str(path));
	json_object_object_add(o, "name", json_str(g && g->name ? g->name : guest));
	snprintf(line, sizeof(line), "%s %s %s", ev, wguest_label(g, guest), path);
	emit(w->c, o, line);
	if (!added && g)
		wguest_drop(w, g);
	return 0;
}

static int on_attach_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct wstate *w = userdata;
	struct mmioctl *c = w->c;
	const char *guest, *id, *dev, *ename, *msg;
	int ok;
	char line[2048];
	json_object *o;

	if (sd_bus_message_read(m, "sssbss", &guest, &id, &dev, &ok, &ename, &msg) < 0)
		return 0;
	o = json_object_new_object();
	json_object_object_add(o, "event", json_str("attach-finished"));
	json_object_object_add(o, "guest", json_str(guest));
	json_object_object_add(o, "attach_id", json_str(id));
	json_object_object_add(o, "device", json_str(dev));
	json_object_object_add(o, "success", json_object_new_boolean(ok));
	json_object_object_add(o, "error", *ename ? json_str(ename) : NULL);
	json_object_object_add(o, "message", json_str(msg));
	const char *label = guest;
	for (size_t i = 0; i < w->n; i++)
		if (w->g[i].id && strcmp(w->g[i].id, guest) == 0)
			label = wguest_label(&w->g[i], guest);
	json_object_object_add(o, "name", json_str(label));
	if (ok)
		snprintf(line, sizeof(line), "attach-finished %s %s %s ok", label, id, dev);
	else
		snprintf(line, sizeof(line), "attach-finished %s %s %s failed: %s", label,
			 *id ? id : "-", dev, *msg ? msg : ename);
	emit(c, o, line);
	return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct wstate *w = userdata;
	struct mmioctl *c = w->c;
	const char *name, *old_owner, *new_owner, *ev;
	json_object *o;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    strcmp(name, MMIOD_BUS_NAME) != 0)
		return 0;
	/* A restart of the daemon is worth a line: attaches in flight may
	 * never report back. */
	ev = *new_owner ? "daemon-started" : "daemon-stopped";
	o = json_object_new_object();
	json_object_object_add(o, "event", json_str(ev));
	emit(c, o, ev);
	return 0;
}

static void wstate_free(struct wstate *w)
{
	while (w->n)
		wguest_drop(w, &w->g[0]);
	free(w->g);
	strv_free_n(w->be_spec, w->nbe);
	free(w->be_up);
}

int cmd_watch(struct mmioctl *c, int argc, char **argv)
{
	sd_event *e = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sigset_t ss;
	uint32_t version;
	int r, code;
	struct wstate w = { .c = c };

	r = bus_connect(c);
	if (r)
		return r;
	r = sd_bus_match_signal(c->bus, NULL, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
				MMIOD_IFACE_MANAGER, "GuestAdded", on_guest_signal, &w);
	if (r >= 0)
		r = sd_bus_match_signal(c->bus, NULL, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					MMIOD_IFACE_MANAGER, "GuestRemoved", on_guest_signal, &w);
	if (r >= 0)
		r = sd_bus_match_signal(c->bus, NULL, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					MMIOD_IFACE_MANAGER, "AttachFinished",
					on_attach_finished, &w);
	if (r >= 0)
		r = sd_bus_add_match(c->bus, NULL,
				     "type='signal',sender='" MMIOD_BUS_NAME "',"
				     "interface='org.freedesktop.DBus.Properties',"
				     "member='PropertiesChanged',path_namespace='" MMIOD_PATH_ROOT "'",
				     on_properties_changed, &w);
	if (r >= 0)
		r = sd_bus_add_match(c->bus, NULL,
				     "type='signal',sender='org.freedesktop.DBus',"
				     "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
				     "member='NameOwnerChanged',arg0='" MMIOD_BUS_NAME "'",
				     on_owner_changed, &w);
	if (r < 0)
		return bus_report_errno(c, r, "watch");

	/* Fail now, like every other verb, if there is no daemon to watch. */
	r = sd_bus_get_property_trivial(c->bus, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					MMIOD_IFACE_MANAGER, "Version", &err, 'u', &version);
	if (r < 0) {
		code = sd_bus_error_is_set(&err) ? bus_report_error(c, &err, "watch")
						 : bus_report_errno(c, r, "watch");
		sd_bus_error_free(&err);
		return code;
	}
	load_state(&w);

	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	r = sd_event_default(&e);
	if (r >= 0)
		r = sd_event_add_signal(e, NULL, SIGINT, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_bus_attach_event(c->bus, e, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_set_exit_on_disconnect(c->bus, true);
	if (r < 0) {
		sd_event_unref(e);
		wstate_free(&w);
		return bus_report_errno(c, r, "watch");
	}
	code = sd_event_loop(e);
	sd_bus_detach_event(c->bus);
	sd_event_unref(e);
	wstate_free(&w);
	if (code < 0)
		return bus_report_errno(c, code, "watch");
	if (code != 0) {
		/* Only a lost connection ends the loop with a non-zero code. */
		mmioctl_error("watch: lost the connection to the bus");
		return MMIOCTL_EXIT_NO_DAEMON;
	}
	return 0;
}
