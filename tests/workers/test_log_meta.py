"""log_meta worker: line counts against Python's own line reading, syslog fields against a split done here."""

from __future__ import annotations

import io
from collections import Counter

from workbench.testing import require_data, run_worker


def test_system_log_line_count_size_and_encoding() -> None:
    path = require_data("log/system.log")
    raw = path.read_bytes()
    output = run_worker("log_meta", path)
    assert output["line_count"] == len(io.BytesIO(raw).readlines())  # 1360, as `wc -l` says
    assert output["byte_size"] == len(raw)
    raw.decode("utf-8")  # libmagic: "Unicode text, UTF-8 text"
    assert output["encoding"] == "utf-8" and not raw.isascii()


def test_system_log_first_and_last_timestamps_and_top_hosts() -> None:
    path = require_data("log/system.log")
    lines = path.read_text().splitlines()
    stamped = [line for line in lines if line[:3].isalpha() and line[3] == " " and line[6] == " "]
    output = run_worker("log_meta", path)
    assert output["first_timestamp"] == stamped[0][:15] == "Feb  9 10:21:48"
    assert output["last_timestamp"] == stamped[-1][:15]
    assert output["timestamped_lines"] == len(stamped)
    # the host is the 4th space-separated field after the two-space "Feb  9" stamp, on lines with a process
    hosts = Counter(line[16:].split(" ")[0] for line in stamped if not line[16:].startswith("---"))
    assert output["top_hosts"] == dict(hosts.most_common(10))
    assert next(iter(output["top_processes"])) == "kernel"
    assert output["top_processes"]["kernel"] == sum(1 for line in stamped if " kernel[0]: " in line)


def test_iso_stamps_pri_prefix_crlf_and_latin1_text() -> None:
    text = ("<13>2014-04-07T20:32:29Z host1 sshd[12]: Accepted password for r\xe9mi\r\n"
            "2014-04-07T20:33:00.5+02:00 host2 cron: job\r\nplain line\r\n")
    output = run_worker("log_meta", text.encode("latin-1"), filename="auth.log", type_tag="log")
    assert output["encoding"] == "latin-1" and output["line_count"] == 3
    assert output["first_timestamp"] == "2014-04-07T20:32:29Z"
    assert output["last_timestamp"] == "2014-04-07T20:33:00.5+02:00"
    assert output["top_hosts"] == {"host1": 1, "host2": 1}
    assert output["top_processes"] == {"sshd": 1, "cron": 1}


def test_text_without_timestamps_and_without_final_newline() -> None:
    output = run_worker("log_meta", b"alpha\n\nbeta", filename="notes.txt", type_tag="txt")
    assert output["line_count"] == 3 and output["empty_lines"] == 1 and output["max_line_length"] == 5
    assert output["encoding"] == "ascii" and output["timestamped_lines"] == 0
    assert output["first_timestamp"] is None and output["top_hosts"] == {}
