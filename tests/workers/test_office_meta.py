"""office_meta worker (issue 15): OLE metadata against libmagic's reading of the same property sets and
olefile's stream listing, OOXML parts against zipfile and properties against python-docx/openpyxl reading them
back, encryption against msoffcrypto-tool's own decryption (real oletools test documents and built ones)."""

from __future__ import annotations

import io
import re
import zipfile

import olefile
import openpyxl
import pytest
from document_samples import DEFAULT_PASSWORD, OFFICE_DATA, REMOTE_TEMPLATE, built_samples, decrypt
from docx.opc.package import OpcPackage

from workbench.exceptions import WorkerFailed
from workbench.server.intake.type_tagger import describe
from workbench.testing import run_worker


def _magic_fields(raw: bytes) -> dict[str, str]:
    """libmagic's rendering of the OLE SummaryInformation ("Author: user, Last Saved By: user, ...")."""
    return dict(re.findall(r"(Author|Last Saved By|Revision Number|Template|Number of Pages): ([^,]+)",
                           describe(raw)))


@pytest.mark.parametrize("name", ["embedded-simple-2007.doc", "autostart-encrypt-standardpassword.xls"])
def test_ole_metadata_and_streams_match_libmagic_and_olefile(name: str) -> None:
    raw = (OFFICE_DATA / name).read_bytes()
    output = run_worker("office_meta", raw, filename=name)
    plain = decrypt(raw, DEFAULT_PASSWORD) if output["encryption"]["encrypted"] else raw
    magic = _magic_fields(plain)
    metadata = output["metadata"]
    assert magic["Author"] == metadata["author"] and magic["Last Saved By"] == metadata["last_saved_by"]
    if "Revision Number" in magic:
        assert magic["Revision Number"] == metadata["revision_number"]
        assert int(magic["Number of Pages"]) == metadata["num_pages"]
        assert magic["Template"] == metadata["template"]
    with olefile.OleFileIO(plain) as ole:
        streams = [{"path": "/".join(p), "size": ole.get_size(p)} for p in ole.listdir()]
    assert output["streams"] == streams and output["stream_count"] == len(streams)
    assert output["container"] == "ole"
    assert output["application"] == ("word" if name.endswith(".doc") else "excel")


def test_ooxml_parts_and_properties_match_zipfile_python_docx_and_openpyxl() -> None:
    for name in ("built-macro.docm", "built-macro.xlsm"):
        raw = built_samples()[name]
        output = run_worker("office_meta", raw, filename=name)
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            assert output["parts"] == [{"name": i.filename, "size": i.file_size} for i in archive.infolist()]
        assert output["part_count"] == len(output["parts"]) and output["macro_enabled"] is True
        metadata = output["metadata"]
        if name.endswith(".docm"):
            core = OpcPackage.open(io.BytesIO(raw)).core_properties  # python-docx's OPC reader
            assert (metadata["title"], metadata["creator"], metadata["lastModifiedBy"]) == \
                (core.title, core.author, core.last_modified_by)
            assert output["application"] == "word"
            assert output["content_type"] == "application/vnd.ms-word.document.macroEnabled.main+xml"
            assert output["external_relationships"] == [
                {"part": "word/_rels/document.xml.rels", "type": "attachedTemplate", "target": REMOTE_TEMPLATE}]
        else:
            properties = openpyxl.load_workbook(io.BytesIO(raw)).properties
            assert (metadata["title"], metadata["creator"]) == (properties.title, properties.creator)
            assert output["application"] == "excel" and output["external_relationships"] == []
            assert output["content_type"] == "application/vnd.ms-excel.sheet.macroEnabled.main+xml"


def test_plain_docx_is_not_macro_enabled() -> None:
    output = run_worker("office_meta", built_samples()["built-plain.docx"], filename="plain.docx")
    assert output["macro_enabled"] is False and output["external_relationships"] == []
    assert output["encryption"] == {"encrypted": False, "method": None, "decrypted": False, "password": None,
                                    "error": None}


def test_default_password_document_is_decrypted_and_described_as_the_plain_one() -> None:
    samples = built_samples()
    encrypted = run_worker("office_meta", samples["built-default-password.docm"], filename="enc.docm")
    plain = run_worker("office_meta", decrypt(samples["built-default-password.docm"], DEFAULT_PASSWORD),
                       filename="plain.docm")
    assert encrypted["encryption"] == {"encrypted": True, "method": "agile", "decrypted": True,
                                       "password": DEFAULT_PASSWORD, "error": None}
    assert {k: v for k, v in encrypted.items() if k != "encryption"} == \
        {k: v for k, v in plain.items() if k != "encryption"}
    shipped = run_worker("office_meta", OFFICE_DATA / "autostart-encrypt-standardpassword.xlsm")
    assert shipped["encryption"]["decrypted"] and shipped["container"] == "ooxml"
    assert shipped["metadata"]["creator"] == "schulung" and "xl/vbaProject.bin" in \
        {part["name"] for part in shipped["parts"]}


@pytest.mark.parametrize("name", ["built-other-password.docm", "encrypted.docx"])
def test_document_encrypted_with_another_password_is_flagged_not_opened(name: str) -> None:
    raw = built_samples().get(name) or (OFFICE_DATA / name).read_bytes()
    output = run_worker("office_meta", raw, filename=name)
    assert output["encryption"]["encrypted"] is True and output["encryption"]["decrypted"] is False
    assert output["encryption"]["password"] is None
    assert output["encryption"]["error"].startswith("InvalidKeyError")
    assert output["container"] == "ole" and output["application"] == "encrypted_ooxml"
    assert {s["path"] for s in output["streams"]} >= {"EncryptionInfo", "EncryptedPackage"}
    if name.startswith("built"):  # really encrypted: msoffcrypto opens it with the right password
        assert decrypt(raw, "s3cret-Passw0rd") == built_samples()["built-macro.docm"]


def test_bytes_that_are_no_office_document_fail_with_a_clear_message() -> None:
    with pytest.raises(WorkerFailed, match=r"not an Office document: starts with 68656c6c6f.*type_tag"):
        run_worker("office_meta", b"hello world", type_tag="doc")
