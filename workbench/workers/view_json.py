"""View JSON: a compact summary of a JSON document from meta and json_meta.

Returns md5, filename, length; format, top_level_type, record_count, key_count, depth; top_level_keys (the
first ``max_keys``) and keys_truncated (True when json_meta found more).
"""


class ViewJSON:
    """Compact summary of a JSON document: type, record count, first keys, depth."""

    dependencies = ["meta", "json_meta"]
    applies_to = ("json",)
    options = {"max_keys": 20}

    def execute(self, input_data: dict) -> dict:
        meta, doc = input_data["meta"], input_data["json_meta"]
        cap = self.options["max_keys"]
        return {
            **{key: meta[key] for key in ("md5", "filename", "length")},
            **{key: doc[key] for key in ("format", "top_level_type", "record_count", "key_count", "depth")},
            "top_level_keys": doc["top_level_keys"][:cap],
            "keys_truncated": doc["key_count"] > cap,
        }
