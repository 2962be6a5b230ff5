/* SPDX-License-Identifier: MIT */
/* toolstack.c — the registry of back ends compiled into this build, and the
 * small helpers every back end shares. */
#include "config.h"

#include <stdarg.h>
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

const char *tsd_source_name(enum tsd_source s)
{
	switch (s) {
	case TSD_SRC_TOOLSTACK: return "toolstack";
	case TSD_SRC_MODEL: return "model";
	case TSD_SRC_PREDICTED: return "predicted";
	}
	return "unknown";
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

void tsd_layout_clear(struct tsd_layout *l)
{
	free(l->bars);
	free(l->clip);
	free(l->ports);
	memset(l, 0, sizeof(*l));
	l->free_slots = -1;
}

int tsd_layout_copy(struct tsd_layout *dst, const struct tsd_layout *src)
{
	*dst = *src;
	dst->bars = NULL;
	dst->clip = NULL;
	dst->ports = NULL;
	if (src->nports) {
		dst->ports = malloc(src->nports * sizeof(*dst->ports));
		if (!dst->ports)
			goto fail;
		memcpy(dst->ports, src->ports, src->nports * sizeof(*dst->ports));
	}
	if (src->nbars) {
		dst->bars = malloc(src->nbars * sizeof(*dst->bars));
		if (!dst->bars)
			goto fail;
		memcpy(dst->bars, src->bars, src->nbars * sizeof(*dst->bars));
	}
	if (src->nclip) {
		dst->clip = malloc(src->nclip * sizeof(*dst->clip));
		if (!dst->clip)
			goto fail;
		memcpy(dst->clip, src->clip, src->nclip * sizeof(*dst->clip));
	}
	return 0;
fail:
	free(dst->bars);
	free(dst->ports);
	memset(dst, 0, sizeof(*dst));
	return -1;
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

void tsd_appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}
