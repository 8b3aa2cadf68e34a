"""`workerlife top` (the Rust binary) and `python -m workerlife top` against a
real gunicorn under load: its pool published as a file (WORKERLIFE_POOL) and
its stats endpoint (WORKERLIFE_METRICS)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from server import Gunicorn, free_port
from waiting import eventually, quiet_for

REPO = Path(__file__).resolve().parents[3]
MIB = 1 << 20


def top_binary() -> Path:
    """The `workerlife` binary, built when missing (`make` builds it)."""
    path = REPO / "target" / "release" / "workerlife"
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "workerlife-cli"], cwd=REPO, check=True)
    return path


def rows(table: str) -> Dict[int, Dict[str, str]]:
    """The table's rows by pid, cells by column head."""
    lines = table.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("SLOT"))
    columns = lines[head].split()
    out = {}
    for line in lines[head + 1 :]:
        cells = line.split()
        # Sizes and rates are two words ("1.0 MiB"): rejoin them.
        merged: List[str] = []
        for c in cells:
            if c in ("B", "KiB", "MiB", "GiB") or c.startswith(("B/", "KiB/", "MiB/", "GiB/")):
                merged[-1] += " " + c
            else:
                merged.append(c)
        row = dict(zip(columns, merged))
        out[int(row["PID"])] = row
    return out


def size(text: str) -> float:
    number, unit = re.fullmatch(r"(-?[\d.]+) ?([KMG]?i?B)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    g = Gunicorn(
        tmp_path,
        policy="max_rss=4GiB,sample_interval=100ms",
        workers=2,
        extra_env={
            "WORKERLIFE_POOL": str(tmp_path / "pool"),
            "WORKERLIFE_METRICS": f"127.0.0.1:{free_port()}",
        },
    )
    try:
        yield g.wait_ready()
    finally:
        g.stop()


def metrics_address(g: Gunicorn) -> str:
    for line in g.lines("metrics on http://"):
        return line.split("metrics on http://")[1].split("/")[0]
    raise AssertionError(g.log())


def test_top_shows_every_worker_its_requests_and_growth(gunicorn: Gunicorn, tmp_path: Path) -> None:
    g = gunicorn
    pool = tmp_path / "pool"
    assert pool.exists(), "the hook publishes its pool"
    stop = threading.Event()
    errors: List[BaseException] = []
    last_rss: Dict[int, int] = {}  # what each worker said after its last /leak

    def client() -> None:
        while not stop.is_set():
            try:
                pid, rss = g.get("/leak")  # 1 MiB more in the worker that answers
                last_rss[pid] = max(last_rss.get(pid, 0), rss)
            except (OSError, urllib.error.URLError) as e:
                errors.append(e)
            time.sleep(0.01)

    import workerlife

    def slots() -> List[Dict[str, Any]]:
        return [s for s in workerlife.Pool.attach(pool).stats(vacant=False)["per_slot"] if s["state"] == "running"]

    clients = [threading.Thread(target=client) for _ in range(3)]
    for c in clients:
        c.start()
    try:
        # The span of load the growth estimates are made over (per request,
        # per second, and so the time to max_rss the tables show after it).
        quiet_for(2.5, "load for the growth estimates: no request fails", holds=lambda: not errors)
        # Under load: the binary, from the pool file.
        live = subprocess.run(
            [str(top_binary()), "top", "--once", str(pool)], capture_output=True, text=True, timeout=30
        )
        quiet_for(0.5, "more load after the live table: no request fails", holds=lambda: not errors)
    finally:
        stop.set()
        for c in clients:
            c.join()
    assert errors == []
    assert live.returncode == 0, live.stderr
    assert "workers: 2 running" in live.stdout, live.stdout
    # One more sample after the last request: each worker's sampled RSS at
    # least what it said after its last /leak.
    eventually(lambda: all((s["rss"] or 0) >= last_rss.get(s["pid"], 0) for s in slots()), 10,
               lambda: f"a sample after the last requests: {slots()} {last_rss}", interval=0.05)
    final = subprocess.run(
        [str(top_binary()), "top", "--once", str(pool)], capture_output=True, text=True, timeout=30
    )
    from_endpoint = subprocess.run(
        [sys.executable, "-m", "workerlife", "top", "--once", metrics_address(g)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert from_endpoint.returncode == 0, from_endpoint.stderr
    workers = {int(line.split()[-1]) for line in _worker_pids(g)}
    for table in (final.stdout, from_endpoint.stdout):
        by_pid = rows(table)
        assert set(by_pid) == workers, table
        for pid, row in by_pid.items():
            assert row["STATE"] == "running"
            assert int(row["REQS"]) > 20, table
            # Each /leak keeps 1 MiB (and the bytes object's header).
            assert abs(size(row["GROW/REQ"]) - MIB) <= 0.1 * MIB, table
            assert size(row["RSS"]) > 20 * MIB
            assert row["TO-LIMIT"] != "-", table  # growing toward max_rss
    g.stop()
    assert not pool.exists(), "removed when gunicorn stops"


def _worker_pids(g: Gunicorn) -> List[str]:
    """gunicorn's "Booting worker with pid: N" lines."""
    return g.lines("Booting worker with pid")


def test_top_names_a_bad_source() -> None:
    r = subprocess.run([str(top_binary()), "top", "--once", "/nonexistent/pool"], capture_output=True, text=True)
    assert r.returncode == 1 and "/nonexistent/pool" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "workerlife", "top", "--once", "--interval", "nan", "x"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "nan" in r.stderr
    r = subprocess.run([str(top_binary()), "top", "--interval", "0", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "expected seconds" in r.stderr


def reqs_in(frame: str) -> int:
    """This process's REQS in a frame of `top`."""
    return int(rows(frame)[os.getpid()]["REQS"])


def test_top_refreshes_in_place_until_stopped(tmp_path: Path) -> None:
    import workerlife

    pool = workerlife.Pool.create(tmp_path / "pool", "max_rss=1GiB", slots=2)
    w = pool.claim(os.getpid())
    clear = "\x1b[H\x1b[2J"
    for cmd in ([str(top_binary()), "top", "--interval", "0.1", str(tmp_path / "pool")],
                [sys.executable, "-m", "workerlife", "top", "--interval", "0.1", str(tmp_path / "pool")]):
        before = w.requests
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        got: List[bytes] = []
        assert p.stdout is not None
        reader = threading.Thread(target=lambda: got.extend(iter(p.stdout.read1, b"")))  # type: ignore[union-attr]
        reader.start()

        def done_frames() -> List[str]:
            """The frames drawn so far, each followed by the next."""
            return b"".join(got).decode().split(clear)[1:-1]

        try:
            eventually(lambda: len(done_frames()) >= 3, 10, lambda: f"3 frames: {b''.join(got)!r}")
            w.begin()
            w.end()  # seen by the next refresh
            eventually(lambda: len(done_frames()) >= 5 and reqs_in(done_frames()[-1]) == before + 1, 10,
                       lambda: f"a frame with the request: {b''.join(got)!r}")
        finally:
            p.terminate()
            p.wait(timeout=10)
            reader.join(timeout=10)
        out = b"".join(got).decode()
        frames = out.split(clear)[1:]
        assert len(frames) >= 5, out
        assert all(f.startswith("workerlife top: ") for f in frames)
        reqs = [reqs_in(f) for f in frames]
        assert reqs[0] == before and reqs[-1] == before + 1, reqs


class Hostile:
    """A real HTTP server on a local port that answers every connection with
    `answer(conn, stop)`; stopped (every connection closed) by the test."""

    def __init__(self, answer: Callable[[socket.socket, threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.answer = answer
        self.threads: List[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept)
        self.accepting.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            t = threading.Thread(target=self._serve, args=(conn,))
            t.start()
            self.threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request
                self.answer(conn, self.stop)
            except OSError:
                pass  # the client gave up: what the test wants

    def close(self) -> None:
        self.stop.set()
        self.accepting.join()
        for t in self.threads:
            t.join()
        self.listener.close()


def drip(conn: socket.socket, stop: threading.Event) -> None:
    """One byte of a valid answer every 2 s: never done, never idle 5 s."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
        if stop.wait(2.0):
            return
        conn.sendall(bytes([byte]))


def endless(conn: socket.socket, stop: threading.Event) -> None:
    """A body that never ends."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
    chunk = b"0," * 65536
    while not stop.is_set():
        conn.sendall(chunk)


HOSTILE_STATS = {
    "workers": {"running": 1},
    "recycles": {"\x1b]0;owned\x07": 3},
    "per_slot": [
        {"slot": 0, "pid": 7, "state": "\x1b[2J\x1b[31mrunning\u202e", "requests": 1, "uptime": 1.0,
         "growth": {}, "last_exit": "y" * 65536},
        {"slot": 1, "pid": "\x1b[H", "state": "x" * 65536, "requests": 2, "uptime": 1.0, "growth": None,
         "last_exit": "crash\r\x9b"},
    ],
}


def escapes(conn: socket.socket, stop: threading.Event) -> None:
    import json

    body = json.dumps(HOSTILE_STATS).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def top_commands(source: str) -> List[List[str]]:
    return [[str(top_binary()), "top", "--once", source], [sys.executable, "-m", "workerlife", "top", "--once", source]]


@pytest.mark.parametrize("answer", [drip, endless], ids=["a-byte-every-2s", "an-endless-body"])
def test_top_gives_up_on_an_endpoint_that_never_finishes(answer: Callable[[socket.socket, threading.Event], None]) -> None:
    server = Hostile(answer)
    try:
        for cmd in top_commands(server.address):
            # Within its 5 s deadline and 64 MiB cap, each says why and ends.
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, (cmd, r.stdout[:200], r.stderr)
            assert server.address in r.stderr, r.stderr
            assert len(r.stderr) < 1000, r.stderr[:2000]
    finally:
        server.close()


def test_top_prints_no_terminal_escape_from_a_hostile_endpoint() -> None:
    server = Hostile(escapes)
    try:
        for cmd in top_commands(server.address):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, (cmd, r.stderr)
            assert not [c for c in r.stdout if c != "\n" and (ord(c) < 32 or 0x7F <= ord(c) < 0xA0)], r.stdout
            assert "\u202e" not in r.stdout
            assert "\\x1b[2J\\x1b[31mrunning\\u{202e}" in r.stdout, r.stdout
            assert "\\x1b]0;owned\\x07 3" in r.stdout, r.stdout
            assert max(len(line) for line in r.stdout.splitlines()) < 600, r.stdout
    finally:
        server.close()


def test_top_lists_a_pool_of_a_million_slots_by_its_workers(tmp_path: Path) -> None:
    import json

    import workerlife

    pool = workerlife.Pool.create(tmp_path / "pool", "max_rss=1GiB", slots=1 << 20)
    w = pool.claim(os.getpid())
    w.begin()
    w.end()
    compact = pool.stats(vacant=False)
    assert compact["workers"]["vacant"] == (1 << 20) - 1
    assert [s["pid"] for s in compact["per_slot"]] == [os.getpid()]
    assert len(json.loads(pool.stats_json())["per_slot"]) == 1 << 20
    for cmd in top_commands(str(tmp_path / "pool")):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"{(1 << 20) - 1} vacant" in r.stdout
        assert list(rows(r.stdout)) == [os.getpid()], r.stdout
