"""Issue 5 in-process: how batch streams bound their work, batch cached reads, and stop when dropped."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import gevent
import pytest

from workbench.server.workbench import Workbench
from workbench.testing import make_workbench

COUNTED = '''
class Counted:
    """Counts its executions in a file (proves how many chains ran)."""

    dependencies = ["sample"]

    def execute(self, input_data):
        with open({log!r}, "a") as log:
            log.write("x")
        return {{"length": len(input_data["sample"]["raw_bytes"])}}
'''


@pytest.fixture
def workbench(tmp_path: Path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "counted.py").write_text(textwrap.dedent(COUNTED.format(log=str(tmp_path / "runs.log"))))
    wb = make_workbench(tmp_path / "store", plugin_dirs=[str(plugins)])
    yield wb
    wb.close()


def runs(tmp_path: Path) -> int:
    path = tmp_path / "runs.log"
    return len(path.read_text()) if path.exists() else 0


def store(wb: Workbench, count: int) -> list[str]:
    rows = [(f"sample {i}".encode(), hashlib.md5(f"sample {i}".encode()).hexdigest(), f"s{i}", "txt")
            for i in range(count)]
    assert wb.store.store_samples(rows) == count
    return [row[1] for row in rows]


def test_a_stream_runs_at_most_a_bounded_number_of_chains_ahead_of_its_reader(workbench, tmp_path: Path) -> None:
    md5s = store(workbench, 300)
    stream = workbench.batch_work_request("counted", {"md5_list": md5s})
    first = [next(stream) for _ in range(5)]
    gevent.sleep(0.2)  # the producer and its chains run as far as the bounded queue lets them
    ahead = runs(tmp_path) - len(first)
    in_flight = workbench.front.max_in_flight
    assert 0 < ahead <= 3 * in_flight + 1, f"{ahead} chains ran ahead of the reader (in-flight limit {in_flight})"
    rest = list(stream)
    assert sorted(r["md5"] for r in first + rest) == sorted(md5s) and runs(tmp_path) == 300


def test_dropping_a_stream_stops_its_chains(workbench, tmp_path: Path) -> None:
    md5s = store(workbench, 200)
    stream = workbench.batch_work_request("counted", {"md5_list": md5s})
    next(stream)
    del stream  # a client that goes away: nothing holds the stream any more
    gevent.sleep(0.2)
    stopped_at = runs(tmp_path)
    gevent.sleep(0.2)
    assert runs(tmp_path) == stopped_at < 50


def test_batches_hold_every_result_once_cached_read_per_chunk_and_errors_as_records(workbench,
                                                                                    tmp_path: Path) -> None:
    md5s = store(workbench, 250)
    for md5 in md5s[:180]:  # cached before the batch
        workbench.work_request("counted", md5)
    assert runs(tmp_path) == 180
    unknown = hashlib.md5(b"never stored").hexdigest()
    hits_before = workbench.front.counters["cache_hits"]
    lists = list(workbench.batch_work_request("counted", {"md5_list": [*md5s, unknown]}).batches(100))
    assert all(1 <= len(batch) <= 100 for batch in lists)
    results = [r for batch in lists for r in batch]
    assert sorted(r["md5"] for r in results) == sorted([*md5s, unknown])
    by_md5 = {r["md5"]: r for r in results}
    assert by_md5[unknown]["error"]["type"] == "UnknownMD5" and by_md5[unknown]["counted"] is None
    assert all(by_md5[m] == {"md5": m, "length": len(f"sample {i}")} for i, m in enumerate(md5s))  # outputs
    assert runs(tmp_path) == 250  # only the 70 uncached samples ran
    assert workbench.front.counters["cache_hits"] - hits_before == 180


def test_cold_results_finishing_together_share_a_message_and_the_end_does_not_wait(workbench, tmp_path: Path) -> None:
    every = store(workbench, 5)
    md5s, more = every[:3], every[3:]
    workbench.front.stream_linger = 30.0  # far longer than the test may take: only the end of the stream stops it
    with gevent.Timeout(10, AssertionError("the stream waited out its linger instead of ending")):
        lists = list(workbench.batch_work_request("counted", {"md5_list": md5s}).batches(10))
    assert [sorted(r["md5"] for r in batch) for batch in lists] == [sorted(md5s)] and runs(tmp_path) == 3
    workbench.front.stream_linger = 0.0  # no linger: lists of whatever is ready, as before
    results = [r for batch in workbench.batch_work_request("counted", {"md5_list": more}).batches(10) for r in batch]
    assert sorted(r["md5"] for r in results) == sorted(more)
