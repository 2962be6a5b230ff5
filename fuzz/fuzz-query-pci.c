/* SPDX-License-Identifier: MIT */
/*
 * fuzz-query-pci.c — QMP `query-pci` replies as the libvirt back end reads
 * them: json-c, then tsd_libvirt_qemu_layout() for a libvirt q35 domain
 * with two pcie-root-ports (pci.1 with a device behind it in the XML,
 * pci.2 empty), a pci-bridge (pci.3) and a hostdev (alias hostdev0):
 * no crash, no leak, error contract, a valid layout (fuzz-layout.h), only
 * libvirt's port controllers as ports, pci.1 never empty, no BAR left
 * under the hostdev's alias.
 */
#include "fuzz-layout.h"
#include "libvirt-map.h"

static const char q35[] =
	"<domain type='kvm'><memory unit='KiB'>8388608</memory>"
	"<os><type machine='pc-q35-7.2'>hvm</type></os><devices>"
	"<controller type='pci' index='0' model='pcie-root'><alias name='pcie.0'/></controller>"
	"<controller type='pci' index='1' model='pcie-root-port'><alias name='pci.1'/>"
	"<address type='pci' domain='0' bus='0' slot='1' function='0'/></controller>"
	"<controller type='pci' index='2' model='pcie-root-port'><alias name='pci.2'/>"
	"<address type='pci' domain='0' bus='0' slot='1' function='1'/></controller>"
	"<controller type='pci' index='3' model='pci-bridge'><alias name='pci.3'/>"
	"<address type='pci' domain='0' bus='0' slot='3' function='0'/></controller>"
	"<controller type='pci' index='4' model='pcie-switch-upstream-port'><alias name='pci.4'/></controller>"
	"<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x3b' slot='0' "
	"function='0'/></source><alias name='hostdev0'/>"
	"<address type='pci' domain='0' bus='1' slot='0' function='0'/></hostdev>"
	"</devices></domain>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tsd_libvirt_domain d;
	static bool have_domain;
	char *s = fuzz_strdup(data, size);
	struct tsd_layout l = { .free_slots = -1 };
	struct mmio_error err;
	enum mmio_status st;
	struct qmp_holes h = {
		.machine = size % 2 ? QMP_MACHINE_Q35 : QMP_MACHINE_PC, .have_hole = true,
		.hole_start = 0x80000000, .hole_end = 0xfec00000, .have_hole64 = true,
		.hole64_start = 0x280000000, .hole64_end = 0xa80000000, .have_mcfg = size % 3 == 0,
		.mcfg_base = 0xb0000000, .mcfg_size = 0x10000000,
	};

	if (!have_domain) {
		if (tsd_libvirt_parse_domain(q35, &d, NULL) != MMIO_OK)
			abort();
		have_domain = true;
	}
	json_object *reply = json_tokener_parse(s);
	if (reply) {
		st = FUZZ_ERR_CALL(err, tsd_libvirt_qemu_layout(&d, &h, reply, size & 4, &l, &err));
		FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID || st == MMIO_E_UNSUPPORTED ||
			   st == MMIO_E_NOMEM);
		if (st == MMIO_OK) {
			fuzz_layout_check(&l);
			for (size_t i = 0; i < l.nports; i++) {
				const struct tsd_libvirt_controller *c =
					tsd_libvirt_controller_by_alias(&d, l.ports[i].id);
				FUZZ_CHECK(c && tsd_libvirt_port_model(c->model));
				FUZZ_CHECK(strcmp(l.ports[i].id, "pci.1") != 0 || !l.ports[i].empty);
				qmp_map_port_io_model(&l, i);
			}
			for (size_t i = 0; i < l.nbars; i++)
				FUZZ_CHECK(strcmp(l.bars[i].device, "hostdev0") != 0);
		}
		tsd_layout_clear(&l);
		json_object_put(reply);
	}
	free(s);
	return 0;
}
