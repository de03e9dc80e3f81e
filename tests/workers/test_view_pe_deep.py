"""view_pe_deep: view_pe plus entropy, fuzzy hashes, indicators of compromise and strings."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import ssdeep

from workbench.exceptions import WorkerFailed
from workbench.testing import DATA_DIR, make_workbench, require_data, run_worker

OPTIONS = {"pe_peid": {"database": str(DATA_DIR / "signatures" / "peid_userdb.txt")},
           "yara_sigs": {"rules_dir": str(DATA_DIR / "signatures" / "yara")}}


@pytest.fixture(scope="module")
def deep_and_plain(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict, dict]]:
    """(path, view_pe_deep, view_pe) for 15 good PE samples (view_pe itself is tested on all of them)."""
    require_data("signatures")
    workbench = make_workbench(tmp_path_factory.mktemp("view_pe_deep"), OPTIONS)
    try:
        rows = []
        for path in sorted(require_data("pe/good").iterdir())[:15]:
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            rows.append((path, workbench.work_request("view_pe_deep", md5)["view_pe_deep"],
                         workbench.work_request("view_pe", md5)["view_pe"]))
        return rows
    finally:
        workbench.close()


def test_the_deep_view_contains_the_whole_plain_view(deep_and_plain: list[tuple[Path, dict, dict]]) -> None:
    for _, deep, plain in deep_and_plain:
        assert {key: deep[key] for key in plain} == plain


def test_entropy_and_ssdeep_agree_with_independent_computations(deep_and_plain: list) -> None:
    for path, deep, _ in deep_and_plain:
        data = path.read_bytes()
        counts = Counter(data)
        entropy = -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())
        assert deep["entropy"] == pytest.approx(entropy, abs=1e-4)
        assert deep["ssdeep"] == ssdeep.hash_from_file(str(path))


def test_listed_urls_and_strings_occur_in_the_file(deep_and_plain: list) -> None:
    urls = 0
    for path, deep, _ in deep_and_plain:
        data = path.read_bytes()
        for url in deep["urls"]:
            assert url.encode() in data or url.encode("utf-16-le") in data
            urls += 1
        for text in deep["strings"]:
            assert len(text) >= 8
            assert text.encode() in data or text.encode("utf-16-le") in data
        assert len(deep["strings"]) <= 30 and len(deep["urls"]) <= 20
    assert urls > 20  # signed good PEs carry certificate and vendor URLs


def test_a_hand_built_pe_with_a_url_shows_it_in_the_deep_view(tmp_path: Path) -> None:
    original = sorted(require_data("pe/good").iterdir())[0].read_bytes()
    marker = b"\x00http://c2.example.com/beacon\x00contact: ops@example.org\x00"
    output = run_worker("view_pe_deep", original + marker, options=OPTIONS)
    assert "http://c2.example.com/beacon" in output["urls"]
    assert "ops@example.org" in output["emails"]
    assert {"c2.example.com", "example.org"} <= set(output["domains"])


def test_a_text_sample_is_not_applicable() -> None:
    with pytest.raises(WorkerFailed, match="applies to type_tag exe"):
        run_worker("view_pe_deep", b"plain text, not a PE\n" * 20, options=OPTIONS)
