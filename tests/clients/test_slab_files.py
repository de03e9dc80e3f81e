"""Slab files (planning/slab_cache.py): batch_arrow serves cached rows from a memory-mapped Arrow file, valid
only while the worker's outputs are unchanged.

Real server on 127.0.0.1 over a real sqlite file; the test process opens the same file as a second writer (as
another server or a bulk import would). References: the JSON path (the store's texts through
``cached_columns`` and ``SlabPacker``, exactly as ``batch_arrow`` packs them without a slab) and the dict path.
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import zerorpc
from conftest import RunningServer, start_server
from test_slabs import canonical

from workbench.clients import slabs
from workbench.clients.dataframes import batch_dataframe, batch_stream, batch_table, to_dataframe
from workbench.server.data_store.sqlite_store import SqliteStore, path_from_uri
from workbench.server.planning import slab_cache
from workbench.server.planning.arrow_slabs import SlabPacker, cached_columns
from workbench.server.planning.slab_cache import META_REFUSED

SLABBY = '''
class Slabby:
    """Test worker: ints, a float, text, a list and a nested dict from the sample; fails when asked to."""

    dependencies = ["sample"]

    def execute(self, input_data: dict) -> dict:
        raw, name = input_data["sample"]["raw_bytes"], input_data["sample"]["filename"]
        if name.startswith("fail"):
            raise ValueError("asked to fail")
        out = {"size": len(raw), "ratio": len(raw) / 7 + 0.5, "head": raw[:4].hex(), "first": list(raw[:3]),
               "nested": {"total": sum(raw) % 1000, "name": name}}
        if name.startswith("late"):
            out["late"] = "here"
        return out
'''

MIXED = '''
class Mixed:
    """Test worker: a number that is an int for some samples and a float for others."""

    dependencies = ["sample"]

    def execute(self, input_data: dict) -> dict:
        return {"n": 1 if input_data["sample"]["filename"].startswith("i") else 2.5}
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("slab_files")
    (tmp / "plugins").mkdir()
    (tmp / "plugins" / "slabby.py").write_text(textwrap.dedent(SLABBY).lstrip())
    (tmp / "plugins" / "mixed.py").write_text(textwrap.dedent(MIXED).lstrip())
    running = start_server(tmp, plugin_dirs=[tmp / "plugins"], procs=1)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    return server.client(timeout=300)


@pytest.fixture(scope="module")
def store(server: RunningServer) -> Iterator[SqliteStore]:
    """The server's own sqlite file, opened by this process as a second writer."""
    opened = SqliteStore(server.datastore)
    yield opened
    opened.close()


def upload(wb: zerorpc.Client, names: list[str], tag: str) -> list[str]:
    return [wb.store_sample(f"{tag}:{name}:{i}".encode() * (i + 1), name, tag) for i, name in enumerate(names)]


def counters(wb: zerorpc.Client) -> dict[str, int]:
    found = wb.info()["counters"]
    return {key: found.get(key, 0) for key in ("slab_builds", "slab_rows")}


def wait_for_builds(wb: zerorpc.Client, at_least: int, timeout: float = 60) -> dict[str, int]:
    """The counters once ``slab_builds`` reaches ``at_least`` and stays put for a moment (builds run in the
    background: no request waits for one)."""
    deadline = time.monotonic() + timeout
    seen = counters(wb)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = counters(wb)
        if now["slab_builds"] >= at_least and now == seen:
            return now
        seen = now
    raise AssertionError(f"slab builds did not reach {at_least} in {timeout} s: {seen}")


def slab_files(server: RunningServer, worker: str) -> list[Path]:
    folder = path_from_uri(server.datastore).with_name("workbench.db.slabs")
    return sorted(folder.glob(f"{worker}-*.arrow"))


def json_path_batches(store: SqliteStore, worker: str, md5s: list[str], paths: list[str],
                      rows: int) -> list[pa.RecordBatch]:
    """What batch_arrow sends for these cached md5s without a slab: each chunk's stored texts parsed by
    ``cached_columns`` and packed under one running schema."""
    packer, batches = SlabPacker(), []
    for start in range(0, len(md5s), rows):
        chunk = md5s[start:start + rows]
        texts = {md5: text for md5, (_, text) in store.get_output_texts(chunk, worker, paths).items()}
        columns = cached_columns([texts[md5] for md5 in chunk], paths)
        assert columns is not None, "the JSON path types every chunk of this worker in bulk"
        nulls = pa.nulls(len(chunk))
        message = packer.pack_columns({"md5": pa.array(chunk, pa.string()), "error": nulls, "error_kind": nulls,
                                       **columns}, len(chunk))
        batches.append(slabs.read_message(message))
    return batches


def test_the_second_request_is_served_from_the_slab_equal_to_the_json_path(
        server: RunningServer, wb: zerorpc.Client, store: SqliteStore) -> None:
    md5s = upload(wb, [f"s{i}" for i in range(23)], "slabtest")
    by_dicts = canonical(to_dataframe(batch_stream(wb, "slabby", md5_list=md5s)))  # computes and caches them
    before = counters(wb)
    first = [slabs.read_message(m) for m in slabs.batch_messages(wb, "slabby", rows=5, md5_list=md5s)]
    built = wait_for_builds(wb, before["slab_builds"] + 1)  # the first request read the JSON and started it
    second = [slabs.read_message(m) for m in slabs.batch_messages(wb, "slabby", rows=5, md5_list=md5s)]
    after = counters(wb)
    assert built == {"slab_builds": before["slab_builds"] + 1, "slab_rows": before["slab_rows"]}
    assert after == {"slab_builds": built["slab_builds"], "slab_rows": built["slab_rows"] + len(md5s)}
    reference = json_path_batches(store, "slabby", md5s, [], 5)
    assert len(second) == len(reference) == 5
    for got, want, again in zip(second, reference, first, strict=True):
        assert got.schema.equals(want.schema, check_metadata=True), (got.schema, want.schema)
        assert got.equals(want) and again.equals(want)
    assert second[0].schema.field("size").type == pa.int64()
    assert second[0].schema.field("first").type == pa.list_(pa.int64())
    by_arrow = canonical(batch_dataframe(wb, "slabby", md5_list=md5s))
    pd.testing.assert_frame_equal(by_arrow, by_dicts)
    assert len(slab_files(server, "slabby")) == 1


def test_subkeys_get_a_slab_of_their_own_equal_to_the_json_path(wb: zerorpc.Client, store: SqliteStore) -> None:
    md5s = upload(wb, [f"k{i}" for i in range(9)], "slabkeys")
    list(batch_stream(wb, "slabby", md5_list=md5s))
    subkeys = ["slabby.nested.total", "slabby.size"]
    builds = counters(wb)["slab_builds"]
    table = batch_table(wb, "slabby", subkeys=subkeys, chunk_rows=4, md5_list=md5s)
    served = wait_for_builds(wb, builds + 1)["slab_rows"]
    again = batch_table(wb, "slabby", subkeys=subkeys, chunk_rows=4, md5_list=md5s)
    assert counters(wb)["slab_rows"] == served + len(md5s)
    reference = pa.Table.from_batches(json_path_batches(store, "slabby", md5s, ["nested.total", "size"], 4))
    assert again.equals(reference) and table.equals(reference)
    assert again.column_names == ["md5", "error", "error_kind", "nested.total", "size"]


def test_every_kind_of_write_makes_the_next_request_rebuild_and_see_it(
        server: RunningServer, wb: zerorpc.Client, store: SqliteStore) -> None:
    md5s = upload(wb, [f"w{i}" for i in range(6)], "slabwrites")
    list(batch_stream(wb, "slabby", md5_list=md5s))

    def served() -> pd.DataFrame:
        return batch_dataframe(wb, "slabby", chunk_rows=2, type_tag="slabwrites").set_index("md5")

    builds = counters(wb)["slab_builds"]
    small = batch_dataframe(wb, "slabby", type_tag="slabwrites")  # one partial message: its JSON, no slab built
    assert counters(wb)["slab_builds"] == builds and len(small) == 6 and small.error.isna().all()
    assert len(served()) == 6
    builds = wait_for_builds(wb, builds + 1)["slab_builds"]
    rows = counters(wb)["slab_rows"]
    assert len(served()) == 6 and counters(wb)["slab_rows"] == rows + 6, "served from the slab"
    stored = store.get_output(md5s[0], "slabby")
    store.store_output(md5s[0], "slabby", stored["chain_version"], stored["versions"], {**stored["output"], "size": -1})
    assert served().loc[md5s[0], "size"] == -1, "a recomputed output (written by another process) is seen"
    builds = wait_for_builds(wb, builds + 1)["slab_builds"]
    assert served().loc[md5s[0], "size"] == -1, "and the rebuilt slab holds it"

    extra = upload(wb, ["w-new"], "slabwrites")[0]
    store.store_outputs([(extra, "slabby", stored["chain_version"], stored["versions"],
                          {**stored["output"], "size": 7})])
    assert served().loc[extra, "size"] == 7, "new outputs (the bulk path) are seen"

    assert wb.remove_sample(md5s[1])
    frame = served()
    assert md5s[1] not in frame.index and len(frame) == 6

    assert wb.clear_worker_output("slabby") > 0
    rebuilt = counters(wb)["slab_builds"]
    frame = served()  # every output gone: all computed again, none served from a slab
    assert frame.loc[md5s[0], "size"] != -1 and frame.error.isna().all()
    wait_for_builds(wb, rebuilt + 1)
    assert len(slab_files(server, "slabby")) == 1, "the stale slab files are removed"


def test_a_mixed_selection_serves_the_slab_rows_and_computes_the_rest(wb: zerorpc.Client,
                                                                     store: SqliteStore) -> None:
    cached = upload(wb, [f"m{i}" for i in range(5)] + ["late1"], "slabmixed")
    list(batch_stream(wb, "slabby", md5_list=cached))
    stale = upload(wb, ["m-stale"], "slabmixed")[0]
    list(batch_stream(wb, "slabby", md5_list=[stale]))
    old = store.get_output(stale, "slabby")
    store.store_output(stale, "slabby", "an-older-chain", old["versions"], {**old["output"], "size": -5})
    builds = counters(wb)["slab_builds"]
    batch_dataframe(wb, "slabby", chunk_rows=2, md5_list=cached)  # starts the slab: the stale output is not in it
    wait_for_builds(wb, builds + 1)
    cold = upload(wb, ["m-cold1", "m-cold2"], "slabmixed")
    failing = upload(wb, ["fail-here"], "slabmixed")
    selection = [cold[0], *cached[:3], failing[0], stale, *cached[3:], cold[1]]
    rows_before = counters(wb)["slab_rows"]
    by_arrow = batch_dataframe(wb, "slabby", chunk_rows=4, md5_list=selection)
    # chunks 1 and 2 are looked up before chunk 1's cold sample is computed and written (the stream reads one
    # chunk ahead); from chunk 3 on, the slab is no longer current and the JSON path serves the cached rows
    assert counters(wb)["slab_rows"] - rows_before == 5
    by_dicts = to_dataframe(batch_stream(wb, "slabby", md5_list=selection))
    pd.testing.assert_frame_equal(canonical(by_arrow), canonical(by_dicts))
    frame = by_arrow.set_index("md5")
    assert len(frame) == len(selection) and "ValueError: asked to fail" in frame.loc[failing[0], "error"]
    assert frame.loc[stale, "size"] != -5, "a stale output is computed again, never served from the slab"
    assert frame.loc[cached[5], "late"] == "here" and frame["late"].isna().sum() == len(selection) - 1


def test_ints_and_floats_in_one_column_refuse_the_slab_and_keep_todays_stream(
        server: RunningServer, wb: zerorpc.Client) -> None:
    md5s = upload(wb, ["i1", "i2", "f1", "f2"], "slabwide")
    list(batch_stream(wb, "mixed", md5_list=md5s))
    builds = counters(wb)["slab_builds"]
    for _ in range(2):
        messages = [slabs.read_message(m) for m in slabs.batch_messages(wb, "mixed", rows=2, md5_list=md5s)]
        assert messages[0].schema.field("n").type == pa.int64()
        assert messages[-1].schema.field("n").type == pa.float64()
        assert b'"n": "int64 -> double"' in messages[-1].schema.metadata[b"workbench.widened"]
        wait_for_builds(wb, builds + 1)
    (slab,) = slab_files(server, "mixed")
    refused = pa.ipc.open_file(pa.memory_map(str(slab))).schema.metadata[META_REFUSED].decode()
    assert "integers and floats in one column" in refused and '"n": 1' in refused.replace('"n":1', '"n": 1')


def test_the_server_answers_while_a_slab_is_built(wb: zerorpc.Client, server: RunningServer,
                                                 store: SqliteStore) -> None:
    md5 = upload(wb, ["busy"], "slabbusy")[0]
    list(batch_stream(wb, "slabby", md5_list=[md5]))
    chain = store.get_output(md5, "slabby")
    rows = [(f"{i:032x}", "slabby", chain["chain_version"], chain["versions"],
             {**chain["output"], "size": i, "nested": {"total": i % 997, "name": f"n{i}"}}) for i in range(60_000)]
    store.store_outputs(rows)  # outputs of no sample: only the slab build reads them
    builds = counters(wb)["slab_builds"]
    slow: list[float] = []
    done = threading.Event()

    def build() -> None:
        client = server.client(timeout=300)
        batch_table(client, "slabby", chunk_rows=1, md5_list=[md5])  # a full first message: starts a build
        while counters(client)["slab_builds"] == builds:
            time.sleep(0.05)
        done.set()

    thread = threading.Thread(target=build)
    thread.start()
    probe = server.client(timeout=30)
    while not done.is_set():
        started = time.perf_counter()
        probe.has_sample(md5)
        slow.append(time.perf_counter() - started)
        time.sleep(0.02)
    thread.join()
    print(f"\nslab of 60,000+ outputs built while {len(slow)} point reads were answered, slowest {max(slow):.3f} s")
    assert counters(wb)["slab_builds"] == builds + 1
    assert len(slow) > 5 and max(slow) < 1.0, f"slowest answer while building: {max(slow):.2f} s"


def built_slab(store: SqliteStore, worker: str, chain_version: str) -> slab_cache.Slab | None:
    """A slab asked for, its background build waited for, then asked for again (in process)."""
    cache = slab_cache.SlabCache(store, Counter())
    assert cache.get(worker, chain_version, []) is None, "no request waits for a build"
    cache.wait(timeout=60)
    return cache.get(worker, chain_version, [], build=False)


def test_rows_are_found_across_the_slab_pages_in_the_order_asked(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A slab of several record batches (3 outputs a page here): any order of md5s, repeats and misses."""
    monkeypatch.setattr(slab_cache, "SLAB_PAGE", 3)
    store = SqliteStore(f"sqlite:///{tmp_path}/pages.db")
    try:
        md5s = [f"{i * 7919:032x}" for i in range(11)]
        store.store_outputs([(md5, "w", "c1", {}, {"v": i, "sq": [i, i * i], "d": {"x": i / 2 + 0.25}})
                             for i, md5 in enumerate(md5s)])
        store.store_output("f" * 32, "w", "an-older-chain", {}, {"v": -1, "sq": [], "d": {"x": 0.5}})
        slab = built_slab(store, "w", "c1")
        assert slab is not None and len(slab.batches) == 4 and slab.refused is None
        asked = [md5s[9], "f" * 32, md5s[0], "not-an-md5", md5s[4], md5s[9], md5s[10], md5s[2]]
        found, rows = slab.find(asked)
        assert found == [md5s[9], md5s[0], md5s[4], md5s[9], md5s[10], md5s[2]]
        columns = slab.columns(rows)
        assert columns["v"].to_pylist() == [9, 0, 4, 9, 10, 2]
        assert columns["sq"].to_pylist() == [[9, 81], [0, 0], [4, 16], [9, 81], [10, 100], [2, 4]]
        assert columns["d.x"].to_pylist() == [4.75, 0.25, 2.25, 4.75, 5.25, 1.25]
        assert columns["v"].type == pa.int64() and columns["d.x"].type == pa.float64()
        for picked in (md5s[2:8], md5s[1:11:3]):  # in the file's order: runs sliced, then gaps taken
            found, rows = slab.find(picked)
            assert slab.columns(rows)["v"].to_pylist() == [md5s.index(m) for m in picked] and found == picked
    finally:
        store.close()


def test_a_slab_that_cannot_be_written_leaves_the_json_path_in_charge(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/nodisk.db")
    try:
        store.store_outputs([(f"{i:032x}", "w", "c1", {}, {"v": i}) for i in range(3)])
        (tmp_path / "nodisk.db.slabs").write_text("a file where the slab folder would go")
        assert built_slab(store, "w", "c1") is None
        assert "slab w-" in caplog.text and "not built (FileExistsError" in caplog.text
    finally:
        store.close()


def test_outputs_the_bulk_parse_cannot_type_refuse_the_slab_after_one_page(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/records.db")
    try:
        store.store_outputs([(f"{i:032x}", "w", "c1", {}, {"sections": [{"name": "a", "size": i}]})
                             for i in range(3)])
        slab = built_slab(store, "w", "c1")
        assert slab is not None and slab.find([f"{0:032x}"])[0] == []
        assert slab.refused.startswith("the first page of outputs cannot be typed in bulk")
    finally:
        store.close()
