"""Unzip: extracts the members of a zip archive as child samples, with limits against zip bombs.

Each extracted member is stored through the corpus as a child of the archive (``get_children`` on the
archive lists it, ``get_parents`` on the member gives the archive back), under the filename
``<archive filename>!/<member name>`` (the jar/apk URL convention). Nothing is written to disk.

Limits (options, ``[worker.unzip]`` in config.ini): max_members, max_total_mb (uncompressed total),
max_ratio (uncompressed/compressed per member, checked only for members over ratio_min_kb, since small
files of zeros legitimately compress far better) and max_depth. They are checked on the central
directory's declared sizes before anything is decompressed, and again on the bytes produced while reading
in 1 MB chunks; a member that inflates past its declared size refuses the archive (lying headers). A refused
archive raises ArchiveRefused naming the limit and the config key; nothing is stored.

Depth: the corpus cannot say how many archives a sample was extracted from, so the child filename carries
it: depth = the number of ``!/`` markers in the archive's own filename (0 for an archive a user stored).
An archive at depth >= max_depth is refused, so nested archives stop max_depth levels down. A member zip is
only stored as a child; unzipping it is a separate request (a client that recurses must also skip md5s it
has seen: a sample already stored keeps its first filename, so a zip that contains itself has depth 0).
A member name containing ``!/`` only makes the depth look larger, which fails safe.

Returns children ([{filename (member name in the archive), md5, size}], archive order, one per extracted
member, duplicates included), payload_md5s (the original's key: the children's md5s, in order),
member_count (central directory entries), extracted_count, total_size (bytes extracted), skipped
([{filename, reason: 'directory' | 'encrypted' | 'unsupported_compression' | 'corrupt', error (for the last
two)}]) and depth.
"""

from workbench.analysis import zip_extraction

DEPTH_MARKER = "!/"


class Unzip:
    """Extracts a zip archive's members as child samples (zip bomb limits: members, size, ratio, depth)."""

    dependencies = ["sample", "corpus"]
    applies_to = ("zip",)
    options = {"max_members": 1000, "max_total_mb": 256, "max_ratio": 100, "ratio_min_kb": 1024,
               "max_depth": 3}
    timeout = 120

    def execute(self, input_data: dict) -> dict:
        sample, corpus = input_data["sample"], input_data["corpus"]
        parent_name = sample["filename"] or sample["md5"]
        depth = parent_name.count(DEPTH_MARKER)
        limits = zip_extraction.Limits(
            max_members=self.options["max_members"], max_total_mb=self.options["max_total_mb"],
            max_ratio=self.options["max_ratio"], ratio_min_kb=self.options["ratio_min_kb"])
        if depth >= self.options["max_depth"]:
            raise limits.refuse(f"{parent_name!r} is nested {depth} archives deep, max_depth = "
                                f"{self.options['max_depth']}", "max_depth")
        extraction = zip_extraction.extract(sample["raw_bytes"], limits)
        children = []
        for name, data in extraction.members:
            md5 = corpus.store_child(data, f"{parent_name}{DEPTH_MARKER}{name}")
            children.append({"filename": name, "md5": md5, "size": len(data)})
        return {
            "children": children,
            "payload_md5s": [child["md5"] for child in children],
            "member_count": extraction.member_count,
            "extracted_count": len(children),
            "total_size": sum(child["size"] for child in children),
            "skipped": extraction.skipped,
            "depth": depth,
        }
