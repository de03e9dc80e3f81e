"""Magic numbers of native executable formats, checked without importing a parser (the type tagger uses them).

A Java class file also starts 0xCAFEBABE; in a fat Mach-O the next big-endian word is the number of
architectures (a handful), in a class file it is the class version (45 and up), so a small count decides.
"""

from __future__ import annotations

import struct

ELF_MAGIC = b"\x7fELF"
MACHO_THIN_MAGICS = (b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe")
MACHO_FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")
MAX_FAT_ARCHS = 30


def is_elf(raw: bytes) -> bool:
    """Whether ``raw`` starts with the ELF magic."""
    return raw.startswith(ELF_MAGIC)


def is_macho(raw: bytes) -> bool:
    """Whether ``raw`` starts like a thin Mach-O or a fat (universal) binary, not a Java class file."""
    if raw[:4] in MACHO_THIN_MAGICS:
        return True
    return raw[:4] in MACHO_FAT_MAGICS and len(raw) >= 8 and 0 < struct.unpack(">I", raw[4:8])[0] <= MAX_FAT_ARCHS


def native_binary_tag(raw: bytes) -> str | None:
    """'elf' or 'macho' from the magic bytes, None for anything else."""
    if is_elf(raw):
        return "elf"
    return "macho" if is_macho(raw) else None
