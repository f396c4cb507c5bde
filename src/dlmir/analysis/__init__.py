"""What the networks learned: first-layer filters, designed against learned, top activating inputs, saliency.

The analysis of issue 14 for every model dlmir ships or trains (learned chroma, chord CNN/CRNN and fretboard
network, tempo cascade, instrument CNN); ``dlmir analyze RUN_DIR`` runs :func:`analyze`, which writes PNGs, a
``summary.md`` and a ``numbers.json``.

- :mod:`dlmir.analysis.filters`: first-layer filters as spectra over the CQT bins (pitch) or Hz;
- :mod:`dlmir.analysis.designed`: the relative Frobenius change of every tensor from the designed cascade (chroma:
  octave-equivalence matrix; tempo: band weights, smoothing, comb gains, prior) or from the start of training;
- :mod:`dlmir.analysis.activations`: the top-k excerpts / frames of the most active units, with their CQT patches;
- :mod:`dlmir.analysis.saliency`: input-gradient saliency over the CQT for one audio file and a class;
- :mod:`dlmir.analysis.report`: all of it into one folder.
"""

from __future__ import annotations

from dlmir.analysis._models import ModelView, view
from dlmir.analysis.activations import Hit, example_excerpts, folder_excerpts, select_units, top_k
from dlmir.analysis.designed import (
    compare,
    designed_reference,
    octave_comparison,
    octave_share,
    relative_change,
    seeded_reference,
    tensor_changes,
)
from dlmir.analysis.filters import FilterResponses, conv_profiles, dense_profiles, filter_responses, first_layer
from dlmir.analysis.report import Report, analyze
from dlmir.analysis.saliency import Saliency, input_gradient, saliency_map

__all__ = [
    "FilterResponses",
    "Hit",
    "ModelView",
    "Report",
    "Saliency",
    "analyze",
    "compare",
    "conv_profiles",
    "dense_profiles",
    "designed_reference",
    "example_excerpts",
    "filter_responses",
    "first_layer",
    "folder_excerpts",
    "input_gradient",
    "octave_comparison",
    "octave_share",
    "relative_change",
    "saliency_map",
    "seeded_reference",
    "select_units",
    "tensor_changes",
    "top_k",
    "view",
]
