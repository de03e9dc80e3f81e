"""RTF objects: the objects embedded in an RTF document (oletools' rtfobj), stored as child samples.

rtfobj reads RTF as Word does (tolerating the obfuscations exploit kits use: junk control words, broken
hex, ``{\\rt`` headers) and finds ``\\objdata`` blobs and bare OLE1 objects. An OLE package gives its carried
file; another OLE object its native data (often a whole OLE file: an embedded Word or Excel document, or an
Equation Editor object); an object that is not OLE its raw bytes. Each is stored through the corpus as a
child (filename ``<document>!/<package filename or object@offset>``).

Returns objects ([{source ("rtf@0x<offset>"), kind: ole_package | ole_object | raw_object, filename, md5 (None
past max_objects), size, start, end, is_ole, class_name (e.g. "Equation.3", "Package"), format_id, clsid,
clsid_description (oletools' note, naming CVEs such as CVE-2017-11882 for known-exploited classes),
src_path/temp_path (packages)}]), object_count, children_stored, and indicators (sorted words: ole_package,
known_exploited_clsid, equation_editor, not_well_formed, header_not_rtf1).
"""

from workbench.analysis import office_objects

EQUATION_CLASSES = ("equation.3", "equation.2", "equation")


class RtfObjects:
    """Objects embedded in an RTF document (rtfobj): OLE packages, OLE objects, CVE-noted classes; as children."""

    dependencies = ["sample", "corpus"]
    applies_to = ("rtf",)
    options = {"max_objects": 100}
    timeout = 60

    def execute(self, input_data: dict) -> dict:
        sample, corpus = input_data["sample"], input_data["corpus"]
        parent = sample["filename"] or sample["md5"]
        objects, words = [], set()
        for index, item in enumerate(office_objects.from_rtf(sample["raw_bytes"])):
            name = item.filename or item.source
            md5 = corpus.store_child(item.data, f"{parent}!/{name}") if index < self.options["max_objects"] else None
            objects.append({"source": item.source, "kind": item.kind, "filename": item.filename, "md5": md5,
                            "size": len(item.data), **item.facts})
            description = (item.facts.get("clsid_description") or "").lower()
            words.update({"ole_package"} if item.kind == "ole_package" else set())
            words.update({"known_exploited_clsid"} if "cve" in description else set())
            words.update({"equation_editor"} if "equation" in description or
                         (item.facts.get("class_name") or "").lower() in EQUATION_CLASSES else set())
            words.update({"not_well_formed"} if not item.facts["is_ole"] else set())
        if not sample["raw_bytes"].lstrip().startswith(b"{\\rtf1"):
            words.add("header_not_rtf1")
        return {"objects": objects, "object_count": len(objects),
                "children_stored": sum(1 for o in objects if o["md5"]), "indicators": sorted(words)}
