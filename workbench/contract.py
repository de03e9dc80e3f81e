"""The worker contract, written once. Workers never import this module; it documents and checks them.

A worker is a module ``NAME.py`` in a plugin folder holding one class with:

``dependencies``: list[str]
    Names of the workers (or pseudo-inputs below) whose outputs it needs.
``execute(self, input_data: dict) -> dict``
    ``input_data`` maps each dependency name to that dependency's output. Returns a dict of JSON types
    (str, int, float, bool, None, list, dict with str keys); it is stored as a readable document.

Optional class attributes:

``version``: str (or a property)
    Changes when the output would change; without it, a hash of the module source (and of the
    ``workbench.analysis`` modules it imports) is used.
``data_files``: tuple[str, ...]
    Names of ``options`` keys whose values are paths of data files or folders the output depends on (YARA
    rules, signature databases), e.g. ``data_files = ("database",)``. The plugin manager hashes their contents
    (every file under a folder, dot-files left out) and appends that hash to the version, so editing a rule or
    a database makes the outputs computed with the old one stale. Files are re-checked (stat) about once a
    second; a worker never hashes its data files itself.
``applies_to``: tuple[str, ...]
    type_tags the worker accepts; other samples get a ``not_applicable`` error without calling ``execute``.
``dispatch``: dict[str, str]
    type_tag -> worker name; the runner adds the worker for the sample's type_tag (if loaded) as an extra
    dependency. This is how ``view`` picks ``view_pe``, ``view_pdf``... without knowing which exist.
``options``: dict
    Defaults for settings; ``[worker.NAME]`` in config.ini overrides them. Read them from ``self.options``.
``timeout``: float
    Seconds before the worker is stopped (default: config ``worker_timeout``).
``cacheable``: bool
    False for workers whose output depends on other samples (similarity); they run on every request.

The docstring's first line is the worker's help summary; the rest says what it returns.
The worker's name is its file name. Instances are built once per load and reused: keep per-call state local.
"""

from collections.abc import Iterator
from typing import Any, Protocol

SAMPLE = "sample"
"""Pseudo-dependency: the stored sample, ``raw_bytes``, ``md5``, ``filename``, ``type_tag``, ``length``,
``import_time``. Its bytes are read from the store at most once per request."""

TAGS = "tags"
"""Pseudo-dependency: the sample's tags, shaped as the original's: ``{'md5': md5, 'tags': [...]}``."""

CORPUS = "corpus"
"""Pseudo-dependency: a :class:`Corpus`, read access to other samples' outputs and a way to add children."""

HELP = "help"
"""Pseudo-dependency of ``help_*`` workers only: a help document (kind, topic, doc, ...) built by the server
from docstrings. Such workers declare ``applies_to = ("help",)`` so they never run on a sample."""

PSEUDO_DEPENDENCIES = (SAMPLE, TAGS, CORPUS, HELP)

RESERVED_NAMES = (*PSEUDO_DEPENDENCIES, "md5", "error")

RETIRED_WORKERS = ("mem_base", "mem_connscan", "mem_dlllist", "mem_meta", "mem_procdump", "mem_pslist")
"""The original's Rekall memory-image workers: out of scope here. A stream over an empty selection with one of
them yields nothing (the original's scripts ask for them over sets that are empty here); any other call is an
UnknownWorker saying so."""

SAMPLE_FIELDS = ("raw_bytes", "md5", "filename", "type_tag", "length", "import_time")


class Corpus(Protocol):
    """What a worker may do across the store, without importing the server."""

    def outputs(self, worker: str, fields: list[str] | None = None) -> Iterator[tuple[str, dict]]:
        """Yield ``(md5, output)`` for every sample with a stored output of ``worker``."""

    def store_child(self, raw_bytes: bytes, filename: str, type_tag: str = "") -> str:
        """Store ``raw_bytes`` as a new sample, linked as a child of the current one; return its md5."""

    store_id: str
    """Names the store (for caches a worker keeps across requests)."""

    def similar_ssdeep(self, ssdeep_hash: str, threshold: int, limit: int) -> tuple[list[dict], int, int]:
        """Top ``limit`` {md5, score} (ssdeep.compare >= threshold) found through the store's index, the
        current sample excluded; also (samples sharing an index key, samples compared)."""

    def tlsh_digests_since(self, cursor: Any = None) -> tuple[list[tuple[str, str | None]], Any]:
        """``(md5, tlsh)`` of meta_deep outputs stored since ``cursor`` (None: all) and the next cursor."""

    def fuzzy_hashes(self, md5s: list[str]) -> dict[str, dict]:
        """The current meta_deep ``{ssdeep, tlsh}`` of these samples; absent ones left out."""


class Worker(Protocol):
    """The shape the plugin manager checks at load time."""

    dependencies: list[str]

    def execute(self, input_data: dict[str, Any]) -> dict[str, Any]:
        """Compute this worker's output from its dependencies' outputs."""
