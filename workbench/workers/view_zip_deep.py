"""View ZIP deep: view_zip's summary plus every member, skipped members with their errors, the nesting
depth, entropy and fuzzy hashes of the archive.

Returns everything view_zip returns, but children lists every extracted member (children_truncated is
False); plus skipped_members ([{filename, reason, error?}] from unzip), depth (archives above this one)
and entropy, ssdeep, tlsh (from meta_deep).
"""


class ViewZipDeep:
    """view_zip plus every member, skipped members with errors, nesting depth, entropy and ssdeep/TLSH."""

    dependencies = ["view_zip", "unzip", "meta_deep"]
    applies_to = ("zip",)

    def execute(self, input_data: dict) -> dict:
        unzip, deep = input_data["unzip"], input_data["meta_deep"]
        return {
            **input_data["view_zip"],
            "children": unzip["children"],
            "children_truncated": False,
            "skipped_members": unzip["skipped"],
            "depth": unzip["depth"],
            "entropy": round(deep["entropy"], 4),
            "ssdeep": deep["ssdeep"],
            "tlsh": deep["tlsh"],
        }
