"""Issue 15: what the Office and e-mail workers cost over the bare libraries they wrap, side by side.

For each document the worker's ``execute`` runs in this process (no server, no store: the parse only) next to
the bare library call a user of oletools / the stdlib would write, interleaved round by round:
- office_vba vs ``VBA_Parser(data=...)`` + ``extract_macros`` + ``analyze_macros`` + mraptor (the worker adds
  msoffcrypto's encryption probe, a container check and the output shaping);
- office_meta vs ``olefile.OleFileIO(...).get_metadata()`` + ``listdir`` or ``zipfile`` ``infolist``;
- email_meta vs ``email.message_from_bytes`` + a walk over the parts.
Run: ``python bench/bench_documents.py [rounds]``. Prints median milliseconds per call and the ratio.
"""

from __future__ import annotations

import email
import importlib.util
import io
import sys
import zipfile

import olefile
from harness import REPO_ROOT, machine_line, median, print_rows, timed
from oletools import mraptor, olevba

sys.path.insert(0, str(REPO_ROOT / "tests"))
from document_samples import OFFICE_DATA, built_samples  # noqa: E402 - tests/ on sys.path first


class NullCorpus:
    """store_child that only hashes: the bench measures parsing, not the store."""

    def store_child(self, raw_bytes: bytes, filename: str, type_tag: str = "") -> str:
        return str(len(raw_bytes))


def load_worker(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO_ROOT / "workbench" / "workers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = next(v for v in vars(module).values() if isinstance(v, type) and hasattr(v, "execute"))
    worker = cls()
    worker.options = dict(getattr(cls, "options", {}))
    return worker


def bare_vba(data: bytes) -> int:
    parser = olevba.VBA_Parser("doc", data=data)
    code = [c for _, _, _, c in parser.extract_macros()] if parser.detect_vba_macros() else []
    results = parser.analyze_macros() if code else []
    mraptor.MacroRaptor("\n".join(code)).scan()
    parser.close()
    return len(results or [])


def bare_meta(data: bytes) -> int:
    if data.startswith(olefile.MAGIC):
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            ole.get_metadata()
            return len(ole.listdir())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return len(archive.infolist())


def bare_mail(data: bytes) -> int:
    message = email.message_from_bytes(data)
    return sum(len(part.get_payload(decode=True) or b"") for part in message.walk() if not part.is_multipart())


def main(rounds: int = 15) -> None:
    samples = built_samples()
    cases = [
        ("office_vba", bare_vba, "built-macro.docm", samples["built-macro.docm"]),
        ("office_vba", bare_vba, "embedded-simple-2007.doc", (OFFICE_DATA / "embedded-simple-2007.doc").read_bytes()),
        ("office_meta", bare_meta, "built-macro.docm", samples["built-macro.docm"]),
        ("office_meta", bare_meta, "embedded-simple-2007.doc", (OFFICE_DATA / "embedded-simple-2007.doc").read_bytes()),
        ("email_meta", bare_mail, "built-attachments.eml", samples["built-attachments.eml"]),
    ]
    workers = {name: load_worker(name) for name in {case[0] for case in cases}}
    rows = []
    for name, bare, label, data in cases:
        sample = {"sample": {"raw_bytes": data, "filename": label, "md5": "0" * 32}, "corpus": NullCorpus()}
        mine, base = [], []
        for _ in range(rounds):
            mine.append(timed(lambda: workers[name].execute(sample))[0])  # noqa: B023 - used in this round
            base.append(timed(lambda: bare(data))[0])  # noqa: B023 - used in this round
        worker_ms, bare_ms = median(mine) * 1000, median(base) * 1000
        rows.append((name, label, f"{worker_ms:.1f}", f"{bare_ms:.1f}", f"{worker_ms / bare_ms:.2f}"))
    print(machine_line())
    print_rows(f"median ms per call over {rounds} interleaved rounds",
               [("worker", "document", "worker ms", "bare library ms", "ratio"), *rows])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
