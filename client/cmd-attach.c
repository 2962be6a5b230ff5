/* SPDX-License-Identifier: MIT */
/*
 * cmd-attach.c — the verbs that change a guest: attach, detach, reserve,
 * release.  Each waits for the daemon's answer; attach and detach show a
 * spinner with the elapsed time on a terminal because the guest's hot-plug
 * can take seconds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmioctl.h"

int cmd_attach(struct mmioctl *c, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(place_list_free) struct place_list pl = { 0 };
	const char *guest = argv[0], *attach_id;
	char dev[MMIO_DEVICE_NAME_MAX + 256], what[sizeof(dev) + 256];
	int r;

	snprintf(what, sizeof(what), "attach %s to %s", argv[1], guest);
	if ((r = guest_validate(guest, "attach")) || (r = device_validate(argv[1], dev, sizeof(dev), what)))
		return r;
	if (c->qemu_device && !*c->qemu_device) {
		mmioctl_usage_error("--qemu-device: empty device specification");
		return MMIOCTL_EXIT_USAGE;
	}
	if (c->reservation && !*c->reservation) {
		mmioctl_usage_error("--reservation: empty reservation id");
		return MMIOCTL_EXIT_USAGE;
	}
	if (c->port && !*c->port) {
		mmioctl_usage_error("%s: --port: empty port name (see: mmioctl status %s)", c->verb, guest);
		return MMIOCTL_EXIT_USAGE;
	}
	r = bus_connect(c);
	if (r)
		return r;
	r = bus_new_manager_call(c, "Attach", &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "ss", guest, dev);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0 && c->qemu_device)
		r = bus_append_option_s(m, MMIOD_OPT_QEMU_DEVICE, c->qemu_device);
	if (r >= 0 && c->reservation)
		r = bus_append_option_s(m, MMIOD_OPT_RESERVATION, c->reservation);
	if (r >= 0 && c->persistent)
		r = bus_append_option_b(m, MMIOD_OPT_PERSISTENT, true);
	if (r >= 0 && c->port)
		r = bus_append_option_s(m, MMIOD_OPT_PORT, c->port);
	if (r >= 0)
		r = bus_append_option_b(m, MMIOD_OPT_WAIT, !c->no_wait);
	if (r >= 0)
		r = bus_append_option_b(m, MMIOD_OPT_INTERACTIVE, c->interactive);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	r = bus_call_built(c, m, r, true, what, &reply);
	if (r) {
		/* --json: mmiod's refusal as an object too, for the program
		 * reading stdout (the sentence is on stderr as always); no
		 * daemon to ask stays the one sentence. */
		if (c->json && sd_bus_error_is_set(&c->last_error) && r != MMIOCTL_EXIT_NO_DAEMON) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "guest", json_str(guest));
			json_object_object_add(o, "device", json_str(dev));
			json_object_object_add(o, "attach_id", NULL);
			json_object_object_add(o, "finished", json_object_new_boolean(true));
			json_object_object_add(o, "success", json_object_new_boolean(false));
			json_object_object_add(o, "error", json_str(c->last_error.name));
			json_object_object_add(o, "message", json_str(c->last_error.message));
			json_object_object_add(o, "exit_status", json_object_new_int(r));
			json_print(c, o);
		}
		sd_bus_error_free(&c->last_error);
		return r;
	}
	r = sd_bus_message_read(reply, "s", &attach_id);
	if (r >= 0)
		r = place_list_read(reply, &pl);
	if (r < 0)
		return bus_report_errno(c, r, what);
	if (c->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "guest", json_str(guest));
		json_object_object_add(o, "device", json_str(dev));
		json_object_object_add(o, "attach_id", json_str(attach_id));
		json_object_object_add(o, "finished", json_object_new_boolean(!c->no_wait));
		json_object_object_add(o, "success", json_object_new_boolean(true));
		json_object_object_add(o, "placement", place_list_json(&pl));
		json_print(c, o);
	} else {
		if (c->no_wait)
			printf("Admitted %s into %s; attach %s is in progress (follow it with: mmioctl watch)\n",
			       dev, guest, attach_id);
		else
			printf("Attached %s to %s (attach %s)\n", dev, guest, attach_id);
		place_list_print(c, &pl);
	}
	return 0;
}

/* {"guest": GUEST, KEY: VALUE} in JSON, else "DONE VALUE PREP GUEST". */
static void print_done(struct mmioctl *c, const char *guest, const char *key, const char *value,
		       const char *done, const char *prep)
{
	if (c->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "guest", json_str(guest));
		json_object_object_add(o, key, json_str(value));
		json_print(c, o);
	} else {
		printf("%s %s %s %s\n", done, value, prep, guest);
	}
}

int cmd_detach(struct mmioctl *c, int argc, char **argv)
{
	const char *guest = argv[0];
	char dev[MMIO_DEVICE_NAME_MAX + 256], what[sizeof(dev) + 256];
	int r;

	snprintf(what, sizeof(what), "detach %s from %s", argv[1], guest);
	if ((r = guest_validate(guest, "detach")))
		return r;
	/* DEVICE is what attach was given (checked like there, so a typo in a
	 * BDF is caught here) or the attach id attach printed (the daemon's
	 * word, passed on as it stands). */
	if (device_looks_like_spec(argv[1])) {
		if ((r = device_validate(argv[1], dev, sizeof(dev), what)))
			return r;
	} else if ((r = name_validate(argv[1], "device or attach id", what))) {
		return r;
	} else {
		snprintf(dev, sizeof(dev), "%s", argv[1]);
	}
	r = bus_call_guest_what(c, "Detach", guest, dev, true, true, what);
	if (r)
		return r;
	print_done(c, guest, "device", dev, "Detached", "from");
	return 0;
}

int cmd_reserve(struct mmioctl *c, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(place_list_free) struct place_list pl = { 0 };
	_cleanup_(strv_freep) char **devs = NULL;
	const char *guest = argv[0], *id;
	int r;

	if ((r = guest_validate(guest, "reserve")) ||
	    (r = device_list_validate(argv + 1, (size_t)argc - 1, &devs, "reserve")))
		return r;
	r = bus_begin_devices_call(c, "Reserve", guest, devs, &m);
	if (r)
		return r;
	if (c->label)
		r = bus_append_option_s(m, MMIOD_OPT_LABEL, c->label);
	if (r >= 0)
		r = bus_append_option_b(m, MMIOD_OPT_INTERACTIVE, c->interactive);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	r = bus_call_built(c, m, r, false, "reserve", &reply);
	if (r)
		return r;
	r = sd_bus_message_read(reply, "s", &id);
	if (r >= 0)
		r = place_list_read(reply, &pl);
	if (r < 0)
		return bus_report_errno(c, r, "reserve");
	if (c->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "guest", json_str(guest));
		json_object_object_add(o, "id", json_str(id));
		json_object_object_add(o, "label", json_str(c->label));
		json_object_object_add(o, "placement", place_list_json(&pl));
		json_print(c, o);
	} else {
		printf("Reserved %s in %s\n", id, guest);
		place_list_print(c, &pl);
	}
	return 0;
}

int cmd_release(struct mmioctl *c, int argc, char **argv)
{
	const char *guest = argv[0], *id = argv[1];
	int r;

	if ((r = guest_validate(guest, "release")))
		return r;
	if ((r = name_validate(id, "reservation id", "release")))
		return r;
	r = bus_call_guest_what(c, "Release", guest, id, false, false, "release");
	if (r)
		return r;
	print_done(c, guest, "id", id, "Released", "in");
	return 0;
}
