"""The ssdeep similarity graph of a selection of samples, built from the store's index.

Each selected sample with a meta_deep ssdeep hash is queried once (its index keys give the few samples that
can score above 0); an edge goes out when the other end is selected and not queried yet, so each pair is sent
once, scored by ssdeep.compare exactly as pe_deep_sim scores it. Cost: one index query per sample, about a
millisecond, so 100k samples take a minute or two, not the hours of comparing all pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from workbench.analysis import ssdeep_index
from workbench.exceptions import BadArgument
from workbench.server.data_store.base import DataStore

DEFAULT_THRESHOLD = 25  # pe_deep_sim's default
CHUNK = 1000


def check_threshold(value: object) -> int:
    """A score threshold from 0 to 100."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise BadArgument(f"threshold must be a whole number from 0 to 100 (ssdeep score), got {value!r}")
    return value


def _hashes(store: DataStore, md5s: Iterable[str]) -> dict[str, str]:
    """The meta_deep ssdeep hash of each selected sample that has one, in selection order."""
    ordered = list(dict.fromkeys(md5s))
    found: dict[str, str] = {}
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        outputs = store.get_outputs(chunk, ssdeep_index.INDEXED_WORKER)
        found.update((m, outputs[m]["output"].get("ssdeep") or "") for m in chunk if m in outputs)
    return {m: h for m, h in found.items() if h}


def edges(store: DataStore, md5s: Iterable[str], threshold: int) -> Iterator[dict]:
    """``{source, target, score}`` for every pair of selected samples scoring >= ``threshold`` (and > 0)."""
    hashes = _hashes(store, md5s)
    done: set[str] = set()
    for md5, ssdeep_hash in hashes.items():
        done.add(md5)
        found = [(other, h) for other, h in store.ssdeep_candidates(ssdeep_index.index_keys(ssdeep_hash))
                 if other in hashes and other not in done]
        hits, _, _ = ssdeep_index.score(ssdeep_hash, found, threshold, len(found))
        for hit in hits:
            yield {"source": md5, "target": hit["md5"], "score": hit["score"]}
