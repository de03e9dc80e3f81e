"""Nearest stored samples by TLSH distance: a vectorised numpy scan over every stored digest, kept in memory.

The distance is py-tlsh's ``tlsh.diff`` (length included), computed for all digests at once: header terms
from small lookup tables, the 32 body bytes from a 256 x 256 table of byte distances (four 2-bit buckets each:
0-3 apart counts 0, 1, 2 or 6). The length term alone is 12 per step beyond one, so digests whose length byte
(or quartile ratios) already cost more than the threshold are dropped before the body is looked at.

``TlshIndex`` holds the digests of one store (about 40 bytes each: 1M digests ~ 40 MB) and is refreshed from
the store's change feed (``corpus.tlsh_digests_since``), so a request reads only what was stored since the last
one. Hits are checked against the store before they are returned, so a removed sample is never reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DIGEST_BYTES = 35  # checksum, length byte, quartile ratios, 32 body bytes (after the 'T1' version prefix)


def _mod_diff(x: np.ndarray, y: int, modulus: int) -> np.ndarray:
    d = np.abs(x.astype(np.int16) - y)
    return np.minimum(d, modulus - d)


def _byte_table() -> np.ndarray:
    values = np.arange(256)
    total = np.zeros((256, 256), dtype=np.uint16)
    for shift in (0, 2, 4, 6):
        d = np.abs(((values[:, None] >> shift) & 3) - ((values[None, :] >> shift) & 3))
        total += np.where(d == 3, 6, d).astype(np.uint16)
    return total


BODY_TABLE = _byte_table()


def parse(digests: list[str]) -> np.ndarray:
    """(N, 35) uint8 rows of 'T1'-prefixed (or bare 70-digit) TLSH hex digests; the caller drops bad ones."""
    text = "".join(d[2:] if len(d) == 72 else d for d in digests)
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8).reshape(len(digests), DIGEST_BYTES)


def valid(digest: Any) -> bool:
    """Whether this is a TLSH digest the scan can read ('T1' + 70 hex digits, or 70 hex digits)."""
    if not isinstance(digest, str) or len(digest) not in (70, 72) or (len(digest) == 72 and digest[:2] != "T1"):
        return False
    try:
        bytes.fromhex(digest[-70:])
    except ValueError:
        return False
    return True


def _swap(byte: np.ndarray | int) -> Any:
    return ((byte & 0x0F) << 4) | (byte >> 4)


def distances(query: str, rows: np.ndarray, body_columns: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """(row indexes, distances) of the rows within ``threshold`` of ``query`` (tlsh.diff with the length).

    ``rows`` is (N, 3) header bytes, ``body_columns`` is (32, N) body bytes (one contiguous array per column).
    """
    q = parse([query])[0]
    length = _swap(rows[:, 1].astype(np.int16))
    ldiff = _mod_diff(length, int(_swap(int(q[1]))), 256)
    cost = np.where(ldiff <= 1, ldiff, ldiff * 12)
    for shift in (4, 0):
        qdiff = _mod_diff((rows[:, 2] >> shift) & 0x0F, (int(q[2]) >> shift) & 0x0F, 16)
        cost += np.where(qdiff <= 1, qdiff, (qdiff - 1) * 12)
    cost += rows[:, 0] != q[0]
    near = np.flatnonzero(cost <= threshold)  # the header alone already rules the rest out
    total = cost[near].astype(np.int32)
    for column in range(32):
        total += BODY_TABLE[q[3 + column]][body_columns[column, near]]
    keep = total <= threshold
    return near[keep], total[keep]


class TlshIndex:
    """The TLSH digests of one store in numpy arrays, grown and updated in place from the change feed."""

    def __init__(self) -> None:
        self.cursor: Any = None
        self.md5s: list[str] = []
        self.slot: dict[str, int] = {}
        self.rows = np.zeros((0, 3), dtype=np.uint8)
        self.body = np.zeros((32, 0), dtype=np.uint8)
        self.live = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return int(self.live.sum())

    def refresh(self, corpus: Any) -> int:
        """Read what the store changed since the last refresh; return how many digests were read."""
        changes, self.cursor = corpus.tlsh_digests_since(self.cursor)
        fresh = [(md5, d) for md5, d in changes if md5 not in self.slot]
        self._grow(len(self.md5s) + len(fresh))
        for md5, _ in fresh:
            self.slot[md5] = len(self.md5s)
            self.md5s.append(md5)
        good = [(self.slot[md5], d) for md5, d in changes if valid(d)]
        for md5, d in changes:
            self.live[self.slot[md5]] = False if not valid(d) else self.live[self.slot[md5]]
        if good:
            where = np.array([s for s, _ in good])
            parsed = parse([d for _, d in good])
            self.rows[where], self.body[:, where] = parsed[:, :3], parsed[:, 3:].T
            self.live[where] = True
        return len(changes)

    def _grow(self, needed: int) -> None:
        if needed <= len(self.live):
            return
        size = max(needed, 2 * len(self.live), 1024)
        rows, body, live = np.zeros((size, 3), np.uint8), np.zeros((32, size), np.uint8), np.zeros(size, bool)
        used = len(self.md5s)
        rows[:used], body[:, :used], live[:used] = self.rows[:used], self.body[:, :used], self.live[:used]
        self.rows, self.body, self.live = rows, body, live

    def nearest(self, query: str, threshold: int, exclude: str = "") -> list[tuple[int, str]]:
        """Every (distance, md5) within ``threshold`` of ``query``, nearest first then by md5."""
        used = len(self.md5s)
        index, dist = distances(query, self.rows[:used], self.body[:, :used], threshold)
        return sorted((int(d), self.md5s[i]) for i, d in zip(index, dist, strict=True)
                      if self.live[i] and self.md5s[i] != exclude)

    def forget(self, md5: str) -> None:
        """Drop a digest the store no longer holds."""
        if md5 in self.slot:
            self.live[self.slot[md5]] = False


_INDEXES: dict[str, TlshIndex] = {}


def nearest_stored(corpus: Any, query: str, threshold: int, top_n: int, exclude: str = "") -> tuple[list[dict], int]:
    """Top ``top_n`` {md5, distance} within ``threshold`` among the stored digests (kept per store in this
    process, refreshed first), each checked against the store; also how many digests were scanned."""
    index = _INDEXES.setdefault(corpus.store_id, TlshIndex())
    index.refresh(corpus)
    if not valid(query):
        return [], len(index)
    hits, confirmed = index.nearest(query, threshold, exclude), []
    while hits and len(confirmed) < top_n:
        batch, hits = hits[:top_n - len(confirmed)], hits[top_n - len(confirmed):]
        current = corpus.fuzzy_hashes([md5 for _, md5 in batch])
        for distance, md5 in batch:
            if md5 in current and current[md5]["tlsh"] is not None:
                confirmed.append({"md5": md5, "distance": distance})
            else:
                index.forget(md5)  # removed since the last refresh
    return confirmed, len(index)
