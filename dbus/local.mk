# dbus/ rules
