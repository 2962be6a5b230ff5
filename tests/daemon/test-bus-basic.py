#!/bin/sh
''''exec "$(dirname "$0")/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""mmiod on a private system bus with no back ends: properties, profiles,
unknown guests, the live introspection against the contract, clean exit."""
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import busctx as t  # noqa: E402

if not shutil.which("dbus-daemon"):
    t.skip_all("dbus-daemon not installed")
if not os.path.exists(t.MMIOD):
    t.skip_all("mmiod not built")

env = t.Env()
# a back end that cannot exist: mmiod logs it and runs with none
env.start_daemon("--backend", "nosuch:x")
mgr = env.manager()

t.ok(env.prop(t.MANAGER_PATH, t.MANAGER, "Version") == 1, "Version is 1")
t.ok(list(env.prop(t.MANAGER_PATH, t.MANAGER, "Backends")) == [], "Backends is empty")
t.ok("no back end \"nosuch\"" in env.logtext(), "unknown back end is logged", env.logtext())

profiles = mgr.ListProfiles()
t.ok(isinstance(profiles, list) or len(profiles) >= 0, "ListProfiles answers (%d profiles)" % len(profiles))
t.ok(all(str(p[2]).startswith("bars:") for p in profiles), "every profile has a bars: spec",
     [tuple(map(str, p)) for p in profiles][:3])

for method, args in (("Check", ("vm-none", ["bars:mem32:1M"], {})),
                     ("Attach", ("vm-none", "bars:mem32:1M", {})),
                     ("Reserve", ("vm-none", ["bars:mem32:1M"], {})),
                     ("Release", ("vm-none", "r1", {})),
                     ("Detach", ("vm-none", "a1", {}))):
    try:
        getattr(mgr, method)(*args)
        t.ok(False, "%s on an unknown guest fails" % method)
    except t.dbus.DBusException as e:
        t.ok(e.get_dbus_name() == "org.mmiod1.Error.NoSuchGuest" and "vm-none" in e.get_dbus_message(),
             "%s on an unknown guest -> NoSuchGuest naming it" % method, e)

try:
    mgr.Check("vm-none", ["bars:mem32:1M"], {"bogus": t.dbus.Boolean(True)})
    t.ok(False, "unknown option is refused")
except t.dbus.DBusException as e:
    t.ok(e.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs" and "bogus" in e.get_dbus_message(),
         "unknown option -> InvalidArgs naming it", e)

try:
    mgr.Plan(["bars:mem64p:1G"], "", {})
    t.ok(True, "Plan answers")
except t.dbus.DBusException as e:
    t.ok(e.get_dbus_name() == "org.mmiod1.Error.NotSupported", "Plan without a planner -> NotSupported", e)

with open(os.path.join(t.top_srcdir, "dbus", "org.mmiod1.xml")) as f:
    contract = t.normalise(f.read())
live = t.normalise(env.introspect(t.MANAGER_PATH))
want = [m for m in contract if m[0] == t.MANAGER]
t.ok(live == want, "live Introspect of /org/mmiod1 matches the contract",
     "only in XML: %s\nonly live: %s" % ([m for m in want if m not in live], [m for m in live if m not in want]))
om = env.bus.get_object(t.BUS, t.MANAGER_PATH).GetManagedObjects(
    dbus_interface="org.freedesktop.DBus.ObjectManager")
t.ok(len(om) == 0, "ObjectManager lists no guests")

rc = env.stop_daemon(signal.SIGTERM)
t.ok(rc == 0, "SIGTERM: clean exit (rc %s)" % rc, env.logtext())

# a damaged state file is moved aside and mmiod starts empty
with open(os.path.join(env.state_dir, "state.json"), "w") as f:
    f.write("{ this is not json")
env.start_daemon("--backend", "nosuch:x")
aside = [n for n in os.listdir(env.state_dir) if n.startswith("state.json.corrupt-")]
t.ok(len(aside) == 1, "damaged state file moved aside", os.listdir(env.state_dir))
t.ok("damaged" in env.logtext(), "and mmiod says so")
t.ok(env.stop_daemon(signal.SIGINT) == 0, "SIGINT: clean exit")
t.done()
