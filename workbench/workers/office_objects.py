"""Office objects: embedded objects and OLE packages of an Office document, stored as child samples.

Finds OLE packages (``\\x01Ole10Native``: a file wrapped with its original name and paths), ``Package``
streams (embedded OOXML documents) and OOXML embeddings (``*/embeddings/*`` parts), see
workbench.analysis.office_objects. Each carried file is stored through the corpus as a child of the document
(filename ``<document>!/<name>``, name = the package's filename or the part's name); linked (not embedded)
packages are listed without a child. An encrypted document that the default password "VelvetSweatshop" opens
is searched decrypted, and the decrypted document itself is stored as a child too ("decrypted" kind), so every
other worker can run on it.

Returns encryption ({encrypted, method, decrypted, password, error}), objects ([{source (stream or part path),
kind: ole_package | ole_link | ole_object | embedded_package | embedded_part | decrypted, filename, md5 (None
for links and objects over max_objects), size, src_path, temp_path, declared_size (packages)}]), object_count,
children_stored and skipped ([{source, reason}]).
"""

from workbench.analysis import office_objects, office_parsing
from workbench.analysis.office_objects import Embedded


class OfficeObjects:
    """Embedded objects and OLE packages of an Office document (and its decryption) stored as child samples."""

    dependencies = ["sample", "corpus"]
    applies_to = ("doc", "ooxml")
    options = {"max_objects": 100}
    timeout = 90

    def execute(self, input_data: dict) -> dict:
        sample, corpus = input_data["sample"], input_data["corpus"]
        parent = sample["filename"] or sample["md5"]
        document = office_parsing.open_document(sample["raw_bytes"])
        found, skipped = [], []
        if document.encryption["decrypted"]:
            found.append(Embedded("EncryptedPackage", "decrypted", document.data, "decrypted"))
        if not document.encryption["encrypted"] or document.encryption["decrypted"]:
            if document.container == "ole":
                found += office_objects.from_ole(document.data)
            else:
                embedded, skipped = office_objects.from_ooxml(document.data)
                found += embedded
        objects = []
        for index, item in enumerate(found):
            store = item.kind != "ole_link" and index < self.options["max_objects"]
            name = item.filename or item.source.rsplit("/", 1)[-1] or f"object{index}"
            md5 = corpus.store_child(item.data, f"{parent}!/{name}") if store else None
            objects.append({"source": item.source, "kind": item.kind, "filename": item.filename, "md5": md5,
                            "size": len(item.data), **item.facts})
        return {"encryption": document.encryption, "objects": objects, "object_count": len(objects),
                "children_stored": sum(1 for o in objects if o["md5"]), "skipped": skipped}
