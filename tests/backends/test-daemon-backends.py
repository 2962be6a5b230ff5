#!/bin/sh
''''exec "$(dirname "$0")/../daemon/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""mmiod's libvirt and libxl back ends as the daemon runs them, on a
private system bus (TAP):

- `mmiod --backend libvirt:test:///<abs>/tests/backends/node.xml`: the
  test driver's three domains in `mmioctl --json status`, field by field;
  Check against one; Attach of a host device refused by the test driver
  (it has no hot-plug) with libvirt's message, leaving no hold and no
  reservation behind.
- `mmiod --backend libxl --backend qmp:DIR` on a machine without Xen: one
  clear log line about libxl, and the QMP guest (bench/fake-qmp.py, a
  QMP responder in python, no QEMU needed) is still served.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import busctx as t  # noqa: E402
import qemuctx as q  # noqa: E402

top_srcdir = t.top_srcdir
MMIOCTL = os.path.join(t.top_builddir, "client", "mmioctl")
NODE = os.path.abspath(os.path.join(top_srcdir, "tests", "backends", "node.xml"))
SYSFS = os.path.join(top_srcdir, "tests", "fixtures", "sysfs")
FAKE_QMP = os.path.join(top_srcdir, "bench", "fake-qmp.py")
G, M = q.G, q.M

helptext = subprocess.run([t.MMIOD, "--help"], capture_output=True, text=True).stdout
have = helptext.split("have:", 1)[1].split(")", 1)[0] if "have:" in helptext else ""
if "libvirt" not in have and "libxl" not in have:
    t.skip_all("mmiod built without the libvirt and libxl back ends (have: %s)" % have.strip())

env = t.Env()


def mmioctl_json(*args):
    r = subprocess.run([MMIOCTL, "--json"] + list(args), capture_output=True, text=True, timeout=30)
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else None), r.stderr


def win(kind, start, end, free, largest, source="model"):
    return {"kind": kind, "start": start, "end": end, "size": end - start, "free": free,
            "largest_free": largest, "source": source}


try:
    # ======== libvirt: the test driver ========================================
    if "libvirt" not in have:
        t.ok(True, "# SKIP libvirt: mmiod built without the libvirt back end")
    else:
        spec = "libvirt:test://" + NODE
        env.start_daemon("--backend", spec, "--sysfs-root", SYSFS)
        backends = [str(b) for b in env.prop(t.MANAGER_PATH, t.MANAGER, "Backends")]
        t.ok(backends == [spec], "libvirt: Backends = [%s]" % spec, backends)
        # the back end connects and reads the domains on the worker pool
        q.wait_for(lambda: len(q.guests(env)) == 3, 30, "the test driver's three domains")
        rc, st, err = mmioctl_json("status")
        t.ok(rc == 0 and st is not None, "libvirt: mmioctl --json status exits 0", (rc, err))
        gs = {g["name"]: g for g in (st or {}).get("guests", [])}
        t.ok(sorted(gs) == ["off", "pc-small", "q35-big"],
             "libvirt: status lists the test driver's three domains", sorted(gs))
        uuids = {"pc-small": "11111111-1111-1111-1111-111111111111",
                 "q35-big": "22222222-2222-2222-2222-222222222222",
                 "off": "33333333-3333-3333-3333-333333333333"}
        for name, uuid in uuids.items():
            g = gs.get(name, {})
            t.ok(g.get("id") == uuid and g.get("uuid") == uuid,
                 "libvirt: %s: id and uuid are the domain's uuid" % name, g)
            t.ok(g.get("backend") == spec, "libvirt: %s: backend %s" % (name, spec), g.get("backend"))
            t.ok(g.get("devices") == [] and g.get("reservations") == [] and g.get("attaches") == [] and
                 g.get("ports") == [],
                 "libvirt: %s: no devices, reservations or attaches" % name, g)
            t.ok(set(g) == {"id", "name", "uuid", "backend", "can_attach", "cannot_attach_reason",
                            "stale", "unresponsive", "unresponsive_since", "unresponsive_reason",
                            "windows", "ports", "devices", "reservations", "attaches"},
                 "libvirt: %s: exactly the documented fields" % name, sorted(g))
        t.ok(gs.get("pc-small", {}).get("can_attach") is True and
             gs.get("q35-big", {}).get("can_attach") is True,
             "libvirt: running domains can take hot-plugs")
        t.ok(gs.get("off", {}).get("can_attach") is False and gs.get("off", {}).get("windows") == [],
             "libvirt: the shut-off domain cannot, and has no windows", gs.get("off"))
        t.ok("shut off" in gs.get("off", {}).get("cannot_attach_reason", "") and
             gs.get("pc-small", {}).get("cannot_attach_reason") == "",
             "libvirt: the shut-off domain says why", gs.get("off"))
        t.ok(not any(g.get("stale") for g in gs.values()) and
             st.get("backends") == [{"backend": spec, "connected": True, "since": None, "message": ""}],
             "libvirt: connected, nothing stale", st.get("backends"))
        # pc-small: i440fx, 1 GiB RAM -> the low window runs from the end of
        # RAM to the IOAPIC (0xfec00000); the 64-bit window is QEMU's pc
        # default of 2 GiB above 4 GiB; I/O 0x0d00-0xffff with Linux taking
        # ports from 0x1000.  Nothing in the guest: free = size, largest =
        # the largest naturally aligned block (1 GiB at 1 GiB; 2 GiB at 4 GiB;
        # 256 ports, the most an I/O BAR can have).
        want_pc = [win("low", 0x40000000, 0xFEC00000, 0xFEC00000 - 0x40000000, G),
                   win("high", 0x100000000, 0x180000000, 2 * G, 2 * G),
                   win("io", 0xD00, 0x10000, 0x10000 - 0x1000, 256)]
        got = gs.get("pc-small", {}).get("windows")
        t.ok(got == want_pc, "libvirt: pc-small windows, every field", json.dumps(got))
        # q35-big: 8 GiB RAM -> 2 GiB below 4 GiB (q35 splits at 2 GiB when
        # RAM exceeds 2.75 GiB), 6 GiB above: the 64-bit window starts at
        # 10 GiB and is q35's default 32 GiB.  The low window is two, around
        # the firmware's MMCONFIG at 0xb0000000 (QEMU's _CRS leaves it out).
        got = gs.get("q35-big", {}).get("windows") or []
        t.ok([(w["kind"], w["start"], w["end"], w["size"], w["source"]) for w in got] ==
             [("low", 0x80000000, 0xB0000000, 0x30000000, "model"),
              ("low", 0xC0000000, 0xFEC00000, 0xFEC00000 - 0xC0000000, "model"),
              ("high", 10 * G, 42 * G, 32 * G, "model"),
              ("io", 0xD00, 0x10000, 0x10000 - 0xD00, "model")],
             "libvirt: q35-big windows: kinds, bounds, sizes, source", json.dumps(got))
        path = q.guest_path(env, "q35-big")
        bus_w = [(str(w[0]), int(w[1]), int(w[2]), int(w[3]), int(w[4]), str(w[5]))
                 for w in env.prop(path, t.GUEST, "Windows")] if path else None
        t.ok(bus_w == [(w["kind"], w["start"], w["end"], w["free"], w["largest_free"], w["source"])
                       for w in got],
             "libvirt: q35-big: JSON free/largest_free = the Windows property", (bus_w, got))

        # ---- Check -----------------------------------------------------------
        mgr = env.manager()
        fits, reason, pl = mgr.Check("pc-small", ["bars:mem32:16M"], {})
        t.ok(bool(fits) and reason == "" and len(pl) == 1 and bool(pl[0][6]) and
             int(pl[0][5]) == 0x40000000 and str(pl[0][4]) == "low",
             "libvirt: Check pc-small 16 MiB 32-bit BAR: fits at 0x40000000 in low", (fits, reason, pl))
        fits, reason, pl = mgr.Check("pc-small", ["bars:mem64p:4G"], {})
        t.ok(not fits and "no space" in reason, "libvirt: Check pc-small 4 GiB 64-bit BAR: does not "
             "fit (2 GiB window), in the kernel's words", reason)
        r = subprocess.run([MMIOCTL, "check", "pc-small", "0000:18:00.0"], capture_output=True,
                           text=True, timeout=30)
        t.ok(r.returncode == 0 and "fits" in r.stdout,
             "libvirt: mmioctl check pc-small 0000:18:00.0 (fixture sysfs) fits", (r.returncode, r.stdout, r.stderr))
        # q35 takes hot-plugged devices behind root ports only, and q35-big
        # has none: said so, not placed in the root windows.
        r = subprocess.run([MMIOCTL, "check", "q35-big", "0000:18:00.0"], capture_output=True,
                           text=True, timeout=30)
        t.ok(r.returncode == 1 and "no free hot-plug port" in r.stdout,
             "libvirt: mmioctl check q35-big 0000:18:00.0: no port to put it behind",
             (r.returncode, r.stdout, r.stderr))

        # ---- Attach refused by the test driver ---------------------------------------
        path = q.guest_path(env, "pc-small")
        before = q.windows(env, path)
        chk_before = mgr.Check("pc-small", ["0000:18:00.0"], {})
        e = t.dbus_error(lambda: mgr.Attach("pc-small", "0000:18:00.0", {}, timeout=60))
        t.ok(e is not None and e[0] in ("org.mmiod1.Error.NotSupported", "org.mmiod1.Error.ToolstackFailed"),
             "libvirt: Attach on the test driver refused (NotSupported/ToolstackFailed)", e)
        t.ok(e is not None and "libvirt" in e[1] and "not supported" in e[1],
             "libvirt: the error carries libvirt's message", e)
        t.ok(q.attaches(env, path) == [], "libvirt: refused Attach: Attaches empty (no hold left)",
             q.attaches(env, path))
        t.ok(q.reservations(env, path) == [], "libvirt: refused Attach: Reservations empty")
        # a multi-function slot: libvirt hot-plugs function 0 only
        fits, reason, pl = mgr.Check("pc-small", ["0000:65:00"], {})
        t.ok(len(pl) == 6 and sorted(int(p[1]) // 8 for p in pl) == [0, 0, 0, 0, 0, 1],
             "libvirt: Check of a host slot (0000:65:00 from the fixture sysfs): BARs of both functions",
             (fits, reason, pl))
        e = t.dbus_error(lambda: mgr.Attach("pc-small", "0000:65:00", {}, timeout=60))
        t.ok(e is not None and e[0] == "org.mmiod1.Error.NotSupported" and "function 0 only" in e[1] and
             q.attaches(env, path) == [], "libvirt: Attach of a slot: NotSupported, nothing held", e)
        t.ok(q.windows(env, path) == before, "libvirt: refused Attach: Windows unchanged",
             (before, q.windows(env, path)))
        chk_after = mgr.Check("pc-small", ["0000:18:00.0"], {})
        t.ok(chk_after == chk_before, "libvirt: refused Attach: the same device checks to the same placement")
        rc, st2, err = mmioctl_json("status", "pc-small")
        g2 = (st2 or {}).get("guests", [{}])[0] if st2 else {}
        t.ok(g2.get("attaches") == [] and g2.get("reservations") == [] and g2.get("windows") == want_pc,
             "libvirt: refused Attach: mmioctl status pc-small as before", g2)
        print("# libvirt's test driver keeps its state per connection: a domain destroyed "
              "through a second connection is not seen by mmiod's; following a destroy within "
              "1 s is covered at the driver level by tests/backends/test-libvirt (test hook)")
        t.ok(env.stop_daemon() == 0, "libvirt: mmiod exits cleanly", env.logtext()[-1500:])

    # ======== libxl without Xen, next to qmp ===================================
    caps = ""
    try:
        with open("/proc/xen/capabilities") as f:
            caps = f.read()
    except OSError:
        pass
    if "control_d" in caps:
        t.ok(True, "# SKIP libxl: this machine is a Xen dom0")
    else:
        qdir = os.path.join(env.dir, "qmp")
        os.mkdir(qdir)
        fake = subprocess.Popen([sys.executable, FAKE_QMP, qdir, "vm1"], stdout=subprocess.PIPE, text=True)
        env.procs.append(fake)
        t.ok(fake.stdout.readline().strip() == "ready", "libxl: the fake QMP guest vm1 listens")
        logstart = len(env.logtext())
        env.start_daemon("--backend", "libxl", "--backend", "qmp:" + qdir)
        p = q.wait_guest(env, "vm1")
        log = env.logtext()[logstart:]
        lines = [ln for ln in log.splitlines() if "libxl" in ln]
        t.ok(len(lines) == 1, "libxl: exactly one log line mentions libxl", log)
        t.ok(lines and ("not a Xen dom0" in lines[0] or "not built" in lines[0] or "unknown" in lines[0]),
             "libxl: and it says why: %s" % (lines[0] if lines else ""), lines)
        backends = [str(b) for b in env.prop(t.MANAGER_PATH, t.MANAGER, "Backends")]
        t.ok(backends == ["qmp:" + qdir], "libxl: Backends = [qmp:DIR] only", backends)
        t.ok(env.daemon.poll() is None, "libxl: mmiod keeps running")
        fits, reason, pl = env.manager().Check("vm1", ["bars:mem32:4K"], {"refresh": True})
        t.ok(bool(fits) and len(pl) == 1 and bool(pl[0][6]),
             "libxl: the QMP guest is served: Check vm1 (with refresh) fits", (fits, reason, pl))
        rc, st, err = mmioctl_json("status")
        t.ok(rc == 0 and [g["name"] for g in st["guests"]] == ["vm1"] and
             st["guests"][0]["backend"] == "qmp:" + qdir,
             "libxl: mmioctl status lists vm1 from qmp", (rc, st, err))
        t.ok(env.stop_daemon() == 0, "libxl: mmiod exits cleanly", env.logtext()[-1500:])
except Exception as ex:  # a failure mid-way must still print the plan and clean up
    import traceback
    t.ok(False, "unexpected exception: %s" % ex, traceback.format_exc() + "\n" + env.logtext()[-3000:])
t.done()
