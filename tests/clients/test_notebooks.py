"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel against a server this test starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import RunningServer, start_server

from workbench.testing import DATA_DIR, REPO_ROOT, require_data

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = ["Workbench_Demo", "PE_Static_Analysis", "PCAP_to_Dataframe", "Generator_Pipelines", "Adding_Worker",
             "PE_Classifier"]
PLOTS = {"Workbench_Demo": 1, "PE_Static_Analysis": 4, "PCAP_to_Dataframe": 1, "Generator_Pipelines": 1,
         "PE_Classifier": 1}


def ensure_python3_kernel() -> None:
    """A 'python3' kernelspec for nbclient: ipykernel's own, installed for this user if none is found."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        from ipykernel.kernelspec import install

        install(user=True)


def outputs(notebook: nbformat.NotebookNode, kind: str) -> list:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


def text_of(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    """A server with an empty plugin folder (Adding_Worker writes its worker there)."""
    require_data()
    ensure_python3_kernel()
    tmp = tmp_path_factory.mktemp("notebooks")
    plugins = tmp / "plugins"
    plugins.mkdir()
    # PE_Classifier saves the model it trains where the server's pe_classifier reads it: here, not the repo's
    model = {"WORKBENCH_WORKER_PE_CLASSIFIER_MODEL": str(tmp / "pe_classifier.joblib")}
    running = start_server(tmp, plugin_dirs=[plugins], extra_env=model)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(*next(iter(model.items())))
        yield running, plugins
    running.stop()


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_against_the_test_server(name: str, server: tuple[RunningServer, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    running, plugins = server
    # The kernel inherits these: the notebook finds this server instead of starting its own.
    monkeypatch.setenv("WORKBENCH_PORT", str(running.port))
    monkeypatch.setenv("WORKBENCH_PLUGIN_DIR", str(plugins))
    monkeypatch.setenv("WORKBENCH_TEST_DATA", str(DATA_DIR))
    notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    for cell in notebook.cells:  # run from a clean slate, not the committed outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()  # raises on any cell error
    assert "server found running" in text_of(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert len(outputs(notebook, "image/png")) >= PLOTS.get(name, 0)
    if name == "PE_Classifier":  # the honest figure is printed, and the worker used the model just trained
        text = text_of(notebook)
        assert "cross-validated accuracy: 0." in text and "saved to pe_classifier.joblib" in text
    if name == "Adding_Worker":
        assert "byte_classes loaded: False" in text_of(notebook) and not list(plugins.iterdir())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_carries_its_outputs_and_reads_data_from_one_variable(name: str) -> None:
    notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source.splitlines()[1].startswith('DATA_DIR = "../../shared/data"')
    assert sum("DATA_DIR" in c.source for c in code) == 1  # every path is derived from that one variable
    assert all(c.execution_count for c in code), "commit the notebook executed, with its outputs"
    assert len(outputs(notebook, "image/png")) >= PLOTS.get(name, 0)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert os.sep + "tmp" + os.sep not in text_of(notebook), "outputs should not show machine-specific paths"
