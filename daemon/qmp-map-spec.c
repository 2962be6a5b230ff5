/* SPDX-License-Identifier: MIT */
/*
 * qmp-map-spec.c — device_add arguments from a -device style spec, QEMU's
 * typed retry, and declared BARs against the ones QEMU shows (see qmp-map.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "qmp-map.h"
#include "strbuf.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* ---- device specs ---------------------------------------------------------- */

/* Copies one comma-separated item of s into buf (",," -> ','), returns the
 * position after it, or NULL when it does not fit. */
static const char *spec_item(const char *s, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		if (*s == ',' && s[1] == ',') {
			s += 2;
			if (n + 1 >= len)
				return NULL;
			buf[n++] = ',';
			continue;
		}
		if (*s == ',' || *s == '\0')
			break;
		if (n + 1 >= len)
			return NULL;
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	return s;
}

/* The key and type a device_add error names, if it is a typing error. */
static bool typing_error(const char *desc, char *key, size_t klen, char *type, size_t tlen)
{
	static const char *const forms[][2] = {
		{ "Parameter '", "' expects " },                    /* QEMU 7.2, 10 */
		{ "Invalid parameter type for '", "', expected: " },    /* QEMU 10 */
	};
	for (size_t f = 0; desc && f < sizeof(forms) / sizeof(forms[0]); f++) {
		const char *k = strstr(desc, forms[f][0]), *e, *t;
		size_t n;
		if (!k)
			continue;
		k += strlen(forms[f][0]);
		e = strchr(k, '\'');
		if (!e || (size_t)(e - k) >= klen || strncmp(e, forms[f][1], strlen(forms[f][1])) != 0)
			continue;
		memcpy(key, k, (size_t)(e - k));
		key[e - k] = '\0';
		t = e + strlen(forms[f][1]);
		n = strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789");
		if (!n || n >= tlen)
			continue;
		memcpy(type, t, n);
		type[n] = '\0';
		return true;
	}
	return false;
}

/* "65536", "0x10000", "-1"; with sizes "1M", "2G" (QEMU's -device syntax). */
static bool typed_number(const char *s, bool sizes, bool is_signed, json_object **out)
{
	char *end;
	errno = 0;
	if (is_signed && *s == '-') {
		long long v = strtoll(s, &end, 0);
		if (errno || end == s || *end)
			return false;
		*out = json_object_new_int64(v);
		return *out != NULL;
	}
	if (*s == '-' || *s == '+')
		return false;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	if (*end && sizes) {
		static const char units[] = "KMGTPE";
		const char *u = strchr(units, end[0] == 'k' ? 'K' : end[0]);
		unsigned shift = u ? 10u * (unsigned)(u - units + 1) : 0;
		if (!u || end[1] || (v && v > (UINT64_MAX >> shift)))
			return false;
		v <<= shift;
		end++;
	}
	if (*end)
		return false;
	*out = v > INT64_MAX ? json_object_new_uint64(v) : json_object_new_int64((int64_t)v);
	return *out != NULL;
}

bool qmp_map_typed_retry(json_object *args, const char *desc)
{
	char key[64], type[16];
	json_object *v, *nv = NULL;
	const char *s;

	if (!typing_error(desc, key, sizeof(key), type, sizeof(type)) ||
	    !json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (strcmp(type, "boolean") == 0 || strcmp(type, "bool") == 0) {
		if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true"))
			nv = json_object_new_boolean(1);
		else if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false"))
			nv = json_object_new_boolean(0);
	} else if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0 ||
		   strncmp(type, "int", 3) == 0 || strncmp(type, "uint", 4) == 0 ||
		   strcmp(type, "size") == 0) {
		bool sizes = strcmp(type, "uint64") == 0 || strcmp(type, "size") == 0;
		bool is_signed = strncmp(type, "int", 3) == 0 || strcmp(type, "integer") == 0 ||
				 strcmp(type, "number") == 0;
		if (!typed_number(s, sizes, is_signed, &nv))
			nv = NULL;
	}
	if (!nv)
		return false;
	json_object_object_add(args, key, nv);
	return true;
}

json_object *qmp_map_device_spec(const char *spec, struct mmio_error *err)
{
	char item[512];
	const char *p = spec;
	_cleanup_(json_object_putp) json_object *args = NULL;

	if (!spec || !*spec) {
		mmio_error_set(err, MMIO_E_INVALID, "empty QEMU device spec");
		return NULL;
	}
	args = json_object_new_object();
	if (!args) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return NULL;
	}
	for (bool first = true;; first = false) {
		p = spec_item(p, item, sizeof(item));
		if (!p) {
			mmio_error_set(err, MMIO_E_INVALID, "QEMU device spec \"%s\": item too long", spec);
			return NULL;
		}
		char *eq = strchr(item, '=');
		const char *key = item, *val;
		if (first && !eq) {
			key = "driver";
			val = item;
		} else if (!eq) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "QEMU device spec \"%s\": \"%s\" is not key=value", spec, item);
			return NULL;
		} else {
			*eq = '\0';
			val = eq + 1;
		}
		/* An empty value is QEMU's own way to say "none" (romfile= for a
		 * device without an option ROM); an empty key or driver is not. */
		if (!*key || (first && !eq && !*val)) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "QEMU device spec \"%s\": empty %s", spec,
				       first ? "driver" : "key");
			return NULL;
		}
		if (strcmp(key, "id") == 0) {
			mmio_error_set(err, MMIO_E_INVALID,
				       "QEMU device spec \"%s\": do not set id, mmiod names the device",
				       spec);
			return NULL;
		}
		if (json_object_object_get_ex(args, key, NULL)) {
			mmio_error_set(err, MMIO_E_INVALID, "QEMU device spec \"%s\": \"%s\" given twice",
				       spec, key);
			return NULL;
		}
		json_object *v = json_object_new_string(val);
		if (!v || json_object_object_add(args, key, v) != 0) {
			json_object_put(v);
			mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
			return NULL;
		}
		if (*p == '\0')
			break;
		p++;    /* the separating comma */
	}
	return TAKE_PTR(args);
}

/* ---- declared vs real BARs -------------------------------------------------- */


static void bar_words(const struct mmio_bar *b, char *buf, size_t len)
{
	char sz[32];
	mmio_size_format(b->size, sz, sizeof(sz));
	snprintf(buf, len, "%s %s", mmio_bar_kind_name(b), sz);
}

bool qmp_map_compare(const struct mmio_device *declared, const struct tsd_layout *l,
		     const char *id, bool ignore_rom, char *diff, size_t difflen)
{
	const struct mmio_bar *dec[MMIO_MAX_BARS] = { 0 }, *real[MMIO_MAX_BARS] = { 0 };
	bool same = true;
	char a[64], b[64];

	diff[0] = '\0';
	for (unsigned i = 0; i < declared->nbars; i++)
		if (declared->bars[i].index < MMIO_MAX_BARS)
			dec[declared->bars[i].index] = &declared->bars[i];
	for (size_t i = 0; i < l->nbars; i++)
		if (strcmp(l->bars[i].device, id) == 0 && l->bars[i].bar.index < MMIO_MAX_BARS)
			real[l->bars[i].bar.index] = &l->bars[i].bar;
	for (unsigned i = 0; i < MMIO_MAX_BARS; i++) {
		const struct mmio_bar *d = dec[i], *r = real[i];
		if ((!d && !r) || (ignore_rom && i == MMIO_BAR_ROM))
			continue;
		if (d && r && d->kind == r->kind && d->prefetch == r->prefetch && d->size == r->size)
			continue;
		same = false;
		if (diff[0])
			strbuf_appendf(diff, difflen, "; ");
		if (d)
			bar_words(d, a, sizeof(a));
		if (r)
			bar_words(r, b, sizeof(b));
		if (d && r)
			strbuf_appendf(diff, difflen, "BAR%u: declared %s, QEMU has %s", i, a, b);
		else if (d)
			strbuf_appendf(diff, difflen, "BAR%u: declared %s, QEMU has none", i, a);
		else
			strbuf_appendf(diff, difflen, "BAR%u: QEMU has %s, not declared", i, b);
	}
	return same;
}
