"""view_log_deep worker: view_log plus the full top lists and the IPs/URLs seen in the log text."""

from __future__ import annotations

import re

from workbench.testing import require_data, run_worker


def test_deep_view_adds_iocs_found_in_the_log_text() -> None:
    path = require_data("log/system.log")
    text = path.read_text()
    deep = run_worker("view_log_deep", path)
    view = run_worker("view_log", path)
    assert {key: deep[key] for key in view if not key.startswith("top_")} == \
        {key: view[key] for key in view if not key.startswith("top_")}
    assert len(deep["top_processes"]) == 10  # log_meta's top_n, where view_log shows 5
    ips = set(re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", text))
    assert {"192.168.1.101", "192.168.1.117"} <= set(deep["ipv4"]) <= ips
    assert all(url in text for url in deep["urls"]) and deep["urls"]
