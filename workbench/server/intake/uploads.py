"""Chunked uploads that are written once: parts are appended to one spool file and hashed as they arrive.

``upload_start`` opens a session, ``upload_part`` appends the next part (at the offset the client says, so a
lost or repeated part is caught), ``upload_finish`` guesses the type_tag from the first MiB and hands the file
to the store, which moves it into place (sqlite: a rename; MongoDB: streamed into GridFS). No part is stored as
a sample, joined or written twice. Sessions live in this server process: an upload talks to one server (behind
HAProxy, keep a client on one backend for the length of an upload). Abandoned sessions expire.

``combine_samples`` (the original protocol: parts stored as samples of type ``chunk``) streams the parts'
files into the joined one with 1 MiB of memory, then drops the chunks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from gevent.lock import Semaphore

from workbench.exceptions import BadArgument, SampleTooLarge
from workbench.server.data_store.base import DataStore
from workbench.server.intake.sample_intake import (
    check_size,
    clean_filename,
    correct_type_tag,
    given_type_tag,
    warn_if_empty,
)
from workbench.server.intake.type_tagger import guess_type_tag

log = logging.getLogger(__name__)
HEAD_BYTES = 1 << 20  # what the type guess reads
COPY_BYTES = 1 << 20
EXPIRE_S = 3600.0
MAX_OPEN = 256  # uploads in progress per server: each holds a spool file and an md5 state


@dataclass
class Upload:
    """One upload in progress: its spool file, running md5 (and the hash of its last part, if still running) and
    length."""

    path: Path
    filename: str
    type_tag: str
    digest: Any = field(default_factory=hashlib.md5)
    hashing: gevent.event.AsyncResult | None = None
    length: int = 0
    touched: float = field(default_factory=time.monotonic)
    turn: Semaphore = field(default_factory=Semaphore)  # one part at a time, in order

    def hashed(self) -> None:
        """Wait for the last part's hash (the parts are hashed in order, one at a time)."""
        if self.hashing is not None:
            self.hashing.get()
            self.hashing = None


def append_to_file(path: Path, length: int, data: bytes | bytearray | memoryview) -> None:
    """Append ``data`` to a file ``length`` bytes long (OSError if its length is not that)."""
    with open(path, "r+b", buffering=0) as handle:
        if handle.seek(0, os.SEEK_END) != length:
            raise OSError("its spool file changed size")
        view = memoryview(data)
        while view:
            view = view[handle.write(view):]


class Uploads:
    """The upload sessions of one server process over one store."""

    def __init__(self, store: DataStore, max_bytes: Callable[[], int]) -> None:
        self.store, self.max_bytes = store, max_bytes  # read at each check: the server's limit may change
        self.open: dict[str, Upload] = {}

    def start(self, filename: str, type_tag: str = "", length: int | None = None) -> str:
        """A new upload's id (expired ones are dropped first); SampleTooLarge at once for a ``length`` (the whole
        file's, when the client says it) over the limit, so that no part of it is sent for nothing."""
        type_tag = given_type_tag(type_tag)
        if length is not None:
            if type(length) is not int or length < 0:
                raise BadArgument(f"length must be the file's size in bytes (a whole number >= 0), got {length!r}")
            check_size(length, self.max_bytes())
        self._expire()
        if len(self.open) >= MAX_OPEN:
            raise BadArgument(f"{MAX_OPEN} uploads are in progress on this server; finish or abort some "
                              "(upload_finish / upload_abort), or retry later (idle ones expire after an hour)")
        upload_id = secrets.token_hex(16)
        path = self.store.spool_dir() / f"upload-{upload_id}"
        path.touch()
        self.open[upload_id] = Upload(path, clean_filename(filename), type_tag or "")
        return upload_id

    def part(self, upload_id: str, offset: int, data: bytes) -> int:
        """Append ``data`` at ``offset`` (the length so far); return the new length.

        The part is written by one native thread and hashed by another (file writes and hashlib release the GIL)
        while the event loop takes in the next part, which waits its turn here; the answer waits for the write
        only. The md5 is the longest step (12 ms per 8 MiB here, the write 4 ms): it runs on beside the next
        part's receipt and write, and a part's hash waits for the one before (memory: two parts at most)."""
        upload = self._get(upload_id)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BadArgument(f"upload part must be bytes, got {type(data).__name__}")
        with upload.turn:
            return self._append(upload_id, upload, offset, data)

    def _append(self, upload_id: str, upload: Upload, offset: int, data: bytes | bytearray | memoryview) -> int:
        if offset != upload.length:
            raise BadArgument(f"upload {upload_id}: part at offset {offset!r} but {upload.length} bytes are "
                              "stored; send the parts in order, each once (start again if one was lost)")
        try:
            check_size(upload.length + len(data), self.max_bytes())
        except SampleTooLarge:
            self.abort(upload_id)
            raise
        threads = gevent.get_hub().threadpool
        upload.hashed()
        upload.hashing = threads.spawn(upload.digest.update, data)
        try:
            threads.apply(append_to_file, (upload.path, upload.length, data))
        except OSError as exc:  # e.g. clear_db dropped the spool file meanwhile
            self.abort(upload_id)
            raise BadArgument(f"upload {upload_id} was lost on the server ({exc}); start it again") from None
        upload.length += len(data)
        upload.touched = time.monotonic()
        return upload.length

    def finish(self, upload_id: str) -> str:
        """Store the uploaded bytes as one sample (kept once: a stored md5 just drops the upload); its md5."""
        upload = self._get(upload_id)
        with upload.turn:  # after a part still being written
            self.open.pop(upload_id, None)
            upload.hashed()
        md5 = upload.digest.hexdigest()
        if self.store.has_sample(md5):
            upload.path.unlink(missing_ok=True)
            if upload.type_tag:
                correct_type_tag(self.store, md5, upload.type_tag)
            return md5
        type_tag = upload.type_tag or self.guess(upload.path, upload.filename)
        if self.store.store_sample_file(upload.path, md5, upload.filename, type_tag):
            warn_if_empty(upload.length, md5, upload.filename)
        return md5

    @staticmethod
    def guess(path: Path, filename: str) -> str:
        """The type_tag guessed from a file's first MiB (all libmagic reads)."""
        with open(path, "rb") as handle:
            return guess_type_tag(handle.read(HEAD_BYTES), filename)

    def abort(self, upload_id: str) -> None:
        """Drop an upload and its spool file."""
        upload = self.open.pop(upload_id, None)
        if upload is not None:
            upload.path.unlink(missing_ok=True)

    def combine(self, infos: list[dict[str, Any]], filename: str) -> tuple[Path, str]:
        """The stored parts' bytes streamed into one spool file: (its path, its md5)."""
        check_size(sum(i["length"] for i in infos), self.max_bytes())
        out = self.store.spool_dir() / f"combine-{secrets.token_hex(16)}"
        digest = hashlib.md5()
        with open(out, "wb") as sink:
            for info in infos:
                for block in self._blocks(info["md5"]):
                    digest.update(block)
                    sink.write(block)
        return out, digest.hexdigest()

    def _blocks(self, md5: str) -> Any:
        path = self.store.sample_path(md5)
        if path is None:
            yield self.store.get_sample_bytes(md5) or b""
            return
        with open(path, "rb") as source:
            while block := source.read(COPY_BYTES):
                yield block

    def _get(self, upload_id: str) -> Upload:
        upload = self.open.get(upload_id) if isinstance(upload_id, str) else None
        if upload is None:
            raise BadArgument(f"no upload {upload_id!r} in progress on this server (finished, expired after "
                              f"{EXPIRE_S / 60:.0f} idle minutes, or started on another server); start it again")
        return upload

    def _expire(self) -> None:
        cutoff = time.monotonic() - EXPIRE_S
        for upload_id in [u for u, up in self.open.items() if up.touched < cutoff]:
            log.info("upload %s expired after %.0f idle minutes", upload_id, EXPIRE_S / 60)
            self.abort(upload_id)
        for stray in self.store.spool_dir().glob("*-*"):  # left by a killed server: older than any live upload
            try:
                if stray.stat().st_mtime < time.time() - EXPIRE_S:
                    stray.unlink()
            except FileNotFoundError:
                pass
