"""Every shared vector case, one pytest case each (named by file and case),
plus $WORKERLIFE_VECTORS."""

from typing import Any, Dict

import pytest

from vectors import cases, run_case

ALL = list(cases())


def test_there_are_vectors() -> None:
    assert len(ALL) >= 78


@pytest.mark.parametrize("case", [c for _, c in ALL], ids=[n for n, _ in ALL])
def test_vector(case: Dict[str, Any]) -> None:
    run_case(case)
