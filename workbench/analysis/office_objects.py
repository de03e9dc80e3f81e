"""Objects embedded in Office documents and RTF files: what a user double-clicks, and what exploits hide in.

- OLE packages (``\\x01Ole10Native`` streams, MS-OLEDS 2.3.6): a file wrapped with its original name and paths,
  parsed by oletools' ``OleNativeStream``; the payload is the carried file.
- OOXML embeddings (``word/embeddings/``, ``xl/embeddings/``, ``ppt/embeddings/``): an OLE object (searched for
  packages as above, else kept whole) or a nested document (.xlsx in a .docx) kept as is.
- OLE documents: packages and ``Package`` streams (embedded OOXML) under ``ObjectPool`` or elsewhere.
- RTF: oletools' rtfobj finds ``\\object``/``\\objdata`` and OLE1 blobs; a package gives its payload, another
  OLE object its native data (often a whole OLE file), anything else its raw bytes.

Each object is an :class:`Embedded` (the bytes to store as a child, plus facts for the output).
"""

from __future__ import annotations

import importlib.util
import io
import types
import zipfile
from dataclasses import dataclass, field
from functools import cache

import olefile

if importlib.util.find_spec("oletools") is None:
    raise ImportError("oletools is not installed: run ./install.sh (or pip install oletools)")

MAX_EMBEDDING = 64 << 20  # an embedding declaring more is listed as skipped, never inflated


def _in_memory_is_ole(target: object) -> bool:
    if isinstance(target, bytes | bytearray):
        return olefile.isOleFile(data=bytes(target))
    return olefile.isOleFile(target)  # a path or a file object: as olefile does


def _in_memory_open(target: object, **kwargs: object) -> olefile.OleFileIO:
    if isinstance(target, bytes | bytearray):
        target = io.BytesIO(bytes(target))
    return olefile.OleFileIO(target, **kwargs)


# rtfobj and ftguess hand an object's bytes to olefile as its first argument, which olefile takes for a PATH
# ON DISK when shorter than 1536 bytes: a crafted RTF could make the server open its own files (or block on a
# FIFO). Their module-level name ``olefile`` is pointed at this stand-in, which reads bytes in memory and
# passes anything else to olefile unchanged (these two modules use nothing else of olefile).
IN_MEMORY_OLEFILE = types.SimpleNamespace(MAGIC=olefile.MAGIC, isOleFile=_in_memory_is_ole,
                                          OleFileIO=_in_memory_open)


@cache
def _oletools() -> tuple[types.ModuleType, types.ModuleType]:
    """oleobj and rtfobj, imported on first use: every pool process (and its replacement after a crash)
    would otherwise pay their import at start-up; rtfobj's and ftguess's ``olefile`` is the stand-in above."""
    from oletools import ftguess, oleobj, rtfobj

    rtfobj.olefile = ftguess.olefile = IN_MEMORY_OLEFILE
    return oleobj, rtfobj


@dataclass
class Embedded:
    """One embedded object: where it sits, what it is, its bytes (``data``) and what the package says."""

    source: str
    kind: str
    data: bytes = field(repr=False)
    filename: str | None = None
    facts: dict = field(default_factory=dict)


def _package(source: str, native: bytes) -> Embedded:
    package = _oletools()[0].OleNativeStream(native)
    if package.is_link:
        return Embedded(source, "ole_link", b"", package.filename, {"src_path": package.src_path})
    return Embedded(source, "ole_package", bytes(package.data or b""), package.filename,
                    {"src_path": package.src_path, "temp_path": package.temp_path,
                     "declared_size": package.actual_size})


def from_ole(data: bytes, source: str = "") -> list[Embedded]:
    """Packages and Package streams inside an OLE compound file (an embedded object is kept whole when it
    carries neither, unless it is the document itself: ``source`` empty)."""
    found = []
    with olefile.OleFileIO(io.BytesIO(data)) as ole:  # bytes under 1536 would be taken for a path
        for path in ole.listdir(streams=True, storages=False):
            where = "/".join(filter(None, (source, *path)))
            if path[-1].lower() == "\x01ole10native":
                found.append(_package(where, ole.openstream(path).read()))
            elif path[-1] == "Package":
                found.append(Embedded(where, "embedded_package", ole.openstream(path).read(), path[-1]))
    if not found and source:
        found.append(Embedded(source, "ole_object", data, source.rsplit("/", 1)[-1]))
    return found


def from_ooxml(data: bytes) -> tuple[list[Embedded], list[dict]]:
    """Embedded objects of an OOXML package and the embeddings skipped ([{source, reason}])."""
    found, skipped = [], []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if "/embeddings/" not in f"/{info.filename}" or info.is_dir():
                continue
            if info.file_size > MAX_EMBEDDING:
                skipped.append({"source": info.filename, "reason": f"declares {info.file_size} bytes, over "
                                                                  f"{MAX_EMBEDDING}"})
                continue
            with archive.open(info) as handle:
                part = handle.read(MAX_EMBEDDING + 1)
            if part.startswith(olefile.MAGIC):
                found.extend(from_ole(part, info.filename))
            else:
                found.append(Embedded(info.filename, "embedded_part", part, info.filename.rsplit("/", 1)[-1]))
    return found, skipped


def from_rtf(data: bytes) -> list[Embedded]:
    """Objects rtfobj finds in an RTF file, in file order."""
    parser = _oletools()[1].RtfObjParser(data)
    parser.parse()
    found = []
    for rtf in parser.objects:
        facts = {"start": rtf.start, "end": rtf.end, "is_ole": rtf.is_ole, "class_name": None,
                 "clsid": rtf.clsid, "clsid_description": rtf.clsid_desc}
        source = f"rtf@{rtf.start:#x}"
        if rtf.is_ole:
            facts["class_name"] = (rtf.class_name or b"").decode("latin-1").rstrip("\x00") or None
            facts["format_id"] = rtf.format_id
        if rtf.is_package:
            facts.update(src_path=rtf.src_path, temp_path=rtf.temp_path)
            found.append(Embedded(source, "ole_package", bytes(rtf.olepkgdata or b""), rtf.filename, facts))
        elif rtf.is_ole and rtf.oledata:
            found.append(Embedded(source, "ole_object", bytes(rtf.oledata), None, facts))
        else:
            found.append(Embedded(source, "raw_object", bytes(rtf.rawdata or b""), None, facts))
    return found
