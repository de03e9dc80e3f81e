"""VBA and XLM macros of an Office document with oletools: olevba's extraction and keyword scan, mraptor's verdict.

olevba finds the VBA project wherever the format keeps it (OLE storages, ``vbaProject.bin`` inside OOXML,
PowerPoint records, Word 2003 XML, MHTML) and classifies keywords as AutoExec (runs on open or close),
Suspicious (shell, file writes, downloads, obfuscation), IOC (URLs, IPs, executable names) and encoded strings.
mraptor (oletools' MacroRaptor) gives a verdict from three traits: A (auto-exec), W (writes to disk) and
X (executes); it calls a macro suspicious when it is auto-exec and writes or executes.
"""

from __future__ import annotations

import importlib.util
from collections import Counter

if importlib.util.find_spec("oletools") is None:
    raise ImportError("oletools is not installed: run ./install.sh (or pip install oletools)")

KEYWORD_KINDS = {"AutoExec": "autoexec", "Suspicious": "suspicious", "IOC": "iocs", "Hex String": "hex_strings",
                 "Base64 String": "base64_strings", "Dridex String": "dridex_strings", "VBA string": "vba_strings"}


def _keywords(results: list[tuple[str, str, str]], kind: str, cap: int) -> list[dict]:
    return [{"keyword": keyword[:200], "description": description[:300]}
            for found_kind, keyword, description in results if found_kind == kind][:cap]


def mraptor_verdict(code: str, has_macros: bool) -> dict:
    """mraptor's verdict on the concatenated macro source: {verdict ('No Macro', 'Macro OK' or 'SUSPICIOUS'),
    flags ('AWX' style), autoexec, write, execute, matches}."""
    if not has_macros:
        return {"verdict": "No Macro", "flags": "---", "autoexec": False, "write": False, "execute": False,
                "matches": []}
    from oletools import mraptor  # on first use: olevba and mraptor take 0.5 s to import (pyparsing grammars)

    raptor = mraptor.MacroRaptor(code)
    raptor.scan()
    return {"verdict": "SUSPICIOUS" if raptor.suspicious else "Macro OK", "flags": raptor.get_flags(),
            "autoexec": raptor.autoexec, "write": raptor.write, "execute": raptor.execute,
            "matches": [match[:200] for match in raptor.matches]}


def analyze(data: bytes, filename: str, max_source_chars: int, max_keywords: int) -> dict:
    """Macros in ``data``: container (olevba's type: OLE, OpenXML, PPT...), has_vba, has_xlm, modules
    ([{stream, name, source (cut to max_source_chars), source_length}]), keywords ({kind: [{keyword,
    description}]}: autoexec, suspicious, iocs, hex_strings, base64_strings, dridex_strings, vba_strings),
    keyword_counts ({olevba type: count}) and mraptor. Raises olevba's FileOpenError for an unreadable file."""
    from oletools import olevba  # on first use: 0.5 s of pyparsing grammars, paid by every pool process otherwise

    parser = olevba.VBA_Parser(filename or "document", data=data, relaxed=True)
    try:
        has_vba, has_xlm = bool(parser.detect_vba_macros()), bool(parser.detect_xlm_macros())
        modules, sources = [], []
        if has_vba or has_xlm:
            for _, stream, name, code in parser.extract_macros():
                if stream == "xlm_macro" and not has_xlm:
                    continue  # olevba's BIFF record dump of a workbook without macro sheets
                code = code if isinstance(code, str) else code.decode("latin-1")
                sources.append(code)
                modules.append({"stream": stream, "name": name, "source": code[:max_source_chars],
                                "source_length": len(code)})
        results = (parser.analyze_macros() or []) if modules else []
        return {
            "container": parser.type,
            "has_vba": has_vba,
            "has_xlm": has_xlm,
            "modules": modules,
            "keywords": {name: _keywords(results, kind, max_keywords) for kind, name in KEYWORD_KINDS.items()},
            "keyword_counts": dict(Counter(kind for kind, _, _ in results)),
            "mraptor": mraptor_verdict("\n".join(sources), bool(modules)),
        }
    finally:
        parser.close()
