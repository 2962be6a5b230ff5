/* SPDX-License-Identifier: MIT */
/* bus-errors.c — the one error table (see bus-errors.h). */
#include "config.h"

#include <errno.h>

#include "bus-errors.h"
#include "mmiod-names.h"

const sd_bus_error_map bus_error_map[] = {
	SD_BUS_ERROR_MAP(MMIOD_ERROR_NO_SPACE, ENOSPC),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_NO_SUCH_GUEST, ENOENT),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_INVALID_DEVICE, EINVAL),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_BUSY, EBUSY),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_TOOLSTACK_FAILED, EIO),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_NOT_SUPPORTED, EOPNOTSUPP),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_NO_SUCH_RESERVATION, ESRCH),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_NO_SUCH_DEVICE, ENODEV),
	SD_BUS_ERROR_MAP(MMIOD_ERROR_GUEST_UNRESPONSIVE, ETIMEDOUT),
	SD_BUS_ERROR_MAP_END
};

int bus_errors_register(void)
{
	static int done;
	int r = 0;

	if (!done) {
		r = sd_bus_error_add_map(bus_error_map);
		done = r >= 0;
	}
	return r;
}

const char *bus_error_from_status(enum mmio_status st)
{
	switch (st) {
	case MMIO_OK: return NULL;
	case MMIO_E_INVALID: return MMIOD_ERROR_INVALID_DEVICE;
	case MMIO_E_NOSPACE: return MMIOD_ERROR_NO_SPACE;
	case MMIO_E_NOTFOUND: return MMIOD_ERROR_INVALID_DEVICE;
	case MMIO_E_NOMEM: return SD_BUS_ERROR_NO_MEMORY;
	case MMIO_E_IO: return MMIOD_ERROR_INVALID_DEVICE;
	case MMIO_E_UNSUPPORTED: return MMIOD_ERROR_NOT_SUPPORTED;
	}
	return SD_BUS_ERROR_FAILED;
}

const char *bus_error_from_rc(enum tsd_rc rc)
{
	switch (rc) {
	case TSD_OK: return NULL;
	case TSD_E_FAILED:
	case TSD_E_UNASSIGNED:
	case TSD_E_TIMEOUT: return MMIOD_ERROR_TOOLSTACK_FAILED;
	case TSD_E_NOGUEST: return MMIOD_ERROR_NO_SUCH_GUEST;
	case TSD_E_NOTSUPPORTED: return MMIOD_ERROR_NOT_SUPPORTED;
	case TSD_E_MISMATCH: return MMIOD_ERROR_INVALID_DEVICE;
	case TSD_E_UNRESPONSIVE: return MMIOD_ERROR_GUEST_UNRESPONSIVE;
	}
	return MMIOD_ERROR_TOOLSTACK_FAILED;
}

int bus_error_set_status(sd_bus_error *e, enum mmio_status st, const char *msg)
{
	return sd_bus_error_set(e, bus_error_from_status(st), msg);
}

int bus_error_set_rc(sd_bus_error *e, enum tsd_rc rc, const char *msg)
{
	return sd_bus_error_set(e, bus_error_from_rc(rc), msg);
}

const char *bus_error_name(const struct ops_error *err)
{
	switch (err->code) {
	case OPS_OK: return NULL;
	case OPS_E_MODEL: return bus_error_from_status(err->status);
	case OPS_E_TOOLSTACK: return bus_error_from_rc(err->rc);
	case OPS_E_INVALID_ARGS: return SD_BUS_ERROR_INVALID_ARGS;
	case OPS_E_NO_SUCH_GUEST: return MMIOD_ERROR_NO_SUCH_GUEST;
	case OPS_E_INVALID_DEVICE: return MMIOD_ERROR_INVALID_DEVICE;
	case OPS_E_NOT_SUPPORTED: return MMIOD_ERROR_NOT_SUPPORTED;
	case OPS_E_BUSY: return MMIOD_ERROR_BUSY;
	case OPS_E_NO_SUCH_RESERVATION: return MMIOD_ERROR_NO_SUCH_RESERVATION;
	case OPS_E_NO_SUCH_DEVICE: return MMIOD_ERROR_NO_SUCH_DEVICE;
	case OPS_E_TOOLSTACK_FAILED: return MMIOD_ERROR_TOOLSTACK_FAILED;
	case OPS_E_STATE_IO: return SD_BUS_ERROR_IO_ERROR;
	case OPS_E_GUEST_UNRESPONSIVE: return MMIOD_ERROR_GUEST_UNRESPONSIVE;
	}
	return SD_BUS_ERROR_FAILED;
}

int bus_error_set_ops(sd_bus_error *e, const struct ops_error *err)
{
	return sd_bus_error_set(e, bus_error_name(err), err->msg);
}

int bus_reply_ops_error(sd_bus_message *m, const struct ops_error *err)
{
	return sd_bus_reply_method_errorf(m, bus_error_name(err), "%s", err->msg);
}

int bus_reply_unbuilt(sd_bus_message *m)
{
	return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_FAILED, "cannot build the reply");
}
