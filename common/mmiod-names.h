/* SPDX-License-Identifier: MIT */
/*
 * mmiod-names.h — every name that crosses a process boundary, in one place:
 * bus name, object paths, interfaces, error names, the polkit action,
 * journal fields and MESSAGE_IDs, environment variables.  Used by the
 * daemon, the client and the tests.  Plain macros only: no includes.
 */
#ifndef MMIOD_NAMES_H
#define MMIOD_NAMES_H

/* ---- D-Bus ----------------------------------------------------------- */
#define MMIOD_BUS_NAME          "org.mmiod1"
#define MMIOD_API_VERSION       1u
#define MMIOD_PATH_ROOT         "/org/mmiod1"
#define MMIOD_PATH_MANAGER      "/org/mmiod1"
#define MMIOD_PATH_GUEST_PREFIX "/org/mmiod1/guest"  /* + "/" + sd_bus_path_encode(id) */
#define MMIOD_IFACE_MANAGER     "org.mmiod1.Manager"
#define MMIOD_IFACE_GUEST       "org.mmiod1.Guest"

/* The placement entry, "(s device, u bar, s kind, t size, s window, t address, b placed)". */
#define MMIOD_SIG_PLACE         "(suststb)"
#define MMIOD_SIG_PLACEMENT     "a(suststb)"
#define MMIOD_SIG_WINDOW        "(stttts)"
#define MMIOD_SIG_DEVICE        "(ssustts)"
#define MMIOD_SIG_RESERVATION   "(ssast)"
#define MMIOD_SIG_ATTACH        "(sss)"
#define MMIOD_SIG_PORT_WINDOW   "(sstts)"
#define MMIOD_SIG_PORT          "(ssssa(sstts))"
#define MMIOD_SIG_PROFILE       "(ssss)"
#define MMIOD_SIG_BACKEND       "(sbts)"

/* Option keys (a{sv}) */
#define MMIOD_OPT_REFRESH       "refresh"
#define MMIOD_OPT_QEMU_DEVICE   "qemu-device"
#define MMIOD_OPT_RESERVATION   "reservation"
#define MMIOD_OPT_PERSISTENT    "persistent"
#define MMIOD_OPT_ASSIGNABLE    "assignable"
#define MMIOD_OPT_WAIT          "wait"
#define MMIOD_OPT_INTERACTIVE   "interactive"
#define MMIOD_OPT_LABEL         "label"
#define MMIOD_OPT_PORT          "port"

/* ---- errors ------------------------------------------------------------ */
#define MMIOD_ERROR_PREFIX              "org.mmiod1.Error."
#define MMIOD_ERROR_NO_SPACE            "org.mmiod1.Error.NoSpace"
#define MMIOD_ERROR_NO_SUCH_GUEST       "org.mmiod1.Error.NoSuchGuest"
#define MMIOD_ERROR_INVALID_DEVICE      "org.mmiod1.Error.InvalidDevice"
#define MMIOD_ERROR_BUSY                "org.mmiod1.Error.Busy"
#define MMIOD_ERROR_TOOLSTACK_FAILED    "org.mmiod1.Error.ToolstackFailed"
#define MMIOD_ERROR_NOT_SUPPORTED       "org.mmiod1.Error.NotSupported"
#define MMIOD_ERROR_NO_SUCH_RESERVATION "org.mmiod1.Error.NoSuchReservation"
#define MMIOD_ERROR_NO_SUCH_DEVICE      "org.mmiod1.Error.NoSuchDevice"
#define MMIOD_ERROR_GUEST_UNRESPONSIVE  "org.mmiod1.Error.GuestUnresponsive"

/* ---- polkit ------------------------------------------------------------ */
#define MMIOD_POLKIT_ACTION_MANAGE "org.mmiod1.manage"

/* ---- journal ----------------------------------------------------------- */
#define MMIOD_JOURNAL_GUEST  "MMIOD_GUEST"
#define MMIOD_JOURNAL_DEVICE "MMIOD_DEVICE"
#define MMIOD_JOURNAL_WINDOW "MMIOD_WINDOW"
#define MMIOD_JOURNAL_SIZE   "MMIOD_SIZE"
/* MESSAGE_IDs (journalctl MESSAGE_ID=...) */
#define MMIOD_MESSAGE_STARTUP       "68450d02683842a4ad2f63cd4c8d8ff4"
#define MMIOD_MESSAGE_ADMIT         "9d7ed0c96c9347bfb24e7068ff3e31b1"
#define MMIOD_MESSAGE_REJECT        "4509e003282a458ca68ddbabbcb29fc1"
#define MMIOD_MESSAGE_ATTACH_DONE   "6b5b2745b6b447d38c34ccfcce3a9bbb"
#define MMIOD_MESSAGE_ATTACH_FAILED "30d7555ed6a04ae6b77cdcb96986ff40"
#define MMIOD_MESSAGE_RESERVE       "8063dd1d189b421283c4ff9068660043"
#define MMIOD_MESSAGE_RELEASE       "78789cb946714451986698d49e3757f2"
#define MMIOD_MESSAGE_RECONCILE     "80b24786b41646afa87e6cd1e7312b96"
#define MMIOD_MESSAGE_STATE_CORRUPT "e1f7c34a4c9845f3b636989e6866f37c"

/* ---- environment ------------------------------------------------------- */
#define MMIOD_ENV_STATE_DIRECTORY   "STATE_DIRECTORY"    /* set by systemd StateDirectory= */
#define MMIOD_ENV_RUNTIME_DIRECTORY "RUNTIME_DIRECTORY"  /* set by systemd RuntimeDirectory= */
#define MMIOD_ENV_CATALOGUE         "MMIOD_CATALOGUE"    /* device catalogue path */
#define MMIOD_ENV_TEST_ABORT_AT     "MMIOD_TEST_ABORT_AT" /* TEST ONLY: abort() at a step */
#define MMIOD_ENV_SYSTEM_BUS        "DBUS_SYSTEM_BUS_ADDRESS"

/* ---- files ------------------------------------------------------------- */
#define MMIOD_STATE_FILE     "state.json"
#define MMIOD_STATE_VERSION  1
#define MMIOD_DEFAULT_STATE_DIR "/var/lib/mmiod"
#define MMIOD_DEFAULT_RUNTIME_DIR "/run/mmiod"

#endif
