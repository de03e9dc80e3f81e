"""Bro log: a Zeek (Bro) ASCII log parsed into typed records, using its #fields and #types header lines.

Returns path (the log's ``#path``, e.g. "conn"), open and close (the ``#open``/``#close`` stamps, text, or
None), fields (column names) and types (Zeek types, e.g. "time", "addr", "set[string]"), record_count (all
data lines that parsed), records (the FIRST ``max_records`` records only, default 1000, as {field: value}:
count/int/port -> int, double/time/interval -> float, bool -> True/False, set/vector/table -> list,
unset "-" -> None, "(empty)" -> [] or ""; see analysis/bro_parsing.py), records_truncated (True when
record_count > max_records), malformed_lines (data lines whose column count did not match) and
malformed_values (values left as text because they did not fit their type).
The whole stream of records is what the server's stream_sample is for; this output stays small.
"""

from itertools import islice

from workbench.analysis import bro_parsing


class BroLog:
    """Zeek/Bro log parsed with its #fields/#types header: path, columns, typed records (first N), counts."""

    dependencies = ["sample"]
    applies_to = ("bro",)
    options = {"max_records": 1000}

    def execute(self, input_data: dict) -> dict:
        header, rows = bro_parsing.iter_rows(input_data["sample"]["raw_bytes"])
        cap = self.options["max_records"]
        records = [bro_parsing.to_record(header, values) for values in islice(rows, cap)]
        record_count = len(records) + sum(1 for _ in rows)
        if not header.fields:
            raise ValueError("no #fields header line: not a Zeek/Bro ASCII log (Zeek's JSON logs are json "
                             "samples: use json_meta)")
        return {
            "path": header.path,
            "open": header.open,
            "close": header.close,
            "fields": header.fields,
            "types": header.types,
            "record_count": record_count,
            "records": records,
            "records_truncated": record_count > cap,
            "malformed_lines": header.malformed_lines,
            "malformed_values": header.malformed_values,
        }
