/* SPDX-License-Identifier: MIT */
/* ops-error.c — filling an operation's error (ops-error.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "ops-error.h"

int ops_fail(struct ops_error *e, enum ops_errc code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int ops_fail_model(struct ops_error *e, const struct mmio_error *err)
{
	if (e) {
		e->code = OPS_E_MODEL;
		e->status = err->code;
		snprintf(e->msg, sizeof(e->msg), "%s", err->msg);
	}
	return -1;
}

int ops_fail_nomem(struct ops_error *e)
{
	struct mmio_error err = { .code = MMIO_E_NOMEM };
	snprintf(err.msg, sizeof(err.msg), "out of memory");
	return ops_fail_model(e, &err);
}

int ops_fail_toolstack(struct ops_error *e, enum tsd_rc rc, const char *msg)
{
	if (e) {
		e->code = OPS_E_TOOLSTACK;
		e->rc = rc;
		snprintf(e->msg, sizeof(e->msg), "%s", msg && msg[0] ? msg : tsd_rc_name(rc));
	}
	return -1;
}
