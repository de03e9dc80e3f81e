"""Issue 14: hyperslabs as typed Arrow columns (batch_arrow, stream_sample as Arrow, batch --out files).

Real server on 127.0.0.1, real sqlite, real samples from ../shared/data; the dict path (batch_work_request
results into ``to_dataframe``) is the independent reference the Arrow path must equal.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import zerorpc
from conftest import RunningServer, start_server

from workbench.analysis import bro_parsing
from workbench.clients import slabs
from workbench.clients.client_helper import upload_file
from workbench.clients.dataframes import batch_dataframe, batch_parquet, batch_stream, batch_table, to_dataframe
from workbench.server.planning.arrow_slabs import SlabPacker, flatten_fields
from workbench.testing import REPO_ROOT, require_data

SHIFTY = '''
class Shifty:
    """Test worker: a number whose type depends on the sample, a column that appears late, a failure."""

    dependencies = ["sample"]

    def execute(self, input_data: dict) -> dict:
        name = input_data["sample"]["filename"]
        if name.startswith("fail"):
            raise ValueError("asked to fail")
        out = {"n": 1 if name.startswith("a") else 2.5, "tags": [1, 2] if name.startswith("a") else [0.5],
               "kind": {"name": name, "size": len(input_data["sample"]["raw_bytes"])}}
        if name.startswith("c"):
            out["late"] = "text"
        return out
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("slabs")
    (tmp / "plugins").mkdir()
    (tmp / "plugins" / "shifty.py").write_text(textwrap.dedent(SHIFTY).lstrip())
    running = start_server(tmp, plugin_dirs=[tmp / "plugins"])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    return server.client(timeout=300)


@pytest.fixture(scope="module")
def all_samples(wb: zerorpc.Client) -> dict[str, Path]:
    """Every file in ../shared/data, uploaded (parsed by workers, never executed); md5 -> file."""
    return {upload_file(wb, p): p for p in sorted(require_data().rglob("*")) if p.is_file()}


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by md5, columns by name (the two paths may meet results in a different order); in object columns a
    missing value is None, whether pandas wrote NaN (a key absent from a dict row) or None (present, null), and an
    all-missing column is float64."""
    frame = frame.sort_values("md5").reset_index(drop=True)[sorted(frame.columns)]
    for name in frame.columns:
        if frame[name].isna().all():  # pandas itself types an all-missing column object or float64 by how
            frame[name] = frame[name].astype("float64")  # its rows lacked it (absent key or None)
        elif frame[name].dtype == object:
            frame[name] = pd.Series([None if isinstance(v, float) and math.isnan(v) else v for v in frame[name]],
                                    dtype=object)
    return frame


def test_arrow_and_dict_paths_give_equal_frames_for_every_worker(wb: zerorpc.Client,
                                                                 all_samples: dict[str, Path]) -> None:
    md5s = sorted(all_samples)
    workers = [w["name"] for w in wb.list_all_workers() if w["status"] == "ok" and w["name"] != "shifty"]
    assert len(workers) >= 20
    checked = {}
    for worker in workers:
        by_dicts = canonical(to_dataframe(batch_stream(wb, worker, md5_list=md5s)))  # computes, then cached
        by_arrow = canonical(batch_dataframe(wb, worker, md5_list=md5s))
        if worker == "meta":  # served with the sample's tags and customer, read fresh (the slab reads stored outputs)
            by_dicts = by_dicts.drop(columns=["customer", "tags"])
        assert len(by_arrow) == len(md5s), f"{worker}: a row is missing"
        pd.testing.assert_frame_equal(by_arrow, by_dicts, obj=f"{worker} frame")
        checked[worker] = (int(by_arrow.error.isna().sum()), by_arrow.shape[1])
    print(f"\nslabs: {len(workers)} workers x {len(md5s)} samples, Arrow == dict path; (ok rows, columns): {checked}")
    assert sum(ok for ok, _ in checked.values()) > 500


def test_pe_features_slab_keeps_ints_as_int64_and_lists_as_lists(wb: zerorpc.Client,
                                                                  all_samples: dict[str, Path]) -> None:
    pe = sorted(m for m, p in all_samples.items() if "/pe/" in str(p))
    frame = batch_dataframe(wb, "pe_features", subkeys=["pe_features.dense_features", "pe_features.sparse_features"],
                            md5_list=pe)
    one = wb.work_request("pe_features", pe[0])["pe_features"]
    ints = [k for k in one["dense_features"] if frame[f"dense_features.{k}"].dtype == "int64"]
    assert len(ints) > 50, "integer features must stay int64"
    assert all(frame[f"dense_features.{k}"].dtype == "float64" for k in one["dense_features"] if k not in ints)
    assert frame["dense_features.machine"].dtype == "int64"
    row = frame.set_index("md5").loc[pe[0]]
    assert row["dense_features.machine"] == one["dense_features"]["machine"]
    assert row["sparse_features.imported_symbols"] == one["sparse_features"]["imported_symbols"]
    table = batch_table(wb, "pe_features", subkeys=["pe_features.sparse_features.imported_symbols"], md5_list=pe)
    assert table.schema.field("sparse_features.imported_symbols").type == pa.list_(pa.string())
    pd.testing.assert_frame_equal(canonical(frame), canonical(to_dataframe(batch_stream(
        wb, "pe_features", subkeys=["pe_features.dense_features", "pe_features.sparse_features"], md5_list=pe))))


def test_a_widening_column_is_widened_once_and_named_in_the_schema(wb: zerorpc.Client) -> None:
    md5s = [upload_file_bytes(wb, f"{name}-{i}".encode() * 10, name) for i, name in
            enumerate(["a1", "a2", "b1", "c1", "fail1"])]
    list(batch_stream(wb, "shifty", md5_list=md5s))  # cache the good ones: the Arrow request meets them in order
    messages = list(slabs.batch_messages(wb, "shifty", rows=2, md5_list=md5s))
    first, last = slabs.read_message(messages[0]).schema, slabs.read_message(messages[-1]).schema
    assert len(messages) == 3
    assert first.field("n").type == pa.int64() and first.field("tags").type == pa.list_(pa.int64())
    assert "late" not in first.names
    assert last.field("n").type == pa.float64() and last.field("tags").type == pa.list_(pa.float64())
    assert json.loads(last.metadata[b"workbench.widened"]) == {"n": "int64 -> double",
                                                               "tags": "list<item: int64> -> list<item: double>"}
    frame = batch_dataframe(wb, "shifty", chunk_rows=2, md5_list=md5s).set_index("md5").loc[md5s]
    assert frame.attrs["widened"]["n"] == "int64 -> double"
    assert frame["n"].tolist()[:4] == [1.0, 1.0, 2.5, 2.5] and frame["n"].dtype == "float64"
    assert frame["tags"].tolist()[:4] == [[1.0, 2.0], [1.0, 2.0], [0.5], [0.5]]
    assert frame["late"].isna().tolist() == [True, True, True, False, True] and frame["late"].iloc[3] == "text"
    assert frame["kind.name"].tolist()[:4] == ["a1", "a2", "b1", "c1"]


def test_failed_samples_are_rows_with_their_error_never_dropped(wb: zerorpc.Client,
                                                                all_samples: dict[str, Path]) -> None:
    md5s = [upload_file_bytes(wb, b"fail me please", "fail2"), upload_file_bytes(wb, b"fine", "a9")]
    log = next(m for m, p in all_samples.items() if p.name == "system.log")
    table = batch_table(wb, "shifty", md5_list=md5s)
    rows = {r["md5"]: r for r in table.to_pylist()}
    assert len(rows) == 2 and rows[md5s[0]]["error_kind"] == "raised"
    assert "ValueError: asked to fail" in rows[md5s[0]]["error"]
    assert rows[md5s[0]]["n"] is None and rows[md5s[1]]["n"] == 1 and rows[md5s[1]]["error"] is None
    frame = batch_dataframe(wb, "pe_features", subkeys=["pe_features.dense_features.file_size"],
                            md5_list=[log, *sorted(m for m, p in all_samples.items() if "/pe/good" in str(p))[:3]])
    failed = frame[frame.md5 == log].iloc[0]
    assert len(frame) == 4 and failed.error_kind == "not_applicable" and failed.error.startswith("WorkerNotApplicable")
    only_errors = batch_table(wb, "pe_features", md5_list=[log])
    assert only_errors.num_rows == 1 and only_errors.column_names == ["md5", "error", "error_kind"]


def upload_file_bytes(wb: zerorpc.Client, data: bytes, name: str) -> str:
    return wb.store_sample(data, name, "text")


def test_packer_turns_values_without_a_common_type_into_json_text_and_says_so() -> None:
    packer = SlabPacker()
    one = slabs.read_message(packer.pack_rows([{"v": 1, "w": [1]}, {"v": 2, "w": None}]))
    two = slabs.read_message(packer.pack_rows([{"v": "three", "w": [{"a": 1}]}]))
    assert one.schema.field("v").type == pa.int64()
    assert two.schema.field("v").type == pa.string()
    assert json.loads(two.schema.metadata[b"workbench.json_columns"]) == ["v", "w"]
    table = slabs.messages_table([packer.pack_rows([{"v": 1, "w": [1]}]), packer.pack_rows([{"v": 4.5}])])
    assert table.column("v").to_pylist() == ["1", "4.5"]  # the column stays JSON text once it became text
    packer = SlabPacker()
    mixed = slabs.messages_table([packer.pack_rows([{"v": "1"}, {"v": "y"}]), packer.pack_rows([{"v": 2}])])
    assert mixed.column("v").to_pylist() == ['"1"', '"y"', "2"]  # JSON text: "1" the text, 2 the number
    assert slabs.table_to_frame(mixed)["v"].tolist() == ["1", "y", 2]  # decoded: what the dict path holds


def test_zeek_logs_stream_as_arrow_typed_from_their_header(wb: zerorpc.Client, all_samples: dict[str, Path]) -> None:
    logs = {p.name: m for m, p in all_samples.items() if "/bro/" in str(p)}
    assert len(logs) >= 8
    for name, md5 in sorted(logs.items()):
        table = slabs.sample_table(wb, md5)
        bro = wb.work_request("bro_log", md5)["bro_log"]
        assert not bro["records_truncated"]
        assert table.to_pylist() == bro["records"], name
        assert table.column_names == bro["fields"]
        for field, zeek in zip(bro["fields"], bro["types"], strict=True):
            kind = table.schema.field(field).type
            base = zeek.split("[")[-1].rstrip("]")
            inner = kind.value_type if zeek.startswith(bro_parsing.CONTAINERS) else kind
            assert zeek.startswith(bro_parsing.CONTAINERS) == pa.types.is_list(kind), (name, field)
            assert inner == (pa.int64() if base in bro_parsing.INT_TYPES else pa.float64()
                             if base in bro_parsing.FLOAT_TYPES else pa.bool_() if base == "bool" else pa.string()), \
                (name, field, zeek, kind)
    conn = slabs.sample_table(wb, logs["conn.log"], max_rows=7)
    assert conn.num_rows == 7 and conn.schema.field("ts").type == pa.float64()
    assert conn.schema.field("id.orig_p").type == pa.int64()


def test_json_samples_stream_as_arrow(wb: zerorpc.Client, all_samples: dict[str, Path], tmp_path: Path) -> None:
    generated = next(p for p in all_samples.values() if p.name == "generated.json")
    md5 = next(m for m, p in all_samples.items() if p == generated)
    expected = [flatten_fields(item) for item in json.loads(generated.read_text())]
    table = slabs.sample_table(wb, md5)
    decoded = slabs.json_columns(table.schema)
    assert decoded == {"friends"}  # a list of records: JSON text, decoded by the client
    rows = [{k: json.loads(v) if k in decoded and v else v for k, v in r.items()} for r in table.to_pylist()]
    assert table.num_rows == len(expected) and rows == [
        {name: row.get(name) for name in table.column_names} for row in expected]
    assert slabs.table_to_frame(table)["friends"].tolist() == [row["friends"] for row in expected]
    assert table.schema.field("age").type == pa.int64() and table.schema.field("isActive").type == pa.bool_()
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"a": 1, "b": {"c": "x"}}\n{"a": 2.5, "d": [1, 2]}\n\n{"a": null}\n')
    table = slabs.sample_table(wb, upload_file(wb, lines, type_tag="json"))
    assert table.to_pylist() == [{"a": 1.0, "b.c": "x", "d": None}, {"a": 2.5, "b.c": None, "d": [1, 2]},
                                 {"a": None, "b.c": None, "d": None}]
    with pytest.raises(zerorpc.RemoteError, match="only Zeek logs"):
        list(wb.stream_sample(next(m for m, p in all_samples.items() if "/pe/" in str(p)), {"format": "arrow"}))
    broken = wb.store_sample(b'{"a": 1}\n{"a": ', "broken.jsonl", "json")
    with pytest.raises(zerorpc.RemoteError, match="not JSON lines or a JSON array") as refused:
        slabs.sample_table(wb, broken)
    assert refused.value.name == "BadArgument"
    with pytest.raises(zerorpc.RemoteError, match="unknown stream_sample format 'xml'"):
        list(wb.stream_sample(md5, {"format": "xml"}))


def cli(port: int, *args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "workbench.clients.workbench_cli", "-s", "127.0.0.1", "-p", str(port),
               *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)


def test_batch_out_writes_every_format_typed_and_refuses_others(server: RunningServer, wb: zerorpc.Client,
                                                                all_samples: dict[str, Path], tmp_path: Path) -> None:
    keys = "pe_features.dense_features.machine,pe_features.dense_features.section_entropy_max," \
           "pe_features.sparse_features.section_names"
    reference = canonical(batch_dataframe(wb, "pe_features", subkeys=keys.split(","), type_tag="exe"))
    assert reference["dense_features.machine"].dtype == "int64"
    read = {
        ".parquet": lambda p: pq.read_table(p),
        ".arrow": lambda p: pa.ipc.open_file(p).read_all(),
        ".feather": lambda p: pa.ipc.open_file(p).read_all(),
    }
    for suffix in (".parquet", ".arrow", ".feather", ".csv", ".jsonl"):
        out = tmp_path / f"features{suffix}"
        done = cli(server.port, "batch", "pe_features", "--type-tag", "exe", "--subkeys", keys, "--out", out)
        assert done.returncode == 0, done.stderr
        assert f"wrote {out}: {len(reference)} rows" in done.stderr
        assert done.stdout.splitlines()[0].split()[:3] == ["md5", "status", "dense_features.machine"]
        if suffix in read:
            back = canonical(slabs.table_to_frame(read[suffix](out)))
        elif suffix == ".csv":
            text = pa_csv.read_csv(out).to_pandas()
            assert text["dense_features.machine"].dtype == "int64"
            assert json.loads(text["sparse_features.section_names"][0]) == reference.set_index("md5").loc[
                text.md5[0], "sparse_features.section_names"]
            continue
        else:
            rows = [json.loads(line) for line in out.read_text().splitlines()]
            assert len(rows) == len(reference)
            by_md5 = reference.set_index("md5")
            for row in rows:
                assert row["dense_features.machine"] == by_md5.loc[row["md5"], "dense_features.machine"]
                assert isinstance(row["dense_features.machine"], int)
                assert row["sparse_features.section_names"] == by_md5.loc[row["md5"], "sparse_features.section_names"]
            continue
        pd.testing.assert_frame_equal(back, reference, obj=suffix)
    assert pq.ParquetFile(tmp_path / "features.parquet").schema_arrow.field("dense_features.machine").type == pa.int64()
    for bad in ("features.txt", "features", "features.parquet.gz"):
        done = cli(server.port, "batch", "pe_features", "--type-tag", "exe", "--out", tmp_path / bad)
        assert done.returncode == 2 and "unknown extension" in done.stderr and ".jsonl" in done.stderr, done.stderr
        assert not (tmp_path / bad).exists()


def test_batch_parquet_has_one_row_group_per_message(wb: zerorpc.Client, all_samples: dict[str, Path],
                                                     tmp_path: Path) -> None:
    pe = sorted(m for m, p in all_samples.items() if "/pe/" in str(p))
    summary = batch_parquet(wb, "pe_features", tmp_path / "pe.parquet", subkeys=["pe_features.dense_features"],
                            chunk_rows=25, md5_list=pe)
    parquet = pq.ParquetFile(tmp_path / "pe.parquet")
    assert summary["rows"] == len(pe) and parquet.metadata.num_row_groups == summary["row_groups"] >= len(pe) // 25
    assert parquet.schema_arrow.field("dense_features.file_size").type == pa.int64()
    sizes = dict(zip(*pq.read_table(tmp_path / "pe.parquet", columns=["md5", "dense_features.file_size"])
                     .to_pydict().values(), strict=True))
    assert sizes == {m: all_samples[m].stat().st_size for m in pe}
