"""View SWF: a compact summary of a Flash file from meta and swf_meta, with triage indicators.

Returns md5, filename, file_type, length; swf (signature, compression, version, width and height in
pixels, frame_rate, frame_count, tag_total); code_tags ({name: count} for the tags that carry code or
payloads: DoABC, DoABCDefine, DoAction, DoInitAction, DefineBinaryData); indicators (sorted snake_case
words: actionscript3, actionscript2, binary_data, debugger_enabled, malformed_tags, truncated_body,
no_end_tag).
"""

CODE_TAGS = ("DoABC", "DoABCDefine", "DoAction", "DoInitAction", "DefineBinaryData")
TAG_INDICATORS = {"DoABC": "actionscript3", "DoABCDefine": "actionscript3", "DoAction": "actionscript2",
                  "DoInitAction": "actionscript2", "DefineBinaryData": "binary_data",
                  "EnableDebugger": "debugger_enabled", "EnableDebugger2": "debugger_enabled"}


def indicators(swf: dict) -> list[str]:
    """Triage words for a swf_meta output, sorted."""
    found = {word for tag, word in TAG_INDICATORS.items() if swf["tag_counts"].get(tag)}
    checks = {"malformed_tags": swf["tag_error"] is not None, "truncated_body": swf["body_truncated"],
              "no_end_tag": not swf["has_end_tag"]}
    return sorted(found | {word for word, hit in checks.items() if hit})


class ViewSWF:
    """Compact summary of a Flash file: compression, version, frame size/rate/count, code tags, indicators."""

    dependencies = ["meta", "swf_meta"]
    applies_to = ("swf",)

    def execute(self, input_data: dict) -> dict:
        meta, swf = input_data["meta"], input_data["swf_meta"]
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            "swf": {
                **{key: swf[key] for key in ("signature", "compression", "version")},
                "width": swf["frame_size"]["width"],
                "height": swf["frame_size"]["height"],
                **{key: swf[key] for key in ("frame_rate", "frame_count", "tag_total")},
            },
            "code_tags": {tag: swf["tag_counts"][tag] for tag in CODE_TAGS if tag in swf["tag_counts"]},
            "indicators": indicators(swf),
        }
