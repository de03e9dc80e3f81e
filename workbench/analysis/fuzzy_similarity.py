"""ssdeep similarity search over stored hashes, comparing only hashes with compatible block sizes.

Two ssdeep hashes can only score above 0 when their block sizes are equal or one is double the other
(ssdeep compares chunk strings made with the same block size), so the others are skipped before calling
``ssdeep.compare``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

import ssdeep


def block_size(ssdeep_hash: str) -> int:
    """The block size an ssdeep hash ('blocksize:chunk:double_chunk') was made with; 0 if malformed."""
    head = ssdeep_hash.split(":", 1)[0]
    return int(head) if head.isdigit() else 0


def compatible(size_a: int, size_b: int) -> bool:
    """Whether two block sizes can give a non-zero ssdeep score (same, double or half)."""
    return size_a > 0 and size_b > 0 and (size_a == size_b or size_a == 2 * size_b or size_b == 2 * size_a)


def most_similar(target: str, candidates: Iterable[tuple[str, str]], top_n: int, threshold: int,
                 exclude: str = "") -> tuple[list[dict], int, int]:
    """Top ``top_n`` {md5, score} with score >= ``threshold`` among (md5, ssdeep) candidates (``exclude``
    skipped), best first then by md5; also how many candidates were seen and how many were compared."""
    size = block_size(target)
    seen = compared = 0
    scored = []
    for md5, other in candidates:
        if md5 == exclude or not other:
            continue
        seen += 1
        if not compatible(size, block_size(other)):
            continue
        compared += 1
        score = ssdeep.compare(target, other)
        if score >= threshold and score > 0:
            scored.append((score, md5))
    best = heapq.nsmallest(top_n, scored, key=lambda pair: (-pair[0], pair[1]))
    return [{"md5": md5, "score": score} for score, md5 in best], seen, compared
