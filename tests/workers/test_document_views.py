"""Issue 15 views and type tags: view dispatches doc/ooxml to view_office, rtf to view_rtf, email to
view_email; each view's whole output on a built sample; the type tagger tells OOXML from a plain zip by its
[Content_Types].xml, .msg from .doc, RTF and e-mail from text, and leaves the other types alone."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from document_samples import OFFICE_DATA, PACKAGE_PAYLOAD, REMOTE_TEMPLATE, built_samples

from workbench.server.intake.type_tagger import guess_type_tag
from workbench.testing import make_workbench, require_data


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """view's output for every built sample, through one in-process workbench."""
    bench = make_workbench(tmp_path_factory.mktemp("views"))
    try:
        return {name: bench.work_request("view", bench.store_sample(raw, name))["view"]
                for name, raw in built_samples().items()}
    finally:
        bench.close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.mark.parametrize(("name", "tag", "view"), [
    ("built-macro.docm", "ooxml", "view_office"), ("built-macro.xlsm", "ooxml", "view_office"),
    ("built-plain.docx", "ooxml", "view_office"), ("built-default-password.docm", "doc", "view_office"),
    ("built-other-password.docm", "doc", "view_office"), ("built-objects.rtf", "rtf", "view_rtf"),
    ("built-attachments.eml", "email", "view_email"), ("built-outlook.msg", "email", "view_email")])
def test_view_dispatches_each_document_type_to_its_view(views: dict, name: str, tag: str, view: str) -> None:
    assert (views[name]["type_tag"], views[name]["view_worker"]) == (tag, view)


def test_view_office_summarises_a_macro_document(views: dict) -> None:
    raw = built_samples()["built-macro.docm"]
    assert views["built-macro.docm"]["view"] == {
        "md5": _md5(raw), "filename": "built-macro.docm", "file_type": "Microsoft Word 2007+", "length": len(raw),
        "document": {"container": "ooxml", "application": "word", "title": "Quarterly report",
                     "author": "Workbench Tests", "last_saved_by": "Second Author", "created": "2013-12-23T23:15:00Z",
                     "modified": "2013-12-23T23:15:00Z", "template": "Normal.dotm"},
        "encryption": {"encrypted": False, "decrypted": False, "password": None},
        "macros": {"has_vba": True, "has_xlm": False, "modules": ["Modul1.bas", "DieseArbeitsmappe.cls",
                                                                  "Tabelle1.cls"],
                   "autoexec": ["AutoOpen"],
                   "suspicious": ["Environ", "Open", "Output", "Print #", "Shell", "Hex Strings", "Base64 Strings"],
                   "iocs": 2, "mraptor": {"verdict": "SUSPICIOUS", "flags": "AWX"}},
        "objects": [{"kind": "ole_package", "filename": "readme.txt", "md5": _md5(PACKAGE_PAYLOAD),
                     "size": len(PACKAGE_PAYLOAD)}],
        "object_count": 1,
        "external_relationships": [{"part": "word/_rels/document.xml.rels", "type": "attachedTemplate",
                                    "target": REMOTE_TEMPLATE}],
        "indicators": ["autoexec", "embedded_objects", "external_relationships", "mraptor_suspicious",
                       "ole_package", "suspicious_keywords", "vba_macros"],
    }


def test_view_office_on_encrypted_documents(views: dict) -> None:
    opened = views["built-default-password.docm"]["view"]
    assert opened["encryption"] == {"encrypted": True, "decrypted": True, "password": "VelvetSweatshop"}
    assert {"encrypted", "default_password", "vba_macros", "mraptor_suspicious"} <= set(opened["indicators"])
    locked = views["built-other-password.docm"]["view"]
    assert locked["macros"] is None and locked["objects"] == []
    assert locked["indicators"] == ["encrypted", "encrypted_unreadable"]


def test_view_rtf_and_view_email_summaries(views: dict) -> None:
    rtf = views["built-objects.rtf"]["view"]
    assert [(o["kind"], o["filename"], o["class_name"]) for o in rtf["objects"]] == [
        ("ole_package", "readme.txt", "Package"), ("ole_object", None, "Equation.3")]
    assert rtf["object_count"] == 2 and rtf["indicators"] == ["equation_editor", "ole_package"]
    mail = views["built-attachments.eml"]["view"]
    assert mail["from"] == ["Alice Sender <alice@example.net>"]
    assert mail["to"] == ["Bob <bob@example.com>", "carol@example.com"]
    assert mail["reply_to"] == ["payments@example.org"] and mail["hops"] == 3
    assert mail["first_hop"] == {"from": "[203.0.113.5] (helo=sender-pc)", "by": "relay.example.net"}
    assert mail["body_urls"] == ["http://help.example.net/faq", "http://tracker.example.com/open.gif",
                                 "https://pay.example.org/invoice?id=4711"]
    assert [a["filename"] for a in mail["attachments"]] == ["invoice.docm", "notes.txt"]
    assert mail["attachment_count"] == 2 and mail["indicators"] == ["has_attachments", "reply_to_differs"]
    outlook = views["built-outlook.msg"]["view"]
    assert (outlook["format"], outlook["subject"], outlook["attachment_count"]) == ("msg", "Outlook invoice", 1)


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_type_tags_tell_documents_from_zips_and_text() -> None:
    docx = built_samples()["built-plain.docx"]
    assert guess_type_tag(docx, "a.docx") == "ooxml"
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    reordered = _zip({n: members[n] for n in sorted(members, reverse=True)})  # [Content_Types].xml not first
    assert guess_type_tag(reordered, "a.zip") == "ooxml"
    without_types = _zip({n: d for n, d in members.items() if n != "[Content_Types].xml"})
    assert guess_type_tag(without_types, "a.docx") == "zip"
    assert guess_type_tag(_zip({"[Content_Types].xml": b"<Types/>", "lib/a.dll": b"x"}), "a.nupkg") == "zip"
    assert guess_type_tag((OFFICE_DATA / "embedded-simple-2007.doc").read_bytes()) == "doc"
    assert guess_type_tag(built_samples()["built-outlook.msg"], "x.bin") == "email"
    assert guess_type_tag(b"From: a@example.com\nSubject: hi\n\nbody\n", "x.txt") == "email"  # libmagic
    headers_only = b"Subject: hi\nFrom: a@example.com\nTo: b@example.com\n\nbody\n"  # libmagic: ASCII text
    assert guess_type_tag(headers_only, "x.txt") == "email"
    assert guess_type_tag(headers_only.replace(b"To: b@example.com\n", b""), "x.txt") == "txt"
    assert guess_type_tag(headers_only.replace(b"To: b@example.com\n", b""), "x.eml") == "email"
    assert guess_type_tag(b"just some words\nand more\n", "x.eml") == "txt"
    assert guess_type_tag(b"{\\rtf1\\ansi hi}", "x.txt") == "rtf"


def test_type_tags_of_the_shared_samples_are_unchanged() -> None:
    expected = {"zip/good.zip": "zip", "pdf": "pdf", "pcap": "pcap", "swf": "swf", "bro": "bro", "json": "json"}
    for relative, tag in expected.items():
        path = require_data(relative)
        for sample in ([path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())[:5]):
            assert guess_type_tag(sample.read_bytes(), sample.name) == tag, sample


def test_office_test_data_licence_is_shipped() -> None:
    assert "Philippe Lagadec" in Path(OFFICE_DATA / "LICENSE-oletools.md").read_text()


NEW_WORKERS = ("office_meta", "office_vba", "office_objects", "rtf_objects", "email_meta", "view_office",
               "view_rtf", "view_email")


def test_help_documents_each_new_worker_through_the_server(server) -> None:
    client = server.client()
    listed = {w["name"]: w for w in client.list_all_workers()}
    for name in NEW_WORKERS:
        assert listed[name]["status"] == "ok", listed[name]
        text = client.help(name)
        assert text.startswith(f"worker {name}  [ok]") and "Returns" in text, text[:300]
    assert "VelvetSweatshop" in client.help("office_vba") and "view_office" in client.help("view_office")
