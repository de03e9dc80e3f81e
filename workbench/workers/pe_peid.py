"""PE PEiD: packer and compiler signatures (PEiD userdb) matching at a PE's entry point.

Returns match_list (signature names, most specific first, distinct; empty when nothing matches),
entry_point_rva, and database (the file name of the signature database used).
The database path is the option ``database`` (config ``[worker.pe_peid] database``); there is no default.
"""

import os

from workbench.analysis import peid


class PEPeid:
    """Packer/compiler identification with PEiD signatures matched at the entry point."""

    dependencies = ["sample"]
    applies_to = ("exe",)
    options = {"database": ""}
    data_files = ("database",)  # its contents are part of the version: an edited database recomputes outputs

    def __init__(self) -> None:
        self._loaded: peid.LoadedDatabase | None = None  # a cache, not per-call state

    def _database(self) -> peid.LoadedDatabase:
        """The parsed database, reloaded when the option or the file changes."""
        path = self.options["database"]
        if not path:
            raise ValueError("pe_peid has no signature database: set [worker.pe_peid] database = "
                             "path/to/peid_userdb.txt in config.ini (or WORKBENCH_WORKER_PE_PEID_DATABASE)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"PEiD database {path!r} does not exist; fix [worker.pe_peid] database "
                                    "in config.ini")
        loaded = self._loaded
        if loaded is None or loaded.path != path or loaded.stamp != peid.file_stamp(path):
            loaded = self._loaded = peid.load(path)
        return loaded

    def execute(self, input_data: dict) -> dict:
        database = self._database()
        names, entry = peid.entry_point_matches(database, input_data["sample"]["raw_bytes"])
        return {"match_list": names, "entry_point_rva": entry, "database": os.path.basename(database.path)}
