"""unzip worker: members of the real archives against Python's zipfile (read in memory, never written to
disk: zip/bad.zip holds live malware), child links both ways, and zip bomb limits on archives built here."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from pathlib import Path

import pytest

from workbench.exceptions import WorkerFailed
from workbench.testing import make_workbench, require_data, run_worker

CENTRAL_HEADER = b"PK\x01\x02"



def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_central(raw: bytes, index: int, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of the index-th central directory entry (offsets from APPNOTE 4.3.12)."""
    position = -1
    for _ in range(index + 1):
        position = raw.index(CENTRAL_HEADER, position + 1)
    patched = bytearray(raw)
    struct.pack_into(fmt, patched, position + offset, value)
    return bytes(patched)


@pytest.mark.parametrize("name", ["good.zip", "bad.zip"])
def test_real_archive_members_are_stored_as_children_with_their_md5(workbench, name: str) -> None:
    raw = require_data(f"zip/{name}").read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        expected = [(n, hashlib.md5(archive.read(n)).hexdigest(), archive.getinfo(n).file_size)
                    for n in archive.namelist()]
    md5 = workbench.store_sample(raw, name)
    output = workbench.work_request("unzip", md5)["unzip"]
    assert [(c["filename"], c["md5"], c["size"]) for c in output["children"]] == expected
    assert output["member_count"] == output["extracted_count"] == len(expected)
    assert output["skipped"] == [] and output["depth"] == 0
    assert output["total_size"] == sum(size for _, _, size in expected)
    assert sorted(workbench.get_children(md5)) == sorted({m for _, m, _ in expected})
    for member, child, _ in expected:
        assert workbench.get_parents(child) == [md5]
        assert workbench.get_sample_info(child)["filename"] == f"{name}!/{member}"


def test_nested_archive_is_a_child_and_depth_is_counted_from_the_filename(tmp_path: Path) -> None:
    inner = _zip({"a.txt": b"hello"})
    outer = _zip({"inner.zip": inner, "b.txt": b"world"})
    bench = make_workbench(tmp_path, options={"unzip": {"max_depth": 2}})
    try:
        outer_md5 = bench.store_sample(outer, "outer.zip")
        children = bench.work_request("unzip", outer_md5)["unzip"]["children"]
        inner_md5 = hashlib.md5(inner).hexdigest()
        assert [c["md5"] for c in children if c["filename"] == "inner.zip"] == [inner_md5]
        inner_output = bench.work_request("unzip", inner_md5)["unzip"]
        assert inner_output["depth"] == 1
        leaf = inner_output["children"][0]["md5"]
        assert bench.get_sample_info(leaf)["filename"] == "outer.zip!/inner.zip!/a.txt"
        assert bench.get_parents(leaf) == [inner_md5] and bench.get_parents(inner_md5) == [outer_md5]
        deeper = bench.store_sample(_zip({"c.txt": b"!"}), "outer.zip!/inner.zip!/deeper.zip")
        with pytest.raises(WorkerFailed, match=r"nested 2 archives deep, max_depth = 2.*raise max_depth"):
            bench.work_request("unzip", deeper)
    finally:
        bench.close()


@pytest.fixture(scope="module")
def zeros_bomb() -> bytes:
    """One member of 200 MB of zeros: about 900 KB compressed at level 1 (ratio about 230; fast to build)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("zeros.bin", "w") as out:
        block = bytes(1 << 20)
        for _ in range(200):
            out.write(block)
    return buffer.getvalue()


def test_zip_bomb_is_refused_on_its_declared_ratio_and_nothing_stored(workbench, zeros_bomb: bytes) -> None:
    md5 = workbench.store_sample(zeros_bomb, "bomb.zip")
    with pytest.raises(WorkerFailed, match=r"zeros\.bin.*max_ratio = 100.*raise max_ratio in the "
                                           r"\[worker\.unzip\] section"):
        workbench.work_request("unzip", md5)
    assert workbench.get_children(md5) == []


def test_zip_bomb_under_a_raised_ratio_is_refused_on_total_size(zeros_bomb: bytes) -> None:
    options = {"unzip": {"max_ratio": 5000, "max_total_mb": 100}}
    with pytest.raises(WorkerFailed, match=r"209715200 bytes.*max_total_mb = 100.*raise max_total_mb"):
        run_worker("unzip", zeros_bomb, filename="bomb.zip", options=options)


def test_header_that_understates_the_size_is_caught_while_reading(workbench) -> None:
    raw = _zip({"small.txt": b"x" * 1000, "liar.bin": bytes(20 << 20)})
    raw = _patch_central(raw, 1, 24, "<I", 4096)  # uncompressed size field of liar.bin: 20 MB -> 4 KB
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert archive.getinfo("liar.bin").file_size == 4096  # the declared sizes pass every limit
    md5 = workbench.store_sample(raw, "liar.zip")
    with pytest.raises(WorkerFailed, match=r"liar\.bin.*inflates past the 4096 bytes its header declares"):
        workbench.work_request("unzip", md5)
    assert workbench.get_children(md5) == []


def test_too_many_members_are_refused_naming_max_members() -> None:
    raw = _zip({f"m{i}.txt": b"%d" % i for i in range(5)})
    with pytest.raises(WorkerFailed, match=r"5 members, more than max_members = 3.*raise max_members"):
        run_worker("unzip", raw, filename="many.zip", options={"unzip": {"max_members": 3}})


def test_directories_encrypted_unsupported_and_corrupt_members_are_skipped_with_a_reason() -> None:
    raw = _zip({"dir/": b"", "plain.txt": b"plain", "locked.txt": b"secret", "odd.txt": b"odd",
                "bad.txt": b"bad"})
    raw = _patch_central(raw, 2, 8, "<H", 0x1)  # general purpose flag bit 0: encrypted
    raw = _patch_central(raw, 3, 10, "<H", 99)  # compression method 99 (AES), which zipfile cannot read
    raw = _patch_central(raw, 4, 16, "<I", 0xDEADBEEF)  # wrong CRC-32
    output = run_worker("unzip", raw, filename="mixed.zip")
    assert [c["filename"] for c in output["children"]] == ["plain.txt"]
    assert output["children"][0]["md5"] == hashlib.md5(b"plain").hexdigest()
    reasons = {s["filename"]: s["reason"] for s in output["skipped"]}
    assert reasons == {"dir/": "directory", "locked.txt": "encrypted", "odd.txt": "unsupported_compression",
                       "bad.txt": "corrupt"}
    assert output["member_count"] == 5 and output["extracted_count"] == 1


def test_a_file_that_is_not_a_zip_fails_with_a_clear_message() -> None:
    with pytest.raises(WorkerFailed, match="not a readable zip archive"):
        run_worker("unzip", b"PK\x03\x04 truncated", filename="broken.zip", type_tag="zip")
