/* SPDX-License-Identifier: MIT */
/*
 * mmioctl-names.h — the bus names the client speaks.
 *
 * The daemon's names header is the single source of truth; this file only
 * fills in what it does not (yet) define, so the client compiles either way
 * and a rename on the daemon side reaches the client without an edit here.
 */
#ifndef MMIOCTL_NAMES_H
#define MMIOCTL_NAMES_H

#if defined(__has_include)
#if __has_include("mmiod-names.h")
#include "mmiod-names.h"
#endif
#endif

#ifndef MMIOD_BUS_NAME
#define MMIOD_BUS_NAME "org.mmiod1"
#endif
#ifndef MMIOD_MANAGER_PATH
#define MMIOD_MANAGER_PATH "/org/mmiod1"
#endif
#ifndef MMIOD_GUEST_PATH_PREFIX
#define MMIOD_GUEST_PATH_PREFIX "/org/mmiod1/guest"
#endif
#ifndef MMIOD_MANAGER_INTERFACE
#define MMIOD_MANAGER_INTERFACE "org.mmiod1.Manager"
#endif
#ifndef MMIOD_GUEST_INTERFACE
#define MMIOD_GUEST_INTERFACE "org.mmiod1.Guest"
#endif

#ifndef MMIOD_ERROR_NO_SPACE
#define MMIOD_ERROR_NO_SPACE "org.mmiod1.Error.NoSpace"
#endif
#ifndef MMIOD_ERROR_NO_SUCH_GUEST
#define MMIOD_ERROR_NO_SUCH_GUEST "org.mmiod1.Error.NoSuchGuest"
#endif
#ifndef MMIOD_ERROR_INVALID_DEVICE
#define MMIOD_ERROR_INVALID_DEVICE "org.mmiod1.Error.InvalidDevice"
#endif
#ifndef MMIOD_ERROR_BUSY
#define MMIOD_ERROR_BUSY "org.mmiod1.Error.Busy"
#endif
#ifndef MMIOD_ERROR_TOOLSTACK_FAILED
#define MMIOD_ERROR_TOOLSTACK_FAILED "org.mmiod1.Error.ToolstackFailed"
#endif
#ifndef MMIOD_ERROR_NOT_SUPPORTED
#define MMIOD_ERROR_NOT_SUPPORTED "org.mmiod1.Error.NotSupported"
#endif
#ifndef MMIOD_ERROR_NO_SUCH_RESERVATION
#define MMIOD_ERROR_NO_SUCH_RESERVATION "org.mmiod1.Error.NoSuchReservation"
#endif
#ifndef MMIOD_ERROR_NO_SUCH_DEVICE
#define MMIOD_ERROR_NO_SUCH_DEVICE "org.mmiod1.Error.NoSuchDevice"
#endif

/* The Check/Attach/Reserve placement tuple. */
#define MMIOCTL_PLACE_SIG "(suststb)"

#endif
