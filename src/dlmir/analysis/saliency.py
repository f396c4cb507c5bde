"""Saliency maps: the gradient of a class score with respect to the input representation (Simonyan et al., 2014).

For an input ``X`` ``(features, frames)`` (the CQT magnitude the model reads; a Tempo cascade's mel power) and a
class ``c``, the saliency is ``dS_c / dX`` with ``S_c`` the class score: the logit (or chroma output) of ``c``
summed over frames for frame-wise models, the logit of ``c`` for clip-wise ones, the tempo spectrum at tempo ``c``.
For a linear model ``S = sum_t W x_t`` it is ``W[c]`` at every frame (:func:`input_gradient`'s oracle). The class
is the model's top class (the largest score averaged over frames) unless one is chosen, by index or by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlmir.errors import ParameterError


def input_gradient(
    fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray | torch.Tensor, target: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of ``fn(x)[target].sum()`` with respect to ``x``, and ``fn(x)`` (detached).

    ``fn`` maps ``x`` to class scores ``(n_classes,)`` or ``(n_classes, frames)``; ``x`` is any tensor (copied, made
    a leaf). Returns ``(grad, scores)`` with ``grad`` of ``x``'s shape.
    """
    leaf = torch.as_tensor(x).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        scores = fn(leaf)
        if not 0 <= int(target) < scores.shape[0]:
            raise ParameterError(f"class {target} is out of range for {scores.shape[0]} classes")
        scores[int(target)].sum().backward()
    assert leaf.grad is not None
    return leaf.grad.detach(), scores.detach()


@dataclass
class Saliency:
    """A saliency map: ``input`` and ``gradient`` ``(features, frames)``, the class (``target`` index and
    ``target_name``), ``scores`` (``(n_classes,)``: each class's score averaged over frames) and the model's
    ``top`` class."""

    input: np.ndarray
    gradient: np.ndarray
    target: int
    target_name: str
    scores: np.ndarray
    top: int

    def pitch_profile(self) -> np.ndarray:
        """``|gradient|`` summed over frames, ``(features,)``: which input rows (pitches, bands) matter most."""
        return np.abs(self.gradient).sum(axis=1)

    def attribution_profile(self) -> np.ndarray:
        """``|gradient * input|`` summed over frames, ``(features,)``: the first-order contribution of the energy
        actually present in each row (the gradient alone is largest where a log compression sees silence)."""
        return np.abs(self.gradient * self.input).sum(axis=1)


def resolve_class(classes: list[str], target: int | str | None, scores: np.ndarray) -> int:
    """The class index: ``None`` -> ``argmax(scores)``; an int (or a digit string) -> itself; a name -> its index.

    Raises
    ------
    ParameterError : the index is out of range or the name is not one of ``classes``.
    """
    if target is None:
        return int(np.argmax(scores))
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if target not in classes:
            shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
            raise ParameterError(f"unknown class {target!r}; classes: {shown}")
        return classes.index(target)
    t = int(target)
    if not 0 <= t < len(scores):
        raise ParameterError(f"class {t} is out of range (0..{len(scores) - 1})")
    return t


def saliency_map(view, y: np.ndarray, *, target: int | str | None = None) -> Saliency:  # noqa: ANN001
    """Saliency of ``view``'s model (:class:`~dlmir.analysis._models.ModelView`) for mono audio ``y`` at its rate.

    The class is ``target`` (index or name, see :func:`resolve_class`), default the top class. Runs the model in
    eval mode (batch norm on its running statistics; recurrent layers without cuDNN, whose backward needs training
    mode).
    """
    x = view.input_of(np.asarray(y, dtype=np.float32))
    xt = view._tensor(x)
    with torch.inference_mode():
        scores = view.scores(xt)
    mean = (scores.mean(-1) if scores.ndim == 2 else scores).double().cpu().numpy()
    idx = resolve_class(view.classes, target, mean)
    with torch.backends.cudnn.flags(enabled=False):
        grad, _ = input_gradient(view.scores, xt, idx)
    name = view.classes[idx] if idx < len(view.classes) else str(idx)
    return Saliency(x, grad[0].double().cpu().numpy(), idx, name, mean, int(np.argmax(mean)))


def plot_saliency(
    sal: Saliency,
    path: str | os.PathLike[str],
    *,
    axis=None,
    sr: float = 22050,  # noqa: ANN001
    hop_length: int = 512,
    title: str = "",
) -> Path:
    """Two panels over time: the input (dB) and ``|gradient|`` (dB relative to its maximum, 60 dB of range: saliency
    maps are sparse), same axes (notes for a CQT, Hz for mel bands); and beside them ``|gradient|`` summed over frames
    against pitch (linear). Returns the path."""
    import librosa
    import librosa.display

    from dlmir.display import _plt

    plt = _plt()
    fig = plt.figure(figsize=(12, 7))
    grid = fig.add_gridspec(2, 2, width_ratios=[5, 1])
    common: dict = dict(sr=sr, hop_length=hop_length, x_axis="time")
    power = axis is not None and axis.kind == "mel"
    if axis is not None and axis.kind == "cqt" and axis.freqs is not None:
        common.update(y_axis="cqt_note", fmin=float(axis.freqs[0]), bins_per_octave=int(axis.bins_per_octave))
    elif power and axis.freqs is not None:
        common.update(y_axis="mel", fmin=float(axis.freqs[0]), fmax=float(axis.freqs[-1]))
    ax0 = fig.add_subplot(grid[0, 0])
    data = (librosa.power_to_db if power else librosa.amplitude_to_db)(np.maximum(sal.input, 0.0), ref=np.max)
    img = librosa.display.specshow(data, ax=ax0, cmap="magma", **common)
    fig.colorbar(img, ax=ax0, label="dB")
    ax0.set_title("input" + (" (mel power)" if power else " (CQT magnitude)"), fontsize=9)
    ax1 = fig.add_subplot(grid[1, 0], sharex=ax0, sharey=ax0)
    g = np.abs(sal.gradient)
    g_db = 20.0 * np.log10(np.maximum(g / (g.max() or 1.0), 1e-3))  # sparse maps: dB, 60 dB of range
    img = librosa.display.specshow(g_db, ax=ax1, cmap="viridis", vmin=-60.0, vmax=0.0, **common)
    fig.colorbar(img, ax=ax1, label="|gradient| (dB re max)")
    ax1.set_title(f"saliency |d score / d input| for class {sal.target_name!r}", fontsize=9)
    ax2 = fig.add_subplot(grid[:, 1])
    prof = sal.pitch_profile()
    ax2.plot(prof / (prof.max() or 1.0), np.arange(prof.size))
    ax2.set(xlabel="saliency over time / max", ylabel="input row", ylim=(0, prof.size - 1))
    if axis is not None and axis.freqs is not None and axis.kind == "cqt":
        from dlmir.analysis.filters import _note_ticks

        t, n = _note_ticks(axis.freqs)
        ax2.set_yticks(t, n, fontsize=7)
    elif axis is not None and axis.freqs is not None:
        rows = np.linspace(0, prof.size - 1, 8).round().astype(int)
        ax2.set_yticks(rows, [f"{axis.freqs[r]:.0f} Hz" for r in rows], fontsize=7)
    fig.suptitle(title or f"saliency: class {sal.target_name!r}", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.92, bottom=0.07, hspace=0.3, wspace=0.15)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


__all__ = ["Saliency", "input_gradient", "plot_saliency", "resolve_class", "saliency_map"]
