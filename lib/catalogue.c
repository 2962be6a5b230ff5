/* SPDX-License-Identifier: MIT */
/*
 * catalogue.c — the device catalogue (data/profiles.ini): named BAR layouts
 * of real devices, so "will an A100 fit?" can be asked without the card.
 *
 * The file is read with inih.  We feed inih through our own line reader
 * because the packaged inih is built without INI_HANDLER_LINENO: counting
 * lines ourselves is the only way to put a line number on an error that the
 * handler (not inih) finds, and to catch lines longer than inih's fixed
 * buffer, which inih would otherwise split silently into two lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "mmio-model.h"

enum {
	SEEN_DESCRIPTION = 1u << 0,
	SEEN_BARS = 1u << 1,
	SEEN_SOURCE = 1u << 2,
	SEEN_UNCERTAIN = 1u << 3,
};

struct load_ctx {
	struct mmio_catalogue cat;
	size_t cap;
	unsigned *seen;         /* SEEN_* per profile, parallel to cat.profiles */
	int line;               /* line the reader handed to inih last */
	int err_line;           /* 0 = no error recorded yet */
	enum mmio_status err_code;
	char err_msg[400];

	/* The input: exactly one of file and text. */
	FILE *file;
	const char *text;
	int read_errno;         /* errno of a failed read, saved before inih runs on */
};

__attribute__((format(printf, 3, 4)))
static void record(struct load_ctx *c, enum mmio_status code, const char *fmt, ...)
{
	va_list ap;

	/* Only the first error counts: later ones are usually its echoes. */
	if (c->err_line)
		return;
	c->err_line = c->line;
	c->err_code = code;
	va_start(ap, fmt);
	vsnprintf(c->err_msg, sizeof(c->err_msg), fmt, ap);
	va_end(ap);
}

static char *reader(char *str, int num, void *stream)
{
	struct load_ctx *c = stream;
	size_t n = 0, max = (size_t)num - 1;
	bool nl = false;

	if (c->file) {
		int ch;

		while (n < max && (ch = getc(c->file)) != EOF) {
			str[n++] = (char)ch;
			if (ch == '\n') {
				nl = true;
				break;
			}
		}
		if (ferror(c->file))
			c->read_errno = errno;
		if (n == 0)
			return NULL;
		/* A full buffer is fine if the line ends right there. */
		if (!nl && n == max && (ch = getc(c->file)) != EOF && ch != '\n') {
			while ((ch = getc(c->file)) != EOF && ch != '\n')
				;
			c->line++;
			record(c, MMIO_E_INVALID, "line longer than %d characters", num - 1);
			str[n] = '\0';
			return str;
		}
	} else {
		if (!*c->text)
			return NULL;
		while (n < max && c->text[n]) {
			str[n] = c->text[n];
			if (c->text[n++] == '\n') {
				nl = true;
				break;
			}
		}
		c->text += n;
		if (!nl && n == max && *c->text == '\n') {
			c->text++;
		} else if (!nl && n == max && *c->text) {
			size_t rest = strcspn(c->text, "\n");

			c->text += rest + (c->text[rest] == '\n');
			c->line++;
			record(c, MMIO_E_INVALID, "line longer than %d characters", num - 1);
			str[n] = '\0';
			return str;
		}
	}
	str[n] = '\0';
	c->line++;
	return str;
}

static bool valid_profile_name(const char *s)
{
	if (!*s || strlen(s) >= sizeof(((struct mmio_profile *)0)->name))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return false;
	return true;
}

static struct mmio_profile *current_profile(struct load_ctx *c, const char *section)
{
	struct mmio_profile *p;

	if (c->cat.n && strcmp(c->cat.profiles[c->cat.n - 1].name, section) == 0)
		return &c->cat.profiles[c->cat.n - 1];

	if (!valid_profile_name(section)) {
		record(c, MMIO_E_INVALID,
		       "bad profile name [%.60s]: use 1-47 characters from a-z, 0-9, '-', '_', '.'",
		       section);
		return NULL;
	}
	/* A section opened again further down is a copy-paste slip, not a merge. */
	if (mmio_catalogue_find(&c->cat, section)) {
		record(c, MMIO_E_INVALID, "duplicate profile [%s]", section);
		return NULL;
	}
	if (c->cat.n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct mmio_profile *np = realloc(c->cat.profiles, cap * sizeof(*np));
		unsigned *ns;

		if (!np) {
			record(c, MMIO_E_NOMEM, "out of memory");
			return NULL;
		}
		c->cat.profiles = np;
		ns = realloc(c->seen, cap * sizeof(*ns));
		if (!ns) {
			record(c, MMIO_E_NOMEM, "out of memory");
			return NULL;
		}
		c->seen = ns;
		c->cap = cap;
	}
	p = &c->cat.profiles[c->cat.n];
	memset(p, 0, sizeof(*p));
	c->seen[c->cat.n] = 0;
	c->cat.n++;
	snprintf(p->name, sizeof(p->name), "%s", section);
	return p;
}

static bool set_text(struct load_ctx *c, const struct mmio_profile *p, const char *key,
		     char *dst, size_t len, const char *value)
{
	size_t n = strlen(value);

	if (n >= len) {
		record(c, MMIO_E_INVALID, "profile [%s]: %s is %zu characters, at most %zu allowed",
		       p->name, key, n, len - 1);
		return false;
	}
	memcpy(dst, value, n + 1);
	return true;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = user;
	struct mmio_profile *p;
	unsigned *seen, bit;

	if (c->err_line)
		return 1;       /* keep inih's first error line ours, see record() */
	if (!name)
		return 1;       /* a bare section header (INI_CALL_HANDLER_ON_NEW_SECTION) */
	if (!*section) {
		record(c, MMIO_E_INVALID, "key \"%.60s\" outside any [profile] section", name);
		return 0;
	}
	p = current_profile(c, section);
	if (!p)
		return 0;
	seen = &c->seen[p - c->cat.profiles];

	if (strcmp(name, "description") == 0)
		bit = SEEN_DESCRIPTION;
	else if (strcmp(name, "bars") == 0)
		bit = SEEN_BARS;
	else if (strcmp(name, "source") == 0)
		bit = SEEN_SOURCE;
	else if (strcmp(name, "uncertain") == 0)
		bit = SEEN_UNCERTAIN;
	else {
		record(c, MMIO_E_INVALID,
		       "profile [%s]: unknown key \"%.60s\" (expected description, bars, source, uncertain)",
		       p->name, name);
		return 0;
	}
	if (*seen & bit) {
		record(c, MMIO_E_INVALID, "profile [%s]: %s given twice", p->name, name);
		return 0;
	}
	*seen |= bit;

	switch (bit) {
	case SEEN_DESCRIPTION:
		return set_text(c, p, name, p->description, sizeof(p->description), value);
	case SEEN_SOURCE:
		return set_text(c, p, name, p->source, sizeof(p->source), value);
	case SEEN_UNCERTAIN:
		if (strcmp(value, "true") == 0)
			p->uncertain = true;
		else if (strcmp(value, "false") == 0)
			p->uncertain = false;
		else {
			record(c, MMIO_E_INVALID,
			       "profile [%s]: uncertain=\"%.60s\" must be true or false",
			       p->name, value);
			return 0;
		}
		return 1;
	case SEEN_BARS: {
		char spec[256];
		struct mmio_error e;

		if ((size_t)snprintf(spec, sizeof(spec), "bars:%s", value) >= sizeof(spec)) {
			record(c, MMIO_E_INVALID, "profile [%s]: bars list too long", p->name);
			return 0;
		}
		if (mmio_bars_parse(spec, &p->device, &e) != MMIO_OK) {
			record(c, e.code, "profile [%s]: %s", p->name, e.msg);
			return 0;
		}
		/* The name says where the device came from, as resolve's callers print it. */
		snprintf(p->device.name, sizeof(p->device.name), "profile:%s", p->name);
		return 1;
	}
	}
	return 0;
}

static enum mmio_status load(struct load_ctx *c, const char *origin, struct mmio_catalogue *cat,
			     struct mmio_error *err)
{
	int r = ini_parse_stream(reader, c, handler, c);
	enum mmio_status st = MMIO_OK;

	if (c->file && ferror(c->file)) {
		st = mmio_error_set(err, MMIO_E_IO, "cannot read %s: %s", origin,
				    strerror(c->read_errno));
	} else if (r == -2) {
		st = mmio_error_set(err, MMIO_E_NOMEM, "%s: out of memory", origin);
	} else if (r > 0 && (!c->err_line || r < c->err_line)) {
		/* inih found it before our handler did: a line it cannot read. */
		st = mmio_error_set(err, MMIO_E_INVALID,
				    "%s:%d: syntax error (expected [profile], key=value or a comment)",
				    origin, r);
	} else if (c->err_line) {
		st = mmio_error_set(err, c->err_code, "%s:%d: %s", origin, c->err_line, c->err_msg);
	} else if (c->cat.n == 0) {
		st = mmio_error_set(err, MMIO_E_INVALID, "%s: no profiles", origin);
	} else {
		for (size_t i = 0; i < c->cat.n; i++) {
			static const struct { unsigned bit; const char *key; } need[] = {
				{ SEEN_BARS, "bars" },
				{ SEEN_DESCRIPTION, "description" },
				{ SEEN_SOURCE, "source" },
			};
			for (size_t k = 0; k < sizeof(need) / sizeof(need[0]); k++)
				if (!(c->seen[i] & need[k].bit)) {
					st = mmio_error_set(err, MMIO_E_INVALID,
							    "%s: profile [%s] has no %s=", origin,
							    c->cat.profiles[i].name, need[k].key);
					goto done;
				}
		}
	}
done:
	free(c->seen);
	if (st != MMIO_OK) {
		mmio_catalogue_free(&c->cat);
		return st;
	}
	*cat = c->cat;
	return MMIO_OK;
}

enum mmio_status mmio_catalogue_load(const char *path, struct mmio_catalogue *cat,
				     struct mmio_error *err)
{
	struct load_ctx c;
	enum mmio_status st;

	memset(&c, 0, sizeof(c));
	c.file = fopen(path, "r");
	if (!c.file)
		return mmio_error_set(err, MMIO_E_IO, "cannot open %s: %s", path, strerror(errno));
	st = load(&c, path, cat, err);
	fclose(c.file);
	return st;
}

enum mmio_status mmio_catalogue_load_string(const char *text, const char *origin,
					    struct mmio_catalogue *cat, struct mmio_error *err)
{
	struct load_ctx c;

	memset(&c, 0, sizeof(c));
	c.text = text;
	return load(&c, origin ? origin : "<string>", cat, err);
}

void mmio_catalogue_free(struct mmio_catalogue *cat)
{
	if (!cat)
		return;
	free(cat->profiles);
	cat->profiles = NULL;
	cat->n = 0;
}

const struct mmio_profile *mmio_catalogue_find(const struct mmio_catalogue *cat, const char *name)
{
	if (!cat || !name)
		return NULL;
	for (size_t i = 0; i < cat->n; i++)
		if (strcmp(cat->profiles[i].name, name) == 0)
			return &cat->profiles[i];
	return NULL;
}
