"""The shared test-vector runner (docs/design.md, "Test vectors"), for Python:
the same cases the Rust, C and Perl suites run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import workerlife

REPO = Path(__file__).resolve().parents[3]


def vector_files() -> List[Path]:
    dirs = [REPO / "tests" / "vectors"]
    extra = os.environ.get("WORKERLIFE_VECTORS")
    if extra:
        dirs.append(Path(extra))
    files: List[Path] = []
    for d in dirs:
        files.extend(sorted(d.glob("*.json")))
    return files


def cases() -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(file: name, case) for every case."""
    for f in vector_files():
        for case in json.loads(f.read_text()):
            yield f"{f.name}: {case.get('name', '<unnamed>')}", case


class StepFailed(AssertionError):
    pass


GROWTH_FIELDS = ("bytes_per_request", "bytes_per_second", "seconds_to_limit", "requests_to_limit", "samples")


def _same_number(got: Optional[float], want: Optional[float]) -> bool:
    """Equal to 1e-9 relative (the fit is computed in f64 the same way
    everywhere), or both null."""
    if got is None or want is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(abs(want), 1.0)


def pid_of(step: Dict[str, Any]) -> int:
    """A step's pid: a number, or "self" for this process (alive, for
    cases that need a live worker)."""
    pid = step["pid"]
    return os.getpid() if pid == "self" else int(pid)


def run_case(case: Dict[str, Any]) -> None:
    slots = case.get("slots", 1)
    pool = workerlife.Pool(
        case.get("policy", ""), slots=slots, seed=case.get("seed", 0), manual_clock=True
    )
    handles: Dict[int, workerlife.Worker] = {}

    def worker(slot: int) -> workerlife.Worker:
        if slot not in handles:
            handles[slot] = pool.slot(slot)
        return handles[slot]

    steps = case["steps"]
    # Tickets by the name the vector gave them.
    tickets: Dict[str, int] = {}
    if slots == 1 and not any(s["op"] == "spawned" for s in steps):
        pool.spawned(0, os.getpid())
    for i, step in enumerate(steps):
        slot = step.get("slot", 0)
        op = step["op"]

        def fail(msg: str) -> StepFailed:
            return StepFailed(f"step {i} ({json.dumps(step)}): {msg}")

        if op == "request":
            for _ in range(step.get("n", 1)):
                worker(slot).begin()
                worker(slot).end()
        elif op == "begin" and "ticket" in step:
            t = worker(slot).begin_ticket()
            last = bool(t & workerlife.TICKET_LAST)
            if "last" in step and last != step["last"]:
                raise fail(f"last is {last}, expected {step['last']}")
            tickets[step["ticket"]] = t
        elif op == "begin":
            worker(slot).begin()
        elif op == "end" and "ticket" in step:
            # A name never issued is the number the step gives.
            name = step["ticket"]
            if name in tickets:
                t = tickets[name]
            elif "raw" in step:
                t = step["raw"]
            else:
                raise fail(f"no ticket {name!r}")
            refused = step.get("refused") is True
            try:
                worker(slot).end_ticket(t)
            except workerlife.Error as e:
                if not refused:
                    raise fail(f"{type(e).__name__}: {e}") from e
            else:
                if refused:
                    raise fail("ended, expected refused")
        elif op == "end":
            worker(slot).end()
        elif op == "overdue":
            if "expect" not in step:
                raise fail("overdue needs expect")
            got_t = worker(slot).overdue()
            names = sorted(n for n, t in tickets.items() if t & ~workerlife.TICKET_LAST in got_t)
            want_n = sorted(step["expect"])
            if names != want_n or len(got_t) != len(want_n):
                raise fail(f"overdue {names} ({len(got_t)} tickets), expected {want_n}")
        elif op == "advance":
            # Rounded to the nearest microsecond, the pool's unit.
            pool.advance(round(step["secs"] * 1e6) / 1e6)
        elif op == "health":
            worker(slot).report_health(
                rss=step.get("rss"), uss=step.get("uss"), pss=step.get("pss"), fds=step.get("fds")
            )
        elif op == "container":
            pool.report_container(step["working_set"], limit=step.get("limit"))
        elif op == "heartbeat":
            worker(slot).heartbeat()
        elif op == "on_event_loop":
            worker(slot).on_event_loop()
        elif op == "check":
            worker(slot).check(step["ok"])
        elif op == "recycle":
            pool.recycle(slot)
        elif op == "exiting":
            worker(slot).exiting()
        elif op == "ready":
            pool.ready(slot)
        elif op == "spawned":
            pool.spawned(slot, pid_of(step))
        elif op == "claim":
            claimed = pool.claim(pid_of(step)).slot
            if "slot" in step and claimed != slot:
                raise fail(f"claimed slot {claimed}, expected {slot}")
        elif op == "exited":
            pool.exited_slot(slot, step.get("status", 0))
        elif op == "expect":
            d = pool.decision(slot)
            if d.action != step["action"]:
                raise fail(f"action is {d.action} (reason {d.reason}), expected {step['action']}")
            if "reason" in step and d.reason != step["reason"]:
                raise fail(f"reason is {d.reason}, expected {step['reason']}")
            # A continue with a reason is a rule rehearsed (`enforce`):
            # `would`, never `must_exit`, and the engine's text says so.
            would = step["action"] == "continue" and "reason" in step
            if "reason" in step and d.would != would:
                raise fail(f"would is {d.would}, expected {would} ({d})")
            if would and not (str(d).startswith("continue (would ") and f": {d.reason}: " in str(d)):
                raise fail(f"text is {str(d)!r}, expected 'continue (would <action>: {d.reason}: ...)'")
            if d.must_exit != (step["action"] != "continue"):
                raise fail(f"must_exit is {d.must_exit} ({d})")
        elif op == "tick":
            got: List[Tuple[str, int, Optional[str], Optional[int]]] = [
                (a.action, a.slot, a.reason, a.replaces) for a in pool.tick()
            ]
            left = list(got)
            for w in step["expect"]:
                match: Optional[Tuple[str, int, Optional[str], Optional[int]]] = next(
                    (
                        g
                        for g in left
                        if g[0] == w["action"]
                        and g[1] == w.get("slot", 0)
                        and ("reason" not in w or g[2] == w["reason"])
                        and ("replaces" not in w or g[3] == w["replaces"])
                    ),
                    None,
                )
                if match is None:
                    raise fail(f"tick returned {got}, missing {w}")
                left.remove(match)
            if left:
                raise fail(f"tick returned {got}, unexpected {left}")
        elif op == "growth":
            got_g = json.loads(pool.stats_json())["per_slot"][slot]["growth"]
            if step.get("none"):
                if got_g is not None:
                    raise fail(f"growth is {got_g}, expected none")
            else:
                for key in GROWTH_FIELDS:
                    if key in step and not _same_number(got_g[key], step[key]):
                        raise fail(f"growth {key} is {got_g[key]}, expected {step[key]}")
        elif op == "next_spawn":
            got_s = pool.next_spawn_in()
            got_us = None if got_s is None else round(got_s * 1e6)
            want = step.get("secs")
            want_us = None if want is None else round(want * 1e6)
            if got_us != want_us:
                raise fail(f"next spawn in {got_us} µs, expected {want_us}")
        else:
            raise fail(f"unknown op {op!r}")
