/* SPDX-License-Identifier: MIT */
/*
 * cmd-profiles.c — `mmioctl profiles`: the daemon's device catalogue, the
 * names usable as profile:NAME.  The daemon's copy is asked, not the file,
 * because that is the one check and attach will use.
 */
#include "config.h"

#include <stdio.h>

#include "mmioctl.h"

int cmd_profiles(struct mmioctl *c, int argc, char **argv)
{
	static const char *const hdr[] = { "PROFILE", "BARS", "DESCRIPTION" };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(json_object_putp) json_object *arr = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	int r;

	r = bus_connect(c);
	if (r)
		return r;
	r = bus_new_manager_call(c, "ListProfiles", &m);
	r = bus_call_built(c, m, r, false, "profiles", &reply);
	if (r)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "(ssss)");
	if (r < 0)
		return bus_report_errno(c, r, "profiles");
	if (c->json)
		arr = json_object_new_array();
	else
		t = table_new(3, hdr);
	for (;;) {
		const char *name, *desc, *bars, *source;

		r = sd_bus_message_read(reply, "(ssss)", &name, &desc, &bars, &source);
		if (r < 0)
			return bus_report_errno(c, r, "profiles");
		if (r == 0)
			break;
		if (arr) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_str(name));
			json_object_object_add(o, "description", json_str(desc));
			json_object_object_add(o, "bars", json_str(bars));
			json_object_object_add(o, "source", json_str(source));
			json_object_array_add(arr, o);
		} else {
			table_addf(t, name, bars, desc);
		}
	}
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "profiles", TAKE_PTR(arr));
		json_print(c, o);
	} else if (table_rows(t)) {
		table_print(t, c->legend, NULL);
	} else if (c->legend) {
		printf("No profiles in the catalogue.\n");
	}
	return 0;
}
