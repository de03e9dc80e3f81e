"""Mach-O: thin and fat (universal) binaries, per slice: header, load commands, segments, symbols, signature.

Returns fat (a universal binary?), number_of_slices, architectures, code_signature (any slice signed), packer
(upx traits over the whole file), lists_capped_at, and slices: per architecture cpu_type, cpu_subtype, offset
and size of the slice in the file, file_type (EXECUTE, DYLIB, BUNDLE...), flags (MH_*), number_of_load_commands,
load_commands (their names in order), segments (name, offsets, sizes, protections, entropy, sections with
entropy), libraries, rpaths, imported_symbols / exported_symbols with counts, uuid, platform, min_os, sdk,
entry_point (LC_MAIN), code_signature (present, offset, size) and security (pie, nx_heap, nx_stack, canary,
arc, code_signature, encrypted, restricted). Parsed with lief; an unreadable file fails with the reason.
"""

from workbench.analysis import macho_parsing


class MachO:
    """Mach-O and universal binaries: per-slice header, load commands, segments, symbols, code signature."""

    dependencies = ["sample"]
    applies_to = ("macho",)

    def execute(self, input_data: dict) -> dict:
        return macho_parsing.summary(input_data["sample"]["raw_bytes"])
