"""The wheel `make wheel` builds, installed as a user would: into a fresh
virtualenv, on a PATH with no Rust toolchain, then used from Python and from
a real gunicorn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Set

from server import free_port
from waiting import eventually

REPO = Path(__file__).resolve().parents[3]
NO_RUST = "/usr/local/bin:/usr/bin:/bin"


def pinned(name: str) -> str:
    text = (REPO / "bindings/python/requirements-dev.txt").read_text()
    m = re.search(rf"^{name}==(\S+)$", text, re.M)
    assert m is not None, name
    return f"{name}=={m.group(1)}"


def test_the_wheel_installs_and_works_without_rust(tmp_path: Path) -> None:
    wheels = sorted((REPO / "dist").glob("workerlife-*-cp39-abi3-manylinux_2_28_*.whl"))
    assert len(wheels) == 1, f"expected the one wheel `make wheel` builds in dist/, found {wheels}"
    assert shutil.which("cargo", path=NO_RUST) is None and shutil.which("rustc", path=NO_RUST) is None
    env = {"PATH": NO_RUST, "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    py = str(venv / "bin" / "python")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheels[0]), pinned("gunicorn")],
        check=True,
        env=env,
    )
    smoke = (
        "import workerlife\n"
        "pool = workerlife.Pool('max_requests=2', slots=1)\n"
        "w = pool.claim()\n"
        "w.begin(); w.end(); w.begin(); w.end()\n"
        "assert str(w.decision()) == 'max_requests: 2 >= 2', w.decision()\n"
        "print(workerlife.__version__, workerlife.__file__)\n"
    )
    out = subprocess.run([py, "-c", smoke], check=True, env=env, capture_output=True, text=True).stdout
    assert str(venv) in out, out  # the wheel's package, not the repository's

    port = free_port()
    log = tmp_path / "gunicorn.log"
    gunicorn = subprocess.Popen(
        [py, "-m", "gunicorn", "--chdir", str(Path(__file__).parent), "-b", f"127.0.0.1:{port}", "-w", "2",
         "--error-logfile", str(log), "-c", "python:workerlife.gunicorn", "apps:app"],
        env={**env, "WORKERLIFE_POLICY": "max_requests=3,max_concurrent_recycles=0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pids: Set[int] = set()

        def recycled() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    pids.add(int(r.read().split()[0]))
            except OSError:
                pass  # not serving yet
            return len(pids) >= 3

        eventually(recycled, 30, lambda: f"workers recycled: {pids}\n{log.read_text()}", interval=0.05)
        text = log.read_text()
        assert "workerlife on for gunicorn (sync): policy max_requests=3" in text, text
        # Logged by the worker itself before it leaves (the master's event
        # lines may come a tick later).
        assert "leaving after this request: max_requests: 3 >= 3" in text, text
    finally:
        gunicorn.send_signal(15)
        try:
            gunicorn.wait(timeout=20)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
            gunicorn.wait()
        try:
            os.killpg(gunicorn.pid, 9)  # whatever of its group is left
        except ProcessLookupError:
            pass
