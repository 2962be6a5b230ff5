# daemon/: mmiod.  Everything but main.c goes into daemon/libmmiod.a so tests can link it.
# Back ends add their sources to daemon_libmmiod_a_SOURCES from their own fragments.
noinst_LIBRARIES += daemon/libmmiod.a
daemon_libmmiod_a_SOURCES = \
	daemon/toolstack.h \
	daemon/toolstack.c \
	daemon/toolstack-registry.h \
	daemon/toolstack-registry.c \
	daemon/worker.h \
	daemon/worker.c
daemon_libmmiod_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon \
	$(LIBEVENT_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS) $(INIH_CFLAGS) \
	$(LIBVIRT_CFLAGS) $(LIBXL_CFLAGS)
MMIOD_LIBS = daemon/libmmiod.a common/libcommon.a lib/libmmio.a \
	$(LIBEVENT_LIBS) $(LIBSYSTEMD_LIBS) $(JSONC_LIBS) $(INIH_LIBS) \
	$(LIBVIRT_LIBS) $(LIBXL_LIBS)

# ---- the daemon proper (books, state, operations, D-Bus layer) ----------------
daemon_libmmiod_a_SOURCES += \
	daemon/daemon.h \
	daemon/daemon.c \
	daemon/layout.h \
	daemon/layout.c \
	daemon/books.h \
	daemon/books-internal.h \
	daemon/books-ports.h \
	daemon/books.c \
	daemon/books-ports.c \
	daemon/books-admit.c \
	daemon/books-past.h \
	daemon/books-past.c \
	daemon/range-vector.h \
	daemon/range-vector.c \
	daemon/state.h \
	daemon/state.c \
	daemon/log.h \
	daemon/log.c \
	daemon/ops-error.h \
	daemon/ops-error.c \
	daemon/ops.h \
	daemon/ops.c \
	daemon/ops-plan.c \
	daemon/authz.h \
	daemon/authz.c \
	daemon/bus.h \
	daemon/event-util.h \
	daemon/bus-loop.h \
	daemon/bus-loop.c \
	daemon/bus-service.c \
	daemon/bus-errors.h \
	daemon/bus-errors.c \
	daemon/bus-manager.c \
	daemon/bus-options.h \
	daemon/bus-options.c \
	daemon/bus-guest.c \
	daemon/introspect.c

# The default configuration, installed once as /etc/mmiod/mmiod.conf.
mmiodconfdir = $(sysconfdir)/mmiod
mmiodconf_DATA = data/mmiod.conf

# ---- the program -------------------------------------------------------------
sbin_PROGRAMS += daemon/mmiod
daemon_mmiod_SOURCES = daemon/main.c
daemon_mmiod_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
daemon_mmiod_LDADD = $(MMIOD_LIBS)

# ---- tests/daemon/ ---------------------------------------------------------------
# The books without a bus or a back end (a unit test: runs under the sanitizers too).
TESTS += tests/daemon/test-books tests/daemon/test-books-ports
UNIT_TESTS += tests/daemon/test-books tests/daemon/test-books-ports
check_PROGRAMS += tests/daemon/test-books tests/daemon/test-books-ports
tests_daemon_test_books_SOURCES = tests/daemon/test-books.c \
	tests/daemon/books-fixture.c tests/daemon/books-fixture.h
tests_daemon_test_books_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
tests_daemon_test_books_LDADD = $(MMIOD_LIBS)
tests_daemon_test_books_ports_SOURCES = tests/daemon/test-books-ports.c \
	tests/daemon/books-fixture.c tests/daemon/books-fixture.h
tests_daemon_test_books_ports_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
tests_daemon_test_books_ports_LDADD = $(MMIOD_LIBS)

# What the guest holds that the toolstack does not show (books-past.c).
TESTS += tests/daemon/test-books-past
UNIT_TESTS += tests/daemon/test-books-past
check_PROGRAMS += tests/daemon/test-books-past
tests_daemon_test_books_past_SOURCES = tests/daemon/test-books-past.c
tests_daemon_test_books_past_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
tests_daemon_test_books_past_LDADD = $(MMIOD_LIBS)

# The pool of threads for blocking toolstack calls.
TESTS += tests/daemon/test-worker
UNIT_TESTS += tests/daemon/test-worker
check_PROGRAMS += tests/daemon/test-worker
tests_daemon_test_worker_SOURCES = tests/daemon/test-worker.c
tests_daemon_test_worker_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
tests_daemon_test_worker_LDADD = $(MMIOD_LIBS)

# The operations layer without a bus (a unit test with a fake back end).
TESTS += tests/daemon/test-ops
UNIT_TESTS += tests/daemon/test-ops
check_PROGRAMS += tests/daemon/test-ops
tests_daemon_test_ops_SOURCES = tests/daemon/test-ops.c
tests_daemon_test_ops_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
tests_daemon_test_ops_LDADD = $(MMIOD_LIBS)

# Integration tests: a private dbus-daemon and the real mmiod (python3 with
# the dbus module, through run-py; each skips itself when something it needs
# is missing).  They find mmiod at $(top_builddir)/daemon/mmiod.
TEST_EXTENSIONS += .py
PY_LOG_DRIVER = $(LOG_DRIVER)
TESTS += tests/daemon/test-introspect.py tests/daemon/test-bus-basic.py
dist_check_SCRIPTS += tests/daemon/run-py \
	tests/daemon/test-introspect.py tests/daemon/test-bus-basic.py
EXTRA_DIST += tests/daemon/busctx.py tests/daemon/system-bus.conf
# With real QEMU guests (qemu-system-x86_64, TCG, stopped with -S) through
# the qmp back end; skipped when QEMU or the back end is missing.
TESTS += tests/daemon/test-qemu.py tests/daemon/test-qemu-abort.py tests/daemon/test-qemu-q35.py tests/daemon/test-reload.py
dist_check_SCRIPTS += tests/daemon/test-qemu.py tests/daemon/test-qemu-abort.py tests/daemon/test-qemu-q35.py tests/daemon/test-reload.py
EXTRA_DIST += tests/daemon/qemuctx.py

# ---- tests/reliability ------------------------------------------------------------
# Reliability: malformed calls, faults, races, soak, authorization, systemd
# unit (docs/reliability.md).  Real dbus-daemon, real mmiod, real QEMU; each
# test skips itself when something it needs is missing.  make check runs
# them scaled down; make check-race and make soak run them full size.
RELIABILITY_TESTS = tests/reliability/test-bad-calls.py tests/reliability/test-faults.py \
	tests/reliability/test-race.py tests/reliability/test-soak.py \
	tests/reliability/test-authz.py tests/reliability/test-systemd.sh \
	tests/reliability/test-unresponsive.py
TESTS += $(RELIABILITY_TESTS)
dist_check_SCRIPTS += $(RELIABILITY_TESTS)
EXTRA_DIST += tests/reliability/relctx.py tests/reliability/soak-client.py \
	tests/reliability/authz-client.py tests/reliability/qmpfake.py
# Full size: 100 rounds of 64 racing Reserves, 5 rounds of 8 racing Attaches.
check-race: all
	RACE_ROUNDS=100 ATTACH_ROUNDS=5 $(MAKE) $(AM_MAKEFLAGS) check TESTS="tests/reliability/test-race.py"
	@cat tests/reliability/test-race.log
# Full size: 10 minutes of mixed calls from 16 clients against 3 guests.
soak: all
	SOAK_SECONDS=600 $(MAKE) $(AM_MAKEFLAGS) check TESTS="tests/reliability/test-soak.py"
	@cat tests/reliability/test-soak.log
.PHONY: check-race soak
# ---- end tests/reliability ----------------------------------------------------------
