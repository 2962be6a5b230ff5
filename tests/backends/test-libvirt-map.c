/* SPDX-License-Identifier: MIT */
/* test-libvirt-map.c — domain XML (libxml2: comments, CDATA, entities,
 * namespaces, aliases and addresses), QEMU-default windows, the layout of
 * a real libvirt q35 guest from QEMU's answers (fixtures captured through
 * libvirt, see README.md), the <hostdev> of an attach, error numbers. */
#include "config.h"

#include <libvirt/virterror.h>
#include <stdlib.h>

#include "libvirt-map.h"
#include "../tap.h"
#include "fixture.h"

/* What hand scanners trip over: a comment holding a tag, CDATA, an entity
 * in the name, the qemu: namespace, a <memoryBacking> before <memory>, and
 * guest addresses next to source addresses. */
static const char q35_xml[] =
	"<domain type='kvm' id='3' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
	"  <!-- <memory unit='KiB'>1</memory> -->\n"
	"  <name>a&amp;b</name>\n  <description><![CDATA[<memory>2</memory>]]></description>\n"
	"  <memoryBacking><hugepages/></memoryBacking>\n  <memory unit='KiB'>4194304</memory>\n"
	"  <currentMemory unit='KiB'>1048576</currentMemory>\n"
	"  <os firmware='efi'>\n    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n  </os>\n"
	"  <devices>\n    <controller type='pci' index='0' model='pcie-root'>\n"
	"      <pcihole64 unit='GiB'>64</pcihole64><alias name='pcie.0'/>\n    </controller>\n"
	"    <controller type='pci' index='1' model='pcie-root-port'><alias name='pci.1'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/></controller>\n"
	"    <controller type='pci' index='5' model='pcie-root-port'><alias name='pci.5'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x4'/></controller>\n"
	"    <controller type='usb' index='0' model='qemu-xhci'>\n"
	"      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></controller>\n"
	"    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source>\n"
	"        <address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>\n"
	"      </source>\n      <alias name='hostdev0'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>\n"
	"    </hostdev>\n    <hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/></source></hostdev>\n"
	"    <interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x04' "
	"slot='0x10' function='0x2'/></source><alias name='hostdev1'/></interface>\n"
	"  </devices>\n"
	"  <qemu:commandline><qemu:arg value='-global'/><qemu:arg value='q35-pcihost.pci-hole64-size=1G'/>"
	"</qemu:commandline>\n</domain>\n";

static void domain_xml(void)
{
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	struct tsd_layout l;
	char why[160];

	tap_ok(tsd_libvirt_parse_domain(q35_xml, &d, &err) == MMIO_OK, "q35 XML parses (%s)",
	       err.msg);
	tap_is_str(d.type, "kvm", "domain type");
	tap_is_str(d.name, "a&b", "entity in the name");
	tap_is_str(d.machine, "pc-q35-7.2", "machine");
	tap_is_u64(d.chipset, TSD_LIBVIRT_CHIPSET_Q35, "q35 chipset");
	tap_ok(d.efi, "firmware='efi'");
	tap_is_u64(d.memory, UINT64_C(4) << 30,
		   "<memory>, not the one in a comment or CDATA, nor <memoryBacking>/<currentMemory>");
	tap_ok(d.has_pcihole64 && d.pcihole64 == UINT64_C(64) << 30, "pcihole64 64 GiB");
	tap_is_u64(d.nhostdev, 2, "two PCI hostdevs (USB ignored, interface type='hostdev' counted)");
	tap_ok(d.hostdev[0].source.bus == 3 && d.hostdev[0].source.fn == 1,
	       "source address, not guest address");
	tap_ok(d.hostdev[0].addr.set && d.hostdev[0].addr.bus == 5, "hostdev's guest address: bus 5");
	tap_is_str(d.hostdev[0].alias, "hostdev0", "hostdev alias");
	tap_ok(d.hostdev[1].source.bus == 4 && d.hostdev[1].source.dev == 0x10 &&
	       d.hostdev[1].source.fn == 2, "the interface's VF");
	tap_is_u64(d.ncontroller, 3, "three PCI controllers (usb is not one)");
	const struct tsd_libvirt_controller *c = tsd_libvirt_controller_by_alias(&d, "pci.5");
	tap_ok(c && c->index == 5 && strcmp(c->model, "pcie-root-port") == 0 && c->addr.slot == 2 &&
	       c->addr.fn == 4, "pci.5: index 5, a root port at 00:02.4");
	tap_ok(!tsd_libvirt_controller_by_alias(&d, "pci.7") && !tsd_libvirt_controller_by_alias(&d, ""),
	       "no such alias");
	tap_ok(tsd_libvirt_bus_used(&d, 1) && tsd_libvirt_bus_used(&d, 5) && !tsd_libvirt_bus_used(&d, 2),
	       "behind pci.1 the USB controller, behind pci.5 the hostdev");
	tap_ok(tsd_libvirt_port_slot(&d, c, 0) == 0, "a root port's slot is 0");
	tap_ok(tsd_libvirt_attachable(&d, why, sizeof(why)), "q35 KVM guest attachable");
	tap_ok(tsd_libvirt_model_layout(&d, &l, &err) == MMIO_OK, "q35 model");
	tap_is_u64(l.nwin, 4, "q35 model: two low windows, high, I/O");
	tap_ok(l.win[0].start == 0x80000000 && l.win[0].end == 0xB0000000,
	       "4 GiB: low RAM ends at 2 GiB; first low window up to MMCONFIG");
	tap_ok(l.win[1].start == 0xC0000000 && l.win[1].end == 0xFEC00000,
	       "second low window from MMCONFIG's end to the IOAPIC");
	tap_is_u64(l.win[2].start, 0x180000000, "hole64 above 2 GiB of high RAM (4 GiB + 2 GiB)");
	tap_is_u64(l.win[2].end, 0x180000000 + (UINT64_C(64) << 30), "pcihole64 size");
	tap_ok(l.ports_only && l.win_source[0] == TSD_SRC_MODEL, "ports only; source: model");
	tap_ok(l.win_source[2] == TSD_SRC_ASSUMED && strstr(l.window_note, "OVMF"),
	       "EFI: without QEMU's view the 64-bit window is assumed, and said why");
	tap_is_u64(d.ovmf_mmio64_mb, 0, "no X-PciMmio64Mb among the qemu:commandline arguments");
	tsd_layout_clear(&l);
	tsd_libvirt_domain_clear(&d);

	/* X-PciMmio64Mb as libvirt passes it to OVMF: qemu:commandline, or
	 * a <sysinfo type='fwcfg'> entry. */
	static const char *const mmio64[] = {
		"<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		"<memory>1048576</memory><os firmware='efi'><type machine='pc-q35-10.0'>hvm</type></os>"
		"<qemu:commandline><qemu:arg value='-fw_cfg'/>"
		"<qemu:arg value='name=opt/ovmf/X-PciMmio64Mb,string=131072'/></qemu:commandline></domain>",
		"<domain type='kvm'><memory>1048576</memory><os firmware='efi'>"
		"<type machine='pc-q35-10.0'>hvm</type></os><sysinfo type='fwcfg'>"
		"<entry name='opt/ovmf/X-PciMmio64Mb'>131072</entry></sysinfo></domain>",
	};
	for (size_t i = 0; i < sizeof(mmio64) / sizeof(mmio64[0]); i++) {
		tap_ok(tsd_libvirt_parse_domain(mmio64[i], &d, &err) == MMIO_OK &&
		       d.ovmf_mmio64_mb == 131072, "X-PciMmio64Mb=131072 from %s",
		       i ? "sysinfo fwcfg" : "qemu:commandline");
		tsd_libvirt_domain_clear(&d);
	}

	const char *pc = "<domain type='test'><memory>1048576</memory><os><type machine=\"pc-i440fx-7.2\">hvm</type></os>"
			 "<devices><controller type='pci' index='0' model='pci-root'/>"
			 "<controller type='pci' index='1' model='pci-bridge'><alias name='pci.1'/>"
			 "<address type='pci' domain='0' bus='0' slot='5' function='0'/></controller>"
			 "<interface type='network'><address type='pci' domain='0' bus='1' slot='1' function='0'/></interface>"
			 "<interface type='hostdev'><source network='vfpool'/></interface>"
			 "</devices></domain>";
	tap_ok(tsd_libvirt_parse_domain(pc, &d, &err) == MMIO_OK,
	       "i440fx XML parses (default KiB, double quotes, decimal addresses, a VF pool)");
	tap_ok(!d.efi && d.nhostdev == 0, "no EFI, no fixed hostdev");
	c = tsd_libvirt_controller_by_alias(&d, "pci.1");
	tap_ok(c && tsd_libvirt_port_model(c->model), "a pci-bridge is a port");
	tap_is_u64(tsd_libvirt_port_slot(&d, c, 0), 2, "pci-bridge: slot 0 is libvirt's, 1 is used: 2");
	tap_is_u64(tsd_libvirt_port_slot(&d, c, 0x4), 3, "slot 2 taken in the guest too: 3");
	tap_ok(tsd_libvirt_port_slot(&d, c, 0xfffffffc) == -1, "full bridge: none");
	tap_ok(tsd_libvirt_model_layout(&d, &l, &err) == MMIO_OK, "i440fx model");
	tap_is_u64(l.win[0].start, 0x40000000, "1 GiB: hole from 1 GiB, as qom-get said (README)");
	tap_is_u64(l.win[1].start, 0x100000000, "hole64 at 4 GiB");
	tap_is_u64(l.win[1].end, 0x180000000, "2 GiB default hole64, as qom-get said");
	tap_ok(!l.ports_only, "pc: the root bus takes devices");
	tsd_layout_clear(&l);
	tsd_libvirt_domain_clear(&d);
	tap_ok(!tsd_libvirt_port_model("pcie-switch-upstream-port") &&
	       tsd_libvirt_port_model("pcie-switch-downstream-port") &&
	       !tsd_libvirt_port_model("pcie-root"), "port models");

	const char *pv = "<domain type='xen'><memory>1048576</memory><os><type>linux</type></os></domain>";
	tsd_libvirt_parse_domain(pv, &d, &err);
	tap_ok(!tsd_libvirt_attachable(&d, why, sizeof(why)), "Xen PV refused");
	tap_contains(why, "PV", "reason");
	tsd_libvirt_domain_clear(&d);
	const char *arm = "<domain type='kvm'><memory>1048576</memory><os><type arch='aarch64' machine='virt'>hvm</type></os></domain>";
	tsd_libvirt_parse_domain(arm, &d, &err);
	tap_ok(!tsd_libvirt_attachable(&d, why, sizeof(why)), "non-x86 machine refused");
	tsd_libvirt_domain_clear(&d);
	tap_ok(tsd_libvirt_parse_domain("<domain><os/></domain>", &d, &err) == MMIO_E_INVALID,
	       "no <memory>: invalid");
	tsd_libvirt_domain_clear(&d);
	tap_ok(tsd_libvirt_parse_domain("<domain><memory unit='parsec'>1</memory></domain>", &d, &err) == MMIO_E_INVALID,
	       "unknown unit: invalid");
	tsd_libvirt_domain_clear(&d);
	tap_ok(tsd_libvirt_parse_domain("<domain><memory>1</memory>", &d, &err) == MMIO_E_INVALID,
	       "not well-formed: invalid");
	tap_contains(err.msg, "not well-formed", "says so");
	tap_contains(err.msg, "line 1", "with the line");
	tsd_libvirt_domain_clear(&d);
	tap_ok(tsd_libvirt_parse_domain("<!DOCTYPE domain [<!ENTITY a 'aaaa'>]><domain><memory>1</memory></domain>",
					&d, &err) == MMIO_E_INVALID, "a DTD is refused");
	tsd_libvirt_domain_clear(&d);
	tap_ok(tsd_libvirt_parse_domain("<domain><memory>1</memory><devices><hostdev type='pci'><source/></hostdev></devices></domain>",
					&d, &err) == MMIO_E_INVALID, "a PCI hostdev without a source address");
	tsd_libvirt_domain_clear(&d);
}

/* A running libvirt q35 guest: 512 MiB, two pcie-root-ports (pci.1 holds
 * libvirt's USB controller, pci.2 an ivshmem-plain <shmem> attached with
 * virsh attach-device), SeaBIOS and Linux booted; QEMU's answers as read
 * through virDomainQemuMonitorCommand (README.md). */
static void qemu_layout(void)
{
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	struct tsd_layout l = { .free_slots = -1 };
	char *xml = fixture_read("libvirt-q35-qemu72.xml");
	char *js = fixture_read("query-pci-libvirt-q35-qemu72.json");
	json_object *pci = js ? json_tokener_parse(js) : NULL;
	struct qmp_holes h = {
		.machine = QMP_MACHINE_Q35, .have_hole = true, .hole_start = 0x20000000,
		.hole_end = 0xfec00000, .have_hole64 = true, .hole64_start = 0x100000000,
		.hole64_end = 0x900000000, .have_hole64_size = true, .hole64_size = 0x800000000,
		.have_ram = true, .ram_size = 0x20000000, .have_mcfg = true,
		.mcfg_base = 0xb0000000, .mcfg_size = 0x10000000,
	};

	tap_ok(xml && pci && tsd_libvirt_parse_domain(xml, &d, &err) == MMIO_OK,
	       "the captured libvirt q35 guest parses");
	tap_ok(tsd_libvirt_qemu_layout(&d, &h, pci, false, &l, &err) == MMIO_OK, "its layout maps (%s)",
	       err.msg);
	tap_is_u64(l.nwin, 5, "two low windows, high, two I/O windows");
	tap_ok(l.win[0].start == 0x20000000 && l.win[0].end == 0xb0000000 &&
	       l.win[1].start == 0xc0000000 && l.win[1].end == 0xfec00000,
	       "the low windows as the guest logged them: [0x20000000-0xafffffff] [0xc0000000-0xfebfffff]");
	tap_ok(l.ports_only && l.nports == 2, "q35: two ports");
	tap_ok(strcmp(l.ports[0].id, "pci.1") == 0 && !l.ports[0].empty, "pci.1 (the USB controller) occupied");
	tap_ok(strcmp(l.ports[1].id, "pci.2") == 0 && !l.ports[1].empty, "pci.2 (the shmem) occupied");
	tap_ok(l.ports[1].windows_known && l.ports[1].win[TSD_PORT_WIN_MEM].start == 0xfe200000 &&
	       l.ports[1].win[TSD_PORT_WIN_MEM].end == 0xfe400000, "pci.2's memory window");
	tap_is_u64(l.free_slots, 0, "no empty port");
	bool shm = false;
	for (size_t i = 0; i < l.nbars; i++)
		shm |= strcmp(l.bars[i].device, "shmem0") == 0 && l.bars[i].bar.index == 2 &&
		       l.bars[i].bar.size == 1 << 20;
	tap_ok(shm, "shmem0 BAR2 mem64p 1 MiB");

	/* The same guest told the shmem is gone and a hostdev is there: a
	 * hostdev's BARs go by its host BDF, a port the XML puts a device
	 * behind is occupied even when query-pci cannot see it yet. */
	json_object *ret = json_object_array_get_idx(json_object_object_get(pci, "return"), 0);
	json_object *devs = json_object_object_get(ret, "devices");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *dv = json_object_array_get_idx(devs, i), *br, *sub;
		if (strcmp(json_object_get_string(json_object_object_get(dv, "qdev_id")), "pci.2") == 0 &&
		    json_object_object_get_ex(dv, "pci_bridge", &br) &&
		    json_object_object_get_ex(br, "devices", &sub))
			json_object_object_add(json_object_array_get_idx(sub, 0), "qdev_id",
					       json_object_new_string("hostdev0"));
	}
	char *x2 = strdup(xml), *at = strstr(x2, "<shmem");
	tap_ok(at != NULL, "fixture has the shmem");
	const char *hd = "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' "
			 "bus='0x3b' slot='0x00' function='0x0'/></source><alias name='hostdev0'/>"
			 "<address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></hostdev>"
			 "<!-- ";
	char *x3 = malloc(strlen(x2) + strlen(hd) + 16);
	*at = '\0';
	sprintf(x3, "%s%s%s", x2, hd, at + 1);
	char *endc = strstr(x3, "</shmem>");
	memcpy(endc, "-->     ", 8);
	tsd_libvirt_domain_clear(&d);
	tap_ok(tsd_libvirt_parse_domain(x3, &d, &err) == MMIO_OK, "with a hostdev (%s)", err.msg);
	tap_ok(tsd_libvirt_qemu_layout(&d, &h, pci, true, &l, &err) == MMIO_OK, "maps");
	bool bdf = false, alias = false;
	for (size_t i = 0; i < l.nbars; i++) {
		bdf |= strcmp(l.bars[i].device, "0000:3b:00.0") == 0;
		alias |= strcmp(l.bars[i].device, "hostdev0") == 0;
	}
	tap_ok(bdf && !alias, "the hostdev's BARs go by its host BDF");
	tap_ok(l.ports[1].native_hotplug, "pciehp as told");
	tsd_layout_clear(&l);
	tsd_libvirt_domain_clear(&d);
	free(x2);
	free(x3);
	json_object_put(pci);
	free(js);
	free(xml);
}

int main(void)
{
	domain_xml();
	qemu_layout();

	char xml[512];
	struct mmio_bdf bdf = { 0, 3, 0, 1 };
	tap_ok(tsd_libvirt_hostdev_xml(&bdf, -1, 0, xml, sizeof(xml)), "hostdev XML");
	tap_contains(xml, "<address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>", "source");
	tap_contains(xml, "managed='yes'", "managed");
	tap_ok(!strstr(xml, "type='pci' domain"), "no guest address: libvirt chooses");
	tap_ok(tsd_libvirt_hostdev_xml(&bdf, 5, 0, xml, sizeof(xml)), "behind a port");
	tap_contains(xml, "</source><address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>",
		     "guest address: the port's controller index as bus");
	tap_ok(!tsd_libvirt_hostdev_xml(&bdf, 5, 0, xml, 40), "too small a buffer says so");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_NO_SUPPORT), TSD_E_NOTSUPPORTED, "NO_SUPPORT -> not-supported");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_NO_DOMAIN), TSD_E_NOGUEST, "NO_DOMAIN -> no-guest");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_OPERATION_TIMEOUT), TSD_E_TIMEOUT, "timeout");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_OPERATION_INVALID), TSD_E_FAILED, "other -> failed");
	tap_done();
	return tap_exit();
}
