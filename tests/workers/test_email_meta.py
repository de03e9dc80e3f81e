"""email_meta worker (issue 15): an .eml built with the stdlib against eml-parser's independent reading (headers,
Received hops, addresses, body URLs, attachment hashes), and an Outlook .msg written property by property against
the values written and olefile's reading of its attachment stream; attachments become child samples."""

from __future__ import annotations

import email
import hashlib
from email.message import EmailMessage

import eml_parser
import olefile
from document_samples import built_samples, eml_bytes, msg_bytes


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_eml_matches_eml_parser_and_attachments_are_children(workbench) -> None:
    raw = built_samples()["built-attachments.eml"]
    reference = eml_parser.EmlParser(include_raw_body=True, include_attachment_data=True).decode_email_bytes(raw)
    header = reference["header"]
    md5 = workbench.store_sample(raw, "invoice.eml")
    assert workbench.get_sample_info(md5)["type_tag"] == "email"
    output = workbench.work_request("email_meta", md5)["email_meta"]
    assert output["format"] == "eml" and output["subject"] == header["subject"]
    assert [a["address"] for a in output["from"]] == [header["from"]]
    assert [a["address"] for a in output["to"]] == header["to"]
    assert [a["address"] for a in output["cc"]] == header["cc"]
    assert [a["address"] for a in output["reply_to"]] == ["payments@example.org"]
    assert output["message_id"] == "<4711.test@example.net>"
    assert len(output["received"]) == len(header["received"]) == 3
    for mine, theirs in zip(output["received"], header["received"], strict=True):
        assert mine["by"].split()[0].lower() == theirs["by"][0]
        assert mine["raw"].lower() == theirs["src"]
    assert output["received"][-1]["from"].startswith("[203.0.113.5]")
    urls = sorted({u for part in reference["body"] for u in part.get("uri", [])})
    assert [u["value"] for u in output["body_urls"]] == urls
    expected = {a["filename"]: a["hash"]["md5"] for a in reference["attachment"]}
    assert {a["filename"]: a["md5"] for a in output["attachments"]} == expected
    assert sorted(workbench.get_children(md5)) == sorted(expected.values())
    docm = next(a for a in output["attachments"] if a["filename"] == "invoice.docm")
    assert workbench.get_sample_info(docm["md5"])["filename"] == "invoice.eml!/invoice.docm"
    assert workbench.get_sample_info(docm["md5"])["type_tag"] == "ooxml"
    assert output["indicators"] == ["has_attachments", "reply_to_differs"]
    assert {h["name"].lower() for h in output["headers"]} == set(header["header"])
    assert output["header_count"] == len(output["headers"]) == 12


def test_msg_values_and_attachment_match_what_was_written(workbench) -> None:
    payload = b"attached file written into an Outlook message\r\n" * 4
    raw = msg_bytes(("report.pdf", payload))
    with olefile.OleFileIO(raw) as ole:  # olefile's reading of the attachment's data stream
        stream = ole.openstream(["__attach_version1.0_#00000000", "__substg1.0_37010102"]).read()
    assert stream == payload
    md5 = workbench.store_sample(raw, "outlook.msg")
    assert workbench.get_sample_info(md5)["type_tag"] == "email"
    output = workbench.work_request("email_meta", md5)["email_meta"]
    assert output["format"] == "msg" and output["subject"] == "Outlook invoice"
    assert output["from"] == [{"name": "Alice Sender", "address": "alice@example.net"}]
    assert output["to"] == [{"name": "Bob", "address": "bob@example.com"}]
    assert output["message_id"] == "<msg.4711@example.net>"
    assert [(r["from"], r["by"]) for r in output["received"]] == [("mx.example.org", "mail.example.com")]
    assert output["text_body"] == "Pay at https://pay.example.org/outlook?id=1 please."
    assert output["body_urls"] == [{"value": "https://pay.example.org/outlook?id=1", "count": 1}]
    assert [(a["filename"], a["size"], a["md5"]) for a in output["attachments"]] == \
        [("report.pdf", len(payload), _md5(payload))]
    assert workbench.get_children(md5) == [_md5(payload)]


def test_message_without_received_or_attachments_is_flagged_as_such(workbench) -> None:
    raw = (b"From: a@example.com\nTo: b@example.com\nSubject: =?utf-8?b?UmVjaG51bmcgZsOkbGxpZw==?=\n"
           b"Date: Tue, 1 Dec 2026 10:00:00 +0000\n\nhello\n")
    md5 = workbench.store_sample(raw, "note.eml")
    output = workbench.work_request("email_meta", md5)["email_meta"]
    assert output["received"] == [] and output["attachments"] == [] and output["indicators"] == ["no_received"]
    assert output["text_body"] == "hello\n" and output["cc"] == [] and output["body_urls"] == []
    assert output["subject"] == "Rechnung f\u00e4llig"  # RFC 2047 encoded word, decoded


def test_html_only_message_urls_come_from_the_html_and_inline_parts_are_attachments(workbench) -> None:
    base = eml_bytes()
    head, _, _ = base.partition(b"\nMIME-Version")
    raw = head + (b'\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary="b"\n\n--b\n'
                  b'Content-Type: text/html\n\n<a href="http://only.example.org/x">x</a>\n--b\n'
                  b'Content-Type: image/png\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n')
    md5 = workbench.store_sample(raw, "html.eml")
    output = workbench.work_request("email_meta", md5)["email_meta"]
    assert "html_only" in output["indicators"]
    assert output["body_urls"] == [{"value": "http://only.example.org/x", "count": 1}]
    assert [(a["filename"], a["content_type"], a["md5"]) for a in output["attachments"]] == \
        [("part-1", "image/png", _md5(b"hello"))]


def test_forwarded_message_is_one_attachment_holding_the_original(workbench) -> None:
    inner = eml_bytes({"invoice.docm": ("application/octet-stream", b"inner attachment")})
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "user@example.com", "soc@example.com", "FW: suspicious"
    outer.set_content("Reporting this one.\n")
    outer.add_attachment(email.message_from_bytes(inner))  # message/rfc822, as mail clients forward
    md5 = workbench.store_sample(outer.as_bytes(), "report.eml")
    output = workbench.work_request("email_meta", md5)["email_meta"]
    assert [(a["filename"], a["content_type"]) for a in output["attachments"]] == [("message-1", "message/rfc822")]
    child = output["attachments"][0]["md5"]
    assert workbench.get_sample_info(child)["type_tag"] == "email"
    forwarded = workbench.work_request("email_meta", child)["email_meta"]
    assert forwarded["subject"] == "Invoice 4711 overdue"
    assert [a["md5"] for a in forwarded["attachments"]] == [_md5(b"inner attachment")]
