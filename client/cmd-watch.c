/* SPDX-License-Identifier: MIT */
/*
 * cmd-watch.c — `mmioctl watch`: one line per event until interrupted.
 *
 * The matches are installed before anything else is asked, so no event that
 * happens while watch starts up is lost.  Each line is flushed at once: the
 * usual reader is another program at the end of a pipe.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-event.h>

#include "mmioctl.h"

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

static int on_guest_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct mmioctl *c = userdata;
	bool added = sd_bus_message_is_signal(m, MMIOD_IFACE_MANAGER, "GuestAdded");
	const char *guest, *path, *ev = added ? "guest-added" : "guest-removed";
	char line[1024];
	json_object *o;

	if (sd_bus_message_read(m, "so", &guest, &path) < 0)
		return 0; /* a malformed signal is not worth ending the watch for */
	o = json_object_new_object();
	json_object_object_add(o, "event", json_str(ev));
	json_object_object_add(o, "guest", json_str(guest));
	json_object_object_add(o, "path", json_str(path));
	snprintf(line, sizeof(line), "%s %s %s", ev, guest, path);
	emit(c, o, line);
	return 0;
}

static int on_attach_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct mmioctl *c = userdata;
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
	if (ok)
		snprintf(line, sizeof(line), "attach-finished %s %s %s ok", guest, id, dev);
	else
		snprintf(line, sizeof(line), "attach-finished %s %s %s failed: %s", guest, id, dev,
			 *msg ? msg : ename);
	emit(c, o, line);
	return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct mmioctl *c = userdata;
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

int cmd_watch(struct mmioctl *c, int argc, char **argv)
{
	sd_event *e = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sigset_t ss;
	uint32_t version;
	int r, code;

	r = bus_connect(c);
	if (r)
		return r;
	r = sd_bus_match_signal(c->bus, NULL, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
				MMIOD_IFACE_MANAGER, "GuestAdded", on_guest_signal, c);
	if (r >= 0)
		r = sd_bus_match_signal(c->bus, NULL, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					MMIOD_IFACE_MANAGER, "GuestRemoved", on_guest_signal, c);
	if (r >= 0)
		r = sd_bus_match_signal(c->bus, NULL, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					MMIOD_IFACE_MANAGER, "AttachFinished",
					on_attach_finished, c);
	if (r >= 0)
		r = sd_bus_add_match(c->bus, NULL,
				     "type='signal',sender='org.freedesktop.DBus',"
				     "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
				     "member='NameOwnerChanged',arg0='" MMIOD_BUS_NAME "'",
				     on_owner_changed, c);
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
		return bus_report_errno(c, r, "watch");
	}
	code = sd_event_loop(e);
	sd_bus_detach_event(c->bus);
	sd_event_unref(e);
	if (code < 0)
		return bus_report_errno(c, code, "watch");
	if (code != 0) {
		/* Only a lost connection ends the loop with a non-zero code. */
		mmioctl_error("watch: lost the connection to the bus");
		return MMIOCTL_EXIT_NO_DAEMON;
	}
	return 0;
}
