"""The one compatibility fix for zerorpc 0.6.3 on Python 3.11, kept in one place.

zerorpc's introspection (``_zerorpc_inspect``, ``_zerorpc_args``, used by the stock ``zerorpc`` command line
tool to list an API) calls ``inspect.getargspec``, removed in Python 3.11. We give its decorator base class
an argument reader built on ``inspect.getfullargspec`` that returns the same 4-tuple shape.
"""

from __future__ import annotations

import inspect
from typing import Any

import zerorpc.decorators


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


def apply() -> None:
    """Install the fix (idempotent)."""
    zerorpc.decorators.DecoratorBase._zerorpc_args = _zerorpc_args
