/* SPDX-License-Identifier: MIT */
/*
 * bus-manager.c — org.mmiod1.Manager at /org/mmiod1: its properties,
 * methods and signals, with its vtable at the end.  Translation only:
 * each method unpacks its call, validates it (ops_X_validate), asks for
 * authorization where it changes something (authz.c: the method runs
 * again once polkit answered), calls the operation (ops.c, ops-plan.c)
 * and packs what comes back.  Error names: bus-errors.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "authz.h"
#include "bus-errors.h"
#include "bus-options.h"
#include "bus.h"
#include "cleanup.h"
#include "mmiod-names.h"
#include "ops.h"
#include "strv.h"

/* ---- helpers ----------------------------------------------------------------- */

int bus_append_placement(sd_bus_message *m, const struct books_entry *e, size_t n)
{
	int r = sd_bus_message_open_container(m, 'a', MMIOD_SIG_PLACE);

	for (size_t d = 0; r >= 0 && d < n; d++)
		for (unsigned i = 0; r >= 0 && i < e[d].nbars; i++) {
			const struct books_bar *b = &e[d].bars[i];
			char win[80];
			books_bar_window_name(&e[d], b, win, sizeof(win));
			r = sd_bus_message_append(m, MMIOD_SIG_PLACE, e[d].spec, books_bar_number(&b->bar),
						  mmio_bar_kind_name(&b->bar), b->bar.size, win,
						  b->placed ? b->addr : UINT64_C(0), (int)b->placed);
		}
	return r < 0 ? r : sd_bus_message_close_container(m);
}

/* ---- call counters ---------------------------------------------------------------- */

const char *const bus_counted_methods[BUS_COUNTED_METHODS] = {
	"Check", "Attach", "Detach", "Reserve", "Release", "Plan", "ListProfiles",
};

static int method_index(sd_bus_message *m)
{
	for (int i = 0; i < BUS_COUNTED_METHODS; i++)
		if (sd_bus_message_is_method_call(m, MMIOD_IFACE_MANAGER, bus_counted_methods[i]) > 0)
			return i;
	return -1;
}

/* An error reply sent later (a held call answered with an error). */
static void count_error(struct bus_ctx *bc, sd_bus_message *m)
{
	int i = method_index(m);

	if (i >= 0)
		bc->errors[i]++;
}

typedef int (*method_fn)(sd_bus_message *m, void *ud, sd_bus_error *error);

/* Runs a method and counts the call once: not when it only asked polkit
 * (it runs again with the answer), and as an error when sd-bus is about to
 * reply with one.  Errors of calls answered later: count_error. */
static int counted(method_fn fn, sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	int i = method_index(m);
	int r = fn(m, ud, error);

	if (i < 0)
		return r;
	if (r < 0 || sd_bus_error_is_set(error)) {
		bc->calls[i]++;
		bc->errors[i]++;
	} else if (!authz_pending(bc->authz, m)) {
		bc->calls[i]++;
	}
	return r;
}
#define COUNTED(fn) \
	static int fn##_counted(sd_bus_message *m, void *ud, sd_bus_error *error) \
	{ return counted(fn, m, ud, error); }

/* ---- held calls ---------------------------------------------------------------- */

/* A call answered later, from an operation's callback. */
struct held_call {
	struct bus_ctx *bc;
	sd_bus_message *m;              /* NULL once answered */
	char **devices;                 /* the call's device list (Check, Reserve) */
	bool wait;                      /* Attach: answer at the end, not once admitted */
};

static struct held_call *held_new(struct bus_ctx *bc, sd_bus_message *m)
{
	struct held_call *h = calloc(1, sizeof(*h));
	if (h) {
		h->bc = bc;
		h->m = sd_bus_message_ref(m);
	}
	return h;
}

static void held_free(struct held_call *h)
{
	if (!h)
		return;
	sd_bus_message_unref(h->m);
	strv_free(h->devices);
	free(h);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct held_call *, held_free);

/* "(s guest, as devices, a{sv} options)": *h holds the call and its devices. */
static int read_guest_devices(struct bus_ctx *bc, sd_bus_message *m, const char *allowed,
			      const char **guest, struct held_call **h, struct bus_opts *o,
			      sd_bus_error *error)
{
	int r;

	*h = held_new(bc, m);
	if (!*h)
		return -ENOMEM;
	r = sd_bus_message_read(m, "s", guest);
	if (r >= 0)
		r = sd_bus_message_read_strv(m, &(*h)->devices);
	return r < 0 ? r : bus_opts_read(m, allowed, o, error);
}

/* "(s guest, s what, a{sv} options)". */
static int read_guest_what(sd_bus_message *m, const char *allowed, const char **guest,
			   const char **what, struct bus_opts *o, sd_bus_error *error)
{
	int r = sd_bus_message_read(m, "ss", guest, what);

	return r < 0 ? r : bus_opts_read(m, allowed, o, error);
}

/* Answers with err, or with what pack() appends to a method return. */
static void held_reply(struct held_call *h, const struct ops_error *err,
		       int (*pack)(sd_bus_message *reply, const void *ud), const void *ud)
{
	if (!h->m)
		return;
	if (err) {
		count_error(h->bc, h->m);
		bus_reply_ops_error(h->m, err);
	} else {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		int r = sd_bus_message_new_method_return(h->m, &reply);
		if (r >= 0 && pack)
			r = pack(reply, ud);
		if (r >= 0)
			r = sd_bus_send(NULL, reply, NULL);
		if (r < 0) {
			count_error(h->bc, h->m);
			bus_reply_unbuilt(h->m);
		}
	}
	h->m = sd_bus_message_unref(h->m);
	bus_kick(h->bc);
}

/* The call is answered: then it goes. */
static void held_finish(struct held_call *h, const struct ops_error *err,
			int (*pack)(sd_bus_message *reply, const void *ud), const void *ud)
{
	held_reply(h, err, pack, ud);
	held_free(h);
}

/* "s id" then the placement. */
struct id_placement {
	const char *id;
	const struct books_entry *e;
	size_t n;
};

static int pack_id_placement(sd_bus_message *reply, const void *ud)
{
	const struct id_placement *p = ud;
	int r = sd_bus_message_append(reply, "s", p->id);
	return r < 0 ? r : bus_append_placement(reply, p->e, p->n);
}

/* ---- Check ------------------------------------------------------------------ */

struct fit {
	bool fits;
	const char *reason;
	const struct books_entry *e;
	size_t n;
};

static int pack_fit(sd_bus_message *reply, const void *ud)
{
	const struct fit *f = ud;
	int r = sd_bus_message_append(reply, "bs", f->fits, f->reason);
	return r < 0 ? r : bus_append_placement(reply, f->e, f->n);
}

static void check_done(void *ud, const struct ops_error *err, bool fits, const char *reason,
		       const struct books_entry *placement, size_t n)
{
	struct held_call *h = ud;
	struct fit f = { fits, reason, placement, n };

	held_finish(h, err, pack_fit, &f);
}

static int method_check(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	_cleanup_(held_freep) struct held_call *h = NULL;
	struct ops_error err = { 0 };
	const char *guest;
	struct bus_opts o;
	int r = read_guest_devices(bc, m, MMIOD_OPT_REFRESH " " MMIOD_OPT_PORT, &guest, &h, &o, error);

	if (r < 0)
		return r;
	struct ops_check_req req = { .guest = guest, .devices = h->devices, .port = o.port,
				     .refresh = o.refresh };
	if (ops_check(bc->d, &req, check_done, h, &err) < 0)
		return bus_error_set_ops(error, &err);
	TAKE_PTR(h);    /* check_done has it (and may have run already) */
	return 1;
}

/* ---- Attach --------------------------------------------------------------- */

static void attach_admitted(void *ud, const char *attach_id, const struct books_entry *placement)
{
	struct held_call *h = ud;
	struct id_placement p = { attach_id, placement, 1 };

	if (!h->wait)
		held_reply(h, NULL, pack_id_placement, &p);
}

static void attach_answer(void *ud, const struct ops_error *err, const char *attach_id,
			    const struct books_entry *placement)
{
	struct held_call *h = ud;
	struct id_placement p = { attach_id, placement, placement ? 1 : 0 };

	held_finish(h, err, pack_id_placement, &p);
}

static const struct ops_attach_cbs attach_cbs = {
	.admitted = attach_admitted,
	.finished = attach_answer,
};

static int method_attach(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	struct ops_error err = { 0 };
	const char *guest, *device;
	struct bus_opts o;
	int r;

	r = read_guest_what(m, MMIOD_OPT_QEMU_DEVICE " " MMIOD_OPT_RESERVATION " " MMIOD_OPT_PERSISTENT
			    " " MMIOD_OPT_ASSIGNABLE " " MMIOD_OPT_WAIT " " MMIOD_OPT_INTERACTIVE
			    " " MMIOD_OPT_PORT, &guest, &device, &o, error);
	if (r < 0)
		return r;
	struct ops_attach_req req = {
		.guest = guest, .device = device, .qemu_device = o.qemu_device,
		.reservation = o.reservation, .port = o.port,
		.persistent = o.persistent, .assignable = o.assignable,
	};
	if (ops_attach_validate(bc->d, &req, &err) < 0)
		return bus_error_set_ops(error, &err);
	r = authz_verify(bc->authz, m, MMIOD_POLKIT_ACTION_MANAGE, o.interactive, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	_cleanup_(held_freep) struct held_call *h = held_new(bc, m);
	if (!h)
		return -ENOMEM;
	h->wait = o.wait;
	if (ops_attach(bc->d, &req, &attach_cbs, h, &err) < 0)
		return bus_error_set_ops(error, &err);
	TAKE_PTR(h);
	return 1;
}

/* ---- Detach ----------------------------------------------------------------- */

static int pack_nothing(sd_bus_message *reply, const void *ud)
{
	(void)reply;
	(void)ud;
	return 0;
}

static void answered_done(void *ud, const struct ops_error *err)
{
	struct held_call *h = ud;

	held_finish(h, err, pack_nothing, NULL);
}

static int method_detach(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	struct ops_error err = { 0 };
	const char *guest, *device;
	struct bus_opts o;
	int r;

	r = read_guest_what(m, MMIOD_OPT_INTERACTIVE, &guest, &device, &o, error);
	if (r < 0)
		return r;
	struct ops_detach_req req = { .guest = guest, .device = device };
	if (ops_detach_validate(bc->d, &req, &err) < 0)
		return bus_error_set_ops(error, &err);
	r = authz_verify(bc->authz, m, MMIOD_POLKIT_ACTION_MANAGE, o.interactive, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	_cleanup_(held_freep) struct held_call *h = held_new(bc, m);
	if (!h)
		return -ENOMEM;
	if (ops_detach(bc->d, &req, answered_done, h, &err) < 0)
		return bus_error_set_ops(error, &err);
	TAKE_PTR(h);
	return 1;
}

/* ---- Reserve / Release -------------------------------------------------------- */

static void reserve_done(void *ud, const struct ops_error *err, const char *id,
			 const struct books_entry *placement, size_t n)
{
	struct held_call *h = ud;
	struct id_placement p = { id, placement, n };

	held_finish(h, err, pack_id_placement, &p);
}

static int method_reserve(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	_cleanup_(held_freep) struct held_call *h = NULL;
	struct ops_error err = { 0 };
	const char *guest;
	struct bus_opts o;
	int r = read_guest_devices(bc, m, MMIOD_OPT_LABEL " " MMIOD_OPT_INTERACTIVE, &guest, &h, &o,
				   error);

	if (r < 0)
		return r;
	struct ops_reserve_req req = { .guest = guest, .devices = h->devices, .label = o.label };
	if (ops_reserve_validate(bc->d, &req, &err) < 0)
		return bus_error_set_ops(error, &err);
	r = authz_verify(bc->authz, m, MMIOD_POLKIT_ACTION_MANAGE, o.interactive, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	if (ops_reserve(bc->d, &req, reserve_done, h, &err) < 0)
		return bus_error_set_ops(error, &err);
	TAKE_PTR(h);
	return 1;
}

static int method_release(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	struct ops_error err = { 0 };
	const char *guest, *id;
	struct bus_opts o;
	int r;

	r = read_guest_what(m, MMIOD_OPT_INTERACTIVE, &guest, &id, &o, error);
	if (r < 0)
		return r;
	struct ops_release_req req = { .guest = guest, .id = id };
	if (ops_release_validate(bc->d, &req, &err) < 0)
		return bus_error_set_ops(error, &err);
	r = authz_verify(bc->authz, m, MMIOD_POLKIT_ACTION_MANAGE, o.interactive, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	if (ops_release(bc->d, &req, &err) < 0)
		return bus_error_set_ops(error, &err);
	return sd_bus_reply_method_return(m, "");
}

/* ---- Plan, ListProfiles ---------------------------------------------------- */

static int plan_reply(sd_bus_message *m, const struct ops_plan *o)
{
	sd_bus_message *reply = NULL;
	int r = sd_bus_message_new_method_return(m, &reply);

	if (r >= 0)
		r = sd_bus_message_append(reply, "bs", (int)o->possible, o->reason);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "{sv}");
	if (r >= 0 && o->have_xen) {
		r = sd_bus_message_append(reply, "{sv}", "mmio_hole_mib", "u",
					  (uint32_t)(o->x.verdict == MMIO_PLAN_NEEDS_HOLE ? o->x.hole_mb : 0));
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "high_window_bytes", "t", o->x.high_used);
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "xl_cfg", "s", o->xl_cfg);
	}
	if (r >= 0 && o->have_qemu) {
		r = sd_bus_message_append(reply, "{sv}", "pci_hole64_bytes", "t", o->q.hole64_size);
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "qemu_args", "s", o->qemu_args);
		if (r >= 0)
			r = sd_bus_message_append(reply, "{sv}", "libvirt_xml", "s", o->libvirt_xml);
		if (r >= 0 && o->machine == MMIO_QEMU_Q35)
			r = sd_bus_message_append(reply, "{sv}", "port_args", "s", o->port_args);
		if (r >= 0 && o->machine == MMIO_QEMU_Q35)
			r = sd_bus_message_append(reply, "{sv}", "libvirt_port_xml", "s",
						  o->libvirt_port_xml);
		if (r >= 0 && o->have_ovmf)
			r = sd_bus_message_append(reply, "{sv}", "ovmf_mmio64_mb", "t", o->ovmf.mmio64_mb);
		if (r >= 0 && o->have_ovmf)
			r = sd_bus_message_append(reply, "{sv}", "ovmf_qemu_args", "s", o->ovmf.qemu_args);
		if (r >= 0 && o->have_ovmf)
			r = sd_bus_message_append(reply, "{sv}", "ovmf_libvirt_xml", "s",
						  o->ovmf.libvirt_xml);
	}
	/* 32-bit demand: QEMU's packed figure when there is one, else Xen's sum */
	if (r >= 0 && (o->have_qemu || o->have_xen))
		r = sd_bus_message_append(reply, "{sv}", "low_bytes_needed", "t",
					  o->have_qemu ? o->q.low_need : o->x.later32);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int method_plan(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	_cleanup_(strv_freep) char **devices = NULL;
	_cleanup_free_ struct ops_plan *plan = NULL;
	struct ops_error err = { 0 };
	const char *guest;
	struct bus_opts o;
	int r;

	r = sd_bus_message_read_strv(m, &devices);
	if (r >= 0)
		r = sd_bus_message_read(m, "s", &guest);
	if (r >= 0)
		r = bus_opts_read(m, BUS_OPT_MACHINE " " BUS_OPT_XEN_MEMORY_MIB " " BUS_OPT_XEN_VERSION " " BUS_OPT_FIRMWARE,
			      &o, error);
	if (r < 0)
		return r;
	plan = malloc(sizeof(*plan));
	if (!plan)
		return -ENOMEM;
	struct ops_plan_req req = {
		.devices = devices, .guest = guest, .machine = o.machine,
		.xen_version = o.xen_version, .have_xen_memory = o.have_xen_memory,
		.xen_memory_mib = o.xen_memory_mib, .firmware = o.firmware,
	};
	if (ops_plan(bc->d, &req, plan, &err) < 0)
		return bus_error_set_ops(error, &err);
	r = plan_reply(m, plan);
	return r < 0 ? r : 1;
}

static int method_list_profiles(sd_bus_message *m, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	const struct daemon *d = bc->d;
	sd_bus_message *reply = NULL;
	char spec[512];
	int r;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_PROFILE);
	for (size_t i = 0; r >= 0 && d->have_cat && i < d->cat.n; i++) {
		const struct mmio_profile *p = &d->cat.profiles[i];
		mmio_bars_format(&p->device, spec, sizeof(spec));
		r = sd_bus_message_append(reply, MMIOD_SIG_PROFILE, p->name, p->description, spec, p->source);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

COUNTED(method_check)
COUNTED(method_attach)
COUNTED(method_detach)
COUNTED(method_reserve)
COUNTED(method_release)
COUNTED(method_plan)
COUNTED(method_list_profiles)

/* ---- properties ------------------------------------------------------------ */

static int get_version(sd_bus *bus, const char *path, const char *iface, const char *prop,
		       sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "u", MMIOD_API_VERSION);
}

static int get_backends(sd_bus *bus, const char *path, const char *iface, const char *prop,
			sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	const struct daemon *d = bc->d;
	int r = sd_bus_message_open_container(reply, 'a', "s");

	for (size_t i = 0; r >= 0 && i < d->nbackends; i++)
		if (d->backends[i]->be)
			r = sd_bus_message_append(reply, "s", d->backends[i]->spec);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_calls(sd_bus *bus, const char *path, const char *iface, const char *prop,
		     sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	int r = sd_bus_message_open_container(reply, 'a', "(stt)");

	for (int i = 0; r >= 0 && i < BUS_COUNTED_METHODS; i++)
		r = sd_bus_message_append(reply, "(stt)", bus_counted_methods[i], bc->calls[i],
					  bc->errors[i]);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* Every configured back end: "running" with its guests, or "failed" (it
 * would not open: no hypervisor, no libvirtd, no such directory). */
static int get_backend_states(sd_bus *bus, const char *path, const char *iface, const char *prop,
			      sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	const struct daemon *d = bc->d;
	int r = sd_bus_message_open_container(reply, 'a', "(ssu)");

	for (size_t k = 0; r >= 0 && d->cfg.backends && d->cfg.backends[k]; k++) {
		uint32_t guests;
		bool running = daemon_backend_state(d, d->cfg.backends[k], &guests);
		r = sd_bus_message_append(reply, "(ssu)", d->cfg.backends[k], running ? "running" : "failed",
					  guests);
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_backend_status(sd_bus *bus, const char *path, const char *iface, const char *prop,
			      sd_bus_message *reply, void *ud, sd_bus_error *error)
{
	struct bus_ctx *bc = ud;
	const struct daemon *d = bc->d;
	int r = sd_bus_message_open_container(reply, 'a', MMIOD_SIG_BACKEND);

	for (size_t i = 0; r >= 0 && i < d->nbackends; i++) {
		const struct backend_inst *bi = d->backends[i];
		if (bi->be)
			r = sd_bus_message_append(reply, MMIOD_SIG_BACKEND, bi->spec, !bi->disconnected,
						  bi->state_since_usec, bi->state_msg);
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* Everything is SD_BUS_VTABLE_UNPRIVILEGED: read-only calls need no
 * credentials at all (sd-bus would otherwise fetch them on every call);
 * the state-changing ones ask authz.c. */
#define OPEN SD_BUS_VTABLE_UNPRIVILEGED
const sd_bus_vtable bus_manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "u", get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Backends", "as", get_backends, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Calls", "a(stt)", get_calls, 0, 0),
	SD_BUS_PROPERTY("BackendStates", "a(ssu)", get_backend_states, 0, 0),
	SD_BUS_PROPERTY("BackendStatus", "a" MMIOD_SIG_BACKEND, get_backend_status, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_ARGS("Check",
		SD_BUS_ARGS("s", guest, "as", devices, "a{sv}", options),
		SD_BUS_RESULT("b", fits, "s", reason, "a(suststb)", placement),
		method_check_counted, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Attach",
		SD_BUS_ARGS("s", guest, "s", device, "a{sv}", options),
		SD_BUS_RESULT("s", attach_id, "a(suststb)", placement),
		method_attach_counted, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Detach",
		SD_BUS_ARGS("s", guest, "s", device, "a{sv}", options),
		SD_BUS_NO_RESULT,
		method_detach_counted, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Reserve",
		SD_BUS_ARGS("s", guest, "as", devices, "a{sv}", options),
		SD_BUS_RESULT("s", id, "a(suststb)", placement),
		method_reserve_counted, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Release",
		SD_BUS_ARGS("s", guest, "s", id, "a{sv}", options),
		SD_BUS_NO_RESULT,
		method_release_counted, OPEN),
	SD_BUS_METHOD_WITH_ARGS("Plan",
		SD_BUS_ARGS("as", devices, "s", guest, "a{sv}", options),
		SD_BUS_RESULT("b", possible, "s", reason, "a{sv}", result),
		method_plan_counted, OPEN),
	SD_BUS_METHOD_WITH_ARGS("ListProfiles",
		SD_BUS_NO_ARGS,
		SD_BUS_RESULT("a(ssss)", profiles),
		method_list_profiles_counted, OPEN),
	SD_BUS_SIGNAL_WITH_ARGS("AttachFinished",
		SD_BUS_ARGS("s", guest, "s", attach_id, "s", device, "b", success, "s", error_name,
			    "s", message), 0),
	SD_BUS_SIGNAL_WITH_ARGS("GuestAdded", SD_BUS_ARGS("s", guest, "o", path), 0),
	SD_BUS_SIGNAL_WITH_ARGS("GuestRemoved", SD_BUS_ARGS("s", guest, "o", path), 0),
	SD_BUS_VTABLE_END
};

int bus_manager_register(struct bus_ctx *bc)
{
	int r = sd_bus_add_object_vtable(bc->bus, NULL, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER,
					 bus_manager_vtable, bc);
	if (r >= 0)
		r = sd_bus_add_object_manager(bc->bus, NULL, MMIOD_PATH_ROOT);
	return r;
}

/* ---- signals (the daemon's observer, bus-service.c) ---------------------------- */

void bus_manager_backends_changed(struct bus_ctx *bc)
{
	sd_bus_emit_properties_changed(bc->bus, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER, "Backends",
				       "BackendStatus", NULL);
	bus_kick(bc);
}

void bus_manager_attach_finished(struct bus_ctx *bc, const struct guest *g, const char *attach_id,
				 const char *device, const struct ops_error *err)
{
	sd_bus_emit_signal(bc->bus, MMIOD_PATH_MANAGER, MMIOD_IFACE_MANAGER, "AttachFinished", "sssbss",
			   g->id, attach_id, device, err == NULL, err ? bus_error_name(err) : "",
			   err ? err->msg : "attached");
	bus_kick(bc);
}
