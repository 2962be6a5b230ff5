#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/notify-ready.py SOCKET LOG -- COMMAND...

Starts COMMAND (in its own session, stdout+stderr to LOG) with
NOTIFY_SOCKET=SOCKET, a datagram socket this helper listens on, and waits
for the sd_notify "READY=1" datagram.  Prints one line
"pid=PID ready_s=SECONDS" (CLOCK_MONOTONIC from just before the spawn to
the datagram's arrival) and exits, leaving COMMAND running: the caller
kills PID.  On a timeout (120 s) or an early exit prints "pid=PID
ready_s=none" and exits 1 (having killed the command)."""
import os
import socket
import subprocess
import sys
import time

sock_path, log = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
try:
    os.unlink(sock_path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
env = dict(os.environ, NOTIFY_SOCKET=sock_path)
with open(log, "ab") as lf:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=lf, stderr=lf, start_new_session=True)
ready = None
s.settimeout(0.2)
end = t0 + 120
while time.monotonic() < end and p.poll() is None:
    try:
        data = s.recv(4096)
    except socket.timeout:
        continue
    if b"READY=1" in data.split(b"\n"):
        ready = time.monotonic() - t0
        break
s.close()
os.unlink(sock_path)
if ready is None:
    if p.poll() is None:
        p.kill()
        p.wait()
    print("pid=%d ready_s=none" % p.pid)
    sys.exit(1)
print("pid=%d ready_s=%.4f" % (p.pid, ready))
