"""view_swf_deep worker: view_swf plus all tag counts, the Metadata XML and entropy."""

from __future__ import annotations

import math
from collections import Counter

from workbench.testing import require_data, run_worker


def test_deep_view_extends_view_swf_with_tags_metadata_and_entropy() -> None:
    raw = require_data("swf/unknown.swf").read_bytes()
    deep = run_worker("view_swf_deep", raw, filename="unknown.swf")
    view = run_worker("view_swf", raw, filename="unknown.swf")
    assert {key: deep[key] for key in view} == view
    assert deep["tag_counts"] == run_worker("swf_meta", raw, filename="unknown.swf")["tag_counts"]
    assert sum(deep["tag_counts"].values()) == view["swf"]["tag_total"]
    assert deep["metadata"].startswith("<rdf:RDF") and deep["file_length"] == deep["body_length"] + 8
    entropy = -sum(n / len(raw) * math.log2(n / len(raw)) for n in Counter(raw).values())
    assert abs(deep["entropy"] - entropy) < 1e-3
