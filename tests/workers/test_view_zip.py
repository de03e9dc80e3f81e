"""view_zip worker: compact archive summary against Python's zipfile (members read in memory only)."""

from __future__ import annotations

import hashlib
import io
import zipfile

from workbench.testing import require_data, run_worker


def test_good_zip_summary_lists_members_with_md5s() -> None:
    raw = require_data("zip/good.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        expected = [{"filename": n, "md5": hashlib.md5(archive.read(n)).hexdigest(),
                     "size": archive.getinfo(n).file_size} for n in archive.namelist()]
    view = run_worker("view_zip", raw, filename="good.zip")
    assert view["md5"] == hashlib.md5(raw).hexdigest() and view["length"] == len(raw)
    assert "Zip archive" in view["file_type"]
    assert view["children"] == expected and view["children_truncated"] is False
    assert view["member_count"] == view["extracted_count"] == len(expected) and view["skipped"] == {}


def test_children_are_cut_at_max_children_and_skipped_members_counted_by_reason() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("folder/", b"")
        for i in range(4):
            archive.writestr(f"folder/f{i}.txt", b"file %d" % i)
    options = {"view_zip": {"max_children": 2}}
    view = run_worker("view_zip", buffer.getvalue(), filename="four.zip", options=options)
    assert [c["filename"] for c in view["children"]] == ["folder/f0.txt", "folder/f1.txt"]
    assert view["children_truncated"] is True and view["extracted_count"] == 4
    assert view["skipped"] == {"directory": 1}
