"""view_elf: a compact ELF summary that agrees with elf, libmagic and readelf; `view` dispatches to it."""

from __future__ import annotations

from pathlib import Path

import magic
import pytest
from elf_reference import dynamic, elf_files, header

from workbench.exceptions import WorkerFailed
from workbench.testing import make_workbench, run_worker


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    workbench = make_workbench(tmp_path_factory.mktemp("view_elf"))
    try:
        out = {}
        for path in elf_files():
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            out[path] = {"view": workbench.work_request("view", md5)["view"],
                         "elf": workbench.work_request("elf", md5)["elf"]}
        return out
    finally:
        workbench.close()


def test_view_dispatches_elf_samples_to_view_elf(results: dict[Path, dict]) -> None:
    for path, result in results.items():
        assert (result["view"]["view_worker"], result["view"]["type_tag"]) == ("view_elf", "elf"), path
        view = result["view"]["view"]
        # libmagic on a buffer (what meta reads) says less about ELF than on a file: 'shared object' for a PIE
        assert view["file_type"] == magic.from_buffer(path.read_bytes()[:1 << 20]), path
        assert view["file_type"].startswith("ELF ")
        assert view["length"] == path.stat().st_size


def test_key_facts_agree_with_readelf(results: dict[Path, dict]) -> None:
    for path, result in results.items():
        view, ref = result["view"]["view"]["elf"], header(path)
        assert view["class"] == ref["Class"] and view["type"] == ref["Type"].split()[0], path
        assert view["entry_point"] == int(ref["Entry point address"], 16), path
        assert view["libraries"] == dynamic(path).get("NEEDED", [])[:10], path
        assert view["number_of_sections"] == int(ref["Number of section headers"]), path


def test_security_packer_and_indicators_come_from_elf(results: dict[Path, dict]) -> None:
    for path, result in results.items():
        view, elf = result["view"]["view"], result["elf"]
        assert view["security"] == elf["security"], path
        assert view["packer"] == {"upx": False, "upx_version": None}
        assert ("stripped" in view["indicators"]) is elf["security"]["stripped"], path
        assert ("executable_stack" in view["indicators"]) is (not elf["security"]["nx"]), path
        assert ("no_relro" in view["indicators"]) is (elf["security"]["relro"] == "none"), path
        assert view["high_entropy_sections"] == {s["name"]: round(s["entropy"], 3) for s in elf["sections"]
                                                 if s["entropy"] >= 7.0}, path
        assert view["indicators"] == sorted(view["indicators"])


def test_an_exec_type_elf_is_flagged_no_pie_and_a_pe_is_not_applicable() -> None:
    raw = bytearray(Path("/bin/ls").read_bytes())
    raw[16:18] = (2).to_bytes(2, "little")  # e_type ET_EXEC
    view = run_worker("view_elf", bytes(raw))
    assert view["elf"]["type"] == "EXEC" and "no_pie" in view["indicators"] and not view["security"]["pie"]
    with pytest.raises(WorkerFailed, match="applies to type_tag elf"):
        run_worker("view_elf", b"MZ" + bytes(200), type_tag="exe")
