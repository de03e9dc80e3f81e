"""Sample bytes as files (sqlite store), chunked uploads written once, and type_tag corrections.

The store contract additions (store_sample_file, set_type_tag) run on every backend like test_store_contract;
the file layout, kill -9 safety and the migration of old blob stores are sqlite's own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_store_contract import MONGODB_REAL, MONGOMOCK, SQLITE, _open_backend, put

from workbench.exceptions import BadArgument, SampleTooLarge, StoreError, UnknownMD5
from workbench.server.data_store import DataStore, open_store
from workbench.server.workbench import Workbench
from workbench.testing import REPO_ROOT, make_config, make_workbench


@pytest.fixture(params=[SQLITE, MONGODB_REAL, MONGOMOCK])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201 - generator fixture
    yield from _open_backend(request.param, tmp_path)


def sample_file(db: Path, md5: str) -> Path:
    return db.with_name(db.name + ".samples") / md5[:2] / md5


# --- contract additions, every backend ---------------------------------------------------------------
class TestContractAdditions:
    def test_store_sample_file_takes_the_spooled_file_over(self, store: DataStore) -> None:
        data = os.urandom(300_000)
        md5 = hashlib.md5(data).hexdigest()
        spooled = store.spool_dir() / "upload-test"
        spooled.write_bytes(data)
        assert store.store_sample_file(spooled, md5, "big.bin", "data") is True
        assert not spooled.exists(), "the store takes the spool file over"
        assert store.get_sample_bytes(md5) == data and store.get_sample_info(md5)["length"] == len(data)
        again = store.spool_dir() / "upload-again"
        again.write_bytes(data)
        assert store.store_sample_file(again, md5, "other.bin", "data") is False
        assert not again.exists() and store.get_sample_info(md5)["filename"] == "big.bin"

    def test_set_type_tag_corrects_the_tag_and_drops_outputs_of_the_old_type(self, store: DataStore) -> None:
        md5 = put(store, b"MZ not really", "a.part0", "chunk")
        store.store_output(md5, "meta", "c1", {"meta": "v"}, {"x": 1})
        assert store.set_type_tag(md5, "exe") is True
        assert store.get_sample_info(md5)["type_tag"] == "exe" and store.get_output(md5, "meta") is None
        assert list(store.iter_md5s(type_tag="exe")) == [md5] and list(store.iter_md5s(type_tag="chunk")) == []
        store.store_output(md5, "meta", "c1", {"meta": "v"}, {"x": 1})
        assert store.set_type_tag(md5, "exe") is False and store.get_output(md5, "meta") is not None
        with pytest.raises(UnknownMD5, match="no sample with md5"):
            store.set_type_tag("0" * 32, "exe")

    def test_type_tag_counts_count_samples_per_type_tag(self, store: DataStore) -> None:
        assert store.type_tag_counts() == {}
        put(store, b"one", type_tag="exe"), put(store, b"two", type_tag="exe"), put(store, b"three", type_tag="pdf")
        assert store.type_tag_counts() == {"exe": 2, "pdf": 1}

    def test_an_empty_sample_round_trips(self, store: DataStore) -> None:
        md5 = put(store, b"", "empty.bin")
        assert md5 == "d41d8cd98f00b204e9800998ecf8427e"
        assert store.get_sample_bytes(md5) == b"" and store.get_sample_info(md5)["length"] == 0


# --- sqlite: layout, removal, migration -------------------------------------------------------------
def test_sqlite_keeps_sample_bytes_as_files_named_by_md5_and_no_blobs(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    store = open_store(f"sqlite:///{db}")
    try:
        data = os.urandom(5000)
        md5 = put(store, data)
        assert sample_file(db, md5).read_bytes() == data
        assert hashlib.md5(sample_file(db, md5).read_bytes()).hexdigest() == md5
        with sqlite3.connect(db) as connection:
            assert connection.execute("SELECT COUNT(*) FROM sample_bytes").fetchone() == (0,)
        bulk = [(os.urandom(100) + bytes([i]), f"b{i}", f"{i}.bin", "data") for i in range(5)]
        bulk = [(raw, hashlib.md5(raw).hexdigest(), name, tag) for raw, _, name, tag in bulk]
        assert store.store_samples(bulk + bulk[:2]) == 5
        assert all(sample_file(db, md5_).read_bytes() == raw for raw, md5_, _, _ in bulk)
        assert not [p for p in db.with_name("wb.db.samples").rglob(".tmp-*")], "no temp file left behind"
    finally:
        store.close()


def test_sqlite_remove_sample_and_clear_delete_the_files(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    store = open_store(f"sqlite:///{db}")
    try:
        a, b = put(store, b"first sample"), put(store, b"second sample")
        assert store.remove_sample(a) is True and not sample_file(db, a).exists() and sample_file(db, b).exists()
        store.clear()
        assert not sample_file(db, b).exists() and store.count_samples() == 0
        assert not [p for p in db.with_name("wb.db.samples").rglob("*") if p.is_file()]
    finally:
        store.close()


def test_samples_cap_expiry_deletes_the_expired_samples_files(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path}/wb.db")
    config.set("server", "samples_cap_mb", 1)
    workbench = Workbench(config, procs=0)
    try:
        first = workbench.store_sample(os.urandom(700_000), "one.bin")
        second = workbench.store_sample(os.urandom(700_000), "two.bin")
        assert not workbench.has_sample(first) and workbench.has_sample(second)
        assert not sample_file(tmp_path / "wb.db", first).exists()
        assert sample_file(tmp_path / "wb.db", second).exists()
    finally:
        workbench.close()


def test_a_store_written_with_blobs_is_read_and_migrated_to_files_on_open(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    open_store(f"sqlite:///{db}").close()
    old = {hashlib.md5(raw).hexdigest(): raw for raw in (b"old blob one", os.urandom(70_000))}
    with sqlite3.connect(db) as connection:  # what the earlier version wrote: row + blob, no file
        for md5, raw in old.items():
            connection.execute("INSERT INTO samples VALUES (?, ?, 'data', ?, '2026-01-01T00:00:00+00:00')",
                               (md5, f"{md5}.bin", len(raw)))
            connection.execute("INSERT INTO sample_bytes VALUES (?, ?)", (md5, raw))
    store = open_store(f"sqlite:///{db}")
    try:
        assert {md5: store.get_sample_bytes(md5) for md5 in old} == old
        assert all(sample_file(db, md5).read_bytes() == raw for md5, raw in old.items())
        with sqlite3.connect(db) as connection:
            assert connection.execute("SELECT COUNT(*) FROM sample_bytes").fetchone() == (0,)
        md5 = hashlib.md5(b"blob written by an old process meanwhile").hexdigest()
        with sqlite3.connect(db) as connection:
            connection.execute("INSERT INTO samples VALUES (?, 'x', 'data', 40, '2026-01-01T00:00:00+00:00')", (md5,))
            connection.execute("INSERT INTO sample_bytes VALUES (?, ?)",
                               (md5, b"blob written by an old process meanwhile"))
        assert store.get_sample_bytes(md5) == b"blob written by an old process meanwhile"
    finally:
        store.close()


def test_a_sample_file_of_the_wrong_length_is_reported_not_served(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    store = open_store(f"sqlite:///{db}")
    try:
        md5 = put(store, b"twelve bytes")
        sample_file(db, md5).write_bytes(b"")  # what a power loss with fsync off can leave
        with pytest.raises(StoreError, match="holds 0 bytes, its row says 12: damaged"):
            store.get_sample_bytes(md5)
    finally:
        store.close()


# --- kill -9 while a sample is written ---------------------------------------------------------------
KILLED_WRITER = textwrap.dedent('''
    import os, sys, time
    from workbench.server.data_store import open_store
    from workbench.server.data_store import sample_folder

    real_write, real_replace = os.write, os.replace

    def slow_write(fd, data):  # 64 KiB at a time, slowly: the parent kills us in the middle
        print("writing", flush=True)
        time.sleep(0.05)
        return real_write(fd, bytes(data[:65536]))

    def stop_after_replace(src, dst):  # the file is in place, the row not yet committed
        real_replace(src, dst)
        print("placed", flush=True)
        time.sleep(60)

    if sys.argv[2] == "mid-write":
        sample_folder.os.write = slow_write
    else:
        sample_folder.os.replace = stop_after_replace
    store = open_store("sqlite:///" + sys.argv[1])
    data = bytes(range(256)) * 8192  # 2 MiB
    import hashlib
    store.store_sample(data, hashlib.md5(data).hexdigest(), "victim.bin", "data")
    print("stored", flush=True)
''')


@pytest.mark.parametrize("moment", ["mid-write", "file-placed-row-not-committed"])
def test_kill_9_while_storing_never_exposes_a_half_sample(tmp_path: Path, moment: str) -> None:
    db = tmp_path / "wb.db"
    data = bytes(range(256)) * 8192
    md5 = hashlib.md5(data).hexdigest()
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(db), moment], stdout=subprocess.PIPE,
                             text=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    marker = "writing" if moment == "mid-write" else "placed"
    assert child.stdout.readline().strip() == marker
    if moment == "mid-write":
        time.sleep(0.2)  # a few slow writes in: a partial temp file exists
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    folder = db.with_name("wb.db.samples")
    temps = list(folder.rglob(".tmp-*"))
    if moment == "mid-write":
        assert temps and 0 < temps[0].stat().st_size < len(data), "the kill landed mid-write"
        assert not sample_file(db, md5).exists()
    else:
        assert sample_file(db, md5).read_bytes() == data and not temps  # an orphan file: no row points to it
    store = open_store(f"sqlite:///{db}")
    try:
        assert not store.has_sample(md5) and store.get_sample_bytes(md5) is None and store.count_samples() == 0
        assert store.files.sweep_temp(older_than_s=0) == len(temps)  # what open() sweeps once they are old
        assert store.store_sample(data, md5, "again.bin", "data") is True  # the orphan is simply replaced
        assert store.get_sample_bytes(md5) == data
    finally:
        store.close()


# --- chunked uploads ----------------------------------------------------------------------------------
def test_upload_parts_are_appended_hashed_once_and_never_stored_as_samples(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        data = os.urandom(3 * 2**20 + 17)
        upload = workbench.upload_start("big.pcap")
        for offset in range(0, len(data), 2**20):
            assert workbench.upload_part(upload, offset, data[offset:offset + 2**20]) == min(len(data),
                                                                                              offset + 2**20)
        assert workbench.store.count_samples() == 0, "parts are not samples"
        md5 = workbench.upload_finish(upload)
        assert md5 == hashlib.md5(data).hexdigest() and workbench.get_sample(md5)["sample"]["raw_bytes"] == data
        info = workbench.get_sample_info(md5)
        assert (info["filename"], info["length"], info["type_tag"], workbench.store.count_samples()) == \
            ("big.pcap", len(data), "data", 1)
        assert not list(workbench.store.spool_dir().iterdir()), "the spool file became the sample file"
        with pytest.raises(BadArgument, match="no upload .* in progress"):
            workbench.upload_part(upload, len(data), b"late")
    finally:
        workbench.close()


def test_an_upload_refuses_a_part_out_of_order_and_a_sample_too_large(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        upload = workbench.upload_start("x.bin")
        workbench.upload_part(upload, 0, b"a" * 10)
        with pytest.raises(BadArgument, match="part at offset 5 but 10 bytes are stored; send the parts in order"):
            workbench.upload_part(upload, 5, b"b")
        workbench.max_bytes = 15
        with pytest.raises(SampleTooLarge, match="larger than max_sample_size_mb"):
            workbench.upload_part(upload, 10, b"c" * 10)
        with pytest.raises(BadArgument, match="no upload"):
            workbench.upload_finish(upload)
        assert not list(workbench.store.spool_dir().iterdir())
        with pytest.raises(SampleTooLarge, match="sample of 16 bytes is larger"):
            workbench.upload_start("y.bin", "", 16)  # the whole file's size, said up front
        with pytest.raises(BadArgument, match="length must be the file's size in bytes"):
            workbench.upload_start("y.bin", "", -1)
        assert workbench.upload_start("z.bin", "", 15)
    finally:
        workbench.close()


def test_an_upload_whose_spool_file_went_with_clear_db_is_refused_clearly(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        upload = workbench.upload_start("big.bin")
        assert workbench.upload_part(upload, 0, b"a" * 4096) == 4096
        workbench.clear_db()  # takes uploads in progress with it
        with pytest.raises(BadArgument, match="was lost on the server .*start it again"):
            workbench.upload_part(upload, 4096, b"b" * 4096)
        with pytest.raises(BadArgument, match="no upload"):
            workbench.upload_finish(upload)
        assert workbench.store.count_samples() == 0
    finally:
        workbench.close()


def test_an_upload_of_a_stored_file_with_a_type_tag_corrects_the_tag(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        md5 = workbench.store_sample(b"PK not a zip at all", "a.part0", "chunk")
        upload = workbench.upload_start("a.zip", "zip")
        workbench.upload_part(upload, 0, b"PK not a zip at all")
        assert workbench.upload_finish(upload) == md5
        assert workbench.get_sample_info(md5)["type_tag"] == "zip" and workbench.store.count_samples() == 1
    finally:
        workbench.close()


def test_combine_samples_streams_the_chunk_files_and_drops_the_chunks(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        data = os.urandom(2_500_000)
        own = workbench.store_sample(data[:1_000_000], "own.bin")  # stored in its own right: kept
        parts = [own] + [workbench.store_sample(data[i:i + 1_000_000], f"x.part{i}", "chunk")
                         for i in (1_000_000, 2_000_000)]
        md5 = workbench.combine_samples(parts, "x.bin", "exe")
        assert md5 == hashlib.md5(data).hexdigest() and workbench.get_sample(md5)["sample"]["raw_bytes"] == data
        assert workbench.get_sample_info(md5)["type_tag"] == "exe"
        assert sorted(workbench.store.iter_md5s()) == sorted([own, md5])
    finally:
        workbench.close()


def test_store_sample_with_an_explicit_type_tag_corrects_a_stored_samples_tag(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        md5 = workbench.store_sample(b"MZ" + b"\0" * 200, "f.part0", "chunk")
        assert workbench.store_sample(b"MZ" + b"\0" * 200, "f.exe", "") == md5
        assert workbench.get_sample_info(md5)["type_tag"] == "chunk", "a guess never overrides a stored tag"
        assert workbench.store_sample(b"MZ" + b"\0" * 200, "f.exe", "exe") == md5
        assert workbench.get_sample_info(md5)["type_tag"] == "exe"
        assert workbench.set_type_tag(md5, "exe") is False
        with pytest.raises(BadArgument, match="bad type_tag 'EXE!'"):
            workbench.set_type_tag(md5, "EXE!")
    finally:
        workbench.close()


def test_an_empty_sample_is_stored_with_a_warning_in_the_server_log(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    workbench = make_workbench(tmp_path)
    try:
        with caplog.at_level(logging.WARNING):
            md5 = workbench.store_sample(b"", "empty.txt")
        assert workbench.get_sample_info(md5)["length"] == 0
        assert "stored an empty (0-byte) sample d41d8cd98f00b204e9800998ecf8427e named 'empty.txt'" in caplog.text
    finally:
        workbench.close()


def test_storing_bytes_as_a_chunk_never_retags_a_sample_stored_in_its_own_right(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        md5 = workbench.store_sample(b"%PDF-1.4 tiny", "real.pdf", "pdf")
        assert workbench.store_sample(b"%PDF-1.4 tiny", "x.part0", "chunk") == md5
        assert workbench.get_sample_info(md5)["type_tag"] == "pdf"
    finally:
        workbench.close()


def test_uploads_in_progress_are_bounded_and_abort_frees_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.server.intake import uploads

    monkeypatch.setattr(uploads, "MAX_OPEN", 3)
    workbench = make_workbench(tmp_path)
    try:
        started = [workbench.upload_start(f"f{i}.bin") for i in range(3)]
        with pytest.raises(BadArgument, match="3 uploads are in progress on this server; finish or abort some"):
            workbench.upload_start("one-too-many.bin")
        workbench.upload_abort(started[0])
        assert workbench.upload_start("now-fits.bin")
        assert len(list(workbench.store.spool_dir().iterdir())) == 3
    finally:
        workbench.close()
