"""The ``workbench`` command from a shell: daily jobs, exit codes, one-line errors, and local mode (analyze)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import zerorpc
from clients_support import one_line_error
from conftest import RunningServer, free_port, start_server

from workbench.clients.client_helper import upload_file
from workbench.testing import REPO_ROOT, require_data

WORKBENCH = shutil.which("workbench")
needs_console_script = pytest.mark.skipif(WORKBENCH is None, reason="the `workbench` console script is not "
                                          "installed: run ./install.sh (pip install -e .)")


def shell(command: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """A command line run by bash, as a person would type it."""
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("workbench_cli"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    return server.client(timeout=120)


@pytest.fixture
def stored_pe(wb: zerorpc.Client) -> list[str]:
    """The PE samples, uploaded if an earlier test did not (so each test also runs alone)."""
    return [upload_file(wb, p) for p in sorted(require_data("pe").rglob("*")) if p.is_file()]


@needs_console_script
def test_upload_then_batch_pe_features_from_a_shell(server: RunningServer, wb: zerorpc.Client) -> None:
    pe = require_data("pe")
    files = sorted(p for p in pe.rglob("*") if p.is_file())
    done = shell(f"workbench -s 127.0.0.1 -p {server.port} upload --json {pe} "
                 f"&& workbench batch pe_features --type-tag exe -p {server.port} --json")
    assert done.returncode == 0, done.stderr
    upload_end = done.stdout.index("\n]\n") + 3  # the upload's JSON document, then one JSON line per result
    uploaded = json.loads(done.stdout[:upload_end])
    assert sorted(r["md5"] for r in uploaded) == sorted(hashlib.md5(p.read_bytes()).hexdigest() for p in files)
    assert {r["type_tag"] for r in uploaded} == {"exe"}
    results = [json.loads(line) for line in done.stdout[upload_end:].splitlines()]
    assert sorted(r["md5"] for r in results) == sorted({r["md5"] for r in uploaded})
    for result in results[:5]:
        assert result["pe_features"] == wb.work_request("pe_features", result["md5"])["pe_features"]
    assert f"pe_features: {len(results)} samples: {len(results)} ok, 0 failed" in done.stderr


@needs_console_script
def test_batch_prints_a_table_for_people_and_writes_parquet(server: RunningServer, tmp_path: Path,
                                                             stored_pe: list[str]) -> None:
    import pandas as pd

    out = tmp_path / "features.parquet"
    done = shell(f"workbench -p {server.port} batch pe_features --tag-free --type-tag exe")
    assert done.returncode == 2 and "unrecognized arguments: --tag-free" in done.stderr
    done = shell(f"workbench -p {server.port} batch pe_features --type-tag exe --subkeys "
                 f"pe_features.dense_features.file_size,pe_features.dense_features.number_of_sections --out {out}")
    assert done.returncode == 0, done.stderr
    header, rule, *rows = done.stdout.splitlines()
    assert header.split() == ["md5", "status", "dense_features.file_size", "dense_features.number_of_sections"]
    frame = pd.read_parquet(out)
    assert len(rows) == len(frame) == 84 and set(frame.error_kind.isna()) == {True}
    sizes = dict(zip(frame.md5, frame["dense_features.file_size"], strict=True))
    for row in rows[:10]:
        md5, status, size, _ = row.split()
        assert status == "ok" and float(size) == sizes[md5]


@needs_console_script
def test_work_accepts_md5_prefixes_and_reports_worker_failures(server: RunningServer, wb: zerorpc.Client,
                                                               stored_pe: list[str]) -> None:
    md5 = sorted(wb.get_sample_set(wb.generate_sample_set(None, "exe")))[0]
    done = shell(f"workbench -p {server.port} --json work meta {md5[:12]}")
    assert done.returncode == 0 and json.loads(done.stdout) == [wb.work_request("meta", md5)]
    picked = shell(f"workbench -p {server.port} --json work pe_features {md5} --subkeys dense_features.file_size")
    assert json.loads(picked.stdout) == [{"md5": md5, "pe_features": {"dense_features": {
        "file_size": wb.work_request("pe_features", md5, "dense_features.file_size")["file_size"]}}}]
    people = shell(f"workbench -p {server.port} work view_pe {md5}")
    assert people.returncode == 0 and people.stdout.startswith(f"== view_pe {md5}\nmd5: {md5}")
    failed = shell(f"workbench -p {server.port} work pcap_meta {md5}")
    assert failed.returncode == 1 and "WorkerNotApplicable" in one_line_error(failed)
    unknown = shell(f"workbench -p {server.port} work no_such_worker {md5}")
    assert unknown.returncode == 2 and "UnknownWorker" in one_line_error(unknown)
    stored = wb.get_sample_set(wb.generate_sample_set(None, None))
    absent = next(p for p in (f"{i:05x}" for i in range(2**20)) if not any(m.startswith(p) for m in stored))
    shared = next(p for p in "0123456789abcdef" if sum(m.startswith(p) for m in stored) > 1)
    for prefix, says in ((absent, "matches no stored sample"), (shared, "matches several samples")):
        done = shell(f"workbench -p {server.port} work meta {prefix}")
        assert done.returncode == 2 and says in one_line_error(done)


@needs_console_script
def test_workers_help_tags_and_info_print_what_the_server_says(server: RunningServer, wb: zerorpc.Client,
                                                              stored_pe: list[str]) -> None:
    port = server.port
    workers = json.loads(shell(f"workbench -p {port} workers --json").stdout)
    assert workers == wb.list_all_workers()
    assert shell(f"workbench -p {port} help meta").stdout.strip() == wb.help("meta").strip()
    wb.add_tags(wb.get_sample_set(wb.generate_sample_set(None, "exe"))[0], ["cli-test"])
    assert json.loads(shell(f"workbench -p {port} tags --json").stdout) == wb.get_all_tags()
    assert "cli-test" in shell(f"workbench -p {port} tags").stdout
    info = json.loads(shell(f"workbench -p {port} info --json").stdout)
    assert info["samples"] == wb.info()["samples"] and info["version"] == wb.version()
    table = shell(f"workbench -p {port} workers").stdout.splitlines()
    assert table[0].split() == ["name", "status", "summary"] and len(table) == len(workers) + 2


@needs_console_script
def test_a_wrong_server_address_is_one_line_and_a_nonzero_exit() -> None:
    nobody = free_port()
    for address in (f"-s 127.0.0.1 -p {nobody}", "-s no-such-host.invalid -p 4242"):
        done = shell(f"workbench {address} info")
        assert done.returncode == 3 and not done.stdout
        assert "no Workbench server answered" in one_line_error(done)
    with socket.socket() as listener:  # something listens, but it is not Workbench: the RPC probe times out
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        done = shell(f"workbench -s 127.0.0.1 -p {listener.getsockname()[1]} tags")
    assert done.returncode == 3 and "no Workbench server answered" in one_line_error(done)


@needs_console_script
def test_analyze_uses_a_server_that_answers(server: RunningServer, wb: zerorpc.Client) -> None:
    path = require_data("pdf/good") / sorted(os.listdir(require_data("pdf/good")))[0]
    done = shell(f"workbench -p {server.port} analyze --json {path}")
    assert done.returncode == 0 and "starting a local one" not in done.stderr
    (result,) = json.loads(done.stdout)
    assert result["view"] == wb.work_request("view", hashlib.md5(path.read_bytes()).hexdigest())["view"]


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment carries the marker (the CLI, its server, worker processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


@needs_console_script
def test_analyze_with_no_server_starts_a_local_one_prints_the_view_and_leaves_nothing(tmp_path: Path) -> None:
    sample = require_data("pe/bad") / "033d91aae8ad29ed9fbb858179271232"
    marker = f"WORKBENCH_TEST_MARKER={uuid.uuid4().hex}"
    env = {"XDG_DATA_HOME": str(tmp_path), "WORKBENCH_TEST_MARKER": marker.split("=")[1]}
    done = shell(f"workbench -p {free_port()} analyze {sample}", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"== {sample} (view)\nmd5: {sample.name}\nview_worker: view_pe\ntype_tag: exe\n"
                                  "view:\n  md5: 033d91aae8ad29ed9fbb858179271232\n")
    assert "file_type: PE32 executable" in done.stdout and "indicators:" in done.stdout
    assert (tmp_path / "workbench" / "local.db").is_file()  # the user data folder ($XDG_DATA_HOME/workbench)
    pid = int(next(line for line in done.stderr.splitlines() if "local server pid" in line).split("pid ")[1].split()[0])
    assert not Path(f"/proc/{pid}").exists(), "the local server outlived the command"
    assert _processes_with(marker) == [], "a server or worker process was left behind"
