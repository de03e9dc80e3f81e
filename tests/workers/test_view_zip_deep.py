"""view_zip_deep worker: every member, the nesting depth and entropy, against zipfile and a Counter."""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from collections import Counter

from workbench.testing import require_data, run_worker


def test_deep_view_lists_every_member_and_the_archive_entropy() -> None:
    raw = require_data("zip/bad.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        expected = [hashlib.md5(archive.read(n)).hexdigest() for n in archive.namelist()]
    deep = run_worker("view_zip_deep", raw, filename="bad.zip", options={"view_zip": {"max_children": 0}})
    assert [c["md5"] for c in deep["children"]] == expected and deep["children_truncated"] is False
    assert deep["skipped_members"] == [] and deep["depth"] == 0
    counts = Counter(raw)
    entropy = -sum(n / len(raw) * math.log2(n / len(raw)) for n in counts.values())
    assert abs(deep["entropy"] - entropy) < 1e-3 and deep["entropy"] > 7.5  # deflated data looks random
