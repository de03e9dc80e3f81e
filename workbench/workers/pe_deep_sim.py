"""PE deep sim: the stored samples most similar to this one by ssdeep fuzzy hash, with scores (0-100).

Works on any sample type (meta_deep hashes every sample); it is named for its main use, PE files.

Returns sim_list ([{md5, score}], at most ``top_n``, score >= ``threshold``, best first), candidates (stored
samples with an ssdeep hash, this one excluded) and compared (those with a compatible block size, the only
ones passed to ssdeep.compare). Not cacheable: the answer changes as samples are added.

Scaling: each request is a linear scan of every stored meta_deep output (only the ``ssdeep`` field is read),
so its cost grows with the store: at 1M samples that is 1M small rows read (seconds with sqlite) before any
comparison. The block-size check already skips most ssdeep.compare calls (about 1.8 us each); what it cannot
skip is reading the rows. Storing the block size in an indexed column (or a table keyed by block size) would
read only the three compatible block sizes, typically a few percent to a third of the rows; indexing the
7-character substrings of each hash's chunks (two hashes score above 0 only if they share one) would cut
candidates to a handful, making the search independent of store size in practice.
"""

from workbench.analysis import fuzzy_similarity


class PEDeepSim:
    """The most similar stored samples by ssdeep fuzzy hash, with scores."""

    dependencies = ["sample", "meta_deep", "corpus"]
    options = {"top_n": 10, "threshold": 25}
    cacheable = False

    def execute(self, input_data: dict) -> dict:
        target = input_data["meta_deep"]["ssdeep"]
        stored = ((md5, output.get("ssdeep", ""))
                  for md5, output in input_data["corpus"].outputs("meta_deep", fields=["ssdeep"]))
        sim_list, candidates, compared = fuzzy_similarity.most_similar(
            target, stored, self.options["top_n"], self.options["threshold"],
            exclude=input_data["sample"]["md5"])
        return {"sim_list": sim_list, "candidates": candidates, "compared": compared}
