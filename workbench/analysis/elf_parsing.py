"""ELF parsing with lief: header, sections, segments, dynamic symbols and libraries, hardening flags.

Security flags follow checksec's definitions: PIE (an ET_DYN with a program interpreter, or flagged DF_1_PIE),
NX (a PT_GNU_STACK without execute), RELRO (PT_GNU_RELRO: 'partial'; with BIND_NOW as well: 'full'), canary
(imports __stack_chk_fail), fortify (imports a glibc *_chk function), stripped (no .symtab section).
Imported symbols are the named undefined dynamic symbols; exported ones the defined global/weak dynamic symbols
of default or protected visibility: what ``readelf --dyn-syms`` lists as UND and as defined.
"""

from __future__ import annotations

from typing import Any

import lief

from workbench.analysis.binary_magic import is_elf
from workbench.analysis.native_binaries import (
    CANARY_SYMBOLS,
    NotParsable,
    capped,
    name,
    range_entropy,
    text,
    upx_traits,
)

SECTION_FLAG_LETTERS = (("WRITE", "W"), ("ALLOC", "A"), ("EXECINSTR", "X"))
_BINDING, _VISIBILITY = lief.ELF.Symbol.BINDING, lief.ELF.Symbol.VISIBILITY
EXPORTED_BINDINGS = frozenset({_BINDING.GLOBAL, _BINDING.WEAK, _BINDING.GNU_UNIQUE})
EXPORTED_VISIBILITIES = frozenset({_VISIBILITY.DEFAULT, _VISIBILITY.PROTECTED})
HEADER_SIZES = {1: 52, 2: 64}  # by EI_CLASS: ELF32, ELF64
DF_BIND_NOW, DF_1_NOW, DF_1_PIE = 0x8, 0x1, 0x08000000


def parse(raw: bytes) -> lief.ELF.Binary:
    """A lief ELF parse of ``raw``; NotParsable naming the reason when it is no ELF lief can read."""
    if not is_elf(raw):
        raise NotParsable(f"not an ELF file: it starts with {raw[:4]!r}, not b'\\x7fELF'; re-tag the sample")
    header_size = HEADER_SIZES.get(raw[4] if len(raw) > 4 else 0)
    if header_size is None:
        raise NotParsable(f"ELF header unreadable: class byte {raw[4:5].hex() or 'missing'} is neither 01 (32-bit) "
                          "nor 02 (64-bit); the file is corrupt")
    if len(raw) < header_size:
        raise NotParsable(f"truncated ELF: {len(raw)} bytes, shorter than its {header_size}-byte ELF header")
    binary = lief.ELF.parse(raw)
    if binary is None or name(binary.header.identity_class) not in ("ELF32", "ELF64"):
        raise NotParsable("ELF header unreadable (bad class, truncated or corrupt); lief could not parse it")
    return binary


def warnings(binary: lief.ELF.Binary, raw: bytes) -> list[str]:
    """What lief read short of what the header promises: the signs of a truncated or doctored file."""
    h, found = binary.header, []
    for what, promised, read, offset, size in (
            ("section", h.numberof_sections, len(binary.sections), h.section_header_offset, h.section_header_size),
            ("program", h.numberof_segments, len(binary.segments), h.program_header_offset, h.program_header_size)):
        if promised and offset + promised * size > len(raw):
            found.append(f"{what} header table ends past the end of the file (truncated?)")
        if read != promised:
            found.append(f"header promises {promised} {what} headers, {read} were readable")
    return found


def header(binary: lief.ELF.Binary) -> dict[str, Any]:
    """Class, byte order, OS ABI, machine, file type, entry point and table sizes of the ELF header."""
    h = binary.header
    return {
        "class": name(h.identity_class),
        "endianness": "little" if name(h.identity_data) == "LSB" else "big",
        "os_abi": name(h.identity_os_abi),
        "machine": name(h.machine_type),
        "type": name(h.file_type),
        "entry_point": h.entrypoint,
        "number_of_sections": h.numberof_sections,
        "number_of_segments": h.numberof_segments,
    }


def sections(binary: lief.ELF.Binary, raw: bytes) -> list[dict[str, Any]]:
    """Per section (the first MAX_ITEMS): name, type, W/A/X flags, offset, size, address and entropy."""
    table = []
    for section in capped(list(binary.sections)):
        flags = {name(f) for f in section.flags_list}
        kind = name(section.type).removeprefix("SHT_").rstrip("_")
        table.append({
            "name": text(section),
            "type": kind,
            "flags": "".join(letter for flag, letter in SECTION_FLAG_LETTERS if flag in flags),
            "offset": section.offset,
            "size": section.size,
            "virtual_address": section.virtual_address,
            "entropy": 0.0 if kind == "NOBITS" else range_entropy(raw, section.offset, section.size),
        })
    return table


def segments(binary: lief.ELF.Binary, raw: bytes) -> list[dict[str, Any]]:
    """Per program header: type, 'RWE' flags as readelf shows them, offset, sizes, address and entropy."""
    table = []
    for segment in capped(list(binary.segments)):
        flags = int(segment.flags)
        table.append({
            "type": name(segment.type),
            "flags": "".join(letter if flags & bit else " " for letter, bit in (("R", 4), ("W", 2), ("E", 1))),
            "offset": segment.file_offset,
            "file_size": segment.physical_size,
            "virtual_address": segment.virtual_address,
            "virtual_size": segment.virtual_size,
            "entropy": range_entropy(raw, segment.file_offset, segment.physical_size),
        })
    return table


def dynamic_symbols(binary: lief.ELF.Binary) -> tuple[list[str], list[str]]:
    """(imported, exported) dynamic symbol names, in table order."""
    imported, exported = [], []
    for symbol in binary.dynamic_symbols:
        symbol_name = text(symbol)
        if not symbol_name:
            continue
        if symbol.shndx == 0:
            imported.append(symbol_name)
        elif symbol.binding in EXPORTED_BINDINGS and symbol.visibility in EXPORTED_VISIBILITIES:
            exported.append(symbol_name)
    return imported, exported


def _dynamic_values(binary: lief.ELF.Binary) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for entry in binary.dynamic_entries:
        tag = name(entry.tag)
        value = text(entry) if tag in ("NEEDED", "SONAME") else entry.value
        if tag in ("RPATH", "RUNPATH"):
            value = text(entry, "rpath" if tag == "RPATH" else "runpath").split(":")
        values.setdefault(tag, []).append(value)
    return values


def security(binary: lief.ELF.Binary, imported: list[str], dynamic: dict[str, list[Any]]) -> dict[str, Any]:
    """checksec-style hardening flags (see the module docstring)."""
    segment_types = {name(s.type) for s in binary.segments}
    flags = sum(dynamic.get("FLAGS", [])) if dynamic.get("FLAGS") else 0
    flags_1 = sum(dynamic.get("FLAGS_1", [])) if dynamic.get("FLAGS_1") else 0
    bind_now = bool(flags & DF_BIND_NOW or flags_1 & DF_1_NOW or "BIND_NOW" in dynamic)
    relro = "none" if "GNU_RELRO" not in segment_types else "full" if bind_now else "partial"
    is_dyn = name(binary.header.file_type) == "DYN"
    names = set(imported)
    return {
        "pie": is_dyn and ("INTERP" in segment_types or bool(flags_1 & DF_1_PIE)),
        "shared_object": is_dyn and "INTERP" not in segment_types and not flags_1 & DF_1_PIE,
        "nx": binary.has_nx,
        "relro": relro,
        "canary": bool(names & CANARY_SYMBOLS),
        "fortify": any(n.startswith("__") and n.endswith("_chk") and n != "__stack_chk_fail" for n in names),
        "stripped": not any(text(s) == ".symtab" for s in binary.sections),
    }


def interpreter(binary: lief.ELF.Binary) -> str | None:
    """The PT_INTERP path (None without one), read from the segment so undecodable bytes stay visible."""
    segment = next((s for s in binary.segments if name(s.type) == "INTERP"), None)
    if segment is None:
        return None
    return bytes(segment.content).split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def summary(raw: bytes) -> dict[str, Any]:
    """Everything the elf worker returns, from one lief parse."""
    binary = parse(raw)
    imported, exported = dynamic_symbols(binary)
    dynamic = _dynamic_values(binary)
    section_table = sections(binary, raw)
    paths = [path for tag in ("RPATH", "RUNPATH") for value in dynamic.get(tag, []) for path in value]
    return {
        "header": header(binary),
        "interpreter": interpreter(binary),
        "soname": (dynamic.get("SONAME") or [None])[0],
        "libraries": capped(dynamic.get("NEEDED", [])),
        "rpaths": capped(paths),
        "sections": section_table,
        "segments": segments(binary, raw),
        "number_of_imported_symbols": len(imported),
        "number_of_exported_symbols": len(exported),
        "imported_symbols": capped(imported),
        "exported_symbols": capped(exported),
        "security": security(binary, imported, dynamic),
        "packer": upx_traits(raw, [s["name"] for s in section_table]),
        "overlay_size": len(binary.overlay) if binary.has_overlay else 0,
        "warnings": warnings(binary, raw),
    }
