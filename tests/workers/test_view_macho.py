"""view_macho: a compact Mach-O summary that agrees with macho, libmagic and llvm-objdump; `view` dispatches to it."""

from __future__ import annotations

from pathlib import Path

import magic
import pytest
from macho_reference import FAT, THIN, universal_headers

from workbench.exceptions import WorkerFailed
from workbench.testing import make_workbench, run_worker


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    workbench = make_workbench(tmp_path_factory.mktemp("view_macho"))
    try:
        out = {}
        for path in (THIN, FAT):
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            out[path] = {"view": workbench.work_request("view", md5)["view"],
                         "macho": workbench.work_request("macho", md5)["macho"]}
        return out
    finally:
        workbench.close()


def test_view_dispatches_macho_samples_to_view_macho(results: dict[Path, dict]) -> None:
    for path, result in results.items():
        assert (result["view"]["view_worker"], result["view"]["type_tag"]) == ("view_macho", "macho")
        assert result["view"]["view"]["file_type"] == magic.from_buffer(path.read_bytes())


def test_slices_agree_with_the_universal_headers_and_macho(results: dict[Path, dict]) -> None:
    view = results[FAT]["view"]["view"]
    assert view["macho"] == {"fat": True, "number_of_slices": 2, "architectures": ["X86_64", "ARM64"],
                             "code_signature": True}
    assert [(s["offset"], s["size"]) for s in view["slices"]] == [(h["offset"], h["size"])
                                                                  for h in universal_headers(FAT)]
    for result in results.values():
        for one, full in zip(result["view"]["view"]["slices"], result["macho"]["slices"], strict=True):
            assert one["security"] == full["security"] and one["libraries"] == full["libraries"][:10]
            assert one["code_signature"] is full["code_signature"]["present"]
            assert one["file_type"] == "BUNDLE" and one["min_os"] == full["min_os"]


def test_an_unsigned_slice_is_an_indicator(results: dict[Path, dict]) -> None:
    assert results[FAT]["view"]["view"]["indicators"] == ["unsigned"]  # its x86_64 slice has no signature
    assert results[THIN]["view"]["view"]["indicators"] == []


def test_a_pdf_is_not_applicable() -> None:
    with pytest.raises(WorkerFailed, match="applies to type_tag macho"):
        run_worker("view_macho", b"%PDF-1.4\n%%EOF\n")
