"""Our fixes for zerorpc 0.6.3 (2019, its last release) on Python 3.11, kept in one place.

1. zerorpc's introspection (``_zerorpc_inspect``, ``_zerorpc_args``, used by the stock ``zerorpc`` command line
   tool to list an API) calls ``inspect.getargspec``, removed in Python 3.11. We give its decorator base class
   an argument reader built on ``inspect.getfullargspec`` that returns the same 4-tuple shape.
2. ``Event.unpack`` feeds each received message into a ``msgpack.Unpacker``, which copies the whole message into
   its own buffer before decoding it (and refuses messages over 100 MiB). ``msgpack.unpackb`` decodes straight
   from the ZeroMQ frame: one copy of a message's bytes fewer (an 8 MiB upload part: about 5 ms less CPU here).
3. pyzmq 23 (2022) made its constants ``enum.Flag`` members. zerorpc's gevent socket tests and sets flags on every
   send and receive (``flags & NOBLOCK``, ``flags |= NOBLOCK``, ``events & POLLOUT`` after polling the socket's
   state), and each such operation now runs Python-level enum code: 1.3 us, against 0.03 us on the plain ints
   zerorpc was written for, ~10 of them per message. zerorpc's socket module sees plain ints again.
4. ``Event.pack`` packs through ``pipe_protocol.pack_relayed``: a worker process's output in a stream item
   (``EncodedOutput``) is spliced into the message as that process encoded it, never decoded and encoded again
   here. Every other message is packed in one call as before, to the same bytes.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import msgpack
import zerorpc.decorators
import zerorpc.events
import zerorpc.gevent_zmq
import zmq

from workbench.server.execution.pipe_protocol import pack_relayed

FLAG_CONSTANTS = ("NOBLOCK", "SNDMORE", "RCVMORE", "POLLIN", "POLLOUT")


def _zerorpc_args(self: Any) -> tuple | None:
    functor = self._functor
    if hasattr(functor, "_zerorpc_args"):
        return functor._zerorpc_args()
    for candidate in (functor, type(functor).__call__ if callable(functor) else None):
        try:
            spec = inspect.getfullargspec(candidate)
        except TypeError:
            continue
        args = spec.args[1:] if inspect.ismethod(candidate) else spec.args
        return (args, spec.varargs, spec.varkw, spec.defaults)
    return None


def _unpack(blob: Any) -> zerorpc.events.Event:
    """zerorpc's Event.unpack, decoding in place (the message must be exactly one msgpack object, as it is)."""
    message = msgpack.unpackb(blob, raw=False)
    try:
        header, name, args = message
    except Exception as exc:  # zerorpc's own wording
        raise Exception(f'invalid msg format "{message}": {exc}') from exc
    return zerorpc.events.Event(name, args, None, header if isinstance(header, dict) else {})


def _pack(self: zerorpc.events.Event) -> bytes:
    """zerorpc's Event.pack, relaying encoded outputs as they are."""
    return pack_relayed((self._header, self._name, self._args))


def apply() -> None:
    """Install the fixes (idempotent). The server calls it; clients keep stock zerorpc."""
    zerorpc.decorators.DecoratorBase._zerorpc_args = _zerorpc_args
    zerorpc.events.Event.unpack = staticmethod(_unpack)
    zerorpc.events.Event.pack = _pack
    plain = {name: int(getattr(zmq, name)) for name in FLAG_CONSTANTS}
    vars(zerorpc.gevent_zmq).update(plain)  # what zerorpc's events module reads as ``zmq.SNDMORE``
    zerorpc.gevent_zmq._zmq = types.SimpleNamespace(**{**vars(zmq), **plain})  # what its socket methods read
