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

# Plan without a guest: QEMU always, Xen when asked
G = 1 << 30
possible, reason, res = mgr.Plan(["bars:mem64p:4G", "bars:mem32:16M"], "", {})
t.ok(possible and "pci-hole64-size" in reason, "Plan: QEMU plan for a 4 GiB BAR", reason)
t.ok(int(res["pci_hole64_bytes"]) == 8 * G,
     "Plan: pci_hole64_bytes = 8 GiB (4 GiB BAR + 3 GiB alignment slack, rounded up)", dict(res))
t.ok(str(res["qemu_args"]) == "-global i440FX-pcihost.pci-hole64-size=8G", "Plan: qemu_args",
     str(res.get("qemu_args")))
t.ok("<pcihole64 unit='GiB'>8</pcihole64>" in str(res["libvirt_xml"]) and "pci-root" in str(res["libvirt_xml"]),
     "Plan: libvirt_xml", str(res.get("libvirt_xml")))
t.ok(int(res["low_bytes_needed"]) == 16 << 20, "Plan: low_bytes_needed = 16 MiB")
t.ok("mmio_hole_mib" in res and "xl_cfg" in res and "Xen 4.17.4+" in reason,
     "Plan without a guest: the Xen plan too, with xl's defaults", (reason, sorted(res)))
possible, reason, res = mgr.Plan(["bars:mem64p:1G"], "", {"machine": "q35"})
t.ok(possible and str(res["qemu_args"]) == "" and int(res["pci_hole64_bytes"]) == G,
     "Plan q35: 1 GiB fits the default 32 GiB hole, no setting suggested", (reason, dict(res)))
t.ok(str(res.get("port_args")) == "-device pcie-root-port,id=hp1,chassis=100,pref64-reserve=2G" and
     "pcie-root-port" in reason,
     "Plan q35: one root port per device, reserving the BAR plus one largest BAR of slack",
     (reason, dict(res)))
possible, reason, res = mgr.Plan(["bars:mem64p:1G"], "", {})
t.ok("port_args" not in res, "Plan pc: no root-port advice", sorted(res))
possible, reason, res = mgr.Plan(["bars:mem32:256M", "bars:mem32:256M"], "",
                                 {"xen-memory-mib": t.dbus.UInt32(2048), "xen-version": "4.17.4+"})
t.ok(possible and int(res["mmio_hole_mib"]) > 0 and str(res["xl_cfg"]) == "mmio_hole = %d" % int(res["mmio_hole_mib"]),
     "Plan Xen: two 256 MiB 32-bit BARs need an mmio_hole (%s)" % str(res.get("xl_cfg")), (reason, dict(res)))
t.ok("Xen 4.17.4+" in reason and "QEMU" in reason and "pci_hole64_bytes" in res,
     "Plan Xen: both planners answer", reason)
possible, reason, res = mgr.Plan(["bars:mem32p:2G", "bars:mem32p:2G"], "", {"xen-version": "4.17.0"})
t.ok(not possible and reason, "Plan Xen: 4 GiB of 32-bit BARs is impossible", reason)
for opts, what in (({"machine": "arm"}, "machine"), ({"xen-version": "3.0"}, "xen-version"),
                   ({"xen-memory-mib": "big"}, "xen-memory-mib"), ({"refresh": True}, "refresh")):
    try:
        mgr.Plan(["bars:mem32:1M"], "", opts)
        t.ok(False, "Plan refuses a bad %s" % what)
    except t.dbus.DBusException as e:
        t.ok(e.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs" and what in e.get_dbus_message(),
             "Plan: bad %s -> InvalidArgs naming it" % what, e)
try:
    mgr.Plan(["bars:mem32:3M"], "", {})
    t.ok(False, "Plan refuses a bad device")
except t.dbus.DBusException as e:
    t.ok(e.get_dbus_name() == "org.mmiod1.Error.InvalidDevice", "Plan: bad device -> InvalidDevice", e)
try:
    mgr.Plan(["bars:mem32:1M"], "vm-none", {})
    t.ok(False, "Plan on an unknown guest fails")
except t.dbus.DBusException as e:
    t.ok(e.get_dbus_name() == "org.mmiod1.Error.NoSuchGuest", "Plan: unknown guest -> NoSuchGuest", e)

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
