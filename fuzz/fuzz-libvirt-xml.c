/* SPDX-License-Identifier: MIT */
/*
 * fuzz-libvirt-xml.c — the libvirt back end's domain XML reader
 * (tsd_libvirt_parse_domain: libxml2 and XPath), then
 * tsd_libvirt_attachable(), the controllers' lookups and
 * tsd_libvirt_model_layout() with the layout contract of fuzz-layout.h.
 */
#include "fuzz-layout.h"
#include "libvirt-map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	enum mmio_status st;

	st = FUZZ_ERR_CALL(err, tsd_libvirt_parse_domain(s, &d, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID || st == MMIO_E_UNSUPPORTED);
	if (st == MMIO_OK) {
		char why[160];
		struct tsd_layout l;

		FUZZ_CHECK(memchr(d.type, '\0', sizeof(d.type)));
		FUZZ_CHECK(memchr(d.os_type, '\0', sizeof(d.os_type)));
		FUZZ_CHECK(memchr(d.machine, '\0', sizeof(d.machine)));
		FUZZ_CHECK(d.nhostdev <= TSD_LIBVIRT_MAX_HOSTDEV);
		FUZZ_CHECK(memchr(d.name, '\0', sizeof(d.name)));
		for (unsigned i = 0; i < d.nhostdev; i++) {
			FUZZ_CHECK(d.hostdev[i].source.dev <= 0x1f && d.hostdev[i].source.fn <= 7);
			FUZZ_CHECK(memchr(d.hostdev[i].alias, '\0', sizeof(d.hostdev[i].alias)));
		}
		for (size_t i = 0; i < d.ncontroller; i++) {
			const struct tsd_libvirt_controller *c = &d.controller[i];
			FUZZ_CHECK(memchr(c->model, '\0', sizeof(c->model)));
			FUZZ_CHECK(tsd_libvirt_controller_by_alias(&d, c->alias) || !c->alias[0]);
			int slot = tsd_libvirt_port_slot(&d, c, (uint32_t)size);
			FUZZ_CHECK(slot >= -1 && slot <= 31);
		}
		for (size_t i = 0; i < d.naddr; i++)
			FUZZ_CHECK(d.addr[i].slot <= 31 && d.addr[i].fn <= 7);
		if (!tsd_libvirt_attachable(&d, why, sizeof(why)))
			FUZZ_CHECK(why[0] && memchr(why, '\0', sizeof(why)));
		fuzz_err_poison(&err);
		memset(&l, 0, sizeof(l));
		st = tsd_libvirt_model_layout(&d, &l, &err);
		fuzz_err_check(st, &err);
		if (st == MMIO_OK)
			fuzz_layout_check(&l);
		else
			FUZZ_CHECK(st == MMIO_E_UNSUPPORTED || st == MMIO_E_INVALID);
		tsd_layout_clear(&l);
	}
	tsd_libvirt_domain_clear(&d);
	free(s);
	return 0;
}
