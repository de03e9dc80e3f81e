"""PDF: pdfid-style risk keyword counts, structure counts and pypdf's document facts.

Returns:
- header_version ("1.6", or None without a ``%PDF-x.y`` header in the first 1 KB), header_offset (bytes of
  junk before the header, a classic evasion), eof_count (``%%EOF`` markers: >1 means incremental updates),
  bytes_after_last_eof (non-blank bytes after the last ``%%EOF``);
- keywords: {"/JS", "/JavaScript", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile", "/ObjStm", "/AcroForm",
  "/XFA", "/RichMedia", "/URI", "/JBIG2Decode", "/Page", "/Encrypt": count}, counted on the raw bytes as
  pdfid does, with ``#xx`` escapes in names decoded; obfuscated: the same names, only those written with
  ``#xx`` escapes ({} for most files);
- structure: {"obj", "endobj", "stream", "endstream", "xref", "trailer", "startxref": count};
- from pypdf (strict=False): metadata ({"Title": str, ...}, values cut to 1000 characters), page_count
  (pages found in the page tree), declared_page_count (the tree's /Count, None when absent; differs on
  tampered files),
  encrypted (bool), encryption ({Filter, V, R, Length, opened_with_empty_password} or None),
  embedded_files (sorted names);
- parse_error: None, or what pypdf could not read ("open: PdfReadError: ..." leaves every pypdf field None;
  "encrypted: ..." when a user password is needed;
  "page_count: ..." only that one). A malformed PDF still gets its keyword counts.
"""

from workbench.analysis import pdf_parsing


class Pdf:
    """PDF risk keywords (/JS, /OpenAction, /Launch...), structure counts, metadata, pages and encryption."""

    dependencies = ["sample"]
    applies_to = ("pdf",)
    timeout = 30

    def execute(self, input_data: dict) -> dict:
        raw = input_data["sample"]["raw_bytes"]
        return {
            **pdf_parsing.header_facts(raw),
            **pdf_parsing.count_keywords(raw),
            **pdf_parsing.document_facts(raw),
        }
