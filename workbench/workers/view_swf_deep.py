"""View SWF deep: view_swf's summary plus every tag count, the Metadata XML, the header lengths, entropy
and fuzzy hashes.

Returns everything view_swf returns, plus tag_counts (all tag types), metadata (the Metadata tag's XML or
None), file_length, body_length, tag_error (from swf_meta) and entropy, ssdeep, tlsh (from meta_deep; of
the file as stored, compressed or not). No URL list: CWS/ZWS bodies are compressed, so strings found in
the raw bytes would mislead.
"""

SWF_KEYS = ("tag_counts", "metadata", "file_length", "body_length", "tag_error")


class ViewSWFDeep:
    """view_swf plus all tag counts, the Metadata XML, header lengths, entropy and ssdeep/TLSH."""

    dependencies = ["view_swf", "swf_meta", "meta_deep"]
    applies_to = ("swf",)

    def execute(self, input_data: dict) -> dict:
        swf, deep = input_data["swf_meta"], input_data["meta_deep"]
        return {
            **input_data["view_swf"],
            **{key: swf[key] for key in SWF_KEYS},
            "entropy": round(deep["entropy"], 4),
            "ssdeep": deep["ssdeep"],
            "tlsh": deep["tlsh"],
        }
