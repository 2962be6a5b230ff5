/* SPDX-License-Identifier: MIT */
/* error.c — error records and the words the model uses for its things. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "mmio-model.h"

enum mmio_status mmio_error_set(struct mmio_error *err, enum mmio_status code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

const char *mmio_status_name(enum mmio_status st)
{
	switch (st) {
	case MMIO_OK: return "ok";
	case MMIO_E_INVALID: return "invalid";
	case MMIO_E_NOSPACE: return "no-space";
	case MMIO_E_NOTFOUND: return "not-found";
	case MMIO_E_NOMEM: return "out-of-memory";
	case MMIO_E_IO: return "io-error";
	case MMIO_E_UNSUPPORTED: return "unsupported";
	}
	return "unknown";
}

const char *mmio_bar_kind_name(const struct mmio_bar *bar)
{
	if (bar->index == MMIO_BAR_ROM)
		return "rom";
	switch (bar->kind) {
	case MMIO_BAR_IO: return "io";
	case MMIO_BAR_MEM32: return bar->prefetch ? "mem32p" : "mem32";
	case MMIO_BAR_MEM64: return bar->prefetch ? "mem64p" : "mem64";
	}
	return "?";
}

void mmio_bar_describe(const struct mmio_bar *bar, char *buf, size_t len)
{
	/* Linux's %pR for an unassigned resource, which is what users see in dmesg. */
	if (bar->kind == MMIO_BAR_IO)
		snprintf(buf, len, "io  size 0x%" PRIx64, bar->size);
	else
		snprintf(buf, len, "mem size 0x%" PRIx64 "%s%s", bar->size,
			 bar->kind == MMIO_BAR_MEM64 ? " 64bit" : "",
			 bar->prefetch ? " pref" : "");
}

const struct mmio_function *mmio_device_function(const struct mmio_device *dev, unsigned fn)
{
	for (unsigned i = 0; i < dev->nfn && i < MMIO_MAX_FUNCTIONS; i++)
		if (dev->fns[i].fn == fn)
			return &dev->fns[i];
	return NULL;
}

void mmio_bar_owner(const struct mmio_device *dev, const struct mmio_bar *bar, char *buf, size_t len)
{
	const struct mmio_function *f = mmio_device_is_slot(dev) ? mmio_device_function(dev, bar->fn) : NULL;

	/* the kernel names a function by its address: so do we, when it has one */
	if (!mmio_device_is_slot(dev))
		snprintf(buf, len, "%s", dev->name);
	else if (f && f->has_bdf)
		snprintf(buf, len, "%04x:%02x:%02x.%x", f->bdf.domain, f->bdf.bus, f->bdf.dev, f->bdf.fn);
	else
		snprintf(buf, len, "%s function %u", dev->name, bar->fn);
}

void mmio_size_format(uint64_t size, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	uint64_t whole = size, rem = 0;

	while (whole >= 1024 && u < 6) {
		rem = whole % 1024;
		whole /= 1024;
		u++;
	}
	/* One decimal only when it is exact to that decimal, so sizes never lie. */
	if (rem == 0)
		snprintf(buf, len, "%" PRIu64 " %s", whole, units[u]);
	else if ((rem * 10) % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 " %s", whole, rem * 10 / 1024, units[u]);
	else
		snprintf(buf, len, "%" PRIu64 " B (0x%" PRIx64 ")", size, size);
}

const char *mmio_window_kind_name(enum mmio_window_kind k)
{
	switch (k) {
	case MMIO_WIN_LOW: return "low";
	case MMIO_WIN_HIGH: return "high";
	case MMIO_WIN_IO: return "io";
	}
	return "?";
}
