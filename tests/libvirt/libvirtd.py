#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real libvirtd for the tests: the system daemon (qemu:///system) with
virtlogd, started by hand as root in a private mount namespace, so that it
needs no systemd and leaves the host's own libvirt alone.

    d = Libvirtd(workdir)          # skip_reason() first
    d.start()                      # virtlogd + libvirtd, waits for the socket
    d.uri                          # qemu:///system?socket=WORKDIR/run/libvirt-sock
    d.admin_uri                    # libvirtd:///system?socket=...: virt-admin (its workers, clients)
    d.virsh("list", "--all")
    d.stop_libvirtd(); d.start_libvirtd()   # a restart; QEMU guests keep running
    d.close()                      # destroys every domain, stops both daemons

Inside the namespace WORKDIR/{run,lib,cache,log,etc} are bound over
/run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and
/etc/libvirt (a copy of the host's /etc/libvirt), so the daemon's sockets,
state and domain definitions are the test's; outside, the socket is
WORKDIR/run/libvirt-sock.  The private qemu.conf runs QEMU as root with
dynamic_ownership off (the guest kernel stays where the tests cache it),
no cgroups and no per-guest mount namespace: none of it changes what the
guest sees.  The namespace lives as long as virtlogd, which runs in the
foreground as its first process; libvirtd is entered into it (nsenter) and
can be stopped and started again while guests run.
"""
import os
import shutil
import signal
import subprocess
import time

BINDS = (("run", "/run/libvirt"), ("lib", "/var/lib/libvirt"), ("cache", "/var/cache/libvirt"),
         ("log", "/var/log/libvirt"), ("etc", "/etc/libvirt"))
QEMU_CONF = """
# mmiod tests: a private libvirtd (tests/libvirt/libvirtd.py)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
"""


def _which(name):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def skip_reason():
    """Why a private libvirtd cannot run here, or None."""
    if os.geteuid() != 0:
        return "a system libvirtd needs root (run the test as root)"
    for b in ("libvirtd", "virtlogd", "virsh", "virt-admin", "unshare", "nsenter", "qemu-system-x86_64"):
        if not _which(b):
            return "%s not installed (scripts/deps installs libvirt-daemon-system, " \
                   "libvirt-daemon-driver-qemu, libvirt-clients)" % b
    if not os.path.isdir("/etc/libvirt"):
        return "/etc/libvirt missing (libvirt-daemon-system not installed)"
    drv = [p for p in ("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
                       "/usr/lib64/libvirt/connection-driver/libvirt_driver_qemu.so",
                       "/usr/lib/libvirt/connection-driver/libvirt_driver_qemu.so")
           if os.path.exists(p)]
    if not drv:
        return "libvirt's QEMU driver is not installed (libvirt-daemon-driver-qemu)"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot make a mount namespace here: " + (r.stderr.strip() or "unshare failed")
    return None


class LibvirtdError(Exception):
    pass


class Libvirtd:
    def __init__(self, workdir):
        self.dir = os.path.abspath(workdir)
        self.sock = os.path.join(self.dir, "run", "libvirt-sock")
        self.uri = "qemu:///system?socket=" + self.sock
        # libvirtd's own administration (virt-admin): its worker pool, its clients
        self.admin_uri = "libvirtd:///system?socket=" + os.path.join(self.dir, "run", "libvirt-admin-sock")
        self.virtlogd = None
        self.libvirtd = None
        self.log = None

    # ---- the namespace and virtlogd --------------------------------------
    def _prepare(self):
        for sub, _ in BINDS:
            if sub != "etc":
                os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        etc = os.path.join(self.dir, "etc")
        if not os.path.exists(etc):
            shutil.copytree("/etc/libvirt", etc, symlinks=True)
            # no networks or storage pools started by the test's daemon
            for auto in ("qemu/networks/autostart", "storage/autostart", "qemu/autostart"):
                shutil.rmtree(os.path.join(etc, auto), ignore_errors=True)
            for d in ("qemu", "qemu/networks", "storage"):
                for f in os.listdir(os.path.join(etc, d)) if os.path.isdir(os.path.join(etc, d)) else []:
                    if f.endswith(".xml"):
                        os.unlink(os.path.join(etc, d, f))
            with open(os.path.join(etc, "qemu.conf"), "a") as f:
                f.write(QEMU_CONF)

    def start(self):
        self._prepare()
        self.log = open(os.path.join(self.dir, "daemons.log"), "ab")
        mounts = " && ".join("mkdir -p %s && mount --bind %s %s" % (dst, os.path.join(self.dir, src), dst)
                             for src, dst in BINDS)
        script = "%s && exec %s --pid-file %s" % (mounts, _which("virtlogd"),
                                                  os.path.join(self.dir, "virtlogd.pid"))
        self.virtlogd = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                         stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.dir, "run", "virtlogd-sock")):
            if self.virtlogd.poll() is not None or time.monotonic() > deadline:
                raise LibvirtdError("virtlogd did not start: " + self.log_tail())
            time.sleep(0.05)
        self.start_libvirtd()
        return self

    # ---- libvirtd --------------------------------------------------------
    def start_libvirtd(self, wait=True):
        """Starts libvirtd in the namespace; with wait, returns once virsh gets an answer."""
        if self.libvirtd and self.libvirtd.poll() is None:
            raise LibvirtdError("libvirtd already running")
        self.libvirtd = subprocess.Popen(
            ["nsenter", "--mount=/proc/%d/ns/mnt" % self.virtlogd.pid, _which("libvirtd"),
             "--pid-file", os.path.join(self.dir, "libvirtd.pid")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        if wait:
            self.wait_ready()
        return self.libvirtd

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            if self.libvirtd.poll() is not None:
                raise LibvirtdError("libvirtd exited (%s): %s" % (self.libvirtd.returncode, self.log_tail()))
            if os.path.exists(self.sock):
                r = subprocess.run(["virsh", "-c", self.uri, "version"], capture_output=True,
                                   text=True, timeout=30)
                if r.returncode == 0:
                    return
            if time.monotonic() > deadline:
                raise LibvirtdError("libvirtd not answering after %d s: %s" % (timeout, self.log_tail()))
            time.sleep(0.1)

    def stop_libvirtd(self):
        """Stops libvirtd (SIGTERM, as systemctl stop does); QEMU guests keep running."""
        p = self.libvirtd
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def running(self):
        return self.libvirtd is not None and self.libvirtd.poll() is None

    # ---- virsh -----------------------------------------------------------
    def virsh(self, *args, check=True, timeout=120, input=None):
        r = subprocess.run(["virsh", "-q", "-c", self.uri] + list(args), capture_output=True,
                           text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise LibvirtdError("virsh %s: %s" % (" ".join(args[:2]), (r.stderr or r.stdout).strip()))
        return r

    def qemu_pids(self):
        """QEMU processes of the test's domains (their pid files)."""
        out = []
        d = os.path.join(self.dir, "run", "qemu")
        for f in os.listdir(d) if os.path.isdir(d) else []:
            if f.endswith(".pid"):
                try:
                    out.append(int(open(os.path.join(d, f)).read().strip()))
                except (OSError, ValueError):
                    pass
        return out

    def log_tail(self, n=2000):
        try:
            with open(os.path.join(self.dir, "daemons.log"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        if self.running():
            r = self.virsh("list", "--name", check=False, timeout=30)
            for name in r.stdout.split():
                self.virsh("destroy", name, check=False, timeout=30)
        self.stop_libvirtd()
        for pid in self.qemu_pids():        # guests left by a libvirtd that was down
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.virtlogd and self.virtlogd.poll() is None:
            self.virtlogd.send_signal(signal.SIGTERM)
            try:
                self.virtlogd.wait(10)
            except subprocess.TimeoutExpired:
                self.virtlogd.kill()
                self.virtlogd.wait()
        if self.log:
            self.log.close()
            self.log = None
