"""PE classifier: a scikit-learn model's verdict on a PE, from its pe_features dense features.

The model is trained by notebooks/PE_Classifier.ipynb (random forest over the dense features of labelled
samples; see workbench/analysis/pe_model.py) and saved to the file named by ``model`` in
``[worker.pe_classifier]`` of config.ini. Retraining changes the file, and with it this worker's version,
so outputs computed with the old model are recomputed on the next request.

Returns class (the predicted label, e.g. "bad"), probability (of that class), probabilities ({label: p}),
and the model's card: model (file name), model_trained, model_samples and model_cv_accuracy (the notebook's
cross-validated accuracy: how far to trust the verdict).
"""

import os

from workbench.analysis import pe_model


class PeClassifier:
    """A scikit-learn model's class and probability for a PE (trained in notebooks/PE_Classifier.ipynb)."""

    dependencies = ["pe_features"]
    applies_to = ("exe",)
    options = {"model": ""}
    data_files = ("model",)  # the model file's contents are part of the version: retraining recomputes outputs

    def __init__(self) -> None:
        self._loaded: tuple[str, int, dict] | None = None  # path, mtime_ns, bundle: a cache, not per-call state

    def _model(self) -> dict:
        """The model bundle, loaded again only when the file changes."""
        path = self.options["model"]
        if not path or not os.path.isfile(path):
            raise FileNotFoundError(f"pe_classifier has no model at {path or '(unset)'!r}: run "
                                    "notebooks/PE_Classifier.ipynb to train one, or set [worker.pe_classifier] "
                                    "model in config.ini")
        mtime = os.stat(path).st_mtime_ns
        if self._loaded is None or self._loaded[:2] != (path, mtime):
            self._loaded = (path, mtime, pe_model.load(path))
        return self._loaded[2]

    def execute(self, input_data: dict) -> dict:
        bundle = self._model()
        verdict = pe_model.classify(bundle, input_data["pe_features"]["dense_features"])
        return {**verdict, "model": os.path.basename(self.options["model"]), "model_trained": bundle["trained"],
                "model_samples": bundle["samples"], "model_cv_accuracy": round(bundle["cv_accuracy"], 4)}
