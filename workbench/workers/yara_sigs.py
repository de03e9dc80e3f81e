"""YARA sigs: matches of the YARA rules in a folder (option ``rules_dir``) against any sample.

Returns match_list (a list of {rule, namespace (rule file path without extension), tags, meta, strings (up
to ``max_strings`` {identifier, offset, length} hits, by offset), string_hits (total hits)}), matches (the
original's shape: {rule: that match}; a rule name in two namespaces keeps the last), rule_files (how
many files compiled) and rule_errors ([{file, error}] for rule files that do not compile with this YARA;
they are skipped, the others still run). Rules are compiled once and recompiled when a rule file changes.
"""

import os

from workbench.analysis import yara_rules


class YaraSigs:
    """Matches of a folder of YARA rules (config [worker.yara_sigs] rules_dir) against the sample."""

    dependencies = ["sample"]
    options = {"rules_dir": "", "max_strings": 20, "match_timeout": 60}
    data_files = ("rules_dir",)  # the rules' contents are part of the version: edited rules recompute outputs

    def __init__(self) -> None:
        self._compiled: yara_rules.CompiledFolder | None = None  # a cache, not per-call state

    def _folder(self) -> str:
        folder = self.options["rules_dir"]
        if not folder:
            raise ValueError("yara_sigs has no rules folder: set [worker.yara_sigs] rules_dir = "
                             "path/to/rules in config.ini (or WORKBENCH_WORKER_YARA_SIGS_RULES_DIR)")
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"YARA rules folder {folder!r} does not exist; fix [worker.yara_sigs] "
                                    "rules_dir in config.ini")
        return folder

    def _rules(self) -> yara_rules.CompiledFolder:
        folder = self._folder()
        compiled = self._compiled
        if compiled is None or compiled.folder != folder or compiled.stamp != yara_rules.folder_stamp(folder):
            compiled = self._compiled = yara_rules.compile_folder(folder)
        return compiled

    def execute(self, input_data: dict) -> dict:
        compiled = self._rules()
        raw = input_data["sample"]["raw_bytes"]
        timeout = self.options["match_timeout"]
        found = compiled.rules.match(data=raw, timeout=timeout) if compiled.rules else []
        matches = yara_rules.describe_matches(found, self.options["max_strings"])
        return {
            "match_list": matches,
            "matches": {match["rule"]: match for match in matches},
            "rule_files": len(compiled.rule_files),
            "rule_errors": compiled.rule_errors,
        }
