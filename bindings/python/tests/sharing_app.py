"""A WSGI app for the copy-on-write test (gunicorn --preload loads it in the
master): at import it builds about 60 MB of small lists, and with
WL_TEST_GC_FREEZE=1 it ends its import with ``gc.freeze()`` (after the
preload, before the fork), which moves them out of the collector's reach.
Each request runs a full ``gc.collect()``: without the freeze it writes to
every tracked object's header, so the worker copies the pages it inherited."""

import gc
import os
from typing import Any, Callable, Iterable, List

# Lists of lists: most of their bytes are objects the collector tracks.
# What it does not track (the ints, the lists' item arrays) sits in pages
# of its own, which stay shared even without the freeze.
_DATA: List[List[List[int]]] = [[[i], [i + 1]] for i in range(200_000)]
_KEPT: List[bytes] = []


def uss() -> int:
    """This process's unique set size in bytes (Private_Clean +
    Private_Dirty), as the master's sampling reads it."""
    total = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


def app(environ: Any, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Collects, keeps 4 MiB more of its own (written, so resident and
    private: the shared part, RSS less USS, does not move, and a reading
    taken before this request shows 4 MiB less USS), answers "PID USS"."""
    gc.collect()
    _KEPT.append(b"x" * (4 << 20))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{os.getpid()} {uss()}".encode()]


if os.environ.get("WL_TEST_GC_FREEZE") == "1":
    gc.freeze()
