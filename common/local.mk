# common/: what the daemon and the client share: the names that cross a
# process boundary (mmiod-names.h), string vectors, bounded message
# building, scope-based cleanup, reading an a{sv} (libsystemd's sd-bus).
# lib/ does not use it.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/cleanup.h \
	common/mmiod-names.h \
	common/strv.h \
	common/strv.c \
	common/strbuf.h \
	common/strbuf.c \
	common/table.h \
	common/table.c \
	common/bus-util.h \
	common/bus-util.c
common_libcommon_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)
