"""`workerlife top` (the Rust binary) and `python -m workerlife top` against a
real gunicorn under load: its pool published as a file (WORKERLIFE_POOL) and
its stats endpoint (WORKERLIFE_METRICS)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from server import Gunicorn, free_port

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

    def client() -> None:
        while not stop.is_set():
            try:
                g.get("/leak")  # 1 MiB more in the worker that answers
            except (OSError, urllib.error.URLError) as e:
                errors.append(e)
            time.sleep(0.01)

    clients = [threading.Thread(target=client) for _ in range(3)]
    for c in clients:
        c.start()
    try:
        time.sleep(2.5)
        # Under load: the binary, from the pool file.
        live = subprocess.run(
            [str(top_binary()), "top", "--once", str(pool)], capture_output=True, text=True, timeout=30
        )
        time.sleep(0.5)
    finally:
        stop.set()
        for c in clients:
            c.join()
    assert errors == []
    assert live.returncode == 0, live.stderr
    assert "workers: 2 running" in live.stdout, live.stdout
    time.sleep(0.3)  # one more sample after the last request
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


def test_top_refreshes_in_place_until_stopped(tmp_path: Path) -> None:
    import workerlife

    pool = workerlife.Pool.create(tmp_path / "pool", "max_rss=1GiB", slots=2)
    w = pool.claim(os.getpid())
    for cmd in ([str(top_binary()), "top", "--interval", "0.1", str(tmp_path / "pool")],
                [sys.executable, "-m", "workerlife", "top", "--interval", "0.1", str(tmp_path / "pool")]):
        before = w.requests
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0)
            w.begin()
            w.end()  # seen by the next refresh
            time.sleep(0.6)
        finally:
            p.terminate()
            out, _ = p.communicate(timeout=10)
        frames = out.split("\x1b[H\x1b[2J")[1:]
        assert len(frames) >= 5, out
        assert all(f.startswith("workerlife top: ") for f in frames)
        reqs = [int(rows(f)[os.getpid()]["REQS"]) for f in frames]
        assert reqs[0] == before and reqs[-1] == before + 1, reqs
