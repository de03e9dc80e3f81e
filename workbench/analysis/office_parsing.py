"""Office documents (OLE .doc/.xls/.ppt and OOXML .docx/.xlsm...): decryption, metadata and structure.

Parsing is left to the libraries of the field: msoffcrypto-tool for encryption, olefile for OLE compound files,
zipfile and ElementTree for OOXML packages. An encrypted document is tried with Excel's default password
("VelvetSweatshop", which Excel applies silently to "read-only recommended" workbooks, a trick to hide macros
from scanners); when that works the other workers analyse the decrypted bytes, otherwise they report the
document as encrypted and say what they could not see.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from xml.etree import ElementTree

import msoffcrypto
import olefile

DEFAULT_PASSWORD = "VelvetSweatshop"
OLE_MAGIC = olefile.MAGIC
CACHE_MAX_BYTES = 16 << 20  # encrypted documents up to this size are decrypted once per process
CACHE_ENTRIES = 2
MAX_XML_PART = 4 << 20  # docProps, content types and .rels parts are small; a bigger one is not read
APPLICATION_STREAMS = (("WordDocument", "word"), ("Workbook", "excel"), ("Book", "excel"),
                       ("PowerPoint Document", "powerpoint"), ("EncryptedPackage", "encrypted_ooxml"),
                       ("__properties_version1.0", "outlook"), ("VisioDocument", "visio"))
OOXML_APPLICATIONS = (("word/", "word"), ("xl/", "excel"), ("ppt/", "powerpoint"))


@dataclass(frozen=True)
class Document:
    """A document's bytes to analyse (decrypted when the default password opened it) and how it got them."""

    data: bytes
    container: str  # "ole" or "ooxml"
    encryption: dict


def _text(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_text(item) for item in value]
    return value


def check_readable(data: bytes, container: str) -> None:
    """Raise ValueError naming the damage when olefile or zipfile cannot open the container at all."""
    try:
        if container == "ole":
            olefile.OleFileIO(io.BytesIO(data)).close()
        else:
            zipfile.ZipFile(io.BytesIO(data)).close()
    except Exception as exc:  # olefile and zipfile raise many kinds on damaged input; all mean the same here
        name = "OLE compound file" if container == "ole" else "OOXML package (zip)"
        raise ValueError(f"damaged {name}: {type(exc).__name__}: {exc}; the file is truncated or corrupt, so "
                         "its structure cannot be read (meta and strings still work on its bytes)") from None


def open_document(raw: bytes) -> Document:
    """The document to analyse: ``raw``, or its decryption with the default password.

    ``encryption`` is {encrypted, method (msoffcrypto's name or None), decrypted (bool), password
    ("VelvetSweatshop" or None), error (why it stays encrypted, or why msoffcrypto could not tell)}.
    Raises ValueError for bytes that are neither an OLE compound file nor a zip, or a damaged one.
    """
    container = "ole" if raw.startswith(OLE_MAGIC) else "ooxml" if raw.startswith(b"PK") else None
    if container is None:
        raise ValueError(f"not an Office document: starts with {raw[:8].hex()}, neither an OLE compound file "
                         "(d0cf11e0) nor a zip (504b); check the sample's type_tag")
    check_readable(raw, container)
    encryption: dict = {"encrypted": False, "method": None, "decrypted": False, "password": None, "error": None}
    try:
        encryption["encrypted"] = bool(msoffcrypto.OfficeFile(io.BytesIO(raw)).is_encrypted())
    except Exception as exc:  # msoffcrypto raises many kinds on odd files; encryption then stays unknown
        encryption["error"] = f"msoffcrypto: {type(exc).__name__}: {exc}"
        return Document(raw, container, encryption)
    if not encryption["encrypted"]:
        return Document(raw, container, encryption)
    data, encryption["method"], encryption["error"] = (_decrypt_cached if len(raw) <= CACHE_MAX_BYTES
                                                       else _decrypt)(raw)
    if data is None:
        return Document(raw, container, encryption)
    encryption.update(decrypted=True, password=DEFAULT_PASSWORD)
    container = "ole" if data.startswith(OLE_MAGIC) else "ooxml"
    check_readable(data, container)
    return Document(data, container, encryption)


def _decrypt(raw: bytes) -> tuple[bytes | None, str, str | None]:
    """(decrypted bytes or None, msoffcrypto's method name, why it failed) with the default password."""
    office = msoffcrypto.OfficeFile(io.BytesIO(raw))
    method = getattr(office, "type", None) or type(office).__name__
    plain = io.BytesIO()
    try:
        office.load_key(password=DEFAULT_PASSWORD)
        office.decrypt(plain)
    except Exception as exc:  # InvalidKeyError, DecryptionError, or a parse error inside the encrypted part
        return None, method, f"{type(exc).__name__}: {exc}"
    return plain.getvalue(), method, None


# office_meta, office_vba and office_objects each open the document: memoised per process, an encrypted one
# derives its key once, not three times (ECMA-376 agile keys take 100,000 SHA-512 rounds: 0.9-1 s each,
# measured on the loaded 2-core machine; a view_office on one went from 2.1 s to 0.95 s).
_decrypt_cached = lru_cache(maxsize=CACHE_ENTRIES)(_decrypt)


def ole_facts(data: bytes, max_streams: int) -> dict:
    """OLE compound file: application (from its streams), metadata (SummaryInformation and
    DocumentSummaryInformation, only the properties present), streams ([{path, size}], first ``max_streams``),
    stream_count, root_clsid."""
    with olefile.OleFileIO(io.BytesIO(data)) as ole:  # bytes under 1536 would be taken for a path
        paths = ole.listdir(streams=True, storages=False)
        names = {path[0] for path in paths}
        metadata = ole.get_metadata()
        properties = {name: _text(getattr(metadata, name))
                      for name in (*metadata.SUMMARY_ATTRIBS, *metadata.DOCSUM_ATTRIBS)}
        return {
            "application": next((app for stream, app in APPLICATION_STREAMS if stream in names), None),
            "metadata": {key: value for key, value in properties.items() if value not in (None, "", b"")},
            "streams": [{"path": "/".join(path), "size": ole.get_size(path)} for path in paths[:max_streams]],
            "stream_count": len(paths),
            "root_clsid": ole.root.clsid or None,
        }


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_XML_PART:
        return None
    with archive.open(info) as handle:
        return ElementTree.fromstring(handle.read(MAX_XML_PART + 1))


def _properties(archive: zipfile.ZipFile, name: str) -> dict:
    root = _xml(archive, name)
    if root is None:
        return {}
    return {_local(child.tag): (child.text or "").strip()[:1000] for child in root if len(child) == 0
            and (child.text or "").strip()}


def external_relationships(archive: zipfile.ZipFile) -> list[dict]:
    """Relationships with TargetMode="External" in every .rels part: [{part, type, target}] (remote template
    injection, linked OLE objects, external images: a document that fetches something when opened)."""
    found = []
    for name in archive.namelist():
        if not name.endswith(".rels"):
            continue
        root = _xml(archive, name)
        for rel in root.iter() if root is not None else ():
            if rel.get("TargetMode") == "External":
                found.append({"part": name, "type": (rel.get("Type") or "").rsplit("/", 1)[-1],
                              "target": (rel.get("Target") or "")[:2000]})
    return found


def ooxml_facts(data: bytes, max_parts: int) -> dict:
    """OOXML package: application, content_type (of the main part), core and app properties (docProps),
    parts ([{name, size}], first ``max_parts``), part_count, external_relationships."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        types = _xml(archive, "[Content_Types].xml")
        overrides = {o.get("PartName", "").lstrip("/"): o.get("ContentType", "")
                     for o in (types.iter() if types is not None else ()) if _local(o.tag) == "Override"}
        main = next((ctype for ctype in overrides.values() if ctype.endswith(".main+xml")), None)
        names = [info.filename for info in infos]
        return {
            "application": next((app for prefix, app in OOXML_APPLICATIONS
                                 if any(n.startswith(prefix) for n in names)), None),
            "content_type": main,
            "macro_enabled": bool(main and "macroEnabled" in main) or "vbaProject.bin" in
            "".join(names),
            "metadata": {**_properties(archive, "docProps/core.xml"), **_properties(archive, "docProps/app.xml")},
            "parts": [{"name": info.filename, "size": info.file_size} for info in infos[:max_parts]],
            "part_count": len(infos),
            "external_relationships": external_relationships(archive),
        }
