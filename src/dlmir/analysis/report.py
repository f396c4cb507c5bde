"""The whole analysis of one model: figures (PNG), ``summary.md`` and ``numbers.json`` in one folder.

:func:`analyze` loads a model (a run folder or a shipped name), then writes

* ``filters.png``: first-layer filters as spectra over the input's pitch axis (:mod:`dlmir.analysis.filters`);
* ``designed.png``: designed against learned, for the models that start at a designed cascade (chroma, tempo;
  :mod:`dlmir.analysis.designed`); every model with a reference (designed, the run's ``init/``, or its seeded
  initialisation) gets the per-tensor relative change in the summary;
* ``activations.png``: the top activating excerpts of the most active units (:mod:`dlmir.analysis.activations`);
* ``saliency.png``: the input-gradient saliency of one audio file for the top (or a chosen) class
  (:mod:`dlmir.analysis.saliency`);
* ``summary.md`` listing the figures and the key numbers, and ``numbers.json`` with the same numbers.

A model type the analysis does not know gets the generic parts (its first layer's weights, the comparison with its
seeded initialisation) and the summary says what was left out.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmir.errors import ParameterError


@dataclass
class Report:
    """What :func:`analyze` wrote: ``folder``, ``summary`` (``summary.md``), ``figures`` (name -> path),
    ``numbers`` (the key numbers, as in ``numbers.json``) and ``skipped`` (part -> why)."""

    folder: Path
    summary: Path
    figures: dict[str, Path] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _fmt(v: float) -> str:
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.4g}"


def _note(hz: float) -> str:
    import librosa

    return librosa.hz_to_note(float(hz), unicode=False)


def load_model(model: str | os.PathLike[str] | nn.Module) -> tuple[nn.Module, str, Path | None]:
    """The model to analyse, its name, and its run folder (``None`` for a shipped name or an in-memory model)."""
    from dlmir.models import SHIPPED, load

    if isinstance(model, nn.Module):
        return model, type(model).__name__, None
    text = str(model)
    if text in SHIPPED:
        return load(text), text, None
    folder = Path(text)
    if not (folder / "config.json").exists() and (folder / "model" / "config.json").exists():
        folder = folder / "model"  # some run folders keep the model one level down
    return load(folder), folder.name, folder


def analyze(
    model: str | os.PathLike[str] | nn.Module,
    out_dir: str | os.PathLike[str],
    *,
    audio: str | os.PathLike[str] | None = None,
    target: int | str | None = None,
    units: int = 8,
    top: int = 5,
    examples: str | os.PathLike[str] | None = None,
    seconds: float = 2.0,
    duration: float = 15.0,
    max_excerpts: int = 200,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Report:
    """Analyse ``model`` (a run folder, a shipped name such as ``'default'``, or a loaded model) into ``out_dir``.

    Parameters
    ----------
    audio : the file of the saliency map (default: the shipped example, :func:`dlmir.examples.example_audio`);
        the first ``duration`` seconds are used.
    target : the saliency's class (index or name; default: the model's top class for that audio).
    units : how many units to show in ``activations.png`` (the most active ones).
    top : top activating excerpts per unit.
    examples : folder of audio whose excerpts (``seconds`` long, at most ``max_excerpts``) the units are run over;
        default: dlmir's own rendered examples (:func:`dlmir.analysis.activations.example_excerpts`).
    device : where the model runs (default: where it is; a loaded model: the CPU). The CQT front end stays on the
        CPU, as :func:`dlmir.models.load` leaves it.
    progress : tqdm bars.

    Returns
    -------
    :class:`Report`. Raises :class:`~dlmir.errors.ParameterError` (unknown model folder) or
    :class:`~dlmir.errors.AudioError` (unreadable audio or examples).
    """
    from dlmir.analysis import activations as act
    from dlmir.analysis import designed, filters, saliency
    from dlmir.analysis._models import view as make_view

    if units < 1 or top < 1:
        raise ParameterError(f"units and top must be >= 1, got {units}, {top}")
    net, name, run_dir = load_model(model)
    if device is not None:
        try:
            net = net.to(device)
        except (RuntimeError, AssertionError) as exc:  # no such device (a CPU-only torch asserts)
            raise ParameterError(f"cannot run the model on device {str(device)!r}: {exc}") from exc
    net = net.eval()
    v = make_view(net, name)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rep = Report(folder, folder / "summary.md")
    cfg = dict(getattr(net, "config", {}) or {})
    n_params = sum(p.numel() for p in net.parameters())
    rep.numbers["model"] = {"name": name, "class": type(net).__name__, "kind": v.kind, "parameters": int(n_params)}
    lines = [f"# What `{name}` learned ({type(net).__name__})", ""]
    lines.append(
        f"Written by `dlmir analyze` (dlmir.analysis). Model kind: **{v.kind}**; input analysed: {_input_words(v)}."
    )
    lines.append("")

    # -- first-layer filters -------------------------------------------------------------------------
    lines += ["## First-layer filters", ""]
    try:
        resp = filters.filter_responses(net)
        rep.figures["filters"] = filters.plot_filters(
            resp, folder / "filters.png", title=f"{name}: first-layer filters ({resp.layer})"
        )
        rep.numbers["filters"] = _filter_numbers(resp)
        lines += ["![first-layer filters](filters.png)", ""]
        lines += _filter_lines(resp, rep.numbers["filters"])
    except ParameterError as exc:
        rep.skipped["filters"] = str(exc)
        lines += [f"Skipped: {exc}", ""]

    # -- designed against learned ----------------------------------------------------------------------
    lines += ["## Designed against learned", ""]
    comp = designed.compare(net, run_dir=run_dir)
    if comp is None:
        rep.skipped["designed"] = "no designed start, no init/ model and no seed in the config"
        lines += [
            "Nothing to compare with: the model neither starts at a designed cascade nor has a saved or seeded start.",
            "",
        ]
    else:
        fig = designed.plot_designed(net, folder / "designed.png", reference=comp.reference_model)
        if fig is not None:
            rep.figures["designed"] = fig
            lines += ["![designed against learned](designed.png)", ""]
        rep.numbers["designed"] = {
            "reference": comp.reference,
            **_jsonable(comp.numbers),
            "tensors": {
                c.name: {
                    "shape": list(c.shape),
                    "designed_norm": c.designed_norm,
                    "change_norm": c.change_norm,
                    "relative": c.relative,
                }
                for c in comp.changes
            },
        }
        lines += _designed_lines(comp)

    # -- top activating inputs -------------------------------------------------------------------------
    lines += ["## Top activating inputs", ""]
    if not v.has_input:
        why = f"a {type(net).__name__} reads no CQT or mel input the analysis can compute"
        rep.skipped["activations"] = rep.skipped["saliency"] = why
        lines += [f"Skipped: {why}.", ""]
    else:
        sr = float(v.sr or 22050)
        ex = (
            act.folder_excerpts(examples, sr, seconds=seconds, max_excerpts=max_excerpts)
            if examples is not None
            else act.example_excerpts(sr, seconds=seconds)
        )
        result = act.collect(v, ex, progress=progress)
        chosen = act.select_units(result.acts, units)
        hits = act.top_k([a[chosen] for a in result.acts], top)
        rep.figures["activations"] = act.plot_top_activations(
            result,
            chosen,
            hits,
            folder / "activations.png",
            axis=v.axis,
            title=f"{name}: top {top} excerpts of the {len(chosen)} most active units ({result.layer})",
        )
        source = (
            f"`{examples}`"
            if examples is not None
            else "dlmir's rendered examples (synthetic tones, triads and clicks, the shipped example, one "
            "FluidSynth note per instrument class)"
        )
        rep.numbers["activations"] = {
            "excerpts": len(ex),
            "source": str(examples) if examples is not None else "examples",
            "layer": result.layer,
            "units": {
                result.unit_names[u] if u < len(result.unit_names) else str(u): [
                    {"excerpt": result.names[h.excerpt], "frame": result.input_frame(h.frame), "value": h.value}
                    for h in row
                ]
                for u, row in zip(chosen, hits, strict=True)
            },
        }
        lines += ["![top activating inputs](activations.png)", ""]
        lines += [
            f"{len(ex)} excerpts of {seconds:g} s from {source}; layer `{result.layer}`; the {len(chosen)} units "
            f"with the largest peak activation, each with its top {top} excerpts (one frame each):",
            "",
        ]
        lines += ["| unit | top excerpts (activation) |", "| --- | --- |"]
        for u, row in zip(chosen, hits, strict=True):
            uname = result.unit_names[u] if u < len(result.unit_names) else f"unit {u}"
            lines.append(f"| {uname} | " + "; ".join(f"{result.names[h.excerpt]} ({h.value:.3g})" for h in row) + " |")
        lines.append("")

    # -- saliency --------------------------------------------------------------------------------------
    lines += ["## Saliency", ""]
    if v.has_input:
        from dlmir.examples import example_audio
        from dlmir.io import load as load_audio

        path = Path(audio) if audio is not None else example_audio()
        sr = float(v.sr or 22050)
        y, _ = load_audio(path, sr=sr, duration=duration)
        sal = saliency.saliency_map(v, y, target=target)
        rep.figures["saliency"] = saliency.plot_saliency(
            sal,
            folder / "saliency.png",
            axis=v.axis,
            sr=sr,
            hop_length=int(v.hop_length or 512),
            title=f"{name}: saliency of {path.name} for class {sal.target_name!r}",
        )

        def _rows(profile: np.ndarray, k: int = 5) -> list[str]:
            """The ``k`` strongest rows by name (distinct: 24 bins per octave name each note twice)."""
            names: list[str] = []
            for i in np.argsort(-profile, kind="stable"):
                if v.axis.freqs is None:
                    name = str(i)
                else:
                    name = _note(v.axis.freqs[i]) if v.axis.kind == "cqt" else f"{v.axis.freqs[i]:.0f} Hz"
                if name not in names:
                    names.append(name)
                if len(names) == k:
                    break
            return names

        rows, attributed = _rows(sal.pitch_profile()), _rows(sal.attribution_profile())
        top_classes = np.argsort(-sal.scores, kind="stable")[:3]
        rep.numbers["saliency"] = {
            "audio": str(path),
            "seconds": round(y.size / sr, 3),
            "class": sal.target_name,
            "class_index": sal.target,
            "top_class": v.classes[sal.top] if sal.top < len(v.classes) else str(sal.top),
            "top_scores": {v.classes[i]: float(sal.scores[i]) for i in top_classes},
            "most_salient_rows": rows,
            "most_attributed_rows": attributed,
            "gradient_abs_max": float(np.abs(sal.gradient).max()),
        }
        lines += ["![saliency](saliency.png)", ""]
        lines += [
            f"Audio: `{path.name}` (first {y.size / sr:.1f} s). Class: **{sal.target_name}** "
            f"({'the model top class' if target is None else 'chosen'}); top classes by mean score: "
            + ", ".join(f"{v.classes[i]} ({sal.scores[i]:.3g})" for i in top_classes)
            + ".",
            f"Most salient input rows (|gradient| summed over time): {', '.join(rows)}; by |gradient x input| "
            f"(the energy present that drives the class): {', '.join(attributed)}.",
            "",
        ]
    else:
        lines += [f"Skipped: {rep.skipped['saliency']}.", ""]

    if rep.skipped:
        lines += ["## Left out", ""] + [f"- {k}: {why}" for k, why in rep.skipped.items()] + [""]
    lines += ["## Figures", ""] + [f"- `{p.name}`: {k}" for k, p in rep.figures.items()] + [""]
    rep.numbers["config"] = _jsonable(cfg)
    (folder / "numbers.json").write_text(json.dumps(_jsonable(rep.numbers), indent=2) + "\n")
    tmp = folder / ".summary.md.part"
    tmp.write_text("\n".join(lines))
    os.replace(tmp, rep.summary)
    return rep


def _input_words(v) -> str:  # noqa: ANN001
    if v.kind == "tempo":
        return f"the mel power spectrogram ({v.axis.n} bands) its learned stages read"
    if v.axis.kind == "cqt":
        return f"the CQT magnitude of its front end ({v.axis.n} bins, {v.axis.bins_per_octave} per octave)"
    return "its input features (no audio input)"


def _filter_numbers(resp) -> dict[str, Any]:  # noqa: ANN001
    out: dict[str, Any] = {"layer": resp.layer, "filters": resp.n_filters, "positions": int(resp.profiles.shape[1])}
    peaks = resp.peaks()
    if resp.relative:
        step = resp.semitones_per_bin or 1.0
        vals, counts = np.unique(peaks * step, return_counts=True)
        out["peak_offsets_semitones"] = {f"{v:+g}": int(c) for v, c in zip(vals, counts, strict=True)}
        cycles, mag = resp.modulation()
        out["median_modulation_peak"] = float(np.median(cycles[np.argmax(mag, axis=1)]))
        return out
    hz = resp.peak_freqs()
    if hz is not None:
        out["peak_hz"] = [round(float(h), 2) for h in hz]
        if resp.semitones_per_bin:
            out["peak_notes"] = [_note(h) for h in hz]
    if resp.semitones_per_bin:
        cycles, mag = resp.modulation()
        total = (mag**2).sum(1)
        whole = np.isclose(cycles, np.round(cycles), atol=1e-9) & (cycles > 0)
        out["whole_cycle_energy_share"] = float(np.median((mag[:, whole] ** 2).sum(1) / np.maximum(total, 1e-300)))
    return out


def _filter_lines(resp, nums: dict[str, Any]) -> list[str]:  # noqa: ANN001
    lines = [f"Layer `{resp.layer}`: {resp.n_filters} filters over {nums['positions']} positions ({resp.axis_label})."]
    if "peak_offsets_semitones" in nums:
        peaks = ", ".join(f"{k} st: {c}" for k, c in nums["peak_offsets_semitones"].items())
        lines.append(
            f"Each filter's weights summed over frames peak at offsets (semitones from the unit's pitch) "
            f"{peaks}; median peak of the magnitude response over pitch: "
            f"{nums['median_modulation_peak']:.3g} cycles per octave."
        )
    elif "peak_notes" in nums:
        lines.append("Strongest input pitch of each filter: " + ", ".join(nums["peak_notes"]) + ".")
        lines.append(
            f"Median share of each filter's pitch-axis energy at whole cycles per octave (1 for an "
            f"octave-periodic filter): {nums['whole_cycle_energy_share']:.3f}."
        )
    elif "peak_hz" in nums:
        lines.append("Peak frequency of each filter: " + ", ".join(f"{h:.0f} Hz" for h in nums["peak_hz"]) + ".")
    return lines + [""]


def _designed_lines(comp) -> list[str]:  # noqa: ANN001
    what = {
        "designed": "the designed model rebuilt from the config",
        "init": "the run's start of training (`init/`)",
        "seeded init": "the seeded initialisation rebuilt from the config (the start of training; the model "
        "starts at random weights, not at a designed cascade)",
        "octave matrix": "the octave-equivalence matrix",
        "seeded init + pre-trained trunk": "the start of fine-tuning: the seeded initialisation rebuilt from the "
        "config with the pre-trained trunk of its `dlmir pretrain` run copied in",
        "seeded init (pre-trained trunk not found)": "the seeded initialisation rebuilt from the config; the run "
        "started its trunk from a `dlmir pretrain` run that is not there, so the trunk's changes are not from "
        "its start",
    }.get(comp.reference, comp.reference)
    lines = [f"Compared with {what}."]
    n = comp.numbers
    if "relative_change" in n:
        lines += ["", "| chroma map vs octave matrix | weights | effective on log(1 + C x) |", "| --- | --- | --- |"]
        lines.append(f"| relative Frobenius change ‖W − O‖ / ‖O‖ | {n['relative_change']:.3f} | |")
        lines.append(f"| cosine with O | {n['cosine']:.3f} | {_fmt(n.get('effective_cosine', float('nan')))} |")
        lines.append(
            f"| octave-equivalent share of the energy | {n['octave_share']:.3f} | "
            f"{_fmt(n.get('effective_octave_share', float('nan')))} |"
        )
        lines.append(
            f"| pitch classes closest to their own row of O (of 12) | {n['own_class']} | "
            f"{n.get('effective_own_class', '')} |"
        )
        if "octave_energy" in n:
            shares = ", ".join(f"{100 * e:.0f}%" for e in n["octave_energy"])
            lines += ["", f"Share of the map's energy per input octave, C1 upwards (octave matrix: equal): {shares}."]
    if "band_weights" in n:
        lines.append("")
        lines.append(
            f"Band weights (designed {1 / len(n['band_weights']):.4f} each): "
            + ", ".join(f"{w:.3f}" for w in n["band_weights"])
            + "."
        )
        if "prior_bpm" in n:
            lines.append(
                f"Tempo prior: centre {n['prior_bpm']:.1f} BPM (designed 120), width "
                f"{n['prior_octaves']:.3f} octaves (designed 1)."
            )
        if "comb_half_energy_periods_median" in n:
            lines.append(
                f"Comb filters: median half-energy time {n['comb_half_energy_periods_median']:.2f} periods "
                f"(designed 2.5)."
            )
    if comp.changes and comp.reference != "designed":
        weights = [c for c in comp.changes if len(c.shape) >= 2]
        if weights:
            lines += ["", "Weight matrices and kernels, input to output (relative change): "
                      + ", ".join(f"{_short(c.name)} {_fmt(c.relative)}" for c in weights) + "."]  # fmt: skip
    if comp.changes:
        moved = [c for c in comp.changes if c.change_norm > 0 and not c.name.endswith("num_batches_tracked")]
        lines += [
            "",
            f"Relative Frobenius change per tensor, ‖learned − reference‖ / ‖reference‖ "
            f"({len(moved)} of {len(comp.changes)} tensors moved; a tensor whose reference is 0 shows "
            f"'inf' and its absolute change):",
            "",
            "| tensor | shape | ‖reference‖ | ‖learned − reference‖ | relative |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in comp.changes:
            if c.name.endswith("num_batches_tracked"):
                continue
            lines.append(
                f"| `{c.name}` | {tuple(c.shape)} | {_fmt(c.designed_norm)} | {_fmt(c.change_norm)} | "
                f"{_fmt(c.relative)} |"
            )
    return lines + [""]


def _short(name: str) -> str:
    """A tensor's name without the cascade prefixes (``features.stages.conv1.weight`` -> ``conv1.weight``)."""
    for prefix in ("features.stages.", "net.stages.", "stages."):
        name = name.replace(prefix, "")
    return name


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else ("inf" if f > 0 else "-inf" if f < 0 else "nan")
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, torch.Tensor):
        return _jsonable(x.tolist())
    return x


__all__ = ["Report", "analyze", "load_model"]
