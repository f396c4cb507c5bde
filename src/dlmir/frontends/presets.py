"""Named front-end settings, and front ends rebuilt from a saved ``config``.

:data:`CHORD_CQT` is the one definition of the chord CQT (the learned chroma's input): every other module
(datasets, models, evaluation, the demo, the CLI) reads it from here, or from a saved model's
``config.json``. A config is what :attr:`FrontEnd.config <dlmir.frontends.base.FrontEnd.config>` holds:
``{"frontend": <class name>, **constructor keyword arguments}``; :func:`frontend_from_config` builds the
front end it describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dlmir.errors import ParameterError

if TYPE_CHECKING:
    from dlmir.frontends.base import FrontEnd

__all__ = ["CHORD_CQT", "FRONTEND_CLASSES", "C1_HZ", "chord_frontend", "frontend_from_config"]

C1_HZ: float = 440.0 * 2.0 ** ((24 - 69) / 12)
"""C1 (MIDI 24) in Hz, 32.703...: ``librosa.note_to_hz('C1')``."""

CHORD_CQT: dict[str, Any] = {
    "frontend": "CQT",
    "sr": 22050,
    "hop_length": 512,
    "fmin": C1_HZ,
    "n_bins": 192,
    "bins_per_octave": 24,
}
"""The chord CQT: 192 bins at 24 per octave (8 octaves from C1), hop 512 samples at 22050 Hz, magnitude."""

FRONTEND_CLASSES: tuple[str, ...] = ("CQT", "Chroma", "STFT", "MelSpectrogram", "MFCC", "OnsetStrength")
"""Class names :func:`frontend_from_config` knows (the ``"frontend"`` entry of a config)."""


def _classes() -> dict[str, type]:
    from dlmir.frontends.chroma import Chroma
    from dlmir.frontends.cqt import CQT
    from dlmir.frontends.mel import MFCC, MelSpectrogram
    from dlmir.frontends.onset import OnsetStrength
    from dlmir.frontends.stft import STFT

    return {"CQT": CQT, "Chroma": Chroma, "STFT": STFT, "MelSpectrogram": MelSpectrogram, "MFCC": MFCC,
            "OnsetStrength": OnsetStrength}  # fmt: skip


def frontend_from_config(config: Mapping[str, Any]) -> FrontEnd:
    """The front end a config describes: ``{"frontend": "CQT" | "Chroma" | ..., **parameters}``.

    ``config`` is a front end's :attr:`config` (or the ``"frontend"`` section of a saved model's
    ``config.json``); ``frontend_from_config(fe.config).config == fe.config``.

    Raises
    ------
    ParameterError : the config names no known front end, or holds parameters its class does not take.
    """
    if not isinstance(config, Mapping) or "frontend" not in config:
        raise ParameterError(f"a front-end config must be a dict with a 'frontend' class name, got {config!r}")
    params = dict(config)
    kind = params.pop("frontend")
    classes = _classes()
    if kind not in classes:
        raise ParameterError(f"unknown front end {kind!r} in config; known: {', '.join(FRONTEND_CLASSES)}")
    if params.get("window") == "custom":
        raise ParameterError(f"cannot rebuild a {kind} with a custom window array from its config")
    try:
        return classes[kind](**params)
    except TypeError as exc:  # unknown keyword: the config was not written by this front end
        raise ParameterError(f"front-end config {dict(config)!r} does not fit {kind}: {exc}") from exc


def chord_frontend(**overrides: Any) -> FrontEnd:
    """The chord CQT front end (:data:`CHORD_CQT`, with ``overrides`` applied), frozen, magnitude output."""
    return frontend_from_config({**CHORD_CQT, **overrides})
