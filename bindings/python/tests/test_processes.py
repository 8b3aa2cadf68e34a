"""With real processes: fork, exec + attach, sampling, identity-checked
signals, the orphan ledger and waiting for release."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

import workerlife
from waiting import eventually, quiet_for, reaped
from workerlife import Pool

HOLD = r"""
import os, socket, sys
mib = int(sys.argv[1])
data = b"x" * (mib << 20)           # written, so resident
files = [open(os.devnull) for _ in range(int(sys.argv[2]))]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen()
print("ready", s.getsockname()[1], flush=True)
sys.stdin.read()
"""


class Holder:
    """A child process holding `mib` MiB, `fds` extra descriptors and a
    listening port until its stdin closes."""

    def __init__(self, mib: int = 1, fds: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(mib), str(fds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        words = self.proc.stdout.readline().split()
        assert words[0] == "ready"
        self.pid = self.proc.pid
        self.port = int(words[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def holder() -> Iterator[Holder]:
    h = Holder(mib=64, fds=20)
    yield h
    h.close()


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def test_sample_another_process(holder: Holder) -> None:
    s = workerlife.sample(holder.pid)
    assert s.pid == holder.pid
    assert s.rss is not None and s.rss >= 64 << 20
    assert abs(s.rss - status_kib(holder.pid, "VmRSS") * 1024) < 4 << 20
    assert s.fds == len(os.listdir(f"/proc/{holder.pid}/fd"))
    assert s.fds is not None and s.fds >= 23
    assert s.start_time == workerlife.identity(holder.pid)
    full = workerlife.sample(holder.pid, uss=True)
    assert full.uss is not None and full.pss is not None and full.rss is not None
    assert 60 << 20 <= full.uss <= full.pss <= full.rss
    kept = workerlife.Process(holder.pid)
    assert kept.start_time == s.start_time
    again = kept.sample()
    assert again.rss is not None and again.rss >= 64 << 20
    holder.close()
    with pytest.raises(workerlife.NoSuchProcess):
        kept.sample()


def test_kill_checks_identity(holder: Holder) -> None:
    ident = workerlife.identity(holder.pid)
    with pytest.raises(workerlife.PidReused) as e:
        workerlife.kill(holder.pid, signal.SIGTERM, ident + 1)
    assert (e.value.expected, e.value.found) == (ident + 1, ident)
    assert isinstance(e.value, ProcessLookupError)
    quiet_for(0.1, "a signal sent is delivered within it: none was", holds=lambda: holder.proc.poll() is None)
    workerlife.kill(holder.pid, signal.SIGTERM, ident)
    assert holder.proc.wait(timeout=5) == -signal.SIGTERM


def test_wait_released(holder: Holder) -> None:
    with pytest.raises(workerlife.StillHeld) as e:
        workerlife.wait_released(pid=holder.pid, port=holder.port, timeout=0.2)
    assert (e.value.what, e.value.pid) == ("process", holder.pid)
    assert isinstance(e.value, TimeoutError)
    t = threading.Timer(0.3, holder.close)
    t.start()
    workerlife.wait_released(pid=holder.pid, port=holder.port, timeout=10)
    t.join()
    # A port held by this process is reported as the port.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    with pytest.raises(workerlife.StillHeld) as p:
        workerlife.wait_released(port=s.getsockname()[1], timeout=0.1)
    assert (p.value.what, p.value.port) == ("port", s.getsockname()[1])
    s.close()


def test_pool_samples_and_signals_a_real_worker(holder: Holder) -> None:
    pool = Pool("max_rss=32MiB", slots=2)
    pool.spawned(0, holder.pid)
    report = pool.sample()
    assert report == {"sampled": 1, "gone": [], "errors": []}
    d = pool.decision(0)
    assert (d.action, d.reason) == ("recycle", "memory_rss")
    assert isinstance(d.value, int) and d.value >= 64 << 20 and d.limit == 32 << 20
    actions = [a for a in pool.tick() if a.action == "recycle"]
    assert [(a.slot, a.pid, a.reason) for a in actions] == [(0, holder.pid, "memory_rss")]
    assert actions[0].identity == workerlife.identity(holder.pid)
    workerlife.kill(actions[0].pid, signal.SIGTERM, actions[0].identity)
    status = holder.proc.wait(timeout=5)
    assert status == -signal.SIGTERM
    assert pool.exited(holder.pid, signal.SIGTERM) == 0
    ev = [(e.kind, e.reason) for e in pool.events()]
    assert ("recycle_requested", "memory_rss") in ev and ("exited", "memory_rss") in ev


def test_pool_finds_a_worker_that_died_unreported() -> None:
    h = Holder()
    pool = Pool(slots=1)
    pool.spawned(0, h.pid)
    h.close()  # killed and reaped, never reported
    # Left a moment for a report with its wait status, then retired.
    assert pool.sample()["gone"] == []
    gone: List[int] = eventually(lambda: pool.sample()["gone"], 30, "the dead worker retired", interval=0.05)
    assert gone == [0]
    assert [a.action for a in pool.tick()] == ["spawn"]


def fork_worker(pool: Pool) -> int:
    """Forks a worker that claims a slot and serves until told to leave;
    its exit code is 10 + the requests it served."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            w = pool.claim()
            n = 0
            while True:
                with w.request():
                    n += 1
                if w.must_exit:
                    break
            code = 10 + n
        finally:
            os._exit(code)
    return pid


def test_forked_workers_share_a_pool() -> None:
    pool = Pool("max_requests=5,max_concurrent_recycles=0", slots=3, shared=True)
    pids: List[int] = []
    for _ in range(3):
        pids.append(fork_worker(pool))
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 15  # exactly max_requests each
    st = pool.stats()
    assert st["requests_total"] == 15
    assert sorted(s["pid"] for s in st["per_slot"]) == sorted(pids)
    for pid in pids:
        pool.exited(pid, 0)
    assert sorted(a.slot for a in pool.tick() if a.action == "spawn") == [0, 1, 2]


def test_fork_while_another_thread_supervises() -> None:
    """A child forked while the master's supervisor thread holds the pool's
    lock must still claim its slot and serve (claim takes no lock)."""
    pool = Pool("max_requests=3,sample_interval=1ms", slots=4, shared=True)
    stop = threading.Event()

    def supervise() -> None:
        while not stop.is_set():
            pool.tick()
            pool.sample()
            pool.events()
            pool.stats()

    sup = threading.Thread(target=supervise)
    sup.start()
    try:
        for _ in range(30):
            pid = fork_worker(pool)
            status = reaped(pid, 20, "the forked worker's exit")
            assert os.WEXITSTATUS(status) == 13
            # Even when the supervisor's sampling retired it first, the
            # exit report finds the slot.
            assert pool.exited(pid, 0) in range(4)
    finally:
        stop.set()
        sup.join()


def test_exec_and_attach(tmp_path: Path) -> None:
    path = tmp_path / "pool"
    pool = Pool.create(path, "max_requests=4", slots=2)
    assert (pool.sharing, pool.path) == ("named", path)
    code = (
        "import sys, workerlife\n"
        "pool = workerlife.Pool.attach(sys.argv[1])\n"
        "w = pool.claim()\n"
        "for _ in range(4):\n"
        "    with w.request(): pass\n"
        "print(pool.policy, '|', w.decision())\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert r.stdout.strip() == "max_requests=4 | max_requests: 4 >= 4"
    assert pool.stats()["requests_total"] == 4
    del pool
    assert not path.exists()  # the creator removes its file


def test_ledger_records_and_reaps_an_orphan(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    # A master that starts a worker, records it, and dies without ending it.
    master = (
        "import subprocess, sys, workerlife\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "workerlife.Ledger(sys.argv[1]).record(child.pid)\n"
        "print(child.pid)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", master, str(path)], capture_output=True, text=True, check=True
    )
    orphan = int(r.stdout)
    assert workerlife.identity(orphan) > 0
    ledger = workerlife.Ledger(path)
    assert [e["pid"] for e in ledger.entries()] == [orphan]
    reaped = ledger.reap(grace=2)
    assert [(x["pid"], x["outcome"]) for x in reaped] == [(orphan, "terminated")]
    with pytest.raises(workerlife.NoSuchProcess):
        workerlife.sample(orphan)
    assert ledger.entries() == []
    # This run's own records stay until forgotten.
    me = Holder()
    try:
        ledger.record(me.pid)
        assert ledger.reap(grace=1) == []
        assert [e["start_time"] for e in ledger.entries()] == [workerlife.identity(me.pid)]
        ledger.forget(me.pid)
        assert ledger.entries() == []
    finally:
        me.close()


def test_forks_never_inherit_the_supervisors_log_lock(tmp_path: Path) -> None:
    """The gunicorn hook's supervisor logs every round; a worker forked while
    it held the log stream's lock would hang at its first log line. Rounds
    and forks exclude each other, so 60 forked children all log and exit."""
    import logging
    import types

    import workerlife.gunicorn as hook

    stream = open(tmp_path / "log", "w", buffering=1 << 16)  # a buffered stream, like stderr
    log = logging.getLogger("workerlife-fork-test")
    log.addHandler(logging.StreamHandler(stream))
    log.setLevel(logging.INFO)
    server = types.SimpleNamespace(log=log, WORKERS={})
    pool = workerlife.Pool("max_requests=1", slots=4, shared=True)
    stop = threading.Event()

    def supervise() -> None:
        while not stop.is_set():
            with hook.state.fork_lock:
                for _ in range(20):
                    log.info("workerlife: a busy supervisor %s", "x" * 200)
                hook._round(server, pool)
            time.sleep(0.0005)  # as the real one waits between rounds

    t = threading.Thread(target=supervise, daemon=True)
    t.start()
    failed = 0
    try:
        for _ in range(60):
            pid = os.fork()
            if pid == 0:
                signal.alarm(10)  # a hang ends the child with SIGALRM
                log.info("child %s logs", os.getpid())
                w = pool.claim()
                w.begin()
                w.end()
                pool.tick()
                pool.events()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            failed += status != 0
    finally:
        stop.set()
        t.join(timeout=10)
        stream.close()
    assert failed == 0
