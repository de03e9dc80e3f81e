"""View: the summary view of any sample, picked by its type_tag.

Returns ``view_worker`` (the type-specific view used, or None), ``type_tag``, and ``view`` (that worker's
output, or a minimal summary from meta when no view exists for the type_tag).
"""


class View:
    """The summary view of any sample: dispatches on type_tag to view_pe, view_pdf, view_pcap... when loaded."""

    dependencies = ["meta"]
    dispatch = {
        "exe": "view_pe",
        "pdf": "view_pdf",
        "pcap": "view_pcap",
        "zip": "view_zip",
        "swf": "view_swf",
        "log": "view_log",
        "txt": "view_log",
        "bro": "view_bro",
        "json": "view_json",
        "elf": "view_elf",
        "macho": "view_macho",
        "doc": "view_office",
        "ooxml": "view_office",
        "rtf": "view_rtf",
        "email": "view_email",
    }

    def execute(self, input_data: dict) -> dict:
        meta = input_data["meta"]
        target = self.dispatch.get(meta["type_tag"])
        if target in input_data:
            return {"view_worker": target, "type_tag": meta["type_tag"], "view": input_data[target]}
        summary = {key: meta[key] for key in ("md5", "filename", "length", "file_type", "mime_type")}
        return {"view_worker": None, "type_tag": meta["type_tag"], "view": summary}
