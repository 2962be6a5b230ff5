/* SPDX-License-Identifier: MIT */
/*
 * main.c — mmiod: options, configuration, back ends, signals, sd_notify,
 * the libevent loop (sd-bus runs on it: bus-service.c, bus-loop.c).
 * Objects first, name last: state is loaded, objects exist and back ends
 * are opened before org.mmiod1 is requested.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <ini.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "cleanup.h"
#include "daemon.h"
#include "event-util.h"
#include "log.h"
#include "mmiod-names.h"
#include "state.h"
#include "strv.h"
#include "toolstack-registry.h"
#include "worker.h"

/* ---- configuration ---------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	char *r = strdup(s);
	if (!r) {
		fprintf(stderr, "mmiod: out of memory\n");
		exit(1);
	}
	return r;
}

/* The configuration's vectors; running out of memory while reading the
 * configuration ends mmiod. */
static void strv_push_or_exit(char ***v, const char *s)
{
	if (strv_push(v, s) < 0) {
		fprintf(stderr, "mmiod: out of memory\n");
		exit(1);
	}
}

static void strv_clear(char ***v)
{
	strv_free(*v);
	*v = NULL;
}

struct conf_ctx {
	struct daemon_config *cfg;
	bool set_backends, set_catalogue, set_margin;
	char error[600];   /* room for a parser message (512) and its key */
};

/* A duration of mmiod.conf: seconds ("5", "0.5", "5s") or milliseconds
 * ("500ms"), from 100 ms to one hour.  0 with *ms set, or -1. */
static int parse_duration_ms(const char *value, unsigned *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (errno || end == value || v != v)
		return -1;
	if (strcmp(end, "ms") == 0)
		v /= 1000.0;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	if (v < 0.1 || v > 3600.0)
		return -1;
	*ms = (unsigned)(v * 1000.0 + 0.5);
	return 0;
}

static int conf_handler(void *ud, const char *section, const char *name, const char *value)
{
	struct conf_ctx *c = ud;

	if (strcmp(section, "daemon") != 0) {
		snprintf(c->error, sizeof(c->error), "unknown section [%s]", section);
		return 0;
	}
	if (strcmp(name, "backends") == 0) {
		if (c->set_backends)
			return 1;
		char *copy = xstrdup(value), *save = NULL;
		strv_clear(&c->cfg->backends);
		for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
			strv_push_or_exit(&c->cfg->backends, t);
		free(copy);
	} else if (strcmp(name, "catalogue") == 0) {
		if (!c->set_catalogue) {
			free(c->cfg->catalogue);
			c->cfg->catalogue = xstrdup(value);
		}
	} else if (strcmp(name, "safety_margin") == 0) {
		struct mmio_error err = { 0 };
		if (!c->set_margin && mmio_size_parse(value, &c->cfg->safety_margin, &err) != MMIO_OK) {
			snprintf(c->error, sizeof(c->error), "safety_margin: %s", err.msg);
			return 0;
		}
	} else if (strcmp(name, "toolstack_timeout") == 0 || strcmp(name, "attach_timeout") == 0) {
		unsigned *to = name[0] == 't' ? &c->cfg->call_timeout_ms : &c->cfg->attach_timeout_ms;
		if (parse_duration_ms(value, to) < 0) {
			snprintf(c->error, sizeof(c->error), "%s: \"%.200s\" is not a duration from "
				 "0.1 s to 3600 s (5, 0.5, 5s, 500ms)", name, value);
			return 0;
		}
	} else {
		snprintf(c->error, sizeof(c->error), "unknown key \"%s\" in [daemon]", name);
		return 0;
	}
	return 1;
}

/* Reads the config file (absent = defaults); flags given on the command
 * line win over it. */
static int config_load(struct daemon_config *cfg, bool set_backends, bool set_catalogue)
{
	struct conf_ctx c = { .cfg = cfg, .set_backends = set_backends, .set_catalogue = set_catalogue };
	int r;

	if (!cfg->config_file)
		return 0;
	r = ini_parse(cfg->config_file, conf_handler, &c);
	if (r == -1)
		return 0;       /* no file: defaults */
	if (r != 0) {
		log_error("%s:%d: %s", cfg->config_file, r, c.error[0] ? c.error : "syntax error");
		return -1;
	}
	return 0;
}

static void catalogue_load(struct daemon *d)
{
	struct mmio_error err = { 0 };
	struct mmio_catalogue cat = { 0 };

	if (mmio_catalogue_load(d->cfg.catalogue, &cat, &err) != MMIO_OK) {
		log_warn("device catalogue %s: %s (profile: devices unavailable)", d->cfg.catalogue, err.msg);
		return;
	}
	if (d->have_cat)
		mmio_catalogue_free(&d->cat);
	d->cat = cat;
	d->have_cat = true;
	log_debug("device catalogue %s: %zu profiles", d->cfg.catalogue, cat.n);
}

/* ---- back ends ---------------------------------------------------------------- */

static void backend_open(struct daemon *d, const char *spec)
{
	{
		const char *colon = strchr(spec, ':');
		char name[32];
		struct mmio_error err = { 0 };
		struct backend_inst *bi;

		snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
		const struct tsd_driver *drv = tsd_driver_find(name);
		if (!drv) {
			log_error("--backend %s: no back end \"%s\" in this build (have: %s)", spec, name,
				  tsd_driver_names());
			return;
		}
		bi = calloc(1, sizeof(*bi));
		struct backend_inst **v = realloc(d->backends, (d->nbackends + 1) * sizeof(*v));
		if (!bi || !v) {
			free(bi);
			if (v)
				d->backends = v;
			log_error("out of memory");
			return;
		}
		d->backends = v;
		bi->d = d;
		bi->drv = drv;
		snprintf(bi->spec, sizeof(bi->spec), "%s", spec);
		d->backends[d->nbackends++] = bi;
		int r = drv->open(&d->host, colon ? colon + 1 : "", 0, &bi->be, &err);
		if (r == 0 && bi->be) {
			snprintf(bi->be->spec, sizeof(bi->be->spec), "%s", spec);
			log_info("back end %s running", spec);
		} else {
			log_full(r == TSD_DECLINED ? LOG_NOTICE : LOG_ERR, NULL, "back end %s %s: %s", spec,
				 r == TSD_DECLINED ? "declined" : "failed", err.msg[0] ? err.msg : "no reason given");
			bi->be = NULL;
			d->nbackends--;
			free(bi);
		}
	}
}

static void backends_open(struct daemon *d)
{
	for (size_t i = 0; d->cfg.backends && d->cfg.backends[i]; i++)
		backend_open(d, d->cfg.backends[i]);
}

static bool strv_has(char **v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* SIGHUP: make the running back ends the configured ones.  A removed
 * back end's guests go away as if their toolstack had lost them
 * (reservations are kept for their return, as on any guest's departure);
 * one with operations in flight stays until the next reload, because a
 * closing back end drops its operations without answering them. */
static void backends_reload(struct daemon *d)
{
	bool changed = false;

	for (size_t i = 0; i < d->nbackends;) {
		struct backend_inst *bi = d->backends[i];
		if (strv_has(d->cfg.backends, bi->spec)) {
			i++;
			continue;
		}
		if (daemon_backend_busy(d, bi)) {
			log_warn("back end %s: operations in flight, kept for now (reload again to close it)",
				 bi->spec);
			i++;
			continue;
		}
		daemon_backend_drop_guests(d, bi);
		if (bi->be && bi->drv->close)
			bi->drv->close(bi->be);
		log_info("back end %s closed (no longer configured)", bi->spec);
		free(bi);
		memmove(&d->backends[i], &d->backends[i + 1], (d->nbackends - i - 1) * sizeof(*d->backends));
		d->nbackends--;
		changed = true;
	}
	for (size_t k = 0; d->cfg.backends && d->cfg.backends[k]; k++) {
		bool running = false;
		for (size_t i = 0; i < d->nbackends && !running; i++)
			running = strcmp(d->backends[i]->spec, d->cfg.backends[k]) == 0;
		if (running)
			continue;
		size_t before = d->nbackends;
		backend_open(d, d->cfg.backends[k]);
		changed |= d->nbackends != before;
	}
	if (changed)
		daemon_backends_changed(d);
}

static void default_backends(struct daemon *d)
{
	char path[4096];

	if (d->cfg.backends)
		return;
	const char *rt = getenv(MMIOD_ENV_RUNTIME_DIRECTORY);
	snprintf(path, sizeof(path), "qmp:%s/qmp", rt && *rt ? rt : MMIOD_DEFAULT_RUNTIME_DIR);
	strv_push_or_exit(&d->cfg.backends, path);
}

static void backends_close(struct daemon *d)
{
	for (size_t i = 0; i < d->nbackends; i++) {
		if (d->backends[i]->be && d->backends[i]->drv->close)
			d->backends[i]->drv->close(d->backends[i]->be);
		free(d->backends[i]);
	}
	free(d->backends);
	d->backends = NULL;
	d->nbackends = 0;
}

/* ---- signals, watchdog -------------------------------------------------------- */

static void sig_quit(evutil_socket_t sig, short what, void *ud)
{
	struct daemon *d = ud;
	log_info("signal %d: exiting", (int)sig);
	sd_notify(0, "STOPPING=1\nSTATUS=Exiting");
	d->quitting = true;
	event_base_loopbreak(d->base);
}

static void sig_reload(evutil_socket_t sig, short what, void *ud)
{
	struct daemon *d = ud;

	sd_notify(0, "RELOADING=1\nSTATUS=Reloading configuration");
	log_info("SIGHUP: reloading %s, the device catalogue and the back ends", d->cfg.config_file);
	/* a key removed from the file falls back to its default; flags given
	 * on the command line still win over the file */
	uint64_t old_margin = d->cfg.safety_margin;
	unsigned old_call = d->cfg.call_timeout_ms, old_attach = d->cfg.attach_timeout_ms;
	char **old_backends = d->cfg.backends;
	d->cfg.safety_margin = 0;
	d->cfg.call_timeout_ms = DAEMON_CALL_TIMEOUT_MS;
	d->cfg.attach_timeout_ms = DAEMON_ATTACH_TIMEOUT_MS;
	if (!d->cfg.cli_backends)
		d->cfg.backends = NULL;
	if (config_load(&d->cfg, d->cfg.cli_backends, d->cfg.cli_catalogue) < 0) {
		d->cfg.safety_margin = old_margin;   /* a broken file changes nothing */
		d->cfg.call_timeout_ms = old_call;
		d->cfg.attach_timeout_ms = old_attach;
		if (!d->cfg.cli_backends) {
			strv_clear(&d->cfg.backends);
			d->cfg.backends = old_backends;
			old_backends = NULL;
		}
	}
	if (!d->cfg.cli_backends && old_backends) {
		strv_clear(&old_backends);
		default_backends(d);
		backends_reload(d);
	}
	for (size_t i = 0; i < d->nguests; i++)
		d->guests[i]->books.safety_margin = d->cfg.safety_margin;
	/* the next toolstack calls get the new deadlines */
	d->host.call_timeout_ms = d->cfg.call_timeout_ms;
	d->host.attach_timeout_ms = d->cfg.attach_timeout_ms;
	catalogue_load(d);
	sd_notify(0, "READY=1\nSTATUS=Running");
}

static void watchdog_cb(evutil_socket_t fd, short what, void *ud)
{
	sd_notify(0, "WATCHDOG=1");
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mmiod [OPTIONS]\n"
		"MMIO admission daemon: admits PCI hot-plugs that fit a guest's MMIO windows.\n\n"
		"  --backend NAME:ARG     a toolstack back end (repeatable; have: %s)\n"
		"                         default qmp:$RUNTIME_DIRECTORY/qmp or qmp:" MMIOD_DEFAULT_RUNTIME_DIR "/qmp\n"
		"  --catalogue PATH       device catalogue (default $" MMIOD_ENV_CATALOGUE " or %s/profiles.ini)\n"
		"  --config PATH          configuration file (default %s/mmiod/mmiod.conf)\n"
		"  --state-dir DIR        books on disk (default $" MMIOD_ENV_STATE_DIRECTORY " or " MMIOD_DEFAULT_STATE_DIR ")\n"
		"  --sysfs-root DIR       where host devices are read (default /sys)\n"
		"  --session              use the session bus\n"
		"  --bus-address ADDR     connect to this bus (default: the system bus,\n"
		"                         honouring $" MMIOD_ENV_SYSTEM_BUS ")\n"
		"  --bus-introspect IFACE print the D-Bus XML of " MMIOD_IFACE_MANAGER " or " MMIOD_IFACE_GUEST " and exit\n"
		"  -v, --verbose          debug logging\n"
		"  --version              print the version and exit\n"
		"  -h, --help             this text\n\n"
		"Test only: " MMIOD_ENV_TEST_ABORT_AT "=before-toolstack|during-toolstack|after-toolstack|while-saving\n"
		"makes mmiod abort() at that step of an attach (fault injection for reliability tests).\n",
		tsd_driver_names(), MMIOD_PKGDATADIR, MMIOD_SYSCONFDIR);
}

static int introspect(const char *iface)
{
	const sd_bus_vtable *vt = NULL;

	if (strcmp(iface, MMIOD_IFACE_MANAGER) == 0)
		vt = bus_manager_vtable;
	else if (strcmp(iface, MMIOD_IFACE_GUEST) == 0)
		vt = bus_guest_vtable;
	else if (strcmp(iface, "all") != 0) {
		fprintf(stderr, "mmiod: --bus-introspect: unknown interface %s (have " MMIOD_IFACE_MANAGER
				", " MMIOD_IFACE_GUEST ", all)\n", iface);
		return 2;
	}
	printf("<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
	       "\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node>\n");
	if (vt)
		bus_introspect_print(stdout, iface, vt);
	else {
		bus_introspect_print(stdout, MMIOD_IFACE_MANAGER, bus_manager_vtable);
		bus_introspect_print(stdout, MMIOD_IFACE_GUEST, bus_guest_vtable);
	}
	printf("</node>\n");
	return 0;
}

static void load_state(struct daemon *d)
{
	struct mmio_error err = { 0 };
	struct json_object *root = NULL, *guests;
	enum mmio_status st = state_load(d->cfg.state_dir, MMIOD_STATE_FILE, &root, &err);

	if (st == MMIO_E_NOTFOUND)
		return;
	if (st != MMIO_OK) {
		log_full(LOG_ERR, &(struct log_fields){ .message_id = MMIOD_MESSAGE_STATE_CORRUPT }, "%s", err.msg);
		return;
	}
	if (json_object_object_get_ex(root, "guests", &guests) &&
	    json_object_is_type(guests, json_type_object)) {
		d->pending_state = json_object_get(guests);
		log_info("state: books of %d guest(s) loaded from %s/%s; reconciling as guests are announced",
			 json_object_object_length(guests), d->cfg.state_dir, MMIOD_STATE_FILE);
	}
	json_object_put(root);
}

/* Serves until SIGTERM or SIGINT: the objects, the back ends, the name,
 * the signals and the watchdog.  0, or 1 when the bus would not have us. */
static int serve(struct daemon *d, struct bus_ctx *bc)
{
	_cleanup_(event_freep) struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	_cleanup_(event_freep) struct event *ev_wd = NULL;
	uint64_t wd_usec = 0;

	/* objects first ... */
	if (bus_service_start(bc, d) < 0)
		return 1;
	backends_open(d);

	/* ... name last */
	if (bus_service_own_name(bc) < 0)
		return 1;

	ev_term = evsignal_new(d->base, SIGTERM, sig_quit, d);
	ev_int = evsignal_new(d->base, SIGINT, sig_quit, d);
	ev_hup = evsignal_new(d->base, SIGHUP, sig_reload, d);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);

	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec) {
		struct timeval tv = { (time_t)(wd_usec / 2 / 1000000u), (suseconds_t)(wd_usec / 2 % 1000000u) };
		ev_wd = event_new(d->base, -1, EV_PERSIST, watchdog_cb, d);
		event_add(ev_wd, &tv);
	}

	d->ready = true;
	log_full(LOG_INFO, &(struct log_fields){ .message_id = MMIOD_MESSAGE_STARTUP },
		 "mmiod %s ready on %s: %zu back end(s), %zu profile(s), state in %s", PACKAGE_VERSION,
		 MMIOD_BUS_NAME, d->nbackends, d->have_cat ? d->cat.n : (size_t)0, d->cfg.state_dir);
	sd_notifyf(0, "READY=1\nSTATUS=Running: %zu back end(s)", d->nbackends);

	event_base_dispatch(d->base);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_BACKEND = 256, O_CATALOGUE, O_STATE, O_SYSFS, O_SESSION, O_ADDR, O_INTRO, O_VERSION, O_CONFIG };
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "catalogue", required_argument, NULL, O_CATALOGUE },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "sysfs-root", required_argument, NULL, O_SYSFS },
		{ "session", no_argument, NULL, O_SESSION },
		{ "bus-address", required_argument, NULL, O_ADDR },
		{ "bus-introspect", required_argument, NULL, O_INTRO },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct daemon dm;
	static struct bus_ctx bc;
	struct daemon *d = &dm;
	bool set_backends = false, set_catalogue = false;
	char path[4096];
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_BACKEND: strv_push_or_exit(&d->cfg.backends, optarg); set_backends = true; break;
		case O_CATALOGUE: free(d->cfg.catalogue); d->cfg.catalogue = xstrdup(optarg); set_catalogue = true; break;
		case O_CONFIG: free(d->cfg.config_file); d->cfg.config_file = xstrdup(optarg); break;
		case O_STATE: free(d->cfg.state_dir); d->cfg.state_dir = xstrdup(optarg); break;
		case O_SYSFS: free(d->cfg.sysfs_root); d->cfg.sysfs_root = xstrdup(optarg); break;
		case O_SESSION: d->cfg.session_bus = true; break;
		case O_ADDR: free(d->cfg.bus_address); d->cfg.bus_address = xstrdup(optarg); break;
		case O_INTRO: return introspect(optarg);
		case 'v': d->cfg.verbose++; break;
		case O_VERSION: printf("mmiod %s (D-Bus API %u; back ends: %s)\n", PACKAGE_VERSION,
				       MMIOD_API_VERSION, tsd_driver_names()); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mmiod: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	log_init(d->cfg.verbose);

	/* defaults, then the config file under the flags */
	if (!d->cfg.config_file) {
		snprintf(path, sizeof(path), "%s/mmiod/mmiod.conf", MMIOD_SYSCONFDIR);
		d->cfg.config_file = xstrdup(path);
	}
	if (!d->cfg.catalogue && getenv(MMIOD_ENV_CATALOGUE)) {
		d->cfg.catalogue = xstrdup(getenv(MMIOD_ENV_CATALOGUE));
		set_catalogue = true;
	}
	d->cfg.call_timeout_ms = DAEMON_CALL_TIMEOUT_MS;
	d->cfg.attach_timeout_ms = DAEMON_ATTACH_TIMEOUT_MS;
	if (config_load(&d->cfg, set_backends, set_catalogue) < 0)
		return 1;
	if (!d->cfg.catalogue) {
		snprintf(path, sizeof(path), "%s/profiles.ini", MMIOD_PKGDATADIR);
		d->cfg.catalogue = xstrdup(path);
	}
	default_backends(d);
	d->cfg.cli_backends = set_backends;
	d->cfg.cli_catalogue = set_catalogue;
	if (!d->cfg.state_dir) {
		const char *sd = getenv(MMIOD_ENV_STATE_DIRECTORY);
		/* systemd may pass several, colon-separated: ours is the first */
		snprintf(path, sizeof(path), "%s", sd && *sd ? sd : MMIOD_DEFAULT_STATE_DIR);
		char *colon = strchr(path, ':');
		if (colon)
			*colon = '\0';
		d->cfg.state_dir = xstrdup(path);
	}
	if (!d->cfg.sysfs_root)
		d->cfg.sysfs_root = xstrdup("/sys");

	signal(SIGPIPE, SIG_IGN);
	d->base = event_base_new();
	if (!d->base) {
		log_error("cannot create the event loop");
		return 1;
	}
	d->pool = worker_pool_new(d->base, WORKER_DEFAULT_THREADS, WORKER_DEFAULT_QUEUE);
	if (!d->pool) {
		log_error("cannot start the worker pool: %s", strerror(errno));
		event_base_free(d->base);
		return 1;
	}
	daemon_host_init(d);
	catalogue_load(d);
	load_state(d);

	rc = serve(d, &bc);
	backends_close(d);
	/* after the back ends: their last calls (a connection's close) get a
	 * moment; a call still blocked in a pool thread ends on its own */
	worker_pool_drain(d->pool, 2000);
	worker_pool_free(d->pool);
	for (size_t i = 0; i < d->nguests; i++) {
		books_free(&d->guests[i]->books);
		free(d->guests[i]);
	}
	free(d->guests);
	daemon_guest_index_free(d);
	bus_service_stop(&bc);
	if (d->pending_state)
		json_object_put(d->pending_state);
	if (d->have_cat)
		mmio_catalogue_free(&d->cat);
	strv_clear(&d->cfg.backends);
	free(d->cfg.catalogue);
	free(d->cfg.state_dir);
	free(d->cfg.sysfs_root);
	free(d->cfg.config_file);
	free(d->cfg.bus_address);
	event_base_free(d->base);
	return rc;
}
