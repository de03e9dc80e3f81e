"""view_bro worker: compact Zeek log summary against the log's text columns."""

from __future__ import annotations

from workbench.testing import require_data, run_worker


def test_conn_log_summary_time_span_and_counts() -> None:
    path = require_data("bro/conn.log")
    rows = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    view = run_worker("view_bro", path)
    assert view["path"] == "conn" and view["record_count"] == len(rows) == view["records_sampled"]
    stamps = [float(row[0]) for row in rows]
    assert view["first_ts"] == min(stamps) and view["last_ts"] == max(stamps)
    assert view["fields"][0] == "ts" and view["first_record"]["uid"] == rows[0][1]
    assert view["malformed_lines"] == 0


def test_log_without_ts_column_has_no_time_span() -> None:
    log = b"#separator \\x09\n#path\tx\n#fields\ta\n#types\tcount\n1\n2\n"
    view = run_worker("view_bro", log, filename="x.log", type_tag="bro")
    assert view["first_ts"] is None and view["record_count"] == 2 and view["first_record"] == {"a": 1}
