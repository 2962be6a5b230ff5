/* SPDX-License-Identifier: MIT */
/*
 * mmioctl.h — what the client's files share: the run context, exit codes,
 * the bus helpers (mmioctl-bus.c), output helpers (mmioctl-output.c) and one
 * entry point per verb (cmd-*.c).
 */
#ifndef MMIOCTL_H
#define MMIOCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "mmio-model.h"
#include "bus-util.h"
#include "cleanup.h"
#include "mmiod-names.h"
#include "strv.h"

/* Exit codes: a contract with scripts, documented in mmioctl(1). */
enum {
	MMIOCTL_EXIT_OK = 0,
	MMIOCTL_EXIT_NO = 1,         /* does not fit, rejected, or another failure */
	MMIOCTL_EXIT_USAGE = 2,      /* bad usage or invalid input (also unknown guest) */
	MMIOCTL_EXIT_NO_DAEMON = 3,  /* mmiod not reachable */
	MMIOCTL_EXIT_TOOLSTACK = 4,  /* the toolstack failed or cannot do it */
	MMIOCTL_EXIT_DENIED = 5,     /* not authorized */
};

/* Verb-specific options; the verb table says which a verb accepts, so
 * `mmioctl status --label x` is a usage error rather than silently ignored. */
enum {
	OPT_REFRESH = 1u << 0,
	OPT_QEMU_DEVICE = 1u << 1,
	OPT_RESERVATION = 1u << 2,
	OPT_PERSISTENT = 1u << 3,
	OPT_NO_WAIT = 1u << 4,
	OPT_LABEL = 1u << 5,
	OPT_GUEST = 1u << 6,
	OPT_PORT = 1u << 7,
	OPT_OUTPUT = 1u << 8,
};

struct mmioctl {
	sd_bus *bus;
	const char *verb;
	/* global options */
	bool json;
	bool legend;
	bool interactive;
	bool user_bus;
	const char *bus_address;
	const char *host;           /* -H [USER@]HOST: over ssh, as systemctl -H */
	const char *machine;        /* -M MACHINE: in a local container */
	uint64_t timeout_usec;      /* 0: the verb's default */
	/* verb options */
	unsigned opts_given;
	bool refresh;
	bool persistent;
	bool no_wait;
	const char *qemu_device;
	const char *reservation;
	const char *label;
	const char *guest;
	const char *port;
	const char *output;         /* metrics --output FILE */
	/* the D-Bus error of the last bus_call that failed with one (for a
	 * verb's --json error object); freed by whoever reads it */
	sd_bus_error last_error;
	/* terminal state, decided once */
	bool stdout_tty;
	bool stderr_tty;
};

/* ---- mmioctl-output.c: messages ---- */
void mmioctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "mmioctl: <what>: <reason>" to stderr. */
void mmioctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- mmioctl-bus.c ---- */
int bus_connect(struct mmioctl *c);
/* Sends m and waits for its reply (spinner on a terminal when spin is
 * set).  On a D-Bus error prints "mmioctl: <what>: <reason>" and returns
 * the exit code for it; on success returns 0 and *reply holds the reply. */
int bus_call(struct mmioctl *c, sd_bus_message *m, bool spin, const char *what,
	     sd_bus_message **reply);
/* bus_call of m once building it went well: r is what the last step of
 * building it returned (< 0: reported like a failed call). */
int bus_call_built(struct mmioctl *c, sd_bus_message *m, int r, bool spin, const char *what,
		   sd_bus_message **reply);
/* Maps a D-Bus error to an exit code and prints it. */
int bus_report_error(struct mmioctl *c, const sd_bus_error *e, const char *what);
/* Prints a local failure (negative errno) of the bus layer, returns the exit code. */
int bus_report_errno(struct mmioctl *c, int r, const char *what);
int bus_new_manager_call(struct mmioctl *c, const char *member, sd_bus_message **m);
/* Connects and starts a call MEMBER(s guest, as devices, a{sv} options):
 * the options container is left open for the caller's entries. */
int bus_begin_devices_call(struct mmioctl *c, const char *member, const char *guest, char **devices,
			   sd_bus_message **m);
/* Calls MEMBER(s guest, s what, a{sv} options) and waits for its empty
 * reply; options carry "interactive" when asked.  doing names the call in
 * errors.  Returns 0 or the exit code. */
int bus_call_guest_what(struct mmioctl *c, const char *member, const char *guest, const char *what,
			bool send_interactive, bool spin, const char *doing);
/* "the mmiod daemon is not running on the system bus (...)" */
void bus_print_not_running(struct mmioctl *c);

/* Appends an "a{sv}" entry; type is "b" or "s". */
int bus_append_option_b(sd_bus_message *m, const char *key, bool v);
int bus_append_option_s(sd_bus_message *m, const char *key, const char *v);

/* One PLACE tuple "(suststb)". */
struct place {
	char *device;
	uint32_t bar;
	char *kind;
	uint64_t size;
	char *window;
	uint64_t address;
	bool placed;
};
struct place_list {
	size_t n;
	struct place *v;
};
int place_list_read(sd_bus_message *m, struct place_list *out);
void place_list_free(struct place_list *l);

/* ---- mmioctl-output.c ---- */
struct table;
struct table *table_new(unsigned ncols, const char *const *headers);
/* Adds a row of ncols cells (NULL = empty). */
void table_add(struct table *t, const char *const *cells);
void table_addf(struct table *t, ...); /* ncols const char * arguments */
void table_print(const struct table *t, bool legend, const char *indent);
void table_free(struct table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct table *, table_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
size_t table_rows(const struct table *t);

void fmt_size(uint64_t size, char *buf, size_t len);
void fmt_hex(uint64_t v, char *buf, size_t len);
/* "[######.....]" showing used = total - free; width cells wide. */
void fmt_bar(uint64_t total, uint64_t free, unsigned width, char *buf, size_t len);
const char *bar_name(uint32_t bar, char *buf, size_t len); /* "0".."5", "rom" */

/* The placement under a result line: nothing when there is none, else the
 * table (after a blank line under --legend). */
void place_list_print(struct mmioctl *c, const struct place_list *l);
json_object *place_list_json(const struct place_list *l);
void json_print(struct mmioctl *c, json_object *o); /* consumes o */
json_object *json_u64(uint64_t v);
json_object *json_str(const char *s); /* NULL -> "" */

/* Checks a device spelling locally (BDF, bars:..., profile:NAME) so bad
 * input fails with exit 2 before the bus is touched.  Writes the spelling
 * to send (a BDF in its full form) into out. */
int device_validate(const char *spec, char *out, size_t len, const char *what);
/* BDF-like, bars: or profile: (anything else may be an attach id). */
bool device_looks_like_spec(const char *spec);
/* Non-empty, no control characters: "mmioctl: <what>: empty <noun>". */
int name_validate(const char *name, const char *noun, const char *what);
int guest_validate(const char *guest, const char *what);
/* device_validate over a list; *out is a NULL-terminated copy to send
 * (strv_free it). */
int device_list_validate(char **argv, size_t n, char ***out, const char *what);

/* ---- verbs ---- */
int cmd_status(struct mmioctl *c, int argc, char **argv);
int cmd_list_guests(struct mmioctl *c, int argc, char **argv);
int cmd_check(struct mmioctl *c, int argc, char **argv);
int cmd_plan(struct mmioctl *c, int argc, char **argv);
int cmd_attach(struct mmioctl *c, int argc, char **argv);
int cmd_detach(struct mmioctl *c, int argc, char **argv);
int cmd_reserve(struct mmioctl *c, int argc, char **argv);
int cmd_release(struct mmioctl *c, int argc, char **argv);
int cmd_watch(struct mmioctl *c, int argc, char **argv);
int cmd_profiles(struct mmioctl *c, int argc, char **argv);
int cmd_metrics(struct mmioctl *c, int argc, char **argv);

/* Shared by check and plan: calls Plan and prints its advice. */
int plan_call_and_print(struct mmioctl *c, const char *guest, char **devices, size_t ndev,
			bool as_advice, json_object **json_out, bool *possible);

#endif
