"""PE parsing with pefile: dense and sparse machine-learning features and a section table, in one parse.

pe_features parses each PE once here; pe_indicators and the PE views read its output instead of parsing
again. ``PE.close()`` is never called (it runs a full ``gc.collect()`` per file), and the checksum is computed
here with numpy rather than with ``PE.generate_checksum()``, which rewrites the image, calls ``gc.collect()``
and sums dwords in a Python loop (tests check both agree on every sample).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pefile

from workbench.analysis import byte_stats

DIRECTORY_NAMES = [name.replace("IMAGE_DIRECTORY_ENTRY_", "") for name, _ in pefile.directory_entry_types]
MACHINE_I386 = 0x14C
SCN_CNT_CODE = 0x00000020
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_READ = 0x40000000
SCN_MEM_WRITE = 0x80000000
MAX_TLS_CALLBACKS = 64
MAX_WARNING_STRINGS = 100
STANDARD_SECTION_NAMES = frozenset({
    ".text", ".code", "code", ".data", "data", ".rdata", ".idata", ".edata", ".pdata", ".xdata", ".reloc",
    ".rsrc", ".tls", ".bss", "bss", ".crt", ".debug", ".didat", ".sdata", ".srdata", ".gfids", ".giats",
    ".00cfg", ".orpc", ".textbss", ".ndata", "init", "page", "pagelk", "paged", "inithdr", ".cormeta",
    ".sxdata", ".drectve", ".tbss", ".CRT", ".INIT", "INIT", "PAGE", ".rodata", ".eh_fram", ".retplne",
    ".voltbl", ".fptable", ".mrdata", ".a64xrm", ".wpp_sf", ".mssmix", "CODE", "DATA", "BSS", ".itext",
})


class NotAPE(ValueError):
    """The bytes are not a PE image pefile can parse."""


def parse(raw: bytes) -> pefile.PE:
    """A full pefile parse (all data directories) of ``raw``; NotAPE naming the reason if it is not a PE."""
    try:
        return pefile.PE(data=raw)
    except pefile.PEFormatError as exc:
        raise NotAPE(
            f"not a parsable PE image ({exc.value}); PE workers need an MZ file with a PE header, "
            "this sample may be a DOS-only executable or truncated"
        ) from None


def checksum(raw: bytes, checksum_offset: int) -> int:
    """The PE optional-header checksum of ``raw`` (16-bit one's-complement word sum plus the file length)."""
    padded = raw + b"\0" * (-len(raw) % 4)
    words = np.frombuffer(padded, dtype="<u2").astype(np.uint64)
    field = checksum_offset // 2
    words[field:field + 2] = 0
    total = int(words.sum())
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(raw)) & 0xFFFFFFFF


def section_name(section: pefile.SectionStructure) -> str:
    """The section's name up to its first NUL, undecodable bytes escaped."""
    return section.Name.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def section_table(pe: pefile.PE) -> list[dict[str, Any]]:
    """Per section: name, addresses, sizes, entropy, characteristics, r/w/x/code flags, entry point flag."""
    entry = pe.OPTIONAL_HEADER.AddressOfEntryPoint
    table = []
    for section in pe.sections:
        flags = section.Characteristics
        table.append({
            "name": section_name(section),
            "virtual_address": section.VirtualAddress,
            "virtual_size": section.Misc_VirtualSize,
            "raw_offset": section.PointerToRawData,
            "raw_size": section.SizeOfRawData,
            "entropy": byte_stats.entropy(section.get_data()),
            "characteristics": flags,
            "readable": bool(flags & SCN_MEM_READ),
            "writable": bool(flags & SCN_MEM_WRITE),
            "executable": bool(flags & SCN_MEM_EXECUTE),
            "contains_code": bool(flags & SCN_CNT_CODE),
            "contains_entry_point": bool(section.contains_rva(entry)),
        })
    return table


def _directory(pe: pefile.PE, name: str) -> tuple[int, int]:
    """(VirtualAddress, Size) of a data directory, (0, 0) when the header has fewer entries."""
    index = DIRECTORY_NAMES.index(name)
    directories = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    if index >= len(directories):
        return 0, 0
    return directories[index].VirtualAddress, directories[index].Size


def tls_callback_count(pe: pefile.PE) -> int:
    """How many TLS callbacks the image registers (0 without a TLS directory); reads at most 64 pointers."""
    tls = getattr(pe, "DIRECTORY_ENTRY_TLS", None)
    address = tls.struct.AddressOfCallBacks if tls is not None else 0
    if not address:
        return 0
    size = 8 if pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else 4
    rva = address - pe.OPTIONAL_HEADER.ImageBase
    try:
        data = pe.get_data(rva, size * MAX_TLS_CALLBACKS)
    except pefile.PEFormatError:
        return 0  # callback array outside the image: malformed, counted as none
    count = 0
    for (pointer,) in struct.iter_unpack("<Q" if size == 8 else "<I", data[: len(data) - len(data) % size]):
        if pointer == 0:
            break
        count += 1
    return count


def overlay_size(pe: pefile.PE, raw: bytes) -> int:
    """Bytes after the end of the last section's raw data, not counting an Authenticode certificate table.

    Like YARA's pe module (and unlike ``PE.get_overlay_data_start_offset``), a file cut short inside its
    last section has no overlay.
    """
    start = max((s.PointerToRawData + s.SizeOfRawData for s in pe.sections if s.SizeOfRawData), default=0)
    if start == 0 or start >= len(raw):
        return 0
    cert_offset, cert_size = _directory(pe, "SECURITY")
    overlap = 0
    if cert_size:
        overlap = max(0, min(len(raw), cert_offset + cert_size) - max(start, cert_offset))
    return len(raw) - start - overlap


def imported_symbols(pe: pefile.PE) -> list[str]:
    """'dll:function' for every import and delay-load import, lowercased as the original Workbench gave them
    ('dll:ordN' by ordinal)."""
    symbols = []
    for attribute in ("DIRECTORY_ENTRY_IMPORT", "DIRECTORY_ENTRY_DELAY_IMPORT"):
        for entry in getattr(pe, attribute, []):
            dll = entry.dll.decode("utf-8", "backslashreplace").lower() if entry.dll else "?"
            for imp in entry.imports:
                function = imp.name.decode("utf-8", "backslashreplace") if imp.name else f"ord{imp.ordinal}"
                symbols.append(f"{dll}:{function.lower()}")
    return symbols


def exported_symbols(pe: pefile.PE) -> list[str]:
    """Exported names ('ordN' for exports by ordinal only)."""
    export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    if export is None:
        return []
    return [s.name.decode("utf-8", "backslashreplace") if s.name else f"ord{s.ordinal}"
            for s in export.symbols]


def _stats(values: list[float]) -> tuple[float, float, float]:
    return (min(values), sum(values) / len(values), max(values)) if values else (0.0, 0.0, 0.0)


def dense_features(pe: pefile.PE, raw: bytes, sections: list[dict[str, Any]]) -> dict[str, int | float]:
    """Numeric features (bools as 0/1), the same keys for every PE, so many rows make a numeric DataFrame."""
    fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    imports = getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
    bound = getattr(pe, "DIRECTORY_ENTRY_BOUND_IMPORT", [])
    generated = checksum(raw, oh.get_file_offset() + 0x40)
    entropy_min, entropy_mean, entropy_max = _stats([s["entropy"] for s in sections])
    raw_sizes = [s["raw_size"] for s in sections] or [0]
    virtual_sizes = [s["virtual_size"] for s in sections] or [0]
    entry_index = next((i for i, s in enumerate(sections) if s["contains_entry_point"]), -1)
    com_rva, com_size = _directory(pe, "COM_DESCRIPTOR")
    features: dict[str, int | float] = {
        "file_size": len(raw),
        "check_sum": oh.CheckSum,
        "generated_check_sum": generated,
        "check_sum_mismatch": int(oh.CheckSum != 0 and oh.CheckSum != generated),
        "compile_date": fh.TimeDateStamp,
        "machine": fh.Machine,
        "characteristics": fh.Characteristics,
        "subsystem": oh.Subsystem,
        "dll_characteristics": oh.DllCharacteristics,
        "image_base": oh.ImageBase,
        "entry_point_rva": oh.AddressOfEntryPoint,
        "entry_point_section_index": entry_index,
        "entry_point_in_code_section": int(entry_index >= 0 and sections[entry_index]["contains_code"]),
        "debug_size": _directory(pe, "DEBUG")[1],
        "export_size": _directory(pe, "EXPORT")[1],
        "iat_rva": _directory(pe, "IAT")[0],
        "major_image_version": oh.MajorImageVersion,
        "minor_image_version": oh.MinorImageVersion,
        "major_linker_version": oh.MajorLinkerVersion,
        "minor_linker_version": oh.MinorLinkerVersion,
        "major_operating_system_version": oh.MajorOperatingSystemVersion,
        "minor_operating_system_version": oh.MinorOperatingSystemVersion,
        "major_subsystem_version": oh.MajorSubsystemVersion,
        "minor_subsystem_version": oh.MinorSubsystemVersion,
        "number_of_imports": len(imports),
        "number_of_import_symbols": sum(len(entry.imports) for entry in imports),
        "number_of_delay_import_symbols": sum(
            len(entry.imports) for entry in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])),
        "number_of_exports": len(exported_symbols(pe)),
        "number_of_bound_imports": len(bound),
        "number_of_bound_import_symbols": sum(len(entry.entries) for entry in bound),
        "number_of_rva_and_sizes": oh.NumberOfRvaAndSizes,
        "number_of_sections": len(sections),
        "size_of_code": oh.SizeOfCode,
        "size_of_image": oh.SizeOfImage,
        "size_of_initialized_data": oh.SizeOfInitializedData,
        "size_of_uninitialized_data": oh.SizeOfUninitializedData,
        "size_of_headers": oh.SizeOfHeaders,
        "section_entropy_min": entropy_min,
        "section_entropy_mean": entropy_mean,
        "section_entropy_max": entropy_max,
        "section_raw_size_total": sum(raw_sizes),
        "section_raw_size_max": max(raw_sizes),
        "section_virtual_size_total": sum(virtual_sizes),
        "section_virtual_size_max": max(virtual_sizes),
        "number_of_wx_sections": sum(1 for s in sections if s["writable"] and s["executable"]),
        "number_of_nonstandard_section_names": sum(
            1 for s in sections if s["name"] not in STANDARD_SECTION_NAMES),
        "tls_callbacks": tls_callback_count(pe),
        "overlay_size": overlay_size(pe, raw),
        "is_exe": int(pe.is_exe()),
        "is_dll": int(pe.is_dll()),
        "is_driver": int(pe.is_driver()),
        "is_i386": int(fh.Machine == MACHINE_I386),
        "is_pe32_plus": int(pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS),
        "is_dotnet": int(com_rva != 0 and com_size != 0),
        "pe_warnings": len(pe.get_warnings()),
    }
    for name in DIRECTORY_NAMES:
        features[f"datadir_{name}_size"] = _directory(pe, name)[1]
    return features


def sparse_features(pe: pefile.PE, sections: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Variable-length string features: imported and exported symbols, section names, pefile warnings."""
    return {
        "imported_symbols": imported_symbols(pe),
        "exported_symbols": exported_symbols(pe),
        "section_names": [s["name"] for s in sections],
        "pe_warning_strings": pe.get_warnings()[:MAX_WARNING_STRINGS],
    }
