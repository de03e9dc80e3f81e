"""What a new user hits first (issue 16, section 3): each rough edge as it was met, now answered clearly."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import gevent
import pyarrow.parquet as pq
import pytest
import zerorpc
from clients_support import one_line_error, run_client, run_json
from conftest import RunningServer, free_port, start_server

from workbench.testing import REPO_ROOT

SLOW_WORKER = '''
import time


class Slow:
    """Test fixture: a worker that takes 0.1 s a sample, so a batch can be interrupted halfway."""

    dependencies = ["sample"]

    def execute(self, input_data):
        time.sleep(0.1)
        return {"size": len(input_data["sample"]["raw_bytes"])}
'''


def cli(port: int, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m workbench.clients.workbench_cli -s 127.0.0.1 -p PORT ARGS...`` as a person would run it."""
    return subprocess.run([sys.executable, "-m", "workbench.clients.workbench_cli", "-s", "127.0.0.1", "-p",
                           str(port), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)


def test_ctrl_c_during_batch_out_keeps_the_rows_received_in_a_valid_file(server_factory, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "slow.py").write_text(textwrap.dedent(SLOW_WORKER))
    server = server_factory(plugin_dirs=[plugins], procs=1)
    client = server.client()
    for number in range(40):
        client.store_sample(f"sample number {number}".encode(), f"s{number}.txt", "txt")
    out = tmp_path / "f.parquet"
    batch = subprocess.Popen([sys.executable, "-m", "workbench.clients.workbench_cli", "-p", str(server.port),
                              "batch", "slow", "--json", "--out", str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env={**os.environ,
                                                                                     "PYTHONUNBUFFERED": "1"})
    first = [json.loads(batch.stdout.readline()) for _ in range(3)]  # results are arriving: interrupt now
    assert all(r["md5"] and not r.get("error") for r in first)  # flat rows (--out takes the Arrow path)
    batch.send_signal(signal.SIGINT)
    stdout, stderr = batch.communicate(timeout=60)
    assert batch.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    said = [line for line in stderr.splitlines() if "interrupted after" in line]
    assert said, stderr
    received = int(said[0].split("interrupted after ")[1].split()[0])
    assert 0 < received < 40, stderr
    assert f"{out} is a complete file of the {received} results received" in said[0]
    table = pq.read_table(out)  # a valid parquet file: footer written
    assert table.num_rows == received and set(table.column("md5").to_pylist()) <= set(
        client.get_sample_set(client.generate_sample_set(None, "txt")))
    log = server.log()
    deadline = time.monotonic() + 30
    while "client went away" not in log and time.monotonic() < deadline:  # after zerorpc's 10 s heartbeat
        time.sleep(0.5)
        log = server.log()
    assert "client went away: Lost remote" in log and "Traceback" not in log, log[-3000:]
    assert client.info()["samples"] == 40, "the server carries on"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - generator fixture
    running = start_server(tmp_path_factory.mktemp("rough_edges"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    return server.client(timeout=120)


def test_a_file_smaller_than_a_chunk_is_stored_whole_and_a_type_tag_fixes_an_old_chunk_tag(
        server: RunningServer, wb: zerorpc.Client, tmp_path: Path) -> None:
    small = tmp_path / "small.pdf"
    small.write_bytes(b"%PDF-1.4\n" + os.urandom(3000) + b"\n%%EOF\n")
    row = run_json("upload_file_chunks", server.port, small)
    info = wb.get_sample_info(row["md5"])
    assert (info["filename"], info["type_tag"], row["chunks"]) == ("small.pdf", "pdf", 1)
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"%PDF-1.4\n" + os.urandom(2000))
    md5 = wb.store_sample(wrong.read_bytes(), "wrong.bin.part0", "chunk")  # what the old client left behind
    again = run_json("upload_file_chunks", server.port, wrong, "--type-tag", "pdf")
    assert again["md5"] == md5 and again["already_stored"] is True
    assert wb.get_sample_info(md5)["type_tag"] == "pdf"


def test_upload_stores_everything_readable_and_names_each_skipped_path(server: RunningServer, wb: zerorpc.Client,
                                                                      tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    good = {folder / "a.txt": b"first readable file\n", folder / "sub" / "b.txt": b"second readable file\n"}
    for path, data in good.items():
        path.write_bytes(data)
    os.mkfifo(folder / "pipe")  # a FIFO: reading it would block forever
    (folder / "gone").symlink_to(folder / "no-such-file")  # a dangling link
    for command in (["workbench_cli", "upload", "--json"], ["upload_dir", "--json"]):
        done = subprocess.run([sys.executable, "-m", f"workbench.clients.{command[0]}", "-p", str(server.port),
                               *command[1:], str(folder)], capture_output=True, text=True, timeout=120,
                              cwd=REPO_ROOT)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        uploaded = {Path(r["path"]) for r in json.loads(done.stdout)}
        assert uploaded == set(good)
        assert f"skipped {folder / 'pipe'}: not a regular file (FIFO)" in done.stderr
        assert f"skipped {folder / 'gone'}: dangling symbolic link" in done.stderr
        assert "2 path(s) skipped, 2 file(s) uploaded" in done.stderr


def test_upload_skips_an_unreadable_file_and_folder_and_goes_on(server: RunningServer, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    """Tests run as root, whom chmod 000 does not stop: the refusals are made where Python opens the paths
    (Path.read_bytes for the file, os.scandir, which os.walk uses, for the folder), in this process."""
    from workbench.clients import workbench_cli

    folder = tmp_path / "perm"
    for name in ("1-before.txt", "2-secret.txt", "3-after.txt", "locked/inner.txt"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(f"{name} {os.urandom(8).hex()}".encode())
    real_read, real_scandir = Path.read_bytes, os.scandir

    def read_bytes(path: Path) -> bytes:
        if path.name == "2-secret.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    def scandir(path: object = ".") -> object:
        if Path(os.fsdecode(path)).name == "locked":
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(os, "scandir", scandir)
    code = workbench_cli.main(["-s", "127.0.0.1", "-p", str(server.port), "upload", "--json", str(folder)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert [Path(r["path"]).name for r in json.loads(out)] == ["1-before.txt", "3-after.txt"]
    assert f"skipped {folder / '2-secret.txt'}: not readable (Permission denied)" in err
    assert f"skipped {folder / 'locked'}: folder not readable (Permission denied)" in err


def test_an_unknown_type_tag_or_tag_is_named_with_the_known_ones(server: RunningServer, wb: zerorpc.Client) -> None:
    md5 = wb.store_sample(b"MZ" + os.urandom(500), "known.exe", "exe")
    wb.add_tags(md5, ["known_tag"])
    done = cli(server.port, "batch", "meta", "--type-tag", "exee")
    line = one_line_error(done)
    assert done.returncode == 2 and "no sample has type_tag 'exee'; known type_tags: " in line and "exe (" in line
    done = cli(server.port, "batch", "meta", "--tag", "nosuchtag")
    line = one_line_error(done)
    assert done.returncode == 2 and "no sample has tag 'nosuchtag'; known tags: " in line and "known_tag (1)" in line
    assert cli(server.port, "batch", "meta", "--tag", "known_tag", "--json").returncode == 0


def test_workbench_server_on_a_busy_port_says_so_in_one_line_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        store = tmp_path / "store" / "wb.db"
        done = subprocess.run([sys.executable, "-m", "workbench.server.cli", "--port", str(port), "--datastore",
                               f"sqlite:///{store}", "--procs", "0"], capture_output=True, text=True, timeout=60,
                              cwd=REPO_ROOT)
    assert done.returncode == 2
    assert one_line_error(done) == (f"workbench-server: port {port} on 127.0.0.1 is in use (another "
                                    "workbench-server?); stop it, or start this one with --port N")
    assert not (tmp_path / "store").exists(), "nothing created"


def test_workbench_help_explains_the_command_line_with_or_without_a_server(server: RunningServer) -> None:
    dead = free_port()
    upload = cli(dead, "help", "upload")
    assert upload.returncode == 0 and "usage: workbench upload" in upload.stdout and "--type-tag" in upload.stdout
    everything = cli(dead, "help")
    assert everything.returncode == 0
    for command in ("upload", "work", "batch", "workers", "help", "tags", "info", "analyze", "call"):
        assert f"--- workbench {command} ---" in everything.stdout
    assert "start one with `workbench-server`" in everything.stdout
    live = cli(server.port, "help")
    assert "--- workbench batch ---" in live.stdout and "Server API and workers" in live.stdout
    assert "work_request" in live.stdout and "pe_features" in live.stdout
    assert "pe_features" in cli(server.port, "help", "pe_features").stdout  # a worker: asked of the server


CLIENT_ARGS = {"upload_file": ["README.md"], "upload_dir": ["bench"], "upload_file_chunks": ["README.md"],
               "pe_peid": [], "pe_indicators": [], "pcap_meta": [], "pcap_report": [], "pcap_http": [],
               "customer_report": [], "short_md5s": ["033d"], "log_meta_stream": [], "zip_file_extraction": [],
               "pe_sim_graph": [], "help_client": [], "stress_test": []}


def test_every_client_script_answers_a_dead_port_like_workbench_does() -> None:
    scripts = {p.stem for p in (REPO_ROOT / "workbench" / "clients").glob("*.py")} - {
        "__init__", "client_helper", "workbench_cli", "local_server", "dataframes", "cli_extras", "slabs"}
    assert scripts == set(CLIENT_ARGS), "a new client script: add it to CLIENT_ARGS"
    port = free_port()
    expected = (f"no Workbench server answered at tcp://127.0.0.1:{port} (nothing listens there); start one with "
                "`workbench-server` or pass -s/--server and -p/--port")
    assert one_line_error(cli(port, "info")) == f"workbench: error: {expected}"
    for script, args in CLIENT_ARGS.items():
        done = run_client(script, port, *args, timeout=60)
        assert done.returncode == 3, f"{script}: {done.returncode} {done.stderr}"
        assert one_line_error(done) == f"{script}: error: {expected}", script


def test_an_empty_file_is_stored_and_the_uploader_is_told(server: RunningServer, wb: zerorpc.Client,
                                                           tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    done = cli(server.port, "upload", "--json", empty)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["length"] == 0 and wb.has_sample("d41d8cd98f00b204e9800998ecf8427e")
    assert f"warning: {empty} is empty (0 bytes); stored as sample d41d8cd98f00b204e9800998ecf8427e" in done.stderr


def test_workbench_call_is_json_in_json_out_with_streams_as_json_lines(server: RunningServer, wb: zerorpc.Client,
                                                                      tmp_path: Path) -> None:
    sample = tmp_path / "called.txt"
    sample.write_bytes(b"stored through workbench call\n")
    stored = cli(server.port, "call", "store_sample", f"@{sample}", "called.txt", "txt")
    assert stored.returncode == 0, stored.stderr
    md5 = json.loads(stored.stdout)
    assert wb.get_sample(md5)["sample"]["raw_bytes"] == sample.read_bytes()
    info = json.loads(cli(server.port, "call", "get_sample_info", md5).stdout)
    assert info["filename"] == "called.txt" and info["length"] == sample.stat().st_size
    lines = cli(server.port, "call", "batch_work_request", "meta",
                json.dumps({"md5_list": [md5], "subkeys": ["meta.length"]})).stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"length": sample.stat().st_size}]  # the original's flat dict
    listed = cli(server.port, "call").stdout
    assert "work_request(worker_name, md5, subkeys):" in listed and "_zerorpc" not in listed
    bad = cli(server.port, "call", "work_request", "nosuchworker", md5)
    assert bad.returncode == 2 and "UnknownWorker" in one_line_error(bad)


def test_the_adding_worker_notebook_says_first_what_server_to_start() -> None:
    import nbformat

    notebook = nbformat.read(REPO_ROOT / "notebooks" / "Adding_Worker.ipynb", as_version=4)
    assert "workbench-server --plugin-dir ~/.local/share/workbench/plugins" in notebook.cells[0].source
    assert "restart it as `workbench-server --plugin-dir {PLUGINS}`" in notebook.cells[3].source


def test_setup_py_shim_reads_the_project_from_pyproject() -> None:
    done = subprocess.run([sys.executable, "setup.py", "--name"], capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "workbench", done.stderr


def test_upload_file_sends_a_big_file_in_parts_that_never_become_samples(wb: zerorpc.Client, tmp_path: Path) -> None:
    from workbench.clients.client_helper import upload_file

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1_000_003))
    before = wb.info()["samples"]
    md5 = upload_file(wb, big, chunk_bytes=100_000)  # 11 parts, pipelined
    assert md5 == hashlib.md5(big.read_bytes()).hexdigest()
    assert wb.get_sample(md5)["sample"]["raw_bytes"] == big.read_bytes()
    assert wb.info()["samples"] == before + 1 and wb.get_sample_info(md5)["filename"] == "big.bin"
    assert upload_file(wb, big, "zip", chunk_bytes=100_000) == md5 and wb.get_sample_info(md5)["type_tag"] == "zip"


class SlowWire:
    """The client behind a wire of ``seconds`` per upload part (a network, on loopback), counting the parts handed
    to it (when upload_parts takes ``upload_part`` to send one: its greenlet may start later)."""

    def __init__(self, client: zerorpc.Client, seconds: float = 0.0, on_part: Callable[[], None] | None = None):
        self.client, self.seconds, self.on_part, self.parts = client, seconds, on_part, 0

    def __getattr__(self, name: str) -> object:
        if name != "upload_part":
            return getattr(self.client, name)
        self.parts += 1

        def upload_part(*args: object) -> object:
            if self.on_part:
                self.on_part()
            gevent.sleep(self.seconds)
            return self.client.upload_part(*args)
        return upload_part


def test_upload_file_stops_sending_a_big_file_once_its_hash_shows_it_is_stored(wb: zerorpc.Client,
                                                                              tmp_path: Path) -> None:
    from workbench.clients.client_helper import upload_file

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(16 * 2**20))
    first, again = SlowWire(wb, 0.002), SlowWire(wb, 0.002)  # 64 KiB in 2 ms: 32 MB/s, a slow network
    md5 = upload_file(first, big, chunk_bytes=2**16)  # 256 parts; hashed in a thread meanwhile
    before = wb.info()["samples"]
    assert upload_file(again, big, "pcap", chunk_bytes=2**16) == md5
    assert first.parts == 256 and again.parts < 128, f"the stored file was sent whole again ({again.parts} parts)"
    assert wb.info()["samples"] == before and wb.get_sample_info(md5)["type_tag"] == "pcap"


def test_upload_file_drops_a_hash_that_cannot_finish_well_before_the_upload(
        wb: zerorpc.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.clients import client_helper

    class StuckHash:
        """A hash that makes no progress (a slow disk, or a client with no core to spare)."""

        stopped_after: list[int] = []

        def __init__(self, path: Path) -> None:
            self.hashed = 0

        def done(self) -> bool:
            return False

        def stop(self) -> None:
            self.stopped_after.append(wire.parts)

    monkeypatch.setattr(client_helper, "BackgroundHash", StuckHash)
    monkeypatch.setattr(client_helper, "md5_bytes_per_s", lambda: float("inf"))  # worth starting, whatever the wire
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(4 * client_helper.CHUNK_BYTES + 5))
    wire = SlowWire(wb)
    md5 = client_helper.upload_file(wire, big)
    assert md5 == hashlib.md5(big.read_bytes()).hexdigest() and wb.get_sample_info(md5)["length"] == big.stat().st_size
    # started once the first part was back (the second one sent), judged and dropped once the next was back
    assert wire.parts == 5 and StuckHash.stopped_after[0] == 3, StuckHash.stopped_after


def test_upload_file_hashes_nothing_where_the_wire_is_as_fast_as_hashing(
        wb: zerorpc.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.clients import client_helper

    started: list[Path] = []
    monkeypatch.setattr(client_helper, "BackgroundHash", started.append)
    monkeypatch.setattr(client_helper, "md5_bytes_per_s", lambda: client_helper.HASH_LEAD * 8 * 2**20)  # 8 MiB/s led
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * 2**20 + 5))
    slow, fast = SlowWire(wb, 0.5), SlowWire(wb)  # a MiB in 0.5 s (2 MiB/s) is led; loopback (over 8 MiB/s) is not
    assert client_helper.upload_file(slow, big, chunk_bytes=2**20) == hashlib.md5(big.read_bytes()).hexdigest()
    assert started == [big], "a hash that would lead a slow wire was not started"
    wb.remove_sample(hashlib.md5(big.read_bytes()).hexdigest())
    client_helper.upload_file(fast, big, chunk_bytes=2**20)
    assert started == [big] and fast.parts == 3, "a hash was started beside a wire as fast as hashing"


def test_upload_file_reports_a_file_that_changed_during_the_upload(wb: zerorpc.Client, tmp_path: Path) -> None:
    from workbench.clients.client_helper import upload_file

    big = tmp_path / "growing.log"
    big.write_bytes(os.urandom(300_000))

    def append_a_line() -> None:
        with big.open("ab") as handle:
            handle.write(b"one more line\n")

    with pytest.raises(ValueError, match="growing.log changed during the upload .*upload it again"):
        upload_file(SlowWire(wb, on_part=append_a_line), big, chunk_bytes=100_000)


def test_a_big_file_over_the_size_limit_gets_one_clear_error_and_leaves_nothing(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from workbench.clients.client_helper import upload_file

    limited = start_server(tmp_path, procs=1, extra_env={"WORKBENCH_SERVER_MAX_SAMPLE_SIZE_MB": "1"})
    try:
        client = limited.client(timeout=60)
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(3 * 2**20))
        wire = SlowWire(client)
        with pytest.raises(zerorpc.RemoteError, match="sample of 3,145,728 bytes is larger than max_sample_size_mb"):
            upload_file(wire, big, chunk_bytes=2**19)
        assert wire.parts == 0, "refused at upload_start, from the file's size: no part was sent"
        stderr = capfd.readouterr().err
        assert "Traceback" not in stderr and "failed with" not in stderr, stderr
        assert client.info()["samples"] == 0
        assert not any((tmp_path / "workbench.db.samples" / "uploads").glob("*")), "an upload's spool file stayed"
    finally:
        limited.stop()
