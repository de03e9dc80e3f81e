"""yara_sigs: YARA rule folders, checked against yara-python used directly and against libmagic."""

from __future__ import annotations

import os
from pathlib import Path

import magic
import pytest
import yara

from workbench.exceptions import WorkerFailed
from workbench.server.planning import chain_plan
from workbench.testing import DATA_DIR, make_workbench, require_data, run_worker

RULES = DATA_DIR / "signatures" / "yara"
OPTIONS = {"yara_sigs": {"rules_dir": str(RULES)}}
DOS_STUB_RULE = """
rule dos_stub : pe demo
{
    meta:
        author = "test"
        score = 7
    strings:
        $stub = "This program cannot be run in DOS mode"
        $mz = { 4D 5A }
    condition:
        $mz at 0 and $stub
}
"""


def pe_paths() -> list[Path]:
    return sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())


@pytest.fixture(scope="module")
def shared_rule_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    require_data("signatures/yara")
    workbench = make_workbench(tmp_path_factory.mktemp("yara_sigs"), OPTIONS)
    try:
        return {path: workbench.work_request("yara_sigs", workbench.store_sample(path.read_bytes(),
                                                                                 path.name))["yara_sigs"]
                for path in pe_paths()}
    finally:
        workbench.close()


def test_every_shared_rule_file_compiles_or_is_reported(shared_rule_outputs: dict[Path, dict]) -> None:
    files = [p for p in RULES.rglob("*") if p.suffix in (".yar", ".yara")]
    for output in shared_rule_outputs.values():
        assert output["rule_files"] + len(output["rule_errors"]) == len(files)


def test_the_upx_rule_matches_exactly_the_files_libmagic_calls_upx(shared_rule_outputs: dict[Path, dict]) -> None:
    hits = {path.name for path, output in shared_rule_outputs.items()
            if any(m["rule"] == "UPX" for m in output["match_list"])}
    assert hits == {path.name for path in shared_rule_outputs if "UPX compressed" in magic.from_file(str(path))}


def test_matches_equal_yara_python_run_on_each_rule_file_directly(shared_rule_outputs: dict[Path, dict]) -> None:
    direct = {p.relative_to(RULES).with_suffix("").as_posix(): yara.compile(filepath=str(p))
              for p in sorted(RULES.rglob("*.yar"))}
    for path, output in shared_rule_outputs.items():
        expected = sorted((namespace, m.rule) for namespace, rules in direct.items()
                          for m in rules.match(str(path)))
        assert sorted((m["namespace"], m["rule"]) for m in output["match_list"]) == expected, path.name


def test_matches_report_rule_tags_meta_and_string_offsets(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "stub.yar").write_text(DOS_STUB_RULE)
    sample = pe_paths()[0]
    raw = sample.read_bytes()
    output = run_worker("yara_sigs", sample, options={"yara_sigs": {"rules_dir": str(tmp_path / "rules")}})
    (match,) = output["match_list"]
    assert output["matches"] == {match["rule"]: match}  # the original's shape: keyed by rule
    assert (match["rule"], match["namespace"], match["tags"]) == ("dos_stub", "stub", ["pe", "demo"])
    assert match["meta"] == {"author": "test", "score": 7}
    offsets = {(s["identifier"], s["offset"]) for s in match["strings"]}
    assert ("$stub", raw.find(b"This program cannot be run in DOS mode")) in offsets
    assert ("$mz", 0) in offsets


def test_string_hits_are_capped_by_max_strings(tmp_path: Path) -> None:
    (tmp_path / "many.yar").write_text('rule zeros { strings: $z = { 00 00 00 00 } condition: $z }')
    output = run_worker("yara_sigs", b"\x00" * 4096, options={"yara_sigs": {"rules_dir": str(tmp_path),
                                                                           "max_strings": 5}})
    (match,) = output["match_list"]
    assert len(match["strings"]) == 5
    assert match["string_hits"] > 5
    assert [s["offset"] for s in match["strings"]] == sorted(s["offset"] for s in match["strings"])


def test_a_broken_rule_file_is_reported_and_the_others_still_match(tmp_path: Path) -> None:
    (tmp_path / "good.yar").write_text(DOS_STUB_RULE)
    (tmp_path / "broken.yar").write_text('import "no_such_module"\nrule broken { condition: true }')
    (tmp_path / "typo.yara").write_text("rule typo { condition: tru }")
    output = run_worker("yara_sigs", pe_paths()[0], options={"yara_sigs": {"rules_dir": str(tmp_path)}})
    assert [m["rule"] for m in output["match_list"]] == ["dos_stub"]
    assert sorted(e["file"] for e in output["rule_errors"]) == ["broken.yar", "typo.yara"]
    assert all(e["error"] for e in output["rule_errors"])
    assert output["rule_files"] == 1


def test_rules_are_recompiled_and_outputs_recomputed_when_a_rule_file_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server re-checks data files at most once a second; make it re-check on every request.
    monkeypatch.setattr(chain_plan, "DATA_FILE_CHECK_S", 0.0)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stub.yar").write_text(DOS_STUB_RULE)
    workbench = make_workbench(tmp_path, {"yara_sigs": {"rules_dir": str(rules)}})
    try:
        md5 = workbench.store_sample(pe_paths()[0].read_bytes(), "sample.exe")
        assert [m["rule"] for m in workbench.work_request("yara_sigs", md5)["yara_sigs"]["match_list"]] == ["dos_stub"]
        (rules / "extra.yar").write_text('rule always { condition: filesize > 0 }')
        after_add = workbench.work_request("yara_sigs", md5)["yara_sigs"]["match_list"]
        assert sorted(m["rule"] for m in after_add) == ["always", "dos_stub"]
        (rules / "extra.yar").write_text('rule never { condition: filesize == 0 }')
        os.utime(rules / "extra.yar", ns=(1, 1))
        after_edit = workbench.work_request("yara_sigs", md5)["yara_sigs"]["match_list"]
        assert [m["rule"] for m in after_edit] == ["dos_stub"]
    finally:
        workbench.close()


def test_an_unconfigured_rules_dir_fails_naming_the_config_key() -> None:
    with pytest.raises(WorkerFailed, match=r"\[worker\.yara_sigs\] rules_dir"):
        run_worker("yara_sigs", b"anything at all", options={"yara_sigs": {"rules_dir": ""}})


def test_a_missing_rules_dir_fails_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(WorkerFailed, match="no_rules_here"):
        run_worker("yara_sigs", b"anything", options={"yara_sigs": {"rules_dir": str(tmp_path / "no_rules_here")}})
