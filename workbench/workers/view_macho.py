"""View Mach-O: a compact summary of a Mach-O or universal binary from meta and macho, one line per slice.

Returns md5, filename, file_type, length; macho (fat, number_of_slices, architectures, code_signature);
slices (per architecture: cpu_type, file_type, offset, size, number_of_load_commands, libraries (first 10),
number_of_imported_symbols, number_of_exported_symbols, platform, min_os, code_signature (present), security,
high_entropy_sections (segment,section: entropy at or above 7.0)); packer (upx, upx_version); indicators
(sorted words over all slices: unsigned (no LC_CODE_SIGNATURE), encrypted, upx, no_pie (executables only),
executable_stack, executable_heap, high_entropy).
"""

HIGH_ENTROPY = 7.0
MAX_LIBRARIES = 10


def high_entropy(one: dict) -> dict:
    """'segment,section': entropy for the slice's sections at or above HIGH_ENTROPY."""
    return {f"{seg['name']},{sec['name']}": round(sec["entropy"], 3) for seg in one["segments"]
            for sec in seg["sections"] if sec["entropy"] >= HIGH_ENTROPY}


def indicators(macho: dict, slices: list[dict]) -> list[str]:
    """Triage words for a macho output, sorted."""
    found = {"upx"} if macho["packer"]["upx"] else set()
    for one in macho["slices"]:
        security = one["security"]
        checks = {
            "unsigned": not security["code_signature"],
            "encrypted": security["encrypted"],
            "no_pie": one["file_type"] == "EXECUTE" and not security["pie"],
            "executable_stack": one["file_type"] == "EXECUTE" and not security["nx_stack"],
            "executable_heap": one["file_type"] == "EXECUTE" and not security["nx_heap"],
        }
        found |= {word for word, hit in checks.items() if hit}
    if any(s["high_entropy_sections"] for s in slices):
        found.add("high_entropy")
    return sorted(found)


class ViewMachO:
    """Compact summary of a Mach-O: architectures, file type, libraries, code signature, hardening, indicators."""

    dependencies = ["meta", "macho"]
    applies_to = ("macho",)

    def execute(self, input_data: dict) -> dict:
        meta, macho = input_data["meta"], input_data["macho"]
        slices = [{
            **{key: one[key] for key in ("cpu_type", "file_type", "offset", "size", "number_of_load_commands")},
            "libraries": one["libraries"][:MAX_LIBRARIES],
            "number_of_imported_symbols": one["number_of_imported_symbols"],
            "number_of_exported_symbols": one["number_of_exported_symbols"],
            "platform": one["platform"],
            "min_os": one["min_os"],
            "code_signature": one["code_signature"]["present"],
            "security": one["security"],
            "high_entropy_sections": high_entropy(one),
        } for one in macho["slices"]]
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            "macho": {key: macho[key] for key in ("fat", "number_of_slices", "architectures", "code_signature")},
            "slices": slices,
            "packer": {key: macho["packer"][key] for key in ("upx", "upx_version")},
            "indicators": indicators(macho, slices),
        }
