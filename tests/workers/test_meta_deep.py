"""meta_deep: entropy, byte histogram and fuzzy hashes, checked against independent computations."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import ssdeep
import tlsh

from workbench.testing import make_workbench, require_data, run_worker


def counter_entropy(data: bytes) -> float:
    """Shannon entropy with collections.Counter (the worker uses numpy)."""
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


@pytest.fixture(scope="module")
def pe_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    """meta_deep output of every PE sample (good and bad), stored in one in-process workbench."""
    paths = sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())
    workbench = make_workbench(tmp_path_factory.mktemp("meta_deep"))
    try:
        outputs = {}
        for path in paths:
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            outputs[path] = workbench.work_request("meta_deep", md5)["meta_deep"]
        return outputs
    finally:
        workbench.close()


def test_entropy_matches_a_counter_based_computation_on_every_pe(pe_outputs: dict[Path, dict]) -> None:
    assert len(pe_outputs) == 84
    for path, output in pe_outputs.items():
        assert output["entropy"] == pytest.approx(counter_entropy(path.read_bytes()), abs=1e-9), path.name


def test_ssdeep_matches_ssdeep_hash_from_file(pe_outputs: dict[Path, dict]) -> None:
    for path, output in pe_outputs.items():
        assert output["ssdeep"] == ssdeep.hash_from_file(str(path)), path.name


def test_tlsh_of_pe_files_matches_tlsh_and_has_the_t1_format(pe_outputs: dict[Path, dict]) -> None:
    for path, output in pe_outputs.items():
        assert output["tlsh"] == tlsh.hash(path.read_bytes()), path.name
        assert output["tlsh"].startswith("T1") and len(output["tlsh"]) == 72


def test_byte_counts_match_a_counter_and_the_file_size(pe_outputs: dict[Path, dict]) -> None:
    for path, output in pe_outputs.items():
        data = path.read_bytes()
        counts = Counter(data)
        assert output["byte_counts"] == [counts.get(b, 0) for b in range(256)], path.name
        assert sum(output["byte_counts"]) == path.stat().st_size
        assert output["byte_summary"]["distinct_bytes"] == len(set(data))
        assert output["byte_summary"]["most_common"][0] == {"byte": counts.most_common(1)[0][0],
                                                            "count": counts.most_common(1)[0][1]}


def test_entropy_of_hand_built_data_has_the_textbook_values() -> None:
    # 0 bits for one repeated byte, 1 bit for two equally frequent bytes, 8 bits for all 256 equally often
    assert run_worker("meta_deep", b"\x00" * 4096)["entropy"] == 0.0
    assert run_worker("meta_deep", b"ab" * 2048)["entropy"] == pytest.approx(1.0)
    assert run_worker("meta_deep", bytes(range(256)) * 16)["entropy"] == pytest.approx(8.0)


def test_byte_summary_ratios_are_hand_counted() -> None:
    # 100 bytes: 26 NULs, 30 'x' and 20 'y' (printable), 24 bytes 0xff (high bit set, not printable)
    data = b"\x00" * 26 + b"x" * 30 + b"y" * 20 + b"\xff" * 24
    summary = run_worker("meta_deep", data)["byte_summary"]
    assert summary["zero_ratio"] == pytest.approx(0.26)
    assert summary["printable_ratio"] == pytest.approx(0.50)
    assert summary["high_ratio"] == pytest.approx(0.24)
    assert summary["distinct_bytes"] == 4
    assert summary["most_common"] == [{"byte": ord("x"), "count": 30}, {"byte": 0x00, "count": 26},
                                      {"byte": 0xFF, "count": 24}, {"byte": ord("y"), "count": 20}]


@pytest.mark.parametrize("data", [b"short but not empty", b"A" * 5000], ids=["under-50-bytes", "no-variety"])
def test_tlsh_is_none_when_tlsh_cannot_hash_and_the_rest_is_still_computed(data: bytes) -> None:
    output = run_worker("meta_deep", data)
    assert output["tlsh"] is None
    assert output["ssdeep"] == ssdeep.hash(data)
    assert sum(output["byte_counts"]) == len(data)
