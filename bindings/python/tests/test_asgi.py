"""End to end with real ASGI servers started by each test: ``uvicorn
--workers 2`` with the middleware in the app (no master of ours: kills come
from each worker's watchdog), and gunicorn with uvicorn's worker class and
the workerlife hook (the app unchanged)."""

from __future__ import annotations

import collections
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List, Optional, Set, Tuple, Union

import pytest
from websockets.sync.client import connect

import workerlife
from load import Load, read_response
from server import CLOCK_TICK, Gunicorn, Uvicorn, paced_load, procs, serve_beside_a_hang
from waiting import eventually, quiet_for

Server = Union[Gunicorn, Uvicorn]
KINDS = ["uvicorn", "gunicorn"]


@pytest.fixture
def servers() -> Iterator[List[Server]]:
    started: List[Server] = []
    yield started
    for s in started:
        s.stop()


def start(servers: List[Server], tmp_path: Path, kind: str, policy: str, **kw: object) -> Server:
    s: Server
    if kind == "uvicorn":
        s = Uvicorn(tmp_path, policy=policy, **kw)  # type: ignore[arg-type]
    else:
        s = Gunicorn(
            tmp_path,
            policy=policy,
            worker_class="uvicorn_worker.UvicornWorker",
            app="asgi_apps:plain",
            **kw,  # type: ignore[arg-type]
        )
    servers.append(s)
    return s.wait_ready()


def kill_lines(s: Server) -> List[str]:
    """The lines that say a worker was killed: the watchdog's (uvicorn) or
    the master's (gunicorn)."""
    return s.lines("workerlife: killed slot=")


@pytest.mark.parametrize("kind", KINDS)
def test_max_requests_rotates_pids_with_no_failure_under_load(
    servers: List[Server], tmp_path: Path, kind: str
) -> None:
    kw = {"pool": tmp_path / "pool"} if kind == "uvicorn" else {}
    s = start(servers, tmp_path, kind, "max_requests=25,max_concurrent_recycles=0", **kw)
    per_pid: collections.Counter[int] = collections.Counter()
    failures: List[BaseException] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for _ in range(n):
            try:
                pid, _ = s.get("/slow")
            except (OSError, urllib.error.URLError) as e:
                with lock:
                    failures.append(e)
                continue
            with lock:
                per_pid[pid] += 1

    with ThreadPoolExecutor(4) as ex:
        list(ex.map(client, [100] * 4))
    assert not failures, failures[:3]
    assert sum(per_pid.values()) == 400
    # Each worker leaves at 25 (a few more may be in flight on the event
    # loop when it stops accepting).
    assert len(per_pid) >= 400 // 40, per_pid
    assert max(per_pid.values()) <= 25 + 8, per_pid
    if kind == "uvicorn":
        assert s.lines("reason=max_requests (25 >= 25)"), s.log()
    else:
        assert s.lines("leaving after this request: max_requests: 25 >= 25"), s.log()
        # A departure closes its uvloop servers (to stop accepting), whose
        # listening sockets gunicorn would close again, saying so each time.
        assert not s.lines("Error while closing socket"), s.log()


@pytest.mark.parametrize("kind", KINDS)
def test_a_leaking_app_is_held_under_max_rss(servers: List[Server], tmp_path: Path, kind: str) -> None:
    limit = 120 << 20
    # Memory before capacity: with the default, a worker over its limit waits
    # for the one recycled before it to be replaced and serving (at most one
    # worker missing), and this app leaks about 1 MiB a request meanwhile;
    # ready_timeout=0 gives the permit back as soon as a worker has left.
    s = start(servers, tmp_path, kind, "max_rss=120MiB,sample_interval=50ms,ready_timeout=0")
    rss_seen: List[int] = []
    pids: Set[int] = set()
    for _ in range(400):
        pid, rss = s.get("/leak")  # about 1 MiB more each
        pids.add(pid)
        rss_seen.append(rss)
        time.sleep(0.004)
    # Without workerlife each worker would pass 200 MiB.
    assert max(rss_seen) < limit + (32 << 20), max(rss_seen)
    assert len(pids) >= 4, pids
    assert s.lines("memory_rss"), s.log()
    assert not kill_lines(s), s.log()


@pytest.mark.parametrize(
    "kind,how", [("uvicorn", "sleep"), ("uvicorn", "spin"), ("uvicorn", "c"), ("gunicorn", "sleep")]
)
def test_a_hung_handler_is_killed_and_the_other_worker_serves(
    servers: List[Server], tmp_path: Path, kind: str, how: str
) -> None:
    s = start(servers, tmp_path, kind, "request_timeout=2s")
    hung, elapsed, served, pids = serve_beside_a_hang(s, f"/hang?how={how}")
    assert hung, "the hung request came back"
    assert 1.9 < elapsed < 15, elapsed
    assert served >= 20
    # A master logs its kill after it (the client may see it first).
    kills = eventually(lambda: kill_lines(s), 10, s.log)
    assert len(kills) == 1 and re.search(r"request_timeout(: | \()\d+(\.\d+)?s >= 2s", kills[0]), s.log()
    killed = int(re.search(r"(?:worker |pid=)(\d+)", kills[0]).group(1))  # type: ignore[union-attr]
    assert killed not in pids  # the other worker served all the while
    # And the server goes on: a new worker in its place.
    fresh = pids_serving(s, 2)
    assert killed not in fresh, fresh


def pids_serving(s: Server, n: int, timeout: float = 20) -> Set[int]:
    """Requests until `n` different workers have answered: their pids."""
    pids: Set[int] = set()

    def met() -> bool:
        pids.add(s.get("/")[0])
        return len(pids) >= n

    eventually(met, timeout, lambda: f"{n} workers answering, met {pids}", interval=0)
    return pids


@pytest.mark.parametrize("kind", KINDS)
def test_websockets_and_streams_open_longer_than_request_timeout_live_on(
    servers: List[Server], tmp_path: Path, kind: str
) -> None:
    s = start(servers, tmp_path, kind, "request_timeout=1s", workers=1)
    ws_url = s.url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, open_timeout=10) as ws:
        ws.send("hello")
        first = str(ws.recv(timeout=10))
        quiet_for(2.5, "open, and idle, well past request_timeout: nobody is killed",
                  holds=lambda: not kill_lines(s), what=s.log)
        ws.send("still there")
        second = str(ws.recv(timeout=10))
    assert first.split()[0] == second.split()[0]
    assert second.endswith("still there")
    with urllib.request.urlopen(s.url + "/stream?n=3&every=1", timeout=30) as r:
        lines = r.read().decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["chunk 0", "chunk 1", "chunk 2"]
    assert {line.split()[0] for line in lines} == {first.split()[0]}
    assert s.get("/")[0] == int(first.split()[0])  # the same worker, not killed
    assert not kill_lines(s), s.log()


def test_uvicorn_workers_share_one_pool_file_and_leave_none_behind(
    servers: List[Server], tmp_path: Path
) -> None:
    path = tmp_path / "shared.pool"
    s = start(servers, tmp_path, "uvicorn", "max_requests=1000", pool=path)
    assert isinstance(s, Uvicorn)
    pids = pids_serving(s, 2)
    assert path.exists()
    # Both workers are in the one pool, each in its own slot.
    stats = workerlife.Pool.attach(path).stats()
    assert {slot["pid"] for slot in stats["per_slot"] if slot["pid"]} >= pids, stats
    s.stop(graceful=True)
    assert not path.exists(), "the last worker out removed the pool file"


def test_gunicorn_uvicorn_workers_are_replaced_before_they_retire(
    servers: List[Server], tmp_path: Path
) -> None:
    """max_surge=1 with gunicorn's uvicorn workers: a replacement is started
    and ready before the old worker drains; under load no request fails and
    there are never more than workers + 1."""
    s = start(servers, tmp_path, "gunicorn", "max_requests=40,max_surge=1")
    assert isinstance(s, Gunicorn)
    failures, most, pids = paced_load(s, "/")
    assert not failures, failures[:3]
    assert most <= 3, f"{most} workers at once with 2 workers and max_surge=1\n{s.log()}"
    assert len(pids) >= 4, (pids, s.log())
    assert s.lines("starting a replacement for slot"), s.log()
    assert s.lines("workerlife: ready slot="), s.log()


def test_a_blocked_event_loop_is_killed_by_heartbeat_timeout(
    servers: List[Server], tmp_path: Path
) -> None:
    s = start(servers, tmp_path, "uvicorn", "heartbeat_timeout=1500ms")
    quiet_for(3, "idle but beating, twice heartbeat_timeout: nobody is killed",
              holds=lambda: not kill_lines(s), what=s.log)
    started = time.monotonic()
    with pytest.raises((OSError, urllib.error.URLError)):
        s.get("/hang?how=sleep", timeout=30)  # blocks that worker's loop
    assert time.monotonic() - started < 15
    kills = eventually(lambda: kill_lines(s), 10, s.log)
    assert len(kills) == 1 and "heartbeat_timeout" in kills[0], s.log()


def test_idle_uvicorn_workers_are_recycled_at_max_lifetime(servers: List[Server], tmp_path: Path) -> None:
    s = start(servers, tmp_path, "uvicorn", "max_lifetime=2s,max_concurrent_recycles=0")
    first = pids_serving(s, 2)
    # No request meanwhile: only the watchdogs can act.
    eventually(lambda: not first & {pid for pid, _, _ in procs()}, 20,
               lambda: f"the first workers {first} gone: {s.log()}", interval=0.05)
    later = pids_serving(s, 2)
    assert not (first & later), (first, later)
    assert s.lines("recycle_requested slot="), s.log()
    assert s.lines(" reason=max_lifetime ("), s.log()


def test_a_worker_that_finds_the_pool_full_serves_unsupervised(
    servers: List[Server], tmp_path: Path
) -> None:
    s = start(servers, tmp_path, "uvicorn", "max_requests=1000", pool=tmp_path / "small.pool",
              extra_env={"WORKERLIFE_SLOTS": "1"})
    pids_serving(s, 2)  # both workers serve
    assert len(s.lines("runs unsupervised: no free slot: all 1 slots hold live workers")) == 1, s.log()


def test_a_bad_policy_stops_uvicorn_naming_the_key(tmp_path: Path) -> None:
    s = Uvicorn(tmp_path, policy="max_rsss=1", workers=1)
    try:
        s.proc.wait(timeout=30)
    finally:
        s.stop()
    assert "max_rsss" in s.log(), s.log()


# Each server as a user runs it: uvicorn's two stacks (its pure-Python
# one, and uvloop with httptools; the workers in one pool file), and
# gunicorn with uvicorn's worker class and the hook.
STACKS = ["uvicorn-h11-asyncio", "uvicorn-httptools-uvloop", "gunicorn"]


def start_stack(servers: List[Server], tmp_path: Path, stack: str, policy: str, **kw: object) -> Server:
    if stack == "gunicorn":
        return start(servers, tmp_path, "gunicorn", policy, **kw)
    _, http, loop = stack.split("-")
    if loop == "uvloop":
        kw.setdefault("pool", tmp_path / "pool")
    return start(servers, tmp_path, "uvicorn", policy, http=http, loop=loop, **kw)


@pytest.mark.parametrize("stack", STACKS)
def test_recycling_resets_nobody(servers: List[Server], tmp_path: Path, stack: str) -> None:
    """A worker recycled every 40 requests for 8 s under clients that reuse
    each keep-alive connection as fast as they can, open one per request,
    pipeline pairs, and hold WebSockets: no request fails, nothing is reset
    (a proxy in front would answer no 502), and WebSockets get 1012."""
    s = start_stack(servers, tmp_path, stack, "max_requests=40")
    load = Load("127.0.0.1", s.port).start(keep_alive=4, close=2, pipelined=2, websockets=2)
    try:
        quiet_for(8, "recycled all along under every kind of client: no request fails",
                  holds=lambda: not load.tally.failed, what=lambda: str(load.tally.errors))
    finally:
        tally = load.finish()
    assert not tally.failed and tally.resets == 0, (dict(tally.failed), tally.errors)
    assert all(tally.ok[k] > 20 for k in ("keep-alive", "close", "pipelined", "websocket")), dict(tally.ok)
    assert len(tally.pids) >= 6, tally.pids  # workers were recycled all along


def slow_body(s: Server, sent: bytes, total: int) -> socket.socket:
    """A POST /body announcing `total` bytes and sending only `sent`."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total + sent)
    return sock


@pytest.mark.parametrize("client_timeout", [None, "1"])
def test_a_slow_client_costs_the_worker_nothing(
    servers: List[Server], tmp_path: Path, client_timeout: Optional[str]
) -> None:
    """A client that sends 10 of 100 announced bytes to a worker that also
    holds a WebSocket and serves others: its time is not the app's, so the
    worker is not killed; by default its request waits for the rest, with
    client_timeout=1 it is ended with a 408. The WebSocket and the others
    are untouched."""
    env = {"WORKERLIFE_CLIENT_TIMEOUT": client_timeout} if client_timeout else {}
    s = start(servers, tmp_path, "uvicorn", "request_timeout=1s", workers=1, extra_env=env)
    pid = s.get("/")[0]
    with connect(s.url.replace("http://", "ws://") + "/ws", open_timeout=10) as ws:
        sock = slow_body(s, b"x" * 10, 100)
        try:
            served = 0

            def same_worker() -> bool:
                nonlocal served
                served += 1
                return s.get("/slow")[0] == pid

            quiet_for(3, "three request_timeouts: the slow client's time is not the app's, the worker serves on",
                      holds=same_worker, interval=0, what=s.log)
            ws.send("still there")
            assert str(ws.recv(timeout=10)) == f"{pid} still there"
            if client_timeout:
                status, _, body = read_response(bytearray(), sock)
                assert (status, body) == (408, b"client_timeout\n")
                assert s.lines("request_cancelled POST '/body': client_timeout 1s"), s.log()
            else:
                sock.sendall(b"y" * 90)
                status, _, body = read_response(bytearray(), sock)
                assert (status, body) == (200, f"{pid} 100\n".encode())
        finally:
            sock.close()
    assert served > 10
    assert s.get("/")[0] == pid, "the same worker, alive"
    assert not kill_lines(s), s.log()


@pytest.mark.parametrize("kind", KINDS)
def test_a_request_stuck_among_busy_ones_is_cancelled_at_its_timeout(
    servers: List[Server], tmp_path: Path, kind: str
) -> None:
    """A request awaiting for ever while 3 clients keep the same worker busy
    (each of their ends used to restart the one timer): its ticket is
    overdue at request_timeout and it alone is cancelled with a 504 within
    twice that; every other request is served and the worker lives on."""
    s = start(servers, tmp_path, kind, "request_timeout=1s", workers=1)
    pid = s.get("/")[0]
    stop = threading.Event()
    lock = threading.Lock()
    served: List[Tuple[float, int]] = []
    failures: List[BaseException] = []

    def busy() -> None:
        while not stop.is_set():
            try:
                got = s.get("/slow")[0]
            except BaseException as e:  # every failure counts
                failures.append(e)
                continue
            with lock:
                served.append((time.monotonic(), got))

    threads = [threading.Thread(target=busy) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        eventually(lambda: len(served) >= 20, 10, "20 short requests served")
        sent = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(s.url + "/hang?how=await", timeout=30)
        elapsed = time.monotonic() - sent
        assert e.value.code == 504 and e.value.read() == b"request_timeout\n"
        assert 1.0 - CLOCK_TICK <= elapsed < 2.0, elapsed
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert not failures, failures[:3]
    with lock:
        beside = [got for when, got in served if sent < when < sent + elapsed]
        assert {got for _, got in served} == {pid}
    assert len(beside) > 10, beside
    assert s.get("/")[0] == pid
    assert s.lines("request_cancelled GET '/hang': request_timeout 1s"), s.log()
    assert not kill_lines(s), s.log()


def test_leave_grace_and_client_timeout_are_checked(tmp_path: Path) -> None:
    from asgi_apps import plain
    from workerlife.asgi import WorkerLife

    for name, env in (("leave_grace", "WORKERLIFE_LEAVE_GRACE"), ("client_timeout", "WORKERLIFE_CLIENT_TIMEOUT")):
        for bad in (-1.0, float("nan"), float("inf"), 1e7):
            with pytest.raises(ValueError, match=name):
                WorkerLife(plain, "", **{name: bad})  # type: ignore[arg-type]
        os.environ[env] = "soon"
        try:
            with pytest.raises(ValueError, match=f"{name} 'soon'.*{env}"):
                WorkerLife(plain, "")
        finally:
            del os.environ[env]
    # The grace leaves the exit half of drain_timeout.
    assert WorkerLife(plain, "drain_timeout=4s", leave_grace=10).leave_grace == 2
    assert WorkerLife(plain, "").leave_grace == 3


def test_uvicorn_workers_refuse_a_bad_setting_and_stop_the_server(tmp_path: Path) -> None:
    """A typo under --workers 2: the worker says so and the server stops,
    non-zero, rather than start workers again and again; recycling rules
    under one process, max_surge, and a pool file in a missing directory,
    likewise."""
    cases = [
        (dict(policy="max_request=5", workers=2), ["max_request"]),
        (dict(policy="max_requests=3", workers=1), ["max_requests=3", "--workers 2"]),
        (dict(policy="max_requests=5,max_surge=1", workers=2), ["max_surge=1: uvicorn"]),
        (dict(policy="max_requests=5", workers=2, pool=tmp_path / "no-such-dir" / "pool"),
         ["bad WORKERLIFE_POOL", str(tmp_path / "no-such-dir")]),
    ]
    for kw, needles in cases:
        s = Uvicorn(tmp_path, **kw)  # type: ignore[arg-type]
        try:
            code = s.proc.wait(timeout=30)
        finally:
            s.stop()
        log = s.log()
        assert all(n in log for n in needles), log
        assert code != 0, log
        assert "died" not in log, f"no worker started again: {log}"


def test_a_uvicorn_worker_says_workerlife_is_on(servers: List[Server], tmp_path: Path) -> None:
    s = start(servers, tmp_path, "uvicorn", "max_requests=100")
    s.get("/")
    line = eventually(lambda: s.lines("workerlife on for uvicorn"), 10, s.log, interval=0.05)[0]
    assert "policy max_requests=100" in line and "heartbeats" in line and "watchdog kills" in line, line


def test_workerlife_metrics_is_refused_where_no_master_serves_it(
    servers: List[Server], tmp_path: Path
) -> None:
    """uvicorn --workers 2 runs no master of workerlife's, so nothing would
    serve WORKERLIFE_METRICS: the start stops, non-zero, naming the setting,
    why, and what to do instead. Under gunicorn's hook with uvicorn's worker
    class, gunicorn's master serves it."""
    from server import free_port

    address = f"127.0.0.1:{free_port()}"
    s = Uvicorn(tmp_path, policy="max_requests=50", workers=2, extra_env={"WORKERLIFE_METRICS": address})
    try:
        code = s.proc.wait(timeout=30)
    finally:
        s.stop()
    log = s.log()
    assert f"WORKERLIFE_METRICS={address} cannot be served here: no master to serve it" in log, log
    assert "uvicorn --workers runs none of workerlife's" in log, log
    assert "gunicorn -k uvicorn_worker.UvicornWorker -c python:workerlife.gunicorn" in log, log
    assert code != 0, log
    assert "died" not in log, f"no worker started again: {log}"
    g = start(servers, tmp_path, "gunicorn", "max_requests=50", extra_env={"WORKERLIFE_METRICS": address})
    g.get("/")
    assert g.lines(f"metrics on http://{address}/metrics"), g.log()
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert re.search(r"^workerlife_requests_total [1-9]", text, re.M), text


def test_the_middleware_refuses_workerlife_metrics_unless_the_gunicorn_hook_serves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Made outside uvicorn (another ASGI server) the middleware refuses it
    too; with the gunicorn hook loaded (its master serves it) it does not."""
    import sys
    import types

    from asgi_apps import plain
    from workerlife.asgi import WorkerLife

    monkeypatch.setenv("WORKERLIFE_METRICS", "127.0.0.1:9100")
    monkeypatch.delitem(sys.modules, "workerlife.gunicorn", raising=False)
    with pytest.raises(RuntimeError, match="WORKERLIFE_METRICS=127.0.0.1:9100 cannot be served here: no master"):
        WorkerLife(plain, "")
    monkeypatch.setitem(sys.modules, "workerlife.gunicorn", types.ModuleType("workerlife.gunicorn"))
    assert WorkerLife(plain, "").app is plain


def test_an_app_wrapped_under_the_gunicorn_hook_is_counted_once(servers: List[Server], tmp_path: Path) -> None:
    """The app wrapped in WorkerLife and served by gunicorn's uvicorn worker
    under the hook, which wraps it too: the app's own wrapper stands down in
    each worker (one INFO line each), so every request is counted once, in
    the master's pool (a pool file the app's wrapper would open too)."""
    from server import free_port

    metrics = f"127.0.0.1:{free_port()}"
    s = Gunicorn(
        tmp_path,
        policy="max_requests=1000",
        worker_class="uvicorn_worker.UvicornWorker",
        app="asgi_apps:app",
        extra_env={"WORKERLIFE_METRICS": metrics, "WORKERLIFE_POOL": str(tmp_path / "pool")},
    )
    servers.append(s)
    s.wait_ready()  # one request
    pids = {s.get("/")[0] for _ in range(29)}
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = re.search(r"^workerlife_requests_total (\d+)$", text, re.M)
    assert total is not None and int(total.group(1)) == 30, text
    # Each worker, once, at its first scope (lifespan startup).
    eventually(lambda: len(s.lines("middleware stands down")) >= 2, 10, s.log, interval=0.05)
    down = s.lines("the app's own WorkerLife middleware stands down")
    assert len(down) == 2 and all("[INFO]" in line for line in down), s.log()
    assert all("the gunicorn hook (-c python:workerlife.gunicorn) wraps the app too" in line for line in down)
    assert {int(line.split("workerlife: worker ")[1].split(":")[0]) for line in down} >= pids


@pytest.mark.parametrize("kind", KINDS)
def test_a_dress_rehearsal_recycles_and_cancels_nothing_and_says_what_it_would(
    servers: List[Server], tmp_path: Path, kind: str
) -> None:
    """``max_requests=5,request_timeout=1s,enforce=off``: the same two
    workers serve every request, a request late past request_timeout is
    answered (no 504, no kill), and the would_* lines come once per worker
    and reason: from gunicorn's master at each event's severity, or, under
    uvicorn --workers (no master of ours), from each worker's watchdog on
    stderr."""
    # client_timeout has the event loop look at every timed request itself,
    # not only those the slot names overdue: request_timeout, rehearsed,
    # must cancel none of them either.
    env = {"WORKERLIFE_CLIENT_TIMEOUT": "30"}
    s = start(servers, tmp_path, kind, "max_requests=5,request_timeout=1s,enforce=off", extra_env=env)
    before = pids_serving(s, 2)
    served: collections.Counter[int] = collections.Counter(s.get("/")[0] for _ in range(30))
    assert set(served) <= before, f"served by a worker started later: {served} {before}\n{s.log()}"
    late = urllib.request.urlopen(s.url + "/hang?how=await&secs=1.5", timeout=30)
    assert late.status == 200
    late_pid = int(late.read().split()[0])
    assert late_pid in before
    # gunicorn's master logs each at the event's severity; a watchdog's
    # line on stderr has none.
    level = {"would_recycle": "[INFO] ", "would_kill": "[WARNING] "} if kind == "gunicorn" else {}

    def said(kind_: str, pid: int, reason: str) -> List[str]:
        pattern = rf"{re.escape(level.get(kind_, ''))}workerlife: {kind_} slot=\d+ pid={pid} gen=\d+ reason={reason}[ (]"
        return [line for line in s.lines(kind_) if re.search(pattern, line)]

    tripped = [pid for pid, n in served.items() if n >= 5]
    assert tripped, served
    eventually(
        lambda: all(said("would_recycle", pid, "max_requests") for pid in tripped)
        and said("would_kill", late_pid, "request_timeout"),
        10,
        s.log,
    )
    assert all(len(said("would_recycle", pid, "max_requests")) == 1 for pid in tripped), s.log()
    assert len(said("would_kill", late_pid, "request_timeout")) == 1, s.log()
    assert pids_serving(s, 2) == before, "the same two workers serve on"
    assert not kill_lines(s) and not s.lines("request_cancelled") and not s.lines("recycle_requested"), s.log()
    assert not s.lines("leaving after this request"), s.log()


def test_one_uvicorn_process_may_rehearse_the_rules_that_recycle() -> None:
    """A single uvicorn process is refused a rule that recycles (nothing
    would start the worker again), but not one only rehearsed: it
    recycles nobody."""
    from types import SimpleNamespace

    from workerlife.asgi import _check_single_process

    one = SimpleNamespace(workers=1)
    _check_single_process(workerlife.Policy.parse("max_requests=3,max_rss=1GiB,enforce=off"), one)
    _check_single_process(workerlife.Policy.parse("max_requests=3,request_timeout=1s,enforce=request_timeout"), one)
    with pytest.raises(RuntimeError, match="max_rss=1073741824: uvicorn with one process"):
        _check_single_process(workerlife.Policy.parse("max_requests=3,max_rss=1GiB,enforce=memory_rss"), one)
    with pytest.raises(RuntimeError, match="max_requests=3: uvicorn with one process"):
        _check_single_process(workerlife.Policy.parse("max_requests=3"), one)
