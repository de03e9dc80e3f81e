"""VT query: what VirusTotal knows about the sample's md5 (API v3 ``/files/{md5}``), with the original's keys.

Needs a VirusTotal API key: ``api_key`` in ``[worker.vt_query]`` of config.ini (or the environment variable
named by ``api_key_env``, default VT_API_KEY). Without a key, or when VirusTotal cannot be reached, the request
fails with an error that says which; nothing is stored, so a later request tries again. Only the md5 is
sent, never the sample.

Returns md5, found (False when VirusTotal has never seen the file: then only md5 and found), positives
(engines calling it malicious), suspicious, total (engines that gave a verdict), scan_date (UTC, ISO 8601),
permalink, file_type, names (up to 10 known filenames), reputation, tags and scans ({engine: result} for the
engines with a detection), as of the time of the request (cached like any output; clear_worker_output
refreshes).
"""

import datetime
import json
import os
import urllib.error
import urllib.request

GUI = "https://www.virustotal.com/gui/file/"


class VtQuery:
    """VirusTotal's verdicts for the sample's md5 (needs an API key in [worker.vt_query]); only the md5 is sent."""

    dependencies = ["meta"]
    options = {"api_key": "", "api_key_env": "VT_API_KEY", "url": "https://www.virustotal.com/api/v3/files/",
               "request_timeout": 20.0}

    def execute(self, input_data: dict) -> dict:
        md5 = input_data["meta"]["md5"]
        key = self.options["api_key"] or os.environ.get(self.options["api_key_env"] or "", "")
        if not key:
            raise ValueError(f"vt_query needs a VirusTotal API key: set api_key in [worker.vt_query] of config.ini "
                             f"or the {self.options['api_key_env']} environment variable")
        request = urllib.request.Request(self.options["url"] + md5, headers={"x-apikey": key})
        try:
            with urllib.request.urlopen(request, timeout=self.options["request_timeout"]) as answer:
                report = json.load(answer)["data"]["attributes"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return {"md5": md5, "found": False}
            raise ValueError(f"VirusTotal refused the query: HTTP {exc.code} {exc.reason} "
                             f"(401/403: check the API key; 429: over the key's quota, try later)") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ValueError(f"VirusTotal could not be reached at {self.options['url']}: "
                             f"{getattr(exc, 'reason', exc)} (no network?)") from None
        return _summary(md5, report)


def _summary(md5: str, report: dict) -> dict:
    stats, results = report.get("last_analysis_stats", {}), report.get("last_analysis_results", {})
    stamp = report.get("last_analysis_date")
    return {
        "md5": md5, "found": True, "positives": stats.get("malicious", 0), "suspicious": stats.get("suspicious", 0),
        "total": sum(stats.get(k, 0) for k in ("malicious", "suspicious", "undetected", "harmless")),
        "scan_date": datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat() if stamp else None,
        "permalink": GUI + md5, "file_type": report.get("type_description"),
        "names": report.get("names", [])[:10], "reputation": report.get("reputation"), "tags": report.get("tags", []),
        "scans": {engine: r.get("result") for engine, r in sorted(results.items())
                  if r.get("category") in ("malicious", "suspicious")},
    }
