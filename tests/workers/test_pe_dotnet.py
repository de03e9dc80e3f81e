"""pe_dotnet on the .NET PEs in ../shared/data/pe, against Mono's monodis (an independent C implementation).

What ../shared/data/pe holds: 5 .NET assemblies, all in pe/good (VB.NET and C# WinForms programs for .NET 2.0
and 4.0, one also Authenticode-signed); the other 79 PEs are native. monodis --method aborts on some of these
files (an assertion in its signature decoder) after listing a few methods, so the method count is compared with
the row range it announces ("Method Table (1..N)") and, where the listing completes, with its rows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.exceptions import WorkerNotApplicable
from workbench.testing import make_workbench, require_data, run_worker


def monodis(path: Path, option: str) -> str:
    if shutil.which("monodis") is None:
        pytest.skip("monodis is not installed: run ./install.sh or apt-get install mono-utils")
    result = subprocess.run(["monodis", option, str(path)], capture_output=True, text=True, timeout=60)
    return "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                     if not line.startswith(("WARNING:", "Using default runtime")))


def rows(text: str) -> list[str]:
    """'N: rest' lines of a monodis table listing, by row."""
    return re.findall(r"^\d+: (.*)$", text, re.M)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    workbench = make_workbench(tmp_path_factory.mktemp("pe_dotnet"))
    try:
        results = {}
        for path in sorted(require_data("pe/good").iterdir()):
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            if workbench.work_request("pe_features", md5)["pe_features"]["dense_features"]["is_dotnet"]:
                results[path] = workbench.work_request("pe_dotnet", md5)["pe_dotnet"]
        return results
    finally:
        workbench.close()


def test_the_dotnet_samples_are_the_ones_libmagic_calls_net_assemblies(outputs: dict[Path, dict]) -> None:
    import magic

    expected = {p for p in require_data("pe/good").iterdir() if "Mono/.Net assembly" in magic.from_file(str(p))}
    assert set(outputs) == expected and len(expected) == 5


def test_assembly_module_and_references_match_monodis(outputs: dict[Path, dict]) -> None:
    for path, output in outputs.items():
        assembly = monodis(path, "--assembly")
        assert output["assembly"]["name"] == re.search(r"^Name:\s+(.*)$", assembly, re.M).group(1), path
        assert output["assembly"]["version"] == re.search(r"^Version:\s+(.*)$", assembly, re.M).group(1), path
        (module,) = rows(monodis(path, "--module"))
        name, _generation, guid = re.match(r"(.*) (\d+) \{([0-9A-F-]+)\}$", module).groups()
        assert (output["module"]["name"], output["module"]["mvid"]) == (name, guid.lower()), path
        references = re.findall(r"^\d+: Version=(\S+)\n\s+Name=(.*)$", monodis(path, "--assemblyref"), re.M)
        assert [(r["version"], r["name"]) for r in output["assembly_references"]] == references, path
        assert output["number_of_assembly_references"] == len(references), path


def test_type_method_resource_and_pinvoke_tables_match_monodis(outputs: dict[Path, dict]) -> None:
    complete_method_listings = 0
    for path, output in outputs.items():
        typedefs = rows(monodis(path, "--typedef"))
        assert output["number_of_types"] == len(typedefs), path
        assert output["number_of_type_references"] == len(rows(monodis(path, "--typeref"))), path
        method_list = monodis(path, "--method")
        assert output["number_of_methods"] == int(re.search(r"Method Table \(1\.\.(\d+)\)", method_list)[1]), path
        if "Assertion" not in method_list:
            assert output["number_of_methods"] == len(rows(method_list)), path
            complete_method_listings += 1
        resources = re.findall(r"^\d+: (public|private) '(.*)' at offset (\d+)", monodis(path, "--manifest"), re.M)
        assert [(("public" if r["public"] else "private"), r["name"], str(r["offset"]))
                for r in output["resources"]] == resources, path
        assert output["module_references"] == rows(monodis(path, "--moduleref")), path
        implmap = monodis(path, "--implmap")  # stops at the first signature it cannot resolve
        pinvoke = re.findall(r"\((\S+) [^()]*\)$", implmap, re.M)
        announced = re.search(r"ImplMap Table \(1\.\.(\d+)\)", implmap)
        assert len(output["pinvoke_imports"]) == (int(announced[1]) if announced else 0), path
        assert output["pinvoke_imports"][:len(pinvoke)] == pinvoke, path
    assert complete_method_listings >= 2


def test_a_native_pe_is_not_applicable_with_the_reason() -> None:
    native = next(p for p in sorted(require_data("pe/good").iterdir())
                  if not run_worker("pe_features", p)["dense_features"]["is_dotnet"])
    with pytest.raises(WorkerNotApplicable, match="no CLR header .* not a .NET assembly"):
        run_worker("pe_dotnet", native)
