"""rtf_objects worker (issue 15): OLE1 objects written into RTF by the tests (MS-OLEDS 2.2.4, hex in \\objdata)
come back as children holding the embedded bytes, with their class names; Word-style header variants and
documents without objects are handled."""

from __future__ import annotations

import hashlib
from pathlib import Path

from document_samples import OFFICE_DATA, PACKAGE_PAYLOAD, ole1_object, ole_native, rtf_bytes

from workbench.server.intake.type_tagger import guess_type_tag

EQUATION_NATIVE = b"\x1c\x00\x00\x00\x02\x00" + b"\0" * 26
INNER_DOC = b"A document carried in an RTF object\r\n" * 3



def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_package_and_equation_objects_are_children_with_the_bytes_written(workbench) -> None:
    objects = [ole1_object("Package", ole_native("readme.txt", PACKAGE_PAYLOAD, with_size=False)),
               ole1_object("Equation.3", EQUATION_NATIVE), ole1_object("Word.Document.8", INNER_DOC)]
    raw = rtf_bytes(objects)
    md5 = workbench.store_sample(raw, "letter.rtf")
    assert workbench.get_sample_info(md5)["type_tag"] == "rtf"
    output = workbench.work_request("rtf_objects", md5)["rtf_objects"]
    found = [(o["kind"], o["filename"], o["class_name"], o["md5"], o["size"]) for o in output["objects"]]
    assert found == [("ole_package", "readme.txt", "Package", _md5(PACKAGE_PAYLOAD), len(PACKAGE_PAYLOAD)),
                     ("ole_object", None, "Equation.3", _md5(EQUATION_NATIVE), len(EQUATION_NATIVE)),
                     ("ole_object", None, "Word.Document.8", _md5(INNER_DOC), len(INNER_DOC))]
    hex_at = [raw.index(obj.hex().encode()) for obj in objects]  # rtfobj's start: the \\objdata text, blank included
    assert all(at - 1 <= o["start"] <= at for o, at in zip(output["objects"], hex_at, strict=True))
    assert output["objects"][0]["src_path"] == "C:\\Users\\tester\\Documents\\readme.txt"
    assert output["indicators"] == ["equation_editor", "ole_package"]
    assert output["object_count"] == output["children_stored"] == 3
    assert sorted(workbench.get_children(md5)) == sorted({_md5(PACKAGE_PAYLOAD), _md5(EQUATION_NATIVE),
                                                          _md5(INNER_DOC)})
    assert workbench.get_sample_info(_md5(PACKAGE_PAYLOAD))["filename"] == "letter.rtf!/readme.txt"


def test_word_style_header_without_rtf1_is_tagged_rtf_and_flagged(workbench) -> None:
    raw = rtf_bytes([ole1_object("Package", ole_native("a.txt", b"hi", with_size=False))], header=b"{\\rtx")
    assert guess_type_tag(raw, "x.doc") == "rtf"
    md5 = workbench.store_sample(raw, "x.doc")
    output = workbench.work_request("rtf_objects", md5)["rtf_objects"]
    assert "header_not_rtf1" in output["indicators"]
    assert [o["md5"] for o in output["objects"]] == [_md5(b"hi")]


def test_rtf_without_objects_has_none(workbench) -> None:
    md5 = workbench.store_sample(b"{\\rtf1\\ansi Hello {\\b world}.\\par}", "plain.rtf")
    output = workbench.work_request("rtf_objects", md5)["rtf_objects"]
    assert output == {"md5": md5, "objects": [], "object_count": 0, "children_stored": 0, "indicators": []}


def test_object_bytes_naming_a_local_file_never_make_the_server_open_it(workbench, tmp_path: Path) -> None:
    """Unpatched, rtfobj passes short object bytes to olefile, which opens them as a path: this RTF would
    report the CLSID of a Word file on the server's own disk."""
    local = tmp_path / "local.doc"
    local.write_bytes((OFFICE_DATA / "embedded-simple-2007.doc").read_bytes())
    md5 = workbench.store_sample(rtf_bytes([ole1_object("Word.Document.8", str(local).encode())]), "probe.rtf")
    output = workbench.work_request("rtf_objects", md5)["rtf_objects"]
    assert [(o["clsid"], o["clsid_description"]) for o in output["objects"]] == [(None, None)]
    real = rtf_bytes([ole1_object("Word.Document.8", local.read_bytes())])  # the same file embedded: read
    output = workbench.work_request("rtf_objects", workbench.store_sample(real, "real.rtf"))["rtf_objects"]
    assert output["objects"][0]["clsid_description"] == "Microsoft Word 97-2003 Document (Word.Document.8)"
