"""Safe in-memory extraction of zip archives: limits against zip bombs, checked twice.

First on the sizes the central directory declares, before anything is decompressed; then again while
reading, in chunks, on the bytes actually produced, because headers can lie. To see past a lying header,
each member is opened with a copy of its ZipInfo whose ``file_size`` is raised to the remaining budget
(zipfile otherwise stops silently at the declared size), and a member that inflates past its declared size
refuses the whole archive. Nothing is written to disk.
"""

from __future__ import annotations

import copy
import io
import lzma
import zipfile
import zlib
from dataclasses import dataclass, field

CHUNK = 1 << 20
MIB = 1 << 20


class ArchiveRefused(ValueError):
    """The archive breaks a limit (possible zip bomb); the message names the limit and its config key."""


@dataclass(frozen=True)
class Limits:
    """Extraction limits; ``section`` names the config section where users can raise them."""

    max_members: int
    max_total_mb: float
    max_ratio: float
    ratio_min_kb: float
    section: str = "[worker.unzip]"

    def refuse(self, what: str, key: str) -> ArchiveRefused:
        """The exception for a broken limit, naming the config key that raises it."""
        return ArchiveRefused(f"archive refused: {what}; if the archive is trusted, raise {key} in the "
                              f"{self.section} section of config.ini")


@dataclass
class Extraction:
    """Members read from one archive: (name, bytes) pairs and skipped members with the reason."""

    members: list[tuple[str, bytes]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    member_count: int = 0


def _check_declared(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_members:
        raise limits.refuse(f"{len(infos)} members, more than max_members = {limits.max_members}",
                            "max_members")
    total = sum(info.file_size for info in infos if not info.is_dir())
    if total > limits.max_total_mb * MIB:
        raise limits.refuse(f"members declare {total} bytes uncompressed, more than max_total_mb = "
                            f"{limits.max_total_mb}", "max_total_mb")
    for info in infos:
        _check_ratio(info.filename, info.file_size, info.compress_size, limits, "declares")


def _check_ratio(name: str, size: int, compressed: int, limits: Limits, verb: str) -> None:
    if size > limits.ratio_min_kb * 1024 and size > limits.max_ratio * max(compressed, 1):
        raise limits.refuse(f"member {name!r} {verb} {size} bytes from {compressed} compressed (ratio "
                            f"{size / max(compressed, 1):.0f}), more than max_ratio = {limits.max_ratio}",
                            "max_ratio")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, limits: Limits) -> bytes:
    probe = copy.copy(info)
    probe.file_size = budget + 1  # read past the declared size to catch a lying header
    out = bytearray()
    with archive.open(probe) as handle:
        while chunk := handle.read(CHUNK):
            out += chunk
            if len(out) > info.file_size:
                raise ArchiveRefused(f"archive refused: member {info.filename!r} inflates past the "
                                     f"{info.file_size} bytes its header declares; the zip headers lie (a "
                                     "zip bomb trick), so no limit setting makes it safe to extract")
            _check_ratio(info.filename, len(out), info.compress_size, limits, "inflates to")
    return bytes(out)


def skip_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a member is not extracted ('directory', 'encrypted'), or None."""
    if info.is_dir():
        return "directory"
    if info.flag_bits & 0x1:
        return "encrypted"
    return None


def extract(raw: bytes, limits: Limits) -> Extraction:
    """Read every member of the zip in ``raw`` into memory under ``limits``; raise ArchiveRefused if one is
    broken. Members zipfile cannot read (unsupported method, bad CRC, truncated data) are skipped with
    reason 'unsupported_compression' or 'corrupt' and the error text."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"not a readable zip archive: {type(exc).__name__}: {exc}") from None
    infos = archive.infolist()
    _check_declared(infos, limits)
    result = Extraction(member_count=len(infos))
    remaining = int(limits.max_total_mb * MIB)
    for info in infos:
        reason = skip_reason(info)
        if reason:
            result.skipped.append({"filename": info.filename, "reason": reason})
            continue
        try:
            data = _read_member(archive, info, remaining, limits)
        except NotImplementedError as exc:
            result.skipped.append({"filename": info.filename, "reason": "unsupported_compression",
                                   "error": str(exc)})
            continue
        except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            result.skipped.append({"filename": info.filename, "reason": "corrupt",
                                   "error": f"{type(exc).__name__}: {exc}"})
            continue
        remaining -= len(data)
        result.members.append((info.filename, data))
    return result
