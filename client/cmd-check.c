/* SPDX-License-Identifier: MIT */
/*
 * cmd-check.c — `mmioctl check` and `mmioctl plan`.
 *
 * A "does not fit" is an answer, not an error: exit 1, and it comes with the
 * configuration change that would make it fit (Plan against the same guest),
 * because "no" alone sends the user to read the PCI spec.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmioctl.h"

struct plan_result {
	bool have_hole, have_high, have_hole64, have_low;
	uint32_t mmio_hole_mib;
	uint64_t high_window_bytes, pci_hole64_bytes, low_bytes_needed;
	char *xl_cfg, *qemu_args, *libvirt_xml, *port_args, *libvirt_port_xml;
	char *ovmf_qemu_args, *ovmf_libvirt_xml;
	bool have_ovmf;
	uint64_t ovmf_mmio64_mb;
};

static void plan_result_free(struct plan_result *p)
{
	free(p->xl_cfg);
	free(p->qemu_args);
	free(p->libvirt_xml);
	free(p->port_args);
	free(p->ovmf_qemu_args);
	free(p->ovmf_libvirt_xml);
	free(p->libvirt_port_xml);
}

static int plan_result_entry(sd_bus_message *m, const char *key, void *ud)
{
	struct plan_result *p = ud;
	char **dst = NULL;
	const char *s;
	int r;

	if (strcmp(key, "mmio_hole_mib") == 0) {
		p->have_hole = true;
		return sd_bus_message_read(m, "v", "u", &p->mmio_hole_mib);
	} else if (strcmp(key, "high_window_bytes") == 0) {
		p->have_high = true;
		return sd_bus_message_read(m, "v", "t", &p->high_window_bytes);
	} else if (strcmp(key, "pci_hole64_bytes") == 0) {
		p->have_hole64 = true;
		return sd_bus_message_read(m, "v", "t", &p->pci_hole64_bytes);
	} else if (strcmp(key, "low_bytes_needed") == 0) {
		p->have_low = true;
		return sd_bus_message_read(m, "v", "t", &p->low_bytes_needed);
	} else if (strcmp(key, "xl_cfg") == 0) {
		dst = &p->xl_cfg;
	} else if (strcmp(key, "qemu_args") == 0) {
		dst = &p->qemu_args;
	} else if (strcmp(key, "libvirt_xml") == 0) {
		dst = &p->libvirt_xml;
	} else if (strcmp(key, "port_args") == 0) {
		dst = &p->port_args;
	} else if (strcmp(key, "libvirt_port_xml") == 0) {
		dst = &p->libvirt_port_xml;
	} else if (strcmp(key, "ovmf_mmio64_mb") == 0) {
		p->have_ovmf = true;
		return sd_bus_message_read(m, "v", "t", &p->ovmf_mmio64_mb);
	} else if (strcmp(key, "ovmf_qemu_args") == 0) {
		dst = &p->ovmf_qemu_args;
	} else if (strcmp(key, "ovmf_libvirt_xml") == 0) {
		dst = &p->ovmf_libvirt_xml;
	} else {
		/* a newer daemon may say more; older clients ignore it */
		return sd_bus_message_skip(m, "v");
	}
	r = sd_bus_message_read(m, "v", "s", &s);
	if (r >= 0) {
		free(*dst);
		*dst = strdup(s);
		if (!*dst)
			r = -ENOMEM;
	}
	return r;
}

static int read_plan_result(sd_bus_message *m, struct plan_result *p)
{
	return bus_dict_read(m, plan_result_entry, p);
}

static json_object *plan_json(bool possible, const char *reason, const struct plan_result *p)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "possible", json_object_new_boolean(possible));
	json_object_object_add(o, "reason", json_str(reason));
	json_object_object_add(o, "mmio_hole_mib",
			       p->have_hole ? json_u64(p->mmio_hole_mib) : NULL);
	json_object_object_add(o, "high_window_bytes",
			       p->have_high ? json_u64(p->high_window_bytes) : NULL);
	json_object_object_add(o, "pci_hole64_bytes",
			       p->have_hole64 ? json_u64(p->pci_hole64_bytes) : NULL);
	json_object_object_add(o, "low_bytes_needed",
			       p->have_low ? json_u64(p->low_bytes_needed) : NULL);
	json_object_object_add(o, "xl_cfg", json_str(p->xl_cfg));
	json_object_object_add(o, "qemu_args", json_str(p->qemu_args));
	json_object_object_add(o, "libvirt_xml", json_str(p->libvirt_xml));
	if (p->port_args)
		json_object_object_add(o, "port_args", json_str(p->port_args));
	if (p->libvirt_port_xml)
		json_object_object_add(o, "libvirt_port_xml", json_str(p->libvirt_port_xml));
	if (p->have_ovmf) {
		json_object_object_add(o, "ovmf_mmio64_mb", json_u64(p->ovmf_mmio64_mb));
		json_object_object_add(o, "ovmf_qemu_args", json_str(p->ovmf_qemu_args));
		json_object_object_add(o, "ovmf_libvirt_xml", json_str(p->ovmf_libvirt_xml));
	}
	return o;
}

/* Prints a multi-line snippet, each line indented, so it reads as a block
 * that can be copied as it stands. */
static void print_block(const char *title, const char *text, const char *indent)
{
	const char *s = text;

	printf("%s%s\n", indent, title);
	while (*s) {
		const char *nl = strchr(s, '\n');
		int len = nl ? (int)(nl - s) : (int)strlen(s);

		printf("%s    %.*s\n", indent, len, s);
		s += len + (nl ? 1 : 0);
	}
}

static void plan_print(bool possible, const char *reason, const struct plan_result *p,
		       bool as_advice)
{
	const char *ind = as_advice ? "  " : "";
	char sz[48];

	if (as_advice)
		printf("\nTo make room%s:\n", possible ? "" : " (no configuration found)");
	if (!possible) {
		printf("%s%s\n", ind, reason && *reason ? reason : "no configuration makes these fit");
		return;
	}
	if (reason && *reason)
		printf("%s%s\n", ind, reason);
	if (p->have_low && p->low_bytes_needed) {
		fmt_size(p->low_bytes_needed, sz, sizeof(sz));
		printf("%sMemory below 4 GiB needed: %s\n", ind, sz);
	}
	if (p->have_hole)
		printf("%sMMIO hole below 4 GiB:      %" PRIu32 " MiB\n", ind, p->mmio_hole_mib);
	if (p->have_high && p->high_window_bytes) {
		fmt_size(p->high_window_bytes, sz, sizeof(sz));
		printf("%s64-bit window needed:       %s\n", ind, sz);
	}
	if (p->have_hole64 && p->pci_hole64_bytes) {
		fmt_size(p->pci_hole64_bytes, sz, sizeof(sz));
		printf("%sQEMU pci-hole64-size:       %s\n", ind, sz);
	}
	if (p->xl_cfg && *p->xl_cfg)
		print_block("xl.cfg:", p->xl_cfg, ind);
	if (p->qemu_args && *p->qemu_args)
		print_block("QEMU:", p->qemu_args, ind);
	if (p->libvirt_xml && *p->libvirt_xml)
		print_block("libvirt domain XML:", p->libvirt_xml, ind);
	if (p->port_args && *p->port_args)
		print_block("QEMU hot-plug ports (one per device):", p->port_args, ind);
	if (p->libvirt_port_xml && *p->libvirt_port_xml)
		print_block("libvirt hot-plug ports (one per device):", p->libvirt_port_xml, ind);
	if (p->ovmf_qemu_args && *p->ovmf_qemu_args)
		print_block("QEMU, OVMF guests:", p->ovmf_qemu_args, ind);
	if (p->ovmf_libvirt_xml && *p->ovmf_libvirt_xml)
		print_block("libvirt domain XML, OVMF guests:", p->ovmf_libvirt_xml, ind);
}

int plan_call_and_print(struct mmioctl *c, const char *guest, char **devices, size_t ndev,
			bool as_advice, json_object **json_out, bool *possible)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(plan_result_free) struct plan_result p = { 0 };
	const char *reason;
	int r, ok = 0;

	r = bus_new_manager_call(c, "Plan", &m);
	if (r >= 0)
		r = sd_bus_message_append_strv(m, devices);
	if (r >= 0)
		r = sd_bus_message_append(m, "s", guest ? guest : "");
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 0);
	r = bus_call_built(c, m, r, false, "plan", &reply);
	if (r)
		return r;
	r = sd_bus_message_read(reply, "bs", &ok, &reason);
	if (r >= 0)
		r = read_plan_result(reply, &p);
	if (r < 0)
		return bus_report_errno(c, r, "plan");
	*possible = ok;
	if (json_out)
		*json_out = plan_json(ok, reason, &p);
	else
		plan_print(ok, reason, &p, as_advice);
	return 0;
}

int cmd_check(struct mmioctl *c, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(place_list_free) struct place_list pl = { 0 };
	_cleanup_(strv_freep) char **devs = NULL;
	const char *guest = argv[0], *reason;
	int r, fits = 0;

	if ((r = guest_validate(guest, "check")) || (r = device_list_validate(argv + 1, (size_t)argc - 1, &devs, "check")))
		return r;
	if (c->port && !*c->port) {
		mmioctl_usage_error("%s: --port: empty port name (see: mmioctl status %s)", c->verb, guest);
		return MMIOCTL_EXIT_USAGE;
	}
	r = bus_begin_devices_call(c, "Check", guest, devs, &m);
	if (r)
		return r;
	if (c->refresh)
		r = bus_append_option_b(m, MMIOD_OPT_REFRESH, true);
	if (r >= 0 && c->port)
		r = bus_append_option_s(m, MMIOD_OPT_PORT, c->port);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	r = bus_call_built(c, m, r, false, "check", &reply);
	if (r)
		return r;
	r = sd_bus_message_read(reply, "bs", &fits, &reason);
	if (r >= 0)
		r = place_list_read(reply, &pl);
	if (r < 0)
		return bus_report_errno(c, r, "check");

	if (c->json) {
		json_object *o = json_object_new_object(), *advice = NULL;
		bool possible;

		json_object_object_add(o, "guest", json_str(guest));
		json_object_object_add(o, "fits", json_object_new_boolean(fits));
		json_object_object_add(o, "reason", json_str(reason));
		json_object_object_add(o, "placement", place_list_json(&pl));
		/* Advice is best effort: the answer to "does it fit" stands even
		 * when the planner cannot help, so its failure is not fatal. */
		if (!fits && plan_call_and_print(c, guest, devs, (size_t)argc - 1, true, &advice,
						 &possible) != 0)
			advice = NULL;
		if (!fits)
			json_object_object_add(o, "advice", advice);
		json_print(c, o);
	} else {
		if (fits && reason && *reason)
			/* mmiod had to guess part of the guest's history */
			printf("%s: fits (%s)\n", guest, reason);
		else if (fits)
			printf("%s: fits\n", guest);
		else
			printf("%s: does not fit: %s\n", guest, reason && *reason ? reason : "no space");
		place_list_print(c, &pl);
		if (!fits) {
			bool possible;

			fflush(stdout);
			(void)plan_call_and_print(c, guest, devs, (size_t)argc - 1, true, NULL,
						  &possible);
		}
	}
	return fits ? MMIOCTL_EXIT_OK : MMIOCTL_EXIT_NO;
}

int cmd_plan(struct mmioctl *c, int argc, char **argv)
{
	_cleanup_(strv_freep) char **devs = NULL;
	json_object *o = NULL;
	bool possible = false;
	int r;

	if ((c->guest && (r = guest_validate(c->guest, "plan"))) ||
	    (r = device_list_validate(argv, (size_t)argc, &devs, "plan")))
		return r;
	r = bus_connect(c);
	if (!r)
		r = plan_call_and_print(c, c->guest, devs, (size_t)argc, false, c->json ? &o : NULL,
					&possible);
	if (!r && o)
		json_print(c, o);
	if (r)
		return r;
	return possible ? MMIOCTL_EXIT_OK : MMIOCTL_EXIT_NO;
}
