"""Meta deep: entropy, byte histogram and fuzzy hashes (ssdeep, TLSH) of any sample.

Returns entropy (Shannon, bits per byte, 0.0-8.0), byte_counts (256 ints, count of each byte value),
byte_summary (distinct_bytes, most_common [{byte, count}] top 8, zero_ratio, printable_ratio, high_ratio),
ssdeep (str) and tlsh (str, or None when TLSH cannot hash the data: under 50 bytes or too little variety).
"""

import ssdeep
import tlsh

from workbench.analysis import byte_stats


class MetaDeep:
    """Entropy, byte histogram summary and ssdeep/TLSH fuzzy hashes of any sample."""

    dependencies = ["sample"]

    def execute(self, input_data: dict) -> dict:
        raw = input_data["sample"]["raw_bytes"]
        counts = byte_stats.byte_counts(raw)
        tlsh_hash = tlsh.hash(raw) if len(raw) >= 50 else "TNULL"
        return {
            "entropy": byte_stats.entropy_from_counts(counts),
            "byte_counts": counts,
            "byte_summary": byte_stats.histogram_summary(counts),
            "ssdeep": ssdeep.hash(raw),
            "tlsh": None if tlsh_hash in ("", "TNULL") else tlsh_hash,
        }
