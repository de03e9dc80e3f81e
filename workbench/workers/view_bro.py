"""View Bro: a compact summary of a Zeek (Bro) log from meta and bro_log.

Returns md5, filename, length; path (e.g. "conn"), record_count, fields, first_ts and last_ts (the smallest
and largest "ts" among bro_log's records, which are the first ``max_records`` only: see records_sampled;
None without a ts column), records_sampled, malformed_lines and first_record (or None).
"""


class ViewBro:
    """Compact summary of a Zeek/Bro log: log path, record count, fields, time span, first record."""

    dependencies = ["meta", "bro_log"]
    applies_to = ("bro",)

    def execute(self, input_data: dict) -> dict:
        meta, bro = input_data["meta"], input_data["bro_log"]
        records = bro["records"]
        stamps = [r["ts"] for r in records if isinstance(r.get("ts"), float)]
        return {
            **{key: meta[key] for key in ("md5", "filename", "length")},
            **{key: bro[key] for key in ("path", "record_count", "fields")},
            "first_ts": min(stamps, default=None),
            "last_ts": max(stamps, default=None),
            "records_sampled": len(records),
            "malformed_lines": bro["malformed_lines"],
            "first_record": records[0] if records else None,
        }
