"""Office documents, RTF files and e-mails built for the tests (issue 15), from benign parts only.

The real documents in tests/data/office come from oletools' own test set (BSD licence, LICENSE-oletools.md
beside them): harmless files made by its author: an Excel workbook whose Auto_Open macro shows "Hello World"
(.xlsm and .xls, encrypted with Excel's default password), a .docx encrypted with another password, a .doc and
a .docx carrying a text file in an OLE package, and an Excel 4 macro sheet (ALERT, then HALT). Everything else
is built here:

- a VBA project with a macro written here: the shipped workbook's ``vbaProject.bin`` with the source of its
  module Modul1 replaced (MS-OVBA 2.4.1: the module stream is its p-code cache up to MODULEOFFSET, then the
  source in a compressed container; we write uncompressed "raw" chunks, which the format allows);
- .docm/.xlsm files: python-docx and openpyxl documents with that project inserted as the format wants it
  (a ``vbaProject.bin`` part, its relationship, the macro-enabled content type);
- OLE packages (MS-OLEDS 2.3.6 OLENativeStream) in OLE objects written with extract-msg's OleWriter, as
  OOXML embeddings and in RTF ``\\objdata`` (MS-OLEDS 2.2.4 OLE1 object, class "Package");
- encrypted OOXML with msoffcrypto-tool's own encrypt;
- .eml messages with the stdlib ``email`` package, and an Outlook .msg written property by property
  (MS-OXMSG) with OleWriter.

No macro here ever runs: they are strings in a file that parsers read.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from email.message import EmailMessage
from functools import lru_cache

import docx
import msoffcrypto
import olefile
import openpyxl
from extract_msg.ole_writer import OleWriter
from oletools import olevba

from workbench.testing import REPO_ROOT

OFFICE_DATA = REPO_ROOT / "tests" / "data" / "office"
DEFAULT_PASSWORD = "VelvetSweatshop"
MACRO_SOURCE = (
    'Attribute VB_Name = "Modul1"\r\n'
    "Sub AutoOpen()\r\n"
    "    Dim target As String\r\n"
    '    target = Environ("TEMP") & "\\workbench-test.txt"\r\n'
    "    Open target For Output As #1\r\n"
    '    Print #1, "http://example.invalid/workbench-test"\r\n'
    "    Close #1\r\n"
    '    Shell "notepad.exe " & target\r\n'
    "End Sub\r\n"
)
PACKAGE_PAYLOAD = b"workbench test payload: a text file carried in an OLE package\r\n"
VBA_CONTENT_TYPE = "application/vnd.ms-office.vbaProject"
VBA_RELATIONSHIP = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
OLE_OBJECT_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/oleObject"
TEMPLATE_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate"
REMOTE_TEMPLATE = "http://example.invalid/templates/remote.dotm"


def decrypt(raw: bytes, password: str) -> bytes:
    """msoffcrypto-tool's decryption of an encrypted Office document."""
    office = msoffcrypto.OfficeFile(io.BytesIO(raw))
    office.load_key(password=password)
    plain = io.BytesIO()
    office.decrypt(plain)
    return plain.getvalue()


def encrypt(raw: bytes, password: str) -> bytes:
    """An OOXML document encrypted by msoffcrypto-tool (ECMA-376 agile, as Office writes it)."""
    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(raw)).encrypt(password, out)
    return out.getvalue()


@lru_cache(maxsize=1)
def shipped_vba_project() -> bytes:
    """The vbaProject.bin of oletools' autostart-encrypt-standardpassword.xlsm (decrypted)."""
    plain = decrypt((OFFICE_DATA / "autostart-encrypt-standardpassword.xlsm").read_bytes(), DEFAULT_PASSWORD)
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        return archive.read("xl/vbaProject.bin")


def raw_compressed_container(text: str) -> bytes:
    """MS-OVBA 2.4.1 CompressedContainer of uncompressed chunks (4096 bytes each, padded with spaces)."""
    data = text.encode("latin-1")
    data += b" " * (-len(data) % 4096)
    chunks = [struct.pack("<H", 0x3FFF) + data[i:i + 4096] for i in range(0, len(data), 4096)]
    return b"\x01" + b"".join(chunks)


def _module_offset(stream: bytes, dir_stream: bytes) -> int:
    """The MODULEOFFSET (dir stream record 0x0031) whose source is this module's."""
    for match in re.finditer(rb"\x31\x00\x04\x00\x00\x00", dir_stream):
        offset = struct.unpack_from("<I", dir_stream, match.end())[0]
        if offset < len(stream) and stream[offset] == 1:
            try:
                if olevba.decompress_stream(bytearray(stream[offset:])).startswith(b"Attribute VB_Name"):
                    return offset
            except Exception:  # another module's offset lands in p-code: try the next one
                continue
    raise ValueError("no MODULEOFFSET record of the dir stream points at this module's source")


@lru_cache(maxsize=4)
def vba_project(source: str = MACRO_SOURCE) -> bytes:
    """The shipped VBA project with module Modul1's source replaced by ``source``."""
    with olefile.OleFileIO(shipped_vba_project()) as ole:
        dir_stream = bytes(olevba.decompress_stream(bytearray(ole.openstream("VBA/dir").read())))
        module = ole.openstream("VBA/Modul1").read()
        writer = OleWriter()
        writer.fromOleFile(ole)
    offset = _module_offset(module, dir_stream)
    writer.editEntry(["VBA", "Modul1"], data=module[:offset] + raw_compressed_container(source))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def ole_native(filename: str, payload: bytes, src_path: str = "", temp_path: str = "",
               with_size: bool = True) -> bytes:
    """An OLENativeStream (MS-OLEDS 2.3.6) wrapping ``payload`` as an OLE package of ``filename``."""
    src_path = src_path or f"C:\\Users\\tester\\Documents\\{filename}"
    temp_path = temp_path or f"C:\\Users\\tester\\AppData\\Local\\Temp\\{filename}"
    body = (struct.pack("<H", 2) + filename.encode("latin-1") + b"\0" + src_path.encode("latin-1") + b"\0"
            + struct.pack("<II", 0x00030000, len(temp_path) + 1) + temp_path.encode("latin-1") + b"\0"
            + struct.pack("<I", len(payload)) + payload)
    return (struct.pack("<I", len(body)) + body) if with_size else body


def ole_object(native: bytes) -> bytes:
    """An embedded OLE object file (oleObject1.bin): a compound file holding the \\x01Ole10Native stream."""
    writer = OleWriter()
    writer.addEntry(["\x01Ole10Native"], data=native)
    writer.addEntry(["\x01CompObj"], data=b"\x01\x00\xfe\xff\x03\x0a\x00\x00" + b"\xff" * 4 + b"\0" * 16)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _add_parts(ooxml: bytes, rels_name: str, main_type: tuple[str, str], parts: dict[str, bytes],
               relationships: list[tuple[str, str, str, bool]], defaults: dict[str, str]) -> bytes:
    """``ooxml`` with extra parts, relationships added to ``rels_name`` ((id, type, target, external)), Default
    content types, and its main content type swapped (old, new)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(ooxml)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                text = data.decode().replace(*main_type)
                extra = "".join(f'<Default Extension="{ext}" ContentType="{ctype}"/>' for ext, ctype in defaults.items()
                                if f'Extension="{ext}"' not in text)
                data = text.replace("</Types>", extra + "</Types>").encode()
            elif info.filename == rels_name:
                extra = "".join(f'<Relationship Id="{rid}" Type="{rtype}" Target="{target_}"'
                                + (' TargetMode="External"' if external else "") + "/>"
                                for rid, rtype, target_, external in relationships)
                data = data.decode().replace("</Relationships>", extra + "</Relationships>").encode()
            target.writestr(info, data)
        for name, data in parts.items():
            target.writestr(name, data)
    return out.getvalue()


def docx_bytes(title: str = "Quarterly report", author: str = "Workbench Tests") -> bytes:
    """A plain .docx written by python-docx, with core properties set."""
    document = docx.Document()
    document.add_paragraph("A document built by the Workbench tests.")
    document.core_properties.title = title
    document.core_properties.author = author
    document.core_properties.last_modified_by = "Second Author"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docm_bytes(vba: bytes | None = None, package: bytes | None = None, remote_template: bool = False) -> bytes:
    """A python-docx document made macro-enabled (``vba`` inserted as word/vbaProject.bin), optionally with
    an embedded OLE object (word/embeddings/oleObject1.bin) and a remote template relationship."""
    parts, rels, defaults = {}, [], {"bin": VBA_CONTENT_TYPE}
    main_type = ("wordprocessingml.document.main+xml", "wordprocessingml.document.main+xml")
    if vba is not None:
        parts["word/vbaProject.bin"] = vba
        rels.append(("rIdVba1", VBA_RELATIONSHIP, "vbaProject.bin", False))
        main_type = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                     "application/vnd.ms-word.document.macroEnabled.main+xml")
    if package is not None:
        parts["word/embeddings/oleObject1.bin"] = package
        rels.append(("rIdOle1", OLE_OBJECT_RELATIONSHIP, "embeddings/oleObject1.bin", False))
    if remote_template:
        rels.append(("rIdTpl1", TEMPLATE_RELATIONSHIP, REMOTE_TEMPLATE, True))
    return _add_parts(docx_bytes(), "word/_rels/document.xml.rels", main_type, parts, rels, defaults)


def xlsm_bytes(vba: bytes, embedded: dict[str, bytes] | None = None) -> bytes:
    """An openpyxl workbook made macro-enabled with ``vba`` as xl/vbaProject.bin, plus parts under
    xl/embeddings/ (``embedded``: name -> bytes)."""
    book = openpyxl.Workbook()
    book.active["A1"] = "built by the Workbench tests"
    book.properties.creator = "Sheet Author"
    book.properties.title = "Budget"
    out = io.BytesIO()
    book.save(out)
    parts = {"xl/vbaProject.bin": vba, **{f"xl/embeddings/{n}": d for n, d in (embedded or {}).items()}}
    return _add_parts(out.getvalue(), "xl/_rels/workbook.xml.rels",
                      ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                       "application/vnd.ms-excel.sheet.macroEnabled.main+xml"),
                      parts, [("rIdVba1", VBA_RELATIONSHIP, "vbaProject.bin", False)], {"bin": VBA_CONTENT_TYPE})


def ole1_object(class_name: str, native: bytes) -> bytes:
    """An OLE 1.0 embedded object (MS-OLEDS 2.2.4 ObjectHeader + native data), as RTF \\objdata holds it."""
    name = class_name.encode("latin-1") + b"\0"
    return (struct.pack("<II", 0x00000501, 2) + struct.pack("<I", len(name)) + name + struct.pack("<II", 0, 0)
            + struct.pack("<I", len(native)) + native)


def rtf_bytes(objects: list[bytes], header: bytes = b"{\\rtf1\\ansi\\deff0") -> bytes:
    """An RTF document with each OLE1 object in an \\object group, hex-encoded in \\objdata."""
    groups = b"".join(b"{\\object\\objemb\\objw100\\objh100{\\*\\objdata " + obj.hex().encode() + b"}}"
                      for obj in objects)
    return header + b"{\\fonttbl{\\f0 Arial;}}\\pard Text before the object.\\par " + groups + b"\\par}"


def eml_bytes(attachments: dict[str, tuple[str, bytes]] | None = None) -> bytes:
    """A multipart e-mail (text + HTML bodies, three Received hops, a Reply-To elsewhere) with attachments
    (filename -> (MIME type, bytes))."""
    message = EmailMessage()
    message["Received"] = "from mx.example.org (mx.example.org [192.0.2.10]) by mail.example.com " \
                          "(Postfix) with ESMTPS id 4AB12; Tue, 1 Dec 2026 10:00:03 +0000"
    message["Received"] = "from relay.example.net (relay.example.net [198.51.100.7]) by mx.example.org " \
                          "with ESMTP id 77C3; Tue, 1 Dec 2026 10:00:02 +0000"
    message["Received"] = "from [203.0.113.5] (helo=sender-pc) by relay.example.net with SMTP id 9F; " \
                          "Tue, 1 Dec 2026 10:00:01 +0000"
    message["From"] = "Alice Sender <alice@example.net>"
    message["To"] = "Bob <bob@example.com>, carol@example.com"
    message["Cc"] = "Dave <dave@example.com>"
    message["Reply-To"] = "payments@example.org"
    message["Subject"] = "Invoice 4711 overdue"
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = "<4711.test@example.net>"
    message.set_content("Please pay at https://pay.example.org/invoice?id=4711 today.\n"
                        "Questions: http://help.example.net/faq\n")
    message.add_alternative('<html><body><a href="https://pay.example.org/invoice?id=4711">pay</a> '
                            '<a href="http://tracker.example.com/open.gif">.</a></body></html>', subtype="html")
    for filename, (mime, data) in (attachments or {}).items():
        maintype, subtype = mime.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def _unicode_stream(text: str) -> bytes:
    return text.encode("utf-16-le")


def msg_bytes(attachment: tuple[str, bytes] | None = None) -> bytes:
    """An Outlook .msg (MS-OXMSG): subject, sender, body, transport headers, one recipient and an attachment,
    written as property streams with extract-msg's OleWriter."""
    writer = OleWriter()
    headers = ("Received: from mx.example.org by mail.example.com; Tue, 1 Dec 2026 10:00:03 +0000\r\n"
               "From: Alice Sender <alice@example.net>\r\nTo: Bob <bob@example.com>\r\n"
               "Subject: Outlook invoice\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
               "Message-ID: <msg.4711@example.net>\r\n\r\n")
    strings = {"001A": "IPM.Note", "0037": "Outlook invoice", "0C1A": "Alice Sender", "0E04": "Bob",
               "1000": "Pay at https://pay.example.org/outlook?id=1 please.", "007D": headers,
               "5D01": "alice@example.net", "0065": "alice@example.net", "0042": "Alice Sender"}
    for prop, text in strings.items():
        writer.addEntry([f"__substg1.0_{prop}001F"], data=_unicode_stream(text))
    attach_count = 1 if attachment else 0
    # top-level property stream header: 8 reserved, next recipient id, next attachment id, counts, 8 reserved
    writer.addEntry(["__properties_version1.0"],
                    data=b"\0" * 8 + struct.pack("<IIII", 1, attach_count, 1, attach_count) + b"\0" * 8)
    writer.addEntry(["__nameid_version1.0"], storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(["__nameid_version1.0", f"__substg1.0_{stream}"], data=b"")
    recipient = "__recip_version1.0_#00000000"
    writer.addEntry([recipient], storage=True)
    writer.addEntry([recipient, "__properties_version1.0"],
                    data=b"\0" * 8 + struct.pack("<IIQ", 0x0C150003, 6, 1))  # PR_RECIPIENT_TYPE = To
    for prop, text in {"3001": "Bob", "39FE": "bob@example.com", "3003": "bob@example.com"}.items():
        writer.addEntry([recipient, f"__substg1.0_{prop}001F"], data=_unicode_stream(text))
    if attachment:
        name, data = attachment
        storage = "__attach_version1.0_#00000000"
        writer.addEntry([storage], storage=True)
        writer.addEntry([storage, "__properties_version1.0"],
                        data=b"\0" * 8 + struct.pack("<IIQ", 0x37050003, 6, 1))  # PR_ATTACH_METHOD = by value
        writer.addEntry([storage, "__substg1.0_37010102"], data=data)
        for prop, text in {"3707": name, "3704": name[:12], "3001": name}.items():
            writer.addEntry([storage, f"__substg1.0_{prop}001F"], data=_unicode_stream(text))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@lru_cache(maxsize=1)
def built_samples() -> dict[str, bytes]:
    """Every kind built here, by filename: for the cross-product test and the fuzz seeds."""
    package = ole_object(ole_native("readme.txt", PACKAGE_PAYLOAD))
    macro_docm = docm_bytes(vba_project(), package, remote_template=True)
    return {
        "built-macro.docm": macro_docm,
        "built-macro.xlsm": xlsm_bytes(vba_project(), {"Microsoft_Word_Document.docx": docx_bytes()}),
        "built-plain.docx": docx_bytes(),
        "built-default-password.docm": encrypt(macro_docm, DEFAULT_PASSWORD),
        "built-other-password.docm": encrypt(macro_docm, "s3cret-Passw0rd"),
        "built-objects.rtf": rtf_bytes([ole1_object("Package", ole_native("readme.txt", PACKAGE_PAYLOAD,
                                                                          with_size=False)),
                                        ole1_object("Equation.3", b"\x1c\x00\x00\x00\x02\x00" + b"\0" * 26)]),
        "built-attachments.eml": eml_bytes({"invoice.docm": ("application/vnd.ms-word.document.macroEnabled.12",
                                                             macro_docm),
                                            "notes.txt": ("text/plain", b"plain notes\n")}),
        "built-outlook.msg": msg_bytes(("invoice.docm", macro_docm)),
    }
