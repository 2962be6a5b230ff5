#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/fake-qmp.py DIR NAME [LOG] — a tiny QMP responder that answers
like QEMU 7.2 (-machine pc, stopped with -S) on DIR/NAME.sock.

Used by bench/bench-attach.py (Attach path overhead) and
tests/backends/test-daemon-backends.py (a QMP guest without QEMU).
python3 stdlib only (asyncio).  Answers: the greeting, qmp_capabilities,
query-name (NAME), query-uuid (a fixed uuid), qom-list /machine (an
i440fx host bridge), qom-get of the host bridge's pci-hole*
properties, query-pci (QEMU's reply for an empty pc -S guest,
tests/qmp/query-pci-pc-S.json), device_add ({} — the device is not
shown in query-pci, as for a device behind a root port the firmware has
not numbered, so mmiod reports its BARs unchecked), device_del ({}).
Anything else gets a CommandNotFound error.

With LOG, appends one line per command: "ARRIVED REPLIED EXECUTE ID",
times from time.monotonic() (CLOCK_MONOTONIC, the same clock as the
client's), ID the device_add/device_del "id" argument or "-".  The first
line of stdout is "ready" once the socket listens.
"""
import asyncio
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "qmp", "query-pci-pc-S.json")
QOM = {"pci-hole-start": 134217728, "pci-hole-end": 4273995776,
       "pci-hole64-start": 4294967296, "pci-hole64-end": 6442450944}
GREETING = {"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "fake-qmp"},
                    "capabilities": ["oob"]}}


def load_pci():
    try:
        with open(FIXTURE) as f:
            return json.load(f)["return"]
    except OSError:
        return [{"bus": 0, "devices": []}]


class Responder:
    def __init__(self, name, log):
        self.name = name
        self.pci = load_pci()
        self.log = open(log, "a", buffering=1) if log else None

    def answer(self, cmd):
        ex = cmd.get("execute", "")
        args = cmd.get("arguments") or {}
        if ex == "qmp_capabilities":
            return {"return": {}}
        if ex == "query-name":
            return {"return": {"name": self.name}}
        if ex == "query-uuid":
            return {"return": {"UUID": "5ca1ab1e-0000-4000-8000-000000000001"}}
        if ex == "qom-list":
            if args.get("path") == "/machine":
                return {"return": [{"name": "type", "type": "string"},
                                   {"name": "i440fx", "type": "child<i440FX-pcihost>"},
                                   {"name": "peripheral", "type": "child<container>"}]}
            return {"return": []}
        if ex == "qom-get":
            p = args.get("property")
            if args.get("path") == "/machine/i440fx" and p in QOM:
                return {"return": QOM[p]}
            return {"error": {"class": "GenericError", "desc": "Property '%s' not found" % p}}
        if ex == "query-pci":
            return {"return": self.pci}
        if ex in ("device_add", "device_del"):
            return {"return": {}}
        return {"error": {"class": "CommandNotFound", "desc": "The command %s has not been found" % ex}}

    async def serve(self, reader, writer):
        writer.write((json.dumps(GREETING) + "\r\n").encode())
        await writer.drain()
        dec = json.JSONDecoder()
        buf = ""
        while True:
            data = await reader.read(65536)
            if not data:
                break
            arrived = time.monotonic()
            buf += data.decode(errors="replace")
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    cmd, end = dec.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                rep = self.answer(cmd)
                if "id" in cmd:
                    rep["id"] = cmd["id"]
                writer.write((json.dumps(rep) + "\r\n").encode())
                if self.log:
                    a = cmd.get("arguments") or {}
                    self.log.write("%.6f %.6f %s %s\n" % (arrived, time.monotonic(), cmd.get("execute"),
                                                          a.get("id", "-")))
            await writer.drain()
        writer.close()


async def main():
    d, name = sys.argv[1], sys.argv[2]
    log = sys.argv[3] if len(sys.argv) > 3 else None
    r = Responder(name, log)
    path = os.path.join(d, name + ".sock")
    server = await asyncio.start_unix_server(r.serve, path=path)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
