/* SPDX-License-Identifier: MIT */
/*
 * fake-libxl.c — just enough of libxenlight to run the libxl back end
 * (daemon/toolstack-libxl.c) without a hypervisor, with domains whose
 * device model can be "stopped" (as a SIGSTOPped qemu-xen: libxl's QMP
 * calls for it never finish) and started again.
 *
 * Linked into a test program before the real libxenlight, these
 * definitions take the place of libxl's own for the back end's calls;
 * the IDL helpers (libxl_domain_config_init/dispose, ...) stay the real
 * ones.  Asynchronous operations complete the way libxl's do: through the
 * application's osevent hooks (a timeout registered for "now", whose
 * libxl_osevent_occurred_timeout runs the ao's callback), so the back
 * end's hook plumbing is exercised too.  libxl_ao_abort finds an ao by
 * its how, as libxl does, and completes it with ERROR_ABORTED.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "fake-libxl.h"

enum ao_kind { AO_CONFIG, AO_MONITOR, AO_PCI_ADD, AO_PCI_REMOVE };

struct fake_ao {
	struct fake_ao *next;
	enum ao_kind kind;
	libxl_asyncop_how how;
	uint32_t domid;
	libxl_domain_config *cfg;       /* AO_CONFIG: filled on completion */
	char **out;                     /* AO_MONITOR */
	char cmd[64];
	int rc;                         /* set when it is due */
	bool due;                       /* its completion is scheduled */
	void *reg;                      /* the application's timeout registration */
};

static struct {
	const libxl_osevent_hooks *hooks;
	void *user;
	struct fake_domain doms[FAKE_LIBXL_MAX_DOMS];
	size_t ndoms;
	struct fake_ao *aos;
	struct fake_libxl_stats stats;
} F;

/* libxl_ctx is opaque: any non-NULL pointer of ours will do. */
static char ctx_token;

void fake_libxl_reset(void)
{
	memset(&F, 0, sizeof(F));
}

struct fake_domain *fake_libxl_add(uint32_t domid, const char *name, const char *info_pci)
{
	if (F.ndoms >= FAKE_LIBXL_MAX_DOMS)
		return NULL;
	struct fake_domain *d = &F.doms[F.ndoms++];
	memset(d, 0, sizeof(*d));
	d->domid = domid;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->info_pci = info_pci;
	return d;
}

static struct fake_domain *dom(uint32_t domid)
{
	for (size_t i = 0; i < F.ndoms; i++)
		if (F.doms[i].domid == domid)
			return &F.doms[i];
	return NULL;
}

const struct fake_libxl_stats *fake_libxl_stats(void)
{
	unsigned n = 0;
	for (struct fake_ao *a = F.aos; a; a = a->next)
		n++;
	F.stats.outstanding = n;
	return &F.stats;
}

/* Schedules a's completion with rc through the application's hooks. */
static void complete_soon(struct fake_ao *a, int rc)
{
	struct timeval now;
	if (a->due)
		return;
	a->due = true;
	a->rc = rc;
	gettimeofday(&now, NULL);
	F.hooks->timeout_register(F.user, &a->reg, now, a);
}

/* An ao for a stopped device model waits; anything else completes now. */
static int start(enum ao_kind kind, uint32_t domid, const libxl_asyncop_how *how,
		 libxl_domain_config *cfg, char **out, const char *cmd)
{
	struct fake_domain *d = dom(domid);
	struct fake_ao *a;

	if (!how || !F.hooks)
		return ERROR_INVAL;     /* the back end always goes asynchronous */
	if (!d)
		return ERROR_DOMAIN_NOTFOUND;
	a = calloc(1, sizeof(*a));
	if (!a)
		return ERROR_NOMEM;
	a->kind = kind;
	a->how = *how;
	a->domid = domid;
	a->cfg = cfg;
	a->out = out;
	snprintf(a->cmd, sizeof(a->cmd), "%s", cmd ? cmd : "");
	a->next = F.aos;
	F.aos = a;
	F.stats.started++;
	/* The configuration comes from xenstore and libxl's JSON, not from
	 * the device model: it answers for a stopped one too. */
	if (kind == AO_CONFIG && d->config_fails) {
		d->config_fails--;
		complete_soon(a, ERROR_FAIL);
	} else if (kind == AO_MONITOR && d->dm_fails) {
		d->dm_fails--;
		complete_soon(a, ERROR_FAIL);
	} else if (kind == AO_CONFIG || !d->dm_stopped) {
		complete_soon(a, 0);
	}
	return 0;
}

void fake_libxl_stop(uint32_t domid)
{
	struct fake_domain *d = dom(domid);
	if (d)
		d->dm_stopped = true;
}

void fake_libxl_cont(uint32_t domid)
{
	struct fake_domain *d = dom(domid);
	if (!d)
		return;
	d->dm_stopped = false;
	for (struct fake_ao *a = F.aos; a; a = a->next)
		if (a->domid == domid)
			complete_soon(a, 0);
}

static void fill_config(struct fake_domain *d, libxl_domain_config *c)
{
	c->c_info.type = LIBXL_DOMAIN_TYPE_HVM;
	c->c_info.name = strdup(d->name);
	memset(&c->c_info.uuid, 0, sizeof(c->c_info.uuid));
	c->c_info.uuid.uuid[15] = (uint8_t)d->domid;
	c->c_info.passthrough = d->passthrough;
	libxl_domain_build_info_init_type(&c->b_info, LIBXL_DOMAIN_TYPE_HVM);
	c->b_info.max_memkb = 1024 * 1024;
	c->b_info.video_memkb = 8 * 1024;
	/* What libxl_retrieve_domain_configuration gives for a domain created
	 * without mmio_hole= (its stored JSON leaves the field out). */
	c->b_info.u.hvm.mmio_hole_memkb = LIBXL_MEMKB_DEFAULT;
	c->b_info.device_model_version = LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN;
	c->b_info.u.hvm.vga.kind = LIBXL_VGA_INTERFACE_TYPE_CIRRUS;
}

/* ---- the libxl functions the back end calls -------------------------------- */

int libxl_ctx_alloc(libxl_ctx **pctx, int version, unsigned flags, xentoollog_logger *lg)
{
	*pctx = (libxl_ctx *)&ctx_token;
	return 0;
}

int libxl_ctx_free(libxl_ctx *ctx)
{
	/* The real one asserts that no fd or timeout of an ao is still
	 * registered; counted here so that a test can say so. */
	for (struct fake_ao *a = F.aos; a; a = a->next)
		F.stats.freed_with_aos++;
	while (F.aos) {
		struct fake_ao *a = F.aos;
		F.aos = a->next;
		free(a);
	}
	return 0;
}

void libxl_childproc_setmode(libxl_ctx *ctx, const libxl_childproc_hooks *hooks, void *user)
{
	/* The real one registers its SIGCHLD self-pipe's fd at once, with
	 * whatever osevent hooks there are by then. */
	if (!F.hooks)
		F.stats.setmode_before_hooks = true;
}

void libxl_osevent_register_hooks(libxl_ctx *ctx, const libxl_osevent_hooks *hooks, void *user)
{
	F.hooks = hooks;
	F.user = user;
}

void libxl_event_register_callbacks(libxl_ctx *ctx, const libxl_event_hooks *hooks, void *user)
{
}

void libxl_osevent_occurred_fd(libxl_ctx *ctx, void *for_libxl, int fd, short events,
			       short revents)
{
}

void libxl_osevent_occurred_timeout(libxl_ctx *ctx, void *for_libxl)
{
	struct fake_ao *a = for_libxl, **pp;

	for (pp = &F.aos; *pp && *pp != a; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	*pp = a->next;
	if (a->rc == 0) {
		struct fake_domain *d = dom(a->domid);
		switch (a->kind) {
		case AO_CONFIG:
			if (d)
				fill_config(d, a->cfg);
			break;
		case AO_MONITOR:
			*a->out = strdup(strcmp(a->cmd, "info pci") == 0 && d && d->info_pci ?
					 d->info_pci : "QEMU emulator version 7.2.0\r\n");
			break;
		case AO_PCI_ADD:
			F.stats.pci_added++;
			break;
		case AO_PCI_REMOVE:
			break;
		}
	}
	F.stats.completed++;
	/* libxl calls the ao's callback from the entry point that completed it */
	a->how.callback(ctx, a->rc, a->how.u.for_callback);
	free(a);
}

void libxl_event_free(libxl_ctx *ctx, libxl_event *event)
{
	free(event);
}

static char death_token;

int libxl_evenable_domain_death(libxl_ctx *ctx, uint32_t domid, libxl_ev_user user,
				libxl_evgen_domain_death **evgen_out)
{
	*evgen_out = (libxl_evgen_domain_death *)&death_token;
	return 0;
}

void libxl_evdisable_domain_death(libxl_ctx *ctx, libxl_evgen_domain_death *evgen)
{
}

libxl_dominfo *libxl_list_domain(libxl_ctx *ctx, int *nb_domain_out)
{
	libxl_dominfo *v = calloc(F.ndoms + 1, sizeof(*v));
	if (!v)
		return NULL;
	v[0].domid = 0;         /* dom0, which the back end skips */
	for (size_t i = 0; i < F.ndoms; i++)
		v[i + 1].domid = F.doms[i].domid;
	*nb_domain_out = (int)F.ndoms + 1;
	return v;
}

void libxl_dominfo_list_free(libxl_dominfo *list, int nb_domain)
{
	free(list);
}

int libxl_retrieve_domain_configuration(libxl_ctx *ctx, uint32_t domid,
					libxl_domain_config *d_config,
					const libxl_asyncop_how *ao_how)
{
	return start(AO_CONFIG, domid, ao_how, d_config, NULL, NULL);
}

int libxl_qemu_monitor_command(libxl_ctx *ctx, uint32_t domid, const char *command_line,
			       char **output, const libxl_asyncop_how *ao_how)
{
	return start(AO_MONITOR, domid, ao_how, NULL, output, command_line);
}

int libxl_device_pci_add(libxl_ctx *ctx, uint32_t domid, libxl_device_pci *pcidev,
			 const libxl_asyncop_how *ao_how)
{
	return start(AO_PCI_ADD, domid, ao_how, NULL, NULL, NULL);
}

int libxl_device_pci_remove(libxl_ctx *ctx, uint32_t domid, libxl_device_pci *pcidev,
			    const libxl_asyncop_how *ao_how)
{
	return start(AO_PCI_REMOVE, domid, ao_how, NULL, NULL, NULL);
}

int libxl_device_pci_assignable_add(libxl_ctx *ctx, libxl_device_pci *pci, int rebind)
{
	return 0;
}

int libxl_ao_abort(libxl_ctx *ctx, const libxl_asyncop_how *how)
{
	for (struct fake_ao *a = F.aos; a; a = a->next) {
		if (a->how.callback != how->callback ||
		    a->how.u.for_callback != how->u.for_callback)
			continue;
		if (a->due)
			return a->rc == ERROR_ABORTED ? ERROR_ABORTED : ERROR_NOTFOUND;
		F.stats.aborted++;
		complete_soon(a, ERROR_ABORTED);
		return 0;
	}
	return ERROR_NOTFOUND;
}
