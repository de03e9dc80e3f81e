"""View ZIP: a compact summary of a zip archive from meta and unzip (which stores the members as children).

Returns md5, filename, file_type, length; member_count, extracted_count, total_size (bytes extracted);
children (the first ``max_children`` [{filename, md5, size}], archive order), children_truncated and
skipped ({reason: count}, e.g. {"encrypted": 2}). A refused archive (zip bomb limits) fails as unzip does.
"""

from collections import Counter


class ViewZip:
    """Compact summary of a zip archive: member counts, first members with their md5s, skipped members."""

    dependencies = ["meta", "unzip"]
    applies_to = ("zip",)
    options = {"max_children": 20}

    def execute(self, input_data: dict) -> dict:
        meta, unzip = input_data["meta"], input_data["unzip"]
        cap = self.options["max_children"]
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            **{key: unzip[key] for key in ("member_count", "extracted_count", "total_size")},
            "children": unzip["children"][:cap],
            "children_truncated": len(unzip["children"]) > cap,
            "skipped": dict(Counter(member["reason"] for member in unzip["skipped"])),
        }
