"""view_json worker: compact JSON summary against json.load."""

from __future__ import annotations

import json

from workbench.testing import require_data, run_worker


def test_generated_json_summary() -> None:
    path = require_data("json/generated.json")
    document = json.loads(path.read_bytes())
    view = run_worker("view_json", path)
    assert view["top_level_type"] == "array" and view["record_count"] == len(document)
    assert view["top_level_keys"] == list(document[0])[:20] and view["key_count"] == len(document[0])
    assert view["keys_truncated"] is (len(document[0]) > 20) and view["length"] == len(path.read_bytes())


def test_keys_are_cut_at_max_keys() -> None:
    raw = json.dumps({"a": 1, "b": 2, "c": 3}).encode()
    options = {"view_json": {"max_keys": 2}}
    view = run_worker("view_json", raw, filename="x.json", type_tag="json", options=options)
    assert view["top_level_keys"] == ["a", "b"] and view["keys_truncated"] is True and view["depth"] == 1
