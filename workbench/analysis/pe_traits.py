"""Suspicious traits of a PE file, read from pe_features' output (no second parse).

Each check returns zero or more indicators ``{'category', 'description', 'severity', 'attributes'}``;
severity is 1 (worth a look), 2 (suspicious) or 3 (strongly suspicious). Categories are a closed set:
``CATEGORIES``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from workbench.analysis.pe_parsing import STANDARD_SECTION_NAMES

CATEGORIES = ("checksum", "sections", "packer", "entry_point", "tls", "anti_debug", "injection", "imports",
              "timestamp", "overlay", "signature")
HIGH_ENTROPY = 7.0
FEW_IMPORTS = 10
EARLIEST_PLAUSIBLE_TIMESTAMP = 788918400  # 1995-01-01 UTC: before PE32 compilers were in common use
# Imported by anti-debugging code; IsDebuggerPresent and OutputDebugString alone are weak (the MSVC runtime
# imports them), the others are rarely imported by ordinary programs.
ANTI_DEBUG_WEAK = frozenset({"IsDebuggerPresent", "OutputDebugStringA", "OutputDebugStringW"})
ANTI_DEBUG_STRONG = frozenset({
    "CheckRemoteDebuggerPresent", "NtQueryInformationProcess", "ZwQueryInformationProcess",
    "NtSetInformationThread", "ZwSetInformationThread", "DebugActiveProcess", "NtQuerySystemInformation",
    "ZwQuerySystemInformation", "BlockInput", "DbgUiRemoteBreakin",
})
# Writing into or running code in another process; two of them together are the usual injection recipe.
INJECTION_FUNCTIONS = frozenset({
    "VirtualAllocEx", "WriteProcessMemory", "CreateRemoteThread", "CreateRemoteThreadEx", "NtCreateThreadEx",
    "RtlCreateUserThread", "QueueUserAPC", "NtQueueApcThread", "SetThreadContext", "NtUnmapViewOfSection",
    "ZwUnmapViewOfSection", "NtWriteVirtualMemory", "NtMapViewOfSection", "SetWindowsHookExA",
    "SetWindowsHookExW",
})
INJECTION_MIN = 2
PACKER_SECTIONS = {
    "UPX": ("UPX0", "UPX1", "UPX2", "UPX3", "UPX!", ".UPX0", ".UPX1"),
    "ASPack": (".aspack", ".adata", ".ASPack"),
    "MPRESS": (".MPRESS1", ".MPRESS2"),
    "PECompact": ("PEC2", "PEC2TO", "PEC2MO", "pec1", "pec2", "PECompact2"),
    "Petite": (".petite",),
    "NsPack": (".nsp0", ".nsp1", ".nsp2", "nsp0", "nsp1", "nsp2"),
    "FSG": ("FSG!",),
    "Themida": (".themida", "Themida"),
    "VMProtect": (".vmp0", ".vmp1", ".vmp2"),
    "Enigma": (".enigma1", ".enigma2"),
    "RLPack": (".RLPack", ".packed"),
    "Upack": (".Upack", ".ByDwing"),
    "yoda's Crypter": (".yP", "yC"),
    "kkrunchy": ("kkrunchy",),
    "MEW": ("MEW",),
}
PACKER_BY_SECTION = {name: packer for packer, names in PACKER_SECTIONS.items() for name in names}


def _indicator(category: str, description: str, severity: int, **attributes: Any) -> dict[str, Any]:
    return {"category": category, "description": description, "severity": severity, "attributes": attributes}


def _functions(features: dict, names: frozenset[str]) -> list[str]:
    """Which of ``names`` the PE imports (symbols are lowercased, as the original's were), by their usual case."""
    imported = {symbol.split(":", 1)[1].lower() for symbol in features["sparse_features"]["imported_symbols"]}
    return sorted(name for name in names if name.lower() in imported)


def checksum(features: dict) -> list[dict]:
    """A stored checksum that is wrong (0 means "not set" and is normal for EXEs)."""
    dense = features["dense_features"]
    if not dense["check_sum_mismatch"]:
        return []
    return [_indicator("checksum", "header checksum does not match the file", 2,
                       stored=dense["check_sum"], computed=dense["generated_check_sum"])]


def section_names(features: dict) -> list[dict]:
    """Names outside the compilers' usual set (packer names are reported by packer_sections)."""
    odd = [s["name"] for s in features["sections"]
           if s["name"] not in STANDARD_SECTION_NAMES and s["name"] not in PACKER_BY_SECTION]
    return [_indicator("sections", "non-standard section names", 1, names=odd)] if odd else []


def writable_executable(features: dict) -> list[dict]:
    """Sections mapped writable and executable: self-modifying or unpacking code."""
    wx = [s["name"] for s in features["sections"] if s["writable"] and s["executable"]]
    return [_indicator("sections", "writable and executable sections", 2, names=wx)] if wx else []


def high_entropy(features: dict) -> list[dict]:
    """Sections whose bytes look compressed or encrypted."""
    hot = [{"name": s["name"], "entropy": round(s["entropy"], 3)} for s in features["sections"]
           if s["entropy"] >= HIGH_ENTROPY]
    if not hot:
        return []
    return [_indicator("packer", f"sections with entropy >= {HIGH_ENTROPY} (compressed or encrypted)", 2,
                       sections=hot)]


def packer_sections(features: dict) -> list[dict]:
    """Section names that known packers and protectors leave behind."""
    found: dict[str, list[str]] = {}
    for s in features["sections"]:
        packer = PACKER_BY_SECTION.get(s["name"])
        if packer:
            found.setdefault(packer, []).append(s["name"])
    return [_indicator("packer", f"{packer} packer section names", 3, packer=packer, names=names)
            for packer, names in found.items()]


def entry_point(features: dict) -> list[dict]:
    """An entry point in an unusual section (packer stubs), or in no section at all."""
    sections = features["sections"]
    holder = next((s for s in sections if s["contains_entry_point"]), None)
    rva = features["dense_features"]["entry_point_rva"]
    if holder is None:
        if rva == 0:
            return []  # DLLs and resource-only images may have no entry point
        return [_indicator("entry_point", "entry point outside every section", 3, rva=rva)]
    first_code = next((s for s in sections if s["contains_code"] or s["executable"]), None)
    if holder["name"] == ".text" or holder is first_code:
        return []
    return [_indicator("entry_point", "entry point outside .text and the first code section", 2, rva=rva,
                       section=holder["name"], first_code_section=first_code["name"] if first_code else None)]


def tls_callbacks(features: dict) -> list[dict]:
    """TLS callbacks run before the entry point, a place to hide code from debuggers."""
    count = features["dense_features"]["tls_callbacks"]
    if not count:
        return []
    return [_indicator("tls", "TLS callbacks run code before the entry point", 2, count=count)]


def anti_debug(features: dict) -> list[dict]:
    """Imports used to detect or hinder debuggers."""
    found = _functions(features, ANTI_DEBUG_WEAK | ANTI_DEBUG_STRONG)
    if not found:
        return []
    severity = 2 if ANTI_DEBUG_STRONG.intersection(found) else 1
    return [_indicator("anti_debug", "imports anti-debugging functions", severity, functions=found)]


def injection(features: dict) -> list[dict]:
    """Imports that write to or start code in other processes."""
    found = _functions(features, INJECTION_FUNCTIONS)
    if len(found) < INJECTION_MIN:
        return []
    severity = 3 if len(found) > INJECTION_MIN else 2
    return [_indicator("injection", "imports process-injection functions", severity, functions=found)]


def few_imports(features: dict) -> list[dict]:
    """Very few imports: the real ones are probably resolved at run time by a stub."""
    dense = features["dense_features"]
    count = dense["number_of_import_symbols"]
    if dense["is_dotnet"] or count >= FEW_IMPORTS:
        return []  # .NET images import only mscoree.dll!_CorExeMain by design
    description = f"fewer than {FEW_IMPORTS} imported functions (packed, or resolves them at run time)"
    return [_indicator("imports", description, 2 if count < 3 else 1, count=count)]


def timestamp(features: dict, now: float | None = None) -> list[dict]:
    """Zero, future or pre-1995 compile timestamps (forged or tool-specific)."""
    stamp = features["dense_features"]["compile_date"]
    now = time.time() if now is None else now
    if stamp == 0:
        problem = "zero compile timestamp"
    elif stamp > now:
        problem = "compile timestamp in the future"
    elif stamp < EARLIEST_PLAUSIBLE_TIMESTAMP:
        problem = "compile timestamp before 1995 (forged, or Delphi's fixed 1992 stamp)"
    else:
        return []
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))
    return [_indicator("timestamp", problem, 1, timestamp=stamp, utc=date)]


def overlay(features: dict) -> list[dict]:
    """Data appended after the last section (Authenticode signatures not counted)."""
    size = features["dense_features"]["overlay_size"]
    if not size:
        return []
    return [_indicator("overlay", "data appended after the image (not a signature)", 1, size=size,
                       file_size=features["dense_features"]["file_size"])]


def signature(authenticode: dict | None) -> list[dict]:
    """Unsigned (1), a signature that does not verify (2), a signed hash that does not match the file (3)."""
    if authenticode is None:
        return []
    verdict = authenticode["verification"]
    if not authenticode["signed"]:
        return [_indicator("signature", "not Authenticode-signed", 1, verification=verdict)]
    if verdict == "INVALID_DIGEST" or authenticode["hash_matches"] is False:
        return [_indicator("signature", "signed hash does not match the file (changed after signing)", 3,
                           verification=verdict)]
    if verdict != "OK":
        return [_indicator("signature", f"Authenticode signature does not verify ({verdict})", 2,
                           verification=verdict, error=(authenticode["error"] or "")[:300])]
    return []


CHECKS: tuple[Callable[[dict], list[dict]], ...] = (
    checksum, section_names, writable_executable, high_entropy, packer_sections, entry_point, tls_callbacks,
    anti_debug, injection, few_imports, timestamp, overlay,
)


def indicators(features: dict) -> list[dict]:
    """Every indicator the checks find in one pe_features output, in ``CHECKS`` order."""
    return [found for check in CHECKS for found in check(features)]
