"""PDF structure: pdfid-style keyword counts over the raw bytes, and document facts from pypdf.

The keyword count follows Didier Stevens' pdfid: the file is cut into words (runs of ASCII letters and
digits); a word right after ``/`` is a name, and inside a name ``#xx`` hex escapes are decoded first, so
``/J#61vaScript`` counts as ``/JavaScript`` (and is also counted in ``obfuscated``). Names must match a
keyword exactly: ``/JavaScript`` is not a ``/JS``. Counting covers the whole file, streams included, as
pdfid does; it never fails, whatever the bytes.

The document facts (metadata, pages, encryption, embedded files) come from pypdf with ``strict=False``.
Malformed and malicious PDFs often defeat it; each part is tried on its own, and a failure is recorded in
``parse_error`` instead of raised, because the keyword counts are still worth returning.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from typing import Any

import pypdf

STRUCTURE_WORDS = ("obj", "endobj", "stream", "endstream", "xref", "trailer", "startxref")
RISK_NAMES = ("/Page", "/Encrypt", "/ObjStm", "/JS", "/JavaScript", "/AA", "/OpenAction", "/AcroForm",
              "/JBIG2Decode", "/RichMedia", "/Launch", "/EmbeddedFile", "/XFA", "/URI")
MAX_METADATA_CHARS = 1000

_TOKEN = re.compile(rb"/((?:[A-Za-z0-9]|#[0-9A-Fa-f]{2})+)|([A-Za-z0-9]+)")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_HEADER = re.compile(rb"%PDF-(\d+\.\d+)")
_NAME_SET = frozenset(name[1:].encode() for name in RISK_NAMES)
_WORD_SET = frozenset(word.encode() for word in STRUCTURE_WORDS)

# pypdf logs a warning for every repair it makes on a malformed file; they would flood the server log.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def count_keywords(raw: bytes) -> dict[str, dict[str, int]]:
    """pdfid-style counts: ``structure`` words, ``keywords`` (risk names) and ``obfuscated`` (#xx-escaped)."""
    words: Counter[bytes] = Counter()
    names: Counter[bytes] = Counter()
    escaped: Counter[bytes] = Counter()
    for match in _TOKEN.finditer(raw):
        name, word = match.group(1), match.group(2)
        if word is not None:
            if word in _WORD_SET:
                words[word] += 1
            continue
        plain = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name) if b"#" in name else name
        if plain in _NAME_SET:
            names[plain] += 1
            if plain != name:
                escaped[plain] += 1
    return {
        "structure": {word: words[word.encode()] for word in STRUCTURE_WORDS},
        "keywords": {name: names[name[1:].encode()] for name in RISK_NAMES},
        "obfuscated": {"/" + n.decode(): count for n, count in sorted(escaped.items())},
    }


def header_facts(raw: bytes) -> dict[str, Any]:
    """The ``%PDF-x.y`` header (searched in the first 1024 bytes, as readers do) and ``%%EOF`` markers."""
    header = _HEADER.search(raw, 0, 1024 + 8)
    eof = raw.rfind(b"%%EOF")
    return {
        "header_version": header.group(1).decode() if header else None,
        "header_offset": header.start() if header else None,
        "eof_count": raw.count(b"%%EOF"),
        "bytes_after_last_eof": len(raw[eof + 5:].strip()) if eof >= 0 else None,
    }


def _text(value: Any) -> str:
    value = value.get_object() if hasattr(value, "get_object") else value
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    # lone surrogates (from broken UTF-16 strings) cannot be encoded for storage or RPC
    return text[:MAX_METADATA_CHARS].encode("utf-8", "replace").decode("utf-8")


def _metadata(reader: pypdf.PdfReader) -> dict[str, str]:
    info = reader.metadata
    return {str(key).lstrip("/"): _text(value) for key, value in info.items()} if info else {}


def _encryption(reader: pypdf.PdfReader) -> dict[str, Any]:
    encrypt: Any = reader.trailer["/Encrypt"].get_object()
    keys = ("/Filter", "/V", "/R", "/Length")
    facts: dict[str, Any] = {key.lstrip("/"): _text(encrypt[key]) for key in keys if key in encrypt}
    facts["opened_with_empty_password"] = bool(reader.decrypt(""))
    return facts


def _declared_page_count(reader: pypdf.PdfReader) -> int | None:
    pages: Any = reader.root_object.get("/Pages")
    count = pages.get_object().get("/Count") if pages is not None else None
    return None if count is None else int(count.get_object())


def _locked(encryption: dict[str, Any] | None) -> bool:
    return encryption is not None and not encryption["opened_with_empty_password"]


def document_facts(raw: bytes) -> dict[str, Any]:
    """pypdf's view: metadata, page_count (pages found), declared_page_count (/Count), encryption, embedded
    file names, and parse_error (None, or ``"part: Type: message"`` for each part that failed)."""
    facts: dict[str, Any] = {"encrypted": None, "encryption": None, "metadata": None, "page_count": None,
                             "declared_page_count": None, "embedded_files": None}
    errors: list[str] = []
    try:
        reader = pypdf.PdfReader(io.BytesIO(raw), strict=False)
    except Exception as exc:  # malformed PDFs fail in many ways; the keyword counts are still useful
        return {**facts, "parse_error": f"open: {type(exc).__name__}: {exc}"}
    parts = (
        ("encrypted", lambda: reader.is_encrypted),
        ("encryption", lambda: _encryption(reader) if reader.is_encrypted else None),
        ("metadata", lambda: _metadata(reader)),
        ("page_count", lambda: len(reader.pages)),
        ("declared_page_count", lambda: _declared_page_count(reader)),
        ("embedded_files", lambda: sorted(str(name) for name in reader.attachments)),
    )
    for key, compute in parts:
        if key == "metadata" and _locked(facts["encryption"]):
            errors.append("encrypted: the document needs a user password; metadata, pages and embedded files "
                          "are unreadable")
            break
        try:
            facts[key] = compute()
        except Exception as exc:  # one broken part (e.g. a bad page tree) must not hide the others
            errors.append(f"{key}: {type(exc).__name__}: {exc}")
    facts["parse_error"] = "; ".join(errors) or None
    return facts
