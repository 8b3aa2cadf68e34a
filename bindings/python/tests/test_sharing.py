"""Copy-on-write in view with a real gunicorn: ``--preload`` and an app
that builds many small objects at import; each request runs
``gc.collect()``. With ``gc.freeze()`` at the end of the import the workers
keep sharing the master's memory; without it the collector writes to every
object's header, the workers copy the pages, the pool's ``sharing`` falls
and ``min_sharing`` logs ``sharing_low``."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from server import Gunicorn, free_port
from waiting import eventually


@pytest.fixture
def servers() -> Iterator[List[Gunicorn]]:
    started: List[Gunicorn] = []
    yield started
    for s in started:
        s.stop()


def stats(port: int) -> Dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        got: Dict[str, Any] = json.loads(r.read())
        return got


def sharing_after_requests(g: Gunicorn, port: int) -> Dict[str, Any]:
    """Sends requests until each of the two workers has served three, then
    waits for stats whose readings of both were taken after their last one
    (each request keeps 4 MiB more, so an earlier reading shows less USS
    than the worker said at its last response), and returns them."""
    served: Dict[int, List[int]] = {}

    def each_served_three() -> bool:
        # Two at once: a sync worker serves one, so the other takes the
        # second (one at a time, one worker may win every accept).
        for pid, uss in clients.map(lambda _: g.get("/"), range(2)):
            served.setdefault(pid, []).append(uss)
        return len(served) == 2 and all(len(v) >= 3 for v in served.values())

    with ThreadPoolExecutor(2) as clients:
        eventually(each_served_three, 15, lambda: f"each worker serving 3 requests: {served}", interval=0)

    def read_after() -> Optional[Dict[str, Any]]:
        st = stats(port)
        uss = {s["pid"]: s["uss"] for s in st["per_slot"] if s["pid"] in served}
        fresh = len(uss) == 2 and all(
            uss[pid] is not None and uss[pid] >= said[-1] - (2 << 20) for pid, said in served.items()
        )
        return st if fresh and st["sharing"] is not None else None

    return eventually(read_after, 10, lambda: f"a reading after the requests: {stats(port)}")


def test_gc_freeze_after_preload_keeps_the_workers_sharing(servers: List[Gunicorn], tmp_path: Path) -> None:
    ports = {}
    for freeze in (True, False):
        ports[freeze] = free_port()
        g = Gunicorn(
            tmp_path,
            policy="min_sharing=60%,sample_interval=200ms",
            app="sharing_app:app",
            extra_args=["--preload"],
            extra_env={
                "WORKERLIFE_METRICS": f"127.0.0.1:{ports[freeze]}",
                "WL_TEST_GC_FREEZE": "1" if freeze else "0",
            },
        )
        servers.append(g)
    for g in servers:
        g.wait_ready()
    frozen, thawed = (sharing_after_requests(g, ports[f]) for g, f in zip(servers, (True, False)))
    for st, g in zip((frozen, thawed), servers):
        # The master read itself as the parent, with the app loaded.
        assert st["parent"]["pid"] == g.proc.pid and st["parent"]["rss_bytes"] > 60 << 20, st
    print(f"sharing: gc.freeze() {frozen['sharing']:.3f}, without {thawed['sharing']:.3f}")
    assert frozen["sharing"] >= 0.7, frozen
    assert thawed["sharing"] <= frozen["sharing"] - 0.2, (frozen, thawed)
    eventually(lambda: servers[1].lines("sharing_low"), 10, lambda: f"sharing_low logged: {servers[1].log()}")
    # Read after the requests and past min_sharing: none with the freeze.
    assert not servers[0].lines("sharing_low"), servers[0].log()


def test_under_preload_the_master_reads_itself_as_the_parent_before_the_first_fork(
    servers: List[Gunicorn], tmp_path: Path
) -> None:
    # An empty policy: no rule reads the parent at a tick, so a reading is
    # the hook's (when_ready, under --preload only).
    from workerlife import Pool

    paths = {preload: tmp_path / f"preload-{preload}.pool" for preload in (True, False)}
    for preload, path in paths.items():
        servers.append(
            Gunicorn(tmp_path, extra_args=["--preload"] if preload else [], extra_env={"WORKERLIFE_POOL": str(path)})
        )
    for g in servers:
        g.wait_ready()
    preloaded, plain = (Pool.attach(str(p)).stats() for p in paths.values())
    parent = preloaded["parent"]
    assert parent is not None and parent["pid"] == servers[0].proc.pid, preloaded
    assert parent["rss_bytes"] > 0 and parent["uss_bytes"] > 0, parent
    assert plain["parent"] is None, plain
    for g in servers:
        assert not g.lines("could not read"), g.log()
