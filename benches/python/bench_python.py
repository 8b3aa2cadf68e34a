"""Python benchmarks: they print ratios against baselines measured in the
same run and assert nothing (docs/benchmarks.md).

1. begin()+end() against gunicorn's per-loop heartbeat (os.utime on its
   temp file; goal: >= 20x cheaper) and against two calls of a builtin
   no-op method (goal: <= 3x).
2. One sample of another pid (RSS + open FDs) against psutil
   memory_info().rss + num_fds() (goal: >= 5x faster), and USS/PSS against
   psutil memory_full_info() (goal: >= 4x faster).
3. gunicorn hello-world requests/s with and without the hook, under wrk
   when it is installed (goal: <= 3 % lost).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Callable, Dict, List, Optional

import psutil  # type: ignore[import-untyped]

import workerlife

REPO = Path(__file__).resolve().parents[2]

# BENCH_QUICK=1 (what CI runs): one round of each measurement and wrk runs
# of 2 s, each ratio still against its baseline measured in the same run;
# the full rounds are what docs/benchmarks.md quotes. BENCH_ROUNDS sets the
# rounds of the server runs either way.
QUICK = os.environ.get("BENCH_QUICK") == "1"


def repeats(full: int) -> int:
    """How many times to repeat an in-process measurement."""
    return 1 if QUICK else full


def rounds(full: int) -> int:
    """How many alternating rounds of server runs."""
    if "BENCH_ROUNDS" in os.environ:
        return int(os.environ["BENCH_ROUNDS"])
    return 1 if QUICK else full


def run_seconds(full: int) -> int:
    """How long one wrk run lasts."""
    return min(full, 2) if QUICK else full


def best_ns(stmt: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Best time per call in ns over `repeat` runs of `number` calls."""
    return min(timeit.repeat(stmt, number=number, repeat=repeats(repeat))) / number * 1e9


def loop_ns(body: str, setup: str, glb: Dict[str, object], number: int = 1_000_000) -> float:
    """Best ns per iteration of `body` in a timeit loop (locals bound in setup)."""
    return min(timeit.repeat(body, setup=setup, globals=glb, number=number, repeat=repeats(7))) / number * 1e9


def hot_path() -> None:
    pool = workerlife.Pool(slots=1)
    w = pool.claim()
    tmp = tempfile.TemporaryFile()
    fd = tmp.fileno()
    empty: List[int] = []
    glb: Dict[str, object] = {"w": w, "fd": fd, "empty": empty, "os": os, "time": time}
    nothing = loop_ns("pass", "", glb)
    ours = loop_ns("b(); e()", "b = w.begin; e = w.end", glb)
    ctx = loop_ns("with r():\n    pass", "r = w.request", glb)
    noop = loop_ns("c(); c()", "c = empty.clear", glb)
    utime = loop_ns("u(fd, (m(), m()))", "u = os.utime; m = time.monotonic", glb, number=200_000)
    print("hot path (ns per iteration, timeit loop overhead included)")
    print(f"  empty loop                                 {nothing:8.1f} ns")
    print(f"  two builtin no-op calls ([].clear x2)      {noop:8.1f} ns")
    print(f"  begin() + end()                            {ours:8.1f} ns   = {ours / noop:.2f}x the no-op calls (goal <= 3x)")
    print(f"  with worker.request():                     {ctx:8.1f} ns   = {ctx / noop:.2f}x")
    print(f"  gunicorn heartbeat os.utime(tmp fd)        {utime:8.1f} ns   = {utime / ours:.1f}x begin+end (goal >= 20x)")
    tmp.close()


def sampling() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; x = b'x' * (64 << 20); sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    try:
        pid = child.pid
        # Until the child holds its 64 MiB.
        while (workerlife.sample(pid).rss or 0) < 64 << 20:
            time.sleep(0.01)
        ps = psutil.Process(pid)
        kept = workerlife.Process(pid)
        n = 2000

        def psutil_basic() -> object:
            return (ps.memory_info().rss, ps.num_fds())

        def psutil_full() -> object:
            return ps.memory_full_info().uss

        ours_kept = best_ns(kept.sample, n)
        ours_once = best_ns(lambda: workerlife.sample(pid), n)
        theirs = best_ns(psutil_basic, n)
        ours_uss = best_ns(lambda: kept.sample(uss=True), n // 4)
        theirs_uss = best_ns(psutil_full, n // 4)
        print("\nsampling another pid (64 MiB resident)")
        print(f"  psutil memory_info().rss + num_fds()       {theirs / 1e3:8.2f} µs")
        print(f"  workerlife.Process(pid).sample() (kept)    {ours_kept / 1e3:8.2f} µs   = {theirs / ours_kept:.1f}x faster (goal >= 5x)")
        print(f"  workerlife.sample(pid) (opens each time)   {ours_once / 1e3:8.2f} µs   = {theirs / ours_once:.1f}x faster")
        print(f"  psutil memory_full_info()                  {theirs_uss / 1e3:8.2f} µs")
        print(f"  workerlife USS/PSS (kept)                  {ours_uss / 1e3:8.2f} µs   = {theirs_uss / ours_uss:.1f}x faster (goal >= 4x)")
    finally:
        child.kill()
        child.wait()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk_output(args: List[str], env: Dict[str, str], port: int, seconds: int, *wrk_flags: str) -> str:
    """What wrk -c8 prints against the server `args` starts on `port` (its
    own session, ended with every process of it). bench_recycling.py uses
    it too."""
    import socket

    server = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if c.recv(16).startswith(b"HTTP/1."):
                        break
            except OSError:
                time.sleep(0.05)
        return subprocess.run(
            ["wrk", "-t1", "-c8", f"-d{seconds}s", *wrk_flags, f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        try:
            os.killpg(server.pid, 9)
        except ProcessLookupError:
            pass


def wrk_rps(args: List[str], env: Dict[str, str], port: int, seconds: int) -> float:
    """Requests/s of wrk -c8 against the server `args` starts on `port`."""
    out = wrk_output(args, env, port, seconds)
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(out)


def gunicorn_rps(hook: bool, seconds: int, port: int, app_dir: Path) -> float:
    env = {**os.environ, "WORKERLIFE_POLICY": "max_requests=100000,max_rss=1GiB"}
    args = [sys.executable, "-m", "gunicorn", "--chdir", str(app_dir), "-w", "2",
            "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    if hook:
        args += ["-c", "python:workerlife.gunicorn"]
    args.append("hello:app")
    return wrk_rps(args, env, port, seconds)


def end_to_end() -> None:
    if shutil.which("wrk") is None:
        print("\ngunicorn requests/s: wrk is not installed (apt-get install wrk); skipped")
        return
    with tempfile.TemporaryDirectory() as d:
        app_dir = Path(d)
        (app_dir / "hello.py").write_text(
            "def app(environ, start_response):\n"
            "    start_response('200 OK', [('Content-Length', '2')])\n"
            "    return [b'ok']\n"
        )
        port = free_port()
        n, seconds = rounds(5), run_seconds(3)
        without: List[float] = []
        with_: List[float] = []
        # Alternate, so drift on a shared machine hits both alike.
        for _ in range(n):
            without.append(gunicorn_rps(False, seconds, port, app_dir))
            with_.append(gunicorn_rps(True, seconds, port, app_dir))
        a, b = statistics.median(without), statistics.median(with_)
        print(f"\ngunicorn hello world, 2 sync workers, wrk -c8 (median of {n} alternating {seconds} s runs)")
        print(f"  without workerlife                         {a:8.0f} req/s  {[round(x) for x in without]}")
        print(f"  with workerlife.gunicorn                   {b:8.0f} req/s  {[round(x) for x in with_]}")
        print(f"  lost                                       {100 * (a - b) / a:8.1f} %   (goal <= 3 %)")


def uvicorn_rps(app: str, seconds: int, port: int, app_dir: Path) -> float:
    env = {**os.environ, "WORKERLIFE_POLICY": "max_requests=100000,max_rss=1GiB,request_timeout=30s"}
    env.pop("WORKERLIFE_POOL", None)
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--workers", "2",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log", app]
    return wrk_rps(args, env, port, seconds)


# A bare ASGI hello world (`app`) and the same in the middleware
# (`wrapped`), as a module for uvicorn; bench_asgi.py uses it too.
HELLO_ASGI = (
    "from workerlife.asgi import WorkerLife\n"
    "async def app(scope, receive, send):\n"
    "    if scope['type'] != 'http':\n"
    "        return\n"
    "    await send({'type': 'http.response.start', 'status': 200,\n"
    "                'headers': [(b'content-length', b'2')]})\n"
    "    await send({'type': 'http.response.body', 'body': b'ok'})\n"
    "wrapped = WorkerLife(app)\n"
)


def asgi_end_to_end() -> None:
    """uvicorn --workers 2, a bare ASGI hello world, with and without the
    middleware (and so each worker's watchdog)."""
    if shutil.which("wrk") is None:
        return
    with tempfile.TemporaryDirectory() as d:
        app_dir = Path(d)
        (app_dir / "hello_asgi.py").write_text(
            HELLO_ASGI
            + "# The baseline: the app with only the middleware's TCP_NODELAY fix.\n"
            "from workerlife.uvicorn_process import listening_fds, no_delay\n"
            "fixed = False\n"
            "async def nodelay(scope, receive, send):\n"
            "    global fixed\n"
            "    if not fixed:\n"
            "        fixed = no_delay(listening_fds(bound=True))\n"
            "    await app(scope, receive, send)\n"
        )
        port = free_port()
        n, seconds = rounds(5), run_seconds(3)
        bare = uvicorn_rps("hello_asgi:app", seconds, port, app_dir)
        without: List[float] = []
        with_: List[float] = []
        for _ in range(n):
            without.append(uvicorn_rps("hello_asgi:nodelay", seconds, port, app_dir))
            with_.append(uvicorn_rps("hello_asgi:wrapped", seconds, port, app_dir))
        a, b = statistics.median(without), statistics.median(with_)
        # Each pair runs back to back: the median of the pairs' ratios
        # cancels the drift of a busy 2-core machine better than the ratio
        # of the medians.
        paired = statistics.median(w / o for o, w in zip(without, with_))
        print(f"\nuvicorn --workers 2, ASGI hello world, wrk -c8 (median of {n} alternating {seconds} s runs)")
        print(f"  uvicorn as it comes (Nagle on: 40 ms ACKs) {bare:8.0f} req/s")
        print(f"  with TCP_NODELAY only (the baseline)       {a:8.0f} req/s  {[round(x) for x in without]}")
        print(f"  with workerlife.asgi.WorkerLife            {b:8.0f} req/s  {[round(x) for x in with_]}")
        print(f"  lost (ratio of the medians)                {100 * (a - b) / a:8.1f} %")
        print(f"  lost (median of the paired runs)           {100 * (1 - paired):8.1f} %   (goal <= 3 %)")


def main(argv: Optional[List[str]] = None) -> None:
    hot_path()
    sampling()
    end_to_end()
    asgi_end_to_end()


if __name__ == "__main__":
    main()
