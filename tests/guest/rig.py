#!/usr/bin/env python3
"""Ground-truth rig: a real Linux guest under QEMU (TCG) decides where BARs go.

Python 3 stdlib only.  Library use:

    from rig import Guest
    with Guest(machine="pc", memory="512M") as g:
        print(g.windows())                      # root bus windows etc.
        r = g.plug("pci-testdev", "t1", membar=256 << 20)
        for bar in r["bars"]: print(bar)
        g.unplug("t1")

Command line (one-off probes, JSON to stdout):

    rig.py [--machine pc|q35] [--memory 512M] [--global K=V]... [--mopt K=V]...
           [--device 'drv,prop=v,...']... [--object 'type,id=..,k=v']...
           [--plug 'drv,id=x,prop=v,...']... [--keep-log DIR]

The guest is the initramfs built by tests/guest/build-initramfs (run
automatically if the cache is missing).  Two serial ports: ttyS0 = kernel
console (logged to <workdir>/console.log), ttyS1 = command channel (a unix
socket chardev); QMP on another unix socket.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU = os.environ.get("MMIOD_QEMU", "qemu-system-x86_64")


class RigError(Exception):
    pass


_fetch_stack = None
_fetch_stack_lock = threading.Lock()


def fetch_stack():
    """tests/guest/fetch-stack as a module (guests start from several threads)."""
    global _fetch_stack
    with _fetch_stack_lock:
        if _fetch_stack is None:
            import importlib.machinery
            import importlib.util
            loader = importlib.machinery.SourceFileLoader(
                "fetch_stack", os.path.join(HERE, "fetch-stack"))
            spec = importlib.util.spec_from_loader("fetch_stack", loader)
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
            _fetch_stack = mod
    return _fetch_stack


def stack_components():
    """MMIOD_GUEST_STACK="qemu-10.0,ovmf-2025.02,kernel-6.12": the fetch-stack
    components the guests run on, by kind (qemu, ovmf, kernel); a kind not
    named keeps the default (the installed QEMU, the installed or Debian 12
    OVMF, build-initramfs's kernel)."""
    out = {}
    for c in os.environ.get("MMIOD_GUEST_STACK", "").replace(" ", ",").split(","):
        if c:
            out[c.split("-")[0]] = c
    return out


_system_qemu = None


def stack_labels():
    """The components the guests run on, by fetch-stack's names: those
    MMIOD_GUEST_STACK names, and for the QEMU not named the installed one's
    ("qemu-7.2" on Debian 12)."""
    global _system_qemu
    labels = set(stack_components().values())
    if not any(c.startswith("qemu-") for c in labels):
        if _system_qemu is None:
            try:
                out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
                m = re.search(r"version (\d+)\.(\d+)", out)
                _system_qemu = "qemu-%s.%s" % m.groups() if m else ""
            except OSError:
                _system_qemu = ""
        if _system_qemu:
            labels.add(_system_qemu)
    return labels


def on_stack(scn):
    """The scenario as it runs on this stack: a step's "on_stack":
    {"qemu-10.0": {...}} replaces that step's fields (expect, expect_bars,
    props, ...) when the guests run on that component, where the guest
    does something else ("why" says what and is not applied)."""
    labels = stack_labels()
    for stp in scn.get("steps", []):
        for comp, alt in sorted((stp.get("on_stack") or {}).items()):
            if comp in labels:
                stp.update({k: v for k, v in alt.items() if k != "why"})
    return scn


def qemu_stack():
    """(qemu binary, [-L dirs], version label, module dir or None) for the
    guests."""
    comp = stack_components().get("qemu")
    if comp and "MMIOD_QEMU" not in os.environ:
        info = fetch_stack().fetch(comp)
        return info["qemu"], info["datadirs"], comp, info.get("moddir")
    return QEMU, [], None, None


def ovmf_firmware():
    """{"code": OVMF_CODE, "vars": OVMF_VARS template, "label": ...}: the
    fetch-stack component MMIOD_GUEST_STACK names, else the installed ovmf
    package (Debian 12: 2022.11, scripts/deps installs it), else Debian 12's
    fetched."""
    comp = stack_components().get("ovmf")
    if not comp:
        code, vars_ = "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
        if os.path.exists(code) and os.path.exists(vars_):
            return {"code": code, "vars": vars_, "label": "installed"}
        comp = "ovmf-2022.11"
    info = fetch_stack().fetch(comp)
    return {"code": info["code"], "vars": info["vars"], "label": comp}


def cache_dir():
    if os.environ.get("MMIOD_GUEST_CACHE"):
        return os.environ["MMIOD_GUEST_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mmiod-guest")


def guest_image(rebuild=False):
    """Return the dict from <cache>/current.json, building it if needed;
    the kernel MMIOD_GUEST_STACK names (fetch-stack) instead, if any."""
    comp = stack_components().get("kernel")
    if comp:
        return fetch_stack().fetch(comp)
    cur = os.path.join(cache_dir(), "current.json")
    init_mtime = fetch_stack().build_initramfs_module().init_mtime()
    if not rebuild and os.path.exists(cur):
        with open(cur) as f:
            info = json.load(f)
        if (os.path.exists(info["kernel"]) and os.path.exists(info["initramfs"])
                and os.path.getmtime(info["initramfs"]) >= init_mtime):
            return info
    subprocess.run([os.path.join(HERE, "build-initramfs")], check=True,
                   stdout=subprocess.DEVNULL)
    with open(cur) as f:
        return json.load(f)


SIZE_RE = re.compile(r"^(\d+)([KMGT]?)$", re.I)


def parse_size(v):
    """'256M' -> 268435456; ints pass through."""
    if isinstance(v, int):
        return v
    m = SIZE_RE.match(str(v))
    if not m:
        raise ValueError("bad size %r" % v)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]


def qmp_value(k, v):
    """Convert -device style string values to the JSON types QMP wants."""
    if not isinstance(v, str):
        return v
    if v in ("on", "true", "yes"):
        return True
    if v in ("off", "false", "no"):
        return False
    if k in ("addr", "id", "bus", "romfile", "memdev", "chardev", "serial",
             "mem-path", "drive", "bus-reserve"):
        return v
    if SIZE_RE.match(v):
        return parse_size(v)
    if re.match(r"^0x[0-9a-f]+$", v, re.I):
        return int(v, 16)
    return v


def parse_optstr(s):
    """'drv,a=b,c=d' -> ('drv', {'a': 'b', 'c': 'd'})"""
    parts = s.split(",")
    props = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        props[k] = v
    return parts[0], props


def end_process(p, sig=signal.SIGTERM, wait=5):
    """Ends the process p if it still runs: sig (None: it was already asked
    to leave), up to wait seconds, then SIGKILL; reaped either way."""
    if p is None or p.poll() is not None:
        return
    if sig is not None:
        p.send_signal(sig)
    try:
        p.wait(wait)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def connect_unix(path, timeout=20):
    """Connects to a QEMU server socket.  QEMU binds before it listens, so
    the file can exist and still refuse for a moment (seen on a loaded host)."""
    deadline = time.time() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)


class CommandChannel:
    """The framed command protocol of tests/guest/cmdloop.sh (the test
    guest's init and the Xen rig's dom0 both serve it) on a QEMU socket
    chardev: a line "<tag> <command>" out, "@@BEGIN <tag>", the output and
    "@@END <tag> rc=<status>" back.  proc is the QEMU process behind the
    socket (its exit ends every wait); exit_text() says why it went."""

    def __init__(self, sock, proc, what, exit_text, error=RigError):
        self.sock = sock
        self.proc = proc
        self.what = what
        self.exit_text = exit_text
        self.error = error
        self.buf = b""
        self.seq = 0

    def readline(self, timeout):
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise self.error("timeout waiting for %s" % self.what)
            if self.proc.poll() is not None:
                raise self.error("QEMU exited rc=%s: %s" % (self.proc.returncode,
                                                          self.exit_text()))
            self.sock.settimeout(min(left, 1.0))
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not d:
                raise self.error("the command channel of %s closed" % self.what)
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")

    def readline_until(self, pred, timeout):
        deadline = time.time() + timeout
        while True:
            line = self.readline(max(0.1, deadline - time.time()))
            if pred(line):
                return line

    def command(self, text, timeout=60):
        """One command (one line); (rc, output lines)."""
        if "\n" in text:
            raise ValueError("commands are one line")
        self.seq += 1
        tag = "c%d" % self.seq
        self.sock.sendall(("%s %s\n" % (tag, text)).encode())
        self.readline_until(lambda l: l == "@@BEGIN " + tag, timeout)
        out = []
        while True:
            line = self.readline(timeout)
            rc = frame_end(line, tag)
            if rc is not None:
                return rc, out
            out.append(line)

    def close(self):
        self.sock.close()


def frame_end(line, tag):
    """The status of "@@END <tag> rc=<status>", else None."""
    m = re.match(r"^@@END %s rc=(\d+)$" % re.escape(tag), line)
    return int(m.group(1)) if m else None


def unframe(lines, tag):
    """The output and status of one framed answer among other lines (a
    command relayed through another channel); status None if it is cut."""
    out, inside = [], False
    for line in lines:
        if line == "@@BEGIN " + tag:
            inside = True
            continue
        rc = frame_end(line, tag)
        if rc is not None:
            return rc, out
        if inside:
            out.append(line)
    return None, out


class QMP:
    def __init__(self, path, timeout=30):
        self.sock = connect_unix(path)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise RigError("QMP connection closed")
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def cmd(self, name, timeout=60, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.time() + timeout
        while True:
            r = self._read(max(0.1, deadline - time.time()))
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RigError("QMP %s %s: %s" % (name, json.dumps(args), r["error"].get("desc")))
            return r.get("return")

    def wait_event(self, name, pred=lambda e: True, timeout=30):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and pred(e):
                    return self.events.pop(i)
            left = deadline - time.time()
            if left <= 0:
                return None
            try:
                r = self._read(left)
            except socket.timeout:
                return None
            if "event" in r:
                self.events.append(r)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def walk_pci(buses):
    """Flatten query-pci output: yields device dicts (with 'bus' number)."""
    for b in buses:
        for d in b.get("devices", []):
            yield d
            br = d.get("pci_bridge")
            if br:
                yield from walk_pci([br])


class Guest:
    """One QEMU/TCG guest running the mmiod test initramfs."""

    def __init__(self, machine="pc", memory="512M", machine_opts=None,
                 globals_=None, devices=None, objects=None, extra_args=None,
                 append="", smp=1, workdir=None, keep_workdir=False,
                 boot_timeout=None, firmware=None, fw_cfg=None):
        self.machine = machine
        self.memory = memory
        self.machine_opts = dict(machine_opts or {})
        self.globals = list(globals_ or [])
        self.devices = list(devices or [])
        self.objects = list(objects or [])
        self.extra_args = list(extra_args or [])
        self.append = append
        self.smp = smp
        # "seabios" (QEMU's default) or "ovmf" (UEFI: a pflash pair, the
        # code read-only and a private copy of the variable store).
        self.firmware = firmware or "seabios"
        if self.firmware not in ("seabios", "ovmf"):
            raise RigError("unknown firmware %r" % firmware)
        self.fw_cfg = list(fw_cfg or [])   # -fw_cfg strings (name=...,string=...)
        # OVMF boots take 13-45 s under TCG (SeaBIOS 2-4 s).
        self.boot_timeout = boot_timeout or (400 if self.firmware == "ovmf" else 180)
        self.keep_workdir = keep_workdir or workdir is not None
        self.workdir = workdir or tempfile.mkdtemp(prefix="mmiod-guest-")
        os.makedirs(self.workdir, exist_ok=True)
        self.proc = None
        self.qmp = None
        self.chan = None
        self.boot_seconds = None
        self.kernel_release = None
        self.image = None

    # ---- lifecycle -------------------------------------------------------
    def argv(self):
        img = self.image
        m = self.machine
        for k, v in self.machine_opts.items():
            m += ",%s=%s" % (k, v)
        a = [self.qemu, "-accel", "tcg", "-machine", m, "-m", str(self.memory),
             "-smp", str(self.smp), "-nodefaults", "-nographic", "-nic", "none",
             "-no-reboot",
             "-kernel", img["kernel"], "-initrd", img["initramfs"],
             "-append", ("console=ttyS0 quiet panic=-1 8250.nr_uarts=2 "
                         "tsc=reliable no_timer_check mitigations=off " + self.append).strip(),
             "-serial", "file:" + os.path.join(self.workdir, "console.log"),
             "-chardev", "socket,id=cmdch,path=%s,server=on,wait=off" % self.cmd_path,
             "-serial", "chardev:cmdch",
             "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
             "-monitor", "none"]
        for d in self.datadirs:
            a += ["-L", d]
        if self.firmware == "ovmf":
            a += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + self.ovmf["code"],
                  "-drive", "if=pflash,format=raw,unit=1,file=" + self.vars_path]
        for f in self.fw_cfg:
            a += ["-fw_cfg", f]
        for g in self.globals:
            a += ["-global", g]
        for o in self.objects:
            a += ["-object", o]
        for d in self.devices:
            a += ["-device", d]
        return a + self.extra_args

    def start(self):
        self.image = guest_image()
        self.qemu, self.datadirs, self.qemu_label, moddir = qemu_stack()
        if self.firmware == "ovmf":
            self.ovmf = ovmf_firmware()
            self.vars_path = os.path.join(self.workdir, "OVMF_VARS.fd")
            shutil.copyfile(self.ovmf["vars"], self.vars_path)
        self.cmd_path = os.path.join(self.workdir, "cmd.sock")
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        for p in (self.cmd_path, self.qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        argv = self.argv()
        with open(os.path.join(self.workdir, "argv.json"), "w") as f:
            json.dump(argv, f)
        t0 = time.time()
        self.qemu_log = open(os.path.join(self.workdir, "qemu.log"), "wb")
        # A fetched QEMU's modules (qxl) are its own, not the host QEMU's.
        env = dict(os.environ, QEMU_MODULE_DIR=moddir) if moddir else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env,
                                     stdout=self.qemu_log, stderr=subprocess.STDOUT)
        deadline = t0 + 20
        while not (os.path.exists(self.cmd_path) and os.path.exists(self.qmp_path)):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RigError("QEMU failed to start: " + self._qemu_log_tail())
            time.sleep(0.02)
        return self._boot_wait(t0)

    def _boot_wait(self, t0):
        """Connects to the command channel and QMP once their sockets are
        there, and waits for the guest's @@READY (started at t0)."""
        self.chan = CommandChannel(
            connect_unix(self.cmd_path), self.proc, "guest (console: %s)" %
            os.path.join(self.workdir, "console.log"), self._qemu_log_tail)
        self.qmp = QMP(self.qmp_path)
        # OVMF leaves terminal escapes without a newline on this port; the
        # guest announces itself on a fresh line, but take it anywhere.
        line = self.chan.readline_until(lambda l: "@@READY" in l, self.boot_timeout)
        line = line[line.index("@@READY"):]
        self.kernel_release = line.split()[1] if len(line.split()) > 1 else None
        self.boot_seconds = time.time() - t0
        return self

    def qemu_log_path(self):
        return os.path.join(self.workdir, "qemu.log")

    def _qemu_log_tail(self):
        try:
            with open(self.qemu_log_path(), "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.qmp.cmd("quit", timeout=5)
            except Exception:
                pass
            end_process(self.proc, None, 5)
        if self.qmp:
            self.qmp.close()
        if self.chan:
            self.chan.close()
        if getattr(self, "qemu_log", None):
            self.qemu_log.close()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def rss_kib(self):
        """Resident set size of the QEMU process (KiB), or None."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for l in f:
                    if l.startswith("VmRSS:"):
                        return int(l.split()[1])
        except OSError:
            return None

    # ---- command channel -------------------------------------------------
    def command(self, text, timeout=60):
        """Run one guest command; return (rc, payload lines)."""
        return self.chan.command(text, timeout)

    # ---- guest views -----------------------------------------------------
    def windows(self):
        """Root bus windows as the guest kernel logged them, plus raw text."""
        rc, lines = self.command("windows")
        res = {"mem": [], "io": [], "raw": lines}
        for l in lines:
            m = re.search(r"pci_bus ([0-9a-f:]+): root bus resource \[(mem|io)\s+(0x[0-9a-f]+)-(0x[0-9a-f]+)([^\]]*)\]", l)
            if m:
                res[m.group(2)].append({"bus": m.group(1), "start": int(m.group(3), 16),
                                        "end": int(m.group(4), 16),
                                        "flags": m.group(5).strip()})
        return res

    def dump(self):
        rc, lines = self.command("dump")
        devs, klog = {}, []
        for l in lines:
            p = l.split()
            if not p:
                continue
            if p[0] == "@DEV":
                vd = p[2]
                kv = dict(x.split("=", 1) for x in p[3:] if "=" in x)
                devs[p[1]] = {"bdf": p[1], "id": vd, "class": kv.get("class"),
                              "driver": kv.get("driver"), "enable": kv.get("enable"),
                              "res": {}}
            elif p[0] == "@RES" and len(p) == 6:
                s, e, f = (int(x, 16) for x in p[3:6])
                devs[p[1]]["res"][int(p[2])] = (s, e, f)
            elif p[0] == "@CFG":
                devs[p[1]]["cfg"] = p[2] if len(p) > 2 else ""
            elif p[0] == "@KLOG":
                klog.append(l[6:])
        return devs, klog

    def query_pci(self):
        return self.qmp.cmd("query-pci")

    def find_pci(self, qdev_id):
        for d in walk_pci(self.query_pci()):
            if d.get("qdev_id") == qdev_id:
                return d
        return None

    def host_bridge(self):
        """Hole properties of the host bridge (QOM)."""
        path = {"pc": "/machine/i440fx", "q35": "/machine/q35"}.get(
            self.machine.split("-")[0] if not self.machine.startswith("pc-q35") else "q35")
        if self.machine.startswith("pc-i440fx"):
            path = "/machine/i440fx"
        out = {"path": path}
        for p in ("pci-hole-start", "pci-hole-end", "pci-hole64-start",
                  "pci-hole64-end", "pci-hole64-size"):
            try:
                out[p] = self.qmp.cmd("qom-get", path=path, property=p)
            except RigError as e:
                out[p] = None
        if path == "/machine/q35":
            for p in ("MCFG", "mcfg_size"):
                try:
                    out[p] = self.qmp.cmd("qom-get", path=path, property=p)
                except RigError:
                    out[p] = None
        for p in ("below-4g-mem-size", "above-4g-mem-size"):
            try:
                out[p] = self.qmp.cmd("qom-get", path="/machine", property=p)
            except RigError:
                pass
        return out

    def qemu_pci_summary(self):
        """QEMU's view of every PCI device: BARs with addresses (-1 = not
        mapped) and bridge windows, one line each."""
        out = []
        for d in walk_pci(self.query_pci()):
            head = "%s %04x:%04x %s" % (self._bdf(d), d["id"]["vendor"], d["id"]["device"],
                                       d.get("qdev_id") or "-")
            regs = ["%d:%s%s%s:%#x@%s" % (r["bar"], r["type"],
                                          "64" if r.get("mem_type_64") else "",
                                          "p" if r.get("prefetch") else "", r["size"],
                                          "-1" if r["address"] in (-1, 0xffffffffffffffff)
                                          else hex(r["address"])) for r in d.get("regions", [])]
            br = d.get("pci_bridge", {}).get("bus")
            if br:
                for k in ("io_range", "memory_range", "prefetchable_range"):
                    rg = br.get(k)
                    if rg:
                        regs.append("%s:%#x-%#x" % (k.split("_")[0], rg["base"], rg["limit"]))
            out.append(head + " " + " ".join(regs))
        return out

    # ---- hot-plug --------------------------------------------------------
    def object_add(self, qom_type, oid, **props):
        props = {k: qmp_value(k, v) for k, v in props.items()}
        self.qmp.cmd("object-add", **{"qom-type": qom_type, "id": oid}, **props)

    def plug(self, driver, dev_id, enable=True, timeout=60, **props):
        """device_add, wait for the guest to add it, return the BAR outcome."""
        props = {k: qmp_value(k, v) for k, v in props.items()}
        t0 = time.time()
        self.qmp.cmd("device_add", driver=driver, id=dev_id, **props)
        d = self.find_pci(dev_id)
        if d is None:
            raise RigError("%s not in query-pci after device_add" % dev_id)
        bdf = self._bdf(d)
        rc, _ = self.command("waitdev %s %d" % (bdf, timeout), timeout + 10)
        if rc != 0:
            raise RigError("guest never saw %s at %s" % (dev_id, bdf))
        # acpiphp adds the device only after assigning; settle a moment for
        # any trailing messages.
        rec = self.outcome(dev_id, enable=enable)
        rec["plug_seconds"] = round(time.time() - t0, 2)
        return rec

    def free_root_slot(self):
        """The lowest root-bus slot (1..31) with no function, for a pc plug."""
        used = {d["slot"] for d in self.query_pci()[0].get("devices", [])}
        for slot in range(1, 32):
            if slot not in used:
                return slot
        raise RigError("no free slot on pci.0")

    def plug_slot(self, functions, slot_id, enable=True, timeout=60, bus=None):
        """Hot-plug a multi-function slot as QEMU wants it: the functions
        other than 0 first (the guest is not told), then function 0 with
        multifunction=on.  functions: [(driver, props)] for functions 0..N;
        ids: slot_id for function 0, slot_id.N for function N.  Returns the
        outcome of every function, in function order."""
        t0 = time.time()
        if bus is None:
            bus, slot = "pci.0", self.free_root_slot()
        else:
            slot = 0
        ids = [slot_id if fn == 0 else "%s.%d" % (slot_id, fn) for fn in range(len(functions))]
        for fn in list(range(1, len(functions))) + [0]:
            driver, props = functions[fn]
            props = {k: qmp_value(k, v) for k, v in props.items()}
            props.update(bus=bus, addr="0x%x.%x" % (slot, fn))
            if fn == 0:
                props["multifunction"] = True     # QEMU 10 wants the JSON boolean
            self.qmp.cmd("device_add", driver=driver, id=ids[fn], **props)
        d = self.find_pci(ids[0])
        if d is None:
            raise RigError("%s not in query-pci after device_add" % ids[0])
        bdf = self._bdf(d)
        rc, _ = self.command("waitdev %s %d" % (bdf, timeout), timeout + 10)
        if rc != 0:
            raise RigError("guest never saw %s at %s" % (ids[0], bdf))
        recs = [self.outcome(i, enable=enable) for i in ids]
        for r in recs:
            r["plug_seconds"] = round(time.time() - t0, 2)
        return recs

    def _bdf(self, d):
        return "0000:%02x:%02x.%x" % (d["bus"], d["slot"], d["function"])

    def outcome(self, dev_id, enable=True):
        d = self.find_pci(dev_id)
        bdf = self._bdf(d)
        devs, klog = self.dump()
        gd = devs.get(bdf)
        rec = {"id": dev_id, "bdf": bdf,
               "vendor_device": "%04x:%04x" % (d["id"]["vendor"], d["id"]["device"]),
               "bars": [], "klog": klog,
               "klog_dev": [l for l in klog if bdf in l]}
        q_before = {r["bar"]: r for r in d.get("regions", [])}
        q_after = {}
        if enable and gd is not None:
            rc, out = self.command("enable %s" % bdf)
            rec["enable_rc"] = rc
            rec["enable_out"] = out
            _, k2 = self.command("klog")
            k2 = [l[6:] for l in k2 if l.startswith("@KLOG ")]
            rec["klog"] += k2
            rec["klog_dev"] += [l for l in k2 if bdf in l]
            d2 = self.find_pci(dev_id)
            q_after = {r["bar"]: r for r in d2.get("regions", [])}
        for bar, r in sorted(q_before.items()):
            g = gd["res"].get(bar) if gd else None
            assigned = bool(g and g[2] != 0 and g[1] > g[0])
            b = {"bar": bar, "type": r["type"], "size": r["size"],
                 "prefetch": r.get("prefetch"), "mem64": r.get("mem_type_64"),
                 "assigned": assigned,
                 "guest_start": g[0] if assigned else None,
                 "guest_end": g[1] if assigned else None,
                 "guest_flags": g[2] if g else None,
                 "qemu_addr": r["address"]}
            if bar in q_after:
                b["qemu_addr_enabled"] = q_after[bar]["address"]
            rec["bars"].append(b)
        rec["guest_seen"] = gd is not None
        return rec

    def unplug(self, dev_id, timeout=60):
        d = self.find_pci(dev_id)
        bdf = self._bdf(d)
        self.qmp.cmd("device_del", id=dev_id)
        ev = self.qmp.wait_event("DEVICE_DELETED",
                                 lambda e: e.get("data", {}).get("device") == dev_id,
                                 timeout)
        if ev is None:
            raise RigError("no DEVICE_DELETED for %s" % dev_id)
        rc, _ = self.command("waitgone %s %d" % (bdf, timeout), timeout + 10)
        _, k = self.command("klog")
        return {"id": dev_id, "bdf": bdf, "gone": rc == 0,
                "klog": [l[6:] for l in k if l.startswith("@KLOG ")]}


def fmt_bar(b):
    if b["assigned"]:
        return "BAR%d %s %#x @ %#x" % (b["bar"], b["type"], b["size"], b["guest_start"])
    return "BAR%d %s %#x unassigned" % (b["bar"], b["type"], b["size"])


def main():
    ap = argparse.ArgumentParser(description="boot a test guest and hot-plug devices")
    ap.add_argument("--machine", default="pc")
    ap.add_argument("--memory", default="512M")
    ap.add_argument("--mopt", action="append", default=[], help="machine option K=V")
    ap.add_argument("--global", dest="globals_", action="append", default=[])
    ap.add_argument("--device", action="append", default=[], help="boot-time -device")
    ap.add_argument("--object", action="append", default=[], help="boot-time -object")
    ap.add_argument("--hot-object", action="append", default=[],
                    help="object-add before plugging: 'type,id=x,k=v'")
    ap.add_argument("--plug", action="append", default=[], help="'driver,id=x,prop=v'")
    ap.add_argument("--firmware", choices=("seabios", "ovmf"), default="seabios")
    ap.add_argument("--fw-cfg", action="append", default=[],
                    help="-fw_cfg 'name=opt/ovmf/X-PciMmio64Mb,string=131072'")
    ap.add_argument("--append", default="", help="extra guest kernel command line")
    ap.add_argument("--keep-log", help="keep the work dir here")
    ap.add_argument("--windows", action="store_true", help="print guest root windows/iomem")
    ap.add_argument("--shell", action="append", default=[], help="guest sh command(s) to run at the end")
    a = ap.parse_args()
    mopts = dict(x.split("=", 1) for x in a.mopt)
    g = Guest(a.machine, a.memory, mopts, a.globals_, a.device, a.object,
              append=a.append, workdir=a.keep_log, firmware=a.firmware, fw_cfg=a.fw_cfg)
    try:
        g.start()
        out = {"boot_seconds": round(g.boot_seconds, 2), "kernel": g.kernel_release,
               "qemu": g.qemu_label or g.qemu,
               "firmware": g.ovmf["label"] if g.firmware == "ovmf" else "seabios",
               "host_bridge": g.host_bridge()}
        w = g.windows()
        out["windows"] = {"mem": w["mem"], "io": w["io"]}
        if a.windows:
            out["windows_raw"] = w["raw"]
        g.dump()  # consume boot-time klog
        for o in a.hot_object:
            t, p = parse_optstr(o)
            oid = p.pop("id")
            g.object_add(t, oid, **p)
        out["plugged"] = []
        for pl in a.plug:
            drv, p = parse_optstr(pl)
            did = p.pop("id")
            try:
                out["plugged"].append(g.plug(drv, did, **p))
            except RigError as e:
                out["plugged"].append({"id": did, "error": str(e)})
        out["shell"] = [g.command("sh " + c) for c in a.shell]
        out["qemu_rss_kib"] = g.rss_kib()
        json.dump(out, sys.stdout, indent=1)
        print()
    finally:
        g.close()


if __name__ == "__main__":
    main()
