/* SPDX-License-Identifier: MIT */
/* libvirt-map.c — pure mappings of the libvirt back end (see libvirt-map.h). */
#include "config.h"

#include <inttypes.h>
#include <json.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvirt-map.h"

#define GiB (UINT64_C(1) << 30)

/* ---- a minimal reader for libvirt's own XML ------------------------------ */

/* The next start tag <name ...> or <name> or <name/> at or after p (exact
 * name: "<memory" does not match "<memoryBacking").  Returns a pointer to
 * '<', or NULL.  *end gets the tag's '>'. */
static const char *tag_find(const char *p, const char *end_of_scope, const char *name,
			    const char **tag_end)
{
	size_t n = strlen(name);
	while ((p = strchr(p, '<')) != NULL && (!end_of_scope || p < end_of_scope)) {
		if (strncmp(p + 1, name, n) == 0 &&
		    (p[1 + n] == ' ' || p[1 + n] == '>' || p[1 + n] == '/' || p[1 + n] == '\n' ||
		     p[1 + n] == '\t')) {
			const char *e = strchr(p, '>');
			if (!e)
				return NULL;
			*tag_end = e;
			return p;
		}
		p++;
	}
	return NULL;
}

/* Attribute value of the tag [tag, tag_end] into buf; false if absent. */
static bool attr_get(const char *tag, const char *tag_end, const char *name, char *buf,
		     size_t len)
{
	size_t n = strlen(name);
	for (const char *p = tag + 1; p < tag_end; p++) {
		if ((p[-1] != ' ' && p[-1] != '\n' && p[-1] != '\t') || strncmp(p, name, n) != 0 ||
		    p[n] != '=' || (p[n + 1] != '\'' && p[n + 1] != '"'))
			continue;
		char q = p[n + 1];
		const char *v = p + n + 2, *ve = strchr(v, q);
		if (!ve || ve > tag_end)
			return false;
		size_t l = (size_t)(ve - v);
		if (l >= len)
			return false;
		memcpy(buf, v, l);
		buf[l] = '\0';
		return true;
	}
	return false;
}

/* Text content of <name>text</name> starting at a found tag. */
static bool text_get(const char *tag_end, char *buf, size_t len)
{
	if (tag_end[-1] == '/')
		return false;
	const char *v = tag_end + 1, *ve = strchr(v, '<');
	if (!ve || (size_t)(ve - v) >= len)
		return false;
	memcpy(buf, v, (size_t)(ve - v));
	buf[ve - v] = '\0';
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *e;
	if (!*s)
		return false;
	unsigned long long v = strtoull(s, &e, 0);
	if (*e)
		return false;
	*out = v;
	return true;
}

/* libvirt's unit attribute (domain_conf.c virScaledParse): default KiB. */
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

static bool scaled_elem(const char *xml, const char *name, uint64_t *out, bool *found)
{
	const char *te, *t = tag_find(xml, NULL, name, &te);
	char unit[16] = "", text[32];
	uint64_t v;
	*found = t != NULL;
	if (!t)
		return true;
	attr_get(t, te, "unit", unit, sizeof(unit));
	return text_get(te, text, sizeof(text)) && parse_u64(text, &v) && scale(unit, v, out);
}

enum mmio_status tsd_libvirt_parse_domain(const char *xml, struct tsd_libvirt_domain *d,
					  struct mmio_error *err)
{
	const char *t, *te;
	bool found;

	memset(d, 0, sizeof(*d));
	if (!(t = tag_find(xml, NULL, "domain", &te)))
		return mmio_error_set(err, MMIO_E_INVALID, "domain XML: no <domain>");
	attr_get(t, te, "type", d->type, sizeof(d->type));
	if (!scaled_elem(xml, "memory", &d->memory, &found) || !found)
		return mmio_error_set(err, MMIO_E_INVALID, "domain XML: no readable <memory>");
	if (!scaled_elem(xml, "pcihole64", &d->pcihole64, &d->has_pcihole64))
		return mmio_error_set(err, MMIO_E_INVALID, "domain XML: unreadable <pcihole64>");
	const char *os = tag_find(xml, NULL, "os", &te);
	if (os && (t = tag_find(te, NULL, "type", &te)) != NULL) {
		attr_get(t, te, "machine", d->machine, sizeof(d->machine));
		text_get(te, d->os_type, sizeof(d->os_type));
	}
	if (strncmp(d->machine, "pc-q35", 6) == 0 || strcmp(d->machine, "q35") == 0)
		d->chipset = TSD_LIBVIRT_CHIPSET_Q35;
	else if (strncmp(d->machine, "pc-i440fx", 9) == 0 || strcmp(d->machine, "pc") == 0 ||
		 strncmp(d->machine, "pc-", 3) == 0)
		d->chipset = TSD_LIBVIRT_CHIPSET_I440FX; /* "pc-1.x" machines are i440fx too */

	/* PCI hostdevs: <hostdev mode='subsystem' type='pci'> ... <source>
	 * <address domain= bus= slot= function=/> (the first <address> inside
	 * <source>; the guest-side <address> follows </source>). */
	for (const char *p = xml; (t = tag_find(p, NULL, "hostdev", &te)) != NULL; p = te) {
		char type[16] = "";
		if (!attr_get(t, te, "type", type, sizeof(type)) || strcmp(type, "pci") != 0)
			continue;
		const char *close = strstr(te, "</hostdev>");
		const char *se, *s = tag_find(te, close, "source", &se);
		const char *ae, *a = s ? tag_find(se, close, "address", &ae) : NULL;
		char dom[16] = "0", bus[16], slot[16], fn[16];
		uint64_t vd, vb, vs, vf;
		if (!a || !attr_get(a, ae, "bus", bus, sizeof(bus)) ||
		    !attr_get(a, ae, "slot", slot, sizeof(slot)) ||
		    !attr_get(a, ae, "function", fn, sizeof(fn)))
			return mmio_error_set(err, MMIO_E_INVALID,
					      "domain XML: PCI <hostdev> without a source address");
		attr_get(a, ae, "domain", dom, sizeof(dom));
		if (!parse_u64(dom, &vd) || !parse_u64(bus, &vb) || !parse_u64(slot, &vs) ||
		    !parse_u64(fn, &vf) || vd > 0xffff || vb > 0xff || vs > 31 || vf > 7)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "domain XML: bad hostdev address %s:%s:%s.%s",
					      dom, bus, slot, fn);
		if (d->nhostdev == TSD_LIBVIRT_MAX_HOSTDEV)
			return mmio_error_set(err, MMIO_E_UNSUPPORTED, "more than %d PCI hostdevs",
					      TSD_LIBVIRT_MAX_HOSTDEV);
		d->hostdev[d->nhostdev++] = (struct mmio_bdf){ (uint16_t)vd, (uint8_t)vb,
							       (uint8_t)vs, (uint8_t)vf };
	}
	return MMIO_OK;
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

	out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = below,
						    .end = UINT64_C(0xFEC00000) };
	out->win_source[out->nwin++] = TSD_SRC_MODEL;
	if (hole64) {
		out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_HIGH,
							    .flags = MMIO_WF_MEM64,
							    .start = h64, .end = h64 + hole64 };
		out->win_source[out->nwin++] = TSD_SRC_MODEL;
	}
	out->win[out->nwin] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x0D00,
						    .end = 0x10000 };
	out->win_source[out->nwin++] = TSD_SRC_MODEL;
	out->min_mem = below;
	if (d->chipset == TSD_LIBVIRT_CHIPSET_Q35) {
		out->clip = malloc(sizeof(*out->clip));
		if (!out->clip)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		out->clip[0] = (struct mmio_range){ UINT64_C(0xB0000000), UINT64_C(0xC0000000) };
		out->nclip = 1;
	}
	return MMIO_OK;
}

void tsd_libvirt_live_windows(struct tsd_layout *out, uint64_t hole_start, uint64_t hole_end,
			      uint64_t hole64_start, uint64_t hole64_end)
{
	unsigned w = 0;
	struct mmio_window win[MMIO_MAX_WINDOWS];
	uint8_t src[MMIO_MAX_WINDOWS];

	if (hole_end > hole_start) {
		win[w] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = hole_start,
					       .end = hole_end };
		src[w++] = TSD_SRC_TOOLSTACK;
	}
	if (hole64_end > hole64_start) {
		win[w] = (struct mmio_window){ .kind = MMIO_WIN_HIGH, .flags = MMIO_WF_MEM64,
					       .start = hole64_start, .end = hole64_end };
		src[w++] = TSD_SRC_TOOLSTACK;
	}
	for (unsigned i = 0; i < out->nwin && w < MMIO_MAX_WINDOWS; i++)
		if (out->win[i].kind == MMIO_WIN_IO) {
			win[w] = out->win[i];
			src[w++] = out->win_source[i];
		}
	memcpy(out->win, win, sizeof(win[0]) * w);
	memcpy(out->win_source, src, w);
	out->nwin = w;
}

/* ---- query-pci ---------------------------------------------------------------- */

struct qp_acc {
	struct tsd_live_bar *bars;
	size_t n, cap;
};

static int64_t jint(json_object *o, const char *key, int64_t dflt)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : dflt;
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static enum mmio_status qp_devices(json_object *devs, int depth, struct qp_acc *acc,
				   struct mmio_error *err)
{
	if (!devs || !json_object_is_type(devs, json_type_array))
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: \"devices\" is not a list");
	if (depth > 8)
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: bridges nested too deep");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *dev = json_object_array_get_idx(devs, i), *regions, *v;
		char slot[16], id[64] = "";
		snprintf(slot, sizeof(slot), "%02x:%02x.%x", (unsigned)(jint(dev, "bus", 0) & 0xff),
			 (unsigned)(jint(dev, "slot", 0) & 0x1f),
			 (unsigned)(jint(dev, "function", 0) & 7));
		if (json_object_object_get_ex(dev, "qdev_id", &v))
			snprintf(id, sizeof(id), "%s", json_object_get_string(v));
		if (json_object_object_get_ex(dev, "regions", &regions) &&
		    json_object_is_type(regions, json_type_array)) {
			for (size_t r = 0; r < json_object_array_length(regions); r++) {
				json_object *reg = json_object_array_get_idx(regions, r), *t;
				if (acc->n == acc->cap) {
					size_t nc = acc->cap ? acc->cap * 2 : 16;
					struct tsd_live_bar *nb = realloc(acc->bars, nc * sizeof(*nb));
					if (!nb)
						return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
					acc->bars = nb;
					acc->cap = nc;
				}
				struct tsd_live_bar *b = &acc->bars[acc->n];
				memset(b, 0, sizeof(*b));
				int64_t idx = jint(reg, "bar", -1), size = jint(reg, "size", 0);
				if (idx < 0 || idx > MMIO_BAR_ROM || size <= 0 ||
				    !mmio_is_pow2((uint64_t)size))
					return mmio_error_set(err, MMIO_E_INVALID,
							      "query-pci: device %s: bad region %zu",
							      slot, r);
				b->bar.index = (uint8_t)idx;
				b->bar.size = (uint64_t)size;
				bool io = json_object_object_get_ex(reg, "type", &t) &&
					  strcmp(json_object_get_string(t), "io") == 0;
				if (io)
					b->bar.kind = MMIO_BAR_IO;
				else
					b->bar.kind = jbool(reg, "mem_type_64") ? MMIO_BAR_MEM64 :
						      MMIO_BAR_MEM32;
				b->bar.prefetch = !io && jbool(reg, "prefetch");
				if (idx == MMIO_BAR_ROM) {
					b->bar.kind = MMIO_BAR_MEM32;
					b->bar.prefetch = true;
				}
				/* PCI_BAR_UNMAPPED is all-ones; json-c reads it as -1. */
				int64_t addr = jint(reg, "address", -1);
				b->addr = addr == -1 ? TSD_ADDR_UNASSIGNED : (uint64_t)addr;
				b->source = TSD_SRC_TOOLSTACK;
				snprintf(b->guest_slot, sizeof(b->guest_slot), "%s", slot);
				snprintf(b->device, sizeof(b->device), "%s", id[0] ? id : slot);
				acc->n++;
			}
		}
		json_object *br, *sub;
		if (json_object_object_get_ex(dev, "pci_bridge", &br) &&
		    json_object_object_get_ex(br, "devices", &sub)) {
			enum mmio_status st = qp_devices(sub, depth + 1, acc, err);
			if (st != MMIO_OK)
				return st;
		}
	}
	return MMIO_OK;
}

enum mmio_status tsd_libvirt_parse_query_pci(const char *json, struct tsd_live_bar **bars,
					     size_t *nbars, struct mmio_error *err)
{
	struct qp_acc acc = { NULL, 0, 0 };
	enum mmio_status st = MMIO_OK;
	json_object *root = json_tokener_parse(json), *list = root, *v;

	*bars = NULL;
	*nbars = 0;
	if (!root)
		return mmio_error_set(err, MMIO_E_INVALID, "query-pci: not JSON");
	if (json_object_is_type(root, json_type_object)) {
		if (json_object_object_get_ex(root, "error", &v)) {
			json_object *desc;
			st = mmio_error_set(err, MMIO_E_INVALID, "query-pci: %s",
					    json_object_object_get_ex(v, "desc", &desc) ?
					    json_object_get_string(desc) : "error");
			goto out;
		}
		list = json_object_object_get_ex(root, "return", &v) ? v : NULL;
	}
	if (!list || !json_object_is_type(list, json_type_array)) {
		st = mmio_error_set(err, MMIO_E_INVALID, "query-pci: no list of buses");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(list) && st == MMIO_OK; i++) {
		json_object *bus = json_object_array_get_idx(list, i), *devs = NULL;
		json_object_object_get_ex(bus, "devices", &devs);
		st = qp_devices(devs, 0, &acc, err);
	}
out:
	json_object_put(root);
	if (st != MMIO_OK) {
		free(acc.bars);
		return st;
	}
	*bars = acc.bars;
	*nbars = acc.n;
	return MMIO_OK;
}

void tsd_libvirt_hostdev_xml(const struct mmio_bdf *bdf, char *buf, size_t len)
{
	snprintf(buf, len,
		 "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
		 "<address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>"
		 "</source></hostdev>", bdf->domain, bdf->bus, bdf->dev, bdf->fn);
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
