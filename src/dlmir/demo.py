"""The main job, on one recording: every designed front end, learned chroma, and chord recognition.

:func:`run_demo` is what ``dlmir demo`` runs. On the bundled example (:mod:`dlmir.examples`) it also
scores the recognised chords against the example's exact labels with mir_eval.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from dlmir import frontends
from dlmir.examples import example_audio, example_labels
from dlmir.frontends.presets import CHORD_CQT
from dlmir.io import load

SR = CHORD_CQT["sr"]
HOP = CHORD_CQT["hop_length"]


def run_demo(audio: str | os.PathLike[str] | None, out: str | os.PathLike[str]) -> list[str]:
    """Analyse ``audio`` (default: the bundled example) and write everything under ``out``.

    Writes ``<kind>.npy`` and ``<kind>.png`` for each front end (``(features, frames)``, hop 512 samples
    at 22050 Hz), ``chroma_designed_vs_learned.png``, and ``chords_<variant>.lab`` / ``.jams`` for
    designed and learned chroma. Returns the report lines to print.
    """
    from dlmir.annotations import write_jams, write_lab
    from dlmir.chords.decode import decode
    from dlmir.display import plot_feature

    bundled = audio is None
    path = example_audio() if bundled else Path(audio)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    y, sr = load(path, sr=SR)
    duration = len(y) / sr
    lines = [f"{path.name}: {duration:.2f} s at {sr:.0f} Hz -> {out}/"]

    lines.append("designed front ends (dlmir cascades, frozen at librosa's parameters; time of a warm call):")
    features: dict[str, np.ndarray] = {}
    for kind in frontends.KINDS:
        fe = frontends.frontend(kind, sr=sr, hop_length=HOP)
        feat = frontends.extract(fe, y)  # the first call also warms up torch's kernels
        start = time.perf_counter()
        frontends.extract(fe, y)
        ms = 1000 * (time.perf_counter() - start)
        features[kind] = feat
        np.save(out / f"{kind}.npy", feat)
        fig = plot_feature(feat, kind, sr=sr, hop_length=HOP, config=fe.config, path=out / f"{kind}.png")
        _close(fig)
        stages = " -> ".join(fe.names)
        lines.append(f"  {kind:7s} {str(feat.shape):>13s}  {ms:7.1f} ms  [{stages}]")

    chromas = {"designed": (features["chroma"], sr, HOP)}
    learned, fe = _learned_chroma(y, sr)
    chromas["learned"] = (learned, fe.sr, fe.hop_length)
    np.save(out / "chroma_learned.npy", learned)
    _plot_pair(features["chroma"], learned, sr, out / "chroma_designed_vs_learned.png")

    lines.append("chord recognition (template matching + Viterbi, 157-class vocabulary):")
    results = {}
    for name, (chroma, chroma_sr, hop) in chromas.items():
        intervals, labels = decode(chroma, sr=chroma_sr, hop_length=hop, vocabulary="full", duration=duration)
        write_lab(out / f"chords_{name}.lab", intervals, labels)
        write_jams(out / f"chords_{name}.jams", intervals, labels, duration=duration)
        results[name] = (intervals, labels)
        shown = " ".join(lab for lab in labels if lab != "N")
        lines.append(f"  {name:8s} {shown}")
    if bundled:
        from dlmir.annotations import read_lab
        from dlmir.evaluate import chords

        ref_i, ref_l = read_lab(example_labels())
        lines.append("  mir_eval vs the example's exact labels (weighted recall, %):")
        for name, (est_i, est_l) in results.items():
            scores = chords(ref_i, ref_l, est_i, est_l)
            shown = "  ".join(f"{k} {100 * scores[k]:.1f}" for k in ("root", "majmin", "sevenths"))
            lines.append(f"    {name:8s} {shown}")
    lines.append(f"figures, features and labels written to {out}/")
    return lines


def _learned_chroma(y: np.ndarray, sr: float):
    """Learned chroma ``(12, frames)`` of ``y`` (at ``sr`` Hz) from the shipped default model, computed with
    the model's own front end (from its ``config.json``), and that front end."""
    from dlmir.evaluate import chroma_of_audio
    from dlmir.models import load as load_model

    with torch.inference_mode():
        return chroma_of_audio(load_model("default"), y, sr=sr)


def _plot_pair(designed: np.ndarray, learned: np.ndarray, sr: float, path: Path) -> None:
    from dlmir.display import plot_chromagrams

    panels = {"designed (chroma_cqt)": designed, "learned (default model)": learned}
    plot_chromagrams(panels, path, sr=sr, hop_length=HOP)


def _close(fig: object) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]
