# daemon/backends.mk: libvirt and libxl back ends
