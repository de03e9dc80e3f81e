"""Content hashes of the data files a worker declares (signature databases, rule folders).

A worker names the ``options`` keys that hold data paths (``data_files = ("database",)``); the plugin manager
folds the hash of those files' contents into the worker's version, so editing a rule or a signature database
makes the outputs computed with the old one stale. A cheap stamp (paths, mtimes, sizes) decides when to hash again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

Stamp = tuple[tuple[str, int, int], ...]


def _files(path: Path) -> list[Path]:
    """The file itself, or every regular file under the folder (dot-files left out: editor swap files)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    found = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root, n) for n in sorted(names) if not n.startswith("."))
    return [p for p in found if p.is_file()]


def stamp(paths: list[str]) -> Stamp:
    """(path, mtime_ns, size) of every data file: changes when one is added, removed, edited or replaced."""
    stamps = []
    for text in paths:
        files = _files(Path(text).expanduser()) if text else []
        if not files:
            stamps.append((text, -1, -1))  # unset or missing: the worker says so when it runs
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            stamps.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def content_hash(paths: list[str]) -> str:
    """SHA-1 over the data files' contents (and names inside a folder), not where they live: servers that mount
    the same rules at different paths agree on versions. An unset or missing path hashes as empty."""
    digest = hashlib.sha1()
    for index, text in enumerate(paths):
        root = Path(text).expanduser() if text else Path()
        files = _files(root) if text else []
        digest.update(f"{index}\0{len(files)}\0".encode())
        for file in files:
            digest.update((file.relative_to(root).as_posix() if root.is_dir() else "").encode() + b"\0")
            try:
                with open(file, "rb") as handle:
                    digest.update(hashlib.file_digest(handle, "sha1").digest())
            except OSError:
                digest.update(b"unreadable")
    return digest.hexdigest()[:16]
