"""Fine-tuning from a pre-trained trunk: :func:`init_from` copies the trunk of a ``dlmir pretrain`` run into a model.

The trunk's tensors (weights, biases, batch-norm statistics, the input compression's gain) are copied exactly, by
name: ``trunk.<stage>.<tensor>`` of the pre-trained :class:`~dlmir.pretrain.objective.MaskedCQT` becomes
``features.<stage>.<tensor>`` of a ChordNet / ChordCNN or ``net.<stage>.<tensor>`` of an InstrumentCNN. The rest of
the model (GRU, temporal convolutions, heads, classifier) keeps its fresh initialisation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlmir.errors import ParameterError
from dlmir.pretrain.objective import TRUNK_CONFIG_KEYS, trunk_family, trunk_module, trunk_prefix

__all__ = ["init_from", "trunk_state"]


def trunk_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trunk's tensors of a ChordNet, ChordCNN or InstrumentCNN (or of a
    :class:`~dlmir.pretrain.objective.MaskedCQT`), keyed as in the trunk itself (``stages.<stage>.<tensor>``)."""
    from dlmir.pretrain.objective import MaskedCQT

    trunk = model.trunk if isinstance(model, MaskedCQT) else trunk_module(model)
    return dict(trunk.state_dict())


def _config_diff(family: str, pre: dict[str, Any], mine: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    diff = {}
    for key in TRUNK_CONFIG_KEYS[family]:
        a, b = pre.get(key), mine.get(key)
        if isinstance(a, float) or isinstance(b, float):
            same = a is not None and b is not None and abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)))
        else:
            same = a == b
        if not same:
            diff[key] = (a, b)
    return diff


def init_from(model: nn.Module, run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Copy the pre-trained trunk of ``run_dir`` (a ``dlmir pretrain`` run folder) into ``model``, in place.

    Parameters
    ----------
    model : a ChordNet or ChordCNN (chord trunk) or an InstrumentCNN (instrument trunk), built as usual.
    run_dir : the run folder of :func:`dlmir.train.pretrain.pretrain` (``config.json`` + ``model.safetensors`` of a
        :class:`~dlmir.pretrain.objective.MaskedCQT`).

    Returns
    -------
    The record a training run keeps (``init`` in its config): ``run`` (absolute folder), ``family``, ``objective``,
    ``pretrain_step`` and ``pretrain_loss`` (of the saved model), ``tensors`` (how many were copied).

    Raises
    ------
    ParameterError : ``run_dir`` is not a pre-training run; its trunk is of another family (an instrument trunk
        for a chord model, ...); or its trunk does not match ``model``'s (different channels, pooling, embedding,
        input bins, ...): the message lists the differing settings and tensors, and how to pre-train a matching one.
    """
    from dlmir.models import load, read_config

    doc = read_config(run_dir)
    cfg = doc.get("model", {})
    if cfg.get("model") != "MaskedCQT":
        raise ParameterError(
            f"{run_dir}: not a pre-training run (its model is {cfg.get('model')!r}, not MaskedCQT); pass the --out "
            "folder of `dlmir pretrain`"
        )
    family = trunk_family(model)
    pre_family = trunk_family(cfg["trunk"])
    if family != pre_family:
        raise ParameterError(
            f"{run_dir} pre-trained the {pre_family} trunk ({cfg['trunk']['model']}); the {type(model).__name__} "
            f"has the {family} trunk: pre-train one with "
            f"`dlmir pretrain ... --model {'instruments' if family == 'instruments' else 'chordnet'}`"
        )
    prefix = trunk_prefix(model)
    mine = trunk_state(model)
    diff = _config_diff(family, cfg["trunk"], model.config)
    pre = load(run_dir)
    theirs = trunk_state(pre)
    missing, extra = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
    shapes = {k: (tuple(theirs[k].shape), tuple(mine[k].shape)) for k in sorted(set(mine) & set(theirs))
              if theirs[k].shape != mine[k].shape}  # fmt: skip
    if diff or missing or extra or shapes:
        parts = []
        if diff:
            parts.append(f"settings (pre-trained vs model): {diff}")
        if shapes:
            few = dict(list(shapes.items())[:4])
            parts.append(f"tensor shapes (pre-trained vs model): { {prefix + k: v for k, v in few.items()} }")
        if missing or extra:
            parts.append(f"tensors only in the model: {[prefix + k for k in missing][:4]}, only pre-trained: "
                         f"{[prefix + k for k in extra][:4]}")  # fmt: skip
        raise ParameterError(
            f"the pre-trained trunk of {run_dir} does not fit this {type(model).__name__}: "
            + "; ".join(parts)
            + ". Pre-train a trunk with the model's settings (dlmir pretrain --channels/--embedding), or build the "
            "model with the pre-trained ones (config.json: model.trunk)"
        )
    target = trunk_module(model)
    with torch.no_grad():
        dst = target.state_dict(keep_vars=True)
        for key, value in theirs.items():
            dst[key].copy_(value.to(dst[key].device, dst[key].dtype))
    best = doc.get("extra", {}).get("best", {})
    return {
        "run": str(Path(run_dir).resolve()),
        "family": family,
        "objective": "masked-reconstruction",
        "pretrain_step": best.get("step"),
        "pretrain_loss": best.get("train_loss"),
        "tensors": len(theirs),
    }
