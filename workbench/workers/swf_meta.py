"""SWF meta: header, movie properties and tag counts of a Flash file (FWS, CWS/zlib or ZWS/LZMA).

Returns signature ("FWS", "CWS" or "ZWS"), compression ("uncompressed", "zlib", "lzma"), version (int),
file_length (the header's uncompressed length, header included), body_length (bytes actually recovered
after the 8-byte header; file_length - 8 on a sound file), body_truncated (True when the body was cut at
``max_uncompressed_mb``), frame_size ({xmin, xmax, ymin, ymax} in twips, width and height in pixels),
frame_rate (frames/s, float), frame_count, tag_counts ({tag type name: count}, e.g. {"DoABC": 1,
"ShowFrame": 1, "End": 1}; unknown codes as "Unknown<code>"), tag_total, has_end_tag, trailing_bytes (after
the End tag), metadata (the Metadata tag's XML, cut to 4000 characters, or None) and tag_error (None, or
where a truncated or lying tag list broke; the counts up to there are kept).
A file that is not SWF, or whose compressed body is corrupt, is an error.
"""

import struct

from workbench.analysis import swf_parsing


class SwfMeta:
    """Flash file header (FWS/CWS/ZWS), version, frame size/rate/count and tag counts by type."""

    dependencies = ["sample"]
    applies_to = ("swf",)
    options = {"max_uncompressed_mb": 64.0}

    def execute(self, input_data: dict) -> dict:
        raw = input_data["sample"]["raw_bytes"]
        limit = max(1, int(self.options["max_uncompressed_mb"] * (1 << 20)))  # zlib: 0 = no limit
        body, truncated = swf_parsing.decompress(raw, limit)
        signature = raw[:3].decode("ascii")
        return {
            "signature": signature,
            "compression": swf_parsing.SIGNATURES[raw[:3]],
            "version": raw[3],
            "file_length": struct.unpack_from("<I", raw, 4)[0],
            "body_length": len(body),
            "body_truncated": truncated,
            **swf_parsing.parse_body(body),
        }
