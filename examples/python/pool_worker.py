"""A worker of the worker-pool example (examples/worker_pool.rs): started with
exec by the Rust master, it serves tasks on its own TCP port.

Environment: ``WORKERLIFE_POOL`` (the pool file to attach), ``WORKERLIFE_SLOT``
(its slot), ``PORT`` (127.0.0.1:PORT), and optionally ``HOLD_PORT_MS`` (on
exit, leave a child holding the listening socket that long: a worker whose
port outlives it, which the master must wait out before respawning).

One connection at a time (the master's), one line per request, one reply
line each:

- ``task ID LEAK_KIB SLEEP_MS``: the unit of work, counted as a request
  (begin, end): keep LEAK_KIB KiB more, sleep, then reply
  ``{"task": ID, "ok": true, "pid", "requests", "rss", "fds"}``, the
  readings taken by this process of itself (and reported to its slot).
- ``ping``: the health check: ``pong``, or ``sick`` once told ``sick``.
- ``sick``: from now on, fail health checks; replies ``ok``.

SIGTERM (the master's recycle) ends it between tasks: the handler only sets
a flag, and the loop leaves once the current line is answered.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from types import FrameType
from typing import List, Optional

import workerlife

leaving = False


def on_term(signum: int, frame: Optional[FrameType]) -> None:
    global leaving
    leaving = True


def hold_port(listener: socket.socket, ms: int) -> None:
    """A child that keeps the listening socket (and so the port) for `ms`."""
    if os.fork() == 0:
        os.setsid()  # outlives the worker, as a leaked helper process would
        time.sleep(ms / 1000)
        listener.close()
        os._exit(0)


def serve(conn: socket.socket, worker: workerlife.Worker, kept: List[bytes]) -> None:
    sick = False
    reader = conn.makefile("r")
    for line in reader:
        words = line.split()
        if words[:1] == ["task"] and len(words) == 4:
            worker.begin()
            try:
                kept.append(b"x" * (int(words[2]) * 1024))  # written, so resident
                time.sleep(int(words[3]) / 1000)
            finally:
                worker.end()
            s = worker.sample_self()
            reply = json.dumps(
                {"task": int(words[1]), "ok": True, "pid": os.getpid(), "requests": worker.requests,
                 "rss": s.rss, "fds": s.fds}
            )
        elif words == ["ping"]:
            reply = "sick" if sick else "pong"
        elif words == ["sick"]:
            sick = True
            reply = "ok"
        else:
            reply = json.dumps({"ok": False, "error": f"unknown request {line.strip()!r}"})
        conn.sendall((reply + "\n").encode())
        if leaving:
            return


def main() -> int:
    signal.signal(signal.SIGTERM, on_term)
    pool = workerlife.Pool.attach(os.environ["WORKERLIFE_POOL"])
    worker = pool.slot(int(os.environ["WORKERLIFE_SLOT"]))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(os.environ["PORT"])))
    listener.listen(4)
    listener.settimeout(0.2)  # to see SIGTERM while no one is connected
    kept: List[bytes] = []
    while not leaving:
        try:
            conn, _ = listener.accept()
        except (socket.timeout, InterruptedError):
            continue
        with conn:
            serve(conn, worker, kept)
    worker.exiting()  # leaving on the master's word: not a crash
    hold = int(os.environ.get("HOLD_PORT_MS", "0"))
    if hold > 0:
        hold_port(listener, hold)
    listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
