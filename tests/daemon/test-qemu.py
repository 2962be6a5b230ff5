#!/bin/sh
''''exec "$(dirname "$0")/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""mmiod against a real QEMU (pc, TCG, stopped with -S) through the qmp
back end, on a private system bus: discovery, Windows against qom-get,
Check, Attach of pci-testdev, a failing attach releasing its hold,
Reserve/Release, two racing Attaches for the last block, a restart
keeping reservations, and the guest going away when QEMU dies."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import busctx as t  # noqa: E402
import qemuctx as q  # noqa: E402

env, qdir, vms, _ = q.qemu_env(wait=False)
vm = vms["vm1"]
sig = q.SignalBus(env.address)
mgr = env.manager()


try:
    # ---- discovery ----------------------------------------------------------
    path = q.wait_guest(env, "vm1")
    props = q.guests(env)[path]
    t.ok(str(props["Name"]) == "vm1", "discovery: guest Name from -name")
    t.ok(bool(props["CanAttach"]), "discovery: the guest can take hot-plugs")
    t.ok(str(props["Backend"]) == "qmp:" + qdir, "discovery: Backend names the qmp directory",
         props["Backend"])

    # ---- Windows against qom-get ----------------------------------------------
    ws = q.windows(env, path)
    lo_s, lo_e = vm.qom("pci-hole-start"), vm.qom("pci-hole-end")
    hi_s, hi_e = vm.qom("pci-hole64-start"), vm.qom("pci-hole64-end")
    t.ok("low" in ws and ws["low"][:2] == (lo_s, lo_e),
         "Windows: low = qom-get pci-hole-start/end [0x%x, 0x%x)" % (lo_s, lo_e), ws)
    t.ok("high" in ws and ws["high"][:2] == (hi_s, hi_e),
         "Windows: high = qom-get pci-hole64-start/end [0x%x, 0x%x)" % (hi_s, hi_e), ws)
    t.ok(all(v[4] == "toolstack" for k, v in ws.items() if k in ("low", "high")),
         "Windows: source toolstack", ws)
    nregions = sum(len(d["regions"]) for d in vm.pci_devices())
    t.ok(len(q.devices(env, path)) == nregions,
         "Devices: one row per BAR query-pci shows (%d)" % nregions, q.devices(env, path))

    # ---- Check ------------------------------------------------------------------
    fits, reason, pl = mgr.Check("vm1", [q.testdev_spec(q.M)], {})
    t.ok(fits and reason == "" and len(pl) == 3 and all(p[6] for p in pl),
         "Check: pci-testdev fits, every BAR placed", (fits, reason, pl))
    fits, reason, pl = mgr.Check("vm1", ["bars:mem64p:8G"], {"refresh": True})
    t.ok(not fits and "no space" in reason and "mem size 0x200000000 64bit pref" in reason,
         "Check: an 8 GiB BAR does not fit, reason in the kernel's words", reason)
    t.ok(len(pl) == 1 and not pl[0][6], "Check: its placement says not placed", pl)

    # ---- Attach ------------------------------------------------------------------------
    before = q.windows(env, path)
    spec = q.testdev_spec(q.M)
    aid, pl = mgr.Attach("vm1", spec, {"qemu-device": "pci-testdev,membar=1M"}, timeout=120)
    aid = str(aid)
    t.ok(aid and len(pl) == 3, "Attach: pci-testdev attached as %s" % aid, pl)
    qd = vm.device(aid)
    t.ok(qd is not None, "Attach: QEMU has a device with qdev id %s" % aid,
         [d.get("qdev_id") for d in vm.pci_devices()])
    if qd:
        got = sorted((r["bar"], r["type"], r["size"]) for r in qd["regions"])
        t.ok(got == [(0, "memory", 4096), (1, "io", 256), (2, "memory", q.M)],
             "Attach: pci-testdev's real BARs are what was declared", got)
    rows = [d for d in q.devices(env, path) if d[0] == aid]
    t.ok(sorted((r[2], r[4]) for r in rows) == [(0, 4096), (1, 256), (2, q.M)],
         "Devices: the new device's three BARs", rows)
    want = {int(p[1]): int(p[5]) for p in pl}
    t.ok(rows and all(r[6] == "predicted" and r[5] == want[r[2]] for r in rows),
         "Devices: unassigned by the stopped guest, shown at the predicted addresses", (rows, want))
    t.ok(q.attaches(env, path) == [], "Attaches: empty once done")
    after = q.windows(env, path)
    t.ok(q.total_free(before) - q.total_free(after) == 4096 + q.M,
         "Windows: free memory shrank by the device's 4 KiB + 1 MiB",
         (before, after))
    sig.wait_signal("AttachFinished", lambda a: str(a[1]) == aid and bool(a[3]))
    t.ok(True, "AttachFinished(success) for %s" % aid)

    # ---- a failing attach releases its hold ---------------------------------------------
    before = q.windows(env, path)
    e = t.dbus_error(lambda: mgr.Attach("vm1", "bars:mem32:4K", {"qemu-device": "no-such-device-xyz"},
                                    timeout=120))
    t.ok(e and e[0] == "org.mmiod1.Error.ToolstackFailed",
         "failing attach (unknown QEMU device) -> ToolstackFailed", e)
    t.ok(q.windows(env, path) == before, "failing attach: Windows unchanged",
         (before, q.windows(env, path)))
    t.ok(q.attaches(env, path) == [], "failing attach: Attaches empty (the hold is released)")
    sig.wait_signal("AttachFinished", lambda a: not bool(a[3]))
    t.ok(True, "AttachFinished(failure) signalled")

    # ---- Reserve / Release ------------------------------------------------------------
    before = q.windows(env, path)
    rid, rpl = mgr.Reserve("vm1", ["bars:mem64p:1G"], {"label": "gpu later"})
    rid = str(rid)
    w1 = q.windows(env, path)
    kind = str(rpl[0][4])
    t.ok(rpl[0][6] and w1[kind][2] == before[kind][2] - q.G,
         "Reserve 1 GiB: free of the %s window drops by 1 GiB" % kind, (before, w1))
    t.ok(w1[kind][3] <= before[kind][3], "Reserve: largest_free does not grow", (before, w1))
    res = q.reservations(env, path)
    t.ok(res == [(rid, "gpu later", ["bars:mem64p:1G"], q.G)], "Reservations lists it", res)
    mgr.Release("vm1", rid, {})
    t.ok(q.windows(env, path) == before and q.reservations(env, path) == [],
         "Release: Windows back to what they were", (before, q.windows(env, path)))

    # ---- two racing Attaches for the last block -----------------------------------
    # Reserve every 1 GiB block but one, then race two 1 GiB pci-testdevs.
    k = 0
    while k < 8 and mgr.Check("vm1", ["bars:mem64p:1G"] * (k + 1), {})[0]:
        k += 1
    t.ok(k >= 1, "%d free 1 GiB block(s) for 64-bit BARs" % k)
    eat = None
    if k > 1:
        eat = str(mgr.Reserve("vm1", ["bars:mem64p:1G"] * (k - 1), {"label": "eat"})[0])
    t.ok(mgr.Check("vm1", ["bars:mem64p:1G"], {})[0] and not mgr.Check("vm1", ["bars:mem64p:1G"] * 2, {})[0],
         "exactly one 1 GiB block left")
    big = q.testdev_spec(q.G)
    r1 = sig.call_async("Attach", "vm1", big, {"qemu-device": "pci-testdev,membar=1G"})
    r2 = sig.call_async("Attach", "vm1", big, {"qemu-device": "pci-testdev,membar=1G"})
    q.wait_for(lambda: len(r1) and len(r2), 120, "both Attach replies")
    oks = [r for r in (r1, r2) if "reply" in r]
    errs = [r["error"] for r in (r1, r2) if "error" in r]
    t.ok(len(oks) == 1 and len(errs) == 1, "racing Attaches: exactly one admitted", (r1, r2))
    t.ok(errs and errs[0].get_dbus_name() == "org.mmiod1.Error.NoSpace",
         "racing Attaches: the other gets NoSpace",
         errs and (errs[0].get_dbus_name(), errs[0].get_dbus_message()))
    if oks:
        t.ok(vm.device(str(oks[0]["reply"][0])) is not None, "and the winner is in QEMU")
    t.ok(q.attaches(env, path) == [], "nothing left in flight")

    # ---- restart keeps reservations ------------------------------------------------------
    rid2 = str(mgr.Reserve("vm1", ["bars:mem32:16M"], {"label": "keep"})[0])
    res_before = q.reservations(env, path)
    ws_before = q.windows(env, path)
    t.ok(env.stop_daemon(signal.SIGTERM) == 0, "mmiod stops cleanly")
    why = q.start_qmp_daemon(env, qdir)
    t.ok(why is None, "mmiod restarts", why)
    path = q.wait_guest(env, "vm1")
    mgr = env.manager()
    t.ok(q.reservations(env, path) == res_before, "restart: reservations kept",
         (res_before, q.reservations(env, path)))
    t.ok(q.wait_for(lambda: q.windows(env, path) == ws_before, 10, "windows as before"),
         "restart: Windows as before (attached devices and reservations counted)")
    mgr.Release("vm1", rid2, {})
    if eat:
        mgr.Release("vm1", eat, {})
    t.ok(q.reservations(env, path) == [], "reservations released")

    # ---- QEMU exits ------------------------------------------------------------------
    gid = str(env.prop(path, t.GUEST, "Id"))
    sig.signals.clear()
    vm.kill()
    sig.wait_signal("GuestRemoved", lambda a: str(a[0]) == gid)
    t.ok(True, "killing QEMU: GuestRemoved(%s)" % gid)
    t.ok(q.guest_path(env, "vm1") is None, "and the guest object is gone")
    e = t.dbus_error(lambda: mgr.Check("vm1", ["bars:mem32:4K"], {}))
    t.ok(e and e[0] == "org.mmiod1.Error.NoSuchGuest", "Check on it -> NoSuchGuest", e)
    t.ok(env.stop_daemon(signal.SIGTERM) == 0, "mmiod exits cleanly", env.logtext()[-2000:])
except Exception as e:  # a failure mid-way must still print the plan and clean up
    import traceback
    t.ok(False, "unexpected exception: %s" % e, traceback.format_exc() + "\n" + env.logtext()[-3000:])
t.done()
