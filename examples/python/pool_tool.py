"""One of four pool tools (Rust, C, Python, Perl) that speak the same lines;
see examples/pool_tool.rs for the protocol."""

from __future__ import annotations

import sys

import workerlife


def command(pool: workerlife.Pool, line: str) -> str:
    words = line.split()
    if len(words) == 3 and words[0] == "work":
        w = pool.slot(int(words[1]))
        for _ in range(int(words[2])):
            w.begin()
            w.end()
        return "ok"
    if len(words) == 2 and words[0] == "decision":
        d = pool.decision(int(words[1]))
        return f"{d.action} {d.reason or '-'}"
    if words == ["stats"]:
        return pool.stats_json()
    raise ValueError(f"unknown command {line!r}")


def main() -> int:
    args = sys.argv[1:]
    try:
        if len(args) == 4 and args[0] == "create":
            pool = workerlife.Pool.create(args[1], args[2], slots=int(args[3]))
        elif len(args) == 2 and args[0] == "attach":
            pool = workerlife.Pool.attach(args[1])
        else:
            raise ValueError("usage: pool_tool.py create PATH POLICY SLOTS | pool_tool.py attach PATH")
    except Exception as e:
        print(f"error {e}", flush=True)
        return 1
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            reply = command(pool, line)
        except Exception as e:
            reply = f"error {e}"
        print(reply, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
