"""view_log worker: compact log summary against Python's line reading and the first stamped line."""

from __future__ import annotations

import io

from workbench.testing import require_data, run_worker


def test_system_log_summary() -> None:
    path = require_data("log/system.log")
    raw = path.read_bytes()
    view = run_worker("view_log", path)
    assert view["line_count"] == len(io.BytesIO(raw).readlines()) and view["length"] == len(raw)
    assert view["first_timestamp"] == raw[:15].decode() and view["encoding"] == "utf-8"
    assert len(view["top_hosts"]) <= 5 and len(view["top_processes"]) == 5
    assert list(view["top_processes"].values()) == sorted(view["top_processes"].values(), reverse=True)
    assert view["top_processes"]["kernel"] == raw.count(b" kernel[0]: ")


def test_plain_text_sample_gets_a_log_view_too() -> None:
    view = run_worker("view_log", b"one\ntwo\n", filename="notes.txt", type_tag="txt")
    assert view["line_count"] == 2 and view["timestamped_lines"] == 0 and view["top_hosts"] == {}
