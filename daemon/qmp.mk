# daemon/qmp.mk: the QEMU QMP back end
