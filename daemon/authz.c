/* SPDX-License-Identifier: MIT */
/* authz.c — uid 0, else polkit (see authz.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "log.h"

struct authz_req {
	sd_bus *bus;
	char *sender;
	char *action;
	bool interactive;
	authz_fn cb;
	void *ud;
};

static void req_finish(struct authz_req *q, bool allowed, const sd_bus_error *e)
{
	q->cb(q->ud, allowed, e);
	sd_bus_unref(q->bus);
	free(q->sender);
	free(q->action);
	free(q);
}

__attribute__((format(printf, 2, 3)))
static void deny(struct authz_req *q, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_error_set(&e, SD_BUS_ERROR_ACCESS_DENIED, msg);
	req_finish(q, false, &e);
	sd_bus_error_free(&e);
}

static int polkit_reply(sd_bus_message *reply, void *ud, sd_bus_error *ret_error)
{
	struct authz_req *q = ud;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int authorized = 0, challenge = 0, r;

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
	if (r < 0) {
		deny(q, "polkit sent an unreadable reply");
		return 0;
	}
	if (authorized)
		req_finish(q, true, NULL);
	else if (challenge)
		deny(q, "authentication is required for %s (retry with interactive authentication)",
		     q->action);
	else
		deny(q, "not authorized for %s", q->action);
	return 0;
}

static int ask_polkit(struct authz_req *q)
{
	sd_bus_message *m = NULL;
	int r;

	r = sd_bus_message_new_method_call(q->bus, &m, "org.freedesktop.PolicyKit1",
					   "/org/freedesktop/PolicyKit1/Authority",
					   "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
	if (r >= 0)
		r = sd_bus_message_append(m, "(sa{sv})s", "system-bus-name", 1, "name", "s",
					  q->sender, q->action);
	if (r >= 0)
		r = sd_bus_message_append(m, "a{ss}us", 0, q->interactive ? 1u : 0u, "");
	if (r >= 0) /* interactive authentication may take the user a while */
		r = sd_bus_call_async(q->bus, NULL, m, polkit_reply, q,
				      q->interactive ? UINT64_C(300000000) : 0);
	sd_bus_message_unref(m);
	return r;
}

static int uid_reply(sd_bus_message *reply, void *ud, sd_bus_error *ret_error)
{
	struct authz_req *q = ud;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	uint32_t uid;

	if (e || sd_bus_message_read(reply, "u", &uid) < 0) {
		deny(q, "cannot find out who the caller is: %s", e ? e->message : "bad reply");
		return 0;
	}
	if (uid == 0) {
		req_finish(q, true, NULL);
		return 0;
	}
	if (ask_polkit(q) < 0)
		deny(q, "cannot ask polkit about %s", q->action);
	return 0;
}

int authz_check(sd_bus *bus, sd_bus_message *m, const char *action, bool interactive,
		authz_fn cb, void *ud)
{
	const char *sender = sd_bus_message_get_sender(m);
	struct authz_req *q;
	int r;

	if (!sender)
		return -EPERM;  /* a peer-to-peer connection: nobody to ask about */
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->sender = strdup(sender);
	q->action = strdup(action);
	if (!q->sender || !q->action) {
		free(q->sender);
		free(q->action);
		free(q);
		return -ENOMEM;
	}
	q->bus = sd_bus_ref(bus);
	q->interactive = interactive;
	q->cb = cb;
	q->ud = ud;
	r = sd_bus_call_method_async(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				     "org.freedesktop.DBus", "GetConnectionUnixUser", uid_reply, q,
				     "s", sender);
	if (r < 0) {
		sd_bus_unref(q->bus);
		free(q->sender);
		free(q->action);
		free(q);
	}
	return r;
}
