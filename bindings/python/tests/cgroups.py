"""A memory cgroup of a test's own, under a limit: cgroup v2 where the
memory controller is there, else v1's memory controller (this machine, and
CI, have v1's). Made by the test (as root) and removed afterwards, every
process in it killed first, even when the test fails."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Iterator, Optional, Tuple

from waiting import eventually

_TEST_DIR = "workerlife-test"


def _mounts() -> Tuple[Optional[Tuple[str, str]], Optional[Tuple[str, str]]]:
    """(v2 root and mount point, v1 memory root and mount point)."""
    v2 = v1 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            if tail[0] == "cgroup2" and v2 is None:
                v2 = (fields[3], fields[4])
            elif tail[0] == "cgroup" and "memory" in tail[2].split(",") and v1 is None:
                v1 = (fields[3], fields[4])
    return v2, v1


def _own_paths() -> Tuple[Optional[str], Optional[str]]:
    """This process's (v2 path, v1 memory path) from /proc/self/cgroup."""
    v2 = v1 = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and controllers == "":
                v2 = path
            elif "memory" in controllers.split(","):
                v1 = path
    return v2, v1


def memory_parent() -> Tuple[Path, str]:
    """Where a test's memory cgroup goes, and its version ("v2" or "v1")."""
    (v2_mount, v1_mount), (v2_path, v1_path) = _mounts(), _own_paths()
    if v2_mount is not None:
        root = Path(v2_mount[1])
        controllers = root / "cgroup.controllers"
        if controllers.exists() and "memory" in controllers.read_text().split():
            # A sibling at the root: v2 allows no process in a cgroup whose
            # children have controllers, except at the root.
            return root, "v2"
    if v1_mount is not None and v1_path is not None:
        rel = v1_path[len(v1_mount[0]) :] if v1_path.startswith(v1_mount[0]) else v1_path
        return Path(v1_mount[1]) / rel.lstrip("/"), "v1"
    raise RuntimeError("no memory cgroup controller on this machine")


def _members(d: Path) -> list[int]:
    try:
        return [int(p) for p in (d / "cgroup.procs").read_text().split()]
    except OSError:
        return []


@contextlib.contextmanager
def memory_cgroup(limit: int, name: str) -> Iterator[Tuple[Path, str]]:
    """A new memory cgroup limited to `limit` bytes: (its directory, "v2" or
    "v1"). On the way out every process in it is killed and it is removed."""
    parent, version = memory_parent()
    d = parent / f"{_TEST_DIR}-{os.getpid()}-{name}"
    if version == "v2":
        sub = parent / "cgroup.subtree_control"
        if "memory" not in sub.read_text().split():
            sub.write_text("+memory\n")
    d.mkdir()
    try:
        if version == "v2":
            (d / "memory.max").write_text(f"{limit}\n")
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0\n")
        else:
            (d / "memory.limit_in_bytes").write_text(f"{limit}\n")
        yield d, version
    finally:

        def emptied() -> bool:
            for pid in _members(d):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return not _members(d)

        def removed() -> bool:
            try:
                d.rmdir()
                return True
            except OSError:
                return False

        eventually(emptied, 20, f"every process of {d} killed", interval=0.05)
        # The kernel may take a moment to let the emptied cgroup go.
        eventually(removed, 20, f"{d} removed", interval=0.05)


def oom_kills(d: Path, version: str) -> int:
    """The cgroup's own count of OOM kills."""
    name = "memory.events" if version == "v2" else "memory.oom_control"
    for line in (d / name).read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def working_set(d: Path, version: str) -> int:
    """Usage minus inactive file cache, as the kubelet counts it."""
    usage_file, inactive = ("memory.current", "inactive_file") if version == "v2" else ("memory.usage_in_bytes", "total_inactive_file")
    usage = int((d / usage_file).read_text())
    for line in (d / "memory.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == inactive:
            return max(0, usage - int(value))
    return usage
