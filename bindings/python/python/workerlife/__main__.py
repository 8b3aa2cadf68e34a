"""``python -m workerlife top ...``: the command line (see ``workerlife.top``)."""

from __future__ import annotations

import sys

from .top import main


def run(argv: list[str]) -> int:
    if not argv or argv[0] != "top":
        print("usage: python -m workerlife top SOURCE [--once] [--interval SECONDS]", file=sys.stderr)
        return 2
    return main(argv[1:])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
