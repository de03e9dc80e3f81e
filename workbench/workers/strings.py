"""Strings: printable ASCII and UTF-16LE runs of at least 4 characters.

Returns string_list (ASCII runs then UTF-16LE runs, in file order within each kind, at most ``max_strings``),
ascii_count, utf16_count and truncated (True when the cap cut the list).
"""

import re

ASCII_RUN = re.compile(rb"[\x20-\x7e]{4,}")
UTF16LE_RUN = re.compile(rb"(?:[\x20-\x7e]\x00){4,}")


class Strings:
    """Printable ASCII and UTF-16LE strings (4+ characters) found in the sample's bytes."""

    dependencies = ["sample"]
    options = {"max_strings": 100000}

    def execute(self, input_data: dict) -> dict:
        raw = input_data["sample"]["raw_bytes"]
        ascii_runs = [m.decode("ascii") for m in ASCII_RUN.findall(raw)]
        utf16_runs = [m.decode("utf-16-le") for m in UTF16LE_RUN.findall(raw)]
        cap = self.options["max_strings"]
        everything = ascii_runs + utf16_runs
        return {
            "string_list": everything[:cap],
            "ascii_count": len(ascii_runs),
            "utf16_count": len(utf16_runs),
            "truncated": len(everything) > cap,
        }
