"""Mach-O parsing with lief: thin files and fat (universal) binaries, one summary per architecture slice.

Per slice: header (CPU, file type, flags), load commands, segments with their sections and entropy, linked
libraries and rpaths, imported/exported symbols, UUID, minimum OS / SDK, entry point, code signature (the
LC_CODE_SIGNATURE blob's place and size) and hardening flags: PIE (MH_PIE), NX heap/stack, stack canary
(imports ___stack_chk_fail), ARC (imports _objc_release), encryption (LC_ENCRYPTION_INFO with a non-zero
cryptid). Offsets inside a slice are relative to the slice; ``offset`` says where the slice starts in the file.
"""

from __future__ import annotations

from typing import Any

import lief

from workbench.analysis.binary_magic import MACHO_FAT_MAGICS, is_macho
from workbench.analysis.native_binaries import (
    CANARY_SYMBOLS,
    MAX_ITEMS,
    NotParsable,
    capped,
    name,
    protection,
    range_entropy,
    text,
    upx_traits,
)

MAX_SLICES = 16


def parse(raw: bytes) -> lief.MachO.FatBinary:
    """lief's parse of ``raw`` (a FatBinary, one entry for a thin file); NotParsable naming the reason."""
    if not is_macho(raw):
        raise NotParsable(f"not a Mach-O file: it starts with {raw[:8].hex()}, no Mach-O or fat magic; "
                          "re-tag the sample")
    fat = lief.MachO.parse(raw)
    if fat is None or fat.size == 0:
        raise NotParsable("Mach-O headers unreadable (truncated or corrupt); lief could not parse any slice")
    return fat


def segments(binary: lief.MachO.Binary, raw: bytes) -> list[dict[str, Any]]:
    """Per segment (first MAX_ITEMS): name, file range, memory range, protections, entropy and sections."""
    base = binary.fat_offset
    table = []
    for segment in capped(list(binary.segments)):
        table.append({
            "name": text(segment),
            "offset": segment.file_offset,
            "file_size": segment.file_size,
            "virtual_address": segment.virtual_address,
            "virtual_size": segment.virtual_size,
            "init_protection": protection(segment.init_protection),
            "max_protection": protection(segment.max_protection),
            "entropy": range_entropy(raw, base + segment.file_offset, segment.file_size),
            "sections": [{
                "name": text(section),
                "offset": section.offset,
                "size": section.size,
                "entropy": range_entropy(raw, base + section.offset, section.size) if section.offset else 0.0,
            } for section in capped(list(segment.sections))],
        })
    return table


def security(binary: lief.MachO.Binary, imported: list[str]) -> dict[str, Any]:
    """Hardening flags of one slice (see the module docstring)."""
    names = set(imported)
    encrypted = binary.has_encryption_info and binary.encryption_info.crypt_id != 0
    return {
        "pie": binary.is_pie,
        "nx_heap": binary.has_nx_heap,
        "nx_stack": binary.has_nx_stack,
        "canary": bool({n.lstrip("_") for n in names} & {n.lstrip("_") for n in CANARY_SYMBOLS}),
        "arc": "_objc_release" in names,
        "code_signature": binary.has_code_signature,
        "encrypted": bool(encrypted),
        "restricted": any(text(s) == "__RESTRICT" for s in binary.segments),
    }


def slice_summary(binary: lief.MachO.Binary, raw: bytes) -> dict[str, Any]:
    """Everything about one architecture slice."""
    h = binary.header
    imported = [text(s) for s in binary.imported_symbols]
    exported = [text(s) for s in binary.exported_symbols]
    signature = binary.code_signature if binary.has_code_signature else None
    build = binary.build_version if binary.has_build_version else None
    version_min = binary.version_min if binary.has_version_min else None
    segment_table = segments(binary, raw)
    commands = [name(c.command) for c in binary.commands]
    return {
        "cpu_type": name(h.cpu_type),
        "cpu_subtype": h.cpu_subtype,
        "offset": binary.fat_offset,
        "size": binary.original_size,
        "file_type": name(h.file_type),
        "flags": [name(f) for f in h.flags_list],
        "number_of_load_commands": h.nb_cmds,
        "load_commands": capped(commands),
        "segments": segment_table,
        "libraries": capped([text(library) for library in binary.libraries]),
        "rpaths": capped([text(command, "path") for command in binary.rpaths]) if binary.has_rpath else [],
        "number_of_imported_symbols": len(imported),
        "number_of_exported_symbols": len(exported),
        "imported_symbols": capped(imported),
        "exported_symbols": capped(exported),
        "uuid": bytes(binary.uuid.uuid).hex() if binary.has_uuid else None,
        "platform": name(build.platform) if build else None,
        "min_os": ".".join(map(str, build.minos if build else version_min.version)) if build or version_min
        else None,
        "sdk": ".".join(map(str, build.sdk if build else version_min.sdk)) if build or version_min else None,
        "entry_point": binary.main_command.entrypoint if binary.has_main_command else None,
        "code_signature": {"present": True, "offset": signature.data_offset, "size": signature.data_size}
        if signature else {"present": False, "offset": None, "size": None},
        "security": security(binary, imported),
        "packer": upx_traits(b"", [s["name"] for s in segment_table]),
    }


def summary(raw: bytes) -> dict[str, Any]:
    """Everything the macho worker returns, from one lief parse."""
    fat = parse(raw)
    slices = [slice_summary(fat.at(i), raw) for i in range(min(fat.size, MAX_SLICES))]
    upx = upx_traits(raw, [s["name"] for one in slices for s in one["segments"]])
    return {
        "fat": raw[:4] in MACHO_FAT_MAGICS,
        "number_of_slices": fat.size,
        "architectures": [s["cpu_type"] for s in slices],
        "slices": slices,
        "code_signature": any(s["code_signature"]["present"] for s in slices),
        "packer": upx,
        "lists_capped_at": MAX_ITEMS,
    }
