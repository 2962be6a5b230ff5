/* SPDX-License-Identifier: MIT */
/*
 * guests-read.h — the guests as mmiod shows them, read for status and
 * metrics: one GetManagedObjects call fetches every guest with all its
 * properties, so what is printed is one consistent snapshot, not a
 * property-by-property walk that races with attaches.
 */
#ifndef MMIOCTL_GUESTS_READ_H
#define MMIOCTL_GUESTS_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmioctl.h"

struct window {
	char *kind;
	uint64_t start, end, free, largest;
	char *source;
};

struct dev_bar {
	char *device, *slot;
	uint32_t bar;
	char *kind;
	uint64_t size, address;
	char *source;
};

struct reservation {
	char *id, *label;
	char **devices;
	uint64_t bytes;
};

struct attach {
	char *id, *device, *state;
};

struct port_window {
	char *name, *kind, *source;
	uint64_t start, end;
};

struct port {
	char *id, *slot, *state, *by;
	size_t nwin;
	struct port_window win[3];
};

/* One row of FreeBlocks: a window's free blocks per size order. */
struct free_blocks {
	char *kind;
	uint64_t start;
	uint32_t count[64];
};

struct guest {
	char *path;
	char *id, *name, *uuid, *backend, *why_not;
	bool can_attach, stale;
	bool unresponsive;              /* its toolstack does not answer (Unresponsive) */
	uint64_t unresponsive_since;    /* UnresponsiveSince, usec since the epoch */
	char *unresponsive_reason;
	bool have_refresh_age;
	uint64_t refresh_age_usec;      /* RefreshAgeUSec (UINT64_MAX: never read) */
	size_t nfb;
	struct free_blocks *fb;
	size_t nwin, ndev, nres, natt, nport;
	struct window *win;
	struct port *port;
	struct dev_bar *dev;
	struct reservation *res;
	struct attach *att;
};

/* A back end's link to its toolstack (the Manager's BackendStatus). */
struct backend_status {
	char *spec, *message;
	bool connected;
	uint64_t since_usec;
};

struct guest_list {
	size_t n;
	struct guest *v;
	size_t nbe;
	struct backend_status *be;
};

/* Every guest (sorted by id) and the back ends' links to their toolstacks;
 * what names the verb in errors.  Returns 0 or the exit code. */
int fetch_guests(struct mmioctl *c, struct guest_list *out, const char *what);
void guest_list_free(struct guest_list *l);
/* NAME is the guest's id, name or (any case) uuid. */
bool guest_matches(const struct guest *g, const char *name);

#endif
