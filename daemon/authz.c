/* SPDX-License-Identifier: MIT */
/* authz.c — uid 0, else polkit; the method runs again once answered (see authz.h). */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "cleanup.h"
#include "log.h"

/* One question about one call. */
struct authz_query {
	struct authz_query *next, **pprev;
	struct authz *a;
	sd_bus_message *m;              /* the call, queued again when answered */
	char *sender;
	char *action;
	bool interactive;
	sd_bus_slot *slot;              /* the bus call in flight */
	bool answered, allowed;
	sd_bus_error error;             /* AccessDenied with the reason, when not allowed */
};

struct authz {
	sd_bus *bus;
	struct authz_query *queries;
};

static void query_free(struct authz_query *q)
{
	if (!q)
		return;
	*q->pprev = q->next;
	if (q->next)
		q->next->pprev = q->pprev;
	sd_bus_slot_unref(q->slot);
	sd_bus_message_unref(q->m);
	sd_bus_error_free(&q->error);
	free(q->sender);
	free(q->action);
	free(q);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct authz_query *, query_free);

struct authz *authz_new(sd_bus *bus)
{
	struct authz *a = calloc(1, sizeof(*a));

	assert(bus);
	if (a)
		a->bus = sd_bus_ref(bus);
	return a;
}

void authz_free(struct authz *a)
{
	if (!a)
		return;
	while (a->queries)
		query_free(a->queries);
	sd_bus_unref(a->bus);
	free(a);
}

/* The answer is in: run the method again on the same call. */
static void answered(struct authz_query *q, bool allowed)
{
	int r;

	q->slot = sd_bus_slot_unref(q->slot);
	q->answered = true;
	q->allowed = allowed;
	r = sd_bus_message_rewind(q->m, true);
	if (r >= 0)
		r = sd_bus_enqueue_for_read(q->a->bus, q->m);
	if (r < 0) {
		sd_bus_reply_method_errorf(q->m, SD_BUS_ERROR_ACCESS_DENIED,
					   "cannot check authorization: %s", strerror(-r));
		query_free(q);
	}
}

__attribute__((format(printf, 2, 3)))
static void deny(struct authz_query *q, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sd_bus_error_set(&q->error, SD_BUS_ERROR_ACCESS_DENIED, msg);
	answered(q, false);
}

static int polkit_reply(sd_bus_message *reply, void *ud, sd_bus_error *ret_error)
{
	struct authz_query *q = ud;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int authorized = 0, challenge = 0, r;
	(void)ret_error;

	if (e) {
		if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
					   SD_BUS_ERROR_NAME_HAS_NO_OWNER))
			deny(q, "polkit is not available on the bus: only root may do this (action %s)",
			     q->action);
		else
			deny(q, "polkit check failed: %s", e->message);
		return 0;
	}
	r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
	if (r >= 0)
		r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
	if (r < 0)
		deny(q, "polkit sent an unreadable reply");
	else if (authorized)
		answered(q, true);
	else if (challenge)
		deny(q, "authentication is required for %s (retry with interactive authentication)",
		     q->action);
	else
		deny(q, "not authorized for %s", q->action);
	return 0;
}

static int ask_polkit(struct authz_query *q)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	r = sd_bus_message_new_method_call(q->a->bus, &m, "org.freedesktop.PolicyKit1",
					   "/org/freedesktop/PolicyKit1/Authority",
					   "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
	if (r >= 0)
		r = sd_bus_message_append(m, "(sa{sv})s", "system-bus-name", 1, "name", "s",
					  q->sender, q->action);
	if (r >= 0)
		r = sd_bus_message_append(m, "a{ss}us", 0, q->interactive ? 1u : 0u, "");
	if (r >= 0) /* interactive authentication may take the user a while */
		r = sd_bus_call_async(q->a->bus, &q->slot, m, polkit_reply, q,
				      q->interactive ? UINT64_C(300000000) : 0);
	return r;
}

static int uid_reply(sd_bus_message *reply, void *ud, sd_bus_error *ret_error)
{
	struct authz_query *q = ud;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	uint32_t uid;
	(void)ret_error;

	q->slot = sd_bus_slot_unref(q->slot);
	if (e || sd_bus_message_read(reply, "u", &uid) < 0)
		deny(q, "cannot find out who the caller is: %s", e ? e->message : "bad reply");
	else if (uid == 0)
		answered(q, true);
	else if (ask_polkit(q) < 0)
		deny(q, "cannot ask polkit about %s", q->action);
	return 0;
}

static struct authz_query *query_find(struct authz *a, sd_bus_message *m)
{
	for (struct authz_query *q = a->queries; q; q = q->next)
		if (q->m == m)
			return q;
	return NULL;
}

bool authz_pending(struct authz *a, sd_bus_message *m)
{
	struct authz_query *q = query_find(a, m);

	return q && !q->answered;
}

/* Starts the question for the sender of m: 0, or a negative errno. */
static int query_start(struct authz *a, sd_bus_message *m, const char *action, bool interactive)
{
	_cleanup_(query_freep) struct authz_query *q = NULL;
	const char *sender = sd_bus_message_get_sender(m);
	int r;

	if (!sender)
		return -EPERM;  /* a peer-to-peer connection: nobody to ask about */
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->a = a;
	q->next = a->queries;
	q->pprev = &a->queries;
	if (q->next)
		q->next->pprev = &q->next;
	a->queries = q;
	q->m = sd_bus_message_ref(m);
	q->sender = strdup(sender);
	q->action = strdup(action);
	q->interactive = interactive;
	q->error = SD_BUS_ERROR_NULL;
	if (!q->sender || !q->action)
		return -ENOMEM;
	r = sd_bus_call_method_async(a->bus, &q->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				     "org.freedesktop.DBus", "GetConnectionUnixUser", uid_reply, q,
				     "s", sender);
	if (r < 0)
		return r;
	q = NULL;       /* in flight: answered() or authz_free() frees it */
	return 0;
}

int authz_verify(struct authz *a, sd_bus_message *m, const char *action, bool interactive,
		 sd_bus_error *error)
{
	struct authz_query *q;
	int r;

	assert(a && m && action);
	q = query_find(a, m);
	if (q && q->answered) {
		bool allowed = q->allowed;
		if (!allowed)
			sd_bus_error_copy(error, &q->error);
		query_free(q);
		return allowed ? 1 : -EACCES;
	}
	if (q)
		return 0;       /* still asking */
	r = query_start(a, m, action, interactive);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "cannot check authorization: %s", strerror(-r));
	return 0;
}
