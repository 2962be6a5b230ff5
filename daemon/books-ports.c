/* SPDX-License-Identifier: MIT */
/*
 * books-ports.c — the books of a guest whose devices go behind hot-plug
 * ports (q35 root ports, PCI bridges): which port a device goes behind,
 * the free space behind a port, reservations placed port by port, and the
 * Ports property.  The root-bus books and the admission rule are in
 * books.c; both share books-internal.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "cleanup.h"
#include "books-internal.h"
#include "books-ports.h"
#include "strbuf.h"

void books_bar_window_name(const struct books_entry *e, const struct books_bar *bb, char *buf,
			   size_t len)
{
	if (!bb->placed)
		snprintf(buf, len, "%s", "");
	else if (!e->port[0])
		snprintf(buf, len, "%s", mmio_window_kind_name(bb->window));
	else
		snprintf(buf, len, "%s:%s", e->port,
			 bb->window == MMIO_WIN_IO ? "io" : bb->pref_window ? "pref" : "mem");
}

/* Whether an attach still takes room: in flight, or its device is in the
 * guest.  One whose device left outside mmiod (a device_del by someone
 * else) is forgotten at the next reconciliation; until then it must not
 * keep its port. */
static bool attach_present(const struct books *b, const struct books_attach *a)
{
	return a->state == BOOKS_ATTACH_INFLIGHT || a->state == BOOKS_ATTACH_UNSETTLED ||
	       books_layout_has_device(b, a->tsd_id[0] ? a->tsd_id : a->id);
}

/* The attach behind port `id`, NULL if none (reservations are placed per
 * call). */
static const char *port_attach(const struct books *b, const char *id)
{
	for (size_t i = 0; i < b->nattach; i++)
		if (strcmp(b->attaches[i].e.port, id) == 0 && attach_present(b, &b->attaches[i]))
			return b->attaches[i].id;
	return NULL;
}

/* What one placement call knows about the ports: which cannot take a
 * device (a PCIe port with something behind it or held, or no windows
 * yet), and what devices placed earlier in the same call took behind a
 * multi-slot bridge. */
struct port_ctx {
	size_t n;
	bool *taken;
	struct rangev *extra;
	/* windows pciehp re-sized for a device placed earlier in the call */
	bool *resized;
	struct mmio_bridge *after;
};

static void port_ctx_free(struct port_ctx *pc)
{
	for (size_t i = 0; pc->extra && i < pc->n; i++)
		rangev_clear(&pc->extra[i]);
	free(pc->extra);
	free(pc->taken);
	free(pc->resized);
	free(pc->after);
	memset(pc, 0, sizeof(*pc));
}

static int port_ctx_init(const struct books *b, struct port_ctx *pc)
{
	pc->n = b->layout.nports;
	pc->taken = calloc(pc->n + 1, sizeof(*pc->taken));
	pc->extra = calloc(pc->n + 1, sizeof(*pc->extra));
	pc->resized = calloc(pc->n + 1, sizeof(*pc->resized));
	pc->after = calloc(pc->n + 1, sizeof(*pc->after));
	if (!pc->taken || !pc->extra || !pc->resized || !pc->after) {
		port_ctx_free(pc);
		return -1;
	}
	for (size_t i = 0; i < pc->n; i++) {
		const struct tsd_port *p = &b->layout.ports[i];
		pc->taken[i] = !p->windows_known ||
			       (!p->multi_slot && (!p->empty || port_attach(b, p->id) != NULL));
	}
	return 0;
}

/* The free space behind a port: its windows in bus-resource order (io,
 * mem, pref) minus, for a multi-slot bridge, the BARs of the devices
 * already behind it (shown, predicted for mmiod's own attaches, or
 * inferred from the guest's history) and
 * those placed earlier in this call. */
static enum mmio_status port_space(const struct books *b, const struct port_ctx *pc, size_t pi,
				   struct mmio_space *sp, struct mmio_error *err)
{
	const struct tsd_port *p = &b->layout.ports[pi];
	struct mmio_window w[3];
	_cleanup_(rangev_clear) struct rangev used = { 0 };
	unsigned n = 0;

	for (unsigned i = 0; i < 3; i++)
		if (p->present[i]) {
			w[n] = p->win[i];
			w[n].flags |= MMIO_WF_BRIDGE;
			n++;
		}
	if (p->multi_slot) {
		/* what the devices on every bus hold: shown, predicted, or
		 * inferred (books-past.c); what lies outside this port's
		 * windows does not matter here */
		int r = books_push_live(b, &used);
		for (size_t i = 0; r == 0 && i < b->nattach; i++)
			if (strcmp(b->attaches[i].e.port, p->id) == 0 &&
			    attach_present(b, &b->attaches[i]))
				r = books_push_entry(&used, &b->attaches[i].e);
		for (size_t i = 0; r == 0 && pc && i < pc->extra[pi].n; i++)
			r = rangev_push(&used, pc->extra[pi].v[i].start,
					pc->extra[pi].v[i].end - pc->extra[pi].v[i].start);
		if (r < 0)
			return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	}
	struct mmio_space_params prm = {
		.windows = w, .nwin = n, .used = used.v, .nused = used.n,
		.clip = b->layout.clip, .nclip = b->layout.nclip,
		.min_mem = b->layout.min_mem,
	};
	return mmio_space_init(sp, &prm, err);
}

/* ---- native PCIe hot-plug ------------------------------------------------------ */

/* Port q's windows as they are now: re-sized earlier in this call, or by
 * an attach in flight behind it, else as the back end reads them. */
static void port_windows_now(const struct books *b, const struct port_ctx *pc, size_t q,
			     struct mmio_bridge *out)
{
	const struct tsd_port *p = &b->layout.ports[q];

	if (pc && pc->resized[q]) {
		*out = pc->after[q];
		return;
	}
	for (size_t i = 0; i < b->nattach; i++) {
		const struct books_attach *a = &b->attaches[i];
		if (books_attach_holds(b, a) && a->e.port_resized && strcmp(a->e.port, p->id) == 0) {
			*out = a->e.port_after;
			return;
		}
	}
	memset(out, 0, sizeof(*out));
	for (unsigned w = 0; w < 3; w++) {
		out->present[w] = p->windows_known && p->present[w];
		out->win[w] = p->win[w];
	}
}

/* Where pciehp puts dev behind port pi: the root bus as it is (live BARs,
 * holds, every other port's windows), the port's own windows released
 * as Linux releases them. */
static enum mmio_status pciehp_place(const struct books *b, const struct port_ctx *pc, size_t pi,
				     const struct mmio_device *dev, struct mmio_placement *pl,
				     struct mmio_pciehp *res, struct mmio_error *err)
{
	_cleanup_(rangev_clear) struct rangev used = { 0 };
	struct mmio_bridge port;
	int r = 0;

	for (size_t i = 0; r == 0 && i < b->layout.nbars; i++)
		if (b->layout.bars[i].addr != TSD_ADDR_UNASSIGNED)
			r = rangev_push(&used, b->layout.bars[i].addr, b->layout.bars[i].bar.size);
	for (size_t i = 0; r == 0 && i < b->nattach; i++)
		if (books_attach_holds(b, &b->attaches[i]))
			r = books_push_entry(&used, &b->attaches[i].e);
	for (size_t q = 0; r == 0 && q < b->layout.nports; q++) {
		struct mmio_bridge w;
		if (q == pi)
			continue;
		port_windows_now(b, pc, q, &w);
		for (unsigned k = 0; r == 0 && k < 3; k++)
			if (w.present[k])
				r = rangev_push(&used, w.win[k].start, w.win[k].end - w.win[k].start);
	}
	if (r < 0)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	struct mmio_space_params root = {
		.windows = b->layout.win, .nwin = b->layout.nwin, .used = used.v, .nused = used.n,
		.clip = b->layout.clip, .nclip = b->layout.nclip, .min_mem = b->layout.min_mem,
	};
	port_windows_now(b, pc, pi, &port);
	return mmio_place_pciehp(&root, &port, dev, pl, res, err);
}

/* out from a pciehp placement behind port p. */
static void fill_pciehp(struct books_entry *out, const struct mmio_device *dev, const char *const *spec,
			const struct mmio_placement *pl, const struct mmio_pciehp *res, const char *port)
{
	books_entries_fill(NULL, dev, spec, 1, NULL, out);
	for (size_t k = 0; k < pl->n; k++) {
		const struct mmio_bar_place *it = &pl->items[k];
		struct books_bar *bb;

		if (it->bar >= out->nbars)
			continue;
		bb = &out->bars[it->bar];
		bb->placed = it->placed && it->window >= 0 && it->window < 3;
		if (bb->placed) {
			bb->window = res->after.win[it->window].kind;
			bb->pref_window = it->window == MMIO_BRIDGE_PREF;
			bb->addr = it->addr;
		}
	}
	snprintf(out->port, sizeof(out->port), "%s", port);
	out->port_resized = res->tries == 2;
	out->port_after = res->after;
}

/* Device d went behind port pi (fully or partly placed, as pl says). */
static void port_take(struct port_ctx *pc, const struct tsd_port *p, size_t pi,
		      const struct mmio_placement *pl)
{
	if (!p->multi_slot) {
		pc->taken[pi] = true;
		return;
	}
	for (size_t k = 0; pl && k < pl->n; k++)
		if (pl->items[k].placed)
			(void)rangev_push(&pc->extra[pi], pl->items[k].addr, pl->items[k].size);
}


/* Places devs[0..n) one after another, each behind the first free port
 * it fits (devs[0] behind want_port if given).  A device that fits
 * nowhere is still counted as plugged into the first free port (partly
 * placed, as the guest would leave it), so what follows is placed as the
 * guest would see it.  out (may be NULL) gets each device's placement
 * and port; pc is updated. */
static enum mmio_status place_in_ports(const struct books *b, struct port_ctx *pc,
				       const struct mmio_device *devs, const char *const *specs,
				       size_t n, const char *want_port, struct books_entry *out,
				       struct mmio_error *err)
{
	enum mmio_status st = MMIO_OK;
	_cleanup_free_ struct mmio_placement *pl = mmio_placement_alloc(1);
	_cleanup_free_ struct mmio_placement *first_pl = mmio_placement_alloc(1);

	if (!pl || !first_pl)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory for a placement");
	for (size_t d = 0; d < n; d++) {
		const char *want = d == 0 ? want_port : NULL;
		char why[sizeof(err->msg)] = "";
		size_t first = SIZE_MAX, tried = 0;
		bool done = false, native = false;

		first_pl->n = 0;

		if (out)
			books_entries_fill(NULL, &devs[d], specs ? &specs[d] : NULL, 1, NULL, &out[d]);
		if (want) {
			size_t i;
			for (i = 0; i < b->layout.nports; i++)
				if (strcmp(b->layout.ports[i].id, want) == 0)
					break;
			if (i == b->layout.nports) {
				char known[300] = "";
				for (size_t j = 0; j < b->layout.nports; j++)
					strbuf_appendf(known, sizeof(known), "%s%s", j ? ", " : "",
						b->layout.ports[j].id);
				st = mmio_error_set(err, MMIO_E_NOTFOUND,
						    "the guest has no hot-plug port %.64s (ports: %s)", want,
						    known[0] ? known : "none");
				break;
			}
			if (pc->taken[i]) {
				const struct tsd_port *p = &b->layout.ports[i];
				const char *by = port_attach(b, p->id);
				if (st == MMIO_OK)
					st = mmio_error_set(err, MMIO_E_NOSPACE,
							    "%s: port %s is not free (%s)", devs[d].name, p->id,
							    !p->windows_known ? "the firmware has not programmed it" :
							    !p->empty ? "a device is behind it" :
							    by ? "an attach holds it" : "a reservation holds it");
				if (out)
					snprintf(out[d].port, sizeof(out[d].port), "%s", p->id);
				continue;
			}
		}
		for (size_t i = 0; i < b->layout.nports && !done; i++) {
			const struct tsd_port *p = &b->layout.ports[i];
			struct mmio_space sp;
			struct mmio_error e = { 0 };
			enum mmio_status ps;

			if (pc->taken[i] || (want && strcmp(p->id, want) != 0))
				continue;
			if (port_space(b, pc, i, &sp, &e) != MMIO_OK) {
				strbuf_appendf(why, sizeof(why), "%sport %s: %s", tried ? "; " : "", p->id, e.msg);
				tried++;
				if (first == SIZE_MAX)
					first = i;
				continue;
			}
			pl->n = 0;
			/* only the first port that fails gets its reason in full */
			ps = mmio_place(&sp, &devs[d], 1, pl, tried ? NULL : &e);
			if (ps == MMIO_OK || first == SIZE_MAX) {
				/* the fit, or the first free port's partial placement */
				if (out) {
					books_entries_fill(&sp, &devs[d], specs ? &specs[d] : NULL, 1, pl, &out[d]);
					snprintf(out[d].port, sizeof(out[d].port), "%s", p->id);
				}
			}
			mmio_space_free(&sp);
			if (ps == MMIO_OK || first == SIZE_MAX)
				memcpy(first_pl, pl, sizeof(*pl) + pl->n * sizeof(pl->items[0]));
			if (first == SIZE_MAX)
				first = i;
			if (ps == MMIO_OK) {
				port_take(pc, p, i, pl);
				done = true;
			} else if (ps == MMIO_E_NOSPACE && p->native_hotplug && !p->multi_slot) {
				/* pciehp first assigns inside the current windows, as
				 * acpiphp does (so a fit is predicted alike); when that
				 * fails it re-sizes the windows: after every port was
				 * tried as it is (a port that needs no re-sizing wins) */
				native = true;
			} else if (ps == MMIO_E_NOSPACE) {
				/* The first port's reason in full (the kernel's words and
				 * the windows); the others by the BAR that failed. */
				if (!tried) {
					strbuf_appendf(why, sizeof(why), "behind port %s: %s", p->id, e.msg);
				} else {
					char what[80] = "?";
					for (size_t k = 0; k < pl->n; k++)
						if (!pl->items[k].placed) {
							char desc[64];
							mmio_bar_describe(&devs[d].bars[pl->items[k].bar], desc,
									  sizeof(desc));
							snprintf(what, sizeof(what), "BAR %u [%s]",
								 devs[d].bars[pl->items[k].bar].index, desc);
							break;
						}
					strbuf_appendf(why, sizeof(why), "%s port %s: %s no space", tried == 1 ?
						"; nor behind any other free port:" : ",", p->id, what);
				}
				tried++;
			} else {
				if (err)
					*err = e;
				return ps;
			}
		}
		if (!done && native) {
			/* pciehp's second pass, port by port */
			struct mmio_pciehp res, first_res = { 0 };
			size_t nfirst = SIZE_MAX;

			for (size_t i = 0; i < b->layout.nports && !done; i++) {
				const struct tsd_port *p = &b->layout.ports[i];
				struct mmio_error e = { 0 };
				enum mmio_status ps;

				if (pc->taken[i] || (want && strcmp(p->id, want) != 0) || !p->native_hotplug ||
				    p->multi_slot)
					continue;
				pl->n = 0;
				ps = pciehp_place(b, pc, i, &devs[d], pl, &res, tried ? NULL : &e);
				if (ps == MMIO_OK || (nfirst == SIZE_MAX && i == first)) {
					if (out)
						fill_pciehp(&out[d], &devs[d], specs ? &specs[d] : NULL, pl, &res,
							    p->id);
					memcpy(first_pl, pl, sizeof(*pl) + pl->n * sizeof(pl->items[0]));
				}
				if (nfirst == SIZE_MAX) {
					nfirst = i;
					first_res = res;
				}
				if (ps == MMIO_OK) {
					port_take(pc, p, i, pl);
					pc->resized[i] = res.tries == 2;
					pc->after[i] = res.after;
					done = true;
				} else if (ps == MMIO_E_NOSPACE) {
					if (!tried)
						strbuf_appendf(why, sizeof(why), "behind port %s: %s", p->id, e.msg);
					else
						strbuf_appendf(why, sizeof(why), "%s port %s: no space either",
							       tried == 1 ? "; nor behind any other free port:" : ",",
							       p->id);
					tried++;
				} else {
					if (err)
						*err = e;
					return ps;
				}
			}
			/* what the guest does to the first port when nothing fits: its
			 * windows are re-sized (or gone) all the same */
			if (!done && nfirst == first && first != SIZE_MAX) {
				pc->resized[first] = first_res.tries == 2;
				pc->after[first] = first_res.after;
			}
		}
		if (done)
			continue;
		if (first != SIZE_MAX)       /* plugged there, partly placed */
			port_take(pc, &b->layout.ports[first], first, first_pl);
		if (st == MMIO_OK) {
			if (tried)
				st = mmio_error_set(err, MMIO_E_NOSPACE, "%s", why);
			else
				st = mmio_error_set(err, MMIO_E_NOSPACE,
						    "%s: no free hot-plug port: %s", devs[d].name,
						    b->layout.nports ?
						    "every port has a device, an attach or a reservation "
						    "behind it" :
						    "the guest has none, and its root bus takes no hot-plugged "
						    "device (q35: start QEMU with spare -device "
						    "pcie-root-port,id=...)");
		}
	}
	return st;
}

/* Every reservation's devices behind the ports left, in creation order.
 * On NOSPACE err names the first reservation that no longer fits. */
static enum mmio_status place_reservations_in_ports(const struct books *b, struct port_ctx *pc,
						    struct mmio_error *err)
{
	for (size_t i = 0; i < b->nres; i++) {
		struct mmio_error why = { 0 };
		for (size_t j = 0; j < b->res[i].n; j++) {
			enum mmio_status st = place_in_ports(b, pc, &b->res[i].devs[j].dev, NULL, 1,
							     NULL, NULL, &why);
			if (st == MMIO_E_NOSPACE)
				return mmio_error_set(err, MMIO_E_NOSPACE,
						      "fits only by breaking reservation %s: %s",
						      b->res[i].id, why.msg);
			if (st != MMIO_OK) {
				if (err)
					*err = why;
				return st;
			}
		}
	}
	return MMIO_OK;
}

enum mmio_status books_check_in_ports(const struct books *b, const struct mmio_device *devs,
				       const char *const *specs, size_t n, const char *want_port,
				       struct books_entry *out, struct mmio_error *err)
{
	_cleanup_(port_ctx_free) struct port_ctx pc = { 0 };
	enum mmio_status st;

	if (port_ctx_init(b, &pc) < 0)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	st = place_in_ports(b, &pc, devs, specs, n, want_port, out, err);
	/* Reservations live behind ports only where devices go behind ports;
	 * elsewhere (a pc guest's pci-bridge named by the caller) they are on
	 * the root bus, where the port's windows were used already. */
	if (st == MMIO_OK && b->nres && books_port_mode(b))
		st = place_reservations_in_ports(b, &pc, err);
	return st;
}

enum mmio_status books_place_in_ports(const struct books *b, const struct mmio_device *devs,
				      const char *const *specs, size_t n, struct books_entry *out,
				      struct mmio_error *err)
{
	_cleanup_(port_ctx_free) struct port_ctx pc = { 0 };

	if (port_ctx_init(b, &pc) < 0)
		return mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
	return place_in_ports(b, &pc, devs, specs, n, NULL, out, err);
}

size_t books_ports(const struct books *b, struct books_port_view *out, size_t max)
{
	_cleanup_(port_ctx_free) struct port_ctx pc = { 0 };
	_cleanup_free_ const char **res_by = calloc(b->layout.nports + 1, sizeof(*res_by));

	if (res_by && books_port_mode(b) && port_ctx_init(b, &pc) == 0) {
		/* which port each reservation's devices would take now */
		for (size_t i = 0; i < b->nres; i++)
			for (size_t j = 0; j < b->res[i].n; j++) {
				struct books_entry e;
				if (place_in_ports(b, &pc, &b->res[i].devs[j].dev, NULL, 1, NULL, &e,
						   NULL) != MMIO_OK)
					continue;
				for (size_t k = 0; k < b->layout.nports; k++)
					if (strcmp(b->layout.ports[k].id, e.port) == 0 && !res_by[k])
						res_by[k] = b->res[i].id;
			}
	}
	for (size_t i = 0; i < b->layout.nports && i < max; i++) {
		const struct tsd_port *p = &b->layout.ports[i];
		const char *by = port_attach(b, p->id);
		out[i].port = p;
		out[i].by = "";
		if (!p->windows_known) {
			out[i].state = "unprogrammed";
		} else if (p->multi_slot) {
			/* a bridge with slots: devices share its windows */
			out[i].state = !p->empty || by || (res_by && res_by[i]) ? "in-use" : "empty";
			out[i].by = by ? by : res_by && res_by[i] ? res_by[i] : "";
		} else if (!p->empty) {
			out[i].state = "occupied";
		} else if (by) {
			out[i].state = "held";
			out[i].by = by;
		} else if (res_by && res_by[i]) {
			out[i].state = "reserved";
			out[i].by = res_by[i];
		} else {
			out[i].state = "empty";
		}
	}
	return b->layout.nports;
}
