"""Office meta: format, encryption, metadata and structure of an OLE (.doc/.xls/.ppt) or OOXML (.docx...) document.

An encrypted document is tried with Excel's default password "VelvetSweatshop" (msoffcrypto-tool); when it
opens, the facts below are the decrypted document's, otherwise only the encrypted container's.

Returns container ("ole" or "ooxml": of the document analysed, so an encrypted .docx decrypted is "ooxml"),
encryption ({encrypted, method, decrypted, password, error}); application ("word", "excel", "powerpoint",
"outlook", "visio", "encrypted_ooxml" or None); metadata (OLE: SummaryInformation and
DocumentSummaryInformation properties present, e.g. author, last_saved_by, create_time, codepage; OOXML:
docProps core and app elements, e.g. creator, lastModifiedBy, created, Application, Template); and
OLE: streams ([{path, size}], first max_streams), stream_count, root_clsid;
OOXML: content_type (of the main part), macro_enabled, parts ([{name, size}], first max_streams), part_count,
external_relationships ([{part, type, target}]: remote templates, linked objects).
"""

from workbench.analysis import office_parsing


class OfficeMeta:
    """Office document facts: OLE/OOXML metadata, streams or parts, external links, encryption (default password)."""

    dependencies = ["sample"]
    applies_to = ("doc", "ooxml")
    options = {"max_streams": 200}
    timeout = 60

    def execute(self, input_data: dict) -> dict:
        document = office_parsing.open_document(input_data["sample"]["raw_bytes"])
        cap = self.options["max_streams"]
        if document.container == "ole":
            facts = office_parsing.ole_facts(document.data, cap)
        else:
            facts = office_parsing.ooxml_facts(document.data, cap)
        return {"container": document.container, "encryption": document.encryption, **facts}
