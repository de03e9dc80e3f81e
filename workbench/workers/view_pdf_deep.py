"""View PDF deep: view_pdf's summary plus every keyword and structure count, full metadata, entropy,
fuzzy hashes and network indicators.

Returns everything view_pdf returns, plus keywords and structure (all pdfid-style counts, zeros included),
metadata (every document info entry), declared_page_count, encryption, eof_count, bytes_after_last_eof
(from pdf); entropy, ssdeep, tlsh (from meta_deep); urls, domains, ipv4, emails (values, at most
``max_items`` each, sorted) and ioc_total (from url; only what is readable in the raw bytes, not inside
compressed streams).
"""

IOC_KINDS = ("urls", "domains", "ipv4", "emails")
PDF_KEYS = ("keywords", "structure", "metadata", "declared_page_count", "encryption", "eof_count",
            "bytes_after_last_eof")


class ViewPDFDeep:
    """view_pdf plus all keyword/structure counts, full metadata, entropy, ssdeep/TLSH and URLs/IPs."""

    dependencies = ["view_pdf", "pdf", "meta_deep", "url"]
    applies_to = ("pdf",)
    options = {"max_items": 20}

    def execute(self, input_data: dict) -> dict:
        pdf, deep, iocs = input_data["pdf"], input_data["meta_deep"], input_data["url"]
        cap = self.options["max_items"]
        return {
            **input_data["view_pdf"],
            **{key: pdf[key] for key in PDF_KEYS},
            "entropy": round(deep["entropy"], 4),
            "ssdeep": deep["ssdeep"],
            "tlsh": deep["tlsh"],
            **{kind: [item["value"] for item in iocs[kind][:cap]] for kind in IOC_KINDS},
            "ioc_total": iocs["total"],
        }
