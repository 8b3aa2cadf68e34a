"""What the ASGI middleware costs, and what recycling costs uvicorn.

1. In process: the middleware around a bare ASGI hello world, called with a
   fake receive and send on one event loop, against the bare app (no
   limits; then with request_timeout, which times each request on the loop).
2. uvicorn --workers 2, hello world, wrk -c8 with keep-alive connections,
   each worker recycled every 1,000 requests, three ways: no recycling,
   uvicorn's own --limit-max-requests 1000 (its exit closes idle keep-alive
   connections), and workerlife max_requests=1000 (the workers in one pool
   file, so one leaves at a time; a leaving worker answers Connection:
   close and waits for its keep-alive connections). requests/s, p99 and
   wrk's socket errors and non-2xx answers, the median of alternating runs.

It prints; it asserts nothing."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, MutableMapping, Optional, Sequence, Tuple

from bench_python import HELLO_ASGI, free_port, repeats, rounds, run_seconds, wrk_output

Message = MutableMapping[str, Any]


async def _hello(scope: Message, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def in_process() -> None:
    from workerlife.asgi import WorkerLife

    scope: Message = {"type": "http", "method": "GET", "path": "/", "headers": [], "client": ("127.0.0.1", 1)}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    async def per_request_ns(app: Any, n: int) -> float:
        best = float("inf")
        for _ in range(repeats(7)):
            t = time.perf_counter_ns()
            for _ in range(n):
                await app(scope, receive, send)
            best = min(best, (time.perf_counter_ns() - t) / n)
        return best

    async def measure() -> Tuple[float, float, float]:
        plain = WorkerLife(_hello, "max_requests=100000000")
        timed = WorkerLife(_hello, "max_requests=100000000,request_timeout=30s")
        n = 20_000
        bare = await per_request_ns(_hello, n)
        ours = await per_request_ns(plain, n)
        ours_timed = await per_request_ns(timed, n)
        return bare, ours, ours_timed

    bare, ours, ours_timed = asyncio.run(measure())
    print(f"ASGI middleware in process (ns per request, fake receive/send, best of {repeats(7)})")
    print(f"  the bare app                               {bare:8.0f} ns")
    print(f"  WorkerLife(app), no timed rule             {ours:8.0f} ns   = +{(ours - bare) / 1e3:.2f} µs (goal <= 1 µs)")
    print(f"  WorkerLife(app), request_timeout=30s       {ours_timed:8.0f} ns   = +{(ours_timed - bare) / 1e3:.2f} µs")


# wrk pads a unit to two characters ("1.03s "), and shows minutes past 60 s.
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

CONFIGS: Sequence[Tuple[str, Optional[str], Sequence[str]]] = (
    ("no recycling", None, ()),
    ("uvicorn --limit-max-requests 1000", None, ("--limit-max-requests", "1000")),
    ("workerlife max_requests=1000", "max_requests=1000", ()),
)


def run(app_dir: Path, policy: Optional[str], extra: Sequence[str], seconds: int) -> Tuple[float, float, int]:
    """(requests/s, p99 ms, failed requests) of one wrk run against a fresh
    uvicorn --workers 2."""
    port = free_port()
    env = {**os.environ, "WORKERLIFE_POLICY": policy or ""}
    env.pop("WORKERLIFE_POOL", None)
    if policy is not None:
        env["WORKERLIFE_POOL"] = str(app_dir / f"pool-{port}")
    app = "hello_asgi:wrapped" if policy is not None else "hello_asgi:app"
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--workers", "2",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log", *extra, app]
    out = wrk_output(args, env, port, seconds, "--latency")
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))  # type: ignore[union-attr]
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    assert m is not None, out
    failed = 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        failed += sum(int(x) for x in errors.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        failed += int(non2xx.group(1))
    return rps, float(m.group(1)) * UNITS[m.group(2)], failed


def recycling() -> None:
    if shutil.which("wrk") is None:
        print("\nASGI recycling benchmark: wrk is not installed (make bench installs it)")
        return
    n, seconds = rounds(3), run_seconds(5)
    with tempfile.TemporaryDirectory() as d:
        app_dir = Path(d)
        (app_dir / "hello_asgi.py").write_text(HELLO_ASGI)
        results: Dict[str, List[Tuple[float, float, int]]] = {name: [] for name, _, _ in CONFIGS}
        for _ in range(n):  # alternating, so drift hits every way alike
            for name, policy, extra in CONFIGS:
                results[name].append(run(app_dir, policy, extra, seconds))
    base_rps = statistics.median(r for r, _, _ in results["no recycling"])
    base_p99 = statistics.median(p for _, p, _ in results["no recycling"])
    print(f"\nuvicorn --workers 2, ASGI hello world, wrk -c8 keep-alive, recycled every 1,000 requests "
          f"(median of {n} alternating {seconds} s runs)")
    print(f"  {'':36} {'req/s':>8} {'vs none':>8} {'p99 ms':>8} {'vs none':>8} {'failed':>8}")
    for name, _, _ in CONFIGS:
        rps = statistics.median(r for r, _, _ in results[name])
        p99 = statistics.median(p for _, p, _ in results[name])
        failed = [f for _, _, f in results[name]]
        print(f"  {name:36} {rps:8.0f} {rps / base_rps:8.0%} {p99:8.2f} {p99 / base_p99:7.2f}x {str(failed):>8}")
    print("  goal (workerlife): >= 95 % of the requests/s of no recycling, p99 <= 2x, 0 failed")


def main() -> None:
    in_process()
    recycling()


if __name__ == "__main__":
    main()
