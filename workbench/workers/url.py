"""URL: URLs, domains, IPv4 addresses and e-mail addresses found in the sample's strings.

Returns urls, domains, ipv4 and emails, each a list of {value, count} sorted by value (deduplicated;
count = occurrences over the ``strings`` output), total (number of distinct indicators) and url_list (the
original's key: the distinct URLs, sorted).
Domains are URL hosts, e-mail domains and bare host names with a common TLD (see analysis/iocs.py).
"""

from workbench.analysis import iocs


class Url:
    """URLs, domains, IPv4 addresses and e-mail addresses found in the sample's strings, with counts."""

    dependencies = ["strings"]

    def execute(self, input_data: dict) -> dict:
        found = iocs.extract(input_data["strings"]["string_list"])
        output = {kind: iocs.as_sorted_list(counts) for kind, counts in found.items()}
        output["total"] = sum(len(counts) for counts in found.values())
        output["url_list"] = sorted(found["urls"])
        return output
