#!/bin/sh
''''exec "$(dirname "$0")/../daemon/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""Authorization on a private system bus with a real mmiod, a real QEMU
guest and python3-dbusmock's polkitd template as polkit:
  - every mutating method (Attach, Detach, Reserve, Release) is refused
    with AccessDenied for an unprivileged caller (uid 65534, through
    setpriv) when polkit says no, and when polkit is not on the bus;
    allowed when polkit says yes (SetAllowed([org.mmiod1.manage])); always
    allowed for root, who is never sent to polkit;
  - read-only calls (Check, Plan, ListProfiles, properties,
    GetManagedObjects, Introspect) are allowed for everyone;
  - polkit is asked about action org.mmiod1.manage for the caller's bus name;
  - the bus policy dbus/org.mmiod1.conf lets only root own org.mmiod1.
Skips when not run as root, or without setpriv or python3-dbusmock."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relctx as R  # noqa: E402
from relctx import t, q, D  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NOBODY = 65534
AD = "org.freedesktop.DBus.Error.AccessDenied"
ACTION = "org.mmiod1.manage"
PK = "org.freedesktop.PolicyKit1"

if os.geteuid() != 0:
    t.skip_all("needs root (runs the unprivileged client through setpriv)")
if not shutil.which("setpriv"):
    t.skip_all("setpriv not installed")
if subprocess.run(["/usr/bin/python3", "-c", "import dbusmock"], capture_output=True).returncode:
    t.skip_all("python3-dbusmock not installed (apt-get install python3-dbusmock)")
why = q.missing_tools()
if why:
    t.skip_all(why)


class PolkitEnv(t.Env):
    """busctx's bus plus what a real system bus says about polkit: root
    may own org.freedesktop.PolicyKit1, everyone may call it.  busctx's
    tests/daemon/system-bus.conf includes ../../dbus/org.mmiod1.conf; a
    copy of it in a stand-in tree includes a stand-in that includes the
    real file and the polkit rules.  The bus directory is opened to other
    users (the socket is all they can reach in it)."""

    def start_bus(self):
        os.chmod(self.dir, 0o711)
        fake = os.path.join(self.dir, "src")
        os.makedirs(os.path.join(fake, "dbus"))
        with open(os.path.join(fake, "dbus", "org.mmiod1.conf"), "w") as f:
            f.write("""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>%s</include>
  <policy user="root"><allow own="%s"/></policy>
  <policy context="default"><allow send_destination="%s"/></policy>
</busconfig>
""" % (os.path.join(t.top_srcdir, "dbus", "org.mmiod1.conf"), PK, PK))
        os.makedirs(os.path.join(fake, "tests", "daemon"))
        shutil.copy(os.path.join(t.top_srcdir, "tests", "daemon", "system-bus.conf"),
                    os.path.join(fake, "tests", "daemon"))
        real = t.top_srcdir
        t.top_srcdir = fake
        try:
            super().start_bus()
        finally:
            t.top_srcdir = real


env, qdir, vms, paths = q.qemu_env(env=PolkitEnv())
vm, path = vms["vm1"], paths["vm1"]
mgr = env.manager()
SPEC = q.testdev_spec(q.M)
TD = {"qemu-device": "pci-testdev,membar=1M"}


def start_polkit():
    p = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--system", "--template", "polkitd"],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(env.dir, "polkit.log"), "a"))
    env.procs.append(p)
    q.wait_for(lambda: env.bus.name_has_owner(PK) or p.poll() is not None, 20, "the polkit mock")
    if p.poll() is not None:
        raise RuntimeError("the polkit mock exited: %s" % open(os.path.join(env.dir, "polkit.log")).read())
    return p


def pk_obj():
    return env.bus.get_object(PK, "/org/freedesktop/PolicyKit1/Authority")


def pk_calls():
    return [(str(c[1]), c[2]) for c in pk_obj().GetCalls(dbus_interface="org.freedesktop.DBus.Mock")
            if str(c[1]) == "CheckAuthorization"]


def as_nobody(calls, background=None):
    """Runs authz-client.py as uid/gid 65534 with no groups."""
    cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
           "/usr/bin/python3", os.path.join(HERE, "authz-client.py"), env.address, json.dumps(calls)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    env.procs.append(p)
    if background:
        while p.poll() is None:
            background()
            time.sleep(0.3)
    out, err = p.communicate(timeout=120)
    try:
        res = json.loads(out)
    except ValueError:
        raise RuntimeError("the unprivileged client failed (rc %s): %s" % (p.returncode, err[-1500:]))
    return res[:-1], res[-1][1]


def M(method, sig, *args, path=t.MANAGER_PATH, iface=t.MANAGER):
    return [method, sig, list(args), path, iface]


PROPS = "org.freedesktop.DBus.Properties"
READ_ONLY = [
    ("Check", M("Check", "sasa{sv}", "vm1", ["bars:mem32:4K"], {"refresh": True})),
    ("Plan", M("Plan", "assa{sv}", ["bars:mem64p:1G"], "vm1", {})),
    ("ListProfiles", M("ListProfiles", "")),
    ("Get Manager.Version", M("Get", "ss", t.MANAGER, "Version", iface=PROPS)),
    ("GetAll Guest", M("GetAll", "s", t.GUEST, path=path, iface=PROPS)),
    ("GetManagedObjects", M("GetManagedObjects", "", iface="org.freedesktop.DBus.ObjectManager")),
    ("Introspect", M("Introspect", "", iface="org.freedesktop.DBus.Introspectable")),
]


def mutating(aid, rid):
    return [
        ("Attach", M("Attach", "ssa{sv}", "vm1", SPEC, TD)),
        ("Reserve", M("Reserve", "sasa{sv}", "vm1", ["bars:mem32:16M"], {})),
        ("Release", M("Release", "ssa{sv}", "vm1", rid, {})),
        ("Detach", M("Detach", "ssa{sv}", "vm1", aid, {})),
    ]


matrix = {}     # (caller, method) -> outcome, for docs/reliability.md

try:
    # ---- root, without polkit on the bus -----------------------------------------------
    aid = str(mgr.Attach("vm1", SPEC, TD, timeout=120)[0])
    rid = str(mgr.Reserve("vm1", ["bars:mem32:16M"], {"label": "root's"})[0])
    t.ok(True, "root without polkit on the bus: Attach (%s) and Reserve (%s) allowed" % (aid, rid))
    matrix[("root", "Attach")] = matrix[("root", "Reserve")] = "allowed"

    # ---- unprivileged, polkit not on the bus ---------------------------------------------
    base = R.snapshot(env, path)
    res, who = as_nobody([c for _, c in mutating(aid, rid)])
    for (name, _), (err, msg) in zip(mutating(aid, rid), res):
        t.ok(err == AD and "polkit is not available on the bus: only root may do this (action %s)" % ACTION in msg,
             "uid 65534, no polkit: %s -> AccessDenied (polkit not available)" % name, (err, msg))
        matrix[("nobody, no polkit", name)] = "AccessDenied" if err == AD else err
    t.ok(R.snapshot(env, path) == base, "uid 65534, no polkit: books unchanged")

    # ---- unprivileged, polkit says no --------------------------------------------------------
    pk = start_polkit()
    res, who = as_nobody([c for _, c in mutating(aid, rid)] + [c for _, c in READ_ONLY])
    for (name, _), (err, msg) in zip(mutating(aid, rid), res):
        t.ok(err == AD and "not authorized for %s" % ACTION in msg,
             "uid 65534, polkit says no: %s -> AccessDenied \"not authorized for %s\"" % (name, ACTION), (err, msg))
        matrix[("nobody, polkit no", name)] = "AccessDenied" if err == AD else err
    for (name, _), (err, msg) in zip(READ_ONLY, res[4:]):
        t.ok(err == "ok", "uid 65534: %s allowed (read-only)" % name, (err, msg))
        matrix[("nobody", name)] = "allowed" if err == "ok" else err
    t.ok(R.snapshot(env, path) == base, "uid 65534, polkit says no: books unchanged (device %s and reservation %s "
         "still there)" % (aid, rid), (base, R.snapshot(env, path)))
    calls = pk_calls()
    t.ok(len(calls) == 4 and all(str(c[1][1]) == ACTION for c in calls),
         "polkit was asked 4 times, about %s" % ACTION, calls)
    t.ok(calls and all(str(c[1][0][0]) == "system-bus-name" and str(c[1][0][1]["name"]) == who for c in calls),
         "... for the caller's bus name (%s)" % who, calls and calls[0][1][0])

    # ---- root never goes to polkit ---------------------------------------------------------------
    pk_obj().ClearCalls(dbus_interface="org.freedesktop.DBus.Mock")
    rid_r = str(mgr.Reserve("vm1", ["bars:mem32:4K"], {})[0])
    mgr.Release("vm1", rid_r, {})
    t.ok(pk_calls() == [], "root with polkit saying no: Reserve and Release allowed, polkit not asked")
    matrix[("root", "Release")] = "allowed"

    # ---- unprivileged, polkit says yes ---------------------------------------------------------
    pk_obj().SetAllowed([ACTION], dbus_interface="org.freedesktop.DBus.Mock")
    def reset():        # Detach completes only when the guest is reset (no guest OS)
        vm.qmp.cmd("system_reset")
    res, who = as_nobody([c for _, c in mutating(aid, rid)], background=reset)
    for (name, _), (err, msg) in zip(mutating(aid, rid), res):
        t.ok(err == "ok", "uid 65534, polkit says yes: %s allowed" % name, (err, msg))
        matrix[("nobody, polkit yes", name)] = "allowed" if err == "ok" else err
    aid2 = res[0][1].split("'")[1] if res[0][0] == "ok" else None
    t.ok(q.reservations(env, path) and rid not in [r[0] for r in q.reservations(env, path)],
         "polkit yes: root's reservation released by uid 65534, its own made", q.reservations(env, path))
    t.ok(vm.device(aid) is None and aid2 and vm.device(aid2) is not None,
         "polkit yes: root's device detached, uid 65534's attached (%s)" % aid2,
         [d.get("qdev_id") for d in vm.pci_devices()])
    # root detaches uid 65534's device (polkit still says yes, but root is not asked)
    pk_obj().ClearCalls(dbus_interface="org.freedesktop.DBus.Mock")
    out = {}

    def root_detach():
        b = D.bus.BusConnection(env.address)
        out["r"] = R.raw_call(b, "Detach", "ssa{sv}", ["vm1", aid2, D.Dictionary({}, signature="sv")])
        b.close()
    th = threading.Thread(target=root_detach)
    th.start()
    while th.is_alive():
        reset()
        th.join(0.3)
    t.ok(out.get("r", ("?",))[0] == "ok" and vm.device(aid2) is None and pk_calls() == [],
         "root: Detach allowed without asking polkit", out)
    matrix[("root", "Detach")] = "allowed" if out.get("r", ("?",))[0] == "ok" else out.get("r")

    # ---- the bus policy: only root owns org.mmiod1 -------------------------------------------
    res, who = as_nobody([M("RequestName", "su", "org.mmiod1", D.UInt32(4))])
    t.ok(res[0][0] == AD and "org.mmiod1" in res[0][1],
         "bus policy: uid 65534 cannot own org.mmiod1 -> AccessDenied", res)
    r = env.bus.request_name("org.mmiod1", D.bus.NAME_FLAG_DO_NOT_QUEUE)
    t.ok(r == D.bus.REQUEST_NAME_REPLY_EXISTS, "bus policy: root may own it (EXISTS: mmiod has it)", r)
    env.stop_daemon()
    res, who = as_nobody([M("RequestName", "su", "org.mmiod1", D.UInt32(4))])
    t.ok(res[0][0] == AD, "bus policy: uid 65534 cannot own org.mmiod1 even when it is free", res)

    print("# matrix: " + json.dumps({"%s|%s" % k: v for k, v in sorted(matrix.items())}))
except Exception as e:
    import traceback
    t.ok(False, "unexpected exception: %s" % e, traceback.format_exc() + "\n" + env.logtext()[-3000:])
t.done()
