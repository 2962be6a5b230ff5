/* SPDX-License-Identifier: MIT */
/*
 * fuzz-qmp.c — the QMP back end's pure mappings (daemon/qmp-map.c).  The
 * first input line is a QEMU device spec (qmp_map_device_spec); the rest
 * is a query-pci reply, parsed by json-c and mapped by qmp_map_pci() into
 * a layout whose windows come from qmp_map_windows() for a pc or q35 host
 * bridge (picked by the input length); then the layout contract of
 * fuzz-layout.h, the slot helpers, qmp_map_has_device and qmp_map_compare.
 */
#include <json-c/json.h>

#include "fuzz-layout.h"
#include "qmp-map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size), *nl = strchr(s, '\n');
	struct mmio_error err;
	json_object *spec, *reply;

	fuzz_live_pow2 = true; /* qmp-map now refuses non-power-of-two sizes */
	if (nl)
		*nl = '\0';
	fuzz_err_poison(&err);
	spec = qmp_map_device_spec(s, &err);
	if (spec) {
		FUZZ_CHECK(json_object_is_type(spec, json_type_object));
		json_object_put(spec);
	} else {
		FUZZ_CHECK(err.msg[0] && memchr(err.msg, '\0', sizeof(err.msg)));
	}
	reply = nl ? json_tokener_parse(nl + 1) : NULL;
	if (reply) {
		struct qmp_holes h = { 0 };
		struct qmp_pci_slots slots;
		struct tsd_layout l;
		struct mmio_device dev;
		enum mmio_status st;
		char diff[256];

		memset(&l, 0, sizeof(l));
		l.free_slots = -1;
		h.machine = size & 1 ? QMP_MACHINE_Q35 : QMP_MACHINE_PC;
		h.have_hole = true;
		h.hole_start = h.machine == QMP_MACHINE_Q35 ? UINT64_C(0x80000000) : UINT64_C(0xC0000000);
		h.hole_end = UINT64_C(0xFEC00000);
		h.have_hole64 = size & 2;
		h.hole64_start = UINT64_C(0x380000000);
		h.hole64_end = UINT64_C(0x400000000);
		if (h.machine == QMP_MACHINE_Q35) {
			h.have_mcfg = true;
			h.mcfg_base = UINT64_C(0xB0000000);
			h.mcfg_size = UINT64_C(0x10000000);
		}
		st = FUZZ_ERR_CALL(err, qmp_map_windows(&h, &l, &err));
		FUZZ_CHECK(st == MMIO_OK);
		st = FUZZ_ERR_CALL(err, qmp_map_pci(reply, &l, &slots, &err));
		if (st == MMIO_OK) {
			int f;

			fuzz_layout_check(&l);
			FUZZ_CHECK(slots.nports <= QMP_MAX_PORTS);
			/* every port's windows (read or modelled) make a valid space:
			 * the books build one per free port */
			for (size_t i = 0; i < l.nports; i++)
				qmp_map_port_io_model(&l, i);
			for (size_t i = 0; i < l.nports; i++) {
				const struct tsd_port *pt = &l.ports[i];
				struct mmio_window w[3];
				unsigned nw = 0;
				FUZZ_CHECK(memchr(pt->id, '\0', sizeof(pt->id)) && pt->id[0]);
				for (unsigned k = 0; k < 3; k++)
					if (pt->present[k]) {
						FUZZ_CHECK(pt->windows_known);
						w[nw] = pt->win[k];
						w[nw++].flags |= MMIO_WF_BRIDGE;
					}
				struct mmio_space psp;
				struct mmio_space_params pp = { .windows = w, .nwin = nw };
				fuzz_err_poison(&err);
				st = mmio_space_init(&psp, &pp, &err);
				FUZZ_CHECK(st == MMIO_OK);
				if (st == MMIO_OK) {
					if (mmio_bars_parse("bars:mem32:4K,io:256,mem64p:1M", &dev, NULL) != MMIO_OK)
						abort();
					(void)mmio_place(&psp, &dev, 1, NULL, &err);
					mmio_space_free(&psp);
				}
			}
			f = qmp_map_free_root_slot(&slots);
			FUZZ_CHECK(f == -1 || (f >= 1 && f <= 31));
			(void)qmp_map_free_slots(h.machine, &slots);
			if (l.nbars) {
				(void)qmp_map_has_device(reply, l.bars[0].device);
				if (mmio_bars_parse("bars:mem32:4K,mem64p:1M,rom:256K", &dev, NULL) != MMIO_OK)
					abort();
				(void)qmp_map_compare(&dev, &l, l.bars[0].device, size & 4, diff,
						      sizeof(diff));
				FUZZ_CHECK(memchr(diff, '\0', sizeof(diff)));
			}
		}
		(void)qmp_map_has_device(reply, "hostdev0");
		tsd_layout_clear(&l);
		json_object_put(reply);
	}
	free(s);
	return 0;
}
