"""View ELF: a compact summary of an ELF file from meta and elf: key facts, hardening and triage indicators.

Returns md5, filename, file_type, length; elf (class, machine, type, entry_point, interpreter, soname,
libraries (first 10), number_of_sections, number_of_segments, number_of_imported_symbols,
number_of_exported_symbols); security (elf's pie, shared_object, nx, relro, canary, fortify, stripped);
high_entropy_sections (name: entropy for sections at or above 7.0 bits/byte); writable_executable_segments
(segment types); packer (upx, upx_version); indicators (sorted words: upx, executable_stack, no_relro,
no_pie (executables only), stripped, no_section_headers, high_entropy, writable_executable_segment, overlay).
"""

HIGH_ENTROPY = 7.0
MAX_LIBRARIES = 10


def indicators(elf: dict, high: dict, wx: list) -> list[str]:
    """Triage words for an elf output, sorted."""
    security, header = elf["security"], elf["header"]
    checks = {
        "upx": elf["packer"]["upx"],
        "executable_stack": not security["nx"],
        "no_relro": security["relro"] == "none",
        "no_pie": header["type"] == "EXEC",
        "stripped": security["stripped"],
        "no_section_headers": header["number_of_sections"] == 0,
        "high_entropy": bool(high),
        "writable_executable_segment": bool(wx),
        "overlay": elf["overlay_size"] > 0,
    }
    return sorted(word for word, hit in checks.items() if hit)


class ViewELF:
    """Compact summary of an ELF: class, machine, type, interpreter, libraries, PIE/NX/RELRO, UPX, indicators."""

    dependencies = ["meta", "elf"]
    applies_to = ("elf",)

    def execute(self, input_data: dict) -> dict:
        meta, elf = input_data["meta"], input_data["elf"]
        header = elf["header"]
        high = {s["name"]: round(s["entropy"], 3) for s in elf["sections"] if s["entropy"] >= HIGH_ENTROPY}
        wx = [s["type"] for s in elf["segments"] if "W" in s["flags"] and "E" in s["flags"]]
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            "elf": {
                **{key: header[key] for key in ("class", "machine", "type", "entry_point")},
                "interpreter": elf["interpreter"],
                "soname": elf["soname"],
                "libraries": elf["libraries"][:MAX_LIBRARIES],
                "number_of_sections": header["number_of_sections"],
                "number_of_segments": header["number_of_segments"],
                "number_of_imported_symbols": elf["number_of_imported_symbols"],
                "number_of_exported_symbols": elf["number_of_exported_symbols"],
            },
            "security": elf["security"],
            "high_entropy_sections": high,
            "writable_executable_segments": wx,
            "packer": {key: elf["packer"][key] for key in ("upx", "upx_version")},
            "indicators": indicators(elf, high, wx),
        }
