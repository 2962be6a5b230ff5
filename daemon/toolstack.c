/* SPDX-License-Identifier: MIT */
/* toolstack.c — the registry of back ends compiled into this build, and the
 * small helpers every back end shares. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack.h"

static const struct tsd_driver *const drivers[] = {
	&tsd_qmp_driver,
#ifdef HAVE_LIBVIRT
	&tsd_libvirt_driver,
#endif
#ifdef HAVE_LIBXL
	&tsd_libxl_driver,
#endif
};

const struct tsd_driver *tsd_driver_find(const char *name)
{
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

const char *tsd_driver_names(void)
{
	return "qmp"
#ifdef HAVE_LIBVIRT
	       ",libvirt"
#endif
#ifdef HAVE_LIBXL
	       ",libxl"
#endif
		;
}

const char *tsd_rc_name(enum tsd_rc rc)
{
	switch (rc) {
	case TSD_OK: return "ok";
	case TSD_E_FAILED: return "failed";
	case TSD_E_UNASSIGNED: return "unassigned";
	case TSD_E_NOGUEST: return "no-guest";
	case TSD_E_NOTSUPPORTED: return "not-supported";
	case TSD_E_TIMEOUT: return "timeout";
	case TSD_E_MISMATCH: return "mismatch";
	}
	return "unknown";
}

bool tsd_spec_value(const char *spec, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = spec;

	/* items are separated by a single ','; ",," stays inside an item */
	while (p && *p) {
		const char *q = p;
		size_t n = 0;
		bool match = strncmp(p, key, klen) == 0 && p[klen] == '=';
		if (match)
			q = p + klen + 1;
		for (; *q; q++) {
			if (*q == ',' && q[1] == ',') {
				if (match && n + 1 < len)
					buf[n] = ',';
				n++;
				q++;
				continue;
			}
			if (*q == ',')
				break;
			if (match && n + 1 < len)
				buf[n] = *q;
			n++;
		}
		if (match) {
			if (n + 1 > len)
				return false;
			buf[n] = '\0';
			return true;
		}
		p = *q ? q + 1 : NULL;
	}
	return false;
}
