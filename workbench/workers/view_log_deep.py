"""View log deep: view_log's summary plus the full top lists and the network indicators in the text.

Returns everything view_log returns, but top_hosts and top_processes hold log_meta's full lists (its
``top_n``); plus empty_lines, max_line_length (from log_meta); urls, domains, ipv4, emails (values, at
most ``max_items`` each, sorted) and ioc_total (from url).
"""

IOC_KINDS = ("urls", "domains", "ipv4", "emails")


class ViewLogDeep:
    """view_log plus full top host/process lists, line stats and the URLs/domains/IPs/e-mails in the log."""

    dependencies = ["view_log", "log_meta", "url"]
    applies_to = ("log", "txt")
    options = {"max_items": 50}

    def execute(self, input_data: dict) -> dict:
        log, iocs = input_data["log_meta"], input_data["url"]
        cap = self.options["max_items"]
        return {
            **input_data["view_log"],
            **{key: log[key] for key in ("top_hosts", "top_processes", "empty_lines", "max_line_length")},
            **{kind: [item["value"] for item in iocs[kind][:cap]] for kind in IOC_KINDS},
            "ioc_total": iocs["total"],
        }
