"""tlsh_sim: nearest stored samples by TLSH, checked against py-tlsh's diff over every stored digest."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import tlsh

from workbench.analysis.synthetic_hashes import tlsh_families
from workbench.testing import DATA_DIR, make_workbench, require_data


def parsed(stored: dict[str, str]) -> dict[str, tlsh.Tlsh]:
    """py-tlsh objects for the brute force (its diff on parsed digests: same C code, 4x less parsing)."""
    objects = {}
    for md5, digest in stored.items():
        objects[md5] = tlsh.Tlsh()
        objects[md5].fromTlshStr(digest)
    return objects


def brute_force(query: str, stored: dict[str, str], threshold: int, exclude: str,
                objects: dict[str, tlsh.Tlsh] | None = None) -> list[dict]:
    """Every stored digest within ``threshold`` by py-tlsh's diff, nearest first then by md5."""
    if objects is None:
        scored = [(tlsh.diff(query, digest), md5) for md5, digest in stored.items() if md5 != exclude]
    else:
        target = parsed({"q": query})["q"]
        scored = [(target.diff(other), md5) for md5, other in objects.items() if md5 != exclude]
    return [{"md5": md5, "distance": d} for d, md5 in sorted(pair for pair in scored if pair[0] <= threshold)]


def test_equals_tlsh_diff_over_100k_synthetic_and_real_digests(tmp_path: Path) -> None:
    require_data("pe/good")
    workbench = make_workbench(tmp_path, {"tlsh_sim": {"top_n": 10**6, "threshold": 150}})
    try:
        real = {}
        for path in sorted(p for p in DATA_DIR.rglob("*") if p.is_file())[::8]:
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            digest = workbench.work_request("meta_deep", md5)["meta_deep"]["tlsh"]
            if digest:
                real[md5] = digest
        synthetic = {hashlib.md5(b"t%d" % i).hexdigest(): d for i, d in enumerate(tlsh_families(100_000))}
        rows = [(md5, "meta_deep", "synthetic", {}, {"ssdeep": "", "tlsh": d}) for md5, d in synthetic.items()]
        workbench.store.store_outputs(rows)
        stored = {**synthetic, **real}
        objects = parsed(stored)
        assert tlsh.diff(synthetic[next(iter(synthetic))], next(iter(real.values()))) == \
            objects[next(iter(synthetic))].diff(objects[next(iter(real))])
        for md5 in real:  # the real query path: the worker, its cache and the store's change feed
            result = workbench.work_request("tlsh_sim", md5)["tlsh_sim"]
            assert result["sim_list"] == brute_force(real[md5], stored, 150, md5, objects)
            assert result["scanned"] == len(stored)
        from workbench.analysis import tlsh_scan
        from workbench.server.execution.chain_runner import StoreCorpus

        non_empty = 0
        for md5 in random.Random(3).sample(sorted(synthetic), 200):
            corpus = StoreCorpus(workbench.store, md5, 0)
            hits, _ = tlsh_scan.nearest_stored(corpus, synthetic[md5], 120, 10**6, exclude=md5)
            assert hits == brute_force(synthetic[md5], stored, 120, md5, objects)
            non_empty += bool(hits)
        assert non_empty > 100
    finally:
        workbench.close()


def test_cache_follows_new_recomputed_and_removed_samples(tmp_path: Path) -> None:
    paths = sorted(require_data("pe/good").iterdir())[:4]
    workbench = make_workbench(tmp_path, {"tlsh_sim": {"top_n": 100, "threshold": 10**4}})
    try:
        md5s = [workbench.store_sample(p.read_bytes(), p.name) for p in paths]
        for md5 in md5s[:2]:
            workbench.work_request("meta_deep", md5)
        first = workbench.work_request("tlsh_sim", md5s[0])["tlsh_sim"]
        assert [hit["md5"] for hit in first["sim_list"]] == [md5s[1]]
        for md5 in md5s[2:]:
            workbench.work_request("meta_deep", md5)  # stored after the cache was filled
        digests = {m: workbench.work_request("meta_deep", m)["meta_deep"]["tlsh"] for m in md5s}
        again = workbench.work_request("tlsh_sim", md5s[0])["tlsh_sim"]
        assert again["sim_list"] == brute_force(digests[md5s[0]], digests, 10**4, md5s[0])
        workbench.remove_sample(md5s[1])
        after = workbench.work_request("tlsh_sim", md5s[0])["tlsh_sim"]
        assert md5s[1] not in {hit["md5"] for hit in after["sim_list"]} and len(after["sim_list"]) == 2
        other = "T1" + "0" * 70  # md5s[2] recomputed with another digest: the new one is compared
        workbench.store.store_output(md5s[2], "meta_deep", "c2", {}, {"ssdeep": "", "tlsh": other})
        recomputed = workbench.work_request("tlsh_sim", md5s[0])["tlsh_sim"]
        distance = {hit["md5"]: hit["distance"] for hit in recomputed["sim_list"]}[md5s[2]]
        assert distance == tlsh.diff(digests[md5s[0]], other)
    finally:
        workbench.close()


def test_sample_without_a_digest_has_no_neighbours(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        md5 = workbench.store_sample(b"tiny", "tiny.bin")
        assert workbench.work_request("tlsh_sim", md5)["tlsh_sim"]["sim_list"] == []
    finally:
        workbench.close()
