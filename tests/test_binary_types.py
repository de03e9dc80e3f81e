"""Issue 15: ELF and Mach-O get their own type tags (libmagic plus magic-byte checks) and documented workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.server.intake.type_tagger import TYPE_TAGS, describe, guess_type_tag
from workbench.server.rpc.rpc_service import WorkbenchRPC
from workbench.testing import REPO_ROOT, make_workbench, require_data

DATA = REPO_ROOT / "tests" / "data"
MACHOS = sorted((DATA / "macho").glob("*.so"))
ELFS = [Path("/bin/ls"), Path("/lib/x86_64-linux-gnu/libc.so.6"), *sorted((DATA / "elf").glob("*.so"))]
NEW_WORKERS = ("elf", "view_elf", "macho", "view_macho", "pe_authenticode", "pe_dotnet")


def test_elf_and_macho_are_type_tags() -> None:
    assert {"elf", "macho"} <= set(TYPE_TAGS)


@pytest.mark.parametrize("path", [p for p in ELFS if p.exists()], ids=lambda p: p.name)
def test_elf_files_are_tagged_elf_whole_and_cut_short(path: Path) -> None:
    raw = path.read_bytes()
    assert describe(raw).startswith("ELF ")
    assert guess_type_tag(raw) == guess_type_tag(raw[:16]) == "elf"


@pytest.mark.parametrize("path", MACHOS, ids=lambda p: p.name)
def test_macho_files_are_tagged_macho_whole_and_cut_short(path: Path) -> None:
    raw = path.read_bytes()
    assert "Mach-O" in describe(raw)
    assert guess_type_tag(raw) == guess_type_tag(raw[:8]) == "macho"


def test_a_java_class_file_is_not_taken_for_a_fat_macho() -> None:
    java_class = b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(200)  # version 52: Java 8
    assert "Java" in describe(java_class)
    assert guess_type_tag(java_class) == "data"


def test_pes_and_other_samples_keep_their_tags() -> None:
    pe = sorted(require_data("pe/good").iterdir())[0]
    assert guess_type_tag(pe.read_bytes()) == "exe"
    assert guess_type_tag(b"ELF is a word in this text file\n" * 3) == "txt"


def test_help_documents_each_new_worker(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        rpc = WorkbenchRPC(workbench)
        index = rpc.help()
        for name in NEW_WORKERS:
            worker = workbench.plugins.get(name)
            assert worker.doc and f"  {name} " in index
            text = rpc.help(name)
            assert text.startswith(f"worker {name}  [ok]"), text
            assert all(line.strip() in text for line in worker.doc.splitlines())
    finally:
        workbench.close()
