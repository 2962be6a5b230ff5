#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-libvirt-conn: libvirt's client with a call stuck on a connection
(docs/reliability.md, the libvirt back end).  As root: a private libvirtd
(tests/libvirt/libvirtd.py), two paused TCG domains, vm1's QEMU stopped;
then bench/libvirt-conn times query-status calls on vm2 on the stuck
call's connection and on a connection of their own.  Figures only.

    make bench-libvirt-conn        (BENCH_CALLS=300, BENCH_KEEPALIVE=5)
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "libvirt"))
import libvirtd  # noqa: E402

DOMAIN = """<domain type='qemu'><name>%s</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><emulator>%s</emulator></devices></domain>"""

why = libvirtd.skip_reason()
if why:
    print("# bench-libvirt-conn: skipped (%s)" % why)
    sys.exit(0)
prog = os.path.join(os.environ.get("top_builddir", "."), "bench", "libvirt-conn")
calls = os.environ.get("BENCH_CALLS", "300")
keepalive = os.environ.get("BENCH_KEEPALIVE", "5")
work = tempfile.mkdtemp(prefix="bench-libvirt-conn.")
lv = libvirtd.Libvirtd(os.path.join(work, "libvirt"))
pid = None
try:
    lv.start()
    emulator = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
    for name in ("vm1", "vm2"):
        path = os.path.join(work, name + ".xml")
        with open(path, "w") as f:
            f.write(DOMAIN % (name, emulator))
        lv.virsh("create", path, "--paused")
    with open(os.path.join(lv.dir, "run", "qemu", "vm1.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGSTOP)
    # own first: the shared run's stuck call then waits for vm1's domain
    # job (held by the first run's call) rather than for its monitor; the
    # connection is held up either way
    for mode in ("own", "shared"):
        subprocess.run([prog, lv.uri, "vm1", "vm2", calls, mode, keepalive], timeout=3600)
finally:
    if pid:
        os.kill(pid, signal.SIGCONT)
    lv.close()
    shutil.rmtree(work, ignore_errors=True)
