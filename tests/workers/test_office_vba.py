"""office_vba worker (issue 15): a macro written by the tests comes back with its exact source, its module list
matches olefile's listing of the VBA storage, and the verdicts match oletools' own command lines (olevba -j,
mraptor) run on the same files; Excel's default password is tried, other passwords are reported."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import olefile
import pytest
from document_samples import DEFAULT_PASSWORD, MACRO_SOURCE, OFFICE_DATA, built_samples, decrypt

from workbench.testing import run_worker

SHIPPED_MACRO = 'Sub Auto_Open()\r\n MsgBox "Hello World"\r\nEnd Sub'  # oletools' autostart test workbook


def _module_streams(vba_project: bytes) -> set[str]:
    """Module names per olefile: streams of the VBA storage except the project's own (MS-OVBA 2.2)."""
    with olefile.OleFileIO(vba_project) as ole:
        names = {path[-1] for path in ole.listdir() if len(path) >= 2 and path[-2] == "VBA"}
    return {n for n in names if n not in ("dir", "_VBA_PROJECT") and not n.startswith("__SRP_")}


def _olevba_cli(path: Path) -> list[dict]:
    """Macros per oletools' olevba command line (JSON mode; it decrypts with the default password itself)."""
    done = subprocess.run([sys.executable, "-m", "oletools.olevba", "-j", str(path)], capture_output=True,
                          text=True, timeout=120)
    reports = [r for r in json.loads(done.stdout) if r.get("type") not in (None, "MetaInformation")]
    return [m for r in reports for m in r.get("macros", [])]


def _code_lines(code: str) -> list[str]:
    """Source lines as the olevba command line shows them (it drops "Attribute VB_" lines and blank ones)."""
    return [line.rstrip() for line in code.splitlines() if line.strip() and not line.startswith("Attribute VB_")]


def _mraptor_cli(path: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "oletools.mraptor", str(path)], capture_output=True, text=True,
                          timeout=120)
    return done.stdout


@pytest.mark.parametrize("name", ["built-macro.docm", "built-macro.xlsm", "built-default-password.docm"])
def test_macro_written_here_comes_back_with_source_triggers_and_verdicts(name: str, tmp_path: Path) -> None:
    raw = built_samples()[name]
    output = run_worker("office_vba", raw, filename=name)
    plain = decrypt(raw, DEFAULT_PASSWORD) if name.startswith("built-default") else raw
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        project = archive.read(next(n for n in archive.namelist() if n.endswith("vbaProject.bin")))
    assert {m["name"].rsplit(".", 1)[0] for m in output["modules"]} == _module_streams(project)
    module = next(m for m in output["modules"] if m["name"] == "Modul1.bas")
    assert module["source"].rstrip() == MACRO_SOURCE.rstrip()
    assert output["analyzed"] is True and output["has_vba"] is True and output["has_xlm"] is False
    assert output["container"] == "OpenXML"
    assert [k["keyword"] for k in output["keywords"]["autoexec"]] == ["AutoOpen"]
    assert {"Shell", "Open", "Environ"} <= {k["keyword"] for k in output["keywords"]["suspicious"]}
    assert "http://example.invalid/workbench-test" in {k["keyword"] for k in output["keywords"]["iocs"]}
    assert output["keyword_counts"]["AutoExec"] == 1
    assert output["mraptor"]["verdict"] == "SUSPICIOUS" and output["mraptor"]["flags"] == "AWX"
    path = tmp_path / name
    path.write_bytes(raw)
    cli = {m["vba_filename"]: m["code"] for m in _olevba_cli(path)}
    assert _code_lines(cli["Modul1.bas"]) == _code_lines(module["source"])
    assert set(cli) == {m["name"] for m in output["modules"]}
    decrypted = tmp_path / f"plain-{name}"  # the mraptor command line does not try the default password
    decrypted.write_bytes(plain)
    report = _mraptor_cli(decrypted)
    assert "SUSPICIOUS" in report and "AWX" in report


@pytest.mark.parametrize("name", ["autostart-encrypt-standardpassword.xlsm", "autostart-encrypt-standardpassword.xls"])
def test_real_workbook_encrypted_with_the_default_password_shows_its_auto_open_macro(name: str) -> None:
    output = run_worker("office_vba", OFFICE_DATA / name)
    assert output["encryption"]["decrypted"] is True and output["encryption"]["password"] == DEFAULT_PASSWORD
    module = next(m for m in output["modules"] if m["name"] == "Modul1.bas")
    assert SHIPPED_MACRO in module["source"]
    assert [k["keyword"] for k in output["keywords"]["autoexec"]] == ["Auto_Open"]
    assert output["mraptor"] == {"verdict": "Macro OK", "flags": "A--", "autoexec": True, "write": False,
                                 "execute": False, "matches": ["Auto_Open"]}
    cli = {m["vba_filename"]: m["code"] for m in _olevba_cli(OFFICE_DATA / name)}
    assert _code_lines(cli["Modul1.bas"]) == _code_lines(module["source"])


@pytest.mark.parametrize("name", ["built-other-password.docm", "encrypted.docx"])
def test_document_encrypted_with_another_password_is_reported_not_analyzed(name: str) -> None:
    raw = built_samples().get(name) or (OFFICE_DATA / name).read_bytes()
    output = run_worker("office_vba", raw, filename=name)
    assert output["analyzed"] is False and output["modules"] == [] and output["mraptor"] is None
    assert output["encryption"]["encrypted"] is True and output["encryption"]["decrypted"] is False


@pytest.mark.parametrize("name", ["built-plain.docx", "embedded-simple-2007.doc"])
def test_document_without_macros_says_so(name: str) -> None:
    raw = built_samples().get(name) or (OFFICE_DATA / name).read_bytes()
    output = run_worker("office_vba", raw, filename=name)
    assert output["analyzed"] is True and output["has_vba"] is False and output["modules"] == []
    assert output["keyword_counts"] == {} and all(v == [] for v in output["keywords"].values())
    assert output["mraptor"]["verdict"] == "No Macro"


def test_excel4_macro_sheet_is_reported_as_xlm_with_its_formulas() -> None:
    """oletools' Excel 4 sample: a macro sheet whose Auto_Open formulas are ALERT(...) then HALT()."""
    output = run_worker("office_vba", OFFICE_DATA / "excel4_sample_macro.xls")
    assert output["has_vba"] is False and output["has_xlm"] is True
    assert [m["name"] for m in output["modules"]] == ["xlm_macro.txt"]
    source = output["modules"][0]["source"]
    assert 'Macro,A1,ALERT("This is a sample Excel 4 macro"),""' in source and "Macro,A2,HALT()" in source
    assert [k["keyword"] for k in output["keywords"]["autoexec"]] == ["Auto_Open"]
    assert "XLM macro" in {k["keyword"] for k in output["keywords"]["suspicious"]}
    cli = {m["vba_filename"]: m["code"] for m in _olevba_cli(OFFICE_DATA / "excel4_sample_macro.xls")}
    assert _code_lines(cli["xlm_macro.txt"]) == _code_lines(source)
