# SPDX-License-Identifier: MIT
"""Run by test-authz.py as an unprivileged uid (not a test itself): makes
the calls given as JSON in argv[2] on the bus at argv[1], one connection,
and prints [[error name or "ok", message or reply], ...] as JSON.
A call is [method, signature, args, path, interface]; the pseudo-method
"RequestName" asks the bus driver for a name instead."""
import json
import sys

import dbus
import dbus.lowlevel

bus = dbus.bus.BusConnection(sys.argv[1])
out = []
for method, sig, args, path, iface in json.loads(sys.argv[2]):
    if method == "RequestName":
        dest, path, iface = "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"
    else:
        dest = "org.mmiod1"
    m = dbus.lowlevel.MethodCallMessage(dest, path, iface, method)
    if sig:
        conv = []
        for a in args:
            conv.append(dbus.Dictionary(a, signature="sv") if isinstance(a, dict) else a)
        m.append(signature=sig, *conv)
    try:
        r = bus.send_message_with_reply_and_block(m, 90)
        out.append(["ok", str(r.get_args_list())[:300]])
    except dbus.DBusException as e:
        out.append([e.get_dbus_name(), e.get_dbus_message() or ""])
out.append(["unique-name", bus.get_unique_name()])
print(json.dumps(out))
