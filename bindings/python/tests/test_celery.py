"""workerlife.celery with a real Celery prefork worker and a real Redis
broker, each started and stopped by the test (celery_harness.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, Set

import pytest
from celery import Celery  # type: ignore[import-untyped]

from celery_harness import celery_worker, redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def client(url: str) -> Celery:
    return Celery("client", broker=url, backend=url)


def run(app: Celery, name: str, *args: Any, timeout: float = 30) -> Any:
    return app.send_task(f"celery_app.{name}", args=args).get(timeout=timeout)


def test_a_preloading_parent_makes_celerys_own_limit_replace_every_child(tmp_path: Path, redis_url: str) -> None:
    """celery #4125, the control: the parent holds 300 MB before it forks;
    worker_max_memory_per_child=200000 (KiB) reads ru_maxrss, which counts
    the pages a child shares with its parent, so every child is "over" after
    its first task."""
    env = {"CELERY_PRELOAD_MB": "300", "CELERY_MAX_MEMORY_KB": "200000", "WORKERLIFE_OFF": "1"}
    with celery_worker(tmp_path, redis_url, env=env) as w:
        app = client(redis_url)
        pids = [run(app, "pid") for _ in range(20)]
    assert len(set(pids)) == len(pids), f"each task on a new child: {pids}\n{w.log()[-2000:]}"


def test_max_uss_judges_what_the_child_alone_holds(tmp_path: Path, redis_url: str) -> None:
    """The same parent with workerlife's max_uss=200MiB instead: the children
    stay (what each holds alone is small), and a child that really grows
    past the limit is recycled, after a task, for memory_uss."""
    env = {"CELERY_PRELOAD_MB": "300"}
    with celery_worker(tmp_path, redis_url, policy="max_uss=200MiB,sample_interval=100ms", env=env) as w:
        app = client(redis_url)
        pids = [run(app, "pid") for _ in range(20)]
        assert len(set(pids)) <= 4, f"no child replaced: {pids}"
        leaker = run(app, "leak", 250)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not w.lines("reason=memory_uss"):
            run(app, "pid")
            time.sleep(0.05)
        gone = time.monotonic() + 30
        while time.monotonic() < gone and leaker in {run(app, "pid") for _ in range(8)}:
            pass
        log = w.log()
    assert any("recycle_requested" in line and f"pid={leaker}" in line for line in log.splitlines()), log[-3000:]
    assert "memory_uss" in log
    assert "WorkerLostError" not in log
    assert "exceeding memory limit" not in log, "billiard's line is not workerlife's reason"


def watch_pool(path: Path, stop: threading.Event, most: List[int]) -> None:
    """The most workers draining at once, from the published pool file."""
    from workerlife import Pool

    pool = None
    while not stop.is_set():
        try:
            pool = pool or Pool.attach(str(path))
            most[0] = max(most[0], int(pool.stats(vacant=False)["workers"]["draining"]))
        except Exception:
            pass
        time.sleep(0.005)


@pytest.mark.parametrize("acks_late", [False, True])
def test_children_leave_one_at_a_time_and_no_task_is_lost(tmp_path: Path, redis_url: str, acks_late: bool) -> None:
    """max_requests=5 with max_concurrent_recycles=1 and 4 children, 300
    tasks from 4 clients: children recycled, never two draining at once
    (billiard's own exit after a recycle waits, 1 to 5 s, for the parent to
    take the child's last results: the others serve meanwhile, past their
    max_requests, waiting for the permit), and every task's result arrives."""
    path = tmp_path / "pool"
    env = {"WORKERLIFE_POOL": str(path), "CELERY_ACKS_LATE": "1" if acks_late else "0"}
    with celery_worker(tmp_path, redis_url, policy="max_requests=5,max_concurrent_recycles=1", env=env) as w:
        stop, most = threading.Event(), [0]
        watcher = threading.Thread(target=watch_pool, args=(path, stop, most))
        watcher.start()
        results: List[int] = []
        failures: List[BaseException] = []

        def submit() -> None:
            app = client(redis_url)
            for _ in range(75):
                try:
                    results.append(run(app, "pid"))
                except BaseException as e:
                    failures.append(e)

        clients = [threading.Thread(target=submit) for _ in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=300)
        stop.set()
        watcher.join()
        log = w.log()
    pids: Set[int] = set(results)
    assert failures == [], f"{failures[:3]}\n{log[-3000:]}"
    assert len(results) == 300
    assert len(pids) >= 6, f"children recycled: {len(pids)} pids served\n{log[-3000:]}"
    assert most[0] <= 1, f"{most[0]} children drained at once"
    assert "WorkerLostError" not in log


def test_a_task_past_request_timeout_is_killed_and_the_pool_serves_on(tmp_path: Path, redis_url: str) -> None:
    with celery_worker(tmp_path, redis_url, policy="request_timeout=2s") as w:
        app = client(redis_url)
        started = time.monotonic()
        with pytest.raises(Exception) as err:
            run(app, "hang", 60, timeout=30)
        took = time.monotonic() - started
        assert "WorkerLostError" in type(err.value).__name__ + str(err.value), repr(err.value)
        assert [run(app, "pid") for _ in range(8)], "the pool serves on"
        log = w.log()
    assert took < 15, f"killed after {took:.1f}s"
    assert w.lines("killing child") and "request_timeout" in log, log[-3000:]


def test_a_child_killed_mid_task_is_a_crash_and_its_slot_comes_back(tmp_path: Path, redis_url: str) -> None:
    path = tmp_path / "pool"
    with celery_worker(tmp_path, redis_url, policy="max_requests=1000", env={"WORKERLIFE_POOL": str(path)}) as w:
        app = client(redis_url)
        with pytest.raises(Exception):
            run(app, "crash", timeout=30)
        assert [run(app, "pid") for _ in range(8)], "the pool serves on"
        from workerlife import Pool

        deadline = time.monotonic() + 20
        stats: Any = {}
        while time.monotonic() < deadline:
            stats = Pool.attach(str(path)).stats(vacant=False)
            if stats["crashes"] >= 1:
                break
            time.sleep(0.1)
        log = w.log()
    assert stats["crashes"] == 1, log[-3000:]
    assert stats["workers"]["running"] == 4, stats["workers"]
    assert stats["permits_held"] == 0
