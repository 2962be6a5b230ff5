# daemon/qmp.mk: the QEMU QMP back end (always built: json-c and libevent only)
daemon_libmmiod_a_SOURCES += \
	daemon/qmp.h \
	daemon/qmp.c \
	daemon/qmp-map.h \
	daemon/qmp-map.c \
	daemon/toolstack-qmp.c
