"""pe_deep_sim: ssdeep neighbours among stored samples, checked against brute-force ssdeep.compare."""

from __future__ import annotations

from pathlib import Path

import pytest
import ssdeep

from workbench.testing import make_workbench, require_data


def modified_copy(raw: bytes, where: float = 0.5) -> bytes:
    """The same file with 16 bytes flipped at ``where`` (a fraction of its length): a near-duplicate."""
    start = int(len(raw) * where)
    return raw[:start] + bytes(b ^ 0xFF for b in raw[start:start + 16]) + raw[start + 16:]


@pytest.fixture
def stored(tmp_path: Path) -> dict:
    """A workbench holding 12 good PEs, a modified copy of the first one, and their meta_deep outputs."""
    paths = sorted(require_data("pe/good").iterdir())[:12]
    workbench = make_workbench(tmp_path)
    raws = {workbench.store_sample(p.read_bytes(), p.name): p.read_bytes() for p in paths}
    original_md5 = next(iter(raws))
    copy_md5 = workbench.store_sample(modified_copy(raws[original_md5]), "modified.exe")
    raws[copy_md5] = modified_copy(raws[original_md5])
    for md5 in raws:
        workbench.work_request("meta_deep", md5)
    yield {"workbench": workbench, "raws": raws, "original": original_md5, "copy": copy_md5}
    workbench.close()


def test_the_modified_copy_is_the_top_match_with_ssdeeps_own_score(stored: dict) -> None:
    raws = stored["raws"]
    result = stored["workbench"].work_request("pe_deep_sim", stored["original"])["pe_deep_sim"]
    top = result["sim_list"][0]
    expected = ssdeep.compare(ssdeep.hash(raws[stored["original"]]), ssdeep.hash(raws[stored["copy"]]))
    assert top == {"md5": stored["copy"], "score": expected, "sim": expected}  # sim: the original's name
    assert expected >= 80


def test_results_equal_a_brute_force_comparison_against_every_stored_sample(stored: dict) -> None:
    raws = stored["raws"]
    pruned = 0
    for md5 in raws:
        result = stored["workbench"].work_request("pe_deep_sim", md5)["pe_deep_sim"]
        target = ssdeep.hash(raws[md5])
        brute = sorted(((ssdeep.compare(target, ssdeep.hash(raw)), other) for other, raw in raws.items()
                        if other != md5), key=lambda pair: (-pair[0], pair[1]))
        expected = [{"md5": other, "score": score, "sim": score} for score, other in brute if score >= 25][:10]
        assert result["sim_list"] == expected
        assert result["compared"] <= result["candidates"] <= len(raws) - 1
        pruned += len(raws) - 1 - result["compared"]
    assert pruned > 0  # the index skipped samples that cannot score without changing the answer


def test_the_sample_itself_is_never_listed(stored: dict) -> None:
    for md5 in stored["raws"]:
        result = stored["workbench"].work_request("pe_deep_sim", md5)["pe_deep_sim"]
        assert md5 not in {entry["md5"] for entry in result["sim_list"]}


@pytest.mark.parametrize(("options", "expected_length"), [({"top_n": 2}, 2), ({"threshold": 101}, 0)])
def test_top_n_and_threshold_options_limit_the_list(tmp_path: Path, options: dict, expected_length: int) -> None:
    raw = sorted(require_data("pe/good").iterdir())[0].read_bytes()
    workbench = make_workbench(tmp_path, {"pe_deep_sim": options})
    try:
        variants = [raw] + [modified_copy(raw, where) for where in (0.3, 0.5, 0.7)]
        md5s = [workbench.store_sample(data, f"variant{i}.exe") for i, data in enumerate(variants)]
        for md5 in md5s:
            workbench.work_request("meta_deep", md5)
        result = workbench.work_request("pe_deep_sim", md5s[0])["pe_deep_sim"]
        assert len(result["sim_list"]) == expected_length
        assert result["candidates"] == 3  # the three near-copies share index keys with the original
    finally:
        workbench.close()


def test_results_are_not_cached_and_see_samples_stored_later(stored: dict) -> None:
    workbench, original = stored["workbench"], stored["original"]
    before = workbench.work_request("pe_deep_sim", original)["pe_deep_sim"]
    second_copy = modified_copy(stored["raws"][original], 0.25)
    new_md5 = workbench.store_sample(second_copy, "another-copy.exe")
    workbench.work_request("meta_deep", new_md5)
    after = workbench.work_request("pe_deep_sim", original)["pe_deep_sim"]
    assert after["candidates"] == before["candidates"] + 1
    assert new_md5 in {entry["md5"] for entry in after["sim_list"]}
