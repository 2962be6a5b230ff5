/* SPDX-License-Identifier: MIT */
/*
 * qmp.c — a small asynchronous QMP client (see qmp.h).
 *
 * QEMU writes one JSON object per line ("\r\n"-terminated); each line is
 * handed whole to json-c, nothing here looks inside JSON text.  QEMU's
 * monitor serves one client at a time: a second client's connect()
 * succeeds (listen backlog) but it gets no greeting until the first one
 * leaves, so a missing greeting is not an error here, just a wait.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "qmp.h"

struct qmp_pending {
	struct qmp_pending *next;
	long long id;
	qmp_reply_fn cb;
	void *ud;
	char *text;             /* still to be written (queued before READY), else NULL */
};

enum conn_state { C_CONNECTING, C_GREETING, C_NEGOTIATING, C_READY, C_DEAD };

struct qmp_conn {
	struct event_base *base;
	struct bufferevent *bev;
	struct qmp_callbacks cb;
	enum conn_state st;
	struct qmp_pending *head, *tail;
	unsigned outstanding;
	size_t scanned;         /* input bytes known to hold no end of line */
	long long next_id;
	int depth;              /* > 0 while inside a libevent callback of ours */
	bool doomed;            /* qmp_conn_free() called during a callback */
	struct event *fail_ev;  /* reports a failure found outside a callback */
	bool fail_refused;
	char fail_why[256];
	char version[32];
	bool trace;             /* MMIOD_QMP_TRACE set: every line to stderr */
};

static void conn_release(struct qmp_conn *c);

static void fail_pending(struct qmp_conn *c, const char *why)
{
	/* Detach the list first: a callback may send (and fail) again. */
	while (c->head) {
		struct qmp_pending *p = c->head;
		c->head = p->next;
		if (!c->head)
			c->tail = NULL;
		c->outstanding--;
		free(p->text);
		if (p->cb)
			p->cb(p->ud, NULL, "Disconnected", why);
		free(p);
	}
}

static void conn_die(struct qmp_conn *c, bool refused, const char *why)
{
	if (c->st == C_DEAD)
		return;
	c->st = C_DEAD;
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	fail_pending(c, why);
	if (!c->doomed && c->cb.state)
		c->cb.state(c->cb.ud, QMP_CLOSED, refused, why);
}

static void die_later(struct qmp_conn *c, bool refused, const char *why)
{
	if (c->st == C_DEAD || event_pending(c->fail_ev, EV_TIMEOUT, NULL))
		return;
	c->fail_refused = refused;
	snprintf(c->fail_why, sizeof(c->fail_why), "%s", why);
	event_active(c->fail_ev, EV_TIMEOUT, 0);
}

static void enter(struct qmp_conn *c)
{
	c->depth++;
}

/* Returns false when the connection was freed meanwhile. */
static bool leave(struct qmp_conn *c)
{
	if (--c->depth == 0 && c->doomed) {
		conn_release(c);
		return false;
	}
	return !c->doomed;
}

static void fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmp_conn *c = arg;
	(void)fd;
	(void)what;
	enter(c);
	conn_die(c, c->fail_refused, c->fail_why);
	leave(c);
}

static int write_text(struct qmp_conn *c, const char *text)
{
	if (c->trace)
		fprintf(stderr, "qmp %p -> %s\n", (void *)c, text);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_add(out, text, strlen(text)) < 0 || evbuffer_add(out, "\n", 1) < 0)
		return -1;
	return 0;
}

static char *build(const char *cmd, json_object *args, long long id)
{
	json_object *msg = json_object_new_object();
	char *text = NULL;
	if (!msg) {
		json_object_put(args);
		return NULL;
	}
	json_object_object_add(msg, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(msg, "arguments", args);
	json_object_object_add(msg, "id", json_object_new_int64(id));
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
	if (s)
		text = strdup(s);
	json_object_put(msg);
	return text;
}

static int enqueue(struct qmp_conn *c, const char *cmd, json_object *args, qmp_reply_fn cb,
		   void *ud)
{
	struct qmp_pending *p = calloc(1, sizeof(*p));
	if (!p) {
		json_object_put(args);
		return -1;
	}
	p->id = ++c->next_id;
	p->cb = cb;
	p->ud = ud;
	p->text = build(cmd, args, p->id);
	if (!p->text) {
		free(p);
		return -1;
	}
	/* qmp_capabilities itself goes out during C_GREETING. */
	if (c->st == C_READY || (c->st == C_GREETING && strcmp(cmd, "qmp_capabilities") == 0)) {
		if (write_text(c, p->text) < 0)
			die_later(c, false, "cannot queue a QMP command");
		free(p->text);
		p->text = NULL;
	}
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	c->outstanding++;
	return 0;
}

int qmp_send(struct qmp_conn *c, const char *cmd, json_object *args, qmp_reply_fn cb, void *ud)
{
	if (!c || c->st == C_DEAD || c->doomed) {
		json_object_put(args);
		return -1;
	}
	return enqueue(c, cmd, args, cb, ud);
}

static void caps_done(void *ud, json_object *ret, const char *cls, const char *desc)
{
	struct qmp_conn *c = ud;
	char why[300];

	if (!ret) {
		if (c->st != C_DEAD) {
			snprintf(why, sizeof(why), "qmp_capabilities failed: %s", desc ? desc : "?");
			conn_die(c, false, why);
		}
		return;
	}
	c->st = C_READY;
	/* Commands queued meanwhile, in order. */
	for (struct qmp_pending *p = c->head; p; p = p->next)
		if (p->text) {
			if (write_text(c, p->text) < 0) {
				conn_die(c, false, "cannot queue a QMP command");
				return;
			}
			free(p->text);
			p->text = NULL;
		}
	if (c->cb.state)
		c->cb.state(c->cb.ud, QMP_READY, false, NULL);
}

static void on_greeting(struct qmp_conn *c, json_object *qmp)
{
	json_object *v, *q, *x;
	if (json_object_object_get_ex(qmp, "version", &v) && json_object_object_get_ex(v, "qemu", &q)) {
		long long ma = 0, mi = 0, mc = 0;
		if (json_object_object_get_ex(q, "major", &x))
			ma = json_object_get_int64(x);
		if (json_object_object_get_ex(q, "minor", &x))
			mi = json_object_get_int64(x);
		if (json_object_object_get_ex(q, "micro", &x))
			mc = json_object_get_int64(x);
		snprintf(c->version, sizeof(c->version), "%lld.%lld.%lld", ma, mi, mc);
	}
	if (enqueue(c, "qmp_capabilities", NULL, caps_done, c) < 0) {
		conn_die(c, false, "out of memory");
		return;
	}
	c->st = C_NEGOTIATING;
}

static void on_reply(struct qmp_conn *c, json_object *msg)
{
	json_object *idv, *ret = NULL, *e;
	long long id = -1;
	struct qmp_pending *p, *prev = NULL;

	if (json_object_object_get_ex(msg, "id", &idv) && json_object_is_type(idv, json_type_int))
		id = json_object_get_int64(idv);
	for (p = c->head; p; prev = p, p = p->next)
		if (!p->text && (id < 0 || p->id == id))
			break;
	if (!p)
		return;         /* not ours (an error about unparsable input has no id) */
	if (prev)
		prev->next = p->next;
	else
		c->head = p->next;
	if (c->tail == p)
		c->tail = prev;
	c->outstanding--;
	if (json_object_object_get_ex(msg, "return", &ret)) {
		p->cb(p->ud, ret, NULL, NULL);
	} else {
		const char *cls = "GenericError", *desc = "unknown error";
		json_object *x;
		if (json_object_object_get_ex(msg, "error", &e)) {
			if (json_object_object_get_ex(e, "class", &x))
				cls = json_object_get_string(x);
			if (json_object_object_get_ex(e, "desc", &x))
				desc = json_object_get_string(x);
		}
		p->cb(p->ud, NULL, cls, desc);
	}
	free(p);
}

static void dispatch(struct qmp_conn *c, json_object *msg)
{
	json_object *v;
	if (!json_object_is_type(msg, json_type_object))
		return;
	if (json_object_object_get_ex(msg, "QMP", &v)) {
		if (c->st == C_GREETING)
			on_greeting(c, v);
		return;
	}
	if (json_object_object_get_ex(msg, "event", &v)) {
		json_object *data = NULL;
		json_object_object_get_ex(msg, "data", &data);
		if (c->st == C_READY && c->cb.event)
			c->cb.event(c->cb.ud, json_object_get_string(v), data);
		return;
	}
	on_reply(c, msg);
}

/* The next complete line of in (its "\r\n" or "\n" removed), or NULL.
 * Only bytes not scanned before are searched. */
static char *next_line(struct qmp_conn *c, struct evbuffer *in, size_t *len)
{
	struct evbuffer_ptr pos;
	size_t eol_len = 0, n;
	char *line;

	if (evbuffer_ptr_set(in, &pos, c->scanned, EVBUFFER_PTR_SET) < 0)
		return NULL;
	pos = evbuffer_search_eol(in, &pos, &eol_len, EVBUFFER_EOL_LF);
	if (pos.pos < 0) {
		c->scanned = evbuffer_get_length(in);
		return NULL;
	}
	n = (size_t)pos.pos;
	line = malloc(n + 1);
	if (!line)
		return NULL;
	evbuffer_remove(in, line, n);
	evbuffer_drain(in, eol_len);
	c->scanned = 0;
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	*len = n;
	return line;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct qmp_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;
	bool heard = false;

	enter(c);
	while (c->st != C_DEAD && !c->doomed && (line = next_line(c, in, &len)) != NULL) {
		enum json_tokener_error jerr;
		json_object *msg;

		if (!heard && c->cb.heard) {
			heard = true;
			c->cb.heard(c->cb.ud);
			if (c->st == C_DEAD || c->doomed) {
				free(line);
				break;
			}
		}
		msg = len ? json_tokener_parse_verbose(line, &jerr) : NULL;
		if (c->trace)
			fprintf(stderr, "qmp %p <- %s\n", (void *)c, line);
		if (len && !msg) {
			char why[128];
			snprintf(why, sizeof(why), "QEMU sent a line that is not JSON: %s",
				 json_tokener_error_desc(jerr));
			free(line);
			conn_die(c, false, why);
			break;
		}
		free(line);
		if (msg) {
			dispatch(c, msg);
			json_object_put(msg);
		}
	}
	if (c->st != C_DEAD && !c->doomed && evbuffer_get_length(in) > QMP_MAX_LINE)
		conn_die(c, false, "QEMU sent an over-long line");
	leave(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct qmp_conn *c = arg;
	char why[160];
	(void)bev;

	enter(c);
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "QEMU closed the QMP connection");
	else
		snprintf(why, sizeof(why), "QMP connection failed: %s",
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	conn_die(c, false, why);
	leave(c);
}

struct qmp_conn *qmp_conn_new(struct event_base *base, const char *path,
			      const struct qmp_callbacks *cb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp_conn *c;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->cb = *cb;
	c->st = C_CONNECTING;
	c->trace = getenv("MMIOD_QMP_TRACE") != NULL;
	c->fail_ev = event_new(base, -1, 0, fail_cb, c);
	if (!c->fail_ev) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		die_later(c, false, strerror(errno));
		return c;
	}
	/* A unix-socket connect() never blocks: it succeeds at once, or fails
	 * with ECONNREFUSED (nobody listening: a stale socket, QEMU gone),
	 * ENOENT, or EAGAIN (backlog full).  All failures are "try later". */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		char why[160];
		snprintf(why, sizeof(why), "connect %s: %s", path, strerror(errno));
		close(fd);
		die_later(c, true, why);
		return c;
	}
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		die_later(c, false, "out of memory");
		return c;
	}
	c->st = C_GREETING;
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

static void conn_release(struct qmp_conn *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	event_free(c->fail_ev);
	free(c);
}

void qmp_conn_free(struct qmp_conn *c)
{
	if (!c || c->doomed)
		return;
	c->doomed = true;
	enter(c);
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->st = C_DEAD;
	/* Pending callbacks run now, exactly once; they may not free c again
	 * (doomed), and further sends fail. */
	fail_pending(c, "the QMP connection was closed");
	leave(c);
}

bool qmp_conn_ready(const struct qmp_conn *c)
{
	return c && c->st == C_READY && !c->doomed;
}

unsigned qmp_conn_outstanding(const struct qmp_conn *c)
{
	return c ? c->outstanding : 0;
}

const char *qmp_conn_version(const struct qmp_conn *c)
{
	return c->version;
}

pid_t qmp_conn_peer_pid(const struct qmp_conn *c)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	evutil_socket_t fd = c && c->bev ? bufferevent_getfd(c->bev) : -1;

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.pid <= 0)
		return -1;
	return cr.pid;
}
