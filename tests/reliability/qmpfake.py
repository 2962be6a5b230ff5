# SPDX-License-Identifier: MIT
"""QMP peers that misbehave, for tests/reliability/test-unresponsive.py.

Proxy: sits between mmiod and a real QEMU's QMP socket and forwards
lines both ways; it can withhold everything QEMU says from the moment
mmiod sends a given command, and release it later: "QEMU stopped right
after device_add", reproducibly.  The command itself reaches QEMU, or is
dropped (swallow=True: QEMU never saw it).

Peer: a fake QMP server for one socket path, in one of these moods:
  "silent"   accepts and never says a word (no greeting);
  "garbage"  greets, then answers qmp_capabilities with a line that is
             not JSON;
  "endless"  greets, accepts qmp_capabilities, then sends one line that
             never ends, as fast as mmiod reads it, until mmiod hangs up;
             counts the bytes mmiod took per connection.
Each serves every connection it gets, in a thread, until stopped."""
import json
import os
import select
import socket
import threading

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                "package": ""}, "capabilities": []}}


def _listen(path):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    return s


def _accepted(srv, stopped):
    """The connections to srv, one at a time, until stopped() (asked every 0.2 s)."""
    while not stopped():
        r, _, _ = select.select([srv], [], [], 0.2)
        if r:
            yield srv.accept()[0]


class Proxy:
    def __init__(self, listen_path, target_path):
        self.listen_path = listen_path
        self.target_path = target_path
        self.lock = threading.Lock()
        self.hold_on = None         # command name that starts withholding
        self.swallow = False        # ... and is not passed on
        self.holding = False
        self.held = []              # QEMU -> mmiod bytes withheld
        self.seen = []              # commands mmiod sent, in order
        self.stop = False
        self.srv = _listen(listen_path)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def hold_after(self, command, swallow=False):
        with self.lock:
            self.hold_on = command
            self.swallow = swallow

    def release(self):
        with self.lock:
            self.holding = False
            self.hold_on = None
            data, self.held = b"".join(self.held), []
            c = getattr(self, "client", None)
        if c is not None and data:
            c.sendall(data)

    def _serve(self):
        for client in _accepted(self.srv, lambda: self.stop):
            try:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.target_path)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.client = client
            self._pump(client, upstream)
            with self.lock:
                self.client = None
            client.close()
            upstream.close()

    def _pump(self, client, upstream):
        buf = b""
        while not self.stop:
            r, _, _ = select.select([client, upstream], [], [], 0.2)
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                if s is client:
                    buf += data
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        try:
                            cmd = json.loads(line).get("execute")
                        except ValueError:
                            cmd = None
                        with self.lock:
                            self.seen.append(cmd)
                            drop = False
                            if self.hold_on and cmd == self.hold_on:
                                self.holding = True
                                drop = self.swallow
                                self.hold_on = None
                        if not drop:
                            upstream.sendall(line + b"\n")
                else:
                    with self.lock:
                        if self.holding:
                            self.held.append(data)
                            continue
                    client.sendall(data)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.srv.close()


class Peer:
    def __init__(self, path, mood):
        self.path = path
        self.mood = mood
        self.stop = False
        self.connections = 0
        self.taken = []             # endless: bytes mmiod read per connection
        self.srv = _listen(path)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for c in _accepted(self.srv, lambda: self.stop):
            self.connections += 1
            try:
                getattr(self, "_" + self.mood)(c)
            except OSError:
                pass
            finally:
                c.close()

    def _wait_closed(self, c):
        while not self.stop:
            r, _, _ = select.select([c], [], [], 0.2)
            if r and not c.recv(65536):
                return

    def _silent(self, c):
        self._wait_closed(c)

    def _read_command(self, c):
        buf = b""
        while b"\n" not in buf and not self.stop:
            r, _, _ = select.select([c], [], [], 0.2)
            if r:
                d = c.recv(65536)
                if not d:
                    raise OSError("closed")
                buf += d
        return buf

    def _garbage(self, c):
        c.sendall((json.dumps(GREETING) + "\r\n").encode())
        self._read_command(c)
        c.sendall(b"this is not json {{{\r\n")
        self._wait_closed(c)

    def _endless(self, c):
        c.sendall((json.dumps(GREETING) + "\r\n").encode())
        self._read_command(c)
        c.sendall(b'{"return": {}}\r\n')
        chunk = b'{"return": "' + b"x" * 65536
        sent = 0
        c.setblocking(False)
        while not self.stop:
            _, w, _ = select.select([], [c], [], 0.2)
            if not w:
                continue
            try:
                sent += c.send(chunk)
            except BlockingIOError:
                continue
            except OSError:
                break
            chunk = b"x" * 65536
        self.taken.append(sent)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.srv.close()
