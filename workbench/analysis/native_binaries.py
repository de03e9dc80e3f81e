"""What ELF and Mach-O parsing share: a quiet lief, capped lists, enum names, entropy of file ranges, UPX.

lief is imported here once with its logging off (it otherwise writes parse warnings for every malformed file
to stderr). Lists taken from a binary are capped (``MAX_ITEMS``) so a hostile file with 65,535 sections or a
million symbols gives a bounded output; the full counts are reported beside them.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import lief

from workbench.analysis import byte_stats

lief.logging.disable()
# lief warns "1031 is not a valid TYPE." for every out-of-range enum value in a doctored file; name() shows them.
warnings.filterwarnings("ignore", message=r".* is not a valid \w+", category=RuntimeWarning)

MAX_ITEMS = 1000
UPX_MAGIC = b"UPX!"
_UPX_VERSION = re.compile(rb"\$Id: UPX (\d+\.\d+\w*)")
# Imports that show the compiler's stack protector (-fstack-protector) and FORTIFY_SOURCE (*_chk) were on.
CANARY_SYMBOLS = frozenset({"__stack_chk_fail", "__stack_chk_guard", "__intel_security_cookie"})


class NotParsable(ValueError):
    """lief could not make sense of the bytes as the format the sample is tagged with."""


def name(value: Any) -> str:
    """A lief enum's member name ('X86_64' for ARCH.X86_64); the number for values outside the enum."""
    text = str(value)
    return text.rsplit(".", 1)[-1] if "." in text else text


def text(obj: Any, attribute: str = "name") -> str:
    """A string attribute of a lief object as text: lief hands back bytes, or raises UnicodeDecodeError, for
    names that are not UTF-8 (common in doctored files); those are decoded with backslash escapes."""
    try:
        value = getattr(obj, attribute)
    except UnicodeDecodeError as exc:
        value = exc.object
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def capped(items: list[Any]) -> list[Any]:
    """The first ``MAX_ITEMS`` of ``items``."""
    return items[:MAX_ITEMS]


def range_entropy(raw: bytes, offset: int, size: int) -> float:
    """Shannon entropy of ``raw[offset:offset + size]`` (the part inside the file; 0.0 when none is)."""
    if offset < 0 or size <= 0:
        return 0.0
    return max(0.0, byte_stats.entropy(raw[offset:offset + size]))  # never -0.0 for one repeated byte


def protection(value: int) -> str:
    """'rwx'-style text for a read=1/write=2/execute=4 (Mach-O) protection value."""
    return "".join(letter if value & bit else "-" for letter, bit in (("r", 1), ("w", 2), ("x", 4)))


def upx_traits(raw: bytes, section_names: list[str]) -> dict[str, Any]:
    """UPX's marks: its 'UPX!' magic, its section/segment names (UPX0, UPX1, __XHDR) and its version string."""
    traits = []
    if UPX_MAGIC in raw:
        traits.append("upx_magic")
    if any(n.upper().lstrip("._").startswith("UPX") or n == "__XHDR" for n in section_names):
        traits.append("upx_section_names")
    version = _UPX_VERSION.search(raw)
    if version:
        traits.append("upx_version_string")
    return {"upx": bool(traits), "upx_version": version.group(1).decode() if version else None,
            "traits": traits}
