"""pdf worker: keyword counts against regex counts over the raw bytes, page counts against poppler's pdfinfo,
and robustness on every real PDF (pdf/bad holds live malware: read and parsed in memory only)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pypdf
import pytest

from workbench.testing import require_data, run_worker


def _pdfs(folder: str) -> list[Path]:
    return sorted(require_data(f"pdf/{folder}").iterdir())


@pytest.fixture(scope="module")
def real_outputs() -> dict[Path, dict]:
    """The worker's output for every real PDF, computed once for the module."""
    return {path: run_worker("pdf", path) for path in _pdfs("good") + _pdfs("bad")}


def _plain_name_count(raw: bytes, name: bytes) -> int:
    """Occurrences of a PDF name written without #xx escapes, not followed by more name characters."""
    return len(re.findall(re.escape(name) + rb"(?![A-Za-z0-9#])", raw))


def _pdfinfo_pages(path: Path) -> int | None:
    done = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=30)
    found = re.search(r"^Pages:\s+(\d+)", done.stdout, re.MULTILINE)
    return int(found.group(1)) if found else None


@pytest.mark.parametrize("folder", ["good", "bad"])
def test_every_real_pdf_gets_an_output_and_malformed_ones_report_parse_error(
        folder: str, real_outputs: dict[Path, dict]) -> None:
    parse_errors = 0
    for path in _pdfs(folder):
        output = real_outputs[path]
        json.dumps(output, allow_nan=False)  # storable as is
        assert output["structure"]["obj"] > 0
        if output["parse_error"] is None:
            assert output["page_count"] >= 1
        else:
            parse_errors += 1
            assert isinstance(output["parse_error"], str) and output["parse_error"]
    if folder == "good":
        assert parse_errors == 0
    else:  # four of them have no usable xref table or end mid-stream (pypdf and pdfinfo disagree on them)
        assert parse_errors >= 1


@pytest.mark.parametrize("folder", ["good", "bad"])
def test_risk_keyword_counts_match_a_regex_count_of_plain_names_in_the_raw_bytes(
        folder: str, real_outputs: dict[Path, dict]) -> None:
    for path in _pdfs(folder):
        raw = path.read_bytes()
        output = real_outputs[path]
        for name in ("/JavaScript", "/JS", "/OpenAction", "/EmbeddedFile", "/AcroForm"):
            plain = output["keywords"][name] - output["obfuscated"].get(name, 0)
            assert plain == _plain_name_count(raw, name.encode()), (path.name, name)
        endobj = len(re.findall(rb"(?<![A-Za-z0-9])endobj(?![A-Za-z0-9])", raw))
        assert output["structure"]["endobj"] == endobj, path.name


def test_hex_escaped_names_are_decoded_and_counted_as_obfuscated() -> None:
    # Hand count: /J#61vaScript twice and /#4a#53 once are obfuscated; /JavaScript once plain;
    # /J#61vaScriptX and /JSX are other names; "stream" inside "endstream" is not a word of its own.
    raw = (b"%PDF-1.4\n1 0 obj << /OpenAction 2 0 R /Names << /J#61vaScript 3 0 R >> >> endobj\n"
           b"2 0 obj << /S /J#61vaScript /#4a#53 (app.alert(1)) /JSX 1 >> endobj\n"
           b"3 0 obj << /S /JavaScript /J#61vaScriptX 1 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    output = run_worker("pdf", raw, filename="hex.pdf", type_tag="pdf")
    assert output["keywords"]["/JavaScript"] == 3
    assert output["keywords"]["/JS"] == 1
    assert output["keywords"]["/OpenAction"] == 1
    assert output["obfuscated"] == {"/JavaScript": 2, "/JS": 1}
    assert output["structure"]["obj"] == 3 and output["structure"]["endobj"] == 3
    assert output["structure"]["trailer"] == 1 and output["structure"]["xref"] == 0


def test_real_malicious_pdf_with_escaped_names_is_flagged_obfuscated() -> None:
    # 29ca22d9... writes /JavaScript and /OpenAction with #xx escapes (pdfid 1.1.3 reports the same)
    path = require_data("pdf/bad/29ca22d95d637d87f2384a06568e9ddf")
    raw = path.read_bytes()
    output = run_worker("pdf", path)
    assert output["obfuscated"]["/JavaScript"] >= 1
    assert _plain_name_count(raw, b"/JavaScript") == output["keywords"]["/JavaScript"] - \
        output["obfuscated"]["/JavaScript"]


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="pdfinfo missing: apt-get install poppler-utils")
def test_page_count_matches_pdfinfo(real_outputs: dict[Path, dict]) -> None:
    for path in _pdfs("good"):
        assert real_outputs[path]["page_count"] == _pdfinfo_pages(path), path.name
    for path in _pdfs("bad"):
        output, expected = real_outputs[path], _pdfinfo_pages(path)
        if expected is None or output["page_count"] is None:
            continue  # one of the two parsers gave up on this malformed file
        # pdfinfo reports the page tree's /Count when present (d6972032... says 2 but holds 1 page)
        declared = output["declared_page_count"]
        assert (declared if declared is not None else output["page_count"]) == expected, path.name


def test_header_version_and_offset_come_from_the_first_bytes(real_outputs: dict[Path, dict]) -> None:
    for path, output in real_outputs.items():
        raw = path.read_bytes()
        assert raw.startswith(b"%PDF-")
        assert output["header_version"] == raw[5:8].decode() and output["header_offset"] == 0
    junk = b"JUNK" * 10 + b"%PDF-1.7\n1 0 obj << >> endobj\n"
    output = run_worker("pdf", junk, filename="junk.pdf", type_tag="pdf")
    assert output["header_version"] == "1.7" and output["header_offset"] == 40


def test_unparseable_pdf_keeps_keyword_counts_and_records_the_parser_error() -> None:
    output = run_worker("pdf", b"%PDF-1.4\n/JavaScript /JS (payload", filename="broken.pdf", type_tag="pdf")
    assert output["parse_error"].startswith("open: ")
    assert output["page_count"] is None and output["metadata"] is None
    assert output["keywords"]["/JavaScript"] == 1 and output["keywords"]["/JS"] == 1


def _generated_pdf(**encrypt: str) -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_blank_page(200, 200)
    writer.add_attachment("payload.txt", b"hello")
    writer.add_metadata({"/Title": "hand made", "/Author": "test"})
    if encrypt:
        writer.encrypt(algorithm="RC4-128", **encrypt)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_metadata_pages_and_embedded_file_names_of_a_generated_pdf() -> None:
    output = run_worker("pdf", _generated_pdf(), filename="made.pdf", type_tag="pdf")
    assert output["page_count"] == 2 and output["declared_page_count"] == 2
    assert output["metadata"]["Title"] == "hand made" and output["metadata"]["Author"] == "test"
    assert output["embedded_files"] == ["payload.txt"]
    assert output["encrypted"] is False and output["encryption"] is None and output["parse_error"] is None
    assert output["keywords"]["/EmbeddedFile"] >= 1


def test_encrypted_pdf_opens_with_empty_user_password_and_reports_the_scheme() -> None:
    output = run_worker("pdf", _generated_pdf(user_password="", owner_password="owner"), type_tag="pdf")
    assert output["encrypted"] is True and output["keywords"]["/Encrypt"] >= 1
    assert output["encryption"]["Filter"] == "/Standard"
    assert output["encryption"]["opened_with_empty_password"] is True
    assert output["page_count"] == 2 and output["parse_error"] is None


def test_pdf_locked_by_a_user_password_says_so_in_parse_error() -> None:
    output = run_worker("pdf", _generated_pdf(user_password="secret", owner_password="owner"), type_tag="pdf")
    assert output["encrypted"] is True and output["encryption"]["opened_with_empty_password"] is False
    assert output["parse_error"].startswith("encrypted: ") and output["page_count"] is None
