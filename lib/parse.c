/* SPDX-License-Identifier: MIT */
/*
 * parse.c — the device spellings users and the host give us: PCI addresses,
 * sizes, "bars:" lists and sysfs "resource" files.  The resolver that picks
 * between them (and the catalogue) is resolve.c.
 *
 * Every parser is strict on purpose: a typo in a size or BDF must not turn
 * into a silently different device, because the answer ("it fits") would
 * then be about hardware nobody has.  Every message names the part of the
 * input that is wrong so the user can fix it without reading this file.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "mmio-model.h"

/* How much of a user string is quoted back in an error message: enough to
 * recognise it, small enough that the message (512 bytes) keeps its tail. */
#define QUOTE_MAX 120

/* sysfs flags, Linux include/linux/ioport.h */
#define IORESOURCE_IO       0x00000100u
#define IORESOURCE_MEM      0x00000200u
#define IORESOURCE_PREFETCH 0x00002000u
#define IORESOURCE_MEM_64   0x00100000u

/* The sysfs lines that describe the function itself: BAR0..5 and the ROM. */
#define SYSFS_DEVICE_LINES 7
/* Linux prints at most PCI_NUM_RESOURCES lines; be generous for bridges. */
#define SYSFS_MAX_LINES 32

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Copies s into dst, marking truncation with "..." so a cut name is never
 * mistaken for a whole one. */
static void copy_name(char *dst, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n < len) {
		memcpy(dst, s, n + 1);
		return;
	}
	memcpy(dst, s, len - 4);
	memcpy(dst + len - 4, "...", 4);
}

/* ---- BDF ---------------------------------------------------------------- */

/* Reads a run of hex digits; returns its length and stores its value
 * (saturating: only short runs are ever accepted, long ones are reported). */
static size_t hex_run(const char *s, unsigned long *val)
{
	size_t n = 0;
	unsigned long v = 0;

	while (hexval((unsigned char)s[n]) >= 0) {
		if (v <= 0xffffff)
			v = v * 16 + (unsigned long)hexval((unsigned char)s[n]);
		n++;
	}
	*val = v;
	return n;
}

enum mmio_status mmio_bdf_parse(const char *s, struct mmio_bdf *out, struct mmio_error *err)
{
	struct mmio_bdf b = { 0 };
	const char *p;
	unsigned long v;
	size_t n, colons = 0;

	if (!s || !*s)
		return mmio_error_set(err, MMIO_E_INVALID, "empty PCI address");
	for (p = s; *p; p++)
		colons += *p == ':';
	p = s;

	/* The domain is optional; two colons say it is there. */
	if (colons >= 2) {
		size_t len = (size_t)(strchr(p, ':') - p);

		n = hex_run(p, &v);
		if (n != 4 || len != 4)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "domain \"%.*s\" must be 4 hex digits in \"%.*s\"",
					      (int)len, p, QUOTE_MAX, s);
		b.domain = (uint16_t)v;
		p += n + 1;
	}

	n = hex_run(p, &v);
	if (n != 2) {
		size_t len = strcspn(p, ":.");
		return mmio_error_set(err, MMIO_E_INVALID,
				      len ? "bus \"%.*s\" must be 2 hex digits in \"%.*s\""
					  : "missing bus%.*s in \"%.*s\"",
				      (int)len, p, QUOTE_MAX, s);
	}
	b.bus = (uint8_t)v;
	p += n;
	if (*p != ':')
		return mmio_error_set(err, MMIO_E_INVALID, "expected ':' after bus in \"%.*s\"",
				      QUOTE_MAX, s);
	p++;

	n = hex_run(p, &v);
	if (n != 2) {
		size_t len = strcspn(p, ".");
		return mmio_error_set(err, MMIO_E_INVALID,
				      len ? "device \"%.*s\" must be 2 hex digits in \"%.*s\""
					  : "missing device%.*s in \"%.*s\"",
				      (int)len, p, QUOTE_MAX, s);
	}
	if (v > 0x1f)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "device 0x%02lx out of range 0x00-0x1f in \"%.*s\"", v,
				      QUOTE_MAX, s);
	b.dev = (uint8_t)v;
	p += n;
	if (*p != '.')
		return mmio_error_set(err, MMIO_E_INVALID,
				      "expected '.' after device in \"%.*s\"", QUOTE_MAX, s);
	p++;

	n = hex_run(p, &v);
	if (n == 0)
		return mmio_error_set(err, MMIO_E_INVALID, "missing function after '.' in \"%.*s\"",
				      QUOTE_MAX, s);
	if (n > 1 || v > 7)
		return mmio_error_set(err, MMIO_E_INVALID, "function %.*s out of range 0-7 in \"%.*s\"",
				      (int)n, p, QUOTE_MAX, s);
	b.fn = (uint8_t)v;
	p += n;
	if (*p)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "unexpected \"%.*s\" after function in \"%.*s\"",
				      QUOTE_MAX, p, QUOTE_MAX, s);
	*out = b;
	return MMIO_OK;
}

void mmio_bdf_format(const struct mmio_bdf *bdf, char *buf, size_t len)
{
	snprintf(buf, len, "%04x:%02x:%02x.%x", bdf->domain, bdf->bus, bdf->dev, bdf->fn);
}

/* ---- sizes -------------------------------------------------------------- */

/* Parses a size; the caller's context (item, key) is added by the caller. */
enum mmio_status mmio_size_parse(const char *s, uint64_t *out, struct mmio_error *err)
{
	static const char units[] = "kmgtpe";
	const char *p = s;
	uint64_t v = 0;
	unsigned shift = 0;

	if (!s || !*s)
		return mmio_error_set(err, MMIO_E_INVALID, "empty size");
	if (*p == '-')
		return mmio_error_set(err, MMIO_E_INVALID, "negative size \"%.*s\"", QUOTE_MAX, s);

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		/* Hex takes no unit: "0x1B" is a number, not one byte-suffixed. */
		p += 2;
		if (hexval((unsigned char)*p) < 0)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "no hex digits after \"0x\" in size \"%.*s\"",
					      QUOTE_MAX, s);
		for (; hexval((unsigned char)*p) >= 0; p++) {
			if (v >> 60)
				return mmio_error_set(err, MMIO_E_INVALID,
						      "size \"%.*s\" overflows 64 bits (max 2^64-1)",
						      QUOTE_MAX, s);
			v = v * 16 + (uint64_t)hexval((unsigned char)*p);
		}
		if (*p)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "trailing junk \"%.*s\" after hex size in \"%.*s\"",
					      QUOTE_MAX, p, QUOTE_MAX, s);
		*out = v;
		return MMIO_OK;
	}

	if (!isdigit((unsigned char)*p))
		return mmio_error_set(err, MMIO_E_INVALID,
				      "size \"%.*s\" is not a number (expected e.g. 256M, 0x1000, 4096)",
				      QUOTE_MAX, s);
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "size \"%.*s\" overflows 64 bits (max 2^64-1)",
					      QUOTE_MAX, s);
		v = v * 10 + d;
	}

	if (*p) {
		const char *u = strchr(units, tolower((unsigned char)*p));
		const char *unit = p;

		if (u && *u) {
			shift = 10u * (unsigned)(u - units + 1);
			p++;
			/* "MiB" and "MB" both mean binary: BARs are never decimal. */
			if (tolower((unsigned char)p[0]) == 'i' && tolower((unsigned char)p[1]) == 'b')
				p += 2;
			else if (tolower((unsigned char)p[0]) == 'b')
				p++;
		} else if (*p == '.') {
			return mmio_error_set(err, MMIO_E_INVALID,
					      "fractional size \"%.*s\" not supported (use a smaller unit: 1536M, not 1.5G)",
					      QUOTE_MAX, s);
		} else if (tolower((unsigned char)*p) == 'b') {
			p++;
		} else {
			return mmio_error_set(err, MMIO_E_INVALID,
					      "unknown unit \"%.*s\" in size \"%.*s\" (expected K, M, G, T, P or E)",
					      QUOTE_MAX, unit, QUOTE_MAX, s);
		}
		if (*p)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "trailing junk \"%.*s\" after size in \"%.*s\"",
					      QUOTE_MAX, p, QUOTE_MAX, s);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return mmio_error_set(err, MMIO_E_INVALID,
				      "size \"%.*s\" overflows 64 bits (max 2^64-1)", QUOTE_MAX, s);
	*out = v << shift;
	return MMIO_OK;
}

/* ---- BARs --------------------------------------------------------------- */

enum mmio_status mmio_bar_validate(const struct mmio_bar *bar, struct mmio_error *err)
{
	if (bar->index > MMIO_BAR_ROM)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "BAR index %u out of range (BAR0-BAR5, ROM is 6)", bar->index);
	if (bar->kind > MMIO_BAR_MEM64)
		return mmio_error_set(err, MMIO_E_INVALID, "BAR%u has unknown kind %u",
				      bar->index, bar->kind);
	if (!mmio_is_pow2(bar->size))
		return mmio_error_set(err, MMIO_E_INVALID,
				      "BAR size 0x%" PRIx64 " is not a power of two", bar->size);

	if (bar->index == MMIO_BAR_ROM) {
		/* The ROM BAR is a 32-bit register (PCI 3.0 6.2.5.2). */
		if (bar->kind != MMIO_BAR_MEM32)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "ROM must be a 32-bit memory BAR");
		if (bar->size < MMIO_ROM_BAR_MIN)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "ROM size 0x%" PRIx64 " below minimum 2 KiB (0x%x)",
					      bar->size, MMIO_ROM_BAR_MIN);
		if (bar->size > UINT64_C(0x80000000))
			return mmio_error_set(err, MMIO_E_INVALID,
					      "ROM size 0x%" PRIx64 " exceeds 2 GiB, what its 32-bit register can decode",
					      bar->size);
		return MMIO_OK;
	}

	switch (bar->kind) {
	case MMIO_BAR_IO:
		if (bar->prefetch)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "I/O BAR cannot be prefetchable");
		if (bar->size < MMIO_IO_BAR_MIN)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "I/O BAR size 0x%" PRIx64 " below minimum %u",
					      bar->size, MMIO_IO_BAR_MIN);
		if (bar->size > MMIO_IO_BAR_MAX)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "I/O BAR size 0x%" PRIx64 " exceeds %u bytes (PCI 3.0 6.2.5.1)",
					      bar->size, MMIO_IO_BAR_MAX);
		break;
	case MMIO_BAR_MEM32:
		if (bar->size > UINT64_C(0x80000000))
			return mmio_error_set(err, MMIO_E_INVALID,
					      "32-bit BAR size 0x%" PRIx64 " exceeds 2 GiB, what its register can decode",
					      bar->size);
		/* fall through */
	case MMIO_BAR_MEM64:
		if (bar->size < MMIO_MEM_BAR_MIN)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "memory BAR size 0x%" PRIx64 " below minimum %u",
					      bar->size, MMIO_MEM_BAR_MIN);
		break;
	}
	if (bar->kind == MMIO_BAR_MEM64 && bar->index >= 5)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "64-bit BAR%u needs two registers but only BAR0-BAR5 exist",
				      bar->index);
	return MMIO_OK;
}

struct kind_word {
	const char *word;
	uint8_t kind;
	bool prefetch;
	bool rom;
};

static const struct kind_word kind_words[] = {
	{ "mem32", MMIO_BAR_MEM32, false, false },
	{ "mem32p", MMIO_BAR_MEM32, true, false },
	{ "mem64", MMIO_BAR_MEM64, false, false },
	{ "mem64p", MMIO_BAR_MEM64, true, false },
	{ "io", MMIO_BAR_IO, false, false },
	/* Linux flags the expansion ROM prefetchable; it decodes through a 32-bit register. */
	{ "rom", MMIO_BAR_MEM32, true, true },
};

/* Adds the "in item N "..."" context to an error a helper has just set. */
static enum mmio_status item_error(struct mmio_error *err, enum mmio_status st, unsigned item,
				   const char *it, size_t len)
{
	char msg[sizeof(err->msg)];

	if (!err)
		return st;
	memcpy(msg, err->msg, sizeof(msg));
	return mmio_error_set(err, st, "%.300s in item %u \"%.*s\"", msg, item,
			      (int)(len > QUOTE_MAX ? QUOTE_MAX : len), it);
}

/* Parses one "KIND:SIZE[@INDEX]" item of length len.  *next is the first
 * free BAR register; it advances past the registers this BAR takes. */
static enum mmio_status parse_item(const char *it, size_t len, unsigned item, unsigned *next,
				   bool *have_rom, struct mmio_bar *out, struct mmio_error *err)
{
	char buf[64], *colon, *at;
	const struct kind_word *kw = NULL;
	unsigned regs, index;
	int q = (int)(len > QUOTE_MAX ? QUOTE_MAX : len);
	enum mmio_status st;

	if (len == 0)
		return mmio_error_set(err, MMIO_E_INVALID, "empty item %u in BAR list", item);
	if (len >= sizeof(buf))
		return mmio_error_set(err, MMIO_E_INVALID, "item %u \"%.*s\" is too long", item, q, it);
	memcpy(buf, it, len);
	buf[len] = '\0';

	colon = strchr(buf, ':');
	if (!colon)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "expected KIND:SIZE in item %u \"%s\"", item, buf);
	*colon = '\0';
	for (size_t i = 0; i < sizeof(kind_words) / sizeof(kind_words[0]); i++)
		if (strcasecmp(buf, kind_words[i].word) == 0)
			kw = &kind_words[i];
	*colon = ':';
	if (!kw)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "unknown BAR kind \"%.*s\" in item %u \"%s\" (expected mem32, mem32p, mem64, mem64p, io or rom)",
				      (int)(colon - buf), buf, item, buf);

	at = strchr(colon + 1, '@');
	if (at)
		*at = '\0';
	st = mmio_size_parse(colon + 1, &out->size, err);
	if (at)
		*at = '@';
	if (st != MMIO_OK)
		return item_error(err, st, item, it, len);

	regs = kw->kind == MMIO_BAR_MEM64 ? 2 : 1;
	if (kw->rom) {
		if (*have_rom)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "second ROM in item %u \"%s\" (a device has one expansion ROM)",
					      item, buf);
		*have_rom = true;
		index = MMIO_BAR_ROM;
	} else {
		index = *next;
	}

	if (at) {
		const char *d = at + 1;
		unsigned long want;
		char *end;

		if (!isdigit((unsigned char)*d))
			return mmio_error_set(err, MMIO_E_INVALID,
					      "BAR index \"%s\" is not a number in item %u \"%s\"",
					      d, item, buf);
		errno = 0;
		want = strtoul(d, &end, 10);
		if (*end || errno)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "BAR index \"%s\" is not a number in item %u \"%s\"",
					      d, item, buf);
		if (kw->rom) {
			if (want != MMIO_BAR_ROM)
				return mmio_error_set(err, MMIO_E_INVALID,
						      "ROM index must be 6, not %lu, in item %u \"%s\"",
						      want, item, buf);
		} else if (want > 5) {
			return mmio_error_set(err, MMIO_E_INVALID,
					      "BAR index %lu out of range 0-5 in item %u \"%s\"",
					      want, item, buf);
		} else if (want < *next) {
			/* Registers are listed in order, so an index below the next
			 * free one would share a register with an earlier BAR. */
			return mmio_error_set(err, MMIO_E_INVALID,
					      "BAR index %lu already taken (next free is BAR%u) in item %u \"%s\"",
					      want, *next, item, buf);
		}
		index = (unsigned)want;
	}

	if (!kw->rom) {
		if (index + regs > 6)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "more than 6 BAR registers: item %u \"%s\" would need BAR%u%s but only BAR0-BAR5 exist",
					      item, buf, index, regs == 2 ? "+1" : "");
		*next = index + regs;
	}

	out->index = (uint8_t)index;
	out->kind = kw->kind;
	out->prefetch = kw->prefetch;
	st = mmio_bar_validate(out, err);
	if (st != MMIO_OK)
		return item_error(err, st, item, it, len);
	return MMIO_OK;
}

enum mmio_status mmio_bars_parse(const char *s, struct mmio_device *out, struct mmio_error *err)
{
	static const char prefix[] = "bars:";
	struct mmio_device d;
	struct mmio_bar rom = { 0 };
	bool have_rom = false;
	unsigned next = 0, item = 0;
	const char *p;

	if (!s || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "BAR list must start with \"bars:\" in \"%.*s\"",
				      QUOTE_MAX, s ? s : "");
	p = s + sizeof(prefix) - 1;
	if (!*p)
		return mmio_error_set(err, MMIO_E_INVALID, "empty BAR list \"%.*s\"", QUOTE_MAX, s);

	memset(&d, 0, sizeof(d));
	for (;;) {
		size_t len = strcspn(p, ",");
		struct mmio_bar bar = { 0 };
		enum mmio_status st;

		item++;
		st = parse_item(p, len, item, &next, &have_rom, &bar, err);
		if (st != MMIO_OK)
			return st;
		/* The ROM goes last whatever its position in the list, so bars[]
		 * stays in register order. */
		if (bar.index == MMIO_BAR_ROM)
			rom = bar;
		else
			d.bars[d.nbars++] = bar;
		p += len;
		if (!*p)
			break;
		p++;
	}
	if (have_rom)
		d.bars[d.nbars++] = rom;
	copy_name(d.name, sizeof(d.name), s);
	*out = d;
	return MMIO_OK;
}

void mmio_bars_format(const struct mmio_device *dev, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "bars:");

	for (unsigned i = 0; i < dev->nbars && off < len; i++) {
		uint64_t s = dev->bars[i].size;
		const char *u = "";
		if (s >= (UINT64_C(1) << 40) && !(s & ((UINT64_C(1) << 40) - 1))) s >>= 40, u = "T";
		else if (s >= (UINT64_C(1) << 30) && !(s & ((UINT64_C(1) << 30) - 1))) s >>= 30, u = "G";
		else if (s >= (UINT64_C(1) << 20) && !(s & ((UINT64_C(1) << 20) - 1))) s >>= 20, u = "M";
		else if (s >= 1024 && !(s & 1023)) s >>= 10, u = "K";
		off += (size_t)snprintf(buf + off, len - off, "%s%s:%" PRIu64 "%s", i ? "," : "",
					mmio_bar_kind_name(&dev->bars[i]), s, u);
	}
}

/* ---- sysfs -------------------------------------------------------------- */

/* Reads "0x" and hex digits into *v; returns the end or NULL. */
static const char *sysfs_hex(const char *p, uint64_t *v)
{
	uint64_t x = 0;
	const char *start;

	if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
		return NULL;
	p += 2;
	start = p;
	for (; hexval((unsigned char)*p) >= 0; p++) {
		if (x >> 60)
			return NULL;
		x = x * 16 + (uint64_t)hexval((unsigned char)*p);
	}
	if (p == start)
		return NULL;
	*v = x;
	return p;
}

enum mmio_status mmio_sysfs_line_parse(const char *line, unsigned index, struct mmio_bar *out,
				       bool *present, struct mmio_error *err)
{
	uint64_t f[3];
	const char *p = line;
	struct mmio_bar bar = { 0 };
	enum mmio_status st;

	*present = false;
	for (int i = 0; i < 3; i++) {
		const char *e;

		while (*p == ' ' || *p == '\t')
			p++;
		e = sysfs_hex(p, &f[i]);
		if (!e)
			return mmio_error_set(err, MMIO_E_INVALID,
					      "resource line %u: expected 3 hex numbers \"0x... 0x... 0x...\", got \"%.*s\"",
					      index, (int)strcspn(line, "\n") > QUOTE_MAX ? QUOTE_MAX
							: (int)strcspn(line, "\n"), line);
		p = e;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "resource line %u: trailing junk \"%.*s\"", index,
				      (int)strcspn(p, "\n") > QUOTE_MAX ? QUOTE_MAX : (int)strcspn(p, "\n"), p);

	/* Linux prints an unimplemented BAR as zeros; flags 0 also means the
	 * kernel has no resource there. */
	if ((f[0] == 0 && f[1] == 0) || f[2] == 0)
		return MMIO_OK;
	if (f[1] < f[0])
		return mmio_error_set(err, MMIO_E_INVALID,
				      "resource line %u: end 0x%" PRIx64 " below start 0x%" PRIx64,
				      index, f[1], f[0]);
	if (f[0] == 0 && f[1] == UINT64_MAX)
		return mmio_error_set(err, MMIO_E_INVALID,
				      "resource line %u: region covers all 2^64 bytes", index);
	bar.size = f[1] - f[0] + 1;
	bar.index = (uint8_t)index;

	if (index == MMIO_BAR_ROM) {
		bar.kind = MMIO_BAR_MEM32;
		bar.prefetch = true;
	} else if (f[2] & IORESOURCE_IO) {
		bar.kind = MMIO_BAR_IO;
	} else if (f[2] & IORESOURCE_MEM) {
		bar.kind = f[2] & IORESOURCE_MEM_64 ? MMIO_BAR_MEM64 : MMIO_BAR_MEM32;
		bar.prefetch = (f[2] & IORESOURCE_PREFETCH) != 0;
	} else {
		return mmio_error_set(err, MMIO_E_INVALID,
				      "resource line %u: flags 0x%" PRIx64 " are neither I/O (0x100) nor memory (0x200)",
				      index, f[2]);
	}

	/* SR-IOV lines (7..12) hold the sum over all VFs, which need not be a
	 * power of two (e.g. 63 VFs); they are never placed in a guest. */
	if (index <= MMIO_BAR_ROM) {
		st = mmio_bar_validate(&bar, err);
		if (st != MMIO_OK) {
			char msg[sizeof(err->msg)];

			if (!err)
				return st;
			memcpy(msg, err->msg, sizeof(msg));
			return mmio_error_set(err, st, "resource line %u: %.400s", index, msg);
		}
	}
	*out = bar;
	*present = true;
	return MMIO_OK;
}

enum mmio_status mmio_sysfs_read_device(const char *sysfs_root, const struct mmio_bdf *bdf,
					struct mmio_device *out, struct mmio_error *err)
{
	char name[16], dir[4096], path[4096 + 16], line[256];
	struct mmio_device d;
	struct stat stbuf;
	unsigned n = 0;
	FILE *f;
	enum mmio_status st = MMIO_OK;

	if (!sysfs_root || !*sysfs_root)
		sysfs_root = "/sys";
	mmio_bdf_format(bdf, name, sizeof(name));
	if ((size_t)snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s", sysfs_root, name) >= sizeof(dir))
		return mmio_error_set(err, MMIO_E_INVALID, "sysfs root path too long");
	snprintf(path, sizeof(path), "%s/resource", dir);

	if (stat(dir, &stbuf) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return mmio_error_set(err, MMIO_E_NOTFOUND, "no PCI device %s: %s does not exist",
					      name, dir);
		return mmio_error_set(err, MMIO_E_IO, "%s: %s", dir, strerror(errno));
	}
	f = fopen(path, "r");
	if (!f)
		return mmio_error_set(err, MMIO_E_IO, "cannot open %s: %s", path, strerror(errno));

	memset(&d, 0, sizeof(d));
	while (fgets(line, sizeof(line), f)) {
		struct mmio_bar bar;
		bool present;

		if (!strchr(line, '\n') && !feof(f)) {
			st = mmio_error_set(err, MMIO_E_INVALID, "%s line %u: line too long", path, n);
			goto out;
		}
		if (n >= SYSFS_MAX_LINES) {
			st = mmio_error_set(err, MMIO_E_INVALID, "%s: more than %u lines", path,
					    SYSFS_MAX_LINES);
			goto out;
		}
		/* QEMU's VFIO hides SR-IOV, so lines past the ROM never reach a guest. */
		if (n < SYSFS_DEVICE_LINES) {
			st = mmio_sysfs_line_parse(line, n, &bar, &present, err);
			if (st != MMIO_OK) {
				char msg[sizeof(err->msg)];

				if (err) {
					memcpy(msg, err->msg, sizeof(msg));
					mmio_error_set(err, st, "%.200s: %.300s", path, msg);
				}
				goto out;
			}
			if (present && d.nbars && n > 0 && n < MMIO_BAR_ROM &&
			    d.bars[d.nbars - 1].index == n - 1 &&
			    d.bars[d.nbars - 1].kind == MMIO_BAR_MEM64) {
				/* Linux reports the upper register of a 64-bit BAR as an
				 * empty line; a region there means the file is damaged. */
				st = mmio_error_set(err, MMIO_E_INVALID,
						    "%.200s line %u: a region in the upper half of 64-bit BAR %u",
						    path, n, n - 1);
				goto out;
			}
			if (present)
				d.bars[d.nbars++] = bar;
		}
		n++;
	}
	if (ferror(f)) {
		st = mmio_error_set(err, MMIO_E_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (n < SYSFS_DEVICE_LINES) {
		st = mmio_error_set(err, MMIO_E_INVALID,
				    "%s: %u lines, expected at least %u (BAR0-BAR5 and the ROM)",
				    path, n, SYSFS_DEVICE_LINES);
		goto out;
	}
	copy_name(d.name, sizeof(d.name), name);
	d.has_bdf = true;
	d.bdf = *bdf;
	*out = d;
out:
	fclose(f);
	return st;
}
