"""The practicum's baselines: designed note features (:mod:`dlmir.instruments.features`) with a linear SVM or
logistic regression (scikit-learn), saved as JSON (never pickled).

A :class:`LinearBaseline` is ``StandardScaler -> LinearSVC`` (``kind="svm"``, one-vs-rest hinge loss) or
``StandardScaler -> LogisticRegression`` (``kind="logreg"``, multinomial). Both are linear maps of the
standardised features: ``scores = ((x - mean) / scale) @ coef.T + intercept``, so after fitting everything is
kept as arrays in a JSON file (:meth:`LinearBaseline.save`, :meth:`LinearBaseline.load`) and prediction needs
no scikit-learn at all. :meth:`LinearBaseline.log_probs` turns the scores into log-probabilities: the softmax
of logistic regression's logits (its own probabilities), and for the SVM the softmax of its decision values
(a ranking, not calibrated probabilities).

Shapes: features ``(n, 120)`` float, labels ``n`` class names; scores ``(n, n_classes)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlmir.errors import ParameterError

__all__ = ["BASELINES", "LinearBaseline", "fit_baseline"]

BASELINES = ("svm", "logreg")
"""Kinds of :class:`LinearBaseline`: linear SVM, logistic regression."""


@dataclass
class LinearBaseline:
    """A fitted linear classifier of standardised features (see the module docstring).

    Attributes
    ----------
    kind : ``"svm"`` or ``"logreg"``. classes : class names, in score order.
    mean, scale : ``(n_features,)`` the standardisation. coef : ``(n_classes, n_features)``.
    intercept : ``(n_classes,)``. info : how it was fitted (``C``, iterations, feature names).
    """

    kind: str
    classes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Decision values ``(n, n_classes)`` of features ``x`` ``(n, n_features)``."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] != self.coef.shape[1]:
            raise ParameterError(f"the {self.kind} baseline takes {self.coef.shape[1]} features, got {x.shape[1]}")
        return ((x - self.mean) / self.scale) @ self.coef.T + self.intercept

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        """``log_softmax`` of :meth:`scores` ``(n, n_classes)`` (module docstring)."""
        s = self.scores(x)
        s = s - s.max(axis=1, keepdims=True)
        return s - np.log(np.exp(s).sum(axis=1, keepdims=True))

    def predict(self, x: np.ndarray) -> list[str]:
        """The best class of each row of ``x``."""
        return [self.classes[i] for i in self.scores(x).argmax(axis=1)]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the classifier as JSON (arrays as lists); returns the path."""
        doc = {
            "model": "LinearBaseline",
            "kind": self.kind,
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "info": self.info,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LinearBaseline:
        """Read a classifier written by :meth:`save`."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ParameterError(f"{path}: not a saved baseline ({exc})") from exc
        if doc.get("model") != "LinearBaseline":
            raise ParameterError(f"{path}: not a saved baseline (model {doc.get('model')!r})")
        arr = {k: np.asarray(doc[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept")}
        return cls(kind=doc["kind"], classes=list(doc["classes"]), info=doc.get("info", {}), **arr)


def fit_baseline(
    x: np.ndarray,
    labels: list[str] | np.ndarray,
    *,
    kind: str = "svm",
    classes: list[str] | None = None,
    C: float = 1.0,
    max_iter: int = 5000,
    seed: int = 0,
) -> LinearBaseline:
    """Fit a baseline on features ``x`` ``(n, n_features)`` and class names ``labels`` (``n``).

    Parameters
    ----------
    kind : ``"svm"`` (``LinearSVC``, squared hinge, one-vs-rest) or ``"logreg"`` (multinomial
        ``LogisticRegression``, lbfgs).
    classes : the class order of the scores (default: the sorted labels); every label must be in it.
    C : inverse regularisation strength (scikit-learn's). max_iter : solver iterations.
    seed : the solver's ``random_state`` (LinearSVC's coordinate order).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if kind not in BASELINES:
        raise ParameterError(f"baseline kind must be one of {BASELINES}, got {kind!r}")
    x = np.asarray(x, dtype=np.float64)
    labels = [str(v) for v in labels]
    if x.ndim != 2 or x.shape[0] != len(labels) or not len(labels):
        raise ParameterError(f"need features (n, n_features) and n labels; got {x.shape} and {len(labels)} labels")
    classes = sorted(set(labels)) if classes is None else list(classes)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ParameterError(f"labels {unknown} are not among the classes {classes}")
    if len(set(labels)) < 2:
        raise ParameterError("a classifier needs examples of at least two classes")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels])
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    if kind == "svm":
        clf = LinearSVC(C=C, max_iter=max_iter, random_state=seed).fit(z, y)
    else:
        clf = LogisticRegression(C=C, max_iter=max_iter).fit(z, y)
    coef = np.zeros((len(classes), x.shape[1]))
    intercept = np.full(len(classes), -1e3)  # classes absent from training are never chosen
    coef_fit, icpt_fit = np.atleast_2d(clf.coef_), np.atleast_1d(clf.intercept_)
    if len(clf.classes_) == 2 and coef_fit.shape[0] == 1:  # binary: one decision function for classes_[1]
        coef_fit = np.vstack([-coef_fit, coef_fit]) / 2
        icpt_fit = np.array([-icpt_fit[0], icpt_fit[0]]) / 2
    for row, k in enumerate(clf.classes_):
        coef[k], intercept[k] = coef_fit[row], icpt_fit[row]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return LinearBaseline(
        kind=kind,
        classes=classes,
        mean=scaler.mean_.astype(np.float64),
        scale=scale.astype(np.float64),
        coef=coef,
        intercept=intercept,
        info={"C": C, "max_iter": max_iter, "n_train": len(labels), "n_iter": np.asarray(clf.n_iter_).tolist()},
    )
