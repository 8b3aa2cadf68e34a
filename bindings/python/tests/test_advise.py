"""``python -m workerlife advise`` (and the ``workerlife`` binary, which
prints the same report) on a real pool: forked workers that boot to a known
size, then leak 1 MiB per request at different rates with idle spells,
supervised by this process while ``advise --pool`` watches the pool file and
saves the series. Then the saved series read back by both front ends, and
bad input: a garbled line, too few samples, a hostile stats endpoint, a
usage error."""

from __future__ import annotations

import http.server
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Tuple

from workerlife import Pool, sample

REPO = Path(__file__).resolve().parents[3]
MIB = 1 << 20
BOOT = 20 * MIB
BOOT_TIME = 0.3
WATCH = 5.0
CEILING = 96 * MIB


def binary() -> Path:
    """The `workerlife` binary, built when missing (`make` builds it)."""
    path = REPO / "target" / "release" / "workerlife"
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "workerlife-cli"], cwd=REPO, check=True)
    return path


def run(args: List[str], rust: bool = False, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
    cmd = [str(binary()), "advise"] if rust else [sys.executable, "-m", "workerlife", "advise"]
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=timeout)


def leaking_worker(pool: Pool, slot: int, rate: float, period: float, report: int) -> int:
    """Forks a worker in `slot` that boots (holds BOOT, written; says its USS
    on `report`), then from BOOT_TIME serves `rate` requests a second in the
    first half of every `period`, each leaking 1 MiB it writes, until the
    watch is over; then it waits to be killed."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        start = time.monotonic()
        w = pool.slot(slot)
        kept = [b"\x01" * BOOT]
        uss = sample(os.getpid(), uss=True).uss
        os.write(report, struct.pack("Q", uss or 0))
        t = BOOT_TIME
        while t < WATCH + 2:
            if (t / period) % 1.0 >= 0.5:
                t = (int(t / period) + 1) * period
                continue
            wait = start + t - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with w.request():
                kept.append(b"\x01" * MIB)
            t += 1.0 / rate
        time.sleep(60)
    finally:
        os._exit(0)


def watch(tmp: Path) -> Tuple[Path, float, "subprocess.CompletedProcess[str]"]:
    """The pool watched live: the saved series, the workers' median USS at
    boot, and the run's result."""
    path, saved = tmp / "pool", tmp / "series.jsonl"
    # max_uss (far off) so the master's sampling reads USS.
    pool = Pool.create(path, "max_uss=64GiB,sample_interval=100ms", slots=3)
    r, wfd = os.pipe()
    pids = []
    try:
        for slot, (rate, period) in enumerate([(4.0, 1.0), (8.0, 2.0), (12.0, 1.5)]):
            pid = leaking_worker(pool, slot, rate, period, wfd)
            pids.append(pid)
            pool.spawned(slot, pid)
        os.close(wfd)
        boot = sorted(struct.unpack("Q", os.read(r, 8))[0] for _ in pids)
        os.close(r)
        proc = subprocess.Popen(
            [sys.executable, "-m", "workerlife", "advise", "--pool", str(path), "--for", f"{WATCH}s"]
            + ["--interval", "250ms", "--save", str(saved), "--max-worker", f"{CEILING}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The master's part while it watches: ticks, which sample each
        # worker's USS (until it is done, or plainly stuck).
        deadline = time.monotonic() + WATCH + 60
        while proc.poll() is None and time.monotonic() < deadline:
            pool.tick()
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
        return saved, float(boot[1]), subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        for pid in pids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def line(text: str, head: str) -> str:
    found = [x for x in text.splitlines() if x.startswith(head)]
    assert len(found) == 1, text
    return found[0]


def test_a_live_pool_leaking_per_request_is_advised_max_requests(tmp_path: Path) -> None:
    """One test, so that a parallel run watches one pool, once: the live
    run, then its saved series read by both front ends, then bad input made
    from it."""
    saved, boot, live = watch(tmp_path)
    print(live.stdout)
    assert live.returncode == 0, live.stdout + live.stderr
    assert "follows: requests" in live.stdout
    assert line(live.stdout, "memory:").startswith("memory: uss")
    policy = line(live.stdout, "policy: ")
    assert policy.startswith("policy: max_uss=96MiB,max_requests=")
    advised = int(policy.rsplit("=", 1)[1])
    truth = (CEILING - boot) / MIB
    print(f"max_requests: advised {advised}, truth {truth:.0f}")
    assert abs(advised - truth) <= 0.1 * truth
    assert len(saved.read_text().splitlines()) >= 20
    both_front_ends_print_the_same_report_of_a_saved_series(saved, live)
    bad_input_is_named_and_too_little_is_not_yet(saved, tmp_path)


def both_front_ends_print_the_same_report_of_a_saved_series(
    saved: Path, live: "subprocess.CompletedProcess[str]"
) -> None:
    args = ["--series", str(saved), "--max-worker", "96MiB"]
    py, rust = run(args), run(args, rust=True)
    assert py.returncode == rust.returncode == 0, py.stderr + rust.stderr
    assert py.stdout == rust.stdout
    # The same documents as the live run: the same figures, under another name.
    assert py.stdout.splitlines()[1:] == live.stdout.splitlines()[1:]
    # Without a target: the findings only.
    py = run(["--series", str(saved)])
    assert py.returncode == 0 and "target: none given" in py.stdout
    assert "policy:" not in py.stdout


def bad_input_is_named_and_too_little_is_not_yet(saved: Path, tmp_path: Path) -> None:
    docs = saved.read_text().splitlines()
    garbled, short = tmp_path / "garbled.jsonl", tmp_path / "short.jsonl"
    garbled.write_text(f"{docs[0]}\n{docs[1][: len(docs[1]) // 2]}\n")
    short.write_text(f"{docs[0]}\n{docs[1]}\n")
    for rust in (False, True):
        r = run(["--series", str(garbled)], rust=rust)
        assert r.returncode == 1 and f"{garbled}:2: not JSON" in r.stderr, r.stderr
        r = run(["--series", str(short), "--max-worker", "1GiB"], rust=rust)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "cannot tell yet: 2 samples taken, 3 needed" in r.stdout
        r = run(["--series", str(short), "--workers", "4"], rust=rust)
        assert r.returncode == 2, r.stderr


class Hostile(http.server.BaseHTTPRequestHandler):
    """A stats endpoint whose document is not a pool's."""

    def do_GET(self) -> None:
        body = b'{"per_slot": [{"state": "running", "slot": "\\u001b[2J"}]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_hostile_endpoint_is_an_error_naming_it() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        address = f"127.0.0.1:{server.server_address[1]}"
        for rust in (False, True):
            r = run(["--metrics", address, "--for", "1s"], rust=rust)
            assert r.returncode == 1, r.stdout + r.stderr
            assert f"http://{address}/stats: sample 1: per_slot[0].slot: expected a whole number" in r.stderr
            assert "\x1b" not in r.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
