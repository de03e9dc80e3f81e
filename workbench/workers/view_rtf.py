"""View RTF: a compact summary of an RTF document from meta and rtf_objects.

Returns md5, filename, file_type, length; objects (first max_objects [{kind, filename, class_name,
clsid_description, md5, size}]), object_count, and indicators (rtf_objects' words: ole_package,
known_exploited_clsid, equation_editor, not_well_formed, header_not_rtf1).
"""


class ViewRtf:
    """Compact summary of an RTF document: embedded objects (class, CVE notes, children md5s) and indicators."""

    dependencies = ["meta", "rtf_objects"]
    applies_to = ("rtf",)
    options = {"max_objects": 20}

    def execute(self, input_data: dict) -> dict:
        meta, rtf = input_data["meta"], input_data["rtf_objects"]
        keys = ("kind", "filename", "class_name", "clsid_description", "md5", "size")
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            "objects": [{key: item.get(key) for key in keys} for item in rtf["objects"][:self.options["max_objects"]]],
            "object_count": rtf["object_count"],
            "indicators": rtf["indicators"],
        }
