"""Guesses a sample's type_tag from its bytes (libmagic) and filename, using the original Workbench's tag names."""

from __future__ import annotations

import re
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
_SYSLOG_LINE = re.compile(rb"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ", re.MULTILINE)


@lru_cache(maxsize=1)
def _magic() -> magic.Magic:
    return magic.Magic()


def describe(raw_bytes: bytes) -> str:
    """libmagic's description of the bytes (one shared handle: creating one costs about 20 ms)."""
    return _magic().from_buffer(raw_bytes[:1 << 20]) if raw_bytes else "empty"


def guess_type_tag(raw_bytes: bytes, filename: str = "") -> str:
    """The type_tag for these bytes: libmagic's verdict first, then text shapes (Bro/Zeek logs, syslog)."""
    by_content = native_binary_tag(raw_bytes)  # magic bytes first: exact, whatever libmagic's wording
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
    if head.startswith(b"#separator"):
        return "bro"
    if filename.lower().endswith(".log") or _SYSLOG_LINE.search(head):
        return "log"
    return "txt"
