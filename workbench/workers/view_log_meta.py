"""View log meta: the original Workbench's view of a text log, log_meta's summary with the sample's basics.

Returns md5, filename, type_tag, file_type and length (from meta), then everything log_meta returns
(byte_size, encoding, line_count, empty_lines, max_line_length, timestamped_lines, first_timestamp,
last_timestamp, top_hosts, top_processes). ``view_log`` is the compact view ``view`` dispatches to; this
one keeps the original's name and its whole log_meta payload.
"""


class ViewLogMeta:
    """The original's log view: log_meta's whole summary (lines, encoding, time span, hosts) with md5 and name."""

    dependencies = ["meta", "log_meta"]
    applies_to = ("log", "txt")

    def execute(self, input_data: dict) -> dict:
        meta = input_data["meta"]
        return {**{key: meta[key] for key in ("md5", "filename", "type_tag", "file_type", "length")},
                **input_data["log_meta"]}
