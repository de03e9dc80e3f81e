"""Synthetic ssdeep and TLSH digests in families, fast, for the index tests and bench/bench_similarity.py.

A family is a random base digest and members that differ by a few edits, as variants of one program do. The
ssdeep families also carry the edge cases of libfuzzy's compare: members at double and half the block size
(whose first chunk is the base's second chunk, or the reverse), runs of repeated characters longer than 3,
chunks shorter than 7 characters and exact duplicates. Strings only: nothing here hashes real data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
HEX = "0123456789ABCDEF"


def _chunk(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(B64, k=length))


def _mutate(rng: random.Random, chunk: str, edits: int, limit: int) -> str:
    chars = list(chunk)
    for _ in range(edits):
        where = rng.randrange(len(chars) + 1)
        kind = rng.random()
        if kind < 0.4 and where < len(chars):
            chars[where] = rng.choice(B64)
        elif kind < 0.7 and len(chars) < limit:
            chars.insert(where, rng.choice(B64))
        elif chars:
            del chars[min(where, len(chars) - 1)]
        if kind > 0.97:  # a run of one character, as in padding; compare cuts it to 3
            chars[where:where] = rng.choice(B64) * rng.randint(4, 9)
    return "".join(chars)[:limit]


def _member(rng: random.Random, size: int, first: str, second: str) -> str:
    roll = rng.random()
    edits = rng.choice((1, 2, 3, 5, 8, 13))
    if roll < 0.08:  # an exact duplicate
        return f"{size}:{first}:{second}"
    if roll < 0.16:  # double the block size: the base's second chunk becomes the first
        return f"{size * 2}:{_mutate(rng, second, edits, 64)}:{_chunk(rng, max(1, len(second) // 2))}"
    if roll < 0.24 and size >= 6:  # half the block size: the base's first chunk becomes the second
        return f"{size // 2}:{_chunk(rng, 64)}:{_mutate(rng, first, edits, 32)}"
    return f"{size}:{_mutate(rng, first, edits, 64)}:{_mutate(rng, second, edits, 32)}"


def ssdeep_families(count: int, family_size: int = 20, seed: int = 1) -> Iterator[str]:
    """``count`` ssdeep hash strings, in families of about ``family_size`` (a few singletons among them)."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        size = 3 << rng.choice((0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14))
        short = rng.random() < 0.05  # chunks under 7 characters: only the exact key can find them
        first = _chunk(rng, rng.randint(1, 6) if short else rng.randint(12, 64))
        second = _chunk(rng, rng.randint(0, 6) if short else rng.randint(6, 32))
        if rng.random() < 0.1:
            first = first[:5] + rng.choice(B64) * rng.randint(4, 12) + first[5:50]
        for _ in range(min(count - made, rng.randint(1, 2 * family_size))):
            yield _member(rng, size, first, second) if not short or rng.random() < 0.3 else f"{size}:{first}:{second}"
            made += 1


def tlsh_families(count: int, family_size: int = 20, seed: int = 1) -> Iterator[str]:
    """``count`` TLSH digests ('T1' + 70 hex digits), in families differing by a few body and header bits."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        base = [rng.randrange(256) for _ in range(35)]
        for _ in range(min(count - made, rng.randint(1, 2 * family_size))):
            member = list(base)
            for _ in range(rng.choice((0, 2, 5, 10, 20, 40))):
                member[rng.randrange(3, 35)] = rng.randrange(256)
            if rng.random() < 0.5:
                member[1] = (member[1] + rng.randint(-3, 3)) % 256  # the length byte
            if rng.random() < 0.3:
                member[2] = rng.randrange(256)  # the quartile ratios
            if rng.random() < 0.3:
                member[0] = rng.randrange(256)  # the checksum
            yield "T1" + "".join(f"{b:02X}" for b in member)
            made += 1
