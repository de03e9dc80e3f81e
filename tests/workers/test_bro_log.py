"""bro_log worker: record counts against a line count done here, and typed values against the text columns
of conn.log and dns.log (column positions read from the files' own #fields line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.exceptions import WorkerFailed
from workbench.testing import require_data, run_worker


def _logs() -> list[Path]:
    return sorted(require_data("bro").glob("*.log"))


def _data_lines(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def _header(path: Path, key: str) -> list[str]:
    line = next(line for line in path.read_text().splitlines() if line.startswith(f"#{key}\t"))
    return line.split("\t")[1:]


def test_every_log_parses_with_record_count_equal_to_its_non_comment_lines() -> None:
    for path in _logs():
        output = run_worker("bro_log", path)
        assert output["record_count"] == len(_data_lines(path)), path.name
        assert output["path"] == _header(path, "path")[0] == path.stem
        assert output["fields"] == _header(path, "fields") and output["types"] == _header(path, "types")
        assert output["malformed_lines"] == 0 and output["malformed_values"] == 0
        assert len(output["records"]) == output["record_count"]  # all under the default cap of 1000
        assert output["records_truncated"] is False


def test_conn_log_values_are_typed_by_the_types_header() -> None:
    path = require_data("bro/conn.log")
    output = run_worker("bro_log", path)
    fields = _header(path, "fields")
    for record, text in zip(output["records"], _data_lines(path), strict=True):
        column = dict(zip(fields, text, strict=True))
        assert isinstance(record["ts"], float) and record["ts"] == float(column["ts"])
        assert isinstance(record["id.orig_p"], int) and record["id.orig_p"] == int(column["id.orig_p"])
        assert record["id.orig_h"] == column["id.orig_h"]  # addr stays text
        assert record["duration"] == (None if column["duration"] == "-" else float(column["duration"]))
        assert record["local_orig"] == {"-": None, "T": True, "F": False}[column["local_orig"]]
        assert record["tunnel_parents"] == ([] if column["tunnel_parents"] == "(empty)" else
                                            column["tunnel_parents"].split(","))


def test_dns_log_bools_and_vectors_become_python_bools_and_lists() -> None:
    path = require_data("bro/dns.log")
    output = run_worker("bro_log", path)
    fields = _header(path, "fields")
    for record, text in zip(output["records"], _data_lines(path), strict=True):
        column = dict(zip(fields, text, strict=True))
        assert record["RD"] is {"T": True, "F": False}[column["RD"]]
        if column["TTLs"] not in ("-", "(empty)"):
            assert record["TTLs"] == [float(v) for v in column["TTLs"].split(",")]
            assert record["answers"] == column["answers"].split(",")


def test_records_are_capped_at_max_records_but_all_are_counted() -> None:
    path = require_data("bro/http.log")
    output = run_worker("bro_log", path, options={"bro_log": {"max_records": 10}})
    assert len(output["records"]) == 10 and output["records_truncated"] is True
    assert output["record_count"] == len(_data_lines(path))
    assert output["records"][0]["uri"] == _data_lines(path)[0][_header(path, "fields").index("uri")]


def test_lines_with_the_wrong_column_count_and_bad_values_are_counted_not_fatal() -> None:
    log = (b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tmini\n"
           b"#fields\tts\tn\tnames\n#types\ttime\tcount\tset[string]\n"
           b"1.5\t3\ta,b\n2.5\tnot-a-number\t(empty)\nonly-one-column\n")
    output = run_worker("bro_log", log, filename="mini.log", type_tag="bro")
    assert output["record_count"] == 2 and output["malformed_lines"] == 1 and output["malformed_values"] == 1
    assert output["records"] == [{"ts": 1.5, "n": 3, "names": ["a", "b"]},
                                 {"ts": 2.5, "n": "not-a-number", "names": []}]


def test_text_without_a_fields_header_fails_with_a_clear_message() -> None:
    with pytest.raises(WorkerFailed, match="no #fields header line"):
        run_worker("bro_log", b"#separator \\x09\nhello\n", filename="x.log", type_tag="bro")
