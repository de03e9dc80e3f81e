"""What every client shares: -s/--server and -p/--port (defaults from config.ini), connecting, streams.

Clients stay thin: they parse options, connect, call the API and print something a person wants to read.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import socket
import stat
import sys
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import gevent
import zerorpc

from workbench.config import Config, load_config
from workbench.exceptions import WorkbenchError
from workbench.server.rpc.curve_auth import client_options
from workbench.server.rpc.zmq_context import OptionsContext

CHUNK_BYTES = 8 * 2**20
HASH_LEAD = 4  # upload_large hashes beside the upload only where hashing is this many times as fast as the wire
NO_SERVER = 3  # the exit code of every client (and `workbench`) when no server answers


class ServerUnavailable(Exception):
    """No Workbench server answered at the address given."""


def client_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with the options every client takes; defaults from config.ini's [client] section."""
    config = load_config()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-s", "--server", default=config.get("client", "server"),
                        help="Workbench server host (default from config.ini: %(default)s)")
    parser.add_argument("-p", "--port", type=int, default=config.get("client", "port"),
                        help="Workbench server port (default from config.ini: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    return parser


def connect(server: str, port: int, timeout: float | None = None, heartbeat: float | None = None,
            config: Config | None = None) -> zerorpc.Client:
    """A connected client, checked with a cheap call, or ServerUnavailable with a one-line reason."""
    config = config or load_config()
    timeout = timeout if timeout is not None else config.get("client", "timeout")
    heartbeat = heartbeat if heartbeat is not None else config.get("client", "heartbeat")
    try:  # CURVE keys from [client] curve_secret_key / curve_server_key, when set
        curve = client_options(config)
    except WorkbenchError as exc:
        raise ServerUnavailable(str(exc)) from None
    context = OptionsContext(curve) if curve else None
    client = zerorpc.Client(timeout=timeout, heartbeat=heartbeat, context=context)
    endpoint = f"tcp://{server}:{port}"
    client.connect(endpoint)
    wait = min(timeout, 5)
    try:
        # The check goes over the returned client's own connection (a second client's could be let in while this
        # one's CURVE handshake was refused, as a key was being added). zerorpc's timeout starts once the request
        # is on the wire, and a connection ZeroMQ has dropped can leave it waiting to send: bounded from outside.
        with gevent.Timeout(wait + 1, zerorpc.TimeoutExpired(wait)):
            client.version(timeout=wait)
    except (zerorpc.TimeoutExpired, zerorpc.LostRemote) as exc:
        client.close()
        hint = ("; with CURVE, also check that this client's public key is in the server's "
                "curve_authorized_keys_dir and curve_server_key is the server's key") if curve else ""
        raise ServerUnavailable(f"no Workbench server answered at {endpoint} ({type(exc).__name__}); start one "
                                f"with `workbench-server` or pass -s/--server and -p/--port{hint}") from None
    return client


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether anything accepts TCP connections at host:port (a quick check before a slower RPC probe)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def connect_checked(server: str, port: int) -> zerorpc.Client:
    """connect(), after a quick TCP check: a dead port is reported at once instead of after the RPC timeout."""
    if not port_answers(server, port):
        raise ServerUnavailable(f"no Workbench server answered at tcp://{server}:{port} (nothing listens there); "
                                "start one with `workbench-server` or pass -s/--server and -p/--port")
    return connect(server, port)


def connect_from_args(args: argparse.Namespace) -> zerorpc.Client:
    """connect_checked() with the parsed -s/-p options; when no server answers, one line on stderr and exit 3
    (as `workbench` does)."""
    try:
        return connect_checked(args.server, args.port)
    except ServerUnavailable as exc:
        print(f"{_prog()}: error: {exc}", file=sys.stderr)
        sys.exit(NO_SERVER)


def _prog() -> str:
    return Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c") else "workbench"


def flatten(stream: Iterator[Any]) -> Iterator[Any]:
    """One result at a time from a stream whose messages may be single results or lists of them."""
    for message in stream:
        if isinstance(message, list):
            yield from message
        else:
            yield message


def batch_results(client: zerorpc.Client, worker: str, batch_size: int | None = None, slots: int | None = None,
                  **selection: Any) -> Iterator[dict]:
    """batch_work_request as a generator of ``{md5, worker: output}`` results (sent over the wire in lists of
    batch_size); with ``subkeys`` the output holds them nested by their dotted paths (as Arrow slabs name them).

    ``slots`` bounds how many messages the server may send ahead of the reader (zerorpc's default is 100):
    at most ``slots * batch_size`` results wait in client memory.
    """
    size = batch_size or load_config().get("server", "stream_batch_size")
    window = {"slots": slots} if slots else {}
    asked, selection = _asked_subkeys(worker, selection)
    stream = client.batch_work_request(worker, {**selection, "batch_size": size}, **window)
    return (as_result(worker, item, asked) for item in flatten(stream))


def set_results(client: zerorpc.Client, worker: str, set_id: str, subkeys: list[str] | None = None,
                batch_size: int = 100, slots: int | None = None) -> Iterator[dict]:
    """set_work_request as ``{md5, worker: output}`` results, as batch_results gives them."""
    asked, kwargs = _asked_subkeys(worker, {"subkeys": subkeys})
    stream = client.set_work_request(worker, set_id, {**kwargs, "batch_size": batch_size},
                                     **({"slots": slots} if slots else {}))
    return (as_result(worker, item, asked) for item in flatten(stream))


def work_result(client: zerorpc.Client, worker: str, md5: str, subkeys: list[str] | None = None) -> dict:
    """work_request as ``{md5, worker: output}``, subkeys nested by their paths (as batch_results gives them)."""
    if not subkeys:
        return client.work_request(worker, md5)
    asked, kwargs = _asked_subkeys(worker, {"subkeys": subkeys})
    return as_result(worker, client.work_request(worker, md5, kwargs["subkeys"]), asked)


def _asked_subkeys(worker: str, selection: dict[str, Any]) -> tuple[list[list[str]] | None, dict[str, Any]]:
    """The subkeys asked for as path parts (worker prefix dropped), and the selection asking for md5 as well."""
    subkeys = selection.get("subkeys")
    if not subkeys:
        return None, {k: v for k, v in selection.items() if k != "subkeys"}
    paths = [p.split(".") for p in ([subkeys] if isinstance(subkeys, str) else subkeys)]
    paths = [parts[1:] if parts[0] == worker and len(parts) > 1 else parts for parts in paths]
    lasts = [parts[-1] for parts in paths if parts[-1] != "*"]
    if len(set(lasts)) != len(lasts):
        twice = sorted({last for last in lasts if lasts.count(last) > 1})
        raise ValueError(f"subkeys {subkeys} end in the same key {twice}: the server returns one flat dict per "
                         "sample ({last_key: value}); ask for them in separate requests")
    return paths, {**selection, "subkeys": [*map(".".join, paths), "md5"]}


def as_result(worker: str, item: dict[str, Any], paths: list[list[str]] | None = None) -> dict[str, Any]:
    """A stream item (the output itself, or the flat dict of the subkeys ``paths``) as ``{md5, worker: output}``,
    the subkeys nested by their paths; error records ``{md5, worker: None, error}`` pass as they are."""
    if item.get(worker, "") is None and item.get("error") is not None:
        return item
    if paths is None:
        return {"md5": item.get("md5"), worker: item}
    nested: dict[str, Any] = {}
    named = {parts[-1] for parts in paths}
    for parts in paths:
        found = {parts[-1]: item[parts[-1]]} if parts[-1] != "*" else {
            key: value for key, value in item.items() if key not in named and key != "md5"}
        for key, value in found.items():
            target = nested
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[key] = value
    return {"md5": item.get("md5"), worker: nested}


def upload_file(client: zerorpc.Client, path: Path, type_tag: str = "", chunk_bytes: int = CHUNK_BYTES) -> str:
    """Store a file unless the server has it already; its md5.

    Up to ``chunk_bytes`` the file is read into memory and hashed, the server is asked for the md5 before any
    byte is sent, then it goes in one store_sample; a bigger one goes in parts while it is hashed
    (``upload_large``). An explicit ``type_tag`` corrects the tag of a sample already stored.
    """
    if path.stat().st_size > chunk_bytes:
        return upload_large(client, path, type_tag, chunk_bytes)
    data = path.read_bytes()
    md5 = hashlib.md5(data).hexdigest()
    if not client.has_sample(md5):
        return warn_if_empty(client.store_sample(data, path.name, type_tag), path, len(data))
    if type_tag:
        client.set_type_tag(md5, type_tag)
    return md5


def upload_large(client: zerorpc.Client, path: Path, type_tag: str = "", chunk_bytes: int = CHUNK_BYTES) -> str:
    """Upload a file bigger than one part, a part at a time, and stop as soon as a ``BackgroundHash`` shows the
    server has it; the md5 the server stored.

    Hashing first made a new file wait for its md5 before the first byte went out (0.08 s per 50 MB here, a third
    of the upload). A hash beside the upload pays where the wire is slower than hashing (a network: the hash is done
    early and a stored file is not sent whole); where it is not (client and server sharing the cores of one
    machine) it only takes CPU from the upload and ends with it, and the server dedupes at finish anyway. So the
    first part's answer measures the wire, and the hash starts only if hashing (``md5_bytes_per_s``) is
    ``HASH_LEAD`` times as fast (and parts are left to send); it runs at the lowest priority, and is dropped if it
    has not kept that lead once another ``CHUNK_BYTES`` (or a bigger part) are acknowledged. Memory stays at a few
    parts, whatever the file's size. A file that changes meanwhile (size or modification time) is reported.
    """
    before = os.stat(path)
    began = time.perf_counter()
    hashing: BackgroundHash | None = None
    sent = acknowledged = 0
    lead_from = 0  # bytes acknowledged when the hash started
    asked = judged = False

    def count_sent(size: int) -> None:
        nonlocal sent, acknowledged
        acknowledged, sent = sent, sent + size  # the part before this one is answered by now

    def stored_already() -> bool:
        nonlocal hashing, lead_from, asked, judged
        if not acknowledged:
            return False
        if hashing is None:
            if not lead_from:
                lead_from = acknowledged
                wire = acknowledged / max(time.perf_counter() - began, 1e-6)
                if sent < before.st_size and md5_bytes_per_s() >= HASH_LEAD * wire:
                    hashing = BackgroundHash(path)
            return False
        if hashing.done():
            if asked:
                return False
            asked = True
            return bool(client.has_sample(hashing.md5()))
        if not judged and acknowledged - lead_from >= max(chunk_bytes, CHUNK_BYTES):
            judged = True
            if hashing.hashed < HASH_LEAD * (acknowledged - lead_from):
                hashing.stop()
        return False

    try:
        stored = upload_parts(client, path, type_tag, chunk_bytes, progress=count_sent, stop=stored_already)
    finally:
        if hashing is not None:
            hashing.stop()
    if stored is None:  # the server had it: nothing stored by this upload, only the tag to correct
        md5 = hashing.md5()
        if type_tag:
            client.set_type_tag(md5, type_tag)
        return md5
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise ValueError(f"{path} changed during the upload (the server stored what it was sent as md5 {stored}); "
                         "upload it again")
    return stored


@functools.cache
def md5_bytes_per_s() -> float:
    """How fast this machine hashes (md5 of 1 MiB in memory, best of three; measured once, ~5 ms)."""
    block = bytes(1 << 20)
    best = min(timeit.repeat(lambda: hashlib.md5(block).digest(), number=1, repeat=3))
    return len(block) / max(best, 1e-9)


def warn_if_empty(md5: str, path: Path, length: int) -> str:
    """Say on stderr that an empty file was stored (legal, but rarely what was meant); return the md5."""
    if length == 0:
        print(f"warning: {path} is empty (0 bytes); stored as sample {md5} of type 'data'", file=sys.stderr)
    return md5


def file_md5(path: Path, block_bytes: int = 1 << 20, cancel: threading.Event | None = None,
             progress: Callable[[int], Any] | None = None) -> str:
    """A file's md5, read ``block_bytes`` at a time into one buffer (hashed while it is in the CPU cache);
    CancelledError once ``cancel`` is set."""
    digest = hashlib.md5()
    block = bytearray(block_bytes)
    view = memoryview(block)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(block):
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"hashing {path} was no longer needed")
            digest.update(view[:size])
            if progress is not None:
                progress(size)
    return digest.hexdigest()


class BackgroundHash:
    """A file's md5 computed by a native thread at the lowest priority (Linux sets it per thread; elsewhere it
    runs at normal priority): it uses cores nothing else wants. ``hashed`` tells how far it is; ``stop`` ends it."""

    def __init__(self, path: Path) -> None:
        self.hashed = 0
        self._cancel = threading.Event()
        self._pool = ThreadPoolExecutor(1)
        self._future = self._pool.submit(self._run, path)

    def _run(self, path: Path) -> str:
        if sys.platform == "linux":  # SCHED_IDLE: any other thread wanting the core preempts this one at once
            with contextlib.suppress(OSError):
                os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
        return file_md5(path, cancel=self._cancel, progress=self._count)

    def _count(self, size: int) -> None:
        self.hashed += size

    def done(self) -> bool:
        """Whether the hash is finished (or failed: ``md5`` raises its error)."""
        return self._future.done() and not self._cancel.is_set()

    def md5(self) -> str:
        """The md5, waiting for it (CancelledError after ``stop``)."""
        return self._future.result()

    def stop(self) -> None:
        """Drop the hash: its thread ends after the block it is reading."""
        self._cancel.set()
        self._pool.shutdown(wait=False)


def upload_parts(client: zerorpc.Client, path: Path, type_tag: str = "", chunk_bytes: int = CHUNK_BYTES,
                 progress: Callable[[int], Any] | None = None,
                 stop: Callable[[], bool] | None = None) -> str | None:
    """Upload a file as one sample in parts (upload_start, upload_part, upload_finish); the md5 the server
    stored. The server appends and hashes each part as it arrives, with the next one already on the wire; an
    error or Ctrl-C drops the upload on the server, and so does ``stop`` returning True after a part (then None
    is returned)."""
    upload_id = client.upload_start(path.name, type_tag, path.stat().st_size)  # too large: refused before a part
    pending = sent = None  # the part in flight: read the next one while the server writes this one
    offset = 0
    try:
        for part in _parts(path, chunk_bytes):
            sent = gevent.spawn(_call_quietly, client.upload_part, upload_id, offset, part)
            if pending is not None:
                _answer(pending)
            pending, offset = sent, offset + len(part)
            if progress:
                progress(len(part))
            if stop is not None and stop():
                _answer(pending)
                _drop_upload(client, upload_id)
                return None
        if pending is not None:
            _answer(pending)
    except BaseException:
        gevent.joinall([g for g in (pending, sent) if g is not None], timeout=5)  # parts in flight answer too
        _drop_upload(client, upload_id)
        raise
    return client.upload_finish(upload_id)


def _call_quietly(call: Callable[..., Any], *args: Any) -> tuple[Any, BaseException | None]:
    """A call in its own greenlet, its error returned rather than raised: gevent prints the traceback of every
    greenlet that dies of an error (a part refused as too large printed two before the one clear message)."""
    try:
        return call(*args), None
    except Exception as exc:  # handed to whoever waits for the answer
        return None, exc


def _answer(sent: gevent.Greenlet) -> Any:
    """The result of a ``_call_quietly`` greenlet, or its error raised here."""
    result, error = sent.get()
    if error is not None:
        raise error
    return result


def _parts(path: Path, chunk_bytes: int) -> Iterator[memoryview]:
    # Two buffers in turn: upload_parts has one part in flight while it reads the next, and the one before is
    # acknowledged by then (a fresh 8 MiB object a part cost page faults each time).
    buffers = (bytearray(chunk_bytes), bytearray(chunk_bytes))
    with open(path, "rb", buffering=0) as handle:
        for turn in count():
            buffer = buffers[turn % 2]
            size = handle.readinto(buffer)
            if not size:
                return
            yield memoryview(buffer)[:size]


def _drop_upload(client: zerorpc.Client, upload_id: str) -> None:
    try:
        client.upload_abort(upload_id, timeout=2)
    except (zerorpc.RemoteError, zerorpc.TimeoutExpired, zerorpc.LostRemote):
        pass  # the server forgets abandoned uploads after an idle hour anyway


def print_json(value: Any) -> None:
    """JSON for machines (--json): bytes shown as hex."""
    print(json.dumps(value, indent=2, sort_keys=True, default=lambda b: b.hex() if isinstance(b, bytes) else str(b)))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned text table for people."""
    print(format_table(rows, columns))


def format_table(rows: list[dict[str, Any]], columns: list[str], max_width: int = 80) -> str:
    """print_table's text: a header, a rule, one line per row (None shown as '-', long cells cut with '...')."""
    cells = [[_cell(row.get(c), max_width) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


# --- shared by the client scripts: samples from paths or from the store, readable nested output -----
def add_sample_args(parser: argparse.ArgumentParser, kind: str) -> None:
    """Positional PATHs to upload first (default: the stored samples of that kind) and --tag."""
    parser.add_argument("paths", nargs="*", type=Path,
                        help=f"{kind} files or folders to upload first (default: every stored {kind} sample)")
    parser.add_argument("--tag", action="append", default=[],
                        help="tag to add to uploaded files, or to select stored samples by (repeatable)")


def sample_files(paths: list[Path], skipped: list[dict[str, str]] | None = None) -> list[Path]:
    """The files named plus every regular file under the folders named, in order; a missing path is an error.

    What cannot be uploaded (unreadable folders, FIFOs, sockets, devices, dangling links, links to folders) is
    left out and, with ``skipped``, listed there as ``{path, reason}``; without it, it is left out silently.
    """
    files: list[Path] = []
    skipped = [] if skipped is None else skipped
    for path in paths:
        if path.is_dir():
            files += _walk(path, skipped)
        elif path.is_file():
            files.append(path)
        elif path.is_symlink():
            skipped.append({"path": str(path), "reason": "dangling symbolic link"})
        elif path.exists():
            skipped.append({"path": str(path), "reason": _not_regular(path.stat().st_mode)})
        else:
            raise FileNotFoundError(f"{path} is neither a file nor a folder; check the path")
    return files


def _walk(folder: Path, skipped: list[dict[str, str]]) -> list[Path]:
    """Regular files under ``folder`` (sorted, symlinked folders not followed); the rest into ``skipped``."""
    def unreadable(exc: OSError) -> None:
        skipped.append({"path": str(exc.filename), "reason": f"folder not readable ({exc.strerror})"})

    files = []
    for root, dirs, names in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in dirs:
            if os.path.islink(os.path.join(root, name)):
                skipped.append({"path": os.path.join(root, name), "reason": "symbolic link to a folder (not followed)"})
        for name in sorted(names):
            path = Path(root, name)
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                reason = "dangling symbolic link" if path.is_symlink() else f"not readable ({exc.strerror})"
                skipped.append({"path": str(path), "reason": reason})
                continue
            if stat.S_ISREG(mode):
                files.append(path)
            else:
                skipped.append({"path": str(path), "reason": _not_regular(mode)})
    return files


def _not_regular(mode: int) -> str:
    kind = ("FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else
            "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file")
    return f"not a regular file ({kind})"


def upload_paths(client: zerorpc.Client, paths: list[Path], type_tag: str = "",
                 tags: list[str] | None = None, skipped: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """Upload files (folders recursively) with a progress bar on stderr: ``[{md5, filename, path}]``.

    Everything readable is uploaded; each path skipped (see sample_files, and files that fail to read) is said
    on stderr with why, and added to ``skipped`` when given, so the caller can set its exit code.
    """
    from tqdm import tqdm

    skipped = [] if skipped is None else skipped
    files = sample_files(paths, skipped)
    rows = []
    for path in tqdm(files, desc="uploading", unit="file", file=sys.stderr, disable=None):
        try:
            md5 = upload_file(client, path, type_tag)
        except OSError as exc:  # unreadable, vanished or changed while we read it
            skipped.append({"path": str(path), "reason": f"not readable ({exc.strerror or exc})"})
            continue
        if tags:
            client.add_tags(md5, tags)
        rows.append({"md5": md5, "filename": path.name, "path": str(path)})
    for item in skipped:
        print(f"skipped {item['path']}: {item['reason']}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} path(s) skipped, {len(rows)} file(s) uploaded", file=sys.stderr)
    return rows


def stored_samples(client: zerorpc.Client, type_tag: str | None = None,
                   tags: list[str] | None = None) -> list[dict[str, str]]:
    """Stored samples of a type_tag and/or carrying all tags: ``[{md5, filename}]``, oldest first."""
    md5s = client.get_sample_set(client.generate_sample_set(tags or None, type_tag))
    return [{"md5": md5, "filename": client.get_sample_info(md5)["filename"]} for md5 in md5s]


def samples_from_args(client: zerorpc.Client, args: argparse.Namespace, type_tag: str) -> list[dict[str, str]]:
    """The uploaded PATHs when given (add_sample_args), else the stored samples of ``type_tag`` (and --tag)."""
    if args.paths:
        return upload_paths(client, args.paths, tags=args.tag)
    return stored_samples(client, type_tag, args.tag)


def results_by_filename(client: zerorpc.Client, args: argparse.Namespace, worker: str,
                        type_tag: str) -> tuple[dict[str, str], list[dict]]:
    """The chosen samples (samples_from_args) as {md5: filename}, and ``worker``'s results sorted by filename."""
    names = {s["md5"]: s["filename"] for s in samples_from_args(client, args, type_tag)}
    results = sorted(batch_results(client, worker, md5_list=list(names)), key=lambda r: names[r["md5"]])
    return names, results


def format_tree(value: Any, indent: int = 0) -> str:
    """A nested result as indented ``key: value`` lines (lists of scalars on one line), for people."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item and not _scalar_list(item):
                lines.append(f"{pad}{key}:\n{format_tree(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {_scalar_text(item)}")
        return "\n".join(lines)
    if isinstance(value, list) and not _scalar_list(value):
        return "\n".join(f"{pad}- {format_tree(item, indent + 1).lstrip()}" for item in value)
    return f"{pad}{_scalar_text(value)}"


def _cell(value: Any, max_width: int) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= max_width else text[:max_width - 3] + "..."


def _scalar_list(value: Any) -> bool:
    """A list short enough to print on one line: scalars only, under 100 characters joined."""
    return (isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)
            and len(_scalar_text(value)) < 100)


def _scalar_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(_scalar_text, value)) if value else "[]"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return "{}"
    return "-" if value is None else str(value)


def remote_error_text(exc: zerorpc.RemoteError) -> str:
    """A server-side error in one line: ``UnknownWorker: no worker 'x'...``."""
    return f"{exc.name}: {exc.msg}"


def run_client(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a client's main: server-side and file errors become one line on stderr and exit code 2."""
    try:
        return main(argv)
    except zerorpc.RemoteError as exc:
        print(f"error: {remote_error_text(exc)}", file=sys.stderr)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit, so the final flush is silent
        return 0
    return 2
