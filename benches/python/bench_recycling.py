"""What recycling costs a real server: gunicorn sync, 2 workers, wrk -c8,
each worker recycled every 200 requests, four ways side by side:

  no recycling | gunicorn's own --max-requests 200 | workerlife
  max_requests=200 (retire, then respawn) | workerlife with max_surge=1
  (replace, then retire)

requests/s and p99 latency, each the median of alternating runs and a ratio
to no recycling; then the same with an app that takes 1 s to import (no
--preload), where retiring first leaves a worker missing for a whole second
per recycle. It prints; it asserts nothing."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from bench_python import free_port, rounds, run_seconds, wrk_output

CONFIGS: Sequence[Tuple[str, Optional[str], Sequence[str]]] = (
    ("no recycling", None, ()),
    ("gunicorn --max-requests 200", None, ("--max-requests", "200")),
    ("workerlife max_requests=200", "max_requests=200", ()),
    ("workerlife + max_surge=1", "max_requests=200,max_surge=1", ()),
)

# wrk pads a unit to two characters ("1.03s "), and shows minutes past 60 s.
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def run(app_dir: Path, app: str, policy: Optional[str], extra: Sequence[str], seconds: int) -> Tuple[float, float]:
    """(requests/s, p99 ms) of one wrk run against a fresh gunicorn."""
    port = free_port()
    env = {**os.environ, "WORKERLIFE_POLICY": policy or ""}
    args = [sys.executable, "-m", "gunicorn", "--chdir", str(app_dir), "-w", "2",
            "-b", f"127.0.0.1:{port}", "--log-level", "warning", *extra]
    if policy is not None:
        args += ["-c", "python:workerlife.gunicorn"]
    args.append(app)
    out = wrk_output(args, env, port, seconds, "--latency")
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))  # type: ignore[union-attr]
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    assert m is not None, out
    return rps, float(m.group(1)) * UNITS[m.group(2)]


def table(title: str, app_dir: Path, app: str, n: int, seconds: int) -> None:
    results: Dict[str, List[Tuple[float, float]]] = {name: [] for name, _, _ in CONFIGS}
    for _ in range(n):  # alternating, so drift hits every way alike
        for name, policy, extra in CONFIGS:
            results[name].append(run(app_dir, app, policy, extra, seconds))
    base_rps = statistics.median(r for r, _ in results["no recycling"])
    base_p99 = statistics.median(p for _, p in results["no recycling"])
    print(f"\n{title} (median of {n} alternating {seconds} s runs)")
    print(f"  {'':32} {'req/s':>8} {'vs none':>8} {'p99 ms':>8} {'vs none':>8}")
    for name, _, _ in CONFIGS:
        rps = statistics.median(r for r, _ in results[name])
        p99 = statistics.median(p for _, p in results[name])
        print(f"  {name:32} {rps:8.0f} {rps / base_rps:8.0%} {p99:8.2f} {p99 / base_p99:7.2f}x")
    print("  goal: >= 80 % of the requests/s of no recycling, p99 <= 2x")


def main() -> None:
    if shutil.which("wrk") is None:
        print("recycling benchmark: wrk is not installed (make bench installs it)")
        return
    n = rounds(3)
    with tempfile.TemporaryDirectory() as d:
        app_dir = Path(d)
        hello = (
            "def app(environ, start_response):\n"
            "    start_response('200 OK', [('Content-Length', '2')])\n"
            "    return [b'ok']\n"
        )
        (app_dir / "hello.py").write_text(hello)
        (app_dir / "slowboot.py").write_text("import time\ntime.sleep(1)  # a heavy import\n" + hello)
        table("gunicorn sync, 2 workers, hello world, recycled every 200 requests, wrk -c8",
              app_dir, "hello:app", n, run_seconds(3))
        table("the same with an app that takes 1 s to import (no --preload)",
              app_dir, "slowboot:app", n, run_seconds(4))


if __name__ == "__main__":
    main()
