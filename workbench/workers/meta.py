"""Meta: hashes, size and file type of any sample.

Returns md5, sha1, sha256, length, file_type (libmagic's description), mime_type, filename, type_tag and
import_time, as stored with the sample; also the original's encoding (libmagic's MIME encoding, e.g. binary,
us-ascii) and file_size (= length). Served with the sample's tags and customer (the original's keys), read
when served so that a tag added later shows (workbench.py), not stored with the output.
"""

import hashlib

import magic


class Meta:
    """Hashes, size and libmagic file type of any sample (md5, sha1, sha256, length, file_type, mime_type...)."""

    dependencies = ["sample"]

    def __init__(self) -> None:
        self._describe = magic.Magic()
        self._mime = magic.Magic(mime=True)
        self._encoding = magic.Magic(mime_encoding=True)

    def execute(self, input_data: dict) -> dict:
        sample = input_data["sample"]
        raw = sample["raw_bytes"]
        head = raw[: 1 << 20]
        return {
            "md5": hashlib.md5(raw).hexdigest(),
            "sha1": hashlib.sha1(raw).hexdigest(),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "length": len(raw),
            "file_type": self._describe.from_buffer(head) if raw else "empty",
            "mime_type": self._mime.from_buffer(head) if raw else "application/x-empty",
            "filename": sample["filename"],
            "type_tag": sample["type_tag"],
            "import_time": sample["import_time"],
            "encoding": self._encoding.from_buffer(head) if raw else "binary",
            "file_size": len(raw),
        }
