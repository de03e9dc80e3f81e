"""url: URLs, domains, IPv4 addresses and e-mails from the strings output, on hand-built and real files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from workbench.testing import make_workbench, require_data, run_worker

# A hand-written "binary": indicators between NUL-separated noise, one URL also as UTF-16LE.
KNOWN = (
    b"\x00\x01junk\x00GET http://evil.example.com/gate.php?id=7 HTTP/1.1\x00\xff\xfe"
    b"\x00fallback https://198.51.100.23:8443/drop\x00mail: Admin@Mail.Example.ORG.\x00\x90\x90"
    b"\x00c2 = update.badhost.ru;\x00beacon 203.0.113.9\x00beacon 203.0.113.9\x00"
    + "http://wide.example.net/u".encode("utf-16-le")
    + b"\x00kernel32.dll\x00System.IO\x00main.py\x00version 6.1.7600.16385\x00bad 300.1.2.3\x00"
)


def values(output: dict, kind: str) -> dict[str, int]:
    return {item["value"]: item["count"] for item in output[kind]}


@pytest.fixture(scope="module")
def known_output(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("url") / "known.bin"
    path.write_bytes(KNOWN)
    return run_worker("url", path)


def test_urls_are_found_in_ascii_and_utf16_strings(known_output: dict) -> None:
    assert values(known_output, "urls") == {
        "http://evil.example.com/gate.php?id=7": 1,
        "https://198.51.100.23:8443/drop": 1,
        "http://wide.example.net/u": 1,
    }


def test_emails_are_lowercased_and_trailing_dot_dropped(known_output: dict) -> None:
    assert values(known_output, "emails") == {"admin@mail.example.org": 1}


def test_ipv4_addresses_are_counted_and_invalid_or_version_numbers_skipped(known_output: dict) -> None:
    # 203.0.113.9 twice; the URL's host once; 300.1.2.3 is not an address; 6.1.7600.16385 has 4+ parts
    assert values(known_output, "ipv4") == {"203.0.113.9": 2, "198.51.100.23": 1}


def test_domains_come_from_urls_emails_and_bare_names_but_not_files_or_namespaces(known_output: dict) -> None:
    assert values(known_output, "domains") == {
        "evil.example.com": 1,
        "wide.example.net": 1,
        "mail.example.org": 1,
        "update.badhost.ru": 1,
    }


def test_lists_are_sorted_and_total_counts_distinct_indicators(known_output: dict) -> None:
    for kind in ("urls", "domains", "ipv4", "emails"):
        listed = [item["value"] for item in known_output[kind]]
        assert listed == sorted(set(listed))
    assert known_output["total"] == 3 + 4 + 2 + 1


def test_every_indicator_found_in_real_pe_files_occurs_in_the_file(tmp_path: Path) -> None:
    paths = sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())[:10]
    workbench = make_workbench(tmp_path)
    try:
        found_any = 0
        for path in paths:
            raw = path.read_bytes().lower()
            output = workbench.work_request("url", workbench.store_sample(path.read_bytes(), path.name))["url"]
            for kind in ("urls", "domains", "ipv4", "emails"):
                for item in output[kind]:
                    text = item["value"].lower()
                    assert text.encode() in raw or text.encode("utf-16-le") in raw, (path.name, text)
                    assert item["count"] >= 1
                    found_any += 1
            for item in output["ipv4"]:
                ipaddress.IPv4Address(item["value"])
        assert found_any > 50  # the good PEs carry certificate URLs (verisign, digicert...)
    finally:
        workbench.close()
