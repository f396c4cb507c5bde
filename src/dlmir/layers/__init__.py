"""The layer vocabulary: affine transforms, pointwise nonlinearities, pooling, periodicity (comb-filter resonators,
autocorrelation) and ``Cascade``."""

from __future__ import annotations

from dlmir.layers.affine import Conv1d, Conv2d, Dense
from dlmir.layers.cascade import Cascade
from dlmir.layers.nonlinear import (
    AmplitudeToDB,
    FullWaveRectify,
    HalfWaveRectify,
    LogCompression,
    Modulus,
    Sigmoid,
    Softmax,
    Tanh,
)
from dlmir.layers.pooling import HistogramPool, Normalize, OctaveFold, TimePool
from dlmir.layers.resonator import Autocorrelation, CombResonators
from dlmir.layers.stage import Stage, as_parameter

__all__ = [
    "AmplitudeToDB",
    "Autocorrelation",
    "Cascade",
    "CombResonators",
    "Conv1d",
    "Conv2d",
    "Dense",
    "FullWaveRectify",
    "HalfWaveRectify",
    "HistogramPool",
    "LogCompression",
    "Modulus",
    "Normalize",
    "OctaveFold",
    "Sigmoid",
    "Softmax",
    "Stage",
    "Tanh",
    "TimePool",
    "as_parameter",
]
