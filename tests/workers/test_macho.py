"""macho on real macOS binaries (MarkupSafe wheels: thin arm64 and universal2), against llvm-objdump/llvm-nm."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import magic
import pytest
from macho_reference import (
    CPU_NAMES,
    EXECUTABLE,
    FAT,
    THIN,
    exports,
    private_headers,
    undefined_symbols,
    universal_headers,
)

from workbench.exceptions import WorkerFailed
from workbench.testing import make_workbench, run_worker


def counter_entropy(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values()) if data else 0.0


def version(text: str | None) -> str | None:
    """'11.0.0' and '11.0' alike."""
    return None if text is None else ".".join(text.split(".")[:2])


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    workbench = make_workbench(tmp_path_factory.mktemp("macho"))
    try:
        results = {}
        for path in (THIN, FAT):
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            assert workbench.get_sample_info(md5)["type_tag"] == "macho"
            results[path] = workbench.work_request("macho", md5)["macho"]
        return results
    finally:
        workbench.close()


def test_fat_and_thin_files_and_their_slices_match_the_universal_headers(outputs: dict[Path, dict]) -> None:
    assert "Mach-O universal binary with 2 architectures" in magic.from_file(str(FAT))
    assert magic.from_file(str(THIN)).startswith("Mach-O 64-bit arm64 bundle")
    fat, thin = outputs[FAT], outputs[THIN]
    assert (fat["fat"], fat["number_of_slices"], fat["architectures"]) == (True, 2, ["X86_64", "ARM64"])
    assert (thin["fat"], thin["number_of_slices"], thin["architectures"]) == (False, 1, ["ARM64"])
    expected = universal_headers(FAT)
    assert [{"arch": CPU_NAMES[s["cpu_type"]], "offset": s["offset"], "size": s["size"]} for s in fat["slices"]] \
        == expected
    assert universal_headers(THIN) == []
    assert (thin["slices"][0]["offset"], thin["slices"][0]["size"]) == (0, THIN.stat().st_size)


def slices(outputs: dict[Path, dict]) -> list[tuple[Path, dict, dict]]:
    return [(path, one, private_headers(path, CPU_NAMES[one["cpu_type"]]))
            for path, output in outputs.items() for one in output["slices"]]


def test_header_and_load_commands_match_llvm_objdump(outputs: dict[Path, dict]) -> None:
    for path, one, ref in slices(outputs):
        assert one["cpu_type"] == ref["cputype"], path
        assert one["file_type"] == ref["filetype"] == "BUNDLE", path
        assert one["flags"] == ref["flags"], path
        assert one["number_of_load_commands"] == ref["ncmds"] == len(one["load_commands"]), path
        assert ["LC_" + name for name in one["load_commands"]] == ref["commands"], path
        assert one["uuid"] == ref["uuid"], path
        assert (version(one["min_os"]), version(one["sdk"])) == (version(ref["minos"]), version(ref["sdk"])), path
        assert one["libraries"] == ref["dylibs"], path


def test_segments_sections_and_their_entropy_match_llvm_objdump(outputs: dict[Path, dict]) -> None:
    for path, one, ref in slices(outputs):
        raw = path.read_bytes()
        got = [{**{k: s[k] for k in ref["segments"][0] if k != "sections"},
                "sections": [{k: x[k] for k in ("name", "offset", "size")} for x in s["sections"]]}
               for s in one["segments"]]
        assert got == ref["segments"], path
        for segment in one["segments"]:
            start = one["offset"] + segment["offset"]
            assert segment["entropy"] == pytest.approx(counter_entropy(raw[start:start + segment["file_size"]]))
            for section in segment["sections"]:
                start = one["offset"] + section["offset"]
                data = raw[start:start + section["size"]] if section["offset"] else b""
                assert section["entropy"] == pytest.approx(counter_entropy(data)), (path, section["name"])


def test_imports_exports_and_code_signature_match_llvm(outputs: dict[Path, dict]) -> None:
    signed = []
    for path, one, ref in slices(outputs):
        arch = CPU_NAMES[one["cpu_type"]]
        assert one["imported_symbols"] == undefined_symbols(path, arch), path
        assert one["exported_symbols"] == exports(path, arch) == ["_PyInit__speedups"], path
        signature = one["code_signature"]
        assert signature["present"] == one["security"]["code_signature"] == (ref["code_signature"] is not None)
        if ref["code_signature"]:
            assert {k: signature[k] for k in ("offset", "size")} == ref["code_signature"], path
        signed.append((path.name, arch, signature["present"]))
    # Apple's linker signs arm64 output ad hoc; x86_64 slices of the same era are unsigned.
    assert signed == [(THIN.name, "arm64", True), (FAT.name, "x86_64", False), (FAT.name, "arm64", True)]
    assert outputs[FAT]["code_signature"] and outputs[THIN]["code_signature"]


def test_security_flags_of_a_bundle(outputs: dict[Path, dict]) -> None:
    for one in (s for output in outputs.values() for s in output["slices"]):
        assert one["security"]["pie"] is ("PIE" in one["flags"])
        assert one["security"]["encrypted"] is False
        assert one["security"]["canary"] is any("stack_chk" in name for name in one["imported_symbols"])
        assert one["entry_point"] is None  # a bundle has no LC_MAIN
    assert outputs[FAT]["packer"]["upx"] is False


def test_text_is_not_applicable_and_cut_files_fail_with_the_reason() -> None:
    with pytest.raises(WorkerFailed, match="applies to type_tag macho"):
        run_worker("macho", b"#!/bin/sh\necho hello\n")
    with pytest.raises(WorkerFailed, match="Mach-O headers unreadable"):
        run_worker("macho", FAT.read_bytes()[:64])
    with pytest.raises(WorkerFailed, match="not a Mach-O file"):
        run_worker("macho", b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(64), type_tag="macho")  # a Java class


def test_a_universal_executable_matches_llvm_its_entry_point_pie_and_canary() -> None:
    """ninja's universal2 executable (fetched by install.sh: 647 KB, not shipped): MH_EXECUTE, LC_MAIN, PIE."""
    if not EXECUTABLE.exists():
        pytest.skip(f"{EXECUTABLE} is absent: ./install.sh fetches it (ninja 1.13.2's macOS wheel from PyPI)")
    output = run_worker("macho", EXECUTABLE)
    assert output["architectures"] == [h["arch"].upper() for h in universal_headers(EXECUTABLE)]
    for one in output["slices"]:
        arch = CPU_NAMES[one["cpu_type"]]
        ref = private_headers(EXECUTABLE, arch)
        assert one["file_type"] == ref["filetype"] == "EXECUTE"
        assert one["entry_point"] == ref["entry"] and ref["entry"] > 0
        assert one["flags"] == ref["flags"] and one["security"]["pie"] is ("PIE" in ref["flags"]) is True
        assert ["LC_" + name for name in one["load_commands"]] == ref["commands"]
        assert one["libraries"] == ref["dylibs"]
        imported = undefined_symbols(EXECUTABLE, arch)
        assert one["imported_symbols"] == imported
        assert one["security"]["canary"] is ("___stack_chk_fail" in imported) is True
        assert one["code_signature"]["present"] is (ref["code_signature"] is not None)
    view = run_worker("view_macho", EXECUTABLE)
    assert "no_pie" not in view["indicators"] and "executable_stack" not in view["indicators"]
