/* SPDX-License-Identifier: MIT */
/*
 * introspect.c — `mmiod --bus-introspect=IFACE`: the <interface> XML of a
 * vtable, written the way sd-bus writes it, without connecting to a bus.
 * A test diffs it (normalised) against dbus/org.mmiod1.xml.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bus.h"

/* Length of the first complete type in a signature. */
static size_t sig_one(const char *s)
{
	size_t n = 0;
	int depth = 0;

	do {
		char c = s[n];
		if (!c)
			return n;
		n++;
		if (c == 'a')
			continue;       /* an array: its element type follows */
		if (c == '(' || c == '{')
			depth++;
		else if (c == ')' || c == '}')
			depth--;
	} while (depth > 0 || s[n - 1] == 'a');
	return n;
}

static void write_args(FILE *f, const char *sig, const char **names, const char *direction)
{
	while (sig && *sig) {
		size_t n = sig_one(sig);
		const char *name = NULL;

		if (*names && **names) {
			name = *names;
			*names += strlen(*names) + 1;
		}
		fprintf(f, "   <arg type=\"%.*s\"", (int)n, sig);
		if (name)
			fprintf(f, " name=\"%s\"", name);
		if (direction)
			fprintf(f, " direction=\"%s\"", direction);
		fprintf(f, "/>\n");
		sig += n;
	}
}

void bus_introspect_print(FILE *f, const char *iface, const sd_bus_vtable *vt)
{
	fprintf(f, " <interface name=\"%s\">\n", iface);
	for (const sd_bus_vtable *v = vt; v->type != _SD_BUS_VTABLE_END; v++) {
		const char *names;

		if (v->flags & SD_BUS_VTABLE_HIDDEN)
			continue;
		switch (v->type) {
		case _SD_BUS_VTABLE_METHOD:
			names = v->x.method.names ? v->x.method.names : "";
			fprintf(f, "  <method name=\"%s\">\n", v->x.method.member);
			write_args(f, v->x.method.signature, &names, "in");
			write_args(f, v->x.method.result, &names, "out");
			if (!(v->flags & SD_BUS_VTABLE_UNPRIVILEGED))
				fprintf(f, "   <annotation name=\"org.freedesktop.systemd1.Privileged\" value=\"true\"/>\n");
			fprintf(f, "  </method>\n");
			break;
		case _SD_BUS_VTABLE_SIGNAL:
			names = v->x.signal.names ? v->x.signal.names : "";
			fprintf(f, "  <signal name=\"%s\">\n", v->x.signal.member);
			write_args(f, v->x.signal.signature, &names, NULL);
			fprintf(f, "  </signal>\n");
			break;
		case _SD_BUS_VTABLE_PROPERTY:
		case _SD_BUS_VTABLE_WRITABLE_PROPERTY: {
			const char *emits = NULL;
			if (v->flags & SD_BUS_VTABLE_PROPERTY_CONST)
				emits = "const";
			else if (v->flags & SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION)
				emits = "invalidates";
			else if (!(v->flags & SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE))
				emits = "false";
			fprintf(f, "  <property name=\"%s\" type=\"%s\" access=\"%s\"", v->x.property.member,
				v->x.property.signature,
				v->type == _SD_BUS_VTABLE_WRITABLE_PROPERTY ? "readwrite" : "read");
			if (emits)
				fprintf(f, ">\n   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"%s\"/>\n  </property>\n",
					emits);
			else
				fprintf(f, "/>\n");
			break;
		}
		default:
			break;
		}
	}
	fprintf(f, " </interface>\n");
}
