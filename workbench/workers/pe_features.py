"""PE features: static features of a PE file for machine learning, from one pefile parse.

Returns dense_features (numbers only, bools as 0/1, the same keys for every PE: header fields, checksum and
generated checksum, compile_date, import/export counts, sizes, section entropy min/mean/max, section size
totals/maxima, datadir_<NAME>_size for the 16 data directories, is_exe/is_dll/is_driver/is_i386/
is_pe32_plus/is_dotnet, tls_callbacks, overlay_size, pe_warnings...), sparse_features (imported_symbols as
'dll:function', lowercased as the original's were, exported_symbols, section_names, pe_warning_strings (first 100)) and
sections (per section: name, virtual_address, virtual_size, raw_offset, raw_size, entropy, characteristics,
readable, writable, executable, contains_code, contains_entry_point), which pe_indicators and the PE views
read so the file is parsed once.

``pd.DataFrame([o['dense_features'] for o in outputs])`` gives one numeric column per dense feature.
"""

from workbench.analysis import pe_parsing


class PEFeatures:
    """Static PE features for machine learning: dense numeric features, sparse string features, sections."""

    dependencies = ["sample"]
    applies_to = ("exe",)

    def execute(self, input_data: dict) -> dict:
        raw = input_data["sample"]["raw_bytes"]
        pe = pe_parsing.parse(raw)  # never pe.close(): it runs gc.collect() on every call
        sections = pe_parsing.section_table(pe)
        return {
            "dense_features": pe_parsing.dense_features(pe, raw, sections),
            "sparse_features": pe_parsing.sparse_features(pe, sections),
            "sections": sections,
        }
