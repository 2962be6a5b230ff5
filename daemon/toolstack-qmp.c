/* SPDX-License-Identifier: MIT */
/*
 * toolstack-qmp.c — the QEMU QMP back end: --backend qmp:DIR.
 *
 * DIR holds QMP unix sockets, one guest each (guest id = file name without
 * its extension: "vm1.sock" -> "vm1"), watched by sockdir.c (rescanned
 * every second, and at once on an inotify event).  Each socket gets one
 * connection (qmp.c): greeting, qmp_capabilities, then query-name,
 * query-uuid, qom-list /machine (which host bridge), the windows (qom-get)
 * and query-pci; then host->guest_up.  The connection closing, the socket
 * file vanishing or being replaced, or a SHUTDOWN event, takes the guest
 * down (host->guest_down).  A socket that refuses connections (stale file,
 * QEMU gone) is retried every RETRY_S seconds, logged once at LOG_DEBUG.
 *
 * A QEMU that stops answering (SIGSTOP, a monitor blocked in QEMU) keeps
 * its connection: each op has a deadline (the base's, re-armed per step:
 * the call timeout for reads, the attach timeout for device_add); when it
 * passes the op fails with TSD_E_UNRESPONSIVE and the guest is reported
 * not answering.  From then on its ops fail at once without sending
 * anything (so nothing piles up in the connection); the replies QEMU still
 * owes come when it runs again, and the first line it sends reports the
 * guest answering again.  Should a reply never come (a QEMU that dropped a
 * command), a query-status sent every call timeout, one at a time, is
 * what it answers.  A probe that times out drops the connection and
 * tries again later (the guest was never announced).
 *
 * What QEMU was seen to do, which the code below relies on (window
 * properties, query-pci's all-ones addresses, device_add's typing, q35
 * ports, unplug without a guest OS, one monitor client at a time), is
 * written down in docs/qemu-observations.md.
 *
 * The back end's parts (which file does what, in which order they stack):
 * toolstack-qmp-internal.h.
 *
 * Not done: min_mem is unknown (0).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "toolstack-qmp-internal.h"

#define SCAN_INTERVAL_S      1
#define UNPLUG_TIMEOUT_MS    10000

/* ---- the driver operations ------------------------------------------------------------- */

static int tsd_qmp_open(const struct tsd_host *host, const char *arg, unsigned flags,
			struct tsd_backend **out, struct mmio_error *err)
{
	struct tsd_qmp *qb;
	const char *env;

	tsd_check_flags("qmp", "open", flags, 0, err);
	if (!arg || !*arg) {
		mmio_error_set(err, MMIO_E_INVALID,
			       "qmp: a directory of QMP sockets is needed: --backend qmp:DIR");
		return -1;
	}
	if (strlen(arg) >= PATH_MAX - 64) {
		mmio_error_set(err, MMIO_E_INVALID, "qmp: directory name too long");
		return -1;
	}
	qb = calloc(1, sizeof(*qb));
	if (!qb) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	qb->pub.drv = &tsd_qmp_driver;
	qb->pub.host = host;
	/* spec is informational; a long DIR is cut there, not in qb->dir. */
	size_t room = sizeof(qb->pub.spec) - 5;
	memcpy(qb->pub.spec, "qmp:", 4);
	memcpy(qb->pub.spec + 4, arg, strlen(arg) < room ? strlen(arg) + 1 : room);
	qb->pub.spec[sizeof(qb->pub.spec) - 1] = '\0';
	qb->base = host->base;
	snprintf(qb->dir, sizeof(qb->dir), "%s", arg);
	/* Trailing slashes would end up in every socket path. */
	for (size_t n = strlen(qb->dir); n > 1 && qb->dir[n - 1] == '/'; n--)
		qb->dir[n - 1] = '\0';
	qb->unplug_timeout_ms = UNPLUG_TIMEOUT_MS;
	env = getenv("MMIOD_QMP_UNPLUG_TIMEOUT_MS");
	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);
		if (!*end && v > 0 && v < 3600000)
			qb->unplug_timeout_ms = (unsigned)v;
	}
	if (sockdir_open(qb->base, qb->dir, SCAN_INTERVAL_S, tsd_qmp_scanned, qb, &qb->watch) < 0) {
		free(qb);
		mmio_error_set(err, MMIO_E_NOMEM, "qmp: cannot set up the scan timer");
		return -1;
	}
	*out = &qb->pub;
	return 0;
}

/* Operations still in flight are dropped without their callbacks: after
 * close() the daemon is not listening any more. */
static void tsd_qmp_close(struct tsd_backend *be)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	if (!qb)
		return;
	sockdir_close(qb->watch);
	while (qb->guests)
		tsd_qmp_guest_remove(qb, qb->guests, false);
	tsd_ops_free(&qb->pub);
	free(qb);
}

static int tsd_qmp_refresh(struct tsd_backend *be, const char *guest_id, unsigned flags,
			   tsd_layout_fn cb, void *ud, struct mmio_error *err)
{
	struct tsd_qmp *qb = (struct tsd_qmp *)be;
	struct tsd_qmp_guest *g;
	struct tsd_qmp_op *op;

	tsd_check_flags("qmp", "refresh", flags, 0, err);
	if (!(g = tsd_qmp_guest_up_find(qb, guest_id, err)))
		return -1;
	if (!(op = tsd_qmp_op_new(qb, g, TSD_OP_REFRESH))) {
		mmio_error_set(err, MMIO_E_NOMEM, "out of memory");
		return -1;
	}
	op->base.layout_cb = cb;
	op->base.ud = ud;
	if (!tsd_qmp_op_refuse_unresponsive(op))
		tsd_qmp_layout_read(op, NULL);
	return 0;
}

const struct tsd_driver tsd_qmp_driver = {
	.name = "qmp",
	.platform = TSD_PLATFORM_QEMU,
	.open = tsd_qmp_open,
	.close = tsd_qmp_close,
	.refresh = tsd_qmp_refresh,
	.attach = tsd_qmp_attach,
	.detach = tsd_qmp_detach,
};
