"""E-mail meta: headers, the Received chain, sender and recipients, body URLs and attachments of an e-mail.

An RFC 5322 message (.eml) is read with the stdlib ``email`` package, an Outlook .msg (OLE) with extract-msg;
see workbench.analysis.email_parsing. Each attachment is stored through the corpus as a child sample
(filename ``<message>!/<attachment name>``).

Returns format ("eml" or "msg"), subject, date, message_id, from, to, cc, reply_to, return_path (address
header lists [{name, address}], [] when absent), received ([{from, by, with, date, raw}], newest first),
header_count, headers ([{name, value}], first max_headers, values cut to 2000 characters), text_body and
html_body (first max_body_chars characters), body_urls ([{value, count}] from both bodies), attachments
([{filename, content_type, disposition, size, md5}], md5 None past max_attachments), and indicators (sorted
words: reply_to_differs, return_path_differs, has_attachments, html_only, no_received).
"""

from workbench.analysis import email_parsing


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _domain(entries: list[dict]) -> str:
    return entries[0]["address"].rsplit("@", 1)[-1].lower() if entries else ""


class EmailMeta:
    """E-mail (.eml, .msg): headers, Received chain, sender/recipients, URLs in the body; attachments as children."""

    dependencies = ["sample", "corpus"]
    applies_to = ("email",)
    options = {"max_headers": 200, "max_body_chars": 20_000, "max_attachments": 100}
    timeout = 60

    def execute(self, input_data: dict) -> dict:
        sample, corpus = input_data["sample"], input_data["corpus"]
        parent = sample["filename"] or sample["md5"]
        parsed = email_parsing.parse(sample["raw_bytes"])
        people = email_parsing.addresses(parsed.headers)
        attachments = []
        for index, item in enumerate(parsed.attachments):
            stored = index < self.options["max_attachments"]
            md5 = corpus.store_child(item.data, f"{parent}!/{item.filename}") if stored else None
            attachments.append({"filename": item.filename, "content_type": item.content_type,
                                "disposition": item.disposition, "size": len(item.data), "md5": md5})
        received = email_parsing.received_chain(parsed.headers)
        sender = _domain(people.get("from", []))
        checks = {"reply_to_differs": bool(people.get("reply-to")) and _domain(people["reply-to"]) != sender,
                  "return_path_differs": bool(people.get("return-path")) and _domain(people["return-path"]) != sender,
                  "has_attachments": bool(attachments), "html_only": bool(parsed.html_body) and not parsed.text_body,
                  "no_received": not received and parsed.format == "eml"}
        body_cap = self.options["max_body_chars"]
        return {
            "format": parsed.format,
            **{key: _first(parsed.headers, key.replace("_", "-")) for key in ("subject", "date", "message_id")},
            **{key: people.get(key.replace("_", "-"), []) for key in ("from", "to", "cc", "reply_to", "return_path")},
            "received": received,
            "header_count": len(parsed.headers),
            "headers": [{"name": n, "value": v[:2000]} for n, v in parsed.headers[:self.options["max_headers"]]],
            "text_body": parsed.text_body[:body_cap],
            "html_body": parsed.html_body[:body_cap],
            "body_urls": email_parsing.body_urls(parsed),
            "attachments": attachments,
            "indicators": sorted(word for word, hit in checks.items() if hit),
        }
