# daemon/qmp.mk: the QEMU QMP back end
daemon_libmmiod_a_SOURCES += \
	daemon/toolstack-qmp.c
