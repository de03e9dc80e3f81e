"""view_pe: a compact PE summary, checked against libmagic and YARA's pe module."""

from __future__ import annotations

import time
from pathlib import Path

import magic
import pytest
import yara

from workbench.exceptions import WorkerFailed
from workbench.testing import DATA_DIR, make_workbench, require_data, run_worker

OPTIONS = {"pe_peid": {"database": str(DATA_DIR / "signatures" / "peid_userdb.txt")},
           "yara_sigs": {"rules_dir": str(DATA_DIR / "signatures" / "yara")}}


def yara_pe(raw: bytes) -> dict:
    data: dict = {}

    def keep(module_data: dict) -> int:
        data.update(module_data)
        return yara.CALLBACK_CONTINUE

    yara.compile(source='import "pe" rule r { condition: pe.is_pe }').match(data=raw, modules_callback=keep)
    return data


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    require_data("signatures")
    paths = sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())
    workbench = make_workbench(tmp_path_factory.mktemp("view_pe"), OPTIONS)
    try:
        return {p: workbench.work_request("view_pe", workbench.store_sample(p.read_bytes(), p.name))["view_pe"]
                for p in paths}
    finally:
        workbench.close()


def test_every_pe_gets_a_view_with_libmagics_file_type(views: dict[Path, dict]) -> None:
    assert len(views) == 84
    for path, view in views.items():
        assert view["file_type"] == magic.from_file(str(path))
        assert view["length"] == path.stat().st_size
        if len(path.name) == 32:
            assert view["md5"] == path.name


def test_machine_and_flags_agree_with_libmagic(views: dict[Path, dict]) -> None:
    for view in views.values():
        expected = "amd64" if "x86-64" in view["file_type"] else "i386"
        assert view["pe"]["machine"] == expected
        assert view["pe"]["is_pe32_plus"] == view["file_type"].startswith("PE32+")


def test_compile_date_and_sections_agree_with_yaras_pe_module(views: dict[Path, dict]) -> None:
    for path, view in views.items():
        module = yara_pe(path.read_bytes())
        assert view["pe"]["compile_date"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(module["timestamp"]))
        assert view["pe"]["number_of_sections"] == module["number_of_sections"]


def test_upx_files_show_upx_in_indicators_peid_and_yara(views: dict[Path, dict]) -> None:
    upx = [view for view in views.values() if "UPX compressed" in view["file_type"]]
    assert len(upx) == 4
    for view in upx:
        assert any("UPX" in line for line in view["indicators"])
        assert any("UPX" in name for name in view["peid"])
        assert "rules/upx_packer_techanarchy:UPX" in view["yara"]
        assert view["max_severity"] == 3
        assert view["pe"]["entry_point_section"].startswith("UPX")


def test_view_lists_are_compact(views: dict[Path, dict]) -> None:
    for view in views.values():
        assert len(view["peid"]) <= 5
        assert all(isinstance(line, str) and line.startswith("[") for line in view["indicators"])


def test_the_generic_view_dispatches_exe_samples_to_view_pe(views: dict[Path, dict], tmp_path: Path) -> None:
    path = next(iter(views))
    workbench = make_workbench(tmp_path, OPTIONS)
    try:
        result = workbench.work_request("view", workbench.store_sample(path.read_bytes(), path.name))["view"]
    finally:
        workbench.close()
    assert result["view_worker"] == "view_pe"
    assert result["view"] == views[path]


def test_a_text_sample_is_not_applicable() -> None:
    with pytest.raises(WorkerFailed, match="applies to type_tag exe"):
        run_worker("view_pe", b"plain text, not a PE\n" * 20, options=OPTIONS)
