/* SPDX-License-Identifier: MIT */
/*
 * main.c — mmioctl, the command-line client of mmiod: options, the verb
 * table (which also writes --help), and dispatch to the verbs (cmd-*.c).
 *
 * Everything that can be checked without the daemon is checked here or in
 * the verb before the bus is touched, so a typo gives exit 2 and a clear
 * message even when mmiod is down.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmioctl.h"

/* Read verbs answer from the daemon's books, so a slow answer means a sick
 * daemon: fail fast (bus activation that hangs would otherwise cost 25 s).
 * Attach waits for the guest to finish hot-plug, which can take a while. */
#define TIMEOUT_READ_USEC   (10 * UINT64_C(1000000))
#define TIMEOUT_CHANGE_USEC (30 * UINT64_C(1000000))
#define TIMEOUT_ATTACH_USEC (300 * UINT64_C(1000000))

struct verb {
	const char *name;
	const char *args;       /* synopsis of the arguments */
	int min_args, max_args; /* -1: unbounded */
	int (*run)(struct mmioctl *c, int argc, char **argv);
	unsigned opts;          /* OPT_* accepted */
	uint64_t timeout_usec;  /* default method call timeout */
	bool hidden;            /* not in --help (helpers for completion) */
	const char *help;
};

static const struct verb verbs[] = {
	{ "status", "[GUEST]", 0, 1, cmd_status, 0, TIMEOUT_READ_USEC, false,
	  "Show guests, their MMIO windows and free space (default verb)" },
	{ "check", "GUEST DEVICE...", 2, -1, cmd_check, OPT_REFRESH | OPT_PORT, TIMEOUT_READ_USEC, false,
	  "Tell whether devices would fit, and what would make them fit" },
	{ "attach", "GUEST DEVICE", 2, 2, cmd_attach,
	  OPT_QEMU_DEVICE | OPT_RESERVATION | OPT_PERSISTENT | OPT_NO_WAIT | OPT_PORT, TIMEOUT_ATTACH_USEC, false,
	  "Attach a device to a guest if its BARs fit" },
	{ "detach", "GUEST DEVICE", 2, 2, cmd_detach, 0, TIMEOUT_ATTACH_USEC, false,
	  "Detach a device from a guest" },
	{ "reserve", "GUEST DEVICE...", 2, -1, cmd_reserve, OPT_LABEL, TIMEOUT_CHANGE_USEC, false,
	  "Reserve room in a guest for devices attached later" },
	{ "release", "GUEST ID", 2, 2, cmd_release, 0, TIMEOUT_CHANGE_USEC, false,
	  "Release a reservation" },
	{ "plan", "DEVICE...", 1, -1, cmd_plan, OPT_GUEST, TIMEOUT_READ_USEC, false,
	  "Print the guest configuration that makes room for devices" },
	{ "watch", "", 0, 0, cmd_watch, 0, TIMEOUT_READ_USEC, false,
	  "Print guest and attach events as they happen" },
	{ "profiles", "", 0, 0, cmd_profiles, 0, TIMEOUT_READ_USEC, false,
	  "List the device profiles usable as profile:NAME" },
	{ "metrics", "", 0, 0, cmd_metrics, OPT_OUTPUT, TIMEOUT_READ_USEC, false,
	  "Print capacity metrics in the Prometheus text format" },
	{ "list-guests", "", 0, 0, cmd_list_guests, 0, TIMEOUT_READ_USEC, true,
	  "Print guest ids and names, one per line (for shell completion)" },
};

enum {
	ARG_VERSION = 0x100,
	ARG_JSON,
	ARG_NO_LEGEND,
	ARG_NO_ASK_PASSWORD,
	ARG_TIMEOUT,
	ARG_USER,
	ARG_BUS_ADDRESS,
	ARG_REFRESH,
	ARG_QEMU_DEVICE,
	ARG_RESERVATION,
	ARG_PERSISTENT,
	ARG_NO_WAIT,
	ARG_LABEL,
	ARG_GUEST,
	ARG_PORT,
	ARG_OUTPUT,
};

/* Verb options: long name, flag, argument synopsis, help. */
static const struct {
	const char *name;
	unsigned flag;
	const char *arg;
	const char *help;
} verb_opts[] = {
	{ "refresh", OPT_REFRESH, NULL, "Re-read the guest from its toolstack first" },
	{ "qemu-device", OPT_QEMU_DEVICE, "SPEC", "Extra QEMU -device properties for the attach" },
	{ "reservation", OPT_RESERVATION, "ID", "Attach into this reservation" },
	{ "persistent", OPT_PERSISTENT, NULL, "Also add the device to the guest's configuration" },
	{ "no-wait", OPT_NO_WAIT, NULL, "Return once admitted, without waiting for the guest" },
	{ "label", OPT_LABEL, "LABEL", "A label for the reservation" },
	{ "guest", OPT_GUEST, "GUEST", "Plan against this guest's current windows" },
	{ "port", OPT_PORT, "PORT", "Behind this hot-plug port (q35 pcie-root-port id)" },
	{ "output", OPT_OUTPUT, "FILE", "Write to FILE (atomically: a temporary file, then rename)" },
};

static void print_help(void)
{
	printf("Usage: mmioctl [OPTIONS...] [VERB] [ARGS...]\n\n"
	       "Ask mmiod whether PCI devices fit a guest's MMIO windows, attach them,\n"
	       "and plan guest configurations that make room for them.\n\n"
	       "Verbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		char syn[64];

		if (verbs[i].hidden)
			continue;
		snprintf(syn, sizeof(syn), "%s %s", verbs[i].name, verbs[i].args);
		printf("  %-26s %s\n", syn, verbs[i].help);
	}
	printf("\nDEVICE is a host PCI address (0000:03:00.0), a BAR list\n"
	       "(bars:mem64p:16G,mem32:16M) or a catalogue entry (profile:NAME); the\n"
	       "functions of one multi-function slot are joined with '+', function 0\n"
	       "first (bars:mem64p:1G+0000:03:00.1), and 0000:03:00 is every function\n"
	       "of a host slot.  A slot is placed as one hot-plug.\n\n"
	       "Options:\n"
	       "  -h --help                  Show this help (VERB --help: the verb's help)\n"
	       "     --version               Show the version\n"
	       "     --json                  Print JSON instead of tables\n"
	       "     --no-legend             Do not print table headers\n"
	       "     --no-ask-password       Do not ask for authorization interactively\n"
	       "     --timeout SECONDS       Method call timeout\n"
	       "     --user                  Talk to mmiod on the session bus\n"
	       "     --bus-address ADDRESS   Talk to mmiod on the bus at ADDRESS\n"
	       "  -H --host [USER@]HOST      Talk to mmiod on a remote host (over ssh)\n"
	       "  -M --machine CONTAINER    Talk to mmiod in a local container\n");
	for (size_t i = 0; i < sizeof(verb_opts) / sizeof(verb_opts[0]); i++) {
		char syn[64];

		snprintf(syn, sizeof(syn), "%s%s%s", verb_opts[i].name, verb_opts[i].arg ? " " : "",
			 verb_opts[i].arg ? verb_opts[i].arg : "");
		printf("     --%-21s %s\n", syn, verb_opts[i].help);
	}
	printf("\nSee mmioctl(1) for exit codes and the JSON fields.\n");
}

static void print_verb_help(const struct verb *v)
{
	printf("Usage: mmioctl [OPTIONS...] %s %s\n\n%s.\n", v->name, v->args, v->help);
	if (v->opts) {
		printf("\nOptions of %s:\n", v->name);
		for (size_t i = 0; i < sizeof(verb_opts) / sizeof(verb_opts[0]); i++) {
			char syn[64];

			if (!(v->opts & verb_opts[i].flag))
				continue;
			snprintf(syn, sizeof(syn), "%s%s%s", verb_opts[i].name,
				 verb_opts[i].arg ? " " : "", verb_opts[i].arg ? verb_opts[i].arg : "");
			printf("     --%-21s %s\n", syn, verb_opts[i].help);
		}
	}
	printf("\nGlobal options: see mmioctl --help.\n");
}

static int parse_timeout(const char *s, uint64_t *usec)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	/* Zero would mean "sd-bus default" (25 s), which is never what was typed. */
	if (errno || end == s || *end || !isfinite(d) || d <= 0 || d > 86400.0 * 365)
		return -EINVAL;
	*usec = (uint64_t)(d * 1e6);
	if (*usec == 0)
		*usec = 1;
	return 0;
}

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static const char *opt_name(unsigned flag)
{
	for (size_t i = 0; i < sizeof(verb_opts) / sizeof(verb_opts[0]); i++)
		if (verb_opts[i].flag == flag)
			return verb_opts[i].name;
	return "?";
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{ "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
		{ "timeout", required_argument, NULL, ARG_TIMEOUT },
		{ "user", no_argument, NULL, ARG_USER },
		{ "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
		{ "host", required_argument, NULL, 'H' },
		{ "machine", required_argument, NULL, 'M' },
		{ "refresh", no_argument, NULL, ARG_REFRESH },
		{ "qemu-device", required_argument, NULL, ARG_QEMU_DEVICE },
		{ "reservation", required_argument, NULL, ARG_RESERVATION },
		{ "persistent", no_argument, NULL, ARG_PERSISTENT },
		{ "no-wait", no_argument, NULL, ARG_NO_WAIT },
		{ "label", required_argument, NULL, ARG_LABEL },
		{ "guest", required_argument, NULL, ARG_GUEST },
		{ "port", required_argument, NULL, ARG_PORT },
		{ "output", required_argument, NULL, ARG_OUTPUT },
		{ NULL, 0, NULL, 0 },
	};
	struct mmioctl c = {
		.legend = true,
		.stdout_tty = isatty(STDOUT_FILENO) == 1,
		.stderr_tty = isatty(STDERR_FILENO) == 1,
	};
	const struct verb *v;
	bool help = false, ask_password = true;
	int opt, r, nargs;

	setlocale(LC_ALL, "");
	/* getopt's own message is enough; ours adds the pointer to --help. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hH:M:", options, NULL)) >= 0) {
		switch (opt) {
		case 'h': help = true; break;
		case ARG_VERSION:
			printf("mmioctl %s\n", PACKAGE_VERSION);
			return MMIOCTL_EXIT_OK;
		case ARG_JSON: c.json = true; break;
		case ARG_NO_LEGEND: c.legend = false; break;
		case ARG_NO_ASK_PASSWORD: ask_password = false; break;
		case ARG_TIMEOUT:
			if (parse_timeout(optarg, &c.timeout_usec) < 0) {
				mmioctl_usage_error("--timeout: \"%s\" is not a positive number of seconds",
						    optarg);
				return MMIOCTL_EXIT_USAGE;
			}
			break;
		case ARG_USER: c.user_bus = true; break;
		case ARG_BUS_ADDRESS: c.bus_address = optarg; break;
		case 'H': c.host = optarg; break;
		case 'M': c.machine = optarg; break;
		case ARG_REFRESH: c.refresh = true; c.opts_given |= OPT_REFRESH; break;
		case ARG_QEMU_DEVICE: c.qemu_device = optarg; c.opts_given |= OPT_QEMU_DEVICE; break;
		case ARG_RESERVATION: c.reservation = optarg; c.opts_given |= OPT_RESERVATION; break;
		case ARG_PERSISTENT: c.persistent = true; c.opts_given |= OPT_PERSISTENT; break;
		case ARG_NO_WAIT: c.no_wait = true; c.opts_given |= OPT_NO_WAIT; break;
		case ARG_LABEL: c.label = optarg; c.opts_given |= OPT_LABEL; break;
		case ARG_GUEST: c.guest = optarg; c.opts_given |= OPT_GUEST; break;
		case ARG_PORT: c.port = optarg; c.opts_given |= OPT_PORT; break;
		case ARG_OUTPUT: c.output = optarg; c.opts_given |= OPT_OUTPUT; break;
		case ':':
			mmioctl_usage_error("option %s needs an argument", argv[optind - 1]);
			return MMIOCTL_EXIT_USAGE;
		default:
			if (optopt)
				mmioctl_usage_error("unknown option -%c", optopt);
			else
				mmioctl_usage_error("unknown option %s", argv[optind - 1]);
			return MMIOCTL_EXIT_USAGE;
		}
	}

	if (optind < argc) {
		v = find_verb(argv[optind]);
		if (!v) {
			mmioctl_usage_error("unknown verb \"%s\"", argv[optind]);
			return MMIOCTL_EXIT_USAGE;
		}
		optind++;
	} else if (help) {
		print_help();
		return MMIOCTL_EXIT_OK;
	} else {
		v = find_verb("status");
	}
	if (help) {
		print_verb_help(v);
		return MMIOCTL_EXIT_OK;
	}
	c.verb = v->name;

	nargs = argc - optind;
	if (nargs < v->min_args || (v->max_args >= 0 && nargs > v->max_args)) {
		if (v->min_args == v->max_args)
			mmioctl_usage_error("%s: wanted %d argument%s (%s), got %d", v->name,
					    v->min_args, v->min_args == 1 ? "" : "s", v->args, nargs);
		else if (nargs < v->min_args)
			mmioctl_usage_error("%s: wanted at least %d argument%s (%s), got %d", v->name,
					    v->min_args, v->min_args == 1 ? "" : "s", v->args, nargs);
		else
			mmioctl_usage_error("%s: wanted at most %d argument%s (%s), got %d", v->name,
					    v->max_args, v->max_args == 1 ? "" : "s", v->args, nargs);
		return MMIOCTL_EXIT_USAGE;
	}
	if (c.opts_given & ~v->opts) {
		unsigned bad = c.opts_given & ~v->opts;

		mmioctl_usage_error("%s does not take --%s", v->name, opt_name(bad & -bad));
		return MMIOCTL_EXIT_USAGE;
	}
	/* One transport: as systemctl, -H and -M exclude each other, and a
	 * remote host is reached on its system bus only. */
	if ((c.bus_address != NULL) + (c.host != NULL) + (c.machine != NULL) > 1) {
		mmioctl_usage_error("--bus-address, --host and --machine exclude each other");
		return MMIOCTL_EXIT_USAGE;
	}
	if (c.user_bus && (c.bus_address || c.host)) {
		mmioctl_usage_error("--user and --%s exclude each other",
				    c.bus_address ? "bus-address" : "host");
		return MMIOCTL_EXIT_USAGE;
	}
	if ((c.host && !*c.host) || (c.machine && !*c.machine)) {
		mmioctl_usage_error("--%s: empty name", c.host ? "host" : "machine");
		return MMIOCTL_EXIT_USAGE;
	}
	/* Asking for a password only makes sense when someone can answer. */
	c.interactive = ask_password && isatty(STDIN_FILENO) == 1;
	if (!c.timeout_usec)
		c.timeout_usec = v->timeout_usec;

	r = v->run(&c, nargs, argv + optind);
	sd_bus_error_free(&c.last_error);
	if (c.bus)
		sd_bus_flush_close_unref(c.bus);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		mmioctl_error("writing output: %s", strerror(errno));
		if (r == 0)
			r = MMIOCTL_EXIT_NO;
	}
	return r;
}
