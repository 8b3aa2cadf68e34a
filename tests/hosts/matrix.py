"""Runs every scenario against every host (hosts in parallel, each host's
scenarios one after another), and renders the result: JSON, and the
markdown table that docs/hosts.md holds between its markers."""

from __future__ import annotations

import json
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List

from harness import ROOT, Group, tail
from hosts import HOSTS, Host, Server
from scenarios import SCENARIOS, SHARED_POLICY, Cell, Scenario, fail, serve_or_raise

PAGE = ROOT / "docs" / "hosts.md"
BEGIN = "<!-- hosts-matrix:begin (WORKERLIFE_HOSTS_WRITE=1 make hosts-test writes this block) -->"
END = "<!-- hosts-matrix:end -->"
# Hosts started at once: each host's scenarios run one after another.
JOBS = int(os.environ.get("WORKERLIFE_HOSTS_JOBS", "3"))

Matrix = Dict[str, Dict[str, Cell]]  # scenario id -> host name -> cell


def selected() -> List[Host]:
    """The hosts this run covers: every one, or those named (comma
    separated) in ``WORKERLIFE_HOSTS``, for working on one host; a name
    that is no host is an error naming the names there are."""
    names = [n.strip() for n in os.environ.get("WORKERLIFE_HOSTS", "").split(",") if n.strip()]
    if not names:
        return HOSTS
    known = {h.name: h for h in HOSTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"WORKERLIFE_HOSTS: no host {unknown}; the hosts are {sorted(known)}")
    return [known[n] for n in names]


def timed(run: Callable[[], Cell]) -> Cell:
    started = time.monotonic()
    try:
        cell = run()
    except Exception as e:  # a driver that broke is a failed cell, saying why
        cell = fail(f"{e!r}\n{tail(traceback.format_exc())}")
    cell.seconds = round(time.monotonic() - started, 2)
    return cell


def run_host(host: Host) -> Dict[str, Cell]:
    """Each scenario of the list against ``host``: those with a start of
    their own in turn, those of the shared start together at the place of
    the first of them."""
    cells: Dict[str, Cell] = {}
    shared = [s for s in SCENARIOS if s.shared is not None]
    for s in SCENARIOS:
        if s.own is not None:
            own = s.own
            cells[s.id] = timed(lambda: own(host))
        elif s.id not in cells:
            cells.update(run_shared(host, shared))
    return cells


def run_shared(host: Host, shared: List[Scenario]) -> Dict[str, Cell]:
    cells: Dict[str, Cell] = {}
    started = time.monotonic()
    server: "Server | None" = None
    try:
        server = host.start(SHARED_POLICY, metrics=host.metrics is not None)
        serve_or_raise(server)
    except Exception as e:
        why = fail(f"the shared start ({SHARED_POLICY}) failed: {e!r}")
        why.seconds = round(time.monotonic() - started, 2)
        if server is not None:
            server.stop()
        return {s.id: why for s in shared}
    try:
        for s in shared:
            run = s.shared
            assert run is not None
            cells[s.id] = timed(lambda: run(server))
    finally:
        server.stop()
    return cells


def run_all(hosts: List[Host] = HOSTS) -> Matrix:
    try:
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            per_host = dict(zip([h.name for h in hosts], pool.map(run_host, hosts)))
    finally:
        Group.stop_all()
    return {s.id: {h.name: per_host[h.name][s.id] for h in hosts} for s in SCENARIOS}


def markdown(matrix: Matrix, hosts: List[Host] = HOSTS) -> str:
    """The table: a row per host, a column per scenario (numbered as in the
    list under it); each cell pass, **FAIL** or not here with its reason."""
    head = "| host | " + " | ".join(f"{i}. {s.id}" for i, s in enumerate(SCENARIOS, 1)) + " |"
    rule = "| --- |" + " --- |" * len(SCENARIOS)
    rows = [
        f"| {h.name} | " + " | ".join(matrix[s.id][h.name].label() for s in SCENARIOS) + " |" for h in hosts
    ]
    legend = [f"{i}. `{s.id}`: {s.title}." for i, s in enumerate(SCENARIOS, 1)]
    return "\n".join([head, rule, *rows, "", *legend]) + "\n"


def as_json(matrix: Matrix) -> str:
    doc = {
        sid: {h: {"status": c.status, "label": c.label(), "detail": c.detail, "seconds": c.seconds} for h, c in row.items()}
        for sid, row in matrix.items()
    }
    return json.dumps(doc, indent=2) + "\n"


def out_dir() -> Path:
    d = Path(os.environ.get("WORKERLIFE_HOSTS_OUT", str(ROOT / "target" / "hosts")))
    d.mkdir(parents=True, exist_ok=True)
    return d


def rows(table: str) -> Dict[str, str]:
    """A table's rows by host name."""
    return {line.split(" | ", 1)[0][2:]: line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| host |")}


def page_block(text: str) -> str:
    """What docs/hosts.md holds between its markers."""
    if BEGIN not in text or END not in text:
        return ""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_page(table: str, hosts: List[Host] = HOSTS) -> None:
    """Writes ``table`` into the page; for some hosts only, their rows."""
    text = PAGE.read_text()
    if hosts != HOSTS:
        new = rows(table)
        old = page_block(text)
        table = "\n".join(new.get(line.split(" | ", 1)[0][2:], line) if line.startswith("| ") else line for line in old.splitlines()) + "\n"
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    PAGE.write_text(f"{before}{BEGIN}\n{table}{END}{after}")



