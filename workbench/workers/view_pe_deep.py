"""View PE deep: view_pe's summary plus entropy, fuzzy hashes, network indicators and sample strings.

Returns everything view_pe returns, plus entropy, ssdeep, tlsh (from meta_deep); urls, domains, ipv4,
emails (values only, at most ``max_items`` each, sorted) and ioc_total (from url); string_count and strings
(the first ``max_strings`` strings of at least ``min_string_length`` characters, from strings).
"""

IOC_KINDS = ("urls", "domains", "ipv4", "emails")


class ViewPEDeep:
    """view_pe plus entropy, ssdeep/TLSH, URLs/domains/IPs/e-mails and sample strings of a PE."""

    dependencies = ["view_pe", "meta_deep", "url", "strings"]
    applies_to = ("exe",)
    options = {"max_items": 20, "max_strings": 30, "min_string_length": 8}

    def execute(self, input_data: dict) -> dict:
        deep, iocs = input_data["meta_deep"], input_data["url"]
        strings = input_data["strings"]["string_list"]
        cap, min_length = self.options["max_items"], self.options["min_string_length"]
        return {
            **input_data["view_pe"],
            "entropy": round(deep["entropy"], 4),
            "ssdeep": deep["ssdeep"],
            "tlsh": deep["tlsh"],
            **{kind: [item["value"] for item in iocs[kind][:cap]] for kind in IOC_KINDS},
            "ioc_total": iocs["total"],
            "string_count": len(strings),
            "strings": [s for s in strings if len(s) >= min_length][: self.options["max_strings"]],
        }
