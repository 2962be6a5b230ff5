/* SPDX-License-Identifier: MIT */
/* state.c — see state.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mmiod-names.h"
#include "state.h"

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);   /* strings: JSON numbers lose 64-bit precision */
	add_str(o, k, buf);
}

static struct json_object *entry_to_json(const struct books_entry *e)
{
	struct json_object *o = json_object_new_object(), *bars = json_object_new_array();

	add_str(o, "spec", e->spec);
	add_str(o, "name", e->dev.name);
	if (e->port[0])
		add_str(o, "port", e->port);
	json_object_object_add(o, "has_bdf", json_object_new_boolean(e->dev.has_bdf));
	if (e->dev.has_bdf) {
		char bdf[16];
		mmio_bdf_format(&e->dev.bdf, bdf, sizeof(bdf));
		add_str(o, "bdf", bdf);
	}
	if (mmio_device_is_slot(&e->dev)) {
		/* the functions of a slot: number and host address */
		struct json_object *fns = json_object_new_array();
		for (unsigned f = 0; f < e->dev.nfn && f < MMIO_MAX_FUNCTIONS; f++) {
			struct json_object *jf = json_object_new_object();
			json_object_object_add(jf, "fn", json_object_new_int(e->dev.fns[f].fn));
			if (e->dev.fns[f].has_bdf) {
				char bdf[16];
				mmio_bdf_format(&e->dev.fns[f].bdf, bdf, sizeof(bdf));
				add_str(jf, "bdf", bdf);
			}
			json_object_array_add(fns, jf);
		}
		json_object_object_add(o, "functions", fns);
	}
	if (e->port_resized) {
		/* the port's windows after a pciehp re-sizing: name -> [start, end) */
		static const char *const wname[3] = { "io", "mem", "pref" };
		struct json_object *pw = json_object_new_object();
		for (unsigned w = 0; w < 3; w++) {
			struct json_object *jw;
			if (!e->port_after.present[w])
				continue;
			jw = json_object_new_object();
			add_u64(jw, "start", e->port_after.win[w].start);
			add_u64(jw, "end", e->port_after.win[w].end);
			json_object_object_add(jw, "flags", json_object_new_int(e->port_after.win[w].flags));
			json_object_object_add(pw, wname[w], jw);
		}
		json_object_object_add(o, "port_windows_after", pw);
	}
	for (unsigned i = 0; i < e->nbars; i++) {
		const struct books_bar *b = &e->bars[i];
		struct json_object *jb = json_object_new_object();
		if (b->bar.fn)
			json_object_object_add(jb, "fn", json_object_new_int(b->bar.fn));
		json_object_object_add(jb, "index", json_object_new_int(b->bar.index));
		json_object_object_add(jb, "kind", json_object_new_int(b->bar.kind));
		json_object_object_add(jb, "prefetch", json_object_new_boolean(b->bar.prefetch));
		add_u64(jb, "size", b->bar.size);
		json_object_object_add(jb, "placed", json_object_new_boolean(b->placed));
		if (b->placed) {
			add_str(jb, "window", mmio_window_kind_name(b->window));
			if (b->pref_window)
				json_object_object_add(jb, "pref_window", json_object_new_boolean(true));
			add_u64(jb, "addr", b->addr);
		}
		json_object_array_add(bars, jb);
	}
	json_object_object_add(o, "bars", bars);
	return o;
}

struct json_object *state_books_to_json(const struct books *b)
{
	struct json_object *o = json_object_new_object();
	struct json_object *res = json_object_new_array(), *att = json_object_new_array();

	for (size_t i = 0; i < b->nres; i++) {
		struct json_object *r = json_object_new_object(), *devs = json_object_new_array();
		add_str(r, "id", b->res[i].id);
		add_str(r, "label", b->res[i].label);
		for (size_t j = 0; j < b->res[i].n; j++)
			json_object_array_add(devs, entry_to_json(&b->res[i].devs[j]));
		json_object_object_add(r, "devices", devs);
		json_object_array_add(res, r);
	}
	for (size_t i = 0; i < b->nattach; i++) {
		const struct books_attach *a = &b->attaches[i];
		struct json_object *j = json_object_new_object();
		add_str(j, "id", a->id);
		add_str(j, "tsd_id", a->tsd_id);
		add_str(j, "host_bdf", a->host_bdf);
		add_str(j, "qemu_device", a->qemu_device);
		add_str(j, "state", books_attach_state_name(a->state));
		json_object_object_add(j, "device", entry_to_json(&a->e));
		json_object_array_add(att, j);
	}
	json_object_object_add(o, "reservations", res);
	json_object_object_add(o, "attaches", att);
	return o;
}

static const char *get_str(struct json_object *o, const char *k)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool get_u64(struct json_object *o, const char *k, uint64_t *out)
{
	const char *s = get_str(o, k);
	char *end;
	if (!s)
		return false;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return !errno && *s && !*end;
}

static bool get_int(struct json_object *o, const char *k, int *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int(v);
	return true;
}

static bool get_bool(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static enum mmio_status entry_from_json(struct json_object *o, struct books_entry *e,
					struct mmio_error *err)
{
	struct json_object *bars;
	const char *spec = get_str(o, "spec"), *name = get_str(o, "name");

	memset(e, 0, sizeof(*e));
	if (!spec || !name || !json_object_object_get_ex(o, "bars", &bars) ||
	    !json_object_is_type(bars, json_type_array))
		return mmio_error_set(err, MMIO_E_INVALID, "a device entry lacks spec, name or bars");
	snprintf(e->spec, sizeof(e->spec), "%s", spec);
	snprintf(e->dev.name, sizeof(e->dev.name), "%s", name);
	const char *port = get_str(o, "port");      /* absent: the root bus (and older files) */
	if (port && strlen(port) >= sizeof(e->port))
		return mmio_error_set(err, MMIO_E_INVALID, "device %s: port name too long", name);
	if (port)
		snprintf(e->port, sizeof(e->port), "%s", port);
	if (get_bool(o, "has_bdf")) {
		const char *bdf = get_str(o, "bdf");
		if (!bdf || mmio_bdf_parse(bdf, &e->dev.bdf, err) != MMIO_OK)
			return mmio_error_set(err, MMIO_E_INVALID, "device %s has a bad bdf", name);
		e->dev.has_bdf = true;
	}
	struct json_object *fns, *pw;
	if (json_object_object_get_ex(o, "functions", &fns)) {
		size_t nf = json_object_is_type(fns, json_type_array) ? json_object_array_length(fns) : 0;
		if (nf < 2 || nf > MMIO_MAX_FUNCTIONS)
			return mmio_error_set(err, MMIO_E_INVALID, "device %s: bad functions", name);
		for (size_t f = 0; f < nf; f++) {
			struct json_object *jf = json_object_array_get_idx(fns, f);
			const char *bdf = get_str(jf, "bdf");
			int fn;
			if (!get_int(jf, "fn", &fn) || fn < 0 || fn >= MMIO_MAX_FUNCTIONS ||
			    (bdf && mmio_bdf_parse(bdf, &e->dev.fns[f].bdf, err) != MMIO_OK))
				return mmio_error_set(err, MMIO_E_INVALID, "device %s: function %zu is malformed",
						      name, f);
			e->dev.fns[f].fn = (uint8_t)fn;
			e->dev.fns[f].has_bdf = bdf != NULL;
		}
		e->dev.nfn = (unsigned)nf;
	}
	if (json_object_object_get_ex(o, "port_windows_after", &pw)) {
		static const char *const wname[3] = { "io", "mem", "pref" };
		for (unsigned w = 0; w < 3; w++) {
			struct json_object *jw;
			struct mmio_window *mw = &e->port_after.win[w];
			int flags = 0;
			if (!json_object_object_get_ex(pw, wname[w], &jw))
				continue;
			if (!get_u64(jw, "start", &mw->start) || !get_u64(jw, "end", &mw->end) ||
			    !get_int(jw, "flags", &flags) || mw->start >= mw->end)
				return mmio_error_set(err, MMIO_E_INVALID, "device %s: port window %s is malformed",
						      name, wname[w]);
			mw->flags = (uint8_t)flags;
			mw->kind = w == 0 ? MMIO_WIN_IO : mw->start >= MMIO_4G ? MMIO_WIN_HIGH : MMIO_WIN_LOW;
			e->port_after.present[w] = true;
		}
		e->port_resized = true;
	}
	size_t n = json_object_array_length(bars);
	if (n > MMIO_MAX_DEVICE_BARS)
		return mmio_error_set(err, MMIO_E_INVALID, "device %s has %zu BARs", name, n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *jb = json_object_array_get_idx(bars, i);
		struct books_bar *b = &e->bars[i];
		int index, kind, fn = 0;
		const char *win;
		if ((json_object_object_get_ex(jb, "fn", NULL) && (!get_int(jb, "fn", &fn) || fn < 0 ||
								    fn >= MMIO_MAX_FUNCTIONS)) ||
		    !get_int(jb, "index", &index) || !get_int(jb, "kind", &kind) ||
		    !get_u64(jb, "size", &b->bar.size) || index < 0 || index > MMIO_BAR_ROM ||
		    kind < MMIO_BAR_IO || kind > MMIO_BAR_MEM64)
			return mmio_error_set(err, MMIO_E_INVALID, "device %s: BAR %zu is malformed",
					      name, i);
		b->bar.index = (uint8_t)index;
		b->bar.fn = (uint8_t)fn;
		b->bar.kind = (uint8_t)kind;
		b->bar.prefetch = get_bool(jb, "prefetch");
		b->placed = get_bool(jb, "placed");
		if (b->placed) {
			win = get_str(jb, "window");
			if (!win || !get_u64(jb, "addr", &b->addr))
				return mmio_error_set(err, MMIO_E_INVALID,
						      "device %s: BAR %zu lacks window or addr", name, i);
			b->window = strcmp(win, "high") == 0 ? MMIO_WIN_HIGH :
				    strcmp(win, "io") == 0 ? MMIO_WIN_IO : MMIO_WIN_LOW;
			b->pref_window = get_bool(jb, "pref_window");
		}
		e->dev.bars[i] = b->bar;
	}
	e->nbars = (unsigned)n;
	e->dev.nbars = (unsigned)n;
	return MMIO_OK;
}

enum mmio_status state_books_from_json(struct json_object *o, struct books *b,
				       struct mmio_error *err)
{
	struct json_object *res, *att;
	enum mmio_status st;

	if (json_object_object_get_ex(o, "reservations", &res) &&
	    json_object_is_type(res, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(res); i++) {
			struct json_object *r = json_object_array_get_idx(res, i), *devs;
			const char *id = get_str(r, "id"), *label = get_str(r, "label");
			struct books_reservation rv = { 0 };
			if (!id || !json_object_object_get_ex(r, "devices", &devs) ||
			    !json_object_is_type(devs, json_type_array))
				return mmio_error_set(err, MMIO_E_INVALID, "reservation %zu is malformed", i);
			snprintf(rv.id, sizeof(rv.id), "%s", id);
			snprintf(rv.label, sizeof(rv.label), "%s", label ? label : "");
			rv.n = json_object_array_length(devs);
			rv.devs = calloc(rv.n ? rv.n : 1, sizeof(*rv.devs));
			if (!rv.devs)
				return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
			for (size_t j = 0; j < rv.n; j++) {
				st = entry_from_json(json_object_array_get_idx(devs, j), &rv.devs[j], err);
				if (st != MMIO_OK) {
					free(rv.devs);
					return st;
				}
			}
			st = books_add_reservation(b, &rv, err);
			free(rv.devs);
			if (st != MMIO_OK)
				return st;
		}
	}
	if (json_object_object_get_ex(o, "attaches", &att) &&
	    json_object_is_type(att, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(att); i++) {
			struct json_object *j = json_object_array_get_idx(att, i), *dev;
			struct books_attach a;
			const char *id = get_str(j, "id"), *state = get_str(j, "state");
			int s;
			memset(&a, 0, sizeof(a));
			if (!id || !state || (s = books_attach_state_from_name(state)) < 0 ||
			    !json_object_object_get_ex(j, "device", &dev))
				return mmio_error_set(err, MMIO_E_INVALID, "attach %zu is malformed", i);
			snprintf(a.id, sizeof(a.id), "%s", id);
			snprintf(a.tsd_id, sizeof(a.tsd_id), "%s", get_str(j, "tsd_id") ? get_str(j, "tsd_id") : "");
			snprintf(a.host_bdf, sizeof(a.host_bdf), "%s", get_str(j, "host_bdf") ? get_str(j, "host_bdf") : "");
			snprintf(a.qemu_device, sizeof(a.qemu_device), "%s",
				 get_str(j, "qemu_device") ? get_str(j, "qemu_device") : "");
			a.state = (uint8_t)s;
			st = entry_from_json(dev, &a.e, err);
			if (st == MMIO_OK)
				st = books_add_attach(b, &a, err);
			if (st != MMIO_OK)
				return st;
		}
	}
	return MMIO_OK;
}

enum mmio_status state_write_atomic(const char *dir, const char *name, const char *text,
				    void (*between_cb)(void), struct mmio_error *err)
{
	char tmp[4096], dst[4096];
	size_t len = strlen(text);
	int fd, dfd;
	FILE *f;

	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return mmio_error_set(err, MMIO_E_IO, "cannot create a temporary file in %s: %s", dir,
				      strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return mmio_error_set(err, MMIO_E_IO, "fdopen %s: %s", tmp, strerror(errno));
	}
	if (fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		int e = errno;
		fclose(f);
		unlink(tmp);
		return mmio_error_set(err, MMIO_E_IO, "cannot write %s: %s", tmp, strerror(e));
	}
	if (fclose(f) != 0) {
		unlink(tmp);
		return mmio_error_set(err, MMIO_E_IO, "cannot close %s: %s", tmp, strerror(errno));
	}
	if (between_cb)
		between_cb();
	if (rename(tmp, dst) != 0) {
		int e = errno;
		unlink(tmp);
		return mmio_error_set(err, MMIO_E_IO, "cannot rename %s to %s: %s", tmp, dst, strerror(e));
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		int r = fsync(dfd);
		int e = errno;
		close(dfd);
		if (r != 0)
			return mmio_error_set(err, MMIO_E_IO, "cannot fsync %s: %s", dir, strerror(e));
	}
	return MMIO_OK;
}

enum mmio_status state_load(const char *dir, const char *name, struct json_object **out,
			    struct mmio_error *err)
{
	char path[4096], aside[4200];
	struct json_object *o;
	struct json_object *ver;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, F_OK) != 0)
		return mmio_error_set(err, MMIO_E_NOTFOUND, "no state file %s", path);
	o = json_object_from_file(path);
	if (o && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "version", &ver) && json_object_is_type(ver, json_type_int) &&
	    json_object_get_int(ver) == MMIOD_STATE_VERSION) {
		*out = o;
		return MMIO_OK;
	}
	json_object_put(o);
	/* Never overwrite an earlier damaged file (two in one second): link()
	 * fails with EEXIST where rename() would replace it silently. */
	long long now = (long long)time(NULL);
	int r = -1;
	for (unsigned k = 0; k < 1000; k++) {
		if (k == 0)
			snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, now);
		else
			snprintf(aside, sizeof(aside), "%s.corrupt-%lld.%u", path, now, k);
		r = link(path, aside);
		if (r == 0 || errno != EEXIST)
			break;
	}
	if (r == 0 && unlink(path) != 0)
		r = -1;
	if (r != 0)
		return mmio_error_set(err, MMIO_E_IO,
				      "state file %s is damaged and cannot be moved aside: %s", path,
				      strerror(errno));
	return mmio_error_set(err, MMIO_E_INVALID,
			      "state file %s is damaged or of an unknown version; moved it to %s and "
			      "starting with empty books", path, aside);
}
