"""The independent Mach-O reference: LLVM's llvm-objdump and llvm-nm (Debian package llvm), parsed into dicts.

The test files are real macOS binaries from MarkupSafe's macOS wheels, shipped in tests/data/macho (see its
README): a thin arm64 bundle and a universal2 (x86_64 + arm64) bundle.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.testing import REPO_ROOT

MACHO_DIR = REPO_ROOT / "tests" / "data" / "macho"
THIN = MACHO_DIR / "markupsafe-3.0.4-arm64-speedups.so"
FAT = MACHO_DIR / "markupsafe-2.1.5-universal2-speedups.so"
EXECUTABLE = MACHO_DIR.parent / "fetched" / "ninja-1.13.2-universal2"  # fetched by install.sh
CPU_NAMES = {"X86_64": "x86_64", "ARM64": "arm64"}  # lief's name -> llvm's --arch name


def llvm(tool: str, *args: str) -> str:
    """The output of an LLVM tool, or skip with the fix when it is absent."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed: run ./install.sh or apt-get install llvm")
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


def universal_headers(path: Path) -> list[dict]:
    """llvm-objdump --universal-headers: per architecture its name, offset and size ([] for a thin file)."""
    text = llvm("llvm-objdump", "--macho", "--universal-headers", str(path))
    return [{"arch": m[1], "offset": int(m[2]), "size": int(m[3])}
            for m in re.finditer(r"architecture (\S+)\n(?:.*\n)*?\s+offset (\d+)\n\s+size (\d+)", text)]


def _fields(block: str) -> dict[str, str]:
    fields = {}
    for line in block.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and key not in fields:
            fields[key] = value.strip()
    return fields


def private_headers(path: Path, arch: str) -> dict:
    """llvm-objdump --private-headers for one architecture: header, load command names, segments, extras."""
    text = llvm("llvm-objdump", "--macho", "--private-headers", f"--arch={arch}", str(path))
    head, *commands = re.split(r"^Load command \d+\n", text, flags=re.M)
    columns = head.strip().splitlines()[-1].split()
    info: dict = {"cputype": columns[1], "filetype": columns[4], "ncmds": int(columns[5]), "flags": columns[7:],
                  "commands": [], "segments": [], "code_signature": None, "uuid": None, "minos": None, "sdk": None,
                  "dylibs": [], "entry": None}
    for block in commands:
        segment_part, *sections = re.split(r"^Section\n", block, flags=re.M)
        fields = _fields(segment_part)
        info["commands"].append(fields["cmd"])
        if fields["cmd"] in ("LC_SEGMENT_64", "LC_SEGMENT"):
            info["segments"].append({
                "name": fields["segname"], "offset": int(fields["fileoff"]), "file_size": int(fields["filesize"]),
                "virtual_address": int(fields["vmaddr"], 16), "virtual_size": int(fields["vmsize"], 16),
                "max_protection": fields["maxprot"], "init_protection": fields["initprot"],
                "sections": [{"name": s["sectname"], "offset": int(s["offset"]), "size": int(s["size"], 16)}
                             for s in map(_fields, sections)]})
        elif fields["cmd"] == "LC_CODE_SIGNATURE":
            info["code_signature"] = {"offset": int(fields["dataoff"]), "size": int(fields["datasize"])}
        elif fields["cmd"] == "LC_UUID":
            info["uuid"] = fields["uuid"].replace("-", "").lower()
        elif fields["cmd"] == "LC_BUILD_VERSION":
            info["minos"], info["sdk"] = fields["minos"], fields["sdk"]
        elif fields["cmd"] == "LC_VERSION_MIN_MACOSX":
            info["minos"], info["sdk"] = fields["version"], fields["sdk"]
        elif fields["cmd"] == "LC_MAIN":
            info["entry"] = int(fields["entryoff"])
        elif fields["cmd"] == "LC_LOAD_DYLIB":
            info["dylibs"].append(fields["name"].split(" (offset")[0])
    return info


def undefined_symbols(path: Path, arch: str) -> list[str]:
    """llvm-nm -u: the names the slice imports."""
    return llvm("llvm-nm", "-u", f"--arch={arch}", str(path)).split()


def exports(path: Path, arch: str) -> list[str]:
    """llvm-objdump --exports-trie: the names the slice exports."""
    text = llvm("llvm-objdump", "--macho", "--exports-trie", f"--arch={arch}", str(path))
    return [line.split()[1] for line in text.splitlines() if line.startswith("0x")]
