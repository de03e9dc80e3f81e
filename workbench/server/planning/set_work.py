"""``work_request`` on a sample set's id, for the workers that read a whole set at once, as the original allowed.

The original stored a sample set as a sample of type ``sample_set``, and ``work_request('pcap_bro', set_id)``
ran Bro over every pcap of the set in one run: one conn.log, one http.log... for all of them. Here a set is not
a sample. ``pcap_bro`` still runs once per pcap (each output cached as usual, its logs children of its pcap);
the set's answer joins them: each kind of log merged into one in time order (what Zeek writes for several
pcaps in one run), stored as a ``bro`` sample and linked as a child of every pcap of the set. Any other worker
given a set id gets an error pointing at ``set_work_request``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import gevent.pool

from workbench.analysis import zeek_logs
from workbench.exceptions import BadArgument
from workbench.server.data_store.base import DataStore

SET_WORKERS = frozenset({"pcap_bro"})
LOG_KINDS = ("conn", "http", "dns", "files", "weird")


def not_a_sample(worker: str, set_id: str) -> BadArgument:
    """The error for a set id given where a sample's md5 belongs."""
    return BadArgument(f"{set_id} is a sample set, not a sample: set_work_request({worker!r}, {set_id!r}) streams "
                       f"one result per sample (only {', '.join(sorted(SET_WORKERS))} also takes a whole set)")


def pcap_bro_over_set(store: DataStore, work: Callable[[str, str], dict[str, Any]], md5s: Iterable[str],
                      store_log: Callable[[bytes, str], str], in_flight: int) -> dict[str, Any]:
    """pcap_bro's output for every pcap of a set as one: merged logs, every extracted file, summed counts."""
    pcaps = [md5 for md5 in md5s if (store.get_sample_info(md5) or {}).get("type_tag") == "pcap"]
    if not pcaps:
        raise BadArgument("the sample set holds no pcap: pcap_bro reads pcaps (type_tag 'pcap')")
    outputs = list(gevent.pool.Pool(in_flight).imap(lambda md5: work("pcap_bro", md5), pcaps))
    combined: dict[str, Any] = {"pcaps": pcaps, "record_counts": {}}
    for kind in LOG_KINDS:
        logs = [store.get_sample_bytes(out[f"{kind}_log"]) for out in outputs if out.get(f"{kind}_log")]
        combined["record_counts"][kind] = sum(out["record_counts"].get(kind, 0) for out in outputs)
        if logs:
            log_md5 = store_log(zeek_logs.merge_logs([log for log in logs if log is not None]), f"{kind}.log")
            for pcap in pcaps:
                store.add_link(pcap, log_md5)
            combined[f"{kind}_log"] = log_md5
    combined["extracted_files"] = sorted({md5 for out in outputs for md5 in out["extracted_files"]})
    combined["truncated"] = any(out["truncated"] for out in outputs)
    return combined
