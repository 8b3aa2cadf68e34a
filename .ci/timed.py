"""Times each make target of a run: ``make --trace T 2>&1 | timed.py LABEL FILE``
passes make's output through unchanged and, as each target's recipe ends,
prints how long it took; at the end a line for the whole command, all of it
appended to FILE (tab-separated). ``timed.py --summary FILE [STARTED]`` prints the
run's table from that file (and the wall-clock time since STARTED, seconds
since the epoch).

make --trace names each target as its recipe starts ("Makefile:12: update
target 'lib' due to: ..." or "... target 'lib' does not exist"); a target's
time runs from there to the next target's start (prerequisites run before
their target's recipe, so each span is one recipe). A sub-make's "Entering
directory" and "Leaving directory" lines bracket its targets, so that what
the calling recipe runs after it counts for that recipe again."""

from __future__ import annotations

import re
import sys
import time
from typing import List, Optional, Tuple

TARGET = re.compile(rb"^\S+:\d+: (?:update )?target '([^']+)' (?:does not exist|due to:)")
ENTER = re.compile(rb"^\S*make\[\d+\]: Entering directory")
LEAVE = re.compile(rb"^\S*make\[\d+\]: Leaving directory")


def timed(label: str, record: str) -> int:
    out = sys.stdout.buffer
    start = time.monotonic()
    spans: List[Tuple[str, float]] = []  # (target, seconds), in order of finishing
    current: Optional[str] = None
    since = start
    callers: List[Optional[str]] = []  # the targets whose recipes ran a sub-make

    def close(now: float) -> None:
        if current is not None:
            spans.append((current, now - since))
            out.write(f"ci: {current}: {now - since:.0f} s\n".encode())

    for line in sys.stdin.buffer:
        out.write(line)
        out.flush()
        now = time.monotonic()
        m = TARGET.match(line)
        if m:
            close(now)
            current, since = m.group(1).decode(errors="replace"), now
        elif ENTER.match(line):
            close(now)
            callers.append(current)
            current, since = None, now
        elif LEAVE.match(line):
            close(now)
            current, since = (callers.pop() if callers else None), now
    end = time.monotonic()
    close(end)
    out.write(f"ci: {label}: {end - start:.0f} s\n".encode())
    out.flush()
    with open(record, "a") as f:
        for target, seconds in spans:
            f.write(f"{label}\t{target}\t{seconds:.1f}\n")
        f.write(f"{label}\t\t{end - start:.1f}\n")
    return 0


def summary(record: str, started: Optional[float] = None) -> int:
    """Per command, its targets (a target run twice is summed) and its total;
    then the commands' sum and, given when the run started (seconds since the
    epoch), the wall-clock time, which is less when commands ran side by side."""
    rows: List[Tuple[str, str, float]] = []
    try:
        with open(record) as f:
            for line in f:
                label, target, text = line.rstrip("\n").split("\t")
                rows.append((label, target, float(text)))
    except FileNotFoundError:
        return 0
    print("\nci: time per make target (seconds)")
    grand = 0.0
    for label in dict.fromkeys(r[0] for r in rows):
        sums: dict[str, float] = {}
        for lab, target, seconds in rows:
            if lab == label and target:
                sums[target] = sums.get(target, 0.0) + seconds
        total = sum(s for lab, t, s in rows if lab == label and not t)
        grand += total
        print(f"  {label}: {total:.0f}")
        for target, took in sums.items():
            if took >= 0.5:
                print(f"    {target:<28} {took:6.0f}")
    print(f"  all commands: {grand:.0f} s ({grand / 60:.1f} min)")
    if started is not None:
        wall = time.time() - started
        print(f"  wall clock: {wall:.0f} s ({wall / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        sys.exit(summary(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None))
    sys.exit(timed(sys.argv[1], sys.argv[2]))
