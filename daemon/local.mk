# daemon/: mmiod.  Everything but main.c goes into daemon/libmmiod.a so tests can link it.
# Back ends add their sources to daemon_libmmiod_a_SOURCES from their own fragments.
noinst_LIBRARIES += daemon/libmmiod.a
daemon_libmmiod_a_SOURCES = \
	daemon/toolstack.h \
	daemon/toolstack.c
daemon_libmmiod_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon \
	$(LIBEVENT_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS) $(INIH_CFLAGS) \
	$(LIBVIRT_CFLAGS) $(LIBXL_CFLAGS)
MMIOD_LIBS = daemon/libmmiod.a lib/libmmio.a \
	$(LIBEVENT_LIBS) $(LIBSYSTEMD_LIBS) $(JSONC_LIBS) $(INIH_LIBS) \
	$(LIBVIRT_LIBS) $(LIBXL_LIBS)

# ---- the daemon proper (D-Bus layer, books, state) ----------------------------
daemon_libmmiod_a_SOURCES += \
	daemon/mmiod-names.h \
	daemon/daemon.h \
	daemon/daemon.c \
	daemon/books.h \
	daemon/books.c \
	daemon/state.h \
	daemon/state.c \
	daemon/log.h \
	daemon/log.c \
	daemon/authz.h \
	daemon/authz.c \
	daemon/bus-errors.h \
	daemon/bus-errors.c \
	daemon/bus-manager.c \
	daemon/bus-guest.c \
	daemon/introspect.c

# The default configuration, installed once as /etc/mmiod/mmiod.conf.
mmiodconfdir = $(sysconfdir)/mmiod
mmiodconf_DATA = data/mmiod.conf

# Integration tests on a private bus (tests/daemon/).  The mmiod program and
# these tests join TESTS once every back end the registry names is in the tree.
EXTRA_DIST += tests/daemon/busctx.py tests/daemon/run-py \
	tests/daemon/test-introspect.py tests/daemon/test-bus-basic.py
