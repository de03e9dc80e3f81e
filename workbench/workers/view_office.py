"""View Office: a compact summary of an Office document (OLE .doc/.xls/.ppt or OOXML) from meta and office_*.

One view serves both type_tags (doc and ooxml): their triage questions are the same (macros? auto-exec?
embedded files? encrypted? remote template?) and the office_* workers already hide the container's format.

Returns md5, filename, file_type, length; document (container, application, title, author, last_saved_by,
created, modified, template: None when absent); encryption (encrypted, decrypted, password); macros (has_vba,
has_xlm, modules (names), autoexec and suspicious (keywords), iocs (count), mraptor verdict and flags: None
when the document stays encrypted); objects (first max_objects [{kind, filename, md5, size}]), object_count;
external_relationships (OOXML, first max_objects); indicators (sorted words: encrypted, default_password,
encrypted_unreadable, vba_macros, xlm_macros, autoexec, suspicious_keywords, mraptor_suspicious, ole_package,
embedded_objects, external_relationships).
"""

FIELDS = {"title": ("title",), "author": ("author", "creator"), "last_saved_by": ("last_saved_by",
          "lastModifiedBy"), "created": ("create_time", "created"), "modified": ("last_saved_time", "modified"),
          "template": ("template", "Template")}


def indicators(office_meta: dict, vba: dict, objects: dict) -> list[str]:
    """Triage words for an Office document, sorted."""
    encryption, mraptor = office_meta["encryption"], vba.get("mraptor") or {}
    kinds = {item["kind"] for item in objects["objects"]}
    checks = {
        "encrypted": encryption["encrypted"],
        "default_password": encryption["decrypted"],
        "encrypted_unreadable": encryption["encrypted"] and not encryption["decrypted"],
        "vba_macros": bool(vba.get("has_vba")),
        "xlm_macros": bool(vba.get("has_xlm")),
        "autoexec": bool(vba.get("keywords", {}).get("autoexec")),
        "suspicious_keywords": bool(vba.get("keywords", {}).get("suspicious")),
        "mraptor_suspicious": mraptor.get("verdict") == "SUSPICIOUS",
        "ole_package": "ole_package" in kinds,
        "embedded_objects": bool(kinds - {"decrypted", "ole_link"}),
        "external_relationships": bool(office_meta.get("external_relationships")),
    }
    return sorted(word for word, hit in checks.items() if hit)


class ViewOffice:
    """Compact summary of an Office document: metadata, encryption, macros (olevba/mraptor), objects, indicators."""

    dependencies = ["meta", "office_meta", "office_vba", "office_objects"]
    applies_to = ("doc", "ooxml")
    options = {"max_objects": 20}

    def execute(self, input_data: dict) -> dict:
        meta, office, vba, objects = (input_data[k] for k in ("meta", "office_meta", "office_vba", "office_objects"))
        metadata, cap = office["metadata"], self.options["max_objects"]
        keywords = vba["keywords"]
        macros = None if not vba["analyzed"] else {
            "has_vba": vba["has_vba"], "has_xlm": vba["has_xlm"],
            "modules": [module["name"] for module in vba["modules"]],
            "autoexec": [k["keyword"] for k in keywords["autoexec"]],
            "suspicious": [k["keyword"] for k in keywords["suspicious"]],
            "iocs": len(keywords["iocs"]),
            "mraptor": {key: vba["mraptor"][key] for key in ("verdict", "flags")},
        }
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            "document": {"container": office["container"], "application": office["application"],
                         **{key: next((metadata[n] for n in names if n in metadata), None)
                            for key, names in FIELDS.items()}},
            "encryption": {key: office["encryption"][key] for key in ("encrypted", "decrypted", "password")},
            "macros": macros,
            "objects": [{key: item[key] for key in ("kind", "filename", "md5", "size")}
                        for item in objects["objects"][:cap]],
            "object_count": objects["object_count"],
            "external_relationships": office.get("external_relationships", [])[:cap],
            "indicators": indicators(office, vba, objects),
        }
