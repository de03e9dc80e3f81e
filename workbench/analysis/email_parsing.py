"""E-mail messages: RFC 5322 .eml with the stdlib ``email`` package, Outlook .msg with extract-msg.

Both give one :class:`Parsed`: headers in order, addresses, the Received chain (newest first, as the
headers stand: the last hop added its line on top), text and HTML bodies, and attachments (bytes, to be
stored as child samples). URLs come from the bodies with workbench.analysis.iocs, HTML ``href`` targets included.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.policy
import email.utils
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message

from workbench.analysis import iocs, office_parsing

if importlib.util.find_spec("extract_msg") is None:
    raise ImportError("extract-msg is not installed: run ./install.sh (or pip install extract-msg)")

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc", "return-path", "delivered-to")
RECEIVED = re.compile(r"^\s*(?:from\s+(?P<from>.*?))?\s*(?:by\s+(?P<by>.*?))?\s*(?:with\s+(?P<with>\S+).*?)?"
                      r"(?:;\s*(?P<date>[^;]*))?$", re.IGNORECASE | re.DOTALL)


@dataclass
class Attachment:
    """One attached file: its name, MIME type, bytes and whether it came inline or as an attachment."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    disposition: str = "attachment"


@dataclass
class Parsed:
    """A parsed message, whatever its format."""

    format: str
    headers: list[tuple[str, str]]
    text_body: str = ""
    html_body: str = ""
    attachments: list[Attachment] = field(default_factory=list)


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    return payload.decode(part.get_content_charset() or "utf-8", errors="replace")


def _leaves(part: Message) -> Iterator[Message]:
    """Non-multipart parts in order; an attached message (message/rfc822) is one leaf, not walked into."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    for sub in part.get_payload():
        yield from _leaves(sub)


def _attachment_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        return inner[0].as_bytes() if isinstance(inner, list) and inner else b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _header_text(value: object) -> str:
    """A header's text with RFC 2047 encoded words decoded (``=?utf-8?b?...?=``), else as written."""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (email.errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        return str(value)


def parse_eml(raw: bytes) -> Parsed:
    """An RFC 5322 message (compat32 policy: it never raises on malformed headers, it keeps their text).
    A forwarded message (message/rfc822, as users report phishing) is one attachment, its own bytes."""
    message = email.message_from_bytes(raw)
    parsed = Parsed("eml", [(name, _header_text(value)) for name, value in message.items()])
    for part in _leaves(message):
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if filename or disposition == "attachment" or part.get_content_maintype() != "text":
            default = "message" if part.get_content_type() == "message/rfc822" else "part"
            parsed.attachments.append(Attachment(str(filename or f"{default}-{len(parsed.attachments) + 1}"),
                                                 part.get_content_type(), _attachment_bytes(part),
                                                 disposition or "inline"))
        elif part.get_content_type() == "text/html":
            parsed.html_body += _decode(part)
        else:
            parsed.text_body += _decode(part)
    return parsed


def parse_msg(raw: bytes) -> Parsed:
    """An Outlook .msg (OLE compound file of MAPI properties); its transport headers when it kept them,
    else headers made from the MAPI sender, recipients, subject and date. The HTML body is the stored one
    (an RTF-only message has none here)."""
    import extract_msg  # on first use: 1.2 s to import, which every pool process would pay at start-up
    from extract_msg.enums import BodyTypes

    office_parsing.check_readable(raw, "ole")  # also keeps olefile from taking short bytes for a path
    with extract_msg.openMsg(raw, delayAttachments=False) as message:
        headers = [(name, str(value)) for name, value in message.header.items()] if message.header else []
        if not headers:
            made = (("From", message.sender), ("To", message.to), ("Cc", message.cc), ("Subject", message.subject),
                    ("Date", message.date), ("Message-ID", message.messageId))
            headers = [(name, str(value)) for name, value in made if value]
        # htmlBody is made up from the plain body when the message has none: keep only a stored one
        html = (message.htmlBody or b"") if BodyTypes.HTML in message.detectedBodies else b""
        parsed = Parsed("msg", headers, message.body or "",
                        html.decode("utf-8", errors="replace") if isinstance(html, bytes) else html)
        for attachment in message.attachments:
            data = attachment.data
            if not isinstance(data, bytes):  # an attached .msg (embedded message object): keep its bytes
                data = data.exportBytes() if hasattr(data, "exportBytes") else b""
            parsed.attachments.append(Attachment(attachment.longFilename or attachment.shortFilename or
                                                 f"attachment-{len(parsed.attachments) + 1}",
                                                 getattr(attachment, "mimetype", None) or "", data))
    return parsed


def parse(raw: bytes) -> Parsed:
    """parse_msg for an OLE compound file, parse_eml for anything else."""
    return parse_msg(raw) if raw.startswith(OLE_MAGIC) else parse_eml(raw)


def received_chain(headers: list[tuple[str, str]]) -> list[dict]:
    """Each Received header as {from, by, with, date, raw}, newest first (header order)."""
    chain = []
    for name, value in headers:
        if name.lower() != "received":
            continue
        flat = " ".join(value.split())
        match = RECEIVED.match(flat)
        fields = {key: (match.group(key) or None) if match else None for key in ("from", "by", "with", "date")}
        chain.append({**fields, "raw": flat[:1000]})
    return chain


def addresses(headers: list[tuple[str, str]]) -> dict[str, list[dict]]:
    """{header: [{name, address}]} for the address headers present (From, To, Cc, Reply-To...)."""
    found: dict[str, list[dict]] = {}
    for name, value in headers:
        key = name.lower()
        if key in ADDRESS_HEADERS:
            pairs = email.utils.getaddresses([value])
            found.setdefault(key, []).extend({"name": display, "address": address} for display, address in pairs
                                             if address or display)
    return found


def body_urls(parsed: Parsed) -> list[dict]:
    """URLs in the text and HTML bodies with counts ([{value, count}], sorted by URL)."""
    return iocs.as_sorted_list(iocs.extract([parsed.text_body, parsed.html_body])["urls"])
