"""Guesses a sample's type_tag from its bytes (libmagic) and filename, using the original Workbench's tag names."""

from __future__ import annotations

import re
import struct
from functools import lru_cache

import magic

from workbench.analysis.binary_magic import native_binary_tag
from workbench.server.intake.document_tags import DOCUMENT_TAGS, document_tag

TYPE_TAGS = ("exe", "pdf", "pcap", "zip", "swf", "json", "bro", "log", "txt", "data", "elf", "macho", *DOCUMENT_TAGS)

_BY_DESCRIPTION = (
    ("PE32", "exe"),
    ("MS-DOS executable", "exe"),
    ("PDF document", "pdf"),
    ("pcap capture file", "pcap"),
    ("pcapng capture file", "pcap"),
    ("tcpdump capture file", "pcap"),
    ("Zip archive", "zip"),
    ("Macromedia Flash", "swf"),
    ("JSON", "json"),
    ("ELF ", "elf"),
    ("Mach-O", "macho"),
)
_PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
_PCAPNG_BYTE_ORDER = (b"\x1a\x2b\x3c\x4d", b"\x4d\x3c\x2b\x1a")
ZEEK_HEADER = b"#separator "  # the first line of every Zeek (Bro) log: ``#separator \\x09``
_SYSLOG_LINE = re.compile(rb"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ", re.MULTILINE)


@lru_cache(maxsize=1)
def _magic() -> magic.Magic:
    return magic.Magic()


def describe(raw_bytes: bytes) -> str:
    """libmagic's description of the bytes (one shared handle: creating one costs about 20 ms)."""
    return _magic().from_buffer(raw_bytes[:1 << 20]) if raw_bytes else "empty"


def well_known_tag(raw: bytes) -> str | None:
    """The type_tag of a PE, PDF, pcap/pcapng, SWF or Zeek log told by its header alone, as libmagic (and the text
    shapes after it) would tell it (checked against libmagic on every file of the shared data, whole and cut short);
    None for anything else.

    libmagic is most of what storing a sample costs (about 0.4 ms a file); these formats are most samples. A Zeek
    log is text libmagic reads line by line for ~2 ms, to say "text" of a file Zeek's header line already names."""
    if raw[:2] == b"MZ" and len(raw) >= 0x40:
        pe_offset = struct.unpack_from("<I", raw, 0x3C)[0]
        if raw[pe_offset:pe_offset + 4] == b"PE\0\0":
            return "exe"
    elif raw.startswith(b"%PDF-"):
        return "pdf"
    elif (raw[:4] in _PCAP_MAGICS and len(raw) >= 24) or (
            raw[:4] == b"\x0a\x0d\x0d\x0a" and raw[8:12] in _PCAPNG_BYTE_ORDER):
        return "pcap"
    elif raw[:3] in (b"FWS", b"CWS", b"ZWS") and len(raw) >= 24:
        return "swf"
    elif raw.startswith(ZEEK_HEADER):
        return "bro"
    return None


def guess_type_tag(raw_bytes: bytes, filename: str = "") -> str:
    """The type_tag for these bytes: magic numbers that decide alone, else libmagic's verdict, then text shapes
    (Bro/Zeek logs, syslog)."""
    by_content = native_binary_tag(raw_bytes) or well_known_tag(raw_bytes)  # exact, whatever libmagic's wording
    if by_content:
        return by_content
    description = describe(raw_bytes)
    document = document_tag(description, raw_bytes, filename)
    if document:
        return document
    for marker, tag in _BY_DESCRIPTION:
        if marker in description:
            return tag
    if "text" not in description:
        return "data"
    head = raw_bytes[:4096]
    if head.startswith(ZEEK_HEADER):
        return "bro"
    if filename.lower().endswith(".log") or _SYSLOG_LINE.search(head):
        return "log"
    return "txt"
