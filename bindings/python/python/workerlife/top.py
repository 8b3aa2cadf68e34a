"""``python -m workerlife top SOURCE``: a live view of a pool's workers.

SOURCE is a pool file (the gunicorn hook's ``WORKERLIFE_POOL``) or a stats
endpoint serving the pool's JSON: ``http://HOST:PORT/stats`` (the gunicorn
hook's ``WORKERLIFE_METRICS``), or ``HOST:PORT`` for that. ``--once`` prints
one table and exits. The table is the one the ``workerlife`` binary prints
(the same renderer, in the library).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from typing import Callable, List, Optional

from ._workerlife import Pool, render_top


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds in [0.05, 3600]")
    return value


def _reader(source: str) -> Callable[[], str]:
    """A function returning the current stats JSON of `source`."""
    host, _, port = source.rpartition(":")
    if source.startswith("http://") or (not os.path.exists(source) and host and port.isdigit()):
        url = source if source.startswith("http://") else f"http://{source}/stats"

        def fetch() -> str:
            with urllib.request.urlopen(url, timeout=5) as r:
                body: bytes = r.read()
            return body.decode()

        return fetch
    pool = Pool.attach(source)
    return pool.stats_json


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
