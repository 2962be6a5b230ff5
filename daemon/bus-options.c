/* SPDX-License-Identifier: MIT */
/* bus-options.c — a method's a{sv} options (see bus-options.h). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-options.h"
#include "bus-util.h"
#include "mmiod-names.h"

/* Each key, its D-Bus type and where it goes in struct bus_opts. */
static const struct opt_key {
	const char *key;
	char type;                      /* 'b' an int, 'u' a uint32_t, 's' a char[len] */
	size_t off, len;
} opt_keys[] = {
#define B(k, f) { k, 'b', offsetof(struct bus_opts, f), 0 }
#define S(k, f) { k, 's', offsetof(struct bus_opts, f), sizeof(((struct bus_opts *)0)->f) }
	B(MMIOD_OPT_REFRESH, refresh),
	B(MMIOD_OPT_WAIT, wait),
	B(MMIOD_OPT_INTERACTIVE, interactive),
	B(MMIOD_OPT_PERSISTENT, persistent),
	B(MMIOD_OPT_ASSIGNABLE, assignable),
	S(MMIOD_OPT_QEMU_DEVICE, qemu_device),
	S(MMIOD_OPT_RESERVATION, reservation),
	S(MMIOD_OPT_LABEL, label),
	S(MMIOD_OPT_PORT, port),
	S(BUS_OPT_MACHINE, machine),
	S(BUS_OPT_XEN_VERSION, xen_version),
	S(BUS_OPT_FIRMWARE, firmware),
	{ BUS_OPT_XEN_MEMORY_MIB, 'u', offsetof(struct bus_opts, xen_memory_mib), 0 },
#undef B
#undef S
};

struct opts_ctx {
	const char *allowed;            /* space-separated keys */
	struct bus_opts *o;
	sd_bus_error *error;
};

static int invalid(sd_bus_error *error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(sd_bus_error *error, const char *fmt, ...)
{
	struct ops_error err = { .code = OPS_E_INVALID_ARGS };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	return bus_error_set_ops(error, &err);
}

static int opt_entry(sd_bus_message *m, const char *key, void *ud)
{
	struct opts_ctx *c = ud;
	const struct opt_key *k = NULL;
	char needle[64], hay[256];
	const char *contents = NULL;
	char type;
	int r;

	snprintf(needle, sizeof(needle), " %s ", key);
	snprintf(hay, sizeof(hay), " %s ", c->allowed);
	for (size_t i = 0; i < sizeof(opt_keys) / sizeof(opt_keys[0]) && !k; i++)
		if (strcmp(key, opt_keys[i].key) == 0)
			k = &opt_keys[i];
	if (!k || !strstr(hay, needle))
		return invalid(c->error, "unknown option \"%.200s\" (this method takes: %s)", key,
			       c->allowed[0] ? c->allowed : "none");
	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (!contents || contents[0] != k->type || contents[1])
		return invalid(c->error, "option \"%s\" must be of type %c, got %s", key, k->type,
			       contents ? contents : "?");
	char *dst = (char *)c->o + k->off;
	if (k->type == 'b')
		return sd_bus_message_read(m, "v", "b", (int *)dst);
	if (k->type == 'u') {      /* xen-memory-mib, the only one: its presence counts */
		c->o->have_xen_memory = true;
		return sd_bus_message_read(m, "v", "u", (uint32_t *)dst);
	}
	const char *s;
	r = sd_bus_message_read(m, "v", "s", &s);
	if (r >= 0 && strlen(s) >= k->len)
		return invalid(c->error, "option \"%s\" is too long (%zu bytes, at most %zu)", key,
			       strlen(s), k->len - 1);
	if (r >= 0)
		snprintf(dst, k->len, "%s", s);
	return r;
}

int bus_opts_read(sd_bus_message *m, const char *allowed, struct bus_opts *o, sd_bus_error *error)
{
	struct opts_ctx c = { allowed, o, error };

	memset(o, 0, sizeof(*o));
	o->wait = 1;
	return bus_dict_read(m, opt_entry, &c);
}
