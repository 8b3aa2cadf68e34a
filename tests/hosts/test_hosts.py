"""One conformance suite across every host: each scenario of
scenarios.SCENARIOS, run by its one driver against every host of
hosts.HOSTS, each server really started and stopped here.

The whole matrix runs once per session (hosts in parallel); each cell is
then a test of its own, and the last test holds docs/hosts.md to the
results (``WORKERLIFE_HOSTS_WRITE=1`` rewrites its table first).
``WORKERLIFE_HOSTS=Puma cluster,Unicorn`` runs those hosts alone, and
holds the page's rows for them to the results."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from hosts import HOSTS as ALL
from matrix import PAGE, Matrix, as_json, markdown, out_dir, page_block, rows, run_all, selected, write_page
from scenarios import SCENARIOS


HOSTS = selected()


@pytest.fixture(scope="session")
def matrix() -> Iterator[Matrix]:
    m = run_all(HOSTS)
    out = out_dir()
    (out / "results.json").write_text(as_json(m))
    (out / "matrix.md").write_text(markdown(m, HOSTS))
    print(f"\nhosts matrix: {out / 'results.json'}, {out / 'matrix.md'}\n{markdown(m, HOSTS)}")
    if os.environ.get("WORKERLIFE_HOSTS_WRITE") == "1":
        write_page(markdown(m, HOSTS), HOSTS)
    yield m



@pytest.mark.parametrize("host", [h.name for h in HOSTS])
@pytest.mark.parametrize("scenario", [s.id for s in SCENARIOS])
def test_cell(matrix: Matrix, scenario: str, host: str) -> None:
    cell = matrix[scenario][host]
    assert cell.status != "fail", f"{scenario} on {host} ({cell.seconds}s): {cell.detail}"


def test_docs_hosts_md_holds_these_results(matrix: Matrix) -> None:
    want = markdown(matrix, HOSTS)
    have = page_block(PAGE.read_text())
    if HOSTS != ALL:  # some hosts: their rows only
        have_rows, want_rows = rows(have), rows(want)
        for name in want_rows:
            assert have_rows.get(name) == want_rows[name], (
                f"{PAGE}'s row for {name} is not this run's; run WORKERLIFE_HOSTS_WRITE=1 make hosts-test "
                f"to rewrite it.\n--- page\n{have_rows.get(name)}\n--- this run\n{want_rows[name]}"
            )
        return
    assert have == want, (
        f"{PAGE} does not hold this run's matrix; run WORKERLIFE_HOSTS_WRITE=1 make hosts-test "
        f"to rewrite it.\n--- page\n{have}\n--- this run\n{want}"
    )
