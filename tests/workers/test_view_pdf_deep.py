"""view_pdf_deep worker: view_pdf plus full counts, entropy and indicators, checked against the raw file."""

from __future__ import annotations

import math
from collections import Counter

from workbench.testing import require_data, run_worker


def _entropy(raw: bytes) -> float:
    counts = Counter(raw)
    return -sum(n / len(raw) * math.log2(n / len(raw)) for n in counts.values())


def test_deep_view_extends_view_pdf_with_counts_entropy_and_iocs() -> None:
    path = require_data("pdf/good/98a896a6c62583eed05c59eef1354497")
    raw = path.read_bytes()
    deep = run_worker("view_pdf_deep", path)
    view = run_worker("view_pdf", path)
    assert {key: deep[key] for key in view} == view
    assert deep["keywords"]["/URI"] == raw.count(b"/URI")
    assert deep["structure"]["xref"] == raw.count(b"xref") - raw.count(b"startxref")
    assert abs(deep["entropy"] - _entropy(raw)) < 1e-3
    # the document shows an e-mail address in plain text: the url worker finds it in the raw bytes
    assert "mrmaxwellrobinson@gmail.com" in deep["emails"] and b"mrmaxwellrobinson@gmail.com" in raw
    assert deep["ioc_total"] >= len(deep["emails"]) + len(deep["domains"])
    assert deep["metadata"]["Producer"] == "OpenOffice.org 3.1" and deep["ssdeep"].count(":") == 2
