#!/bin/sh
''''exec "$(dirname "$0")/../daemon/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""Faults at each step of an attach against a real QEMU (qmp back end):
QEMU refuses the device, the declared BARs differ from QEMU's, QEMU is
killed while device_add hangs (SIGSTOP), the guest quits mid-attach; the
back end's connection lost and regained (a new QEMU on the same socket
name); the state file truncated, garbage, empty, of a wrong version.
Each time the hold is released, the client gets a clear error, `mmioctl
status` is what it was, and mmiod keeps serving.  (mmiod itself killed
mid-attach is tests/daemon/test-qemu-abort.py; a failing device_add with
an unknown device type is in tests/daemon/test-qemu.py.)"""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relctx as R  # noqa: E402
from relctx import t, q, D  # noqa: E402

env, qdir, vms, paths = R.qemu_env(1)
vm = vms["vm1"]
path = paths["vm1"]
sig = q.SignalBus(env.address)
mgr = env.manager()
MMIOCTL = os.path.join(t.top_builddir, "client", "mmioctl")
SPEC = q.testdev_spec(q.M)
TD = "pci-testdev,membar=1M"
TF = "org.mmiod1.Error.ToolstackFailed"


def status():
    if not os.path.exists(MMIOCTL):
        return "(mmioctl not built)"
    p = subprocess.run([MMIOCTL, "status"], capture_output=True, text=True, timeout=30)
    return "rc=%d\n%s%s" % (p.returncode, p.stdout, p.stderr)


def calls_of(method):
    """How many calls of method mmiod has run (Manager.Calls): it counts a
    call once its handler ran, which for an Attach sent the re-read."""
    return dict((str(m), int(n)) for m, n, _ in env.prop(t.MANAGER_PATH, t.MANAGER, "Calls")).get(method, 0)


def attach_reached_mmiod(n0, timeout=60):
    """Turns the signal loop until mmiod has run an Attach beyond the n0th:
    its re-read is then out to QEMU (instead of a second's sleep)."""
    def ran():
        q.Loop.iterate()
        return calls_of("Attach") > n0
    q.wait_for(ran, timeout, "mmiod to take the Attach")


def wait_reply(res, timeout=60):
    q.wait_for(lambda: len(res), timeout, "the Attach reply")
    if "error" in res:
        return (res["error"].get_dbus_name(), res["error"].get_dbus_message() or "")
    return ("ok", res["reply"])


def settled():
    return q.attaches(env, path) == []


def new_guest(name="vm1"):
    # a killed QEMU leaves its socket files behind: the new QEMU replaces
    # them, but our own QMP client must not connect to the stale one first
    for sock in ("test-%s.sock" % name, os.path.join("qmp", "%s.sock" % name)):
        try:
            os.unlink(os.path.join(env.dir, sock))
        except FileNotFoundError:
            pass
    g = q.Guest(env, name, qdir)
    return g, q.wait_guest(env, name)


def aside_files():
    return sorted(n for n in os.listdir(env.state_dir) if n.startswith("state.json.corrupt-"))


try:
    # keep a reservation throughout: it must survive every fault
    rid = str(mgr.Reserve("vm1", ["bars:mem32:16M"], {"label": "keep"})[0])
    base_snap = R.snapshot(env, path)
    base_status = status()
    t.ok("vm1" in base_status, "mmioctl status lists vm1", base_status)

    # ---- 1. QEMU refuses the device (bad qemu-device spec) ---------------------------
    for qd, part in (("pci-testdev,membar=notasize", "membar"),
                     ("pci-testdev,membar=1M,addr=0x0", "slot 0 function 0 not available"),
                     ("pci-testdev,membar=1M,nosuchprop=1", "nosuchprop")):
        got = R.call(lambda: mgr.Attach("vm1", SPEC, {"qemu-device": qd}, timeout=60))
        t.ok(got[0] == TF and "device_add" in got[1] and part in got[1],
             "refused (%s) -> ToolstackFailed quoting device_add and QEMU's reason" % qd, got)
        t.ok(settled() and R.snapshot(env, path) == base_snap, "refused (%s): hold released, books unchanged" % qd,
             (base_snap, R.snapshot(env, path)))
    t.ok(status() == base_status, "refused: mmioctl status unchanged", status())

    # ---- 2. mismatch: declared BARs differ from QEMU's -------------------------------
    got = R.call(lambda: mgr.Attach("vm1", q.testdev_spec(2 * q.M), {"qemu-device": TD}, timeout=60))
    t.ok(got[0] == "org.mmiod1.Error.InvalidDevice" and "device_del" in got[1],
         "mismatch (declared 2 MiB membar, QEMU built 1 MiB) -> InvalidDevice, device_del requested", got)
    t.ok(settled() and q.reservations(env, path) == base_snap[2], "mismatch: hold released, reservation kept",
         q.attaches(env, path))
    # the device is in QEMU until the guest ejects it: no guest OS here, so
    # a system_reset through the test's own QMP socket completes the unplug
    leftover = [d for d in vm.pci_devices() if d.get("qdev_id")]
    t.ok(len(leftover) == 1, "mismatch: QEMU still shows the unplugged-pending device (%d)" % len(leftover),
         [d.get("qdev_id") for d in vm.pci_devices()])
    vm.qmp.cmd("system_reset")
    q.wait_for(lambda: not [d for d in vm.pci_devices() if d.get("qdev_id")], 20,
               "the unplug after system_reset")
    mgr.Check("vm1", ["bars:mem32:4K"], {"refresh": True})
    ok = q.wait_for(lambda: R.snapshot(env, path) == base_snap, 20, "books back after the reset")
    t.ok(ok, "mismatch: after system_reset completes the unplug, books as before")
    t.ok(status() == base_status, "mismatch: mmioctl status unchanged", status())

    # ---- 3. QEMU killed mid-attach ------------------------------------------------------
    # 3a: QEMU stopped before the Attach: mmiod's re-read of the guest (the
    # first step of every Attach) hangs; then QEMU is killed.
    # 3b: Attach with wait=false, QEMU stopped the moment the reply (sent
    # after admission and hold) arrives: device_add is on its way or done;
    # then QEMU is killed.  Either way nothing may stay held.
    for variant in ("3a stopped before the re-read", "3b stopped after admission"):
        sig.signals.clear()
        if variant.startswith("3a"):
            os.kill(vm.proc.pid, signal.SIGSTOP)
            n0 = calls_of("Attach")
            res = sig.call_async("Attach", "vm1", SPEC, {"qemu-device": TD}, timeout=60)
            attach_reached_mmiod(n0)        # its re-read now waits in QEMU's socket
            t.ok(not res, "%s: the Attach waits for QEMU" % variant, res)
        else:
            pid = vm.proc.pid
            res = {}
            def stop_now(*r):
                os.kill(pid, signal.SIGSTOP)
                res.update(reply=r)
            sig.manager().Attach("vm1", SPEC, {"qemu-device": TD, "wait": False}, reply_handler=stop_now,
                                 error_handler=lambda e: res.update(error=e), timeout=60)
            got = wait_reply(res)
            t.ok(got[0] == "ok", "%s: admitted and held (wait=false reply)" % variant, got)
            aid = str(got[1][0]) if got[0] == "ok" else None
        vm.proc.send_signal(signal.SIGKILL)
        vm.proc.wait(10)
        vm.qmp.close()
        if variant.startswith("3a"):
            got = wait_reply(res)
            t.ok(got[0] in ("org.mmiod1.Error.NoSuchGuest", TF) and got[1],
                 "%s, QEMU killed -> %s: %s" % (variant, got[0].split(".")[-1], got[1][:90]), got)
        else:
            fin = sig.wait_signal("AttachFinished", lambda a: str(a[1]) == aid)
            t.ok(True, "%s, QEMU killed -> AttachFinished(%s) %s %s" % (variant, bool(fin[1][3]), fin[1][4],
                 str(fin[1][5])[:80]))
        sig.wait_signal("GuestRemoved", lambda a: str(a[0]) == "vm1")
        t.ok(q.guest_path(env, "vm1") is None, "%s: GuestRemoved, the guest object is gone" % variant)
        t.ok(env.daemon.poll() is None and int(env.prop(t.MANAGER_PATH, t.MANAGER, "Version")) == 1,
             "%s: mmiod still serves" % variant)
        vm, path = new_guest()
        q.wait_for(lambda: q.reservations(env, path) == base_snap[2], 10, "the reservation back")
        snap = R.snapshot(env, path)
        t.ok(snap == base_snap, "%s: a new QEMU on vm1.sock -> the guest reappears with the same books, "
             "nothing in flight (no leaked hold)" % variant, (base_snap, snap))
        t.ok(status() == base_status, "%s: mmioctl status as before" % variant, status())

    # ---- 5. the guest quits mid-attach --------------------------------------------------------
    os.kill(vm.proc.pid, signal.SIGSTOP)
    sig.signals.clear()
    n0 = calls_of("Attach")
    res = sig.call_async("Attach", "vm1", SPEC, {"qemu-device": TD}, timeout=60)
    attach_reached_mmiod(n0)            # mmiod's re-read now waits in QEMU's socket
    vm.qmp.f.write(json.dumps({"execute": "quit"}) + "\n")
    vm.qmp.f.flush()
    os.kill(vm.proc.pid, signal.SIGCONT)
    vm.proc.wait(20)
    vm.qmp.close()
    got = wait_reply(res)
    # QEMU may run device_add before quit: then the attach succeeded just
    # before the guest went away; either way nothing may stay held
    t.ok(got[0] in ("ok", "org.mmiod1.Error.NoSuchGuest", TF),
         "guest quits mid-attach -> %s %s" % (got[0].split(".")[-1], str(got[1])[:80]), got)
    sig.wait_signal("GuestRemoved", lambda a: str(a[0]) == "vm1")
    t.ok(True, "guest quit: GuestRemoved")
    vm, path = new_guest()
    q.wait_for(lambda: q.reservations(env, path) == base_snap[2], 10, "the reservation back")
    snap = R.snapshot(env, path)
    t.ok(snap == base_snap, "guest quit, new QEMU: books as at the start, no leaked hold", (base_snap, snap))

    # ---- 6. QEMU killed with no attach (connection lost), many times -------------------
    for i in range(3):
        sig.signals.clear()
        vm.kill()
        sig.wait_signal("GuestRemoved", lambda a: str(a[0]) == "vm1")
        vm, path = new_guest()
    q.wait_for(lambda: q.reservations(env, path) == base_snap[2], 10, "the reservation back")
    t.ok(R.snapshot(env, path) == base_snap, "3 more QEMU restarts: books unchanged")
    t.ok(status() == base_status, "and mmioctl status unchanged", status())

    # ---- 7. state file damaged -------------------------------------------------------------------
    sf = os.path.join(env.state_dir, "state.json")
    with open(sf) as f:
        good = f.read()
    st = json.loads(good)
    wrong = dict(st)
    wrong["version"] = st.get("version", 1) + 41
    DAMAGE = (("truncated", good[:len(good) // 2]),
              ("garbage", "\x00\xff\xfe garbage \x01" * 40),
              ("empty", ""),
              ("wrong version (%d)" % wrong["version"], json.dumps(wrong)),
              ("version as a string", json.dumps(dict(st, version=str(st.get("version", 1))))),
              ("a JSON array", "[1, 2, 3]"))
    for what, text in DAMAGE:
        t.ok(env.stop_daemon() == 0, "%s: mmiod stopped cleanly" % what)
        before = aside_files()
        with open(sf, "w", encoding="latin-1") as f:
            f.write(text)
        why = q.start_qmp_daemon(env, qdir)
        t.ok(why is None, "%s: mmiod starts" % what, why)
        new = [n for n in aside_files() if n not in before]
        t.ok(len(new) == 1, "%s: the file is kept aside (%s)" % (what, new and new[0]), aside_files())
        if new:
            with open(os.path.join(env.state_dir, new[0]), encoding="latin-1") as f:
                kept = f.read()
            t.ok(kept == text, "%s: the kept file is the damaged one, byte for byte" % what)
        log = env.logtext()
        t.ok(("damaged or of an unknown version; moved it to %s/%s" % (env.state_dir, new and new[0])) in log,
             "%s: mmiod says what it did" % what, log[-600:])
        path = q.wait_guest(env, "vm1")
        mgr = env.manager()
        t.ok(q.reservations(env, path) == [] and q.attaches(env, path) == [],
             "%s: serves the guest with empty books" % what, q.reservations(env, path))
        fits = mgr.Check("vm1", ["bars:mem32:4K"], {})[0]
        t.ok(bool(fits), "%s: Check answers" % what)
        rid = str(mgr.Reserve("vm1", ["bars:mem32:16M"], {"label": "keep"})[0])
        with open(sf) as f:
            good = f.read()
        t.ok(json.loads(good).get("version") == st.get("version"), "%s: a new good state file is written" % what)
    t.ok(len(aside_files()) == len(DAMAGE), "every damaged file kept (%d), none overwritten" % len(DAMAGE),
         aside_files())
    t.ok(env.stop_daemon() == 0, "mmiod exits cleanly", env.logtext()[-2000:])
except Exception as e:
    import traceback
    t.ok(False, "unexpected exception: %s" % e, traceback.format_exc() + "\n" + env.logtext()[-3000:])
t.done()
