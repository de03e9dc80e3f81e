"""pe_features on every PE sample, checked against libmagic and YARA's pe module (an independent C parser)."""

from __future__ import annotations

import re
from pathlib import Path

import magic
import pandas as pd
import pefile
import pytest
import yara

from workbench.exceptions import WorkerFailed
from workbench.testing import make_workbench, require_data, run_worker

MD5_NAME = re.compile(r"^[0-9a-f]{32}$")
YARA_CHECKSUM = yara.compile(source='import "pe" rule checksum { condition: pe.calculate_checksum() == expected }',
                             externals={"expected": 0})
SCN_MEM_EXECUTE, SCN_MEM_WRITE = 0x20000000, 0x80000000


def yara_pe(raw: bytes, expected_checksum: int = 0) -> tuple[dict, bool]:
    """YARA's pe module data for ``raw``, and whether pe.calculate_checksum() equals ``expected_checksum``."""
    data: dict = {}

    def keep(module_data: dict) -> int:
        data.update(module_data)
        return yara.CALLBACK_CONTINUE

    matched = YARA_CHECKSUM.match(data=raw, modules_callback=keep, externals={"expected": expected_checksum})
    return data, bool(matched)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Per PE sample: path, raw bytes, stored md5, pe_features output and libmagic's description."""
    paths = sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())
    workbench = make_workbench(tmp_path_factory.mktemp("pe_features"))
    try:
        rows = []
        for path in paths:
            raw = path.read_bytes()
            md5 = workbench.store_sample(raw, path.name)
            rows.append({"path": path, "raw": raw, "md5": md5, "magic": magic.from_buffer(raw),
                         "output": workbench.work_request("pe_features", md5)["pe_features"]})
        return rows
    finally:
        workbench.close()


def test_every_pe_sample_is_parsed_and_stored_under_its_md5_file_name(samples: list[dict]) -> None:
    assert len(samples) == 84
    for sample in samples:
        if MD5_NAME.match(sample["path"].name):
            assert sample["md5"] == sample["path"].name
        assert set(sample["output"]) == {"md5", "dense_features", "sparse_features", "sections"}  # md5: served


def test_dense_features_load_into_a_numeric_dataframe_with_one_row_per_sample(samples: list[dict]) -> None:
    frame = pd.DataFrame([s["output"]["dense_features"] for s in samples])
    assert frame.shape[0] == 84
    assert frame.shape[1] >= 60
    assert not frame.isna().any().any()
    for column in frame.columns:
        assert pd.api.types.is_numeric_dtype(frame[column]), column


def test_sparse_features_are_string_lists_with_lowercased_symbols(samples: list[dict]) -> None:
    for sample in samples:
        sparse = sample["output"]["sparse_features"]
        assert set(sparse) == {"imported_symbols", "exported_symbols", "section_names", "pe_warning_strings"}
        for symbol in sparse["imported_symbols"]:
            dll, _, function = symbol.partition(":")
            assert dll == dll.lower() and function == function.lower() and function, symbol  # as the original
        assert len(sparse["pe_warning_strings"]) <= sample["output"]["dense_features"]["pe_warnings"]


def test_flags_agree_with_libmagic(samples: list[dict]) -> None:
    for sample in samples:
        dense, verdict = sample["output"]["dense_features"], sample["magic"]
        assert bool(dense["is_pe32_plus"]) == verdict.startswith("PE32+"), sample["path"].name
        assert bool(dense["is_i386"]) == ("Intel 80386" in verdict)
        assert (dense["subsystem"] == 1) == ("(native)" in verdict)  # IMAGE_SUBSYSTEM_NATIVE
        assert bool(dense["is_dll"]) == ("(DLL)" in verdict)
        stated = re.search(r"(\d+) sections", verdict)
        if stated:
            assert dense["number_of_sections"] == int(stated.group(1))
    assert sum(s["output"]["dense_features"]["is_pe32_plus"] for s in samples) == 6


def test_dotnet_flag_agrees_with_libmagic_where_the_header_has_a_com_descriptor_slot(samples: list[dict]) -> None:
    disagree = [s for s in samples
                if bool(s["output"]["dense_features"]["is_dotnet"]) != ("Mono/.Net assembly" in s["magic"])]
    # libmagic reads the 15th data directory even when NumberOfRvaAndSizes says there are fewer (an Upack
    # trick); the loader, and pe_features, do not.
    assert all(s["output"]["dense_features"]["number_of_rva_and_sizes"] < 15 for s in disagree)
    assert len(disagree) <= 1
    assert sum(s["output"]["dense_features"]["is_dotnet"] for s in samples) == 5


def test_header_fields_agree_with_yaras_pe_module(samples: list[dict]) -> None:
    for sample in samples:
        dense = sample["output"]["dense_features"]
        module, _ = yara_pe(sample["raw"])
        name = sample["path"].name
        assert dense["compile_date"] == module["timestamp"], name
        assert dense["check_sum"] == module["checksum"], name
        assert dense["entry_point_rva"] == module["entry_point_raw"], name
        assert dense["number_of_sections"] == module["number_of_sections"], name
        assert dense["machine"] == module["machine"], name
        assert dense["size_of_code"] == module["size_of_code"], name
        assert dense["size_of_image"] == module["size_of_image"], name
        assert dense["size_of_headers"] == module["size_of_headers"], name
        assert dense["size_of_initialized_data"] == module["size_of_initialized_data"], name
        assert dense["major_linker_version"] == module["linker_version"]["major"], name
        assert dense["major_operating_system_version"] == module["os_version"]["major"], name
        assert dense["number_of_exports"] == module["number_of_exports"], name
        sizes = [d["size"] for d in module["data_directories"]]
        assert [dense[k] for k in dense if k.startswith("datadir_")][: len(sizes)] == sizes, name


def test_generated_checksum_agrees_with_yaras_calculate_checksum(samples: list[dict]) -> None:
    for sample in samples:
        _, agrees = yara_pe(sample["raw"], sample["output"]["dense_features"]["generated_check_sum"])
        assert agrees, sample["path"].name


def test_imports_agree_with_yara_unless_pefile_reports_a_corrupt_import_table(samples: list[dict]) -> None:
    compared = 0
    for sample in samples:
        output = sample["output"]
        if any("IMAGE_IMPORT_DESCRIPTOR" in w for w in output["sparse_features"]["pe_warning_strings"]):
            continue
        module, _ = yara_pe(sample["raw"])
        assert output["dense_features"]["number_of_imports"] == module["number_of_imports"]
        assert output["dense_features"]["number_of_import_symbols"] == module["number_of_imported_functions"]
        symbols = set(output["sparse_features"]["imported_symbols"])
        for library in module["import_details"]:
            for function in library["functions"]:
                if "ordinal" not in function:  # ordinal-to-name tables differ between parsers
                    symbol = f"{library['library_name'].decode().lower()}:{function['name'].decode().lower()}"
                    assert symbol in symbols, (sample["path"].name, symbol)
        compared += 1
    assert compared >= 80


def test_sections_agree_with_yaras_pe_module(samples: list[dict]) -> None:
    for sample in samples:
        module, _ = yara_pe(sample["raw"])
        sections = sample["output"]["sections"]
        expected_names = [s["name"].split(b"\0")[0].decode("utf-8", "backslashreplace") for s in module["sections"]]
        assert [s["name"] for s in sections] == expected_names
        assert sample["output"]["sparse_features"]["section_names"] == expected_names
        for mine, theirs in zip(sections, module["sections"], strict=True):
            assert mine["raw_size"] == theirs["raw_data_size"]
            assert mine["virtual_address"] == theirs["virtual_address"]
            assert mine["writable"] == bool(theirs["characteristics"] & SCN_MEM_WRITE)
            assert mine["executable"] == bool(theirs["characteristics"] & SCN_MEM_EXECUTE)


def test_overlay_is_yaras_overlay_minus_the_certificate_table(samples: list[dict]) -> None:
    for sample in samples:
        dense = sample["output"]["dense_features"]
        module, _ = yara_pe(sample["raw"])
        signature = dense["datadir_SECURITY_size"] if module["overlay"]["size"] else 0
        assert dense["overlay_size"] == module["overlay"]["size"] - signature, sample["path"].name


def test_a_dos_only_exe_fails_with_a_message_naming_the_problem() -> None:
    dos_stub = b"MZ" + b"\x90" * 62 + b"\xb4\x4c\xcd\x21" * 64  # MZ header, no PE header
    with pytest.raises(WorkerFailed, match="not a parsable PE image"):
        run_worker("pe_features", dos_stub, type_tag="exe")


def test_a_text_sample_is_not_applicable() -> None:
    with pytest.raises(WorkerFailed, match="applies to type_tag exe"):
        run_worker("pe_features", b"just some text, not a PE file\n" * 10)


def test_section_entropy_summary_matches_the_section_table(samples: list[dict]) -> None:
    for sample in samples:
        dense, sections = sample["output"]["dense_features"], sample["output"]["sections"]
        entropies = [s["entropy"] for s in sections]
        assert dense["section_entropy_max"] == max(entropies)
        assert dense["section_entropy_min"] == min(entropies)
        assert all(0.0 <= e <= 8.0 for e in entropies)
        assert sum(s["contains_entry_point"] for s in sections) <= 1


def test_features_of_one_sample_are_stable_across_runs(samples: list[dict], tmp_path: Path) -> None:
    first = samples[0]
    assert {"md5": first["md5"], **run_worker("pe_features", first["path"])} == first["output"]


def test_tls_callbacks_are_counted_until_the_terminating_null(samples: list[dict]) -> None:
    # The shared samples with a TLS directory all have an empty callback array; patch two pointers into a
    # copy of one (in memory only) and check both are counted.
    with_tls = next(s for s in samples if s["output"]["dense_features"]["datadir_TLS_size"])
    assert with_tls["output"]["dense_features"]["tls_callbacks"] == 0
    pe = pefile.PE(data=with_tls["raw"])
    array = pe.get_offset_from_rva(pe.DIRECTORY_ENTRY_TLS.struct.AddressOfCallBacks - pe.OPTIONAL_HEADER.ImageBase)
    entry_va = pe.OPTIONAL_HEADER.ImageBase + pe.OPTIONAL_HEADER.AddressOfEntryPoint
    pointers = entry_va.to_bytes(4, "little") * 2 + b"\0" * 4
    patched = with_tls["raw"][:array] + pointers + with_tls["raw"][array + len(pointers):]
    assert run_worker("pe_features", patched)["dense_features"]["tls_callbacks"] == 2
