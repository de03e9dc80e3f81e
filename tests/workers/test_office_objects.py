"""office_objects worker (issue 15): OLE packages and embedded parts become child samples whose bytes are the
files embedded by the tests, or, in oletools' real test documents, the files oletools' own oleobj command
extracts; a document opened with the default password is stored decrypted as a child too."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from document_samples import DEFAULT_PASSWORD, OFFICE_DATA, PACKAGE_PAYLOAD, built_samples, decrypt


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_ole_package_in_a_docx_embedding_is_a_child_with_its_payload(workbench) -> None:
    md5 = workbench.store_sample(built_samples()["built-macro.docm"], "invoice.docm")
    output = workbench.work_request("office_objects", md5)["office_objects"]
    assert output["objects"] == [{
        "source": "word/embeddings/oleObject1.bin/\x01Ole10Native", "kind": "ole_package", "filename": "readme.txt",
        "md5": _md5(PACKAGE_PAYLOAD), "size": len(PACKAGE_PAYLOAD),
        "src_path": "C:\\Users\\tester\\Documents\\readme.txt",
        "temp_path": "C:\\Users\\tester\\AppData\\Local\\Temp\\readme.txt", "declared_size": len(PACKAGE_PAYLOAD)}]
    assert output["object_count"] == output["children_stored"] == 1 and output["skipped"] == []
    assert workbench.get_children(md5) == [_md5(PACKAGE_PAYLOAD)]
    assert workbench.get_sample_info(_md5(PACKAGE_PAYLOAD))["filename"] == "invoice.docm!/readme.txt"


def test_embedded_document_part_is_a_child_with_the_bytes_zipfile_reads(workbench) -> None:
    raw = built_samples()["built-macro.xlsm"]
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        embedded = archive.read("xl/embeddings/Microsoft_Word_Document.docx")
    md5 = workbench.store_sample(raw, "budget.xlsm")
    output = workbench.work_request("office_objects", md5)["office_objects"]
    assert [(o["kind"], o["filename"], o["md5"]) for o in output["objects"]] == [
        ("embedded_part", "Microsoft_Word_Document.docx", _md5(embedded))]
    assert workbench.get_sample_info(_md5(embedded))["type_tag"] == "ooxml"


@pytest.mark.parametrize("name", ["embedded-simple-2007.doc", "embedded-simple-2007.docx"])
def test_real_documents_packages_match_what_oleobj_extracts(workbench, name: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "oleobj"
    subprocess.run([sys.executable, "-m", "oletools.oleobj", "-d", str(out_dir), str(OFFICE_DATA / name)],
                   capture_output=True, timeout=120, check=False)
    expected = sorted(_md5(p.read_bytes()) for p in out_dir.iterdir())
    assert expected, "oleobj extracted nothing: the reference is missing"
    md5 = workbench.store_sample((OFFICE_DATA / name).read_bytes(), name)
    output = workbench.work_request("office_objects", md5)["office_objects"]
    packages = [o for o in output["objects"] if o["kind"] == "ole_package"]
    assert sorted(o["md5"] for o in packages) == expected
    assert [o["filename"] for o in packages] == ["simple-text-file.txt"]
    assert sorted(workbench.get_children(md5)) == expected


def test_default_password_document_is_stored_decrypted_and_searched(workbench) -> None:
    raw = built_samples()["built-default-password.docm"]
    md5 = workbench.store_sample(raw, "locked.docm")
    output = workbench.work_request("office_objects", md5)["office_objects"]
    plain = decrypt(raw, DEFAULT_PASSWORD)
    assert [(o["kind"], o["md5"]) for o in output["objects"]] == [("decrypted", _md5(plain)),
                                                                  ("ole_package", _md5(PACKAGE_PAYLOAD))]
    assert sorted(workbench.get_children(md5)) == sorted([_md5(plain), _md5(PACKAGE_PAYLOAD)])
    assert workbench.get_sample_info(_md5(plain))["type_tag"] == "ooxml"


def test_document_encrypted_with_another_password_gives_no_objects(workbench) -> None:
    md5 = workbench.store_sample(built_samples()["built-other-password.docm"], "locked.docm")
    output = workbench.work_request("office_objects", md5)["office_objects"]
    assert output["objects"] == [] and output["encryption"]["decrypted"] is False
    assert workbench.get_children(md5) == []
