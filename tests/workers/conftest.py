"""Fixtures shared by the worker tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.server.workbench import Workbench
from workbench.testing import make_workbench


@pytest.fixture
def workbench(tmp_path: Path) -> Iterator[Workbench]:
    """An in-process Workbench on a sqlite file of this test's own (chains run here, procs=0)."""
    bench = make_workbench(tmp_path)
    yield bench
    bench.close()
