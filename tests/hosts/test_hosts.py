"""One conformance suite across every host: each scenario of
scenarios.SCENARIOS, run by its one driver against every host of
hosts.HOSTS, each server really started and stopped here.

The whole matrix runs once per session (hosts in parallel); each cell is
then a test of its own, and the last test holds docs/hosts.md to the
results (``WORKERLIFE_HOSTS_WRITE=1`` rewrites its table first)."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from hosts import HOSTS
from matrix import PAGE, Matrix, as_json, markdown, out_dir, page_block, run_all, write_page
from scenarios import SCENARIOS


@pytest.fixture(scope="session")
def matrix() -> Iterator[Matrix]:
    m = run_all()
    out = out_dir()
    (out / "results.json").write_text(as_json(m))
    (out / "matrix.md").write_text(markdown(m))
    print(f"\nhosts matrix: {out / 'results.json'}, {out / 'matrix.md'}\n{markdown(m)}")
    if os.environ.get("WORKERLIFE_HOSTS_WRITE") == "1":
        write_page(markdown(m))
    yield m


@pytest.mark.parametrize("host", [h.name for h in HOSTS])
@pytest.mark.parametrize("scenario", [s.id for s in SCENARIOS])
def test_cell(matrix: Matrix, scenario: str, host: str) -> None:
    cell = matrix[scenario][host]
    assert cell.status != "fail", f"{scenario} on {host} ({cell.seconds}s): {cell.detail}"


def test_docs_hosts_md_holds_these_results(matrix: Matrix) -> None:
    want = markdown(matrix)
    have = page_block(PAGE.read_text())
    assert have == want, (
        f"{PAGE} does not hold this run's matrix; run WORKERLIFE_HOSTS_WRITE=1 make hosts-test "
        f"to rewrite it.\n--- page\n{have}\n--- this run\n{want}"
    )
