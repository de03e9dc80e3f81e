"""Issue 16: one chain plan per request, made once in the front; one executor protocol; one out-of-memory policy;
ServerUnavailable for pool events; outputs encoded once; declared data files in worker versions."""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import gevent
import msgpack
import pytest

from workbench.exceptions import ServerUnavailable, StoreError, WorkerFailed, WorkerTimeout
from workbench.server.data_store import open_store
from workbench.server.execution.pipe_protocol import EncodedOutput, decoded, pack_relayed
from workbench.server.execution.process_pool import ProcessPool
from workbench.server.intake.sample_intake import store_bytes
from workbench.server.planning import chain_plan
from workbench.server.planning.chain_plan import ChainPlan
from workbench.server.planning.plugin_manager import LoadedWorker
from workbench.server.rpc.stream_messages import batched
from workbench.server.workbench import Workbench
from workbench.testing import make_config, make_workbench, plan_for, require_data


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
    plugin(folder, "base", 'return {"n": len(input_data["sample"]["raw_bytes"])}', ["sample"])
    plugin(folder, "top", 'return {"twice": input_data["base"]["n"] * 2}', ["base"])
    plugin(folder, "pdf_only", 'return {"ok": True}', ["sample"], extra="applies_to = ('pdf',)")
    plugin(folder, "uncached", 'return {"ok": True}', ["base"], extra="cacheable = False")
    plugin(folder, "marked", 'return {"marker": "only once"}', ["sample"])
    plugin(folder, "hungry", "raise MemoryError()", ["sample"])
    plugin(folder, "needs_hungry", "return {}", ["hungry"])
    plugin(folder, "sleepy", "import time; time.sleep(30)", ["sample"], extra="timeout = 0.5")
    return folder


@pytest.fixture
def workbench(tmp_path: Path, plugins: Path) -> Iterator:
    wb = make_workbench(tmp_path / "store", plugin_dirs=[str(plugins)])
    yield wb
    wb.close()


def test_a_cold_view_on_a_pe_reads_the_sample_once_and_each_chain_version_once(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pe = sorted(require_data("pe/good").iterdir())[0]
    wb = make_workbench(tmp_path)
    try:
        md5 = wb.store_sample(pe.read_bytes(), pe.name)
        reads: Counter = Counter()
        for method in ("get_sample_info", "get_output", "get_sample_bytes"):
            original = getattr(wb.store, method)

            def spy(*args, _original=original, _method=method):  # noqa: ANN001, ANN202
                reads[(_method, args[1] if _method == "get_output" else None)] += 1
                return _original(*args)

            monkeypatch.setattr(wb.store, method, spy)
        hashed: Counter = Counter()
        real_hash = chain_plan.chain_hash
        monkeypatch.setattr(chain_plan, "chain_hash", lambda versions: hashed.update([len(versions)]) or
                            real_hash(versions))
        versions_read: Counter = Counter()
        real_version = LoadedWorker.version
        monkeypatch.setattr(LoadedWorker, "version", lambda self: versions_read.update([self.name]) or
                            real_version(self))

        assert wb.work_request("view", md5)["view"]["view_worker"] == "view_pe"

        closure = wb.plugins.closure("view", "exe")
        assert len(closure) >= 5 and closure[-1] == "view"
        assert reads[("get_sample_info", None)] == 1, "the sample's info is read once per request"
        assert reads[("get_sample_bytes", None)] == 1, "its bytes once"
        assert reads[("get_output", "view")] == 1, "the requested output is looked up once"
        assert sum(hashed.values()) == len(closure), "one chain version per worker of the chain"
        assert versions_read == Counter(closure), "each worker's version read once"
        assert wb.info()["workers_run"] == dict.fromkeys(closure, 1)

        reads.clear()
        hashed.clear()
        assert wb.work_request("view", md5)["view"]["view_worker"] == "view_pe"
        assert reads == {("get_sample_info", None): 1, ("get_output", "view"): 1}, "a hit: type_tag and output"
        assert not hashed, "chain versions are made once per plugin generation, not per request"
    finally:
        wb.close()


def test_a_batchs_cold_chains_are_planned_from_its_chunk_query_and_each_samples_info(
        workbench, monkeypatch: pytest.MonkeyPatch) -> None:
    md5s = [workbench.store_sample(f"sample {i}\n".encode(), f"{i}.txt", "") for i in range(5)]
    reads: Counter = Counter()
    for method in ("get_sample_info", "get_output", "get_output_stamps", "get_outputs"):
        original = getattr(workbench.store, method)

        def spy(*args, _original=original, _method=method):  # noqa: ANN001, ANN202
            reads[_method] += 1
            return _original(*args)

        monkeypatch.setattr(workbench.store, method, spy)
    items = list(workbench.batch_work_request("base", {"md5_list": md5s}))
    assert sorted(item["n"] for item in items) == [9] * 5
    assert reads == {"get_outputs": 1, "get_sample_info": 5}, "one chunk query, then each sample's info: no more"
    reads.clear()
    assert len(list(workbench.batch_work_request("top", {"md5_list": md5s}))) == 5
    assert reads == {"get_outputs": 1, "get_sample_info": 5, "get_output_stamps": 5, "get_output": 5}, \
        "only the step below the top is looked up (and read: base's stored output is top's input)"
    assert workbench.explain("top", md5s[0])["plan"][0]["status"] == "cached"


def test_explain_prints_the_plan_with_every_status_and_why(workbench, plugins: Path) -> None:
    md5 = workbench.store_sample(b"some text\n", "t.txt", "")
    cold = workbench.explain("top", md5)
    assert cold == workbench.front.planner.plan("top", md5, every_step=True).explain(), "explain is the plan"
    assert [(s["worker"], s["status"]) for s in cold["plan"]] == [("base", "to_run"), ("top", "to_run")]
    assert all(s["reason"] == "no stored output for this sample yet" for s in cold["plan"])
    assert cold["type_tag"] == "txt" and cold["plan"][1]["dependencies"] == ["base"]

    workbench.work_request("top", md5)
    warm = workbench.explain("top", md5)["plan"]
    assert [s["status"] for s in warm] == ["cached", "cached"] and all("code unchanged" in s["reason"] for s in warm)
    assert all(s["stored"] for s in warm)

    plugin(plugins, "base", 'return {"n": -1}', ["sample"])
    os.utime(plugins / "base.py", ns=(1, 1))
    workbench.plugins.refresh()
    stale = {s["worker"]: s for s in workbench.explain("top", md5)["plan"]}
    assert stale["base"]["status"] == "stale" and stale["base"]["reason"].endswith("in: base")
    assert stale["top"]["status"] == "stale" and stale["top"]["reason"].endswith("in: base")
    assert workbench.work_request("top", md5)["top"] == {"md5": md5, "twice": -2}

    na = workbench.explain("pdf_only", md5)["plan"][-1]
    assert na["status"] == "not_applicable" and na["reason"] == "applies to pdf, sample is 'txt'"
    uncached = workbench.explain("uncached", md5)["plan"]
    assert [s["status"] for s in uncached] == ["cached", "to_run"]
    assert uncached[-1]["reason"] == "not cacheable: its output depends on other samples"


def test_the_cache_check_is_the_plan_with_nothing_to_run(workbench) -> None:
    md5 = workbench.store_sample(b"cache me\n", "c.txt", "")
    assert workbench.front.planner.plan("top", md5).to_run == ["base", "top"]
    output = workbench.work_request("top", md5)["top"]
    chains_before = workbench.info()["counters"]["chains_run"]
    plan = workbench.front.planner.plan("top", md5)
    assert plan.to_run == [] and {"md5": md5, **plan.output} == output  # the API adds md5 when served
    assert workbench.work_request("top", md5)["top"] == output
    assert workbench.info()["counters"]["chains_run"] == chains_before


def test_test_worker_is_the_plan_with_every_step_marked_to_run(workbench) -> None:
    md5 = workbench.store_sample(b"test me\n", "t.txt", "")
    workbench.work_request("top", md5)
    plan = workbench.front.planner.plan("top", md5, run_all=True)
    assert plan.to_run == ["base", "top"]
    assert {s.reason for s in plan.steps} == {"test_worker runs every step afresh"}
    before = Counter(workbench.info()["workers_run"])
    report = workbench.test_worker("top")
    assert report["ok"] and report["md5"] == md5 and report["output"] == {"twice": 16}
    ran = Counter(workbench.info()["workers_run"]) - before
    assert ran == {"base": 1, "top": 1}, "every step of the chain ran again, cached or not"


def test_a_plan_travels_to_a_worker_process_intact(workbench) -> None:
    md5 = workbench.store_sample(b"wire\n", "w.txt", "")
    plan = workbench.front.planner.plan("top", md5)
    back = ChainPlan.from_wire(json.loads(json.dumps(plan.to_wire())))
    assert back.to_run == plan.to_run and back.sample == plan.sample and back.timeout == plan.timeout
    assert [(s.worker, s.shape.chain_version, s.shape.versions, s.shape.dependencies) for s in back.steps] == [
        (s.worker, s.shape.chain_version, s.shape.versions, s.shape.dependencies) for s in plan.steps]


def test_each_output_is_json_encoded_once(workbench, monkeypatch: pytest.MonkeyPatch) -> None:
    md5 = workbench.store_sample(b"encode once\n", "e.txt", "")
    encoded: list[object] = []
    real_dumps = json.dumps

    def counting_dumps(value, *args, **kwargs):  # noqa: ANN001, ANN202
        if isinstance(value, dict) and value.get("marker"):
            encoded.append(value)
        return real_dumps(value, *args, **kwargs)

    monkeypatch.setattr(json, "dumps", counting_dumps)
    assert workbench.work_request("marked", md5)["marked"] == {"md5": md5, "marker": "only once"}
    assert len(encoded) == 1, "validation and the store share one encoding"
    assert workbench.store.get_output(md5, "marked")["output"] == {"marker": "only once"}


def test_out_of_memory_fails_the_request_naming_the_worker(workbench) -> None:
    md5 = workbench.store_sample(b"oom\n", "o.txt", "")
    with pytest.raises(WorkerFailed, match=r"'hungry' ran out of memory on sample .* worker_memory_mb"):
        workbench.work_request("hungry", md5)
    with pytest.raises(WorkerFailed, match=r"'hungry' ran out of memory .*\(needed by 'needs_hungry'\)"):
        workbench.work_request("needs_hungry", md5)
    assert workbench.store.get_output(md5, "hungry") is None


def test_the_local_executor_honours_worker_timeouts(workbench) -> None:
    md5 = workbench.store_sample(b"zzz\n", "z.txt", "")
    started = time.monotonic()
    with pytest.raises(WorkerTimeout, match=r"'sleepy' timed out after 0.5 s"):
        workbench.work_request("sleepy", md5)
    assert time.monotonic() - started < 10


@pytest.fixture
def pool_setup(tmp_path: Path) -> Iterator[tuple[dict, str]]:
    folder = tmp_path / "plugins"
    plugin(folder, "hungry", "raise MemoryError()", ["sample"])
    plugin(folder, "slowish", 'import time; time.sleep(2); return {"done": True}', ["sample"])
    uri = f"sqlite:///{tmp_path}/workbench.db"
    store = open_store(uri)
    md5 = store_bytes(store, b"pool plan", "p.txt", "", 0)
    store.close()
    yield {"config_path": None, "config": make_config(uri).as_dict(), "datastore": uri,
           "plugin_dirs": [str(folder)]}, md5


def test_out_of_memory_in_a_worker_process_keeps_the_process(pool_setup) -> None:
    init, md5 = pool_setup
    pool = ProcessPool(1, init)
    try:
        pid = pool._children[0].pid
        with pytest.raises(WorkerFailed, match="'hungry' ran out of memory"):
            pool.run(plan_for(init, "hungry", md5, 30))
        assert pool.run(plan_for(init, "meta", md5, 30)).output["md5"] == md5
        assert pool.replaced == 0 and pool.alive() == 1 and pool._children[0].pid == pid
    finally:
        pool.close()


def test_a_closing_pool_answers_server_unavailable(pool_setup) -> None:
    init, md5 = pool_setup
    assert not issubclass(ServerUnavailable, StoreError), "a pool event is not a store problem"
    pool = ProcessPool(1, init, prefetch=0)
    running = gevent.spawn(pool.run, plan_for(init, "slowish", md5, 30))
    waiting = gevent.spawn(pool.run, plan_for(init, "meta", md5, 30))
    gevent.sleep(0.3)
    pool.close()
    for task in (running, waiting):
        with pytest.raises(ServerUnavailable, match="shutting down"):
            task.get(timeout=10)
    with pytest.raises(ServerUnavailable, match="shutting down"):
        pool.run(plan_for(init, "meta", md5, 30))


def test_declared_data_files_are_folded_into_the_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_plan, "DATA_FILE_CHECK_S", 0.0)
    folder = tmp_path / "plugins"
    plugin(folder, "lookup", 'return {"words": open(self.options["table"]).read().split()}', ["sample"],
           extra='options = {"table": ""}\n        data_files = ("table",)')
    plugin(folder, "bad_decl", "return {}", ["sample"], extra='options = {"table": ""}\n        data_files = ("nope",)')
    table = tmp_path / "table.txt"
    table.write_text("alpha beta")
    wb = make_workbench(tmp_path / "store", {"lookup": {"table": str(table)}}, plugin_dirs=[str(folder)])
    try:
        md5 = wb.store_sample(b"data files\n", "d.txt", "")
        assert wb.work_request("lookup", md5)["lookup"] == {"md5": md5, "words": ["alpha", "beta"]}
        assert wb.explain("lookup", md5)["plan"][-1]["status"] == "cached"
        table.write_text("gamma")
        os.utime(table, ns=(1, 1))
        step = wb.explain("lookup", md5)["plan"][-1]
        assert step["status"] == "stale" and step["reason"].endswith("in: lookup")
        assert wb.work_request("lookup", md5)["lookup"] == {"md5": md5, "words": ["gamma"]}
        failed = {w["name"]: w for w in wb.list_all_workers()}["bad_decl"]
        assert failed["status"] == "failed" and "'data_files' names ['nope']" in failed["error"]
    finally:
        wb.close()


def test_relayed_outputs_pack_to_the_same_bytes_as_their_values() -> None:
    for size in (0, 3, 15, 16, 300, 70_000):  # fixmap, map16 and map32 headers, before and after md5 is added
        output = {f"k{i}": [i, f"v{i}", i / 3] for i in range(size)}
        encoded = EncodedOutput.of(output)
        assert encoded.value() == output and decoded(encoded) == output and decoded(output) is output
        with_md5 = encoded.with_md5("a" * 32)
        assert with_md5.packed == msgpack.packb({"md5": "a" * 32, **output}, use_bin_type=True)
        assert with_md5.with_md5("b" * 32) is with_md5, "an output that has an md5 keeps it"
        for items in (1, 15, 16, 300):
            assert pack_relayed(({"response_to": "x"}, "STREAM", [with_md5] * items)) == msgpack.packb(
                ({"response_to": "x"}, "STREAM", [{"md5": "a" * 32, **output}] * items), use_bin_type=True)
    nested = EncodedOutput.of({"n": 1})
    mixed = [nested, {"md5": "m", "w": nested, "deeper": (1, [nested])}, {"plain": b"\x00", "none": None}]
    assert pack_relayed(mixed) == msgpack.packb(
        [{"n": 1}, {"md5": "m", "w": {"n": 1}, "deeper": [1, [{"n": 1}]]}, {"plain": b"\x00", "none": None}],
        use_bin_type=True)
    with pytest.raises(TypeError, match="can not serialize 'object'"):
        pack_relayed([nested, object()])


def test_a_cold_batch_relays_each_output_as_its_worker_process_encoded_it(
        tmp_path: Path, plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(f"sqlite:///{tmp_path}/workbench.db")
    config.set("server", "plugin_dirs", str(plugins))
    wb = Workbench(config, procs=1)
    try:
        md5s = [wb.store_sample(f"relayed {i}\n".encode(), f"{i}.txt", "") for i in range(3)]
        decodes: Counter = Counter()
        value = EncodedOutput.value
        monkeypatch.setattr(EncodedOutput, "value", lambda self: decodes.update([1]) or value(self))
        sent = [item for batch in batched(wb.batch_work_request("base", {"md5_list": md5s}), 10) for item in batch]
        assert {type(item) for item in sent} == {EncodedOutput} and not decodes, "the server decoded nothing"
        items = msgpack.unpackb(pack_relayed(({}, "STREAM", sent)))[2]
        assert sorted(list(item.items()) for item in items) == sorted(
            [("md5", md5), ("n", 10)] for md5 in md5s), "each output carries its md5, first, as the original's did"
        assert wb.info()["counters"]["chains_run"] == 3
        more = [wb.store_sample(f"in process {i}\n".encode(), f"p{i}.txt", "") for i in range(2)]
        assert sorted(list(item.items()) for item in wb.batch_work_request("base", {"md5_list": more})) == [
            [("md5", md5), ("n", 13)] for md5 in sorted(more)], "iterated in the server itself: values"
        assert decodes[1] == 2
    finally:
        wb.close()
