"""PE indicators: suspicious traits of a PE file, derived from pe_features (no second parse).

Returns indicators, a list of {category, description, severity, attributes}: severity 1 (worth a look),
2 (suspicious) or 3 (strongly suspicious); category one of checksum, sections, packer, entry_point, tls,
anti_debug, injection, imports, timestamp, overlay, signature. Checks: checksum mismatch, non-standard section names,
writable+executable sections, high-entropy sections, packer section names (UPX, ASPack, MPRESS...), entry
point outside .text and the first code section, TLS callbacks, anti-debug and injection imports, few imports,
zero/future/pre-1995 timestamps, overlays (Authenticode signatures excluded), and from pe_authenticode
(category signature): unsigned (1), a signature that does not verify (2), a signed hash that does not match
the file (3). Also max_severity (0 if none), categories (sorted, distinct) and indicator_list (the original's
key: the same list).
"""

from workbench.analysis import pe_traits


class PEIndicators:
    """Suspicious traits of a PE: packer sections, W+X sections, odd entry point, anti-debug imports..."""

    dependencies = ["pe_features", "pe_authenticode"]
    applies_to = ("exe",)

    def execute(self, input_data: dict) -> dict:
        found = pe_traits.indicators(input_data["pe_features"])
        found += pe_traits.signature(input_data.get("pe_authenticode"))
        return {
            "indicators": found,
            "indicator_list": found,
            "max_severity": max((i["severity"] for i in found), default=0),
            "categories": sorted({i["category"] for i in found}),
        }
