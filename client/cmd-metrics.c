/* SPDX-License-Identifier: MIT */
/*
 * cmd-metrics.c — `mmioctl metrics`: capacity in the Prometheus text
 * format, from the snapshot guests-read.c fetches and the Manager's
 * counters; --output written atomically.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guests-read.h"

/* ---- metrics: the Prometheus text format ---------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void put_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_guest_labels(FILE *f, const struct guest *g)
{
	put_label(f, "guest", g->id);
	fputc(',', f);
	put_label(f, "name", g->name ? g->name : "");
	fputc(',', f);
	put_label(f, "backend", g->backend ? g->backend : "");
}

static void put_window_labels(FILE *f, const struct guest *g, const char *kind, uint64_t start)
{
	char hex[32];

	put_guest_labels(f, g);
	fputc(',', f);
	put_label(f, "window", kind);
	snprintf(hex, sizeof(hex), "0x%" PRIx64, start);
	fputc(',', f);
	put_label(f, "start", hex);
}

/* Reads Manager's Calls and BackendStates and prints them. */
static int put_daemon_metrics(struct mmioctl *c, FILE *f)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *calls = NULL, *states = NULL;
	const char *name, *state;
	uint64_t n, errors;
	uint32_t guests;
	int r;

	r = sd_bus_get_property(c->bus, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER, "Calls",
				&e, &calls, "a(stt)");
	if (r >= 0)
		r = sd_bus_get_property(c->bus, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER,
					"BackendStates", &e, &states, "a(ssu)");
	if (r < 0) {
		int code = sd_bus_error_is_set(&e) ? bus_report_error(c, &e, "metrics")
						   : bus_report_errno(c, r, "metrics");
		sd_bus_error_free(&e);
		sd_bus_message_unref(calls);
		return code;
	}
	put_family(f, "mmiod_calls_total", "counter",
		   "D-Bus calls of a Manager method answered since mmiod started.");
	r = sd_bus_message_enter_container(calls, 'a', "(stt)");
	while (r >= 0 && (r = sd_bus_message_read(calls, "(stt)", &name, &n, &errors)) > 0) {
		fputs("mmiod_calls_total{", f);
		put_label(f, "method", name);
		fprintf(f, "} %" PRIu64 "\n", n);
	}
	put_family(f, "mmiod_call_errors_total", "counter",
		   "Error replies among them (refused, no space, invalid input, toolstack failures).");
	/* sd_bus_get_property left us inside the variant: rewind the array only */
	if (r >= 0)
		r = sd_bus_message_rewind(calls, false);
	while (r >= 0 && (r = sd_bus_message_read(calls, "(stt)", &name, &n, &errors)) > 0) {
		fputs("mmiod_call_errors_total{", f);
		put_label(f, "method", name);
		fprintf(f, "} %" PRIu64 "\n", errors);
	}
	put_family(f, "mmiod_backend_up", "gauge",
		   "1 when a configured toolstack back end is open, 0 when it failed to open.");
	r = sd_bus_message_enter_container(states, 'a', "(ssu)");
	while (r >= 0 && (r = sd_bus_message_read(states, "(ssu)", &name, &state, &guests)) > 0) {
		fputs("mmiod_backend_up{", f);
		put_label(f, "backend", name);
		fprintf(f, "} %d\n", strcmp(state, "running") == 0);
	}
	put_family(f, "mmiod_backend_guests", "gauge", "Guests a back end reports now.");
	if (r >= 0)
		r = sd_bus_message_rewind(states, false);
	while (r >= 0 && (r = sd_bus_message_read(states, "(ssu)", &name, &state, &guests)) > 0) {
		fputs("mmiod_backend_guests{", f);
		put_label(f, "backend", name);
		fprintf(f, "} %" PRIu32 "\n", guests);
	}
	sd_bus_message_unref(calls);
	sd_bus_message_unref(states);
	return r < 0 ? bus_report_errno(c, r, "metrics") : 0;
}

static void put_guest_metrics(FILE *f, const struct guest_list *l)
{
	static const struct {
		const char *name, *help;
	} win_families[] = {
		{ "mmiod_window_size_bytes", "Size of a guest's MMIO or I/O window." },
		{ "mmiod_window_free_bytes", "Free bytes in the window (BARs, holds and reservations counted as used)." },
		{ "mmiod_window_largest_free_block_bytes",
		  "Largest naturally aligned free block: the largest BAR that still fits the window." },
	};

	for (size_t k = 0; k < 3; k++) {
		put_family(f, win_families[k].name, "gauge", win_families[k].help);
		for (size_t i = 0; i < l->n; i++)
			for (size_t w = 0; w < l->v[i].nwin; w++) {
				const struct window *win = &l->v[i].win[w];
				uint64_t v = k == 0 ? win->end - win->start : k == 1 ? win->free : win->largest;

				fprintf(f, "%s{", win_families[k].name);
				put_window_labels(f, &l->v[i], win->kind, win->start);
				fprintf(f, "} %" PRIu64 "\n", v);
			}
	}
	put_family(f, "mmiod_window_free_blocks", "gauge",
		   "Maximal naturally aligned free blocks of 2^order bytes in the window.");
	for (size_t i = 0; i < l->n; i++)
		for (size_t b = 0; b < l->v[i].nfb; b++)
			for (unsigned o = 0; o < 64; o++) {
				if (!l->v[i].fb[b].count[o])
					continue;
				fputs("mmiod_window_free_blocks{", f);
				put_window_labels(f, &l->v[i], l->v[i].fb[b].kind, l->v[i].fb[b].start);
				fprintf(f, ",order=\"%u\"} %" PRIu32 "\n", o, l->v[i].fb[b].count[o]);
			}
	put_family(f, "mmiod_guest_reservations", "gauge", "Outstanding reservations of the guest.");
	for (size_t i = 0; i < l->n; i++) {
		fputs("mmiod_guest_reservations{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %zu\n", l->v[i].nres);
	}
	put_family(f, "mmiod_guest_reserved_bytes", "gauge", "Bytes of BARs the guest's reservations hold.");
	for (size_t i = 0; i < l->n; i++) {
		uint64_t sum = 0;

		for (size_t r = 0; r < l->v[i].nres; r++)
			sum += l->v[i].res[r].bytes;
		fputs("mmiod_guest_reserved_bytes{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %" PRIu64 "\n", sum);
	}
	put_family(f, "mmiod_guest_attaches_in_flight", "gauge", "Attaches and detaches not finished yet.");
	for (size_t i = 0; i < l->n; i++) {
		fputs("mmiod_guest_attaches_in_flight{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %zu\n", l->v[i].natt);
	}
	put_family(f, "mmiod_guest_can_attach", "gauge", "1 when the guest's toolstack can hot-plug now.");
	for (size_t i = 0; i < l->n; i++) {
		fputs("mmiod_guest_can_attach{", f);
		put_guest_labels(f, &l->v[i]);
		fprintf(f, "} %d\n", l->v[i].can_attach);
	}
	put_family(f, "mmiod_guest_refresh_age_seconds", "gauge",
		   "Seconds since mmiod last read the guest's layout from its toolstack.");
	for (size_t i = 0; i < l->n; i++) {
		const struct guest *g = &l->v[i];

		if (!g->have_refresh_age || g->refresh_age_usec == UINT64_MAX)
			continue;
		fputs("mmiod_guest_refresh_age_seconds{", f);
		put_guest_labels(f, g);
		fprintf(f, "} %.3f\n", (double)g->refresh_age_usec / 1e6);
	}
}

/* Writes path atomically: a temporary file beside it, then rename, so a
 * reader (the node exporter) never sees half a file. */
static int write_atomically(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	mode_t mask = umask(0);
	int fd, r = 0;

	umask(mask);
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0666 & ~mask) < 0)
		r = -errno;
	for (size_t off = 0; r == 0 && off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int cmd_metrics(struct mmioctl *c, int argc, char **argv)
{
	struct guest_list l = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	r = fetch_guests(c, &l, "metrics");
	if (r)
		return r;
	f = open_memstream(&buf, &len);
	if (!f) {
		guest_list_free(&l);
		mmioctl_error("metrics: %s", strerror(errno));
		return MMIOCTL_EXIT_NO;
	}
	put_family(f, "mmiod_up", "gauge", "1: mmiod answered (this file is only written when it does).");
	fputs("mmiod_up 1\n", f);
	r = put_daemon_metrics(c, f);
	if (r == 0)
		put_guest_metrics(f, &l);
	guest_list_free(&l);
	if (fclose(f) != 0 && r == 0) {
		mmioctl_error("metrics: %s", strerror(errno));
		r = MMIOCTL_EXIT_NO;
	}
	if (r == 0 && c->output) {
		int w = write_atomically(c->output, buf, len);
		if (w < 0) {
			mmioctl_error("metrics: writing %s: %s", c->output, strerror(-w));
			r = MMIOCTL_EXIT_NO;
		}
	} else if (r == 0) {
		fwrite(buf, 1, len, stdout);
	}
	free(buf);
	return r;
}
