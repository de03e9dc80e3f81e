"""CURVE for the group server: encryption plus client-key authentication, configured by key files in config.ini.

The server's sockets get the CURVE options through ``OptionsContext``. A ZAP handler bound on the SAME libzmq
context (a green shadow of it) admits only the public keys found in ``curve_authorized_keys_dir``; without a
handler libzmq would accept any client key (../shared/notes/spikes.md section 1). ``refresh()`` re-reads the
folder when it changes, so adding or removing a ``*.key`` file takes effect without a restart; the RPC layer
also checks every request's key (``is_allowed``) so a removed key stops working on connections already open.
Key pairs come from ``workbench-keygen`` (zmq.auth certificate files: ``NAME.key`` and ``NAME.key_secret``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import gevent
import zmq
import zmq.auth
import zmq.green
from zmq.utils import z85

from workbench.config import Config
from workbench.exceptions import BadArgument

log = logging.getLogger(__name__)
ZAP_ENDPOINT = "inproc://zeromq.zap.01"


def load_key_pair(path: str, setting: str) -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file, or BadArgument naming the setting and the fix."""
    public, secret = _load(path, setting)
    if secret is None:
        raise BadArgument(f"{setting} = {path} holds only a public key; name the matching .key_secret file "
                          "(made by workbench-keygen)")
    return public, secret


def load_public_key(path: str, setting: str) -> bytes:
    """The public key from a ``.key`` (or ``.key_secret``) file."""
    return _load(path, setting)[0]


def _load(path: str, setting: str) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise BadArgument(f"cannot read the CURVE key file {setting} = {path!r} ({exc}); make key pairs with "
                          "`workbench-keygen NAME`") from None


def server_options(config: Config) -> tuple[dict[int, Any], Path | None]:
    """Socket options and the authorized keys folder for the server; ({}, None) when CURVE is not configured."""
    secret_file = config.path_setting("server", "curve_secret_key")
    keys_dir = config.path_setting("server", "curve_authorized_keys_dir")
    if not secret_file and not keys_dir:
        return {}, None
    if not secret_file or not keys_dir:
        missing = "curve_secret_key" if not secret_file else "curve_authorized_keys_dir"
        raise BadArgument(f"CURVE needs both [server] curve_secret_key and curve_authorized_keys_dir; set {missing} "
                          "too (without the folder any client key would be accepted)")
    if not Path(keys_dir).is_dir():
        raise BadArgument(f"[server] curve_authorized_keys_dir = {keys_dir!r} is not a folder; create it and put "
                          "allowed clients' public .key files in it")
    public, secret = load_key_pair(secret_file, "[server] curve_secret_key")
    return {zmq.CURVE_SERVER: 1, zmq.CURVE_PUBLICKEY: public, zmq.CURVE_SECRETKEY: secret}, Path(keys_dir)


def client_options(config: Config) -> dict[int, Any]:
    """Socket options for a client: {} without keys, else this client's key pair and the server's public key."""
    secret_file = config.path_setting("client", "curve_secret_key")
    server_file = config.path_setting("client", "curve_server_key")
    if not secret_file and not server_file:
        return {}
    if not secret_file or not server_file:
        raise BadArgument("CURVE needs both [client] curve_secret_key (this client's .key_secret) and "
                          "curve_server_key (the server's public .key)")
    public, secret = load_key_pair(secret_file, "[client] curve_secret_key")
    return {zmq.CURVE_SERVERKEY: load_public_key(server_file, "[client] curve_server_key"),
            zmq.CURVE_PUBLICKEY: public, zmq.CURVE_SECRETKEY: secret}


def _folder_signature(folder: Path) -> tuple:
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.key")))
    except OSError:
        return ()


class ZapAuthenticator:
    """A ZAP handler in a greenlet on the server's libzmq context: CURVE clients whose key is in the folder pass.

    The User-Id it hands back is the client's public key (z85), which zmq attaches to every message.
    """

    def __init__(self, context: zmq.Context, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self.allowed: frozenset[str] = frozenset()
        self._signature: tuple | None = None
        self.refresh()
        self._context = zmq.green.Context.shadow(context.underlying)  # the SAME libzmq context
        self._socket = self._context.socket(zmq.REP)
        self._socket.linger = 0
        self._socket.bind(ZAP_ENDPOINT)
        self._task = gevent.spawn(self._serve)

    def refresh(self) -> bool:
        """Re-read the authorized keys if the folder changed (called every second); True if it did."""
        signature = _folder_signature(self.keys_dir)
        if signature == self._signature:
            return False
        keys = set()
        for path in sorted(self.keys_dir.glob("*.key")):
            try:
                public, _ = zmq.auth.load_certificate(path)
                keys.add(public.decode("ascii"))
            except (OSError, ValueError) as exc:
                log.warning("skipped CURVE key file %s: %s", path, exc)
        self._signature, self.allowed = signature, frozenset(keys)
        log.info("CURVE: %d authorized client keys in %s", len(keys), self.keys_dir)
        return True

    def is_allowed(self, user_id: str | None) -> bool:
        """Whether a request's User-Id (a client public key) is still authorized."""
        return user_id is not None and user_id in self.allowed

    def _serve(self) -> None:
        while True:
            request = self._socket.recv_multipart()
            try:
                reply = self._answer(request)
            except Exception:  # noqa: BLE001 - a malformed request is refused, the handler goes on
                log.exception("bad ZAP request refused")
                reply = [b"1.0", request[1] if len(request) > 1 else b"", b"400", b"bad request", b"", b""]
            self._socket.send_multipart(reply)

    def _answer(self, request: list[bytes]) -> list[bytes]:
        version, request_id, _domain, address, _identity, mechanism = request[:6]
        key = z85.encode(request[6]).decode("ascii") if mechanism == b"CURVE" and len(request) > 6 else None
        if version == b"1.0" and self.is_allowed(key):
            return [b"1.0", request_id, b"200", b"OK", key.encode("ascii"), b""]
        log.warning("CURVE: refused %s client from %s (key %s not in %s)", mechanism.decode(errors="replace"),
                    address.decode(errors="replace"), key, self.keys_dir)
        return [b"1.0", request_id, b"400", b"key not authorized", b"", b""]

    def close(self) -> None:
        """Stop answering (new handshakes then fail)."""
        self._task.kill(block=False)
        self._socket.close()


def make_key_pair(folder: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` (public, to share) and ``NAME.key_secret`` (private, mode 600); refuse to overwrite."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise BadArgument(f"bad key name {name!r}: use letters, digits, '_', '-' or '.', e.g. 'alice' or 'server'")
    folder = Path(folder).expanduser()
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise BadArgument(f"{path} already exists; pick another name or remove the old key pair first")
    folder.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0o077)  # the secret file is never readable by others, not even for a moment
    try:
        made_public, made_secret = zmq.auth.create_certificates(folder, name)
    finally:
        os.umask(umask)
    os.chmod(made_public, 0o644)
    return Path(made_public), Path(made_secret)


def server_as_client_options(config: Config) -> dict[int, Any] | None:
    """CURVE options for a server calling its own group through the balancer: it presents the group's server
    key pair as its client key (authorize ``server.key`` in the keys folder), None without CURVE."""
    secret = config.path_setting("server", "curve_secret_key")
    if not secret:
        return None
    public, secret_key = load_key_pair(secret, "[server] curve_secret_key")
    return {zmq.CURVE_SERVERKEY: public, zmq.CURVE_PUBLICKEY: public, zmq.CURVE_SECRETKEY: secret_key}
