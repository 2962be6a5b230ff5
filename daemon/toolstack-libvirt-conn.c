/* SPDX-License-Identifier: MIT */
/*
 * toolstack-libvirt-conn.c — the libvirt back end's connection (see
 * toolstack-libvirt.c for the design): made and closed on the pool, made
 * again with back-off (and at once when the socket of a local libvirt
 * daemon appears), and what libvirt's event thread reports on it
 * (lifecycle, devices, a closed connection) posted to the loop, tagged
 * with its connection so that late ones of an old connection are dropped.
 */
#include "config.h"

#include <json-c/json.h>
#include <libvirt/virterror.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <syslog.h>
#include <unistd.h>

#include "toolstack-libvirt-internal.h"

#define RECONNECT_MAX_SEC 30
/* Without a watch on the socket, a local libvirtd is looked for at least
 * this often: mmiod serves its guests within 5 s of libvirtd starting. */
#define RECONNECT_MAX_UNWATCHED_SEC 4

static void set_connected(struct tsd_libvirt *be, bool up, const char *msg)
{
	if (be->connected == up && (up || strcmp(be->down_msg, msg) == 0))
		return;
	be->connected = up;
	snprintf(be->down_msg, sizeof(be->down_msg), "%s", up ? "" : msg);
	if (be->base.host->backend_state)
		be->base.host->backend_state(be->base.host->ud, &be->base, up, be->down_msg);
}

/* ---- libvirt's callbacks (its event thread) to the loop ----------------------------- */

enum lv_msg_kind { M_LIFECYCLE, M_DEVICE, M_CLOSED };

struct lv_msg {
	struct lv_link *link;
	enum lv_msg_kind kind;
	char uuid[VIR_UUID_STRING_BUFLEN];
	char what[80];                  /* M_DEVICE: alias and what happened */
	int event;                      /* M_LIFECYCLE: VIR_DOMAIN_EVENT_*; M_CLOSED: the reason */
};

static void link_ref(void *opaque)
{
	struct lv_link *l = opaque;
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_ACQ_REL);
}

static void link_unref(void *opaque)
{
	struct lv_link *l = opaque;
	if (__atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(l);
}

static void msg_on_loop(void *arg);

static void msg_dispose(void *arg)
{
	struct lv_msg *m = arg;
	link_unref(m->link);
	free(m);
}

static void post(struct lv_link *link, enum lv_msg_kind kind, virDomainPtr dom, int event,
		 const char *what)
{
	struct lv_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->link = link;
	m->kind = kind;
	m->event = event;
	if (dom)
		virDomainGetUUIDString(dom, m->uuid);   /* local, no RPC */
	snprintf(m->what, sizeof(m->what), "%s", what ? what : "");
	link_ref(link);
	if (worker_post(link->pool, msg_on_loop, msg_dispose, m) < 0)
		msg_dispose(m);
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	post(opaque, M_LIFECYCLE, dom, event, NULL);
	return 0;
}

static void device_added_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	char what[80];
	snprintf(what, sizeof(what), "%.60s added", alias);
	post(opaque, M_DEVICE, dom, 0, what);
}

static void device_removed_cb(virConnectPtr conn, virDomainPtr dom, const char *alias,
			      void *opaque)
{
	char what[80];
	snprintf(what, sizeof(what), "%.60s removed", alias);
	post(opaque, M_DEVICE, dom, 0, what);
}

/* QEMU's own DEVICE_DELETED: also for devices added behind libvirt's back
 * (virsh qemu-monitor-command device_add), which libvirt does not report. */
static void qemu_event_cb(virConnectPtr conn, virDomainPtr dom, const char *event,
			  long long seconds, unsigned int micros, const char *details, void *opaque)
{
	json_object *o = details ? json_tokener_parse(details) : NULL, *dev;
	char what[80];
	snprintf(what, sizeof(what), "%.40s deleted by QEMU",
		 o && json_object_object_get_ex(o, "device", &dev) ? json_object_get_string(dev) :
		 "(no id)");
	json_object_put(o);
	post(opaque, M_DEVICE, dom, 0, what);
}

static void closed_cb(virConnectPtr conn, int reason, void *opaque)
{
	post(opaque, M_CLOSED, NULL, reason, NULL);
}

static const struct lv_event_cbs event_cbs = {
	.lifecycle = lifecycle_cb, .device_added = device_added_cb,
	.device_removed = device_removed_cb, .qemu_event = qemu_event_cb, .closed = closed_cb,
	.ref = link_ref, .unref = link_unref,
};

/* ---- connection life ---------------------------------------------------------------- */

/* The socket directory of a local libvirt daemon, for the URI forms mmiod
 * can tell ("" for a remote URI): ?socket=PATH, qemu:///system (and any
 * DRIVER:///system: libvirtd's or the modular virtqemud's socket, both
 * in LOCALSTATEDIR/run/libvirt), DRIVER:///session. */
void lv_conn_socket_dir(const char *uri, char *buf, size_t len)
{
	const char *sep = strstr(uri, "://"), *q = strchr(uri, '?'), *s;
	size_t plen;

	buf[0] = '\0';
	if (!sep || sep[3] != '/' || memchr(uri, '+', (size_t)(sep - uri)))
		return; /* a host, or a transport (qemu+ssh://): remote */
	if (q && ((s = strstr(q, "socket=")) != NULL)) {
		const char *e = strchr(s, '&');
		size_t n = e ? (size_t)(e - s - 7) : strlen(s + 7);
		char path[PATH_MAX];
		if (n == 0 || n >= sizeof(path))
			return;
		memcpy(path, s + 7, n);
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		if (slash && slash != path) {
			*slash = '\0';
			snprintf(buf, len, "%s", path);
		}
		return;
	}
	plen = q ? (size_t)(q - (sep + 3)) : strlen(sep + 3);
	if (plen == 7 && strncmp(sep + 3, "/system", 7) == 0) {
		snprintf(buf, len, "/run/libvirt");
	} else if (plen == 8 && strncmp(sep + 3, "/session", 8) == 0) {
		const char *rt = getenv("XDG_RUNTIME_DIR");
		if (rt && rt[0])
			snprintf(buf, len, "%s/libvirt", rt);
	}
}

static void reconnect_later(struct tsd_libvirt *be)
{
	int cap = be->ino_wd >= 0 || !be->sockdir[0] ? RECONNECT_MAX_SEC : RECONNECT_MAX_UNWATCHED_SEC;
	be->backoff = be->backoff ? be->backoff * 2 : 1;
	if (be->backoff > cap)
		be->backoff = cap;
	struct timeval tv = { be->backoff, 0 };
	event_add(be->reconnect, &tv);
}

void lv_conn_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	lv_conn_try(arg);
}

static void watch_socket(struct tsd_libvirt *be);

static void ino_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tsd_libvirt *be = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool poke = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			poke |= e->len > 0 || (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED));
			p += sizeof(*e) + e->len;
		}
	}
	if (!poke || be->conn || be->connecting)
		return;
	/* Something appeared where the socket will be (or on the way to
	 * it): move the watch nearer, and try now. */
	watch_socket(be);
	event_del(be->reconnect);
	be->backoff = 0;
	lv_conn_try(be);
}

/* Watches the socket directory, or its nearest existing parent while it
 * does not exist yet (/run/libvirt appears with the daemon). */
static void watch_socket(struct tsd_libvirt *be)
{
	char dir[PATH_MAX];

	if (!be->sockdir[0])
		return;
	if (be->ino_fd < 0) {
		be->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (be->ino_fd < 0)
			return;
		be->ino_ev = event_new(be->base.host->base, be->ino_fd, EV_READ | EV_PERSIST, ino_cb, be);
		if (!be->ino_ev || event_add(be->ino_ev, NULL) < 0) {
			if (be->ino_ev)
				event_free(be->ino_ev);
			be->ino_ev = NULL;
			close(be->ino_fd);
			be->ino_fd = -1;
			return;
		}
	}
	snprintf(dir, sizeof(dir), "%s", be->sockdir);
	while (access(dir, F_OK) != 0) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			snprintf(dir, sizeof(dir), "/");
			break;
		}
		*slash = '\0';
	}
	if (be->ino_wd >= 0 && strcmp(dir, be->ino_dir) == 0)
		return;
	if (be->ino_wd >= 0)
		inotify_rm_watch(be->ino_fd, be->ino_wd);
	be->ino_wd = inotify_add_watch(be->ino_fd, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB |
				       IN_DELETE_SELF | IN_MOVE_SELF);
	snprintf(be->ino_dir, sizeof(be->ino_dir), "%s", be->ino_wd >= 0 ? dir : "");
}

void lv_conn_unwatch(struct tsd_libvirt *be)
{
	if (be->ino_ev)
		event_free(be->ino_ev);
	be->ino_ev = NULL;
	if (be->ino_fd >= 0)
		close(be->ino_fd);
	be->ino_fd = be->ino_wd = -1;
	be->ino_dir[0] = '\0';
}

/* Drops the connection: its callbacks are ignored from now on, its
 * deregistration and close run as a job. */
/* Drops the back end's connection (on the pool); at close (last) the
 * calls' idle connections too. */
void lv_conn_drop(struct tsd_libvirt *be, bool last)
{
	struct lv_link *link = be->link;
	struct lv_job *j;

	if (!be->conn && !last)
		return;
	/* later calls do not get it (nor a connection opened for it) */
	lv_conns_share(be->conns, NULL, false);
	j = lv_job_new(be, J_DISCONNECT, NULL);
	if (j && be->conn) {
		j->u.disconnect = (struct lv_disconnect){ .conn = be->conn, .close_cb = be->close_cb,
							  .closed = closed_cb, .unref = link_unref,
							  .opaque = link };
		memcpy(j->u.disconnect.ids, be->ids, sizeof(be->ids));
	}
	if (j)
		j->u.disconnect.conns = last ? be->conns : NULL;
	if (j && !lv_job_submit(j, NULL))
		tsd_log(&be->base, LOG_WARNING, "the old connection to %s is left open", be->uri);
	if (link) {
		link->be = NULL;
		link_unref(link);       /* the back end's */
	}
	be->link = NULL;
	be->conn = NULL;
}

static void start_connect(struct tsd_libvirt *be)
{
	struct lv_job *j = lv_job_new(be, J_CONNECT, NULL);

	if (!j || !(j->u.connect.cbs.opaque = calloc(1, sizeof(struct lv_link)))) {
		free(j);
		reconnect_later(be);
		return;
	}
	snprintf(j->u.connect.uri, sizeof(j->u.connect.uri), "%s", be->uri);
	struct lv_link *link = j->u.connect.cbs.opaque;
	link->pool = be->base.host->pool;
	link->refs = 1;                 /* the job's; the back end's once connected */
	j->u.connect.cbs = event_cbs;
	j->u.connect.cbs.opaque = link;
	if (lv_job_submit(j, NULL))
		be->connecting = true;
	else {
		free(link);
		reconnect_later(be);
	}
}

void lv_conn_try(struct tsd_libvirt *be)
{
	if (be->connecting || be->conn || be->gave_up)
		return;
	start_connect(be);
}

void lv_conn_done(struct tsd_libvirt *be, struct lv_connect *c)
{
	struct lv_link *link = c->cbs.opaque;

	be->connecting = false;
	if (!c->conn) {
		link_unref(link);
		/* A URI no driver takes is a configuration error; a daemon that
		 * is not there (yet) is waited for. */
		if (c->err_code == VIR_ERR_NO_CONNECT && !be->sockdir[0] &&
		    c->err_domain != VIR_FROM_RPC) {
			tsd_log(&be->base, LOG_ERR, "%s; no libvirt driver takes this URI: not retried "
				"(fix --backend / backends = and reload)", c->msg);
			be->gave_up = true;
			set_connected(be, false, c->msg);
			return;
		}
		if (strcmp(be->down_msg, c->msg) != 0)
			tsd_log(&be->base, LOG_WARNING, "%s; retrying%s", c->msg,
				be->ino_wd >= 0 || be->sockdir[0] ? " (and watching for its socket)" : "");
		set_connected(be, false, c->msg);
		watch_socket(be);
		reconnect_later(be);
		return;
	}
	be->conn = c->conn;
	be->link = link;
	link->be = be;
	memcpy(be->ids, c->ids, sizeof(be->ids));
	be->close_cb = c->close_cb;
	be->is_qemu = c->is_qemu;
	be->calls_share = c->share;
	lv_conns_share(be->conns, c->conn, c->share);
	be->backoff = 0;
	event_del(be->reconnect);
	tsd_log(&be->base, LOG_NOTICE, "connected to %s", be->uri);
	set_connected(be, true, "");
	/* a new connection: every guest is asked afresh (calls still out on
	 * the old one come back with its errors) */
	for (struct tsd_libvirt_guest *t = be->guests; t; t = t->next)
		lv_guest_answering(be, t, true, NULL);
	lv_guests_sync(be, be->was_connected);
	be->was_connected = true;
}

static void closed(struct tsd_libvirt *be, int reason)
{
	char msg[sizeof(be->down_msg)];
	snprintf(msg, sizeof(msg), "the connection to %.200s was lost (%s)", be->uri,
		 reason == VIR_CONNECT_CLOSE_REASON_EOF ? "libvirt's daemon went away" :
		 reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out: it does not answer" :
		 reason == VIR_CONNECT_CLOSE_REASON_CLIENT ? "closed by the client" : "error");
	tsd_log(&be->base, LOG_WARNING, "%s; its guests are kept as last read until it is back", msg);
	set_connected(be, false, msg);
	lv_conn_drop(be, false);
	be->backoff = 0;
	lv_conn_try(be);
}

/* A connection made for a back end closed meanwhile: it goes as it came. */
void lv_conn_abandoned(struct tsd_libvirt *be, struct lv_connect *c)
{
	if (c->conn) {
		struct lv_job *d = lv_job_new(be, J_DISCONNECT, NULL);
		if (d) {
			d->u.disconnect = (struct lv_disconnect){ .conn = c->conn,
								  .close_cb = c->close_cb,
								  .closed = closed_cb, .unref = link_unref,
								  .opaque = c->cbs.opaque };
			memcpy(d->u.disconnect.ids, c->ids, sizeof(d->u.disconnect.ids));
			lv_job_submit(d, NULL);
		}
	}
	link_unref(c->cbs.opaque);
}

/* ---- what came over it, on the loop ----------------------------------------------------------- */

static void msg_on_loop(void *arg)
{
	struct lv_msg *m = arg;
	struct tsd_libvirt *be = m->link->be;

	if (be && be->link == m->link) {
		struct tsd_libvirt_guest *t = m->uuid[0] ? lv_guest_find(be, m->uuid) : NULL;
		switch (m->kind) {
		case M_CLOSED:
			closed(be, m->event);
			break;
		case M_DEVICE:
			/* A device came or went outside mmiod's own attach
			 * (virsh attach-device, detach-device, a monitor
			 * device_del): re-read the guest, once per burst. */
			if (t) {
				tsd_log(&be->base, LOG_INFO, "guest %s: device %s", t->name, m->what);
				lv_guest_read(be, m->uuid, J_CHANGED, false);
			}
			break;
		case M_LIFECYCLE:
			switch (m->event) {
			case VIR_DOMAIN_EVENT_STARTED:
			case VIR_DOMAIN_EVENT_DEFINED:
				if (t)
					t->facts.lpc_known = false;     /* a new run */
				lv_guest_read(be, m->uuid, J_ANNOUNCE, m->event == VIR_DOMAIN_EVENT_DEFINED);
				break;
			case VIR_DOMAIN_EVENT_STOPPED:
				/* a persistent domain stays listed, shut off; a transient one is gone */
				lv_guest_read(be, m->uuid, J_STOPPED, false);
				break;
			case VIR_DOMAIN_EVENT_UNDEFINED:
				lv_guest_read(be, m->uuid, J_UNDEFINED, false);
				break;
			default:
				break;  /* suspend, resume, ...: the layout does not change */
			}
			break;
		}
	}
	msg_dispose(m);
}
