"""Office VBA: macros of an Office document with olevba and mraptor (oletools).

Encrypted documents are tried with the default password "VelvetSweatshop" first (msoffcrypto-tool); when it
fails the macros cannot be seen, which the output says (analyzed False, and encryption tells why).

Returns analyzed (bool), encryption ({encrypted, method, decrypted, password, error}); container (olevba's
type: OLE, OpenXML, PPT, Word2003_XML, MHTML...), has_vba, has_xlm, modules ([{stream, name, source (first
max_source_chars characters), source_length}]), keywords ({autoexec, suspicious, iocs, hex_strings,
base64_strings, dridex_strings, vba_strings: [{keyword, description}], first max_keywords each}: olevba's
scan), keyword_counts ({olevba type: count}), mraptor ({verdict: "No Macro" | "Macro OK" | "SUSPICIOUS",
flags ("AWX": auto-exec, writes, executes), autoexec, write, execute, matches}); the macro fields are
None/empty when analyzed is False.
"""

from workbench.analysis import office_macros, office_parsing


class OfficeVba:
    """VBA/XLM macros of an Office document: source, auto-exec triggers, suspicious keywords, olevba and mraptor."""

    dependencies = ["sample"]
    applies_to = ("doc", "ooxml")
    options = {"max_source_chars": 100_000, "max_keywords": 100}
    timeout = 90

    def execute(self, input_data: dict) -> dict:
        sample = input_data["sample"]
        document = office_parsing.open_document(sample["raw_bytes"])
        if document.encryption["encrypted"] and not document.encryption["decrypted"]:
            return {"analyzed": False, "encryption": document.encryption, "container": None, "has_vba": None,
                    "has_xlm": None, "modules": [], "keywords": {}, "keyword_counts": {},
                    "mraptor": None}
        macros = office_macros.analyze(document.data, sample["filename"], self.options["max_source_chars"],
                                       self.options["max_keywords"])
        return {"analyzed": True, "encryption": document.encryption, **macros}
