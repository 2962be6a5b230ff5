/* SPDX-License-Identifier: MIT */
/* test-libvirt-map.c — domain XML, QEMU-default windows, query-pci JSON
 * (captured from QEMU 7.2, see README.md), error numbers. */
#include "config.h"

#include <libvirt/virterror.h>
#include <stdlib.h>

#include "libvirt-map.h"
#include "../tap.h"

static char *slurp(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", BACKENDS_FIXTURES, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	if (buf && fread(buf, 1, 65535, f) == 0)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static const char q35_xml[] =
	"<domain type='kvm' id='3'>\n  <name>a&amp;b</name>\n  <memory unit='KiB'>4194304</memory>\n"
	"  <memoryBacking><hugepages/></memoryBacking>\n"
	"  <currentMemory unit='KiB'>1048576</currentMemory>\n"
	"  <os>\n    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n  </os>\n"
	"  <devices>\n    <controller type='pci' index='0' model='pcie-root'>\n"
	"      <pcihole64 unit='GiB'>64</pcihole64>\n    </controller>\n"
	"    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source>\n"
	"        <address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>\n"
	"      </source>\n      <alias name='hostdev0'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>\n"
	"    </hostdev>\n    <hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/></source></hostdev>\n"
	"  </devices>\n</domain>\n";

int main(void)
{
	struct tsd_libvirt_domain d;
	struct mmio_error err;
	struct tsd_layout l;
	char why[160];

	tap_ok(tsd_libvirt_parse_domain(q35_xml, &d, &err) == MMIO_OK, "q35 XML parses");
	tap_is_str(d.type, "kvm", "domain type");
	tap_is_str(d.machine, "pc-q35-7.2", "machine");
	tap_is_u64(d.chipset, TSD_LIBVIRT_CHIPSET_Q35, "q35 chipset");
	tap_is_u64(d.memory, UINT64_C(4) << 30, "<memory> not <memoryBacking> nor <currentMemory>");
	tap_ok(d.has_pcihole64 && d.pcihole64 == UINT64_C(64) << 30, "pcihole64 64 GiB");
	tap_is_u64(d.nhostdev, 1, "one PCI hostdev (USB ignored)");
	tap_ok(d.hostdev[0].bus == 3 && d.hostdev[0].fn == 1, "source address, not guest address");
	tap_ok(tsd_libvirt_attachable(&d, why, sizeof(why)), "q35 KVM guest attachable");
	tap_ok(tsd_libvirt_model_layout(&d, &l, &err) == MMIO_OK, "q35 model");
	tap_is_u64(l.win[0].start, 0x80000000, "q35 4 GiB: low RAM ends at 2 GiB");
	tap_is_u64(l.win[0].end, 0xFEC00000, "low window to the IOAPIC");
	tap_is_u64(l.win[1].start, 0x180000000, "hole64 above 2 GiB of high RAM (4 GiB + 2 GiB)");
	tap_is_u64(l.win[1].end, 0x180000000 + (UINT64_C(64) << 30), "pcihole64 size");
	tap_ok(l.nclip == 1 && l.clip[0].start == 0xB0000000, "MMCONFIG clipped");
	tap_is_u64(l.win_source[0], TSD_SRC_MODEL, "source: model");
	tsd_libvirt_live_windows(&l, 0x40000000, 0xFEC00000, 0x100000000, 0x900000000);
	tap_ok(l.nwin == 3 && l.win[0].start == 0x40000000 && l.win[1].end == 0x900000000 &&
	       l.win_source[0] == TSD_SRC_TOOLSTACK && l.win[2].kind == MMIO_WIN_IO,
	       "live qom-get windows replace the model's");
	tsd_layout_clear(&l);

	const char *pc = "<domain type='test'><memory>1048576</memory><os><type machine=\"pc-i440fx-7.2\">hvm</type></os></domain>";
	tap_ok(tsd_libvirt_parse_domain(pc, &d, &err) == MMIO_OK, "i440fx XML parses (default KiB, double quotes)");
	tap_ok(tsd_libvirt_model_layout(&d, &l, &err) == MMIO_OK, "i440fx model");
	tap_is_u64(l.win[0].start, 0x40000000, "1 GiB: hole from 1 GiB, as qom-get said (README)");
	tap_is_u64(l.win[1].start, 0x100000000, "hole64 at 4 GiB");
	tap_is_u64(l.win[1].end, 0x180000000, "2 GiB default hole64, as qom-get said");
	tsd_layout_clear(&l);

	const char *pv = "<domain type='xen'><memory>1048576</memory><os><type>linux</type></os></domain>";
	tsd_libvirt_parse_domain(pv, &d, &err);
	tap_ok(!tsd_libvirt_attachable(&d, why, sizeof(why)), "Xen PV refused");
	tap_contains(why, "PV", "reason");
	const char *arm = "<domain type='kvm'><memory>1048576</memory><os><type machine='virt'>hvm</type></os></domain>";
	tsd_libvirt_parse_domain(arm, &d, &err);
	tap_ok(!tsd_libvirt_attachable(&d, why, sizeof(why)), "non-x86 machine refused");
	tap_ok(tsd_libvirt_parse_domain("<domain><os/></domain>", &d, &err) == MMIO_E_INVALID,
	       "no <memory>: invalid");
	tap_ok(tsd_libvirt_parse_domain("<domain><memory unit='parsec'>1</memory></domain>", &d, &err) == MMIO_E_INVALID,
	       "unknown unit: invalid");

	struct tsd_live_bar *bars;
	size_t n = 0;
	char *json = slurp("query-pci-q35-qemu72.json");
	tap_ok(json && tsd_libvirt_parse_query_pci(json, &bars, &n, &err) == MMIO_OK, "q35 query-pci parses");
	tap_is_u64(n, 9, "nine regions");
	bool t0 = false, rom = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(bars[i].device, "t0") == 0 && bars[i].bar.index == 2)
			t0 = bars[i].bar.kind == MMIO_BAR_MEM64 && bars[i].bar.prefetch &&
			     bars[i].addr == 4261412864u && bars[i].bar.size == 1 << 20;
		if (strcmp(bars[i].guest_slot, "00:01.0") == 0 && bars[i].bar.index == 6)
			rom = bars[i].addr == TSD_ADDR_UNASSIGNED && bars[i].bar.size == 65536;
	}
	tap_ok(t0, "t0 BAR2 mem64p 1 MiB at 0xfe000000");
	tap_ok(rom, "VGA ROM unassigned (-1)");
	free(bars);
	free(json);
	tap_ok(tsd_libvirt_parse_query_pci("{\"error\":{\"class\":\"GenericError\",\"desc\":\"nope\"}}", &bars, &n, &err) == MMIO_E_INVALID,
	       "QMP error reply");
	tap_contains(err.msg, "nope", "carries QEMU's words");
	tap_ok(tsd_libvirt_parse_query_pci("[", &bars, &n, &err) == MMIO_E_INVALID, "not JSON");

	char xml[256];
	struct mmio_bdf bdf = { 0, 3, 0, 1 };
	tsd_libvirt_hostdev_xml(&bdf, xml, sizeof(xml));
	tap_contains(xml, "<address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>", "hostdev XML");
	tap_contains(xml, "managed='yes'", "managed");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_NO_SUPPORT), TSD_E_NOTSUPPORTED, "NO_SUPPORT -> not-supported");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_NO_DOMAIN), TSD_E_NOGUEST, "NO_DOMAIN -> no-guest");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_OPERATION_TIMEOUT), TSD_E_TIMEOUT, "timeout");
	tap_is_u64(tsd_libvirt_rc(VIR_ERR_OPERATION_INVALID), TSD_E_FAILED, "other -> failed");
	tap_done();
	return tap_exit();
}
