"""A scikit-learn classifier of PEs from pe_features' dense features: trained in a notebook, used by a worker.

The model is a random forest over the dense numeric features (a fixed, sorted column list stored with the
model, so a pe_features output with more or fewer keys still lines up: missing columns count as 0). It is
saved with joblib together with its card: feature names, classes, when it was trained, on how many samples,
and its cross-validated accuracy. A joblib file runs code when loaded: load only models you trained.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np

FORMAT = "workbench-pe-classifier/1"


def feature_matrix(dense: list[dict[str, Any]], features: list[str]) -> np.ndarray:
    """Rows of ``dense_features`` dicts as a float matrix in ``features`` order (absent -> 0)."""
    return np.array([[float(row.get(name) or 0) for name in features] for row in dense], dtype=np.float64)


def train(dense: list[dict[str, Any]], labels: list[str], folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Fit a random forest on all rows and report its stratified ``folds``-fold cross-validated accuracy."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    features = sorted({name for row in dense for name, value in row.items() if isinstance(value, int | float)})
    x, y = feature_matrix(dense, features), np.array(labels)
    forest = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    scores = cross_val_score(forest, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    forest.fit(x, y)
    return {"format": FORMAT, "model": forest, "features": features, "classes": [str(c) for c in forest.classes_],
            "samples": len(labels), "cv_folds": folds, "cv_accuracy": float(scores.mean()),
            "cv_accuracy_std": float(scores.std()),
            "trained": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def save(bundle: dict[str, Any], path: str | Path) -> Path:
    """Write the model and its card to ``path`` (folders made as needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle, path, compress=3)
    return path


def load(path: str | Path) -> dict[str, Any]:
    """The bundle saved by :func:`save`; ValueError when the file is not one."""
    bundle = joblib.load(path)
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(f"{path} is not a pe_classifier model (expected format {FORMAT!r}): retrain it with "
                         "notebooks/PE_Classifier.ipynb")
    return bundle


def classify(bundle: dict[str, Any], dense: dict[str, Any]) -> dict[str, Any]:
    """The predicted class, its probability and every class's probability for one sample."""
    probabilities = bundle["model"].predict_proba(feature_matrix([dense], bundle["features"]))[0]
    ranked = sorted(zip(bundle["classes"], probabilities.tolist(), strict=True), key=lambda pair: -pair[1])
    return {"class": ranked[0][0], "probability": round(ranked[0][1], 4),
            "probabilities": {name: round(p, 4) for name, p in ranked}}
