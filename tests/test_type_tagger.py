"""The type tagger's magic-number fast path tells the same type_tag as libmagic, on real files whole and cut."""

from __future__ import annotations

import pytest

from workbench.server.intake import type_tagger
from workbench.testing import require_data

CUTS = (None, *range(1, 80, 3), 300, 1024, 4096, 65536)


def _by_libmagic(raw: bytes, filename: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(type_tagger, "well_known_tag", lambda _raw: None)
        return type_tagger.guess_type_tag(raw, filename)


def test_fast_path_agrees_with_libmagic_on_every_shared_file(monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = require_data()
    decided: dict[str, int] = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for cut in CUTS:
            raw = data if cut is None else data[:cut]
            fast = type_tagger.well_known_tag(raw)
            if fast is not None:
                assert fast == _by_libmagic(raw, path.name, monkeypatch), (path, cut)
                decided[fast] = decided.get(fast, 0) + 1
    assert set(decided) == {"exe", "pdf", "pcap", "swf", "bro"}, decided


@pytest.mark.parametrize("raw", [b"MZ" + b"\0" * 100, b"MZ\x90\0", b"%PD", b"\xd4\xc3\xb2\xa1", b"FWS\x09",
                                 b"#separator"])
def test_headers_that_do_not_decide_go_to_libmagic(raw: bytes) -> None:
    assert type_tagger.well_known_tag(raw) is None
