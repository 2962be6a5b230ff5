# dbus/ rules: the contract (org.mmiod1.xml), the bus policy and the
# activation file, installed into the directories configure found.
dbusinterface_DATA = dbus/org.mmiod1.xml
dbuspolicy_DATA = dbus/org.mmiod1.conf
dbussystemservice_DATA = dbus/org.mmiod1.service

dbus/org.mmiod1.service: $(srcdir)/dbus/org.mmiod1.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) dbus && sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/dbus/org.mmiod1.service.in > $@.tmp && mv $@.tmp $@

EXTRA_DIST += dbus/org.mmiod1.xml dbus/org.mmiod1.conf dbus/org.mmiod1.service.in
CLEANFILES += dbus/org.mmiod1.service
