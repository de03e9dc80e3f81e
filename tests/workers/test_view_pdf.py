"""view_pdf worker: compact summary of real PDFs, checked against the file itself (md5 name, size, header
bytes, regex keyword counts) rather than against the pdf worker's output."""

from __future__ import annotations

import re

from workbench.testing import require_data, run_worker

KEYS = {"md5", "filename", "file_type", "length", "pdf", "risky_keywords", "obfuscated", "objects",
        "indicators"}


def _has_name(raw: bytes, *names: bytes) -> bool:
    return any(re.search(re.escape(name) + rb"(?![A-Za-z0-9#])", raw) for name in names)


def test_summary_of_every_malicious_pdf_matches_the_raw_file() -> None:
    for path in sorted(require_data("pdf/bad").iterdir()):
        raw = path.read_bytes()
        view = run_worker("view_pdf", path)
        assert set(view) == KEYS
        assert view["md5"] == path.name and view["length"] == len(raw)
        assert view["pdf"]["header_version"] == raw[5:8].decode()
        assert "/Page" not in view["risky_keywords"] and all(view["risky_keywords"].values())
        if _has_name(raw, b"/JS", b"/JavaScript"):
            assert "javascript" in view["indicators"], path.name
        if _has_name(raw, b"/OpenAction", b"/AA"):
            assert "auto_action" in view["indicators"], path.name
        assert view["objects"] == len(re.findall(rb"(?<![A-Za-z0-9])obj(?![A-Za-z0-9])", raw))
        assert view["indicators"] == sorted(set(view["indicators"]))


def test_known_malicious_pdf_shows_its_launch_action_and_attachments() -> None:
    # 369614d7...: /Launch and /JavaScript, two attached files named W2 and W2.pdf (PDFpen, per its metadata)
    view = run_worker("view_pdf", require_data("pdf/bad/369614d7c422201f2d1605f4befd452d"))
    assert {"javascript", "auto_action", "launch"} <= set(view["indicators"])
    assert view["pdf"]["embedded_files"] == ["W2", "W2.pdf"] and view["pdf"]["creator"] == "PDFpen"


def test_tampered_page_count_and_parse_failures_become_indicators() -> None:
    # d6972032...: the page tree says /Count 2 but holds one /Type /Page (pdfinfo trusts the 2)
    raw = require_data("pdf/bad/d697203216ab4d60b52ddbe0879750ea").read_bytes()
    assert re.findall(rb"/Count (\d+)", raw) == [b"2"] and len(re.findall(rb"/Type ?/Page\b(?!s)", raw)) == 1
    assert "page_count_mismatch" in run_worker("view_pdf", raw, filename="d697.pdf")["indicators"]
    broken = run_worker("view_pdf", b"JUNK%PDF-1.4\n/JavaScript", filename="x.pdf", type_tag="pdf")
    assert {"parse_error", "junk_before_header", "javascript"} <= set(broken["indicators"])
    assert broken["pdf"]["parse_error"].startswith("open: ")


def test_benign_pdf_has_no_risky_indicators_and_its_metadata() -> None:
    path = require_data("pdf/good/0f86e40a2da406862c49689d2847384b")
    view = run_worker("view_pdf", path)
    assert view["indicators"] == [] and view["risky_keywords"] == {}
    assert view["pdf"]["producer"] == "GPL Ghostscript 8.70" and view["pdf"]["page_count"] == 1
