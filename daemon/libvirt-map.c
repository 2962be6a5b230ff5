/* SPDX-License-Identifier: MIT */
/* libvirt-map.c — pure mappings of the libvirt back end (see libvirt-map.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "libvirt-map.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathObjectPtr, xmlXPathFreeObject)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext)

#define GiB (UINT64_C(1) << 30)

/* ---- reading libvirt's XML (libxml2, XPath) ---------------------------------- */

/* The first node (document order) expr selects relative to node, or NULL. */
static xmlNodePtr xp_node(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
	xmlXPathObjectPtr o;
	xmlNodePtr n = NULL;

	ctx->node = node;
	o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	if (o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0)
		n = o->nodesetval->nodeTab[0];
	xmlXPathFreeObject(o);
	return n;
}

/* Every node expr selects relative to node; free with xmlXPathFreeObject. */
static xmlXPathObjectPtr xp_nodes(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
	ctx->node = node;
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	if (o && o->type != XPATH_NODESET) {
		xmlXPathFreeObject(o);
		return NULL;
	}
	return o;
}

static int xp_count(const xmlXPathObject *o)
{
	return o && o->nodesetval ? o->nodesetval->nodeNr : 0;
}

/* The text of an element or the value of an attribute into buf; false when
 * n is NULL or the text does not fit. */
static bool node_text(xmlNodePtr n, char *buf, size_t len)
{
	xmlChar *v;
	bool ok;

	if (!n || !(v = xmlNodeGetContent(n)))
		return false;
	ok = strlen((const char *)v) < len;
	if (ok)
		memcpy(buf, v, strlen((const char *)v) + 1);
	xmlFree(v);
	return ok;
}

/* xp_node + node_text; "" and false when absent. */
static bool xp_text(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr, char *buf,
		    size_t len)
{
	if (len)
		buf[0] = '\0';
	return node_text(xp_node(ctx, node, expr), buf, len);
}

/* libvirt writes numbers in decimal or 0x-hex; whitespace around is allowed
 * in element text. */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *e;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 0);
	while (*e == ' ' || *e == '\t' || *e == '\n' || *e == '\r')
		e++;
	if (*e || errno)
		return false;
	*out = v;
	return true;
}

/* libvirt's unit attribute (virScaledParse): default KiB. */
static bool scale(const char *unit, uint64_t v, uint64_t *out)
{
	static const struct { const char *u; unsigned shift; } units[] = {
		{ "b", 0 }, { "bytes", 0 }, { "KiB", 10 }, { "k", 10 }, { "K", 10 },
		{ "MiB", 20 }, { "M", 20 }, { "m", 20 }, { "GiB", 30 }, { "G", 30 }, { "g", 30 },
		{ "TiB", 40 }, { "T", 40 }, { "t", 40 },
	};
	unsigned shift = 10;
	if (unit[0]) {
		size_t i;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(units[i].u, unit) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return false;
		shift = units[i].shift;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* A scaled element (<memory unit='KiB'>N</memory>); *found false when absent. */
static bool scaled_elem(xmlXPathContextPtr ctx, const char *expr, uint64_t *out, bool *found)
{
	xmlNodePtr n = xp_node(ctx, NULL, expr);
	char unit[16], text[32];
	uint64_t v;

	*found = n != NULL;
	if (!n)
		return true;
	xp_text(ctx, n, "@unit", unit, sizeof(unit));
	return node_text(n, text, sizeof(text)) && parse_u64(text, &v) && scale(unit, v, out);
}

/* <address type='pci' domain= bus= slot= function=/> (the guest side). */
static bool pci_addr(xmlXPathContextPtr ctx, xmlNodePtr a, struct tsd_libvirt_pci_addr *out)
{
	char bus[16], slot[16], fn[16];
	uint64_t vb, vs, vf = 0;

	memset(out, 0, sizeof(*out));
	if (!xp_text(ctx, a, "@bus", bus, sizeof(bus)) || !xp_text(ctx, a, "@slot", slot, sizeof(slot)) ||
	    !parse_u64(bus, &vb) || !parse_u64(slot, &vs) || vb > 0xff || vs > 31)
		return false;
	if (xp_text(ctx, a, "@function", fn, sizeof(fn)) && (!parse_u64(fn, &vf) || vf > 7))
		return false;
	*out = (struct tsd_libvirt_pci_addr){ true, (uint8_t)vb, (uint8_t)vs, (uint8_t)vf };
	return true;
}

static enum mmio_status read_hostdevs(xmlXPathContextPtr ctx, struct tsd_libvirt_domain *d,
				      struct mmio_error *err)
{
	/* <hostdev type='pci'>, and <interface type='hostdev'> (an SR-IOV
	 * VF given as a network interface) which is a PCI hostdev too. */
	xmlXPathObjectPtr hs = xp_nodes(ctx, NULL, "/domain/devices/hostdev[@type='pci'] | "
					"/domain/devices/interface[@type='hostdev']");
	enum mmio_status st = MMIO_OK;

	for (int i = 0; i < xp_count(hs) && st == MMIO_OK; i++) {
		xmlNodePtr h = hs->nodesetval->nodeTab[i];
		xmlNodePtr a = xp_node(ctx, h, "source/address");
		char dom[16] = "0", bus[16], slot[16], fn[16];
		uint64_t vd = 0, vb, vs, vf;

		if (!a || !xp_text(ctx, a, "@bus", bus, sizeof(bus)) ||
		    !xp_text(ctx, a, "@slot", slot, sizeof(slot)) ||
		    !xp_text(ctx, a, "@function", fn, sizeof(fn))) {
			/* <interface type='hostdev'> may name a network pool
			 * instead: no fixed host device. */
			if (strcmp((const char *)h->name, "interface") == 0)
				continue;
			st = mmio_error_set(err, MMIO_E_INVALID,
					    "domain XML: PCI <hostdev> without a source address");
			break;
		}
		if (xp_text(ctx, a, "@domain", dom, sizeof(dom)) && !parse_u64(dom, &vd))
			vd = UINT64_MAX;
		if (!parse_u64(bus, &vb) || !parse_u64(slot, &vs) || !parse_u64(fn, &vf) ||
		    vd > 0xffff || vb > 0xff || vs > 31 || vf > 7) {
			st = mmio_error_set(err, MMIO_E_INVALID,
					    "domain XML: bad hostdev address %s:%s:%s.%s", dom, bus, slot, fn);
			break;
		}
		if (d->nhostdev == TSD_LIBVIRT_MAX_HOSTDEV) {
			st = mmio_error_set(err, MMIO_E_UNSUPPORTED, "more than %d PCI hostdevs",
					    TSD_LIBVIRT_MAX_HOSTDEV);
			break;
		}
		struct tsd_libvirt_hostdev *hd = &d->hostdev[d->nhostdev++];
		hd->source = (struct mmio_bdf){ (uint16_t)vd, (uint8_t)vb, (uint8_t)vs, (uint8_t)vf };
		xp_text(ctx, h, "alias/@name", hd->alias, sizeof(hd->alias));
		pci_addr(ctx, xp_node(ctx, h, "address[@type='pci']"), &hd->addr);
	}
	xmlXPathFreeObject(hs);
	return st;
}

static enum mmio_status read_controllers(xmlXPathContextPtr ctx, struct tsd_libvirt_domain *d,
					 struct mmio_error *err)
{
	_cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr cs =
		xp_nodes(ctx, NULL, "/domain/devices/controller[@type='pci']");
	_cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr as =
		xp_nodes(ctx, NULL, "/domain/devices/*/address[@type='pci']");
	int nc = xp_count(cs), na = xp_count(as);

	if ((nc && !(d->controller = calloc((size_t)nc, sizeof(*d->controller)))) ||
	    (na && !(d->addr = calloc((size_t)na, sizeof(*d->addr)))))
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	for (int i = 0; i < nc; i++) {
		xmlNodePtr c = cs->nodesetval->nodeTab[i];
		struct tsd_libvirt_controller *t = &d->controller[d->ncontroller];
		char idx[16];
		uint64_t v;

		if (!xp_text(ctx, c, "@index", idx, sizeof(idx)) || !parse_u64(idx, &v) || v > 0xff)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "domain XML: PCI <controller> without a valid index");
		t->index = (uint8_t)v;
		xp_text(ctx, c, "@model", t->model, sizeof(t->model));
		xp_text(ctx, c, "alias/@name", t->alias, sizeof(t->alias));
		pci_addr(ctx, xp_node(ctx, c, "address[@type='pci']"), &t->addr);
		d->ncontroller++;
	}
	for (int i = 0; i < na; i++)
		if (pci_addr(ctx, as->nodesetval->nodeTab[i], &d->addr[d->naddr]))
			d->naddr++;
	return MMIO_OK;
}

/* OVMF's X-PciMmio64Mb as libvirt passes it: <qemu:commandline> arguments
 * (-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=N, read as QEMU's command
 * line) or <sysinfo type='fwcfg'><entry name='opt/ovmf/X-PciMmio64Mb'>N.
 * 0 when neither says. */
static uint64_t read_mmio64_mb(xmlXPathContextPtr ctx)
{
	_cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr args =
		xp_nodes(ctx, NULL, "/domain/*[local-name()='commandline']/*[local-name()='arg']/@value");
	char argv[4096], v[512], e[32];
	size_t n = 0;
	uint64_t mb = 0;

	for (int i = 0; i < xp_count(args); i++) {
		if (!node_text(args->nodesetval->nodeTab[i], v, sizeof(v)) ||
		    n + strlen(v) + 1 > sizeof(argv))
			continue;
		memcpy(argv + n, v, strlen(v) + 1);
		n += strlen(v) + 1;
	}
	mb = n ? qmp_map_cmdline_mmio64_mb(argv, n) : 0;
	if (xp_text(ctx, NULL, "/domain/sysinfo[@type='fwcfg']/entry[@name='opt/ovmf/X-PciMmio64Mb']",
		    e, sizeof(e)) && !parse_u64(e, &mb))
		mb = 0;
	return mb < (UINT64_C(1) << 40) ? mb : 0;
}

static enum mmio_status read_domain(xmlDocPtr doc, struct tsd_libvirt_domain *d,
				    struct mmio_error *err)
{
	_cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	enum mmio_status st;
	char arch[32], fw[16];
	bool found;

	if (!ctx)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	if (!xp_node(ctx, NULL, "/domain"))
		return mmio_error_set(err, MMIO_E_INVALID, "domain XML: no <domain>");
	xp_text(ctx, NULL, "/domain/@type", d->type, sizeof(d->type));
	xp_text(ctx, NULL, "/domain/name", d->name, sizeof(d->name));
	if (!scaled_elem(ctx, "/domain/memory", &d->memory, &found) || !found)
		return mmio_error_set(err, MMIO_E_INVALID, "domain XML: no readable <memory>");
	/* On the root controller, where libvirt takes it (pci-root on
	 * i440fx, pcie-root on q35). */
	if (!scaled_elem(ctx, "/domain/devices/controller[@type='pci'][@index='0']/pcihole64",
			 &d->pcihole64, &d->has_pcihole64))
		return mmio_error_set(err, MMIO_E_INVALID, "domain XML: unreadable <pcihole64>");
	xp_text(ctx, NULL, "/domain/os/type/@machine", d->machine, sizeof(d->machine));
	xp_text(ctx, NULL, "/domain/os/type", d->os_type, sizeof(d->os_type));
	xp_text(ctx, NULL, "/domain/os/type/@arch", arch, sizeof(arch));
	d->efi = (xp_text(ctx, NULL, "/domain/os/@firmware", fw, sizeof(fw)) &&
		  strcmp(fw, "efi") == 0) || xp_node(ctx, NULL, "/domain/os/loader[@type='pflash']");
	d->ovmf_mmio64_mb = read_mmio64_mb(ctx);
	if (arch[0] && strcmp(arch, "x86_64") != 0 && strcmp(arch, "i686") != 0)
		d->chipset = TSD_LIBVIRT_CHIPSET_OTHER;
	else if (strncmp(d->machine, "pc-q35", 6) == 0 || strcmp(d->machine, "q35") == 0)
		d->chipset = TSD_LIBVIRT_CHIPSET_Q35;
	else if (strncmp(d->machine, "pc-i440fx", 9) == 0 || strcmp(d->machine, "pc") == 0 ||
		 strncmp(d->machine, "pc-", 3) == 0)
		d->chipset = TSD_LIBVIRT_CHIPSET_I440FX; /* "pc-1.x" machines are i440fx too */
	st = read_hostdevs(ctx, d, err);
	return st == MMIO_OK ? read_controllers(ctx, d, err) : st;
}

enum mmio_status tsd_libvirt_parse_domain(const char *xml, struct tsd_libvirt_domain *d,
					  struct mmio_error *err)
{
	xmlParserCtxtPtr pc;
	xmlDocPtr doc;
	enum mmio_status st;
	size_t len = strlen(xml);

	memset(d, 0, sizeof(*d));
	if (len > INT_MAX)
		return mmio_error_set(err, MMIO_E_INVALID, "domain XML: too large");
	if (!(pc = xmlNewParserCtxt()))
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	/* No network, no entity substitution, no messages on stderr. */
	doc = xmlCtxtReadMemory(pc, xml, (int)len, "domain.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlCtxtGetLastError(pc);
		char msg[160] = "";
		if (e && e->message) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		st = mmio_error_set(err, MMIO_E_INVALID, "domain XML: not well-formed: %s (line %d)",
				    msg[0] ? msg : "parse error", e ? e->line : 0);
		xmlFreeParserCtxt(pc);
		return st;
	}
	xmlFreeParserCtxt(pc);
	/* libvirt never writes a DTD; one would only bring entity expansion
	 * (and its amplification) into a reader that needs none. */
	if (doc->intSubset || doc->extSubset)
		st = mmio_error_set(err, MMIO_E_INVALID, "domain XML: a document type declaration "
				    "is not domain XML as libvirt writes it");
	else
		st = read_domain(doc, d, err);
	xmlFreeDoc(doc);
	return st;
}

void tsd_libvirt_domain_clear(struct tsd_libvirt_domain *d)
{
	free(d->controller);
	free(d->addr);
	d->controller = NULL;
	d->addr = NULL;
	d->ncontroller = d->naddr = 0;
}

const struct tsd_libvirt_controller *tsd_libvirt_controller_by_alias(
	const struct tsd_libvirt_domain *d, const char *alias)
{
	for (size_t i = 0; alias && alias[0] && i < d->ncontroller; i++)
		if (strcmp(d->controller[i].alias, alias) == 0)
			return &d->controller[i];
	return NULL;
}

bool tsd_libvirt_port_model(const char *model)
{
	return strcmp(model, "pcie-root-port") == 0 ||
	       strcmp(model, "pcie-switch-downstream-port") == 0 ||
	       strcmp(model, "pci-bridge") == 0;
}

bool tsd_libvirt_bus_used(const struct tsd_libvirt_domain *d, uint8_t index)
{
	for (size_t i = 0; i < d->naddr; i++)
		if (d->addr[i].bus == index)
			return true;
	return false;
}

int tsd_libvirt_port_slot(const struct tsd_libvirt_domain *d,
			  const struct tsd_libvirt_controller *c, uint32_t slots_used)
{
	if (strcmp(c->model, "pci-bridge") != 0)
		return 0;
	for (size_t i = 0; i < d->naddr; i++)
		if (d->addr[i].bus == c->index)
			slots_used |= UINT32_C(1) << d->addr[i].slot;
	for (int slot = 1; slot < 32; slot++)
		if (!(slots_used & (UINT32_C(1) << slot)))
			return slot;
	return -1;
}

bool tsd_libvirt_attachable(const struct tsd_libvirt_domain *d, char *why, size_t whylen)
{
	if (strcmp(d->os_type, "xen") == 0 || strcmp(d->os_type, "linux") == 0) {
		snprintf(why, whylen, "Xen PV guest: PCI devices reach it through pcifront, "
			 "there are no MMIO windows to check");
		return false;
	}
	if (strcmp(d->type, "xen") == 0 && strcmp(d->os_type, "hvm") == 0) {
		/* libvirt's libxl driver: the hvmloader rules, not QEMU's. */
		if (whylen)
			why[0] = '\0';
		return true;
	}
	if (d->chipset == TSD_LIBVIRT_CHIPSET_OTHER) {
		snprintf(why, whylen, "machine type \"%s\" is not an x86 pc or q35 machine; "
			 "mmiod has no model of its windows", d->machine);
		return false;
	}
	if (whylen)
		why[0] = '\0';
	return true;
}

enum mmio_status tsd_libvirt_model_layout(const struct tsd_libvirt_domain *d,
					  struct tsd_layout *out, struct mmio_error *err)
{
	/* q35's MMCONFIG where SeaBIOS and OVMF 2022.11 put it; QEMU's DSDT
	 * leaves it out of the _CRS, so the guest has two low windows. */
	const uint64_t mcfg = UINT64_C(0xB0000000), mcfg_end = UINT64_C(0xC0000000);
	uint64_t below, lowmax, hole64;

	memset(out, 0, sizeof(*out));
	out->free_slots = -1;
	switch (d->chipset) {
	case TSD_LIBVIRT_CHIPSET_I440FX:
		/* pc_init1: gigabyte_align on every machine type still built. */
		lowmax = d->memory >= UINT64_C(0xE0000000) ? UINT64_C(0xC0000000) : d->memory;
		hole64 = 2 * GiB;
		break;
	case TSD_LIBVIRT_CHIPSET_Q35:
		/* pc_q35_init: leave the MMCONFIG area below 4 GiB free. */
		lowmax = d->memory >= UINT64_C(0xB0000000) ? UINT64_C(0x80000000) :
			 UINT64_C(0xB0000000);
		hole64 = 32 * GiB;
		break;
	default:
		return mmio_error_set(err, MMIO_E_UNSUPPORTED, "no model for machine type \"%s\"",
				      d->machine);
	}
	below = d->memory < lowmax ? d->memory : lowmax;
	uint64_t above = d->memory - below;
	if (d->has_pcihole64)
		hole64 = d->pcihole64;
	uint64_t h64 = (UINT64_C(1) << 32) + above;
	h64 = (h64 + GiB - 1) & ~(GiB - 1);

	if (d->chipset == TSD_LIBVIRT_CHIPSET_Q35 && below < mcfg) {
		out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = below,
							    .end = mcfg };
		out->win_source[out->nwin++] = TSD_SRC_MODEL;
		below = mcfg_end;
	}
	out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = below,
						    .end = UINT64_C(0xFEC00000) };
	out->win_source[out->nwin++] = TSD_SRC_MODEL;
	if (hole64) {
		out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_HIGH,
							    .flags = MMIO_WF_MEM64,
							    .start = h64, .end = h64 + hole64 };
		/* OVMF's guest has its 64-bit window where OVMF put the boot
		 * devices' 64-bit BARs (its aperture), which only QEMU shows. */
		out->win_source[out->nwin++] = d->efi ? TSD_SRC_ASSUMED : TSD_SRC_MODEL;
		if (d->efi)
			snprintf(out->window_note, sizeof(out->window_note),
				 "the 64-bit window is assumed: an OVMF guest's follows the 64-bit "
				 "BARs OVMF placed at boot, which QEMU's view (not readable) shows");
	}
	out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x0D00,
						    .end = 0x10000 };
	out->win_source[out->nwin++] = TSD_SRC_MODEL;
	out->min_mem = d->memory < lowmax ? d->memory : lowmax;
	out->ports_only = d->chipset == TSD_LIBVIRT_CHIPSET_Q35;
	/* The port controllers, with windows unknown: only the firmware and
	 * QEMU know them. */
	for (size_t i = 0; i < d->ncontroller; i++) {
		const struct tsd_libvirt_controller *c = &d->controller[i];
		if (tsd_libvirt_port_model(c->model))
			out->nports++;
	}
	if (out->nports && !(out->ports = calloc(out->nports, sizeof(*out->ports)))) {
		tsd_layout_clear(out);
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	}
	out->nports = 0;
	for (size_t i = 0; i < d->ncontroller; i++) {
		const struct tsd_libvirt_controller *c = &d->controller[i];
		if (!tsd_libvirt_port_model(c->model))
			continue;
		struct tsd_port *p = &out->ports[out->nports];
		if (c->alias[0])
			snprintf(p->id, sizeof(p->id), "%s", c->alias);
		else
			snprintf(p->id, sizeof(p->id), "pci.%u", c->index);
		if (c->addr.set)
			snprintf(p->guest_slot, sizeof(p->guest_slot), "%02x:%02x.%x", c->addr.bus,
				 c->addr.slot, c->addr.fn);
		p->multi_slot = strcmp(c->model, "pci-bridge") == 0;
		p->empty = p->multi_slot || !tsd_libvirt_bus_used(d, c->index);
		out->nports++;
	}
	return MMIO_OK;
}

/* ---- the layout from QEMU's answers ------------------------------------------ */

enum mmio_status tsd_libvirt_qemu_layout(const struct tsd_libvirt_domain *d,
					 const struct qmp_holes *holes, json_object *query_pci,
					 bool native_hotplug, struct tsd_layout *out,
					 struct mmio_error *err)
{
	struct tsd_layout l = { .free_slots = -1 };
	struct qmp_pci_slots slots;
	enum mmio_status st;
	size_t n = 0;
	int empty = 0;

	st = qmp_map_windows(holes, &l, err);
	if (st == MMIO_OK)
		st = qmp_map_pci(query_pci, &l, &slots, err);
	if (st != MMIO_OK) {
		tsd_layout_clear(&l);
		return st;
	}
	/* The ports: libvirt's port controllers, by alias (= qdev id). */
	for (size_t i = 0; i < l.nports; i++) {
		struct tsd_port *p = &l.ports[i];
		const struct tsd_libvirt_controller *c = tsd_libvirt_controller_by_alias(d, p->id);
		if (!c || !tsd_libvirt_port_model(c->model))
			continue;
		if (tsd_libvirt_bus_used(d, c->index) && !p->multi_slot)
			p->empty = false;
		p->native_hotplug = native_hotplug && holes->machine == QMP_MACHINE_Q35;
		empty += p->empty;
		if (n != i)
			l.ports[n] = *p;
		n++;
	}
	l.nports = n;
	/* A hostdev's BARs carry its host BDF: the id mmiod attached it by. */
	for (size_t i = 0; i < l.nbars; i++)
		for (unsigned h = 0; h < d->nhostdev; h++)
			if (d->hostdev[h].alias[0] &&
			    strcmp(l.bars[i].device, d->hostdev[h].alias) == 0)
				mmio_bdf_format(&d->hostdev[h].source, l.bars[i].device,
						sizeof(l.bars[i].device));
	l.free_slots = holes->machine == QMP_MACHINE_Q35 ? empty :
		       qmp_map_free_slots(holes->machine, &slots);
	l.min_mem = 0;          /* as the QMP back end: QEMU does not say */
	tsd_layout_clear(out);
	*out = l;
	return MMIO_OK;
}

bool tsd_libvirt_hostdev_xml(const struct mmio_bdf *bdf, int bus, unsigned slot, char *buf,
			     size_t len)
{
	char addr[96] = "";
	if (bus >= 0)
		snprintf(addr, sizeof(addr), "<address type='pci' domain='0x0000' bus='0x%02x' "
			 "slot='0x%02x' function='0x0'/>", (unsigned)bus & 0xff, slot & 0x1f);
	int n = snprintf(buf, len,
			 "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
			 "<address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>"
			 "</source>%s</hostdev>", bdf->domain, bdf->bus, bdf->dev, bdf->fn, addr);
	return n >= 0 && (size_t)n < len;
}

enum tsd_rc tsd_libvirt_rc(int code)
{
	switch (code) {
	case VIR_ERR_OK:
		return TSD_OK;
	case VIR_ERR_NO_SUPPORT:
		return TSD_E_NOTSUPPORTED;
	case VIR_ERR_NO_DOMAIN:
		return TSD_E_NOGUEST;
	case VIR_ERR_OPERATION_TIMEOUT:
	case VIR_ERR_AGENT_UNRESPONSIVE:
		return TSD_E_TIMEOUT;
	default:
		return TSD_E_FAILED;
	}
}
