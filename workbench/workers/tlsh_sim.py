"""TLSH sim: the stored samples nearest to this one by TLSH distance (py-tlsh's diff, 0 = identical).

Works on any sample with a TLSH digest (meta_deep gives None under 50 bytes or for too little variety).

Returns sim_list ([{md5, distance}], at most ``top_n``, distance <= ``threshold``, nearest first then by md5)
and scanned (stored digests held by the scan). Not cacheable: the answer changes as samples are added.

How: a vectorised numpy scan over every stored digest, kept in memory in each worker process (about 40 bytes
a digest) and refreshed from what the store indexed since the last request; digests whose length byte or
quartile ratios alone put them beyond the threshold are skipped before the body is compared. Distances equal
tlsh.diff exactly; every hit is checked against the store before it is returned.
"""

from workbench.analysis import tlsh_scan


class TlshSim:
    """The most similar stored samples by TLSH distance."""

    dependencies = ["sample", "meta_deep", "corpus"]
    options = {"top_n": 10, "threshold": 100}
    cacheable = False

    def execute(self, input_data: dict) -> dict:
        sim_list, scanned = tlsh_scan.nearest_stored(
            input_data["corpus"], input_data["meta_deep"].get("tlsh") or "", self.options["threshold"],
            self.options["top_n"], exclude=input_data["sample"]["md5"])
        return {"sim_list": sim_list, "scanned": scanned}
