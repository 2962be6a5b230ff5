#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Xen rig: a real Xen hypervisor nested in QEMU (TCG), a PV dom0 that runs
xenstored, xl, qemu-xen and mmiod, and HVM guests created with `xl create`.

Python 3 stdlib only.  Library use:

    import xenrig
    with xenrig.Host(workdir) as h:              # boots Xen + dom0
        g = h.create_guest("g1", memory=512, mmio_hole=None,
                           devices=["pci-testdev,membar=64M"])
        print(g.windows())                      # the guest kernel's view
        r = g.plug("pci-testdev", "t1", membar=32 << 20)
        g.destroy()

Command line (one-off probes):

    xenrig.py [--keep DIR] [--guest MEMORY[:HOLE]] [--device SPEC]... [--shell]

How it is put together (nothing binary in the tree; Debian 12 packages):

  * the dom0 image: Debian's xen-hypervisor-4.17-amd64 (xen.gz, gunzipped:
    QEMU's multiboot loader takes a plain ELF), xen-utils-4.17 (xl,
    xenstored, xenconsoled, hvmloader), xenstore-utils, qemu-system-xen,
    fetched and unpacked once (tests/guest/fetch-stack --debs) into
    ${MMIOD_XEN_CACHE:-~/.cache/mmiod-xen}; Debian 12's linux-image-amd64
    (the test guests' kernel, tests/guest; Debian's cloud kernel is not a
    dom0 kernel) and its Xen modules; the host's busybox-static, the
    shared libraries every binary needs (ldd on this Debian 12 host), the
    build's mmiod and mmioctl, the host's dbus-daemon, SeaBIOS and QEMU's
    option ROMs; the guests' kernel and initramfs.  One uncompressed cpio,
    /init = tests/xen/dom0-init.sh.
  * the outer QEMU: -accel tcg -cpu max (AMD SVM: Xen's HVM runs on it),
    Xen as -kernel, dom0's kernel and initramfs as multiboot modules.
    Serial 1 = Xen's and dom0's console (console.log), serial 2 = dom0's
    agent channel (a unix socket here).
  * HVM guests: xl create with hvmloader + SeaBIOS booting the test kernel
    directly (kernel=, ramdisk=); their serial 1 is a file in dom0, serial 2
    (the test guest's command port) and a second QMP monitor for the rig are
    QEMU pipe chardevs (FIFO pairs) that dom0's agent talks to.

Facts this needs (docs/verification.md, "Xen"): `smap=0 smep=0` for the PV
dom0 under TCG; the guest with tsc_mode="native" and cpuid="host,rdtscp=0"
(TCG's SVM has no NRIP-save); dom0 on CPU 0, guests on CPU 1.
"""
import argparse
import base64
import glob
import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "guest"))
import rig  # noqa: E402

QEMU = os.environ.get("MMIOD_QEMU", "qemu-system-x86_64")
XEN_PKGS = ["xen-hypervisor-4.17-amd64", "xen-utils-4.17", "xen-utils-common",
            "xenstore-utils", "qemu-system-xen"]
# dom0's kernel modules, in load order (dependencies first)
DOM0_MODULES = ["xen-evtchn", "xen-gntdev", "xen-gntalloc", "xen-privcmd", "xenfs",
                "xen-pciback"]
# binaries dom0 runs, from the unpacked packages
XEN_BINS = ["usr/lib/xen-4.17/bin/" + b for b in (
    "xl", "xenstored", "xenconsoled", "xen-init-dom0", "xenconsole", "libxl-save-helper",
    "xenstore-control", "lsevtchn")] + [
    "usr/bin/xenstore", "usr/libexec/xen-qemu-system-i386"]
XENSTORE_LINKS = ["xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-list",
                  "xenstore-rm", "xenstore-exists", "xenstore-watch", "xenstore-chmod"]
HOST_BINS = ["dbus-daemon"]
# what qemu-xen reads at run time: SeaBIOS (libxl hands it to hvmloader),
# VGA BIOSes, the option ROMs of -kernel
HOST_DATA = ["/usr/share/seabios", "/usr/share/qemu/linuxboot.bin",
             "/usr/share/qemu/linuxboot_dma.bin", "/usr/share/qemu/vgabios-cirrus.bin",
             "/usr/share/qemu/vgabios-stdvga.bin", "/usr/share/qemu/vgabios.bin",
             "/usr/share/qemu/kvmvapic.bin", "/usr/share/qemu/keymaps/en-us",
             "/usr/share/qemu/keymaps/common", "/usr/share/qemu/keymaps/modifiers"]
# The test guest's kernel command line.  Every byte on an emulated serial
# port, every write to the VGA text screen is a round trip to qemu-xen in
# dom0, slow under TCG (tens of bytes a second on a loaded host): the
# kernel says little (quiet) on ttyS0 and, through earlyprintk=xen (kept),
# on the HVM debug port 0xe9 that Xen handles itself (in the rig's
# console.log, "(dN)" lines).  The command channel stays the second serial
# port: the PV console (mmiod.cmdtty=hvc0) carried nothing from the guest
# to xenconsoled's pty here (not understood yet).
GUEST_CMDLINE = ("earlyprintk=xen keep_bootcon console=ttyS0 quiet panic=-1 "
                 "8250.nr_uarts=2 tsc=reliable no_timer_check mitigations=off init_on_alloc=0")


class XenRigError(rig.RigError):
    pass


class Skip(Exception):
    """The rig cannot run here (the reason is the message)."""


def log(*a):
    print("xenrig:", *a, file=sys.stderr, flush=True)


def cache_dir():
    if os.environ.get("MMIOD_XEN_CACHE"):
        return os.environ["MMIOD_XEN_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mmiod-xen")


# ---- the dom0 image -------------------------------------------------------------

def xen_stage():
    """The Xen packages unpacked (cached); returns (root, info)."""
    cdir = cache_dir()
    key = hashlib.sha256(" ".join(XEN_PKGS).encode()).hexdigest()[:12]
    sdir = os.path.join(cdir, "xen-" + key)
    info_path = os.path.join(sdir, "info.json")
    if os.path.exists(info_path):
        with open(info_path) as f:
            return os.path.join(sdir, "root"), json.load(f)
    fs = rig.fetch_stack()
    os.makedirs(cdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".new-", dir=cdir)
    t0 = time.time()
    try:
        debs = fs.fetch_debs("bookworm", os.path.join(tmp, "root"), XEN_PKGS)
    except fs.FetchError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise Skip("cannot fetch the Xen packages: %s" % e)
    xen_gz = os.path.join(tmp, "root", "boot", "xen-4.17-amd64.gz")
    with gzip.open(xen_gz) as f, open(os.path.join(tmp, "xen"), "wb") as g:
        shutil.copyfileobj(f, g)
    info = {"packages": [os.path.basename(d) for d in debs],
            "xen": os.path.join(sdir, "xen"), "fetch_seconds": round(time.time() - t0, 1)}
    with open(os.path.join(tmp, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    if os.path.exists(sdir):
        shutil.rmtree(sdir)
    os.rename(tmp, sdir)
    log("Xen packages unpacked in %s (%.0f s)" % (sdir, time.time() - t0))
    return os.path.join(sdir, "root"), info


def kernel_stage():
    """The Debian 12 kernel the test guests run (tests/guest), and its Xen
    modules for dom0 (cached beside the Xen packages)."""
    fs = rig.fetch_stack()
    try:
        k = fs.fetch("kernel-6.1")
    except Exception as e:
        raise Skip("cannot fetch the Debian 12 kernel: %s" % e)
    mdir = os.path.join(cache_dir(), "modules-" + k["kver"])
    order = os.path.join(mdir, "load-order")
    if not os.path.exists(order):
        os.makedirs(cache_dir(), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".new-", dir=cache_dir())
        x = os.path.join(tmp, "x")
        os.makedirs(x)
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", k["deb"]], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", x, "--wildcards", "*/kernel/drivers/xen/*"],
                       stdin=tar.stdout, check=True)
        tar.wait()
        bi = fs.build_initramfs_module()
        kmods = glob.glob(os.path.join(x, "lib", "modules", "*"))[0]
        kos = bi.collect_modules(kmods, DOM0_MODULES)
        stage = os.path.join(tmp, "m")
        os.makedirs(stage)
        with open(os.path.join(stage, "load-order"), "w") as f:
            for ko in kos:
                shutil.copy(ko, stage)
                f.write(os.path.basename(ko) + "\n")
        if os.path.exists(mdir):
            shutil.rmtree(mdir)
        os.rename(stage, mdir)
        shutil.rmtree(tmp)
    return k, mdir


def ldd(paths, extra_libdirs=()):
    """Every shared library the ELF files need (resolved paths), and the
    dynamic loader."""
    env = dict(os.environ, LC_ALL="C")
    if extra_libdirs:
        env["LD_LIBRARY_PATH"] = ":".join(extra_libdirs)
    libs, missing = set(), []
    for p in paths:
        r = subprocess.run(["ldd", p], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            continue            # static, or not an ELF
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+) => not found", line)
            if m:
                missing.append("%s (needed by %s)" % (m.group(1), os.path.basename(p)))
                continue
            m = re.match(r"\s*\S+ => (/\S+) \(", line) or re.match(r"\s*(/\S+) \(", line)
            if m:
                libs.add(m.group(1))
    if missing:
        raise Skip("libraries missing on this host: %s" % ", ".join(sorted(set(missing))))
    return sorted(libs)


class Image:
    """dom0's initramfs: a cpio newc writer over tests/guest's, with parents."""

    def __init__(self):
        self.cpio = rig.fetch_stack().build_initramfs_module().Cpio()
        self.dirs = set()
        self.names = set()

    def mkdirs(self, path):
        parts = [p for p in path.strip("/").split("/") if p]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.cpio.dir(d)

    def data(self, dest, data, mode=0o644):
        dest = dest.strip("/")
        if dest in self.names:
            return
        self.mkdirs(os.path.dirname(dest))
        self.names.add(dest)
        self.cpio.file(dest, data, mode)

    def file(self, src, dest=None, mode=None):
        """A file (symlinks followed), as dest (default: its own path)."""
        with open(src, "rb") as f:
            data = f.read()
        if mode is None:
            mode = os.stat(src).st_mode & 0o777
        self.data(dest or src, data, mode)

    def tree(self, src, dest):
        for root, dirs, files in os.walk(src):
            for n in files:
                p = os.path.join(root, n)
                if os.path.exists(p):
                    self.file(p, os.path.join(dest, os.path.relpath(p, src)))

    def symlink(self, dest, target):
        dest = dest.strip("/")
        self.mkdirs(os.path.dirname(dest))
        self.names.add(dest)
        self.cpio.symlink(dest, target)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.cpio.finish())


def build_dom0(out, mmiod, mmioctl, catalogue):
    """Writes dom0's initramfs to out; returns what went in."""
    t0 = time.time()
    xroot, xinfo = xen_stage()
    kinfo, mdir = kernel_stage()
    bb = shutil.which("busybox") or "/bin/busybox"
    for p in (mmiod, mmioctl):
        if not os.access(p, os.X_OK):
            raise Skip("%s is not built" % p)
    host_bins = []
    for b in HOST_BINS:
        p = shutil.which(b)
        if not p:
            raise Skip("%s is missing (apt-get install dbus-daemon)" % b)
        host_bins.append(p)
    xbins = [os.path.join(xroot, b) for b in XEN_BINS]
    libs = ldd(xbins + host_bins + [mmiod, mmioctl])
    img = Image()
    for d in ("proc", "sys", "dev", "tmp", "etc", "root", "var/lib", "var/log", "guest",
              "usr/local/bin"):
        img.mkdirs(d)
    img.cpio.chardev("dev/console", 5, 1)
    img.cpio.chardev("dev/null", 1, 3)
    img.file(bb, "bin/busybox", 0o755)
    img.symlink("bin/sh", "busybox")
    img.file(os.path.join(HERE, "dom0-init.sh"), "init", 0o755)
    img.file(os.path.join(HERE, "..", "guest", "cmdloop.sh"), "lib/cmdloop.sh", 0o644)
    for b, p in zip(XEN_BINS, xbins):
        img.file(p, b)
    for n in XENSTORE_LINKS:
        img.symlink("usr/bin/" + n, "xenstore")
    img.file(os.path.join(xroot, "usr/lib/xen-4.17/boot/hvmloader"),
             "usr/lib/xen-4.17/boot/hvmloader")
    img.tree(os.path.join(xroot, "etc/xen"), "etc/xen")
    for p in host_bins:
        img.file(p, "usr/bin/" + os.path.basename(p))
    for lib in libs:
        img.file(lib)
    for d in HOST_DATA:
        if os.path.isdir(d):
            img.tree(d, d)
        elif os.path.exists(d):
            img.file(d)
    img.file(mmiod, "opt/mmiod/bin/mmiod", 0o755)
    img.file(mmioctl, "opt/mmiod/bin/mmioctl", 0o755)
    img.file(catalogue, "opt/mmiod/profiles.ini", 0o644)
    with open(os.path.join(mdir, "load-order")) as f:
        mods = f.read().split()
    for m in mods:
        img.file(os.path.join(mdir, m), "lib/modules/" + m)
    img.data("lib/modules/load-order", ("\n".join(mods) + "\n").encode())
    img.file(kinfo["kernel"], "guest/vmlinuz")
    img.file(kinfo["initramfs"], "guest/initramfs.gz")
    img.data("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    img.data("etc/group", b"root:x:0:\n")
    img.write(out)
    return {"xen": xinfo["xen"], "kernel": kinfo["kernel"], "kver": kinfo["kver"],
            "initramfs": out, "size": os.path.getsize(out), "libs": len(libs),
            "packages": xinfo["packages"] + [os.path.basename(kinfo["deb"])],
            "build_seconds": round(time.time() - t0, 1)}


# ---- the host: outer QEMU, Xen, dom0 ------------------------------------------------

def qemu_accepts_svm():
    r = subprocess.run([QEMU, "-accel", "tcg", "-cpu", "help"], capture_output=True, text=True)
    return r.returncode == 0 and re.search(r"\bmax\b", r.stdout) is not None


class Host:
    """Xen + dom0 in a TCG QEMU; dom0 answers on the agent channel."""

    def __init__(self, workdir, memory_mb=None, dom0_mb=1024, machine="pc", iommu=False,
                 extra_args=(), keep=False, boot_timeout=None):
        self.workdir = workdir
        self.memory_mb = memory_mb or int(os.environ.get("MMIOD_XEN_MEMORY", "6144"))
        self.dom0_mb = dom0_mb
        self.machine = machine
        self.iommu = iommu
        # One CPU by default: dom0's device model and the guest then take
        # turns on one host thread; with two, every I/O exit of the guest
        # is a wake-up across host threads, slow on a loaded host.
        self.cpus = int(os.environ.get("MMIOD_XEN_CPUS", "1"))
        self.extra_args = list(extra_args)
        self.keep = keep
        self.boot_timeout = boot_timeout or int(os.environ.get("MMIOD_XEN_BOOT_TIMEOUT", "600"))
        self.proc = None
        self.agent = None
        self.guests = {}
        os.makedirs(workdir, exist_ok=True)
        self.console = os.path.join(workdir, "console.log")

    def argv(self):
        xen_args = ("console=com1 com1=115200,8n1 dom0_mem={m}M,max:{m}M dom0_max_vcpus=1 "
                    "smap=0 smep=0 bootscrub=0 noreboot guest_loglvl=all "
                    "console_timestamps=boot").format(m=self.dom0_mb)
        if self.cpus > 1:
            xen_args += " dom0_vcpus_pin"
        if self.iommu:
            xen_args += " iommu=1"
        machine = self.machine
        a = [QEMU, "-accel", "tcg,thread=multi", "-cpu", "max,-avx,-avx2", "-smp", str(self.cpus),
             "-machine", machine, "-m", str(self.memory_mb), "-nodefaults", "-nographic",
             "-no-reboot", "-nic", "none",
             "-kernel", self.image["xen"], "-append", xen_args,
             "-initrd", "%s console=hvc0 quiet,%s" % (self.image["kernel"], self.image["initramfs"]),
             # the console: logged, and a socket for a person (dom0 runs a
             # shell on hvc0; Ctrl-A three times switches to Xen's keys)
             "-chardev", "socket,id=con,path=%s,server=on,wait=off,logfile=%s" % (
                 os.path.join(self.workdir, "console.sock"), self.console),
             "-serial", "chardev:con",
             "-chardev", "socket,id=agent,path=%s,server=on,wait=off" % self.agent_path,
             "-serial", "chardev:agent",
             "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path, "-monitor", "none"]
        return a + self.extra_args

    def start(self, mmiod, mmioctl, catalogue):
        if not shutil.which(QEMU):
            raise Skip("%s is missing" % QEMU)
        if not qemu_accepts_svm():
            raise Skip("%s has no TCG -cpu max" % QEMU)
        self.image = build_dom0(os.path.join(self.workdir, "dom0.cpio"), mmiod, mmioctl,
                                catalogue)
        log("dom0 image: %d MiB, %d libraries, built in %.0f s" % (
            self.image["size"] >> 20, self.image["libs"], self.image["build_seconds"]))
        self.agent_path = os.path.join(self.workdir, "agent.sock")
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        for p in (self.agent_path, self.qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        argv = self.argv()
        with open(os.path.join(self.workdir, "argv.json"), "w") as f:
            json.dump(argv, f, indent=1)
        t0 = time.time()
        self.qemu_log = open(os.path.join(self.workdir, "qemu.log"), "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.qemu_log,
                                     stderr=subprocess.STDOUT)
        deadline = t0 + 30
        while not os.path.exists(self.agent_path):
            if self.proc.poll() is not None or time.time() > deadline:
                raise XenRigError("QEMU did not start: " + self.tail("qemu.log"))
            time.sleep(0.05)
        self.agent = rig.CommandChannel(
            rig.connect_unix(self.agent_path), self.proc, "dom0 (console: %s)" % self.console,
            lambda: self.tail("console.log"), XenRigError)
        line = self.agent.readline_until(lambda l: "@@READY" in l, self.boot_timeout)
        self.boot_seconds = round(time.time() - t0, 1)
        self.boot_cpu_seconds = self.cpu_seconds()
        self.ready_line = line[line.index("@@READY"):]
        log("dom0 up in %.0f s: %s" % (self.boot_seconds, self.ready_line))
        if "problems: none" not in self.ready_line:
            raise XenRigError("dom0 came up with problems: %s\n%s" % (
                self.ready_line, self.tail("console.log")))
        return self

    def cpu_seconds(self):
        """CPU time the outer QEMU has used (user + system): on an idle
        host about its wall time, so a figure that does not depend on how
        loaded this one is."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)
        except (OSError, IndexError, ValueError, AttributeError):
            return None

    def tail(self, name, n=3000):
        try:
            with open(os.path.join(self.workdir, name), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        for g in list(self.guests.values()):
            g.closed = True
        if self.proc and self.proc.poll() is None:
            try:
                q = rig.QMP(self.qmp_path, timeout=5)
                q.cmd("quit", timeout=5)
                q.close()
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.agent:
            self.agent.close()
            self.agent = None
        if getattr(self, "qemu_log", None):
            self.qemu_log.close()
            self.qemu_log = None
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the agent channel ----------------------------------------------
    def command(self, text, timeout=120):
        """One agent command; (rc, output lines)."""
        return self.agent.command(text, timeout)

    def sh(self, script, timeout=120, check=True):
        """A shell command line in dom0; its output (stdout + stderr)."""
        rc, out = self.command("sh " + script, timeout)
        if check and rc != 0:
            raise XenRigError("dom0: `%s` failed (rc %d): %s" % (script, rc, "\n".join(out[-20:])))
        return rc, "\n".join(out)

    def put(self, path, data):
        if isinstance(data, str):
            data = data.encode()
        rc, out = self.command("put %s %s" % (path, base64.b64encode(data).decode()))
        if rc != 0:
            raise XenRigError("dom0: writing %s failed: %s" % (path, "\n".join(out)))

    def fetch(self, path, dest):
        """A file of dom0's, copied to dest here (base64 over the channel)."""
        rc, out = self.command("sh base64 %s" % shlex.quote(path), 300)
        if rc != 0:
            raise XenRigError("dom0: reading %s failed: %s" % (path, "\n".join(out[-5:])))
        with open(dest, "wb") as f:
            f.write(base64.b64decode("".join(out)))

    # ---- guests -----------------------------------------------------------
    def create_guest(self, name, wait_ready=True, **kw):
        g = XenGuest(self, name, **kw)
        self.guests[name] = g
        g.create(wait_ready)
        return g


# ---- an HVM guest, seen from here through dom0 -----------------------------------------

class PipeQMP:
    """The rig's own QMP monitor of a guest's qemu-xen: a pipe chardev that
    dom0's agent writes to and reads from (`chat`).  Same calls as rig.QMP."""

    def __init__(self, host, base):
        self.host = host
        self.base = base
        self.events = []
        self.cmd("qmp_capabilities")

    def _chat(self, line, timeout):
        rc, out = self.host.command("chat %s %d %s" % (self.base, timeout, line), timeout + 30)
        if rc != 0:
            raise XenRigError("QMP %s: no answer: %s" % (line[:200], "\n".join(out[-3:])))
        objs = []
        for l in out:
            if l.startswith("{"):
                try:
                    objs.append(json.loads(l))
                except ValueError:
                    pass
        return objs

    def cmd(self, name, timeout=60, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        for r in self._chat(json.dumps(msg, separators=(",", ":")), timeout):
            if "event" in r:
                self.events.append(r)
            elif "QMP" in r:
                continue        # the greeting, read with the first command
            elif "error" in r:
                raise rig.RigError("QMP %s %s: %s" % (name, json.dumps(args),
                                                      r["error"].get("desc")))
            elif "return" in r:
                return r["return"]
        raise XenRigError("QMP %s: no return" % name)

    def wait_event(self, name, pred=lambda e: True, timeout=30):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and pred(e):
                    return self.events.pop(i)
            left = int(deadline - time.time())
            if left <= 0:
                return None
            # any command reads the events queued before its answer
            self.cmd("query-status", timeout=max(left, 5))
            if not any(e["event"] == name and pred(e) for e in self.events):
                time.sleep(1)

    def close(self):
        pass


class XenGuest(rig.Guest):
    """An HVM domU created with xl; the command port and QMP through dom0.
    rig.Guest's views (windows, dump) and hot-plug (plug, unplug, outcome)
    work on it unchanged."""

    def __init__(self, host, name, memory=512, mmio_hole=None, devices=(), objects=(),
                 extra_cfg=None, boot_timeout=None):
        self.host = host
        self.name = name
        self.memory_mb = memory
        self.mmio_hole_mb = mmio_hole
        self.devices = list(devices)
        self.objects = list(objects)
        self.extra_cfg = dict(extra_cfg or {})
        self.boot_timeout = boot_timeout or int(os.environ.get("MMIOD_XEN_GUEST_TIMEOUT", "1800"))
        self.machine = "pc"
        self.qmp = None
        self.seq = 0
        self.domid = None
        self.closed = False
        self.base = "/run/rig/" + name
        self.workdir = host.workdir

    def config(self):
        dm_args = ["-chardev", "pipe,id=rigqmp,path=%s.qmp" % self.base,
                   "-mon", "chardev=rigqmp,mode=control"]
        for o in self.objects:
            dm_args += ["-object", o]
        for d in self.devices:
            dm_args += ["-device", d]
        cfg = {
            "type": "hvm", "name": self.name, "memory": self.memory_mb,
            "maxmem": self.memory_mb, "vcpus": 1, "cpus": "1" if self.host.cpus > 1 else None,
            "device_model_version": "qemu-xen",
            "kernel": "/guest/vmlinuz", "ramdisk": "/guest/initramfs.gz",
            "cmdline": GUEST_CMDLINE,
            "serial": ["file:%s.console" % self.base, "pipe:%s.cmd" % self.base],
            "vnc": 0, "sdl": 0, "vif": [], "disk": [],
            "tsc_mode": "native", "cpuid": "host,rdtscp=0",
            "on_crash": "preserve", "on_reboot": "destroy",
            "device_model_args_hvm": dm_args,
        }
        if self.mmio_hole_mb:
            cfg["mmio_hole"] = self.mmio_hole_mb
        cfg.update(self.extra_cfg)
        return "".join("%s = %s\n" % (k, xl_value(v)) for k, v in cfg.items() if v is not None)

    def create(self, wait_ready=True):
        """xl create; then, unless wait_ready is false, until the test
        guest's init answers (minutes under TCG)."""
        h = self.host
        b = self.base
        h.sh("mkdir -p /run/rig && rm -f %s.* && mkfifo %s.cmd.in %s.cmd.out %s.qmp.in %s.qmp.out"
             % (b, b, b, b, b))
        h.put(b + ".cfg", self.config())
        t0 = time.time()
        cpu0 = h.cpu_seconds()
        rc, out = h.sh("xl create %s.cfg 2>&1" % b, timeout=600, check=False)
        self.create_output = out
        if rc != 0:
            raise XenRigError("xl create %s failed (rc %d): %s\n%s" % (
                self.name, rc, out[-2000:], self.dm_log()))
        self.created_seconds = round(time.time() - t0, 1)
        _, out = h.sh("xl domid %s" % self.name)
        self.domid = int(out.strip().splitlines()[-1])
        # qemu-xen answers from here on; the guest's firmware is still to run
        self.qmp = PipeQMP(h, b + ".qmp")
        self.info_pci_at_create = self.info_pci()
        if not wait_ready:
            return self
        rc, out = h.command("expect %s.cmd %d @@READY" % (b, self.boot_timeout),
                            self.boot_timeout + 60)
        if rc != 0:
            raise XenRigError("guest %s never became ready:\n%s\n%s" % (
                self.name, self.console_tail(), self.dm_log()))
        line = [l for l in out if "@@READY" in l][-1]
        self.kernel_release = line[line.index("@@READY"):].split()[1]
        self.boot_seconds = round(time.time() - t0, 1)
        cpu1 = h.cpu_seconds()
        self.boot_cpu_seconds = round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None
        return self

    def command(self, text, timeout=None):
        """One command of the test guest's (tests/guest/init.sh), relayed.
        The serial port is slow here: a generous default timeout."""
        timeout = timeout or int(os.environ.get("MMIOD_XEN_COMMAND_TIMEOUT", "900"))
        self.seq += 1
        tag = "%s-%d" % (self.name, self.seq)
        rc, out = self.host.command("chat %s.cmd %d %s %s" % (self.base, timeout, tag, text),
                                    timeout + 30)
        if rc != 0:
            raise XenRigError("guest %s: no answer to %s: %s" % (self.name, text,
                                                                  "\n".join(out[-5:])))
        return rig.unframe(out, tag)

    def console_tail(self, n=3000):
        rc, out = self.host.sh("tail -c %d %s.console 2>&1" % (n, self.base), check=False)
        return out

    def dm_log(self, n=2000):
        rc, out = self.host.sh("tail -c %d /var/log/xen/qemu-dm-%s.log 2>&1" % (n, self.name),
                               check=False)
        return out

    def info_pci(self):
        """qemu-xen's HMP `info pci`, as mmiod's libxl back end reads it."""
        return self.qmp.cmd("human-monitor-command", **{"command-line": "info pci"})

    def destroy(self):
        if self.closed or self.domid is None:
            return
        self.host.sh("xl destroy %s" % self.name, timeout=300, check=False)
        self.closed = True

    def close(self):
        self.destroy()

    def start(self):
        raise NotImplementedError("XenGuest is started by Host.create_guest")


def xl_value(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[ " + ", ".join(xl_value(x) for x in v) + " ]"
    return '"%s"' % str(v).replace("\\", "\\\\").replace('"', '\\"')


# ---- one-off probes ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="boot Xen + dom0 under QEMU; optionally one guest")
    ap.add_argument("--workdir", help="keep everything here (default: a temporary directory)")
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", os.getcwd()))
    ap.add_argument("--guest", help="MEMORY[:MMIO_HOLE] in MiB: create one HVM guest")
    ap.add_argument("--device", action="append", default=[], help="a boot device of the guest")
    ap.add_argument("--object", action="append", default=[], help="a QOM object of the guest")
    ap.add_argument("--shell", action="store_true", help="then read dom0 commands from stdin")
    a = ap.parse_args()
    wd = a.workdir or tempfile.mkdtemp(prefix="xenrig.")
    srcdir = os.path.abspath(os.path.join(HERE, "..", ".."))
    h = Host(wd, keep=True)
    try:
        h.start(os.path.join(a.builddir, "daemon", "mmiod"),
                os.path.join(a.builddir, "client", "mmioctl"),
                os.path.join(srcdir, "data", "profiles.ini"))
        print(json.dumps({"workdir": wd, "dom0_seconds": h.boot_seconds}))
        print(h.sh("xl info | grep -E 'xen_version|virt_caps|total_memory|free_memory'")[1])
        if a.guest:
            mem, _, hole = a.guest.partition(":")
            g = h.create_guest("probe", memory=int(mem), mmio_hole=int(hole) if hole else None,
                               devices=a.device, objects=a.object)
            print(json.dumps({"domid": g.domid, "boot_seconds": g.boot_seconds,
                              "kernel": g.kernel_release}))
            for l in g.windows()["raw"]:
                print(l)
            print(g.info_pci())
        if a.shell:
            for line in sys.stdin:
                line = line.strip()
                if line:
                    rc, out = h.command(line, 600)
                    print("\n".join(out))
                    print("rc=%d" % rc)
    except Skip as e:
        print("skip: %s" % e)
        return 77
    finally:
        h.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
