/* SPDX-License-Identifier: MIT */
/*
 * mmioctl-bus.c — connecting, calling and turning bus errors into one line
 * and an exit code.
 *
 * Every call goes out asynchronously and is waited for here, so a verb that
 * waits long (attach) can show a spinner on a terminal without a thread,
 * and every verb shares one error path: no verb prints a stack of errors.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "mmioctl.h"

int bus_connect(struct mmioctl *c)
{
	int r;

	if (c->bus)
		return 0;
	if (c->bus_address) {
		r = sd_bus_new(&c->bus);
		if (r < 0)
			goto fail;
		r = sd_bus_set_address(c->bus, c->bus_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(c->bus, 1);
		if (r >= 0)
			r = sd_bus_start(c->bus);
	} else if (c->host) {
		/* ssh [USER@]HOST systemd-stdio-bridge, as systemctl -H does */
		r = sd_bus_open_system_remote(&c->bus, c->host);
	} else if (c->machine && c->user_bus) {
		r = sd_bus_open_user_machine(&c->bus, c->machine);
	} else if (c->machine) {
		/* the container's system bus socket, entered through machined */
		r = sd_bus_open_system_machine(&c->bus, c->machine);
	} else if (c->user_bus) {
		r = sd_bus_open_user(&c->bus);
	} else {
		/* honours DBUS_SYSTEM_BUS_ADDRESS, which is how the tests get in */
		r = sd_bus_open_system(&c->bus);
	}
	if (r < 0)
		goto fail;
	/* The flag travels on every message; the daemon passes it on to polkit. */
	(void)sd_bus_set_allow_interactive_authorization(c->bus, c->interactive);
	/* also for the calls sd-bus makes on our behalf (property reads) */
	(void)sd_bus_set_method_call_timeout(c->bus, c->timeout_usec);
	return 0;
fail:
	c->bus = sd_bus_unref(c->bus);
	/* A bus nobody listens on and a bus without mmiod look the same to a
	 * user: the daemon is not there.  Say so once, with the way out. */
	bus_print_not_running(c);
	return MMIOCTL_EXIT_NO_DAEMON;
}

void bus_print_not_running(struct mmioctl *c)
{
	if (c->bus_address)
		mmioctl_error("the mmiod daemon is not running on the bus at %s (start it with: mmiod --bus-address=%s)",
			      c->bus_address, c->bus_address);
	else if (c->host)
		mmioctl_error("the mmiod daemon is not reachable on %s (ssh %s systemd-stdio-bridge must reach its system bus; "
			      "there: systemctl start mmiod)", c->host, c->host);
	else if (c->machine)
		mmioctl_error("the mmiod daemon is not reachable in machine %s (machinectl status %s; "
			      "there: systemctl start mmiod)", c->machine, c->machine);
	else if (c->user_bus)
		mmioctl_error("the mmiod daemon is not running on the session bus (start it with: mmiod --session)");
	else
		mmioctl_error("the mmiod daemon is not running on the system bus (start it with: systemctl start mmiod)");
}

int bus_new_manager_call(struct mmioctl *c, const char *member, sd_bus_message **m)
{
	return sd_bus_message_new_method_call(c->bus, m, MMIOD_BUS_NAME, MMIOD_PATH_MANAGER,
					      MMIOD_IFACE_MANAGER, member);
}

/* Exit code per D-Bus error name.  Unknown guest, device and reservation
 * are "invalid input" (2): the user named something that is not there,
 * which a script handles like a typo, not like "does not fit". */
static const struct {
	const char *name;
	int code;
} error_codes[] = {
	{ MMIOD_ERROR_NO_SPACE, MMIOCTL_EXIT_NO },
	{ MMIOD_ERROR_BUSY, MMIOCTL_EXIT_NO },
	{ MMIOD_ERROR_NO_SUCH_GUEST, MMIOCTL_EXIT_USAGE },
	{ MMIOD_ERROR_INVALID_DEVICE, MMIOCTL_EXIT_USAGE },
	{ MMIOD_ERROR_NO_SUCH_RESERVATION, MMIOCTL_EXIT_USAGE },
	{ MMIOD_ERROR_NO_SUCH_DEVICE, MMIOCTL_EXIT_USAGE },
	{ SD_BUS_ERROR_INVALID_ARGS, MMIOCTL_EXIT_USAGE },
	{ MMIOD_ERROR_TOOLSTACK_FAILED, MMIOCTL_EXIT_TOOLSTACK },
	{ MMIOD_ERROR_NOT_SUPPORTED, MMIOCTL_EXIT_TOOLSTACK },
	{ MMIOD_ERROR_GUEST_UNRESPONSIVE, MMIOCTL_EXIT_TOOLSTACK },
	{ SD_BUS_ERROR_ACCESS_DENIED, MMIOCTL_EXIT_DENIED },
	{ SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, MMIOCTL_EXIT_DENIED },
	{ "org.freedesktop.DBus.Error.AuthFailed", MMIOCTL_EXIT_DENIED },
};

static bool error_is_absent_daemon(const sd_bus_error *e)
{
	return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
				      SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_DISCONNECTED,
				      "org.freedesktop.DBus.Error.Spawn.ChildExited",
				      "org.freedesktop.DBus.Error.Spawn.ExecFailed",
				      "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
				      "org.freedesktop.systemd1.NoSuchUnit",
				      "org.freedesktop.systemd1.UnitMasked");
}

int bus_report_error(struct mmioctl *c, const sd_bus_error *e, const char *what)
{
	const char *msg;

	if (error_is_absent_daemon(e)) {
		bus_print_not_running(c);
		return MMIOCTL_EXIT_NO_DAEMON;
	}
	/* sd-bus fails the pending call with NoReply when the connection
	 * itself goes (a remote transport whose ssh exited): not a slow
	 * daemon but an unreachable bus. */
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) && c->bus && sd_bus_is_open(c->bus) <= 0) {
		bus_print_not_running(c);
		return MMIOCTL_EXIT_NO_DAEMON;
	}
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT)) {
		/* attach and detach wait for the guest: mmiod is most likely
		 * alive and still waiting, and finishes on its own */
		if (c->verb && (strcmp(c->verb, "attach") == 0 || strcmp(c->verb, "detach") == 0))
			mmioctl_error("%s: no answer within %g s; mmiod may still be waiting for the guest "
				      "and finishes on its own (follow it with: mmioctl watch)",
				      what, (double)c->timeout_usec / 1e6);
		else
			mmioctl_error("%s: the mmiod daemon did not answer within %g s (see: systemctl status mmiod)",
				      what, (double)c->timeout_usec / 1e6);
		return MMIOCTL_EXIT_NO_DAEMON;
	}
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_INTERFACE,
				   SD_BUS_ERROR_UNKNOWN_OBJECT)) {
		mmioctl_error("%s: the running mmiod does not offer this (is it older than mmioctl %s?)",
			      what, PACKAGE_VERSION);
		return MMIOCTL_EXIT_TOOLSTACK;
	}
	/* The message already says what went wrong; the error name is for
	 * programs.  Fall back to its last component when there is no text. */
	msg = e->message;
	if (!msg || !*msg) {
		const char *dot = e->name ? strrchr(e->name, '.') : NULL;

		msg = dot ? dot + 1 : (e->name ? e->name : "unknown error");
	}
	mmioctl_error("%s: %s", what, msg);
	for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
		if (sd_bus_error_has_name(e, error_codes[i].name))
			return error_codes[i].code;
	return MMIOCTL_EXIT_NO;
}

int bus_report_errno(struct mmioctl *c, int r, const char *what)
{
	if (r == -ECONNRESET || r == -ENOTCONN || r == -ECONNREFUSED || r == -ENOENT) {
		bus_print_not_running(c);
		return MMIOCTL_EXIT_NO_DAEMON;
	}
	if (r == -EBADMSG || r == -ENXIO || r == -EINVAL) {
		mmioctl_error("%s: unexpected reply from mmiod: %s", what, strerror(-r));
		return MMIOCTL_EXIT_NO;
	}
	mmioctl_error("%s: %s", what, strerror(-r));
	return MMIOCTL_EXIT_NO;
}

struct pending {
	bool done;
	sd_bus_message *reply;
};

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct pending *p = userdata;

	p->done = true;
	p->reply = sd_bus_message_ref(m);
	return 0;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int bus_call(struct mmioctl *c, sd_bus_message *m, bool spin, const char *what,
	     sd_bus_message **reply)
{
	static const char spinner[] = "|/-\\";
	struct pending p = { 0 };
	sd_bus_slot *slot = NULL;
	uint64_t start = now_usec();
	bool shown = false;
	unsigned tick = 0;
	int r;

	*reply = NULL;
	/* Only a person watching a terminal wants the spinner; a pipe or a log
	 * file gets nothing extra (stdout is kept clean for --json anyway). */
	spin = spin && c->stderr_tty;
	r = sd_bus_call_async(c->bus, &slot, m, on_reply, &p, c->timeout_usec);
	if (r < 0)
		return bus_report_errno(c, r, what);
	while (!p.done) {
		r = sd_bus_process(c->bus, NULL);
		/* A timed-out call runs its callback yet may report 0 ("nothing
		 * done"): look at the flag before waiting for more. */
		if (r < 0 || p.done)
			break;
		if (r > 0)
			continue;
		/* Short waits only while spinning, so the elapsed time moves. */
		r = sd_bus_wait(c->bus, spin ? 100000 : UINT64_MAX);
		if (r < 0 && r != -EINTR)
			break;
		if (spin) {
			uint64_t el = now_usec() - start;

			/* Quick answers should not flash a spinner. */
			if (el >= 300000) {
				fprintf(stderr, "\r%c %s (%" PRIu64 ".%" PRIu64 " s)\033[K",
					spinner[tick++ % 4], what, el / 1000000, el / 100000 % 10);
				fflush(stderr);
				shown = true;
			}
		}
	}
	if (shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	sd_bus_slot_unref(slot);
	if (!p.done)
		return bus_report_errno(c, r, what);
	if (sd_bus_message_is_method_error(p.reply, NULL)) {
		int code = bus_report_error(c, sd_bus_message_get_error(p.reply), what);

		sd_bus_error_free(&c->last_error);
		sd_bus_error_copy(&c->last_error, sd_bus_message_get_error(p.reply));
		sd_bus_message_unref(p.reply);
		return code;
	}
	*reply = p.reply;
	return 0;
}

int bus_call_built(struct mmioctl *c, sd_bus_message *m, int r, bool spin, const char *what,
		   sd_bus_message **reply)
{
	*reply = NULL;
	if (r < 0)
		return bus_report_errno(c, r, what);
	return bus_call(c, m, spin, what, reply);
}

static int append_option(sd_bus_message *m, const char *key, char type, const void *v)
{
	char sig[2] = { type, 0 };
	int r;

	r = sd_bus_message_open_container(m, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append_basic(m, 's', key);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', sig);
	if (r >= 0)
		r = sd_bus_message_append_basic(m, type, v);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

int bus_append_option_b(sd_bus_message *m, const char *key, bool v)
{
	int b = v;

	return append_option(m, key, 'b', &b);
}

int bus_append_option_s(sd_bus_message *m, const char *key, const char *v)
{
	return append_option(m, key, 's', v);
}

int place_list_read(sd_bus_message *m, struct place_list *out)
{
	size_t cap = 0;
	int r;

	*out = (struct place_list){ 0 };
	r = sd_bus_message_enter_container(m, 'a', MMIOD_SIG_PLACE);
	if (r < 0)
		return r;
	for (;;) {
		const char *dev, *kind, *win;
		uint32_t bar;
		uint64_t size, addr;
		int placed;
		struct place *p;

		r = sd_bus_message_read(m, MMIOD_SIG_PLACE, &dev, &bar, &kind, &size, &win, &addr,
					&placed);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		if (out->n == cap) {
			struct place *nv;

			cap = cap ? cap * 2 : 8;
			nv = realloc(out->v, cap * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				goto fail;
			}
			out->v = nv;
		}
		p = &out->v[out->n];
		*p = (struct place){ .bar = bar, .size = size, .address = addr, .placed = placed };
		p->device = strdup(dev);
		p->kind = strdup(kind);
		p->window = strdup(win);
		out->n++;
		if (!p->device || !p->kind || !p->window) {
			r = -ENOMEM;
			goto fail;
		}
	}
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		goto fail;
	return 0;
fail:
	place_list_free(out);
	return r;
}

void place_list_free(struct place_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].device);
		free(l->v[i].kind);
		free(l->v[i].window);
	}
	free(l->v);
	*l = (struct place_list){ 0 };
}

int bus_begin_devices_call(struct mmioctl *c, const char *member, const char *guest, char **devices,
			   sd_bus_message **m)
{
	int r = bus_connect(c);

	if (r)
		return r;
	r = bus_new_manager_call(c, member, m);
	if (r >= 0)
		r = sd_bus_message_append(*m, "s", guest);
	if (r >= 0)
		r = sd_bus_message_append_strv(*m, devices);
	if (r >= 0)
		r = sd_bus_message_open_container(*m, 'a', "{sv}");
	return r < 0 ? bus_report_errno(c, r, c->verb) : 0;
}

int bus_call_guest_what(struct mmioctl *c, const char *member, const char *guest, const char *what,
			bool send_interactive, bool spin, const char *doing)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	int r = bus_connect(c);

	if (r)
		return r;
	r = bus_new_manager_call(c, member, &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "ss", guest, what);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0 && send_interactive)
		r = bus_append_option_b(m, MMIOD_OPT_INTERACTIVE, c->interactive);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return bus_call_built(c, m, r, spin, doing, &reply);
}
