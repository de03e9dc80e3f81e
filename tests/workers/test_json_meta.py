"""json_meta worker: shape of the real JSON document against json.load done here."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from workbench.exceptions import WorkerFailed
from workbench.testing import require_data, run_worker


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_generated_json_matches_json_load() -> None:
    path = require_data("json/generated.json")
    document = json.loads(path.read_bytes())
    output = run_worker("json_meta", path)
    assert output["format"] == "json" and output["top_level_type"] == "array"
    assert output["record_count"] == len(document)
    keys = list(dict.fromkeys(key for record in document for key in record))
    assert output["top_level_keys"] == keys and output["key_count"] == len(keys)
    assert output["key_counts"] == dict(Counter(key for record in document for key in record))
    assert output["record_types"] == {"object": len(document)}
    assert output["depth"] == _depth(document)
    assert output["byte_size"] == path.stat().st_size


def test_object_document_lists_its_keys_and_depth() -> None:
    output = run_worker("json_meta", b'{"b": {"c": [1, 2]}, "a": null}', filename="x.json", type_tag="json")
    assert output["top_level_type"] == "object" and output["top_level_keys"] == ["b", "a"]
    assert output["record_count"] is None and output["key_counts"] is None
    assert output["depth"] == 3 and output["node_count"] == 6  # {}, {}, [], 1, 2, null


def test_json_lines_are_read_as_records() -> None:
    raw = b'{"ts": 1, "uid": "a"}\n{"ts": 2}\n\n{"ts": 3, "extra": true}\n'
    output = run_worker("json_meta", raw, filename="conn.json", type_tag="json")
    assert output["format"] == "json_lines" and output["record_count"] == 3
    assert output["key_counts"] == {"ts": 3, "uid": 1, "extra": 1}


def test_keys_are_cut_at_max_keys() -> None:
    raw = json.dumps({f"k{i}": i for i in range(30)}).encode()
    options = {"json_meta": {"max_keys": 5}}
    output = run_worker("json_meta", raw, filename="wide.json", type_tag="json", options=options)
    assert output["top_level_keys"] == ["k0", "k1", "k2", "k3", "k4"]
    assert output["key_count"] == 30 and output["keys_truncated"] is True


def test_invalid_json_fails_naming_the_position() -> None:
    with pytest.raises(WorkerFailed, match=r"not valid JSON.*line 1 column 7"):
        run_worker("json_meta", b'{"a": }', filename="bad.json", type_tag="json")
