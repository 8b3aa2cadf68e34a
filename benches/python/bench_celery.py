"""What workerlife costs a real Celery worker, and what recycling costs it:
``celery worker -P prefork -c 4`` with its own redis-server, a no-op task,
tasks/s and p99 latency (from a task's send to when it ran), five ways:

  no workerlife | workerlife installed, no limit | Celery's own
  worker_max_tasks_per_child=100 | workerlife max_requests=100 | the
  same with max_surge=1 (each replacement started before its child leaves)

Each the median of alternating runs, with ratios to the first. Goals:
installed costs at most 2 % of the tasks/s; recycling is reported. It
prints; it asserts nothing."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "bindings" / "python" / "tests"))

from celery import Celery  # type: ignore[import-untyped]  # noqa: E402

from celery_harness import celery_worker, redis_server  # noqa: E402

sys.path.insert(0, str(HERE))
from bench_python import rounds  # noqa: E402

TASKS = 1500
ROUNDS = rounds(5)
CONFIGS: Sequence[Tuple[str, str, Dict[str, str]]] = (
    ("no workerlife", "", {"WORKERLIFE_OFF": "1"}),
    ("workerlife installed, no limit", "", {}),
    ("Celery worker_max_tasks_per_child=100", "", {"WORKERLIFE_OFF": "1", "CELERY_MAXTASKS": "100"}),
    ("workerlife max_requests=100", "max_requests=100", {}),
    ("workerlife max_requests=100,max_surge=1", "max_requests=100,max_surge=1", {}),
)


def one_run(tmp: Path, url: str, policy: str, env: Dict[str, str]) -> Tuple[float, float]:
    """(tasks/s, p99 latency ms) of TASKS no-op tasks sent at once."""
    with celery_worker(tmp, url, policy=policy, env=env):
        app = Celery("bench", broker=url, backend=url)
        for r in [app.send_task("celery_app.noop") for _ in range(50)]:
            r.get(timeout=60)  # warm
        sent: List[float] = []
        results = []
        start = time.monotonic()
        for _ in range(TASKS):
            sent.append(time.time())
            results.append(app.send_task("celery_app.noop"))
        ran = [r.get(timeout=300) for r in results]
        took = time.monotonic() - start
    latencies = sorted((r - s) * 1e3 for r, s in zip(ran, sent))
    return TASKS / took, latencies[int(len(latencies) * 0.99) - 1]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="wl-bench-celery-"))
    runs: Dict[str, List[Tuple[float, float]]] = {name: [] for name, _, _ in CONFIGS}
    with redis_server(tmp) as url:
        for _ in range(ROUNDS):
            for name, policy, env in CONFIGS:
                runs[name].append(one_run(tmp, url, policy, env))
    base_rate = statistics.median(r for r, _ in runs[CONFIGS[0][0]])
    base_p99 = statistics.median(p for _, p in runs[CONFIGS[0][0]])
    print(f"Celery prefork -c 4, Redis broker, {TASKS} no-op tasks sent at once (median of {ROUNDS} alternating runs)")
    print(f"  {'':44} {'tasks/s':>9} {'vs base':>8} {'p99 ms':>9} {'vs base':>8}")
    for name, _, _ in CONFIGS:
        rate = statistics.median(r for r, _ in runs[name])
        p99 = statistics.median(p for _, p in runs[name])
        each = ", ".join(f"{r:.0f}" for r, _ in runs[name])
        print(f"  {name:44} {rate:9.0f} {rate / base_rate:8.1%} {p99:9.1f} {p99 / base_p99:7.2f}x  [{each}]")
    print("  goal: workerlife installed loses <= 2 % of the tasks/s")


if __name__ == "__main__":
    main()
