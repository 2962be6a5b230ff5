#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mmiod's predictions against real Linux guests (TAP).

For every scenario (tests/guest/scenarios/*.json) this boots the rig's guest
(rig.py: Debian kernel, QEMU TCG) with two QMP sockets - one in the directory
mmiod's qmp back end watches, one for the rig - starts a private dbus-daemon
and mmiod (--backend qmp:DIR), and for every "plug" step:

  1. `mmioctl --json check --refresh GUEST bars:...` - the prediction (the
     declaration comes from the LAYOUTS table below; after the plug it is
     compared with what QEMU really built, query-pci);
  2. hot-plugs the device: through `mmioctl attach GUEST bars:...
     --qemu-device SPEC` when mmiod admits it, else (mmiod refuses, the
     step is marked "mmiod": "unpredictable", or the QEMU properties cannot
     be written as a mmiod device spec) directly with QMP device_add;
  3. reads the guest's sysfs resource lines and kernel messages, then
     enables decode in the guest (echo 1 > .../enable) so that query-pci,
     and with it mmiod's occupancy at the next --refresh, shows the
     addresses the guest really assigned (observation O4; the ROM stays -1);
  4. compares: predicted fits <=> every BAR (incl. the ROM) got an address,
     and every BAR mmiod placed is where the guest put it (an unplaced BAR
     must be unassigned in the guest too).

"unplug" steps go through `mmioctl detach` for devices mmiod attached, else
device_del.  Each scenario also compares mmiod's memory windows with the
guest's root bus resources, and keeps the scenario author's expect /
expect_bars as assertions on the guest's outcome.

Scenario subset: MMIOD_GUEST_SCENARIOS = "ci" (default: the scenarios with
"ci": true), "all", or names separated by spaces/commas.  MMIOD_GUEST_JOBS
(default 2) guests run in parallel.  MMIOD_GUEST_KEEP=1 keeps the work dirs.
MMIOD_GUEST_VIA=qmp makes every plug another tool's (QMP device_add; mmiod's
check is still compared, its attach is not used), MMIOD_GUEST_ENABLE=0 (or
1) overrides every step's "enable": run so, the whole suite looks like a
host where mmiod attached nothing and no driver bound.  The end of the
output counts the plugs by who made them and how many agreed.
Skips when QEMU, dbus-daemon or the built mmiod/mmioctl are missing, or the
guest kernel cannot be fetched (no network, no busybox-static).

Steps with "known_mismatch": "why" (and scenarios with "known_window_drift")
report a known, reported mmiod bug as TAP TODO: the suite stays green while
it is open and fails (XPASS) once it is fixed, so the marker gets removed.
"""
import atexit
import concurrent.futures
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rig  # noqa: E402

SCN_DIR = os.path.join(HERE, "scenarios")
top_srcdir = os.environ.get("top_srcdir", os.path.abspath(os.path.join(HERE, "..", "..")))
top_builddir = os.environ.get("top_builddir", os.getcwd())
MMIOD = os.environ.get("MMIOD", os.path.join(top_builddir, "daemon", "mmiod"))
MMIOCTL = os.environ.get("MMIOCTL", os.path.join(top_builddir, "client", "mmioctl"))
CATALOGUE = os.path.join(top_srcdir, "data", "profiles.ini")
K, M, G = 1 << 10, 1 << 20, 1 << 30

# ---- every process we start, so that every exit path ends them ---------------
_live = []
_live_lock = threading.Lock()


_stopping = threading.Event()


def track(p):
    with _live_lock:
        _live.append(p)
    if _stopping.is_set():      # started while we are being stopped
        stop(p)
        raise RuntimeError("stopping")
    return p


def untrack(p):
    with _live_lock:
        if p in _live:
            _live.remove(p)


def stop(p, sig=signal.SIGTERM, wait=5):
    if p is None:
        return
    if isinstance(p, rig.Guest):
        p.close()
    elif p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    untrack(p)


def stop_all():
    with _live_lock:
        ps = list(reversed(_live))
    for p in ps:
        try:
            stop(p)
        except Exception:
            pass


def on_signal(signum, frame):
    # End every guest, mmiod and bus now, so that the worker threads fail
    # fast and start nothing new; then leave.
    _stopping.set()
    stop_all()
    time.sleep(0.5)             # a Popen that was under way in a worker
    stop_all()
    sys.stdout.flush()
    os._exit(128 + signum)


atexit.register(stop_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, on_signal)


# ---- what QEMU 7.2's devices really expose (docs/verification.md section 3) ----

def size_name(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def pow2_at_least(n):
    p = 1
    while p < n:
        p <<= 1
    return p


def rom_bar(props, default_file_size=None):
    """The ROM BAR QEMU gives a device with these props, or None."""
    rf = props.get("romfile")
    if rf == "" or str(props.get("rombar", "1")) == "0":
        return None
    if "romsize" in props:
        return (6, "rom", rig.parse_size(props["romsize"]))
    if rf == "@dummy":
        return (6, "rom", 2048)
    if default_file_size:
        return (6, "rom", default_file_size)
    return None


def layout(driver, props, objects):
    """[(bar, kind, size)] as QEMU builds the device; None if unknown."""
    p = props
    if driver == "pci-testdev":
        bars = [(0, "mem32", 4 * K), (1, "io", 256)]
        mb = rig.parse_size(p.get("membar", 0))
        if mb:
            bars.append((2, "mem64p", mb))
    elif driver == "e1000":
        bars = [(0, "mem32", 128 * K), (1, "io", 64)]
    elif driver == "secondary-vga":
        bars = [(0, "mem32p", int(p.get("vgamem_mb", 16)) * M), (2, "mem32", 4 * K)]
    elif driver == "bochs-display":
        bars = [(0, "mem32p", rig.parse_size(p.get("vgamem", "16M"))), (2, "mem32", 4 * K)]
    elif driver == "qxl":
        ram = pow2_at_least(rig.parse_size(p.get("ram_size", "64M")))
        vram = pow2_at_least(rig.parse_size(p.get("vram_size", "64M")))
        bars = [(0, "mem32", ram), (1, "mem32", vram), (2, "mem32", 8 * K), (3, "io", 32)]
        v64 = int(p.get("vram64_size_mb", 0)) * M
        if v64 > vram:
            bars.append((4, "mem64p", pow2_at_least(v64)))
    elif driver == "nvme":
        bars = [(0, "mem64", 16 * K)]
    elif driver == "virtio-net-pci":
        bars = [(0, "io", 32), (1, "mem32", 4 * K), (4, "mem64p", 16 * K)]
    elif driver == "edu":
        bars = [(0, "mem32", 1 * M)]
    elif driver == "ivshmem-plain":
        size = objects.get(p.get("memdev"))
        if size is None:
            return None
        bars = [(0, "mem32", 256), (2, "mem64p", size)]
    else:
        return None
    r = rom_bar(p)
    if r:
        bars.append(r)
    return bars


def spec_of(bars):
    items = []
    for bar, kind, size in bars:
        items.append("%s:%s@%d" % (kind, size_name(size), bar))
    return "bars:" + ",".join(items)


def real_layout(qdev):
    out = []
    for r in qdev.get("regions", []):
        if r["bar"] == 6:
            kind = "rom"
        elif r["type"] == "io":
            kind = "io"
        else:
            kind = ("mem64" if r.get("mem_type_64") else "mem32") + ("p" if r.get("prefetch") else "")
        out.append((r["bar"], kind, r["size"]))
    return sorted(out)


# ---- a private bus and mmiod ------------------------------------------------

def start_bus(workdir, keep=lambda p: p):
    """A private system bus open to everyone (tests/open-bus.conf) on
    workdir/bus, its process handed to keep at once: (process, address,
    the environment mmiod and mmioctl meet on it with)."""
    bus = keep(subprocess.Popen(
        ["dbus-daemon", "--config-file=" + os.path.join(top_srcdir, "tests", "open-bus.conf"),
         "--address=unix:path=%s/bus" % workdir, "--nofork", "--nopidfile", "--print-address"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    address = bus.stdout.readline().strip()
    if not address:
        raise RuntimeError("dbus-daemon did not start")
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, LC_ALL="C")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return bus, address, env


def mmioctl(env, *args, timeout=120):
    """mmioctl --json ARGS: (exit status, its JSON or None, all it printed)."""
    r = subprocess.run([MMIOCTL, "--json", "--timeout", str(timeout)] + list(args),
                       env=env, capture_output=True, text=True, timeout=timeout + 30)
    js = None
    if r.stdout.strip():
        try:
            js = json.loads(r.stdout)
        except ValueError:
            pass
    return r.returncode, js, (r.stdout + r.stderr).strip()


def file_tail(path, n=3000):
    try:
        with open(path) as f:
            return f.read()[-n:]
    except OSError:
        return ""


class Daemon:
    def __init__(self, workdir, start=True):
        self.dir = workdir
        self.qmpdir = os.path.join(workdir, "qmp")
        os.makedirs(self.qmpdir)
        os.makedirs(os.path.join(workdir, "state"))
        # host devices mmiod reads (plug_slot steps with "spelling": "host")
        self.sysfs = os.path.join(workdir, "sysfs")
        os.makedirs(os.path.join(self.sysfs, "bus", "pci", "devices"))
        self.bus = self.mmiod = None
        if start:
            self.start()

    def start(self):
        """The bus and mmiod; a scenario with a start_mmiod step calls this
        later, after plugs mmiod never saw (a real host: mmiod started after
        the guest had devices from other tools)."""
        workdir = self.dir
        self.bus, self.address, self.env = start_bus(workdir, track)
        self.log_path = os.path.join(workdir, "mmiod.log")
        self.log = open(self.log_path, "w")
        self.start_mmiod()

    def start_mmiod(self):
        workdir = self.dir
        self.mmiod = track(subprocess.Popen(
            [MMIOD, "-v", "--bus-address=" + self.address, "--state-dir",
             os.path.join(workdir, "state"), "--config", "/dev/null",
             "--sysfs-root", self.sysfs,
             "--backend", "qmp:" + self.qmpdir, "--catalogue", CATALOGUE],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=self.env))

    def restart_mmiod(self):
        """mmiod stopped (SIGTERM) and started again on the same bus and
        state: what it works out from QEMU alone must not change."""
        stop(self.mmiod)
        self.log.write("---- mmiod restarted by the test ----\n")
        self.log.flush()
        self.start_mmiod()

    def ctl(self, *args, timeout=120):
        return mmioctl(self.env, *args, timeout=timeout)

    def wait_guest(self, name, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.mmiod.poll() is not None:
                raise RuntimeError("mmiod exited: " + self.logtail())
            rc, js, _ = self.ctl("status", name, timeout=10)
            if rc == 0 and js:
                for g in js.get("guests", []):
                    if g.get("id") == name and g.get("windows"):
                        return g
            time.sleep(0.2)
        raise RuntimeError("mmiod never announced guest %s: %s" % (name, self.logtail()))

    def logtail(self, n=3000):
        if self.bus is None:
            return "(mmiod not started)"
        return file_tail(self.log_path, n)

    def close(self):
        if self.bus is None:
            return
        stop(self.mmiod)
        stop(self.bus)
        self.log.close()


# ---- one scenario -------------------------------------------------------------

def load(name):
    path = name if os.path.exists(name) else os.path.join(SCN_DIR, name + ".json")
    with open(path) as f:
        s = json.load(f)
    s.setdefault("name", os.path.basename(path)[:-5])
    return s


def make_rom(tmpdir):
    p = os.path.join(tmpdir, "dummy.rom")
    if not os.path.exists(p):
        data = bytearray(2048)
        data[0:3] = b"\x55\xaa\x04"
        with open(p, "wb") as f:
            f.write(data)
    return p


def fmt_addr(a):
    return "unassigned" if a is None else "%#x" % a


class Result:
    """TAP points of one scenario, printed together."""

    def __init__(self, name):
        self.name = name
        self.points = []      # (ok, text, directive, diag)
        self.table = []       # rows for docs/verification.md
        self.seconds = None
        self.error = None

    def point(self, ok, text, diag=None, directive=None):
        self.points.append((bool(ok), text, directive, diag))


# VGA-class devices accept rombar=0 on hot-plug; e1000, virtio-net and
# bochs-display (class 0x0380) refuse it
# ("Hot-plugged device without ROM bar can't have an option ROM").
VGA_CLASS = ("secondary-vga", "qxl")
# Devices QEMU 7.2 gives no default romfile: romfile="" changes nothing.
NO_DEFAULT_ROM = ("nvme", "pci-testdev", "edu", "ivshmem-plain")


def qemu_spec(driver, props):
    """device_add props as a mmiod --qemu-device spec.  Empty values ("romfile=")
    go through as empty strings (B1) and integer properties QEMU refuses as
    strings are retried as numbers by the back end (B2)."""
    items = [driver]
    for k, v in props.items():
        v = str(v)
        if k == "romfile" and v == "" and driver in NO_DEFAULT_ROM:
            continue                    # no ROM file by default: nothing to disable
        if k == "romfile" and v == "" and driver in VGA_CLASS:
            items.append("rombar=0")    # same device, no ROM BAR (QEMU loads no file)
            continue
        if k in INT_PROPS:
            # integer qdev properties take no size suffix, on -device as on QMP
            v = str(rig.parse_size(v))
        items.append("%s=%s" % (k, v.replace(",", ",,")))
    return ",".join(items)


# qdev properties of an integer (not "size") type used by the scenarios:
# "128M" is said as bytes.  QEMU 7.2 refuses them as JSON strings ("Parameter
# 'romsize' expects integer"); mmiod's QMP back end then sends them again as
# numbers (B2), which these plugs exercise.
INT_PROPS = ("romsize", "ram_size", "vram_size")


def pred_map(placement):
    return {int(p["bar"]): (p["address"] if p.get("placed") else None) for p in placement}


def compare(pred_fits, pred, guest_bars):
    """Mismatch strings between mmiod's placement and the guest's outcome."""
    g = {b["bar"]: (b["guest_start"] if b["assigned"] else None) for b in guest_bars}
    gfits = all(v is not None for v in g.values())
    mm = []
    if bool(pred_fits) != gfits:
        mm.append("mmiod: %s, guest: %s" % ("fits" if pred_fits else "no-fit",
                                           "fits" if gfits else "no-fit"))
    for bar in sorted(set(g) | set(pred)):
        pa, ga = pred.get(bar, "absent"), g.get(bar, "absent")
        if pa != ga:
            mm.append("BAR%d: mmiod %s, guest %s" % (
                bar, pa if pa == "absent" else fmt_addr(pa), ga if ga == "absent" else fmt_addr(ga)))
    return gfits, mm


def guest_windows_match(gwin, mwin):
    """Memory windows >= 1 MiB the guest logged vs mmiod's low/high windows."""
    gm = sorted((w["start"], w["end"] + 1) for w in gwin["mem"] if w["end"] + 1 - w["start"] >= M)
    mm = sorted((w["start"], w["end"]) for w in mwin if w["kind"] in ("low", "high"))
    return gm == mm, gm, mm


def run_scenario(scn, base_tmp, keep):
    name = scn["name"]
    res = Result(name)
    res.boot = res.kernel = None
    t0 = time.time()
    work = tempfile.mkdtemp(prefix=name + ".", dir=base_tmp)
    d = g = None
    guest_id = "g" + re.sub(r"[^A-Za-z0-9]", "", name)[:20]
    objects = {}
    via = {}          # scenario device id -> ("mmiod", attach_id) | ("qmp", id)
    late = any(stp["op"] == "start_mmiod" for stp in scn["steps"])
    try:
        d = Daemon(work, start=not late)
        g = rig.Guest(machine=scn.get("machine", "pc"), memory=scn.get("memory", "512M"),
                      machine_opts=scn.get("machine_opts"), globals_=scn.get("globals"),
                      devices=[dv.replace("romfile=@dummy", "romfile=" + make_rom(work))
                               for dv in scn.get("boot_devices", [])],
                      objects=scn.get("boot_objects"),
                      append=scn.get("append", ""), smp=scn.get("smp", 1),
                      firmware=scn.get("firmware"), fw_cfg=scn.get("fw_cfg"),
                      workdir=os.path.join(work, "guest"),
                      extra_args=["-name", guest_id, "-qmp",
                                  "unix:%s,server=on,wait=off" % os.path.join(d.qmpdir, guest_id + ".sock")])
        track(g)
        g.start()
        res.boot = round(g.boot_seconds, 1)
        res.kernel = g.kernel_release
        w = g.windows()
        g.dump()   # consume boot-time kernel messages

        def mmiod_up():
            st = d.wait_guest(guest_id)
            same, gm, mm = guest_windows_match(w, st["windows"])
            res.point(same, "%s: mmiod's memory windows are the guest's root bus windows" % name,
                      "guest: %s\nmmiod: %s" % ([(hex(a), hex(b)) for a, b in gm],
                                                [(hex(a), hex(b)) for a, b in mm]))
            occupancy_point(scn, "at mmiod's start", d, g, guest_id, res)
        if not late:
            mmiod_up()
        unpredictable_all = scn.get("mmiod") == "unpredictable"
        drift = None
        for i, stp in enumerate(scn["steps"]):
            op = stp["op"]
            if op == "object_add":
                props = stp.get("props", {})
                g.object_add(stp["qom_type"], stp["id"], **props)
                if "size" in props:
                    objects[stp["id"]] = rig.parse_size(props["size"])
            elif op == "start_mmiod":
                d.start()
                mmiod_up()
            elif op == "restart_mmiod":
                d.restart_mmiod()
                mmiod_up()
            elif op == "plug" and d.bus is None:
                setup_plug(scn, i, stp, g, objects, via, res, work)
            elif op == "plug":
                plug_step(scn, i, stp, d, g, guest_id, objects, via, res, work, unpredictable_all)
            elif op == "plug_slot" and d.bus is None:
                setup_slot(scn, i, stp, g, via, res, work)
            elif op == "plug_slot":
                plug_slot_step(scn, i, stp, d, g, guest_id, objects, via, res, work)
            elif op == "unplug":
                how = via.pop(stp["id"], ("qmp", stp["id"]))
                if how[0] == "mmiod":
                    qd = g.find_pci(how[1])
                    bdf = g._bdf(qd) if qd else None
                    rc, js, txt = d.ctl("detach", guest_id, how[1])
                    okd = rc == 0
                    if okd and bdf:
                        rcg, _ = g.command("waitgone %s 30" % bdf, 40)
                        okd = rcg == 0
                    g.command("klog")
                    res.point(okd, "%s step %d: mmioctl detach %s (%s) and the guest removed it" % (
                        name, i, stp["id"], how[1]), txt)
                else:
                    r = g.unplug(how[1])
                    res.point(r["gone"], "%s step %d: device_del %s, gone from the guest" % (
                        name, i, stp["id"]))
                res.table.append({"step": i, "op": "unplug", "id": stp["id"], "via": how[0]})
            elif op in ("iomem", "shell"):
                pass
            else:
                raise rig.RigError("unknown op %r" % op)
            if op in ("plug", "plug_slot", "unplug") and d.bus is not None and drift is None:
                # status has no --refresh: a check --refresh re-reads QEMU first
                d.ctl("check", "--refresh", guest_id, "bars:mem32:4K")
                rc, js, txt = d.ctl("status", guest_id)
                if rc != 0 or not js or not js.get("guests"):
                    drift = "after step %d: mmioctl status failed: %s" % (i, txt)
                else:
                    occupancy_point(scn, "after step %d (%s %s)" % (i, op, stp["id"]), d, g,
                                    guest_id, res, js["guests"][0])
                    same, gm, mm = guest_windows_match(w, js["guests"][0]["windows"])
                    if not same:
                        drift = "after step %d (%s %s): guest %s, mmiod %s" % (
                            i, op, stp["id"], [(hex(a), hex(b)) for a, b in gm],
                            [(hex(a), hex(b)) for a, b in mm])
        # The guest's _CRS windows never change; mmiod's must not either.
        known = scn.get("known_window_drift")
        res.point(drift is None, "%s: mmiod's memory windows stay the guest's after every plug/unplug"
                  % name, drift, directive=("TODO " + known) if known else None)
    except Exception as e:
        res.error = "%s: %s" % (type(e).__name__, e)
        res.point(False, "%s: runs to the end" % name,
                  traceback.format_exc() + ("\nmmiod log:\n" + d.logtail(1500) if d else ""))
    finally:
        if g is not None:
            stop(g)
        if d is not None:
            d.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    res.seconds = round(time.time() - t0, 1)
    return res


def plug_via(scn, stp):
    """"qmp" when another tool makes this plug (the step, the scenario or
    MMIOD_GUEST_VIA=qmp say so), else None (mmioctl attach when it fits)."""
    if os.environ.get("MMIOD_GUEST_VIA") == "qmp":
        return "qmp"
    return stp.get("via", scn.get("via"))


def plug_enable(scn, stp):
    """Whether the guest enables decode of the plugged device (a driver
    binds); MMIOD_GUEST_ENABLE=0/1 overrides the step and the scenario."""
    env = os.environ.get("MMIOD_GUEST_ENABLE")
    if env in ("0", "1"):
        return env == "1"
    return stp.get("enable", scn.get("enable", True))


def plug_step(scn, i, stp, d, g, guest_id, objects, via, res, work, unpredictable_all):
    name = scn["name"]
    drv, sid = stp["driver"], stp["id"]
    props = dict(stp.get("props", {}))
    if props.get("romfile") == "@dummy":
        props["romfile"] = make_rom(work)
    decl = layout(drv, stp.get("props", {}), objects)
    if decl is None:
        raise rig.RigError("no BAR layout known for %s %s" % (drv, props))
    spec = spec_of(decl)
    unpredictable = unpredictable_all or stp.get("mmiod") == "unpredictable"
    why_unpred = stp.get("mmiod_why") or scn.get("mmiod_why") or "mmiod cannot predict this"
    t0 = time.time()
    # Behind a hot-plug port (q35 pcie-root-port): ask for that port, the
    # one the scenario plugs into.
    port = props.get("bus") if props.get("bus") not in (None, "pci.0", "pcie.0") else None
    port_args = ["--port", port] if port else []
    rc, chk, txt = d.ctl("check", "--refresh", guest_id, spec, *port_args)
    declines = stp.get("mmiod", scn.get("mmiod")) == "declines"
    # Plugged by another tool (QMP device_add), as on a real host; the guest
    # enables decode (a driver would) unless the step says it does not.
    outside = plug_via(scn, stp) == "qmp"
    enable = plug_enable(scn, stp)
    if declines:
        # mmiod knowingly does not model what the guest does here (pciehp
        # re-sizing a port's windows): it must say so instead of answering.
        ok = rc == 4 and "does not model" in txt
        res.point(ok, "%s step %d: %s %s - mmiod declines to predict (%s)" % (
            name, i, sid, spec, stp.get("mmiod_why") or scn.get("mmiod_why", "")),
            "mmioctl check rc %d: %s" % (rc, txt))
        r = g.plug(drv, sid, enable=enable, **props)
        via[sid] = ("qmp", sid)
        gfits = all(b["assigned"] for b in r["bars"])
        res.table.append({"step": i, "op": "plug", "id": sid, "driver": drv, "spec": spec,
                          "via": "qmp", "pred_fits": None, "guest_fits": gfits,
                          "pred": "declined", "guest": ", ".join(
                              "BAR%d %s" % (b["bar"], fmt_addr(b["guest_start"] if b["assigned"] else None))
                              for b in r["bars"]),
                          "mismatch": [], "seconds": round(time.time() - t0, 1),
                          "unpredictable": False, "note": txt.splitlines()[-1] if txt else ""})
        exp = stp.get("expect")
        if exp in ("fits", "no-fit"):
            res.point((exp == "fits") == gfits, "%s step %d: guest outcome as the scenario expects" % (name, i),
                      "expected %s" % exp)
        return
    if rc not in (0, 1) or not chk or "fits" not in chk:
        raise rig.RigError("mmioctl check %s %s: rc %d: %s" % (guest_id, spec, rc, txt))
    pred_fits = chk["fits"]
    pred = pred_map(chk["placement"])
    if outside and not port and scn.get("machine") == "q35":
        # pcie.0 takes no hot-plug: the other tool plugs behind the port
        # mmiod chose (as an administrator asking mmiod first would)
        chosen = {p["window"].split(":")[0] for p in chk["placement"]
                  if p.get("placed") and ":" in (p.get("window") or "")}
        if len(chosen) == 1:
            props.update(bus=chosen.pop(), addr="0x0")
    qspec = qemu_spec(drv, props)
    how = "qmp"
    attach_note = ""
    if pred_fits and not unpredictable and qspec is not None and not outside:
        rc, att, txt = d.ctl("attach", guest_id, spec, "--qemu-device", qspec, *port_args)
        if rc != 0 and "device_add" in txt:
            # QEMU refused what mmiod sent (every property as a string;
            # rombar=0): plug this one with QMP, the comparison stays.
            attach_note = "mmiod attach failed (%s); plugged with QMP" % txt.split(": ", 2)[-1]
            qspec = None
        elif rc != 0 or not att:
            res.point(False, "%s step %d: mmioctl attach %s" % (name, i, sid), txt)
            raise rig.RigError("attach refused after check said fits: " + txt)
    if qspec is not None and how == "qmp" and pred_fits and not unpredictable and not outside:
        qid = att["attach_id"]
        apred = pred_map(att["placement"])
        if apred != pred:
            attach_note = "attach placed %s, check said %s" % (apred, pred)
            pred = apred
        qd = g.find_pci(qid)
        if qd is None:
            raise rig.RigError("%s (%s) not in query-pci after attach" % (sid, qid))
        bdf = g._bdf(qd)
        rcw, _ = g.command("waitdev %s 60" % bdf, 70)
        if rcw != 0:
            raise rig.RigError("guest never saw %s at %s" % (sid, bdf))
        r = g.outcome(qid, enable=enable)
        how = "mmiod"
        via[sid] = ("mmiod", qid)
    else:
        r = g.plug(drv, sid, enable=enable, **props)
        qid = sid
        via[sid] = ("qmp", sid)
    secs = round(time.time() - t0, 1)
    qd = g.find_pci(qid)
    real = real_layout(qd) if qd else None
    if real is not None and real != sorted(decl):
        res.point(False, "%s step %d: %s's declared BARs are what QEMU built" % (name, i, sid),
                  "declared %s\nQEMU %s" % (sorted(decl), real))
    gfits, mm = compare(pred_fits, pred, r["bars"])
    klog = [l for l in r.get("klog_dev", []) if re.search(r"assign|space|BAR|ROM|enabl", l)]
    guest_s = ", ".join("BAR%d %s" % (b["bar"], fmt_addr(b["guest_start"] if b["assigned"] else None))
                        for b in r["bars"])
    pred_s = ", ".join("BAR%d %s" % (b, fmt_addr(a)) for b, a in sorted(pred.items()))
    diag = "\n".join(["scenario %s step %d: %s %s %s" % (name, i, drv, sid, spec),
                      "mmiod: %s: %s%s" % ("fits" if pred_fits else "no-fit", pred_s,
                                           ("  (" + chk.get("reason", "") + ")") if chk.get("reason") else ""),
                      "guest: %s: %s" % ("fits" if gfits else "no-fit", guest_s),
                      "guest resource lines: " + "; ".join(
                          "%d %#x-%#x %#x" % (b["bar"], b["guest_start"] or 0, b["guest_end"] or 0,
                                               b["guest_flags"] or 0) for b in r["bars"])]
                     + ["kernel: " + l for l in klog] + ([attach_note] if attach_note else []))
    row = {"step": i, "op": "plug", "id": sid, "driver": drv, "spec": spec, "via": how,
           "pred_fits": pred_fits, "guest_fits": gfits, "pred": pred_s, "guest": guest_s,
           "mismatch": mm, "seconds": secs, "unpredictable": unpredictable,
           "enabled": bool(enable), "note": attach_note or (chk.get("reason", "") if pred_fits else "")}
    res.table.append(row)
    text = "%s step %d: %s %s - mmiod %s, guest %s" % (
        name, i, sid, spec, "fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit")
    if unpredictable:
        res.point(True, text, diag if mm else None,
                  directive="SKIP %s%s" % (why_unpred, " (mmiod differed: %s)" % "; ".join(mm) if mm else ""))
    elif stp.get("known_mismatch"):
        res.point(not mm, text, diag, directive="TODO " + stp["known_mismatch"])
    else:
        res.point(not mm, text, diag)
    guest_expectations(name, i, stp, r, diag, res)


def guest_expectations(name, i, stp, r, diag, res):
    """The scenario's own reading of the guest (independent of mmiod)."""
    gfits = all(b["assigned"] for b in r["bars"])
    exp = stp.get("expect")
    ebars = stp.get("expect_bars") or {}
    if exp or ebars:
        emm = []
        if exp in ("fits", "no-fit") and (exp == "fits") != gfits:
            emm.append("expected %s" % exp)
        gb = {b["bar"]: (b["guest_start"] if b["assigned"] else None) for b in r["bars"]}
        for k, v in ebars.items():
            want = None if v == "unassigned" else int(v, 16)
            if gb.get(int(k), "absent") != want:
                emm.append("BAR %s: expected %s, guest %s" % (k, v, fmt_addr(gb.get(int(k)))))
        res.point(not emm, "%s step %d: guest outcome as the scenario expects" % (name, i),
                  "\n".join(emm + [diag]))


# ---- multi-function slots ------------------------------------------------------

SYSFS_FLAGS = {"mem32": 0x40200, "mem32p": 0x42208, "mem64": 0x140204, "mem64p": 0x14220c,
               "io": 0x40101, "rom": 0x46200}


def write_host_slot(sysfs, bus, decls):
    """A host slot 0000:BUS:00 in a private sysfs tree whose functions have
    the BARs QEMU's emulated functions have: mmiod reads "0000:BUS:00" from
    there (nothing is passed through; the plug itself is emulated)."""
    for fn, decl in enumerate(decls):
        d = os.path.join(sysfs, "bus", "pci", "devices", "0000:%02x:00.%d" % (bus, fn))
        os.makedirs(d, exist_ok=True)
        lines = ["0x%016x 0x%016x 0x%016x" % (0, 0, 0)] * 13
        base = 0xE0000000 + fn * 0x10000000
        for bar, kind, size in decl:
            lines[bar] = "0x%016x 0x%016x 0x%016x" % (base, base + size - 1, SYSFS_FLAGS[kind])
            base += size
        with open(os.path.join(d, "resource"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return "0000:%02x:00" % bus


def plug_slot_step(scn, i, stp, d, g, guest_id, objects, via, res, work):
    """A multi-function slot: mmioctl check with the functions joined by "+"
    (or, "spelling": "host", the host slot address 0000:BB:DD), then the
    plug through mmioctl attach (one qemu-device spec per function, also
    joined by "+") when it fits, else with QMP; every BAR of every function
    compared with the guest."""
    name, sid = scn["name"], stp["id"]
    fns = stp["functions"]
    props = dict(stp.get("props", {}))
    decls, specs, qspecs, qfns = [], [], [], []
    for f in fns:
        fp = dict(f.get("props", {}))
        if fp.get("romfile") == "@dummy":
            fp["romfile"] = make_rom(work)
        decl = layout(f["driver"], f.get("props", {}), objects)
        if decl is None:
            raise rig.RigError("no BAR layout known for %s %s" % (f["driver"], fp))
        decls.append(decl)
        specs.append(spec_of(decl))
        qspecs.append(qemu_spec(f["driver"], fp))
        qfns.append((f["driver"], fp))
    bars_spec = "+".join(specs)
    spec = bars_spec
    if stp.get("spelling") == "host":
        spec = write_host_slot(d.sysfs, int(stp.get("host_bus", "0x3d"), 16), decls)
    port = props.get("bus") if props.get("bus") not in (None, "pci.0", "pcie.0") else None
    port_args = ["--port", port] if port else []
    t0 = time.time()
    rc, chk, txt = d.ctl("check", "--refresh", guest_id, spec, *port_args)
    if rc not in (0, 1) or not chk or "fits" not in chk:
        raise rig.RigError("mmioctl check %s %s: rc %d: %s" % (guest_id, spec, rc, txt))
    pred_fits = chk["fits"]
    pred = {(p["function"], p["bar"]): (p["address"] if p.get("placed") else None)
            for p in chk["placement"]}
    how, note = "qmp", ""
    # Plugged by another tool (QMP device_add) when the step says so, and
    # enabled by the guest unless it says otherwise.
    outside = plug_via(scn, stp) == "qmp"
    enable = plug_enable(scn, stp)
    if pred_fits and not outside:
        rc, att, txt = d.ctl("attach", guest_id, bars_spec, "--qemu-device", "+".join(qspecs),
                             *port_args)
        if rc != 0 or not att:
            res.point(False, "%s step %d: mmioctl attach %s" % (name, i, sid), txt)
            raise rig.RigError("attach refused after check said fits: " + txt)
        qid = att["attach_id"]
        apred = {(p["function"], p["bar"]): (p["address"] if p.get("placed") else None)
                 for p in att["placement"]}
        if apred != pred:
            note = "attach placed %s, check said %s" % (apred, pred)
            pred = apred
        ids = [qid] + ["%s.%d" % (qid, fn) for fn in range(1, len(fns))]
        qd = g.find_pci(qid)
        if qd is None:
            raise rig.RigError("%s (%s) not in query-pci after attach" % (sid, qid))
        rcw, _ = g.command("waitdev %s 60" % g._bdf(qd), 70)
        if rcw != 0:
            raise rig.RigError("guest never saw %s at %s" % (sid, g._bdf(qd)))
        recs = [g.outcome(x, enable=enable) for x in ids]
        how = "mmiod"
        via[sid] = ("mmiod", qid)
    else:
        recs = g.plug_slot(qfns, sid, bus=port, enable=enable)
        via[sid] = ("qmp", sid)
    secs = round(time.time() - t0, 1)
    gbars = {}
    for fn, r in enumerate(recs):
        qd = g.find_pci(r["id"])
        real = real_layout(qd) if qd else None
        if real is not None and real != sorted(decls[fn]):
            res.point(False, "%s step %d: %s function %d's declared BARs are what QEMU built" % (
                name, i, sid, fn), "declared %s\nQEMU %s" % (sorted(decls[fn]), real))
        for b in r["bars"]:
            gbars[(fn, b["bar"])] = b["guest_start"] if b["assigned"] else None
    gfits = all(v is not None for v in gbars.values())
    mm = []
    if pred_fits != gfits:
        mm.append("mmiod: %s, guest: %s" % ("fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit"))
    for k in sorted(set(gbars) | set(pred)):
        pa, ga = pred.get(k, "absent"), gbars.get(k, "absent")
        if pa != ga:
            mm.append("function %d BAR%d: mmiod %s, guest %s" % (
                k[0], k[1], pa if pa == "absent" else fmt_addr(pa), ga if ga == "absent" else fmt_addr(ga)))
    fmt = lambda m: ", ".join("%d:%d %s" % (f, b, fmt_addr(a)) for (f, b), a in sorted(m.items()))
    klog = [l for r in recs for l in r.get("klog_dev", []) if re.search(r"assign|space|BAR|ROM|enabl", l)]
    diag = "\n".join(["scenario %s step %d: slot %s %s" % (name, i, sid, spec),
                      "mmiod: %s: %s%s" % ("fits" if pred_fits else "no-fit", fmt(pred),
                                           ("  (" + chk.get("reason", "") + ")") if chk.get("reason") else ""),
                      "guest: %s: %s" % ("fits" if gfits else "no-fit", fmt(gbars))]
                     + ["kernel: " + l for l in klog] + mm + ([note] if note else []))
    res.table.append({"step": i, "op": "plug", "id": sid, "driver": "+".join(f["driver"] for f in fns),
                      "spec": spec, "via": how, "pred_fits": pred_fits, "guest_fits": gfits,
                      "pred": fmt(pred), "guest": fmt(gbars), "mismatch": mm, "seconds": secs,
                      "unpredictable": False, "enabled": bool(enable), "note": note})
    res.point(not mm, "%s step %d: slot %s %s - mmiod %s, guest %s" % (
        name, i, sid, spec, "fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit"), diag)
    exp, ebars = stp.get("expect"), stp.get("expect_bars") or {}
    if exp or ebars:
        emm = []
        if exp in ("fits", "no-fit") and (exp == "fits") != gfits:
            emm.append("expected %s" % exp)
        for k, v in ebars.items():      # "F:BAR": address
            fn, bar = (int(x) for x in k.split(":"))
            want = None if v == "unassigned" else int(v, 16)
            if gbars.get((fn, bar), "absent") != want:
                emm.append("function %d BAR %d: expected %s, guest %s" % (fn, bar, v, fmt_addr(gbars.get((fn, bar)))))
        res.point(not emm, "%s step %d: guest outcome as the scenario expects" % (name, i),
                  "\n".join(emm + [diag]))
def setup_plug(scn, i, stp, g, objects, via, res, work):
    """A plug before mmiod runs: another tool plugged it (QMP device_add),
    and mmiod will have to work out what it holds when it starts."""
    drv, sid = stp["driver"], stp["id"]
    props = dict(stp.get("props", {}))
    if props.get("romfile") == "@dummy":
        props["romfile"] = make_rom(work)
    t0 = time.time()
    r = g.plug(drv, sid, enable=plug_enable(scn, stp), **props)
    via[sid] = ("qmp", sid)
    gfits = all(b["assigned"] for b in r["bars"])
    guest_s = ", ".join("BAR%d %s" % (b["bar"], fmt_addr(b["guest_start"] if b["assigned"] else None))
                        for b in r["bars"])
    res.table.append({"step": i, "op": "plug", "id": sid, "driver": drv, "via": "qmp-before-mmiod",
                      "pred_fits": None, "guest_fits": gfits, "pred": "", "guest": guest_s,
                      "mismatch": [], "seconds": round(time.time() - t0, 1), "unpredictable": False,
                      "enabled": bool(plug_enable(scn, stp)), "note": ""})
    guest_expectations(scn["name"], i, stp, r, "guest: " + guest_s, res)


def setup_slot(scn, i, stp, g, via, res, work):
    """A multi-function slot plugged before mmiod runs, by another tool."""
    sid = stp["id"]
    qfns = []
    for f in stp["functions"]:
        fp = dict(f.get("props", {}))
        if fp.get("romfile") == "@dummy":
            fp["romfile"] = make_rom(work)
        qfns.append((f["driver"], fp))
    port = stp.get("props", {}).get("bus")
    port = port if port not in (None, "pci.0", "pcie.0") else None
    enable = plug_enable(scn, stp)
    t0 = time.time()
    recs = g.plug_slot(qfns, sid, bus=port, enable=enable)
    via[sid] = ("qmp", sid)
    gbars = {(fn, b["bar"]): (b["guest_start"] if b["assigned"] else None)
             for fn, r in enumerate(recs) for b in r["bars"]}
    gfits = all(v is not None for v in gbars.values())
    guest_s = ", ".join("%d:%d %s" % (f, b, fmt_addr(a)) for (f, b), a in sorted(gbars.items()))
    res.table.append({"step": i, "op": "plug", "id": sid,
                      "driver": "+".join(f["driver"] for f in stp["functions"]),
                      "via": "qmp-before-mmiod", "pred_fits": None, "guest_fits": gfits, "pred": "",
                      "guest": guest_s, "mismatch": [], "seconds": round(time.time() - t0, 1),
                      "unpredictable": False, "enabled": bool(enable), "note": ""})
    exp = stp.get("expect")
    if exp in ("fits", "no-fit"):
        res.point((exp == "fits") == gfits, "%s step %d: guest outcome as the scenario expects" % (
            scn["name"], i), "expected %s, guest: %s" % (exp, guest_s))


# A boot VGA's ROM resource is the shadow copy (IORESOURCE_ROM_SHADOW):
# its ROM BAR holds no space in the guest.
IORESOURCE_ROM_SHADOW = 0x2


def occupancy_point(scn, when, d, g, guest_id, res, status=None):
    """mmiod's Devices (every BAR of every device: shown by QEMU, predicted,
    inferred) against the guest's sysfs resources."""
    name = scn["name"]
    if status is None:
        d.ctl("check", "--refresh", guest_id, "bars:mem32:4K")
        rc, js, txt = d.ctl("status", guest_id)
        if rc != 0 or not js or not js.get("guests"):
            res.point(False, "%s %s: mmioctl status" % (name, when), txt)
            return
        status = js["guests"][0]
    devs, _ = g.dump()
    mm, counts, uncertain = [], {}, []
    for b in status.get("devices", []):
        m = re.match(r"^([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$", b.get("slot") or "")
        if not m:
            continue
        gd = devs.get("0000:" + b["slot"])
        if gd is None:
            continue
        gr = gd["res"].get(int(b["bar"]))
        gaddr = None
        if gr and gr[2] and gr[1] > gr[0] and not (int(b["bar"]) == 6 and gr[2] & IORESOURCE_ROM_SHADOW):
            gaddr = gr[0]
        src = b.get("source")
        counts[src] = counts.get(src, 0) + 1
        if b.get("address") != gaddr:
            line = "%s (%s) BAR%d %s %s: mmiod %s (%s), guest %s" % (
                b["device"], b["slot"], b["bar"], b["kind"], size_name(b["size"]),
                fmt_addr(b.get("address")), src, fmt_addr(gaddr))
            (uncertain if src == "uncertain" else mm).append(line)
    text = "%s %s: mmiod's view of every BAR in the guest is the guest's (%s)" % (
        name, when, ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())))
    res.point(not mm, text, "\n".join(mm + ["(uncertain, counted at every reading) " + u for u in uncertain]))
    res.occupancy = getattr(res, "occupancy", []) + [{"when": when, "counts": counts,
                                                     "mismatch": mm, "uncertain": uncertain}]


# ---- main ------------------------------------------------------------------------

def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


def select(all_scns):
    sel = os.environ.get("MMIOD_GUEST_SCENARIOS", "ci").strip()
    if sel == "all":
        return all_scns
    if sel == "none":
        skip_all("MMIOD_GUEST_SCENARIOS=none")
    if sel == "ci":
        return [s for s in all_scns if s.get("ci")]
    if sel in ("ovmf", "seabios"):      # every scenario of that firmware (the matrix)
        return [s for s in all_scns if s.get("firmware", "seabios") == sel]
    want = [x for x in re.split(r"[\s,]+", sel) if x]
    by = {s["name"]: s for s in all_scns}
    out = []
    for w in want:
        hits = [s for n, s in by.items() if n == w or n.startswith(w + "-")]
        if not hits:
            print("Bail out! unknown scenario %s" % w)
            sys.exit(1)
        out += hits
    return out


BRIDGES = ("pcie-root-port", "pci-bridge", "pcie-pci-bridge", "i82801b11-bridge",
           "x3130-upstream", "xio3130-downstream", "ioh3420")


def count_plugs(scns, summary):
    """Who made the plugs and how many agreed: the figures verification.md
    gives for a run."""
    c = {"compared": 0, "attach": 0, "qmp": 0, "slots": 0, "before_mmiod": 0, "not_enabled": 0,
         "fits_agree": 0, "bars_agree": 0, "both_fit": 0, "both_fit_agree": 0,
         "boot_devices": 0, "occupancy_points": 0, "occupancy_bars": {}, "occupancy_mismatch": 0,
         "mismatches": []}
    for scn in scns:
        c["boot_devices"] += sum(1 for dv in scn.get("boot_devices", [])
                                 if dv.split(",")[0] not in BRIDGES)
    for sc in summary:
        for row in sc["steps"]:
            if row.get("op") != "plug":
                continue
            if row.get("enabled") is False:
                c["not_enabled"] += 1
            if row["via"] == "qmp-before-mmiod":
                c["before_mmiod"] += 1
                continue
            if row.get("pred_fits") is None or row.get("unpredictable"):
                continue
            c["compared"] += 1
            c["attach" if row["via"] == "mmiod" else "qmp"] += 1
            c["slots"] += "+" in row.get("driver", "")
            mm = row.get("mismatch") or []
            fits_mm = [m for m in mm if m.startswith("mmiod: ")]
            c["fits_agree"] += not fits_mm
            c["bars_agree"] += not mm
            if row["pred_fits"] and row["guest_fits"]:
                c["both_fit"] += 1
                c["both_fit_agree"] += not mm
            if mm:
                c["mismatches"].append("%s step %s %s: %s" % (sc["scenario"], row["step"], row["id"],
                                                             "; ".join(mm)))
        for oc in sc.get("occupancy", []):
            c["occupancy_points"] += 1
            for k, v in oc["counts"].items():
                c["occupancy_bars"][k] = c["occupancy_bars"].get(k, 0) + v
            c["occupancy_mismatch"] += len(oc["mismatch"])
    outside = c["qmp"] + c["before_mmiod"]
    allp = c["compared"] + c["before_mmiod"]
    c["lines"] = [
        "plugs: %d, %d of them outside mmiod (%d by QMP while mmiod ran, %d before mmiod started), "
        "%d through mmioctl attach; %d multi-function slots; %d never enabled; %d boot devices"
        % (allp, outside, c["qmp"], c["before_mmiod"], c["attach"], c["slots"], c["not_enabled"],
           c["boot_devices"]),
        "predicted and compared: %d; fits/no-fit agree %d/%d; every BAR agrees %d/%d; "
        "both fit %d, every address agrees %d/%d"
        % (c["compared"], c["fits_agree"], c["compared"], c["bars_agree"], c["compared"],
           c["both_fit"], c["both_fit_agree"], c["both_fit"]),
        "mmiod's view of every BAR against the guest's: %d checks, %s; %d BAR(s) not where the guest has them"
        % (c["occupancy_points"], ", ".join("%d %s" % (v, k) for k, v in sorted(c["occupancy_bars"].items())),
           c["occupancy_mismatch"]),
    ] + ["mismatch: " + m for m in c["mismatches"]]
    return c


def main():
    for tool in (rig.QEMU, "dbus-daemon"):
        if not shutil.which(tool):
            skip_all("%s not installed" % tool)
    for p in (MMIOD, MMIOCTL):
        if not os.access(p, os.X_OK):
            skip_all("%s not built" % p)
    scns = select([load(p) for p in sorted(glob.glob(os.path.join(SCN_DIR, "*.json")))])
    try:
        img = rig.guest_image()
    except subprocess.CalledProcessError as e:
        skip_all("guest kernel/initramfs cannot be built (no network or no busybox-static?): %s" % e)
    except OSError as e:
        skip_all("guest kernel/initramfs cannot be built: %s" % e)
    # OVMF scenarios need OVMF: the installed package (scripts/deps) or a
    # fetch-stack component MMIOD_GUEST_STACK names; never a download here.
    skipped = []
    if not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd") and "ovmf" not in rig.stack_components():
        skipped = [s["name"] for s in scns if s.get("firmware") == "ovmf"]
        scns = [s for s in scns if s.get("firmware") != "ovmf"]
    jobs = int(os.environ.get("MMIOD_GUEST_JOBS", "2"))
    keep = bool(os.environ.get("MMIOD_GUEST_KEEP"))
    base = tempfile.mkdtemp(prefix="mmiod-guests.")
    print("# kernel package %s, %d scenario(s), -j%d" % (img.get("package"), len(scns), jobs))
    t0 = time.time()
    n = 0
    failed = 0
    summary = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = [ex.submit(run_scenario, s, base, keep) for s in scns]
        for f in futs:
            res = f.result()
            for ok, text, directive, diag in res.points:
                n += 1
                line = "%s %d - %s" % ("ok" if ok else "not ok", n, text)
                if directive:
                    line += " # " + directive
                print(line)
                if diag and (not ok or directive):
                    for dl in str(diag).splitlines():
                        print("#   " + dl)
                if not ok and not (directive or "").startswith("TODO"):
                    failed += 1
            print("# %s: %.1fs%s" % (res.name, res.seconds, " ERROR " + res.error if res.error else ""))
            summary.append({"scenario": res.name, "seconds": res.seconds, "error": res.error,
                            "points": [[ok, text, directive] for ok, text, directive, _ in res.points],
                            "kernel": res.kernel, "boot": res.boot,
                            "steps": res.table, "occupancy": getattr(res, "occupancy", [])})
            sys.stdout.flush()
    for name in skipped:
        n += 1
        print("ok %d - %s # SKIP OVMF is not installed (apt install ovmf, or MMIOD_GUEST_STACK=ovmf-...)"
              % (n, name))
    total = time.time() - t0
    counts = count_plugs(scns, summary)
    for line in counts["lines"]:
        print("# " + line)
    print("# total %.1fs for %d scenario(s), -j%d" % (total, len(scns), jobs))
    out = os.environ.get("MMIOD_GUEST_RESULTS")
    if out:
        with open(out, "w") as f:
            json.dump({"total_seconds": round(total, 1), "jobs": jobs, "counts": counts,
                       "scenarios": summary}, f, indent=1)
    if keep:
        print("# kept %s" % base)
    else:
        shutil.rmtree(base, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
