"""View PE: a compact summary of a PE file from meta, pe_features, pe_indicators, pe_peid and yara_sigs.

Returns md5, filename, file_type, length; pe (machine, is_pe32_plus, is_dll, is_driver, is_dotnet,
compile_date (UTC, ISO 8601), subsystem, number_of_sections, section_names, number_of_imports,
number_of_import_symbols, number_of_exports, entry_point_section, overlay_size); indicators (each
"[severity] category: description"), max_severity; peid (PEiD names, most specific first, at most 5);
yara (matching rules as "namespace:rule"); the original's peid_matches (every PEiD name), yara_sigs (matching
rule names) and classification (its flag: 'Evil!' when an indicator is strongly suspicious (severity 3), else
'Reported Fine'; pe_classifier gives a trained model's verdict); signature (from pe_authenticode: signed,
verified, verification, hash_matches, signer (subject of the first signature's signer), program_name,
signing_time, digest_algorithm).
"""

import time

MACHINES = {0x14C: "i386", 0x8664: "amd64", 0x1C0: "arm", 0xAA64: "arm64", 0x200: "ia64"}
MAX_PEID_NAMES = 5


def signature_summary(authenticode: dict) -> dict:
    """The Authenticode facts a PE summary shows: verdict, signer, program name, signing time."""
    first = authenticode["signatures"][0] if authenticode["signatures"] else {}
    return {
        **{key: authenticode[key] for key in ("signed", "verified", "verification", "hash_matches")},
        "signer": (first.get("signer") or {}).get("subject"),
        **{key: first.get(key) for key in ("program_name", "signing_time", "digest_algorithm")},
    }


class ViewPE:
    """Compact summary of a PE: type, key header facts, indicators, PEiD and YARA hits."""

    dependencies = ["meta", "pe_features", "pe_indicators", "pe_peid", "yara_sigs", "pe_authenticode"]
    applies_to = ("exe",)

    def execute(self, input_data: dict) -> dict:
        meta, features = input_data["meta"], input_data["pe_features"]
        dense, sections = features["dense_features"], features["sections"]
        entry = next((s["name"] for s in sections if s["contains_entry_point"]), None)
        indicators = input_data["pe_indicators"]
        return {
            **{key: meta[key] for key in ("md5", "filename", "file_type", "length")},
            "pe": {
                "machine": MACHINES.get(dense["machine"], hex(dense["machine"])),
                **{key: bool(dense[key]) for key in ("is_pe32_plus", "is_dll", "is_driver", "is_dotnet")},
                "compile_date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(dense["compile_date"])),
                "subsystem": dense["subsystem"],
                "number_of_sections": dense["number_of_sections"],
                "section_names": features["sparse_features"]["section_names"],
                "number_of_imports": dense["number_of_imports"],
                "number_of_import_symbols": dense["number_of_import_symbols"],
                "number_of_exports": dense["number_of_exports"],
                "entry_point_section": entry,
                "overlay_size": dense["overlay_size"],
            },
            "indicators": [f"[{i['severity']}] {i['category']}: {i['description']}"
                           for i in indicators["indicators"]],
            "max_severity": indicators["max_severity"],
            "peid": input_data["pe_peid"]["match_list"][:MAX_PEID_NAMES],
            "yara": [f"{m['namespace']}:{m['rule']}" for m in input_data["yara_sigs"]["match_list"]],
            "peid_matches": input_data["pe_peid"]["match_list"],
            "yara_sigs": sorted(input_data["yara_sigs"]["matches"]),
            "classification": "Evil!" if indicators["max_severity"] >= 3 else "Reported Fine",
            "signature": signature_summary(input_data["pe_authenticode"]),
        }
