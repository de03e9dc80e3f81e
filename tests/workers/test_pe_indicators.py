"""pe_indicators on every PE sample, checked against libmagic, YARA's pe module and hand-computed entropy."""

from __future__ import annotations

import copy
import math
import time
from collections import Counter

import magic
import pytest
import yara

from workbench.analysis import pe_traits
from workbench.testing import make_workbench, require_data, run_worker
from workbench.workers.pe_indicators import PEIndicators

YARA_PE = yara.compile(source='import "pe" rule is_pe { condition: pe.is_pe }')
SCN_MEM_EXECUTE, SCN_MEM_WRITE = 0x20000000, 0x80000000


def yara_pe(raw: bytes) -> dict:
    data: dict = {}

    def keep(module_data: dict) -> int:
        data.update(module_data)
        return yara.CALLBACK_CONTINUE

    YARA_PE.match(data=raw, modules_callback=keep)
    return data


def counter_entropy(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values()) if data else 0.0


def find(output: dict, category: str, description_part: str = "") -> list[dict]:
    return [i for i in output["indicators"] if i["category"] == category and description_part in i["description"]]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    paths = sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())
    workbench = make_workbench(tmp_path_factory.mktemp("pe_indicators"))
    try:
        rows = []
        for path in paths:
            raw = path.read_bytes()
            result = workbench.work_request("pe_indicators", workbench.store_sample(raw, path.name))
            rows.append({"name": path.name, "raw": raw, "magic": magic.from_buffer(raw), "yara": yara_pe(raw),
                         "output": result["pe_indicators"]})
        return rows
    finally:
        workbench.close()


def test_indicators_have_the_four_fields_a_known_category_and_a_short_description(samples: list[dict]) -> None:
    for sample in samples:
        output = sample["output"]
        for indicator in output["indicators"]:
            assert set(indicator) == {"category", "description", "severity", "attributes"}
            assert indicator["category"] in pe_traits.CATEGORIES
            assert indicator["severity"] in (1, 2, 3)
            assert 0 < len(indicator["description"]) <= 80
        assert output["max_severity"] == max((i["severity"] for i in output["indicators"]), default=0)
        assert output["categories"] == sorted({i["category"] for i in output["indicators"]})


def test_upx_section_names_are_flagged_exactly_for_the_files_libmagic_calls_upx(samples: list[dict]) -> None:
    flagged = {s["name"] for s in samples if any(i["attributes"].get("packer") == "UPX"
                                                 for i in find(s["output"], "packer"))}
    upx_by_magic = {s["name"] for s in samples if "UPX compressed" in s["magic"]}
    assert flagged == upx_by_magic
    assert len(upx_by_magic) == 4


def test_upx_entry_points_are_flagged_outside_the_first_code_section(samples: list[dict]) -> None:
    for sample in samples:
        if "UPX compressed" in sample["magic"]:
            (indicator,) = find(sample["output"], "entry_point")
            assert indicator["attributes"]["section"].startswith("UPX")


def test_high_entropy_sections_match_a_counter_entropy_of_each_sections_raw_bytes(samples: list[dict]) -> None:
    for sample in samples:
        raw = sample["raw"]
        expected = sorted(
            s["name"].split(b"\0")[0].decode("utf-8", "backslashreplace") for s in sample["yara"]["sections"]
            if counter_entropy(raw[s["raw_data_offset"]: s["raw_data_offset"] + s["raw_data_size"]]) >= 7.0)
        flagged = [entry["name"] for i in find(sample["output"], "packer", "entropy")
                   for entry in i["attributes"]["sections"]]
        assert sorted(flagged) == expected, sample["name"]


def test_writable_executable_sections_match_yaras_section_characteristics(samples: list[dict]) -> None:
    for sample in samples:
        expected = [s["name"].split(b"\0")[0].decode("utf-8", "backslashreplace") for s in sample["yara"]["sections"]
                    if s["characteristics"] & SCN_MEM_WRITE and s["characteristics"] & SCN_MEM_EXECUTE]
        flagged = find(sample["output"], "sections", "writable")
        assert (flagged[0]["attributes"]["names"] if flagged else []) == expected, sample["name"]


def test_checksum_mismatch_matches_yaras_stored_and_calculated_checksums(samples: list[dict]) -> None:
    for sample in samples:
        stored = sample["yara"]["checksum"]
        rule = yara.compile(source=f'import "pe" rule ok {{ condition: pe.calculate_checksum() == {stored} }}')
        mismatch = stored != 0 and not rule.match(data=sample["raw"])
        assert bool(find(sample["output"], "checksum")) == mismatch, sample["name"]


def test_timestamps_before_1995_are_flagged(samples: list[dict]) -> None:
    for sample in samples:
        stamp = sample["yara"]["timestamp"]
        odd = stamp == 0 or stamp < time.mktime((1995, 1, 1, 0, 0, 0, 0, 0, 0)) - time.timezone
        assert bool(find(sample["output"], "timestamp")) == odd, sample["name"]


def test_imports_of_yaras_named_functions_drive_the_anti_debug_indicator(samples: list[dict]) -> None:
    for sample in samples:
        functions = {f.get("name", b"").decode() for lib in sample["yara"].get("import_details", [])
                     for f in lib["functions"]}
        functions |= {f.get("name", b"").decode() for lib in sample["yara"].get("delayed_import_details", [])
                      for f in lib["functions"]}
        expects = bool(functions & (pe_traits.ANTI_DEBUG_WEAK | pe_traits.ANTI_DEBUG_STRONG))
        assert bool(find(sample["output"], "anti_debug")) == expects, sample["name"]


@pytest.fixture(scope="module")
def clean_features() -> dict:
    """pe_features of a benign, unpacked sample with no indicators, as a base for edited copies."""
    for path in sorted(require_data("pe/good").iterdir()):
        features = run_worker("pe_features", path)
        if not PEIndicators().execute({"pe_features": features})["indicators"]:
            return features
    raise AssertionError("no indicator-free sample in pe/good")


def test_tls_callbacks_injection_imports_and_future_timestamps_are_flagged(clean_features: dict) -> None:
    features = copy.deepcopy(clean_features)
    features["dense_features"]["tls_callbacks"] = 2
    features["dense_features"]["compile_date"] = int(time.time()) + 365 * 86400
    features["sparse_features"]["imported_symbols"] += [
        "kernel32.dll:VirtualAllocEx", "kernel32.dll:WriteProcessMemory", "kernel32.dll:CreateRemoteThread"]
    output = PEIndicators().execute({"pe_features": features})
    assert find(output, "tls")[0]["attributes"] == {"count": 2}
    assert find(output, "timestamp", "future")
    assert find(output, "injection")[0]["severity"] == 3
    assert output["max_severity"] == 3


def test_few_imports_are_flagged_except_for_dotnet(clean_features: dict) -> None:
    features = copy.deepcopy(clean_features)
    features["dense_features"]["number_of_import_symbols"] = 2
    features["dense_features"]["is_dotnet"] = 0
    assert find(PEIndicators().execute({"pe_features": features}), "imports")[0]["severity"] == 2
    features["dense_features"]["is_dotnet"] = 1
    assert not find(PEIndicators().execute({"pe_features": features}), "imports")
