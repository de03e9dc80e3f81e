"""Issue 2 acceptance: a real server on 127.0.0.1 over a real sqlite file, real samples, real clients."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
import zerorpc

from workbench.clients.client_helper import batch_results
from workbench.testing import REPO_ROOT, require_data

COUNTING_WORKER = '''
"""Counting: appends a line to a log file on every execute (proves when worker code runs)."""
import os


class Counting:
    """Counts its own executions in the file named by $WORKBENCH_TEST_COUNT_FILE."""

    dependencies = ["meta"]

    def execute(self, input_data):
        with open(os.environ["WORKBENCH_TEST_COUNT_FILE"], "a") as log:
            log.write(input_data["meta"]["md5"] + "\\n")
        return {"length": input_data["meta"]["length"]}
'''

CHAIN_WORKERS = {
    "chain_a": ("sample",),
    "chain_b": ("sample", "chain_a"),
    "chain_c": ("sample", "chain_b"),
}


def write_worker(folder: Path, name: str, source: str) -> Path:
    """A worker file in a plugin folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def chain_worker_source(name: str, deps: tuple[str, ...]) -> str:
    """A worker that reads the sample's bytes and adds 1 to its dependency's depth."""
    below = [d for d in deps if d != "sample"]
    depth = f'input_data["{below[0]}"]["depth"] + 1' if below else "1"
    return f'''
class {name.title().replace("_", "")}:
    """Chain test worker {name}."""

    dependencies = {list(deps)!r}

    def execute(self, input_data):
        return {{"depth": {depth}, "length": len(input_data["sample"]["raw_bytes"])}}
'''


def pe_good_files() -> list[Path]:
    return sorted(p for p in require_data("pe/good").iterdir() if p.is_file())


def test_upload_dir_stores_every_pe_good_sample_under_its_md5(server) -> None:
    files = pe_good_files()
    assert len(files) == 43
    result = subprocess.run([sys.executable, "-m", "workbench.clients.upload_dir", "-s", "localhost", "-p",
                             str(server.port), "--json", str(require_data("pe/good"))],
                            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    expected = {hashlib.md5(p.read_bytes()).hexdigest(): str(p) for p in files}
    assert {row["md5"]: row["path"] for row in rows} == expected
    client = server.client()
    assert client.info()["samples"] == 43
    for md5 in expected:
        assert client.has_sample(md5)
    again = subprocess.run([sys.executable, "-m", "workbench.clients.upload_dir", "-p", str(server.port),
                            "--json", str(require_data("pe/good"))], capture_output=True, text=True, timeout=300)
    assert len(json.loads(again.stdout)) == 43
    assert client.info()["samples"] == 43, "a second upload must keep one copy of each sample"


def test_meta_matches_independent_hashes_and_second_request_runs_no_worker_code(server_factory, tmp_path) -> None:
    count_file = tmp_path / "executions.log"
    plugins = tmp_path / "plugins"
    write_worker(plugins, "counting", COUNTING_WORKER)
    server = server_factory(plugin_dirs=[plugins], extra_env={"WORKBENCH_TEST_COUNT_FILE": str(count_file)})
    client = server.client()
    path = pe_good_files()[0]
    data = path.read_bytes()
    md5 = client.store_sample(data, path.name, "")
    meta = client.work_request("meta", md5)["meta"]
    assert meta["md5"] == hashlib.md5(data).hexdigest() == path.name
    assert meta["sha1"] == hashlib.sha1(data).hexdigest()
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["length"] == len(data) == path.stat().st_size
    assert meta["type_tag"] == "exe" and meta["file_type"].startswith("PE32")

    first = client.work_request("counting", md5)
    assert count_file.read_text().splitlines() == [md5]
    runs_before = client.info()["workers_run"]
    second = client.work_request("counting", md5)
    assert second == first
    assert count_file.read_text().splitlines() == [md5], "the cached request must not execute the worker"
    assert client.info()["workers_run"] == runs_before
    assert client.work_request("meta", md5)["meta"] == meta


def test_sample_bytes_read_once_for_a_three_worker_chain_and_never_when_cached(server_factory, tmp_path) -> None:
    plugins = tmp_path / "plugins"
    for name, deps in CHAIN_WORKERS.items():
        write_worker(plugins, name, chain_worker_source(name, deps))
    server = server_factory(plugin_dirs=[plugins], extra_env={"WORKBENCH_TRACE": "1"})
    client = server.client()
    md5 = client.store_sample(b"three workers, one read" * 100, "chain.txt", "")
    result = client.work_request("chain_c", md5)["chain_c"]
    assert result == {"md5": md5, "depth": 3, "length": 2300}
    info = client.info()
    assert info["workers_run"] == {"chain_a": 1, "chain_b": 1, "chain_c": 1}
    assert info["counters"]["sample_reads"] == 1
    assert server.log().count(f"sample bytes read md5={md5}") == 1
    assert client.work_request("chain_c", md5)["chain_c"] == result
    assert client.work_request("chain_b", md5)["chain_b"] == {"md5": md5, "depth": 2, "length": 2300}
    assert client.info()["counters"]["sample_reads"] == 1
    assert server.log().count(f"sample bytes read md5={md5}") == 1


def test_editing_a_worker_file_changes_the_next_result_without_restart(server_factory, tmp_path) -> None:
    plugins = tmp_path / "plugins"
    source = '''
class Editable:
    """Returns a constant that the test edits."""

    dependencies = ["meta"]

    def execute(self, input_data):
        return {"value": VALUE}
'''
    path = write_worker(plugins, "editable", source.replace("VALUE", "1"))
    server = server_factory(plugin_dirs=[plugins])
    client = server.client()
    md5 = client.store_sample(b"edit me", "e.txt", "")
    assert client.work_request("editable", md5)["editable"] == {"md5": md5, "value": 1}  # outputs carry md5
    path.write_text(textwrap.dedent(source.replace("VALUE", "2")))
    deadline = time.monotonic() + 2.5
    while client.work_request("editable", md5)["editable"] != {"md5": md5, "value": 2}:
        assert time.monotonic() < deadline, "the edited worker did not take effect within 2 s"
        time.sleep(0.1)
    assert client.explain("editable", md5)["plan"][-1]["status"] == "cached"
    write_worker(plugins, "added_later", source.replace("Editable", "AddedLater").replace("VALUE", "3"))
    deadline = time.monotonic() + 2.5
    while "added_later" not in {w["name"] for w in client.list_all_workers()}:
        assert time.monotonic() < deadline, "a new worker file was not picked up within 2 s"
        time.sleep(0.1)
    assert client.work_request("added_later", md5)["added_later"] == {"md5": md5, "value": 3}
    path.unlink()
    deadline = time.monotonic() + 2.5
    while "editable" in {w["name"] for w in client.list_all_workers()}:
        assert time.monotonic() < deadline, "a deleted worker was still listed after 2 s"
        time.sleep(0.1)
    with pytest.raises(zerorpc.RemoteError, match="unknown worker 'editable'"):
        client.work_request("editable", md5)


def test_worker_with_syntax_error_is_reported_and_skipped_while_the_rest_serve(server_factory, tmp_path) -> None:
    plugins = tmp_path / "plugins"
    write_worker(plugins, "broken_syntax", "class Broken:\n    dependencies = ['meta'\n")
    write_worker(plugins, "needs_broken", "class NeedsBroken:\n    dependencies = ['broken_syntax']\n"
                                          "    def execute(self, input_data):\n        return {}\n")
    server = server_factory(plugin_dirs=[plugins])
    client = server.client()
    workers = {w["name"]: w for w in client.list_all_workers()}
    assert workers["broken_syntax"]["status"] == "failed"
    error = workers["broken_syntax"]["error"]
    assert "SyntaxError" in error and "broken_syntax.py" in error
    assert workers["needs_broken"]["status"] == "failed"
    assert "broken_syntax" in workers["needs_broken"]["error"]
    assert workers["meta"]["status"] == "ok"
    assert "FAILED" in client.help("broken_syntax")
    md5 = client.store_sample(b"still serving", "s.txt", "")
    assert client.work_request("meta", md5)["meta"]["length"] == 13
    with pytest.raises(zerorpc.RemoteError, match="broken_syntax.*failed to load.*SyntaxError"):
        client.work_request("broken_syntax", md5)


def test_raising_worker_fails_that_request_with_worker_and_exception_named(server_factory, tmp_path) -> None:
    plugins = tmp_path / "plugins"
    write_worker(plugins, "raiser", '''
class Raiser:
    """Always raises."""

    dependencies = ["meta"]

    def execute(self, input_data):
        return {"ratio": input_data["meta"]["length"] / 0}
''')
    server = server_factory(plugin_dirs=[plugins])
    client = server.client()
    md5 = client.store_sample(b"divide me", "d.txt", "")
    with pytest.raises(zerorpc.RemoteError) as failure:
        client.work_request("raiser", md5)
    assert failure.value.name == "WorkerFailed"
    assert "'raiser'" in failure.value.msg and "ZeroDivisionError" in failure.value.msg and md5 in failure.value.msg
    assert client.work_request("meta", md5)["meta"]["length"] == 9
    assert client.explain("raiser", md5)["plan"][-1]["status"] == "to_run", "a failure must not be stored"


def test_unknown_md5_and_unknown_worker_give_clear_errors_and_lose_nothing(server) -> None:
    client = server.client()
    md5 = client.store_sample(b"keep me safe", "k.txt", "")
    client.work_request("meta", md5)
    with pytest.raises(zerorpc.RemoteError, match=r"unknown worker 'mta'; did you mean 'meta'\?") as unknown:
        client.work_request("mta", md5)
    assert unknown.value.name == "UnknownWorker"
    with pytest.raises(zerorpc.RemoteError, match="no sample with md5 0{32}; store it first") as missing:
        client.work_request("meta", "0" * 32)
    assert missing.value.name == "UnknownMD5"
    with pytest.raises(zerorpc.RemoteError, match="bad md5 'xyz': expected 32 hex digits"):
        client.work_request("meta", "xyz")
    with pytest.raises(zerorpc.RemoteError, match="no sample with md5"):
        client.get_tags("f" * 32)
    assert client.info()["samples"] == 1
    assert client.get_sample(md5)["sample"]["raw_bytes"] == b"keep me safe"
    assert client.explain("meta", md5)["plan"][-1]["status"] == "cached"


def test_batch_work_request_streams_one_result_per_pe_sample_as_a_generator(server) -> None:
    client = server.client()
    uploaded = {client.store_sample(p.read_bytes(), p.name, "") for p in pe_good_files()}
    client.store_sample(b"not a PE", "n.txt", "")
    stream = batch_results(client, "meta", type_tag="exe", subkeys=["meta.md5", "meta.length"])
    assert isinstance(stream, types.GeneratorType)
    results = list(stream)
    assert len(results) == len(uploaded) == 43
    assert {r["md5"] for r in results} == uploaded
    assert all(r["meta"]["md5"] == r["md5"] and r["meta"]["length"] > 0 for r in results)
    single = list(client.batch_work_request("meta", {"md5_list": sorted(uploaded)[:3]}))
    assert [r["md5"] for r in single] != [] and all(isinstance(r, dict) for r in single)


def test_restart_on_the_same_database_keeps_samples_and_cached_outputs(server_factory, tmp_path) -> None:
    first = server_factory()
    client = first.client()
    md5s = [client.store_sample(p.read_bytes(), p.name, "") for p in pe_good_files()[:5]]
    client.add_tags(md5s[0], ["keep"])
    outputs = {m: client.work_request("strings", m) for m in md5s}
    assert first.stop() == 0
    second = server_factory(datastore=first.datastore)
    client = second.client()
    assert client.info()["samples"] == 5
    assert client.get_tags(md5s[0]) == ["keep"]
    assert {m: client.work_request("strings", m) for m in md5s} == outputs
    info = client.info()
    assert info["counters"].get("chains_run", 0) == 0 and info["counters"]["cache_hits"] == 5


def test_stock_zerorpc_tools_can_list_the_api(server) -> None:
    client = server.client()
    inspected = client._zerorpc_inspect()
    assert {"work_request", "batch_work_request", "store_sample", "help"} <= set(inspected["methods"])
    assert [a["name"] for a in inspected["methods"]["work_request"]["args"]] == ["worker_name", "md5", "subkeys"]
    listing = subprocess.run(["zerorpc", "--json", f"tcp://127.0.0.1:{server.port}"],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "batch_work_request" in listing.stdout and "set_work_request" in listing.stdout
    assert "_wb" not in listing.stdout, "only the public API may be listed"


def test_the_servers_zerorpc_fixes_give_its_socket_code_plain_int_flags_and_calls_still_work() -> None:
    script = textwrap.dedent("""
        import gevent, zerorpc, zerorpc.gevent_zmq as gz, zmq
        from workbench.server.rpc import zerorpc_compat
        assert type(gz.NOBLOCK) is not int, "pyzmq's constants are enum flags: nothing to fix?"
        zerorpc_compat.apply()
        zerorpc_compat.apply()  # idempotent
        assert all(type(getattr(gz, n)) is int and type(getattr(gz._zmq, n)) is int
                   for n in zerorpc_compat.FLAG_CONSTANTS)
        assert gz._zmq.Socket is zmq.Socket and type(zmq.NOBLOCK) is not int  # pyzmq itself is left alone

        class Echo:
            def echo(self, data):
                return data

            @zerorpc.stream
            def count(self, n):
                return iter(range(n))

        server = zerorpc.Server(Echo())
        server.bind("tcp://127.0.0.1:0")
        port = server._events._socket.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1]
        gevent.spawn(server.run)
        client = zerorpc.Client(timeout=10)
        client.connect(f"tcp://127.0.0.1:{port}")
        big = bytes(range(256)) * 40_000
        assert client.echo(big) == big and list(client.count(1000)) == list(range(1000))
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_only_the_public_api_is_callable(server) -> None:
    client = server.client()
    for name in ("_wb", "_commands", "store", "plugins"):
        with pytest.raises(zerorpc.RemoteError) as refused:
            getattr(client, name)()
        assert refused.value.name == "NameError"


def _children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_server_shuts_down_cleanly_and_leaves_no_worker_process(server_factory, sig: int) -> None:
    server = server_factory(procs=2)
    client = server.client()
    md5 = client.store_sample(b"shutdown", "s.txt", "")
    client.work_request("meta", md5)
    pool = _children_of(server.proc.pid)
    assert len(pool) == 2
    assert server.stop(sig) == 0
    assert "stopped" in server.log()
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in pool):
        assert time.monotonic() < deadline, "worker processes outlived the server"
        time.sleep(0.05)


def test_server_runs_on_the_mongo_backend_through_mongomock(server_factory) -> None:
    """mongomock (an in-memory stand-in for pymongo, not MongoDB) with chains in the server process."""
    server = server_factory(datastore="mongomock://localhost/workbench_test", procs=0)
    client = server.client()
    path = pe_good_files()[0]
    md5 = client.store_sample(path.read_bytes(), path.name, "")
    assert client.get_datastore_uri().startswith("mongomock://")
    assert client.work_request("meta", md5)["meta"]["md5"] == path.name
    assert client.work_request("strings", md5) == client.work_request("strings", md5)
    assert client.info()["counters"]["cache_hits"] == 1


def test_mongomock_with_worker_processes_is_refused_with_the_fix(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "workbench.server.cli", "--port", "0", "--datastore",
                             "mongomock://localhost/x", "--procs", "2"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "use --procs 0 with it" in result.stderr and "Traceback" not in result.stderr


def test_console_scripts_from_the_readme_are_installed() -> None:
    for script in ("workbench-server", "workbench"):
        result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert "usage:" in result.stdout
