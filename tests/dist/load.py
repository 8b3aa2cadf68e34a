"""Drives a server installed from dist/ the way its users' clients would,
with the standard library alone (it runs in a throwaway directory, away from
the checkout): waits for the port, sends requests from a few clients at once
and fails on any that does not answer 200. It sends at least --requests,
and goes on (up to --max-requests) until --min-pids workers have answered:
the recycle budget may hold a worker past its limit while a burst lasts.
Every test app answers with its
worker's pid, so the distinct pids show that workers rotated.

    python3 load.py URL [--requests N] [--max-requests M] [--clients C] [--min-pids P] [--wait S]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import List, Set


def wait_up(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        time.sleep(0.1)
    sys.exit(f"load.py: {url} did not answer within {seconds} s: {last}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--min-pids", type=int, default=3)
    ap.add_argument("--wait", type=float, default=30)
    a = ap.parse_args()
    wait_up(a.url, a.wait)
    pids: Set[str] = set()
    failures: List[str] = []
    lock = threading.Lock()

    sent = 0

    def take() -> bool:
        """One more request to send? (under the lock)"""
        nonlocal sent
        with lock:
            if sent >= a.max_requests or (sent >= a.requests and len(pids) >= a.min_pids):
                return False
            sent += 1
            return True

    def client() -> None:
        while take():
            try:
                with urllib.request.urlopen(a.url, timeout=10) as r:
                    body = r.read().decode().strip()
                    status = r.status
            except (OSError, urllib.error.URLError) as e:
                with lock:
                    failures.append(str(e))
                continue
            with lock:
                if status != 200:
                    failures.append(f"status {status}")
                else:
                    first = body.split()[0] if body else ""
                    pids.add(first[4:] if first.startswith("pid=") else first)

    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"load.py: {sent} requests, {len(failures)} failed, {len(pids)} worker pids")
    if failures:
        print(f"load.py: failures: {failures[:5]}", file=sys.stderr)
        return 1
    if len(pids) < a.min_pids:
        print(f"load.py: only {len(pids)} pids served ({sorted(pids)}), want >= {a.min_pids}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
