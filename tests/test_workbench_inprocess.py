"""The Workbench API in-process (procs=0): chain rules, errors, sets, tags, chunks, expiry (issue 2)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import textwrap
import time
from pathlib import Path

import pytest

from workbench.exceptions import (
    BadArgument,
    BadOutput,
    SampleTooLarge,
    UnknownMD5,
    UnknownSampleSet,
    WorkerFailed,
    WorkerNotApplicable,
)
from workbench.testing import make_workbench


def plugin(folder: Path, name: str, body: str, deps: list[str], extra: str = "") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(f'''
    class {name.title().replace("_", "")}:
        """Fixture worker {name}."""

        dependencies = {deps!r}
        {extra}

        def execute(self, input_data):
            {body}
    '''))
    return path


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    plugin(folder, "returns_bytes", 'return {"blob": b"x"}', ["sample"])
    plugin(folder, "returns_nan", 'return {"nested": {"score": float("nan")}}', ["sample"])
    plugin(folder, "returns_list", "return [1, 2]", ["sample"])
    plugin(folder, "pdf_only", 'return {"ok": True}', ["sample"], extra="applies_to = ('pdf',)")
    plugin(folder, "view_txt", 'return {"lines": input_data["sample"]["raw_bytes"].count(b"\\n")}', ["sample"])
    plugin(folder, "dispatcher", 'return {k: v for k, v in input_data.items() if k != "meta"}', ["meta"],
           extra="dispatch = {'txt': 'view_txt', 'exe': 'not_loaded_anywhere'}")
    plugin(folder, "extractor", 'return {"child": input_data["corpus"].store_child(b"inner bytes", "inner.txt")}',
           ["corpus"])
    return folder


@pytest.fixture
def workbench(tmp_path: Path, plugins: Path):
    wb = make_workbench(tmp_path / "store", plugin_dirs=[str(plugins)])
    yield wb
    wb.close()


def test_bad_outputs_fail_cleanly_and_are_not_stored(workbench) -> None:
    md5 = workbench.store_sample(b"hello\n", "h.txt", "")
    with pytest.raises(BadOutput, match=r"'returns_bytes' returned a value that is not a JSON type at blob \(a bytes"):
        workbench.work_request("returns_bytes", md5)
    with pytest.raises(BadOutput, match=r"at nested.score \(NaN\)"):
        workbench.work_request("returns_nan", md5)
    with pytest.raises(BadOutput, match="returned a list, not a dict"):
        workbench.work_request("returns_list", md5)
    assert workbench.store.get_output(md5, "returns_bytes") is None


def test_not_applicable_is_a_clean_error_without_running_the_worker(workbench) -> None:
    md5 = workbench.store_sample(b"plain text\n", "t.txt", "")
    with pytest.raises(WorkerNotApplicable, match="'pdf_only' applies to type_tag pdf; sample .* is 'txt'"):
        workbench.work_request("pdf_only", md5)
    assert workbench.explain("pdf_only", md5)["plan"][-1]["status"] == "not_applicable"


def test_dispatch_adds_the_view_for_the_samples_type_only_when_loaded(workbench) -> None:
    text = workbench.store_sample(b"a\nb\nc\n", "t.txt", "")
    exe = workbench.store_sample(b"MZ pretend", "p.exe", "exe")
    assert workbench.work_request("dispatcher", text)["dispatcher"] == {"md5": text, "view_txt": {"lines": 3}}
    assert workbench.work_request("dispatcher", exe)["dispatcher"] == {"md5": exe}  # every output carries md5
    assert [s["worker"] for s in workbench.explain("dispatcher", text)["plan"]] == ["meta", "view_txt", "dispatcher"]


def test_corpus_children_are_linked_both_ways(workbench) -> None:
    parent = workbench.store_sample(b"outer", "outer.bin", "")
    child = workbench.work_request("extractor", parent)["extractor"]["child"]
    assert child == hashlib.md5(b"inner bytes").hexdigest()
    assert workbench.get_children(parent) == [child]
    assert workbench.get_parents(child) == [parent]
    assert workbench.get_sample(child)["sample"]["raw_bytes"] == b"inner bytes"


def test_explain_names_the_worker_whose_code_changed(workbench, plugins: Path) -> None:
    md5 = workbench.store_sample(b"a\n", "a.txt", "")
    workbench.work_request("dispatcher", md5)
    assert {s["status"] for s in workbench.explain("dispatcher", md5)["plan"]} == {"cached"}
    plugin(plugins, "view_txt", 'return {"lines": -1}', ["sample"])
    workbench.plugins.refresh()
    plan = {s["worker"]: s for s in workbench.explain("dispatcher", md5)["plan"]}
    assert plan["meta"]["status"] == "cached"
    assert plan["view_txt"]["status"] == "stale" and "view_txt" in plan["view_txt"]["reason"]
    assert plan["dispatcher"]["status"] == "stale" and "in: view_txt" in plan["dispatcher"]["reason"]
    assert workbench.work_request("dispatcher", md5)["dispatcher"] == {"md5": md5, "view_txt": {"lines": -1}}


def test_subkeys_return_the_originals_flat_dict_and_name_missing_ones(workbench) -> None:
    md5 = workbench.store_sample(b"subkeys", "s.txt", "")
    assert workbench.work_request("meta", md5, ["meta.length", "md5"]) == {"length": 7, "md5": md5}
    assert workbench.work_request("meta", md5, "length") == {"length": 7}  # one path as a string
    extractor = workbench.store_sample(b"outer", "outer.bin", "")
    assert workbench.work_request("extractor", extractor, ["md5", "child"]) == {
        "md5": extractor, "child": hashlib.md5(b"inner bytes").hexdigest()}  # md5 is a subkey of every output
    text = workbench.store_sample(b"a\nb\n", "t.txt", "")
    assert workbench.work_request("dispatcher", text, ["view_txt.lines"]) == {"lines": 2}
    assert workbench.work_request("dispatcher", text, ["view_txt.*", "md5"]) == {"lines": 2, "md5": text}
    with pytest.raises(BadArgument, match="subkey 'meta.nope' not found: 'nope' is not in meta, which has"):
        workbench.work_request("meta", md5, ["meta.nope"])
    with pytest.raises(BadArgument, match="subkey 'view_txt.words' not found: 'words' is not in dispatcher.view_txt"):
        workbench.work_request("dispatcher", text, "view_txt.words")


def test_outputs_are_readable_json_in_the_sqlite_file(workbench, tmp_path: Path) -> None:
    md5 = workbench.store_sample(b"transparent", "t.txt", "")
    workbench.work_request("meta", md5)
    with sqlite3.connect(tmp_path / "store" / "workbench.db") as db:
        text = db.execute("SELECT output FROM outputs WHERE md5=? AND worker='meta'", (md5,)).fetchone()[0]
    assert json.loads(text)["length"] == 11


def test_chunks_combine_into_one_sample_and_are_dropped(workbench) -> None:
    data = bytes(range(256)) * 1000
    chunks = [workbench.store_sample(data[i:i + 50_000], f"part{i}", "chunk") for i in range(0, len(data), 50_000)]
    md5 = workbench.combine_samples(chunks, "whole.bin", "")
    assert md5 == hashlib.md5(data).hexdigest()
    assert workbench.get_sample(md5)["sample"]["raw_bytes"] == data
    assert not any(workbench.has_sample(c) for c in chunks)


def test_combining_keeps_a_real_sample_whose_bytes_equal_a_chunk(workbench) -> None:
    real = workbench.store_sample(b"A" * 1000, "real.bin", "")
    second = workbench.store_sample(b"B" * 1000, "part1", "chunk")
    joined = workbench.combine_samples([workbench.store_sample(b"A" * 1000, "part0", "chunk"), second], "j", "")
    assert workbench.get_sample(joined)["sample"]["raw_bytes"] == b"A" * 1000 + b"B" * 1000
    assert workbench.has_sample(real), "a sample stored in its own right must survive being reused as a chunk"
    assert not workbench.has_sample(second)


def test_size_limit_refuses_before_storing(tmp_path: Path, plugins: Path) -> None:
    wb = make_workbench(tmp_path / "small", plugin_dirs=[str(plugins)])
    wb.max_bytes = 1000
    try:
        with pytest.raises(SampleTooLarge, match="1,001 bytes is larger than max_sample_size_mb"):
            wb.store_sample(b"x" * 1001, "big", "")
        assert wb.store.count_samples() == 0
        parts = [wb.store_sample(b"y" * 600, "p1", "chunk"), wb.store_sample(b"z" * 600, "p2", "chunk")]
        with pytest.raises(SampleTooLarge):
            wb.combine_samples(parts, "joined", "")
        assert all(wb.has_sample(p) for p in parts), "a refused combine must lose no chunk"
    finally:
        wb.close()


def test_samples_cap_expires_the_oldest_samples_and_their_outputs(tmp_path: Path, plugins: Path) -> None:
    wb = make_workbench(tmp_path / "capped", plugin_dirs=[str(plugins)])
    wb.config.set("server", "samples_cap_mb", 1)
    try:
        first = wb.store_sample(b"a" * 400_000, "a", "")
        wb.work_request("meta", first)
        second = wb.store_sample(b"b" * 400_000, "b", "")
        third = wb.store_sample(b"c" * 400_000, "c", "")
        assert not wb.has_sample(first) and wb.has_sample(second) and wb.has_sample(third)
        assert wb.store.get_output(first, "meta") is None
    finally:
        wb.close()


def test_sets_tags_and_streams(workbench) -> None:
    md5s = [workbench.store_sample(f"line {i}\nnext\n".encode(), f"f{i}.log", "log") for i in range(3)]
    workbench.add_tags(md5s[0], ["bad", "seen"])
    workbench.set_tags(md5s[1], "bad")
    assert workbench.get_tags(md5s[0]) == ["bad", "seen"]
    assert workbench.get_all_tags() == {"bad": 2, "seen": 1}
    set_id = workbench.generate_sample_set(tags=["bad"])
    assert workbench.get_sample_set(set_id) == md5s[:2]
    assert workbench.store_sample_set(md5s[:2]) == set_id
    assert workbench.get_sample_set(workbench.generate_sample_set(type_tag="log")) == md5s
    with pytest.raises(UnknownSampleSet, match="no sample set 'nope'"):
        workbench.get_sample_set("nope")
    assert list(workbench.stream_sample(md5s[2])) == [{"row": "line 2"}, {"row": "next"}]  # the original's rows
    results = list(workbench.set_work_request("meta", set_id, ["meta.filename"]))  # the original's flat dicts
    assert sorted(results, key=lambda r: r["filename"]) == [{"filename": "f0.log"}, {"filename": "f1.log"}]
    outputs = list(workbench.set_work_request("meta", set_id))  # no subkeys: each item is the output itself
    assert sorted(r["md5"] for r in outputs) == sorted(md5s[:2]) and {r["type_tag"] for r in outputs} == {"log"}
    assert workbench.get_sample_set(workbench.generate_sample_set("log")) == md5s  # a type_tag counts as a tag
    assert workbench.get_sample_set(workbench.generate_sample_set(["log", "seen"])) == md5s[:1]
    assert workbench.get_sample_set(workbench.generate_sample_set(["log", "pdf"])) == []


def test_sample_sets_are_removed_on_request_and_generated_ones_expire(workbench) -> None:
    """Issue 17: remove_sample_set; generated sets last sample_set_days, stored lists until removed."""
    md5s = [workbench.store_sample(f"set member {i}".encode(), f"m{i}.txt", "txt") for i in range(3)]
    stored = workbench.store_sample_set(md5s)
    generated = workbench.generate_sample_set(type_tag="txt")
    assert generated == stored  # the same list: one set, which a stored list keeps for good
    assert workbench.remove_sample_set(stored) is True and workbench.remove_sample_set(stored) is False
    with pytest.raises(UnknownSampleSet, match="removed, or expired"):
        workbench.set_work_request("meta", stored)
    workbench.config.set("server", "sample_set_days", 0.1 / 86400)  # 0.1 s
    short = workbench.generate_sample_set(type_tag="txt")
    assert workbench.get_sample_set(short) == md5s
    time.sleep(0.2)
    with pytest.raises(UnknownSampleSet, match="expired after sample_set_days"):
        workbench.get_sample_set(short)
    workbench.config.set("server", "sample_set_days", 7.0)
    other = workbench.generate_sample_set(type_tag="txt")  # made again: and the expired copy's rows purged
    assert workbench.get_sample_set(other) == md5s
    assert workbench.store._db.execute("SELECT COUNT(*) FROM set_members").fetchone()[0] == 3


def test_batch_errors_are_records_and_the_stream_goes_on(workbench) -> None:
    good = workbench.store_sample(b"%PDF-1.4 fake", "x.pdf", "pdf")
    other = workbench.store_sample(b"text", "x.txt", "")
    results = {r["md5"]: r for r in workbench.batch_work_request("pdf_only", {"md5_list": [good, other]})}
    assert results[good] == {"md5": good, "ok": True}
    assert results[other]["error"]["type"] == "WorkerNotApplicable"
    assert results[other]["error"]["kind"] == "not_applicable"
    with pytest.raises(BadArgument, match="unknown batch options"):
        workbench.batch_work_request("meta", {"type": "exe"})


def test_unknown_md5_everywhere(workbench) -> None:
    for call in (lambda: workbench.work_request("meta", "1" * 32), lambda: workbench.get_sample("1" * 32),
                 lambda: workbench.add_tags("1" * 32, ["x"]), lambda: workbench.explain("meta", "1" * 32)):
        with pytest.raises(UnknownMD5, match="no sample with md5 1{32}"):
            call()
    with pytest.raises(WorkerFailed):
        raise WorkerFailed("the family is catchable as one")


def test_stream_sample_gives_bro_logs_as_typed_records(workbench) -> None:
    from workbench.testing import require_data

    raw = (require_data("bro") / "conn.log").read_bytes()
    md5 = workbench.store_sample(raw, "conn.log", "")
    records = list(workbench.stream_sample(md5))
    data_lines = [line for line in raw.decode().splitlines() if line and not line.startswith("#")]
    assert len(records) == len(data_lines)
    first = data_lines[0].split("\t")
    assert records[0]["ts"] == float(first[0]) and records[0]["id.orig_p"] == int(first[3])
    assert len(list(workbench.stream_sample(md5, max_rows=5))) == 5
