"""Tempo estimation, tempo annotation files, and tempo evaluation (designed, learned and librosa in one run).

:func:`estimate_tempo` is the one call: audio in, :class:`TempoEstimate` ``(bpm1, bpm2, strength)`` out (MIREX
style: the two strongest tempi and the relative strength of the first), computed by a
:class:`~dlmir.frontends.tempo.Tempo` cascade (``model='designed'``: its designed parameters; or a trained one).
:func:`read_tempo_annotation` reads ``.bpm`` (one number) and MIREX ``.tempo`` (``t1 t2 s1``) files;
:func:`evaluate_tempo` scores estimators with Acc1, Acc2 and mir_eval's P-score.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from dlmir.errors import AnnotationError, ParameterError
from dlmir.frontends.tempo import Tempo

DESIGNED_SR = 22050
"""Sampling rate (Hz) of the designed estimator; audio at another rate is resampled to it."""
ANNOTATION_SUFFIXES = (".tempo", ".bpm")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".opus")
ACC_TOLERANCE = 0.04
"""Acc1 and Acc2 count an estimate within 4 % of the reference tempo (Gouyon et al., 2006)."""
ACC2_FACTORS = (1.0, 2.0, 3.0, 1.0 / 2.0, 1.0 / 3.0)
"""Acc2 also accepts these multiples of the reference (octave errors, and the metrical level of 3)."""
PSCORE_TOLERANCE = 0.08
"""mir_eval's P-score counts a reference tempo hit within 8 % (MIREX)."""
METRICS = ("Acc1", "Acc2", "P-score")


class TempoEstimate(NamedTuple):
    """Two tempi in BPM and the relative strength of the first (``strength`` in ``[0, 1]``), MIREX style.

    ``bpm1`` is the stronger tempo. "No tempo" (e.g. digital silence) is ``bpm1 = bpm2 = strength = nan``; an
    annotation with a single tempo has ``bpm2 = nan`` and ``strength = 1``.
    """

    bpm1: float
    bpm2: float
    strength: float

    @property
    def has_tempo(self) -> bool:
        """False for the "no tempo" result (``bpm1`` is NaN)."""
        return not math.isnan(self.bpm1)

    @property
    def dominant(self) -> float:
        """The tempo carrying most of the weight: ``bpm1`` if ``strength >= 0.5`` (or no ``bpm2``), else ``bpm2``."""
        if math.isnan(self.bpm2) or not self.strength < 0.5:
            return self.bpm1
        return self.bpm2

    def mir_eval_tempi(self) -> np.ndarray:
        """``(bpm1, bpm2)`` as mir_eval takes them: a missing tempo (NaN) is 0."""
        return np.nan_to_num(np.array([self.bpm1, self.bpm2], dtype=float), nan=0.0)

    def line(self) -> str:
        """``"bpm1 bpm2 strength"`` with 2 decimals (``nan`` where there is no value): a MIREX ``.tempo`` line."""
        return " ".join("nan" if math.isnan(v) else f"{v:.2f}" for v in self)


# -- estimation ----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def designed_tempo(sr: float = DESIGNED_SR) -> Tempo:
    """The designed :class:`~dlmir.frontends.tempo.Tempo` cascade at ``sr`` Hz (built once per rate, frozen)."""
    return Tempo(sr=sr).eval()


def load_tempo_model(model: str | os.PathLike[str] | Tempo = "designed") -> Tempo:
    """A :class:`~dlmir.frontends.tempo.Tempo`: ``'designed'``, ``'tempo'`` (the shipped learned cascade, the default of
    ``dlmir tempo`` and ``dlmir beats``), a ``Tempo`` (returned as is), or a saved model folder
    (:func:`dlmir.models.save` of a ``Tempo``).

    Raises
    ------
    ParameterError : the folder holds no model, or a model that is not a ``Tempo``.
    """
    if isinstance(model, Tempo):
        return model
    if isinstance(model, torch.nn.Module):
        raise ParameterError(f"model must be 'designed', a Tempo or a saved Tempo folder, got a {type(model).__name__}")
    if str(model) == "designed":
        return designed_tempo()
    from dlmir.models import load

    loaded = load(model)
    if not isinstance(loaded, Tempo):
        raise ParameterError(f"{model}: holds a {type(loaded).__name__}, not a Tempo model")
    return loaded


def estimate_tempo(
    y: np.ndarray | torch.Tensor, sr: float, *, model: str | os.PathLike[str] | Tempo = "designed"
) -> TempoEstimate:
    """Estimate the tempo of one mono signal.

    Parameters
    ----------
    y : audio ``(samples,)``, float, at ``sr`` Hz.
    sr : sampling rate of ``y`` in Hz; resampled (soxr) to the model's rate when they differ.
    model : ``'designed'`` (the :class:`~dlmir.frontends.tempo.Tempo` cascade at its designed parameters, 22050 Hz),
        a ``Tempo``, or the folder of a saved one.

    Returns
    -------
    TempoEstimate ``(bpm1, bpm2, strength)``: the strongest tempo in BPM, the strongest other one (more than 5 %
    away) and ``s1 / (s1 + s2)``. Digital silence has no tempo: all three NaN (:attr:`TempoEstimate.has_tempo`).

    Raises
    ------
    AudioError : ``y`` is empty, contains NaN or inf, or is shorter than one period of the slowest tempo
        (``60 / min_bpm`` seconds: 2 s for the designed 30 BPM).
    ParameterError : ``sr`` is not positive, ``y`` is not one mono signal, or ``model`` is not a tempo model.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros(22050 * 8, dtype=np.float32)
    >>> y[:: 11025] = 1.0  # a click every 0.5 s: 120 BPM
    >>> round(estimate_tempo(y, 22050).bpm1)
    120
    """
    try:
        ok = float(sr) > 0 and math.isfinite(float(sr))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"sr must be a positive sampling rate in Hz, got {sr!r}")
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"y must be one mono signal of shape (samples,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"y must be floating point audio, got dtype {y.dtype}")
    fe = load_tempo_model(model)
    y = resample_to(y, sr, fe.sr)
    bpm1, bpm2, strength = fe.estimate(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)))
    return TempoEstimate(float(bpm1[0]), float(bpm2[0]), float(strength[0]))


def resample_to(y: np.ndarray, sr: float, target_sr: float) -> np.ndarray:
    """``y`` at ``sr`` Hz resampled to ``target_sr`` Hz (soxr, high quality); unchanged when the rates agree.

    Non-finite samples are passed on unchanged so that the front end reports them.
    """
    if float(sr) == float(target_sr) or y.size == 0 or not np.all(np.isfinite(y)):
        return y
    import soxr

    return soxr.resample(y.astype(np.float32), float(sr), float(target_sr), quality="HQ")


def librosa_tempo(y: np.ndarray, sr: float) -> TempoEstimate:
    """:func:`librosa.feature.tempo` (defaults: its onset strength, ``start_bpm=120``) as a :class:`TempoEstimate`
    with one tempo (``bpm2 = nan``, ``strength = 1``): the peer that :func:`evaluate_tempo` compares with."""
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = float(librosa.feature.tempo(y=np.asarray(y, dtype=np.float32), sr=sr)[0])
    return TempoEstimate(t, math.nan, 1.0) if t > 0 else TempoEstimate(math.nan, math.nan, math.nan)


# -- annotations ---------------------------------------------------------------------------------------------------
def read_tempo_annotation(path: str | os.PathLike[str]) -> TempoEstimate:
    """Read a tempo annotation: ``.bpm`` (one number), MIREX ``.tempo`` (``t1 t2 s1``) or ``.beats`` (beat times, as a
    dlmir band dataset has them: the tempo is 60 / their median interval).

    Blank lines and lines starting with ``#`` are skipped; fields may be separated by any whitespace. The first
    remaining line holds one tempo (``bpm2 = nan``, ``strength = 1``) or ``t1 t2 s1`` (``s1``, the weight of
    ``t1``, in ``[0, 1]``; a missing ``s1`` is 0.5).

    Raises
    ------
    AnnotationError : the file is missing or unreadable, holds no tempo, or a value is not a positive number
        (the message names the file and line).
    """
    path = Path(path)
    if path.suffix.lower() == ".beats":  # exact beats (a dlmir band dataset): 60 / the median inter-beat interval
        from dlmir.data.beat_stream import excerpt_bpm
        from dlmir.rhythm.evaluate import read_beats

        bpm = excerpt_bpm(read_beats(path))
        if not math.isfinite(bpm):
            raise AnnotationError(f"{path}: fewer than two beats, no tempo")
        return TempoEstimate(bpm, math.nan, 1.0)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: cannot read the tempo annotation ({exc})") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        try:
            values = [float(v) for v in fields]
        except ValueError as exc:
            raise AnnotationError(f"{path}, line {number}: expected numbers 'bpm' or 't1 t2 s1', got {line!r}") from exc
        if not 1 <= len(values) <= 3 or not all(math.isfinite(v) for v in values):
            raise AnnotationError(f"{path}, line {number}: expected 'bpm' or 't1 t2 s1', got {line!r}")
        if len(values) == 1:
            values += [math.nan, 1.0]
        elif len(values) == 2:
            values.append(0.5)
        t1, t2, s1 = values
        if not t1 > 0 or (not math.isnan(t2) and not t2 > 0) or not 0.0 <= s1 <= 1.0:
            raise AnnotationError(
                f"{path}, line {number}: tempi must be positive BPM and the strength in [0, 1], got {line!r}"
            )
        return TempoEstimate(t1, t2, s1)
    raise AnnotationError(f"{path}: no tempo found (only comments or blank lines)")


def find_tempo_pairs(folder: str | os.PathLike[str], *, split: str = "test") -> list[tuple[Path, Path]]:
    """Audio files in ``folder`` (recursively) with a ``.tempo`` or ``.bpm`` of the same stem beside them, sorted;
    for a dlmir band dataset (``manifest.csv`` with beats), the audio and ``.beats`` of its ``split``.

    ``.tempo`` wins when both exist. Raises :class:`~dlmir.errors.ParameterError` when ``folder`` is not a folder
    or holds no such pair.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ParameterError(f"{folder}: not a folder")
    if (folder / "manifest.csv").is_file():
        from dlmir.rhythm.evaluate import find_rhythm_pairs

        return [(p.audio, p.annotation) for p in find_rhythm_pairs(folder, "beats", split=split)]
    pairs = []
    for audio in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        for suffix in ANNOTATION_SUFFIXES:
            ann = audio.with_suffix(suffix)
            if ann.is_file():
                pairs.append((audio, ann))
                break
    if not pairs:
        raise ParameterError(
            f"{folder}: no audio file with a .tempo or .bpm annotation of the same stem ({', '.join(AUDIO_SUFFIXES)})"
        )
    return pairs


# -- evaluation ----------------------------------------------------------------------------------------------------
def tempo_scores(reference: TempoEstimate, estimate: TempoEstimate) -> OrderedDict[str, float]:
    """Acc1, Acc2 and P-score of one estimate against one reference annotation, each 0 or 1 (P-score in [0, 1]).

    * Acc1: ``estimate.bpm1`` within 4 % of the reference's dominant tempo (:attr:`TempoEstimate.dominant`);
    * Acc2: the same, also at 2, 3, 1/2 or 1/3 times the reference;
    * P-score: :func:`mir_eval.tempo.detection` (8 %) of ``(bpm1, bpm2)`` against the reference tempi and weight.

    An estimate with no tempo scores 0 everywhere.
    """
    import mir_eval

    if not estimate.has_tempo:
        return OrderedDict((m, 0.0) for m in METRICS)
    ref = reference.dominant
    est = estimate.bpm1
    acc1 = abs(est - ref) <= ACC_TOLERANCE * ref
    acc2 = any(abs(est - ref * f) <= ACC_TOLERANCE * ref * f for f in ACC2_FACTORS)
    p_score, _, _ = mir_eval.tempo.detection(
        reference.mir_eval_tempi(), float(reference.strength), estimate.mir_eval_tempi(), tol=PSCORE_TOLERANCE
    )
    return OrderedDict([("Acc1", float(acc1)), ("Acc2", float(acc2)), ("P-score", float(p_score))])


@dataclass
class TempoReport:
    """The result of :func:`evaluate_tempo`: one row per (file, estimator) and the mean per estimator."""

    per_file: list[dict[str, object]] = field(default_factory=list)
    summary: list[dict[str, object]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The summary as one Markdown table: estimator, Acc1, Acc2, P-score (in %) and the number of files."""
        lines = ["| estimator | Acc1 | Acc2 | P-score | files |", "| --- | --- | --- | --- | --- |"]
        for row in self.summary:
            cells = [f"{100 * float(row[m]):.1f}" for m in METRICS]  # type: ignore[arg-type]
            lines.append(f"| {row['estimator']} | " + " | ".join(cells) + f" | {row['files']} |")
        return "\n".join(lines)


def evaluate_tempo(
    pairs: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    *,
    model: str | os.PathLike[str] | Tempo | None = None,
    sr: float = DESIGNED_SR,
    librosa: bool = True,
    progress: bool = False,
) -> TempoReport:
    """Score the designed estimator, a learned one (``model``, if given) and :func:`librosa.feature.tempo` on
    the same audio, in one run.

    Parameters
    ----------
    pairs : ``(audio path, annotation path)`` (:func:`find_tempo_pairs`; annotations read by
        :func:`read_tempo_annotation`).
    model : a trained :class:`~dlmir.frontends.tempo.Tempo` or its folder; None: designed and librosa only.
    sr : rate (Hz) the audio is loaded at (each model resamples to its own).
    librosa : include the librosa row.
    progress : show a progress bar over files.

    Returns
    -------
    TempoReport : per file and estimator ``file, estimator, reference, bpm1, bpm2, strength, Acc1, Acc2, P-score``;
    per estimator (``'dlmir designed'``, ``'dlmir learned'``, ``'librosa'``) the mean ``Acc1, Acc2, P-score`` and
    ``files``. A file that cannot be read (audio or annotation) is listed in ``failed`` and left out of every row.
    """
    from dlmir.errors import DlmirError
    from dlmir.io import load

    estimators: dict[str, object] = {"dlmir designed": load_tempo_model("designed")}
    if model is not None:
        estimators["dlmir learned"] = load_tempo_model(model)
    if librosa:
        estimators["librosa"] = "librosa"
    pairs = list(pairs)
    report = TempoReport()
    iterator: Sequence = pairs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(pairs, desc="tempo", unit="file", disable=len(pairs) < 2)
    for audio, annotation in iterator:
        try:
            reference = read_tempo_annotation(annotation)
            y, file_sr = load(audio, sr=sr)
            estimates = {
                name: librosa_tempo(y, file_sr) if est == "librosa" else estimate_tempo(y, file_sr, model=est)
                for name, est in estimators.items()
            }
        except DlmirError as exc:
            report.failed.append(str(exc) if str(audio) in str(exc) else f"{audio}: {exc}")
            continue
        for name, est in estimates.items():
            report.per_file.append(
                {"file": Path(audio).name, "estimator": name, "reference": reference.line(), "bpm1": est.bpm1,
                 "bpm2": est.bpm2, "strength": est.strength, **tempo_scores(reference, est)}
            )  # fmt: skip
    for name in estimators:
        rows = [r for r in report.per_file if r["estimator"] == name]
        means = {m: float(np.mean([float(r[m]) for r in rows])) if rows else math.nan for m in METRICS}  # type: ignore[arg-type]
        report.summary.append({"estimator": name, **means, "files": len(rows)})
    return report


# -- figure --------------------------------------------------------------------------------------------------------
def click_track(bpm: float, *, seconds: float = 8.0, sr: float = DESIGNED_SR) -> np.ndarray:
    """Unit impulses every ``60 / bpm`` seconds (the first at 0), float32 ``(samples,)`` at ``sr`` Hz."""
    y = np.zeros(int(round(seconds * sr)), dtype=np.float32)
    y[np.round(np.arange(0.0, seconds, 60.0 / bpm) * sr).astype(int)] = 1.0
    return y


def plot_tempo_model(models: dict[str, Tempo], path: str | os.PathLike[str]) -> Path:
    """Compare tempo models (e.g. ``{"designed": ..., "learned": ...}``) in one PNG and return its path.

    Panels: the band weights (one bar per sub-band); the comb filters' half-energy times in seconds against
    tempo (from their gains, :func:`~dlmir.layers.resonator.comb_gains` inverted); the tempo prior; and each
    model's tempo spectrum of a 120 BPM click track (scaled to peak 1). A model without a stage (e.g. the
    autocorrelation variant has no comb gains) is left out of that panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(8, 11))
    width = 0.8 / max(1, len(models))
    for i, (name, fe) in enumerate(models.items()):
        w = fe.band_weights()
        axes[0].bar(np.arange(w.size) + i * width, w, width=width, label=name)
        if "periodicity" in fe.names and hasattr(fe["periodicity"], "gain"):
            comb = fe["periodicity"]
            a = comb.gain.detach().double().clamp(1e-6, 1 - 1e-6).numpy()
            half = -comb.delays.double().numpy() / (2.0 * fe.frame_rate * np.log2(a))
            axes[1].plot(fe.tempi, half, label=name)
        if "prior" in fe.names:
            axes[2].plot(fe.tempi, fe["prior"].weights().detach().double().numpy(), label=name)
        with torch.inference_mode():
            spectrum = fe(click_track(120.0, sr=fe.sr))[0].double().numpy()
        axes[3].plot(fe.tempi, spectrum / (spectrum.max() or 1.0), label=name)
    axes[0].set(title="band weights", xlabel="sub-band (low to high)", ylabel="weight")
    axes[1].set(title="comb filters: half-energy time", xlabel="tempo (BPM)", ylabel="seconds", xscale="log")
    axes[2].set(title="tempo prior", xlabel="tempo (BPM)", ylabel="weight", xscale="log")
    axes[3].set(title="tempo spectrum of a 120 BPM click track", xlabel="tempo (BPM)", ylabel="relative",
                xscale="log")  # fmt: skip
    for ax in axes[1:]:
        ax.set_xticks([30, 60, 90, 120, 180, 240, 300], ["30", "60", "90", "120", "180", "240", "300"])
        ax.minorticks_off()
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


__all__ = [
    "ACC2_FACTORS",
    "ACC_TOLERANCE",
    "DESIGNED_SR",
    "METRICS",
    "PSCORE_TOLERANCE",
    "TempoEstimate",
    "TempoReport",
    "click_track",
    "designed_tempo",
    "estimate_tempo",
    "evaluate_tempo",
    "find_tempo_pairs",
    "librosa_tempo",
    "load_tempo_model",
    "plot_tempo_model",
    "read_tempo_annotation",
    "resample_to",
    "tempo_scores",
]
