"""Log meta: size, line count, encoding and, for syslog-like lines, time span and top hosts/processes.

Returns byte_size, encoding ("ascii", "utf-8", "utf-8-sig", "utf-16" (with a BOM) or "latin-1" when
nothing stricter decodes), line_count (lines split on "\\n" only; a last line without "\\n" counts),
empty_lines, max_line_length (characters), timestamped_lines (lines starting with a BSD syslog stamp "Feb  9
10:21:48" or an ISO 8601 one "2014-04-07T20:32:29Z", after an optional <PRI>), first_timestamp and
last_timestamp (the stamps of the first and last such lines in file order, as written: BSD stamps have no
year, so they are not sorted), top_hosts and top_processes ({name: lines}, the ``top_n`` most frequent,
from "<stamp> <host> <process>[<pid>]: " prefixes, or macOS's "<process>[<pid>] (<job>)"; a process name
may hold spaces when a [<pid>] follows; "--- last message repeated" lines have no host or process).
"""

import codecs
import re
from collections import Counter

# "<PRI>stamp host process[pid]: " with the host/process part optional; macOS writes "launchd[1] (job): ".
SYSLOG_LINE = re.compile(
    r"^(?:<\d{1,3}>)?"
    r"(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r"(?: (?P<host>\S+) (?P<process>[^\s:\[]+|[^:\[\n]{1,64}(?=\[\d+\]))(?:\[\d+\])?(?::| \())?",
    re.MULTILINE,
)
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(raw: bytes) -> tuple[str, str]:
    """The text and the name of the strictest encoding that decodes it (latin-1 always does)."""
    for bom, encoding in BOMS:
        if raw.startswith(bom):
            return raw.decode(encoding, "replace"), encoding
    if raw.isascii():
        return raw.decode("ascii"), "ascii"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


class LogMeta:
    """Text log summary: lines, size, encoding, first/last syslog timestamp, top hosts and processes."""

    dependencies = ["sample"]
    applies_to = ("log", "txt")
    options = {"top_n": 10}

    def execute(self, input_data: dict) -> dict:
        raw = input_data["sample"]["raw_bytes"]
        text, encoding = decode(raw)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final "\n" ends the last line; it does not start a new one
        hosts: Counter[str] = Counter()
        processes: Counter[str] = Counter()
        first = last = None
        stamped = 0
        for match in SYSLOG_LINE.finditer(text):
            stamped += 1
            first = first or match.group("stamp")
            last = match.group("stamp")
            if match.group("host"):
                hosts[match.group("host")] += 1
                processes[match.group("process")] += 1
        top_n = self.options["top_n"]
        return {
            "byte_size": len(raw),
            "encoding": encoding,
            "line_count": len(lines),
            "empty_lines": sum(1 for line in lines if not line.strip()),
            "max_line_length": max((len(line.rstrip("\r")) for line in lines), default=0),
            "timestamped_lines": stamped,
            "first_timestamp": first,
            "last_timestamp": last,
            "top_hosts": dict(hosts.most_common(top_n)),
            "top_processes": dict(processes.most_common(top_n)),
        }
