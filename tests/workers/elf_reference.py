"""The independent ELF reference: GNU readelf (binutils), its text output parsed into plain dicts.

Also the ELF files the tests read: the operating system's own executables and libraries (present on any
Debian/Ubuntu machine) and the two foreign-machine shared objects shipped in tests/data/elf.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.testing import REPO_ROOT

SYSTEM_ELFS = ("/bin/ls", "/usr/bin/python3.11", "/usr/bin/readelf", "/usr/bin/ssh",
               "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libz.so.1",
               "/lib/x86_64-linux-gnu/libexpat.so.1", "/lib/x86_64-linux-gnu/libm.so.6",
               "/lib64/ld-linux-x86-64.so.2")
SHIPPED_ELFS = tuple(sorted((REPO_ROOT / "tests" / "data" / "elf").glob("*.so")))
MACHINES = {"Advanced Micro Devices X86-64": "X86_64", "Intel 80386": "I386", "AArch64": "AARCH64"}
_SECTION = re.compile(r"^\s*\[\s*(\d+)\]\s+(\S*?)\s+([A-Z_0-9]+|LOOS\+\w+|LOPROC\+\w+|<unknown>: \w+)\s+"
                      r"([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+$")
_SEGMENT = re.compile(r"^\s+(\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s"
                      r"([RWE ]{3})\s+0x[0-9a-f]+$")


def elf_files() -> list[Path]:
    """The system ELFs present here plus the shipped ones (at least /bin/ls and the shipped files)."""
    return [Path(p).resolve() for p in SYSTEM_ELFS if Path(p).exists()] + list(SHIPPED_ELFS)


def readelf(path: Path, *options: str) -> str:
    """readelf's output, or skip with the fix when binutils is absent."""
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed: run ./install.sh or apt-get install binutils")
    return subprocess.run(["readelf", "-W", *options, str(path)], check=True, capture_output=True,
                          text=True).stdout


def header(path: Path) -> dict[str, str]:
    """readelf -h as {field: value}."""
    fields = {}
    for line in readelf(path, "-h").splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def sections(path: Path) -> list[dict]:
    """readelf -S: name, type, offset, size and flags of every section (index 0 included)."""
    rows = []
    for line in readelf(path, "-S").splitlines():
        match = _SECTION.match(line)
        if match:
            index, name, kind, _address, offset, size, _entsize, flags = match.groups()
            rows.append({"index": int(index), "name": name, "type": kind, "offset": int(offset, 16),
                         "size": int(size, 16), "flags": flags})
    return rows


def segments(path: Path) -> tuple[list[dict], str | None]:
    """readelf -l: (program headers as type, offset, address, file size, memory size, flags; interpreter)."""
    text = readelf(path, "-l")
    rows = [{"type": m[1], "offset": int(m[2], 16), "virtual_address": int(m[3], 16), "file_size": int(m[4], 16),
             "virtual_size": int(m[5], 16), "flags": m[6]}
            for m in (_SEGMENT.match(line) for line in text.splitlines()) if m]
    interpreter = re.search(r"\[Requesting program interpreter: (.+)\]", text)
    return rows, interpreter.group(1) if interpreter else None


def dynamic(path: Path) -> dict[str, list[str]]:
    """readelf -d: {tag: [values]} (NEEDED/SONAME values without the brackets)."""
    entries: dict[str, list[str]] = {}
    for match in re.finditer(r"^\s*0x[0-9a-f]+ \((\w+)\)\s+(.*)$", readelf(path, "-d"), re.M):
        value = match.group(2)
        bracket = re.search(r"\[(.*)\]", value)
        entries.setdefault(match.group(1), []).append(bracket.group(1) if bracket else value)
    return entries


def dynamic_symbols(path: Path) -> tuple[list[str], list[str]]:
    """readelf --dyn-syms: (undefined names, defined global/weak default/protected names), versions cut."""
    imported, exported = [], []
    for line in readelf(path, "--dyn-syms").splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit():
            continue
        _num, _value, _size, _kind, binding, visibility, index, name = parts[:8]
        name = name.split("@")[0]
        if not name:
            continue
        if index == "UND":
            imported.append(name)
        elif binding in ("GLOBAL", "WEAK", "UNIQUE") and visibility in ("DEFAULT", "PROTECTED"):
            exported.append(name)
    return imported, exported
