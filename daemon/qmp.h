/* SPDX-License-Identifier: MIT */
/*
 * qmp.h — a small asynchronous QMP client: one unix-socket connection on a
 * libevent bufferevent, json-c for every message.
 *
 * Lifecycle: qmp_conn_new() starts a nonblocking connect; the greeting is
 * read and qmp_capabilities sent without the caller's help; state_cb then
 * reports QMP_READY (commands may be sent) or QMP_CLOSED (connection
 * refused, closed, or a protocol error; the text says which).  After
 * QMP_CLOSED the connection is dead and only qmp_conn_free() is left.
 *
 * Commands may be sent before QMP_READY: they are queued and go out after
 * capabilities negotiation.  Replies come back in order (QEMU handles one
 * command at a time without OOB); each is matched by its "id" anyway.
 * Every reply callback is called exactly once: with the reply, or with
 * class "Disconnected" when the connection dies or is freed first.
 *
 * Nothing here times out: a QEMU that is stopped keeps the connection and
 * its replies come when it runs again (in order); the caller's deadline
 * decides how long to wait (toolstack.h), and callbacks.heard says when
 * QEMU talks again.  What QEMU may send is bounded: a line longer than
 * QMP_MAX_LINE closes the connection, and the input is scanned for the end
 * of a line once, not again on every read (a peer trickling an endless
 * line costs linear time, not quadratic).
 *
 * Re-entrancy: any callback may call qmp_conn_free() on its own connection.
 */
#ifndef MMIOD_QMP_H
#define MMIOD_QMP_H

#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>

struct event_base;
struct qmp_conn;

enum qmp_state {
	QMP_READY = 1,          /* capabilities negotiated */
	QMP_CLOSED,             /* dead: refused, closed by QEMU, or broken */
};

/* ret: the "return" value on success (borrowed: json_object_get() to keep it),
 * NULL on error; then err_class ("GenericError", "CommandNotFound",
 * "DeviceNotFound", "Disconnected") and err_desc (QEMU's own words) are set. */
typedef void (*qmp_reply_fn)(void *ud, json_object *ret, const char *err_class,
			     const char *err_desc);
/* An asynchronous event; data may be NULL. */
typedef void (*qmp_event_fn)(void *ud, const char *event, json_object *data);
/* refused: the connect() itself failed (ECONNREFUSED, ENOENT): the socket
 * is stale or QEMU is not accepting yet. */
typedef void (*qmp_state_fn)(void *ud, enum qmp_state st, bool refused, const char *why);

/* QEMU sent at least one complete line (a reply, late or not, an event,
 * the greeting): its monitor is alive.  Called before they are handled. */
typedef void (*qmp_heard_fn)(void *ud);

struct qmp_callbacks {
	qmp_state_fn state;
	qmp_event_fn event;
	qmp_heard_fn heard;     /* may be NULL */
	void *ud;
};

/* A single line above this is not QMP talking (query-pci of a q35 guest
 * with 32 populated ports is about 60 KiB): the connection is closed. */
#define QMP_MAX_LINE (4u << 20)

/* Returns NULL only when out of memory or path does not fit a sockaddr_un
 * (errno set); a failing connect is reported through state_cb later. */
struct qmp_conn *qmp_conn_new(struct event_base *base, const char *path,
			      const struct qmp_callbacks *cb);
/* Pending reply callbacks are called with "Disconnected" (from inside this
 * call); state_cb is not called. */
void qmp_conn_free(struct qmp_conn *c);

/* Sends {"execute": cmd, "arguments": args, "id": N}.  args is consumed
 * (json_object_put) in every case and may be NULL.  Returns 0, or -1 if the
 * connection is dead (cb not called). */
int qmp_send(struct qmp_conn *c, const char *cmd, json_object *args, qmp_reply_fn cb, void *ud);

bool qmp_conn_ready(const struct qmp_conn *c);
/* Commands sent (or queued) whose reply has not come yet. */
unsigned qmp_conn_outstanding(const struct qmp_conn *c);
/* QEMU's version from the greeting, "7.2.22", or "" before it came. */
const char *qmp_conn_version(const struct qmp_conn *c);
/* The process at the other end of the socket (SO_PEERCRED), -1 if unknown. */
pid_t qmp_conn_peer_pid(const struct qmp_conn *c);

#endif
