"""PE classifier: a scikit-learn model's verdict on a PE, from its pe_features dense features.

The model is trained by notebooks/PE_Classifier.ipynb (random forest over the dense features of labelled
samples; see workbench/analysis/pe_model.py) and saved to the file named by ``model`` in
``[worker.pe_classifier]`` of config.ini. Retraining changes the file, and with it this worker's version,
so outputs computed with the old model are recomputed on the next request.

Returns class (the predicted label, e.g. "bad"), probability (of that class), probabilities ({label: p}),
and the model's card: model (file name), model_trained, model_samples and model_cv_accuracy (the notebook's
cross-validated accuracy: how far to trust the verdict).
"""

import hashlib
import os
from pathlib import Path

from workbench.analysis import pe_model

CODE_HASH = hashlib.sha1(Path(__file__).read_bytes() + Path(pe_model.__file__).read_bytes()).hexdigest()[:12]


class PeClassifier:
    """A scikit-learn model's class and probability for a PE (trained in notebooks/PE_Classifier.ipynb)."""

    dependencies = ["pe_features"]
    applies_to = ("exe",)
    options = {"model": ""}

    def __init__(self) -> None:
        self._cache: tuple[str, float, str, dict | None] = ("", 0.0, "", None)  # path, mtime, sha1, bundle

    def _model(self) -> tuple[str, dict | None]:
        """(sha1, bundle) of the model file, read again only when the file changes."""
        path = self.options["model"]
        if not path or not os.path.isfile(path):
            raise FileNotFoundError(f"pe_classifier has no model at {path or '(unset)'!r}: run "
                                    "notebooks/PE_Classifier.ipynb to train one, or set [worker.pe_classifier] "
                                    "model in config.ini")
        mtime = os.stat(path).st_mtime
        if self._cache[:2] != (path, mtime):
            self._cache = (path, mtime, hashlib.sha1(Path(path).read_bytes()).hexdigest(), None)
        return self._cache[2], self._cache[3]

    @property
    def version(self) -> str:
        """Changes with the model file, so outputs of an older model are recomputed."""
        try:
            return f"{CODE_HASH}:{self._model()[0][:16]}"
        except FileNotFoundError:
            return f"{CODE_HASH}:no-model"

    def execute(self, input_data: dict) -> dict:
        digest, bundle = self._model()
        if bundle is None:
            bundle = pe_model.load(self.options["model"])
            self._cache = (*self._cache[:3], bundle)
        verdict = pe_model.classify(bundle, input_data["pe_features"]["dense_features"])
        return {**verdict, "model": os.path.basename(self.options["model"]), "model_trained": bundle["trained"],
                "model_samples": bundle["samples"], "model_cv_accuracy": round(bundle["cv_accuracy"], 4)}
