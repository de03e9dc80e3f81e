"""view_swf worker: compact Flash summary against the file's header bytes, zlib and libmagic."""

from __future__ import annotations

import zlib

import magic

from workbench.testing import require_data, run_worker


def test_flash_summary_matches_header_and_flags_actionscript3() -> None:
    raw = require_data("swf/unknown.swf").read_bytes()
    view = run_worker("view_swf", raw, filename="unknown.swf")
    assert view["file_type"] == magic.from_buffer(raw) and view["length"] == len(raw)
    assert view["swf"]["signature"] == raw[:3].decode() and view["swf"]["version"] == raw[3]
    assert view["swf"]["compression"] == "zlib"
    body = zlib.decompress(raw[8:])
    assert b"Adobe Flex 4" in body  # a Flex movie: its code is ActionScript 3, in a DoABC tag
    assert view["code_tags"]["DoABC"] == 1 and "actionscript3" in view["indicators"]
    assert view["indicators"] == sorted(view["indicators"])
    assert view["swf"]["width"] > 0 and view["swf"]["height"] > 0 and view["swf"]["frame_count"] >= 1
