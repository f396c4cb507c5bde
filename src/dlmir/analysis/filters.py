"""First-layer filters as spectra over the input's frequency axis (CQT bins / pitch, or Hz).

Each filter of a model's first learned layer is reduced to a *pitch profile*: its weights summed over time (the
context frames of a dense layer, the kernel rows of a convolution) and over input channels, laid out on the
frequency axis it reads:

* a dense layer over a CQT frame (:class:`~dlmir.models.LearnedChroma`) reads absolute bins: the profile of unit
  ``o`` is ``sum_k W[o, k * n_bins + f]`` over its ``2c + 1`` context frames, one value per CQT bin ``f`` (Hz:
  ``fmin 2^(f / bins_per_octave)``);
* a convolution over ``(frames, bins)`` (the chord and instrument CNNs, the fretboard network) reads bins relative
  to the unit's own: the profile is ``sum_{t, c} W[o, c, t, j]`` at offset ``j - (kw - 1) / 2`` bins, i.e. the
  response of the unit at pitch ``p`` to a steady impulse at input bin ``p + offset`` (interior, ``padding`` as in
  the models: centred);
* the Tempo cascade's first learned filters are its sub-bands: ``bands @ mel``, a response over FFT bins in Hz.

:meth:`FilterResponses.modulation` is the magnitude response of the profiles over the pitch axis (``|DFT|``,
zero-padded, in cycles per octave): an octave-equivalent filter (a chroma row) has energy only at whole
cycles per octave; a filter tuned to one interval peaks at ``12 / interval`` cycles per octave.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlmir.errors import ParameterError


@dataclass
class FilterResponses:
    """Pitch profiles of a layer's filters.

    Attributes
    ----------
    layer : the layer's name in the model (e.g. ``'features.conv1'``).
    profiles : ``(n_filters, n_positions)`` float64: each filter's weights summed over time and input channels.
    positions : ``(n_positions,)``: absolute input bins (``relative=False``) or offsets in input bins from the
        unit's own bin (``relative=True``).
    relative : whether ``positions`` are offsets (convolutions) or absolute bins (dense layers).
    semitones_per_bin : pitch step of one position (``12 / bins_per_octave``, times any pooling before the layer);
        ``None`` when the axis is not a log-frequency axis.
    freqs : ``(n_positions,)`` Hz of absolute positions, else ``None``.
    axis_label : what the positions are (for plots).
    kernels : ``(n_filters, kh, kw)`` the 2-D kernels summed over input channels (convolutions), else ``None``.
    """

    layer: str
    profiles: np.ndarray
    positions: np.ndarray
    relative: bool
    semitones_per_bin: float | None = None
    freqs: np.ndarray | None = None
    axis_label: str = "input bin"
    kernels: np.ndarray | None = None

    @property
    def n_filters(self) -> int:
        return int(self.profiles.shape[0])

    def peaks(self) -> np.ndarray:
        """Position (bin or offset) of each profile's largest value, ``(n_filters,)``."""
        return self.positions[np.argmax(self.profiles, axis=1)]

    def peak_freqs(self) -> np.ndarray | None:
        """Hz of each profile's largest value (absolute positions with frequencies), else ``None``."""
        return None if self.freqs is None else self.freqs[np.argmax(self.profiles, axis=1)]

    def modulation(self, n_fft: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Magnitude response over the pitch axis: ``(cycles, |DFT|)``, ``(n_fft // 2 + 1,)`` and
        ``(n_filters, n_fft // 2 + 1)``; ``cycles`` in cycles per octave when :attr:`semitones_per_bin` is known,
        else cycles per position. ``n_fft`` (default: the profile length, at least 64) zero-pads."""
        n = int(n_fft or max(64, self.profiles.shape[1]))
        mag = np.abs(np.fft.rfft(self.profiles, n=n, axis=1))
        per_octave = 12.0 / self.semitones_per_bin if self.semitones_per_bin else 1.0
        return np.fft.rfftfreq(n) * per_octave, mag


def dense_profiles(weight: np.ndarray | torch.Tensor, n_bins: int) -> np.ndarray:
    """``(out, (2c + 1) n_bins)`` dense weights -> ``(out, n_bins)``: the blocks of the context frames summed
    (the response to a steady input), as :func:`dlmir.display.weight_matrix` does for the chroma map."""
    w = _np(weight)
    if w.ndim != 2 or w.shape[1] % int(n_bins):
        raise ParameterError(f"dense weights must be (out, k * {n_bins}), got {w.shape}")
    return w.reshape(w.shape[0], -1, int(n_bins)).sum(axis=1)


def conv_profiles(weight: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(out, in, kh, kw)`` convolution weights over ``(frames, bins)`` -> ``(profiles (out, kw), offsets (kw,),
    kernels (out, kh, kw))``: summed over input channels (kernels) and then over frames (profiles); offsets in bins
    from the kernel's centre."""
    w = _np(weight)
    if w.ndim != 4:
        raise ParameterError(f"convolution weights must be (out, in, kh, kw), got {w.shape}")
    kernels = w.sum(axis=1)
    kw = w.shape[-1]
    return kernels.sum(axis=1), np.arange(kw) - (kw - 1) / 2.0, kernels


def _np(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.real if torch.is_complex(x) else x
        return x.double().numpy()
    return np.asarray(x, dtype=np.float64)


def first_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The first learned layer of ``model`` whose weights read the input's frequency axis: its name and module.

    The chroma's first affine map (``hidden``, else ``chroma``); the CNNs' first convolution; the Tempo cascade's
    ``bands``; the instrument MLP's first dense layer; otherwise the first module with a 2-D or 4-D ``weight``.
    """
    from dlmir.frontends.tempo import Tempo
    from dlmir.models import InstrumentMLP, LearnedChroma

    if isinstance(model, Tempo):
        return "bands", model["bands"]
    if isinstance(model, LearnedChroma):
        name = "hidden" if "hidden" in model.names else "chroma"
        return name, model[name]
    if isinstance(model, InstrumentMLP):
        return "net.dense1", model.net["dense1"]
    for name, module in model.named_modules():
        w = getattr(module, "weight", None)
        if isinstance(w, torch.Tensor) and w.ndim in (2, 4) and not isinstance(module, nn.modules.batchnorm._NormBase):
            return name, module
    raise ParameterError(f"{type(model).__name__} has no dense or convolutional layer to analyse")


def filter_responses(model: nn.Module) -> FilterResponses:
    """The pitch profiles of ``model``'s first learned layer (:func:`first_layer`; module docstring)."""
    from dlmir.frontends.tempo import Tempo

    name, layer = first_layer(model)
    cfg = dict(getattr(model, "config", {}) or {})
    w = layer.weight
    if isinstance(model, Tempo):
        mel = _np(model["mel"].weight)
        profiles = _np(w) @ mel  # (n_bands, n_fft // 2 + 1)
        freqs = np.fft.rfftfreq(int(cfg["n_fft"]), d=1.0 / float(cfg["sr"]))
        return FilterResponses(name, profiles, np.arange(freqs.size), False, None, freqs, "frequency (Hz)")
    bpo = int(cfg.get("bins_per_octave", 0) or 0)
    step = 12.0 / bpo if bpo else None
    if w.ndim == 4:
        profiles, offsets, kernels = conv_profiles(w)
        pool = cfg.get("input_pool") or dict(cfg.get("trunk") or {}).get("input_pool")  # a MaskedCQT's trunk
        if step and pool:  # the instrument CNN mean-pools bins before its first convolution
            step *= int(pool[1])
        label = "offset from the unit's pitch (semitones)" if step else "offset (bins)"
        return FilterResponses(name, profiles, offsets, True, step, None, label, kernels)
    n_bins = int(cfg.get("n_bins", 0) or 0)
    if n_bins and w.shape[1] % n_bins == 0:
        from dlmir.analysis._models import _cqt_axis

        profiles = dense_profiles(w, n_bins)
        axis = _cqt_axis(cfg, n_bins)
        return FilterResponses(name, profiles, np.arange(n_bins), False, step, axis.freqs, "input pitch (CQT bin)")
    return FilterResponses(name, _np(w), np.arange(w.shape[1]), False, None, None, "input feature")


def _note_ticks(freqs: np.ndarray) -> tuple[list[int], list[str]]:
    """Tick positions (indices) at each C of a log-frequency axis, with note names."""
    import librosa

    midi = librosa.hz_to_midi(freqs)
    ticks = [i for i in range(len(freqs)) if abs(midi[i] - 12 * round(midi[i] / 12)) < 1e-3 or i == 0]
    return ticks, [librosa.midi_to_note(round(midi[i]), unicode=False) for i in ticks]


def plot_filters(
    resp: FilterResponses, path: str | os.PathLike[str], *, max_filters: int = 16, title: str = ""
) -> Path:
    """Draw up to ``max_filters`` pitch profiles (top: one line each, labelled in notes / semitones / Hz) and their
    magnitude response over the pitch axis (bottom: cycles per octave); for convolutions also the 2-D kernels.
    Returns the PNG's path."""
    from dlmir.display import _plt

    plt = _plt()
    n = min(resp.n_filters, int(max_filters))
    kern = resp.kernels is not None
    fig = plt.figure(figsize=(11, 7.5 if kern else 6.5))
    grid = fig.add_gridspec(3 if kern else 2, 1, height_ratios=[1.2, 1, 0.9] if kern else [1.3, 1])
    ax = fig.add_subplot(grid[0])
    x = resp.positions * (resp.semitones_per_bin or 1.0) if resp.relative else resp.positions
    if resp.freqs is not None and resp.semitones_per_bin is None:
        x = resp.freqs
    cmap = plt.get_cmap("tab20")
    for i in range(n):
        p = resp.profiles[i]
        scale = float(np.abs(p).max()) or 1.0
        ax.plot(x, p / scale, lw=1, color=cmap(i % 20), label=f"{i}", marker="o" if len(x) <= 16 else None, ms=3)
    ax.axhline(0, color="k", lw=0.4)
    if not resp.relative and resp.freqs is not None and resp.semitones_per_bin:
        ticks, names = _note_ticks(resp.freqs)
        ax.set_xticks(ticks, names, fontsize=7)
        ax.set_xlabel("input pitch (CQT bin; ticks at C)")
    elif resp.freqs is not None and resp.semitones_per_bin is None:
        ax.set_xscale("symlog", linthresh=200)
        ax.set_xlim(0, float(resp.freqs[-1]))
        ax.set_xlabel("frequency (Hz)")
    else:
        ax.set_xlabel(resp.axis_label)
    ax.set_ylabel("weight (each filter / its max)")
    ax.set_title(title or f"first-layer filters ({resp.layer}): {resp.n_filters} filters, {n} shown", fontsize=9)
    if n <= 20:
        ax.legend(fontsize=6, ncol=10, loc="upper right")
    ax2 = fig.add_subplot(grid[1])
    if resp.semitones_per_bin or resp.freqs is None:
        cycles, mag = resp.modulation()
        for i in range(n):
            ax2.plot(cycles, mag[i] / (float(mag[i].max()) or 1.0), lw=1, color=cmap(i % 20))
        unit = "cycles per octave" if resp.semitones_per_bin else "cycles per position"
        ax2.set(xlabel=f"modulation over the pitch axis ({unit})", ylabel="|DFT| (each / its max)")
        ax2.set_title("magnitude response over the pitch axis", fontsize=9)
    else:  # a linear-frequency axis (the tempo cascade's bands): every filter as a row of a heat map
        lim = float(np.abs(resp.profiles).max()) or 1.0
        extent = (float(resp.freqs[0]), float(resp.freqs[-1]), -0.5, resp.n_filters - 0.5)
        ax2.imshow(resp.profiles, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim, extent=extent,
                   interpolation="nearest")  # fmt: skip
        ax2.set_xscale("symlog", linthresh=200)
        ax2.set(xlabel="frequency (Hz)", ylabel="filter", xlim=(0, float(resp.freqs[-1])))
        ax2.set_title("all filters (weights; red positive, blue negative)", fontsize=9)
    if kern:
        # the kernels side by side in one image (a NaN column between them): one axes, cheap to lay out
        k = resp.kernels[:n]
        kh, kw = k.shape[1:]
        mosaic = np.full((kh, n * (kw + 1) - 1), np.nan)
        for i in range(n):
            mosaic[:, i * (kw + 1) : i * (kw + 1) + kw] = k[i]
        lim = float(np.abs(k).max()) or 1.0
        ax3 = fig.add_subplot(grid[2])
        ax3.imshow(mosaic, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax3.set_xticks([i * (kw + 1) + (kw - 1) / 2 for i in range(n)], [str(i) for i in range(n)], fontsize=6)
        ax3.set_yticks([])
        ax3.set_xlabel("kernels (rows: frames, columns: pitch bins), summed over input channels", fontsize=8)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=0.07, hspace=0.45)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["FilterResponses", "conv_profiles", "dense_profiles", "filter_responses", "first_layer", "plot_filters"]
