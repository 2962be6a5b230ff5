/* SPDX-License-Identifier: MIT */
/*
 * mmioctl-output.c — messages, tables, human units, JSON, and the local
 * checks of what the user typed.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmioctl.h"

/* "mmioctl: MESSAGE" and tail on stderr. */
__attribute__((format(printf, 2, 0)))
static void report(const char *tail, const char *fmt, va_list ap)
{
	fputs("mmioctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(tail, stderr);
}

void mmioctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(" (see mmioctl --help)\n", fmt, ap);
	va_end(ap);
}

void mmioctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("\n", fmt, ap);
	va_end(ap);
}

struct table {
	unsigned ncols;
	size_t nrows, cap;
	char **cells;            /* nrows * ncols, row-major; row 0 is the header */
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	/* A client that cannot allocate a few bytes has nothing useful left to do. */
	if (!d) {
		mmioctl_error("out of memory");
		exit(MMIOCTL_EXIT_NO);
	}
	return d;
}

struct table *table_new(unsigned ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t) {
		mmioctl_error("out of memory");
		exit(MMIOCTL_EXIT_NO);
	}
	t->ncols = ncols;
	table_add(t, headers);
	return t;
}

void table_add(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		char **nc;

		t->cap = t->cap ? t->cap * 2 : 8;
		nc = realloc(t->cells, t->cap * t->ncols * sizeof(*nc));
		if (!nc) {
			mmioctl_error("out of memory");
			exit(MMIOCTL_EXIT_NO);
		}
		t->cells = nc;
	}
	for (unsigned i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i]);
	t->nrows++;
}

void table_addf(struct table *t, ...)
{
	const char *cells[16];
	va_list ap;

	va_start(ap, t);
	for (unsigned i = 0; i < t->ncols && i < 16; i++)
		cells[i] = va_arg(ap, const char *);
	va_end(ap);
	table_add(t, cells);
}

size_t table_rows(const struct table *t)
{
	return t->nrows - 1;
}

void table_print(const struct table *t, bool legend, const char *indent)
{
	size_t w[16] = { 0 };

	/* Column widths over what is printed, so --no-legend output is not
	 * padded for a header nobody sees. */
	for (size_t r = legend ? 0 : 1; r < t->nrows; r++)
		for (unsigned i = 0; i < t->ncols && i < 16; i++) {
			size_t l = strlen(t->cells[r * t->ncols + i]);

			if (l > w[i])
				w[i] = l;
		}
	for (size_t r = legend ? 0 : 1; r < t->nrows; r++) {
		char *const *row = &t->cells[r * t->ncols];
		int last = (int)t->ncols - 1;

		/* no trailing blanks: stop at the row's last non-empty cell */
		while (last > 0 && !row[last][0])
			last--;
		fputs(indent ? indent : "", stdout);
		for (int i = 0; i <= last; i++) {
			if (i == last)
				fputs(row[i], stdout);
			else
				printf("%-*s  ", (int)w[i], row[i]);
		}
		putchar('\n');
	}
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void fmt_size(uint64_t size, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)size;
	unsigned u = 0;

	/* Exact when the size is exact in one unit (BARs, most windows); a
	 * window clipped by firmware gets one rounded decimal, marked with '~',
	 * rather than a twelve-digit byte count nobody reads in a table. */
	mmio_size_format(size, buf, len);
	if (!strchr(buf, '('))
		return;
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "~%.1f %s", v, units[u]);
}

void fmt_hex(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "0x%" PRIx64, v);
}

void fmt_bar(uint64_t total, uint64_t free, unsigned width, char *buf, size_t len)
{
	unsigned used_cells = 0;
	size_t o = 0;

	if (len < width + 3) {
		if (len)
			buf[0] = '\0';
		return;
	}
	if (total && free <= total) {
		/* Round up so any use shows at least one mark, and a fully free
		 * window shows none: the bar is read at a glance. */
		long double frac = (long double)(total - free) / (long double)total;

		used_cells = (unsigned)(frac * width + 0.999L);
		if (used_cells > width)
			used_cells = width;
	}
	buf[o++] = '[';
	for (unsigned i = 0; i < width; i++)
		buf[o++] = i < used_cells ? '#' : '.';
	buf[o++] = ']';
	buf[o] = '\0';
}

const char *bar_name(uint32_t bar, char *buf, size_t len)
{
	if (bar == MMIO_BAR_ROM)
		return "rom";
	snprintf(buf, len, "%" PRIu32, bar);
	return buf;
}

/* A BAR of a placement: function F's BAR i comes as F*8+i; in a slot it
 * is written "F:i" ("2:rom"), as lspci writes functions after a colon's
 * worth of address. */
static const char *place_bar_name(uint32_t bar, bool slot, char *buf, size_t len)
{
	char b[12];

	if (!slot)
		return bar_name(bar, buf, len);
	snprintf(buf, len, "%" PRIu32 ":%s", bar / 8, bar_name(bar % 8, b, sizeof(b)));
	return buf;
}

/* Whether device dev is a multi-function slot: one of its BARs is of a
 * function other than 0. */
static bool place_is_slot(const struct place_list *l, const char *dev)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].bar >= 8 && strcmp(l->v[i].device, dev) == 0)
			return true;
	return false;
}

void place_list_print(struct mmioctl *c, const struct place_list *l)
{
	static const char *const hdr[] = { "DEVICE", "BAR", "KIND", "SIZE", "WINDOW", "ADDRESS" };
	struct table *t;

	if (!l->n)
		return;
	if (c->legend)
		printf("\n");
	t = table_new(6, hdr);
	for (size_t i = 0; i < l->n; i++) {
		const struct place *p = &l->v[i];
		char bar[24], size[48], addr[24];

		fmt_size(p->size, size, sizeof(size));
		if (p->placed)
			fmt_hex(p->address, addr, sizeof(addr));
		else
			snprintf(addr, sizeof(addr), "(no space)");
		table_addf(t, p->device, place_bar_name(p->bar, place_is_slot(l, p->device), bar, sizeof(bar)),
			   p->kind, size, p->window[0] ? p->window : "-", addr);
	}
	table_print(t, c->legend, NULL);
	table_free(t);
}

json_object *json_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

json_object *json_str(const char *s)
{
	return json_object_new_string(s ? s : "");
}

json_object *place_list_json(const struct place_list *l)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < l->n; i++) {
		const struct place *p = &l->v[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "device", json_str(p->device));
		/* D-Bus says function F's BAR i as F*8+i */
		json_object_object_add(o, "function", json_u64(p->bar / 8));
		json_object_object_add(o, "bar", json_u64(p->bar % 8));
		json_object_object_add(o, "kind", json_str(p->kind));
		json_object_object_add(o, "size", json_u64(p->size));
		/* null, not "", for "not placed": a script tests one thing */
		json_object_object_add(o, "window", p->window[0] ? json_str(p->window) : NULL);
		json_object_object_add(o, "address", p->placed ? json_u64(p->address) : NULL);
		json_object_object_add(o, "placed", json_object_new_boolean(p->placed));
		json_object_array_add(a, o);
	}
	return a;
}

void json_print(struct mmioctl *c, json_object *o)
{
	/* Pretty for people, one line for pipes; never escape '/' in paths. */
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (c->stdout_tty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
				   : JSON_C_TO_STRING_PLAIN);

	puts(json_object_to_json_string_ext(o, flags));
	json_object_put(o);
}

/* Catalogue names are identifiers; anything else is a typo or a shell
 * accident (an unquoted glob), and is cheaper to catch here. */
static bool profile_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

/* "0000:03:00", "03:00" or either with ".*": every function of a host
 * slot; out gets "0000:03:00". */
static bool slot_spelling(const char *spec, char *out, size_t len)
{
	struct mmio_bdf bdf;

	if (!mmio_slot_address(spec, &bdf))
		return false;
	snprintf(out, len, "%04x:%02x:%02x", bdf.domain, bdf.bus, bdf.dev);
	return true;
}

/* One function (or, alone, a host slot). */
static int function_validate(const char *spec, char *out, size_t len, const char *what, bool alone)
{
	struct mmio_error err = { 0 };

	if (strncmp(spec, "profile:", 8) == 0) {
		if (!profile_name_ok(spec + 8)) {
			mmioctl_error("%s: invalid profile name \"%s\": expected letters, digits, '-', '_', '.' (see: mmioctl profiles)",
				      what, spec + 8);
			return MMIOCTL_EXIT_USAGE;
		}
		snprintf(out, len, "%s", spec);
	} else if (strncmp(spec, "bars:", 5) == 0) {
		struct mmio_device dev;

		if (mmio_bars_parse(spec, &dev, &err) != MMIO_OK) {
			mmioctl_error("%s: %s", what, err.msg);
			return MMIOCTL_EXIT_USAGE;
		}
		snprintf(out, len, "%s", spec);
	} else if (device_looks_like_spec(spec)) {
		/* every PCI address has a ':'; without one it is no BDF typo */
		struct mmio_bdf bdf;

		if (slot_spelling(spec, out, len)) {
			if (alone)
				return 0;
			mmioctl_error("%s: %s is a whole slot: join single functions with '+' (0000:03:00.0+0000:03:00.1) or give the slot alone",
				      what, spec);
			return MMIOCTL_EXIT_USAGE;
		}
		if (mmio_bdf_parse(spec, &bdf, &err) != MMIO_OK) {
			mmioctl_error("%s: %s", what, err.msg);
			return MMIOCTL_EXIT_USAGE;
		}
		/* the full form, so the daemon and the output agree on one spelling */
		mmio_bdf_format(&bdf, out, len);
	} else {
		mmioctl_error("%s: unrecognised device \"%s\": expected a PCI address (0000:03:00.0, or 0000:03:00 for a whole slot), \"bars:KIND:SIZE,...\" or \"profile:NAME\"; functions of one slot joined with '+'",
			      what, spec);
		return MMIOCTL_EXIT_USAGE;
	}
	return 0;
}

int device_validate(const char *spec, char *out, size_t len, const char *what)
{
	const char *p = spec;
	size_t off = 0;
	unsigned nfn = 0;

	if (!strchr(spec, '+'))
		return function_validate(spec, out, len, what, true);
	/* the functions of one slot, function 0 first */
	out[0] = '\0';
	for (;;) {
		const char *end = strchr(p, '+');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char part[512], norm[512];
		int r;

		if (n == 0 || n >= sizeof(part)) {
			mmioctl_error("%s: \"%s\": function %u is %s", what, spec, nfn, n ? "too long" : "empty");
			return MMIOCTL_EXIT_USAGE;
		}
		if (++nfn > MMIO_MAX_FUNCTIONS) {
			mmioctl_error("%s: \"%s\": a slot has at most %d functions", what, spec, MMIO_MAX_FUNCTIONS);
			return MMIOCTL_EXIT_USAGE;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		r = function_validate(part, norm, sizeof(norm), what, false);
		if (r)
			return r;
		if (off < len)
			off += (size_t)snprintf(out + off, len - off, "%s%s", off ? "+" : "", norm);
		if (!end)
			break;
		p = end + 1;
	}
	if (off >= len) {
		mmioctl_error("%s: \"%s\": too long", what, spec);
		return MMIOCTL_EXIT_USAGE;
	}
	return 0;
}

bool device_looks_like_spec(const char *spec)
{
	return strncmp(spec, "profile:", 8) == 0 || strncmp(spec, "bars:", 5) == 0 ||
	       (isxdigit((unsigned char)spec[0]) && strchr(spec, ':'));
}

int name_validate(const char *name, const char *noun, const char *what)
{
	if (!*name) {
		mmioctl_error("%s: empty %s", what, noun);
		return MMIOCTL_EXIT_USAGE;
	}
	for (const char *s = name; *s; s++)
		if (iscntrl((unsigned char)*s)) {
			mmioctl_error("%s: %s contains a control character", what, noun);
			return MMIOCTL_EXIT_USAGE;
		}
	return 0;
}

int guest_validate(const char *guest, const char *what)
{
	return name_validate(guest, "guest name", what);
}

/* Validates every DEVICE argument locally; out gets the spellings to send. */
int device_list_validate(char **argv, size_t n, char ***out, const char *what)
{
	char **v = calloc(n + 1, sizeof(*v));
	int r;

	if (!v) {
		mmioctl_error("out of memory");
		return MMIOCTL_EXIT_NO;
	}
	for (size_t i = 0; i < n; i++) {
		char buf[MMIO_DEVICE_NAME_MAX + 256];

		r = device_validate(argv[i], buf, sizeof(buf), what);
		if (r) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return r;
		}
		v[i] = strdup(buf);
		if (!v[i]) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			mmioctl_error("out of memory");
			return MMIOCTL_EXIT_NO;
		}
	}
	*out = v;
	return 0;
}

