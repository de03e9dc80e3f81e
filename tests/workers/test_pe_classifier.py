"""pe_classifier: the committed model answers for every PE, a model trained here is the one used, a retrained
model makes older verdicts stale, and a missing or foreign model file is a clear error."""

from __future__ import annotations

import time
from pathlib import Path

import joblib
import pytest

from workbench.analysis import pe_model
from workbench.exceptions import WorkerFailed
from workbench.testing import REPO_ROOT, make_workbench, require_data, run_worker


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict]]:
    """(label, dense_features) of every PE in ../shared/data/pe/good and pe/bad."""
    folder = require_data("pe")
    workbench = make_workbench(tmp_path_factory.mktemp("pe_model"))
    try:
        rows = []
        for label in ("good", "bad"):
            for path in sorted((folder / label).iterdir()):
                md5 = workbench.store_sample(path.read_bytes(), path.name, "")
                rows.append((label, workbench.work_request("pe_features", md5)["pe_features"]["dense_features"]))
        return rows
    finally:
        workbench.close()


def test_the_committed_model_classifies_a_pe_with_its_card() -> None:
    path = next(iter(sorted((require_data("pe") / "good").iterdir())))
    verdict = run_worker("pe_classifier", path)
    assert verdict["class"] in ("good", "bad") and 0.5 <= verdict["probability"] <= 1
    assert set(verdict["probabilities"]) == {"good", "bad"} and abs(sum(verdict["probabilities"].values()) - 1) < 1e-3
    assert verdict["model"] == "pe_classifier.joblib" and verdict["model_samples"] == 84
    assert verdict["model_cv_accuracy"] == round(pe_model.load(REPO_ROOT / "models/pe_classifier.joblib")
                                                 ["cv_accuracy"], 4)


def test_a_model_trained_here_is_used_and_its_cross_validation_is_honest(labelled: list, tmp_path: Path) -> None:
    bundle = pe_model.train([dense for _, dense in labelled], [label for label, _ in labelled], folds=4, seed=1)
    assert bundle["samples"] == len(labelled) >= 80 and bundle["classes"] == ["bad", "good"]
    assert 0.5 < bundle["cv_accuracy"] <= 1.0  # better than chance on a balanced set, measured, not assumed
    model = pe_model.save(bundle, tmp_path / "m.joblib")
    expected = pe_model.classify(bundle, labelled[0][1])
    sample = next(iter(sorted((require_data("pe") / "good").iterdir())))
    verdict = run_worker("pe_classifier", sample, options={"pe_classifier": {"model": str(model)}})
    assert (verdict["class"], verdict["probability"]) == (expected["class"], expected["probability"])
    assert verdict["model_cv_accuracy"] == round(bundle["cv_accuracy"], 4)


def test_retraining_makes_older_verdicts_stale(labelled: list, tmp_path: Path) -> None:
    model = tmp_path / "m.joblib"
    pe_model.save(pe_model.train([d for _, d in labelled], [lb for lb, _ in labelled], folds=3, seed=0), model)
    workbench = make_workbench(tmp_path, options={"pe_classifier": {"model": str(model)}})
    try:
        sample = next(iter(sorted((require_data("pe") / "bad").iterdir())))
        md5 = workbench.store_sample(sample.read_bytes(), sample.name, "")
        workbench.work_request("pe_classifier", md5)
        assert [s["status"] for s in workbench.explain("pe_classifier", md5)["plan"]
                if s["worker"] == "pe_classifier"] == ["cached"]
        pe_model.save(pe_model.train([d for _, d in labelled], [lb for lb, _ in labelled], folds=3, seed=5), model)
        time.sleep(1.1)  # the front looks at declared data files about once a second
        assert [s["status"] for s in workbench.explain("pe_classifier", md5)["plan"]
                if s["worker"] == "pe_classifier"] == ["stale"]
    finally:
        workbench.close()


def test_a_missing_or_foreign_model_is_a_clear_error(tmp_path: Path) -> None:
    sample = next(iter(sorted((require_data("pe") / "good").iterdir())))
    with pytest.raises(WorkerFailed, match="no model at .*PE_Classifier.ipynb"):
        run_worker("pe_classifier", sample, options={"pe_classifier": {"model": str(tmp_path / "absent.joblib")}})
    joblib.dump({"something": "else"}, tmp_path / "foreign.joblib")
    with pytest.raises(WorkerFailed, match="not a pe_classifier model"):
        run_worker("pe_classifier", sample, options={"pe_classifier": {"model": str(tmp_path / "foreign.joblib")}})
