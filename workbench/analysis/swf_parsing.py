"""SWF (Flash) files: header, movie properties and the tag list, per the SWF File Format Specification v19.

Layout: "FWS" (uncompressed), "CWS" (zlib from byte 8, SWF 6+) or "ZWS" (LZMA, SWF 13+), a version byte and
the uncompressed file length (UI32, header included). ZWS stores the compressed length (UI32) at byte 8 and
the 5 LZMA property bytes at byte 12; the raw LZMA data follows at byte 17 with no size field, so it is fed
to Python's ``lzma`` as an "alone" stream by adding the 8-byte size LZMA-alone headers carry.
The body starts with the frame size RECT (5-bit field width, then Xmin, Xmax, Ymin, Ymax in twips,
1/20 pixel), frame rate (UI16, 8.8 fixed point), frame count (UI16), then tags until an End tag.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections import Counter
from typing import Any

SIGNATURES = {b"FWS": "uncompressed", b"CWS": "zlib", b"ZWS": "lzma"}
TAG_NAMES = {
    0: "End", 1: "ShowFrame", 2: "DefineShape", 4: "PlaceObject", 5: "RemoveObject", 6: "DefineBits",
    7: "DefineButton", 8: "JPEGTables", 9: "SetBackgroundColor", 10: "DefineFont", 11: "DefineText",
    12: "DoAction", 13: "DefineFontInfo", 14: "DefineSound", 15: "StartSound", 17: "DefineButtonSound",
    18: "SoundStreamHead", 19: "SoundStreamBlock", 20: "DefineBitsLossless", 21: "DefineBitsJPEG2",
    22: "DefineShape2", 23: "DefineButtonCxform", 24: "Protect", 26: "PlaceObject2", 28: "RemoveObject2",
    32: "DefineShape3", 33: "DefineText2", 34: "DefineButton2", 35: "DefineBitsJPEG3",
    36: "DefineBitsLossless2", 37: "DefineEditText", 39: "DefineSprite", 41: "ProductInfo", 43: "FrameLabel",
    45: "SoundStreamHead2", 46: "DefineMorphShape", 48: "DefineFont2", 56: "ExportAssets",
    57: "ImportAssets", 58: "EnableDebugger", 59: "DoInitAction", 60: "DefineVideoStream", 61: "VideoFrame",
    62: "DefineFontInfo2", 63: "DebugID", 64: "EnableDebugger2", 65: "ScriptLimits", 66: "SetTabIndex",
    69: "FileAttributes", 70: "PlaceObject3", 71: "ImportAssets2", 72: "DoABCDefine",
    73: "DefineFontAlignZones", 74: "CSMTextSettings", 75: "DefineFont3", 76: "SymbolClass", 77: "Metadata",
    78: "DefineScalingGrid", 82: "DoABC", 83: "DefineShape4", 84: "DefineMorphShape2",
    86: "DefineSceneAndFrameLabelData", 87: "DefineBinaryData", 88: "DefineFontName", 89: "StartSound2",
    90: "DefineBitsJPEG4", 91: "DefineFont4", 93: "EnableTelemetry",
}
TWIPS_PER_PIXEL = 20
MAX_METADATA_CHARS = 4000


class SwfError(ValueError):
    """The bytes are not a readable SWF file (the message says where it broke)."""


def decompress(raw: bytes, max_length: int) -> tuple[bytes, bool]:
    """The uncompressed body (everything after the 8-byte header), at most ``max_length`` bytes, and
    whether it was cut there."""
    signature = raw[:3]
    if signature not in SIGNATURES or len(raw) < 8:
        raise SwfError(f"not an SWF file: starts with {raw[:3]!r}, expected one of FWS, CWS, ZWS")
    if signature == b"FWS":
        body = raw[8:]
        return body[:max_length], len(body) > max_length
    try:
        if signature == b"CWS":
            decompressor = zlib.decompressobj()
            body = decompressor.decompress(raw[8:], max_length)
            return body, bool(decompressor.unconsumed_tail)
        if len(raw) < 17:
            raise SwfError(f"ZWS file is {len(raw)} bytes, shorter than its 17-byte header")
        declared = struct.unpack_from("<I", raw, 4)[0] - 8
        lz = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
        body = lz.decompress(raw[12:17] + struct.pack("<Q", declared) + raw[17:], max_length)
        return body, not lz.eof and not lz.needs_input
    except (zlib.error, lzma.LZMAError) as exc:
        raise SwfError(f"the {SIGNATURES[signature]}-compressed body of this {signature.decode()} file is "
                       f"corrupt ({exc}); the file is damaged or not really SWF") from None


def _frame_rect(body: bytes) -> tuple[dict[str, float], int]:
    if not body:
        raise SwfError("SWF body is empty: no frame size RECT")
    nbits = body[0] >> 3
    total_bits = 5 + 4 * nbits
    size = (total_bits + 7) // 8
    if len(body) < size:
        raise SwfError(f"SWF body ends inside the frame size RECT ({len(body)} of {size} bytes)")
    value = int.from_bytes(body[:size], "big")
    fields = []
    for i in range(4):
        shift = size * 8 - 5 - (i + 1) * nbits
        field = (value >> shift) & ((1 << nbits) - 1) if nbits else 0
        if nbits and field >> (nbits - 1):  # signed field
            field -= 1 << nbits
        fields.append(field)
    xmin, xmax, ymin, ymax = fields
    rect = {"xmin": xmin, "xmax": xmax, "ymin": ymin, "ymax": ymax,
            "width": (xmax - xmin) / TWIPS_PER_PIXEL, "height": (ymax - ymin) / TWIPS_PER_PIXEL}
    return rect, size


def parse_body(body: bytes) -> dict[str, Any]:
    """Frame size, rate and count, tag counts by name (file order of first use), and the Metadata tag's XML.

    ``tag_error`` is None, or says where the tag list broke (a truncated or lying tag length)."""
    rect, pos = _frame_rect(body)
    if len(body) < pos + 4:
        raise SwfError("SWF body ends before the frame rate and frame count")
    rate_fraction, rate_whole, frame_count = struct.unpack_from("<BBH", body, pos)
    pos += 4
    tags: Counter[str] = Counter()
    metadata, error, ended = None, None, False
    while pos < len(body):
        if pos + 2 > len(body):
            error = f"tag header cut off at body offset {pos}"
            break
        code_and_length = struct.unpack_from("<H", body, pos)[0]
        code, length = code_and_length >> 6, code_and_length & 0x3F
        pos += 2
        if length == 0x3F:
            if pos + 4 > len(body):
                error = f"long tag length cut off at body offset {pos}"
                break
            length = struct.unpack_from("<I", body, pos)[0]
            pos += 4
        name = TAG_NAMES.get(code, f"Unknown{code}")
        if pos + length > len(body):
            error = f"tag {name} at body offset {pos} claims {length} bytes, only {len(body) - pos} remain"
            break
        tags[name] += 1
        if code == 77 and metadata is None:
            metadata = body[pos:pos + length].rstrip(b"\0").decode("utf-8", "replace")[:MAX_METADATA_CHARS]
        pos += length
        if code == 0:
            ended = True
            break
    return {
        "frame_size": rect,
        "frame_rate": rate_whole + rate_fraction / 256,
        "frame_count": frame_count,
        "tag_counts": dict(tags),
        "tag_total": sum(tags.values()),
        "has_end_tag": ended,
        "trailing_bytes": len(body) - pos,
        "metadata": metadata,
        "tag_error": error,
    }
