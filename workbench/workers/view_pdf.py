"""View PDF: a compact summary of a PDF from meta and pdf: facts, risky keywords and triage indicators.

Returns md5, filename, file_type, length; pdf (header_version, page_count, encrypted, embedded_files,
title/author/creator/producer/creation_date from the metadata, None when absent, parse_error);
risky_keywords ({name: count} for the pdf worker's keywords with a non-zero count, /Page left out);
obfuscated ({name: count} written with #xx escapes); objects (number of "obj" keywords); indicators (sorted
snake_case words: javascript, auto_action, launch, embedded_file, forms_xfa, rich_media, obfuscated_names,
junk_before_header, incremental_updates, page_count_mismatch, parse_error).
"""

METADATA_KEYS = {"title": "Title", "author": "Author", "creator": "Creator", "producer": "Producer",
                 "creation_date": "CreationDate"}
KEYWORD_INDICATORS = {"/JS": "javascript", "/JavaScript": "javascript", "/OpenAction": "auto_action",
                      "/AA": "auto_action", "/Launch": "launch", "/EmbeddedFile": "embedded_file",
                      "/XFA": "forms_xfa", "/RichMedia": "rich_media"}


def indicators(pdf: dict) -> list[str]:
    """Triage words for a pdf worker output, sorted."""
    found = {word for name, word in KEYWORD_INDICATORS.items() if pdf["keywords"].get(name)}
    checks = {
        "obfuscated_names": bool(pdf["obfuscated"]),
        "junk_before_header": bool(pdf["header_offset"]),
        "incremental_updates": pdf["eof_count"] > 1,
        "page_count_mismatch": None not in (pdf["page_count"], pdf["declared_page_count"])
        and pdf["page_count"] != pdf["declared_page_count"],
        "parse_error": pdf["parse_error"] is not None,
    }
    return sorted(found | {word for word, hit in checks.items() if hit})


class ViewPDF:
    """Compact summary of a PDF: version, pages, metadata, risky keywords (/JS, /OpenAction), indicators."""

    dependencies = ["meta", "pdf"]
    applies_to = ("pdf",)

    def execute(self, input_data: dict) -> dict:
        meta, pdf = input_data["meta"], input_data["pdf"]
        metadata = pdf["metadata"] or {}
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            "pdf": {
                **{key: pdf[key] for key in ("header_version", "page_count", "encrypted", "embedded_files")},
                **{key: metadata.get(name) for key, name in METADATA_KEYS.items()},
                "parse_error": pdf["parse_error"],
            },
            "risky_keywords": {name: n for name, n in pdf["keywords"].items() if n and name != "/Page"},
            "obfuscated": pdf["obfuscated"],
            "objects": pdf["structure"]["obj"],
            "indicators": indicators(pdf),
        }
