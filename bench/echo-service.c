/* SPDX-License-Identifier: MIT */
/*
 * echo-service.c — the in-run baseline for bench-dbus: a trivial,
 * single-threaded sd-bus service whose Check method has exactly mmiod's
 * signature (s, as, a{sv}) -> (b, s, a(suststb)) and answers with a
 * placement of the same shape as mmiod's answer for a 3-BAR device, without
 * looking at anything.  mmiod / echo is then the cost of mmiod's own work.
 *
 *   echo-service BUS_ADDRESS NAME
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

static int method_check(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
	sd_bus_message *reply = NULL;
	const char *guest;
	int r;

	r = sd_bus_message_read(m, "s", &guest);
	if (r >= 0)
		r = sd_bus_message_skip(m, "asa{sv}");
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_append(reply, "bs", 1, "");
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(suststb)");
	for (unsigned i = 0; r >= 0 && i < 3; i++)
		r = sd_bus_message_append(reply, "(suststb)", "profile:nvidia-t4", i, "mem64p",
					  (uint64_t)1 << (24 + i), "high",
					  (uint64_t)0x100000000 + ((uint64_t)i << 28), 1);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r < 0 ? r : 1;
}

static const sd_bus_vtable echo_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_ARGS("Check",
				SD_BUS_ARGS("s", guest, "as", devices, "a{sv}", options),
				SD_BUS_RESULT("b", fits, "s", reason, "a(suststb)", placement),
				method_check, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s BUS_ADDRESS NAME\n", argv[0]);
		return 2;
	}
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, argv[1]);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/mmiod1", "org.mmiod1.Manager",
					     echo_vtable, NULL);
	if (r >= 0)
		r = sd_bus_request_name(bus, argv[2], 0);
	if (r < 0) {
		fprintf(stderr, "echo-service: %s\n", strerror(-r));
		return 1;
	}
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			break;
		if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
			break;
	}
	sd_bus_flush_close_unref(bus);
	return 0;
}
