"""Pool files across languages: a pool file made by the Rust, C, Python or
Perl pool tool (examples/pool_tool.*, one protocol) is attached and used by
each of the others, with the same decisions and the same stats; a file of
another layout version is refused by each, naming both versions.

`make cross-test` builds the tools and runs this."""

from __future__ import annotations

import itertools
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS: Dict[str, List[str]] = {
    "rust": [str(REPO / "target" / "release" / "examples" / "pool_tool")],
    "c": [str(REPO / "target" / "c" / "pool_tool")],
    "python": [sys.executable, str(REPO / "examples" / "python" / "pool_tool.py")],
    "perl": ["perl", f"-I{REPO}/bindings/perl/blib/arch", f"-I{REPO}/bindings/perl/blib/lib",
             str(REPO / "examples" / "perl" / "pool_tool.pl")],
}
LANGS = sorted(TOOLS)


class Tool:
    """A running pool tool: one command line in, one reply line out."""

    def __init__(self, lang: str, *args: str) -> None:
        self.lang = lang
        self.proc = subprocess.Popen(
            TOOLS[lang] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.first = self._line()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().rstrip("\n")

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self._line()
        assert not answer.startswith("error"), f"{self.lang}: {command}: {answer}"
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def tools() -> Iterator[List[Tool]]:
    started: List[Tool] = []
    yield started
    for t in started:
        t.close()


def start(tools: List[Tool], lang: str, *args: str) -> Tool:
    t = Tool(lang, *args)
    tools.append(t)
    return t


def shared_view(stats_json: str) -> Dict[str, Any]:
    """What every process of a pool must see alike (uptimes and readings
    differ by when they are read)."""
    st = json.loads(stats_json)
    return {
        "slots": st["slots"],
        "workers": st["workers"],
        "requests_total": st["requests_total"],
        "recycles": st["recycles"],
        "per_slot": [(s["slot"], s["state"], s["pid"], s["generation"], s["requests"]) for s in st["per_slot"]],
    }


@pytest.mark.parametrize("maker,user", list(itertools.product(LANGS, LANGS)))
def test_a_pool_file_made_in_one_language_is_used_from_another(
    tools: List[Tool], tmp_path: Path, maker: str, user: str
) -> None:
    path = str(tmp_path / "pool")
    made = start(tools, maker, "create", path, "max_requests=5,max_concurrent_recycles=0", "3")
    assert made.first == "ready", made.first
    used = start(tools, user, "attach", path)
    assert used.first == "ready", used.first
    # Slot 1 was started by nobody: its first request starts its generation
    # (for the attaching process), so its limit holds.
    assert used.ask("work 1 3") == "ok"
    assert made.ask("decision 1") == used.ask("decision 1") == "continue -"
    assert made.ask("work 1 2") == "ok"  # the fifth request, from the maker
    assert made.ask("decision 1") == used.ask("decision 1") == "recycle max_requests"
    assert used.ask("work 2 1") == "ok"
    view = shared_view(made.ask("stats"))
    assert view == shared_view(used.ask("stats"))
    assert view["per_slot"][1] == (1, "draining", used.proc.pid, 1, 5)
    assert view["per_slot"][2][1:] == ("running", used.proc.pid, 1, 1)
    assert view["recycles"]["max_requests"] == 1
    assert view["workers"] == {"vacant": 1, "running": 1, "draining": 1, "exiting": 0}


def test_a_pool_file_of_another_layout_version_is_refused_naming_both(tools: List[Tool], tmp_path: Path) -> None:
    path = tmp_path / "pool"
    made = start(tools, "rust", "create", str(path), "max_requests=5", "2")
    assert made.first == "ready"
    with open(path, "r+b") as f:  # magic (8 bytes), the layout version, the writer's version
        f.seek(8)
        (version,) = struct.unpack("=I", f.read(4))
        release = f.read(16).rstrip(b"\0").decode()
        assert release == workspace_version(), "the file names the build that made it"
        f.seek(8)
        f.write(struct.pack("=I", 99))
    for lang in LANGS:
        t = start(tools, lang, "attach", str(path))
        assert t.first.startswith("error"), (lang, t.first)
        assert f"layout version 99 (made by workerlife {release}; this library, workerlife {release}, reads {version})" in t.first, (lang, t.first)
        assert t.proc.wait(timeout=10) == 1
    assert os.path.getsize(path) > 0, "the refused file is left as it was"


def workspace_version() -> str:
    m = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    assert m is not None
    return m.group(1)
