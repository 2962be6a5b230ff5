#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mmiod's libxl back end on a real Xen hypervisor (TAP).

xenrig.py boots Xen 4.17 with a PV dom0 in QEMU (TCG); in dom0 this starts a
private dbus-daemon and `mmiod --backend libxl`, then for every scenario
(tests/xen/scenarios.json) creates an HVM guest with `xl create` (hvmloader,
SeaBIOS, the test guest of tests/guest booted directly) and checks:

  1. mmiod discovers the domain (Guest id = domid) and its memory windows
     are the guest kernel's root bus resources;
  2. every plug: `mmioctl --json check --refresh DOMID bars:...` (the
     prediction), then the device hot-plugged with device_add on qemu-xen's
     QMP (a second monitor of the rig's, beside libxl's), the guest's ACPI
     hot-plug places it; mmiod's fit and addresses against the guest's
     sysfs resources (tests/guest/guest_devices.py's comparison);
  3. mmiod's windows stay the guest's after the plugs;
  4. `xl destroy`: mmiod forgets the domain.

Scenario subset: MMIOD_XEN_SCENARIOS = "none" (the default: `make check`
skips this test), "ci" (those with "ci": true), "all" (`make check-xen`'s
default), or names.  MMIOD_XEN_KEEP=DIR keeps the rig's work directory
there (console log with Xen's, hvmloader's and the guests' kernel messages,
each guest's `info pci` text, mmiod's log).  Skips with the reason when the
rig cannot run here: no QEMU, the libxl back end not built, no network for
the Debian packages on the first run.
"""
import glob
import json
import os
import re
import shlex
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import xenrig  # noqa: E402
rig = xenrig.rig
import guest_devices as tg  # noqa: E402  (tests/guest: BAR layouts, comparison)

top_srcdir = os.environ.get("top_srcdir", os.path.abspath(os.path.join(HERE, "..", "..")))
top_builddir = os.environ.get("top_builddir", os.getcwd())
MMIOD = os.environ.get("MMIOD", os.path.join(top_builddir, "daemon", "mmiod"))
MMIOCTL = os.environ.get("MMIOCTL", os.path.join(top_builddir, "client", "mmioctl"))
CATALOGUE = os.path.join(top_srcdir, "data", "profiles.ini")
SCENARIOS = os.path.join(HERE, "scenarios.json")


_host = None


def on_signal(signum, frame):
    if _host is not None:
        _host.close()
    sys.stdout.flush()
    os._exit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, on_signal)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def point(self, ok, text, diag=None, directive=None):
        self.n += 1
        if not ok and not (directive or "").startswith("TODO"):
            self.failed += 1
        line = "%s %d - %s" % ("ok" if ok else "not ok", self.n, text)
        if directive:
            line += " # " + directive
        print(line, flush=True)
        if diag and (not ok or directive):
            for l in str(diag).splitlines():
                print("#   " + l)
        return ok

    def note(self, text):
        for l in str(text).splitlines():
            print("# " + l, flush=True)


class Mmiod:
    """dbus-daemon + mmiod --backend libxl in dom0; mmioctl through the agent."""

    BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/mmiod/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="org.mmiod1"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

    def __init__(self, host):
        self.h = host
        self.addr = "unix:path=/run/mmiod/bus"

    def start(self):
        h = self.h
        h.sh("mkdir -p /run/mmiod/state")
        h.put("/run/mmiod/bus.conf", self.BUS_CONF)
        h.sh("dbus-daemon --config-file=/run/mmiod/bus.conf --fork --nopidfile")
        h.sh("DBUS_SYSTEM_BUS_ADDRESS=%s setsid mmiod -v --bus-address=%s --state-dir "
             "/run/mmiod/state --config /dev/null --backend libxl --catalogue "
             "/opt/mmiod/profiles.ini >/run/mmiod/mmiod.log 2>&1 </dev/null &" % (self.addr, self.addr))
        end = time.time() + 120
        while time.time() < end:
            rc, js, txt = self.ctl("status", timeout=20)
            if rc == 0:
                return
            time.sleep(2)
        raise xenrig.XenRigError("mmiod did not come up: %s\n%s" % (txt, self.logtail()))

    def ctl(self, *args, timeout=300):
        cmd = "DBUS_SYSTEM_BUS_ADDRESS=%s mmioctl --json --timeout %d %s 2>/run/mmiod/ctl.err; " \
              "r=$?; echo @@STDERR; cat /run/mmiod/ctl.err; exit $r" % (
                  self.addr, timeout, " ".join(shlex.quote(a) for a in args))
        rc, out = self.h.command("sh " + cmd, timeout + 60)
        text = "\n".join(out)
        stdout, _, stderr = text.partition("@@STDERR")
        js = None
        if stdout.strip():
            try:
                js = json.loads(stdout)
            except ValueError:
                pass
        return rc, js, (stdout + stderr).strip()

    def guest(self, domid):
        rc, js, txt = self.ctl("status", str(domid), timeout=30)
        if rc == 0 and js:
            for g in js.get("guests", []):
                if g.get("id") == str(domid):
                    return g
        return None

    def wait_guest(self, domid, timeout=300):
        end = time.time() + timeout
        g = None
        while time.time() < end:
            g = self.guest(domid)
            if g and g.get("windows"):
                return g
            time.sleep(3)
        raise xenrig.XenRigError("mmiod never announced domain %s with windows (last: %s): %s" % (
            domid, g, self.logtail()))

    def logtail(self, n=3000):
        rc, out = self.h.sh("tail -c %d /run/mmiod/mmiod.log" % n, check=False)
        return out


def windows_text(ws):
    return ", ".join("[%#x-%#x)" % (a, b) for a, b in ws)


def new_row(scn, results):
    """A scenario's summary row; `results` names its list ("plugs", "checks")."""
    return {"name": scn["name"], "memory": scn["memory"], "mmio_hole": scn.get("mmio_hole"),
            "devices": scn.get("devices", []), results: []}


def create_guest(h, scn, wait_ready=True):
    """`xl create` of the scenario's guest (its name from the scenario's)."""
    return h.create_guest(scn.get("guest", "g" + re.sub(r"[^a-z0-9]", "", scn["name"])[:10]),
                          memory=scn["memory"], mmio_hole=scn.get("mmio_hole"),
                          devices=scn.get("devices", []), objects=scn.get("objects", []),
                          extra_cfg=scn.get("xl"), wait_ready=wait_ready)


def destroy_and_forget(tap, d, g, name):
    """`xl destroy`, then mmiod must forget the domain (within 2 minutes)."""
    g.destroy()
    end = time.time() + 120
    while time.time() < end and d.guest(g.domid) is not None:
        time.sleep(1)
    tap.point(d.guest(g.domid) is None, "%s: mmiod forgets domain %d after xl destroy" % (
        name, g.domid))


def run_scenario(tap, h, d, scn, keep):
    if scn.get("guest_kernel", True) is False:
        return run_firmware_only(tap, h, d, scn)
    name = scn["name"]
    t0 = time.time()
    row = new_row(scn, "plugs")
    g = None
    try:
        g = create_guest(h, scn)
        row["boot_seconds"] = g.boot_seconds
        row["boot_cpu_seconds"] = g.boot_cpu_seconds
        tap.note("%s: domain %d, guest ready %.0f s after xl create (QEMU CPU %s s)" % (
            name, g.domid, g.boot_seconds, g.boot_cpu_seconds))
        w = g.windows()
        g.dump()
        info = g.info_pci()
        if keep:
            with open(os.path.join(keep, "info-pci-%s.txt" % name), "w") as f:
                f.write(info)
            with open(os.path.join(keep, "info-pci-%s-at-create.txt" % name), "w") as f:
                f.write(g.info_pci_at_create)
            with open(os.path.join(keep, "windows-%s.txt" % name), "w") as f:
                f.write("\n".join(w["raw"]) + "\n")
        st = d.wait_guest(g.domid)
        same, gm, mm = tg.guest_windows_match(w, st["windows"])
        row["windows"] = windows_text(gm)
        tap.point(same, "%s: mmiod's memory windows are the guest's root bus windows" % name,
                  "guest: %s\nmmiod: %s\n%s" % (windows_text(gm), windows_text(mm), info))
        for i, p in enumerate(scn.get("plugs", [])):
            row["plugs"].append(plug(tap, d, g, scn, i, p))
        st = d.guest(g.domid)
        same, gm, mm = tg.guest_windows_match(w, st["windows"] if st else [])
        tap.point(same, "%s: mmiod's memory windows stay the guest's after the plugs" % name,
                  "guest: %s\nmmiod: %s" % (windows_text(gm), windows_text(mm)))
        destroy_and_forget(tap, d, g, name)
    except Exception as e:
        tap.point(False, "%s: runs to the end" % name,
                  traceback.format_exc() + "\nmmiod log:\n" + d.logtail(1500) +
                  ("\nguest console:\n" + g.console_tail(1500) if g else ""))
        row["error"] = str(e)
        if g is not None:
            try:
                g.destroy()
            except Exception:
                pass
    row["seconds"] = round(time.time() - t0, 1)
    return row


def run_firmware_only(tap, h, d, scn):
    """A guest whose kernel is not waited for (CI's stage): what hvmloader
    leaves is enough for mmiod's windows and Checks, and the guest kernel
    takes minutes under TCG.  The scenario's expectations are what the
    guest kernel did in a full run of the same configuration."""
    name = scn["name"]
    t0 = time.time()
    cpu0 = h.cpu_seconds()
    row = new_row(scn, "checks")
    g = None
    try:
        g = create_guest(h, scn, wait_ready=False)
        st = d.wait_guest(g.domid)
        row["announced_seconds"] = round(time.time() - t0, 1)
        tap.note("%s: domain %d announced with windows %.0f s after xl create" % (
            name, g.domid, row["announced_seconds"]))
        want = sorted((int(a, 0), int(b, 0)) for a, b in scn["windows"])
        have = sorted((w["start"], w["end"]) for w in st["windows"] if w["kind"] in ("low", "high"))
        row["windows"] = windows_text(have)
        tap.point(have == want, "%s: mmiod's memory windows are hvmloader's" % name,
                  "expected: %s\nmmiod: %s\n%s" % (windows_text(want), windows_text(have),
                                                   g.info_pci()))
        for i, c in enumerate(scn.get("checks", [])):
            decl = tg.layout(c["driver"], dict(c.get("props", {})), {})
            spec = tg.spec_of(decl)
            rc, chk, txt = d.ctl("check", "--refresh", str(g.domid), spec)
            if rc not in (0, 1) or not chk or "fits" not in chk:
                raise xenrig.XenRigError("mmioctl check %s %s: rc %d: %s" % (g.domid, spec, rc, txt))
            pred = tg.pred_map(chk["placement"])
            bad = []
            if chk["fits"] != (c["expect"] == "fits"):
                bad.append("mmiod: %s" % ("fits" if chk["fits"] else "no-fit"))
            for bar, addr in sorted(c.get("mem_bars", {}).items()):
                if pred.get(int(bar)) != int(addr, 0):
                    bad.append("BAR%s: mmiod %s, expected %s" % (bar, tg.fmt_addr(pred.get(int(bar))),
                                                                 addr))
            pred_s = ", ".join("BAR%d %s" % (b, tg.fmt_addr(a)) for b, a in sorted(pred.items()))
            row["checks"].append({"spec": spec, "fits": chk["fits"], "pred": pred_s})
            tap.point(not bad, "%s check %d: %s - mmiod %s, as the guest kernel in a full run (%s)" % (
                name, i, spec, "fits" if chk["fits"] else "no-fit", c["expect"]),
                "\n".join(bad + ["mmiod: " + pred_s, chk.get("reason", "")]))
        destroy_and_forget(tap, d, g, name)
    except Exception as e:
        tap.point(False, "%s: runs to the end" % name,
                  traceback.format_exc() + "\nmmiod log:\n" + d.logtail(1500))
        row["error"] = str(e)
        if g is not None:
            try:
                g.destroy()
            except Exception:
                pass
    cpu1 = h.cpu_seconds()
    row["seconds"] = round(time.time() - t0, 1)
    row["cpu_seconds"] = round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None
    return row


def plug(tap, d, g, scn, i, p):
    name = scn["name"]
    drv, sid = p["driver"], p["id"]
    props = dict(p.get("props", {}))
    decl = tg.layout(drv, props, {o["id"]: rig.parse_size(o["size"]) for o in scn.get("qmp_objects", [])})
    if decl is None:
        raise xenrig.XenRigError("no BAR layout known for %s %s" % (drv, props))
    spec = tg.spec_of(decl)
    t0 = time.time()
    cpu0 = d.h.cpu_seconds()
    rc, chk, txt = d.ctl("check", "--refresh", str(g.domid), spec)
    if rc not in (0, 1) or not chk or "fits" not in chk:
        raise xenrig.XenRigError("mmioctl check %s %s: rc %d: %s" % (g.domid, spec, rc, txt))
    pred_fits = chk["fits"]
    pred = tg.pred_map(chk["placement"])
    r = g.plug(drv, sid, timeout=300, **props)
    secs = round(time.time() - t0, 1)
    cpu1 = d.h.cpu_seconds()
    gfits, mm = tg.compare(pred_fits, pred, r["bars"])
    guest_s = ", ".join("BAR%d %s" % (b["bar"], tg.fmt_addr(b["guest_start"] if b["assigned"] else None))
                        for b in r["bars"])
    pred_s = ", ".join("BAR%d %s" % (b, tg.fmt_addr(a)) for b, a in sorted(pred.items()))
    klog = [l for l in r.get("klog_dev", []) if re.search(r"assign|space|BAR|ROM|enabl", l)]
    diag = "\n".join(["%s plug %d: %s %s %s" % (name, i, drv, sid, spec),
                      "mmiod: %s: %s%s" % ("fits" if pred_fits else "no-fit", pred_s,
                                           ("  (" + chk.get("reason", "") + ")") if chk.get("reason") else ""),
                      "guest: %s: %s" % ("fits" if gfits else "no-fit", guest_s)]
                     + ["kernel: " + l for l in klog])
    tap.point(not mm, "%s plug %d: %s %s - mmiod %s, guest %s" % (
        name, i, sid, spec, "fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit"), diag)
    exp = p.get("expect")
    if exp in ("fits", "no-fit"):
        tap.point((exp == "fits") == gfits, "%s plug %d: the guest's outcome is the scenario's (%s)"
                  % (name, i, exp), diag)
    return {"id": sid, "driver": drv, "spec": spec, "pred_fits": pred_fits, "guest_fits": gfits,
            "pred": pred_s, "guest": guest_s, "mismatch": mm, "seconds": secs,
            "cpu_seconds": round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None}


def select(scns):
    sel = os.environ.get("MMIOD_XEN_SCENARIOS", "none").strip()
    if sel == "all":
        return scns
    if sel == "ci":
        return [s for s in scns if s.get("ci")]
    want = [x for x in re.split(r"[\s,]+", sel) if x]
    out = [s for s in scns if s["name"] in want]
    if len(out) != len(want):
        print("Bail out! unknown scenario in MMIOD_XEN_SCENARIOS=%s" % sel)
        sys.exit(1)
    return out


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


def main():
    global _host
    if os.environ.get("MMIOD_XEN_SCENARIOS", "none").strip() == "none":
        skip_all("boots Xen under TCG for minutes: `make check-xen` runs it")
    for p in (MMIOD, MMIOCTL):
        if not os.access(p, os.X_OK):
            skip_all("%s not built" % p)
    with open(os.path.join(top_builddir, "config.h")) as f:
        if not re.search(r"^#define HAVE_LIBXL 1", f.read(), re.M):
            skip_all("mmiod was built without the libxl back end (libxen-dev)")
    with open(SCENARIOS) as f:
        scns = select(json.load(f))
    keep = os.environ.get("MMIOD_XEN_KEEP")
    workdir = keep or tempfile.mkdtemp(prefix="mmiod-xen.")
    os.makedirs(workdir, exist_ok=True)
    tap = Tap()
    t0 = time.time()
    h = _host = xenrig.Host(workdir, keep=bool(keep))
    rows = []
    try:
        try:
            h.start(MMIOD, MMIOCTL, CATALOGUE)
        except xenrig.Skip as e:
            skip_all(str(e))
        tap.note("Xen %s, dom0 up %.0f s after QEMU started (image %d MiB, built in %.0f s)" % (
            h.sh("xl info | sed -n 's/^xen_version *: //p'")[1].strip(), h.boot_seconds,
            h.image["size"] >> 20, h.image["build_seconds"]))
        d = Mmiod(h)
        d.start()
        tap.point(True, "mmiod --backend libxl runs in dom0")
        for scn in scns:
            rows.append(run_scenario(tap, h, d, scn, keep))
        if keep:
            h.fetch("/run/mmiod/mmiod.log", os.path.join(workdir, "mmiod.log"))
    except Exception:
        tap.point(False, "the rig runs", traceback.format_exc() + "\n" + h.tail("console.log"))
    finally:
        cpu_total = h.cpu_seconds() if h.proc else None
        h.close()
    total = round(time.time() - t0, 1)
    summary = {"seconds": total, "dom0_seconds": getattr(h, "boot_seconds", None),
               "cpu_seconds": cpu_total, "dom0_cpu_seconds": getattr(h, "boot_cpu_seconds", None),
               "load_average": os.getloadavg()[0],
               "scenarios": rows}
    tap.note("summary: " + json.dumps(summary))
    if keep:
        with open(os.path.join(workdir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
