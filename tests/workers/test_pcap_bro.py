"""pcap_bro against tshark: its Zeek-format logs, read back by the bro_log worker, hold the same flows, HTTP
requests and DNS queries that tshark finds in every capture of ../shared/data/pcap.

The logs are read through ``bro_log`` and ``stream_sample`` (the paths a user takes), never by the code that
wrote them, so a log that Zeek tooling could not read fails here too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pcap_reference import PCAPS, reference

from workbench.analysis import bro_parsing
from workbench.analysis.zeek_logs import format_value, write_log
from workbench.testing import make_workbench, require_data

LOGS = ("conn_log", "http_log", "dns_log", "files_log", "weird_log")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Per capture: pcap_bro's output and each log's records as bro_log and stream_sample read them."""
    folder = require_data("pcap")
    workbench = make_workbench(tmp_path_factory.mktemp("pcap_bro"))
    found = {}
    try:
        for name in PCAPS:
            md5 = workbench.store_sample((folder / name).read_bytes(), name, "")
            output = workbench.work_request("pcap_bro", md5)["pcap_bro"]
            read = {"output": output, "children": workbench.get_children(md5),
                    "http": workbench.work_request("pcap_http", md5)["pcap_http"]}
            for log in LOGS:
                if log in output:
                    read[log] = workbench.work_request("bro_log", output[log])["bro_log"]
                    read[log + "_rows"] = list(workbench.stream_sample(output[log]))
                    read[log + "_info"] = workbench.get_sample_info(output[log])
            found[name] = read
    finally:
        workbench.close()
    return found


@pytest.mark.parametrize("name", PCAPS)
def test_logs_are_bro_children_that_bro_log_reads_cleanly(logs: dict, name: str) -> None:
    read = logs[name]
    assert read["output"]["pcaps"] and not read["output"]["truncated"]
    for log in LOGS:
        if log not in read["output"]:
            assert read["output"]["record_counts"][log[:-4]] == 0  # like Zeek: no records, no log
            continue
        parsed = read[log]
        assert read[log + "_info"]["type_tag"] == "bro"
        assert read[log + "_info"]["filename"] == f"{log[:-4]}.log"
        assert read["output"][log] in read["children"]
        assert parsed["path"] == log[:-4]
        assert parsed["malformed_lines"] == parsed["malformed_values"] == 0
        assert parsed["record_count"] == read["output"]["record_counts"][log[:-4]] == len(read[log + "_rows"])
    assert set(read["output"]["extracted_files"]) <= set(read["children"])


@pytest.mark.parametrize("name", PCAPS)
@pytest.mark.parametrize(("proto", "title"), [("tcp", "TCP"), ("udp", "UDP")])
def test_conn_log_holds_tsharks_conversations(logs: dict, name: str, proto: str, title: str) -> None:
    theirs = reference(require_data("pcap") / name).conversations(title)
    rows = [row for row in logs[name]["conn_log_rows"] if row["proto"] == proto]
    ours = {frozenset((f"{r['id.orig_h']}:{r['id.orig_p']}", f"{r['id.resp_h']}:{r['id.resp_p']}")):
            r["orig_pkts"] + r["resp_pkts"] for r in rows}
    assert len(ours) == len(rows)  # one record per conversation
    assert ours == {ends: counts[2] for ends, counts in theirs.items()}


@pytest.mark.parametrize("name", PCAPS)
def test_http_log_holds_tsharks_requests(logs: dict, name: str) -> None:
    frames = [f for f in reference(require_data("pcap") / name).frames
              if "tcp" in f["frame.protocols"] and f["http.request.method"]]
    theirs = Counter(request for f in frames for request in
                     zip(f["http.request.method"], f["http.host"], f["http.request.uri"], strict=True))
    rows = logs[name].get("http_log_rows", [])
    assert Counter((r["method"], r["host"], r["uri"]) for r in rows) == theirs
    codes = Counter(int(code) for f in reference(require_data("pcap") / name).frames
                    if "tcp" in f["frame.protocols"] for code in f["http.response.code"])
    # tshark shows no response whose body the capture cuts short; pcap_http marks those incomplete
    cut = Counter(r["status"] for r in logs[name]["http"]["responses"] if not r["complete"])
    assert Counter(r["status_code"] for r in rows if r["status_code"] is not None) == codes + cut


@pytest.mark.parametrize("name", PCAPS)
def test_dns_log_holds_tsharks_queries(logs: dict, name: str) -> None:
    queries = [f for f in reference(require_data("pcap") / name).frames if f["dns.flags.response"] == ["0"]]
    rows = logs[name].get("dns_log_rows", [])
    assert Counter(r["query"] for r in rows) == Counter(f["dns.qry.name"][0] for f in queries if f["dns.qry.name"])
    answered = [r for r in rows if r["rcode_name"] is not None]
    assert all(r["rtt"] >= 0 for r in answered)


@pytest.mark.parametrize("name", PCAPS)
def test_files_log_md5s_are_the_extracted_children(logs: dict, name: str) -> None:
    rows = logs[name].get("files_log_rows", [])
    extracted = {r["extracted"] for r in rows if r["extracted"]}
    assert extracted == set(logs[name]["output"]["extracted_files"])
    uids = {r["uid"] for r in logs[name]["conn_log_rows"]}
    assert all(set(r["conn_uids"]) <= uids for r in rows)


def test_values_with_separators_and_unset_markers_survive_a_round_trip() -> None:
    columns = [("ts", "time"), ("text", "string"), ("names", "vector[string]"), ("flag", "bool"), ("n", "count")]
    records = [{"ts": 1.5, "text": "tab\there,comma\\back\nline", "names": ["a,b", "c"], "flag": True, "n": 3},
               {"ts": 2.0, "text": "-", "names": [], "flag": False, "n": None},
               {"ts": 3.0, "text": "", "names": None, "flag": None, "n": 0}]
    header, rows = bro_parsing.iter_rows(write_log("test", columns, records, 1.0))
    parsed = [bro_parsing.to_record(header, values) for values in rows]
    assert header.path == "test" and header.malformed_lines == 0
    assert [r["names"] for r in parsed] == [["a\\x2cb", "c"], [], None]
    assert [r["flag"] for r in parsed] == [True, False, None]
    assert [r["n"] for r in parsed] == [3, None, 0]
    assert parsed[0]["text"] == "tab\\x09here,comma\\x5cback\\x0aline"  # Zeek's escapes, left as written
    assert format_value("-", "string") == "\\x2d"  # a literal dash is not the unset marker


def test_a_capture_with_no_traffic_writes_no_logs(tmp_path: Path) -> None:
    from pcap_reference import write_pcap

    workbench = make_workbench(tmp_path)
    try:
        md5 = workbench.store_sample(write_pcap(tmp_path / "empty.pcap", []).read_bytes(), "empty.pcap", "")
        output = workbench.work_request("pcap_bro", md5)["pcap_bro"]
    finally:
        workbench.close()
    assert not any(log in output for log in LOGS)
    assert output["pcaps"] == [md5] and output["extracted_files"] == []
