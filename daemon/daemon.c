/* SPDX-License-Identifier: MIT */
/*
 * daemon.c — guests as the back ends announce them, their books, refresh,
 * the state file and reconciliation after a restart.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "mmiod-names.h"
#include "state.h"

void daemon_test_abort_at(const char *step)
{
	const char *at = getenv(MMIOD_ENV_TEST_ABORT_AT);   /* TEST ONLY */

	if (at && strcmp(at, step) == 0) {
		log_warn("%s=%s: aborting as asked (test-only fault injection)",
			 MMIOD_ENV_TEST_ABORT_AT, step);
		abort();
	}
}

void daemon_new_id(struct daemon *d, char prefix, char *buf, size_t len)
{
	/* unique across restarts too: time + serial */
	snprintf(buf, len, "%c%lx%03lu", prefix, (unsigned long)time(NULL) & 0xffffffu,
		 ++d->next_serial % 1000);
}

enum mmio_status daemon_resolve(struct daemon *d, const char *spec, struct mmio_device *out,
				struct mmio_error *err)
{
	return mmio_device_resolve(spec, d->cfg.sysfs_root, d->have_cat ? &d->cat : NULL, out, err);
}

/* ---- the guest index ------------------------------------------------------ */
/* Chained hash tables over the listed guests (d->guests), one per key; a
 * guest is in all four while listed.  d->gcap buckets each, grown to keep
 * at most one guest per bucket on average. */

enum { GKEY_ID, GKEY_TSD, GKEY_NAME, GKEY_UUID };

static size_t hash_str(const char *s, bool fold, uint64_t h)
{
	/* FNV-1a */
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (fold && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 0x100000001b3ull;
	}
	return (size_t)(h ^ (h >> 29));
}

#define HASH_SEED 0xcbf29ce484222325ull

static size_t gkey_hash(const struct backend_inst *bi, const char *key, int k)
{
	uint64_t seed = HASH_SEED;
	if (k == GKEY_TSD)
		seed ^= (uint64_t)(uintptr_t)bi * 0x9e3779b97f4a7c15ull;
	return hash_str(key, k == GKEY_UUID, seed);
}

static const char *gkey_of(const struct guest *g, int k)
{
	switch (k) {
	case GKEY_ID: return g->id;
	case GKEY_TSD: return g->tsd_id;
	case GKEY_NAME: return g->info.name;
	default: return g->info.uuid;
	}
}

static void index_link(struct daemon *d, struct guest *g)
{
	for (int k = 0; k < 4; k++) {
		size_t b = gkey_hash(g->bi, gkey_of(g, k), k) & (d->gcap - 1);
		g->hnext[k] = d->gidx[k][b];
		d->gidx[k][b] = g;
	}
}

static void index_unlink(struct daemon *d, struct guest *g)
{
	if (!d->gcap)
		return;
	for (int k = 0; k < 4; k++) {
		size_t b = gkey_hash(g->bi, gkey_of(g, k), k) & (d->gcap - 1);
		for (struct guest **p = &d->gidx[k][b]; *p; p = &(*p)->hnext[k])
			if (*p == g) {
				*p = g->hnext[k];
				break;
			}
		g->hnext[k] = NULL;
	}
}

/* Makes room for one more guest; false when out of memory (the index is
 * then left as it was and still valid). */
static bool index_reserve(struct daemon *d)
{
	size_t cap = d->gcap ? d->gcap : 64;
	while (cap < d->nguests + 1)
		cap *= 2;
	if (cap == d->gcap)
		return true;
	struct guest **v[4];
	for (int k = 0; k < 4; k++)
		if (!(v[k] = calloc(cap, sizeof(**v)))) {
			while (k--)
				free(v[k]);
			return false;
		}
	for (int k = 0; k < 4; k++) {
		free(d->gidx[k]);
		d->gidx[k] = v[k];
	}
	d->gcap = cap;
	for (size_t i = 0; i < d->nguests; i++)
		index_link(d, d->guests[i]);
	return true;
}

void daemon_guest_index_free(struct daemon *d)
{
	for (int k = 0; k < 4; k++) {
		free(d->gidx[k]);
		d->gidx[k] = NULL;
	}
	d->gcap = 0;
}

static struct guest *guest_by_id(struct daemon *d, const char *id)
{
	if (!d->gcap)
		return NULL;
	for (struct guest *g = d->gidx[GKEY_ID][gkey_hash(NULL, id, GKEY_ID) & (d->gcap - 1)]; g;
	     g = g->hnext[GKEY_ID])
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

/* ---- lookup -------------------------------------------------------------- */

struct guest *daemon_guest_lookup(struct daemon *d, const char *key, struct ops_error *err)
{
	struct guest *hit = NULL;
	unsigned nhits = 0;

	/* the id wins outright; then name or uuid, which must be unambiguous */
	if ((hit = guest_by_id(d, key)))
		return hit;
	if (d->gcap) {
		size_t bn = gkey_hash(NULL, key, GKEY_NAME) & (d->gcap - 1);
		size_t bu = gkey_hash(NULL, key, GKEY_UUID) & (d->gcap - 1);
		for (struct guest *g = d->gidx[GKEY_NAME][bn]; g; g = g->hnext[GKEY_NAME])
			if (strcmp(g->info.name, key) == 0) {
				hit = g;
				nhits++;
			}
		/* a guest whose name and uuid both match counts once */
		for (struct guest *g = d->gidx[GKEY_UUID][bu]; g; g = g->hnext[GKEY_UUID])
			if (g->info.uuid[0] && strcasecmp(g->info.uuid, key) == 0 &&
			    strcmp(g->info.name, key) != 0) {
				hit = g;
				nhits++;
			}
	}
	if (nhits == 1)
		return hit;

	char known[1024] = "";
	size_t off = 0;
	for (size_t i = 0; i < d->nguests && off < sizeof(known) - 1; i++) {
		int n = snprintf(known + off, sizeof(known) - off, "%s%s (%s)", i ? ", " : "",
				 d->guests[i]->id, d->guests[i]->info.name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (nhits > 1)
		ops_fail(err, OPS_E_NO_SUCH_GUEST,
			 "\"%.200s\" names %u guests; use the id. Known guests: %s", key, nhits, known);
	else
		ops_fail(err, OPS_E_NO_SUCH_GUEST, "no guest \"%.200s\"; known guests: %s",
			 key, d->nguests ? known : "none");
	return NULL;
}

struct guest *daemon_guest_by_id(struct daemon *d, const char *id)
{
	return guest_by_id(d, id);
}

static void guest_free(struct guest *g)
{
	books_free(&g->books);
	free(g);
}

void daemon_guest_unref_op(struct guest *g)
{
	if (g->ops)
		g->ops--;
	if (g->gone && !g->ops)
		guest_free(g);
}

/* The books take a layout just read from the toolstack; its time is the
 * guest's last refresh (Guest.RefreshAgeUSec, mmioctl metrics). */
static enum mmio_status guest_set_layout(struct guest *g, const struct tsd_layout *layout,
					 struct mmio_error *err)
{
	enum mmio_status st = books_set_layout(&g->books, layout, err);

	if (st == MMIO_OK)
		g->refreshed_usec = daemon_now_usec();
	return st;
}

uint64_t daemon_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void daemon_guest_changed(struct guest *g, unsigned what)
{
	struct daemon *d = g->d;

	if (!g->gone && d->obs && d->obs->guest_changed)
		d->obs->guest_changed(d->obs_ud, g, what);
}

void daemon_backends_changed(struct daemon *d)
{
	if (d->obs && d->obs->backends_changed)
		d->obs->backends_changed(d->obs_ud);
}

/* ---- state ------------------------------------------------------------------ */

static void state_key(const struct backend_inst *bi, const char *tsd_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s|%s", bi->spec, tsd_id);
}

static void abort_while_saving(void)
{
	daemon_test_abort_at("while-saving");
}

int daemon_save(struct daemon *d)
{
	struct json_object *root = json_object_new_object(), *guests = json_object_new_object();
	struct mmio_error err = { 0 };
	char key[512];
	enum mmio_status st;

	json_object_object_add(root, "version", json_object_new_int(MMIOD_STATE_VERSION));
	/* books of guests not announced (yet) are kept as they were */
	if (d->pending_state) {
		json_object_object_foreach(d->pending_state, k, v)
			json_object_object_add(guests, k, json_object_get(v));
	}
	for (size_t i = 0; i < d->nguests; i++) {
		struct guest *g = d->guests[i];
		/* Empty books are not written: a guest missing from the file
		 * restores to nothing, the same.  With thousands of guests and
		 * a few with books, every save would serialize them all. */
		if (!g->books.nres && !g->books.nattach)
			continue;
		struct json_object *o = state_books_to_json(&g->books);
		json_object_object_add(o, "backend", json_object_new_string(g->bi->spec));
		json_object_object_add(o, "guest", json_object_new_string(g->tsd_id));
		state_key(g->bi, g->tsd_id, key, sizeof(key));
		json_object_object_add(guests, key, o);
	}
	json_object_object_add(root, "guests", guests);
	st = state_write_atomic(d->cfg.state_dir, MMIOD_STATE_FILE,
				json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY),
				abort_while_saving, &err);
	json_object_put(root);
	if (st != MMIO_OK) {
		log_error("saving state: %s", err.msg);
		return -EIO;
	}
	return 0;
}

/* ---- guests from back ends ------------------------------------------------ */

static struct backend_inst *backend_of(struct daemon *d, struct tsd_backend *be)
{
	for (size_t i = 0; i < d->nbackends; i++)
		if (d->backends[i]->be == be)
			return d->backends[i];
	/* announced from inside open(): the one being opened */
	for (size_t i = 0; i < d->nbackends; i++)
		if (!d->backends[i]->be)
			return d->backends[i];
	return NULL;
}

static struct guest *guest_by_tsd(struct daemon *d, struct backend_inst *bi, const char *tsd_id)
{
	if (!d->gcap)
		return NULL;
	for (struct guest *g = d->gidx[GKEY_TSD][gkey_hash(bi, tsd_id, GKEY_TSD) & (d->gcap - 1)]; g;
	     g = g->hnext[GKEY_TSD])
		if (g->bi == bi && strcmp(g->tsd_id, tsd_id) == 0)
			return g;
	return NULL;
}

/* An in-flight attach whose device is in the guest is kept as attached;
 * one that is not is released.  Attached devices that left the guest are
 * forgotten.  Returns whether anything changed. */
static bool reconcile(struct guest *g)
{
	bool changed = false;
	struct log_fields lf = { .guest = g->id, .message_id = MMIOD_MESSAGE_RECONCILE };

	if (!g->books.have_layout)
		return false;
	for (size_t i = 0; i < g->books.nattach;) {
		struct books_attach *a = &g->books.attaches[i];
		const char *tid = a->tsd_id[0] ? a->tsd_id : a->id;
		bool present = books_layout_has_device(&g->books, tid);

		lf.device = a->e.spec;
		if ((a->state == BOOKS_ATTACH_INFLIGHT || a->state == BOOKS_ATTACH_UNSETTLED) && present) {
			log_full(LOG_NOTICE, &lf, "attach %s of %s was in flight and the device is in the guest: kept as attached",
				 a->id, a->e.spec);
			snprintf(a->tsd_id, sizeof(a->tsd_id), "%s", tid);
			a->state = BOOKS_ATTACH_ATTACHED;
			changed = true;
		} else if (!present) {
			log_full(LOG_NOTICE, &lf, "attach %s of %s (%s) is not in the guest: released",
				 a->id, a->e.spec, books_attach_state_name(a->state));
			books_remove_attach(&g->books, i);
			changed = true;
			continue;
		} else if (a->state == BOOKS_ATTACH_DETACHING) {
			a->state = BOOKS_ATTACH_ATTACHED;
			changed = true;
		}
		i++;
	}
	return changed;
}

/* The attaches and detaches whose toolstack call timed out, once the
 * guest answers again and its layout was read: a device in the guest is
 * attached, one that is not is released; the observer hears how each such
 * attach ended (its caller was answered GuestUnresponsive long ago). */
static void settle_after_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	struct daemon *d = g->d;
	bool changed = false;
	(void)ud;

	if (g->gone)
		return;
	if (rc != TSD_OK) {
		log_full(LOG_WARNING, &(struct log_fields){ .guest = g->id },
			 "cannot read the guest to settle its unsettled attaches: %s; trying again when "
			 "it answers again", msg ? msg : tsd_rc_name(rc));
		return;
	}
	for (size_t i = 0; i < g->books.nattach;) {
		struct books_attach *a = &g->books.attaches[i];
		const char *tid = a->tsd_id[0] ? a->tsd_id : a->id;
		struct log_fields lf = { .guest = g->id, .device = a->e.spec,
					 .message_id = MMIOD_MESSAGE_RECONCILE };
		char id[BOOKS_ID_MAX], spec[BOOKS_SPEC_MAX];
		bool was_attach = a->unsettled_call != BOOKS_ATTACH_DETACHING;

		if (a->state != BOOKS_ATTACH_UNSETTLED) {
			i++;
			continue;
		}
		changed = true;
		snprintf(id, sizeof(id), "%s", a->id);
		snprintf(spec, sizeof(spec), "%s", a->e.spec);
		if (books_layout_has_device(&g->books, tid)) {
			log_full(LOG_NOTICE, &lf, "%s %s of %s settled now that the guest answers: the "
				 "device is in the guest, kept as attached", was_attach ? "attach" : "detach",
				 id, spec);
			snprintf(a->tsd_id, sizeof(a->tsd_id), "%s", tid);
			a->state = BOOKS_ATTACH_ATTACHED;
			if (was_attach && d->obs && d->obs->attach_finished)
				d->obs->attach_finished(d->obs_ud, g, id, spec, NULL);
			i++;
			continue;
		}
		log_full(LOG_NOTICE, &lf, "%s %s of %s settled now that the guest answers: the device "
			 "is not in the guest, its space released", was_attach ? "attach" : "detach", id,
			 spec);
		books_remove_attach(&g->books, i);
		if (was_attach && d->obs && d->obs->attach_finished) {
			struct ops_error e = { .code = OPS_E_TOOLSTACK_FAILED };
			snprintf(e.msg, sizeof(e.msg), "the toolstack did not answer the attach in time and "
				 "the device is not in the guest now that it answers: not attached");
			d->obs->attach_finished(d->obs_ud, g, id, spec, &e);
		}
	}
	if (changed) {
		daemon_save(d);
		daemon_guest_changed(g, GUEST_CHANGED_ATTACHES | GUEST_CHANGED_DEVICES | GUEST_CHANGED_WINDOWS);
	}
}

static bool has_unsettled(const struct guest *g)
{
	for (size_t i = 0; i < g->books.nattach; i++)
		if (g->books.attaches[i].state == BOOKS_ATTACH_UNSETTLED)
			return true;
	return false;
}

int daemon_guest_answering(const struct guest *g, struct ops_error *err)
{
	time_t since;
	struct tm tm;
	char when[32] = "?";

	if (!g->unresponsive)
		return 0;
	since = (time_t)(g->unresponsive_since_usec / 1000000u);
	if (localtime_r(&since, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	return ops_fail(err, OPS_E_GUEST_UNRESPONSIVE,
			"guest %s is not answering (since %s: %s); its books are kept and mmiod "
			"retries by itself", g->id, when, g->unresponsive_msg);
}

static void host_guest_answering(void *ud, struct tsd_backend *be, const char *guest_id,
				 bool answering, const char *msg)
{
	struct daemon *d = ud;
	struct backend_inst *bi = backend_of(d, be);
	struct guest *g = bi ? guest_by_tsd(d, bi, guest_id) : NULL;
	struct log_fields lf = { 0 };
	struct mmio_error err = { 0 };
	struct timespec now;

	if (!g || g->unresponsive == !answering)
		return;
	lf.guest = g->id;
	clock_gettime(CLOCK_REALTIME, &now);
	g->unresponsive = !answering;
	if (!answering) {
		g->unresponsive_since_usec = (uint64_t)now.tv_sec * 1000000u +
					     (uint64_t)now.tv_nsec / 1000u;
		snprintf(g->unresponsive_msg, sizeof(g->unresponsive_msg), "%s",
			 msg && *msg ? msg : "a toolstack call timed out");
		log_full(LOG_WARNING, &lf, "not answering: %s; Check, Attach, Detach and Reserve on it "
			 "fail at once until it answers again, its books are kept", g->unresponsive_msg);
	} else {
		uint64_t usec = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
		log_full(LOG_NOTICE, &lf, "answering again after %.1f s",
			 (double)(usec - g->unresponsive_since_usec) / 1e6);
		g->unresponsive_since_usec = 0;
		g->unresponsive_msg[0] = '\0';
	}
	daemon_guest_changed(g, GUEST_CHANGED_ANSWERING);
	if (answering && has_unsettled(g) && daemon_refresh(g, settle_after_refresh, NULL, &err) < 0)
		log_full(LOG_WARNING, &lf, "cannot settle its unsettled attaches: %s", err.msg);
}

static void guest_id_choose(struct daemon *d, struct backend_inst *bi, const char *tsd_id,
			    char *buf, size_t len)
{
	snprintf(buf, len, "%s", tsd_id);
	if (guest_by_id(d, buf) && snprintf(buf, len, "%s-%s", bi->drv->name, tsd_id) >= (int)len)
		buf[len - 1] = '\0';
}

static void reconcile_after_refresh(void *ud, struct guest *g, enum tsd_rc rc, const char *msg)
{
	if (g->gone)
		return;
	if (rc != TSD_OK) {
		log_full(LOG_WARNING, &(struct log_fields){ .guest = g->id },
			 "cannot read the guest's layout: %s", msg ? msg : tsd_rc_name(rc));
		return;
	}
	if (reconcile(g)) {
		daemon_save(g->d);
		daemon_guest_changed(g, GUEST_CHANGED_ATTACHES | GUEST_CHANGED_DEVICES | GUEST_CHANGED_WINDOWS);
	}
}

static void host_guest_up(void *ud, struct tsd_backend *be, const struct tsd_guest *tg,
			  const struct tsd_layout *layout)
{
	struct daemon *d = ud;
	struct backend_inst *bi = backend_of(d, be);
	struct mmio_error err = { 0 };
	struct guest *g;
	char key[512];

	if (!bi)
		return;
	g = guest_by_tsd(d, bi, tg->id);
	if (g) {
		index_unlink(d, g);     /* name and uuid may change */
		g->info = *tg;
		index_link(d, g);
		if (g->unresponsive) {  /* announced afresh: its toolstack answers */
			g->unresponsive = false;
			g->unresponsive_since_usec = 0;
			g->unresponsive_msg[0] = '\0';
			daemon_guest_changed(g, GUEST_CHANGED_ANSWERING);
		}
		if (layout && guest_set_layout(g, layout, &err) != MMIO_OK)
			log_error("%s: %s", g->id, err.msg);
		if (layout && reconcile(g))
			daemon_save(d);
		daemon_guest_changed(g, GUEST_CHANGED_INFO | GUEST_CHANGED_WINDOWS | GUEST_CHANGED_DEVICES |
					GUEST_CHANGED_ATTACHES);
		return;
	}
	g = calloc(1, sizeof(*g));
	struct guest **v = realloc(d->guests, (d->nguests + 1) * sizeof(*v));
	if (!g || !v || !index_reserve(d)) {
		free(g);
		if (v)
			d->guests = v;
		log_error("out of memory adding guest %s", tg->id);
		return;
	}
	d->guests = v;
	g->d = d;
	g->bi = bi;
	g->info = *tg;
	snprintf(g->tsd_id, sizeof(g->tsd_id), "%s", tg->id);
	guest_id_choose(d, bi, tg->id, g->id, sizeof(g->id));
	books_init(&g->books);
	g->books.safety_margin = d->cfg.safety_margin;
	if (layout && guest_set_layout(g, layout, &err) != MMIO_OK)
		log_error("%s: %s", g->id, err.msg);

	state_key(bi, g->tsd_id, key, sizeof(key));
	struct json_object *saved;
	bool had_state = false;
	if (d->pending_state && json_object_object_get_ex(d->pending_state, key, &saved)) {
		if (state_books_from_json(saved, &g->books, &err) != MMIO_OK)
			log_error("%s: saved books unreadable, dropped: %s", g->id, err.msg);
		else
			log_info("%s: restored %zu reservation(s) and %zu attach record(s)", g->id,
				 g->books.nres, g->books.nattach);
		json_object_object_del(d->pending_state, key);
		had_state = true;
	}
	d->guests[d->nguests++] = g;
	index_link(d, g);
	log_full(LOG_INFO, &(struct log_fields){ .guest = g->id }, "guest %s (%s) announced by %s%s",
		 g->id, g->info.name, bi->spec, g->info.can_attach ? "" : " (cannot attach)");
	if (d->obs && d->obs->guest_added)
		d->obs->guest_added(d->obs_ud, g);
	if (had_state) {
		if (g->books.have_layout) {
			if (reconcile(g))
				daemon_save(d);
		} else if (daemon_refresh(g, reconcile_after_refresh, NULL, &err) < 0) {
			log_warn("%s: cannot reconcile saved books: %s", g->id, err.msg);
		}
	}
}

static void host_guest_down(void *ud, struct tsd_backend *be, const char *guest_id)
{
	struct daemon *d = ud;
	struct backend_inst *bi = backend_of(d, be);
	struct guest *g = bi ? guest_by_tsd(d, bi, guest_id) : NULL;
	char key[512];

	if (!g)
		return;
	log_full(LOG_INFO, &(struct log_fields){ .guest = g->id }, "guest %s went away", g->id);
	/* its devices went with it; reservations are kept for when it returns */
	if (g->books.nres) {
		struct books keep;
		books_init(&keep);
		keep.nres = g->books.nres;
		keep.res = g->books.res;
		struct json_object *o = state_books_to_json(&keep);
		json_object_object_add(o, "backend", json_object_new_string(bi->spec));
		json_object_object_add(o, "guest", json_object_new_string(g->tsd_id));
		if (!d->pending_state)
			d->pending_state = json_object_new_object();
		state_key(bi, g->tsd_id, key, sizeof(key));
		json_object_object_add(d->pending_state, key, o);
	}
	if (d->obs && d->obs->guest_removed)
		d->obs->guest_removed(d->obs_ud, g);    /* while it is still found */
	index_unlink(d, g);
	for (size_t i = 0; i < d->nguests; i++)
		if (d->guests[i] == g) {
			memmove(&d->guests[i], &d->guests[i + 1], (d->nguests - i - 1) * sizeof(*d->guests));
			d->nguests--;
			break;
		}
	g->gone = true;
	daemon_save(d);
	if (!g->ops)
		guest_free(g);
}

bool daemon_backend_busy(const struct daemon *d, const struct backend_inst *bi)
{
	for (size_t i = 0; i < d->nguests; i++)
		if (d->guests[i]->bi == bi && d->guests[i]->ops)
			return true;
	return false;
}

bool daemon_backend_state(const struct daemon *d, const char *spec, uint32_t *guests)
{
	const struct backend_inst *bi = NULL;

	*guests = 0;
	for (size_t i = 0; i < d->nbackends && !bi; i++)
		if (strcmp(d->backends[i]->spec, spec) == 0 && d->backends[i]->be)
			bi = d->backends[i];
	for (size_t i = 0; bi && i < d->nguests; i++)
		*guests += d->guests[i]->bi == bi && !d->guests[i]->gone;
	return bi != NULL;
}

void daemon_backend_drop_guests(struct daemon *d, struct backend_inst *bi)
{
	for (size_t i = d->nguests; i-- > 0;)
		if (i < d->nguests && d->guests[i]->bi == bi) {
			char tsd_id[sizeof(d->guests[i]->tsd_id)];
			snprintf(tsd_id, sizeof(tsd_id), "%s", d->guests[i]->tsd_id);
			host_guest_down(d, bi->be, tsd_id);
		}
}

static void host_guest_changed(void *ud, struct tsd_backend *be, const char *guest_id,
			       const struct tsd_layout *layout)
{
	struct daemon *d = ud;
	struct backend_inst *bi = backend_of(d, be);
	struct guest *g = bi ? guest_by_tsd(d, bi, guest_id) : NULL;
	struct mmio_error err = { 0 };

	if (!g || !layout)
		return;
	if (guest_set_layout(g, layout, &err) != MMIO_OK) {
		log_error("%s: %s", g->id, err.msg);
		return;
	}
	daemon_guest_changed(g, GUEST_CHANGED_WINDOWS | GUEST_CHANGED_DEVICES);
}

static void host_backend_state(void *ud, struct tsd_backend *be, bool connected, const char *msg)
{
	struct daemon *d = ud;
	struct backend_inst *bi = backend_of(d, be);
	struct timespec now;

	if (!bi || bi->disconnected == !connected)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	bi->disconnected = !connected;
	bi->state_since_usec = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
	snprintf(bi->state_msg, sizeof(bi->state_msg), "%s", connected ? "" : msg ? msg : "");
	if (connected)
		log_info("back end %s connected again; its guests are read afresh", bi->spec);
	else
		log_warn("back end %s not connected: %s; its guests are shown as last read (stale)",
			 bi->spec, bi->state_msg);
	daemon_backends_changed(d);
	for (size_t i = 0; i < d->nguests; i++)
		if (d->guests[i]->bi == bi)
			daemon_guest_changed(d->guests[i], GUEST_CHANGED_STALE);
}

static void host_log(void *ud, struct tsd_backend *be, int priority, const char *msg)
{
	log_full(priority, NULL, "%s: %s", be ? be->spec : "back end", msg);
}

void daemon_host_init(struct daemon *d)
{
	struct tsd_host *h = &d->host;

	memset(h, 0, sizeof(*h));
	h->base = d->base;
	h->ud = d;
	h->guest_up = host_guest_up;
	h->guest_down = host_guest_down;
	h->guest_changed = host_guest_changed;
	h->log = host_log;
	h->guest_answering = host_guest_answering;
	h->pool = d->pool;
	h->call_timeout_ms = d->cfg.call_timeout_ms;
	h->attach_timeout_ms = d->cfg.attach_timeout_ms;
	h->backend_state = host_backend_state;
}

/* ---- refresh ---------------------------------------------------------------- */

struct refresh_ctx {
	struct guest *g;
	daemon_refresh_fn cb;
	void *ud;
};

static void refresh_done(void *ud, enum tsd_rc rc, const struct tsd_layout *layout, const char *msg)
{
	struct refresh_ctx *c = ud;
	struct guest *g = c->g;
	struct mmio_error err = { 0 };

	if (!g->gone && rc == TSD_OK && layout) {
		if (guest_set_layout(g, layout, &err) != MMIO_OK) {
			rc = TSD_E_FAILED;
			msg = err.msg;
		} else {
			daemon_guest_changed(g, GUEST_CHANGED_WINDOWS | GUEST_CHANGED_DEVICES);
		}
	}
	if (g->gone && rc == TSD_OK)
		rc = TSD_E_NOGUEST, msg = "the guest went away";
	c->cb(c->ud, g, rc, msg);
	free(c);
	daemon_guest_unref_op(g);
}

static void refresh_deferred(evutil_socket_t fd, short what, void *ud)
{
	refresh_done(ud, TSD_OK, NULL, NULL);
}

int daemon_refresh(struct guest *g, daemon_refresh_fn cb, void *ud, struct mmio_error *err)
{
	struct refresh_ctx *c = calloc(1, sizeof(*c));
	int r;

	if (!c) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -ENOMEM;
	}
	*c = (struct refresh_ctx){ g, cb, ud };
	g->ops++;
	if (!g->bi->drv->refresh) {
		/* nothing to re-read: go on with the books as they are, but later */
		struct timeval now = { 0, 0 };
		if (event_base_once(g->d->base, -1, EV_TIMEOUT, refresh_deferred, c, &now) == 0)
			return 0;
		mmio_error_set(err, MMIO_E_NOMEM, "cannot schedule a refresh");
		r = -ENOMEM;
	} else {
		r = g->bi->drv->refresh(g->bi->be, g->tsd_id, 0, refresh_done, c, err);
		if (r >= 0)
			return 0;
	}
	free(c);
	g->ops--;
	return r;
}
