/* SPDX-License-Identifier: MIT */
/* qmp-fixture.h — reading the QEMU 7.2 captures (the JSON files in tests/qmp) for the
 * test-qmp-map-* programs; tests/qmp/README.md says how they were taken. */
#ifndef MMIO_TEST_QMP_FIXTURE_H
#define MMIO_TEST_QMP_FIXTURE_H
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "qmp-map.h"
#include "../tap.h"

#ifndef QMP_FIXTURES
#define QMP_FIXTURES "tests/qmp"
#endif

static inline json_object *load(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", QMP_FIXTURES, name);
	json_object *o = json_object_from_file(path);
	if (!o)
		tap_diag("cannot read %s: %s", path, json_util_get_last_err());
	return o;
}

static inline void holes_from(const char *name, enum qmp_machine m, struct qmp_holes *h)
{
	json_object *o = load(name), *v;
	memset(h, 0, sizeof(*h));
	h->machine = m;
	if (!o)
		return;
	if (json_object_object_get_ex(o, "pci-hole-start", &v))
		h->have_hole = qmp_map_u64(v, &h->hole_start);
	if (json_object_object_get_ex(o, "pci-hole-end", &v))
		qmp_map_u64(v, &h->hole_end);
	if (json_object_object_get_ex(o, "pci-hole64-start", &v))
		h->have_hole64 = qmp_map_u64(v, &h->hole64_start);
	if (json_object_object_get_ex(o, "pci-hole64-end", &v))
		qmp_map_u64(v, &h->hole64_end);
	if (json_object_object_get_ex(o, "pci-hole64-size", &v))
		h->have_hole64_size = qmp_map_u64(v, &h->hole64_size);
	if (json_object_object_get_ex(o, "MCFG", &v))
		h->have_mcfg = qmp_map_u64(v, &h->mcfg_base);
	if (json_object_object_get_ex(o, "mcfg_size", &v))
		qmp_map_u64(v, &h->mcfg_size);
	json_object_put(o);
}

static inline const struct tsd_live_bar *find_bar(const struct tsd_layout *l, const char *dev, unsigned idx)
{
	for (size_t i = 0; i < l->nbars; i++)
		if (strcmp(l->bars[i].device, dev) == 0 && l->bars[i].bar.index == idx)
			return &l->bars[i];
	return NULL;
}

static inline int pci_from(const char *name, struct tsd_layout *l, struct qmp_pci_slots *s)
{
	struct mmio_error err = { 0 };
	json_object *o = load(name);
	if (!o)
		return -1;
	enum mmio_status st = qmp_map_pci(o, l, s, &err);
	json_object_put(o);
	if (st != MMIO_OK)
		tap_diag("%s: %s", name, err.msg);
	return st == MMIO_OK ? 0 : -1;
}

#endif
