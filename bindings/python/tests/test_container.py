"""container_memory against the kernel's OOM killer, for real: a memory
cgroup of the test's own (v2 where the machine has the memory controller
there, else v1) limited to 400 MiB, a real gunicorn with 4 workers of a
leaking app inside it, and clients paced from outside. Without the key
(the control) the kernel OOM-kills workers and requests fail; with it,
workers are recycled first: no OOM kill, no failed request. The cgroup
is removed afterwards, every process in it killed, even on failure."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List, Tuple

from cgroups import memory_cgroup, oom_kills, working_set
from server import Gunicorn, run_clients

LIMIT = 400 << 20
CLIENTS = 4
# Each request leaks 3 MiB over 50 ms, so a worker is mostly in a request
# (an OOM kill then fails one): 1.2 GiB in all, the limit passed many times.
REQUESTS = 100
PACE = 0.02


def leaky_load(server: Gunicorn, cg: Path, version: str) -> Tuple[List[BaseException], int]:
    """CLIENTS clients, each REQUESTS requests to /leak, PACE s apart, while
    the cgroup's working set is watched: (every failure, the most seen)."""
    failures: List[BaseException] = []
    most = [0]

    def watch(stop: threading.Event) -> None:
        while not stop.is_set():
            most[0] = max(most[0], working_set(cg, version))
            time.sleep(0.01)

    def client() -> None:
        for _ in range(REQUESTS):
            try:
                server.get("/leak?mib=3", timeout=20)
            except BaseException as e:  # a connection reset by a killed worker
                failures.append(e)
            time.sleep(PACE)

    run_clients(client, CLIENTS, watch=watch)
    return failures, most[0]


def test_without_the_key_the_kernel_oom_kills_workers_and_requests_fail(tmp_path: Path) -> None:
    with memory_cgroup(LIMIT, "control") as (cg, version):
        before = oom_kills(cg, version)
        server = Gunicorn(tmp_path, policy="", workers=4, cgroup=cg)
        try:
            server.wait_ready()
            failures, most = leaky_load(server, cg, version)
        finally:
            server.stop()
        assert oom_kills(cg, version) > before, "the control must hit the limit"
        assert failures, "and lose requests to it"
        assert most <= LIMIT
        # An OOM kill is named as such, not left a bare crash.
        assert server.lines(" oom_killed"), server.log()[-3000:]


def test_container_memory_recycles_before_the_kernel_oom_kills(tmp_path: Path) -> None:
    with memory_cgroup(LIMIT, "guarded") as (cg, version):
        before = oom_kills(cg, version)
        server = Gunicorn(
            # A headroom that covers the growth between two readings (this
            # app grows the container by some 200 MiB/s) and a worker's exit.
            tmp_path,
            policy="container_memory=auto,container_headroom=25%,sample_interval=50ms",
            workers=4,
            cgroup=cg,
        )
        try:
            server.wait_ready()
            failures, most = leaky_load(server, cg, version)
        finally:
            server.stop()
        log = server.log()
        # The start-up line says what "auto" found: the test's cgroup.
        assert f"container_memory=auto: limit 400MiB (cgroup {cg})" in log, log[:3000]
        assert oom_kills(cg, version) == before, log[-3000:]
        assert failures == [], log[-3000:]
        assert most < LIMIT
        recycles = server.lines("recycle_requested")
        assert recycles and all("reason=container_memory" in line for line in recycles), log[-3000:]
        assert not server.lines(" oom_killed")
