"""Instrument recognition: which of 15 orchestral and band instruments plays a note or a recording.

Modules: ``features`` (the designed 120-dimensional note features: MFCC statistics, pooled CQT, envelope),
``baselines`` (linear SVM and logistic regression on them, scikit-learn, saved as JSON), ``augment`` (rendered
notes made to sound played and recorded: pitch shift, articulation, dynamics, production), ``recognition``
(note windows, per-window classification, pooling over a recording; :func:`classify`), ``evaluate`` (accuracy,
top-3, per-class recall and confusion matrices on a held-out split or a folder of real notes), ``aliases``
(other collections' class names). The networks are :class:`dlmir.models.InstrumentMLP` and
:class:`dlmir.models.InstrumentCNN`; training is :mod:`dlmir.train.instruments`; the commands are
``dlmir instrument``, ``dlmir train instruments``, ``dlmir search instruments`` and ``dlmir evaluate instruments``.

>>> from dlmir.instruments import classify
>>> classify(y, 22050)                     # [('trumpet', 0.91), ('french_horn', 0.04), ('trombone', 0.02)]
"""

from __future__ import annotations

from dlmir.instruments.aliases import ALIASES, canonical
from dlmir.instruments.features import FEATURE_NAMES, N_FEATURES, NOTE_CQT, note_features
from dlmir.instruments.recognition import InstrumentRecognizer, InstrumentResult, classify

__all__ = [
    "ALIASES",
    "FEATURE_NAMES",
    "NOTE_CQT",
    "N_FEATURES",
    "InstrumentRecognizer",
    "InstrumentResult",
    "canonical",
    "classify",
    "note_features",
]
