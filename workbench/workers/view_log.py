"""View log: a compact summary of a text log (log or txt sample) from meta and log_meta.

Returns md5, filename, file_type, length; encoding, line_count, timestamped_lines, first_timestamp,
last_timestamp; top_hosts and top_processes ({name: lines}, the ``max_items`` most frequent).
"""

LOG_KEYS = ("encoding", "line_count", "timestamped_lines", "first_timestamp", "last_timestamp")


class ViewLog:
    """Compact summary of a text log: encoding, lines, time span, top hosts and processes."""

    dependencies = ["meta", "log_meta"]
    applies_to = ("log", "txt")
    options = {"max_items": 5}

    def execute(self, input_data: dict) -> dict:
        meta, log = input_data["meta"], input_data["log_meta"]
        cap = self.options["max_items"]
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            **{key: log[key] for key in LOG_KEYS},
            "top_hosts": dict(list(log["top_hosts"].items())[:cap]),
            "top_processes": dict(list(log["top_processes"].items())[:cap]),
        }
