"""PE deep sim: the stored samples most similar to this one by ssdeep fuzzy hash, with scores (0-100).

Works on any sample type (meta_deep hashes every sample); it is named for its main use, PE files.

Returns sim_list ([{md5, score, sim}] (sim: the original's name for score), at most ``top_n``, score >=
``threshold``, best first then by md5),
candidates (stored samples sharing an ssdeep index key with this one, itself excluded) and compared (those
with a compatible block size, the only ones passed to ssdeep.compare). Not cacheable: the answer changes as
samples are added.

Scaling: the store keeps an ssdeep index beside every meta_deep output (workbench.analysis.ssdeep_index): each
7-character window of the first chunk under its block size and of the second chunk under twice the block
size, as integer keys. Two hashes score above 0 only if they share such a key (or are identical with short
chunks, which has its own exact key), so a query reads only the samples sharing a key and the answer equals a
scan of every stored hash with the same compare. Cost on disk: about 1 kB per sample in sqlite (measured 967
bytes at 1M synthetic hashes: one small row per key, ~40-90 keys per hash); a query reads a few dozen
candidates and stays a few ms at 1M stored samples (bench/bench_similarity.py).
"""


class PEDeepSim:
    """The most similar stored samples by ssdeep fuzzy hash, with scores."""

    dependencies = ["sample", "meta_deep", "corpus"]
    options = {"top_n": 10, "threshold": 25}
    cacheable = False

    def execute(self, input_data: dict) -> dict:
        target = input_data["meta_deep"]["ssdeep"] or ""
        sim_list, candidates, compared = input_data["corpus"].similar_ssdeep(
            target, self.options["threshold"], self.options["top_n"])
        sim_list = [{**item, "sim": item["score"]} for item in sim_list]
        return {"sim_list": sim_list, "candidates": candidates, "compared": compared}
