#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mmiod's libvirt back end against a real libvirtd and real Linux guests (TAP).

A private system libvirtd (libvirtd.py: libvirtd + virtlogd, started by hand
as root in a mount namespace) runs TCG guests defined with direct kernel
boot of the tests/guest kernel and initramfs, with the rig's command channel
on a second serial port and a second QMP monitor for the rig
(<qemu:commandline>).  mmiod runs with --backend libvirt:qemu:///system
(the private daemon's socket) on a private bus.  For every scenario
(tests/libvirt/scenarios/*.json) and every "plug" step:

  1. `mmioctl --json check --refresh GUEST bars:... [--port pci.N]`;
  2. the plug, the way administrators make them: `virsh attach-device`
     (an ivshmem-plain <shmem> at the port's bus) or `virsh
     qemu-monitor-command ... device_add` (pci-testdev, bus=pci.N);
  3. the guest's outcome (rig.py: sysfs resources, decode enabled);
  4. test-guests.py's comparison (fits and every BAR's address), the one
     used for the QMP back end's scenarios.

Without --refresh: every attach-device must show up as a device-added line
of `mmioctl watch` (the latency printed, the median held to 1 s) and in
`mmioctl status`.  Mid-run libvirtd is stopped (status names the back end
as not connected, its guests stale, still listed) and started again (back
in `status`, the next plug seen).  At the end mmiod is started while
libvirtd is down, then libvirtd: the time until mmiod serves the guests
again is printed and held to 5 s.  Also: a failing Attach behind a port
(libvirt's words, a JSON error object, the hold released), a shut-off
guest saying why it cannot attach, the guests' libvirt names in watch.

MMIOD_LIBVIRT_SCENARIOS = "ci" (default: scenarios with "ci": true), "all",
"none", or names; MMIOD_GUEST_SCENARIOS=none (the ASan pass) skips too.
Skips when a system libvirtd cannot run here (not root, libvirt-daemon-system
or its QEMU driver missing), or QEMU, dbus-daemon or the guest kernel are.
"""
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_DIR = os.path.join(os.path.dirname(HERE), "guest")
sys.path.insert(0, GUEST_DIR)
sys.path.insert(0, HERE)
import rig  # noqa: E402
import libvirtd  # noqa: E402

# tests/guest's declarations, comparison and bus/mmiod helpers, not a second copy.
import guest_devices  # noqa: E402
from guest_mmiod import CATALOGUE, MMIOCTL, MMIOD, file_tail, mmioctl, start_bus, top_srcdir  # noqa: E402

SCN_DIR = os.path.join(HERE, "scenarios")
SYSFS = os.path.join(top_srcdir, "tests", "fixtures", "sysfs")
M = 1 << 20

# ---- TAP ------------------------------------------------------------------------
_n = 0
_failed = 0
_lock = threading.Lock()


def ok(cond, text, diag=None, directive=None):
    global _n, _failed
    with _lock:
        _n += 1
        line = "%s %d - %s" % ("ok" if cond else "not ok", _n, text)
        if directive:
            line += " # " + directive
        print(line)
        if diag is not None and (not cond or directive):
            for dl in str(diag).splitlines():
                print("#   " + dl)
        if not cond and not (directive or "").startswith("TODO"):
            _failed += 1
        sys.stdout.flush()
    return cond


def note(text):
    with _lock:
        for line in str(text).splitlines():
            print("# " + line)
        sys.stdout.flush()


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


# ---- the private bus, mmiod and a watch ---------------------------------------------

class Mmiod:
    def __init__(self, workdir, uri):
        self.dir = workdir
        self.uri = uri
        os.makedirs(os.path.join(workdir, "state"), exist_ok=True)
        self.bus, self.address, self.env = start_bus(workdir)
        self.log_path = os.path.join(workdir, "mmiod.log")
        self.proc = None
        self.watch = None

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [MMIOD, "-v", "--bus-address=" + self.address, "--state-dir", os.path.join(self.dir, "state"),
             "--config", "/dev/null", "--backend", "libvirt:" + self.uri, "--catalogue", CATALOGUE,
             "--sysfs-root", SYSFS],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 20
        while self.ctl("status", timeout=5)[0] == 3:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mmiod did not come up: " + self.logtail())
            time.sleep(0.1)

    def stop(self):
        rig.end_process(self.proc, signal.SIGTERM, 15)
        if self.proc:
            self.log.close()
        self.proc = None

    def ctl(self, *args, timeout=120):
        return mmioctl(self.env, *args, timeout=timeout)

    def status(self, guest=None):
        rc, js, txt = self.ctl(*(["status"] + ([guest] if guest else [])), timeout=20)
        return js if rc == 0 else None

    def logtail(self, n=3000):
        return file_tail(self.log_path, n)

    def close(self):
        if self.watch:
            self.watch.close()
        self.stop()
        if self.bus.poll() is None:
            self.bus.terminate()
            self.bus.wait()


class Watch:
    """`mmioctl --json watch`, every line kept with the time it arrived."""

    def __init__(self, env):
        self.proc = subprocess.Popen([MMIOCTL, "--json", "watch"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "not-json", "line": line}
            with self.cv:
                self.lines.append((t, ev))
                self.cv.notify_all()

    def wait(self, pred, since, timeout):
        """The first event after `since` (monotonic) matching pred: (time, event) or None."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, ev in self.lines:
                    if t >= since and pred(ev):
                        return t, ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def events(self):
        with self.cv:
            return [ev for _, ev in self.lines]

    def close(self):
        rig.end_process(self.proc, signal.SIGINT, 5)


# ---- a guest defined in libvirt -----------------------------------------------------

def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")


class LibvirtGuest(rig.Guest):
    """The rig's guest, defined and started by libvirtd instead of by hand:
    its command channel and a QMP monitor for the rig are sockets in the
    work dir (the second serial port, <qemu:commandline>)."""

    def __init__(self, lv, name, scn, workdir):
        super().__init__(machine=scn.get("machine", "pc"), memory=scn.get("memory", "512M"),
                         workdir=workdir, append=scn.get("append", ""),
                         firmware=scn.get("firmware"))
        self.lv = lv
        self.name = name
        self.scn = scn
        self.controllers = self._controllers(scn)

    @staticmethod
    def _controllers(scn):
        """Index, model, address and QEMU properties of every PCI controller."""
        out = []
        for i, c in enumerate(scn.get("controllers", []), start=1):
            out.append(dict(c, index=i, alias="pci.%d" % i))
        return out

    def domain_xml(self):
        img = self.image
        q35 = self.machine == "q35"
        mem = rig.parse_size(self.memory) // M
        root = "<controller type='pci' index='0' model='%s'>" % ("pcie-root" if q35 else "pci-root")
        if self.scn.get("pcihole64"):
            root += "<pcihole64 unit='KiB'>%d</pcihole64>" % (rig.parse_size(self.scn["pcihole64"]) >> 10)
        root += "</controller>"
        ctrls = []
        overrides = []
        for c in self.controllers:
            x = "<controller type='pci' index='%d' model='%s'>" % (c["index"], c["model"])
            if "on" in c:   # behind another controller (a switch's ports)
                parent = int(c["on"].split(".")[1])
                x += "<address type='pci' domain='0x0000' bus='0x%02x' slot='0x%02x' function='0x0'/>" % (
                    parent, c.get("slot", 0))
            x += "</controller>"
            ctrls.append(x)
            if c.get("props"):
                props = "".join("<qemu:property name='%s' type='unsigned' value='%d'/>" %
                                (k, rig.parse_size(v)) for k, v in c["props"].items())
                overrides.append("<qemu:device alias='%s'><qemu:frontend>%s</qemu:frontend></qemu:device>" %
                                 (c["alias"], props))
        loader = ""
        if self.scn.get("firmware") == "ovmf":
            # UEFI from a pflash pair, as virt-install sets it up; libvirt
            # copies the VARS template into the nvram file.
            fw = rig.ovmf_firmware()
            loader = ("<loader readonly='yes' type='pflash'>%s</loader>"
                      "<nvram template='%s'>%s/OVMF_VARS.fd</nvram>" % (
                          xml_escape(fw["code"]), xml_escape(fw["vars"]), xml_escape(self.workdir)))
        cmdline = ("console=ttyS0 quiet panic=-1 8250.nr_uarts=2 tsc=reliable no_timer_check "
                   "mitigations=off " + self.append).strip()
        return """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>%(name)s</name>
  <memory unit='MiB'>%(mem)d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='%(machine)s'>hvm</type>
    %(loader)s
    <kernel>%(kernel)s</kernel>
    <initrd>%(initrd)s</initrd>
    <cmdline>%(cmdline)s</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    %(root)s
    <controller type='usb' model='none'/>
    %(ctrls)s
    <serial type='file'><source path='%(wd)s/console.log'/><target port='0'/></serial>
    <serial type='unix'><source mode='bind' path='%(wd)s/cmd.sock'/><target port='1'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-qmp'/>
    <qemu:arg value='unix:%(wd)s/qmp.sock,server=on,wait=off'/>
  </qemu:commandline>
  %(override)s
</domain>
""" % {"name": self.name, "mem": mem, "machine": self.machine, "kernel": xml_escape(img["kernel"]),
       "initrd": xml_escape(img["initramfs"]), "cmdline": xml_escape(cmdline), "root": root,
       "ctrls": "\n    ".join(ctrls), "wd": xml_escape(self.workdir), "loader": loader,
       "override": "<qemu:override>%s</qemu:override>" % "".join(overrides) if overrides else ""}

    class _Proc:
        """What the rig polls to tell a dead QEMU: the domain's pid file."""

        def __init__(self, guest):
            self.g = guest
            self.returncode = None

        def poll(self):
            pidf = os.path.join(self.g.lv.dir, "run", "qemu", self.g.name + ".pid")
            try:
                pid = int(open(pidf).read().strip())
                os.kill(pid, 0)
                return None
            except (OSError, ValueError):
                # libvirtd down: its pid file stays, QEMU too; only a
                # missing pid file with libvirtd up means the guest died
                if not self.g.lv.running():
                    return None
                self.returncode = -1
                return -1

    def start(self):
        self.image = rig.guest_image()
        self.cmd_path = os.path.join(self.workdir, "cmd.sock")
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        xml = os.path.join(self.workdir, "domain.xml")
        with open(xml, "w") as f:
            f.write(self.domain_xml())
        t0 = time.time()
        self.lv.virsh("define", xml)
        self.lv.virsh("start", self.name)
        self.proc = self._Proc(self)
        deadline = t0 + 30
        while not (os.path.exists(self.cmd_path) and os.path.exists(self.qmp_path)):
            if time.time() > deadline:
                raise rig.RigError("the domain's sockets never appeared")
            time.sleep(0.05)
        return self._boot_wait(t0)

    def qemu_log_path(self):
        return os.path.join(self.lv.dir, "log", "qemu", self.name + ".log")

    def close(self):
        if self.qmp:
            self.qmp.close()
            self.qmp = None
        if self.chan:
            self.chan.close()
            self.chan = None
        if self.lv.running():
            self.lv.virsh("destroy", self.name, check=False, timeout=30)
            self.lv.virsh("undefine", self.name, check=False, timeout=30)

    # ---- libvirt's view ----------------------------------------------------
    def alias_of(self, kind, name):
        """The alias libvirt gave a device (<shmem name=...>): its QEMU id."""
        xml = self.lv.virsh("dumpxml", self.name).stdout
        m = re.search(r"<%s name='%s'>.*?<alias name='([^']+)'/>" % (kind, re.escape(name)), xml, re.S)
        return m.group(1) if m else None

    def uuid(self):
        return self.lv.virsh("domuuid", self.name).stdout.strip()


# ---- one scenario -------------------------------------------------------------------

def load(path):
    with open(path) as f:
        s = json.load(f)
    s.setdefault("name", os.path.basename(path)[:-5])
    return s


def shmem_xml(sid, size, bus=None):
    addr = ""
    if bus is not None:
        addr = "<address type='pci' domain='0x0000' bus='0x%02x' slot='0x00' function='0x0'/>" % bus
    return ("<shmem name='%s'><model type='ivshmem-plain'/><size unit='M'>%d</size>%s</shmem>" %
            (sid, rig.parse_size(size) // M, addr))


class Run:
    """Shared by the scenarios of one test run."""

    def __init__(self, lv, md):
        self.lv = lv
        self.md = md
        self.watch_latency = []     # seconds from virsh attach-device returning to the watch line
        self.rows = []              # for docs/verification.md
        self.agree = self.plugs = 0


def run_scenario(run, scn, work):
    name = scn["name"]
    gname = names_of([scn])[0]
    g = LibvirtGuest(run.lv, gname, scn, os.path.join(work, name))
    md = run.md
    via = {}
    met = False
    try:
        g.start()
        note("%s: %s booted in %.1f s (%s)" % (name, gname, g.boot_seconds, g.kernel_release))
        w = g.windows()
        g.dump()    # the boot-time kernel messages
        deadline = time.monotonic() + 30
        st = None
        while time.monotonic() < deadline:
            js = md.status(gname)
            if js and js["guests"] and js["guests"][0]["windows"]:
                st = js["guests"][0]
                break
            time.sleep(0.2)
        if not ok(st is not None, "%s: mmiod serves %s (by its libvirt name)" % (name, gname), md.logtail()):
            return
        ok(st["id"] == g.uuid() and st["name"] == gname, "%s: id the domain's UUID, name its name" % name, st)
        same, gm, mm = guest_devices.guest_windows_match(w, st["windows"])
        ok(same, "%s: mmiod's memory windows are the guest's root bus windows" % name,
           "guest: %s\nmmiod: %s" % ([(hex(a), hex(b)) for a, b in gm], [(hex(a), hex(b)) for a, b in mm]))
        # read when QEMU started, before the firmware ran: mmiod reads the
        # domain again by itself until the ports have their windows
        progd = None
        for _ in range(100):
            js = md.status(gname)
            ports = js["guests"][0]["ports"] if js and js["guests"] else []
            if all(p["windows"] for p in ports):
                progd = ports
                break
            time.sleep(0.2)
        ok(progd is not None, "%s: without --refresh, the ports' windows once the firmware ran" % name,
           js and js["guests"][0]["ports"])
        want_ports = [c["alias"] for c in g.controllers if libvirt_port_model(c["model"])]
        got_ports = [p["id"] for p in st.get("ports", [])]
        ok(sorted(got_ports) == sorted(want_ports), "%s: ports by libvirt alias: %s" % (name, want_ports),
           got_ports)
        for i, stp in enumerate(scn["steps"]):
            op = stp["op"]
            if op == "plug":
                plug(run, scn, i, stp, g, gname, via)
            elif op == "unplug":
                unplug(run, scn, i, stp, g, gname, via)
            elif op == "plan":
                check_plan(run, gname, g, stp["devices"])
            elif op == "attach-refused":
                check_failed_attach(run, gname, stp["device"], stp["port"])
            elif op == "restart-libvirtd":
                # every scenario meets here; one restarts libvirtd
                # while the others wait (their virsh calls would fail)
                met = True
                run.barrier.wait(timeout=600)
            else:
                raise rig.RigError("unknown op %r" % op)
    except Exception as e:
        ok(False, "%s: runs to the end" % name, traceback.format_exc() + "\nmmiod log:\n" + md.logtail(1500)
           + "\nlibvirtd:\n" + run.lv.log_tail(800))
    finally:
        if not met:
            try:
                run.barrier.wait(timeout=600)
            except threading.BrokenBarrierError:
                pass
    return g


def libvirt_port_model(m):
    return m in ("pcie-root-port", "pcie-switch-downstream-port", "pci-bridge")


def plug(run, scn, i, stp, g, gname, via):
    name = scn["name"]
    md = run.md
    sid = stp["id"]
    port = stp.get("port")
    how = stp["via"]
    if how == "attach-device":
        size = rig.parse_size(stp["size"])
        decl = guest_devices.layout("ivshmem-plain", {"memdev": "m"}, {"m": size})
    else:
        props = dict(stp.get("props", {}))
        decl = guest_devices.layout(stp["driver"], props, {})
    spec = guest_devices.spec_of(decl)
    port_args = ["--port", port] if port else []
    rc, chk, txt = md.ctl("check", "--refresh", gname, spec, *port_args)
    if rc not in (0, 1) or not chk or "fits" not in chk:
        raise rig.RigError("mmioctl check %s %s: rc %d: %s" % (gname, spec, rc, txt))
    pred_fits = chk["fits"]
    pred = guest_devices.pred_map(chk["placement"])
    t0 = time.monotonic()
    if how == "attach-device":
        bus = int(port.split(".")[1]) if port else None
        xml = os.path.join(g.workdir, sid + ".xml")
        with open(xml, "w") as f:
            # the name is a file in /dev/shm: one per guest
            f.write(shmem_xml(gname + "-" + sid, stp["size"], bus))
        run.lv.virsh("attach-device", gname, xml)
        t_done = time.monotonic()
        qid = g.alias_of("shmem", gname + "-" + sid)
        if not qid:
            raise rig.RigError("libvirt shows no alias for shmem %s" % sid)
        hit = md.watch.wait(lambda e: e.get("event") == "device-added" and e.get("name") == gname and
                            e.get("device") == qid, t0, 30)
        lat = max(0.0, hit[0] - t_done) if hit else None
        if hit:
            run.watch_latency.append(lat)
        ok(hit is not None, "%s step %d: virsh attach-device %s: `mmioctl watch` says device-added %s %s "
           "(%s)" % (name, i, sid, gname, qid, "%.3f s after virsh returned" % lat if hit else "never"),
           [ev for ev in md.watch.events()[-8:]])
        # and status has it without --refresh
        seen = False
        for _ in range(20):
            js = md.status(gname)
            if js and any(d["device"] == qid for d in js["guests"][0]["devices"]):
                seen = True
                break
            time.sleep(0.1)
        ok(seen, "%s step %d: `mmioctl status` lists %s without --refresh" % (name, i, qid))
    else:
        props = dict(stp.get("props", {}))
        if port:
            props["bus"] = port
        elif g.machine == "pc":
            # a root-bus slot from the top: libvirt, which does not know
            # about this device, hands out its own from the bottom
            used = {d["slot"] for d in g.query_pci()[0]["devices"]}
            props["addr"] = "%#x" % max(s for s in range(1, 32) if s not in used)
        args = {"driver": stp["driver"], "id": sid}
        args.update({k: rig.qmp_value(k, v) for k, v in props.items()})
        run.lv.virsh("qemu-monitor-command", gname, json.dumps({"execute": "device_add", "arguments": args}))
        qid = sid
    via[sid] = (how, qid)
    qd = None
    for _ in range(50):
        qd = g.find_pci(qid)
        if qd:
            break
        time.sleep(0.1)
    if qd is None:
        raise rig.RigError("%s not in query-pci after the plug" % qid)
    bdf = g._bdf(qd)
    rcw, _ = g.command("waitdev %s 60" % bdf, 70)
    if rcw != 0:
        raise rig.RigError("guest never saw %s at %s" % (sid, bdf))
    r = g.outcome(qid, enable=True)
    secs = round(time.monotonic() - t0, 1)
    real = guest_devices.real_layout(g.find_pci(qid))
    if real != sorted(decl):
        ok(False, "%s step %d: %s's declared BARs are what QEMU built" % (name, i, sid),
           "declared %s\nQEMU %s" % (sorted(decl), real))
    gfits, mm = guest_devices.compare(pred_fits, pred, r["bars"])
    guest_s = ", ".join("BAR%d %s" % (b["bar"],
                                      guest_devices.fmt_addr(b["guest_start"] if b["assigned"] else None))
                        for b in r["bars"])
    pred_s = ", ".join("BAR%d %s" % (b, guest_devices.fmt_addr(a)) for b, a in sorted(pred.items()))
    klog = [l for l in r.get("klog_dev", []) if re.search(r"assign|space|BAR|ROM|enabl", l)]
    diag = "\n".join(["mmiod: %s: %s%s" % ("fits" if pred_fits else "no-fit", pred_s,
                                          ("  (" + chk.get("reason", "") + ")") if chk.get("reason") else ""),
                      "guest: %s: %s" % ("fits" if gfits else "no-fit", guest_s)] + ["kernel: " + l for l in klog])
    text = "%s step %d: %s %s%s via %s - mmiod %s, guest %s" % (
        name, i, sid, spec, " behind " + port if port else "", how,
        "fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit")
    with run.lock:
        run.plugs += 1
        run.agree += not mm
        run.rows.append({"scenario": name, "step": i, "id": sid, "spec": spec, "port": port or "",
                         "via": how, "pred": pred_s, "guest": guest_s, "pred_fits": pred_fits,
                         "guest_fits": gfits, "agree": not mm, "seconds": secs})
    if stp.get("known_mismatch"):
        ok(not mm, text, diag, directive="TODO " + stp["known_mismatch"])
    else:
        ok(not mm, text, diag)
    exp = stp.get("expect")
    if exp in ("fits", "no-fit"):
        ok((exp == "fits") == gfits, "%s step %d: guest outcome as the scenario expects (%s)" % (name, i, exp),
           diag)


def unplug(run, scn, i, stp, g, gname, via):
    name = scn["name"]
    md = run.md
    how, qid = via.pop(stp["id"])
    qd = g.find_pci(qid)
    bdf = g._bdf(qd) if qd else None
    t0 = time.monotonic()
    if how == "attach-device":
        run.lv.virsh("detach-device", gname, os.path.join(g.workdir, stp["id"] + ".xml"))
    else:
        run.lv.virsh("qemu-monitor-command", gname,
                     json.dumps({"execute": "device_del", "arguments": {"id": qid}}))
    if bdf:
        rcg, _ = g.command("waitgone %s 30" % bdf, 40)
        ok(rcg == 0, "%s step %d: %s (%s) gone from the guest" % (name, i, stp["id"], how))
    g.command("klog")
    hit = md.watch.wait(lambda e: e.get("event") == "device-removed" and e.get("name") == gname and
                        e.get("device") == qid, t0, 15)
    ok(hit is not None, "%s step %d: `mmioctl watch` says device-removed %s %s (%s)" % (
        name, i, gname, qid, "%.3f s" % (hit[0] - t0) if hit else "never"))


def names_of(scns):
    return ["mmiod-" + re.sub(r"[^A-Za-z0-9]", "", s["name"])[:24] for s in scns]


def restart_libvirtd(run, name, gnames):
    """libvirtd stops mid-run: mmiod says so, keeps the guests (stale), and
    is back once libvirtd is."""
    md = run.md
    try:
        _restart_libvirtd(run, name, gnames)
    except Exception:
        ok(False, "%s: libvirtd restart" % name, traceback.format_exc())


def _restart_libvirtd(run, name, gnames):
    md = run.md
    gname = gnames[0]
    t0 = time.monotonic()
    run.lv.stop_libvirtd()
    hit = md.watch.wait(lambda e: e.get("event") == "backend-disconnected", t0, 15)
    ok(hit is not None, "%s: libvirtd stopped: watch says backend-disconnected" % name,
       md.watch.events()[-5:])
    rc, js, txt = md.ctl("status", timeout=20)
    be = (js or {}).get("backends", [{}])[0]
    gs = {x["name"]: x for x in (js or {}).get("guests", [])}
    ok(rc == 0 and be.get("connected") is False and be.get("since") and be.get("message"),
       "%s: status --json: the back end not connected, since when and why" % name, be)
    ok(all(n in gs and gs[n]["stale"] and gs[n]["windows"] for n in gnames),
       "%s: its guests still listed, stale, as last read" % name, gs)
    rc, _, text = subprocess_text(md, "status")
    ok("NOT CONNECTED since" in text and "(stale)" in text,
       "%s: status says it in words" % name, text[:600])
    t1 = time.monotonic()
    run.lv.start_libvirtd(wait=False)
    hit = md.watch.wait(lambda e: e.get("event") == "backend-connected", t1, 30)
    run.lv.wait_ready()
    ok(hit is not None, "%s: libvirtd started again: backend-connected after %s" % (
        name, "%.2f s" % (hit[0] - t1) if hit else "never"))
    js = md.status()
    gs = {x["name"]: x for x in (js or {}).get("guests", [])}
    ok(all(n in gs and not gs[n]["stale"] and gs[n]["windows"] for n in gnames),
       "%s: the guests are served again, not stale" % name, gs)


def subprocess_text(md, *args):
    r = subprocess.run([MMIOCTL] + list(args), env=md.env, capture_output=True, text=True, timeout=60)
    return r.returncode, None, r.stdout + r.stderr


# ---- the checks that need no scenario --------------------------------------------------

def check_failed_attach(run, gname, dev, port):
    """An Attach mmiod admits behind a port and libvirt refuses (the host
    device is a sysfs fixture, not here): libvirt's words, exit 4, the JSON
    error object, the hold released."""
    md = run.md
    rc, js, txt = md.ctl("attach", gname, dev, "--port", port, timeout=60)
    note("mmioctl --json attach %s %s --port %s: %s" % (gname, dev, port, txt.splitlines()[-1] if txt else ""))
    ok(rc == 4 and js and js.get("success") is False and js.get("error") == "org.mmiod1.Error.ToolstackFailed"
       and "libvirt" in js.get("message", ""),
       "mmioctl --json attach of %s behind %s, a host device libvirt cannot find: exit 4, a JSON error "
       "object with libvirt's words" % (dev, port), (rc, txt))
    js = md.status(gname)
    ok(js and js["guests"][0]["attaches"] == [] and
       all(p["state"] != "held" for p in js["guests"][0]["ports"]),
       "the failed attach's hold is released", js and js["guests"][0]["attaches"])
    ev = [e for e in md.watch.events() if e.get("event") == "attach-finished"]
    ok(ev and ev[-1]["attach_id"] and ev[-1]["success"] is False and ev[-1]["name"] == gname,
       "watch: attach-finished with an attach id and the guest's name", ev[-1:] if ev else None)


def check_plan(run, gname, g, devices):
    """Plan for a libvirt guest: advice in libvirt's terms that libvirt
    accepts (a copy of the domain with the advised <pcihole64>, ports and
    <qemu:override> is defined by the real libvirtd, then undefined)."""
    md = run.md
    rc, js, txt = md.ctl("plan", "--guest", gname, *devices, timeout=60)
    res = (js or {}).get("result") or js or {}
    lx, px = res.get("libvirt_xml", ""), res.get("libvirt_port_xml", "")
    root = "pcie-root" if g.machine == "q35" else "pci-root"
    ok(rc == 0 and ("model='%s'" % root in lx or not lx) and
       (g.machine != "q35" or ("model='pcie-root-port'" in px and "<qemu:override>" in px)),
       "plan --guest %s %s: libvirt's terms (%s%s)" % (gname, " ".join(devices), root,
                                                        ", pcie-root-port + qemu:override" if g.machine == "q35" else ""),
       (rc, txt[:1500]))
    xml = run.lv.virsh("dumpxml", "--inactive", gname).stdout
    xml = re.sub(r"<uuid>[^<]*</uuid>", "", xml)
    xml = xml.replace("<name>%s</name>" % gname, "<name>%s-planned</name>" % gname)
    if lx:   # the advised root controller instead of the guest's
        xml = re.sub(r"<controller type='pci' index='0' model='%s'(?:\s*/>|>.*?</controller>)" % root,
                     "", xml, flags=re.S)
        xml = xml.replace("<devices>", "<devices>\n" + lx, 1)
    ctrls = "\n".join(l for l in px.split("\n") if l.startswith("<controller"))
    over = px[px.find("<qemu:override>"):] if "<qemu:override>" in px else ""
    xml = xml.replace("</devices>", ctrls + "\n</devices>")
    if over:
        if "<qemu:override>" in xml:
            xml = xml.replace("<qemu:override>", over[:-len("</qemu:override>")], 1)
        else:
            xml = xml.replace("</domain>", over + "\n</domain>")
    path = os.path.join(g.workdir, "planned.xml")
    with open(path, "w") as f:
        f.write(xml)
    r = run.lv.virsh("define", "--validate", path, check=False)
    ok(r.returncode == 0, "libvirt accepts the advice: virsh define --validate of %s with it" % gname,
       (r.stderr or r.stdout) + "\n" + xml[-1500:])
    if r.returncode == 0:
        back = run.lv.virsh("dumpxml", "--inactive", gname + "-planned").stdout
        ok((not lx or "<pcihole64" in back) and
           (not over or "pref64-reserve" in back or "mem-reserve" in back or "io-reserve" in back),
           "libvirt keeps the advised pcihole64 and port reservations", back[-1200:])
        run.lv.virsh("undefine", gname + "-planned", check=False)


def check_shut_off(run, gname):
    md = run.md
    t0 = time.monotonic()
    run.lv.virsh("destroy", gname)
    hit = md.watch.wait(lambda e: e.get("event") == "can-attach" and e.get("name") == gname and
                        e.get("can_attach") is False, t0, 10)
    removed = [e for _, e in md.watch.lines if _ >= t0 and e.get("event") == "guest-removed"]
    ok(hit is not None and not removed, "virsh destroy %s: watch says can-attach no (not guest-removed)" % gname,
       md.watch.events()[-5:])
    js = md.status(gname)
    gg = js["guests"][0] if js and js["guests"] else {}
    ok(gg.get("can_attach") is False and "shut off" in gg.get("cannot_attach_reason", "") and
       gg.get("windows") == [], "a shut-off guest says why it cannot attach, and has no windows", gg)
    rc, _, text = subprocess_text(md, "status", gname)
    ok("Can attach: no: the domain is shut off" in text, "status %s says it in words" % gname, text[:400])
    rc, js, txt = md.ctl("check", "--refresh", gname, "bars:mem32:4K", timeout=30)
    ok(rc == 4 and "shut off" in txt, "check --refresh on it: not supported, because it is shut off", txt)


def mmiod_before_libvirtd(run, guests):
    """mmiod started while libvirtd is down: it says so, then serves the
    guests once libvirtd starts, by itself.  The time from libvirtd's
    socket appearing is printed (mmiod watches for it and connects at once);
    asserted is only that it came before mmiod's reconnect back-off, capped
    at 30 s (RECONNECT_MAX_SEC), could have run out, with 30 s to spare for
    a loaded machine."""
    md = run.md
    run.lv.stop_libvirtd()
    md.stop()
    md.start()
    rc, js, txt = md.ctl("status", timeout=20)
    be = (js or {}).get("backends", [{}])[0]
    ok(rc == 0 and be.get("connected") is False and "cannot connect" in be.get("message", ""),
       "mmiod started with libvirtd down: status says the back end is not connected, and why", (rc, be))
    t0 = time.monotonic()
    run.lv.start_libvirtd(wait=False)
    served = t_sock = None
    while time.monotonic() - (t_sock or t0) < 60:
        if t_sock is None and os.path.exists(run.lv.sock):
            t_sock = time.monotonic()
        js = md.status()
        names = {g["name"] for g in (js or {}).get("guests", []) if g["windows"] and not g["stale"]}
        if all(n in names for n in guests):
            served = time.monotonic() - (t_sock or t0)
            break
        time.sleep(0.05)
    run.lv.wait_ready()
    note("libvirtd started after mmiod: its %d guest(s) served %.2f s after libvirtd's socket appeared "
         "(%.2f s after libvirtd was started)" % (len(guests), served if served is not None else -1,
                                                  (t_sock or t0) - t0))
    ok(served is not None,
       "libvirtd started after mmiod: guests served by mmiod on its own (%s after the socket appeared)" %
       ("%.2f s" % served if served is not None else "never, 60 s"), md.logtail(800))
    return served


# ---- main ----------------------------------------------------------------------------

def select(all_scns):
    sel = os.environ.get("MMIOD_LIBVIRT_SCENARIOS", "ci").strip()
    if sel == "none":
        skip_all("MMIOD_LIBVIRT_SCENARIOS=none")
    if os.environ.get("MMIOD_GUEST_SCENARIOS", "").strip() == "none" and "MMIOD_LIBVIRT_SCENARIOS" not in os.environ:
        skip_all("MMIOD_GUEST_SCENARIOS=none (real guests off)")
    if sel == "all":
        return all_scns
    if sel == "ci":
        return [s for s in all_scns if s.get("ci")]
    want = [x for x in re.split(r"[\s,]+", sel) if x]
    out = [s for s in all_scns if any(s["name"] == w or s["name"].startswith(w + "-") for w in want)]
    if not out:
        print("Bail out! no scenario matches %s" % sel)
        sys.exit(1)
    return out


def main():
    scns = select([load(p) for p in sorted(glob.glob(os.path.join(SCN_DIR, "*.json")))])
    why = libvirtd.skip_reason()
    if why:
        skip_all(why)
    for tool in ("dbus-daemon",):
        if not shutil.which(tool):
            skip_all("%s not installed" % tool)
    for p in (MMIOD, MMIOCTL):
        if not os.access(p, os.X_OK):
            skip_all("%s not built" % p)
    r = subprocess.run([MMIOD, "--help"], capture_output=True, text=True)
    if "libvirt" not in r.stdout + r.stderr:
        skip_all("mmiod built without the libvirt back end")
    try:
        img = rig.guest_image()
    except (subprocess.CalledProcessError, OSError) as e:
        skip_all("guest kernel/initramfs cannot be built (no network or no busybox-static?): %s" % e)
    base = tempfile.mkdtemp(prefix="mmiod-libvirt.")
    os.chmod(base, 0o755)
    keep = bool(os.environ.get("MMIOD_GUEST_KEEP"))
    lv = libvirtd.Libvirtd(os.path.join(base, "libvirtd"))
    md = None
    guests = []
    t_all = time.monotonic()

    def on_signal(signum, frame):
        for x in guests:
            x.close()
        if md:
            md.close()
        lv.close()
        os._exit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    print("# kernel %s, %d scenario(s)" % (img.get("package"), len(scns)))
    try:
        # mmiod first, libvirtd after: mmiod waits for it and connects.
        md = Mmiod(os.path.join(base, "mmiod"), lv.uri)
        md.start()
        md.watch = Watch(md.env)
        time.sleep(0.3)     # the watch's matches are in
        rc, js, txt = md.ctl("status", timeout=20)
        be = (js or {}).get("backends", [{}])[0]
        ok(rc == 0 and be.get("connected") is False, "mmiod with no libvirtd yet: running, the back end "
           "reported as not connected", (rc, txt[:400]))
        t0 = time.monotonic()
        lv.start()
        hit = md.watch.wait(lambda e: e.get("event") == "backend-connected", t0, 30)
        ok(hit is not None, "libvirtd started: mmiod connected after %s" %
           ("%.2f s" % (hit[0] - t0) if hit else "never"), md.logtail(600))
        run = Run(lv, md)
        run.lock = threading.Lock()
        results = []

        def one(s):
            results.append(run_scenario(run, s, base))
        # MMIOD_LIBVIRT_JOBS scenarios at once (default 2 guests); in each
        # batch libvirtd is restarted once, when all have reached their
        # "restart-libvirtd" step (or their end).
        jobs = max(1, int(os.environ.get("MMIOD_LIBVIRT_JOBS", "2")))
        for b in range(0, len(scns), jobs):
            batch = scns[b:b + jobs]
            run.barrier = threading.Barrier(len(batch), action=lambda batch=batch: restart_libvirtd(
                run, "mid-run", names_of(batch)))
            threads = [threading.Thread(target=one, args=(s,)) for s in batch]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            # the batch's guests are done with: only the last batch's stay
            if b + jobs < len(scns):
                for x in results:
                    if x is not None and x not in guests:
                        x.close()
                        guests.append(x)
        closed = guests
        guests = [x for x in results if x is not None and x not in closed]
        names = [x.name for x in guests]
        every = names_of(scns)
        # (plan steps define and undefine a "-planned" copy of a guest)
        ok(not [e for e in md.watch.events() if e.get("event") == "guest-added" and
                e.get("name") not in every and not e.get("name", "").endswith("-planned")],
           "watch names every guest by its libvirt name",
           [e for e in md.watch.events() if e.get("event") == "guest-added"])
        served = mmiod_before_libvirtd(run, names) if names else None
        if guests:
            check_shut_off(run, guests[-1].name)
        lat = run.watch_latency
        if lat:
            note("virsh attach-device -> mmioctl watch: %d events, median %.3f s, max %.3f s" % (
                len(lat), statistics.median(lat), max(lat)))
        note("%d of %d plugs: mmiod's Check agrees with the guest (fits and addresses)" % (run.agree, run.plugs))
        out = os.environ.get("MMIOD_LIBVIRT_RESULTS")
        if out:
            with open(out, "w") as f:
                json.dump({"total_seconds": round(time.monotonic() - t_all, 1), "plugs": run.plugs,
                           "agree": run.agree, "watch_latency": lat, "served_after_libvirtd": served,
                           "rows": run.rows}, f, indent=1)
    except Exception:
        ok(False, "the run ends cleanly", traceback.format_exc() + "\n" + (md.logtail(1500) if md else "") +
           "\n" + lv.log_tail(1500))
    finally:
        for x in guests:
            x.close()
        if md:
            md.close()
        lv.close()
        if keep:
            print("# kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    print("# total %.1f s" % (time.monotonic() - t_all))
    print("1..%d" % _n)
    sys.exit(1 if _failed else 0)


if __name__ == "__main__":
    main()
