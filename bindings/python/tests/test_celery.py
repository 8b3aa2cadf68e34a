"""workerlife.celery with a real Celery prefork worker and a real Redis
broker, each started and stopped by the test (celery_harness.py)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest
from celery import Celery  # type: ignore[import-untyped]

from celery_harness import celery_worker, redis_server
from server import children_of, group_of, run_clients
from waiting import eventually, quiet_for


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
        # Tasks go on meanwhile: a child is recycled after one.
        eventually(lambda: run(app, "pid") and w.lines("reason=memory_uss"), 30,
                   lambda: f"a memory_uss recycle: {w.log()[-3000:]}", interval=0.05)
        eventually(lambda: leaker not in {run(app, "pid") for _ in range(8)}, 30,
                   lambda: f"the leaking child {leaker} gone: {w.log()[-3000:]}", interval=0)
        log = w.log()
    assert any("recycle_requested" in line and f"pid={leaker}" in line for line in log.splitlines()), log[-3000:]
    assert "memory_uss" in log
    assert "WorkerLostError" not in log
    assert "exceeding memory limit" not in log, "billiard's line is not workerlife's reason"


def watch_pool(path: Path, stop: threading.Event, seen: Dict[str, int]) -> None:
    """From the published pool file: the most workers draining at once, and
    the recycles so far."""
    from workerlife import Pool

    pool = None
    while not stop.is_set():
        try:
            pool = pool or Pool.attach(str(path))
            stats = pool.stats(vacant=False)
            seen["most_draining"] = max(seen["most_draining"], int(stats["workers"]["draining"]))
            seen["recycles"] = int(stats["recycles"]["max_requests"])
        except Exception:
            pass
        time.sleep(0.005)


@pytest.mark.parametrize("acks_late", [False, True])
def test_children_leave_one_at_a_time_and_no_task_is_lost(tmp_path: Path, redis_url: str, acks_late: bool) -> None:
    """max_requests=5 with max_concurrent_recycles=1 and 4 children, 4
    clients submitting (at least 300 tasks, and on until 6 children were
    recycled): never two children draining at once, and every task's result
    arrives. billiard's own exit after a recycle waits, 1 to 5 s, for the
    parent to take the child's last results: the others serve meanwhile,
    past their max_requests, waiting for the permit."""
    path = tmp_path / "pool"
    env = {"WORKERLIFE_POOL": str(path), "CELERY_ACKS_LATE": "1" if acks_late else "0"}
    with celery_worker(tmp_path, redis_url, policy="max_requests=5,max_concurrent_recycles=1", env=env) as w:
        seen = {"most_draining": 0, "recycles": 0}
        results: List[int] = []
        failures: List[BaseException] = []
        deadline = time.monotonic() + 120

        def submit() -> None:
            app = client(redis_url)
            sent = 0
            while sent < 75 or (seen["recycles"] < 6 and time.monotonic() < deadline):
                sent += 1
                try:
                    results.append(run(app, "pid"))
                except BaseException as e:
                    failures.append(e)

        run_clients(submit, 4, watch=lambda stop: watch_pool(path, stop, seen))
        log = w.log()
    pids: Set[int] = set(results)
    assert failures == [], f"{failures[:3]}\n{log[-3000:]}"
    assert len(results) >= 300
    assert seen["recycles"] >= 6, f"{seen}\n{log[-3000:]}"
    assert len(pids) >= 8, f"children recycled: {len(pids)} pids served\n{log[-3000:]}"
    assert seen["most_draining"] <= 1, f"{seen['most_draining']} children drained at once"
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
    assert [line for line in w.lines("workerlife: killed slot=") if "reason=request_timeout (" in line], log[-3000:]


def test_a_child_killed_mid_task_is_a_crash_and_its_slot_comes_back(tmp_path: Path, redis_url: str) -> None:
    path = tmp_path / "pool"
    with celery_worker(tmp_path, redis_url, policy="max_requests=1000", env={"WORKERLIFE_POOL": str(path)}) as w:
        app = client(redis_url)
        with pytest.raises(Exception):
            run(app, "crash", timeout=30)
        assert [run(app, "pid") for _ in range(8)], "the pool serves on"
        from workerlife import Pool

        stats: Any = eventually(
            lambda: (lambda s: s if s["crashes"] >= 1 else None)(Pool.attach(str(path)).stats(vacant=False)),
            20, lambda: f"a crash counted: {w.log()[-3000:]}", interval=0.1)
        log = w.log()
    assert stats["crashes"] == 1, log[-3000:]
    assert stats["workers"]["running"] == 4, stats["workers"]
    assert stats["permits_held"] == 0


def test_the_parent_reads_itself_as_its_childrens_parent_at_worker_init(tmp_path: Path, redis_url: str) -> None:
    # An empty policy: no rule reads the parent at a tick, so the reading is
    # the one worker_init took (task modules imported, no child forked yet).
    path = tmp_path / "pool"
    with celery_worker(tmp_path, redis_url, env={"WORKERLIFE_POOL": str(path)}) as w:
        from workerlife import Pool

        stats = Pool.attach(str(path)).stats(vacant=False)
        log = w.log()
        parent = stats["parent"]
        assert parent is not None and parent["pid"] == w.proc.pid, stats
        assert parent["rss_bytes"] > 0, parent
    assert "could not read" not in log, log[-3000:]


def get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def test_idle_children_leave_without_a_next_task_and_the_parent_serves_stats(tmp_path: Path, redis_url: str) -> None:
    """max_idle=2s and no task at all: children leave while they wait for
    work (not after a next task that never comes), and billiard replaces
    them; WORKERLIFE_METRICS serves the counts."""
    from server import free_port

    port = free_port()
    env = {"WORKERLIFE_METRICS": f"127.0.0.1:{port}"}
    with celery_worker(tmp_path, redis_url, policy="max_idle=2s", env=env) as w:
        def six_left() -> Any:
            stats = json.loads(get(f"http://127.0.0.1:{port}/stats"))
            # A child says it leaves up to a second after the recycle is
            # counted (its next look between two waits for work).
            return stats if stats["recycles"]["idle"] >= 6 and len(w.lines("leaving while idle")) >= 6 else None

        stats = eventually(six_left, 40, lambda: f"6 idle recycles: {w.log()[-3000:]}", interval=0.2)
        metrics = get(f"http://127.0.0.1:{port}/metrics")
        app = client(redis_url)
        served = [run(app, "pid") for _ in range(8)]
        log = w.log()
    assert stats["recycles"]["idle"] >= 6, f"{stats}\n{log[-3000:]}"
    assert stats["crashes"] == 0, stats
    assert len(w_lines(log, "leaving while idle")) >= 6, log[-3000:]
    assert 'workerlife_recycles_total{reason="idle"}' in metrics
    assert len(served) == 8
    assert "WorkerLostError" not in log


def w_lines(log: str, needle: str) -> List[str]:
    return [line for line in log.splitlines() if needle in line]


@pytest.mark.parametrize("acks_late", [False, True])
def test_no_task_is_lost_across_hundreds_of_recycles(tmp_path: Path, redis_url: str, acks_late: bool) -> None:
    """max_requests=1: every child leaves after its one task, 4 may leave
    at once; 4 clients submit 240 tasks: every result arrives, from at
    least 200 different children."""
    env = {"CELERY_ACKS_LATE": "1" if acks_late else "0"}
    with celery_worker(tmp_path, redis_url, policy="max_requests=1,max_concurrent_recycles=4", env=env) as w:
        results: List[int] = []
        failures: List[BaseException] = []

        def submit() -> None:
            app = client(redis_url)
            pending = [app.send_task("celery_app.pid") for _ in range(60)]
            for r in pending:
                try:
                    results.append(r.get(timeout=240))
                except BaseException as e:
                    failures.append(e)

        run_clients(submit, 4)
        log = w.log()
    assert failures == [], f"{failures[:3]}\n{log[-3000:]}"
    assert len(results) == 240
    assert len(set(results)) >= 200, f"{len(set(results))} children served"
    assert "WorkerLostError" not in log


@pytest.mark.parametrize(
    "policy, needles",
    [
        ("max_request=5", ["max_request", "WORKERLIFE_POLICY"]),
        # Nothing beats in a prefork child while its task runs: refused.
        ("heartbeat_timeout=2s", ["heartbeat_timeout=2s: Celery prefork", "request_timeout"]),
    ],
)
def test_a_setting_celery_cannot_serve_stops_the_start_naming_it(
    tmp_path: Path, redis_url: str, policy: str, needles: List[str]
) -> None:
    from celery_harness import CeleryWorker

    text = CeleryWorker(tmp_path, redis_url, policy=policy).refused()
    assert all(n in text for n in needles), text[-3000:]
    assert "ready." not in text


def test_bad_metrics_and_pool_settings_stop_the_start(tmp_path: Path, redis_url: str) -> None:
    import socket

    from celery_harness import CeleryWorker

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for metrics in (f"127.0.0.1:{port}", "no-such-host.invalid:9100", "192.0.2.1:9100"):
            text = CeleryWorker(tmp_path, redis_url, env={"WORKERLIFE_METRICS": metrics}).refused()
            assert f"bad WORKERLIFE_METRICS {metrics}" in text, text[-3000:]
    missing = tmp_path / "no-such-dir" / "pool"
    text = CeleryWorker(tmp_path, redis_url, env={"WORKERLIFE_POOL": str(missing)}).refused()
    assert "bad WORKERLIFE_POOL" in text and str(missing.parent) in text, text[-3000:]
    not_a_pool = tmp_path / "notes.txt"
    not_a_pool.write_text("my notes, not a pool\n")
    not_a_pool.chmod(0o600)
    text = CeleryWorker(tmp_path, redis_url, env={"WORKERLIFE_POOL": str(not_a_pool)}).refused()
    assert "bad WORKERLIFE_POOL" in text and "not a workerlife pool" in text, text[-3000:]
    assert not_a_pool.read_text() == "my notes, not a pool\n", "left as it is"


def test_two_workers_never_share_one_pool_file(tmp_path: Path, redis_url: str) -> None:
    from celery_harness import CeleryWorker

    path = tmp_path / "pool"
    env = {"WORKERLIFE_POOL": str(path)}
    with celery_worker(tmp_path, redis_url, policy="max_requests=5", env=env, concurrency=2) as first:
        text = CeleryWorker(tmp_path, redis_url, policy="max_requests=5", env=env, concurrency=2).refused()
        assert "bad WORKERLIFE_POOL" in text and "another live server holds this pool" in text, text[-3000:]
        app = client(redis_url)
        # 20 tasks over 2 children at max_requests=5: at most 13 fit in
        # fewer than two recycles, so the first must have made two.
        assert [run(app, "pid") for _ in range(20)], "the first serves on"
        assert len(first.lines("workerlife on for Celery prefork")) == 1, first.log()[-3000:]
        # The master's round files the second request after the task's result.
        eventually(lambda: len(first.lines("recycle_requested")) >= 2, 10, lambda: first.log()[-3000:])


def test_children_crashing_in_a_loop_stop_the_worker(tmp_path: Path, redis_url: str) -> None:
    """CELERY_CRASH_AFTER=0.5: every child exits with status 1 half a second
    after it starts, past billiard's own start-up check, and billiard starts
    another at once, for ever. At the first crash_loop event workerlife
    stops the worker (billiard cannot hold a respawn back): exit 1 within
    30 s, the event and the reason logged at error, no child left."""
    from celery_harness import CeleryWorker

    w = CeleryWorker(tmp_path, redis_url, env={"CELERY_CRASH_AFTER": "0.5"})
    started = time.monotonic()
    try:
        code = w.proc.wait(timeout=30)
        took = time.monotonic() - started
        left = group_of(w.proc.pid)
    finally:
        w.stop()
    log = w.log()
    assert code == 1, f"exit {code}\n{log[-3000:]}"
    assert took < 30, took
    assert [ln for ln in log.splitlines() if "ERROR/MainProcess] workerlife: crash_loop slot=" in ln], log[-3000:]
    why = [ln for ln in log.splitlines() if "workerlife: stopping the Celery worker (exit 1)" in ln]
    assert len(why) == 1 and "ERROR/" in why[0], log[-3000:]
    assert "crash in a loop" in why[0] and "cannot hold a respawn back" in why[0] and "back off" in why[0], why[0]
    assert left == [], f"left running: {left}"


def test_one_crash_of_a_healthy_worker_is_no_crash_loop(tmp_path: Path, redis_url: str) -> None:
    """A child SIGKILLed from outside: counted as a crash, replaced, and the
    worker serves on (a crash loop takes more than max_restarts quick
    crashes of one slot)."""
    with celery_worker(tmp_path, redis_url, policy="max_requests=1000") as w:
        app = client(redis_url)
        assert [run(app, "pid") for _ in range(4)]
        victim = children_of(w.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: [ln for ln in w.lines("workerlife: exited") if f"pid={victim} " in ln], 20,
                   lambda: f"the victim's exit: {w.log()[-3000:]}", interval=0.1)
        served = [run(app, "pid") for _ in range(8)]
        quiet_for(3, "past the tick that would see a crash loop: the worker runs on",
                  holds=lambda: w.proc.poll() is None and not w.lines("crash_loop"),
                  what=lambda: w.log()[-3000:])
        running = w.proc.poll() is None
        log = w.log()
    assert [ln for ln in log.splitlines() if "workerlife: exited" in ln and f"pid={victim} " in ln], log[-3000:]
    assert victim not in served and len(served) == 8
    assert running, log[-3000:]
    assert "crash_loop" not in log and "stopping the Celery worker" not in log, log[-3000:]


def test_autoscale_past_concurrency_supervises_every_child(tmp_path: Path, redis_url: str) -> None:
    """``-c 1 --autoscale=12,1``: the pool is sized for 12 children (32
    slots), not the 10 of one child. 12 tasks held at once make Celery's
    autoscaler grow billiard's pool to 12 children: each claims a slot
    (none runs unsupervised), the pool counts 12 running, and the
    autoscaler's scale-down after is no crash."""
    from workerlife import Pool

    path = tmp_path / "pool"
    env = {"WORKERLIFE_POOL": str(path), "AUTOSCALE_KEEPALIVE": "2"}
    args = ["--autoscale=12,1"]
    with celery_worker(tmp_path, redis_url, policy="max_requests=1000", env=env, concurrency=1, args=args) as w:
        app = client(redis_url)
        pending = [app.send_task("celery_app.hang", args=(4,)) for _ in range(12)]

        def running() -> int:
            return int(Pool.attach(str(path)).stats(vacant=False)["workers"]["running"])

        most = eventually(lambda: (lambda n: n if n >= 12 else 0)(running()), 30,
                          lambda: f"12 children running: {w.log()[-3000:]}", interval=0.1)
        results = [r.get(timeout=60) for r in pending]
        # Scaled down after AUTOSCALE_KEEPALIVE idle seconds: billiard ends
        # the extra children (SIGTERM), which are no crashes; the pool has
        # seen them go once it counts one running.
        eventually(lambda: len(children_of(w.proc.pid)) <= 1 and running() == 1, 30,
                   lambda: f"scaled down to one child: {w.log()[-3000:]}", interval=0.2)
        stats = Pool.attach(str(path)).stats(vacant=False)
        scaled_down = children_of(w.proc.pid)
        log = w.log()
    assert "workerlife on for Celery prefork" in log and "32 slots" in log, log[:3000]
    assert most == 12, f"{most} running at most\n{log[-3000:]}"
    assert "runs unsupervised" not in log, log[-3000:]
    assert len(results) == 12
    assert len(scaled_down) == 1, scaled_down
    assert stats["crashes"] == 0, f"{stats}\n{log[-3000:]}"
    assert stats["workers"]["running"] == 1, stats["workers"]


def test_an_autoscale_maximum_the_pool_cannot_hold_stops_the_start(tmp_path: Path, redis_url: str) -> None:
    from celery_harness import CeleryWorker

    text = CeleryWorker(tmp_path, redis_url, args=["--autoscale=600000,1"]).refused()
    assert "workerlife: --autoscale=600000,1: 600000 children are more than a workerlife pool can hold" in text, text[-3000:]
    assert "ready." not in text


@pytest.mark.parametrize("acks_late", [False, True])
def test_max_surge_starts_each_replacement_first_and_loses_no_task(tmp_path: Path, redis_url: str, acks_late: bool) -> None:
    """max_surge=1,max_requests=5 with 4 children and 4 clients (at least
    300 tasks, and on until 8 replacements were ready): billiard's pool is
    grown by one for each replacement, the replaced child leaves once its
    replacement is up, and the count comes back down. Children rotate,
    every result arrives, and never more than 5 children (concurrency + 1)
    run at once; none is left extra at the end."""
    env = {"CELERY_ACKS_LATE": "1" if acks_late else "0"}
    with celery_worker(tmp_path, redis_url, policy="max_requests=5,max_surge=1", env=env) as w:
        results: List[int] = []
        failures: List[BaseException] = []
        seen = {"most": 0}
        deadline = time.monotonic() + 120

        def submit() -> None:
            app = client(redis_url)
            sent = 0
            while sent < 75 or (len(w.lines("workerlife: ready slot=")) < 8 and time.monotonic() < deadline):
                sent += 1
                try:
                    results.append(run(app, "pid"))
                except BaseException as e:
                    failures.append(e)

        def watch(stop: threading.Event) -> None:
            while not stop.is_set():
                seen["most"] = max(seen["most"], len(children_of(w.proc.pid)))
                time.sleep(0.002)

        run_clients(submit, 4, watch=watch)
        eventually(lambda: len(children_of(w.proc.pid)) == 4, 15,
                   lambda: f"back to 4 children: {children_of(w.proc.pid)}", interval=0.1)
        left = children_of(w.proc.pid)
        log = w.log()
    assert "the host has surge" in log, log[:3000]
    assert failures == [], f"{failures[:3]}\n{log[-3000:]}"
    assert len(results) >= 300
    ready = [ln for ln in log.splitlines() if "workerlife: ready slot=" in ln]
    assert len(ready) >= 8, f"{len(ready)} replacements ready\n{log[-3000:]}"
    assert len(w_lines(log, "workerlife: replacing slot=")) >= 8
    assert len(set(results)) >= 8, f"{len(set(results))} children served"
    assert seen["most"] <= 5, f"{seen['most']} children at once"
    assert len(left) == 4, f"children after: {left}"
    assert "WorkerLostError" not in log
    assert " crash" not in log, [ln for ln in log.splitlines() if " crash" in ln][:3]


def test_max_surge_replaces_idle_children_without_a_task(tmp_path: Path, redis_url: str) -> None:
    """max_idle=2s,max_surge=1 and no task at all, 2 children: each
    replacement says it is ready as it starts (a first task may never
    come), so the idle child it replaces leaves then, not after
    ready_timeout; never more than 3 children, 2 after."""
    with celery_worker(tmp_path, redis_url, policy="max_idle=2s,max_surge=1", concurrency=2) as w:
        most = 0

        def four_exited() -> bool:
            nonlocal most
            most = max(most, len(children_of(w.proc.pid)))  # watched all along
            return len(w.lines("exited slot=")) >= 4

        eventually(four_exited, 40, lambda: f"4 children exited: {w.log()[-3000:]}", interval=0.002)
        eventually(lambda: len(children_of(w.proc.pid)) == 2, 15,
                   lambda: f"back to 2 children: {children_of(w.proc.pid)}", interval=0.1)
        left = children_of(w.proc.pid)
        log = w.log()
    exits = w_lines(log, "workerlife: exited slot=")
    assert len(exits) >= 4, log[-3000:]
    assert all("reason=idle" in ln for ln in exits), exits
    assert len(w_lines(log, "workerlife: ready slot=")) >= 4, log[-3000:]
    assert "ready_timeout" not in log and " crash" not in log, log[-3000:]
    assert most <= 3, f"{most} children at once"
    assert len(left) == 2, left


def test_a_dress_rehearsal_recycles_and_kills_no_child_and_logs_what_it_would(
    tmp_path: Path, redis_url: str
) -> None:
    """``max_requests=2,request_timeout=1s,enforce=off``: the same two
    children run every task (none leaves, after a task or while idle), a
    task past request_timeout finishes, and the parent logs each would_*
    line once per child and reason, at the event's severity."""
    with celery_worker(tmp_path, redis_url, policy="max_requests=2,request_timeout=1s,enforce=off", concurrency=2) as w:
        before = eventually(lambda: (lambda k: k if len(k) == 2 else None)(children_of(w.proc.pid)), 20, w.log)
        app = client(redis_url)
        ran = [run(app, "pid") for _ in range(10)]
        late = run(app, "hang", 1.5)
        assert set(ran) | {late} <= set(before), f"a task ran on a new child: {ran} {late} {before}\n{w.log()[-3000:]}"

        def said(kind: str, level: str, pid: int, reason: str) -> List[str]:
            return [line for line in w.lines(f"{level}/MainProcess] workerlife: {kind} slot=")
                    if f" pid={pid} " in line and f" reason={reason}" in line]

        tripped = {pid for pid in ran if ran.count(pid) >= 2}
        assert tripped, ran
        eventually(
            lambda: all(said("would_recycle", "INFO", pid, "max_requests") for pid in tripped)
            and said("would_kill", "WARNING", late, "request_timeout"),
            10,
            lambda: w.log()[-3000:],
        )
        # A child looks between two waits for work, every second: none leaves.
        quiet_for(1.5, "an idle child's look at its decision", lambda: children_of(w.proc.pid) == before,
                  what=lambda: f"children {children_of(w.proc.pid)}, were {before}\n{w.log()[-3000:]}")
        log = w.log()
    assert all(len(said("would_recycle", "INFO", pid, "max_requests")) == 1 for pid in tripped), log[-3000:]
    assert len(said("would_kill", "WARNING", late, "request_timeout")) == 1, log[-3000:]
    for never in ("leaving after this task", "leaving while idle", "recycle_requested", "killed slot="):
        assert never not in log, log[-3000:]
