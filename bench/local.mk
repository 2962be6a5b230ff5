# bench/: benchmarks.  Built by `make bench` (and by CI as a smoke run); they
# print figures and never fail on time.
EXTRA_PROGRAMS = bench/bench-model
bench_bench_model_SOURCES = bench/bench-model.c bench/clock.h
bench_bench_model_LDADD = lib/libmmio.a
bench_bench_model_CFLAGS = $(AM_CFLAGS) -O2
CLEANFILES += $(EXTRA_PROGRAMS)

EXTRA_PROGRAMS += bench/bench-ports
bench_bench_ports_SOURCES = bench/bench-ports.c bench/clock.h
bench_bench_ports_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
bench_bench_ports_LDADD = $(MMIOD_LIBS)
bench_bench_ports_CFLAGS = $(AM_CFLAGS) -O2

bench: bench/bench-model bench/bench-ports
	bench/bench-model
	bench/bench-ports
bench-quick: bench/bench-model bench/bench-ports
	bench/bench-model --quick
	bench/bench-ports --quick
.PHONY: bench bench-quick

EXTRA_PROGRAMS += bench/echo-service bench/bench-dbus
bench_echo_service_SOURCES = bench/echo-service.c
bench_echo_service_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)
bench_echo_service_LDADD = $(LIBSYSTEMD_LIBS)
bench_bench_dbus_SOURCES = bench/bench-dbus.c
bench_bench_dbus_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)
bench_bench_dbus_LDADD = $(LIBSYSTEMD_LIBS)
EXTRA_DIST += bench/bench-dbus.sh bench/bench-bus.conf
bench: bench-dbus
bench-dbus: daemon/mmiod client/mmioctl bench/echo-service bench/bench-dbus
	top_srcdir=$(abs_top_srcdir) $(SHELL) $(abs_top_srcdir)/bench/bench-dbus.sh || true
.PHONY: bench-dbus

# ---- bench-scale (issue "Performance and scale", items 3 and 4) ----
# Many guests through libvirt's test driver, and the Attach path overhead
# against a fake QMP responder.  Figures only; never fail on time.
EXTRA_DIST += bench/bench-scale.sh bench/notify-ready.py bench/bench-attach.py bench/fake-qmp.py
if HAVE_LIBVIRT
EXTRA_PROGRAMS += bench/libvirt-open
bench_libvirt_open_SOURCES = bench/libvirt-open.c
bench_libvirt_open_CFLAGS = $(AM_CFLAGS) $(LIBVIRT_CFLAGS)
bench_libvirt_open_LDADD = $(LIBVIRT_LIBS)
BENCH_SCALE_DEPS = bench/libvirt-open
EXTRA_PROGRAMS += bench/libvirt-conn
bench_libvirt_conn_SOURCES = bench/libvirt-conn.c
bench_libvirt_conn_CFLAGS = $(AM_CFLAGS) $(LIBVIRT_CFLAGS) -pthread
bench_libvirt_conn_LDADD = $(LIBVIRT_LIBS) -lpthread
# As root, starts a private libvirtd and two guests: not part of `make bench`.
bench-libvirt-conn: bench/libvirt-conn
	top_builddir=$(abs_top_builddir) python3 $(abs_top_srcdir)/bench/bench-libvirt-conn.py || true
endif
EXTRA_DIST += bench/bench-libvirt-conn.py
.PHONY: bench-libvirt-conn
bench: bench-scale
bench-scale: daemon/mmiod client/mmioctl bench/echo-service bench/bench-dbus $(BENCH_SCALE_DEPS)
	top_srcdir=$(abs_top_srcdir) $(SHELL) $(abs_top_srcdir)/bench/bench-scale.sh || true
bench: bench-attach
bench-attach: daemon/mmiod
	@for py in /usr/bin/python3 python3; do \
		if command -v $$py >/dev/null 2>&1 && $$py -c 'import dbus' 2>/dev/null; then \
			top_srcdir=$(abs_top_srcdir) top_builddir=$(abs_top_builddir) $$py $(abs_top_srcdir)/bench/bench-attach.py || true; \
			BENCH_STATE_PARENT=/dev/shm top_srcdir=$(abs_top_srcdir) top_builddir=$(abs_top_builddir) $$py $(abs_top_srcdir)/bench/bench-attach.py || true; \
			exit 0; fi; done; echo "# bench-attach: skipped (no python3 with the dbus module)"
.PHONY: bench-scale bench-attach
# ---- end bench-scale ----
