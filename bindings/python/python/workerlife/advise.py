"""``python -m workerlife advise``: advice from measured growth.

Watches a pool (``--pool FILE``, or ``--metrics HOST:PORT``, a stats endpoint)
for ``--for`` (default 60s), a sample every ``--interval`` (default 1s),
optionally saving each sample as a line (``--save FILE``), or reads such a
saved series (``--series FILE``); then prints what the workers' memory does
(start size, growth per request and per hour, whether it follows requests or
time) and, for a target (``--max-worker SIZE``, or ``--container SIZE`` with
``--workers N``, default the workers running), the limits that hold it, the
recycles per hour they cost and the expected p99 cost. The analysis and the
report are the library's, so this prints what the ``workerlife`` binary
prints for the same series (docs/advise.md).

Exit status: 0 advice printed, 1 an error (said on stderr, naming the file
and line or the sample), 2 a usage error, 3 it cannot tell yet (too few
samples, one worker, no requests).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, List, Optional, TextIO

from ._workerlife import AdviseSeries, Pool
from .top import BODY_CAP, fetch

LINE_CAP = BODY_CAP
"""The longest line a series file may hold (64 MiB)."""


def _type(convert: Callable[[str], object]) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1 or int(text) > 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 1")
    return int(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workerlife advise",
        description="Advice from measured growth: watch a pool (or read a saved series), say what its "
        "workers' memory follows, and the limits that hold a target. Exit status: 0 advice printed, "
        "1 an error, 2 a usage error, 3 it cannot tell yet.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--pool", metavar="FILE", help="watch this pool file (WORKERLIFE_POOL)")
    source.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="watch this stats endpoint (WORKERLIFE_METRICS): HOST:PORT, or http://HOST:PORT/stats",
    )
    source.add_argument(
        "--series", metavar="FILE", help="read a saved series: JSON lines, one stats document each (what --save writes)"
    )
    p.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        type=_type(AdviseSeries.seconds),
        default=None,
        help="how long to watch (60s, 5m, 1h30m; a bare number is seconds; default 60s)",
    )
    p.add_argument(
        "--interval",
        metavar="DURATION",
        type=_type(AdviseSeries.seconds),
        default=None,
        help="time between two samples (default 1s)",
    )
    p.add_argument("--save", metavar="FILE", help="while watching, also write each sample to FILE as a line")
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--max-worker", metavar="SIZE", type=_type(AdviseSeries.size), help="the target: each worker's memory at most SIZE"
    )
    target.add_argument(
        "--container",
        metavar="SIZE",
        type=_type(AdviseSeries.size),
        help="the target: the container's memory limit, shared by the workers "
        "(less 10%% headroom and the parent's RSS when the stats hold it)",
    )
    p.add_argument(
        "--workers",
        metavar="N",
        type=_workers,
        help="with --container: the workers it holds (default: those running in the latest sample)",
    )
    return p


def _read_series(path: str) -> AdviseSeries:
    """A saved series; a ValueError names the file and line."""
    series = AdviseSeries()
    with open(path, "rb") as f:
        number = 0
        while True:
            number += 1
            line = f.readline(LINE_CAP + 1)
            if not line:
                return series
            if len(line) > LINE_CAP:
                raise ValueError(f"{path}:{number}: a line longer than {LINE_CAP >> 20} MiB")
            try:
                text = line.decode()
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}:{number}: not UTF-8 ({e})") from None
            if not text.strip():
                continue
            try:
                series.push(text)
            except ValueError as e:
                raise ValueError(f"{path}:{number}: {e}") from None


def _watch(read: Callable[[], str], name: str, duration: float, interval: float, save: Optional[TextIO]) -> AdviseSeries:
    """Samples every `interval` for `duration`; a ValueError names the sample."""
    print(f"workerlife advise: watching {name} for {duration:g}s, a sample every {interval:g}s", file=sys.stderr)
    series = AdviseSeries()
    start = time.monotonic()
    n = 0
    while True:
        n += 1
        try:
            text = read().strip()
        except Exception as e:  # an endpoint's errors name its URL already
            message = str(e)
            raise ValueError(
                f"{name}: sample {n}{message[len(name):]}" if message.startswith(name) else f"{name}: sample {n}: {message}"
            ) from None
        try:
            series.push(text)
        except ValueError as e:
            raise ValueError(f"{name}: sample {n}: {e}") from None
        if save is not None:
            save.write(text + "\n")
            save.flush()  # what was sampled is kept if the watch is interrupted
        following = interval * n
        if following > duration:
            return series
        wait = start + following - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def main(argv: Optional[List[str]] = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.workers is not None and args.container is None:
        p.error("--workers goes with --container")
    if args.series is not None and (args.save or args.duration is not None or args.interval is not None):
        p.error("--series reads a saved series: --for, --interval and --save are for watching")
    duration = 60.0 if args.duration is None else args.duration
    interval = 1.0 if args.interval is None else args.interval
    try:
        if args.series is not None:
            series = _read_series(args.series)
            name = args.series
        else:
            if args.pool is not None:
                pool = Pool.attach(args.pool)
                name = args.pool

                # Vacant slots counted, not listed (as top reads a pool).
                def read() -> str:
                    return pool.stats_json(vacant=False)

            else:
                m = args.metrics
                name = m if m.startswith("http://") else f"http://{m}/stats"

                def read() -> str:
                    return fetch(name)

            if args.save is not None:
                with open(args.save, "w") as save:
                    series = _watch(read, name, duration, interval, save)
            else:
                series = _watch(read, name, duration, interval, None)
        code, text = series.report(name, args.max_worker, args.container, args.workers)
    except KeyboardInterrupt:
        return 1
    except Exception as e:  # one line for the operator, not a traceback
        print(f"workerlife: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
