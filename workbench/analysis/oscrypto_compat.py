"""One compatibility fix for oscrypto 1.3.0, signify's crypto backend (like zerorpc_compat for zerorpc).

oscrypto 1.3.0, its last PyPI release, reads the OpenSSL version with the pattern ``\\d\\.\\d\\.\\d``, which does
not match '3.0.19' (any two-digit patch number), and then refuses to import: "Error detecting the version of
libcrypto" (wbond/oscrypto#78; fixed on its master with ``\\d+``, never released). ``apply()`` loads that one
version-probe module from the installed file's own source with the pattern widened, through the normal import
machinery, before signify imports oscrypto. It does nothing when the installed oscrypto no longer has the bug.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

BUGGY_VERSION_PATTERN = r"'\\b(\\d\\.\\d\\.\\d[a-z]*)\\b'"
FIXED_VERSION_PATTERN = r"'\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b'"


class _PatchedSourceLoader(importlib.abc.InspectLoader):
    """Loads a module from a given source text (the installed module's source with the pattern widened)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def get_source(self, fullname: str) -> str:
        return self.source

    def is_package(self, fullname: str) -> bool:
        return False


def apply() -> bool:
    """Load oscrypto's libcrypto version probe with the upstream fix; True when it was needed and applied."""
    from oscrypto import ffi

    module_name = "oscrypto._openssl._libcrypto_" + ("cffi" if ffi() == "cffi" else "ctypes")
    spec = importlib.util.find_spec(module_name)
    if module_name in sys.modules or spec is None or spec.loader is None:
        return False
    source = spec.loader.get_source(module_name) or ""
    if BUGGY_VERSION_PATTERN not in source:
        return False
    loader = _PatchedSourceLoader(source.replace(BUGGY_VERSION_PATTERN, FIXED_VERSION_PATTERN))
    patched = importlib.util.spec_from_loader(module_name, loader, origin=spec.origin)
    module = importlib.util.module_from_spec(patched)
    sys.modules[module_name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return True
