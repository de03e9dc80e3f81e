"""View e-mail: a compact summary of an e-mail (.eml or .msg) from meta and email_meta.

Returns md5, filename, file_type, length; format; subject, date, message_id; from, to, cc, reply_to
(addresses as "Name <address>" strings); hops (number of Received headers) and first_hop (the oldest
Received line's from/by, where the message entered the mail system); body_urls (first max_urls URL strings)
and url_count; attachments ([{filename, content_type, size, md5}], first max_attachments),
attachment_count; indicators (email_meta's words).
"""


def _people(entries: list[dict]) -> list[str]:
    return [f"{e['name']} <{e['address']}>" if e["name"] else e["address"] for e in entries]


class ViewEmail:
    """Compact summary of an e-mail: subject, sender/recipients, Received hops, body URLs, attachments (md5s)."""

    dependencies = ["meta", "email_meta"]
    applies_to = ("email",)
    options = {"max_urls": 20, "max_attachments": 20}

    def execute(self, input_data: dict) -> dict:
        meta, mail = input_data["meta"], input_data["email_meta"]
        oldest = mail["received"][-1] if mail["received"] else None
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            **{key: mail[key] for key in ("format", "subject", "date", "message_id")},
            **{key: _people(mail[key]) for key in ("from", "to", "cc", "reply_to")},
            "hops": len(mail["received"]),
            "first_hop": {"from": oldest["from"], "by": oldest["by"]} if oldest else None,
            "body_urls": [url["value"] for url in mail["body_urls"][:self.options["max_urls"]]],
            "url_count": len(mail["body_urls"]),
            "attachments": [{key: a[key] for key in ("filename", "content_type", "size", "md5")}
                            for a in mail["attachments"][:self.options["max_attachments"]]],
            "attachment_count": len(mail["attachments"]),
            "indicators": mail["indicators"],
        }
