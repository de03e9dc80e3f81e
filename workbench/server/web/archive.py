"""A sample for download: inside a zip encrypted (AES-256) with the password ``infected``, never as raw bytes.

The password is the malware-sharing convention: it stops browsers, mail filters and virus scanners from
acting on the file by accident; it is not a secret. pyzipper writes WinZip AES, which 7-Zip and unzip-aes read.
"""

from __future__ import annotations

import io
import re

import pyzipper

PASSWORD = b"infected"


def member_name(md5: str, filename: str) -> str:
    """A safe name inside the zip: the md5 plus the original basename's harmless characters."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")[:80]
    return f"{md5}_{base}" if base else md5


def encrypted_zip(md5: str, filename: str, raw_bytes: bytes) -> bytes:
    """The zip file's bytes: one member, AES-encrypted with ``PASSWORD``."""
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED,
                             encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(PASSWORD)
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        archive.writestr(member_name(md5, filename), raw_bytes)
    return buffer.getvalue()
