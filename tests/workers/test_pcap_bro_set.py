"""pcap_bro over a sample set (the original's work_request('pcap_bro', set_id)): one log per kind for all pcaps."""

from __future__ import annotations

import pytest

from workbench.analysis.bro_parsing import read_log
from workbench.exceptions import BadArgument
from workbench.testing import require_data


def _records(workbench, md5: str) -> list[dict]:  # noqa: ANN001 - the in-process Workbench fixture
    return list(read_log(workbench.get_sample(md5)["sample"]["raw_bytes"])[1])


def test_a_set_of_pcaps_gets_each_log_merged_in_time_order(workbench) -> None:  # noqa: ANN001 - fixture
    folder = require_data("pcap")
    pcaps = [workbench.store_sample(folder.joinpath(name).read_bytes(), name, "pcap")
             for name in ("http.pcap", "speedup_computer.pcap", "winmediaplayer.pcap")]
    readme = workbench.store_sample(b"not a capture\n", "notes.txt", "txt")
    set_id = workbench.store_sample_set([*pcaps, readme])

    combined = workbench.work_request("pcap_bro", set_id)["pcap_bro"]
    singles = [workbench.work_request("pcap_bro", md5)["pcap_bro"] for md5 in pcaps]

    assert combined["md5"] == set_id and combined["pcaps"] == pcaps
    for kind in ("conn", "http", "dns", "files"):
        parts = [rec for out in singles if out.get(f"{kind}_log") for rec in _records(workbench, out[f"{kind}_log"])]
        assert parts, kind
        merged = _records(workbench, combined[f"{kind}_log"])
        key = sorted(parts, key=lambda r: (r["ts"], str(r)))
        assert sorted(merged, key=lambda r: (r["ts"], str(r))) == key
        assert [r["ts"] for r in merged] == sorted(r["ts"] for r in merged)
        assert combined["record_counts"][kind] == len(merged)
        assert all(combined[f"{kind}_log"] in workbench.get_children(md5) for md5 in pcaps)
        assert workbench.get_sample(combined[f"{kind}_log"])["sample"]["type_tag"] == "bro"
    assert combined["extracted_files"] == sorted({f for out in singles for f in out["extracted_files"]})
    assert workbench.work_request("pcap_bro", set_id, "conn_log") == {"conn_log": combined["conn_log"]}
    assert workbench.work_request("pcap_bro", set_id)["pcap_bro"]["conn_log"] == combined["conn_log"]  # same bytes


def test_a_set_id_elsewhere_says_what_to_use(workbench) -> None:  # noqa: ANN001 - fixture
    md5 = workbench.store_sample(b"just text\n", "a.txt", "txt")
    set_id = workbench.store_sample_set([md5])
    with pytest.raises(BadArgument, match="set_work_request"):
        workbench.work_request("meta", set_id)
    with pytest.raises(BadArgument, match="no pcap"):
        workbench.work_request("pcap_bro", set_id)
