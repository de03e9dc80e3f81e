"""The part of a YARA retrohunt that runs in a worker process: match compiled rules against stored samples.

Called through the pool's ``call`` task (``call_function``), never imported by workers. The rules arrive as a
file of compiled rules (``yara.Rules.save``) named by their hash: each process loads a rule set once and keeps the
last few, so a hunt over a million samples compiles its rules once in all. Each sample's bytes are read from the
store once, here, next to the work.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import yara

from workbench.server.data_store import DataStore

KEEP_RULE_SETS = 4
_loaded: OrderedDict[str, yara.Rules] = OrderedDict()


def _rules(rules_hash: str, compiled_path: str) -> yara.Rules:
    rules = _loaded.get(rules_hash)
    if rules is None:
        rules = _loaded[rules_hash] = yara.load(compiled_path)
        while len(_loaded) > KEEP_RULE_SETS:
            _loaded.popitem(last=False)
    _loaded.move_to_end(rules_hash)
    return rules


def _error(kind: str, name: str, message: str) -> dict[str, Any]:
    return {"type": name, "kind": kind, "message": message}


def _sample_source(store: DataStore, md5: str) -> dict[str, Any] | None:
    """YARA's input for a sample: its file when the store keeps one (YARA maps it: no copy into Python), else
    its bytes; None when the sample is gone."""
    path = store.sample_path(md5)
    if path is not None:
        return {"filepath": str(path)}
    data = store.get_sample_bytes(md5)
    return None if data is None else {"data": data}


def match_samples(store: DataStore, rules_hash: str, compiled_path: str, md5s: list[str],
                  timeout_s: int) -> list[dict[str, Any]]:
    """``{md5, matches: [{namespace, rule, tags}]}`` per sample (``error`` instead when it could not be scanned).

    ``timeout_s`` bounds each sample's scan inside YARA, so a hostile rule costs one sample, not the process."""
    rules = _rules(rules_hash, compiled_path)
    results = []
    for md5 in md5s:
        source = _sample_source(store, md5)
        if source is None:
            results.append({"md5": md5, "matches": [], "error": _error(
                "raised", "UnknownMD5", f"sample {md5} was removed before the retrohunt reached it")})
            continue
        try:
            found = rules.match(**source, timeout=timeout_s)
        except yara.TimeoutError:
            results.append({"md5": md5, "matches": [], "error": _error(
                "timed_out", "WorkerTimeout", f"YARA rules ran past {timeout_s} s on sample {md5} and were "
                "stopped; simplify the slow rule (loops over filesize, unanchored regexes) or raise [server] "
                "worker_timeout")})
            continue
        except yara.Error as exc:
            if "filepath" in source and not store.has_sample(md5):
                results.append({"md5": md5, "matches": [], "error": _error(
                    "raised", "UnknownMD5", f"sample {md5} was removed while the retrohunt read it")})
                continue
            results.append({"md5": md5, "matches": [], "error": _error(
                "raised", "WorkerFailed", f"YARA failed on sample {md5}: {exc}")})
            continue
        results.append({"md5": md5, "matches": [{"namespace": m.namespace, "rule": m.rule, "tags": list(m.tags)}
                                                for m in found]})
    return results
