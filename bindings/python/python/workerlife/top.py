"""``python -m workerlife top SOURCE``: a live view of a pool's workers.

SOURCE is a pool file (the gunicorn hook's ``WORKERLIFE_POOL``) or a stats
endpoint serving the pool's JSON: ``http://HOST:PORT/stats`` (the gunicorn
hook's ``WORKERLIFE_METRICS``), or ``HOST:PORT`` for that. ``--once`` prints
one table and exits. The table is the one the ``workerlife`` binary prints
(the same renderer, in the library, which escapes control characters in
every string it shows).

An endpoint must answer within ``HTTP_DEADLINE`` seconds in all, from
connecting to the end of its body, and its body may be at most ``BODY_CAP``
bytes; past either, ``top`` says so and stops, as the binary does.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import sys
import threading
import time
import urllib.parse
from typing import Callable, Dict, List, Optional

from ._workerlife import Pool, render_top


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds in [0.05, 3600]")
    return value


HTTP_DEADLINE = 5.0
"""Seconds an endpoint has to answer, body included."""

BODY_CAP = 64 << 20
"""The largest stats body read (64 MiB; about 600 bytes per worker)."""


def fetch(url: str, deadline: float = HTTP_DEADLINE, cap: int = BODY_CAP) -> str:
    """The body of a GET of `url` (http only), within `deadline` seconds in
    all and at most `cap` bytes. A socket timeout alone bounds each read,
    not their sum (a byte every 2 s would never end), so the request runs in
    a thread that is cut off, socket shut, at the deadline."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{url}: only http://HOST:PORT/PATH is supported")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=deadline)
    result: Dict[str, object] = {}

    def run() -> None:
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", target)
            r = conn.getresponse()
            if r.status != 200:
                raise OSError(f"{url}: HTTP {r.status}")
            chunks: List[bytes] = []
            size = 0
            while True:
                chunk = r.read1(1 << 16)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise OSError(f"{url}: the body is over {cap >> 20} MiB")
                chunks.append(chunk)
            result["body"] = b"".join(chunks).decode()
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e

    worker = threading.Thread(target=run, daemon=True, name="workerlife-top-fetch")
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        worker.join(1.0)
        conn.close()
        raise TimeoutError(f"{url}: no full answer within {deadline:g} s")
    conn.close()
    error = result.get("error")
    if isinstance(error, BaseException):
        raise error
    body = result["body"]
    assert isinstance(body, str)
    return body


def _reader(source: str) -> Callable[[], str]:
    """A function returning the current stats JSON of `source`."""
    host, _, port = source.rpartition(":")
    if source.startswith("http://") or (not os.path.exists(source) and host and port.isdigit()):
        url = source if source.startswith("http://") else f"http://{source}/stats"
        return lambda: fetch(url)
    pool = Pool.attach(source)
    # Vacant slots counted, not listed: a pool of 2^20 slots reads in time
    # and memory bounded by its workers.
    return lambda: pool.stats_json(vacant=False)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workerlife top", description="A live view of a pool's workers.")
    parser.add_argument("source", help="a pool file, or http://HOST:PORT/stats, or HOST:PORT")
    parser.add_argument("--once", action="store_true", help="print one table and exit")
    parser.add_argument("--interval", type=_interval, default=1.0, help="seconds between refreshes (default 1)")
    args = parser.parse_args(argv)
    try:
        read = _reader(args.source)
        while True:
            table = render_top(read(), args.source)
            if args.once:
                sys.stdout.write(table)
                return 0
            sys.stdout.write("\x1b[H\x1b[2J" + table)  # refresh in place, as top does
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    except Exception as e:  # one line for the operator, not a traceback
        print(f"workerlife: {e}", file=sys.stderr)
        return 1
