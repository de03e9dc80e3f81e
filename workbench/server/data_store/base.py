"""The one small interface every data store backend implements.

Samples are keyed by md5 and stored once. Worker outputs are keyed by (md5, worker) and carry the chain
version they were computed with, so the chain runner can tell a valid cached output from a stale one.
Outputs are stored as readable documents (JSON text in sqlite, documents in MongoDB).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

SAMPLE_INFO_FIELDS = ("md5", "filename", "type_tag", "length", "import_time")


class DataStore(ABC):
    """Storage for samples, tags, sample sets, parent/child links and worker outputs."""

    uri: str

    # --- samples -----------------------------------------------------------------------------------
    @abstractmethod
    def store_sample(self, raw_bytes: bytes, md5: str, filename: str, type_tag: str) -> bool:
        """Store a sample under its (caller-computed) md5; False if it was already stored (one copy kept)."""

    @abstractmethod
    def has_sample(self, md5: str) -> bool:
        """Whether a sample with this md5 is stored. A point lookup, no bytes read."""

    @abstractmethod
    def get_sample_info(self, md5: str) -> dict[str, Any] | None:
        """The sample's metadata (``SAMPLE_INFO_FIELDS``) without its bytes; None if absent."""

    @abstractmethod
    def get_sample_bytes(self, md5: str) -> bytes | None:
        """The sample's bytes; None if absent. The only call that reads sample bytes."""

    @abstractmethod
    def remove_sample(self, md5: str) -> bool:
        """Remove a sample with its tags, links and outputs; False if it was not stored."""

    @abstractmethod
    def iter_md5s(self, type_tag: str | None = None, tags: list[str] | None = None) -> Iterator[str]:
        """md5s of stored samples, oldest first, optionally only one type_tag and/or carrying all ``tags``."""

    @abstractmethod
    def count_samples(self) -> int:
        """How many samples are stored."""

    @abstractmethod
    def total_sample_bytes(self) -> int:
        """The sum of all samples' lengths (for ``samples_cap_mb``)."""

    @abstractmethod
    def oldest_md5s(self, limit: int) -> list[str]:
        """The ``limit`` oldest samples by import time (expiry order)."""

    @abstractmethod
    def md5s_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` stored md5s starting with ``prefix`` (lowercase hex), sorted; an index range, no scan."""

    # --- tags --------------------------------------------------------------------------------------
    @abstractmethod
    def add_tags(self, md5: str, tags: Iterable[str]) -> None:
        """Add tags to a stored sample (duplicates ignored)."""

    @abstractmethod
    def set_tags(self, md5: str, tags: Iterable[str]) -> None:
        """Replace a stored sample's tags."""

    @abstractmethod
    def get_tags(self, md5: str) -> list[str]:
        """A sample's tags, sorted."""

    @abstractmethod
    def get_all_tags(self) -> dict[str, int]:
        """Every tag in use with the number of samples carrying it."""

    # --- sample sets -------------------------------------------------------------------------------
    @abstractmethod
    def store_sample_set(self, set_id: str, md5_list: list[str]) -> None:
        """Store a list of md5s under an id (idempotent)."""

    @abstractmethod
    def get_sample_set(self, set_id: str) -> list[str] | None:
        """The md5 list stored under ``set_id``; None if absent."""

    # --- parent/child links ------------------------------------------------------------------------
    @abstractmethod
    def add_link(self, parent: str, child: str) -> None:
        """Record that ``child`` was extracted from ``parent`` (idempotent)."""

    @abstractmethod
    def get_children(self, md5: str) -> list[str]:
        """md5s extracted from this sample."""

    @abstractmethod
    def get_parents(self, md5: str) -> list[str]:
        """md5s this sample was extracted from."""

    # --- worker outputs ----------------------------------------------------------------------------
    @abstractmethod
    def store_output(self, md5: str, worker: str, chain_version: str, versions: dict[str, str],
                     output: dict[str, Any]) -> None:
        """Store (replace) one worker's output for one sample, with the versions it was computed with."""

    @abstractmethod
    def get_output(self, md5: str, worker: str) -> dict[str, Any] | None:
        """``{'md5', 'worker', 'chain_version', 'versions', 'time', 'output'}`` or None. A point lookup."""

    @abstractmethod
    def get_outputs(self, md5s: list[str], worker: str) -> dict[str, dict[str, Any]]:
        """``{md5: {'chain_version', 'output'}}`` for many samples in one indexed query, absent ones left out: the
        cache check of a batch stream (no versions or time decoded; ``get_output`` has them)."""

    def get_output_texts(self, md5s: list[str], worker: str,
                         paths: list[str] | None = None) -> dict[str, tuple[str, str]]:
        """``{md5: (chain_version, output as JSON text)}``, like ``get_outputs``, for readers that parse a whole
        chunk in one go (Arrow slabs); with ``paths`` (dotted, e.g. ``dense_features.file_size``) only those
        parts, nested as in the output, a missing one null. This default encodes ``get_outputs``; sqlite
        returns its stored text, or extracts the paths in the query."""
        found = {}
        for md5, doc in self.get_outputs(md5s, worker).items():
            output = doc["output"]
            if paths:
                picked: dict[str, Any] = {}
                for path in paths:
                    *parents, last = path.split(".")
                    source, target = output, picked
                    for part in parents:
                        source = source.get(part) if isinstance(source, dict) else None
                        target = target.setdefault(part, {})
                    target[last] = source.get(last) if isinstance(source, dict) else None
                output = picked
            found[md5] = (doc["chain_version"], json.dumps(output))
        return found

    # --- bulk loading ------------------------------------------------------------------------------
    @abstractmethod
    def store_samples(self, samples: Iterable[tuple[bytes, str, str, str]]) -> int:
        """Store many ``(raw_bytes, md5, filename, type_tag)`` in one go (imports, benchmarks); return how many
        were new. Like ``store_sample``: md5s are the caller's, one copy kept. Callers chunk huge imports."""

    @abstractmethod
    def store_outputs(self, outputs: Iterable[tuple[str, str, str, dict[str, str], dict[str, Any]]]) -> None:
        """``store_output`` for many ``(md5, worker, chain_version, versions, output)`` rows in one go."""

    @abstractmethod
    def iter_outputs(self, worker: str, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(md5, output)`` for every stored output of ``worker``; with ``fields``, only those top-level keys."""

    @abstractmethod
    def clear_worker_output(self, worker: str | None = None) -> int:
        """Drop stored outputs of one worker (or all); return how many were dropped. Samples stay."""

    # --- admin -------------------------------------------------------------------------------------
    @abstractmethod
    def clear(self) -> None:
        """Drop everything: samples, tags, sets, links and outputs."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""
