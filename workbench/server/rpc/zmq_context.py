"""A zerorpc context that stamps socket options (message size limit, CURVE keys) on every socket it makes.

zerorpc's sockets ignore pyzmq's context-level defaults, so options must be set per socket
(../shared/notes/spikes.md section 1).
"""

from __future__ import annotations

from typing import Any

import zerorpc


class OptionsContext(zerorpc.Context):
    """``zerorpc.Context`` whose sockets all get ``options`` ({zmq option: value})."""

    def __init__(self, options: dict[int, Any]) -> None:
        super().__init__()
        self.__dict__["_socket_options"] = dict(options)  # pyzmq contexts refuse normal attribute sets

    def socket(self, socket_type: int) -> Any:
        """A socket with the options applied before any bind or connect."""
        sock = super().socket(socket_type)
        for option, value in self.__dict__["_socket_options"].items():
            sock.setsockopt(option, value)
        return sock
