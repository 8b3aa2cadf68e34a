"""``python -m workerlife top ...``: the command line (see ``workerlife.top``);
``--version`` prints the version, as ``workerlife --version`` does."""

from __future__ import annotations

import sys

from . import __version__
from .top import main


def run(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(f"workerlife {__version__}")
        return 0
    if not argv or argv[0] != "top":
        print("usage: python -m workerlife top SOURCE [--once] [--interval SECONDS] | --version", file=sys.stderr)
        return 2
    return main(argv[1:])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
