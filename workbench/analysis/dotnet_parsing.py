""".NET metadata of a PE with dnfile: assembly identity, references, type/method counts, resources, module GUID.

dnfile parses the PE (it is a pefile subclass) and the CLR header with its metadata streams and tables. Only
PEs whose pe_features says ``is_dotnet`` come here; a CLR header dnfile cannot read is reported as such.
"""

from __future__ import annotations

from typing import Any

import dnfile

MAX_ITEMS = 1000


class NotDotNet(ValueError):
    """The PE has no readable CLR header or metadata."""


def _text(value: Any) -> str | None:
    """A metadata heap item (string, GUID) as text; None when absent."""
    if value is None:
        return None
    return str(value.value if hasattr(value, "value") and isinstance(value.value, str) else value)


def _field(row: Any, name: str) -> Any:
    """A row's column, None when dnfile could not read it (a corrupt table leaves rows half-filled)."""
    return getattr(row, name, None)


def _version(row: Any) -> str:
    return ".".join(str(_field(row, part)) for part in ("MajorVersion", "MinorVersion", "BuildNumber",
                                                         "RevisionNumber"))


def _rows(table: Any) -> list[Any]:
    return list(table.rows) if table is not None else []


def _blob_hex(value: Any) -> str | None:
    data = getattr(value, "value", None)
    return bytes(data).hex() if data else None


def summary(raw: bytes) -> dict[str, Any]:
    """Everything the pe_dotnet worker returns, from one dnfile parse."""
    pe = dnfile.dnPE(data=raw)  # never close(): pefile's close() runs gc.collect()
    net = pe.net
    if net is None or net.mdtables is None or net.metadata is None:
        raise NotDotNet("the CLR header or its metadata tables are unreadable (truncated or corrupt .NET "
                        "assembly); dnfile could not parse them")
    tables = net.mdtables
    assembly = _rows(tables.Assembly)[:1]
    module = _rows(tables.Module)[:1]
    references = _rows(tables.AssemblyRef)
    resources = _rows(tables.ManifestResource)
    flags = net.Flags
    return {
        "assembly": {
            "name": _text(_field(assembly[0], "Name")),
            "version": _version(assembly[0]),
            "culture": _text(_field(assembly[0], "Culture")) or None,
            "public_key": _blob_hex(_field(assembly[0], "PublicKey")),
        } if assembly else None,
        "module": {"name": _text(_field(module[0], "Name")), "mvid": _text(_field(module[0], "Mvid"))}
        if module else None,
        "runtime_version": net.metadata.struct.Version.rstrip(b"\0").decode("utf-8", "backslashreplace"),
        "clr_flags": {"il_only": bool(flags.CLR_ILONLY), "requires_32bit": bool(flags.CLR_32BITREQUIRED),
                      "strong_name_signed": bool(flags.CLR_STRONGNAMESIGNED),
                      "native_entry_point": bool(flags.CLR_NATIVE_ENTRYPOINT)},
        "number_of_assembly_references": len(references),
        "assembly_references": [{"name": _text(_field(r, "Name")), "version": _version(r),
                                 "public_key_token": _blob_hex(_field(r, "PublicKey"))}
                                for r in references[:MAX_ITEMS]],
        "number_of_types": len(_rows(tables.TypeDef)),
        "number_of_methods": len(_rows(tables.MethodDef)),
        "number_of_type_references": len(_rows(tables.TypeRef)),
        "module_references": [_text(_field(m, "Name")) for m in _rows(tables.ModuleRef)[:MAX_ITEMS]],
        "pinvoke_imports": [_text(_field(m, "ImportName")) for m in _rows(tables.ImplMap)[:MAX_ITEMS]],
        "number_of_resources": len(resources),
        "resources": [{"name": _text(_field(r, "Name")), "offset": _field(r, "Offset"),
                       "public": bool(getattr(_field(r, "Flags"), "mrPublic", False))}
                      for r in resources[:MAX_ITEMS]],
        "streams": [s.struct.Name.rstrip(b"\0").decode("utf-8", "backslashreplace")
                    for s in net.metadata.streams_list],
    }
