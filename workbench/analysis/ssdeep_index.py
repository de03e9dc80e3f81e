"""Integer index keys for ssdeep hashes: the candidates a query must score are those sharing a key with it.

libfuzzy's compare (``ssdeep.compare``) scores two hashes above 0 only when (a) their block sizes are equal or
double/half and their chunk strings made with the same block size share a 7-character substring, after runs of
more than 3 identical characters are cut to 3, or (b) their block sizes are equal and both cut chunks are
identical (the "identical hashes" shortcut, which also covers chunks shorter than 7 characters). So each hash
gets the keys:

- one per 7-character window of its first chunk under its block size, and of its second chunk under twice its
  block size (Brian Wallace, "Optimizing ssdeep for use at scale", Virus Bulletin 2015). A standard window
  (block size 3 * 2**k, base64 characters) is encoded exactly in 47 bits: k (5 bits) then 7 x 6 bits;
- one exact-match key (bit 48 set) when both cut chunks are shorter than 7, the only case windows miss.

Anything non-standard (odd block size, characters outside base64) is hashed into a key with bit 62 set.
Key collisions can only add candidates; scoring stays ``ssdeep.compare``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from workbench.analysis import fuzzy_similarity

INDEXED_WORKER = "meta_deep"  # the worker whose output carries the hashes (fields ssdeep, tlsh)
WINDOW = 7
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(B64)}
_RUNS = re.compile(r"(.)\1{3,}")
EXACT_BIT = 1 << 48
FALLBACK_BIT = 1 << 62
_WINDOW_MASK = (1 << (6 * WINDOW)) - 1


def eliminate_sequences(chunk: str) -> str:
    """The chunk with every run of more than 3 identical characters cut to 3 (as libfuzzy compares)."""
    return _RUNS.sub(lambda m: m.group(1) * 3, chunk)


def parse(ssdeep_hash: str) -> tuple[int, str, str] | None:
    """(block size, cut first chunk, cut second chunk), or None when the hash is malformed."""
    parts = ssdeep_hash.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) <= 0:
        return None
    second = parts[2].split(",", 1)[0]  # ssdeep -l style hashes may carry ',"filename"'
    return int(parts[0]), eliminate_sequences(parts[1]), eliminate_sequences(second)


def _fallback(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return FALLBACK_BIT | (int.from_bytes(digest, "big") & (FALLBACK_BIT - 1))


def _window_keys(size: int, chunk: str, keys: set[int]) -> None:
    exponent = (size // 3).bit_length() - 1
    values = [_B64_VALUE.get(c, -1) for c in chunk]
    if size % 3 or size // 3 != 1 << exponent or exponent >= 32 or -1 in values:
        keys.update(_fallback("w", size, chunk[i:i + WINDOW]) for i in range(len(chunk) - WINDOW + 1))
        return
    prefix, rolling = exponent << (6 * WINDOW), 0
    for position, value in enumerate(values):  # a rolling 42-bit window of 6-bit characters
        rolling = ((rolling << 6) | value) & _WINDOW_MASK
        if position >= WINDOW - 1:
            keys.add(prefix | rolling)


def exact_key(size: int, first: str, second: str) -> int:
    """The key of hashes whose cut chunks are all shorter than a window, and equal to these."""
    digest = hashlib.blake2b(f"{size}:{first}:{second}".encode(), digest_size=6).digest()
    return EXACT_BIT | int.from_bytes(digest, "big")


def index_keys(ssdeep_hash: str) -> list[int]:
    """The sorted, distinct keys of one hash (the same for indexing it and for querying with it)."""
    parsed = parse(ssdeep_hash or "")
    if parsed is None:  # compare gives a malformed hash no score: nothing to find
        return []
    size, first, second = parsed
    keys: set[int] = set()
    _window_keys(size, first, keys)
    _window_keys(2 * size, second, keys)
    if len(first) < WINDOW and len(second) < WINDOW:
        keys.add(exact_key(size, first, second))
    return sorted(keys)


def score(target: str, candidates: Iterable[tuple[str, str]], threshold: int, limit: int,
          exclude: str = "") -> tuple[list[dict], int, int]:
    """Top ``limit`` {md5, score} among index candidates: the same compare and tie order as the full scan."""
    return fuzzy_similarity.most_similar(target, candidates, limit, threshold, exclude=exclude)
