/* SPDX-License-Identifier: MIT */
/*
 * ops-error.h — why an operation of mmiod failed, in mmiod's own terms.
 * The operations (ops.c) decide the kind where they decide the failure;
 * which D-Bus error name each kind becomes is bus-errors.c's business
 * alone (the model's and the back ends' codes are carried as they are
 * and mapped there too).
 */
#ifndef MMIOD_OPS_ERROR_H
#define MMIOD_OPS_ERROR_H

#include "mmio-model.h"
#include "toolstack.h"

enum ops_errc {
	OPS_OK = 0,
	OPS_E_MODEL,                    /* from the model or the books: see status */
	OPS_E_TOOLSTACK,                /* from a back end's operation: see rc */
	OPS_E_INVALID_ARGS,             /* an argument other than the device is wrong */
	OPS_E_NO_SUCH_GUEST,
	OPS_E_INVALID_DEVICE,
	OPS_E_NOT_SUPPORTED,
	OPS_E_BUSY,
	OPS_E_NO_SUCH_RESERVATION,
	OPS_E_NO_SUCH_DEVICE,
	OPS_E_TOOLSTACK_FAILED,         /* a back end refused to start */
	OPS_E_STATE_IO,                 /* the state file could not be written */
	OPS_E_GUEST_UNRESPONSIVE,       /* the guest's toolstack does not answer */
};

struct ops_error {
	enum ops_errc code;
	enum mmio_status status;        /* OPS_E_MODEL */
	enum tsd_rc rc;                 /* OPS_E_TOOLSTACK */
	char msg[512];
};

/* Each fills e (when not NULL) and returns -1, for `return ops_fail(...)`. */
int ops_fail(struct ops_error *e, enum ops_errc code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ops_fail_model(struct ops_error *e, const struct mmio_error *err);
int ops_fail_nomem(struct ops_error *e);
/* msg NULL or "": the code's name (tsd_rc_name). */
int ops_fail_toolstack(struct ops_error *e, enum tsd_rc rc, const char *msg);

#endif
