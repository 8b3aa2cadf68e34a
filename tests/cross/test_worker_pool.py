"""End to end on the worker-pool example: the Rust master
(examples/worker_pool.rs) with exec'd Python workers (examples/python/
pool_worker.py), each on its own port. Tasks keep succeeding while workers
recycle for each reason, only between tasks; a master killed mid-run leaves
workers that the next run finds in the ledger and ends; a ledger pid that
now names another process is never signalled; a port held after a worker's
exit delays its respawn, and the delay is reported."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

import workerlife

REPO = Path(__file__).resolve().parents[2]
MASTER = REPO / "target" / "release" / "examples" / "worker_pool"
WORKER = [sys.executable, str(REPO / "examples" / "python" / "pool_worker.py")]


def free_ports(n: int) -> int:
    """A base port with `n` free ports from it."""
    for _ in range(100):
        base = random.randrange(20000, 60000)
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


def alive(pid: int) -> bool:
    """Running (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def our_workers() -> List[int]:
    """Every pool_worker.py process of this test run's tools."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if b"pool_worker.py" in cmd and str(REPO).encode() in cmd:
                pids.append(int(entry))
    return pids


class Run:
    """One run of the master; its JSON lines."""

    def __init__(self, tmp: Path, *args: str, workers: int = 2, base: Optional[int] = None) -> None:
        self.base = base if base is not None else free_ports(workers)
        argv = [str(MASTER), "--workers", str(workers), "--base-port", str(self.base),
                "--ledger", str(tmp / "ledger"), "--pool", str(tmp / "pool"), *args, "--", *WORKER]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.lines: List[Dict[str, Any]] = []

    def read_until(self, done: Any, timeout: float = 60) -> List[Dict[str, Any]]:
        """Reads lines until `done(line)` or the end; returns all so far."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(json.loads(line))
            if done(self.lines[-1]):
                break
        return self.lines

    def finish(self, timeout: float = 90) -> List[Dict[str, Any]]:
        self.read_until(lambda _: False, timeout)
        assert self.proc.wait(timeout=10) == 0
        return self.lines

    def of(self, event: str) -> List[Dict[str, Any]]:
        return [line for line in self.lines if line["event"] == event]


@pytest.fixture
def runs() -> Iterator[List[Run]]:
    started: List[Run] = []
    yield started
    for r in started:
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait()
    for pid in our_workers():  # whatever a failed test left
        os.kill(pid, signal.SIGKILL)


def start(runs: List[Run], tmp: Path, *args: str, **kw: Any) -> Run:
    r = Run(tmp, *args, **kw)
    runs.append(r)
    return r


def check_clean_run(r: Run, reason: str) -> None:
    done = r.of("done")
    assert done and done[0]["tasks_failed"] == 0 and done[0]["tasks_ok"] > 0, r.lines
    assert not r.of("task_failed") and not r.of("spawn_failed"), r.lines
    recycles = [e for e in r.of("recycle_requested") if e["reason"] == reason]
    assert recycles, r.lines
    for e in r.of("recycle_requested"):
        # Telemetry: reason, uptime, requests and the last memory reading.
        assert e["uptime"] > 0 and e["requests"] > 0 and e["rss"] > 0, e
    signalled = r.of("recycling")
    assert signalled and all(s["in_flight"] == 0 for s in signalled), "only between tasks"
    spawned = {s["pid"] for s in r.of("started")}
    assert len(spawned) > 2, "workers were replaced"
    assert not [p for p in spawned if alive(p)], "none left"
    assert not r.of("exited") or not any(e["crash"] for e in r.of("exited")), r.lines


@pytest.mark.parametrize(
    "reason,args",
    [
        ("max_requests", ["--tasks", "80", "--policy", "max_requests=15"]),
        ("max_lifetime", ["--seconds", "3", "--task-ms", "10", "--policy", "max_lifetime=700ms"]),
        # Each task keeps 1 MiB in the worker, which reads itself after each.
        ("memory_rss", ["--tasks", "120", "--leak-kib", "1024", "--policy", "max_rss=48MiB"]),
        ("health_check", ["--tasks", "150", "--task-ms", "10", "--sick-after", "20", "--health-ms", "30",
                          "--policy", "max_health_failures=2"]),
    ],
)
def test_tasks_keep_succeeding_while_workers_recycle(runs: List[Run], tmp_path: Path, reason: str,
                                                     args: List[str]) -> None:
    r = start(runs, tmp_path, *args)
    r.finish()
    check_clean_run(r, reason)


def test_a_killed_masters_workers_are_found_in_the_ledger_and_ended(runs: List[Run], tmp_path: Path) -> None:
    first = start(runs, tmp_path, "--seconds", "60", "--policy", "max_requests=1000")
    first.read_until(lambda line: line["event"] == "started" and len(first.of("started")) == 2)
    time.sleep(1.0)  # serving
    left = [s["pid"] for s in first.of("started")]
    first.proc.kill()  # SIGKILL: no shutdown of its own
    first.proc.wait()
    assert all(alive(p) for p in left), "orphans, until the next run"
    second = start(runs, tmp_path, "--tasks", "20", "--policy", "max_requests=1000", base=first.base)
    second.finish()
    reaped = {line["pid"]: line for line in second.of("reaped")}
    assert set(reaped) >= set(left), second.lines
    for pid in left:
        assert reaped[pid]["outcome"] in ("terminated", "killed"), reaped[pid]
        assert reaped[pid]["master_pid"] == first.proc.pid
        assert not alive(pid)
    check_done = second.of("done")
    assert check_done and check_done[0]["tasks_ok"] == 20 and check_done[0]["tasks_failed"] == 0
    assert not [s["pid"] for s in second.of("started") if alive(s["pid"])]


def test_a_ledger_pid_that_names_another_process_is_never_signalled(runs: List[Run], tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        # A master that recorded the bystander's pid with another start time
        # (the pid was reused since), then died.
        record = (
            "import sys, workerlife\n"
            f"workerlife.Ledger({str(tmp_path / 'ledger')!r}).record({bystander.pid}, "
            f"{workerlife.identity(bystander.pid) + 1})\n"
        )
        subprocess.run([sys.executable, "-c", record], check=True)
        r = start(runs, tmp_path, "--tasks", "5")
        r.finish()
        reaped = [line for line in r.of("reaped") if line["pid"] == bystander.pid]
        assert reaped and reaped[0]["outcome"] == "pid_reused", r.lines
        assert bystander.poll() is None, "never signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_port_held_after_exit_delays_the_respawn_and_the_delay_is_reported(runs: List[Run],
                                                                               tmp_path: Path) -> None:
    r = start(runs, tmp_path, "--tasks", "30", "--policy", "max_requests=10", "--hold-port-ms", "1500", workers=1)
    r.finish()
    delayed = r.of("respawn_delayed")
    assert delayed, r.lines
    for d in delayed:
        assert 1.0 <= d["waited"] < 10, d
        assert d["port"] == r.base
    spawned = r.of("started")
    assert len(spawned) >= 3 and {s["port"] for s in spawned} == {r.base}
    done = r.of("done")[0]
    assert done["tasks_ok"] == 30 and done["tasks_failed"] == 0
