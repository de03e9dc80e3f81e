"""elf on the operating system's own executables and libraries and two foreign-machine .so files, against readelf."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import magic
import pytest
from elf_reference import MACHINES, dynamic, dynamic_symbols, elf_files, header, sections, segments

from workbench.exceptions import WorkerFailed
from workbench.testing import make_workbench, run_worker

COMMON_SECTION_TYPES = {"PROGBITS", "NOBITS", "NOTE", "DYNSYM", "SYMTAB", "STRTAB", "RELA", "REL", "DYNAMIC",
                        "INIT_ARRAY", "FINI_ARRAY", "GNU_HASH", "HASH"}


def counter_entropy(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values()) if data else 0.0


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    workbench = make_workbench(tmp_path_factory.mktemp("elf"))
    try:
        results = {}
        for path in elf_files():
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            assert workbench.get_sample_info(md5)["type_tag"] == "elf", path
            results[path] = workbench.work_request("elf", md5)["elf"]
        return results
    finally:
        workbench.close()


def test_the_files_cover_executables_libraries_and_three_machines(outputs: dict[Path, dict]) -> None:
    assert len(outputs) >= 6, sorted(outputs)
    machines = {o["header"]["machine"] for o in outputs.values()}
    assert {"X86_64", "I386", "AARCH64"} <= machines
    assert {o["header"]["class"] for o in outputs.values()} == {"ELF32", "ELF64"}
    for path in outputs:
        assert magic.from_file(str(path)).startswith("ELF "), path


def test_header_matches_readelf(outputs: dict[Path, dict]) -> None:
    for path, output in outputs.items():
        expected = header(path)
        got = output["header"]
        assert got["class"] == expected["Class"], path
        assert got["machine"] == MACHINES[expected["Machine"]], path
        assert got["type"] == expected["Type"].split()[0], path
        assert got["entry_point"] == int(expected["Entry point address"], 16), path
        assert got["number_of_sections"] == int(expected["Number of section headers"]), path
        assert got["number_of_segments"] == int(expected["Number of program headers"]), path
        assert got["endianness"] == ("little" if "little endian" in expected["Data"] else "big"), path


def test_sections_names_offsets_sizes_flags_and_entropy_match_readelf(outputs: dict[Path, dict]) -> None:
    for path, output in outputs.items():
        raw = path.read_bytes()
        expected = sections(path)
        assert len(output["sections"]) == len(expected) == output["header"]["number_of_sections"], path
        for got, ref in zip(output["sections"], expected, strict=True):
            assert (got["name"], got["offset"], got["size"]) == (ref["name"], ref["offset"], ref["size"]), path
            assert got["flags"] == "".join(f for f in "WAX" if f in ref["flags"]), (path, ref)
            if ref["type"] in COMMON_SECTION_TYPES:
                assert got["type"] == ref["type"], (path, ref)
            data = b"" if ref["type"] == "NOBITS" else raw[ref["offset"]:ref["offset"] + ref["size"]]
            assert got["entropy"] == pytest.approx(counter_entropy(data), abs=1e-9), (path, ref)


def test_segments_and_interpreter_match_readelf(outputs: dict[Path, dict]) -> None:
    for path, output in outputs.items():
        expected, interpreter = segments(path)
        assert output["interpreter"] == interpreter, path
        assert len(output["segments"]) == len(expected), path
        for got, ref in zip(output["segments"], expected, strict=True):
            assert {k: got[k] for k in ref} == ref, path


def test_libraries_soname_and_dynamic_symbols_match_readelf(outputs: dict[Path, dict]) -> None:
    for path, output in outputs.items():
        entries = dynamic(path)
        assert output["libraries"] == entries.get("NEEDED", []), path
        assert output["soname"] == (entries.get("SONAME") or [None])[0], path
        imported, exported = dynamic_symbols(path)
        assert output["imported_symbols"] == imported[:1000], path
        assert output["exported_symbols"] == exported[:1000], path
        assert (output["number_of_imported_symbols"], output["number_of_exported_symbols"]) == (
            len(imported), len(exported)), path
    assert any(o["number_of_exported_symbols"] > 1000 for o in outputs.values()), "libc should be in the set"


def test_security_flags_follow_readelfs_segments_dynamic_tags_and_symbols(outputs: dict[Path, dict]) -> None:
    for path, output in outputs.items():
        rows, interpreter = segments(path)
        types = {row["type"]: row for row in rows}
        entries = dynamic(path)
        flags_1 = " ".join(entries.get("FLAGS_1", []))
        bind_now = "BIND_NOW" in entries or "BIND_NOW" in " ".join(entries.get("FLAGS", [])) or \
            " NOW" in f" {flags_1.removeprefix('Flags:')}"
        relro = "none" if "GNU_RELRO" not in types else "full" if bind_now else "partial"
        imported = set(dynamic_symbols(path)[0])
        security = output["security"]
        assert security["relro"] == relro, path
        assert security["nx"] == ("GNU_STACK" in types and "E" not in types["GNU_STACK"]["flags"]), path
        assert security["pie"] == (header(path)["Type"].startswith("DYN") and (
            interpreter is not None or "PIE" in flags_1)), path
        assert security["stripped"] == (".symtab" not in {s["name"] for s in sections(path)}), path
        assert security["canary"] == ("__stack_chk_fail" in imported or "__stack_chk_guard" in imported), path
        assert output["packer"]["upx"] is False, path
    by_name = {p.name: o for p, o in outputs.items()}
    assert by_name["ls"]["security"]["pie"] and by_name["ls"]["security"]["stripped"]
    assert not by_name["markupsafe-3.0.2-i686-speedups.so"]["security"]["stripped"]
    assert by_name["markupsafe-3.0.2-i686-speedups.so"]["security"]["shared_object"]


def test_upx_marks_are_reported_with_the_version() -> None:
    """No UPX-packed ELF is installable here (no upx in Debian's or PyPI's lists): the marks are planted."""
    raw = Path("/bin/ls").read_bytes()
    planted = raw + b"\0UPX!\x0d\x0c" + b"$Id: UPX 4.22 Copyright (C) 1996-2024 the UPX Team. All Rights Reserved. $"
    output = run_worker("elf", planted)
    assert output["packer"] == {"upx": True, "upx_version": "4.22", "traits": ["upx_magic", "upx_version_string"]}
    assert output["overlay_size"] == len(planted) - len(raw)
    view = run_worker("view_elf", planted)
    assert "upx" in view["indicators"] and "overlay" in view["indicators"]


def test_a_text_sample_is_not_applicable_and_a_cut_header_fails_with_the_reason() -> None:
    with pytest.raises(WorkerFailed, match="applies to type_tag elf"):
        run_worker("elf", b"just some text\n" * 10)
    with pytest.raises(WorkerFailed, match="truncated ELF: 20 bytes, shorter than its 64-byte ELF header"):
        run_worker("elf", Path("/bin/ls").read_bytes()[:20])
    with pytest.raises(WorkerFailed, match="class byte 07 is neither 01"):
        run_worker("elf", b"\x7fELF\x07" + bytes(100))


def test_a_file_cut_inside_its_tables_is_parsed_with_warnings(outputs: dict[Path, dict]) -> None:
    assert all(o["warnings"] == [] for o in outputs.values())
    cut = run_worker("elf", Path("/bin/ls").read_bytes()[:1000])
    assert cut["header"]["number_of_sections"] == 31 and cut["sections"] == []
    assert cut["warnings"] == ["section header table ends past the end of the file (truncated?)",
                               "header promises 31 section headers, 0 were readable"]
