"""ELF: header, sections and segments with entropy, dynamic symbols and libraries, hardening flags, UPX traits.

Returns header (class, endianness, os_abi, machine, type, entry_point, number_of_sections/segments);
interpreter; soname; libraries (DT_NEEDED); rpaths (DT_RPATH/DT_RUNPATH); sections (name, type, W/A/X flags,
offset, size, virtual_address, entropy); segments (type, 'RWE' flags, offset, file_size, virtual_address,
virtual_size, entropy); imported_symbols / exported_symbols (dynamic symbols: undefined / defined global or
weak) with their counts; security (pie, shared_object, nx, relro none/partial/full, canary, fortify, stripped);
packer (upx, upx_version, traits); overlay_size; warnings (header tables that end past the file or
hold fewer readable entries than the header says: a truncated or doctored file). Lists stop at 1,000
entries (the counts are complete). Parsed with lief; a file lief cannot read as ELF fails the request with the reason.
"""

from workbench.analysis import elf_parsing


class ELF:
    """ELF executables and libraries: header, sections/segments with entropy, symbols, libraries, PIE/NX/RELRO."""

    dependencies = ["sample"]
    applies_to = ("elf",)

    def execute(self, input_data: dict) -> dict:
        return elf_parsing.summary(input_data["sample"]["raw_bytes"])
