"""PE .NET: assembly metadata of a .NET PE (dnfile), for PEs whose pe_features says is_dotnet.

Returns assembly (name, version, culture, public_key), module (name, mvid: the module's GUID),
runtime_version, clr_flags (il_only, requires_32bit, strong_name_signed, native_entry_point),
assembly_references (name, version, public_key_token) and their count, number_of_types (TypeDef rows),
number_of_methods (MethodDef rows), number_of_type_references, module_references, pinvoke_imports (ImplMap
names), resources (ManifestResource: name, offset, public) and their count, streams (metadata stream names).
A PE without a CLR header is not applicable (WorkerNotApplicable); an unreadable one fails with the reason.
"""

from workbench.analysis import dotnet_parsing
from workbench.exceptions import WorkerNotApplicable


class PEDotNet:
    """.NET assembly metadata of a PE: name, version, references, type/method counts, resources, module GUID."""

    dependencies = ["sample", "pe_features"]
    applies_to = ("exe",)

    def execute(self, input_data: dict) -> dict:
        if not input_data["pe_features"]["dense_features"]["is_dotnet"]:
            raise WorkerNotApplicable("the PE has no CLR header (pe_features is_dotnet is 0): not a .NET "
                                      "assembly; use pe_features/pe_indicators for native PEs")
        return dotnet_parsing.summary(input_data["sample"]["raw_bytes"])
