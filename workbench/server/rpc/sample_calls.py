"""RPC calls on samples, their bytes, tags, family links and sample sets.

One of the groups WorkbenchRPC (rpc_service.py) is made of: each method validates and delegates to Workbench."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import zerorpc

from workbench.exceptions import BadArgument

if TYPE_CHECKING:
    from workbench.server.workbench import Workbench


class SampleCalls:
    """Samples, their bytes, tags, family links and sample sets."""

    _wb: Workbench

    def store_sample(self, input_bytes: bytes, filename: str, type_tag: str = "") -> str:
        """Store a sample (bytes) and return its md5; type_tag is guessed by libmagic when empty."""
        return self._wb.store_sample(input_bytes, filename, type_tag)

    def get_sample(self, md5: str) -> dict:
        """The sample with its bytes: {'sample': {md5, filename, type_tag, length, import_time, raw_bytes}}."""
        return self._wb.get_sample(md5)

    def get_sample_info(self, md5: str) -> dict:
        """The sample's metadata and tags, without its bytes."""
        return self._wb.get_sample_info(md5)

    def has_sample(self, md5: str) -> bool:
        """True if a sample with this md5 is stored (ask before sending bytes)."""
        return self._wb.has_sample(md5)

    def complete_md5(self, prefix: str, limit: int = 10) -> list:
        """Stored md5s starting with a prefix (1-32 hex digits), sorted, at most limit (1-1000)."""
        return self._wb.complete_md5(prefix, limit)

    def remove_sample(self, md5: str) -> bool:
        """Remove a sample and every output computed from it."""
        return self._wb.remove_sample(md5)

    def combine_samples(self, md5_list: list, filename: str, type_tag: str = "") -> str:
        """Join uploaded chunks (stored samples, in order) into one sample; return its md5."""
        return self._wb.combine_samples(md5_list, filename, type_tag)

    def set_type_tag(self, md5: str, type_tag: str) -> bool:
        """Correct a sample's type_tag (its stored outputs are dropped); False if it already had it."""
        return self._wb.set_type_tag(md5, type_tag)

    def upload_start(self, filename: str, type_tag: str = "", length: Any = None) -> str:
        """Open a chunked upload (parts appended and hashed once, no joining); returns its id. With length (the
        file's size), a file over the server's size limit is refused here, before any part is sent."""
        return self._wb.upload_start(filename, type_tag, length)

    def upload_part(self, upload_id: str, offset: int, data: bytes) -> int:
        """Append the next part of an upload at offset (bytes so far); returns the new length."""
        return self._wb.upload_part(upload_id, offset, data)

    def upload_finish(self, upload_id: str) -> str:
        """Store a chunked upload as one sample (kept once per md5); returns its md5."""
        return self._wb.upload_finish(upload_id)

    def upload_abort(self, upload_id: str) -> None:
        """Drop a chunked upload in progress (e.g. the sample turned out to be stored already)."""
        return self._wb.upload_abort(upload_id)

    @zerorpc.stream
    def stream_sample(self, md5: str, kwargs: dict | None = None) -> Iterator[Any]:
        """Stream a sample: Bro logs as typed records, logs as {'row': line}, other text line by line, others in 1 MiB
        chunks. kwargs: max_rows;
        format 'arrow': a Zeek log or JSON-lines sample as Arrow IPC messages (typed from Zeek's #types)."""
        kwargs = kwargs or {}
        if kwargs.get("format", "records") == "arrow":
            return self._wb.stream_sample_arrow(md5, kwargs.get("max_rows"))
        if kwargs.get("format", "records") != "records":
            raise BadArgument(f"unknown stream_sample format {kwargs['format']!r}; use 'records' or 'arrow'")
        return self._wb.stream_sample(md5, kwargs.get("max_rows"))

    def get_sample_window(self, type_tag: str, size_mb: float = 10) -> list:
        """md5s of the newest samples of a type_tag, newest first, until their total size passes size_mb."""
        return self._wb.get_sample_window(type_tag, size_mb)

    def index_sample(self, md5: str, index_name: str) -> dict:
        """Index a text sample's rows (log, Zeek log, text, JSON) for search_index."""
        return self._wb.index_sample(md5, index_name)

    def store_sample_set(self, md5_list: list) -> str:
        """Store a list of md5s and return the set's id."""
        return self._wb.store_sample_set(md5_list)

    def get_sample_set(self, sample_set: str) -> list:
        """The md5s in a stored set."""
        return self._wb.get_sample_set(sample_set)

    def generate_sample_set(self, tags: Any = None, type_tag: str | None = None) -> str:
        """A set of all samples with all the given tags and/or the given type_tag; returns its id (kept for
        sample_set_days)."""
        return self._wb.generate_sample_set(tags, type_tag)

    def remove_sample_set(self, sample_set: str) -> bool:
        """Remove a stored sample set (its samples stay); False if there was none."""
        return self._wb.remove_sample_set(sample_set)

    def add_tags(self, md5: str, tags: Any) -> None:
        """Add tags (a list or one string) to a sample."""
        return self._wb.add_tags(md5, tags)

    def set_tags(self, md5: str, tags: Any) -> None:
        """Replace a sample's tags."""
        return self._wb.set_tags(md5, tags)

    def get_tags(self, md5: str) -> list:
        """A sample's tags."""
        return self._wb.get_tags(md5)

    def get_all_tags(self) -> dict:
        """Every tag in use, with how many samples carry it."""
        return self._wb.get_all_tags()

    def get_type_tags(self) -> dict:
        """Every type_tag in use, with how many samples have it."""
        return self._wb.get_type_tags()

    def get_children(self, md5: str) -> list:
        """md5s of samples extracted from this one (archive members, files carried over HTTP)."""
        return self._wb.get_children(md5)

    def get_parents(self, md5: str) -> list:
        """md5s of the samples this one was extracted from."""
        return self._wb.get_parents(md5)
