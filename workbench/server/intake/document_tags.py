"""Type tags for documents and e-mail (doc, ooxml, rtf, email): libmagic's description, confirmed by content.

libmagic alone is not enough here: an .docx/.xlsx is a zip (libmagic says "Zip archive" when
``[Content_Types].xml`` is not the first member, as python-docx and openpyxl write them), an Outlook .msg is an
OLE compound file like a .doc, and RTF that Word opens may start ``{\\rt`` without the ``f`` libmagic wants.
"""

from __future__ import annotations

import io
import re
import zipfile

DOCUMENT_TAGS = ("doc", "ooxml", "rtf", "email")

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MSG_STREAM = "__substg1.0_".encode("utf-16-le")  # every Outlook .msg property stream name starts so
OOXML_MAIN_FOLDERS = ("word/", "xl/", "ppt/")
OOXML_DESCRIPTIONS = ("Microsoft Word 2007+", "Microsoft Excel 2007+", "Microsoft PowerPoint 2007+",
                      "Microsoft OOXML", "Zip archive")
MAIL_DESCRIPTIONS = ("RFC 822 mail", "SMTP mail", "news or mail")
MAIL_HEADER = re.compile(rb"^(Received|From|To|Subject|Date|Message-ID|Return-Path|MIME-Version|Delivered-To"
                         rb"|X-[\w-]+):[ \t]", re.IGNORECASE | re.MULTILINE)


def zip_kind(raw_bytes: bytes) -> str | None:
    """'ooxml' for a zip holding ``[Content_Types].xml`` and a Word, Excel or PowerPoint part (an OPC
    package), 'zip' for another readable zip, None for bytes zipfile cannot read."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw_bytes)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return None
    office = "[Content_Types].xml" in names and any(name.startswith(OOXML_MAIN_FOLDERS) for name in names)
    return "ooxml" if office else "zip"


def looks_like_mail(raw_bytes: bytes, filename: str) -> bool:
    """Text starting with RFC 5322 header lines: three distinct known headers (two for a .eml file)."""
    head = raw_bytes[:8192].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    if not MAIL_HEADER.match(head):
        return False
    found = {match.group(1).lower() for match in MAIL_HEADER.finditer(head)}
    return len(found) >= (2 if filename.lower().endswith(".eml") else 3) and b"from" in found


def document_tag(description: str, raw_bytes: bytes, filename: str = "") -> str | None:
    """'doc', 'ooxml', 'rtf' or 'email' for these bytes (libmagic ``description`` given), else None; 'zip'
    for a zip that libmagic calls an Office document but that is none (no ``[Content_Types].xml``)."""
    if raw_bytes.startswith(OLE_MAGIC):
        if "Outlook Message" in description or MSG_STREAM in raw_bytes:
            return "email"
        return None if "MSI Installer" in description else "doc"
    if any(marker in description for marker in OOXML_DESCRIPTIONS):
        kind = zip_kind(raw_bytes)
        if kind == "ooxml" or kind == "zip" and "Zip archive" not in description:
            return kind
    if "Rich Text Format" in description or raw_bytes.lstrip()[:4] == b"{\\rt":
        return "rtf"
    if any(marker in description for marker in MAIL_DESCRIPTIONS) or "text" in description and \
            looks_like_mail(raw_bytes, filename):
        return "email"
    return None
