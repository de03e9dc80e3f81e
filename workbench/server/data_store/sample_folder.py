"""Sample bytes as content-addressed files beside the sqlite database: ``<db>.samples/ab/<md5>``.

One level of 256 folders, as git keeps its objects: a million samples make about 4,000 files a folder, which
ext4/xfs index well, while a second level (65,536 folders) costs a mkdir for most of the first 65,000 samples
(measured here at 0.4-1 ms a sample, as much as the rest of a store_sample). ``clear`` keeps the folders.

Files stream well (no blob pages in the WAL, no copy through sqlite) and anyone can read them. A file is written
whole to a temp file in its own folder, then ``os.replace``d into its name, so a reader never sees half a
sample; the store commits the sample's row only after the file is in place. A kill -9 therefore leaves at most
a temp file (``.tmp-*``, removed by ``sweep_temp``) or a file without a row (harmless: nothing lists it, and a
later store of the same bytes replaces it).

Durability matches the database's ``synchronous=NORMAL``: a process crash loses nothing committed; with
``fsync=True`` each file is also flushed to disk before it is renamed (power-loss safe, about 1 ms per file).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from workbench.exceptions import StoreError

TEMP_PREFIX = ".tmp-"


class SampleFolder:
    """The content-addressed folder: write once atomically, read, remove, and clean up after crashes."""

    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.root = root
        self.fsync = fsync
        self.spool = root / "uploads"  # uploads in progress: same filesystem, so finishing one is a rename
        self._made: set[Path] = set()

    def path(self, md5: str) -> Path:
        """Where a sample's bytes live: the folder named by the md5's first two hex digits."""
        return self.root / md5[:2] / md5

    def _folder(self, folder: Path) -> None:
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)

    def _temp(self, folder: Path) -> tuple[int, str]:
        self._folder(folder)
        name = str(folder / f"{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}")
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), name

    def write(self, md5: str, raw_bytes: bytes | memoryview) -> None:
        """Put the bytes at ``path(md5)``: temp file in the same folder, (fsync,) rename."""
        target = self.path(md5)
        fd, temp = self._temp(target.parent)
        try:
            view = memoryview(raw_bytes)
            while view:
                view = view[os.write(fd, view):]
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            os.unlink(temp)
            raise StoreError(f"cannot write sample file {target}: {exc}; check free space and permissions") from exc
        os.close(fd)
        os.replace(temp, target)

    def adopt(self, md5: str, spooled: Path) -> None:
        """Move a finished upload (a file under ``spool``) into place: a rename, no byte is copied."""
        target = self.path(md5)
        self._folder(target.parent)
        if self.fsync:
            fd = os.open(spooled, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(spooled, target)

    def read(self, md5: str, length: int) -> bytes | None:
        """The bytes, or None if there is no file; StoreError if the file is not ``length`` bytes long."""
        try:
            with open(self.path(md5), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        if len(data) != length:
            raise StoreError(f"sample file {self.path(md5)} holds {len(data):,} bytes, its row says {length:,}: "
                             "damaged (a power loss with fsync off?); remove the sample and store it again")
        return data

    def remove(self, md5: str) -> None:
        """Delete a sample's file (absent is fine)."""
        try:
            os.unlink(self.path(md5))
        except FileNotFoundError:
            pass

    def clear(self, between: Callable[[], None] = lambda: None) -> None:
        """Delete every sample file and upload in progress, calling ``between`` after each folder (the store lets
        its event loop run there); the 256 folders stay for the next samples."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            between()
            if not folder.is_dir():
                folder.unlink(missing_ok=True)
                continue
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)

    def sweep_temp(self, older_than_s: float = 3600.0) -> int:
        """Remove temp files a killed writer left behind (old ones only: a live writer may own a new one)."""
        removed = 0
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        for temp in self.root.glob(f"*/{TEMP_PREFIX}*"):
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
