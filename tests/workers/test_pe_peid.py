"""pe_peid: PEiD signatures at the entry point, checked against libmagic and peutils' own matcher."""

from __future__ import annotations

import os
from pathlib import Path

import magic
import pefile
import peutils
import pytest
import yara

from workbench.analysis.peid import decode_userdb
from workbench.exceptions import WorkerFailed
from workbench.server.planning import chain_plan
from workbench.testing import DATA_DIR, make_workbench, require_data, run_worker

USERDB = DATA_DIR / "signatures" / "peid_userdb.txt"
OPTIONS = {"pe_peid": {"database": str(USERDB)}}


def entry_point_offset(raw: bytes) -> int:
    """The entry point's file offset according to YARA's pe module (a parser independent of pefile)."""
    data: dict = {}

    def keep(module_data: dict) -> int:
        data.update(module_data)
        return yara.CALLBACK_CONTINUE

    yara.compile(source='import "pe" rule r { condition: pe.is_pe }').match(data=raw, modules_callback=keep)
    return data["entry_point"]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    require_data("signatures/peid_userdb.txt")
    paths = sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())
    workbench = make_workbench(tmp_path_factory.mktemp("pe_peid"), OPTIONS)
    try:
        return [{"path": path, "magic": magic.from_file(str(path)),
                 "output": workbench.work_request("pe_peid", workbench.store_sample(path.read_bytes(),
                                                                                    path.name))["pe_peid"]}
                for path in paths]
    finally:
        workbench.close()


def test_upx_signatures_match_exactly_the_files_libmagic_calls_upx(samples: list[dict]) -> None:
    by_peid = {s["path"].name for s in samples if any("UPX" in name for name in s["output"]["match_list"])}
    by_magic = {s["path"].name for s in samples if "UPX compressed" in s["magic"]}
    assert by_peid == by_magic and len(by_magic) == 4


def test_dotnet_samples_match_a_dotnet_signature(samples: list[dict]) -> None:
    dotnet = [s for s in samples if "Mono/.Net assembly" in s["magic"] and "PE32+" not in s["magic"]]
    hits = [s for s in dotnet if any(".NET" in name for name in s["output"]["match_list"])]
    assert len(hits) >= 4  # the 32-bit .NET samples start with the standard jmp _CorExeMain stub


def test_matches_equal_peutils_match_all_on_the_memory_mapped_image(samples: list[dict]) -> None:
    signatures = peutils.SignatureDatabase(data=decode_userdb(USERDB.read_bytes()))
    for sample in samples:
        groups = signatures.match_all(pefile.PE(str(sample["path"]), fast_load=True), ep_only=True) or []
        assert set(sample["output"]["match_list"]) == {name for group in groups for name in group}
        assert len(sample["output"]["match_list"]) == len(set(sample["output"]["match_list"]))
        assert sample["output"]["database"] == "peid_userdb.txt"


def test_an_unconfigured_database_fails_naming_the_config_key() -> None:
    good = next(iter(sorted(require_data("pe/good").iterdir())))
    with pytest.raises(WorkerFailed, match=r"\[worker\.pe_peid\] database"):
        run_worker("pe_peid", good, options={"pe_peid": {"database": ""}})


def test_a_missing_database_file_fails_naming_the_path(tmp_path: Path) -> None:
    good = next(iter(sorted(require_data("pe/good").iterdir())))
    missing = tmp_path / "nope.txt"
    with pytest.raises(WorkerFailed, match="nope.txt"):
        run_worker("pe_peid", good, options={"pe_peid": {"database": str(missing)}})


def test_a_gbk_named_signature_of_the_entry_point_bytes_matches_and_edits_are_picked_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server re-checks data files at most once a second; make it re-check on every request.
    monkeypatch.setattr(chain_plan, "DATA_FILE_CHECK_S", 0.0)
    sample = next(iter(sorted(require_data("pe/good").iterdir())))
    raw = sample.read_bytes()
    start = entry_point_offset(raw)
    pattern = " ".join(f"{b:02X}" for b in raw[start:start + 12])
    wildcarded = " ".join(["??"] * 2 + pattern.split()[2:])
    database = tmp_path / "userdb.txt"
    database.write_bytes(f"[测试 packer]\nsignature = {pattern}\nep_only = true\n\n".encode("gbk"))
    workbench = make_workbench(tmp_path, {"pe_peid": {"database": str(database)}})
    try:
        md5 = workbench.store_sample(raw, sample.name)
        assert workbench.work_request("pe_peid", md5)["pe_peid"]["match_list"] == ["测试 packer"]
        database.write_bytes(f"[Second]\nsignature = {wildcarded}\nep_only = true\n".encode())
        os.utime(database, ns=(1, 1))  # make sure the stamp changes even within one mtime tick
        assert workbench.work_request("pe_peid", md5)["pe_peid"]["match_list"] == ["Second"]
    finally:
        workbench.close()
