"""Result streams to pandas DataFrames and Parquet: one row per sample, dotted columns, bounded client memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import zerorpc
from conftest import RunningServer, start_server

from workbench.clients.client_helper import upload_file
from workbench.clients.dataframes import (
    batch_dataframe,
    batch_frames,
    batch_parquet,
    result_row,
    set_dataframe,
    to_dataframe,
    write_parquet,
)
from workbench.testing import REPO_ROOT, require_data


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("dataframes"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    return server.client(timeout=300)


@pytest.fixture(scope="module")
def pe_files(wb: zerorpc.Client) -> dict[str, Path]:
    """Every PE sample, uploaded; md5 -> file."""
    return {upload_file(wb, p): p for p in sorted(require_data("pe").rglob("*")) if p.is_file()}


def test_a_result_becomes_one_flat_row_with_dotted_names() -> None:
    result = {"md5": "a" * 32, "pe": {"dense": {"size": 10, "entropy": 7.5}, "names": [".text"], "empty": {}}}
    assert result_row(result) == {"md5": "a" * 32, "error": None, "error_kind": None, "dense.size": 10,
                                  "dense.entropy": 7.5, "names": [".text"], "empty": {}}
    failed = {"md5": "b" * 32, "pe": None, "error": {"type": "WorkerNotApplicable", "kind": "not_applicable",
                                                      "message": "applies to exe"}}
    assert result_row(failed) == {"md5": "b" * 32, "error": "WorkerNotApplicable: applies to exe",
                                  "error_kind": "not_applicable"}


def test_to_dataframe_reads_lists_of_results_chunk_by_chunk_into_one_frame() -> None:
    messages = [[{"md5": f"{i:032x}", "w": {"n": i, "deep": {"x": i * 2}}} for i in range(j, j + 4)]
                for j in range(0, 12, 4)]  # a stream sent in lists of 4, as batch_size=4 does
    frame = to_dataframe(iter(messages), chunk_rows=5)
    assert list(frame.columns) == ["md5", "error", "error_kind", "n", "deep.x"]
    assert frame["n"].tolist() == list(range(12)) and frame["deep.x"].tolist() == [2 * i for i in range(12)]
    assert to_dataframe(iter([])).columns.tolist() == ["md5", "error", "error_kind"]


def test_parquet_schema_is_fixed_by_the_first_chunk_and_new_columns_are_named(tmp_path: Path) -> None:
    stream = [{"md5": "1" * 32, "w": {"n": 1, "flag": True, "tags": ["a"]}},
              {"md5": "2" * 32, "w": {"n": 2.5, "flag": False, "tags": []}},
              {"md5": "3" * 32, "w": None, "error": {"type": "WorkerFailed", "kind": "raised", "message": "x"}}]
    summary = write_parquet(iter(stream), tmp_path / "ok.parquet", chunk_rows=2)
    assert (summary["rows"], summary["row_groups"]) == (3, 2)
    back = pq.read_table(tmp_path / "ok.parquet").to_pydict()
    assert back["n"] == [1.0, 2.5, None] and back["flag"] == [True, False, None]
    assert back["tags"] == ['["a"]', "[]", None]  # lists as JSON text
    assert back["error"] == [None, None, "WorkerFailed: x"] and back["error_kind"] == [None, None, "raised"]
    late = [*stream[:2], {"md5": "4" * 32, "w": {"n": 3, "surprise": 1}}]
    with pytest.raises(ValueError, match=r"columns \['surprise'\] first appear after row 2; pass columns="):
        write_parquet(iter(late), tmp_path / "late.parquet", chunk_rows=2)
    fixed = write_parquet(iter(late), tmp_path / "fixed.parquet", chunk_rows=2, columns=["n"])
    assert fixed["columns"] == ["md5", "error", "error_kind", "n"]
    changed = [*stream[:2], {"md5": "5" * 32, "w": {"n": "three", "flag": True, "tags": []}}]
    with pytest.raises(ValueError, match="column 'n' changed type after the first chunk"):
        write_parquet(iter(changed), tmp_path / "changed.parquet", chunk_rows=2)


def test_batch_to_dataframe_over_all_pe_samples_gives_numeric_dense_features(wb: zerorpc.Client,
                                                                              pe_files: dict[str, Path]) -> None:
    frame = batch_dataframe(wb, "pe_features", subkeys=["pe_features.dense_features"], type_tag="exe")
    assert len(frame) == len(pe_files) == 84 and sorted(frame.md5) == sorted(pe_files)
    dense = [c for c in frame.columns if c.startswith("dense_features.")]
    one = wb.work_request("pe_features", next(iter(pe_files)))["pe_features"]["dense_features"]
    assert sorted(dense) == sorted(f"dense_features.{k}" for k in one) and len(dense) > 50
    assert set(frame.columns) == {"md5", "error", "error_kind", *dense}  # subkeys: nothing else crossed the wire
    assert all(pd.api.types.is_numeric_dtype(frame[c]) for c in dense)
    assert frame.error.isna().all()
    sizes = dict(zip(frame.md5, frame["dense_features.file_size"], strict=True))
    assert sizes == {md5: path.stat().st_size for md5, path in pe_files.items()}


def test_frames_sets_and_parquet_agree_with_the_one_big_frame(wb: zerorpc.Client, pe_files: dict[str, Path],
                                                              tmp_path: Path) -> None:
    keys = ["pe_features.dense_features.file_size", "pe_features.dense_features.number_of_sections"]
    whole = batch_dataframe(wb, "pe_features", subkeys=keys, type_tag="exe").set_index("md5").sort_index()
    chunks = list(batch_frames(wb, "pe_features", subkeys=keys, chunk_rows=20, type_tag="exe"))
    assert [len(c) for c in chunks] == [20, 20, 20, 20, 4]
    pd.testing.assert_frame_equal(pd.concat(chunks).set_index("md5").sort_index(), whole)
    by_set = set_dataframe(wb, "pe_features", wb.store_sample_set(sorted(pe_files)), subkeys=keys)
    pd.testing.assert_frame_equal(by_set.set_index("md5").sort_index(), whole)
    summary = batch_parquet(wb, "pe_features", tmp_path / "f.parquet", subkeys=keys, chunk_rows=20, type_tag="exe")
    assert (summary["rows"], summary["row_groups"]) == (84, 5) == (84, pq.ParquetFile(tmp_path / "f.parquet")
                                                                   .metadata.num_row_groups)
    back = pd.read_parquet(tmp_path / "f.parquet").set_index("md5").sort_index()
    pd.testing.assert_frame_equal(back[whole.columns].astype(float), whole.astype(float))


def test_errors_in_a_stream_are_rows_with_their_kind(wb: zerorpc.Client, pe_files: dict[str, Path]) -> None:
    log = upload_file(wb, require_data("log") / "system.log")
    frame = batch_dataframe(wb, "pe_features", subkeys=["pe_features.dense_features.file_size"],
                            md5_list=[log, *list(pe_files)[:3]])
    failed = frame[frame.md5 == log].iloc[0]
    assert failed.error_kind == "not_applicable" and failed.error.startswith("WorkerNotApplicable: ")
    assert frame.error.isna().sum() == 3


MEMORY_PROBE = textwrap.dedent('''
    """Child process: stream N pe_features results to Parquet and report its own peak RSS (VmHWM)."""
    import json, sys, time
    import zerorpc
    from workbench.clients.dataframes import batch_parquet

    def peak_kb():
        return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))

    port, out = int(sys.argv[1]), sys.argv[2]
    client = zerorpc.Client(timeout=300, heartbeat=5)
    client.connect(f"tcp://127.0.0.1:{port}")
    md5s = client.get_sample_set(client.generate_sample_set(None, "exe"))
    batch_parquet(client, "pe_features", out, md5_list=md5s)      # warm-up: imports and first allocations
    marks = {"baseline": peak_kb()}
    for count in (2000, 10000, 20000):
        started = time.perf_counter()
        summary = batch_parquet(client, "pe_features", out, md5_list=(md5s * (count // len(md5s) + 1))[:count])
        marks[count] = {"peak_kb": peak_kb(), "rows": summary["rows"], "row_groups": summary["row_groups"],
                        "seconds": round(time.perf_counter() - started, 2)}
    rows = client.batch_work_request("pe_features", {"md5_list": md5s, "batch_size": 100})
    marks["json_bytes_per_result"] = sum(len(json.dumps(r)) for m in rows for r in m) / len(md5s)
    print(json.dumps(marks))
''')


@pytest.mark.slow
def test_streaming_10000_results_to_parquet_keeps_client_memory_bounded(
        server: RunningServer, pe_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Full pe_features outputs (about 5.7 KB of JSON each, ~190 columns) for the 84 PE samples, repeated to
    # 10,000 results: the server serves repeats from its store, the client receives and writes 10,000 results.
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(server.port), str(tmp_path / "m.parquet")],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    marks = json.loads(done.stdout)
    base, ten = marks["baseline"], marks["10000"]
    assert ten["rows"] == 10000 and ten["row_groups"] >= 10000 // 4096  # one row group per message (<= 4096 rows)
    grown = {count: (marks[count]["peak_kb"] - base) / 1024 for count in ("2000", "10000", "20000")}
    streamed_mb = marks["json_bytes_per_result"] * 10000 / 2**20
    with capsys.disabled():
        print(f"\n[memory] 10,000 pe_features results ({streamed_mb:.0f} MB as JSON) streamed to Parquet in "
              f"{ten['seconds']} s: client peak RSS +{grown['10000']:.0f} MB over baseline "
              f"(+{grown['2000']:.0f} MB after 2,000 results, +{grown['20000']:.0f} MB after 20,000)")
    assert grown["10000"] < 100, f"peak grew {grown['10000']:.0f} MB for 10,000 results"
    # Arrow's allocator keeps what it freed, so the peak settles within the first chunks but wanders by 10-20 MB
    # from run to run. Growing with the stream would cost what holding the results costs (about 128 MB per
    # 10,000 as a list): the next 10,000 must add well under half of that.
    assert grown["20000"] - grown["10000"] < 40, f"memory grows with the stream's length: {grown}"
